//! Email through a real SMTP server (aiosmtpd, started by `scripts/smtp-server`) in production
//! mode with a live key: STARTTLS required with AUTH and a private CA, implicit TLS, plain only
//! when asked for, the message's parts and language, and the server's refusals (5xx fail at
//! once, 4xx are retried).

use crate::common::TestApp;
use crate::common::servers::SmtpSink;
use axum::http::StatusCode;
use serde_json::{Value, json};

async fn app_for(sink: &SmtpSink, url: String) -> TestApp {
    TestApp::served(&[
        ("smtp_url", url),
        ("smtp_from", "Acme Codes <codes@acme.test>".into()),
        ("smtp_ca_file", sink.ca_file()),
    ])
    .await
}

async fn send_email(app: &TestApp, to: &str, extra: Value) -> String {
    let mut body = json!({"channels": ["email"], "recipients": {"email": to}});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let answer = app.post("/api/v1/otp/send", &app.live_key, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["deliveries"]["email"]["status"], "queued");
    answer.body["session_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

async fn email_delivery(app: &TestApp, token: &str) -> Value {
    app.post(
        "/api/v1/otp/status",
        &app.live_key,
        json!({"session_token": token}),
    )
    .await
    .body["deliveries"]["email"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_reaches_the_smtp_server_over_starttls_and_verifies() {
    let sink = SmtpSink::start(&[]);
    let app = app_for(&sink, sink.url()).await;
    let token = send_email(&app, "person@example.com", json!({})).await;
    assert_eq!(app.deliver().await, 1);
    let mail = sink
        .wait_for("person@example.com", 0, 10)
        .await
        .expect("the mail arrives");
    assert_eq!(mail["tls"], true, "sent under STARTTLS");
    assert_eq!(mail["auth_user"], crate::common::servers::SMTP_USER);
    assert_eq!(mail["from"], "Acme Codes <codes@acme.test>");
    let subject = mail["subject"].as_str().unwrap();
    let code: String = subject.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(subject, format!("{code} is your Acme code"));
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .contains(&format!("Your Acme code is {code}."))
    );
    let html = mail["html"].as_str().expect("an HTML part");
    assert!(
        html.contains(r#"<html lang="en" dir="ltr">"#) && html.contains(&code),
        "{html}"
    );
    assert_eq!(email_delivery(&app, &token).await["status"], "sent");

    let verified = app
        .post(
            "/api/v1/otp/verify",
            &app.live_key,
            json!({"session_token": token, "otps": {"email": code}}),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);

    // In Arabic: the subject and the page direction follow the session's language.
    send_email(&app, "arabic@example.com", json!({"locale": "ar"})).await;
    app.deliver().await;
    let mail = sink
        .wait_for("arabic@example.com", 0, 10)
        .await
        .expect("the mail arrives");
    assert!(
        mail["subject"].as_str().unwrap().contains("هو رمز Acme"),
        "{}",
        mail["subject"]
    );
    assert!(
        mail["html"]
            .as_str()
            .unwrap()
            .contains(r#"<html lang="ar" dir="rtl">"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_works_and_plain_is_used_only_when_asked_for() {
    let sink = SmtpSink::start(&[]);
    let smtps = format!(
        "smtps://{}:{}@127.0.0.1:{}",
        crate::common::servers::SMTP_USER,
        crate::common::servers::SMTP_PASSWORD,
        sink.smtps
    );
    let app = app_for(&sink, smtps).await;
    send_email(&app, "implicit@example.com", json!({})).await;
    app.deliver().await;
    let mail = sink
        .wait_for("implicit@example.com", 0, 10)
        .await
        .expect("the mail arrives");
    assert_eq!(mail["tls"], true);

    // A server that offers no STARTTLS: smtp:// refuses to send in clear, and keeps the
    // message for a retry.
    let refusing = app_for(&sink, format!("smtp://127.0.0.1:{}", sink.plain)).await;
    let token = send_email(&refusing, "clear@example.com", json!({})).await;
    refusing.deliver().await;
    let email = email_delivery(&refusing, &token).await;
    assert_eq!(
        (email["status"].clone(), email["attempts"].clone()),
        (json!("queued"), json!(1))
    );
    assert!(
        sink.wait_for("clear@example.com", 0, 1).await.is_none(),
        "nothing sent in clear"
    );

    // Asked for explicitly (a loopback relay): plain works.
    let plain = app_for(&sink, format!("smtp://127.0.0.1:{}?tls=none", sink.plain)).await;
    send_email(&plain, "relay@example.com", json!({})).await;
    plain.deliver().await;
    let mail = sink
        .wait_for("relay@example.com", 0, 10)
        .await
        .expect("the mail arrives");
    assert_eq!(mail["tls"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_fail_at_once_and_temporary_ones_are_retried() {
    let sink = SmtpSink::start(&["--fail-rcpt", "bounce=550", "--fail-rcpt", "busy=451"]);
    let app = app_for(&sink, sink.url()).await;
    let bounced = send_email(&app, "bounce@example.com", json!({})).await;
    let busy = send_email(&app, "busy@example.com", json!({})).await;
    assert_eq!(app.deliver().await, 2);
    let bounced = email_delivery(&app, &bounced).await;
    assert_eq!(
        (bounced["status"].clone(), bounced["error"].clone()),
        (json!("failed"), json!("invalid_recipient"))
    );
    let busy_now = email_delivery(&app, &busy).await;
    assert_eq!(
        (busy_now["status"].clone(), busy_now["attempts"].clone()),
        (json!("queued"), json!(1))
    );
    app.clock.advance(2);
    assert_eq!(
        app.deliver().await,
        1,
        "the 451 is tried again, the 550 is not"
    );

    // A wrong password is the server's refusal too: failed, with the provider to blame.
    let wrong = app_for(
        &sink,
        format!("smtp://otpgate:wrong@127.0.0.1:{}", sink.smtp),
    )
    .await;
    let token = send_email(&wrong, "someone@example.com", json!({})).await;
    wrong.deliver().await;
    let email = email_delivery(&wrong, &token).await;
    assert_eq!(
        (email["status"].clone(), email["error"].clone()),
        (json!("failed"), json!("provider_rejected"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_check_validates_and_sends_a_test_message() {
    let sink = SmtpSink::start(&[]);
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str], extra: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_otpgate"));
        command
            .args(args)
            .env("OTPGATE_DATA_DIR", dir.path())
            .env("OTPGATE_CONFIG", dir.path().join("none.toml"))
            .env("OTPGATE_SMTP_URL", sink.url())
            .env("OTPGATE_SMTP_FROM", "Acme <codes@acme.test>")
            .env("OTPGATE_SMTP_CA_FILE", sink.ca_file())
            .env_remove("OTPGATE_SMS_PROVIDER");
        for (name, value) in extra {
            command.env(name, value);
        }
        command.output().expect("otpgate")
    };
    let checked = run(
        &["providers", "check", "--send-to", "check@example.com"],
        &[],
    );
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(stdout.contains("email: smtp (settings valid)"), "{stdout}");
    assert!(stdout.contains("accepted the test message"), "{stdout}");
    assert!(
        !stdout.contains(crate::common::servers::SMTP_PASSWORD),
        "secrets are never printed"
    );
    let mail = sink
        .wait_for("check@example.com", 0, 10)
        .await
        .expect("the test mail");
    assert!(
        mail["subject"]
            .as_str()
            .unwrap()
            .ends_with("is your otpgate test code")
    );

    // An invalid provider: `check` says which setting, and production refuses to start.
    let bad = [
        ("OTPGATE_SMS_PROVIDER", "twilio"),
        ("OTPGATE_TWILIO_ACCOUNT_SID", "AC1"),
    ];
    let checked = run(&["providers", "check"], &bad);
    assert!(!checked.status.success());
    assert!(String::from_utf8_lossy(&checked.stderr).contains("OTPGATE_TWILIO_AUTH_TOKEN"));
    let served = run(
        &["serve"],
        &[
            bad[0],
            bad[1],
            ("OTPGATE_MODE", "production"),
            ("OTPGATE_SECRET", "0123456789abcdef0123456789abcdef-x"),
            ("OTPGATE_ADDR", "127.0.0.1:0"),
            ("OTPGATE_ADMIN_ADDR", "127.0.0.1:0"),
        ],
    );
    assert!(
        !served.status.success(),
        "production refuses an invalid provider"
    );
    let error = String::from_utf8_lossy(&served.stderr);
    assert!(error.contains("OTPGATE_TWILIO_AUTH_TOKEN"), "{error}");
    assert!(
        !error.contains(crate::common::servers::SMTP_PASSWORD),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_mail_speaks_each_of_the_twelve_languages() {
    let sink = SmtpSink::start(&[]);
    let app = app_for(&sink, sink.url()).await;
    let languages = [
        ("en", "is your Acme code", "ltr"),
        ("ar", "هو رمز Acme الخاص بك", "rtl"),
        ("es", "es tu código de Acme", "ltr"),
        ("fr", "est votre code Acme", "ltr"),
        ("de", "ist Ihr Acme-Code", "ltr"),
        ("pt-BR", "é seu código do Acme", "ltr"),
        ("hi", "आपका Acme कोड है", "ltr"),
        ("id", "adalah kode Acme Anda", "ltr"),
        ("tr", ": Acme kodunuz", "ltr"),
        ("ru", "— ваш код Acme", "ltr"),
        ("zh-CN", "是您的Acme验证码", "ltr"),
        ("fa", "کد Acme شماست", "rtl"),
    ];
    for (n, (locale, _, _)) in languages.iter().enumerate() {
        send_email(
            &app,
            &format!("lang{n}@example.com"),
            json!({"locale": locale}),
        )
        .await;
    }
    assert_eq!(app.deliver().await, languages.len());
    for (n, (locale, subject, dir)) in languages.iter().enumerate() {
        let mail = sink
            .wait_for(&format!("lang{n}@example.com"), 0, 10)
            .await
            .expect("the mail arrives");
        let got = mail["subject"].as_str().unwrap();
        assert!(got.contains(subject), "{locale}: {got}");
        let html = mail["html"].as_str().unwrap();
        let tag = locale.split('-').next().unwrap();
        assert!(
            html.contains(&format!(r#"<html lang="{tag}" dir="{dir}">"#)),
            "{locale}: {html}"
        );
    }
}
