//! The outbox: messages caught instead of delivered, for test keys and development mode. Their
//! codes are kept in clear only while they can still be used: a code is erased (from the row
//! and from the message text) as soon as its channel is verified or replaced and when its session
//! or request is verified, locked or cancelled; once it expires it is no longer shown and the
//! purge erases it. Rows go with their session or request (ON DELETE CASCADE).

use async_trait::async_trait;

use super::{Backend, Connection, Query};
use crate::engine::Channel;
use crate::server::store::StoreResult;
use crate::server::store::outbox::*;

/// Erases the codes of a session's messages, or of one of its channels'.
pub(super) fn erase_session_codes(session_id: i64, channel: Option<Channel>) -> Query {
    let query = match channel {
        None => Query::new(
            "UPDATE outbox SET body = replace(body, code, $1), code = ''
             WHERE session_id = $2 AND code <> ''",
        ),
        Some(_) => Query::new(
            "UPDATE outbox SET body = replace(body, code, $1), code = ''
             WHERE session_id = $2 AND code <> '' AND channel = $3",
        ),
    };
    let query = query.bind(ERASED).bind(session_id);
    match channel {
        Some(channel) => query.bind(channel.as_str()),
        None => query,
    }
}

/// Erases the code of a single-SMS request's message.
pub(super) fn erase_request_codes(request_id: i64) -> Query {
    Query::new(
        "UPDATE outbox SET body = replace(body, code, $1), code = ''
         WHERE request_id = $2 AND code <> ''",
    )
    .bind(ERASED)
    .bind(request_id)
}

/// Erases the codes of every message whose session or request expired at or before `now`.
pub(super) fn erase_expired_codes(now: i64) -> Query {
    Query::new(
        "UPDATE outbox SET body = replace(body, code, $1), code = ''
         WHERE code <> '' AND (
             session_id IN (SELECT id FROM sessions WHERE expires_at <= $2)
             OR request_id IN (SELECT id FROM sms_requests WHERE expires_at <= $2))",
    )
    .bind(ERASED)
    .bind(now)
}

#[async_trait]
impl<B: Backend> OutboxStore for B {
    async fn list_outbox(&self, query: &OutboxQuery<'_>) -> StoreResult<Vec<OutboxMessage>> {
        // Only the filters asked for: each keeps the statement able to use its index.
        let mut sql = Query::new(
            "SELECT t.name AS tenant_name, o.is_test, o.channel, o.recipient, o.body, o.code,
                    o.sent_at, coalesce(s.expires_at, r.expires_at) AS expires_at
             FROM outbox o JOIN tenants t ON t.id = o.tenant_id
             LEFT JOIN sessions s ON s.id = o.session_id
             LEFT JOIN sms_requests r ON r.id = o.request_id
             WHERE 1 = 1",
        );
        if let Some(tenant_id) = query.tenant_id {
            sql = sql.push(" AND o.tenant_id = ").push_bind(tenant_id);
        }
        if query.test_only {
            sql = sql.push(" AND o.is_test = 1");
        }
        if let Some(recipient) = query.recipient {
            sql = sql.push(" AND o.recipient = ").push_bind(recipient);
        }
        let sql = sql
            .push(" ORDER BY o.id DESC LIMIT ")
            .push_bind(query.limit);
        let rows: Vec<OutboxRow> = self.reader().await?.fetch_all(sql).await?;
        Ok(rows.into_iter().map(|row| row.message(query.now)).collect())
    }
}
