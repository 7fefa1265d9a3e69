//! The command line: `serve` (the default), tenant, key and limit administration, and `purge`.
//! Settings come from Leptos.toml and `OTPGATE_*` variables, the same for every command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use super::cli_limits::{self, LimitArgs};
use super::clock::{Clock, SystemClock};
use super::config::{LogFormat, Settings};
use super::service::{
    AdminScope, AdminService, AuditQuery, Caller, KeyRef, ServiceError, StoreError,
};

#[derive(Debug, Parser)]
#[command(
    name = "otpgate",
    version,
    about = "Self-hosted verification service: one-time codes over email, SMS and WhatsApp"
)]
struct Cli {
    /// Settings file: its [otpgate] section, overridden by OTPGATE_* variables.
    #[arg(
        long,
        env = "OTPGATE_CONFIG",
        default_value = "Leptos.toml",
        global = true
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Manage tenants (apps).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Manage a tenant's webhook endpoints and their deliveries.
    Webhook {
        #[command(subcommand)]
        command: super::cli_webhooks::WebhookCommand,
    },
    /// Manage what a tenant's messages say: templates per channel and language.
    Template {
        #[command(subcommand)]
        command: super::cli_templates::TemplateCommand,
    },
    /// Manage the admin listener's tokens.
    AdminToken {
        #[command(subcommand)]
        command: AdminTokenCommand,
    },
    /// Read the audit log, newest first.
    Audit {
        /// Only this tenant's entries.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this action, e.g. `key.revoked`.
        #[arg(long)]
        action: Option<String>,
        /// Only the entries of the last DURATION: `24h`, `7d`, `30m` or seconds.
        #[arg(long)]
        since: Option<String>,
        /// Entries at most (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// One JSON object per line, as the admin API shows them (for a SIEM).
        #[arg(long)]
        json: bool,
    },
    /// The limits in force, and the refusals they made.
    Limits {
        #[command(subcommand)]
        command: LimitsCommand,
    },
    /// Delete expired sessions, requests and their outbox messages now.
    Purge,
    /// Check the delivery providers' settings, and optionally send a test message.
    Providers {
        #[command(subcommand)]
        command: ProvidersCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ProvidersCommand {
    /// Validate the settings (and reach the SMTP server); with --send-to, send a test message.
    Check {
        /// An email address or an E.164 phone number to send a test message to.
        #[arg(long)]
        send_to: Option<String>,
        /// For a phone number: `sms` (default) or `whatsapp`.
        #[arg(long, default_value = "sms")]
        channel: String,
    },
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant; its name appears in messages ("Your NAME code is ...").
    Create {
        name: String,
        /// An origin allowed to embed the widget (repeatable), e.g. https://app.example.com
        #[arg(long = "origin")]
        origins: Vec<String>,
    },
    /// List tenants with their origins, keys and own limits.
    List,
    /// A tenant's settings as JSON, as `GET /admin/v1/tenants/{name}` answers them (its
    /// account SID among them).
    Show { name: String },
    /// Set some of a tenant's own limits (the server's apply to the others).
    Set {
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

#[derive(Debug, Subcommand)]
enum LimitsCommand {
    /// The limits in force: the server's, or a tenant's (the server's with its own over them).
    Show {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// The refusals of the last hours, by tenant, rule and channel.
    Report {
        #[arg(long, default_value_t = 24)]
        hours: u32,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a key; it is printed once, alone on the last line, and stored only as a hash.
    Create {
        #[arg(long)]
        tenant: String,
        /// A test key (sk_test_): its messages always go to the test outbox.
        #[arg(long)]
        test: bool,
    },
    /// Revoke the key whose prefix (as shown by `tenant list`) is PREFIX.
    Revoke { prefix: String },
}

#[derive(Debug, Subcommand)]
enum AdminTokenCommand {
    /// Create a token; it is printed once, alone on the last line, and stored only as a hash.
    Create {
        /// `read` sees; `write` sees and changes.
        #[arg(long)]
        scope: String,
        /// Limit the token to one tenant: it sees and changes nothing else.
        #[arg(long)]
        tenant: Option<String>,
        /// How long it is valid: `90d`, `12h`, `30m` or seconds (default: until revoked).
        #[arg(long)]
        expires: Option<String>,
    },
    /// List the tokens (their prefixes, never the tokens).
    List,
    /// Revoke the token with this ID (as `admin-token list` shows it).
    Revoke { id: i64 },
}

fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Logs go to stderr so that stdout carries only command output (a new key, a listing).
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().flatten_event(true).try_init(),
    };
}

/// Parses the command line and runs it.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The settings first: they say how to log (what goes wrong reading them is printed).
    let outcome = match Settings::load(&cli.config) {
        Ok(settings) => {
            init_logging(settings.log_format);
            run(cli, settings).await
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    let admin = || super::open_admin(&settings, Arc::new(SystemClock), None);
    match command {
        Command::Serve => serve(&cli.config, settings).await,
        Command::Providers {
            command: ProvidersCommand::Check { send_to, channel },
        } => check_providers(&settings, send_to.as_deref(), &channel).await,
        Command::Tenant { command } => tenant(&admin().await?, command).await.map_err(said),
        Command::Limits { command } => limits(&admin().await?, command).await.map_err(said),
        Command::Key { command } => key(&admin().await?, command).await.map_err(said),
        Command::Webhook { command } => {
            // Only a command that makes a secret needs the server secret (it seals it).
            let secret = command
                .seals()
                .then(|| settings.server_secret())
                .transpose()?;
            let admin =
                super::open_admin(&settings, Arc::new(SystemClock), secret.as_ref()).await?;
            super::cli_webhooks::run(&admin, command)
                .await
                .map_err(said)
        }
        Command::Template { command } => {
            let admin = if command.sends() {
                super::open_admin_with_providers(&settings, Arc::new(SystemClock)).await?
            } else {
                admin().await?
            };
            super::cli_templates::run(&admin, command)
                .await
                .map_err(said)
        }
        Command::AdminToken { command } => {
            admin_token(&admin().await?, command).await.map_err(said)
        }
        Command::Audit {
            tenant,
            action,
            since,
            limit,
            json,
        } => {
            let since = since
                .as_deref()
                .map(seconds_of)
                .transpose()
                .map_err(anyhow::Error::msg)?
                .map(|secs| SystemClock.now() - secs);
            let query = AuditQuery {
                tenant: tenant.as_deref(),
                action: action.as_deref(),
                since,
                limit,
                ..AuditQuery::default()
            };
            let entries = admin().await?.audit(&query).await.map_err(said)?;
            print_audit(entries, json);
            Ok(())
        }
        Command::Purge => {
            let counts = admin()
                .await?
                .purge(super::service::Retention::of(&settings))
                .await
                .map_err(said)?;
            println!(
                "purged {} sessions, {} single-SMS requests, {} idempotency records",
                counts.sessions, counts.requests, counts.idempotency
            );
            Ok(())
        }
    }
}

/// What a failed administrative call says: its own words for what the operator got wrong (an
/// unknown tenant, a name taken, an invalid value), the full error otherwise.
fn said(error: ServiceError) -> anyhow::Error {
    match error {
        ServiceError::InvalidRequest(message)
        | ServiceError::Conflict(message)
        | ServiceError::Store(StoreError::NotFound(message) | StoreError::Conflict(message)) => {
            anyhow::anyhow!(message)
        }
        other => other.into(),
    }
}

async fn tenant(admin: &AdminService, command: TenantCommand) -> Result<(), ServiceError> {
    match command {
        TenantCommand::Create { name, origins } => {
            let name = admin.create_tenant(&name, &origins, &Caller::cli()).await?;
            println!("created tenant `{name}`");
        }
        TenantCommand::List => {
            for tenant in admin.list_tenants().await? {
                println!("{}", tenant.name);
                for origin in &tenant.origins {
                    println!("  origin {origin}");
                }
                for key in &tenant.keys {
                    let state = if key.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    let kind = if key.is_test { "test" } else { "live" };
                    println!("  key {}… {kind} {state}", key.prefix);
                }
                println!(
                    "  limits {}",
                    cli_limits::describe_overrides(&tenant.limits)
                );
            }
        }
        TenantCommand::Show { name } => {
            let tenant = admin.tenant(&name).await?;
            let shown =
                crate::server::http::admin::tenants::Tenant::of(tenant, admin.server_limits());
            println!(
                "{}",
                serde_json::to_string_pretty(&shown).unwrap_or_default()
            );
        }
        TenantCommand::Set { name, limits } => {
            cli_limits::set_tenant(admin, &name, &limits).await?
        }
    }
    Ok(())
}

async fn limits(admin: &AdminService, command: LimitsCommand) -> Result<(), ServiceError> {
    match command {
        LimitsCommand::Show { tenant: None } => {
            println!("{}", cli_limits::describe_policy(admin.server_limits()));
        }
        LimitsCommand::Show { tenant: Some(name) } => {
            let policy = admin.tenant_limits(&name).await?;
            println!("{}", cli_limits::describe_policy(&policy));
        }
        LimitsCommand::Report { hours } => {
            let report = admin.refusal_report(hours).await?;
            cli_limits::print_report(&report, hours);
        }
    }
    Ok(())
}

async fn key(admin: &AdminService, command: KeyCommand) -> Result<(), ServiceError> {
    match command {
        KeyCommand::Create { tenant, test } => {
            let created = admin.create_key(&tenant, test, &Caller::cli()).await?;
            println!(
                "created {} key {}… for tenant `{tenant}`; it is shown only now:",
                if test { "test" } else { "live" },
                created.prefix
            );
            println!("{}", created.key);
        }
        KeyCommand::Revoke { prefix } => {
            let prefix = prefix.trim_end_matches('…');
            if !admin
                .revoke_key(KeyRef::Prefix(prefix), &Caller::cli())
                .await?
            {
                return Err(ServiceError::InvalidRequest(format!(
                    "no active key has the prefix `{prefix}`"
                )));
            }
            println!("revoked key {prefix}…");
        }
    }
    Ok(())
}

async fn admin_token(admin: &AdminService, command: AdminTokenCommand) -> Result<(), ServiceError> {
    match command {
        AdminTokenCommand::Create {
            scope,
            tenant,
            expires,
        } => {
            let scope = AdminScope::parse(&scope).ok_or_else(|| {
                ServiceError::InvalidRequest("--scope is `read` or `write`".into())
            })?;
            let expires_in = expires
                .as_deref()
                .map(seconds_of)
                .transpose()
                .map_err(|e| ServiceError::InvalidRequest(format!("--expires {e}")))?;
            let created = admin
                .create_admin_token(scope, tenant.as_deref(), expires_in, &Caller::cli())
                .await?;
            let info = &created.info;
            println!(
                "created admin token {} ({}…, {}, {}, {}); it is shown only now:",
                info.id,
                info.prefix,
                info.scope.as_str(),
                info.tenant
                    .as_deref()
                    .map_or("every tenant".to_owned(), |t| format!("tenant `{t}`")),
                info.expires_at.map_or("no expiry".to_owned(), |at| format!(
                    "expires {}",
                    crate::server::http::rest::types::rfc3339(at)
                )),
            );
            println!("{}", created.token);
        }
        AdminTokenCommand::List => {
            let now = SystemClock.now();
            println!("id\tprefix\tscope\ttenant\tcreated\texpires\tstate");
            for token in admin.list_admin_tokens().await? {
                let state = match (token.revoked_at, token.expires_at) {
                    (Some(_), _) => "revoked",
                    (None, Some(at)) if at <= now => "expired",
                    _ => "active",
                };
                let time = crate::server::http::rest::types::rfc3339;
                println!(
                    "{}\t{}…\t{}\t{}\t{}\t{}\t{state}",
                    token.id,
                    token.prefix,
                    token.scope.as_str(),
                    token.tenant.as_deref().unwrap_or("*"),
                    time(token.created_at),
                    token.expires_at.map_or("-".to_owned(), time),
                );
            }
        }
        AdminTokenCommand::Revoke { id } => {
            if !admin.revoke_admin_token(id, &Caller::cli()).await? {
                return Err(ServiceError::InvalidRequest(format!(
                    "no active admin token has the ID {id}"
                )));
            }
            println!("revoked admin token {id}");
        }
    }
    Ok(())
}

/// Prints audit entries: a line each, or one JSON object per line.
fn print_audit(entries: Vec<crate::server::service::AuditEntry>, json: bool) {
    use crate::server::http::admin::AuditEntryView;
    if !json {
        println!("at\tactor\ttenant\taction\ttarget\tip\trequest");
    }
    for entry in entries {
        let view = AuditEntryView::from(entry);
        if json {
            println!("{}", serde_json::to_string(&view).unwrap_or_default());
            continue;
        }
        let actor = match &view.actor.id {
            Some(id) => format!("{}:{id}", view.actor.kind),
            None => view.actor.kind.clone(),
        };
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        println!(
            "{}\t{actor}\t{}\t{}\t{}\t{}\t{}",
            view.at,
            dash(&view.tenant),
            view.action,
            dash(&view.target),
            dash(&view.ip),
            dash(&view.request_id),
        );
    }
}

/// A duration as an operator writes it: `90d`, `12h`, `30m`, `45s` or plain seconds.
pub(super) fn seconds_of(value: &str) -> Result<i64, String> {
    let value = value.trim();
    let (number, unit) = match value.char_indices().last() {
        Some((at, unit @ ('d' | 'h' | 'm' | 's'))) => (&value[..at], unit),
        _ => (value, 's'),
    };
    let count: i64 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{value}`: use 90d, 12h, 30m or seconds"))?;
    let unit = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        _ => 1,
    };
    count
        .checked_mul(unit)
        .ok_or_else(|| format!("`{value}` is too long"))
}

/// `providers check`: builds every configured provider (as `serve` would), reaches the SMTP
/// server, and with `--send-to` hands one test message to the provider of that channel.
async fn check_providers(
    settings: &Settings,
    send_to: Option<&str>,
    channel: &str,
) -> anyhow::Result<()> {
    use crate::engine::Channel;
    use crate::server::delivery::providers;

    let delivery = providers::build(&settings.providers, settings.mode)
        .context("invalid delivery provider settings")?;
    let public_url = providers::public_url(&settings.providers)?;
    let configured = delivery.providers();
    if configured.is_empty() {
        println!("no delivery provider is configured");
    }
    for (channel, provider) in &configured {
        println!("{channel}: {provider} (settings valid)");
    }
    match &public_url {
        Some(url) => println!("receipts: {url}hooks/..."),
        None => println!("receipts: off (OTPGATE_PUBLIC_URL is not set)"),
    }
    if let Some(url) = &settings.providers.smtp_url {
        let from = settings.providers.smtp_from.as_deref().unwrap_or_default();
        let smtp = providers::smtp::SmtpProvider::new(
            url,
            from,
            settings.providers.smtp_ca_file.as_deref(),
        )?;
        smtp.check().await?;
        println!("email: the SMTP server accepted the connection");
    }
    let Some(to) = send_to else {
        return Ok(());
    };
    let (channel, to) = if to.contains('@') {
        let address = crate::server::service::validate::email(to)
            .map_err(|reason| anyhow::anyhow!("--send-to {reason}"))?;
        (Channel::Email, address)
    } else {
        let number = crate::server::service::validate::phone_e164(to)
            .map_err(|reason| anyhow::anyhow!("--send-to {reason}"))?;
        let channel = Channel::parse(channel)
            .filter(|c| c.uses_phone_number())
            .ok_or_else(|| anyhow::anyhow!("--channel must be sms or whatsapp"))?;
        (channel, number)
    };
    let provider = delivery
        .provider(channel)
        .ok_or_else(|| anyhow::anyhow!("no provider is configured for {channel}"))?;
    let code = crate::engine::code::generate_code(&mut rand::rng(), 6);
    let content = crate::server::delivery::texts::TenantTexts::built_in().content(
        &crate::server::delivery::texts::Facts {
            channel,
            locale: None,
            tenant: "otpgate test",
            code: &code,
            seconds_left: 600,
            webotp_host: None,
        },
    );
    let message = crate::server::delivery::OutgoingMessage {
        delivery_id: 0,
        channel,
        to,
        code,
        content,
        receipt_url: None,
    };
    match provider.send(&message).await {
        Ok(accepted) => {
            println!(
                "{channel}: {} accepted the test message{}",
                provider.name(),
                accepted
                    .provider_message_id
                    .map(|id| format!(" (its ID: {id})"))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Err(error) => bail!(
            "{channel}: {} refused the test message: {error}",
            provider.name()
        ),
    }
}

async fn serve(config: &Path, settings: Settings) -> anyhow::Result<()> {
    let leptos =
        leptos::config::get_configuration(config.exists().then(|| config.to_str()).flatten())
            .context("cannot read the Leptos settings")?;
    let addr = settings.addr.unwrap_or(leptos.leptos_options.site_addr);
    check_site_files(&leptos.leptos_options)?;
    let secret = settings.server_secret()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if settings.metrics {
        super::metrics::install().context("cannot start the metrics recorder")?;
    }
    let state = super::build_state(&settings, &secret, leptos.leptos_options, clock).await?;
    super::spawn_purge_task(state.admin.clone(), &settings);
    state
        .service
        .worker(state.public_url.as_deref().cloned())
        .with_lease(settings.delivery_lease_secs)
        .spawn();
    state.service.webhook_worker().spawn();
    super::spawn_fallback_pass(state.service.clone());
    for (channel, provider) in state.service.delivery().providers() {
        tracing::info!(%channel, provider, "delivery provider ready");
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let admin_listener = tokio::net::TcpListener::bind(settings.admin_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (OTPGATE_ADMIN_ADDR, the admin listener)",
                settings.admin_addr
            )
        })?;
    if settings.mode == super::config::Mode::Dev {
        tracing::warn!(
            "development mode: every message is caught in the outbox with its codes in clear, \
             and /dev/outbox and /demo answer without a key; never run it like this in production"
        );
    }
    tracing::info!(
        "otpgate {} in {} mode, listening on http://{}",
        env!("CARGO_PKG_VERSION"),
        settings.mode.as_str(),
        listener.local_addr().unwrap_or(addr)
    );
    tracing::info!(
        "admin listener (admin API, /metrics) on http://{}",
        admin_listener.local_addr().unwrap_or(settings.admin_addr)
    );
    let admin_app = super::http::admin::router(state.clone())
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let admin = tokio::spawn(async move { axum::serve(admin_listener, admin_app).await });
    // The peer's address reaches the handlers: the widget's doors limit by client IP.
    let app = crate::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    admin.abort();
    Ok(served?)
}

/// With hashed file names the pages name the widget's files from `hash.txt` beside the binary;
/// without it every page would fail, so the server refuses to start and says why.
fn check_site_files(options: &leptos::config::LeptosOptions) -> anyhow::Result<()> {
    if !options.hash_files {
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot locate the otpgate binary")?;
    let hash_file = exe
        .parent()
        .map(|dir| dir.join(options.hash_file.as_ref()))
        .unwrap_or_default();
    if !hash_file.is_file() {
        bail!(
            "{} is missing: the build writes it beside the binary (it names the widget's \
             hashed files in {}/{}); keep it there, or set LEPTOS_HASH_FILES=false for an \
             unhashed site",
            hash_file.display(),
            options.site_root,
            options.site_pkg_dir
        );
    }
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_operators_write_them() {
        assert_eq!(seconds_of("90d"), Ok(90 * 86_400));
        assert_eq!(seconds_of("12h"), Ok(12 * 3_600));
        assert_eq!(seconds_of("30m"), Ok(1_800));
        assert_eq!(seconds_of("45s"), Ok(45));
        assert_eq!(seconds_of("3600"), Ok(3_600));
        for bad in ["", "d", "0d", "-1h", "1w", "1.5h", "99999999999999999999d"] {
            assert!(seconds_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_parses_the_documented_commands() {
        Cli::command_for_tests().debug_assert();
        let cli = Cli::try_parse_from([
            "otpgate",
            "tenant",
            "create",
            "Acme",
            "--origin",
            "https://a.b",
            "--origin",
            "https://c.d",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Tenant {
                command: TenantCommand::Create { name, origins },
            }) => {
                assert_eq!(name, "Acme");
                assert_eq!(origins.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["otpgate", "key", "create", "--tenant", "Acme", "--test"])
            .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Key {
                command: KeyCommand::Create { test: true, .. }
            })
        ));
        assert!(Cli::try_parse_from(["otpgate"]).unwrap().command.is_none());
    }

    impl Cli {
        fn command_for_tests() -> clap::Command {
            <Cli as clap::CommandFactory>::command()
        }
    }
}
