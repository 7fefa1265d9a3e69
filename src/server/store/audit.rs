//! The audit log as stored: who changed what, on which tenant, when, from where. Entries are
//! written by the store methods that make the changes, in the same transaction (a change and
//! its entry are committed together or not at all); this trait reads them back.

use async_trait::async_trait;

use super::*;

/// Who did something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// An admin token, by its ID.
    AdminToken(i64),
    /// The command line, on the server.
    Cli,
    /// An API key, by its public prefix.
    ApiKey(String),
    /// otpgate itself (a session locked by its attempts, a destination by its failures).
    System,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::AdminToken(_) => "admin_token",
            Actor::Cli => "cli",
            Actor::ApiKey(_) => "api_key",
            Actor::System => "system",
        }
    }

    pub fn id(&self) -> Option<String> {
        match self {
            Actor::AdminToken(id) => Some(id.to_string()),
            Actor::ApiKey(prefix) => Some(prefix.clone()),
            Actor::Cli | Actor::System => None,
        }
    }
}

/// Who asks for a change and from where, recorded with the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub actor: Actor,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl Caller {
    /// The command line on the server.
    pub fn cli() -> Caller {
        Caller {
            actor: Actor::Cli,
            ip: None,
            request_id: None,
        }
    }

    /// otpgate itself.
    pub fn system() -> Caller {
        Caller {
            actor: Actor::System,
            ip: None,
            request_id: None,
        }
    }
}

/// An entry as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    /// `admin_token`, `cli`, `api_key`, `operator` or `system`.
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub tenant: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

/// Which entries to read: newest first, those with an ID below `before_id` (the cursor).
#[derive(Clone, Debug, Default)]
pub struct AuditQuery<'a> {
    pub tenant: Option<&'a str>,
    pub action: Option<&'a str>,
    pub actor_type: Option<&'a str>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// The entries `query` asks for, newest first.
    async fn audit_entries(&self, query: &AuditQuery<'_>) -> StoreResult<Vec<AuditEntry>>;
}

/// An entry as both stores read it.
#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at: i64,
    actor_type: String,
    actor_id: Option<String>,
    tenant: Option<String>,
    action: String,
    target: Option<String>,
    before: Option<String>,
    after: Option<String>,
    ip: Option<String>,
    request_id: Option<String>,
}

fn json_of(stored: Option<String>) -> StoreResult<Option<serde_json::Value>> {
    stored
        .map(|text| {
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("audit entry: {e}")))
        })
        .transpose()
}

impl AuditRow {
    pub(super) fn entry(self) -> StoreResult<AuditEntry> {
        Ok(AuditEntry {
            id: self.id,
            at: self.at,
            actor_type: self.actor_type,
            actor_id: self.actor_id,
            tenant: self.tenant,
            action: self.action,
            target: self.target,
            before: json_of(self.before)?,
            after: json_of(self.after)?,
            ip: self.ip,
            request_id: self.request_id,
        })
    }
}
