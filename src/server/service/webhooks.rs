//! Webhook endpoints, administered: subscribe a URL (its signing secret made here and shown
//! once), change, delete, rotate the secret with an overlap, send a test event, read the
//! deliveries with their attempts, send one again, replay since a time. The validation of what
//! an operator gives lives here; the checks of the URL are the guard's.

use crate::engine::webhook::EventType;
use crate::server::events::{Event, signing};
use crate::server::store::{
    Caller, EndpointInfo, EndpointPatch, NewEndpoint, StoreError, WebhookDeliveryInfo,
    WebhookDeliveryQuery,
};

use super::{AdminService, ServiceError, ServiceResult};

/// The longest description an endpoint may have.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// How long a rotated-out secret keeps signing, unless told otherwise: a day.
pub const DEFAULT_OVERLAP_SECS: i64 = 86_400;

/// The longest overlap a rotation may ask for: a week.
pub const MAX_OVERLAP_SECS: i64 = 7 * 86_400;

/// An endpoint just made: its secret (`whsec_…`) is shown only here.
#[derive(Clone)]
pub struct CreatedWebhook {
    pub endpoint: EndpointInfo,
    pub secret: String,
}

impl std::fmt::Debug for CreatedWebhook {
    /// Leaves out the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedWebhook")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// A secret just rotated in: shown only here, with until when the previous one still signs.
#[derive(Clone)]
pub struct RotatedSecret {
    pub secret: String,
    pub previous_valid_until: i64,
}

impl std::fmt::Debug for RotatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatedSecret")
            .field("previous_valid_until", &self.previous_valid_until)
            .finish_non_exhaustive()
    }
}

/// What an operator changes on an endpoint, as given (checked by `update_webhook`).
#[derive(Clone, Debug, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    /// `Some(None)`: every type.
    pub events: Option<Option<Vec<String>>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::InvalidRequest(message.into())
}

/// The event types named, checked: known, at least one, each once (in the catalogue's order).
pub fn event_types(names: &[String]) -> ServiceResult<Vec<EventType>> {
    if names.is_empty() {
        return Err(invalid(
            "events: name at least one event type, or leave it out for every type",
        ));
    }
    let mut types = names
        .iter()
        .map(|name| {
            EventType::parse(name).ok_or_else(|| {
                invalid(format!(
                    "events: `{name}` is not an event type (one of {})",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ))
            })
        })
        .collect::<ServiceResult<Vec<_>>>()?;
    types.sort_unstable();
    types.dedup();
    Ok(types)
}

fn description(text: &str) -> ServiceResult<String> {
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(invalid(format!(
            "description: at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid("description: no control characters"));
    }
    Ok(text.to_owned())
}

fn no_endpoint() -> ServiceError {
    StoreError::NotFound("no such webhook endpoint".into()).into()
}

impl AdminService {
    fn sealer(&self) -> ServiceResult<&crate::server::crypto::ServerKeys> {
        self.parts().keys.as_deref().ok_or_else(|| {
            invalid("webhook secrets are made by a process that has the server secret")
        })
    }

    async fn checked_url(&self, url: &str) -> ServiceResult<String> {
        self.parts()
            .webhook_guard
            .check(url)
            .await
            .map(String::from)
            .map_err(ServiceError::InvalidRequest)
    }

    /// Subscribes `url` to the tenant's events (`events`: their types, or every type), with a
    /// new signing secret, shown in the answer only.
    pub async fn create_webhook(
        &self,
        tenant: &str,
        url: &str,
        events: Option<&[String]>,
        about: Option<&str>,
        by: &Caller,
    ) -> ServiceResult<CreatedWebhook> {
        let types = events.map(event_types).transpose()?;
        let about = description(about.unwrap_or_default())?;
        let url = self.checked_url(url).await?;
        let keys = self.sealer()?;
        let (secret, sealed) = {
            let mut rng = rand::rng();
            let (shown, bytes) = signing::new_secret(&mut rng);
            (shown, keys.seal_webhook_secret(&mut rng, &bytes))
        };
        let new = NewEndpoint {
            tenant,
            url: &url,
            event_types: types.as_deref(),
            description: &about,
            secret_sealed: &sealed,
            created_at: self.now(),
        };
        let id = self.parts().store.create_endpoint(&new, by).await?;
        Ok(CreatedWebhook {
            endpoint: self.webhook(id).await?,
            secret,
        })
    }

    /// The endpoints of `tenant`, or of every tenant.
    pub async fn webhooks(&self, tenant: Option<&str>) -> ServiceResult<Vec<EndpointInfo>> {
        Ok(self.parts().store.endpoints(tenant).await?)
    }

    pub async fn webhook(&self, id: i64) -> ServiceResult<EndpointInfo> {
        self.parts()
            .store
            .endpoint(id)
            .await?
            .ok_or_else(no_endpoint)
    }

    /// Changes some of an endpoint's settings; the endpoint as it is now. Enabling it again
    /// forgets its run of failures; disabling it skips what it has pending.
    pub async fn update_webhook(
        &self,
        id: i64,
        change: &WebhookChange,
        by: &Caller,
    ) -> ServiceResult<EndpointInfo> {
        let mut patch = EndpointPatch {
            enabled: change.enabled,
            ..EndpointPatch::default()
        };
        if let Some(events) = &change.events {
            patch.event_types = Some(events.as_deref().map(event_types).transpose()?);
        }
        if let Some(text) = &change.description {
            patch.description = Some(description(text)?);
        }
        if let Some(url) = &change.url {
            patch.url = Some(self.checked_url(url).await?);
        }
        if patch.is_empty() {
            return Err(invalid("nothing to change: give at least one setting"));
        }
        if !self
            .parts()
            .store
            .update_endpoint(id, &patch, self.now(), by)
            .await?
        {
            return Err(no_endpoint());
        }
        self.webhook(id).await
    }

    /// Deletes an endpoint with its deliveries.
    pub async fn delete_webhook(&self, id: i64, by: &Caller) -> ServiceResult<()> {
        if self
            .parts()
            .store
            .delete_endpoint(id, self.now(), by)
            .await?
        {
            Ok(())
        } else {
            Err(no_endpoint())
        }
    }

    /// A new signing secret; the previous one keeps signing (every delivery carries both
    /// signatures) for `overlap_secs` (a day unless told), so receivers can move to the new one.
    pub async fn rotate_webhook_secret(
        &self,
        id: i64,
        overlap_secs: Option<i64>,
        by: &Caller,
    ) -> ServiceResult<RotatedSecret> {
        let overlap = overlap_secs.unwrap_or(DEFAULT_OVERLAP_SECS);
        if !(0..=MAX_OVERLAP_SECS).contains(&overlap) {
            return Err(invalid("overlap_secs: from 0 to 604800 (a week)"));
        }
        let keys = self.sealer()?;
        let (secret, sealed) = {
            let mut rng = rand::rng();
            let (shown, bytes) = signing::new_secret(&mut rng);
            (shown, keys.seal_webhook_secret(&mut rng, &bytes))
        };
        let now = self.now();
        let until = now + overlap;
        if !self
            .parts()
            .store
            .rotate_secret(id, &sealed, until, now, by)
            .await?
        {
            return Err(no_endpoint());
        }
        Ok(RotatedSecret {
            secret,
            previous_valid_until: until,
        })
    }

    /// Sends an endpoint a test event of `kind` (its data made up, `"test": true`); the
    /// delivery's ID. A disabled endpoint is a conflict: enable it first.
    pub async fn test_webhook(&self, id: i64, kind: &str) -> ServiceResult<i64> {
        let kind = EventType::parse(kind).ok_or_else(|| {
            invalid(format!(
                "type: `{kind}` is not an event type (one of {})",
                EventType::ALL.map(EventType::as_str).join(", ")
            ))
        })?;
        let endpoint = self.webhook(id).await?;
        if endpoint.disabled_at.is_some() {
            return Err(StoreError::Conflict(
                "the endpoint is disabled: enable it to send it events".into(),
            )
            .into());
        }
        let event = Event::sample(&mut rand::rng(), kind, &endpoint.tenant, self.now());
        let delivery = self.parts().store.queue_event(id, &event).await?;
        self.parts().webhook_wake.notify_one();
        Ok(delivery)
    }

    /// An endpoint's deliveries, newest first, with their attempts.
    pub async fn webhook_deliveries(
        &self,
        id: i64,
        query: &WebhookDeliveryQuery<'_>,
    ) -> ServiceResult<Vec<WebhookDeliveryInfo>> {
        if !(1..=1000).contains(&query.limit) {
            return Err(invalid("limit: from 1 to 1000 deliveries"));
        }
        if let Some(status) = query.status
            && !["pending", "sending", "delivered", "failed", "skipped"].contains(&status)
        {
            return Err(invalid(
                "status: pending, sending, delivered, failed or skipped",
            ));
        }
        self.webhook(id).await?;
        Ok(self.parts().store.webhook_deliveries(id, query).await?)
    }

    /// Sends a finished delivery again, now, under its same event ID.
    pub async fn resend_webhook(
        &self,
        endpoint_id: i64,
        delivery_id: i64,
        by: &Caller,
    ) -> ServiceResult<()> {
        let store = &self.parts().store;
        if !store
            .resend_webhook(endpoint_id, delivery_id, self.now(), by)
            .await?
        {
            let query = WebhookDeliveryQuery {
                before_id: Some(delivery_id + 1),
                limit: 1,
                ..WebhookDeliveryQuery::default()
            };
            let found = store.webhook_deliveries(endpoint_id, &query).await?;
            return Err(match found.first() {
                Some(delivery) if delivery.id == delivery_id => StoreError::Conflict(format!(
                    "the delivery is {}: it is sent already",
                    delivery.status
                )),
                _ => StoreError::NotFound("no such delivery of this endpoint".into()),
            }
            .into());
        }
        self.parts().webhook_wake.notify_one();
        Ok(())
    }

    /// Sends again every delivery of the endpoint made since `since` that failed or was skipped
    /// (with `delivered`, those delivered too); how many were queued.
    pub async fn replay_webhooks(
        &self,
        id: i64,
        since: i64,
        delivered: bool,
        by: &Caller,
    ) -> ServiceResult<u64> {
        let now = self.now();
        if since > now {
            return Err(invalid("since: must not be in the future"));
        }
        let endpoint = self.webhook(id).await?;
        if endpoint.disabled_at.is_some() {
            return Err(StoreError::Conflict(
                "the endpoint is disabled: enable it, then replay".into(),
            )
            .into());
        }
        let queued = self
            .parts()
            .store
            .replay_webhooks(id, since, delivered, now, by)
            .await?;
        self.parts().webhook_wake.notify_one();
        Ok(queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_lists_are_checked_and_kept_in_catalogue_order() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            event_types(&names(&[
                "message.failed",
                "verification.verified",
                "message.failed"
            ]))
            .unwrap(),
            vec![EventType::VerificationVerified, EventType::MessageFailed]
        );
        let unknown = event_types(&names(&["verification.approved"])).unwrap_err();
        assert!(
            unknown
                .to_string()
                .contains("`verification.approved` is not an event type")
        );
        assert!(event_types(&[]).is_err());
    }

    #[test]
    fn descriptions_are_short_and_printable() {
        assert_eq!(description("Billing backend").unwrap(), "Billing backend");
        assert!(description(&"x".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
        assert!(description("line\nbreak").is_err());
    }
}
