//! Tenants, their allowed origins and their API keys (stored as SHA-256 hashes).

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::*;
use crate::engine::Channel;
use crate::engine::limits::{LimitOverrides, LimitPolicy};

/// The tenant behind a valid, unrevoked key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatedKey {
    /// The key's ID (`None` when a tenant acts without a key: the demo page).
    pub key_id: Option<i64>,
    /// The key's public prefix (`sk_live_Ab12Cd34`), as the audit log names it.
    pub key_prefix: Option<String>,
    pub tenant_id: i64,
    pub tenant_name: String,
    pub is_test: bool,
    /// The tenant's own limits, over the server's.
    pub limits: LimitOverrides,
    /// Whether it may send, and on which channels.
    pub gate: TenantGate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantInfo {
    pub name: String,
    /// Its account SID (`AC…`): the user name of the Twilio-compatible door's credentials.
    pub account_sid: String,
    pub origins: Vec<String>,
    pub created_at: i64,
    pub keys: Vec<KeyInfo>,
    pub limits: LimitOverrides,
    pub gate: TenantGate,
    /// The language its people are spoken to in when nothing else says which (a tag of
    /// `model::LANGUAGES`); `None` for English.
    pub language: Option<String>,
}

impl TenantInfo {
    /// What a `TenantPatch` changes.
    pub fn settings(&self) -> TenantSettings {
        TenantSettings {
            origins: self.origins.clone(),
            limits: self.limits.clone(),
            gate: self.gate.clone(),
            language: self.language.clone(),
        }
    }
}

/// What a tenant may send: nothing while it is disabled (its keys are refused too), and only
/// on its enabled channels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantGate {
    /// When it was disabled; `None` while it is enabled.
    pub disabled_at: Option<i64>,
    /// `None`: every channel.
    pub enabled_channels: Option<Vec<Channel>>,
}

impl TenantGate {
    /// The gate as stored: channels by wire name, comma-separated.
    pub(super) fn from_columns(
        enabled_channels: Option<&str>,
        disabled_at: Option<i64>,
    ) -> StoreResult<TenantGate> {
        let enabled_channels = enabled_channels
            .map(|names| {
                names
                    .split(',')
                    .map(|name| {
                        Channel::parse(name)
                            .ok_or_else(|| StoreError::Corrupt(format!("tenant channel `{name}`")))
                    })
                    .collect::<StoreResult<Vec<_>>>()
            })
            .transpose()?;
        Ok(TenantGate {
            disabled_at,
            enabled_channels,
        })
    }

    /// The `enabled_channels` column.
    pub(super) fn channels_column(&self) -> Option<String> {
        self.enabled_channels.as_ref().map(|channels| {
            channels
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    pub fn disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    /// Whether `channel` is one the tenant sends on.
    pub fn allows(&self, channel: Channel) -> bool {
        self.enabled_channels
            .as_ref()
            .is_none_or(|enabled| enabled.contains(&channel))
    }
}

/// A change to some of a tenant's settings; what is `None` stays as it was.
#[derive(Clone, Debug, Default)]
pub struct TenantPatch {
    /// Replaces the origins allowed to embed its widget (validated by the caller).
    pub origins: Option<Vec<String>>,
    /// Its own limits, as a JSON merge patch (RFC 7396) over them: a value sets a limit, `null`
    /// gives it back to the server's.
    pub limits: Option<Map<String, Value>>,
    /// Drops all its own limits before `limits` applies.
    pub reset_limits: bool,
    /// `Some(None)`: every channel again.
    pub enabled_channels: Option<Option<Vec<Channel>>>,
    pub disabled: Option<bool>,
    /// `Some(None)`: English again. A tag of `model::LANGUAGES` (validated by the caller).
    pub language: Option<Option<String>>,
}

impl TenantPatch {
    pub fn is_empty(&self) -> bool {
        self.origins.is_none()
            && self.limits.is_none()
            && !self.reset_limits
            && self.enabled_channels.is_none()
            && self.disabled.is_none()
            && self.language.is_none()
    }
}

/// The settings of a tenant that a `TenantPatch` changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantSettings {
    /// Sorted, each once.
    pub origins: Vec<String>,
    pub limits: LimitOverrides,
    pub gate: TenantGate,
    pub language: Option<String>,
}

impl TenantSettings {
    /// These settings with `patch` applied at `now`; what is wrong with the patch otherwise
    /// (an unknown limit, a value of the wrong type), naming it.
    pub fn patched(&self, patch: &TenantPatch, now: i64) -> Result<TenantSettings, String> {
        let mut next = self.clone();
        if let Some(origins) = &patch.origins {
            next.origins = origins.clone();
            next.origins.sort();
            next.origins.dedup();
        }
        if patch.reset_limits {
            next.limits = LimitOverrides::default();
        }
        if let Some(changes) = &patch.limits {
            next.limits = patched_limits(&next.limits, changes)?;
        }
        if let Some(channels) = &patch.enabled_channels {
            next.gate.enabled_channels = channels.clone().map(|mut channels| {
                channels.sort();
                channels.dedup();
                channels
            });
        }
        if let Some(language) = &patch.language {
            next.language = language.clone();
        }
        match patch.disabled {
            Some(true) if next.gate.disabled_at.is_none() => next.gate.disabled_at = Some(now),
            Some(false) => next.gate.disabled_at = None,
            _ => {}
        }
        Ok(next)
    }

    /// What changed from `self` to `after`, as the audit log records it: the fields that
    /// differ, before and after.
    pub fn difference(&self, after: &TenantSettings) -> (Value, Value) {
        let (mut before_fields, mut after_fields) = (Map::new(), Map::new());
        let (old, new) = (self.fields(), after.fields());
        for (name, value) in new {
            if old.get(&name) != Some(&value) {
                before_fields.insert(name.clone(), old.get(&name).cloned().unwrap_or_default());
                after_fields.insert(name, value);
            }
        }
        (Value::Object(before_fields), Value::Object(after_fields))
    }

    /// The settings as the admin API and the audit log name them.
    fn fields(&self) -> Map<String, Value> {
        let Value::Object(fields) = json!({
            "origins": self.origins,
            "limits": self.limits,
            "enabled_channels": self.gate.enabled_channels,
            "disabled": self.gate.disabled(),
            "language": self.language,
        }) else {
            unreachable!("a JSON object literal")
        };
        fields
    }
}

/// A tenant's own limits with a JSON merge patch over them; names other than those of
/// `[otpgate.limits]` are refused, as are values of the wrong type.
fn patched_limits(
    current: &LimitOverrides,
    changes: &Map<String, Value>,
) -> Result<LimitOverrides, String> {
    let Ok(Value::Object(known)) = serde_json::to_value(LimitPolicy::default()) else {
        unreachable!("the limits serialise to an object")
    };
    if let Some(unknown) = changes.keys().find(|name| !known.contains_key(*name)) {
        return Err(format!("limits: `{unknown}` is not a limit"));
    }
    let mut merged = match serde_json::to_value(current) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    for (name, value) in changes {
        if value.is_null() {
            merged.remove(name);
        } else {
            merged.insert(name.clone(), value.clone());
        }
    }
    serde_json::from_value(Value::Object(merged)).map_err(|e| format!("limits: {e}"))
}

/// A tenant's limits as stored (JSON, absent when it has none of its own).
pub(super) fn parse_limits(stored: Option<String>) -> StoreResult<LimitOverrides> {
    match stored {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("tenant limits: {e}"))),
        None => Ok(LimitOverrides::default()),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: i64,
    pub prefix: String,
    pub is_test: bool,
    pub created_at: i64,
    /// To the minute: a key's use is written at most once a minute.
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// How a call names a key.
#[derive(Clone, Copy, Debug)]
pub enum KeyRef<'a> {
    /// By its public prefix, as the CLI shows it.
    Prefix(&'a str),
    /// By its ID, as the admin API shows it.
    Id(i64),
}

/// How often a key's use is written at most.
pub const KEY_USE_EVERY_SECS: i64 = 60;

/// Tenants and keys. Every write is one transaction with its audit entry (`by` is who asked):
/// two calls creating one name make one tenant (the other is `Conflict`), and a key is never
/// stored for a tenant that does not exist (`NotFound`). Keys are looked up by the SHA-256 of
/// the key; the store never sees a key.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Stores a tenant with its allowed origins (each once, however often given); `Conflict`
    /// when the name is taken.
    async fn create_tenant(
        &self,
        name: &str,
        origins: &[String],
        account_sid: &str,
        now: i64,
        by: &Caller,
    ) -> StoreResult<i64>;

    /// Every tenant by name, with its origins, keys (prefixes, never hashes) and own limits.
    async fn list_tenants(&self) -> StoreResult<Vec<TenantInfo>>;

    /// The origins a tenant allows to embed its widget, sorted.
    async fn tenant_origins(&self, tenant_id: i64) -> StoreResult<Vec<String>>;

    /// The language a tenant's people are spoken to in when nothing else says which.
    async fn tenant_language(&self, tenant_id: i64) -> StoreResult<Option<String>>;

    /// The tenant whose account SID this is, if any.
    async fn tenant_of_account(&self, account_sid: &str) -> StoreResult<Option<i64>>;

    /// Stores a new key of tenant `tenant_name` (`NotFound` when there is none); its ID. The
    /// caller made the key and keeps it.
    async fn create_key(
        &self,
        tenant_name: &str,
        key_hash: &[u8],
        prefix: &str,
        is_test: bool,
        now: i64,
        by: &Caller,
    ) -> StoreResult<i64>;

    /// Revokes the key; false if no unrevoked key is so named (so of two calls at once, one
    /// revokes and the other answers false).
    async fn revoke_key(&self, key: KeyRef<'_>, now: i64, by: &Caller) -> StoreResult<bool>;

    /// The name of the tenant a key belongs to, if there is such a key.
    async fn key_tenant(&self, id: i64) -> StoreResult<Option<String>>;

    /// Writes that the key was used at `now`, unless that was written less than
    /// `KEY_USE_EVERY_SECS` before.
    async fn touch_key(&self, id: i64, now: i64) -> StoreResult<()>;

    /// The tenant of an unrevoked key, by the key's hash.
    async fn authenticate(&self, key_hash: &[u8]) -> StoreResult<Option<AuthenticatedKey>>;

    /// Changes some of a tenant's settings (`TenantSettings::patched`) and returns them all.
    /// Read and written in one transaction with the tenant's row locked, so two changes at
    /// once apply one after the other and neither is lost; a change that changes nothing
    /// writes nothing. `NotFound` when there is no such tenant, `Constraint` for a patch
    /// `patched` refuses.
    async fn update_tenant(
        &self,
        name: &str,
        patch: &TenantPatch,
        now: i64,
        by: &Caller,
    ) -> StoreResult<TenantSettings>;

    /// A tenant acting as if through one of its keys (the demo page's development tenant).
    async fn tenant_as_key(
        &self,
        name: &str,
        is_test: bool,
    ) -> StoreResult<Option<AuthenticatedKey>>;

    /// The ID of the tenant with this name, if there is one.
    async fn tenant_id(&self, name: &str) -> StoreResult<Option<i64>>;
}

/// A tenant's limits as stored: JSON, or nothing when it has none of its own.
pub(super) fn stored_limits(limits: &LimitOverrides) -> StoreResult<Option<String>> {
    if limits.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(limits)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("tenant limits: {e}")))
}
