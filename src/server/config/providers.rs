//! The delivery providers' settings: SMTP, the SMS provider (Twilio or a Kannel-style gateway),
//! the WhatsApp Cloud API, and the public URL receipts come back to. Each is read from the
//! `[otpgate]` section of the settings file and overridden by its `OTPGATE_*` variable, taken
//! as written (never parsed as a number: a sender like `+14155550100` keeps its `+`). Secrets
//! are wrapped so they never print, not even in `Debug`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use secrecy::SecretString;

/// Every provider setting by its key (`OTPGATE_` + the key in upper case is its variable).
pub const KEYS: &[&str] = &[
    "public_url",
    "smtp_url",
    "smtp_from",
    "smtp_ca_file",
    "sms_provider",
    "twilio_base_url",
    "twilio_account_sid",
    "twilio_auth_token",
    "twilio_from",
    "twilio_messaging_service_sid",
    "gateway_url",
    "gateway_username",
    "gateway_password",
    "gateway_from",
    "whatsapp_base_url",
    "whatsapp_api_version",
    "whatsapp_phone_number_id",
    "whatsapp_token",
    "whatsapp_app_secret",
    "whatsapp_template",
    "whatsapp_languages",
    "whatsapp_verify_token",
];

/// The provider settings as configured (each optional; which are required depends on which
/// providers are in use, checked when the providers are built).
#[derive(Clone, Default)]
pub struct ProviderSettings {
    pub public_url: Option<String>,
    /// May hold a password: secret as a whole.
    pub smtp_url: Option<SecretString>,
    pub smtp_from: Option<String>,
    pub smtp_ca_file: Option<String>,
    pub sms_provider: Option<String>,
    pub twilio_base_url: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<SecretString>,
    pub twilio_from: Option<String>,
    pub twilio_messaging_service_sid: Option<String>,
    pub gateway_url: Option<String>,
    pub gateway_username: Option<String>,
    pub gateway_password: Option<SecretString>,
    pub gateway_from: Option<String>,
    pub whatsapp_base_url: Option<String>,
    pub whatsapp_api_version: Option<String>,
    pub whatsapp_phone_number_id: Option<String>,
    pub whatsapp_token: Option<SecretString>,
    pub whatsapp_app_secret: Option<SecretString>,
    pub whatsapp_template: Option<String>,
    pub whatsapp_languages: Option<String>,
    pub whatsapp_verify_token: Option<SecretString>,
}

impl std::fmt::Debug for ProviderSettings {
    /// Names what is set; never shows a secret (nor the SMTP URL, which may carry one).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut set: Vec<&str> = Vec::new();
        let values = self.values();
        for key in KEYS {
            if values.get(key).is_some_and(|v| v.is_some()) {
                set.push(key);
            }
        }
        f.debug_struct("ProviderSettings")
            .field("set", &set)
            .finish()
    }
}

impl ProviderSettings {
    /// Which keys are set (the values are not exposed).
    fn values(&self) -> BTreeMap<&'static str, Option<()>> {
        let present = |v: bool| v.then_some(());
        BTreeMap::from([
            ("public_url", present(self.public_url.is_some())),
            ("smtp_url", present(self.smtp_url.is_some())),
            ("smtp_from", present(self.smtp_from.is_some())),
            ("smtp_ca_file", present(self.smtp_ca_file.is_some())),
            ("sms_provider", present(self.sms_provider.is_some())),
            ("twilio_base_url", present(self.twilio_base_url.is_some())),
            (
                "twilio_account_sid",
                present(self.twilio_account_sid.is_some()),
            ),
            (
                "twilio_auth_token",
                present(self.twilio_auth_token.is_some()),
            ),
            ("twilio_from", present(self.twilio_from.is_some())),
            (
                "twilio_messaging_service_sid",
                present(self.twilio_messaging_service_sid.is_some()),
            ),
            ("gateway_url", present(self.gateway_url.is_some())),
            ("gateway_username", present(self.gateway_username.is_some())),
            ("gateway_password", present(self.gateway_password.is_some())),
            ("gateway_from", present(self.gateway_from.is_some())),
            (
                "whatsapp_base_url",
                present(self.whatsapp_base_url.is_some()),
            ),
            (
                "whatsapp_api_version",
                present(self.whatsapp_api_version.is_some()),
            ),
            (
                "whatsapp_phone_number_id",
                present(self.whatsapp_phone_number_id.is_some()),
            ),
            ("whatsapp_token", present(self.whatsapp_token.is_some())),
            (
                "whatsapp_app_secret",
                present(self.whatsapp_app_secret.is_some()),
            ),
            (
                "whatsapp_template",
                present(self.whatsapp_template.is_some()),
            ),
            (
                "whatsapp_languages",
                present(self.whatsapp_languages.is_some()),
            ),
            (
                "whatsapp_verify_token",
                present(self.whatsapp_verify_token.is_some()),
            ),
        ])
    }

    /// Builds the settings from raw values by key (empty values count as unset).
    pub fn from_values(mut raw: BTreeMap<String, String>) -> ProviderSettings {
        let mut take = |key: &str| raw.remove(key).filter(|v| !v.trim().is_empty());
        let secret = |v: Option<String>| v.map(SecretString::from);
        ProviderSettings {
            public_url: take("public_url"),
            smtp_url: secret(take("smtp_url")),
            smtp_from: take("smtp_from"),
            smtp_ca_file: take("smtp_ca_file"),
            sms_provider: take("sms_provider"),
            twilio_base_url: take("twilio_base_url"),
            twilio_account_sid: take("twilio_account_sid"),
            twilio_auth_token: secret(take("twilio_auth_token")),
            twilio_from: take("twilio_from"),
            twilio_messaging_service_sid: take("twilio_messaging_service_sid"),
            gateway_url: take("gateway_url"),
            gateway_username: take("gateway_username"),
            gateway_password: secret(take("gateway_password")),
            gateway_from: take("gateway_from"),
            whatsapp_base_url: take("whatsapp_base_url"),
            whatsapp_api_version: take("whatsapp_api_version"),
            whatsapp_phone_number_id: take("whatsapp_phone_number_id"),
            whatsapp_token: secret(take("whatsapp_token")),
            whatsapp_app_secret: secret(take("whatsapp_app_secret")),
            whatsapp_template: take("whatsapp_template"),
            whatsapp_languages: take("whatsapp_languages"),
            whatsapp_verify_token: secret(take("whatsapp_verify_token")),
        }
    }

    /// Reads the provider keys of the `[otpgate]` section of `file` (when it exists), then the
    /// environment, which wins.
    pub fn load(file: &Path) -> anyhow::Result<ProviderSettings> {
        let mut raw = BTreeMap::new();
        if file.exists() {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let table: toml::Table = text
                .parse()
                .with_context(|| format!("{} is not valid TOML", file.display()))?;
            if let Some(section) = table.get("otpgate").and_then(toml::Value::as_table) {
                for key in KEYS {
                    if let Some(value) = section.get(*key) {
                        let value = match value {
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        raw.insert((*key).to_owned(), value);
                    }
                }
            }
        }
        for key in KEYS {
            if let Ok(value) = std::env::var(format!("OTPGATE_{}", key.to_ascii_uppercase())) {
                raw.insert((*key).to_owned(), value);
            }
        }
        Ok(ProviderSettings::from_values(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let settings = ProviderSettings::from_values(BTreeMap::from([
            (
                "smtp_url".to_owned(),
                "smtp://u:hunter2@mail.test:587".to_owned(),
            ),
            ("twilio_auth_token".to_owned(), "tok-hunter2".to_owned()),
            ("twilio_from".to_owned(), "+14155550100".to_owned()),
            ("whatsapp_app_secret".to_owned(), "app-hunter2".to_owned()),
        ]));
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("twilio_auth_token") && printed.contains("smtp_url"));
        assert_eq!(settings.twilio_from.as_deref(), Some("+14155550100"));
    }

    #[test]
    fn the_file_is_read_and_the_environment_wins_as_written() {
        let dir = std::env::temp_dir().join(format!("otpgate-providers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("settings.toml");
        std::fs::write(
            &file,
            "[otpgate]\nsms_provider = \"gateway\"\nwhatsapp_phone_number_id = 106540352242922\ngateway_from = \"otpgate\"\n",
        )
        .unwrap();
        let settings = ProviderSettings::load(&file).unwrap();
        assert_eq!(settings.sms_provider.as_deref(), Some("gateway"));
        assert_eq!(
            settings.whatsapp_phone_number_id.as_deref(),
            Some("106540352242922"),
            "a number in the file is read as its digits"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
