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
