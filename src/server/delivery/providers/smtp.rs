//! Email over SMTP with lettre: `smtp://` with STARTTLS required (plain only with `?tls=none`,
//! for a loopback relay), `smtps://` with implicit TLS, AUTH from the URL's user and password,
//! pooled connections. The message is multipart: text and accessible HTML in the session's
//! language. SMTP 4xx answers and connection trouble are transient, 5xx permanent.
//!
//! The connections are otpgate's own (lettre's SMTP client over a socket otpgate opens), for one
//! reason: lettre's transport leaves Nagle's algorithm on, and it writes a message's body and
//! its final `.` separately, so every message waited for the server's delayed ACK (about 40 ms
//! on Linux). The sockets here are `TCP_NODELAY`.

use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Instant;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};

use crate::engine::delivery::DeliveryFailure;
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

/// How many connections to the relay are used at once (and kept open between messages).
const POOL_SIZE: usize = 16;
/// An idle connection older than this is closed rather than reused: relays drop idle clients.
const IDLE_LIFETIME: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection or a message failed.
enum SmtpFailure {
    /// The server answered (a reply code), or lettre refused something.
    Smtp(lettre::transport::smtp::Error),
    /// No usable connection: connecting, TLS, STARTTLS missing.
    Connection(String),
}

/// Sends mail through one relay.
pub struct SmtpProvider {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    /// For STARTTLS (lettre's TLS over otpgate's socket).
    starttls: TlsParameters,
    /// For implicit TLS.
    connector: tokio_rustls::TlsConnector,
    hello: ClientId,
    from: Mailbox,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    slots: Semaphore,
}

/// A relay's implicit-TLS stream, handed to lettre's SMTP client as a plain stream (TLS is
/// already done beneath it).
struct ImplicitTlsStream(tokio_rustls::client::TlsStream<TcpStream>);

impl std::fmt::Debug for ImplicitTlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImplicitTlsStream")
    }
}

impl tokio::io::AsyncRead for ImplicitTlsStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ImplicitTlsStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl lettre::transport::smtp::client::AsyncTokioStream for ImplicitTlsStream {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// The public roots plus, when given, the operator's private CA.
fn root_store(ca_pem: Option<&[u8]>) -> anyhow::Result<rustls::RootCertStore> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate
                .map_err(|e| anyhow::anyhow!("OTPGATE_SMTP_CA_FILE is not PEM ({e})"))?;
            roots.add(certificate).map_err(|e| {
                anyhow::anyhow!("OTPGATE_SMTP_CA_FILE holds an unusable certificate ({e})")
            })?;
        }
    }
    Ok(roots)
}

impl SmtpProvider {
    /// Checks the settings and prepares TLS. `ca_file` adds a PEM root certificate (a private
    /// CA) to the public ones.
    pub fn new(url: &SecretString, from: &str, ca_file: Option<&str>) -> anyhow::Result<Self> {
        let url = SmtpUrl::parse(url)?;
        let from: Mailbox = from.parse().map_err(|e| {
            anyhow::anyhow!("OTPGATE_SMTP_FROM must be `Name <address>` or an address ({e})")
        })?;
        let ca_pem = ca_file
            .map(|path| {
                std::fs::read(path)
                    .with_context(|| format!("cannot read OTPGATE_SMTP_CA_FILE {path}"))
            })
            .transpose()?;
        let mut starttls = TlsParameters::builder(url.host.clone());
        if let Some(pem) = &ca_pem {
            let certificate = Certificate::from_pem(pem).map_err(|e| {
                anyhow::anyhow!("OTPGATE_SMTP_CA_FILE is not a PEM certificate ({e})")
            })?;
            starttls = starttls.add_root_certificate(certificate);
        }
        let starttls = starttls
            .build_rustls()
            .map_err(|e| anyhow::anyhow!("cannot set up TLS for SMTP ({e})"))?;
        let tls_config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("cannot set up TLS for SMTP ({e})"))?
        .with_root_certificates(root_store(ca_pem.as_deref())?)
        .with_no_client_auth();
        if url.security == Security::Plain && !is_loopback(&url.host) {
            tracing::warn!(
                host = %url.host,
                "SMTP without TLS to a host that is not loopback: codes travel in clear"
            );
        }
        let credentials = match (&url.user, &url.password) {
            (Some(user), Some(password)) => Some(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            )),
            _ => None,
        };
        Ok(SmtpProvider {
            host: url.host,
            port: url.port,
            security: url.security,
            credentials,
            starttls,
            connector: tokio_rustls::TlsConnector::from(Arc::new(tls_config)),
            hello: ClientId::default(),
            from,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(POOL_SIZE),
        })
    }

    /// A new connection: TCP (no Nagle), TLS as configured, EHLO, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SmtpFailure> {
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| SmtpFailure::Connection("connecting timed out".into()))?
        .map_err(|e| SmtpFailure::Connection(format!("cannot connect: {e}")))?;
        tcp.set_nodelay(true)
            .map_err(|e| SmtpFailure::Connection(format!("cannot set TCP_NODELAY: {e}")))?;
        let mut connection = match self.security {
            Security::ImplicitTls => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| SmtpFailure::Connection(format!("bad server name: {e}")))?;
                let tls = self
                    .connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| SmtpFailure::Connection(format!("TLS failed: {e}")))?;
                AsyncSmtpConnection::connect_with_transport(
                    Box::new(ImplicitTlsStream(tls)),
                    &self.hello,
                )
                .await
                .map_err(SmtpFailure::Smtp)?
            }
            Security::StartTls | Security::Plain => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                    .await
                    .map_err(SmtpFailure::Smtp)?
            }
        };
        if self.security == Security::StartTls {
            if !connection.can_starttls() {
                return Err(SmtpFailure::Connection(
                    "the server does not offer STARTTLS, which is required (smtp://); use \
                     smtps:// or, for a loopback relay only, ?tls=none"
                        .into(),
                ));
            }
            connection
                .starttls(self.starttls.clone(), &self.hello)
                .await
                .map_err(SmtpFailure::Smtp)?;
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(SmtpFailure::Smtp)?;
        }
        Ok(connection)
    }

    /// An idle connection young enough to reuse, or a new one; and whether it was reused.
    async fn connection(&self) -> Result<(AsyncSmtpConnection, bool), SmtpFailure> {
        let mut idle = self.idle.lock().await;
        while let Some((connection, since)) = idle.pop() {
            if since.elapsed() < IDLE_LIFETIME && !connection.has_broken() {
                return Ok((connection, true));
            }
        }
        drop(idle);
        Ok((self.connect().await?, false))
    }

    /// Sends one mail, on a pooled connection; a reused connection that the server had closed
    /// is replaced once.
    async fn deliver(
        &self,
        mail: &Message,
    ) -> Result<lettre::transport::smtp::response::Response, SmtpFailure> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| SmtpFailure::Connection("closed".into()))?;
        let body = mail.formatted();
        for _ in 0..2 {
            let (mut connection, reused) = self.connection().await?;
            match connection.send(mail.envelope(), &body).await {
                Ok(response) => {
                    if !connection.has_broken() {
                        self.idle.lock().await.push((connection, Instant::now()));
                    }
                    return Ok(response);
                }
                Err(error) if reused && !error.is_response() => continue,
                Err(error) => {
                    connection.abort().await;
                    return Err(SmtpFailure::Smtp(error));
                }
            }
        }
        Err(SmtpFailure::Connection(
            "the server closed the connection".into(),
        ))
    }

    /// Connects and says hello (and authenticates), for `providers check`.
    pub async fn check(&self) -> anyhow::Result<()> {
        match self.connect().await {
            Ok(mut connection) => {
                let _ = connection.quit().await;
                Ok(())
            }
            Err(SmtpFailure::Smtp(e)) => bail!("the SMTP server refused: {e}"),
            Err(SmtpFailure::Connection(e)) => bail!("cannot reach the SMTP server: {e}"),
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
        let content = message.email()?;
        let mail = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(content.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                content.text.clone(),
                content.html.clone(),
            ))
            .map_err(|e| {
                ProviderError::permanent(
                    DeliveryFailure::ProviderRejected,
                    format!("cannot build the email ({e})"),
                )
            })?;
        let response = self.deliver(&mail).await.map_err(|failure| match failure {
            SmtpFailure::Smtp(error) => classify(&error),
            SmtpFailure::Connection(detail) => ProviderError::transient(detail),
        })?;
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
