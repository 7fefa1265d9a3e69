//! Nothing acknowledged is lost: the real binary, in production with an SMTP provider that is
//! not there yet, acknowledges a send and is killed with SIGKILL before it could deliver; once
//! the SMTP server is up and otpgate restarted, the mail arrives, and its code verifies.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::servers::{SMTP_PASSWORD, SMTP_USER, SmtpSink};
use serde_json::{Value, json};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

struct Otpgate {
    dir: std::path::PathBuf,
    port: u16,
    smtp_port: u16,
    ca_file: String,
}

impl Otpgate {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_otpgate"));
        command
            .args(args)
            .env("OTPGATE_MODE", "production")
            .env(
                "OTPGATE_SECRET",
                "0123456789abcdef0123456789abcdef-crash-test",
            )
            .env("OTPGATE_DATA_DIR", &self.dir)
            .env("OTPGATE_CONFIG", self.dir.join("none.toml"))
            .env("OTPGATE_ADDR", format!("127.0.0.1:{}", self.port))
            .env(
                "OTPGATE_SMTP_URL",
                format!(
                    "smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{}",
                    self.smtp_port
                ),
            )
            .env("OTPGATE_SMTP_FROM", "Acme <codes@acme.test>")
            .env("OTPGATE_SMTP_CA_FILE", &self.ca_file)
            .env("RUST_LOG", "warn")
            .env_remove("OTPGATE_DATABASE_URL");
        command
    }

    fn cli(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("otpgate");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    async fn serve(&self) -> Child {
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

    async fn post(&self, path: &str, key: &str, body: Value) -> Value {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}{path}", self.port))
            .header("x-api-key", key)
            .json(&body)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON")
    }
}

fn sigkill(child: &mut Child) {
    // Child::kill sends SIGKILL: no shutdown, no flush, nothing but what was committed.
    child.kill().expect("kill");
    child.wait().expect("reap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_acknowledged_before_a_kill_is_delivered_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let smtp_state = tempfile::tempdir().unwrap();
    let ca_file = SmtpSink::make_ca(smtp_state.path());
    let otpgate = Otpgate {
        dir: data.path().to_owned(),
        port: free_port(),
        smtp_port: free_port(),
        ca_file,
    };
    otpgate.cli(&["tenant", "create", "Acme"]);
    let key = otpgate.cli(&["key", "create", "--tenant", "Acme"]);
    let key = key.lines().last().unwrap().trim().to_owned();

    let mut server = otpgate.serve().await;
    let sent = otpgate
        .post(
            "/api/v1/otp/send",
            &key,
            json!({"channels": ["email"], "recipients": {"email": "survivor@example.com"}}),
        )
        .await;
    let token = sent["session_token"]
        .as_str()
        .expect("acknowledged")
        .to_owned();
    assert_eq!(sent["deliveries"]["email"]["status"], "queued");
    sigkill(&mut server);

    let port = otpgate.smtp_port.to_string();
    let sink = SmtpSink::start_in(smtp_state, &["--smtp-port", &port]);
    assert!(Path::new(&otpgate.ca_file).exists());
    let mut server = otpgate.serve().await;
    // A try cut short by the kill holds its lease for up to a minute before it is retried.
    let mail = sink
        .wait_for("survivor@example.com", 0, 90)
        .await
        .expect("the acknowledged message is delivered after the restart");
    let code: String = mail["subject"]
        .as_str()
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let verified = otpgate
        .post(
            "/api/v1/otp/verify",
            &key,
            json!({"session_token": token, "otps": {"email": code}}),
        )
        .await;
    assert_eq!(verified["verified"], true, "{verified}");
    let status = otpgate
        .post("/api/v1/otp/status", &key, json!({"session_token": token}))
        .await;
    assert_eq!(status["deliveries"]["email"]["status"], "sent");
    assert_eq!(sink.messages().await.len(), 1, "delivered once");
    sigkill(&mut server);
}
