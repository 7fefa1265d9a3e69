//! A tenant's own message texts as stored: one row per channel and language, replaced as a
//! whole when saved, deleted to go back to the built-in text. Each change writes its audit entry
//! in the same transaction, with the texts before and after (a template holds no secret: the
//! code is a placeholder in it).

use async_trait::async_trait;

use super::{Caller, StoreResult};
use crate::engine::Channel;

/// What one channel's message says, in one language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateBody {
    Email {
        subject: String,
        text: String,
        html: String,
    },
    Sms {
        text: String,
    },
    /// A WhatsApp authentication template approved by Meta: only its name and language are the
    /// tenant's (its text is fixed; the code is its parameter).
    Whatsapp {
        template: String,
        language: String,
    },
}

impl TemplateBody {
    pub fn channel(&self) -> Channel {
        match self {
            TemplateBody::Email { .. } => Channel::Email,
            TemplateBody::Sms { .. } => Channel::Sms,
            TemplateBody::Whatsapp { .. } => Channel::Whatsapp,
        }
    }
}

/// A template as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTemplate {
    /// A built-in language's primary tag.
    pub locale: String,
    pub body: TemplateBody,
    pub updated_at: i64,
}

#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Saves `body` as `tenant`'s template for its channel in `locale`, replacing the one there
    /// was. `NotFound` when there is no such tenant.
    async fn put_template(
        &self,
        tenant: &str,
        locale: &str,
        body: &TemplateBody,
        now: i64,
        by: &Caller,
    ) -> StoreResult<()>;

    /// `tenant`'s template for `channel` in `locale`, if it has one.
    async fn template(
        &self,
        tenant: &str,
        channel: Channel,
        locale: &str,
    ) -> StoreResult<Option<StoredTemplate>>;

    /// Every template of the tenant with this ID (what its messages are rendered from).
    async fn tenant_templates(&self, tenant_id: i64) -> StoreResult<Vec<StoredTemplate>>;

    /// Every template of `tenant`, by channel then language. `NotFound` when there is no such
    /// tenant.
    async fn templates_of(&self, tenant: &str) -> StoreResult<Vec<StoredTemplate>>;

    /// Deletes `tenant`'s template for `channel` in `locale`; whether there was one.
    async fn delete_template(
        &self,
        tenant: &str,
        channel: Channel,
        locale: &str,
        now: i64,
        by: &Caller,
    ) -> StoreResult<bool>;
}
