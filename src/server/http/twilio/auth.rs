//! The door's credentials: HTTP Basic with the tenant's account SID as the user name and one of
//! its API keys as the password (test keys reach the test outbox, as on every door). Anything
//! else — no header, another scheme, an unknown SID, a wrong key, a key of another tenant — is
//! `401` 20003, the same answer for each.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::TwilioError;
use crate::server::http::request_id::caller;
use crate::server::service::AuthenticatedKey;
use crate::server::state::AppState;
use crate::server::store::{Actor, Caller};

/// The tenant the request's credentials name, and who the audit log says acted.
pub struct TwilioAccount {
    pub key: AuthenticatedKey,
    pub account_sid: String,
    pub caller: Caller,
}

/// The user name and password of a `Basic` authorization header.
fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl FromRequestParts<AppState> for TwilioAccount {
    type Rejection = TwilioError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<TwilioAccount, TwilioError> {
        let (account_sid, password) =
            basic_credentials(parts).ok_or_else(TwilioError::unauthenticated)?;
        let key = state
            .service
            .authenticate_account(&account_sid, &password)
            .await
            .map_err(|error| TwilioError::of(error, parts.uri.path()))?
            .ok_or_else(TwilioError::unauthenticated)?;
        let caller = caller(
            Actor::ApiKey(key.key_prefix.clone().unwrap_or_default()),
            parts,
        );
        Ok(TwilioAccount {
            key,
            account_sid,
            caller,
        })
    }
}
