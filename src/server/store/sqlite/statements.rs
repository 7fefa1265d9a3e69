//! Several SQL statements sent to SQLite as one text with their arguments in order. sqlx runs
//! each query on the connection's own thread, and every hand-off to that thread costs more than
//! a small statement itself; a decision's writes sent together cost one hand-off.
//!
//! A guarded statement is a conditional write ending in `RETURNING 1`: it returns its row only
//! when its condition held. The writes hold only if every guard returned its row; otherwise
//! the caller undoes them (drops the transaction or rolls back to a savepoint).

use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Encode, Sqlite, SqliteConnection, Type};

use crate::server::store::StoreResult;

/// Statements to run together, their arguments and how many guards they hold.
#[derive(Default)]
pub(super) struct Statements {
    sql: String,
    args: SqliteArguments<'static>,
    guards: usize,
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
    pub(super) fn bind<T>(&mut self, value: T) -> &mut Statements
    where
        T: Encode<'static, Sqlite> + Type<Sqlite> + 'static,
    {
        // Encoding into SQLite's arguments only stores the value; it cannot fail for the
        // integers, texts and blobs bound here.
        self.args
            .add(value)
            .expect("SQLite arguments take integers, texts and blobs");
        self
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    /// Runs the statements on `conn`, inside the caller's transaction; whether every guard held.
    pub(super) async fn run(self, conn: &mut SqliteConnection) -> StoreResult<bool> {
        if self.sql.is_empty() {
            return Ok(true);
        }
        let returned = sqlx::query_with(&self.sql, self.args)
            .fetch_all(&mut *conn)
            .await?;
        Ok(returned.len() == self.guards)
    }

    /// The same statements preceded by `SAVEPOINT name`, so that they can be undone alone.
    pub(super) fn in_savepoint(mut self, name: &str) -> Statements {
        self.sql = format!("SAVEPOINT {name};\n{}", self.sql);
        self
    }
}
