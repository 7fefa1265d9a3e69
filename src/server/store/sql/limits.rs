//! The counters behind the limits, for both stores: events in time windows (sends per
//! destination, prefix and client IP; widget submissions per IP), tenants' budgets per minute,
//! destinations' runs of failed verifications, prefixes cooling down, and every refusal. A send
//! reads them without locks, and its write re-checks them (`send_checks`, after the store has
//! locked what they count where it must: `Backend::lock_subjects`) before recording its own; a
//! widget submission counts its IP's minute inside its transaction. The decisions are the
//! engine's.

use async_trait::async_trait;

use super::deliveries::{OwnerRef, bind_owner, owner_column, owner_values};
use super::{Backend, Connection, Plan, Query, Subject};
use crate::engine::Channel;
use crate::engine::limits::{
    DAY, HOUR, LimitPolicy, MINUTE, MessageCounts, SendBounds, SendCounts, Streak, TEN_MINUTES,
    prefix_starts_cooling, submission_allowed,
};
use crate::server::store::deliveries::Owner;
use crate::server::store::limits::*;
use crate::server::store::{Caller, StoreResult};

/// The subjects a send counts: each message's destination, prefix and budget, the client IP.
pub(super) fn send_subjects(
    messages: &[MessageSubjects],
    client_ip: Option<&[u8]>,
) -> Vec<Subject> {
    let mut subjects = Vec::with_capacity(messages.len() * 3 + 1);
    for message in messages {
        subjects.push(("destination", message.destination.clone()));
        if let Some(prefix) = &message.prefix {
            subjects.push(("prefix", prefix.clone()));
        }
        subjects.push(("budget", message.budget.as_bytes().to_vec()));
    }
    if let Some(ip) = client_ip {
        subjects.push(("client_ip", ip.to_vec()));
    }
    subjects
}

fn saturated(count: i64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// Events of a scope about a subject in a window, up to a count (`count_events`); `$1` … `$5`.
/// A macro so that the check wrapping it (`IP_CHECK`) is a text fixed at compile time.
macro_rules! event_count_sql {
    () => {
        "SELECT count(*) FROM (SELECT 1 FROM limit_events
         WHERE tenant_id = $1 AND scope = $2 AND subject = $3 AND at > $4 LIMIT $5) AS window_events"
    };
}
const EVENT_COUNT: &str = event_count_sql!();

/// The client IP's sends still within the most a send was allowed on (`$6`).
const IP_CHECK: &str = concat!("SELECT 1 WHERE (", event_count_sql!(), ") <= $6");

/// Events of `scope` about `subject` after `since`, counted up to `up_to` only: a decision needs
/// to know whether the limit is reached, not by how much, so the work stays bounded.
async fn count_events(
    conn: &mut impl Connection,
    tenant_id: i64,
    scope: &str,
    subject: &[u8],
    since: i64,
    up_to: u32,
) -> StoreResult<u32> {
    let (count,): (i64,) = conn
        .fetch_one(
            Query::new(EVENT_COUNT)
                .bind(tenant_id)
                .bind(scope)
                .bind(subject)
                .bind(since)
                .bind(i64::from(up_to)),
        )
        .await?;
    Ok(saturated(count))
}

#[derive(sqlx::FromRow)]
struct MessageCountRow {
    last_10min: i64,
    last_day: i64,
    locked_until: Option<i64>,
    cooling_until: Option<i64>,
    prefix_unverified: i64,
    budget: i64,
}

/// Everything one message's rules look at, as one row (see `count_message`); `$1` … `$11`.
/// A macro so that the check wrapping it (`MESSAGE_CHECK`) is a text fixed at compile time.
macro_rules! message_counts_sql {
    () => {
        "SELECT
                   (SELECT count(*) FROM (SELECT 1 FROM limit_events WHERE tenant_id = $1
                      AND scope = 'destination' AND subject = $2 AND at > $3 LIMIT $4) AS a)
                      AS last_10min,
                   (SELECT count(*) FROM (SELECT 1 FROM limit_events WHERE tenant_id = $1
                      AND scope = 'destination' AND subject = $2 AND at > $5 LIMIT $6) AS b)
                      AS last_day,
                   (SELECT locked_until FROM destination_streaks
                      WHERE tenant_id = $1 AND subject = $2) AS locked_until,
                   (SELECT until FROM prefix_cooldowns
                      WHERE tenant_id = $1 AND subject = $7) AS cooling_until,
                   (SELECT count(*) FROM (SELECT 1 FROM limit_events WHERE tenant_id = $1
                      AND scope = 'prefix' AND subject = $7 AND at > $8 AND verified = 0
                      LIMIT $9) AS c) AS prefix_unverified,
                   (SELECT CAST(coalesce(sum(sends), 0) AS BIGINT) FROM limit_buckets
                      WHERE tenant_id = $1 AND budget = $10 AND minute > $11) AS budget"
    };
}
const MESSAGE_COUNTS: &str = message_counts_sql!();

/// One message's counts still within the bounds its send was allowed in: `$12` … `$14` the
/// most sends to the destination in 10 minutes and a day and on the budget, `$15` the time no
/// lock or cool-down may outlast, `$16` and `$17` the unverified sends to the prefix.
const MESSAGE_CHECK: &str = concat!(
    "SELECT 1 FROM (",
    message_counts_sql!(),
    ") AS counted
     WHERE last_10min <= $12 AND last_day <= $13 AND budget <= $14
       AND (locked_until IS NULL OR locked_until <= $15)
       AND (cooling_until IS NULL OR cooling_until <= $15)
       AND prefix_unverified BETWEEN $16 AND $17"
);

/// Binds `MESSAGE_COUNTS`' eleven placeholders, in order, to `query` (the statement or one
/// that wraps it).
fn message_counts(
    query: Query,
    tenant_id: i64,
    policy: &LimitPolicy,
    message: &MessageSubjects,
    now: i64,
) -> Query {
    query
        .bind(tenant_id)
        .bind(&message.destination)
        .bind(now - TEN_MINUTES)
        .bind(i64::from(policy.destination_per_10min))
        .bind(now - DAY)
        .bind(i64::from(policy.destination_per_day))
        .bind(message.prefix.as_deref())
        .bind(now - HOUR)
        .bind(i64::from(policy.prefix_unverified_per_hour))
        .bind(&message.budget)
        .bind(minute(now - HOUR))
}

/// Everything one message's rules look at, in one statement (a send's transaction holds locks,
/// so each round trip saved is time every other writer waits less): the destination's sends in
/// 10 minutes and a day and its lock, the prefix's cool-down and unverified sends in the hour,
/// the budget's sends in the hour (in whole minutes: the minutes after the one an hour ago,
/// this one included). Event counts stop at their limit.
async fn count_message(
    conn: &mut impl Connection,
    tenant_id: i64,
    policy: &LimitPolicy,
    message: &MessageSubjects,
    now: i64,
) -> StoreResult<MessageCounts> {
    let row: MessageCountRow = conn
        .fetch_one(message_counts(
            Query::new(MESSAGE_COUNTS),
            tenant_id,
            policy,
            message,
            now,
        ))
        .await?;
    Ok(MessageCounts {
        channel: message.channel,
        country: message.country,
        destination_last_10min: saturated(row.last_10min),
        destination_last_day: saturated(row.last_day),
        destination_locked_until: row.locked_until,
        prefix_unverified_last_hour: saturated(row.prefix_unverified),
        prefix_cooling_until: row.cooling_until,
        tenant_channel_last_hour: saturated(row.budget),
    })
}

/// Counts everything a send's rules look at, each message alone, as the database stands (the
/// same queries whatever the outcome). Read without locks: what is decided on them is written
/// with `send_checks`, which hold only while the counts stay where the decision needs them.
pub(super) async fn count_send(
    conn: &mut impl Connection,
    tenant_id: i64,
    policy: &LimitPolicy,
    messages: &[MessageSubjects],
    client_ip: Option<&[u8]>,
    now: i64,
) -> StoreResult<SendCounts> {
    let mut counts = SendCounts::default();
    for message in messages {
        let counted = count_message(conn, tenant_id, policy, message, now).await?;
        counts.messages.push(counted);
    }
    if let Some(ip) = client_ip {
        let since = now - TEN_MINUTES;
        let up_to = policy.ip_sends_per_10min;
        let used = count_events(conn, tenant_id, "client_ip", ip, since, up_to).await?;
        counts.ip_last_10min = Some(used);
    }
    Ok(counts)
}

/// The counts a send is decided on: `seen` with each message's earlier ones in the same send
/// added, so that a send with SMS and WhatsApp to one number is two sends to it.
pub(super) fn as_one_send(seen: &SendCounts, messages: &[MessageSubjects]) -> SendCounts {
    let mut counts = seen.clone();
    for (index, (counted, message)) in counts.messages.iter_mut().zip(messages).enumerate() {
        *counted = with_earlier_messages(counted.clone(), message, &messages[..index]);
    }
    counts
}

/// Appends the checks that hold a send allowed on counts read without locks (issue 19's send
/// path): when the writer runs them, each message's counts are still inside the bounds the
/// engine gave (`send_bounds`), its destination is not locked and its prefix not cooling at
/// `now`, and the client IP's sends are inside theirs. `seen` are the counts as read, `decided`
/// the same with the send's earlier messages added (what the engine decided on): the checks
/// read the database alone, so each bound is lowered by that difference.
#[allow(clippy::too_many_arguments)]
pub(super) fn send_checks(
    plan: &mut Plan,
    tenant_id: i64,
    policy: &LimitPolicy,
    messages: &[MessageSubjects],
    seen: &SendCounts,
    decided: &SendCounts,
    bounds: &SendBounds,
    client_ip: Option<&[u8]>,
    now: i64,
) {
    plan.lock(tenant_id, send_subjects(messages, client_ip), now);
    let rows = messages
        .iter()
        .zip(&seen.messages)
        .zip(&decided.messages)
        .zip(&bounds.messages);
    for (((message, seen), decided), bound) in rows {
        let lowered = |bound: u32, decided: u32, seen: u32| {
            i64::from(bound) - i64::from(decided.saturating_sub(seen))
        };
        let (lowest, highest) = match bound.prefix_unverified_last_hour {
            Some((low, high)) => {
                let added = decided.prefix_unverified_last_hour - seen.prefix_unverified_last_hour;
                (
                    i64::from(low) - i64::from(added),
                    i64::from(high) - i64::from(added),
                )
            }
            None => (0, i64::MAX),
        };
        plan.check(
            message_counts(Query::new(MESSAGE_CHECK), tenant_id, policy, message, now)
                .bind(lowered(
                    bound.destination_last_10min,
                    decided.destination_last_10min,
                    seen.destination_last_10min,
                ))
                .bind(lowered(
                    bound.destination_last_day,
                    decided.destination_last_day,
                    seen.destination_last_day,
                ))
                .bind(lowered(
                    bound.tenant_channel_last_hour,
                    decided.tenant_channel_last_hour,
                    seen.tenant_channel_last_hour,
                ))
                .bind(now)
                .bind(lowest)
                .bind(highest),
        );
    }
    if let (Some(ip), Some(most)) = (client_ip, bounds.ip_last_10min) {
        plan.check(
            Query::new(IP_CHECK)
                .bind(tenant_id)
                .bind("client_ip")
                .bind(ip)
                .bind(now - TEN_MINUTES)
                .bind(i64::from(policy.ip_sends_per_10min))
                .bind(i64::from(most)),
        );
    }
}

/// An event without an owner (a client IP's send, a widget submission).
fn insert_event(tenant_id: i64, scope: &str, subject: &[u8], at: i64) -> Query {
    Query::new("INSERT INTO limit_events (tenant_id, scope, subject, at) VALUES ($1, $2, $3, $4)")
        .bind(tenant_id)
        .bind(scope)
        .bind(subject)
        .bind(at)
}

/// Appends the counting of an accepted send: an event per message for its destination and
/// prefix, a send on its budget, one event for the client IP; a prefix that reaches its
/// threshold starts cooling.
pub(super) fn record_send(
    plan: &mut Plan,
    tenant_id: i64,
    owner: OwnerRef<'_>,
    messages: &[MessageSubjects],
    send: &SendPolicy,
    counts: &SendCounts,
    now: i64,
) {
    for (message, counted) in messages.iter().zip(&counts.messages) {
        // One statement for the destination's event and, for a number, its prefix's (which
        // names what it counted, so a verification can mark it).
        let events = Query::new(concat!(
            "INSERT INTO limit_events (tenant_id, scope, subject, at, session_id, request_id,
                 channel)
             SELECT $1, 'destination', $6, $7, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
                 CAST(NULL AS TEXT)
             UNION ALL SELECT $1, 'prefix', $8, $7, ",
            owner_values!(),
            ", $9 WHERE $8 IS NOT NULL"
        ))
        .bind(tenant_id);
        plan.push(
            bind_owner(events, owner)
                .bind(&message.destination)
                .bind(now)
                .bind(message.prefix.as_deref())
                .bind(message.channel.as_str()),
        );
        plan.push(
            Query::new(
                "INSERT INTO limit_buckets (tenant_id, budget, minute, sends) VALUES ($1, $2, $3, 1)
                 ON CONFLICT (tenant_id, budget, minute)
                 DO UPDATE SET sends = limit_buckets.sends + 1",
            )
            .bind(tenant_id)
            .bind(&message.budget)
            .bind(minute(now)),
        );
        if let Some(prefix) = &message.prefix
            && prefix_starts_cooling(&send.policy, counted.prefix_unverified_last_hour)
        {
            plan.push(
                Query::new(
                    "INSERT INTO prefix_cooldowns (tenant_id, subject, until) VALUES ($1, $2, $3)
                     ON CONFLICT (tenant_id, subject) DO UPDATE SET until = excluded.until",
                )
                .bind(tenant_id)
                .bind(prefix)
                .bind(now + send.policy.prefix_cooldown_secs),
            );
        }
    }
    if let Some(ip) = &send.client_ip {
        plan.push(insert_event(tenant_id, "client_ip", ip, now));
    }
}

/// A verified channel (or request): its sends stop counting as unverified for their prefix.
pub(super) fn mark_verified(owner: Owner, channel: Channel) -> Query {
    let (column, id) = owner_column(owner);
    Query::text(format!(
        "UPDATE limit_events SET verified = 1
         WHERE {column} = $1 AND channel = $2 AND scope = 'prefix' AND verified = 0"
    ))
    .bind(id)
    .bind(channel.as_str())
}

/// The record of a refusal: which rule, for which tenant and subject, when.
pub(super) fn refusal_record(tenant_id: i64, record: &RefusalRecord, now: i64) -> Query {
    Query::new(
        "INSERT INTO limit_refusals (at, tenant_id, rule, subject, channel)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now)
    .bind(tenant_id)
    .bind(record.refusal.rule())
    .bind(record.subject.as_deref())
    .bind(record.channel.map(Channel::as_str))
}

/// Counts one code submitted through a widget door from `ip`, unless the IP already used its
/// minute (then `false`, and nothing is counted).
pub(super) async fn take_submission<B: Backend>(
    conn: &mut B::Conn,
    tenant_id: i64,
    ip: &[u8],
    policy: &LimitPolicy,
    now: i64,
) -> StoreResult<bool> {
    B::lock_subjects(conn, tenant_id, vec![("widget_ip", ip.to_vec())], now).await?;
    let up_to = policy.ip_submissions_per_minute;
    let used = count_events(conn, tenant_id, "widget_ip", ip, now - MINUTE, up_to).await?;
    if !submission_allowed(policy, used) {
        return Ok(false);
    }
    conn.execute(insert_event(tenant_id, "widget_ip", ip, now))
        .await?;
    Ok(true)
}

/// Appends the move of a destination's run of failed verifications from `old` (as it was
/// loaded) to `new`, guarded: it holds only if the run still stands at `old`, so two decisions
/// made on one copy cannot both count. A destination with no row stands at the empty streak.
pub(super) fn move_streak(
    plan: &mut Plan,
    tenant_id: i64,
    subject: &[u8],
    old: Streak,
    new: Streak,
) {
    if old == Streak::default() {
        plan.guard(
            Query::new(
                "INSERT INTO destination_streaks (tenant_id, subject, failures, locked_until)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, subject) DO UPDATE SET failures = excluded.failures,
                     locked_until = excluded.locked_until
                 WHERE destination_streaks.failures = 0
                   AND destination_streaks.locked_until IS NULL",
            )
            .bind(tenant_id)
            .bind(subject)
            .bind(i64::from(new.failures))
            .bind(new.locked_until),
        );
    } else {
        plan.guard(
            Query::new(
                "UPDATE destination_streaks SET failures = $1, locked_until = $2
                 WHERE tenant_id = $3 AND subject = $4 AND failures = $5
                   AND locked_until IS NOT DISTINCT FROM $6",
            )
            .bind(i64::from(new.failures))
            .bind(new.locked_until)
            .bind(tenant_id)
            .bind(subject)
            .bind(i64::from(old.failures))
            .bind(old.locked_until),
        );
    }
}

/// Forgets what no window looks at any more: events older than a day, budget minutes older than
/// an hour, refusals older than 30 days, finished cool-downs and locks; how many counters and
/// records went.
pub(super) async fn purge<B: Backend>(conn: &mut B::Conn, now: i64) -> StoreResult<u64> {
    let mut removed = 0;
    for (sql, before) in [
        ("DELETE FROM limit_events WHERE at <= $1", now - DAY),
        ("DELETE FROM limit_refusals WHERE at <= $1", now - 30 * DAY),
        (
            "DELETE FROM limit_buckets WHERE minute <= $1",
            minute(now - HOUR),
        ),
    ] {
        removed += conn.execute(Query::new(sql).bind(before)).await?;
    }
    for sql in [
        "DELETE FROM prefix_cooldowns WHERE until <= $1",
        "DELETE FROM destination_streaks
         WHERE failures = 0 AND (locked_until IS NULL OR locked_until <= $1)",
    ] {
        conn.execute(Query::new(sql).bind(now)).await?;
    }
    B::forget_idle_locks(conn, now).await?;
    Ok(removed)
}

#[derive(sqlx::FromRow)]
struct RefusalGroup {
    tenant: Option<String>,
    rule: String,
    channel: Option<String>,
    refusals: i64,
    subjects: i64,
    first: i64,
    last: i64,
    tenant_id: Option<i64>,
}

#[async_trait]
impl<B: Backend> LimitStore for B {
    async fn refusal_report(&self, since: i64) -> StoreResult<Vec<RefusalSummary>> {
        let mut conn = self.reader().await?;
        let groups: Vec<RefusalGroup> = conn
            .fetch_all(
                Query::new(
                    "SELECT t.name AS tenant, r.rule, r.channel, count(*) AS refusals,
                            count(DISTINCT r.subject) AS subjects, min(r.at) AS first,
                            max(r.at) AS last, r.tenant_id
                     FROM limit_refusals r LEFT JOIN tenants t ON t.id = r.tenant_id
                     WHERE r.at >= $1
                     GROUP BY r.tenant_id, t.name, r.rule, r.channel
                     ORDER BY refusals DESC",
                )
                .bind(since),
            )
            .await?;
        let mut summaries = Vec::with_capacity(groups.len());
        for group in groups {
            let top: Option<(Vec<u8>, i64)> = conn
                .fetch_optional(
                    Query::new(
                        "SELECT subject, count(*) AS n FROM limit_refusals
                         WHERE at >= $1 AND tenant_id IS NOT DISTINCT FROM $2 AND rule = $3
                           AND channel IS NOT DISTINCT FROM $4 AND subject IS NOT NULL
                         GROUP BY subject ORDER BY n DESC LIMIT 1",
                    )
                    .bind(since)
                    .bind(group.tenant_id)
                    .bind(group.rule.as_str())
                    .bind(group.channel.as_deref()),
                )
                .await?;
            summaries.push(RefusalSummary {
                tenant: group.tenant,
                rule: group.rule,
                channel: group.channel,
                refusals: group.refusals,
                subjects: group.subjects,
                first: group.first,
                last: group.last,
                top_subject: top.map(|(subject, n)| (subject_label(&subject), n)),
            });
        }
        Ok(summaries)
    }

    async fn destination_states(
        &self,
        subject: &[u8],
        tenant: Option<&str>,
    ) -> StoreResult<Vec<DestinationState>> {
        let rows: Vec<(String, i64, Option<i64>)> = self
            .reader()
            .await?
            .fetch_all(
                Query::new(
                    "SELECT t.name, d.failures, d.locked_until
                     FROM destination_streaks d JOIN tenants t ON t.id = d.tenant_id
                     WHERE d.subject = $1 AND ($2 IS NULL OR t.name = $2)
                     ORDER BY t.name",
                )
                .bind(subject)
                .bind(tenant),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant, failures, locked_until)| DestinationState {
                tenant,
                failures: saturated(failures),
                locked_until,
            })
            .collect())
    }

    async fn unlock_destination(
        &self,
        subject: &[u8],
        shown: &str,
        tenant: Option<&str>,
        now: i64,
        by: &Caller,
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.begin().await?;
        // A streak that is gone counts as none: the next failure starts a new one.
        let ended: Vec<(i64, i64, Option<i64>)> = tx
            .fetch_all(
                Query::new(
                    "DELETE FROM destination_streaks
                     WHERE subject = $1
                       AND tenant_id IN (SELECT id FROM tenants WHERE $2 IS NULL OR name = $2)
                     RETURNING tenant_id, failures, locked_until",
                )
                .bind(subject)
                .bind(tenant),
            )
            .await?;
        let target = format!("{shown} ({})", subject_label(subject));
        let mut tenants = Vec::with_capacity(ended.len());
        for (tenant_id, failures, locked_until) in ended {
            let before = serde_json::json!({"failures": failures, "locked_until": locked_until});
            tx.execute(super::audit::entry(
                by,
                super::audit::About::TenantId(tenant_id),
                "destination.unlocked",
                Some(target.clone()),
                Some(before),
                None,
                now,
            ))
            .await?;
            let name: Option<String> = tx
                .fetch_value(Query::new("SELECT name FROM tenants WHERE id = $1").bind(tenant_id))
                .await?;
            tenants.extend(name);
        }
        B::commit(tx).await?;
        tenants.sort();
        Ok(tenants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::limits::send_bounds;
    use crate::server::store::sqlite::SqliteStore;

    const NOW: i64 = 1_800_000_000;

    fn sms_to(destination: &[u8]) -> MessageSubjects {
        MessageSubjects {
            channel: Channel::Sms,
            country: Some(218),
            destination: destination.to_vec(),
            prefix: Some(b"21891".to_vec()),
            budget: "sms".into(),
        }
    }

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/checks.db", dir.path().display());
        let store = SqliteStore::open(&url).await.expect("store");
        let mut plan = Plan::new();
        plan.push(Query::new(
            "INSERT INTO tenants (id, name, created_at) VALUES (1, 'checks', 0)",
        ));
        assert!(store.write(plan).await.expect("tenant"));
        (dir, store)
    }

    /// One send to `destination` as counted: its event, written alone.
    async fn sent(store: &SqliteStore, destination: &[u8]) {
        let mut plan = Plan::new();
        plan.push(insert_event(1, "destination", destination, NOW - 1));
        assert!(store.write(plan).await.expect("event"));
    }

    /// Decides a send to `message` on counts read now, without locks: its checks and a marker
    /// write (a `client_ip` event for `marker`), to be written later.
    async fn decided(
        store: &SqliteStore,
        policy: &LimitPolicy,
        message: &MessageSubjects,
        marker: &[u8],
    ) -> Plan {
        let mut reader = store.reader().await.expect("reader");
        let messages = std::slice::from_ref(message);
        let counts = count_send(&mut *reader, 1, policy, messages, None, NOW)
            .await
            .expect("counts");
        let bounds = send_bounds(policy, &counts, NOW).expect("allowed");
        let mut plan = Plan::new();
        send_checks(
            &mut plan, 1, policy, messages, &counts, &counts, &bounds, None, NOW,
        );
        plan.push(insert_event(1, "client_ip", marker, NOW));
        plan
    }

    async fn markers(store: &SqliteStore) -> i64 {
        let mut reader = store.reader().await.expect("reader");
        let (n,): (i64,) = reader
            .fetch_one(Query::new(
                "SELECT count(*) FROM limit_events WHERE scope = 'client_ip'",
            ))
            .await
            .expect("count");
        n
    }

    #[tokio::test]
    async fn a_send_decided_without_locks_holds_until_its_destination_has_its_sends() {
        let (_dir, store) = store().await;
        let policy = LimitPolicy {
            destination_per_10min: 3,
            ..LimitPolicy::default()
        };
        let message = sms_to(b"+218910000001");
        sent(&store, &message.destination).await;
        // Decided on one send seen; another send in between still leaves room: it holds.
        let first = decided(&store, &policy, &message, b"first").await;
        sent(&store, &message.destination).await;
        assert!(store.write(first).await.expect("written"));
        // Decided on two seen; a third send elsewhere uses the last place: it is stale, and
        // nothing of it is written.
        let second = decided(&store, &policy, &message, b"second").await;
        sent(&store, &message.destination).await;
        assert!(!store.write(second).await.expect("answered"));
        assert_eq!(markers(&store).await, 1);
        // Sends to other destinations never make it stale.
        let other = sms_to(b"+218910000002");
        let third = decided(&store, &policy, &other, b"third").await;
        sent(&store, b"+218910000003").await;
        assert!(store.write(third).await.expect("written"));
        assert_eq!(markers(&store).await, 2);
    }

    #[tokio::test]
    async fn a_lock_or_a_cooling_prefix_after_the_decision_makes_it_stale() {
        let (_dir, store) = store().await;
        let policy = LimitPolicy::default();
        let message = sms_to(b"+218910000001");
        let locked = decided(&store, &policy, &message, b"locked").await;
        let mut lock = Plan::new();
        lock.push(
            Query::new(
                "INSERT INTO destination_streaks (tenant_id, subject, failures, locked_until)
                 VALUES (1, $1, 20, $2)",
            )
            .bind(&message.destination)
            .bind(NOW + 60),
        );
        assert!(store.write(lock).await.expect("lock"));
        assert!(!store.write(locked).await.expect("answered"));

        let other = sms_to(b"+218920000001");
        let mut other_prefix = other.clone();
        other_prefix.prefix = Some(b"21892".to_vec());
        let cooled = decided(&store, &policy, &other_prefix, b"cooled").await;
        let mut cool = Plan::new();
        cool.push(
            Query::new(
                "INSERT INTO prefix_cooldowns (tenant_id, subject, until) VALUES (1, $1, $2)",
            )
            .bind(&b"21892"[..])
            .bind(NOW + 60),
        );
        assert!(store.write(cool).await.expect("cooldown"));
        assert!(!store.write(cooled).await.expect("answered"));
        assert_eq!(markers(&store).await, 0);
    }
}
