//! A tenant's message texts, administered: save a template for a channel and language (checked
//! first: it renders, shows the code, fits its SMS segments, and its HTML neither runs nor
//! fetches anything), read it, delete it (back to the built-in text), preview what would be
//! sent with sample values (a saved template, one not yet saved, or the built-in text), and
//! send a test message through the channel's provider. Saving and deleting forget this
//! process's compiled templates, so the next message uses the change.

use crate::engine::Channel;
use crate::engine::sms::{SmsSize, sms_size};
use crate::model::LANGUAGES;
use crate::server::delivery::templates::webotp_host;
use crate::server::delivery::tenant_text::{self, Part};
use crate::server::delivery::texts::{Content, Facts, TenantTexts};
use crate::server::delivery::{Delivery, OutgoingMessage};
use crate::server::store::{Caller, StoreError, StoredTemplate, TemplateBody};

use super::{AdminService, ServiceError, ServiceResult};

/// The most SMS segments a tenant's text may take, with the WebOTP line otpgate appends: a
/// longer text costs more per message and arrives in pieces on some phones.
pub const MAX_SMS_SEGMENTS: usize = 3;

/// The longest rendered email subject.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// A template as an operator gives it, before it is checked. Which parts it must have depends
/// on the channel.
#[derive(Clone, Debug, Default)]
pub struct TemplateInput {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub whatsapp_template: Option<String>,
    pub whatsapp_language: Option<String>,
}

/// The sample values a preview renders with; what is left out is made up.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    pub code: Option<String>,
    pub app_name: Option<String>,
    pub expires_in_minutes: Option<i64>,
    pub host: Option<String>,
}

/// Where a previewed text comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextSource {
    /// The body the preview was given (not saved).
    Given,
    /// The tenant's saved template.
    Saved,
    /// otpgate's own text (the tenant has none for this channel and language).
    BuiltIn,
}

impl TextSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TextSource::Given => "given",
            TextSource::Saved => "saved",
            TextSource::BuiltIn => "built-in",
        }
    }
}

/// What a message would say.
#[derive(Clone, Debug)]
pub struct Preview {
    pub channel: Channel,
    /// The language the text is in (the built-in text may be in another than the one asked).
    pub language: &'static str,
    pub source: TextSource,
    pub subject: Option<String>,
    /// The SMS as sent (with the WebOTP line), or the email's text part.
    pub text: Option<String>,
    pub html: Option<String>,
    /// An SMS's size.
    pub sms: Option<SmsSize>,
    /// A WhatsApp message's template name and language code (`None`: the server's
    /// configured template), with the code as its parameter.
    pub whatsapp: Option<(Option<String>, Option<String>)>,
}

/// What the channel's provider answered to a test message.
#[derive(Clone, Debug)]
pub struct TestSend {
    pub provider: &'static str,
    pub accepted: bool,
    pub provider_message_id: Option<String>,
    /// Why it was not accepted (never the code).
    pub error: Option<String>,
    pub preview: Preview,
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::InvalidRequest(message.into())
}

/// The channel a path names.
pub fn template_channel(name: &str) -> ServiceResult<Channel> {
    Channel::parse(name).ok_or_else(|| {
        invalid(format!(
            "channel: `{name}` is not one of email, sms, whatsapp"
        ))
    })
}

/// The language a path names: one of the built-in languages' primary tags, as they are
/// written (`pt`, not `pt-BR` or `PT`), so one text has one name.
pub fn template_locale(tag: &str) -> ServiceResult<&'static str> {
    LANGUAGES
        .iter()
        .find(|t| **t == tag)
        .copied()
        .ok_or_else(|| {
            invalid(format!(
                "locale: `{tag}` is not one of {}",
                LANGUAGES.join(", ")
            ))
        })
}

/// A WhatsApp template's name as Meta allows it: lower-case letters, digits and underscores.
fn whatsapp_name(name: &str) -> ServiceResult<String> {
    let valid = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    valid.then(|| name.to_owned()).ok_or_else(|| {
        invalid("whatsapp_template: an approved template's name (a-z, 0-9 and _, at most 512)")
    })
}

/// A WhatsApp template's language code as Meta writes it: `en`, `pt_BR`, `zh_CN`.
fn whatsapp_language(code: &str) -> ServiceResult<String> {
    let (language, region) = code.split_once('_').unwrap_or((code, ""));
    let valid = (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_lowercase())
        && (region.is_empty()
            || ((2..=4).contains(&region.len())
                && region.bytes().all(|b| b.is_ascii_alphanumeric())));
    valid.then(|| code.to_owned()).ok_or_else(|| {
        invalid("whatsapp_language: the template's language code, as Meta writes it (en, pt_BR)")
    })
}

/// The parts `channel`'s template has, from what was given: each required one present, none
/// of another channel's.
fn body_of(channel: Channel, input: &TemplateInput) -> ServiceResult<TemplateBody> {
    let given = [
        ("subject", input.subject.is_some()),
        ("text", input.text.is_some()),
        ("html", input.html.is_some()),
        ("whatsapp_template", input.whatsapp_template.is_some()),
        ("whatsapp_language", input.whatsapp_language.is_some()),
    ];
    let (needed, missing_text): (&[&str], _) = match channel {
        Channel::Email => (
            &["subject", "text", "html"],
            "an email template has `subject`, `text` and `html`",
        ),
        Channel::Sms => (&["text"], "an SMS template has `text`"),
        Channel::Whatsapp => (
            &["whatsapp_template", "whatsapp_language"],
            "a WhatsApp template has `whatsapp_template` and `whatsapp_language` (its text is \
             the one Meta approved)",
        ),
    };
    for (name, present) in given {
        if present != needed.contains(&name) {
            return Err(invalid(if present {
                format!("{name}: not a part of a {channel} template ({missing_text})")
            } else {
                format!("{name}: missing ({missing_text})")
            }));
        }
    }
    let part = |value: &Option<String>| value.clone().unwrap_or_default();
    Ok(match channel {
        Channel::Email => TemplateBody::Email {
            subject: part(&input.subject),
            text: part(&input.text),
            html: part(&input.html),
        },
        Channel::Sms => TemplateBody::Sms {
            text: part(&input.text),
        },
        Channel::Whatsapp => TemplateBody::Whatsapp {
            template: whatsapp_name(&part(&input.whatsapp_template))?,
            language: whatsapp_language(&part(&input.whatsapp_language))?,
        },
    })
}

/// The template's parts, each with the part it writes.
fn parts(body: &TemplateBody) -> Vec<(Part, &str)> {
    match body {
        TemplateBody::Email {
            subject,
            text,
            html,
        } => vec![
            (Part::EmailSubject, subject),
            (Part::EmailText, text),
            (Part::EmailHtml, html),
        ],
        TemplateBody::Sms { text } => vec![(Part::SmsText, text)],
        TemplateBody::Whatsapp { .. } => vec![],
    }
}

/// Checks every part of a body as it would be saved for a tenant called `app_name` whose
/// WebOTP line names `host`.
fn check_body(body: &TemplateBody, app_name: &str, host: Option<&str>) -> ServiceResult<()> {
    for (part, source) in parts(body) {
        let (rendered, _) = tenant_text::check(part, source, app_name, host, MAX_SMS_SEGMENTS)
            .map_err(|error| invalid(error.to_string()))?;
        if part == Part::EmailSubject {
            let chars = rendered
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .count();
            if chars == 0 || chars > MAX_SUBJECT_CHARS {
                return Err(invalid(format!(
                    "subject: renders to {chars} characters; from 1 to {MAX_SUBJECT_CHARS} are \
                     allowed"
                )));
            }
        }
    }
    Ok(())
}

impl AdminService {
    /// The host a tenant's WebOTP line names (its first origin's).
    async fn tenant_host(&self, tenant: &str) -> ServiceResult<Option<String>> {
        let info = self.tenant(tenant).await?;
        Ok(info.origins.first().and_then(|origin| webotp_host(origin)))
    }

    /// Saves `tenant`'s template for `channel` in `locale`, after checking it; the template as
    /// stored.
    pub async fn save_template(
        &self,
        tenant: &str,
        channel: Channel,
        locale: &str,
        input: &TemplateInput,
        by: &Caller,
    ) -> ServiceResult<StoredTemplate> {
        let locale = template_locale(locale)?;
        let body = body_of(channel, input)?;
        let host = self.tenant_host(tenant).await?;
        check_body(&body, tenant, host.as_deref())?;
        let now = self.now();
        self.parts()
            .store
            .put_template(tenant, locale, &body, now, by)
            .await?;
        self.parts().texts.forget();
        Ok(StoredTemplate {
            locale: locale.to_owned(),
            body,
            updated_at: now,
        })
    }

    /// Every template `tenant` saved, by channel then language.
    pub async fn templates(&self, tenant: &str) -> ServiceResult<Vec<StoredTemplate>> {
        Ok(self.parts().store.templates_of(tenant).await?)
    }

    /// `tenant`'s saved template for `channel` in `locale`.
    pub async fn template(
        &self,
        tenant: &str,
        channel: Channel,
        locale: &str,
    ) -> ServiceResult<StoredTemplate> {
        let locale = template_locale(locale)?;
        self.parts()
            .store
            .template(tenant, channel, locale)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "`{tenant}` has no {channel} template in `{locale}`: the built-in text is sent"
                ))
                .into()
            })
    }

    /// Deletes `tenant`'s template for `channel` in `locale`: the built-in text is sent again.
    pub async fn delete_template(
        &self,
        tenant: &str,
        channel: Channel,
        locale: &str,
        by: &Caller,
    ) -> ServiceResult<()> {
        let locale = template_locale(locale)?;
        let deleted = self
            .parts()
            .store
            .delete_template(tenant, channel, locale, self.now(), by)
            .await?;
        self.parts().texts.forget();
        if deleted {
            Ok(())
        } else {
            // The tenant exists (the store said so by not failing); the template does not.
            Err(StoreError::NotFound(format!(
                "`{tenant}` has no {channel} template in `{locale}`"
            ))
            .into())
        }
    }

    /// The text a message on `channel` in `locale` is made from now: the saved template, else
    /// the built-in text.
    async fn text_in_effect(
        &self,
        tenant: &str,
        channel: Channel,
        locale: &'static str,
    ) -> ServiceResult<(TextSource, Option<TemplateBody>)> {
        Ok(
            match self.parts().store.template(tenant, channel, locale).await? {
                Some(saved) => (TextSource::Saved, Some(saved.body)),
                None => (TextSource::BuiltIn, None),
            },
        )
    }

    /// What a message on `channel` in `locale` would say with `samples`: the template `given`
    /// (checked as it would be on saving), else the saved one, else the built-in text.
    pub async fn preview_template(
        &self,
        tenant: &str,
        channel: Channel,
        locale: &str,
        given: Option<&TemplateInput>,
        samples: &Samples,
    ) -> ServiceResult<Preview> {
        let locale = template_locale(locale)?;
        let host = self.tenant_host(tenant).await?;
        let (source, body) = match given {
            Some(input) => {
                let body = body_of(channel, input)?;
                check_body(&body, tenant, host.as_deref())?;
                (TextSource::Given, Some(body))
            }
            None => self.text_in_effect(tenant, channel, locale).await?,
        };
        let code = match &samples.code {
            Some(code)
                if (4..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) =>
            {
                code.clone()
            }
            Some(_) => return Err(invalid("code: 4 to 10 digits")),
            None => "123456".to_owned(),
        };
        let minutes = samples.expires_in_minutes.unwrap_or(10);
        if !(1..=1440).contains(&minutes) {
            return Err(invalid("expires_in_minutes: from 1 to 1440"));
        }
        let app_name = samples
            .app_name
            .clone()
            .unwrap_or_else(|| tenant.to_owned());
        if app_name.is_empty() || app_name.chars().count() > 100 {
            return Err(invalid("app_name: from 1 to 100 characters"));
        }
        let host = samples.host.clone().or(host);
        let facts = Facts {
            channel,
            locale: Some(locale),
            tenant: &app_name,
            code: &code,
            seconds_left: minutes * 60,
            webotp_host: host.as_deref(),
        };
        render(source, body, locale, &facts)
    }

    /// Sends `to` a test message on `channel` in `locale` (the tenant's template, else the
    /// built-in text, with a made-up code) through the channel's provider, whatever the
    /// server's mode; what the provider answered, and what the message said.
    pub async fn test_template(
        &self,
        tenant: &str,
        channel: Channel,
        locale: &str,
        to: &str,
    ) -> ServiceResult<TestSend> {
        let locale = template_locale(locale)?;
        let to = match channel {
            Channel::Email => super::validate::email(to),
            Channel::Sms | Channel::Whatsapp => super::validate::phone_e164(to),
        }
        .map_err(|reason| invalid(format!("to: {reason}")))?;
        let host = self.tenant_host(tenant).await?;
        let delivery: &Delivery = self.parts().delivery.as_ref().ok_or_else(|| {
            ServiceError::Conflict("test messages are sent by a server with its providers".into())
        })?;
        let provider = delivery.provider(channel).cloned().ok_or_else(|| {
            ServiceError::Conflict(format!("no provider is configured for {channel}"))
        })?;
        let (source, body) = self.text_in_effect(tenant, channel, locale).await?;
        let code = crate::engine::code::generate_code(&mut rand::rng(), 6);
        let facts = Facts {
            channel,
            locale: Some(locale),
            tenant,
            code: &code,
            seconds_left: 600,
            webotp_host: host.as_deref(),
        };
        let (preview, content) = render_content(source, body, locale, &facts)?;
        let message = OutgoingMessage {
            delivery_id: 0,
            channel,
            to,
            code,
            content,
            receipt_url: None,
        };
        let answer = provider.send(&message).await;
        Ok(TestSend {
            provider: provider.name(),
            accepted: answer.is_ok(),
            provider_message_id: answer
                .as_ref()
                .ok()
                .and_then(|a| a.provider_message_id.clone()),
            error: answer.err().map(|error| error.to_string()),
            preview,
        })
    }
}

/// What `body` (else the built-in text) says for `facts`.
fn render(
    source: TextSource,
    body: Option<TemplateBody>,
    locale: &str,
    facts: &Facts<'_>,
) -> ServiceResult<Preview> {
    render_content(source, body, locale, facts).map(|(preview, _)| preview)
}

/// What `body` (else the built-in text) says for `facts`, as a preview and as the content a
/// provider sends. A template that does not render with these values is an error here, not the
/// built-in text in its place.
fn render_content(
    source: TextSource,
    body: Option<TemplateBody>,
    locale: &str,
    facts: &Facts<'_>,
) -> ServiceResult<(Preview, Content)> {
    let texts = match body {
        Some(body) => TenantTexts::new(vec![StoredTemplate {
            locale: locale.to_owned(),
            body,
            updated_at: 0,
        }]),
        None => TenantTexts::built_in(),
    };
    let language = texts.language(facts.locale);
    let content = texts
        .try_content(facts)
        .map_err(|error| invalid(error.to_string()))?;
    Ok((
        preview_of(source, language, content.clone(), facts.channel),
        content,
    ))
}

fn preview_of(
    source: TextSource,
    language: &'static str,
    content: Content,
    channel: Channel,
) -> Preview {
    let mut preview = Preview {
        channel,
        language,
        source,
        subject: None,
        text: None,
        html: None,
        sms: None,
        whatsapp: None,
    };
    match content {
        Content::Sms(text) => {
            preview.sms = Some(sms_size(&text));
            preview.text = Some(text);
        }
        Content::Email(email) => {
            preview.subject = Some(email.subject);
            preview.text = Some(email.text);
            preview.html = Some(email.html);
        }
        Content::Whatsapp {
            tenant_template, ..
        } => {
            preview.whatsapp = Some(match tenant_template {
                Some((name, code)) => (Some(name), Some(code)),
                None => (None, None),
            });
        }
    }
    preview
}
