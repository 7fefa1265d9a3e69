//! SMS through an HTTP gateway in Kannel's `sendsms` style: a GET with `username`, `password`,
//! `from`, `to` and `text`, asking for delivery reports to a per-message URL (`dlr-mask`,
//! `dlr-url`, with Kannel's `%d` for the report type). The gateway answers 2xx when it accepted
//! the message; 5xx (and no answer) are worth another try; anything else is a refusal.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{http_error, is_transient, retry_after};
use crate::engine::delivery::{DeliveryFailure, DeliveryStatus};
use crate::server::delivery::{Accepted, OutgoingMessage, Provider, ProviderError};

/// Report types asked for: delivered (1), not delivered (2), queued at the SMSC (4), accepted by
/// the SMSC (8), rejected by the SMSC (16).
const DLR_MASK: &str = "31";

pub struct GatewayProvider {
    client: reqwest::Client,
    url: Url,
    username: String,
    password: SecretString,
    from: Option<String>,
}

impl GatewayProvider {
    pub fn new(
        client: reqwest::Client,
        url: Url,
        username: String,
        password: SecretString,
        from: Option<String>,
    ) -> GatewayProvider {
        GatewayProvider {
            client,
            url,
            username,
            password,
            from,
        }
    }
}

#[async_trait]
impl Provider for GatewayProvider {
    fn name(&self) -> &'static str {
        "gateway"
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Accepted, ProviderError> {
        let text = message.sms_text()?;
        let mut url = self.url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("username", &self.username)
                .append_pair("password", self.password.expose_secret())
                .append_pair("to", &message.to)
                .append_pair("text", text)
                .append_pair("charset", "UTF-8");
            if !text.is_ascii() {
                // UCS-2: Arabic (and anything beyond GSM 7-bit) arrives as written.
                query.append_pair("coding", "2");
            }
            if let Some(from) = &self.from {
                query.append_pair("from", from);
            }
            if let Some(report) = &message.receipt_url {
                query
                    .append_pair("dlr-mask", DLR_MASK)
                    .append_pair("dlr-url", &format!("{report}?type=%d"));
            }
        }
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| http_error(&e))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        // The answer text never holds the code (it is Kannel's "0: Accepted for delivery").
        let detail = format!("gateway answered {status}: {}", body.trim());
        if status.is_success() {
            return Ok(Accepted::default());
        }
        if is_transient(status) {
            return Err(ProviderError::Transient {
                detail,
                retry_after: wait,
            });
        }
        Err(ProviderError::permanent(
            DeliveryFailure::ProviderRejected,
            detail,
        ))
    }
}

/// What a delivery report of Kannel's type `kind` says.
pub fn receipt_status(kind: &str) -> Option<(DeliveryStatus, Option<DeliveryFailure>)> {
    match kind.trim() {
        "1" => Some((DeliveryStatus::Delivered, None)),
        "2" | "16" => Some((
            DeliveryStatus::Failed,
            Some(DeliveryFailure::ProviderRejected),
        )),
        "4" | "8" => Some((DeliveryStatus::Sent, None)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_types_map_to_statuses() {
        assert_eq!(receipt_status("1"), Some((DeliveryStatus::Delivered, None)));
        assert_eq!(receipt_status("8"), Some((DeliveryStatus::Sent, None)));
        assert_eq!(
            receipt_status("16"),
            Some((
                DeliveryStatus::Failed,
                Some(DeliveryFailure::ProviderRejected)
            ))
        );
        assert_eq!(receipt_status("%d"), None);
        assert_eq!(receipt_status(""), None);
    }
}
