//! Email over SMTP with lettre: `smtp://` with STARTTLS required (plain only with `?tls=none`,
//! for a loopback relay), `smtps://` with implicit TLS, AUTH from the URL's user and password,
//! pooled connections. The message is multipart: text and accessible HTML in the session's
//! language. SMTP 4xx answers and connection trouble are transient, 5xx permanent.

use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use crate::engine::delivery::DeliveryFailure;
use crate::server::delivery::templates::email;
use crate::server::delivery::{Accepted, OutgoingMessage, Provider, ProviderError};

/// How the connection to the relay is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// `smtp://`: STARTTLS, refused if the server does not offer it.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
    /// `smtp://...?tls=none`: no encryption at all (a local relay on loopback).
    Plain,
}

/// A parsed `OTPGATE_SMTP_URL` (its password stays secret).
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: Option<String>,
    pub password: Option<SecretString>,
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl SmtpUrl {
    /// Parses `smtp://[user:pass@]host[:port][?tls=none]` or `smtps://...`. Errors never repeat
    /// the URL (it may hold a password).
    pub fn parse(url: &SecretString) -> anyhow::Result<SmtpUrl> {
        let parsed = url::Url::parse(url.expose_secret())
            .map_err(|e| anyhow::anyhow!("OTPGATE_SMTP_URL is not a URL ({e})"))?;
        let (mut security, default_port) = match parsed.scheme() {
            "smtp" => (Security::StartTls, 587),
            "smtps" => (Security::ImplicitTls, 465),
            other => bail!("OTPGATE_SMTP_URL: the scheme `{other}:` is not smtp: or smtps:"),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .context("OTPGATE_SMTP_URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        for (key, value) in parsed.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "none") if security == Security::StartTls => security = Security::Plain,
                ("tls", "required") if security == Security::StartTls => {}
                ("tls", _) => bail!(
                    "OTPGATE_SMTP_URL: `tls` may only be `none` (plain) or `required`, on smtp:"
                ),
                (other, _) => bail!("OTPGATE_SMTP_URL: unknown parameter `{other}`"),
            }
        }
        if !matches!(parsed.path(), "" | "/") {
            bail!("OTPGATE_SMTP_URL takes no path");
        }
        let decode = |s: &str| {
            percent_decode(s).context("OTPGATE_SMTP_URL: the user or password is not valid UTF-8")
        };
        let user = match parsed.username() {
            "" => None,
            user => Some(decode(user)?),
        };
        let password = parsed
            .password()
            .map(decode)
            .transpose()?
            .map(SecretString::from);
        if password.is_some() && user.is_none() {
            bail!("OTPGATE_SMTP_URL has a password but no user");
        }
        Ok(SmtpUrl {
            host,
            port: parsed.port().unwrap_or(default_port),
            security,
            user,
            password,
        })
    }
}

fn percent_decode(s: &str) -> anyhow::Result<String> {
    Ok(percent_encoding::percent_decode_str(s)
        .decode_utf8()?
        .into_owned())
}

/// Sends mail through one relay.
pub struct SmtpProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpProvider {
    /// Builds the transport. `ca_file` adds a PEM root certificate (a private CA) to the
    /// public ones.
    pub fn new(url: &SecretString, from: &str, ca_file: Option<&str>) -> anyhow::Result<Self> {
        let url = SmtpUrl::parse(url)?;
        let from: Mailbox = from.parse().map_err(|e| {
            anyhow::anyhow!("OTPGATE_SMTP_FROM must be `Name <address>` or an address ({e})")
        })?;
        let mut tls = TlsParameters::builder(url.host.clone());
        if let Some(path) = ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read OTPGATE_SMTP_CA_FILE {path}"))?;
            let certificate = Certificate::from_pem(&pem).map_err(|e| {
                anyhow::anyhow!("OTPGATE_SMTP_CA_FILE {path} is not a PEM certificate ({e})")
            })?;
            tls = tls.add_root_certificate(certificate);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| anyhow::anyhow!("cannot set up TLS for SMTP ({e})"))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
            .port(url.port)
            .timeout(Some(Duration::from_secs(15)))
            .pool_config(PoolConfig::new().max_size(16))
            .tls(match url.security {
                Security::StartTls => Tls::Required(tls),
                Security::ImplicitTls => Tls::Wrapper(tls),
                Security::Plain => Tls::None,
            });
        if let (Some(user), Some(password)) = (&url.user, &url.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        if url.security == Security::Plain && !is_loopback(&url.host) {
            tracing::warn!(
                host = %url.host,
                "SMTP without TLS to a host that is not loopback: codes travel in clear"
            );
        }
        Ok(SmtpProvider {
            transport: builder.build(),
            from,
        })
    }

    /// Connects and says hello (and authenticates), for `providers check`.
    pub async fn check(&self) -> anyhow::Result<()> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => bail!("the SMTP server did not accept the connection"),
            Err(e) => bail!("cannot reach the SMTP server: {e}"),
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What an SMTP refusal means for the message: 5.1.x (bad mailbox) and 5.7.x (policy) name
/// their cause, every other 5xx is a refusal, 4xx and anything that is not an answer are
/// worth another try.
fn classify(error: &lettre::transport::smtp::Error) -> ProviderError {
    let detail = error.to_string();
    if error.is_permanent() {
        let code = error.status().map(|c| c.to_string()).unwrap_or_default();
        // 530/534/535: the relay refused otpgate's credentials, not the recipient.
        let failure = if matches!(code.as_str(), "530" | "534" | "535") {
            DeliveryFailure::ProviderRejected
        } else if detail.contains(" 5.1.") {
            DeliveryFailure::InvalidRecipient
        } else if detail.contains(" 5.7.") {
            DeliveryFailure::Blocked
        } else {
            DeliveryFailure::ProviderRejected
        };
        ProviderError::permanent(failure, detail)
    } else {
        ProviderError::transient(detail)
    }
}

#[async_trait]
impl Provider for SmtpProvider {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Accepted, ProviderError> {
        let to: Mailbox = message.to.parse().map_err(|_| {
            ProviderError::permanent(
                DeliveryFailure::InvalidRecipient,
                "the address is not a mailbox",
            )
        })?;
        let content = email(
            message.language,
            &message.tenant,
            &message.code,
            message.seconds_left,
        );
        let mail = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(content.subject)
            .multipart(MultiPart::alternative_plain_html(
                content.text,
                content.html,
            ))
            .map_err(|e| {
                ProviderError::permanent(
                    DeliveryFailure::ProviderRejected,
                    format!("cannot build the email ({e})"),
                )
            })?;
        let response = self.transport.send(mail).await.map_err(|e| classify(&e))?;
        // The relay's queue ID, when it gives one ("250 2.0.0 Ok: queued as 4F2A1"), helps
        // an operator find the mail in its logs.
        let id = response
            .message()
            .find_map(|line| line.split("queued as ").nth(1))
            .map(|id| id.trim().to_owned());
        Ok(Accepted {
            provider_message_id: id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> anyhow::Result<SmtpUrl> {
        SmtpUrl::parse(&SecretString::from(url.to_owned()))
    }

    #[test]
    fn urls_say_how_the_connection_is_secured() {
        let starttls = parse("smtp://mailer:p%40ss%2Bword@mail.example.com").unwrap();
        assert_eq!(starttls.security, Security::StartTls);
        assert_eq!(starttls.port, 587);
        assert_eq!(starttls.user.as_deref(), Some("mailer"));
        assert_eq!(
            starttls
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned()),
            Some("p@ss+word".to_owned())
        );
        let implicit = parse("smtps://mail.example.com:2465").unwrap();
        assert_eq!(
            (implicit.security, implicit.port),
            (Security::ImplicitTls, 2465)
        );
        let plain = parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((plain.security, plain.user), (Security::Plain, None));
        assert_eq!(parse("smtp://[::1]:25?tls=required").unwrap().host, "::1");
    }

    #[test]
    fn bad_urls_are_refused_without_repeating_the_password() {
        for url in [
            "http://u:hunter2@mail.example.com",
            "smtps://u:hunter2@mail.example.com?tls=none",
            "smtp://u:hunter2@mail.example.com?tls=maybe",
            "smtp://u:hunter2@mail.example.com?verify=no",
            "smtp://u:hunter2@mail.example.com/path",
            "smtp://:hunter2@mail.example.com",
            "not a url hunter2",
        ] {
            let error = format!("{:#}", parse(url).unwrap_err());
            assert!(!error.contains("hunter2"), "{url}: {error}");
            assert!(error.contains("OTPGATE_SMTP_URL"), "{error}");
        }
        let printed = format!("{:?}", parse("smtp://u:hunter2@mail.example.com").unwrap());
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}
