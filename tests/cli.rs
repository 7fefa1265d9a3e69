//! The `otpgate` binary's commands, run as a user would, against a fresh data directory.

use std::path::Path;
use std::process::{Command, Output};

fn otpgate(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otpgate"))
        .args(args)
        .env("OTPGATE_DATA_DIR", data_dir)
        .env("OTPGATE_CONFIG", data_dir.join("no-such-settings.toml"))
        .env_remove("OTPGATE_SECRET")
        .env_remove("OTPGATE_MODE")
        .env_remove("OTPGATE_DATABASE_URL")
        .output()
        .expect("run otpgate")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn tenants_and_keys_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let created = otpgate(
        dir.path(),
        &[
            "tenant",
            "create",
            "Acme",
            "--origin",
            "https://app.acme.test",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let duplicate = otpgate(dir.path(), &["tenant", "create", "Acme"]);
    assert!(!duplicate.status.success());
    assert!(
        stderr(&duplicate).contains("already exists"),
        "{}",
        stderr(&duplicate)
    );

    let key = otpgate(dir.path(), &["key", "create", "--tenant", "Acme", "--test"]);
    assert!(key.status.success(), "{}", stderr(&key));
    let out = stdout(&key);
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("sk_test_") && last.len() == 40,
        "the key alone on the last line: {out:?}"
    );
    let live = stdout(&otpgate(dir.path(), &["key", "create", "--tenant", "Acme"]));
    let live_key = live.lines().last().unwrap().to_owned();
    assert!(live_key.starts_with("sk_live_"));
    let unknown = otpgate(dir.path(), &["key", "create", "--tenant", "Nobody"]);
    assert!(!unknown.status.success());

    let list = stdout(&otpgate(dir.path(), &["tenant", "list"]));
    assert!(list.contains("Acme"), "{list}");
    assert!(list.contains("origin https://app.acme.test"), "{list}");
    assert!(
        list.contains(&format!("key {}… test active", &last[..16])),
        "{list}"
    );
    assert!(!list.contains(last), "the full key is never shown again");

    let revoked = otpgate(dir.path(), &["key", "revoke", &live_key[..16]]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let list = stdout(&otpgate(dir.path(), &["tenant", "list"]));
    assert!(
        list.contains(&format!("key {}… live revoked", &live_key[..16])),
        "{list}"
    );
    let again = otpgate(dir.path(), &["key", "revoke", &live_key[..16]]);
    assert!(!again.status.success());

    let purge = otpgate(dir.path(), &["purge"]);
    assert!(purge.status.success());
    assert!(
        stdout(&purge).starts_with("purged 0 sessions"),
        "{}",
        stdout(&purge)
    );
}

#[test]
fn bad_origins_and_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = otpgate(
        dir.path(),
        &[
            "tenant",
            "create",
            "Acme",
            "--origin",
            "https://acme.test/path",
        ],
    );
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("not an origin"), "{}", stderr(&bad));
    assert!(
        !otpgate(dir.path(), &["tenant", "create", ""])
            .status
            .success()
    );
}

#[test]
fn production_refuses_to_start_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_otpgate"))
        .arg("serve")
        .env("OTPGATE_DATA_DIR", dir.path())
        .env("OTPGATE_CONFIG", dir.path().join("none.toml"))
        .env("OTPGATE_MODE", "production")
        .env("OTPGATE_ADDR", "127.0.0.1:0")
        .env_remove("OTPGATE_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("OTPGATE_SECRET"),
        "{}",
        stderr(&output)
    );
    assert!(
        !dir.path().join("secret").exists(),
        "no secret is generated in production"
    );
}

#[test]
fn short_secrets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_otpgate"))
        .arg("serve")
        .env("OTPGATE_DATA_DIR", dir.path())
        .env("OTPGATE_CONFIG", dir.path().join("none.toml"))
        .env("OTPGATE_SECRET", "too-short")
        .env("OTPGATE_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("at least 32 bytes"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn invalid_settings_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_otpgate"))
        .args(["tenant", "list"])
        .env("OTPGATE_DATA_DIR", dir.path())
        .env("OTPGATE_CONFIG", dir.path().join("none.toml"))
        .env("OTPGATE_MODE", "staging")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("invalid settings"),
        "{}",
        stderr(&output)
    );
}
