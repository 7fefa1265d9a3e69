//! The Twilio Verify-compatible door's services (`VA…`): a tenant's named settings — the app
//! name its messages say and the code length — that its verifications are started under. The
//! rules for them live here; the door only reads Twilio's parameters and shapes Twilio's answers.

use crate::server::crypto::{looks_like_sid, new_sid};
use crate::server::service::{ServiceError, ServiceResult, VerificationService};
use crate::server::store::{
    AuthenticatedKey, Caller, PageStart, TwilioService, TwilioServiceChange,
};

/// The code length of a service created without one (Twilio's default).
pub const DEFAULT_CODE_LENGTH: u8 = 6;
/// The longest friendly name, in characters (Twilio's limit).
pub const MAX_FRIENDLY_NAME_CHARS: usize = 32;
/// A page of services: 50 unless asked otherwise, at most 1,000 (Twilio's).
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;

fn invalid(message: String) -> ServiceError {
    ServiceError::InvalidRequest(message)
}

/// A friendly name as stored: trimmed, 1 to 32 characters, no control characters (it is the
/// app name in every message).
fn friendly_name(name: &str) -> ServiceResult<String> {
    let name = name.trim();
    let count = name.chars().count();
    if count == 0 || count > MAX_FRIENDLY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "FriendlyName: 1 to {MAX_FRIENDLY_NAME_CHARS} characters, no control characters"
        )));
    }
    Ok(name.to_owned())
}

fn code_length(length: i64) -> ServiceResult<u8> {
    u8::try_from(length)
        .ok()
        .filter(|l| (4..=10).contains(l))
        .ok_or_else(|| invalid("CodeLength: 4 to 10".into()))
}

/// A change as the door reads it: each field given or not.
#[derive(Clone, Debug, Default)]
pub struct ServiceSettings {
    pub friendly_name: Option<String>,
    pub code_length: Option<i64>,
}

impl ServiceSettings {
    fn checked(&self) -> ServiceResult<TwilioServiceChange> {
        Ok(TwilioServiceChange {
            friendly_name: self
                .friendly_name
                .as_deref()
                .map(friendly_name)
                .transpose()?,
            code_length: self.code_length.map(code_length).transpose()?,
        })
    }
}

impl VerificationService {
    /// A new service of the key's tenant; `FriendlyName` is required.
    pub async fn create_twilio_service(
        &self,
        key: &AuthenticatedKey,
        settings: &ServiceSettings,
        by: &Caller,
    ) -> ServiceResult<TwilioService> {
        let change = settings.checked()?;
        let friendly_name = change
            .friendly_name
            .ok_or_else(|| invalid("FriendlyName: required".into()))?;
        let now = self.clock.now();
        let service = TwilioService {
            sid: new_sid(&mut rand::rng(), "VA"),
            friendly_name,
            code_length: change.code_length.unwrap_or(DEFAULT_CODE_LENGTH),
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_twilio_service(key.tenant_id, &service, by)
            .await?;
        Ok(service)
    }

    /// The tenant's service with this SID; `NotFound` for any other (another tenant's alike).
    pub async fn twilio_service(&self, tenant_id: i64, sid: &str) -> ServiceResult<TwilioService> {
        if !looks_like_sid(sid, "VA") {
            return Err(ServiceError::NotFound);
        }
        self.store
            .twilio_service(tenant_id, sid)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// A page of the tenant's services, oldest first, and whether another follows.
    pub async fn twilio_services(
        &self,
        tenant_id: i64,
        start: &PageStart,
        page_size: u32,
    ) -> ServiceResult<(Vec<TwilioService>, bool)> {
        let page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        let mut services = self
            .store
            .twilio_services(tenant_id, start, page_size + 1)
            .await?;
        let more = services.len() > page_size as usize;
        services.truncate(page_size as usize);
        Ok((services, more))
    }

    /// Changes the tenant's service; `NotFound` when it has none of that SID.
    pub async fn update_twilio_service(
        &self,
        tenant_id: i64,
        sid: &str,
        settings: &ServiceSettings,
        by: &Caller,
    ) -> ServiceResult<TwilioService> {
        let change = settings.checked()?;
        if !looks_like_sid(sid, "VA") {
            return Err(ServiceError::NotFound);
        }
        self.store
            .update_twilio_service(tenant_id, sid, &change, self.clock.now(), by)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Deletes the tenant's service; `NotFound` when it has none of that SID.
    pub async fn delete_twilio_service(
        &self,
        tenant_id: i64,
        sid: &str,
        by: &Caller,
    ) -> ServiceResult<()> {
        if !looks_like_sid(sid, "VA") {
            return Err(ServiceError::NotFound);
        }
        let deleted = self
            .store
            .delete_twilio_service(tenant_id, sid, self.clock.now(), by)
            .await?;
        deleted.then_some(()).ok_or(ServiceError::NotFound)
    }

    /// The tenant of an account SID and API key when both name the same one: the door's
    /// credentials. `None` for anything else (the door answers them alike).
    pub async fn authenticate_account(
        &self,
        account_sid: &str,
        api_key: &str,
    ) -> ServiceResult<Option<AuthenticatedKey>> {
        if !looks_like_sid(account_sid, "AC") {
            return Ok(None);
        }
        let Some(key) = self.authenticate(api_key).await? else {
            return Ok(None);
        };
        let owner = self.store.tenant_of_account(account_sid).await?;
        Ok((owner == Some(key.tenant_id)).then_some(key))
    }
}
