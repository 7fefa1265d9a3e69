//! Delivery of codes. A message is stored with its session (see `store::deliveries`); this
//! module decides where each channel's messages go (the outbox for test keys and development
//! mode, the channel's provider otherwise), holds the providers behind one object-safe trait,
//! and runs the worker that hands queued messages to them (`worker.rs`).

pub mod html_check;
pub mod languages;
pub mod providers;
pub mod templates;
pub mod tenant_text;
pub mod texts;
pub mod worker;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::engine::Channel;
use crate::engine::delivery::DeliveryFailure;
use crate::server::config::Mode;

/// One message as a provider sends it. `Debug` leaves out the code.
#[derive(Clone)]
pub struct OutgoingMessage {
    /// otpgate's ID of the message (the delivery row).
    pub delivery_id: i64,
    pub channel: Channel,
    pub to: String,
    /// The code (a WhatsApp template's parameter; already in the other channels' texts).
    pub code: String,
    /// What the message says, rendered for its channel.
    pub content: texts::Content,
    /// Where the provider should report what happened to the message, when otpgate has a
    /// public URL (the gateway's per-message URL, or the provider's callback endpoint).
    pub receipt_url: Option<String>,
}

impl OutgoingMessage {
    /// The SMS text, for an SMS provider.
    pub fn sms_text(&self) -> Result<&str, ProviderError> {
        match &self.content {
            texts::Content::Sms(text) => Ok(text),
            _ => Err(self.not_for_this_provider()),
        }
    }

    /// The email, for an email provider.
    pub fn email(&self) -> Result<&templates::EmailContent, ProviderError> {
        match &self.content {
            texts::Content::Email(email) => Ok(email),
            _ => Err(self.not_for_this_provider()),
        }
    }

    fn not_for_this_provider(&self) -> ProviderError {
        ProviderError::permanent(
            DeliveryFailure::ProviderRejected,
            format!(
                "a {} message was given to another channel's provider",
                self.channel
            ),
        )
    }
}

impl std::fmt::Debug for OutgoingMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMessage")
            .field("delivery_id", &self.delivery_id)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// A provider took the message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    /// The provider's ID of the message, which its receipts name.
    pub provider_message_id: Option<String>,
}

/// Why a provider did not take a message. Details never contain the code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth trying again later (timeouts, connection errors, HTTP 5xx and 429, SMTP 4xx).
    #[error("transient: {detail}")]
    Transient {
        detail: String,
        /// The provider's own wait, in seconds (HTTP `Retry-After`).
        retry_after: Option<i64>,
    },
    /// Trying again cannot help (SMTP 5xx, an invalid or blocked number, a refused request).
    #[error("permanent ({}): {detail}", failure.as_str())]
    Permanent {
        failure: DeliveryFailure,
        detail: String,
    },
}

impl ProviderError {
    pub fn transient(detail: impl Into<String>) -> ProviderError {
        ProviderError::Transient {
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn permanent(failure: DeliveryFailure, detail: impl Into<String>) -> ProviderError {
        ProviderError::Permanent {
            failure,
            detail: detail.into(),
        }
    }
}

/// A way to get a message to a person on one channel.
#[async_trait]
pub trait Provider: Send + Sync {
    /// A short name for logs and records ("smtp", "twilio", "gateway", "whatsapp").
    fn name(&self) -> &'static str;
    async fn send(&self, message: &OutgoingMessage) -> Result<Accepted, ProviderError>;
}

/// A channel that cannot be delivered under this key in this mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("channel `{0}` has no delivery provider configured")]
pub struct NoProvider(pub Channel);

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Kept in the outbox, code in clear, at once.
    Outbox,
    /// Queued for the channel's provider.
    Provider,
}

/// Chooses where each message goes and wakes the worker when one is queued: test keys always
/// to the outbox; live keys to the outbox in development mode, and in production to the
/// channel's provider or nowhere (refused before anything is stored, never silently dropped).
#[derive(Clone)]
pub struct Delivery {
    mode: Mode,
    providers: HashMap<Channel, Arc<dyn Provider>>,
    wake: Arc<Notify>,
    /// When this process's worker last went round its loop (readiness asks).
    beat: Arc<Heartbeat>,
}

/// A worker's sign of life (the delivery worker's, the webhook worker's): the time of its last
/// round, as milliseconds since the heartbeat was made (0: no worker has run in this process).
#[derive(Debug)]
pub struct Heartbeat {
    origin: std::time::Instant,
    last_ms: std::sync::atomic::AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Heartbeat {
        Heartbeat::new()
    }
}

impl Heartbeat {
    pub fn new() -> Heartbeat {
        Heartbeat {
            origin: std::time::Instant::now(),
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The worker is going round its loop now.
    pub fn beat(&self) {
        let ms = (self.origin.elapsed().as_millis() as u64).max(1);
        self.last_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long ago the worker last went round its loop; `None` when no worker ran here.
    pub fn since(&self) -> Option<std::time::Duration> {
        let last = self.last_ms.load(std::sync::atomic::Ordering::Relaxed);
        (last > 0).then(|| {
            self.origin
                .elapsed()
                .saturating_sub(std::time::Duration::from_millis(last))
        })
    }
}

impl Delivery {
    pub fn new(mode: Mode) -> Delivery {
        Delivery {
            mode,
            providers: HashMap::new(),
            wake: Arc::new(Notify::new()),
            beat: Arc::new(Heartbeat::new()),
        }
    }

    /// The worker's sign of life.
    pub fn heartbeat(&self) -> &Heartbeat {
        &self.beat
    }

    /// Registers a provider for `channel`.
    pub fn with_provider(mut self, channel: Channel, provider: Arc<dyn Provider>) -> Delivery {
        self.providers.insert(channel, provider);
        self
    }

    pub fn route(&self, is_test: bool, channel: Channel) -> Result<Route, NoProvider> {
        if is_test || self.mode == Mode::Dev {
            Ok(Route::Outbox)
        } else if self.providers.contains_key(&channel) {
            Ok(Route::Provider)
        } else {
            Err(NoProvider(channel))
        }
    }

    /// Checks every channel can be routed before anything is stored.
    pub fn ensure_routable(&self, is_test: bool, channels: &[Channel]) -> Result<(), NoProvider> {
        channels
            .iter()
            .try_for_each(|&channel| self.route(is_test, channel).map(|_| ()))
    }

    pub fn provider(&self, channel: Channel) -> Option<&Arc<dyn Provider>> {
        self.providers.get(&channel)
    }

    /// The channels with a provider, and its name.
    pub fn providers(&self) -> Vec<(Channel, &'static str)> {
        let mut list: Vec<_> = self
            .providers
            .iter()
            .map(|(channel, provider)| (*channel, provider.name()))
            .collect();
        list.sort();
        list
    }

    /// A stored provider name as a label from a bounded set: a configured provider's name, or
    /// `other` for one no longer configured (`none` when no provider took it).
    pub fn provider_label(&self, stored: Option<&str>) -> &'static str {
        match stored {
            None => "none",
            Some(name) => self
                .providers
                .values()
                .map(|provider| provider.name())
                .find(|known| *known == name)
                .unwrap_or("other"),
        }
    }

    /// Tells the worker a message was queued, so it does not wait for its timer.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_heartbeat_says_how_long_ago_the_worker_went_round() {
        let beat = Heartbeat::new();
        assert_eq!(beat.since(), None, "no worker ran");
        beat.beat();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let since = beat.since().expect("a worker ran");
        assert!(since >= std::time::Duration::from_millis(15), "{since:?}");
        beat.beat();
        assert!(beat.since().expect("ran") < since);
    }

    use super::*;

    struct Named(&'static str);

    #[async_trait]
    impl Provider for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        async fn send(&self, _: &OutgoingMessage) -> Result<Accepted, ProviderError> {
            Ok(Accepted::default())
        }
    }

    #[test]
    fn routing_follows_key_kind_and_mode() {
        let dev = Delivery::new(Mode::Dev);
        assert_eq!(dev.route(false, Channel::Sms), Ok(Route::Outbox));
        assert_eq!(dev.route(true, Channel::Email), Ok(Route::Outbox));

        let production =
            Delivery::new(Mode::Production).with_provider(Channel::Email, Arc::new(Named("smtp")));
        assert_eq!(production.route(true, Channel::Sms), Ok(Route::Outbox));
        assert_eq!(production.route(false, Channel::Email), Ok(Route::Provider));
        assert_eq!(
            production.route(false, Channel::Sms),
            Err(NoProvider(Channel::Sms))
        );
        assert_eq!(
            production.ensure_routable(false, &[Channel::Email, Channel::Whatsapp]),
            Err(NoProvider(Channel::Whatsapp))
        );
        assert_eq!(production.providers(), vec![(Channel::Email, "smtp")]);
        assert_eq!(
            NoProvider(Channel::Whatsapp).to_string(),
            "channel `whatsapp` has no delivery provider configured"
        );
    }

    #[test]
    fn debug_output_hides_the_code() {
        let message = OutgoingMessage {
            delivery_id: 1,
            channel: Channel::Sms,
            to: "+14155550100".into(),
            code: "493817".into(),
            content: texts::Content::Sms("Your Acme code is 493817.".into()),
            receipt_url: None,
        };
        let printed = format!("{message:?}");
        assert!(!printed.contains("493817"), "{printed}");
    }
}
