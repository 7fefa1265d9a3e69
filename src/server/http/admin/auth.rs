//! Who calls the admin API: the admin token of `Authorization: Bearer` (nothing else is read,
//! the query string never), and what it may see and do.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::server::http::request_id::caller;
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::service::{Actor, AdminPrincipal, AdminScope, Caller};
use crate::server::state::AppState;

/// The caller of an admin operation. A missing, malformed, unknown, expired or revoked token
/// is `401` with one body, whichever it was.
pub struct Admin(pub AdminPrincipal, Caller);

fn bearer(parts: &Parts) -> Option<&str> {
    let authorization = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Admin> {
        let token = bearer(parts).ok_or(ApiError::Unauthenticated)?;
        let principal = state
            .admin
            .authenticate_admin(token)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        let caller = caller(Actor::AdminToken(principal.token_id), parts);
        Ok(Admin(principal, caller))
    }
}

impl Admin {
    /// Who the audit log says made a change through this call.
    pub fn caller(&self) -> &Caller {
        &self.1
    }

    /// Refuses a `read` token an operation that changes something (`403`, saying nothing more).
    pub fn may_write(&self) -> ApiResult<()> {
        match self.0.scope {
            AdminScope::Write => Ok(()),
            AdminScope::Read => Err(ApiError::Forbidden(String::new())),
        }
    }

    /// Refuses a token scoped to one tenant an operation over all of them (creating one).
    pub fn over_every_tenant(&self) -> ApiResult<()> {
        match self.0.tenant_name {
            None => Ok(()),
            Some(_) => Err(ApiError::Forbidden(String::new())),
        }
    }

    /// The tenant the token is scoped to, if it is.
    pub fn own_tenant(&self) -> Option<&str> {
        self.0.tenant_name.as_deref()
    }

    /// The tenant a listing is limited to: the token's own (another asked for is answered as a
    /// missing tenant), else the one asked for, if any.
    pub fn tenant_filter<'a>(&'a self, asked: Option<&'a str>) -> ApiResult<Option<&'a str>> {
        match (self.own_tenant(), asked) {
            (Some(own), Some(asked)) if own != asked => Err(super::tenants::unknown_tenant(asked)),
            (Some(own), _) => Ok(Some(own)),
            (None, asked) => Ok(asked),
        }
    }

    /// Whether the token sees this tenant.
    pub fn sees(&self, tenant: &str) -> bool {
        self.0
            .tenant_name
            .as_deref()
            .is_none_or(|own| own == tenant)
    }
}
