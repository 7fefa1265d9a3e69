//! What the verification page knows about a session, shared by the server (which builds it)
//! and the browser (which renders and updates it), and what the page's address asks for.

use serde::{Deserialize, Serialize};

use crate::engine::{Channel, SessionStatus, VerificationMode};

/// One channel as the person sees it: the recipient is masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetChannel {
    pub channel: Channel,
    pub recipient: String,
    pub verified: bool,
    /// Out of attempts for this channel: it accepts no more codes.
    pub locked: bool,
    /// Unix second from which "Resend code" may be used again.
    pub resend_at: i64,
    /// What happened to the channel's latest message, when the server knows.
    pub delivery: Option<crate::engine::delivery::DeliveryView>,
}

/// A session as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetSession {
    pub tenant: String,
    /// Language tag of the page (`en`, `ar`).
    pub lang: String,
    pub mode: VerificationMode,
    pub status: SessionStatus,
    pub code_length: u8,
    pub expires_at: i64,
    /// The server's clock when this was taken; the page counts down from its own clock
    /// corrected by the difference, so a wrong or sleeping device clock does not matter.
    pub server_now: i64,
    pub attempts_remaining: u32,
    pub session_verified: bool,
    pub all_channels_verified: bool,
    pub verified_channels: Vec<Channel>,
    pub channels: Vec<WidgetChannel>,
    /// Origins allowed to embed the widget; messages go to one of them only.
    pub origins: Vec<String>,
    /// The channels are sent one after the other: those not sent yet are not shown.
    #[serde(default)]
    pub fallback: bool,
}

/// What one submitted code did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CodeResult {
    Accepted,
    Wrong,
    ChannelLocked,
    /// Too long to be a code: refused as malformed, no attempt counted.
    Malformed,
    /// Not checked: a limit refused it (too many codes from this address, or a contact locked
    /// after failed verifications). No attempt counted; retry after this many seconds.
    Throttled(i64),
}

/// The answer to a code submitted from the page. `result` is `None` when the session could
/// not take codes any more (expired or locked): `session.status` says which.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeAnswer {
    pub result: Option<CodeResult>,
    pub session: WidgetSession,
}

/// The answer to a resend from the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResendAnswer {
    Sent(WidgetSession),
    /// Too soon: try again after this many seconds.
    CoolingDown(i64),
    /// A limit refused it (the session had its resends, or the contact its codes).
    Refused,
    /// The session takes no more codes (expired, locked or verified): refresh the state.
    Closed(WidgetSession),
}

impl WidgetSession {
    pub fn channel(&self, channel: Channel) -> Option<&WidgetChannel> {
        self.channels.iter().find(|c| c.channel == channel)
    }
}

/// The page's session, loaded by the server before rendering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preloaded(pub Result<WidgetSession, super::PageError>);

/// What the page's address asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageOptions {
    pub embed: bool,
    pub theme: Option<String>,
    /// The embedder's origin, as it named it (used only if allowed).
    pub origin: Option<String>,
    /// The outcome of a form post without JavaScript, shown on the card it concerns.
    pub notice: Option<(String, Channel)>,
}

impl PageOptions {
    /// The query string to keep when the page posts to itself.
    pub fn query(&self) -> String {
        let mut parts = Vec::new();
        if self.embed {
            parts.push("embed=1".to_owned());
        }
        if let Some(theme) = &self.theme {
            parts.push(format!("theme={theme}"));
        }
        if let Some(origin) = &self.origin {
            parts.push(format!("origin={}", urlencode(origin)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
