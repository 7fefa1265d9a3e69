//! A tenant's message templates, for both stores: saved (replacing) and deleted with their
//! audit entry in the same transaction, read one at a time for the admin API and all of a
//! tenant's at once for rendering.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::audit::{About, entry};
use super::{Backend, Connection, Query};
use crate::engine::Channel;
use crate::server::store::templates::*;
use crate::server::store::{Caller, StoreError, StoreResult};

const TEMPLATE_COLUMNS: &str =
    "channel, locale, subject, text, html, whatsapp_template, whatsapp_language, updated_at";

#[derive(sqlx::FromRow)]
struct TemplateRow {
    channel: String,
    locale: String,
    subject: Option<String>,
    text: Option<String>,
    html: Option<String>,
    whatsapp_template: Option<String>,
    whatsapp_language: Option<String>,
    updated_at: i64,
}

impl TemplateRow {
    fn into_template(self) -> StoreResult<StoredTemplate> {
        let incomplete = || {
            StoreError::Corrupt(format!(
                "the {} template in `{}` lacks a part",
                self.channel, self.locale
            ))
        };
        let body = match Channel::parse(&self.channel) {
            Some(Channel::Email) => TemplateBody::Email {
                subject: self.subject.clone().ok_or_else(incomplete)?,
                text: self.text.clone().ok_or_else(incomplete)?,
                html: self.html.clone().ok_or_else(incomplete)?,
            },
            Some(Channel::Sms) => TemplateBody::Sms {
                text: self.text.clone().ok_or_else(incomplete)?,
            },
            Some(Channel::Whatsapp) => TemplateBody::Whatsapp {
                template: self.whatsapp_template.clone().ok_or_else(incomplete)?,
                language: self.whatsapp_language.clone().ok_or_else(incomplete)?,
            },
            None => {
                return Err(StoreError::Corrupt(format!(
                    "a template of the unknown channel `{}`",
                    self.channel
                )));
            }
        };
        Ok(StoredTemplate {
            locale: self.locale,
            body,
            updated_at: self.updated_at,
        })
    }
}

/// The columns a body fills: subject, text, html, WhatsApp template and language.
type BodyColumns<'a> = [Option<&'a str>; 5];

fn columns(body: &TemplateBody) -> BodyColumns<'_> {
    match body {
        TemplateBody::Email {
            subject,
            text,
            html,
        } => [Some(subject), Some(text), Some(html), None, None],
        TemplateBody::Sms { text } => [None, Some(text), None, None, None],
        TemplateBody::Whatsapp { template, language } => {
            [None, None, None, Some(template), Some(language)]
        }
    }
}

/// A body as the audit log records it: its parts by name.
fn audited(body: &TemplateBody) -> Value {
    match body {
        TemplateBody::Email {
            subject,
            text,
            html,
        } => json!({"subject": subject, "text": text, "html": html}),
        TemplateBody::Sms { text } => json!({"text": text}),
        TemplateBody::Whatsapp { template, language } => {
            json!({"whatsapp_template": template, "whatsapp_language": language})
        }
    }
}

fn template_target(channel: Channel, locale: &str) -> Option<String> {
    Some(format!("template {channel}/{locale}"))
}

/// The template of a tenant (by ID) for a channel and language.
fn select_one(tenant_id: i64, channel: Channel, locale: &str, lock: &str) -> Query {
    Query::text(format!(
        "SELECT {TEMPLATE_COLUMNS} FROM tenant_templates
         WHERE tenant_id = $1 AND channel = $2 AND locale = $3{lock}"
    ))
    .bind(tenant_id)
    .bind(channel.as_str())
    .bind(locale)
}

/// Every template of a tenant (by ID), by channel then language.
fn select_all(tenant_id: i64) -> Query {
    Query::text(format!(
        "SELECT {TEMPLATE_COLUMNS} FROM tenant_templates WHERE tenant_id = $1
         ORDER BY channel, locale"
    ))
    .bind(tenant_id)
}

async fn tenant_id<C: Connection + ?Sized>(
    connection: &mut C,
    tenant: &str,
    lock: &str,
) -> StoreResult<i64> {
    connection
        .fetch_value(
            Query::text(format!("SELECT id FROM tenants WHERE name = $1{lock}")).bind(tenant),
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no tenant named `{tenant}`")))
}

#[async_trait]
impl<B: Backend> TemplateStore for B {
    async fn put_template(
        &self,
        tenant: &str,
        locale: &str,
        body: &TemplateBody,
        now: i64,
        by: &Caller,
    ) -> StoreResult<()> {
        let channel = body.channel();
        let mut tx = self.begin().await?;
        // The tenant's row locked, so two operators' saves apply one after the other and each
        // audit entry's "before" is what it replaced.
        let tenant_id = tenant_id(&mut *tx, tenant, B::LOCK_ROWS).await?;
        let before: Option<TemplateRow> = tx
            .fetch_optional(select_one(tenant_id, channel, locale, ""))
            .await?;
        let before = before.map(TemplateRow::into_template).transpose()?;
        let [subject, text, html, wa_template, wa_language] = columns(body);
        tx.execute(
            Query::new(
                "INSERT INTO tenant_templates (tenant_id, channel, locale, subject, text, html,
                     whatsapp_template, whatsapp_language, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (tenant_id, channel, locale) DO UPDATE SET
                     subject = excluded.subject, text = excluded.text, html = excluded.html,
                     whatsapp_template = excluded.whatsapp_template,
                     whatsapp_language = excluded.whatsapp_language,
                     updated_at = excluded.updated_at",
            )
            .bind(tenant_id)
            .bind(channel.as_str())
            .bind(locale)
            .bind(subject)
            .bind(text)
            .bind(html)
            .bind(wa_template)
            .bind(wa_language)
            .bind(now),
        )
        .await?;
        tx.execute(entry(
            by,
            About::TenantId(tenant_id),
            "template.saved",
            template_target(channel, locale),
            before.map(|t| audited(&t.body)),
            Some(audited(body)),
            now,
        ))
        .await?;
        B::commit(tx).await
    }

    async fn template(
        &self,
        tenant: &str,
        channel: Channel,
        locale: &str,
    ) -> StoreResult<Option<StoredTemplate>> {
        let mut reader = self.reader().await?;
        let tenant_id = tenant_id(&mut *reader, tenant, "").await?;
        let row: Option<TemplateRow> = reader
            .fetch_optional(select_one(tenant_id, channel, locale, ""))
            .await?;
        row.map(TemplateRow::into_template).transpose()
    }

    async fn tenant_templates(&self, tenant_id: i64) -> StoreResult<Vec<StoredTemplate>> {
        let rows: Vec<TemplateRow> = self
            .reader()
            .await?
            .fetch_all(select_all(tenant_id))
            .await?;
        rows.into_iter().map(TemplateRow::into_template).collect()
    }

    async fn templates_of(&self, tenant: &str) -> StoreResult<Vec<StoredTemplate>> {
        let mut reader = self.reader().await?;
        let tenant_id = tenant_id(&mut *reader, tenant, "").await?;
        let rows: Vec<TemplateRow> = reader.fetch_all(select_all(tenant_id)).await?;
        rows.into_iter().map(TemplateRow::into_template).collect()
    }

    async fn delete_template(
        &self,
        tenant: &str,
        channel: Channel,
        locale: &str,
        now: i64,
        by: &Caller,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let tenant_id = tenant_id(&mut *tx, tenant, B::LOCK_ROWS).await?;
        let deleted: Option<TemplateRow> = tx
            .fetch_optional(
                Query::text(format!(
                    "DELETE FROM tenant_templates
                     WHERE tenant_id = $1 AND channel = $2 AND locale = $3
                     RETURNING {TEMPLATE_COLUMNS}"
                ))
                .bind(tenant_id)
                .bind(channel.as_str())
                .bind(locale),
            )
            .await?;
        let Some(deleted) = deleted.map(TemplateRow::into_template).transpose()? else {
            return Ok(false);
        };
        tx.execute(entry(
            by,
            About::TenantId(tenant_id),
            "template.deleted",
            template_target(channel, locale),
            Some(audited(&deleted.body)),
            None,
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(true)
    }
}
