//! The outbox: messages caught instead of delivered, with their codes in clear, for test keys and
//! development mode. Rows go with their session or request (ON DELETE CASCADE).

use sqlx::{QueryBuilder, Row};

use super::{Store, StoreResult, flag};

/// A message to keep in the outbox.
#[derive(Clone, Debug)]
pub struct NewOutboxMessage {
    pub tenant_id: i64,
    pub session_id: Option<i64>,
    pub request_id: Option<i64>,
    pub is_test: bool,
    pub channel: String,
    pub recipient: String,
    pub body: String,
    pub code: String,
    pub sent_at: i64,
}

/// A message read back from the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    pub tenant_name: String,
    pub is_test: bool,
    pub channel: String,
    pub recipient: String,
    pub body: String,
    pub code: String,
    pub sent_at: i64,
}

/// Which messages to list.
#[derive(Clone, Debug, Default)]
pub struct OutboxQuery<'a> {
    pub tenant_id: Option<i64>,
    pub test_only: bool,
    pub recipient: Option<&'a str>,
    pub limit: i64,
}

impl Store {
    pub async fn insert_outbox(&self, message: &NewOutboxMessage) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO outbox (tenant_id, session_id, request_id, is_test, channel, recipient, body, code, sent_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(message.tenant_id)
        .bind(message.session_id)
        .bind(message.request_id)
        .bind(flag(message.is_test))
        .bind(&message.channel)
        .bind(&message.recipient)
        .bind(&message.body)
        .bind(&message.code)
        .bind(message.sent_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn list_outbox(&self, query: &OutboxQuery<'_>) -> StoreResult<Vec<OutboxMessage>> {
        let mut sql = QueryBuilder::new(
            "SELECT t.name AS tenant_name, o.is_test, o.channel, o.recipient, o.body, o.code, o.sent_at
             FROM outbox o JOIN tenants t ON t.id = o.tenant_id WHERE 1 = 1",
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
        let rows = sql.build().fetch_all(&self.read).await?;
        Ok(rows
            .into_iter()
            .map(|row| OutboxMessage {
                tenant_name: row.get("tenant_name"),
                is_test: row.get::<i64, _>("is_test") == 1,
                channel: row.get("channel"),
                recipient: row.get("recipient"),
                body: row.get("body"),
                code: row.get("code"),
                sent_at: row.get("sent_at"),
            })
            .collect())
    }
}
