//! Where a test app stores: a SQLite file in its own directory, or, when
//! `OTPGATE_TEST_POSTGRES_URL` names a PostgreSQL server (`scripts/test` starts one with
//! `pg_virtualenv`), a schema of its own on that server, so tests running at once never share
//! a table. The same tests then check both stores.

use std::path::Path;

use sqlx::Connection;

/// The variable naming the PostgreSQL server the suites also run against.
pub const POSTGRES_VARIABLE: &str = "OTPGATE_TEST_POSTGRES_URL";

/// Whether this run stores in PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var_os(POSTGRES_VARIABLE).is_some()
}

/// A database URL for a new test app whose data directory is `dir`.
pub async fn fresh_database_url(dir: &Path) -> String {
    let Ok(server) = std::env::var(POSTGRES_VARIABLE) else {
        return format!("sqlite://{}", dir.join("otpgate.db").display());
    };
    let schema = format!("t{}", hex::encode(rand::random::<[u8; 8]>()));
    let mut admin = sqlx::PgConnection::connect(&server)
        .await
        .expect("the PostgreSQL server of OTPGATE_TEST_POSTGRES_URL");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("a schema for the test");
    let mut url = url::Url::parse(&server).expect("a URL");
    url.query_pairs_mut()
        .append_pair("options", &format!("-c search_path={schema}"));
    url.to_string()
}

/// A direct connection to a test app's database, for checking what is stored. Queries must be
/// valid on both stores: `$1` parameters, `CAST(… AS BIGINT)` for sums.
pub async fn connect(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url)
        .await
        .expect("the test database")
}
