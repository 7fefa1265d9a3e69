//! `AdminService`: the one administrative path — tenants, their origins and keys, their own
//! limits, admin tokens, the audit log, the refusal report, the purge and the database's
//! health — with the validation of what it is given. Every change names its `Caller`, and the
//! store writes the audit entry in the change's transaction. The CLI is a thin adapter over it (as the REST handlers are over the
//! verification service), and so will be the admin API.

use std::sync::Arc;

use crate::engine::Channel;
use crate::engine::limits::{LimitOverrides, LimitPolicy};
use crate::server::clock::Clock;
use crate::server::crypto::{self, ServerKeys, Subjects};
use crate::server::delivery::Delivery;
use crate::server::delivery::texts::TextCache;
use crate::server::events::guard::UrlGuard;
use crate::server::store::{
    AdminPrincipal, AdminScope, AdminTokenInfo, AuditEntry, AuditQuery, Caller, DeliveryQuery,
    DestinationState, KeyRef, NewAdminToken, Owner, Store, StoreError, TenantPatch,
};

use super::key_cache::KeyCache;
use super::queue::{self, DeliveryLine};
use super::stats::{self, GroupBy, Stats};
use super::timeline::{self, Timeline};
use super::{PurgeCounts, RefusalSummary, ServiceError, ServiceResult, TenantInfo, validate};

/// A key just made: shown once (`key`), stored only as a hash; `prefix` names it afterwards.
#[derive(Clone)]
pub struct NewKey {
    pub id: i64,
    pub key: String,
    pub prefix: String,
    pub is_test: bool,
}

impl std::fmt::Debug for NewKey {
    /// Leaves out the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .field("is_test", &self.is_test)
            .finish_non_exhaustive()
    }
}

/// An admin token just made: shown once (`token`), stored only as a hash.
#[derive(Clone)]
pub struct CreatedAdminToken {
    pub token: String,
    pub info: AdminTokenInfo,
}

impl std::fmt::Debug for CreatedAdminToken {
    /// Leaves out the token itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedAdminToken")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// How long what the purge deletes is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Seconds after expiry before a session or request goes.
    pub grace_secs: i64,
    pub audit_days: u32,
    pub webhook_days: u32,
}

impl Retention {
    pub fn of(settings: &crate::server::config::Settings) -> Retention {
        Retention {
            grace_secs: settings.purge_grace_secs,
            audit_days: settings.audit_retention_days,
            webhook_days: settings.webhook_retention_days,
        }
    }
}

/// The longest window figures are computed for: 31 days.
pub const MAX_STATS_WINDOW_SECS: i64 = 31 * 86_400;

/// Longest life an admin token may be given: ten years.
pub const MAX_ADMIN_TOKEN_SECS: i64 = 10 * 365 * 24 * 3600;

/// The administration of one store. Cheap to clone.
#[derive(Clone)]
pub struct AdminService(Arc<AdminParts>);

pub(super) struct AdminParts {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    /// The server's limits, which each tenant's own go over.
    limits: LimitPolicy,
    /// The verification service's memory of authenticated keys (when there is one in this
    /// process): forgotten whenever a key or a tenant's limits change.
    keys_seen: Arc<KeyCache>,
    /// The keyed hashes destinations are kept under (from the server secret), when this
    /// process has it: the CLI reads the secret only for what needs it.
    subjects: Option<Subjects>,
    /// The keys derived from the server secret (webhook secrets are sealed under them), when
    /// this process has it.
    pub(super) keys: Option<Arc<ServerKeys>>,
    /// What webhook endpoint URLs may be.
    pub(super) webhook_guard: UrlGuard,
    /// Wakes this process's webhook worker (a test event, a replay).
    pub(super) webhook_wake: Arc<tokio::sync::Notify>,
    /// This process's compiled templates, forgotten when one is saved or deleted.
    pub(super) texts: Arc<TextCache>,
    /// The providers test messages go through, when this process has them.
    pub(super) delivery: Option<Delivery>,
}

/// A destination as the admin API looks it up: masked, with its hash's prefix and its failure
/// streak in each tenant that has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationReport {
    pub shown: String,
    pub subject: String,
    pub tenants: Vec<DestinationState>,
}

/// What the administration shares with the verification service of its process (for the CLI,
/// its own): the caches a change must empty, and the webhook worker it wakes.
pub(super) struct Sharing {
    pub(super) keys_seen: Arc<KeyCache>,
    pub(super) webhook_wake: Arc<tokio::sync::Notify>,
    pub(super) texts: Arc<TextCache>,
}

impl AdminService {
    pub(super) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        limits: LimitPolicy,
        keys: Option<Arc<ServerKeys>>,
        webhook_guard: UrlGuard,
        delivery: Option<Delivery>,
        sharing: Sharing,
    ) -> AdminService {
        AdminService(Arc::new(AdminParts {
            store,
            clock,
            limits,
            keys_seen: sharing.keys_seen,
            subjects: keys.as_ref().map(|keys| keys.subjects()),
            keys,
            webhook_guard,
            webhook_wake: sharing.webhook_wake,
            texts: sharing.texts,
            delivery,
        }))
    }

    /// The administration of a store no verification service in this process uses (the CLI),
    /// with the server's keys when the command needs them (webhook secrets are sealed), and
    /// its providers when it sends test messages.
    pub fn over(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        limits: LimitPolicy,
        keys: Option<ServerKeys>,
        webhook_guard: UrlGuard,
        delivery: Option<Delivery>,
    ) -> AdminService {
        let sharing = Sharing {
            keys_seen: Arc::default(),
            webhook_wake: Arc::default(),
            texts: Arc::new(TextCache::new(store.clone())),
        };
        AdminService::new(
            store,
            clock,
            limits,
            keys.map(Arc::new),
            webhook_guard,
            delivery,
            sharing,
        )
    }

    pub(super) fn parts(&self) -> &AdminParts {
        &self.0
    }

    /// A destination as typed (an address, or an E.164 number): validated, masked, and the
    /// keyed hash its streaks are kept under.
    fn destination(&self, destination: &str) -> ServiceResult<(String, Vec<u8>)> {
        let subjects = self.0.subjects.as_ref().ok_or_else(|| {
            ServiceError::InvalidRequest(
                "destinations are looked up by a server that has its secret".into(),
            )
        })?;
        let (channel, valid) = if destination.starts_with('+') {
            (Channel::Sms, validate::phone_e164(destination))
        } else {
            (Channel::Email, validate::email(destination))
        };
        let valid = valid.map_err(|reason| {
            ServiceError::InvalidRequest(format!(
                "destination: an email address or an E.164 number ({reason})"
            ))
        })?;
        // Shown as it is compared: an address without case.
        let shown = crate::server::mask::mask_recipient(channel, &valid.to_lowercase());
        Ok((shown, super::destination_subject(subjects, channel, &valid)))
    }

    /// A destination's failure streaks, in `tenant` or in every tenant.
    pub async fn look_up_destination(
        &self,
        destination: &str,
        tenant: Option<&str>,
    ) -> ServiceResult<DestinationReport> {
        let (shown, subject) = self.destination(destination)?;
        let tenants = self.0.store.destination_states(&subject, tenant).await?;
        Ok(DestinationReport {
            shown,
            subject: hex::encode(&subject[..6]),
            tenants,
        })
    }

    /// Ends a destination's failure streaks (and locks), in `tenant` or in every tenant: the
    /// destination masked, and the tenants where it had one, each with a `destination.unlocked`
    /// audit entry.
    pub async fn unlock_destination(
        &self,
        destination: &str,
        tenant: Option<&str>,
        by: &Caller,
    ) -> ServiceResult<(String, Vec<String>)> {
        let (shown, subject) = self.destination(destination)?;
        let now = self.0.clock.now();
        let unlocked = self
            .0
            .store
            .unlock_destination(&subject, &shown, tenant, now, by)
            .await?;
        Ok((shown, unlocked))
    }

    /// Creates a tenant with the origins allowed to embed its widget; its name as stored.
    pub async fn create_tenant(
        &self,
        name: &str,
        origins: &[String],
        by: &Caller,
    ) -> ServiceResult<String> {
        let name = validate::tenant_name(name)
            .map_err(|reason| ServiceError::InvalidRequest(reason.to_owned()))?;
        let origins = origins
            .iter()
            .map(|o| validate::origin(o).map_err(ServiceError::InvalidRequest))
            .collect::<ServiceResult<Vec<_>>>()?;
        let account_sid = crate::server::crypto::new_sid(&mut rand::rng(), "AC");
        let store = &self.0.store;
        store
            .create_tenant(&name, &origins, &account_sid, self.0.clock.now(), by)
            .await?;
        Ok(name)
    }

    /// Every tenant with its origins, keys and own limits, by name.
    pub async fn list_tenants(&self) -> ServiceResult<Vec<TenantInfo>> {
        Ok(self.0.store.list_tenants().await?)
    }

    /// One tenant, by name.
    pub async fn tenant(&self, name: &str) -> ServiceResult<TenantInfo> {
        self.list_tenants()
            .await?
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| StoreError::NotFound(format!("no tenant named `{name}`")).into())
    }

    /// A progressive session by its public name (`ses_…`), with its timeline; within `tenant`
    /// when it names one (another tenant's session is not found).
    pub async fn session_timeline(
        &self,
        session_id: &str,
        tenant: Option<&str>,
    ) -> ServiceResult<Timeline> {
        let missing = || StoreError::NotFound("no such session".into());
        if !crypto::looks_like_session_id(session_id) {
            return Err(missing().into());
        }
        let store = &self.0.store;
        let stored = store
            .session_by_public_id(session_id, tenant)
            .await?
            .ok_or_else(missing)?;
        let history = store.history(Owner::Session(stored.id)).await?;
        Ok(timeline::of_session(&stored, &history, self.now()))
    }

    /// A single-SMS request by its ID (any spelling of its UUID), with its timeline; within
    /// `tenant` when it names one.
    pub async fn request_timeline(
        &self,
        request_id: &str,
        tenant: Option<&str>,
    ) -> ServiceResult<Timeline> {
        let missing = || StoreError::NotFound("no such single-SMS request".into());
        let canonical = uuid::Uuid::parse_str(request_id)
            .map_err(|_| missing())?
            .to_string();
        let store = &self.0.store;
        let stored = store
            .request_by_id(&canonical, tenant)
            .await?
            .ok_or_else(missing)?;
        let history = store.history(Owner::Request(stored.id)).await?;
        Ok(timeline::of_request(
            &stored,
            &canonical,
            &history,
            self.now(),
        ))
    }

    /// The figures of `[since, until)` (by default the last day), in total and per group, from
    /// the verifications still kept (they are purged a grace period after they expire).
    pub async fn stats(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        tenant: Option<&str>,
        group_by: Option<GroupBy>,
    ) -> ServiceResult<(i64, i64, Stats)> {
        let now = self.now();
        let until = until.unwrap_or(now);
        let since = since.unwrap_or(until - 86_400);
        if since >= until {
            return Err(ServiceError::InvalidRequest(
                "since: must be before until".into(),
            ));
        }
        if until - since > MAX_STATS_WINDOW_SECS {
            return Err(ServiceError::InvalidRequest(
                "since: a window of at most 31 days".into(),
            ));
        }
        let store = &self.0.store;
        let channels = store.channel_outcomes(since, until, tenant).await?;
        let messages = store.message_outcomes(since, until, tenant).await?;
        Ok((
            since,
            until,
            stats::compute(&channels, &messages, group_by, now),
        ))
    }

    /// Messages of the delivery queue, newest first, as `query` selects them.
    pub async fn deliveries(&self, query: &DeliveryQuery<'_>) -> ServiceResult<Vec<DeliveryLine>> {
        if !(1..=1000).contains(&query.limit) {
            return Err(ServiceError::InvalidRequest(
                "limit: from 1 to 1000 messages".into(),
            ));
        }
        let messages = self.0.store.queued_messages(query).await?;
        Ok(messages.into_iter().map(DeliveryLine::from).collect())
    }

    /// Cancels a message still waiting for its provider, recorded as `delivery.canceled`. A
    /// message being handed over, or already sent, failed or cancelled, is a conflict.
    pub async fn cancel_delivery(
        &self,
        id: i64,
        tenant: Option<&str>,
        by: &Caller,
    ) -> ServiceResult<DeliveryLine> {
        let query = DeliveryQuery {
            tenant,
            id: Some(id),
            limit: 1,
            ..DeliveryQuery::default()
        };
        let store = &self.0.store;
        let message = store
            .queued_messages(&query)
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound("no such message".into()))?;
        let shown = crate::server::mask::mask_recipient(message.channel, &message.recipient);
        if !store
            .cancel_message(&message, &shown, by, self.now())
            .await?
        {
            let now = store
                .queued_messages(&query)
                .await?
                .pop()
                .unwrap_or(message);
            return Err(StoreError::Conflict(format!(
                "only a queued message is canceled; this one is {}",
                queue::status_name(&now.status)
            ))
            .into());
        }
        let canceled = store.queued_messages(&query).await?.pop();
        canceled
            .map(DeliveryLine::from)
            .ok_or_else(|| StoreError::NotFound("no such message".into()).into())
    }

    /// The name of the tenant a key belongs to, if there is such a key.
    pub async fn key_tenant(&self, id: i64) -> ServiceResult<Option<String>> {
        Ok(self.0.store.key_tenant(id).await?)
    }

    /// Makes a key for the tenant (a test key's messages always go to the test outbox).
    pub async fn create_key(
        &self,
        tenant: &str,
        is_test: bool,
        by: &Caller,
    ) -> ServiceResult<NewKey> {
        let (key, prefix) = crypto::new_api_key(&mut rand::rng(), is_test);
        let hash = crypto::sha256(key.as_bytes());
        let now = self.0.clock.now();
        let id = self
            .0
            .store
            .create_key(tenant, &hash, &prefix, is_test, now, by)
            .await?;
        Ok(NewKey {
            id,
            key,
            prefix,
            is_test,
        })
    }

    /// Revokes a key (false when no unrevoked key is so named); refused from this process's
    /// next call, other processes' within a second.
    pub async fn revoke_key(&self, key: KeyRef<'_>, by: &Caller) -> ServiceResult<bool> {
        let revoked = self.0.store.revoke_key(key, self.0.clock.now(), by).await?;
        self.0.keys_seen.clear();
        Ok(revoked)
    }

    /// Sets some of a tenant's own limits (the others stay as they were, or, with `reset`, go
    /// back to the server's) and returns them all (see `update_tenant`).
    pub async fn set_tenant_limits(
        &self,
        name: &str,
        changes: &LimitOverrides,
        reset: bool,
        by: &Caller,
    ) -> ServiceResult<LimitOverrides> {
        if changes.is_empty() && !reset {
            return Err(ServiceError::InvalidRequest(
                "nothing to set: give at least one limit".into(),
            ));
        }
        let limits = match serde_json::to_value(changes) {
            Ok(serde_json::Value::Object(fields)) => fields,
            _ => unreachable!("limits serialise to an object"),
        };
        let patch = TenantPatch {
            limits: Some(limits),
            reset_limits: reset,
            ..TenantPatch::default()
        };
        Ok(self.update_tenant(name, &patch, by).await?.limits)
    }

    /// Changes some of a tenant's settings — its origins, its own limits (checked as they will
    /// be used, over the server's), its enabled channels, whether it is disabled — and returns
    /// the tenant as it is now. One audit entry records what changed (none when nothing did).
    /// The change applies to this process's next call, other processes' within a second.
    pub async fn update_tenant(
        &self,
        name: &str,
        patch: &TenantPatch,
        by: &Caller,
    ) -> ServiceResult<TenantInfo> {
        if patch.is_empty() {
            return Err(ServiceError::InvalidRequest(
                "nothing to change: give at least one setting".into(),
            ));
        }
        let mut patch = patch.clone();
        if let Some(origins) = &patch.origins {
            patch.origins = Some(
                origins
                    .iter()
                    .map(|o| validate::origin(o).map_err(ServiceError::InvalidRequest))
                    .collect::<ServiceResult<Vec<_>>>()?,
            );
        }
        if patch
            .enabled_channels
            .as_ref()
            .is_some_and(|c| c.as_ref().is_some_and(Vec::is_empty))
        {
            return Err(ServiceError::InvalidRequest(
                "enabled_channels: give at least one channel (null for every channel), or \
                 disable the app"
                    .into(),
            ));
        }
        if let Some(Some(language)) = &patch.language {
            let known = crate::model::language_of(language).ok_or_else(|| {
                ServiceError::InvalidRequest(format!(
                    "language: one of {} (null for English)",
                    crate::model::LANGUAGES.join(", ")
                ))
            })?;
            patch.language = Some(Some(known.to_owned()));
        }
        let now = self.0.clock.now();
        let current = self.tenant(name).await?;
        // Each limit is checked on its own, so checking over what is stored now holds for
        // what the store's locked read will find.
        let next = current
            .settings()
            .patched(&patch, now)
            .map_err(ServiceError::InvalidRequest)?;
        next.limits
            .over(&self.0.limits)
            .check()
            .map_err(|problem| ServiceError::InvalidRequest(problem.to_string()))?;
        self.0.store.update_tenant(name, &patch, now, by).await?;
        self.0.keys_seen.clear();
        self.0.texts.forget();
        self.tenant(name).await
    }

    /// The time by this service's clock.
    pub fn now(&self) -> i64 {
        self.0.clock.now()
    }

    /// The server's limits, before any tenant's own.
    pub fn server_limits(&self) -> &LimitPolicy {
        &self.0.limits
    }

    /// The limits in force for a tenant: the server's with its own over them.
    pub async fn tenant_limits(&self, name: &str) -> ServiceResult<LimitPolicy> {
        Ok(self.tenant(name).await?.limits.over(&self.0.limits))
    }

    /// The refusals of the last `hours`, by tenant, rule and channel, most frequent first.
    pub async fn refusal_report(&self, hours: u32) -> ServiceResult<Vec<RefusalSummary>> {
        if !(1..=720).contains(&hours) {
            return Err(ServiceError::InvalidRequest("hours: from 1 to 720".into()));
        }
        let since = self.0.clock.now() - i64::from(hours) * 3600;
        Ok(self.0.store.refusal_report(since).await?)
    }

    /// Deletes what expired more than `retention.grace_secs` ago, and audit entries and webhook
    /// deliveries older than theirs (see `Maintenance::purge`).
    pub async fn purge(&self, retention: Retention) -> ServiceResult<PurgeCounts> {
        let now = self.0.clock.now();
        let days_ago = |days: u32| now - i64::from(days) * 86_400;
        Ok(self
            .0
            .store
            .purge(
                now,
                retention.grace_secs,
                days_ago(retention.audit_days),
                days_ago(retention.webhook_days),
            )
            .await?)
    }

    /// Audit entries, newest first (`query.limit` at most 1,000).
    pub async fn audit(&self, query: &AuditQuery<'_>) -> ServiceResult<Vec<AuditEntry>> {
        if !(1..=1000).contains(&query.limit) {
            return Err(ServiceError::InvalidRequest(
                "limit: from 1 to 1000 entries".into(),
            ));
        }
        Ok(self.0.store.audit_entries(query).await?)
    }

    /// Makes an admin token with `scope`, limited to `tenant` when given, valid for
    /// `expires_in` seconds (forever when `None`).
    pub async fn create_admin_token(
        &self,
        scope: AdminScope,
        tenant: Option<&str>,
        expires_in: Option<i64>,
        by: &Caller,
    ) -> ServiceResult<CreatedAdminToken> {
        if let Some(secs) = expires_in
            && !(1..=MAX_ADMIN_TOKEN_SECS).contains(&secs)
        {
            return Err(ServiceError::InvalidRequest(
                "expires: from one second to ten years".into(),
            ));
        }
        let (token, prefix) = crypto::new_admin_token(&mut rand::rng());
        let now = self.0.clock.now();
        let expires_at = expires_in.map(|secs| now + secs);
        let new = NewAdminToken {
            token_hash: &crypto::sha256(token.as_bytes()),
            prefix: &prefix,
            scope,
            tenant,
            created_at: now,
            expires_at,
        };
        let id = self.0.store.create_admin_token(&new, by).await?;
        Ok(CreatedAdminToken {
            info: AdminTokenInfo {
                id,
                prefix,
                scope,
                tenant: tenant.map(str::to_owned),
                created_at: now,
                expires_at,
                revoked_at: None,
            },
            token,
        })
    }

    /// Every admin token, newest first (prefixes, never the tokens).
    pub async fn list_admin_tokens(&self) -> ServiceResult<Vec<AdminTokenInfo>> {
        Ok(self.0.store.list_admin_tokens().await?)
    }

    /// Revokes an admin token (false when no unrevoked token has this ID).
    pub async fn revoke_admin_token(&self, id: i64, by: &Caller) -> ServiceResult<bool> {
        Ok(self
            .0
            .store
            .revoke_admin_token(id, self.0.clock.now(), by)
            .await?)
    }

    /// Who an admin token speaks for, or `None` for a malformed, unknown, expired or revoked
    /// one (the four are not told apart).
    pub async fn authenticate_admin(&self, token: &str) -> ServiceResult<Option<AdminPrincipal>> {
        if !crypto::looks_like_admin_token(token) {
            return Ok(None);
        }
        let hash = crypto::sha256(token.as_bytes());
        Ok(self
            .0
            .store
            .authenticate_admin(&hash, self.0.clock.now())
            .await?)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> ServiceResult<()> {
        Ok(self.0.store.ping().await?)
    }
}
