//! What the Twilio Verify-compatible door keeps of its own: a tenant's services (`VA…`), each a
//! name and a code length its verifications are started with (every change audited in the same
//! transaction), and its verifications (`VE…`): which service and `To` each is for, whether a
//! create may still find it, and the messages it sent.

use async_trait::async_trait;

use super::{Caller, StoreResult};
use crate::engine::Channel;

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

/// One message a verification sent (`send_code_attempts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendAttempt {
    pub sid: String,
    pub channel: Channel,
    pub at: i64,
}

/// A verification as stored: which service and `To` it is for, whether a create may still
/// find it, and its messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioVerification {
    pub id: i64,
    pub sid: String,
    pub service_sid: String,
    pub recipient: String,
    pub channel: Channel,
    pub open: bool,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub attempts: Vec<SendAttempt>,
}

/// Which verification: by SID (whatever its state), or the open one for a `To`.
#[derive(Clone, Copy, Debug)]
pub enum VerificationRef<'a> {
    Sid(&'a str),
    OpenFor(&'a str),
}

/// A verification to store.
#[derive(Clone, Debug)]
pub struct NewTwilioVerification<'a> {
    pub sid: &'a str,
    pub service_sid: &'a str,
    pub recipient: &'a str,
    pub channel: Channel,
    pub expires_at: i64,
    pub now: i64,
}

#[async_trait]
pub trait TwilioVerificationStore: Send + Sync {
    /// Stores an open verification; `None` when the service already has an open one for the
    /// same `To` (two creates at once make one).
    async fn open_twilio_verification(
        &self,
        tenant_id: i64,
        new: &NewTwilioVerification<'_>,
    ) -> StoreResult<Option<i64>>;

    /// The tenant's verification under `service_sid`, with its messages.
    async fn twilio_verification(
        &self,
        tenant_id: i64,
        service_sid: &str,
        which: VerificationRef<'_>,
    ) -> StoreResult<Option<TwilioVerification>>;

    /// Records a message the verification sent.
    async fn add_send_attempt(
        &self,
        verification_id: i64,
        attempt: &SendAttempt,
    ) -> StoreResult<()>;

    /// Closes an open verification at `now`; true for the one call that closed it.
    async fn close_twilio_verification(&self, verification_id: i64, now: i64) -> StoreResult<bool>;

    /// Removes a verification whose session could not be started.
    async fn forget_twilio_verification(&self, verification_id: i64) -> StoreResult<()>;
}
