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
fn the_audit_log_is_printed_and_exported_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        otpgate(dir.path(), &["tenant", "create", "Acme"])
            .status
            .success()
    );
    let key = stdout(&otpgate(dir.path(), &["key", "create", "--tenant", "Acme"]));
    let key = key.lines().last().unwrap().to_owned();

    let table = otpgate(dir.path(), &["audit"]);
    assert!(table.status.success(), "{}", stderr(&table));
    let table = stdout(&table);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two entries: {table}");
    assert!(
        lines[1].contains("\tcli\tAcme\tkey.created\t"),
        "newest first: {table}"
    );
    assert!(
        lines[2].contains("\tcli\tAcme\ttenant.created\tAcme"),
        "{table}"
    );

    let exported = stdout(&otpgate(
        dir.path(),
        &[
            "audit",
            "--json",
            "--action",
            "key.created",
            "--since",
            "1h",
        ],
    ));
    let entries: Vec<serde_json::Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(entries.len(), 1, "{exported}");
    assert_eq!(entries[0]["action"], "key.created");
    assert_eq!(entries[0]["actor"]["type"], "cli");
    assert_eq!(entries[0]["tenant"], "Acme");
    assert_eq!(entries[0]["after"]["kind"], "live");
    assert!(
        !exported.contains(&key) && !table.contains(&key),
        "never the key"
    );
}

#[test]
fn admin_tokens_are_shown_once_listed_by_prefix_and_revoked_by_id() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        otpgate(dir.path(), &["tenant", "create", "Acme"])
            .status
            .success()
    );
    let created = otpgate(
        dir.path(),
        &[
            "admin-token",
            "create",
            "--scope",
            "read",
            "--tenant",
            "Acme",
            "--expires",
            "90d",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let out = stdout(&created);
    let token = out.lines().last().unwrap().to_owned();
    assert!(
        token.starts_with("at_") && token.len() == 35,
        "the token alone on the last line: {out:?}"
    );
    assert!(out.contains("read, tenant `Acme`, expires "), "{out}");
    let all = otpgate(dir.path(), &["admin-token", "create", "--scope", "write"]);
    assert!(
        stdout(&all).contains("write, every tenant, no expiry"),
        "{}",
        stdout(&all)
    );

    let list = stdout(&otpgate(dir.path(), &["admin-token", "list"]));
    assert!(
        list.contains(&format!("{}…\tread\tAcme", &token[..11])),
        "{list}"
    );
    assert!(list.contains("\twrite\t*\t"), "{list}");
    assert!(!list.contains(&token), "the token is never shown again");

    let id = list
        .lines()
        .find(|l| l.contains("\tread\t"))
        .and_then(|l| l.split('\t').next())
        .unwrap()
        .to_owned();
    let revoked = otpgate(dir.path(), &["admin-token", "revoke", &id]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let list = stdout(&otpgate(dir.path(), &["admin-token", "list"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with(&format!("{id}\t")) && l.ends_with("revoked")),
        "{list}"
    );
    let again = otpgate(dir.path(), &["admin-token", "revoke", &id]);
    assert!(stderr(&again).contains(&format!("no active admin token has the ID {id}")));

    for (args, says) in [
        (
            &["admin-token", "create", "--scope", "admin"][..],
            "--scope is `read` or `write`",
        ),
        (
            &[
                "admin-token",
                "create",
                "--scope",
                "read",
                "--expires",
                "0d",
            ][..],
            "--expires `0d`",
        ),
        (
            &[
                "admin-token",
                "create",
                "--scope",
                "read",
                "--tenant",
                "Nobody",
            ][..],
            "no tenant named `Nobody`",
        ),
    ] {
        let refused = otpgate(dir.path(), args);
        assert!(!refused.status.success());
        assert!(
            stderr(&refused).contains(says),
            "{args:?}: {}",
            stderr(&refused)
        );
    }
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
        .env("OTPGATE_ADMIN_ADDR", "127.0.0.1:0")
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
        .env("OTPGATE_ADMIN_ADDR", "127.0.0.1:0")
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

/// Starts `otpgate serve` on a free port with `env`, waits for its start-up lines on stderr,
/// stops it and returns them.
fn startup_log(dir: &Path, env: &[(&str, &str)]) -> String {
    use std::io::{BufRead, BufReader};
    let mut command = Command::new(env!("CARGO_BIN_EXE_otpgate"));
    command
        .arg("serve")
        .env("OTPGATE_DATA_DIR", dir)
        .env("OTPGATE_CONFIG", dir.join("none.toml"))
        .env("OTPGATE_ADDR", "127.0.0.1:0")
        .env("OTPGATE_ADMIN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("OTPGATE_MODE")
        .env_remove("OTPGATE_SECRET")
        .env_remove("OTPGATE_DATABASE_URL")
        .stderr(std::process::Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("spawn otpgate");
    let stderr = child.stderr.take().expect("stderr");
    let mut log = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("line");
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening on") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    log
}

const A_SECRET: &str = "0123456789abcdef0123456789abcdef-cli-test";

#[test]
fn the_binary_runs_in_production_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let log = startup_log(dir.path(), &[("OTPGATE_SECRET", A_SECRET)]);
    let line = log
        .lines()
        .find(|l| l.contains("listening on"))
        .unwrap_or_else(|| panic!("no start-up line in: {log}"));
    assert!(line.contains("in production mode"), "{line}");
    assert!(!log.contains("development mode"), "{log}");
    assert!(!log.contains(A_SECRET), "the secret is never printed");

    let dir = tempfile::tempdir().unwrap();
    let log = startup_log(dir.path(), &[("OTPGATE_MODE", "dev")]);
    assert!(log.contains("in development mode"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("codes in clear")),
        "development mode warns that codes are kept in clear: {log}"
    );
}

#[test]
fn database_urls_of_another_scheme_or_unreachable_are_refused_without_showing_the_password() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        // Nothing listens on port 1: the connection is refused.
        "postgres://user:hunter2secret@127.0.0.1:1/otp",
        "mysql://user:hunter2secret@db.example/otp",
        "user:hunter2secret@db.example/otp",
    ] {
        for args in [&["serve"][..], &["tenant", "list"][..]] {
            let output = Command::new(env!("CARGO_BIN_EXE_otpgate"))
                .args(args)
                .current_dir(dir.path())
                .env("OTPGATE_DATA_DIR", dir.path().join("data"))
                .env("OTPGATE_CONFIG", dir.path().join("none.toml"))
                .env("OTPGATE_SECRET", A_SECRET)
                .env("OTPGATE_ADDR", "127.0.0.1:0")
                .env("OTPGATE_ADMIN_ADDR", "127.0.0.1:0")
                .env("OTPGATE_ADMIN_ADDR", "127.0.0.1:0")
                .env("OTPGATE_DATABASE_URL", url)
                .output()
                .unwrap();
            assert!(!output.status.success(), "{url} {args:?}");
            let error = stderr(&output);
            assert!(error.contains("OTPGATE_DATABASE_URL"), "{error}");
            assert!(!error.contains("hunter2secret"), "{error}");
        }
    }
    let error = stderr(
        &Command::new(env!("CARGO_BIN_EXE_otpgate"))
            .args(["tenant", "list"])
            .current_dir(dir.path())
            .env("OTPGATE_CONFIG", dir.path().join("none.toml"))
            .env("OTPGATE_DATABASE_URL", "mysql://user:pw@host/db")
            .output()
            .unwrap(),
    );
    assert!(error.contains("`mysql:`"), "{error}");
    let created: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(created.is_empty(), "nothing may be created: {created:?}");
}

#[test]
fn a_tenants_limits_are_set_by_the_cli_and_shown_with_it() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        otpgate(dir.path(), &["tenant", "create", "Acme"])
            .status
            .success()
    );
    let set = otpgate(
        dir.path(),
        &[
            "tenant",
            "set",
            "Acme",
            "--allow-countries",
            "1,44,218",
            "--sends-per-hour",
            "sms=500",
            "--sends-per-hour",
            "whatsapp=50",
        ],
    );
    assert!(set.status.success(), "{}", stderr(&set));
    let listed = stdout(&otpgate(dir.path(), &["tenant", "list"]));
    assert!(
        listed.contains("limits allowed_countries=1,44,218 sms_per_hour=500 whatsapp_per_hour=50"),
        "{listed}"
    );
    // A later `set` keeps what it does not name.
    let more = otpgate(
        dir.path(),
        &[
            "tenant",
            "set",
            "Acme",
            "--destination-per-day",
            "50",
            "--allow-countries",
            "any",
        ],
    );
    assert!(more.status.success(), "{}", stderr(&more));
    let shown = stdout(&otpgate(
        dir.path(),
        &["limits", "show", "--tenant", "Acme"],
    ));
    assert!(shown.contains("5 per 10 min, 50 per 24 h"), "{shown}");
    assert!(shown.contains("sms 500, whatsapp 50"), "{shown}");
    assert!(
        shown.contains("countries for SMS and WhatsApp: any"),
        "{shown}"
    );
    // Back to the server's limits.
    let reset = otpgate(dir.path(), &["tenant", "set", "Acme", "--reset"]);
    assert!(
        stdout(&reset).contains("limits: the server's"),
        "{}",
        stdout(&reset)
    );

    for (args, complaint) in [
        (vec!["--sends-per-hour", "fax=1"], "email, sms or whatsapp"),
        (vec!["--sends-per-hour", "sms"], "CHANNEL=N"),
        (vec!["--allow-countries", "1,x"], "`x`"),
        (vec!["--allow-countries", "1000"], "country calling code"),
        (vec!["--prefix-digits", "0"], "prefix_digits"),
        (vec![], "nothing to set"),
    ] {
        let mut full = vec!["tenant", "set", "Acme"];
        full.extend(args.iter());
        let refused = otpgate(dir.path(), &full);
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            stderr(&refused).contains(complaint),
            "{args:?}: {}",
            stderr(&refused)
        );
    }
    let unknown = otpgate(
        dir.path(),
        &["tenant", "set", "Nobody", "--resends-per-session", "3"],
    );
    assert!(
        stderr(&unknown).contains("no tenant named `Nobody`"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn the_servers_limits_come_from_the_settings_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.toml");
    std::fs::write(
        &file,
        "[otpgate]\n[otpgate.limits]\ndestination_per_10min = 3\nallowed_countries = [1, 44]\n",
    )
    .unwrap();
    let show = |env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_otpgate"));
        command
            .args(["limits", "show"])
            .env("OTPGATE_DATA_DIR", dir.path())
            .env("OTPGATE_CONFIG", &file)
            .env_remove("OTPGATE_DATABASE_URL");
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("run otpgate")
    };
    let from_file = stdout(&show(&[]));
    assert!(
        from_file.contains("3 per 10 min, 20 per 24 h"),
        "{from_file}"
    );
    assert!(
        from_file.contains("countries for SMS and WhatsApp: +1,+44"),
        "{from_file}"
    );
    let from_env = show(&[
        ("OTPGATE_LIMITS__DESTINATION_PER_10MIN", "7"),
        ("OTPGATE_LIMITS__ALLOWED_COUNTRIES", "218"),
        ("OTPGATE_LIMITS__SMS_PER_HOUR", "250"),
    ]);
    let text = stdout(&from_env);
    assert!(text.contains("7 per 10 min"), "{text}{}", stderr(&from_env));
    assert!(
        text.contains("countries for SMS and WhatsApp: +218"),
        "{text}"
    );
    assert!(text.contains("sms 250"), "{text}");
    let several = stdout(&show(&[("OTPGATE_LIMITS__ALLOWED_COUNTRIES", "1, 44,218")]));
    assert!(several.contains("+1,+44,+218"), "{several}");
    let bad = show(&[("OTPGATE_LIMITS__PREFIX_DIGITS", "40")]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("prefix_digits"), "{}", stderr(&bad));
}

#[test]
fn templates_are_saved_previewed_shown_and_deleted_from_the_command_line() {
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
    let html = dir.path().join("body.html");
    std::fs::write(&html, "<p>Votre code : <b>{{ code }}</b></p>").unwrap();
    let which = ["--tenant", "Acme", "--channel", "email", "--locale", "fr"];
    let mut set = vec!["template", "set"];
    set.extend(which);
    set.extend([
        "--subject",
        "{{ code }} — {{ app_name }}",
        "--text",
        "Votre code : {{ code }}",
        "--html-file",
        html.to_str().unwrap(),
    ]);
    let saved = otpgate(dir.path(), &set);
    assert!(saved.status.success(), "{}", stderr(&saved));

    let mut preview = vec!["template", "preview"];
    preview.extend(which);
    preview.extend(["--code", "246810"]);
    let shown = otpgate(dir.path(), &preview);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let out = stdout(&shown);
    assert!(out.contains("246810 — Acme"), "{out}");
    assert!(out.contains("<p>Votre code : <b>246810</b></p>"), "{out}");
    assert!(out.contains("(saved text)"), "{out}");

    // An SMS preview of a text not saved, with its segments; a refusal names the part.
    let sms = otpgate(
        dir.path(),
        &[
            "template",
            "preview",
            "--tenant",
            "Acme",
            "--channel",
            "sms",
            "--locale",
            "ar",
            "--text",
            "رمزك {{ code }}",
        ],
    );
    assert!(sms.status.success(), "{}", stderr(&sms));
    assert!(
        stdout(&sms).contains("1 segment(s), UCS-2"),
        "{}",
        stdout(&sms)
    );
    let refused = otpgate(
        dir.path(),
        &[
            "template",
            "set",
            "--tenant",
            "Acme",
            "--channel",
            "sms",
            "--locale",
            "ar",
            "--text",
            "no code here",
        ],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("does not show the code"),
        "{}",
        stderr(&refused)
    );

    let mut show = vec!["template", "show"];
    show.extend(which);
    assert!(stdout(&otpgate(dir.path(), &show)).contains("{{ code }} — {{ app_name }}"));
    let mut delete = vec!["template", "delete"];
    delete.extend(which);
    let deleted = otpgate(dir.path(), &delete);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let gone = otpgate(dir.path(), &show);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("built-in text is sent"),
        "{}",
        stderr(&gone)
    );
}

/// `tenant show` prints a tenant's settings as the admin API answers them, its account SID
/// (the Twilio-compatible door's user name) among them; each tenant has its own.
#[test]
fn tenant_show_prints_the_settings_with_the_account_sid() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["Acme", "Globex"] {
        let created = otpgate(dir.path(), &["tenant", "create", name]);
        assert!(created.status.success(), "{}", stderr(&created));
    }
    let show = |name: &str| {
        let shown = otpgate(dir.path(), &["tenant", "show", name]);
        assert!(shown.status.success(), "{}", stderr(&shown));
        serde_json::from_str::<serde_json::Value>(&stdout(&shown)).expect("JSON")
    };
    let (acme, globex) = (show("Acme"), show("Globex"));
    assert_eq!(acme["name"], "Acme");
    let sid = acme["account_sid"].as_str().expect("account_sid");
    assert!(
        sid.len() == 34 && sid.starts_with("AC") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{sid}"
    );
    assert_ne!(acme["account_sid"], globex["account_sid"]);
    assert_eq!(show("Acme")["account_sid"], sid, "it stays");
    assert!(acme["effective_limits"].is_object());
    let unknown = otpgate(dir.path(), &["tenant", "show", "Nobody"]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("Nobody"), "{}", stderr(&unknown));
}
