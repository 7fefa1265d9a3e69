//! The real `otpgate` binary as a server process on a loopback port, in production mode with a
//! test secret, on a data directory of the test's: for what only processes show (a kill, a
//! restart, two instances on one database).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// How to start the binary: its data directory, port and any further `OTPGATE_*` settings.
#[derive(Clone, Debug)]
pub struct Otpgate {
    pub dir: PathBuf,
    pub port: u16,
    pub env: Vec<(String, String)>,
}

impl Otpgate {
    /// On SQLite the database is a file in `dir`; on PostgreSQL (see `database.rs`) a schema
    /// of its own, named by `OTPGATE_DATABASE_URL`.
    pub async fn new(dir: PathBuf, env: &[(&str, String)]) -> Otpgate {
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        if super::database::on_postgres() {
            let url = super::database::fresh_database_url(&dir).await;
            env.push(("OTPGATE_DATABASE_URL".to_owned(), url));
        }
        Otpgate {
            dir,
            port: free_port(),
            env,
        }
    }

    /// Another instance on the same data directory and database, on a port of its own.
    pub fn another(&self) -> Otpgate {
        Otpgate {
            port: free_port(),
            ..self.clone()
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_otpgate"));
        command.args(args);
        self.configure(&mut command);
        command
    }

    /// Raises a tenant's limits as the suites do: `scripts/raise-limits`, run against this
    /// instance's database.
    pub fn raise_limits(&self, tenant: &str) {
        let mut command = Command::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/raise-limits"),
        );
        command.args([env!("CARGO_BIN_EXE_otpgate"), tenant]);
        self.configure(&mut command);
        let output = command.output().expect("scripts/raise-limits");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The settings every command of this instance runs with.
    fn configure(&self, command: &mut Command) {
        command
            .env("OTPGATE_MODE", "production")
            .env(
                "OTPGATE_SECRET",
                "0123456789abcdef0123456789abcdef-binary-test",
            )
            .env("OTPGATE_DATA_DIR", &self.dir)
            .env("OTPGATE_CONFIG", self.dir.join("none.toml"))
            .env("OTPGATE_ADDR", format!("127.0.0.1:{}", self.port))
            .env("RUST_LOG", "warn")
            .env_remove("OTPGATE_DATABASE_URL");
        for (key, value) in &self.env {
            command.env(key, value);
        }
    }

    /// Runs a command to its end; panics unless it succeeds; returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("otpgate");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Starts `serve` and waits until `/healthz` answers.
    pub async fn serve(&self) -> Child {
        let mut child = self
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve");
        for _ in 0..100 {
            if reqwest::get(format!("http://127.0.0.1:{}/healthz", self.port))
                .await
                .is_ok()
            {
                return child;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sigkill(&mut child);
        panic!("otpgate did not start");
    }

    /// POSTs JSON with `key`; the status and the JSON answer.
    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let answer = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}{path}", self.port))
            .header("x-api-key", key)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = answer.status().as_u16();
        (status, answer.json().await.expect("JSON"))
    }
}

impl Otpgate {
    /// GETs with `key`; the status and the JSON answer.
    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let answer = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .header("x-api-key", key)
            .send()
            .await
            .expect("request");
        let status = answer.status().as_u16();
        (status, answer.json().await.expect("JSON"))
    }
}

pub fn sigkill(child: &mut Child) {
    // Child::kill sends SIGKILL: no shutdown, no flush, nothing but what was committed.
    child.kill().expect("kill");
    child.wait().expect("reap");
}
