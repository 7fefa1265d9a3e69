//! The statements both databases run, written once, and the flows over them (tenants and keys,
//! sessions, single-SMS requests, the delivery queue, limits, the outbox, the purge), each
//! capability's public trait implemented here once for every [`Backend`].
//!
//! One dialect: `$N` placeholders (sqlx's SQLite driver binds `$N` by its number, as
//! PostgreSQL does), `ON CONFLICT … DO NOTHING | DO UPDATE`, `RETURNING`,
//! `IS NOT DISTINCT FROM`, `CAST(… AS BIGINT)`; flags are 0/1 integers and times Unix seconds
//! in both schemas. The SQLite bundled with sqlx (3.46) and PostgreSQL 15 run all of it.
//!
//! A statement is a [`Query`]: its text and its arguments, as our own values, so that shared
//! code never names a sqlx database type (code generic over `sqlx::Database` is a known dead
//! end; `sqlx::Any` would open a second pool on the SQLite file). Each store runs queries on its
//! own connection type through [`Connection`], and says how it reads, writes and locks through
//! [`Backend`]; what differs between the two on purpose is listed in `store/mod.rs`.

mod admin_tokens;
mod audit;
mod deliveries;
mod events;
mod inspect;
mod limits;
mod maintenance;
mod outbox;
mod sends;
mod sessions;
mod single;
mod templates;
mod tenants;
mod twilio;
mod webhooks;

use std::borrow::Cow;
use std::ops::DerefMut;

use async_trait::async_trait;

use super::deliveries::ClaimedRow;
use super::{StoreError, StoreResult};

/// A value bound to a placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

impl From<i64> for Arg {
    fn from(value: i64) -> Arg {
        Arg::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Arg {
        Arg::Int(value)
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Arg {
        Arg::Text(Some(value.to_owned()))
    }
}

impl From<&String> for Arg {
    fn from(value: &String) -> Arg {
        Arg::Text(Some(value.clone()))
    }
}

impl From<Option<&str>> for Arg {
    fn from(value: Option<&str>) -> Arg {
        Arg::Text(value.map(str::to_owned))
    }
}

impl From<&[u8]> for Arg {
    fn from(value: &[u8]) -> Arg {
        Arg::Blob(Some(value.to_vec()))
    }
}

impl From<&Vec<u8>> for Arg {
    fn from(value: &Vec<u8>) -> Arg {
        Arg::Blob(Some(value.clone()))
    }
}

impl From<Option<&[u8]>> for Arg {
    fn from(value: Option<&[u8]>) -> Arg {
        Arg::Blob(value.map(<[u8]>::to_vec))
    }
}

/// One statement in the shared dialect, with its arguments (`$1` is the first).
#[derive(Clone, Debug)]
pub(super) struct Query {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
}

impl Query {
    pub(super) fn new(sql: &'static str) -> Query {
        Query {
            sql: Cow::Borrowed(sql),
            args: Vec::new(),
        }
    }

    /// A statement whose text is put together at run time (a column name, optional filters).
    pub(super) fn text(sql: String) -> Query {
        Query {
            sql: Cow::Owned(sql),
            args: Vec::new(),
        }
    }

    /// Binds the next placeholder (`$1`, then `$2`, …).
    pub(super) fn bind(mut self, value: impl Into<Arg>) -> Query {
        self.args.push(value.into());
        self
    }

    /// Appends text to the statement.
    pub(super) fn push(mut self, sql: &str) -> Query {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Appends a placeholder for `value`, bound to it.
    pub(super) fn push_bind(mut self, value: impl Into<Arg>) -> Query {
        self.args.push(value.into());
        let placeholder = format!("${}", self.args.len());
        self.sql.to_mut().push_str(&placeholder);
        self
    }

    pub(super) fn sql(&self) -> &str {
        &self.sql
    }

    pub(super) fn args(&self) -> &[Arg] {
        &self.args
    }

    pub(super) fn into_parts(self) -> (Cow<'static, str>, Vec<Arg>) {
        (self.sql, self.args)
    }
}

/// One step of a [`Plan`]: a plain statement, a guard (a conditional write that must change
/// its row for the whole plan to hold), or a check (a `SELECT` that must answer a row for the
/// plan to hold: a condition on what others may have written since the decision).
#[derive(Clone, Debug)]
pub(super) struct Step {
    pub(super) query: Query,
    pub(super) kind: StepKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StepKind {
    Write,
    Guard,
    Check,
}

/// Writes that hold together or not at all: a decision's (its guards check that what it was
/// made on still stands), or a send's records. Each store runs a plan its own way (SQLite as
/// one text, PostgreSQL statement by statement); the caller undoes it when a guard fails.
#[derive(Clone, Debug, Default)]
pub(super) struct Plan {
    steps: Vec<Step>,
    /// The limit subjects its checks read: `Backend::write` locks them before the checks where
    /// the database needs it (`Backend::lock_subjects`).
    locks: Option<Locks>,
}

/// Limit subjects of one tenant to lock where a plan's checks begin, and when (PostgreSQL notes
/// it, to forget locks unused for a day).
#[derive(Clone, Debug)]
pub(super) struct Locks {
    pub(super) tenant_id: i64,
    pub(super) subjects: Vec<Subject>,
    pub(super) now: i64,
    /// How many steps run before the lock is taken: the writes that no check reads (a send's
    /// rows) run before it, so that the lock is held only by the checks and what they guard.
    pub(super) after_steps: usize,
}

impl Plan {
    pub(super) fn new() -> Plan {
        Plan::default()
    }

    /// Appends a plain write.
    pub(super) fn push(&mut self, query: Query) -> &mut Plan {
        self.steps.push(Step {
            query,
            kind: StepKind::Write,
        });
        self
    }

    /// Appends a conditional write that must change a row for the plan to hold.
    pub(super) fn guard(&mut self, query: Query) -> &mut Plan {
        self.steps.push(Step {
            query,
            kind: StepKind::Guard,
        });
        self
    }

    /// Appends a `SELECT` that must answer a row for the plan to hold (it writes nothing).
    pub(super) fn check(&mut self, query: Query) -> &mut Plan {
        self.steps.push(Step {
            query,
            kind: StepKind::Check,
        });
        self
    }

    /// Names limit subjects of `tenant_id` that the checks appended next read, so that two
    /// plans counting one subject are written one after the other (on PostgreSQL, whose
    /// concurrent transactions would otherwise each check before the other's write). One plan
    /// locks at one place: later subjects join the first call's.
    pub(super) fn lock(&mut self, tenant_id: i64, subjects: Vec<Subject>, now: i64) -> &mut Plan {
        match &mut self.locks {
            Some(locks) => locks.subjects.extend(subjects),
            None => {
                self.locks = Some(Locks {
                    tenant_id,
                    subjects,
                    now,
                    after_steps: self.steps.len(),
                })
            }
        }
        self
    }

    pub(super) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The plan in three: the steps before the lock, the subjects to lock, the steps after.
    pub(super) fn split_at_lock(self) -> (Plan, Option<Locks>, Plan) {
        let at = self.locks.as_ref().map_or(0, |locks| locks.after_steps);
        let mut before = self.steps;
        let after = before.split_off(at);
        let part = |steps| Plan { steps, locks: None };
        (part(before), self.locks, part(after))
    }

    pub(super) fn into_steps(self) -> Vec<Step> {
        self.steps
    }
}

/// What a row type must be to be read from both databases (sqlx's `FromRow` derive gives it).
pub(super) trait Row:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + Send
    + Unpin
{
}

impl<T> Row for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
{
}

/// A database connection that runs the shared statements (SQLite's and PostgreSQL's).
#[async_trait]
pub(super) trait Connection: Send {
    /// Runs a statement; the rows it changed.
    async fn execute(&mut self, query: Query) -> StoreResult<u64>;

    async fn fetch_all<R: Row>(&mut self, query: Query) -> StoreResult<Vec<R>>;

    async fn fetch_optional<R: Row>(&mut self, query: Query) -> StoreResult<Option<R>>;

    /// Runs a plan inside the caller's transaction: whether every guard held. When one did not
    /// (or the plan failed), some of its writes may be done: the caller rolls back.
    async fn run(&mut self, plan: Plan) -> StoreResult<bool>;

    /// A statement that answers one row.
    async fn fetch_one<R: Row>(&mut self, query: Query) -> StoreResult<R> {
        self.fetch_optional(query).await?.ok_or_else(|| {
            StoreError::Corrupt("a statement that answers one row answered none".into())
        })
    }

    /// The single value of a statement's one row, if it answered one.
    async fn fetch_value<T>(&mut self, query: Query) -> StoreResult<Option<T>>
    where
        (T,): Row,
        T: Send,
    {
        Ok(self
            .fetch_optional::<(T,)>(query)
            .await?
            .map(|(value,)| value))
    }
}

/// A subject a transaction counts under the limits: its scope and its key.
pub(super) type Subject = (&'static str, Vec<u8>);

/// Which rows the purge deletes in batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expiring {
    /// Sessions expired before the cut-off (their channels, messages and outbox rows go with
    /// them).
    Sessions,
    /// Single-SMS requests expired before the cut-off.
    Requests,
    /// Idempotency records created before the cut-off.
    IdempotencyKeys,
    /// Audit entries older than their retention.
    AuditEntries,
    /// Webhook deliveries older than their retention (their attempts go with them).
    WebhookDeliveries,
    /// Twilio-door verifications expired before the cut-off (their send attempts go with them).
    TwilioVerifications,
}

impl Expiring {
    pub(super) fn table(self) -> &'static str {
        match self {
            Expiring::Sessions => "sessions",
            Expiring::Requests => "sms_requests",
            Expiring::IdempotencyKeys => "idempotency_keys",
            Expiring::AuditEntries => "audit_log",
            Expiring::WebhookDeliveries => "webhook_deliveries",
            Expiring::TwilioVerifications => "twilio_verifications",
        }
    }

    /// The column compared with the cut-off.
    pub(super) fn column(self) -> &'static str {
        match self {
            Expiring::Sessions | Expiring::Requests | Expiring::TwilioVerifications => "expires_at",
            Expiring::IdempotencyKeys => "created_at",
            Expiring::AuditEntries => "at",
            Expiring::WebhookDeliveries => "created_at",
        }
    }
}

/// How a store reads, writes, locks and batches: what the shared flows need of a database
/// beyond running statements. Two implementations, `SqliteStore` and `PgStore`; every public
/// store trait is implemented once over this one (see the table in `store/mod.rs` for what each
/// does differently, and why).
#[async_trait]
pub(super) trait Backend: Send + Sync + 'static {
    type Conn: Connection;
    /// A connection for reads outside any write transaction.
    type Reader: DerefMut<Target = Self::Conn> + Send;
    /// A write transaction; dropped without [`Backend::commit`], it rolls back.
    type Writer: DerefMut<Target = Self::Conn> + Send;

    /// What a `SELECT` appends to lock the rows it reads until the transaction ends
    /// (PostgreSQL's ` FOR UPDATE`; nothing on SQLite, whose write transaction holds the
    /// database's write lock from its start).
    const LOCK_ROWS: &'static str;

    /// What a `SELECT` inside a claim appends so that concurrent claims skip each other's rows
    /// instead of waiting (PostgreSQL's ` FOR UPDATE SKIP LOCKED`; nothing on SQLite, whose
    /// claims run one at a time).
    const SKIP_LOCKED: &'static str;

    async fn reader(&self) -> StoreResult<Self::Reader>;

    /// Begins a write transaction. SQLite takes its write lock here (`BEGIN IMMEDIATE`), so a
    /// read inside the transaction never goes stale before the write that depends on it.
    async fn begin(&self) -> StoreResult<Self::Writer>;

    async fn commit(writer: Self::Writer) -> StoreResult<()>;

    /// Writes `plan` in a transaction of its own if every guard holds, otherwise nothing;
    /// whether it held. SQLite groups such plans from concurrent calls into one transaction.
    async fn write(&self, plan: Plan) -> StoreResult<bool>;

    /// Locks the limit subjects a transaction is about to count and record, until it ends, so
    /// that concurrent transactions (also of other processes) count them one after the other.
    /// SQLite's write lock already serialises them: nothing to do there.
    async fn lock_subjects(
        conn: &mut Self::Conn,
        tenant_id: i64,
        subjects: Vec<Subject>,
        now: i64,
    ) -> StoreResult<()>;

    /// Gives back to the queue the messages whose worker's lease ran out by `now`.
    async fn release_lapsed_leases(conn: &mut Self::Conn, now: i64) -> StoreResult<()>;

    /// Leases up to `limit` queued messages due by `now` to this worker until
    /// `now + lease_secs`, in the order they fell due, each with what sending it needs.
    async fn lease_due(
        conn: &mut Self::Conn,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<ClaimedRow>>;

    /// Deletes the `what` rows older than `before`, in batches short enough that the other
    /// writers are not held up; how many.
    async fn delete_expired(&self, what: Expiring, before: i64) -> StoreResult<u64>;

    /// Forgets what only this store keeps for its own locking (PostgreSQL's `limit_locks`
    /// rows untouched for a day).
    async fn forget_idle_locks(conn: &mut Self::Conn, now: i64) -> StoreResult<()>;

    /// Whether the database takes writes now (SQLite: its write lock is obtained within the
    /// busy timeout; PostgreSQL: the server is not a read-only standby).
    async fn takes_writes(&self) -> StoreResult<bool>;

    /// The newest migration this binary knows.
    fn known_migration(&self) -> i64;

    /// The connection pools, now.
    fn pool_figures(&self) -> Vec<super::PoolFigure>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_as_they_are_pushed() {
        let query = Query::text("SELECT 1 FROM t WHERE 1 = 1".into())
            .push(" AND a = ")
            .push_bind(7)
            .push(" AND b = ")
            .push_bind("x");
        assert_eq!(
            query.sql(),
            "SELECT 1 FROM t WHERE 1 = 1 AND a = $1 AND b = $2"
        );
        assert_eq!(
            query.args(),
            [Arg::Int(Some(7)), Arg::Text(Some("x".into()))]
        );
    }
}
