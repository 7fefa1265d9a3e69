//! What the Twilio Verify-compatible door keeps of its own: a tenant's services (`VA…`), each a
//! name and a code length its verifications are started with. Every change writes its audit
//! entry in the same transaction.

use async_trait::async_trait;

use super::{Caller, StoreResult};

/// A service as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioService {
    pub sid: String,
    pub friendly_name: String,
    pub code_length: u8,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A change to a service; what is `None` stays as it was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TwilioServiceChange {
    pub friendly_name: Option<String>,
    pub code_length: Option<u8>,
}

/// Where a page of services starts: after the service with this SID (the previous page's
/// last), else after skipping this many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageStart {
    After(String),
    Skip(u64),
}

#[async_trait]
pub trait TwilioStore: Send + Sync {
    /// Stores a new service of the tenant.
    async fn create_twilio_service(
        &self,
        tenant_id: i64,
        service: &TwilioService,
        by: &Caller,
    ) -> StoreResult<()>;

    /// The tenant's service with this SID, if it has one.
    async fn twilio_service(&self, tenant_id: i64, sid: &str)
    -> StoreResult<Option<TwilioService>>;

    /// Up to `limit` of the tenant's services in the order they were created, from `start`.
    async fn twilio_services(
        &self,
        tenant_id: i64,
        start: &PageStart,
        limit: u32,
    ) -> StoreResult<Vec<TwilioService>>;

    /// Applies `change` to the tenant's service at `now`; the service as it is then, or `None`
    /// when the tenant has no such service.
    async fn update_twilio_service(
        &self,
        tenant_id: i64,
        sid: &str,
        change: &TwilioServiceChange,
        now: i64,
        by: &Caller,
    ) -> StoreResult<Option<TwilioService>>;

    /// Deletes the tenant's service; false when it had none of that SID.
    async fn delete_twilio_service(
        &self,
        tenant_id: i64,
        sid: &str,
        now: i64,
        by: &Caller,
    ) -> StoreResult<bool>;
}
