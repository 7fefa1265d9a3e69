//! Several SQL statements sent to SQLite as one text with their arguments in order. sqlx runs
//! each query on the connection's own thread, and every hand-off to that thread costs more than
//! a small statement itself; a plan's writes sent together cost one hand-off.
//!
//! The shared statements number their placeholders (`$1`, `$2`, …) from the start of each
//! statement, which would collide once several are joined; a batch turns each into a
//! positional `?` with its argument copied into place, so joined statements (and joined
//! batches, in `group_commit`) bind in order. A guard ends in `RETURNING 1`: it returns its
//! row only when its condition held. The writes hold only if every guard returned its row;
//! otherwise the caller undoes them (drops the transaction or rolls back to a savepoint).

use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, SqliteConnection};

use crate::server::store::StoreResult;
use crate::server::store::sql::{Arg, Plan, Query, StepKind};

/// Statements to run together, their arguments in order, and how many guards they hold.
#[derive(Debug, Default)]
pub(super) struct Batch {
    sql: String,
    values: Vec<Arg>,
    guards: usize,
}

impl From<Plan> for Batch {
    fn from(plan: Plan) -> Batch {
        let mut batch = Batch::default();
        for step in plan.into_steps() {
            batch.push(&step.query, step.kind);
        }
        batch
    }
}

impl Batch {
    pub(super) fn new() -> Batch {
        Batch::default()
    }

    /// Appends a statement (without its `;`). A guard returns its row when its condition held;
    /// a check (a `SELECT`) answers a row when its condition holds.
    pub(super) fn push(&mut self, query: &Query, kind: StepKind) -> &mut Batch {
        positional(query.sql(), query.args(), &mut self.sql, &mut self.values);
        match kind {
            StepKind::Write => {}
            StepKind::Guard => {
                self.guards += 1;
                self.sql.push_str(" RETURNING 1");
            }
            StepKind::Check => self.guards += 1,
        }
        self.sql.push_str(";\n");
        self
    }

    /// Appends a statement without arguments (transaction control, savepoints).
    pub(super) fn push_text(&mut self, sql: &str) -> &mut Batch {
        self.sql.push_str(sql);
        self.sql.push_str(";\n");
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
        let returned = sqlx::query_with(&self.sql, arguments(self.values))
            .fetch_all(&mut *conn)
            .await?;
        Ok(returned.len() == self.guards)
    }

    /// Appends a copy of `other`'s statements, arguments and guards.
    pub(super) fn append(&mut self, other: &Batch) -> &mut Batch {
        self.sql.push_str(&other.sql);
        self.values.extend(other.values.iter().cloned());
        self.guards += other.guards;
        self
    }

    /// The same statements preceded by `SAVEPOINT name`, so that they can be undone alone.
    pub(super) fn in_savepoint(mut self, name: &str) -> Batch {
        self.sql = format!("SAVEPOINT {name};\n{}", self.sql);
        self
    }
}

/// SQLite's arguments for `values`, in order. Encoding into them only stores the value: it
/// cannot fail for integers, texts and blobs.
pub(super) fn arguments<'q>(values: Vec<Arg>) -> SqliteArguments<'q> {
    let mut args = SqliteArguments::default();
    for value in values {
        let added = match value {
            Arg::Int(value) => args.add(value),
            Arg::Text(value) => args.add(value),
            Arg::Blob(value) => args.add(value),
        };
        added.expect("SQLite arguments take integers, texts and blobs");
    }
    args
}

/// Appends `sql` to `out` with each `$N` outside a quoted literal turned into `?`, and
/// `args[N - 1]` appended to `values` in its place.
fn positional(sql: &str, args: &[Arg], out: &mut String, values: &mut Vec<Arg>) {
    let bytes = sql.as_bytes();
    let mut quoted = false;
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'\'' => quoted = !quoted,
            b'$' if !quoted => {
                let digits = bytes[at + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits > 0 {
                    let number: usize = sql[at + 1..at + 1 + digits]
                        .parse()
                        .expect("a run of ASCII digits is a number");
                    let value = args
                        .get(number.wrapping_sub(1))
                        .unwrap_or_else(|| panic!("`${number}` has no argument in: {sql}"));
                    out.push_str(&sql[copied..at]);
                    out.push('?');
                    values.push(value.clone());
                    at += 1 + digits;
                    copied = at;
                    continue;
                }
            }
            _ => {}
        }
        at += 1;
    }
    out.push_str(&sql[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_become_positional_with_their_arguments_in_place() {
        let query = Query::new("UPDATE t SET a = $2, b = $1, c = '$1' WHERE id = $2")
            .bind(10)
            .bind("x");
        let mut batch = Batch::new();
        batch.push(&query, StepKind::Guard).push(
            &Query::new("DELETE FROM u WHERE v = $1").bind(3),
            StepKind::Write,
        );
        assert_eq!(
            batch.sql,
            "UPDATE t SET a = ?, b = ?, c = '$1' WHERE id = ? RETURNING 1;\nDELETE FROM u WHERE v = ?;\n"
        );
        assert_eq!(
            batch.values,
            [
                Arg::Text(Some("x".into())),
                Arg::Int(Some(10)),
                Arg::Text(Some("x".into())),
                Arg::Int(Some(3)),
            ]
        );
        assert_eq!(batch.guards, 1);
    }
}
