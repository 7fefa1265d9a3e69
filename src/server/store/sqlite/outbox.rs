//! The outbox: messages caught instead of delivered, for test keys and development mode. Their
//! codes are kept in clear only while they can still be used: a code is erased (from the row
//! and from the message text) as soon as its channel is verified or replaced and when its session
//! or request is verified, locked or cancelled; once it expires it is no longer shown and the
//! purge erases it. Rows go with their session or request (ON DELETE CASCADE).

use async_trait::async_trait;
use sqlx::{QueryBuilder, SqliteConnection};

use super::SqliteStore;
use super::statements::Statements;
use crate::engine::Channel;
use crate::server::store::StoreResult;
use crate::server::store::outbox::*;

/// Appends the erasure of the codes of a session's messages, or of one of its channels'.
pub(super) fn erase_session_codes(
    statements: &mut Statements,
    session_id: i64,
    channel: Option<Channel>,
) {
    match channel {
        None => statements.push(
            "UPDATE outbox SET body = replace(body, code, ?), code = ''
             WHERE session_id = ? AND code <> ''",
        ),
        Some(_) => statements.push(
            "UPDATE outbox SET body = replace(body, code, ?), code = ''
             WHERE session_id = ? AND code <> '' AND channel = ?",
        ),
    };
    statements.bind(ERASED).bind(session_id);
    if let Some(channel) = channel {
        statements.bind(channel.as_str());
    }
}

/// Appends the erasure of the code of a single-SMS request's message.
pub(super) fn erase_request_codes(statements: &mut Statements, request_id: i64) {
    statements
        .push(
            "UPDATE outbox SET body = replace(body, code, ?), code = ''
             WHERE request_id = ? AND code <> ''",
        )
        .bind(ERASED)
        .bind(request_id);
}

/// Erases the codes of every message whose session or request expired at or before `now`.
pub(super) async fn erase_expired_codes(conn: &mut SqliteConnection, now: i64) -> StoreResult<u64> {
    let erased = sqlx::query(
        "UPDATE outbox SET body = replace(body, code, ?1), code = ''
         WHERE code <> '' AND (
             session_id IN (SELECT id FROM sessions WHERE expires_at <= ?2)
             OR request_id IN (SELECT id FROM sms_requests WHERE expires_at <= ?2))",
    )
    .bind(ERASED)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(erased)
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn list_outbox(&self, query: &OutboxQuery<'_>) -> StoreResult<Vec<OutboxMessage>> {
        let mut sql = QueryBuilder::new(
            "SELECT t.name AS tenant_name, o.is_test, o.channel, o.recipient, o.body, o.code, o.sent_at,
                    coalesce(s.expires_at, r.expires_at) AS expires_at
             FROM outbox o JOIN tenants t ON t.id = o.tenant_id
             LEFT JOIN sessions s ON s.id = o.session_id
             LEFT JOIN sms_requests r ON r.id = o.request_id
             WHERE 1 = 1",
        );
        if let Some(tenant_id) = query.tenant_id {
            sql.push(" AND o.tenant_id = ").push_bind(tenant_id);
        }
        if query.test_only {
            sql.push(" AND o.is_test = 1");
        }
        if let Some(recipient) = query.recipient {
            sql.push(" AND o.recipient = ").push_bind(recipient);
        }
        sql.push(" ORDER BY o.id DESC LIMIT ")
            .push_bind(query.limit);
        let rows: Vec<OutboxRow> = sql
            .build_query_as()
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.into_iter().map(|row| row.message(query.now)).collect())
    }
}
