//! Several SQL statements sent to SQLite as one text with their arguments in order. sqlx runs
//! each query on the connection's own thread, and every hand-off to that thread costs more than
//! a small statement itself; a decision's writes sent together cost one hand-off.
//!
//! A guarded statement is a conditional write ending in `RETURNING 1`: it returns its row only
//! when its condition held. The writes hold only if every guard returned its row; otherwise
//! the caller undoes them (drops the transaction or rolls back to a savepoint).

use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, SqliteConnection};

use crate::server::store::StoreResult;

/// Statements to run together, their arguments and how many guards they hold.
#[derive(Default)]
pub(super) struct Statements {
    sql: String,
    values: Vec<Value>,
    guards: usize,
}

/// A bound value, kept until the statements run (and copied when they are joined to others).
#[derive(Clone)]
pub(super) enum Value {
    Integer(Option<i64>),
    Text(Option<&'static str>),
    Blob(Option<Vec<u8>>),
}

impl From<i64> for Value {
    fn from(value: i64) -> Value {
        Value::Integer(Some(value))
    }
}

impl From<Option<i64>> for Value {
    fn from(value: Option<i64>) -> Value {
        Value::Integer(value)
    }
}

impl From<&'static str> for Value {
    fn from(value: &'static str) -> Value {
        Value::Text(Some(value))
    }
}

impl From<Option<&'static str>> for Value {
    fn from(value: Option<&'static str>) -> Value {
        Value::Text(value)
    }
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Value {
        Value::Blob(Some(value))
    }
}

impl From<Option<Vec<u8>>> for Value {
    fn from(value: Option<Vec<u8>>) -> Value {
        Value::Blob(value)
    }
}

impl Statements {
    pub(super) fn new() -> Statements {
        Statements::default()
    }

    /// Appends a statement (without its `;`); its `?` take the next bound values.
    pub(super) fn push(&mut self, sql: &str) -> &mut Statements {
        self.sql.push_str(sql);
        self.sql.push_str(";\n");
        self
    }

    /// Appends a conditional write that must change its row for the whole to hold.
    pub(super) fn guard(&mut self, sql: &str) -> &mut Statements {
        self.guards += 1;
        self.sql.push_str(sql);
        self.sql.push_str(" RETURNING 1;\n");
        self
    }

    /// Binds the next `?`.
    pub(super) fn bind(&mut self, value: impl Into<Value>) -> &mut Statements {
        self.values.push(value.into());
        self
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    /// Runs the statements on `conn`, inside the caller's transaction; whether every guard held.
    /// The connection keeps them prepared (its cache holds the 100 texts used last), so a
    /// text that comes back often is parsed once.
    pub(super) async fn run(self, conn: &mut SqliteConnection) -> StoreResult<bool> {
        if self.sql.is_empty() {
            return Ok(true);
        }
        let mut args = SqliteArguments::default();
        for value in self.values {
            // Encoding into SQLite's arguments only stores the value: it cannot fail for
            // integers, texts and blobs.
            let added = match value {
                Value::Integer(value) => args.add(value),
                Value::Text(value) => args.add(value),
                Value::Blob(value) => args.add(value),
            };
            added.expect("SQLite arguments take integers, texts and blobs");
        }
        let returned = sqlx::query_with(&self.sql, args)
            .fetch_all(&mut *conn)
            .await?;
        Ok(returned.len() == self.guards)
    }

    /// Appends a copy of `other`'s statements, arguments and guards.
    pub(super) fn append(&mut self, other: &Statements) -> &mut Statements {
        self.sql.push_str(&other.sql);
        self.values.extend(other.values.iter().cloned());
        self.guards += other.guards;
        self
    }

    /// The same statements preceded by `SAVEPOINT name`, so that they can be undone alone.
    pub(super) fn in_savepoint(mut self, name: &str) -> Statements {
        self.sql = format!("SAVEPOINT {name};\n{}", self.sql);
        self
    }
}
