//! The door's request parameters and answers as types: what the handlers send (serialised from
//! these) and what the OpenAPI document describes (derived from the same).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A Twilio error answer: the official SDKs raise their own exceptions from `status` and `code`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioErrorBody {
    /// Twilio's error code: 20003, 20404, 20429, 60200, 60202, 60203, 60221, 60223.
    pub code: u32,
    pub message: String,
    /// Twilio's page for the code.
    pub more_info: String,
    /// The HTTP status again.
    pub status: u16,
}

/// A service's links.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceLinks {
    pub verifications: String,
    pub verification_checks: String,
}

/// A service (`VA…`), as Twilio describes one; what otpgate does not offer is off or empty.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceBody {
    pub sid: String,
    pub account_sid: String,
    /// The app name its messages say.
    pub friendly_name: String,
    pub code_length: u8,
    pub lookup_enabled: bool,
    pub psd2_enabled: bool,
    pub skip_sms_to_landlines: bool,
    pub dtmf_input_required: bool,
    pub tts_name: Option<String>,
    pub do_not_share_warning_enabled: bool,
    pub custom_code_enabled: bool,
    #[schema(value_type = Object)]
    pub push: Value,
    #[schema(value_type = Object)]
    pub totp: Value,
    pub default_template_sid: Option<String>,
    #[schema(value_type = Object)]
    pub whatsapp: Value,
    #[schema(value_type = Object)]
    pub passkeys: Value,
    pub verify_event_subscription_enabled: bool,
    /// `2015-07-30T20:00:00Z`.
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
    pub links: ServiceLinks,
}

/// Where a page of a list stands (Twilio's `meta` block).
#[derive(Debug, Serialize, ToSchema)]
pub struct PageMeta {
    pub page: u64,
    pub page_size: u32,
    pub first_page_url: String,
    pub previous_page_url: Option<String>,
    pub url: String,
    /// Absolute; `null` on the last page.
    pub next_page_url: Option<String>,
    /// `services`: the field the page's records are in.
    pub key: String,
}

/// A page of services.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServicePage {
    pub services: Vec<ServiceBody>,
    pub meta: PageMeta,
}

/// One message a verification sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct SendAttemptBody {
    /// `VL…`
    pub attempt_sid: String,
    pub channel: String,
    pub time: String,
}

/// A verification (`VE…`).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationBody {
    pub sid: String,
    pub service_sid: String,
    pub account_sid: String,
    pub to: String,
    /// `sms`, `whatsapp` or `email`.
    pub channel: String,
    /// `pending`; `canceled` or `approved` in the answer that ends it.
    pub status: String,
    pub valid: bool,
    #[schema(value_type = Object)]
    pub lookup: Value,
    pub amount: Option<String>,
    pub payee: Option<String>,
    pub send_code_attempts: Vec<SendAttemptBody>,
    pub date_created: String,
    pub date_updated: String,
    #[schema(value_type = Option<Object>)]
    pub sna: Option<Value>,
    pub url: String,
}

/// A check's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckBody {
    pub sid: String,
    pub service_sid: String,
    pub account_sid: String,
    pub to: String,
    pub channel: String,
    /// `pending` (a wrong code) or `approved`.
    pub status: String,
    pub valid: bool,
    pub amount: Option<String>,
    pub payee: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub sna_attempts_error_codes: Vec<Value>,
    pub date_created: String,
    pub date_updated: String,
}

/// A new service's settings (form-encoded). Features otpgate does not offer (`LookupEnabled`,
/// `Psd2Enabled`, `CustomCodeEnabled`, `Push.*`, `Totp.*`, `Passkeys.*`, …) are refused when
/// asked for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct NewServiceForm {
    /// The app name its messages say: 1 to 32 characters.
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub friendly_name: String,
    /// 4 to 10 (6 unless given).
    #[serde(default)]
    #[schema(minimum = 4, maximum = 10)]
    pub code_length: i64,
}

/// A change to a service (form-encoded): what is left out stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceForm {
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub friendly_name: String,
    #[serde(default)]
    #[schema(minimum = 4, maximum = 10)]
    pub code_length: i64,
}

/// What starts a verification (form-encoded).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct VerificationForm {
    /// An E.164 number (sms, whatsapp) or an email address; anything else is 60200.
    pub to: String,
    /// `sms`, `whatsapp` or `email`; `call`, `sna` and `auto` are answered 60223.
    #[schema(pattern = "^(sms|whatsapp|email|call|sna|auto)$")]
    pub channel: String,
    /// A BCP 47 tag; otpgate's twelve languages (`pt-BR` is `pt`).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")]
    pub locale: String,
    /// The app name of this verification's message instead of the service's.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub custom_friendly_name: String,
    /// The end user's IP address (IPv4 or IPv6).
    #[serde(default)]
    pub device_ip: String,
}

/// How a verification ends (form-encoded).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct StatusForm {
    /// `canceled` or `approved`.
    #[schema(pattern = "^(canceled|approved)$")]
    pub status: String,
}

/// A check (form-encoded): `Code` with `To` or `VerificationSid`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CheckForm {
    /// The code as received: 4 to 10 digits.
    #[schema(pattern = "^[0-9]{4,10}$")]
    pub code: String,
    #[serde(default)]
    pub to: String,
    /// `VE…`
    #[serde(default)]
    #[schema(pattern = "^VE[0-9a-f]{32}$")]
    pub verification_sid: String,
}
