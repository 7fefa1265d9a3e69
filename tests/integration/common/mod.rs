//! Test harness: the real router (`otpgate::router`) on a real database (a SQLite file in a
//! temporary directory, or a PostgreSQL schema: see `database.rs`), a manual clock, and tenants
//! with test and live keys. "Acme" and "Globex" have their limits raised (as an integrator's
//! test suite raises its tenant's through the CLI), so tests about other things may send
//! freely; "Initech" keeps the server's defaults, for the limits' own tests.

pub mod binary;
pub mod database;
pub mod servers;
pub mod standins;
pub mod twilio;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use otpgate::engine::limits::LimitOverrides;
use otpgate::server::build_state;
use otpgate::server::clock::{Clock, ManualClock};
use otpgate::server::config::providers::ProviderSettings;
use otpgate::server::config::{Mode, Settings};
use otpgate::server::service::Caller;
use otpgate::server::state::AppState;
use serde_json::{Value, json};
use tower::ServiceExt;

/// 2027-01-15T08:00:00Z: a fixed start so expiry times are predictable.
pub const START: i64 = 1_800_000_000;

pub struct TestApp {
    pub router: Router,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    /// Tenant "Acme": test and live keys.
    pub test_key: String,
    pub live_key: String,
    /// Tenant "Globex": a test key, for isolation tests.
    pub other_key: String,
    /// Tenant "Initech", held to the server's default limits: test and live keys.
    pub limited_test_key: String,
    pub limited_live_key: String,
    pub dir: tempfile::TempDir,
    /// Where the app listens, when it is served on a port (`TestApp::served`).
    pub base_url: Option<String>,
    pub settings: Settings,
}

/// An HTTP answer with its JSON body (or `Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestApp {
    pub async fn new() -> TestApp {
        TestApp::with_mode(Mode::Dev).await
    }

    pub async fn with_mode(mode: Mode) -> TestApp {
        TestApp::with_options(
            mode,
            LeptosOptions::builder().output_name("otpgate").build(),
        )
        .await
    }

    /// A development-mode app whose site files (`/pkg/...`) are served from `site_root`, with
    /// or without content-hashed names.
    pub async fn with_site(site_root: &std::path::Path, hash_files: bool) -> TestApp {
        let options = LeptosOptions::builder()
            .output_name("otpgate")
            .site_root(site_root.to_string_lossy().into_owned())
            .hash_files(hash_files)
            .build();
        TestApp::with_options(Mode::Dev, options).await
    }

    /// A production app with these provider settings (by key, as in `OTPGATE_<KEY>`), served
    /// on a loopback port that is also its public URL, so providers can post receipts.
    pub async fn served(providers: &[(&str, String)]) -> TestApp {
        TestApp::served_with(providers, |_| {}).await
    }

    /// `served`, with the settings adjusted first (trusted proxies, limits).
    pub async fn served_with(
        providers: &[(&str, String)],
        adjust: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut values: std::collections::BTreeMap<String, String> = providers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        values.insert("public_url".to_owned(), base.clone());
        let mut app = TestApp::build_with(
            Mode::Production,
            LeptosOptions::builder().output_name("otpgate").build(),
            ProviderSettings::from_values(values),
            adjust,
        )
        .await;
        let router = app.router.clone();
        tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            let _ = axum::serve(listener, service).await;
        });
        app.base_url = Some(base);
        app
    }

    /// Hands every message due now (at the test clock) to its provider, like the worker does.
    pub async fn deliver(&self) -> usize {
        self.state
            .service
            .worker(self.state.public_url.as_deref().cloned())
            .run_due()
            .await
    }

    /// Runs the fallback pass once at the test clock; the channels it sent.
    pub async fn fallback_pass(&self) -> usize {
        self.state
            .service
            .fallback_pass()
            .await
            .expect("fallback pass")
    }

    /// A development-mode app with its settings adjusted first.
    pub async fn with_settings(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        TestApp::build_with(
            Mode::Dev,
            LeptosOptions::builder().output_name("otpgate").build(),
            ProviderSettings::default(),
            adjust,
        )
        .await
    }

    /// Posts every webhook delivery due now (at the test clock), like the webhook worker does.
    pub async fn post_webhooks(&self) -> usize {
        self.state.service.webhook_worker().run_due().await
    }

    /// Runs the expiry pass at the test clock (it looks at what expired 2 s before).
    pub async fn expiry_pass(&self) -> u64 {
        self.state
            .service
            .webhook_worker()
            .expiry_pass()
            .await
            .expect("expiry pass")
    }

    async fn with_options(mode: Mode, options: LeptosOptions) -> TestApp {
        TestApp::build(mode, options, ProviderSettings::default()).await
    }

    async fn build(mode: Mode, options: LeptosOptions, providers: ProviderSettings) -> TestApp {
        TestApp::build_with(mode, options, providers, |_| {}).await
    }

    async fn open_state(
        settings: &Settings,
        options: LeptosOptions,
        clock: Arc<ManualClock>,
    ) -> AppState {
        let secret =
            secrecy::SecretString::from("0123456789abcdef0123456789abcdef-test-secret".to_owned());
        build_state(settings, &secret, options, clock)
            .await
            .expect("state")
    }

    /// The same data directory opened again, as a restarted server would: same database, same
    /// keys, the clock where it was.
    pub async fn restarted(self) -> TestApp {
        let clock = Arc::new(ManualClock::new(self.clock.now()));
        let options = (*self.state.leptos_options).clone();
        let settings = self.settings.clone();
        drop(self.router);
        drop(self.state);
        let state = TestApp::open_state(&settings, options, clock.clone()).await;
        TestApp {
            router: otpgate::router(state.clone()),
            clock,
            state,
            settings,
            ..self
        }
    }

    async fn build_with(
        mode: Mode,
        options: LeptosOptions,
        providers: ProviderSettings,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut settings = Settings {
            mode,
            data_dir: dir.path().to_owned(),
            database_url: Some(database::fresh_database_url(dir.path()).await),
            providers,
            ..Settings::default()
        };
        adjust(&mut settings);
        let clock = Arc::new(ManualClock::new(START));
        let state = TestApp::open_state(&settings, options, clock.clone()).await;
        let admin = &state.admin;
        admin
            .create_tenant(
                "Acme",
                &["https://app.acme.test".to_owned()],
                &Caller::cli(),
            )
            .await
            .expect("tenant");
        admin
            .create_tenant("Globex", &[], &Caller::cli())
            .await
            .expect("tenant");
        admin
            .create_tenant(
                "Initech",
                &["https://initech.test".to_owned()],
                &Caller::cli(),
            )
            .await
            .expect("tenant");
        for tenant in ["Acme", "Globex"] {
            admin
                .set_tenant_limits(tenant, &raised_limits(), false, &Caller::cli())
                .await
                .expect("limits");
        }
        let mut keys = Vec::new();
        for (tenant, test) in [
            ("Acme", true),
            ("Acme", false),
            ("Globex", true),
            ("Initech", true),
            ("Initech", false),
        ] {
            keys.push(
                admin
                    .create_key(tenant, test, &Caller::cli())
                    .await
                    .expect("key")
                    .key,
            );
        }
        let router = otpgate::router(state.clone());
        let mut keys = keys.into_iter();
        let mut next = || keys.next().expect("a key per tenant and kind");
        TestApp {
            router,
            clock,
            state,
            test_key: next(),
            live_key: next(),
            other_key: next(),
            limited_test_key: next(),
            limited_live_key: next(),
            dir,
            base_url: None,
            settings,
        }
    }

    /// Purges as the background task would at `now` (the clock is moved there first).
    pub async fn purge_at(&self, now: i64, grace: i64) -> otpgate::server::service::PurgeCounts {
        self.clock.set(now);
        let retention = otpgate::server::service::Retention {
            grace_secs: grace,
            ..otpgate::server::service::Retention::of(&self.settings)
        };
        self.state.admin.purge(retention).await.expect("purge")
    }

    /// A second handle on the app's database, as another instance (or its delivery worker)
    /// would open it.
    pub async fn open_store(&self) -> std::sync::Arc<dyn otpgate::server::store::Store> {
        otpgate::server::store::open(&self.settings.database_url(), 4)
            .await
            .expect("store")
    }

    /// Sends `request` through the router.
    pub async fn request(&self, request: Request<Body>) -> Answer {
        answer_of(self.router.clone(), request).await
    }

    /// Sends `request` through the admin listener's router.
    pub async fn admin_request(&self, request: Request<Body>) -> Answer {
        answer_of(
            otpgate::server::http::admin::router(self.state.clone()),
            request,
        )
        .await
    }

    /// Calls the admin API with `token` as the bearer (none when `None`) and `body` as JSON.
    pub async fn admin_call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.admin_request(request.expect("request")).await
    }
}

/// The answer of `router` to `request`.
async fn answer_of(router: Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

impl TestApp {
    /// A new admin token with `scope`, limited to `tenant` when given, made as the CLI makes it.
    pub async fn admin_token(
        &self,
        scope: otpgate::server::service::AdminScope,
        tenant: Option<&str>,
    ) -> String {
        self.state
            .admin
            .create_admin_token(scope, tenant, None, &Caller::cli())
            .await
            .expect("admin token")
            .token
    }

    /// A direct connection to the test database, for checking what is stored.
    pub async fn db(&self) -> sqlx::AnyPool {
        database::connect(&self.settings.database_url()).await
    }

    /// How many messages a tenant's sends stored for delivery (caught in the outbox: test keys,
    /// and every key in development mode).
    pub async fn stored_messages(&self, tenant: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM outbox o JOIN tenants t ON t.id = o.tenant_id WHERE t.name = $1",
        )
        .bind(tenant)
        .fetch_one(&self.db().await)
        .await
        .expect("count")
    }

    /// POSTs raw bytes with the given content type and key.
    pub async fn post_raw(
        &self,
        path: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut builder = Request::builder().method(Method::POST).uri(path);
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
        }
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        self.request(builder.body(Body::from(body)).expect("request"))
            .await
    }

    /// POSTs a form (`application/x-www-form-urlencoded`) without a key, as a browser does.
    pub async fn post_form(&self, path: &str, fields: &str) -> Answer {
        self.post_raw(
            path,
            None,
            Some("application/x-www-form-urlencoded"),
            fields.as_bytes().to_vec(),
        )
        .await
    }

    /// POSTs JSON with `key` in `X-API-Key`.
    pub async fn post(&self, path: &str, key: &str, body: Value) -> Answer {
        self.post_raw(
            path,
            Some(key),
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Answer {
        let mut builder = Request::builder().method(Method::GET).uri(path);
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
        }
        self.request(builder.body(Body::empty()).expect("request"))
            .await
    }

    /// Starts a session with the test key; panics unless it answers 200.
    pub async fn send(&self, body: Value) -> Value {
        let answer = self.post("/api/v1/otp/send", &self.test_key, body).await;
        assert_eq!(answer.status, StatusCode::OK, "send: {}", answer.text);
        answer.body
    }

    /// A session for email and SMS, `any` mode unless `extra` says otherwise; returns the token.
    pub async fn email_sms_session(&self, extra: Value) -> String {
        let mut body = json!({
            "channels": ["email", "sms"],
            "recipients": {"email": "user@example.com", "sms": "+14155550100"},
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.send(body).await["session_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// The messages in the test outbox for `to`, newest first, read through the API.
    pub async fn outbox(&self, to: &str) -> Vec<Value> {
        let path = format!("/api/v1/test/messages?to={}", urlencode(to));
        let answer = self.get(&path, Some(&self.test_key)).await;
        assert_eq!(answer.status, StatusCode::OK, "outbox: {}", answer.text);
        answer.body.as_array().expect("array").clone()
    }

    /// The newest code sent to `to` on `channel`.
    pub async fn code(&self, channel: &str, to: &str) -> String {
        self.outbox(to)
            .await
            .into_iter()
            .find(|m| m["channel"] == channel)
            .and_then(|m| m["code"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no {channel} message to {to}"))
    }

    pub async fn verify(&self, token: &str, otps: Value) -> Answer {
        self.post(
            "/api/v1/otp/verify",
            &self.test_key,
            json!({"session_token": token, "otps": otps}),
        )
        .await
    }

    pub async fn status(&self, token: &str) -> Answer {
        self.post(
            "/api/v1/otp/status",
            &self.test_key,
            json!({"session_token": token}),
        )
        .await
    }
}

/// Limits high enough that no test about something else meets them.
pub fn raised_limits() -> LimitOverrides {
    let many = Some(1_000_000);
    LimitOverrides {
        destination_per_10min: many,
        destination_per_day: many,
        failure_streak: many,
        prefix_unverified_per_hour: many,
        email_per_hour: many,
        sms_per_hour: many,
        whatsapp_per_hour: many,
        ip_sends_per_10min: many,
        ip_submissions_per_minute: many,
        resends_per_session: many,
        ..LimitOverrides::default()
    }
}

/// A code that is certainly wrong: the right one with its first digit changed.
pub fn wrong(code: &str) -> String {
    let first = code.as_bytes()[0];
    let changed = if first == b'9' {
        '0'
    } else {
        char::from(first + 1)
    };
    format!("{changed}{}", &code[1..])
}

pub fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Asserts an error body: status, `code`, and a `message`.
pub fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.body["code"], code, "{}", answer.text);
    assert!(
        answer.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        answer.text
    );
}

/// Everything the process-wide log subscriber writes, from every thread, at TRACE level.
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// Installs a TRACE-level subscriber capturing every log line of the process (once; a second
/// call gets the same capture). Only for tests that `run_alone`: in the shared test process it
/// would hold every other test's lines too.
pub fn capture_logs() -> Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .without_time()
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .init();
            captured
        })
        .clone()
}

/// Runs the ignored test `name` (its full path in this binary) alone in a process of its own,
/// and fails unless it passed there: for tests that install the process-wide log subscriber,
/// which must hear no other test's lines. The environment (the database to use) goes with it.
pub fn run_alone(name: &str) {
    let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([name, "--exact", "--ignored", "--test-threads=1"])
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name} failed in its own process:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What a person reads on an HTML page: its text outside tags and scripts (the widget's data,
/// which travels in an attribute, is not shown).
pub fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let tag = &rest[start..];
        let end = if tag.starts_with("<script") {
            tag.find("</script>")
                .map_or(tag.len(), |e| e + "</script>".len())
        } else {
            tag.find('>').map_or(tag.len(), |e| e + 1)
        };
        text.push(' ');
        rest = &tag[end..];
    }
    text.push_str(rest);
    text
}
