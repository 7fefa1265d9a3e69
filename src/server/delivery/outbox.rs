//! The outbox provider: keeps the message, code included, in the database instead of sending it.

use async_trait::async_trait;

use super::{Deliver, DeliveryError, Message};
use crate::server::clock::Clock;
use crate::server::store::{NewOutboxMessage, Store};
use std::sync::Arc;

pub struct OutboxDelivery {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl OutboxDelivery {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> OutboxDelivery {
        OutboxDelivery { store, clock }
    }
}

#[async_trait]
impl Deliver for OutboxDelivery {
    fn name(&self) -> &'static str {
        "outbox"
    }

    async fn deliver(&self, message: &Message) -> Result<(), DeliveryError> {
        self.store
            .insert_outbox(&NewOutboxMessage {
                tenant_id: message.tenant_id,
                session_id: message.session_id,
                request_id: message.request_id,
                is_test: message.is_test,
                channel: message.channel.as_str().to_owned(),
                recipient: message.to.clone(),
                body: message.body.clone(),
                code: message.code.clone(),
                sent_at: self.clock.now(),
            })
            .await
            .map_err(|e| DeliveryError {
                provider: "outbox",
                channel: message.channel,
                reason: e.to_string(),
            })
    }
}
