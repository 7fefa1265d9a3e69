//! The outbox: messages caught instead of delivered (test keys, development mode), as the test
//! API, the demo page and the development outbox page read them.

use crate::server::store::OutboxQuery;

use super::{AuthenticatedKey, OutboxMessage, ServiceError, ServiceResult, VerificationService};

impl VerificationService {
    /// The test outbox of a tenant (test keys only), newest first.
    pub async fn test_messages(
        &self,
        key: &AuthenticatedKey,
        to: Option<&str>,
    ) -> ServiceResult<Vec<OutboxMessage>> {
        if !key.is_test {
            return Err(ServiceError::Forbidden(
                "the test outbox is only readable with a test key (sk_test_)".into(),
            ));
        }
        Ok(self
            .store
            .list_outbox(&OutboxQuery {
                tenant_id: Some(key.tenant_id),
                test_only: true,
                recipient: to,
                limit: 100,
                now: self.clock.now(),
            })
            .await?)
    }

    /// The newest test messages of one tenant, for the demo page.
    pub async fn tenant_test_messages(
        &self,
        tenant_id: i64,
        limit: i64,
    ) -> ServiceResult<Vec<OutboxMessage>> {
        Ok(self
            .store
            .list_outbox(&OutboxQuery {
                tenant_id: Some(tenant_id),
                test_only: true,
                recipient: None,
                limit,
                now: self.clock.now(),
            })
            .await?)
    }

    /// Every tenant's caught messages, for the development outbox page.
    pub async fn dev_outbox(&self, limit: i64) -> ServiceResult<Vec<OutboxMessage>> {
        Ok(self
            .store
            .list_outbox(&OutboxQuery {
                limit,
                now: self.clock.now(),
                ..OutboxQuery::default()
            })
            .await?)
    }
}
