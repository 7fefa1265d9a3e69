//! WhatsApp through the Cloud API: an authentication template sent to
//! `<base>/<version>/<phone number id>/messages` with a Bearer token, the code as the body
//! parameter and as the parameter of the copy-code button, the template's language chosen by
//! the session's. Meta's error codes say what is worth another try (rate limits, temporary
//! errors) and what is not. Status webhooks are signed (`X-Hub-Signature-256`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::{JsonAnswer, is_transient, json_answer};
use crate::engine::delivery::{DeliveryFailure, DeliveryStatus};
use crate::server::delivery::texts::Content;
use crate::server::delivery::{Accepted, OutgoingMessage, Provider, ProviderError};

pub struct WhatsappProvider {
    client: reqwest::Client,
    endpoint: Url,
    token: SecretString,
    template: String,
    /// The template's language code per otpgate language (`en` → `en_US`); the tag itself when
    /// not listed.
    languages: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Sent {
    messages: Option<Vec<SentMessage>>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    code: Option<i64>,
    message: Option<String>,
}

/// Parses `en=en_US,ar=ar` into a map.
pub fn parse_languages(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (tag, code) = pair.split_once('=').ok_or_else(|| {
                anyhow::anyhow!(
                    "OTPGATE_WHATSAPP_LANGUAGES: `{pair}` is not `language=template language`"
                )
            })?;
            Ok((tag.trim().to_ascii_lowercase(), code.trim().to_owned()))
        })
        .collect()
}

impl WhatsappProvider {
    pub fn new(
        client: reqwest::Client,
        base: &Url,
        version: &str,
        phone_number_id: &str,
        token: SecretString,
        template: String,
        languages: BTreeMap<String, String>,
    ) -> anyhow::Result<WhatsappProvider> {
        let version = version.trim_start_matches('v');
        let endpoint = base.join(&format!("v{version}/{phone_number_id}/messages"))?;
        Ok(WhatsappProvider {
            client,
            endpoint,
            token,
            template,
            languages,
        })
    }
}

/// What a Cloud API error code means: `None` when it is worth another try.
pub fn failure_of(code: i64) -> Option<DeliveryFailure> {
    match code {
        // Rate limits and temporary errors.
        4 | 80007 | 130429 | 131000 | 131016 | 131056 | 133004 => None,
        // The number cannot receive WhatsApp messages.
        131026 | 131045 | 131021 => Some(DeliveryFailure::InvalidRecipient),
        // The person or Meta's policy refuses messages from this sender.
        131030 | 131031 | 131048 | 368 => Some(DeliveryFailure::Blocked),
        _ => Some(DeliveryFailure::ProviderRejected),
    }
}

#[async_trait]
impl Provider for WhatsappProvider {
    fn name(&self) -> &'static str {
        "whatsapp"
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Accepted, ProviderError> {
        let (template, language) = match &message.content {
            // The tenant's own approved template, in the language it was approved in.
            Content::Whatsapp {
                tenant_template: Some((name, code)),
                ..
            } => (name.as_str(), code.clone()),
            Content::Whatsapp { language, .. } => (
                self.template.as_str(),
                self.languages
                    .get(*language)
                    .cloned()
                    .unwrap_or_else(|| (*language).to_owned()),
            ),
            _ => {
                return Err(ProviderError::permanent(
                    DeliveryFailure::ProviderRejected,
                    "a message of another channel was given to the WhatsApp provider",
                ));
            }
        };
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to.trim_start_matches('+'),
            "type": "template",
            "template": {
                "name": template,
                "language": {"code": language},
                "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": message.code}]},
                    {"type": "button", "sub_type": "url", "index": "0",
                     "parameters": [{"type": "text", "text": message.code}]}
                ]
            }
        });
        let request = self
            .client
            .post(self.endpoint.clone())
            .bearer_auth(self.token.expose_secret())
            .json(&body);
        let (status, retry_after, error) =
            match json_answer::<Sent, ErrorEnvelope>(request, "the Cloud API").await? {
                JsonAnswer::Accepted(sent) => {
                    return Ok(Accepted {
                        provider_message_id: sent
                            .messages
                            .and_then(|m| m.into_iter().next())
                            .map(|m| m.id),
                    });
                }
                JsonAnswer::Refused {
                    status,
                    retry_after,
                    error,
                } => (status, retry_after, error.and_then(|e| e.error)),
            };
        let code = error.as_ref().and_then(|e| e.code);
        let detail = format!(
            "the Cloud API answered {status}{}{}",
            code.map(|c| format!(", error {c}")).unwrap_or_default(),
            error
                .and_then(|e| e.message)
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
        if is_transient(status) {
            return Err(ProviderError::Transient {
                detail,
                retry_after,
            });
        }
        match code.map(failure_of) {
            // A code Meta documents as temporary (a rate limit, say), whatever the status.
            Some(None) => Err(ProviderError::Transient {
                detail,
                retry_after,
            }),
            Some(Some(failure)) => Err(ProviderError::permanent(failure, detail)),
            None => Err(ProviderError::permanent(
                DeliveryFailure::ProviderRejected,
                detail,
            )),
        }
    }
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under the app secret.
pub fn signature_is_valid(app_secret: &str, body: &[u8], header: &str) -> bool {
    let Some(given) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(given) else {
        return false;
    };
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// One status of a webhook: the message's Cloud API ID and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusUpdate {
    pub message_id: String,
    pub status: DeliveryStatus,
    pub failure: Option<DeliveryFailure>,
}

/// The statuses a webhook body carries (`entry[].changes[].value.statuses[]`); messages and
/// other fields are not otpgate's business.
pub fn statuses(body: &serde_json::Value) -> Vec<StatusUpdate> {
    let mut found = Vec::new();
    let entries = body["entry"].as_array().cloned().unwrap_or_default();
    for entry in entries {
        for change in entry["changes"].as_array().cloned().unwrap_or_default() {
            for status in change["value"]["statuses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let Some(id) = status["id"].as_str() else {
                    continue;
                };
                let (status_value, failure) = match status["status"].as_str() {
                    Some("sent") => (DeliveryStatus::Sent, None),
                    Some("delivered" | "read") => (DeliveryStatus::Delivered, None),
                    Some("failed") => (
                        DeliveryStatus::Failed,
                        Some(
                            status["errors"][0]["code"]
                                .as_i64()
                                .and_then(failure_of)
                                .unwrap_or(DeliveryFailure::ProviderRejected),
                        ),
                    ),
                    _ => continue,
                };
                found.push(StatusUpdate {
                    message_id: id.to_owned(),
                    status: status_value,
                    failure,
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_the_raw_body() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"app secret").unwrap();
        mac.update(body);
        let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_is_valid("app secret", body, &header));
        assert!(!signature_is_valid("other secret", body, &header));
        assert!(!signature_is_valid("app secret", b"{}", &header));
        assert!(!signature_is_valid("app secret", body, "sha1=abc"));
        assert!(!signature_is_valid("app secret", body, "sha256=zz"));
    }

    #[test]
    fn webhook_statuses_are_read_and_errors_classified() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
            "field": "messages",
            "value": {"messaging_product": "whatsapp", "statuses": [
                {"id": "wamid.A", "status": "delivered", "timestamp": "1"},
                {"id": "wamid.B", "status": "failed", "errors": [{"code": 131026, "title": "Message undeliverable"}]},
                {"id": "wamid.C", "status": "read"},
                {"id": "wamid.D", "status": "deleted"}
            ]}
        }]}]});
        assert_eq!(
            statuses(&body),
            vec![
                StatusUpdate {
                    message_id: "wamid.A".into(),
                    status: DeliveryStatus::Delivered,
                    failure: None
                },
                StatusUpdate {
                    message_id: "wamid.B".into(),
                    status: DeliveryStatus::Failed,
                    failure: Some(DeliveryFailure::InvalidRecipient)
                },
                StatusUpdate {
                    message_id: "wamid.C".into(),
                    status: DeliveryStatus::Delivered,
                    failure: None
                },
            ]
        );
        assert_eq!(failure_of(130429), None);
        assert_eq!(failure_of(190), Some(DeliveryFailure::ProviderRejected));
        assert_eq!(
            parse_languages("en=en_US, ar = ar").unwrap(),
            BTreeMap::from([("ar".into(), "ar".into()), ("en".into(), "en_US".into())])
        );
        assert!(parse_languages("en").is_err());
    }
}
