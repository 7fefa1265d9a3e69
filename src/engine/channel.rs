//! The delivery channels a session can verify.

use serde::{Deserialize, Serialize};

/// A contact point kind. Serialised in lower case, as in the HTTP contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
    Whatsapp,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Whatsapp];

    /// The wire name (`email`, `sms`, `whatsapp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
        }
    }

    /// Parses a wire name; `None` for anything else (names are case-sensitive, like every field).
    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether the recipient is a phone number (E.164) rather than an email address.
    pub fn uses_phone_number(self) -> bool {
        matches!(self, Channel::Sms | Channel::Whatsapp)
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
            let json = serde_json::to_string(&channel).unwrap();
            assert_eq!(json, format!("\"{}\"", channel.as_str()));
        }
        assert_eq!(Channel::parse("SMS"), None);
        assert_eq!(Channel::parse("push"), None);
    }

    #[test]
    fn phone_channels() {
        assert!(!Channel::Email.uses_phone_number());
        assert!(Channel::Sms.uses_phone_number());
        assert!(Channel::Whatsapp.uses_phone_number());
    }
}
