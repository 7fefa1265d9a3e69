//! The counters behind the limits, in SQLite: events in time windows (sends per destination,
//! prefix and client IP; widget submissions per IP), tenants' budgets per minute, destinations'
//! runs of failed verifications, prefixes cooling down, and every refusal. They are read and
//! written inside the transaction of the send or verify they count; the decisions are the
//! engine's.

use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};

use super::SqliteStore;
use super::statements::Statements;
use crate::engine::Channel;
use crate::engine::limits::{
    DAY, HOUR, LimitPolicy, MINUTE, MessageCounts, SendCounts, Streak, TEN_MINUTES,
    prefix_starts_cooling, submission_allowed,
};
use crate::server::store::StoreResult;
use crate::server::store::deliveries::Owner;
use crate::server::store::limits::*;

/// Events of `scope` about `subject` after `since`, counted up to `up_to` only: a decision needs
/// to know whether the limit is reached, not by how much, so the work stays bounded.
async fn count_events(
    conn: &mut SqliteConnection,
    tenant_id: i64,
    scope: &str,
    subject: &[u8],
    since: i64,
    up_to: u32,
) -> StoreResult<u32> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM limit_events
         WHERE tenant_id = ? AND scope = ? AND subject = ? AND at > ? LIMIT ?)",
    )
    .bind(tenant_id)
    .bind(scope)
    .bind(subject)
    .bind(since)
    .bind(i64::from(up_to))
    .fetch_one(&mut *conn)
    .await?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

fn count_column(row: &sqlx::sqlite::SqliteRow, column: &str) -> u32 {
    u32::try_from(row.get::<i64, _>(column)).unwrap_or(u32::MAX)
}

/// Everything one message's rules look at, in one statement (the send's transaction holds the
/// write lock, so each round trip saved is time every other writer waits less): the
/// destination's sends in 10 minutes and a day and its lock, the prefix's cool-down and
/// unverified sends in the hour, the budget's sends in the hour (in whole minutes: the minutes
/// after the one an hour ago, this one included). Event counts stop at their limit.
async fn count_message(
    conn: &mut SqliteConnection,
    tenant_id: i64,
    policy: &LimitPolicy,
    message: &MessageSubjects,
    now: i64,
) -> StoreResult<MessageCounts> {
    let row = sqlx::query(
        "SELECT
           (SELECT count(*) FROM (SELECT 1 FROM limit_events WHERE tenant_id = ?1
              AND scope = 'destination' AND subject = ?2 AND at > ?3 LIMIT ?4)) AS last_10min,
           (SELECT count(*) FROM (SELECT 1 FROM limit_events WHERE tenant_id = ?1
              AND scope = 'destination' AND subject = ?2 AND at > ?5 LIMIT ?6)) AS last_day,
           (SELECT locked_until FROM destination_streaks
              WHERE tenant_id = ?1 AND subject = ?2) AS locked_until,
           (SELECT until FROM prefix_cooldowns
              WHERE tenant_id = ?1 AND subject = ?7) AS cooling_until,
           (SELECT count(*) FROM (SELECT 1 FROM limit_events WHERE tenant_id = ?1
              AND scope = 'prefix' AND subject = ?7 AND at > ?8 AND verified = 0
              LIMIT ?9)) AS prefix_unverified,
           (SELECT coalesce(sum(sends), 0) FROM limit_buckets
              WHERE tenant_id = ?1 AND budget = ?10 AND minute > ?11) AS budget",
    )
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
    .fetch_one(&mut *conn)
    .await?;
    Ok(MessageCounts {
        channel: message.channel,
        country: message.country,
        destination_last_10min: count_column(&row, "last_10min"),
        destination_last_day: count_column(&row, "last_day"),
        destination_locked_until: row.get("locked_until"),
        prefix_unverified_last_hour: count_column(&row, "prefix_unverified"),
        prefix_cooling_until: row.get("cooling_until"),
        tenant_channel_last_hour: count_column(&row, "budget"),
    })
}

/// Counts everything a send's rules look at (the same queries whatever the outcome). Messages
/// of the same send to the same destination, prefix or budget count each other, so a send with
/// SMS and WhatsApp to one number is two sends to it.
pub(super) async fn count_send(
    conn: &mut SqliteConnection,
    tenant_id: i64,
    policy: &LimitPolicy,
    messages: &[MessageSubjects],
    client_ip: Option<&[u8]>,
    now: i64,
) -> StoreResult<SendCounts> {
    let mut counts = SendCounts::default();
    for (index, message) in messages.iter().enumerate() {
        let earlier = &messages[..index];
        let counted = count_message(conn, tenant_id, policy, message, now).await?;
        let counted = with_earlier_messages(counted, message, earlier);
        counts.messages.push(counted);
    }
    if let Some(ip) = client_ip {
        let used = count_events(
            conn,
            tenant_id,
            "client_ip",
            ip,
            now - TEN_MINUTES,
            policy.ip_sends_per_10min,
        )
        .await?;
        counts.ip_last_10min = Some(used);
    }
    Ok(counts)
}

/// An event without an owner (a client IP's send, a widget submission).
async fn insert_event(
    conn: &mut SqliteConnection,
    tenant_id: i64,
    scope: &str,
    subject: &[u8],
    at: i64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO limit_events (tenant_id, scope, subject, at) VALUES (?, ?, ?, ?)")
        .bind(tenant_id)
        .bind(scope)
        .bind(subject)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Counts an accepted send: an event per message for its destination and prefix, a send on its
/// budget, one event for the client IP; a prefix that reaches its threshold starts cooling.
pub(super) async fn record_send(
    conn: &mut SqliteConnection,
    tenant_id: i64,
    owner: Owner,
    messages: &[MessageSubjects],
    send: &SendPolicy,
    counts: &SendCounts,
    now: i64,
) -> StoreResult<()> {
    let (session_id, request_id) = match owner {
        Owner::Session(id) => (Some(id), None),
        Owner::Request(id) => (None, Some(id)),
    };
    for (message, counted) in messages.iter().zip(&counts.messages) {
        // One statement for the destination's event and, for a number, its prefix's (which
        // names what it counted, so a verification can mark it).
        sqlx::query(
            "INSERT INTO limit_events (tenant_id, scope, subject, at, session_id, request_id, channel)
             SELECT ?1, 'destination', ?2, ?3, NULL, NULL, NULL
             UNION ALL SELECT ?1, 'prefix', ?4, ?3, ?5, ?6, ?7 WHERE ?4 IS NOT NULL",
        )
        .bind(tenant_id)
        .bind(&message.destination)
        .bind(now)
        .bind(message.prefix.as_deref())
        .bind(session_id)
        .bind(request_id)
        .bind(message.channel.as_str())
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO limit_buckets (tenant_id, budget, minute, sends) VALUES (?, ?, ?, 1)
             ON CONFLICT (tenant_id, budget, minute) DO UPDATE SET sends = sends + 1",
        )
        .bind(tenant_id)
        .bind(&message.budget)
        .bind(minute(now))
        .execute(&mut *conn)
        .await?;
        if let Some(prefix) = &message.prefix
            && prefix_starts_cooling(&send.policy, counted.prefix_unverified_last_hour)
        {
            sqlx::query(
                "INSERT INTO prefix_cooldowns (tenant_id, subject, until) VALUES (?, ?, ?)
                 ON CONFLICT (tenant_id, subject) DO UPDATE SET until = excluded.until",
            )
            .bind(tenant_id)
            .bind(prefix.as_slice())
            .bind(now + send.policy.prefix_cooldown_secs)
            .execute(&mut *conn)
            .await?;
        }
    }
    if let Some(ip) = &send.client_ip {
        insert_event(conn, tenant_id, "client_ip", ip, now).await?;
    }
    Ok(())
}

/// A verified channel (or request): its sends stop counting as unverified for their prefix.
pub(super) fn mark_verified(statements: &mut Statements, owner: Owner, channel: Channel) {
    let (column, id) = match owner {
        Owner::Session(id) => ("session_id", id),
        Owner::Request(id) => ("request_id", id),
    };
    statements
        .push(&format!(
            "UPDATE limit_events SET verified = 1
             WHERE {column} = ? AND channel = ? AND scope = 'prefix' AND verified = 0"
        ))
        .bind(id)
        .bind(channel.as_str());
}

/// Records a refusal: which rule, for which tenant and subject, when.
pub(super) async fn record_refusal(
    conn: &mut SqliteConnection,
    tenant_id: i64,
    record: &RefusalRecord,
    now: i64,
) -> StoreResult<()> {
    let mut statements = Statements::new();
    refusal_record(&mut statements, tenant_id, record, now);
    statements.run(conn).await?;
    Ok(())
}

/// Appends the record of a refusal.
pub(super) fn refusal_record(
    statements: &mut Statements,
    tenant_id: i64,
    record: &RefusalRecord,
    now: i64,
) {
    statements
        .push(
            "INSERT INTO limit_refusals (at, tenant_id, rule, subject, channel) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(record.refusal.rule())
        .bind(record.subject.clone())
        .bind(record.channel.map(Channel::as_str));
}

/// Counts one code submitted through a widget door from `ip`, unless the IP already used its
/// minute (then `false`, and nothing is counted).
pub(super) async fn take_submission(
    conn: &mut SqliteConnection,
    tenant_id: i64,
    ip: &[u8],
    policy: &LimitPolicy,
    now: i64,
) -> StoreResult<bool> {
    let used = count_events(
        conn,
        tenant_id,
        "widget_ip",
        ip,
        now - MINUTE,
        policy.ip_submissions_per_minute,
    )
    .await?;
    if !submission_allowed(policy, used) {
        return Ok(false);
    }
    insert_event(conn, tenant_id, "widget_ip", ip, now).await?;
    Ok(true)
}

/// Appends the move of a destination's run of failed verifications from `old` (as it was
/// loaded) to `new`, guarded: it holds only if the run still stands at `old`, so two decisions
/// made on one copy cannot both count. A destination with no row stands at the empty streak.
pub(super) fn move_streak(
    statements: &mut Statements,
    tenant_id: i64,
    subject: &[u8],
    old: Streak,
    new: Streak,
) {
    if old == Streak::default() {
        statements
            .guard(
                "INSERT INTO destination_streaks (tenant_id, subject, failures, locked_until) VALUES (?, ?, ?, ?)
                 ON CONFLICT (tenant_id, subject) DO UPDATE SET failures = excluded.failures,
                     locked_until = excluded.locked_until
                 WHERE failures = 0 AND locked_until IS NULL",
            )
            .bind(tenant_id)
            .bind(subject.to_vec())
            .bind(i64::from(new.failures))
            .bind(new.locked_until);
    } else {
        statements
            .guard(
                "UPDATE destination_streaks SET failures = ?, locked_until = ?
                 WHERE tenant_id = ? AND subject = ? AND failures = ? AND locked_until IS ?",
            )
            .bind(i64::from(new.failures))
            .bind(new.locked_until)
            .bind(tenant_id)
            .bind(subject.to_vec())
            .bind(i64::from(old.failures))
            .bind(old.locked_until);
    }
}

/// Forgets what no window looks at any more: events older than a day, budget minutes older than
/// an hour, refusals older than 30 days, finished cool-downs and locks.
pub(super) async fn purge(conn: &mut SqliteConnection, now: i64) -> StoreResult<u64> {
    let mut removed = sqlx::query("DELETE FROM limit_events WHERE at <= ?")
        .bind(now - DAY)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    removed += sqlx::query("DELETE FROM limit_refusals WHERE at <= ?")
        .bind(now - 30 * DAY)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    removed += sqlx::query("DELETE FROM limit_buckets WHERE minute <= ?")
        .bind(minute(now - HOUR))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM prefix_cooldowns WHERE until <= ?")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "DELETE FROM destination_streaks WHERE failures = 0 AND (locked_until IS NULL OR locked_until <= ?)",
    )
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(removed)
}

#[async_trait]
impl LimitStore for SqliteStore {
    async fn refusal_report(&self, since: i64) -> StoreResult<Vec<RefusalSummary>> {
        let rows = sqlx::query(
            "SELECT t.name AS tenant, r.rule, r.channel, count(*) AS refusals,
                    count(DISTINCT r.subject) AS subjects, min(r.at) AS first, max(r.at) AS last,
                    r.tenant_id
             FROM limit_refusals r LEFT JOIN tenants t ON t.id = r.tenant_id
             WHERE r.at >= ?
             GROUP BY r.tenant_id, r.rule, r.channel
             ORDER BY refusals DESC",
        )
        .bind(since)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        let mut summaries = Vec::with_capacity(rows.len());
        for row in rows {
            let rule: String = row.get("rule");
            let channel: Option<String> = row.get("channel");
            let top: Option<(Vec<u8>, i64)> = sqlx::query_as(
                "SELECT subject, count(*) AS n FROM limit_refusals
                 WHERE at >= ? AND tenant_id IS ? AND rule = ? AND channel IS ? AND subject IS NOT NULL
                 GROUP BY subject ORDER BY n DESC LIMIT 1",
            )
            .bind(since)
            .bind(row.get::<Option<i64>, _>("tenant_id"))
            .bind(&rule)
            .bind(&channel)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
            summaries.push(RefusalSummary {
                tenant: row.get("tenant"),
                rule,
                channel,
                refusals: row.get("refusals"),
                subjects: row.get("subjects"),
                first: row.get("first"),
                last: row.get("last"),
                top_subject: top.map(|(subject, n)| (subject_label(&subject), n)),
            });
        }
        Ok(summaries)
    }
}
