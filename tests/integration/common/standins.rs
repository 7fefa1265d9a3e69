//! Strict local stand-ins for the two providers no real server of which can run here: the Twilio
//! Messages API and the WhatsApp Cloud API. Each follows its provider's documented wire format
//! (authentication, required fields, error bodies and codes, the magic test numbers), records
//! what it accepted, can be switched to answer as if down or throttled, and sends its status
//! callbacks signed as the provider signs them. They live in the tests, never in the binary.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

/// What the stand-in should answer to the next requests, before it accepts again.
#[derive(Clone, Debug)]
pub enum Trouble {
    /// HTTP 503 (the provider is down).
    Down,
    /// HTTP 429 with `Retry-After` seconds.
    Throttled(u64),
}

/// One message a stand-in accepted.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub id: String,
    pub to: String,
    /// The SMS text (Twilio) or the code parameter (WhatsApp).
    pub text: String,
    /// Every field as received.
    pub fields: Value,
    pub callback: Option<String>,
}

#[derive(Default)]
struct Shared {
    accepted: Vec<Accepted>,
    troubles: VecDeque<Trouble>,
    requests: usize,
    next_id: u64,
}

/// A stand-in server on a loopback port.
#[derive(Clone)]
pub struct StandIn {
    pub base_url: String,
    shared: Arc<Mutex<Shared>>,
    /// The secret the provider signs callbacks with (Twilio's auth token, Meta's app secret).
    signing_secret: String,
}

impl StandIn {
    pub fn accepted(&self) -> Vec<Accepted> {
        self.shared.lock().expect("stand-in state").accepted.clone()
    }

    pub fn requests(&self) -> usize {
        self.shared.lock().expect("stand-in state").requests
    }

    /// The next `n` requests answer with `trouble`.
    pub fn trouble(&self, trouble: Trouble, n: usize) {
        let mut shared = self.shared.lock().expect("stand-in state");
        for _ in 0..n {
            shared.troubles.push_back(trouble.clone());
        }
    }

    /// Posts a Twilio status callback for `sid` to `url`, signed with the auth token
    /// (`tamper` changes the signature, as a forger would).
    pub async fn twilio_callback(&self, url: &str, sid: &str, status: &str, tamper: bool) -> u16 {
        let params = vec![
            ("AccountSid".to_owned(), TWILIO_SID.to_owned()),
            ("MessageSid".to_owned(), sid.to_owned()),
            ("MessageStatus".to_owned(), status.to_owned()),
            ("SmsSid".to_owned(), sid.to_owned()),
            ("SmsStatus".to_owned(), status.to_owned()),
        ];
        let mut signature = twilio_signature(&self.signing_secret, url, &params);
        if tamper {
            signature = forged(&signature);
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
            .await
            .expect("callback")
            .status()
            .as_u16()
    }

    /// Posts a WhatsApp status webhook for `message_id`, signed with the app secret.
    pub async fn whatsapp_webhook(
        &self,
        url: &str,
        message_id: &str,
        status: &str,
        tamper: bool,
    ) -> u16 {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": WHATSAPP_PHONE_ID},
                    "statuses": [{"id": message_id, "status": status, "timestamp": "1750263773",
                                  "recipient_id": "14155550100"}]
                }
            }]}]
        })
        .to_string();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.signing_secret.as_bytes())
            .expect("HMAC takes any key");
        mac.update(body.as_bytes());
        let mut signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        if tamper {
            signature = format!("sha256={}", forged(&signature["sha256=".len()..]));
        }
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await
            .expect("webhook")
            .status()
            .as_u16()
    }

    /// Takes the next trouble, if any, counting the request.
    fn next_trouble(&self) -> Option<Trouble> {
        let mut shared = self.shared.lock().expect("stand-in state");
        shared.requests += 1;
        shared.troubles.pop_front()
    }

    fn record(
        &self,
        prefix: &str,
        to: String,
        text: String,
        fields: Value,
        callback: Option<String>,
    ) -> String {
        let mut shared = self.shared.lock().expect("stand-in state");
        shared.next_id += 1;
        let id = format!("{prefix}{:032x}", shared.next_id);
        shared.accepted.push(Accepted {
            id: id.clone(),
            to,
            text,
            fields,
            callback,
        });
        id
    }
}

fn trouble_response(trouble: Trouble, body: Value) -> Response {
    match trouble {
        Trouble::Down => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response(),
        Trouble::Throttled(seconds) => {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
    }
}

async fn spawn(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

// --- Twilio ---------------------------------------------------------------------------------

pub const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_TOKEN: &str = "stand-in-auth-token-0123456789ab";
/// Twilio's magic test numbers (test credentials): invalid, and a person who opted out.
pub const TWILIO_INVALID: &str = "+15005550001";
pub const TWILIO_BLOCKED: &str = "+15005550004";

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "code": code, "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16()
        })),
    )
        .into_response()
}

pub fn twilio_signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn twilio_messages(
    State(standin): State<StandIn>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(trouble) = standin.next_trouble() {
        return trouble_response(
            trouble,
            json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
        );
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}"))
    );
    let authorised = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&expected);
    if !authorised || account != TWILIO_SID {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        != Some("application/x-www-form-urlencoded")
    {
        return twilio_error(StatusCode::BAD_REQUEST, 20001, "Unsupported content type");
    }
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let Some(to) = field("To") else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    let Some(text) = field("Body").filter(|b| !b.is_empty()) else {
        return twilio_error(StatusCode::BAD_REQUEST, 21602, "Message body is required.");
    };
    if field("From").is_none() && field("MessagingServiceSid").is_none() {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' phone number is required.",
        );
    }
    if !to.starts_with('+') || to == TWILIO_INVALID {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    if to == TWILIO_BLOCKED {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21610,
            "Attempt to send to unsubscribed recipient",
        );
    }
    let callback = field("StatusCallback");
    let all: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let sid = standin.record("SM", to.clone(), text.clone(), Value::Object(all), callback);
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "account_sid": TWILIO_SID, "api_version": "2010-04-01", "body": text,
            "direction": "outbound-api", "error_code": null, "error_message": null,
            "num_segments": "1", "sid": sid, "status": "queued", "to": to,
            "uri": format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json")
        })),
    )
        .into_response()
}

/// A Twilio stand-in on a loopback port.
pub async fn twilio() -> StandIn {
    let standin = StandIn {
        base_url: String::new(),
        shared: Arc::default(),
        signing_secret: TWILIO_TOKEN.to_owned(),
    };
    let router = Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(twilio_messages),
        )
        .with_state(standin.clone());
    StandIn {
        base_url: spawn(router).await,
        ..standin
    }
}

// --- WhatsApp Cloud API ------------------------------------------------------------------------

pub const WHATSAPP_PHONE_ID: &str = "106540352242922";
pub const WHATSAPP_TOKEN: &str = "EAAstand-in-access-token";
pub const WHATSAPP_APP_SECRET: &str = "stand-in-app-secret";
pub const WHATSAPP_VERIFY_TOKEN: &str = "stand-in-verify-token";
pub const WHATSAPP_TEMPLATE: &str = "otp_code";
/// A tenant's own authentication template, approved in Brazilian Portuguese only.
pub const WHATSAPP_TENANT_TEMPLATE: (&str, &str) = ("acme_codigo", "pt_BR");
/// A number that is not on WhatsApp (error 131026, message undeliverable).
pub const WHATSAPP_UNDELIVERABLE: &str = "+15005550009";

fn graph_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {
            "message": message, "type": "OAuthException", "code": code,
            "error_subcode": 2494010, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"
        }})),
    )
        .into_response()
}

async fn whatsapp_messages(
    State(standin): State<StandIn>,
    Path((version, phone_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(trouble) = standin.next_trouble() {
        return trouble_response(
            trouble,
            json!({"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429}}),
        );
    }
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {WHATSAPP_TOKEN}"))
    {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.");
    }
    if !version.starts_with('v') || phone_id != WHATSAPP_PHONE_ID {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Unsupported post request.");
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid JSON");
    };
    let template = &message["template"];
    let components = template["components"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let body_code = components
        .iter()
        .find(|c| c["type"] == "body")
        .and_then(|c| c["parameters"][0]["text"].as_str())
        .map(str::to_owned);
    let button_code = components
        .iter()
        .find(|c| c["type"] == "button" && c["sub_type"] == "url" && c["index"] == "0")
        .and_then(|c| c["parameters"][0]["text"].as_str())
        .map(str::to_owned);
    let (name, language) = (
        template["name"].as_str().unwrap_or_default(),
        template["language"]["code"].as_str().unwrap_or_default(),
    );
    let approved = name == WHATSAPP_TEMPLATE || (name, language) == WHATSAPP_TENANT_TEMPLATE;
    if message["type"] == "template" && !approved {
        return graph_error(
            StatusCode::NOT_FOUND,
            132001,
            "(#132001) Template name does not exist in the translation",
        );
    }
    let well_formed = message["messaging_product"] == "whatsapp"
        && message["type"] == "template"
        && template["language"]["code"].is_string()
        && body_code.is_some()
        && body_code == button_code;
    let to = message["to"].as_str().unwrap_or_default().to_owned();
    if !well_formed || to.is_empty() || !to.bytes().all(|b| b.is_ascii_digit()) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            132000,
            "(#132000) Number of parameters does not match the expected number of params",
        );
    }
    if format!("+{to}") == WHATSAPP_UNDELIVERABLE {
        return graph_error(
            StatusCode::BAD_REQUEST,
            131026,
            "(#131026) Message undeliverable",
        );
    }
    let id = standin.record(
        "wamid.",
        to.clone(),
        body_code.unwrap_or_default(),
        message,
        None,
    );
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": id}]
    }))
    .into_response()
}

/// A WhatsApp Cloud API stand-in on a loopback port.
pub async fn whatsapp() -> StandIn {
    let standin = StandIn {
        base_url: String::new(),
        shared: Arc::default(),
        signing_secret: WHATSAPP_APP_SECRET.to_owned(),
    };
    let router = Router::new()
        .route("/{version}/{phone_id}/messages", post(whatsapp_messages))
        .with_state(standin.clone());
    StandIn {
        base_url: spawn(router).await,
        ..standin
    }
}

/// `digest` with its first character replaced by a different one, as a forger's would be.
/// (Replacing it with a fixed character left the signature valid whenever it already began
/// with that character, which made the forged-receipt checks fail once in a few dozen runs.)
fn forged(digest: &str) -> String {
    let mut chars = digest.chars();
    let first = chars.next().expect("a digest is never empty");
    let replacement = if first == 'a' { 'b' } else { 'a' };
    format!("{replacement}{}", chars.as_str())
}
