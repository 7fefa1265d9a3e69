//! Delivery of codes: one object-safe trait per channel, the outbox that catches messages for
//! test keys and development mode, and the routing rule between them.

mod outbox;
pub mod templates;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

pub use outbox::OutboxDelivery;

use crate::engine::Channel;
use crate::server::config::Mode;

/// One message on its way to a person. `Debug` leaves out the body and the code.
#[derive(Clone)]
pub struct Message {
    pub tenant_id: i64,
    pub session_id: Option<i64>,
    pub request_id: Option<i64>,
    pub is_test: bool,
    pub channel: Channel,
    pub to: String,
    pub body: String,
    pub code: String,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("tenant_id", &self.tenant_id)
            .field("channel", &self.channel)
            .field("is_test", &self.is_test)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{provider} could not deliver the {channel} message: {reason}")]
pub struct DeliveryError {
    pub provider: &'static str,
    pub channel: Channel,
    pub reason: String,
}

/// A way to get a message to a person on one channel.
#[async_trait]
pub trait Deliver: Send + Sync {
    /// A short name for logs ("outbox", "smtp", ...).
    fn name(&self) -> &'static str;
    async fn deliver(&self, message: &Message) -> Result<(), DeliveryError>;
}

/// A channel that cannot be delivered under this key in this mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("channel `{0}` has no delivery provider configured")]
pub struct NoProvider(pub Channel);

/// Chooses where each message goes: test keys always to the outbox; live keys to the outbox in
/// development mode, and in production to the channel's provider or nowhere (refused, never
/// silently dropped).
#[derive(Clone)]
pub struct Delivery {
    mode: Mode,
    outbox: Arc<dyn Deliver>,
    providers: HashMap<Channel, Arc<dyn Deliver>>,
}

impl Delivery {
    pub fn new(mode: Mode, outbox: Arc<dyn Deliver>) -> Delivery {
        Delivery {
            mode,
            outbox,
            providers: HashMap::new(),
        }
    }

    /// Registers a real provider for `channel`.
    pub fn with_provider(mut self, channel: Channel, provider: Arc<dyn Deliver>) -> Delivery {
        self.providers.insert(channel, provider);
        self
    }

    pub fn route(&self, is_test: bool, channel: Channel) -> Result<&Arc<dyn Deliver>, NoProvider> {
        if is_test || self.mode == Mode::Dev {
            return Ok(&self.outbox);
        }
        self.providers.get(&channel).ok_or(NoProvider(channel))
    }

    /// Checks every channel can be routed before anything is stored.
    pub fn ensure_routable(&self, is_test: bool, channels: &[Channel]) -> Result<(), NoProvider> {
        channels
            .iter()
            .try_for_each(|&channel| self.route(is_test, channel).map(|_| ()))
    }

    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let provider = self.route(message.is_test, message.channel)?;
        provider.deliver(message).await?;
        tracing::info!(
            provider = provider.name(),
            channel = %message.channel,
            tenant_id = message.tenant_id,
            test = message.is_test,
            "message delivered"
        );
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    NoProvider(#[from] NoProvider),
    #[error(transparent)]
    Failed(#[from] DeliveryError),
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);

    #[async_trait]
    impl Deliver for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        async fn deliver(&self, _: &Message) -> Result<(), DeliveryError> {
            Ok(())
        }
    }

    #[test]
    fn routing_follows_key_kind_and_mode() {
        let outbox: Arc<dyn Deliver> = Arc::new(Named("outbox"));
        let dev = Delivery::new(Mode::Dev, outbox.clone());
        assert_eq!(dev.route(false, Channel::Sms).unwrap().name(), "outbox");
        assert_eq!(dev.route(true, Channel::Email).unwrap().name(), "outbox");

        let production = Delivery::new(Mode::Production, outbox)
            .with_provider(Channel::Email, Arc::new(Named("smtp")));
        assert_eq!(
            production.route(true, Channel::Sms).unwrap().name(),
            "outbox"
        );
        assert_eq!(
            production.route(false, Channel::Email).unwrap().name(),
            "smtp"
        );
        assert_eq!(
            production.route(false, Channel::Sms).err(),
            Some(NoProvider(Channel::Sms))
        );
        assert_eq!(
            production.ensure_routable(false, &[Channel::Email, Channel::Whatsapp]),
            Err(NoProvider(Channel::Whatsapp))
        );
        assert_eq!(
            NoProvider(Channel::Whatsapp).to_string(),
            "channel `whatsapp` has no delivery provider configured"
        );
    }

    #[test]
    fn debug_output_hides_the_code() {
        let message = Message {
            tenant_id: 1,
            session_id: Some(1),
            request_id: None,
            is_test: true,
            channel: Channel::Sms,
            to: "+14155550100".into(),
            body: "Your Acme code is 493817.".into(),
            code: "493817".into(),
        };
        let printed = format!("{message:?}");
        assert!(!printed.contains("493817"), "{printed}");
    }
}
