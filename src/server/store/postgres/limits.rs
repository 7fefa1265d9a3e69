//! The counters behind the limits, in PostgreSQL. A transaction that counts subjects and then
//! records them first locks their `limit_locks` rows (sorted, so two transactions never wait
//! on each other in a circle); under READ COMMITTED each later statement then sees every event
//! a transaction before it recorded, so "4 of 5" is never counted twice.

use async_trait::async_trait;
use sqlx::{PgConnection, Row};

use super::PgStore;
use crate::engine::Channel;
use crate::engine::limits::{
    DAY, HOUR, LimitPolicy, MINUTE, MessageCounts, SendCounts, Streak, TEN_MINUTES,
    prefix_starts_cooling, submission_allowed,
};
use crate::server::store::StoreResult;
use crate::server::store::deliveries::Owner;
use crate::server::store::limits::*;

/// A subject a transaction counts: its scope and its key.
pub(super) type Subject = (&'static str, Vec<u8>);

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

/// Locks the rows of `subjects` until the transaction ends, in one statement and one order.
pub(super) async fn lock_subjects(
    conn: &mut PgConnection,
    tenant_id: i64,
    mut subjects: Vec<Subject>,
    now: i64,
) -> StoreResult<()> {
    if subjects.is_empty() {
        return Ok(());
    }
    subjects.sort();
    subjects.dedup();
    let (scopes, keys): (Vec<&str>, Vec<Vec<u8>>) = subjects.into_iter().unzip();
    sqlx::query(
        "INSERT INTO limit_locks (tenant_id, scope, subject, touched_at)
         SELECT $1, s.scope, s.subject, $4 FROM UNNEST($2::TEXT[], $3::BYTEA[]) AS s (scope, subject)
         ORDER BY s.scope, s.subject
         ON CONFLICT (tenant_id, scope, subject) DO UPDATE SET touched_at = EXCLUDED.touched_at",
    )
    .bind(tenant_id)
    .bind(&scopes)
    .bind(&keys)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Events of `scope` about `subject` after `since`, counted up to `up_to` only.
async fn count_events(
    conn: &mut PgConnection,
    tenant_id: i64,
    scope: &str,
    subject: &[u8],
    since: i64,
    up_to: u32,
) -> StoreResult<u32> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM limit_events
         WHERE tenant_id = $1 AND scope = $2 AND subject = $3 AND at > $4 LIMIT $5) AS window_events",
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

fn count_column(row: &sqlx::postgres::PgRow, column: &str) -> u32 {
    u32::try_from(row.get::<i64, _>(column)).unwrap_or(u32::MAX)
}

/// Everything one message's rules look at, in one statement (see the SQLite store).
async fn count_message(
    conn: &mut PgConnection,
    tenant_id: i64,
    policy: &LimitPolicy,
    message: &MessageSubjects,
    now: i64,
) -> StoreResult<MessageCounts> {
    let row = sqlx::query(
        "SELECT
           (SELECT count(*) FROM (SELECT 1 FROM limit_events WHERE tenant_id = $1
              AND scope = 'destination' AND subject = $2 AND at > $3 LIMIT $4) AS a) AS last_10min,
           (SELECT count(*) FROM (SELECT 1 FROM limit_events WHERE tenant_id = $1
              AND scope = 'destination' AND subject = $2 AND at > $5 LIMIT $6) AS b) AS last_day,
           (SELECT locked_until FROM destination_streaks
              WHERE tenant_id = $1 AND subject = $2) AS locked_until,
           (SELECT until FROM prefix_cooldowns
              WHERE tenant_id = $1 AND subject = $7) AS cooling_until,
           (SELECT count(*) FROM (SELECT 1 FROM limit_events WHERE tenant_id = $1
              AND scope = 'prefix' AND subject = $7 AND at > $8 AND verified = 0
              LIMIT $9) AS c) AS prefix_unverified,
           (SELECT coalesce(sum(sends), 0)::BIGINT FROM limit_buckets
              WHERE tenant_id = $1 AND budget = $10 AND minute > $11) AS budget",
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

/// Locks and counts everything a send's rules look at.
pub(super) async fn count_send(
    conn: &mut PgConnection,
    tenant_id: i64,
    policy: &LimitPolicy,
    messages: &[MessageSubjects],
    client_ip: Option<&[u8]>,
    now: i64,
) -> StoreResult<SendCounts> {
    lock_subjects(conn, tenant_id, send_subjects(messages, client_ip), now).await?;
    let mut counts = SendCounts::default();
    for (index, message) in messages.iter().enumerate() {
        let counted = count_message(conn, tenant_id, policy, message, now).await?;
        let counted = with_earlier_messages(counted, message, &messages[..index]);
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

async fn insert_event(
    conn: &mut PgConnection,
    tenant_id: i64,
    scope: &str,
    subject: &[u8],
    at: i64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO limit_events (tenant_id, scope, subject, at) VALUES ($1, $2, $3, $4)")
        .bind(tenant_id)
        .bind(scope)
        .bind(subject)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Counts an accepted send (see the SQLite store), its subjects locked by `count_send`.
pub(super) async fn record_send(
    conn: &mut PgConnection,
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
        sqlx::query(
            "INSERT INTO limit_events (tenant_id, scope, subject, at, session_id, request_id, channel)
             SELECT $1::BIGINT, 'destination', $2::BYTEA, $3::BIGINT, NULL::BIGINT, NULL::BIGINT, NULL::TEXT
             UNION ALL SELECT $1, 'prefix', $4::BYTEA, $3, $5::BIGINT, $6::BIGINT, $7::TEXT
             WHERE $4 IS NOT NULL",
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
            "INSERT INTO limit_buckets (tenant_id, budget, minute, sends) VALUES ($1, $2, $3, 1)
             ON CONFLICT (tenant_id, budget, minute) DO UPDATE SET sends = limit_buckets.sends + 1",
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
                "INSERT INTO prefix_cooldowns (tenant_id, subject, until) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, subject) DO UPDATE SET until = EXCLUDED.until",
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
pub(super) async fn mark_verified(
    conn: &mut PgConnection,
    owner: Owner,
    channel: Channel,
) -> StoreResult<()> {
    let (column, id) = match owner {
        Owner::Session(id) => ("session_id", id),
        Owner::Request(id) => ("request_id", id),
    };
    sqlx::query(&format!(
        "UPDATE limit_events SET verified = 1
         WHERE {column} = $1 AND channel = $2 AND scope = 'prefix' AND verified = 0"
    ))
    .bind(id)
    .bind(channel.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a refusal: which rule, for which tenant and subject, when.
pub(super) async fn record_refusal(
    conn: &mut PgConnection,
    tenant_id: i64,
    record: &RefusalRecord,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO limit_refusals (at, tenant_id, rule, subject, channel) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now)
    .bind(tenant_id)
    .bind(record.refusal.rule())
    .bind(record.subject.as_deref())
    .bind(record.channel.map(Channel::as_str))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Counts one code submitted through a widget door from `ip`, unless the IP already used its
/// minute (then `false`, and nothing is counted).
pub(super) async fn take_submission(
    conn: &mut PgConnection,
    tenant_id: i64,
    ip: &[u8],
    policy: &LimitPolicy,
    now: i64,
) -> StoreResult<bool> {
    lock_subjects(conn, tenant_id, vec![("widget_ip", ip.to_vec())], now).await?;
    let up_to = policy.ip_submissions_per_minute;
    let used = count_events(conn, tenant_id, "widget_ip", ip, now - MINUTE, up_to).await?;
    if !submission_allowed(policy, used) {
        return Ok(false);
    }
    insert_event(conn, tenant_id, "widget_ip", ip, now).await?;
    Ok(true)
}

/// Moves a destination's streak from `old` to `new` only if it still stands at `old` (an atomic
/// conditional write under READ COMMITTED); false when it had moved meanwhile.
pub(super) async fn move_streak(
    conn: &mut PgConnection,
    tenant_id: i64,
    subject: &[u8],
    old: Streak,
    new: Streak,
) -> StoreResult<bool> {
    let moved = if old == Streak::default() {
        sqlx::query(
            "INSERT INTO destination_streaks (tenant_id, subject, failures, locked_until)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, subject) DO UPDATE SET failures = EXCLUDED.failures,
                 locked_until = EXCLUDED.locked_until
             WHERE destination_streaks.failures = 0 AND destination_streaks.locked_until IS NULL",
        )
        .bind(tenant_id)
        .bind(subject)
        .bind(i64::from(new.failures))
        .bind(new.locked_until)
        .execute(&mut *conn)
        .await?
    } else {
        sqlx::query(
            "UPDATE destination_streaks SET failures = $1, locked_until = $2
             WHERE tenant_id = $3 AND subject = $4 AND failures = $5
               AND locked_until IS NOT DISTINCT FROM $6",
        )
        .bind(i64::from(new.failures))
        .bind(new.locked_until)
        .bind(tenant_id)
        .bind(subject)
        .bind(i64::from(old.failures))
        .bind(old.locked_until)
        .execute(&mut *conn)
        .await?
    };
    Ok(moved.rows_affected() == 1)
}

/// Forgets what no window looks at any more (see the SQLite store), and idle subject locks.
pub(super) async fn purge(conn: &mut PgConnection, now: i64) -> StoreResult<u64> {
    let mut removed = 0;
    for (sql, before) in [
        ("DELETE FROM limit_events WHERE at <= $1", now - DAY),
        ("DELETE FROM limit_refusals WHERE at <= $1", now - 30 * DAY),
        (
            "DELETE FROM limit_buckets WHERE minute <= $1",
            minute(now - HOUR),
        ),
    ] {
        removed += sqlx::query(sql)
            .bind(before)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    for (sql, before) in [
        ("DELETE FROM prefix_cooldowns WHERE until <= $1", now),
        (
            "DELETE FROM destination_streaks
             WHERE failures = 0 AND (locked_until IS NULL OR locked_until <= $1)",
            now,
        ),
        ("DELETE FROM limit_locks WHERE touched_at <= $1", now - DAY),
    ] {
        sqlx::query(sql).bind(before).execute(&mut *conn).await?;
    }
    Ok(removed)
}

#[async_trait]
impl LimitStore for PgStore {
    async fn refusal_report(&self, since: i64) -> StoreResult<Vec<RefusalSummary>> {
        let rows = sqlx::query(
            "SELECT t.name AS tenant, r.rule, r.channel, count(*) AS refusals,
                    count(DISTINCT r.subject) AS subjects, min(r.at) AS first, max(r.at) AS last,
                    r.tenant_id
             FROM limit_refusals r LEFT JOIN tenants t ON t.id = r.tenant_id
             WHERE r.at >= $1
             GROUP BY r.tenant_id, t.name, r.rule, r.channel
             ORDER BY refusals DESC",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        let mut summaries = Vec::with_capacity(rows.len());
        for row in rows {
            let rule: String = row.get("rule");
            let channel: Option<String> = row.get("channel");
            let top: Option<(Vec<u8>, i64)> = sqlx::query_as(
                "SELECT subject, count(*) AS n FROM limit_refusals
                 WHERE at >= $1 AND tenant_id IS NOT DISTINCT FROM $2 AND rule = $3
                   AND channel IS NOT DISTINCT FROM $4 AND subject IS NOT NULL
                 GROUP BY subject ORDER BY n DESC LIMIT 1",
            )
            .bind(since)
            .bind(row.get::<Option<i64>, _>("tenant_id"))
            .bind(&rule)
            .bind(&channel)
            .fetch_optional(&self.pool)
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
