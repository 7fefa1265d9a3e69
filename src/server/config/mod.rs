//! Typed settings, loaded once: defaults, then the `[otpgate]` section of Leptos.toml, then
//! `OTPGATE_*` environment variables. The server secret is wrapped so it never prints; so are
//! the providers' secrets (`providers.rs`).

pub mod providers;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::engine::limits::{LimitPolicy, list_setting};

/// How strictly the server treats delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every message goes to the outbox, shown at `/dev/outbox`.
    #[serde(alias = "development")]
    Dev,
    /// Live keys deliver through providers only; a channel without one is refused.
    #[serde(alias = "prod")]
    Production,
}

/// How log lines are written (`OTPGATE_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line, with the event's span fields (the request's ID among them).
    Json,
}

/// Settings as read from the file and the environment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub mode: Mode,
    pub data_dir: PathBuf,
    /// Defaults to `sqlite://<data_dir>/otpgate.db`.
    pub database_url: Option<String>,
    /// Connections each instance keeps to PostgreSQL (`OTPGATE_DATABASE_POOL_SIZE`).
    pub database_pool_size: u32,
    /// Listening address; falls back to Leptos' `site-addr` (`LEPTOS_SITE_ADDR`).
    pub addr: Option<SocketAddr>,
    /// The admin listener's address (`OTPGATE_ADMIN_ADDR`): the admin API and `/metrics`, never
    /// served on the public address.
    pub admin_addr: SocketAddr,
    /// Seconds after expiry before a session, request and its outbox messages are deleted.
    pub purge_grace_secs: i64,
    pub purge_interval_secs: u64,
    /// How log lines are written (`OTPGATE_LOG_FORMAT`: `text` or `json`).
    pub log_format: LogFormat,
    /// Days audit entries are kept (`OTPGATE_AUDIT_RETENTION_DAYS`), then purged.
    pub audit_retention_days: u32,
    /// Days webhook deliveries and their attempts are kept (`OTPGATE_WEBHOOK_RETENTION_DAYS`),
    /// then purged; a replay reaches back this far.
    pub webhook_retention_days: u32,
    /// Whether webhook endpoints may be `http` and reach private, loopback and link-local
    /// addresses (`OTPGATE_WEBHOOKS_ALLOW_PRIVATE`): for receivers on the operator's own network.
    pub webhooks_allow_private: bool,
    /// Whether Prometheus metrics are recorded and served on the admin listener's `/metrics`
    /// (`OTPGATE_METRICS`, on by default).
    pub metrics: bool,
    /// Seconds a claimed message stays its worker's before another instance may take it
    /// (`OTPGATE_DELIVERY_LEASE_SECS`). Longer than a provider's 20 s timeout, or a slow
    /// provider's message may be handed over twice.
    pub delivery_lease_secs: i64,
    /// Every limit's default (`[otpgate.limits]`, `OTPGATE_LIMITS__<NAME>`); tenants may have
    /// their own.
    pub limits: LimitPolicy,
    /// Proxies whose `X-Forwarded-For` names the client (`OTPGATE_TRUSTED_PROXIES`, CIDRs or
    /// addresses, comma-separated). Anyone else's header is ignored.
    #[serde(deserialize_with = "list_setting::required")]
    pub trusted_proxies: Vec<ProxyNet>,
    /// The delivery providers; read apart (see `providers.rs`).
    #[serde(skip)]
    pub providers: providers::ProviderSettings,
}

impl Default for Settings {
    /// Production unless asked otherwise: a deployment that forgets `OTPGATE_MODE` must not
    /// catch live messages in an outbox or open the development pages.
    fn default() -> Self {
        Settings {
            mode: Mode::Production,
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_pool_size: crate::server::store::DEFAULT_POOL_SIZE,
            addr: None,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 3100)),
            purge_grace_secs: 86_400,
            purge_interval_secs: 300,
            audit_retention_days: 90,
            webhook_retention_days: 30,
            webhooks_allow_private: false,
            metrics: true,
            log_format: LogFormat::Text,
            delivery_lease_secs: crate::server::store::deliveries::DEFAULT_LEASE_SECS,
            limits: LimitPolicy::default(),
            trusted_proxies: Vec::new(),
            providers: providers::ProviderSettings::default(),
        }
    }
}

/// A trusted proxy's network: a CIDR (`10.0.0.0/8`) or one address (`127.0.0.1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProxyNet(pub ipnet::IpNet);

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(text: &str) -> Result<ProxyNet, String> {
        let text = text.trim();
        text.parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map(|net| ProxyNet(net.trunc()))
            .map_err(|_| format!("`{text}` is not an address or a CIDR network"))
    }
}

impl TryFrom<String> for ProxyNet {
    type Error = String;

    fn try_from(text: String) -> Result<ProxyNet, String> {
        text.parse()
    }
}

impl From<ProxyNet> for String {
    fn from(net: ProxyNet) -> String {
        net.0.to_string()
    }
}

impl ProxyNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

/// Shortest secret accepted from the environment, in bytes.
const MIN_SECRET_LEN: usize = 32;

impl Settings {
    /// Loads the settings from `file` (missing file: defaults) and the environment.
    pub fn load(file: &Path) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if file.exists() {
            figment = figment.merge(Figment::from(Toml::file(file)).focus("otpgate"));
        }
        // The secret and the provider settings are read apart from figment, which would parse an
        // all-digit value (or a `+` phone number) as a number.
        let mut ignored = vec!["secret"];
        ignored.extend_from_slice(providers::KEYS);
        // `__` nests: OTPGATE_LIMITS__SMS_PER_HOUR is `limits.sms_per_hour`.
        let mut settings: Settings = figment
            .merge(Env::prefixed("OTPGATE_").ignore(&ignored).split("__"))
            .extract()
            .with_context(|| format!("invalid settings in {} or OTPGATE_*", file.display()))?;
        settings.providers = providers::ProviderSettings::load(file)?;
        if settings.delivery_lease_secs < 1 {
            bail!("delivery_lease_secs must be at least 1");
        }
        if settings.purge_grace_secs < 0 {
            bail!("purge_grace_secs must not be negative");
        }
        if let Err(problem) = settings.limits.check() {
            bail!("limits.{problem}");
        }
        check_database_url(&settings.database_url())?;
        Ok(settings)
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("otpgate.db").display()))
    }
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Dev => "development",
            Mode::Production => "production",
        }
    }
}

/// The scheme of a database URL otpgate can open (as written), or an error naming the scheme
/// only: the rest of a URL may hold a password.
pub fn check_database_url(url: &str) -> anyhow::Result<&str> {
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .filter(|scheme| {
            !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        });
    match scheme {
        Some(scheme)
            if ["sqlite", "postgres", "postgresql"]
                .iter()
                .any(|known| scheme.eq_ignore_ascii_case(known)) =>
        {
            Ok(scheme)
        }
        Some(scheme) => bail!(
            "OTPGATE_DATABASE_URL: the scheme `{scheme}:` is not supported; use sqlite://PATH or postgres://..."
        ),
        None => {
            bail!("OTPGATE_DATABASE_URL must be a URL such as sqlite://PATH or postgres://HOST/DB")
        }
    }
}

impl Settings {
    /// The server secret: `OTPGATE_SECRET` when set; in development, otherwise, a secret
    /// generated once into `<data_dir>/secret`. Production refuses to start without one.
    pub fn server_secret(&self) -> anyhow::Result<SecretString> {
        if let Ok(secret) = std::env::var("OTPGATE_SECRET") {
            if secret.len() < MIN_SECRET_LEN {
                bail!("OTPGATE_SECRET must be at least {MIN_SECRET_LEN} bytes long");
            }
            return Ok(SecretString::from(secret));
        }
        if self.mode == Mode::Production {
            bail!(
                "production mode needs an explicit secret: set OTPGATE_SECRET (at least {MIN_SECRET_LEN} bytes)"
            );
        }
        let path = self.data_dir.join("secret");
        match std::fs::read_to_string(&path) {
            Ok(secret) if secret.trim().len() >= MIN_SECRET_LEN => {
                Ok(SecretString::from(secret.trim().to_owned()))
            }
            Ok(_) => bail!("{} is shorter than {MIN_SECRET_LEN} bytes", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = super::crypto::new_secret_hex(&mut rand::rng());
                write_private_file(&path, &secret)?;
                tracing::info!(path = %path.display(), "generated a new server secret");
                Ok(SecretString::from(secret))
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

/// Creates `path` readable by its owner only, failing if it already exists.
fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;

    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// The secret's bytes, for key derivation.
pub fn secret_bytes(secret: &SecretString) -> &[u8] {
    secret.expose_secret().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_mode_is_production() {
        assert_eq!(Settings::default().mode, Mode::Production);
    }

    #[test]
    fn only_sqlite_and_postgres_urls_are_accepted_and_errors_never_show_a_password() {
        for ok in [
            "sqlite://data/otpgate.db",
            "sqlite:///var/lib/otpgate/otpgate.db?mode=rwc",
            "sqlite::memory:",
            "SQLITE://x.db",
            "postgres://user:secret@host:5433/db",
            "postgresql://user:secret@host/db",
        ] {
            assert!(check_database_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "mysql://user:secret@host/db",
            "mariadb://user:secret@host/db",
            "data/otpgate.db",
            "/var/lib/otpgate.db",
            "",
            "user:secret@host/db",
        ] {
            let error = check_database_url(bad).unwrap_err().to_string();
            assert!(!error.contains("secret"), "{error}");
            assert!(error.contains("OTPGATE_DATABASE_URL"), "{error}");
        }
        let error = check_database_url("mysql://user:secret@host:5433/db")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`mysql:`"), "{error}");
    }
}
