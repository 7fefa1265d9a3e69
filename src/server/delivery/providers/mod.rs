//! The real providers, built from the settings: SMTP for email, Twilio or a Kannel-style
//! gateway for SMS, the WhatsApp Cloud API. A configured provider whose settings are incomplete
//! or invalid is an error, so production refuses to start instead of failing at the first send.

pub mod gateway;
pub mod smtp;
pub mod twilio;
pub mod whatsapp;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{Delivery, ProviderError};
use crate::engine::Channel;
use crate::server::config::Mode;
use crate::server::config::providers::ProviderSettings;

const DEFAULT_TWILIO_BASE: &str = "https://api.twilio.com";
const DEFAULT_WHATSAPP_BASE: &str = "https://graph.facebook.com";
const DEFAULT_WHATSAPP_VERSION: &str = "v21.0";

/// The HTTP client providers share: rustls, bounded timeouts, no redirects (a provider that
/// redirects a POST with credentials is not followed).
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("otpgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")
}

/// A request that got no answer: always worth another try. The detail leaves out the URL,
/// whose query may carry a gateway's password.
pub fn http_error(error: &reqwest::Error) -> ProviderError {
    ProviderError::transient(request_failure(error))
}

/// What went wrong with a request that got no answer (`timed out: …`, `could not connect: …`),
/// without the URL.
pub fn request_failure(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut detail = reqwest_error_text(error);
    if detail.is_empty() {
        detail = "no details".to_owned();
    }
    format!("{what}: {detail}")
}

/// The error's own text and its causes', without the URL reqwest would add.
fn reqwest_error_text(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}

/// A `Retry-After`, in seconds from now: a number of seconds, or an HTTP date (a date already
/// past is no wait at all).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return (seconds >= 0).then_some(seconds);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .map_or(0, |wait| wait.as_secs() as i64),
    )
}

/// What a JSON API answered to a request otpgate sent.
pub enum JsonAnswer<T, E> {
    /// 2xx with a readable body.
    Accepted(T),
    /// Anything else: the status, the provider's `Retry-After`, and its error body if readable.
    Refused {
        status: reqwest::StatusCode,
        retry_after: Option<i64>,
        error: Option<E>,
    },
}

/// Sends `request` and reads the answer of a JSON API (`who` names it in errors). No answer at
/// all, or an unreadable success body, is worth another try.
pub async fn json_answer<T, E>(
    request: reqwest::RequestBuilder,
    who: &str,
) -> Result<JsonAnswer<T, E>, ProviderError>
where
    T: serde::de::DeserializeOwned,
    E: serde::de::DeserializeOwned,
{
    let response = request.send().await.map_err(|e| http_error(&e))?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    if status.is_success() {
        let body = response.json().await.map_err(|e| {
            ProviderError::transient(format!(
                "{who} answered {status} with an unreadable body ({e})"
            ))
        })?;
        return Ok(JsonAnswer::Accepted(body));
    }
    Ok(JsonAnswer::Refused {
        status,
        retry_after,
        error: response.json().await.ok(),
    })
}

/// Whether a refusal with this status is worth another try (the provider is down or busy).
pub fn is_transient(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// An API base URL: scheme and host (and port) only; `https`, or `http` on loopback (a local
/// stand-in or relay), since credentials travel with every request.
fn base_url(name: &str, value: &str) -> anyhow::Result<Url> {
    let url = Url::parse(value).with_context(|| format!("{name} is not a URL"))?;
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        bail!("{name} must be a scheme and host only, e.g. https://api.example.com");
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => bail!("{name} must be https (http only for a loopback address)"),
    }
}

fn required<'a>(value: &'a Option<String>, name: &str, why: &str) -> anyhow::Result<&'a str> {
    value
        .as_deref()
        .with_context(|| format!("{name} is required {why}"))
}

fn required_secret<'a>(
    value: &'a Option<SecretString>,
    name: &str,
    why: &str,
) -> anyhow::Result<&'a SecretString> {
    value
        .as_ref()
        .filter(|v| !v.expose_secret().is_empty())
        .with_context(|| format!("{name} is required {why}"))
}

/// `OTPGATE_PUBLIC_URL`, checked: where providers send their receipts.
pub fn public_url(settings: &ProviderSettings) -> anyhow::Result<Option<Url>> {
    let Some(value) = settings.public_url.as_deref() else {
        return Ok(None);
    };
    let mut url = Url::parse(value).context("OTPGATE_PUBLIC_URL is not a URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("OTPGATE_PUBLIC_URL must be an http(s) URL");
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(Some(url))
}

/// Builds the providers the settings configure and the routing over them.
pub fn build(settings: &ProviderSettings, mode: Mode) -> anyhow::Result<Delivery> {
    let mut delivery = Delivery::new(mode);
    let client = http_client()?;
    if let Some(url) = &settings.smtp_url {
        let from = required(
            &settings.smtp_from,
            "OTPGATE_SMTP_FROM",
            "with OTPGATE_SMTP_URL",
        )?;
        let provider = smtp::SmtpProvider::new(url, from, settings.smtp_ca_file.as_deref())?;
        delivery = delivery.with_provider(Channel::Email, Arc::new(provider));
    }
    match settings.sms_provider.as_deref() {
        None => {}
        Some("twilio") => {
            let why = "for OTPGATE_SMS_PROVIDER=twilio";
            let base = base_url(
                "OTPGATE_TWILIO_BASE_URL",
                settings
                    .twilio_base_url
                    .as_deref()
                    .unwrap_or(DEFAULT_TWILIO_BASE),
            )?;
            let sid = required(
                &settings.twilio_account_sid,
                "OTPGATE_TWILIO_ACCOUNT_SID",
                why,
            )?;
            let token = required_secret(
                &settings.twilio_auth_token,
                "OTPGATE_TWILIO_AUTH_TOKEN",
                why,
            )?;
            let sender = match (
                &settings.twilio_from,
                &settings.twilio_messaging_service_sid,
            ) {
                (Some(from), None) => twilio::Sender::From(from.clone()),
                (None, Some(service)) => twilio::Sender::MessagingService(service.clone()),
                (Some(_), Some(_)) => bail!(
                    "set OTPGATE_TWILIO_FROM or OTPGATE_TWILIO_MESSAGING_SERVICE_SID, not both"
                ),
                (None, None) => bail!(
                    "OTPGATE_TWILIO_FROM or OTPGATE_TWILIO_MESSAGING_SERVICE_SID is required {why}"
                ),
            };
            let provider = twilio::TwilioProvider::new(
                client.clone(),
                &base,
                sid.to_owned(),
                token.clone(),
                sender,
            )?;
            delivery = delivery.with_provider(Channel::Sms, Arc::new(provider));
        }
        Some("gateway") => {
            let why = "for OTPGATE_SMS_PROVIDER=gateway";
            let url = Url::parse(required(&settings.gateway_url, "OTPGATE_GATEWAY_URL", why)?)
                .context("OTPGATE_GATEWAY_URL is not a URL")?;
            if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
                bail!("OTPGATE_GATEWAY_URL must be the http(s) sendsms URL, without a query");
            }
            if url.scheme() == "http" && !is_loopback(&url) {
                tracing::warn!(
                    "the SMS gateway is reached over plain http: its password and the codes travel in clear"
                );
            }
            let user = required(&settings.gateway_username, "OTPGATE_GATEWAY_USERNAME", why)?;
            let password =
                required_secret(&settings.gateway_password, "OTPGATE_GATEWAY_PASSWORD", why)?;
            let provider = gateway::GatewayProvider::new(
                client.clone(),
                url,
                user.to_owned(),
                password.clone(),
                settings.gateway_from.clone(),
            );
            delivery = delivery.with_provider(Channel::Sms, Arc::new(provider));
        }
        Some(other) => bail!("OTPGATE_SMS_PROVIDER must be `twilio` or `gateway`, not `{other}`"),
    }
    if settings.whatsapp_phone_number_id.is_some() || settings.whatsapp_token.is_some() {
        let why = "for WhatsApp";
        let base = base_url(
            "OTPGATE_WHATSAPP_BASE_URL",
            settings
                .whatsapp_base_url
                .as_deref()
                .unwrap_or(DEFAULT_WHATSAPP_BASE),
        )?;
        let phone = required(
            &settings.whatsapp_phone_number_id,
            "OTPGATE_WHATSAPP_PHONE_NUMBER_ID",
            why,
        )?;
        if phone.is_empty() || !phone.bytes().all(|b| b.is_ascii_digit()) {
            bail!("OTPGATE_WHATSAPP_PHONE_NUMBER_ID must be the digits of the phone number ID");
        }
        let token = required_secret(&settings.whatsapp_token, "OTPGATE_WHATSAPP_TOKEN", why)?;
        let template = required(
            &settings.whatsapp_template,
            "OTPGATE_WHATSAPP_TEMPLATE",
            why,
        )?;
        required_secret(
            &settings.whatsapp_app_secret,
            "OTPGATE_WHATSAPP_APP_SECRET",
            why,
        )?;
        let version = settings
            .whatsapp_api_version
            .as_deref()
            .unwrap_or(DEFAULT_WHATSAPP_VERSION);
        let valid_version = version
            .strip_prefix('v')
            .unwrap_or(version)
            .split_once('.')
            .is_some_and(|(major, minor)| {
                !major.is_empty()
                    && !minor.is_empty()
                    && major
                        .bytes()
                        .chain(minor.bytes())
                        .all(|b| b.is_ascii_digit())
            });
        if !valid_version {
            bail!("OTPGATE_WHATSAPP_API_VERSION must look like v21.0");
        }
        let languages =
            whatsapp::parse_languages(settings.whatsapp_languages.as_deref().unwrap_or(""))?;
        let provider = whatsapp::WhatsappProvider::new(
            client,
            &base,
            version,
            phone,
            token.clone(),
            template.to_owned(),
            languages,
        )?;
        delivery = delivery.with_provider(Channel::Whatsapp, Arc::new(provider));
    }
    public_url(settings)?;
    Ok(delivery)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> ProviderSettings {
        ProviderSettings::from_values(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    fn channels(delivery: &Delivery) -> Vec<(Channel, &'static str)> {
        delivery.providers()
    }

    #[tokio::test]
    async fn complete_settings_build_every_provider() {
        let delivery = build(
            &settings(&[
                ("smtp_url", "smtp://mailer:pw@mail.example.com"),
                ("smtp_from", "Acme <codes@acme.test>"),
                ("sms_provider", "twilio"),
                ("twilio_account_sid", "AC123"),
                ("twilio_auth_token", "token"),
                ("twilio_from", "+14155550100"),
                ("whatsapp_phone_number_id", "106540352242922"),
                ("whatsapp_token", "token"),
                ("whatsapp_app_secret", "secret"),
                ("whatsapp_template", "otp"),
                ("public_url", "https://otp.acme.test"),
            ]),
            Mode::Production,
        )
        .unwrap();
        assert_eq!(
            channels(&delivery),
            vec![
                (Channel::Email, "smtp"),
                (Channel::Sms, "twilio"),
                (Channel::Whatsapp, "whatsapp")
            ]
        );
        assert!(channels(&build(&settings(&[]), Mode::Production).unwrap()).is_empty());
    }

    #[tokio::test]
    async fn incomplete_or_unsafe_settings_are_refused_by_name() {
        for (pairs, expected) in [
            (
                vec![("smtp_url", "smtp://mail.example.com")],
                "OTPGATE_SMTP_FROM",
            ),
            (
                vec![("sms_provider", "carrier-pigeon")],
                "OTPGATE_SMS_PROVIDER",
            ),
            (
                vec![("sms_provider", "twilio"), ("twilio_account_sid", "AC1")],
                "OTPGATE_TWILIO_AUTH_TOKEN",
            ),
            (
                vec![
                    ("sms_provider", "twilio"),
                    ("twilio_account_sid", "AC1"),
                    ("twilio_auth_token", "t"),
                ],
                "OTPGATE_TWILIO_FROM",
            ),
            (
                vec![
                    ("sms_provider", "twilio"),
                    ("twilio_base_url", "http://api.example.com"),
                    ("twilio_account_sid", "AC1"),
                    ("twilio_auth_token", "t"),
                    ("twilio_from", "+1"),
                ],
                "OTPGATE_TWILIO_BASE_URL",
            ),
            (
                vec![
                    ("sms_provider", "gateway"),
                    ("gateway_url", "http://127.0.0.1:1/x?a=b"),
                ],
                "OTPGATE_GATEWAY_URL",
            ),
            (
                vec![("whatsapp_token", "t")],
                "OTPGATE_WHATSAPP_PHONE_NUMBER_ID",
            ),
            (vec![("public_url", "ftp://x")], "OTPGATE_PUBLIC_URL"),
        ] {
            let error = format!(
                "{:#}",
                build(&settings(&pairs), Mode::Production).err().unwrap()
            );
            assert!(error.contains(expected), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn public_urls_end_with_a_slash_so_paths_join_under_them() {
        let url = public_url(&settings(&[("public_url", "https://acme.test/otp")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            url.join("hooks/twilio/status").unwrap().as_str(),
            "https://acme.test/otp/hooks/twilio/status"
        );
    }
}
