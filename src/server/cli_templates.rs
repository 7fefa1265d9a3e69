//! `otpgate template …`: a tenant's message templates from the command line, through the same
//! `AdminService` calls as the admin API. A part is given as text (`--text`) or read from a
//! file (`--text-file`); `test` sends through the configured providers.

use clap::{Args, Subcommand};

use super::service::templates::{Preview, Samples, TemplateInput, template_channel};
use super::service::{AdminService, Caller, ServiceError};
use super::store::TemplateBody;

/// Which template: a tenant's, for a channel, in a language.
#[derive(Debug, Args)]
pub struct Which {
    #[arg(long)]
    tenant: String,
    /// `email`, `sms` or `whatsapp`.
    #[arg(long)]
    channel: String,
    /// en, ar, es, fr, de, pt, hi, id, tr, ru, zh or fa.
    #[arg(long)]
    locale: String,
}

/// A template's parts, each as text or from a file.
#[derive(Debug, Args)]
pub struct Parts {
    /// The email's subject.
    #[arg(long)]
    subject: Option<String>,
    /// The SMS text, or the email's text part.
    #[arg(long, conflicts_with = "text_file")]
    text: Option<String>,
    #[arg(long)]
    text_file: Option<std::path::PathBuf>,
    /// The email's HTML part.
    #[arg(long, conflicts_with = "html_file")]
    html: Option<String>,
    #[arg(long)]
    html_file: Option<std::path::PathBuf>,
    /// WhatsApp: the approved template's name.
    #[arg(long)]
    whatsapp_template: Option<String>,
    /// WhatsApp: the approved template's language code (`en`, `pt_BR`).
    #[arg(long)]
    whatsapp_language: Option<String>,
}

impl Parts {
    fn input(self) -> Result<TemplateInput, ServiceError> {
        let read = |path: Option<std::path::PathBuf>| {
            path.map(|path| {
                std::fs::read_to_string(&path).map_err(|e| {
                    ServiceError::InvalidRequest(format!("cannot read {}: {e}", path.display()))
                })
            })
            .transpose()
        };
        Ok(TemplateInput {
            subject: self.subject,
            text: self.text.or(read(self.text_file)?),
            html: self.html.or(read(self.html_file)?),
            whatsapp_template: self.whatsapp_template,
            whatsapp_language: self.whatsapp_language,
        })
    }

    fn is_empty(&self) -> bool {
        self.subject.is_none()
            && self.text.is_none()
            && self.text_file.is_none()
            && self.html.is_none()
            && self.html_file.is_none()
            && self.whatsapp_template.is_none()
            && self.whatsapp_language.is_none()
    }
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Save a template (checked first; it replaces the one there was).
    Set {
        #[command(flatten)]
        which: Which,
        #[command(flatten)]
        parts: Parts,
    },
    /// Print a saved template.
    Show {
        #[command(flatten)]
        which: Which,
    },
    /// Delete a template: the built-in text is sent again.
    Delete {
        #[command(flatten)]
        which: Which,
    },
    /// Print what a message would say with sample values: the parts given, else the saved
    /// template, else the built-in text.
    Preview {
        #[command(flatten)]
        which: Which,
        #[command(flatten)]
        parts: Parts,
        #[arg(long)]
        code: Option<String>,
        #[arg(long)]
        app_name: Option<String>,
        #[arg(long)]
        expires_in_minutes: Option<i64>,
    },
    /// Send a test message through the channel's configured provider.
    Test {
        #[command(flatten)]
        which: Which,
        /// An email address, or an E.164 number.
        #[arg(long)]
        to: String,
    },
}

impl TemplateCommand {
    /// Whether the command sends a message (and so needs the providers).
    pub fn sends(&self) -> bool {
        matches!(self, TemplateCommand::Test { .. })
    }
}

fn print_preview(preview: &Preview) {
    println!(
        "{} in `{}` ({} text)",
        preview.channel,
        preview.language,
        preview.source.as_str()
    );
    if let Some(size) = preview.sms {
        println!(
            "{} segment(s), {}, {} units",
            size.segments,
            size.encoding.as_str(),
            size.units
        );
    }
    if let Some((name, code)) = &preview.whatsapp {
        println!(
            "WhatsApp template: {} ({})",
            name.as_deref()
                .unwrap_or("the server's configured template"),
            code.as_deref().unwrap_or("its language for the locale")
        );
    }
    for (name, part) in [
        ("subject", &preview.subject),
        ("text", &preview.text),
        ("html", &preview.html),
    ] {
        if let Some(part) = part {
            println!("--- {name}\n{part}");
        }
    }
}

pub async fn run(admin: &AdminService, command: TemplateCommand) -> Result<(), ServiceError> {
    let by = Caller::cli();
    match command {
        TemplateCommand::Set { which, parts } => {
            let channel = template_channel(&which.channel)?;
            let saved = admin
                .save_template(&which.tenant, channel, &which.locale, &parts.input()?, &by)
                .await?;
            println!(
                "saved the {channel} template of `{}` in `{}`",
                which.tenant, saved.locale
            );
        }
        TemplateCommand::Show { which } => {
            let channel = template_channel(&which.channel)?;
            let saved = admin
                .template(&which.tenant, channel, &which.locale)
                .await?;
            match saved.body {
                TemplateBody::Email {
                    subject,
                    text,
                    html,
                } => println!("--- subject\n{subject}\n--- text\n{text}\n--- html\n{html}"),
                TemplateBody::Sms { text } => println!("--- text\n{text}"),
                TemplateBody::Whatsapp { template, language } => {
                    println!("WhatsApp template: {template} ({language})")
                }
            }
        }
        TemplateCommand::Delete { which } => {
            let channel = template_channel(&which.channel)?;
            admin
                .delete_template(&which.tenant, channel, &which.locale, &by)
                .await?;
            println!(
                "deleted the {channel} template of `{}` in `{}`: the built-in text is sent",
                which.tenant, which.locale
            );
        }
        TemplateCommand::Preview {
            which,
            parts,
            code,
            app_name,
            expires_in_minutes,
        } => {
            let channel = template_channel(&which.channel)?;
            let given = (!parts.is_empty()).then(|| parts.input()).transpose()?;
            let samples = Samples {
                code,
                app_name,
                expires_in_minutes,
                host: None,
            };
            let preview = admin
                .preview_template(
                    &which.tenant,
                    channel,
                    &which.locale,
                    given.as_ref(),
                    &samples,
                )
                .await?;
            print_preview(&preview);
        }
        TemplateCommand::Test { which, to } => {
            let channel = template_channel(&which.channel)?;
            let sent = admin
                .test_template(&which.tenant, channel, &which.locale, &to)
                .await?;
            print_preview(&sent.preview);
            if sent.accepted {
                println!(
                    "{} accepted the test message{}",
                    sent.provider,
                    sent.provider_message_id
                        .map(|id| format!(" (its ID: {id})"))
                        .unwrap_or_default()
                );
            } else {
                return Err(ServiceError::Conflict(format!(
                    "{} refused the test message: {}",
                    sent.provider,
                    sent.error.unwrap_or_default()
                )));
            }
        }
    }
    Ok(())
}
