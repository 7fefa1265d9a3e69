//! What a message says: the tenant's own template for its channel and language when it has one
//! (compiled once, kept for a few seconds per tenant), the built-in text otherwise. The
//! language is the session's when the tenant wrote this channel's text in it, else the built-in
//! language closest to the session's. A template that fails to render at send time (it rendered
//! when it was saved, so this is unexpected) is logged and the built-in text is sent instead:
//! the person gets a code either way.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use minijinja::Environment;

use super::templates::{self, EmailContent, Language};
use super::tenant_text::{self, Part, TemplateError, Vars};
use crate::engine::Channel;
use crate::model::language_of;
use crate::server::store::{Store, StoreResult, StoredTemplate, TemplateBody};

/// How long a tenant's templates are believed without reading them again: a change through
/// this process applies at once; through another (the CLI, another instance) within this.
pub const TEXTS_TTL: Duration = Duration::from_secs(5);

/// Tenants whose templates are kept at most; past that the cache starts over.
const CAPACITY: usize = 10_000;

/// A message's content, ready for its provider.
#[derive(Clone)]
pub enum Content {
    /// The SMS as sent, with the WebOTP line when the tenant has an origin.
    Sms(String),
    Email(EmailContent),
    /// A WhatsApp template message: the tenant's approved template (its name and language
    /// code), or `None` for the server's configured template in the language `language`.
    Whatsapp {
        tenant_template: Option<(String, String)>,
        language: &'static str,
    },
}

/// What a message is about, for its text.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    pub channel: Channel,
    /// The session's `locale`, as the integrator gave it.
    pub locale: Option<&'a str>,
    /// The tenant's name (`app_name` in a template).
    pub tenant: &'a str,
    pub code: &'a str,
    pub seconds_left: i64,
    /// The host of the tenant's origin, for the SMS WebOTP line.
    pub webotp_host: Option<&'a str>,
}

/// One channel's template in one language, as kept for rendering.
enum Set {
    /// Email or SMS: compiled into the tenant's sandbox under its set name.
    Compiled,
    /// WhatsApp: the approved template's name and language code.
    Whatsapp(String, String),
}

/// A tenant's templates, compiled.
pub struct TenantTexts {
    env: Environment<'static>,
    sets: HashMap<(Channel, &'static str), Set>,
    /// The tenant's language, for sessions that name none otpgate speaks.
    default_language: Option<&'static str>,
}

fn set_name(channel: Channel, language: &str) -> String {
    format!("{channel}/{language}")
}

impl TenantTexts {
    /// A tenant without templates of its own.
    pub fn built_in() -> TenantTexts {
        TenantTexts {
            env: tenant_text::sandbox(),
            sets: HashMap::new(),
            default_language: None,
        }
    }

    /// These texts for a tenant whose people are spoken to in `language` when their session
    /// names none otpgate speaks.
    pub fn speaking(mut self, language: Option<&str>) -> TenantTexts {
        self.default_language = language.and_then(language_of);
        self
    }

    /// The tenant's language, if it chose one.
    pub fn default_language(&self) -> Option<&'static str> {
        self.default_language
    }

    /// Compiles a tenant's stored templates. One that does not compile (they are checked before
    /// they are saved, so only a database edited by hand has one) is left out and logged.
    pub fn new(stored: Vec<StoredTemplate>) -> TenantTexts {
        let mut texts = TenantTexts::built_in();
        for template in stored {
            let Some(language) = language_of(&template.locale) else {
                continue;
            };
            let set = set_name(template.body.channel(), language);
            let compiled = match &template.body {
                TemplateBody::Email {
                    subject,
                    text,
                    html,
                } => [
                    (Part::EmailSubject, subject),
                    (Part::EmailText, text),
                    (Part::EmailHtml, html),
                ]
                .into_iter()
                .try_for_each(|(part, source)| {
                    tenant_text::compile(&mut texts.env, &set, part, source)
                })
                .map(|()| Set::Compiled),
                TemplateBody::Sms { text } => {
                    tenant_text::compile(&mut texts.env, &set, Part::SmsText, text)
                        .map(|()| Set::Compiled)
                }
                TemplateBody::Whatsapp { template, language } => {
                    Ok(Set::Whatsapp(template.clone(), language.clone()))
                }
            };
            match compiled {
                Ok(compiled) => {
                    texts
                        .sets
                        .insert((template.body.channel(), language), compiled);
                }
                Err(error) => tracing::warn!(%set, %error, "a stored template does not compile"),
            }
        }
        texts
    }

    /// The language a message is written in: the session's when otpgate speaks it, else the
    /// tenant's, else English. (The tenant's own text in it when it wrote one for the channel,
    /// else the built-in text.)
    pub fn language(&self, locale: Option<&str>) -> &'static str {
        self.built_in_language(locale).tag()
    }

    /// The built-in language of a message for a session's locale (see [`Self::language`]).
    fn built_in_language(&self, locale: Option<&str>) -> Language {
        Language::from_locale(locale.and_then(language_of).or(self.default_language))
    }

    fn vars<'a>(facts: &Facts<'a>, language: &'a str) -> Vars<'a> {
        Vars {
            code: facts.code,
            app_name: facts.tenant,
            expires_in_minutes: (facts.seconds_left / 60).max(1),
            host: facts.webotp_host,
            locale: language,
        }
    }

    /// Renders `parts` of the tenant's set for the message, if it has one in its language.
    fn render<const N: usize>(
        &self,
        facts: &Facts<'_>,
        parts: [Part; N],
    ) -> Result<Option<[String; N]>, TemplateError> {
        let language = self.language(facts.locale);
        let Some(Set::Compiled) = self.sets.get(&(facts.channel, language)) else {
            return Ok(None);
        };
        let set = set_name(facts.channel, language);
        let vars = TenantTexts::vars(facts, language);
        let mut rendered = Vec::with_capacity(N);
        for part in parts {
            rendered.push(tenant_text::render_compiled(&self.env, &set, part, &vars)?);
        }
        Ok(rendered.try_into().ok())
    }

    /// The message for `facts`, ready for its provider; the built-in text when the tenant's
    /// template fails to render (logged).
    pub fn content(&self, facts: &Facts<'_>) -> Content {
        self.try_content(facts).unwrap_or_else(|error| {
            tracing::warn!(
                tenant = facts.tenant,
                channel = %facts.channel,
                %error,
                "a template did not render; the built-in text is sent"
            );
            TenantTexts::built_in().content(facts)
        })
    }

    /// The message for `facts`, or why the tenant's template did not render.
    pub fn try_content(&self, facts: &Facts<'_>) -> Result<Content, TemplateError> {
        let built_in = self.built_in_language(facts.locale);
        Ok(match facts.channel {
            Channel::Sms => Content::Sms(match self.render(facts, [Part::SmsText])? {
                Some([text]) => tenant_text::sms_with_webotp(&text, facts.code, facts.webotp_host),
                None => templates::sms_text(
                    built_in,
                    facts.tenant,
                    facts.code,
                    facts.seconds_left,
                    facts.webotp_host,
                ),
            }),
            Channel::Email => Content::Email(
                match self.render(
                    facts,
                    [Part::EmailSubject, Part::EmailText, Part::EmailHtml],
                )? {
                    Some([subject, text, html]) => EmailContent {
                        // A subject is one line, whatever the template made of it.
                        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
                        text,
                        html,
                    },
                    None => {
                        templates::email(built_in, facts.tenant, facts.code, facts.seconds_left)
                    }
                },
            ),
            Channel::Whatsapp => {
                let language = self.language(facts.locale);
                let tenant_template = match self.sets.get(&(Channel::Whatsapp, language)) {
                    Some(Set::Whatsapp(name, code)) => Some((name.clone(), code.clone())),
                    _ => None,
                };
                Content::Whatsapp {
                    tenant_template,
                    language,
                }
            }
        })
    }

    /// The text an outbox message shows (test keys, development mode): the SMS or the email's
    /// text part as the tenant wrote them, else the built-in line.
    pub fn outbox_text(&self, facts: &Facts<'_>) -> String {
        let part = match facts.channel {
            Channel::Sms => Part::SmsText,
            Channel::Email => Part::EmailText,
            Channel::Whatsapp => return self.built_in_line(facts),
        };
        match self.render(facts, [part]) {
            Ok(Some([text])) => text,
            Ok(None) => self.built_in_line(facts),
            Err(error) => {
                tracing::warn!(tenant = facts.tenant, %error, "a template did not render; the built-in text is shown");
                self.built_in_line(facts)
            }
        }
    }

    fn built_in_line(&self, facts: &Facts<'_>) -> String {
        templates::code_message(
            self.built_in_language(facts.locale),
            facts.tenant,
            facts.code,
            facts.seconds_left,
        )
    }
}

/// Each tenant's compiled templates, read from the store at most every [`TEXTS_TTL`].
pub struct TextCache {
    store: Arc<dyn Store>,
    entries: RwLock<HashMap<i64, (Instant, Arc<TenantTexts>)>>,
}

impl TextCache {
    pub fn new(store: Arc<dyn Store>) -> TextCache {
        TextCache {
            store,
            entries: RwLock::default(),
        }
    }

    /// The templates of the tenant with this ID.
    pub async fn tenant(&self, tenant_id: i64) -> StoreResult<Arc<TenantTexts>> {
        let now = Instant::now();
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some((at, texts)) = entries.get(&tenant_id)
                && now.duration_since(*at) < TEXTS_TTL
            {
                return Ok(texts.clone());
            }
        }
        let stored = self.store.tenant_templates(tenant_id).await?;
        let language = self.store.tenant_language(tenant_id).await?;
        let texts = if stored.is_empty() {
            TenantTexts::built_in()
        } else {
            TenantTexts::new(stored)
        };
        let texts = Arc::new(texts.speaking(language.as_deref()));
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(tenant_id, (now, texts.clone()));
        Ok(texts)
    }

    /// Forgets every tenant's templates (one was saved or deleted through this process).
    pub fn forget(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(locale: &str, body: TemplateBody) -> StoredTemplate {
        StoredTemplate {
            locale: locale.into(),
            body,
            updated_at: 0,
        }
    }

    fn facts(channel: Channel, locale: Option<&'static str>) -> Facts<'static> {
        Facts {
            channel,
            locale,
            tenant: "Acme",
            code: "123456",
            seconds_left: 600,
            webotp_host: Some("app.acme.test"),
        }
    }

    fn texts() -> TenantTexts {
        TenantTexts::new(vec![
            stored(
                "fr",
                TemplateBody::Sms {
                    text: "{{ app_name }} : votre code est {{ code }} ({{ expires_in_minutes }} min, {{ locale }})".into(),
                },
            ),
            stored(
                "en",
                TemplateBody::Email {
                    subject: "{{ code }}\n for {{ app_name }}".into(),
                    text: "Code: {{ code }}".into(),
                    html: "<p title=\"{{ app_name }}\">{{ code }}</p>".into(),
                },
            ),
            stored(
                "pt",
                TemplateBody::Whatsapp {
                    template: "acme_code".into(),
                    language: "pt_BR".into(),
                },
            ),
        ])
    }

    #[test]
    fn the_tenant_text_in_the_session_language_wins_and_keeps_the_webotp_line() {
        let Content::Sms(text) = texts().content(&facts(Channel::Sms, Some("fr-CA"))) else {
            panic!("an SMS");
        };
        assert_eq!(
            text,
            "Acme : votre code est 123456 (10 min, fr)\n\n@app.acme.test #123456"
        );
    }

    #[test]
    fn without_a_tenant_text_in_its_language_the_built_in_one_is_sent() {
        let texts = texts();
        let Content::Sms(text) = texts.content(&facts(Channel::Sms, Some("de"))) else {
            panic!("an SMS");
        };
        assert!(text.starts_with("Ihr Acme-Code lautet 123456."), "{text}");
        let Content::Sms(text) = texts.content(&facts(Channel::Sms, Some("ar"))) else {
            panic!("an SMS");
        };
        assert!(text.starts_with("رمز Acme"), "{text}");
    }

    #[test]
    fn an_email_template_serves_the_built_in_language_it_replaces() {
        // Italian is none of the twelve: English is sent, and the tenant wrote English.
        let Content::Email(mail) = texts().content(&facts(Channel::Email, Some("it"))) else {
            panic!("an email");
        };
        assert_eq!(mail.subject, "123456 for Acme");
        assert_eq!(mail.text, "Code: 123456");
        assert_eq!(mail.html, "<p title=\"Acme\">123456</p>");
    }

    #[test]
    fn whatsapp_uses_the_tenant_template_in_its_language_or_the_server_one() {
        let texts = texts();
        let Content::Whatsapp {
            tenant_template,
            language,
        } = texts.content(&facts(Channel::Whatsapp, Some("pt-PT")))
        else {
            panic!("a WhatsApp message");
        };
        assert_eq!(
            (tenant_template, language),
            (Some(("acme_code".into(), "pt_BR".into())), "pt")
        );
        let Content::Whatsapp {
            tenant_template,
            language,
        } = texts.content(&facts(Channel::Whatsapp, Some("ar")))
        else {
            panic!("a WhatsApp message");
        };
        assert_eq!((tenant_template, language), (None, "ar"));
    }

    #[test]
    fn the_outbox_shows_the_tenant_text_without_the_webotp_line() {
        let texts = texts();
        assert_eq!(
            texts.outbox_text(&facts(Channel::Sms, Some("fr"))),
            "Acme : votre code est 123456 (10 min, fr)"
        );
        assert_eq!(
            texts.outbox_text(&facts(Channel::Whatsapp, Some("fr"))),
            "Votre code Acme est 123456. Il expire dans 10 minutes."
        );
    }

    #[test]
    fn a_template_that_fails_at_send_time_falls_back_to_the_built_in_text() {
        let texts = TenantTexts::new(vec![stored(
            "en",
            TemplateBody::Sms {
                text: "{{ code }} {{ 1 / 0 }}".into(),
            },
        )]);
        let Content::Sms(text) = texts.content(&facts(Channel::Sms, None)) else {
            panic!("an SMS");
        };
        assert!(text.starts_with("Your Acme code is 123456."), "{text}");
    }
}
