//! Real servers for the delivery tests, started by the project's own scripts: the aiosmtpd SMTP
//! sink (`scripts/smtp-server`, STARTTLS, AUTH, a read API) and Kannel with its fake SMSC
//! (`scripts/sms-gateway`). Each is stopped when its handle is dropped. `scripts/setup`
//! installs both; a missing one fails the test, it is never skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_script(script: &str, args: &[&str]) -> Value {
    let output = Command::new(root().join(script))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(
        output.status.success(),
        "{script} {args:?} failed (run scripts/setup first):\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("{}");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {text}"))
}

/// The SMTP sink, with the ports it listens on.
pub struct SmtpSink {
    dir: tempfile::TempDir,
    pub smtp: u16,
    pub smtps: u16,
    pub plain: u16,
    pub http: u16,
}

pub const SMTP_USER: &str = "otpgate";
pub const SMTP_PASSWORD: &str = "s3cret-smtp-password";

impl SmtpSink {
    /// Starts it with AUTH and STARTTLS required; `extra` adds options (`--fail-rcpt`, fixed
    /// ports).
    pub fn start(extra: &[&str]) -> SmtpSink {
        SmtpSink::start_in(tempfile::tempdir().expect("state dir"), extra)
    }

    /// Makes the test CA in `dir` without starting anything, so a client can be configured
    /// with it before the server exists; `start_in` the same directory reuses it.
    pub fn make_ca(dir: &Path) -> String {
        let output = Command::new(root().join("tests/servers/make-test-ca"))
            .arg(dir)
            .output()
            .expect("make-test-ca");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir.join("ca.pem").to_string_lossy().into_owned()
    }

    /// Starts it with its state (and CA) in `dir`.
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> SmtpSink {
        let state = dir.path().to_str().expect("utf-8 path").to_owned();
        let mut args = vec![
            "start",
            state.as_str(),
            "--user",
            SMTP_USER,
            "--password",
            SMTP_PASSWORD,
            "--require-starttls",
        ];
        args.extend_from_slice(extra);
        let ports = run_script("scripts/smtp-server", &args);
        let port = |name: &str| {
            ports[name]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: {ports}")) as u16
        };
        SmtpSink {
            smtp: port("smtp"),
            smtps: port("smtps"),
            plain: port("plain"),
            http: port("http"),
            dir,
        }
    }

    /// The test CA that signed the sink's certificate (for `OTPGATE_SMTP_CA_FILE`).
    pub fn ca_file(&self) -> String {
        self.dir
            .path()
            .join("ca.pem")
            .to_string_lossy()
            .into_owned()
    }

    /// `smtp://user:password@127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{}", self.smtp)
    }

    /// Every mail received, newest first.
    pub async fn messages(&self) -> Vec<Value> {
        reqwest::get(format!("http://127.0.0.1:{}/messages", self.http))
            .await
            .expect("sink API")
            .json()
            .await
            .expect("JSON")
    }

    /// Waits (up to `seconds`) for a mail to `to` newer than `after`; `None` on timeout.
    pub async fn wait_for(&self, to: &str, after: u64, seconds: u64) -> Option<Value> {
        let response = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}/messages/wait", self.http))
            .query(&[
                ("to", to),
                ("after", &after.to_string()),
                ("timeout", &seconds.to_string()),
            ])
            .timeout(Duration::from_secs(seconds + 5))
            .send()
            .await
            .expect("sink API");
        if response.status().is_success() {
            Some(response.json().await.expect("JSON"))
        } else {
            None
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let state = self.dir.path().to_string_lossy().into_owned();
        let _ = Command::new(root().join("scripts/smtp-server"))
            .args(["stop", &state])
            .output();
    }
}

/// Kannel (bearerbox, smsbox, fakesmsc) as a real SMS gateway.
pub struct Kannel {
    dir: tempfile::TempDir,
    pub sendsms_url: String,
    pub username: String,
    pub password: String,
    /// What the fake SMSC (the "phone network") received, one line per message.
    pub fakesmsc_log: PathBuf,
}

impl Kannel {
    pub fn start() -> Kannel {
        let dir = tempfile::tempdir().expect("state dir");
        let state = dir.path().to_str().expect("utf-8 path").to_owned();
        let info = run_script("scripts/sms-gateway", &["start", &state]);
        let text = |name: &str| {
            info[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {info}"))
                .to_owned()
        };
        Kannel {
            sendsms_url: text("sendsms_url"),
            username: text("username"),
            password: text("password"),
            fakesmsc_log: PathBuf::from(text("fakesmsc_log")),
            dir,
        }
    }

    /// What the fake SMSC received so far.
    pub fn received(&self) -> String {
        std::fs::read_to_string(&self.fakesmsc_log).unwrap_or_default()
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        let state = self.dir.path().to_string_lossy().into_owned();
        let _ = Command::new(root().join("scripts/sms-gateway"))
            .args(["stop", &state])
            .output();
    }
}

/// The webhook receiver (`tests/servers/webhook_receiver.py`): a real HTTP server that judges
/// every delivery with the official Standard Webhooks library (`standardwebhooks` from PyPI,
/// which `scripts/setup` installs in `tools/venv`) and records it. What it received survives a
/// restart on the same port (its log file is kept).
pub struct WebhookReceiver {
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    client: reqwest::Client,
}

impl WebhookReceiver {
    pub fn start() -> WebhookReceiver {
        let mut receiver = WebhookReceiver {
            child: None,
            dir: tempfile::tempdir().expect("receiver dir"),
            port: super::binary::free_port(),
            client: reqwest::Client::new(),
        };
        receiver.up();
        receiver
    }

    /// Starts it (again) on its port, with its log.
    pub fn up(&mut self) {
        assert!(self.child.is_none(), "the receiver is running");
        let python = root().join("tools/venv/bin/python");
        let log = self.dir.path().join("received.jsonl");
        let child = Command::new(&python)
            .arg(root().join("tests/servers/webhook_receiver.py"))
            .args(["--port", &self.port.to_string()])
            .arg("--log")
            .arg(&log)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {} (run scripts/setup): {e}", python.display())
            });
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the webhook receiver did not start");
    }

    /// Stops it: deliveries meet a refused connection until `up`.
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The secrets it verifies signatures with (each delivery records which verified it).
    pub async fn set_secrets(&self, secrets: &[&str]) {
        self.control("secrets", serde_json::json!({ "secrets": secrets }))
            .await;
    }

    /// How it answers from now on: a status, a `Retry-After`, a delay in seconds.
    pub async fn answer(&self, status: u16, retry_after: Option<&str>, delay: f64) {
        self.control(
            "answer",
            serde_json::json!({"status": status, "retry_after": retry_after, "delay": delay}),
        )
        .await;
    }

    async fn control(&self, what: &str, body: Value) {
        let answer = self
            .client
            .put(self.url(&format!("/_control/{what}")))
            .json(&body)
            .send()
            .await
            .expect("receiver control");
        assert!(answer.status().is_success(), "receiver control {what}");
    }

    /// Every delivery recorded, oldest first.
    pub async fn received(&self) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.dir.path().join("received.jsonl")).unwrap_or_default();
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// Waits up to `seconds` until deliveries of at least `count` distinct `webhook-id`s were
    /// answered 2xx; every delivery recorded.
    pub async fn wait_for_distinct(&self, count: usize, seconds: u64) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let received = self.received().await;
            let ok: std::collections::BTreeSet<&str> = received
                .iter()
                .filter(|r| {
                    r["answered"]
                        .as_u64()
                        .is_some_and(|s| (200..300).contains(&s))
                })
                .filter_map(|r| r["id"].as_str())
                .collect();
            if ok.len() >= count || std::time::Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.down();
    }
}
