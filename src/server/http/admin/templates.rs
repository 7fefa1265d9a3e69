//! A tenant's message templates over the admin API: save one per channel and language (checked
//! before it is stored), read it, delete it (the built-in text is sent again), preview what a
//! message would say with sample values, and send a test message through the channel's
//! provider. A token scoped to a tenant manages that tenant's templates only; saving and
//! deleting each leave one audit entry.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Admin;
use super::tenants::unknown_tenant;
use crate::server::http::rest::answers::{
    Answer, Body, error_answers, invalid_request, with_json_body, with_key,
};
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::http::rest::extract::ApiJson;
use crate::server::http::rest::types::rfc3339;
use crate::server::service::templates::{
    Preview, Samples, TemplateInput, TestSend, template_channel,
};
use crate::server::state::AppState;
use crate::server::store::{StoredTemplate, TemplateBody};

/// A template's parts. An email template has `subject`, `text` and `html`; an SMS template
/// `text`; a WhatsApp template `whatsapp_template` and `whatsapp_language` (the name and
/// language code of a template Meta approved: its text is Meta's, the code its parameter).
/// Texts are MiniJinja (Jinja) templates over `code`, `app_name`, `expires_in_minutes`, `host`
/// and `locale`; the HTML body is auto-escaped. Refused (`invalid_request`, naming the part and
/// line): a text or body that does not show `{{ code }}`, one that does not render, an SMS over
/// 3 segments with the WebOTP line otpgate appends (`@host #code`, never the template's to
/// write), HTML with scripts, event handlers, `javascript:` links, frames, forms or anything
/// fetched from elsewhere (remote images, stylesheets, `url()`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateParts {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub whatsapp_template: Option<String>,
    pub whatsapp_language: Option<String>,
}

impl TemplateParts {
    fn input(self) -> TemplateInput {
        TemplateInput {
            subject: self.subject,
            text: self.text,
            html: self.html,
            whatsapp_template: self.whatsapp_template,
            whatsapp_language: self.whatsapp_language,
        }
    }
}

/// A saved template: its channel, language and parts (those of its channel only).
#[derive(Debug, Serialize, ToSchema)]
pub struct Template {
    pub channel: String,
    pub locale: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whatsapp_template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whatsapp_language: Option<String>,
    pub updated_at: String,
}

impl From<StoredTemplate> for Template {
    fn from(stored: StoredTemplate) -> Template {
        let channel = stored.body.channel().as_str().to_owned();
        let parts = match stored.body {
            TemplateBody::Email {
                subject,
                text,
                html,
            } => TemplateParts {
                subject: Some(subject),
                text: Some(text),
                html: Some(html),
                ..TemplateParts::default()
            },
            TemplateBody::Sms { text } => TemplateParts {
                text: Some(text),
                ..TemplateParts::default()
            },
            TemplateBody::Whatsapp { template, language } => TemplateParts {
                whatsapp_template: Some(template),
                whatsapp_language: Some(language),
                ..TemplateParts::default()
            },
        };
        Template {
            channel,
            locale: stored.locale,
            subject: parts.subject,
            text: parts.text,
            html: parts.html,
            whatsapp_template: parts.whatsapp_template,
            whatsapp_language: parts.whatsapp_language,
            updated_at: rfc3339(stored.updated_at),
        }
    }
}

/// What to preview: sample values (each made up when left out), and optionally a template not
/// yet saved (checked as saving would check it).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// 4 to 10 digits (`123456`).
    pub code: Option<String>,
    /// The tenant's name unless given.
    pub app_name: Option<String>,
    /// 1 to 1440 (10).
    pub expires_in_minutes: Option<i64>,
    /// The host the WebOTP line names (the tenant's first origin's unless given).
    pub host: Option<String>,
    /// A template to preview instead of the saved one.
    pub template: Option<TemplateParts>,
}

/// What a message would say.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplatePreview {
    pub channel: String,
    /// The language the text is in: the one asked, or the built-in text's when the tenant has
    /// no template in it.
    pub language: String,
    /// `given` (the request's template), `saved` (the tenant's) or `built-in`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The SMS as sent (with the WebOTP line), or the email's text part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// SMS: how many segments the message takes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<usize>,
    /// SMS: `GSM-7` or `UCS-2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// SMS: septets (GSM-7) or UTF-16 code units (UCS-2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<usize>,
    /// WhatsApp: the tenant's approved template; `null` for the server's configured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whatsapp_template: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whatsapp_language: Option<Option<String>>,
}

impl From<Preview> for TemplatePreview {
    fn from(preview: Preview) -> TemplatePreview {
        let (whatsapp_template, whatsapp_language) = match preview.whatsapp {
            Some((name, code)) => (Some(name), Some(code)),
            None => (None, None),
        };
        TemplatePreview {
            channel: preview.channel.as_str().to_owned(),
            language: preview.language.to_owned(),
            source: preview.source.as_str().to_owned(),
            subject: preview.subject,
            text: preview.text,
            html: preview.html,
            segments: preview.sms.map(|size| size.segments),
            encoding: preview.sms.map(|size| size.encoding.as_str().to_owned()),
            units: preview.sms.map(|size| size.units),
            whatsapp_template,
            whatsapp_language,
        }
    }
}

/// Where a test message goes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestMessage {
    /// An email address (email) or an E.164 number (sms, whatsapp).
    pub to: String,
}

/// What the channel's provider answered to a test message.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    /// `smtp`, `twilio`, `gateway` or `whatsapp`.
    pub provider: String,
    pub accepted: bool,
    pub provider_message_id: Option<String>,
    /// Why the provider did not take it.
    pub error: Option<String>,
    /// What it said (with the made-up code it carried).
    pub message: TemplatePreview,
}

impl From<TestSend> for TestSent {
    fn from(sent: TestSend) -> TestSent {
        TestSent {
            provider: sent.provider.to_owned(),
            accepted: sent.accepted,
            provider_message_id: sent.provider_message_id,
            error: sent.error,
            message: sent.preview.into(),
        }
    }
}

fn read_only() -> Answer {
    Answer::new(
        vec![ApiError::Forbidden(String::new())],
        "`forbidden`: a `read` token.",
        Body::Error,
    )
}

fn not_found() -> Answer {
    Answer::new(
        vec![ApiError::UnknownResource(String::new())],
        "`not_found`: no such tenant (or one this token does not see), or no template for this \
         channel and language (the built-in text is sent).",
        Body::Error,
    )
}

fn bad_path() -> Answer {
    Answer::new(
        vec![ApiError::InvalidRequest(String::new())],
        "`invalid_request`: a channel other than email, sms, whatsapp, or a locale other than \
         the built-in languages' tags.",
        Body::Error,
    )
}

error_answers!(
    /// What listing a tenant's templates answers besides its success.
    ListErrors => with_key(vec![Answer::new(
        vec![ApiError::UnknownResource(String::new())],
        "`not_found`: no such tenant, or one this token does not see.",
        Body::Error,
    )])
);

error_answers!(
    /// What reading a template answers besides its success.
    ReadErrors => with_key(vec![bad_path(), not_found()])
);

error_answers!(
    /// What saving a template or previewing one answers besides its success.
    SaveErrors => with_json_body(vec![invalid_request(), read_only(), not_found()])
);

error_answers!(
    /// What deleting a template answers besides its success.
    DeleteErrors => with_key(vec![bad_path(), read_only(), not_found()])
);

error_answers!(
    /// What a test message answers besides its success (a provider's refusal is a success
    /// with `accepted: false`).
    TestErrors => with_json_body(vec![
        invalid_request(),
        read_only(),
        not_found(),
        Answer::new(
            vec![ApiError::Conflict(String::new())],
            "`conflict`: no provider is configured for the channel.",
            Body::Error,
        ),
    ])
);

/// The tenant a path names, if this token sees it.
fn seen(admin: &Admin, name: &str) -> ApiResult<()> {
    if admin.sees(name) {
        Ok(())
    } else {
        Err(unknown_tenant(name))
    }
}

/// Every template a tenant saved (the channels and languages not listed send the built-in
/// text).
/// The template a path names.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TemplatePath {
    /// The tenant's name.
    name: String,
    /// `email`, `sms` or `whatsapp`.
    channel: String,
    /// A built-in language: en, ar, es, fr, de, pt, hi, id, tr, ru, zh, fa.
    locale: String,
}

#[utoipa::path(
    get, path = "/admin/v1/tenants/{name}/templates",
    operation_id = "list_templates", tag = "templates",
    params(("name" = String, Path, description = "The tenant's name")),
    responses((status = 200, description = "Its templates, by channel then language", body = Vec<Template>), ListErrors),
    security(("admin_token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Template>>> {
    seen(&admin, &name)?;
    let saved = state.admin.templates(&name).await?;
    Ok(Json(saved.into_iter().map(Template::from).collect()))
}

/// A tenant's template for a channel and language.
#[utoipa::path(
    get, path = "/admin/v1/tenants/{name}/templates/{channel}/{locale}",
    operation_id = "read_template", tag = "templates",
    params(TemplatePath),
    responses((status = 200, description = "The template", body = Template), ReadErrors),
    security(("admin_token" = []))
)]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path(TemplatePath {
        name,
        channel,
        locale,
    }): Path<TemplatePath>,
) -> ApiResult<Json<Template>> {
    seen(&admin, &name)?;
    let channel = template_channel(&channel)?;
    let stored = state.admin.template(&name, channel, &locale).await?;
    Ok(Json(Template::from(stored)))
}

/// Save a tenant's template for a channel and language (replacing the one there was). It is
/// checked first; the next message uses it.
#[utoipa::path(
    put, path = "/admin/v1/tenants/{name}/templates/{channel}/{locale}",
    operation_id = "save_template", tag = "templates",
    params(TemplatePath),
    request_body = TemplateParts,
    responses((status = 200, description = "Saved", body = Template), SaveErrors),
    security(("admin_token" = []))
)]
pub async fn save(
    State(state): State<AppState>,
    admin: Admin,
    Path(TemplatePath {
        name,
        channel,
        locale,
    }): Path<TemplatePath>,
    body: ApiJson<TemplateParts>,
) -> ApiResult<Json<Template>> {
    admin.may_write()?;
    seen(&admin, &name)?;
    let channel = template_channel(&channel)?;
    let saved = state
        .admin
        .save_template(&name, channel, &locale, &body.value.input(), admin.caller())
        .await?;
    Ok(Json(Template::from(saved)))
}

/// Delete a tenant's template: the built-in text is sent again.
#[utoipa::path(
    delete, path = "/admin/v1/tenants/{name}/templates/{channel}/{locale}",
    operation_id = "delete_template", tag = "templates",
    params(TemplatePath),
    responses((status = 204, description = "Deleted"), DeleteErrors),
    security(("admin_token" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(TemplatePath {
        name,
        channel,
        locale,
    }): Path<TemplatePath>,
) -> ApiResult<StatusCode> {
    admin.may_write()?;
    seen(&admin, &name)?;
    let channel = template_channel(&channel)?;
    state
        .admin
        .delete_template(&name, channel, &locale, admin.caller())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a message on this channel in this language would say, with sample values: the
/// template in the body when there is one, else the saved one, else the built-in text. An SMS
/// comes with its segments and encoding.
#[utoipa::path(
    post, path = "/admin/v1/tenants/{name}/templates/{channel}/{locale}/preview",
    operation_id = "preview_template", tag = "templates",
    params(TemplatePath),
    request_body(content = PreviewRequest, description = "Optional: sample values, a template"),
    responses((status = 200, description = "The message", body = TemplatePreview), SaveErrors),
    security(("admin_token" = []))
)]
pub async fn preview(
    State(state): State<AppState>,
    admin: Admin,
    Path(TemplatePath {
        name,
        channel,
        locale,
    }): Path<TemplatePath>,
    body: Option<ApiJson<PreviewRequest>>,
) -> ApiResult<Json<TemplatePreview>> {
    seen(&admin, &name)?;
    let channel = template_channel(&channel)?;
    let request = body.map(|b| b.value).unwrap_or_default();
    let samples = Samples {
        code: request.code,
        app_name: request.app_name,
        expires_in_minutes: request.expires_in_minutes,
        host: request.host,
    };
    let given = request.template.map(TemplateParts::input);
    let preview = state
        .admin
        .preview_template(&name, channel, &locale, given.as_ref(), &samples)
        .await?;
    Ok(Json(preview.into()))
}

/// Send a test message on this channel in this language (the tenant's template, else the
/// built-in text, with a made-up code) to an operator's address through the channel's
/// provider, whatever the server's mode. The provider's answer comes back.
#[utoipa::path(
    post, path = "/admin/v1/tenants/{name}/templates/{channel}/{locale}/test",
    operation_id = "test_template", tag = "templates",
    params(TemplatePath),
    request_body = TestMessage,
    responses((status = 200, description = "What the provider answered", body = TestSent), TestErrors),
    security(("admin_token" = []))
)]
pub async fn test(
    State(state): State<AppState>,
    admin: Admin,
    Path(TemplatePath {
        name,
        channel,
        locale,
    }): Path<TemplatePath>,
    body: ApiJson<TestMessage>,
) -> ApiResult<Json<TestSent>> {
    admin.may_write()?;
    seen(&admin, &name)?;
    let channel = template_channel(&channel)?;
    let sent = state
        .admin
        .test_template(&name, channel, &locale, &body.value.to)
        .await?;
    Ok(Json(sent.into()))
}
