//! SMS through the Twilio Messages API (or a provider that speaks its wire format): a form POST
//! to `<base>/2010-04-01/Accounts/<sid>/Messages.json` with Basic auth, `To`, `From` or
//! `MessagingServiceSid`, `Body` and `StatusCallback`. Twilio's error codes say whether a
//! number is invalid or blocked; 429 and 5xx are worth another try. Status callbacks are
//! signed (`X-Twilio-Signature`, HMAC-SHA1 of the URL and the sorted parameters).

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::{JsonAnswer, is_transient, json_answer};
use crate::engine::delivery::{DeliveryFailure, DeliveryStatus};
use crate::server::delivery::{Accepted, OutgoingMessage, Provider, ProviderError};

/// Who the messages come from: a number (or alphanumeric ID) or a Messaging Service.
#[derive(Clone, Debug)]
pub enum Sender {
    From(String),
    MessagingService(String),
}

pub struct TwilioProvider {
    client: reqwest::Client,
    endpoint: Url,
    account_sid: String,
    auth_token: SecretString,
    sender: Sender,
}

#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioProvider {
    pub fn new(
        client: reqwest::Client,
        base: &Url,
        account_sid: String,
        auth_token: SecretString,
        sender: Sender,
    ) -> anyhow::Result<TwilioProvider> {
        let endpoint = base.join(&format!(
            "2010-04-01/Accounts/{}/Messages.json",
            percent_encoding::utf8_percent_encode(&account_sid, percent_encoding::NON_ALPHANUMERIC)
        ))?;
        Ok(TwilioProvider {
            client,
            endpoint,
            account_sid,
            auth_token,
            sender,
        })
    }
}

/// What a Twilio error code means for the message.
pub fn failure_of(code: i64) -> DeliveryFailure {
    match code {
        // Not a valid, reachable or mobile number.
        21211 | 21214 | 21217 | 21401 | 21407 | 21612 | 21614 | 30003 | 30005 | 30006 => {
            DeliveryFailure::InvalidRecipient
        }
        // The person opted out, the region is not allowed, the carrier filtered it.
        21610 | 21408 | 30004 | 30007 => DeliveryFailure::Blocked,
        _ => DeliveryFailure::ProviderRejected,
    }
}

#[async_trait]
impl Provider for TwilioProvider {
    fn name(&self) -> &'static str {
        "twilio"
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Accepted, ProviderError> {
        let body = message.sms_text()?;
        let mut form: Vec<(&str, &str)> = vec![("To", &message.to), ("Body", body)];
        match &self.sender {
            Sender::From(from) => form.push(("From", from)),
            Sender::MessagingService(sid) => form.push(("MessagingServiceSid", sid)),
        }
        if let Some(callback) = &message.receipt_url {
            form.push(("StatusCallback", callback));
        }
        let request = self
            .client
            .post(self.endpoint.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&form);
        let (status, retry_after, error) =
            match json_answer::<Created, TwilioError>(request, "Twilio").await? {
                JsonAnswer::Accepted(created) => {
                    return Ok(Accepted {
                        provider_message_id: created.sid,
                    });
                }
                JsonAnswer::Refused {
                    status,
                    retry_after,
                    error,
                } => (status, retry_after, error),
            };
        let code = error.as_ref().and_then(|e| e.code);
        let detail = format!(
            "Twilio answered {status}{}{}",
            code.map(|c| format!(", error {c}")).unwrap_or_default(),
            error
                .and_then(|e| e.message)
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
        if is_transient(status) || code == Some(20429) {
            return Err(ProviderError::Transient {
                detail,
                retry_after,
            });
        }
        Err(ProviderError::permanent(
            code.map_or(DeliveryFailure::ProviderRejected, failure_of),
            detail,
        ))
    }
}

/// The signature Twilio puts in `X-Twilio-Signature`: base64 of HMAC-SHA1 under the auth
/// token of the full URL followed by every POST parameter, sorted by name, name then value.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `given` is the right signature, compared in constant time.
pub fn signature_is_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    given: &str,
) -> bool {
    let expected = signature(auth_token, url, params);
    subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.trim().as_bytes()).into()
}

/// What a status callback reports: the new status and, for a failure, why.
pub fn receipt_status(
    message_status: &str,
    error_code: Option<i64>,
) -> Option<(DeliveryStatus, Option<DeliveryFailure>)> {
    match message_status {
        "sent" => Some((DeliveryStatus::Sent, None)),
        "delivered" | "read" => Some((DeliveryStatus::Delivered, None)),
        "undelivered" | "failed" => Some((
            DeliveryStatus::Failed,
            Some(error_code.map_or(DeliveryFailure::ProviderRejected, failure_of)),
        )),
        // queued, accepted, sending, scheduled: nothing new.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_twilios_documented_example() {
        // The example of Twilio's "Validating signatures" page.
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(signature_is_valid(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!signature_is_valid(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgA="
        ));
        assert!(!signature_is_valid(
            "other",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn error_codes_and_statuses_map_to_the_contract() {
        assert_eq!(failure_of(21211), DeliveryFailure::InvalidRecipient);
        assert_eq!(failure_of(21610), DeliveryFailure::Blocked);
        assert_eq!(failure_of(20003), DeliveryFailure::ProviderRejected);
        assert_eq!(
            receipt_status("delivered", None),
            Some((DeliveryStatus::Delivered, None))
        );
        assert_eq!(
            receipt_status("undelivered", Some(30003)),
            Some((
                DeliveryStatus::Failed,
                Some(DeliveryFailure::InvalidRecipient)
            ))
        );
        assert_eq!(receipt_status("queued", None), None);
    }
}
