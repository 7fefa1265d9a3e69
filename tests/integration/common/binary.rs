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
            // Instances run side by side: each admin listener on a port of its own.
            .env("OTPGATE_ADMIN_ADDR", "127.0.0.1:0")
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
    /// Its log (warnings and errors) goes to `log_path()`, appended to across restarts.
    pub async fn serve(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("server log");
        let mut child = self
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("serve");
        for _ in 0..100 {
            if client()
                .get(format!("http://127.0.0.1:{}/healthz", self.port))
                .send()
                .await
                .is_ok()
            {
                return child;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sigkill(&mut child);
        panic!("otpgate did not start: {}", self.log_tail());
    }

    /// Where `serve` writes this instance's log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("otpgate-{}.log", self.port))
    }

    /// The last lines of this instance's log, for a failure's message.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("log of the instance on port {}:\n{tail}", self.port)
    }

    /// POSTs JSON with `key`; the status and the JSON answer.
    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let request = client()
            .post(format!("http://127.0.0.1:{}{path}", self.port))
            .header("x-api-key", key)
            .json(&body);
        self.answer(request).await
    }

    /// GETs with `key`; the status and the JSON answer.
    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let request = client()
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .header("x-api-key", key);
        self.answer(request).await
    }

    /// POSTs Twilio's form parameters to the Twilio-compatible door with an account SID and key.
    pub async fn twilio(
        &self,
        path: &str,
        account: (&str, &str),
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let request = client()
            .post(format!("http://127.0.0.1:{}{path}", self.port))
            .basic_auth(account.0, Some(account.1))
            .form(form);
        self.answer(request).await
    }

    /// Sends `request`; a request that gets no answer fails the test with the server's log.
    async fn answer(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(error) => panic!("request: {error}\n{}", self.log_tail()),
        };
        let status = answer.status().as_u16();
        match answer.json().await {
            Ok(json) => (status, json),
            Err(error) => panic!("{status} without JSON: {error}\n{}", self.log_tail()),
        }
    }
}

/// How long a test waits for any answer from a server process: far beyond what a request takes
/// even on a loaded machine, so that a server that stops answering fails the test (with its
/// log) instead of holding the whole suite until CI's time runs out.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP client for the test's requests to server processes.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(ANSWER_TIMEOUT)
        .build()
        .expect("HTTP client")
}

pub fn sigkill(child: &mut Child) {
    // Child::kill sends SIGKILL: no shutdown, no flush, nothing but what was committed.
    child.kill().expect("kill");
    child.wait().expect("reap");
}
