//! Abuse protection, as pure rules with `now` passed in: how many codes a destination, a number
//! prefix, a tenant's channel and a client IP may be sent, when a destination is locked after
//! failed verifications, which countries a tenant's SMS and WhatsApp may reach, and how often
//! the widget's doors may be used. The store keeps the counters and updates them in the same
//! transaction as the send or verify they count, so the rules hold under concurrency, across
//! restarts and across processes.

use serde::{Deserialize, Serialize};

use super::{Channel, UnixSeconds};

/// Every limit, as configured (defaults, settings file, environment) and overridden per tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitPolicy {
    /// Sends to one destination (an email address or an E.164 number) in 10 minutes.
    pub destination_per_10min: u32,
    /// Sends to one destination in 24 hours.
    pub destination_per_day: u32,
    /// Consecutive failed verifications of one destination (across sessions) that lock it.
    pub failure_streak: u32,
    /// How long a locked destination gets no codes and takes no guesses.
    pub failure_lock_secs: i64,
    /// Digits after the country code that make a number's prefix (SMS, WhatsApp).
    pub prefix_digits: u8,
    /// Unverified sends to one prefix in an hour before the prefix cools down.
    pub prefix_unverified_per_hour: u32,
    /// How long a prefix that passed its threshold gets no codes.
    pub prefix_cooldown_secs: i64,
    /// A tenant's sends per hour, by channel: a cost cap.
    pub email_per_hour: u32,
    pub sms_per_hour: u32,
    pub whatsapp_per_hour: u32,
    /// Sends per client IP (the `client_ip` of send and initiate) in 10 minutes.
    pub ip_sends_per_10min: u32,
    /// Codes submitted from one IP through the widget's doors in a minute, across sessions.
    pub ip_submissions_per_minute: u32,
    /// Resends of one session, at every door.
    pub resends_per_session: u32,
    /// Country calling codes SMS and WhatsApp may reach; `None` for any. In settings, also a
    /// comma-separated string (`"1,44,218"`), as an environment variable gives it.
    #[serde(deserialize_with = "list_setting::optional")]
    pub allowed_countries: Option<Vec<u16>>,
}

/// Lists in settings: a sequence, one value, or a comma-separated string (environment
/// variables can only give the last).
pub mod list_setting {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw<T> {
        List(Vec<T>),
        Text(String),
        One(T),
    }

    /// Parses `"a, b,c"` into its items; an empty string is an empty list.
    pub fn parse<T: FromStr>(text: &str) -> Result<Vec<T>, String>
    where
        T::Err: Display,
    {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| item.parse().map_err(|e| format!("`{item}`: {e}")))
            .collect()
    }

    fn items<T: FromStr, E: Error>(raw: Raw<T>) -> Result<Vec<T>, E>
    where
        T::Err: Display,
    {
        match raw {
            Raw::List(list) => Ok(list),
            Raw::One(one) => Ok(vec![one]),
            Raw::Text(text) => parse(&text).map_err(E::custom),
        }
    }

    pub fn required<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr + Deserialize<'de>,
        T::Err: Display,
    {
        items(Raw::<T>::deserialize(deserializer)?)
    }

    /// Absent, null or empty is `None`.
    pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr + Deserialize<'de>,
        T::Err: Display,
    {
        let list = match Option::<Raw<T>>::deserialize(deserializer)? {
            Some(raw) => items(raw)?,
            None => Vec::new(),
        };
        Ok((!list.is_empty()).then_some(list))
    }
}

impl Default for LimitPolicy {
    fn default() -> LimitPolicy {
        LimitPolicy {
            destination_per_10min: 5,
            destination_per_day: 20,
            failure_streak: 20,
            failure_lock_secs: 3600,
            prefix_digits: 5,
            prefix_unverified_per_hour: 10,
            prefix_cooldown_secs: 3600,
            email_per_hour: 10_000,
            sms_per_hour: 1_000,
            whatsapp_per_hour: 1_000,
            ip_sends_per_10min: 10,
            ip_submissions_per_minute: 30,
            resends_per_session: 5,
            allowed_countries: None,
        }
    }
}

impl LimitPolicy {
    /// What is wrong with these settings, naming the setting.
    pub fn check(&self) -> Result<(), String> {
        for (name, secs) in [
            ("failure_lock_secs", self.failure_lock_secs),
            ("prefix_cooldown_secs", self.prefix_cooldown_secs),
        ] {
            if !(0..=30 * DAY).contains(&secs) {
                return Err(format!("{name} must be between 0 and 2592000 seconds"));
            }
        }
        if !(1..=12).contains(&self.prefix_digits) {
            return Err("prefix_digits must be between 1 and 12".into());
        }
        if let Some(code) = self
            .allowed_countries
            .iter()
            .flatten()
            .find(|code| !(1..=999).contains(*code))
        {
            return Err(format!(
                "allowed_countries: {code} is not a country calling code (1 to 999)"
            ));
        }
        Ok(())
    }

    pub fn per_hour(&self, channel: Channel) -> u32 {
        match channel {
            Channel::Email => self.email_per_hour,
            Channel::Sms => self.sms_per_hour,
            Channel::Whatsapp => self.whatsapp_per_hour,
        }
    }
}

/// A tenant's own limits: each one set replaces the server's, the others follow it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_per_10min: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_per_day: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_streak: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_lock_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_digits: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_unverified_per_hour: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_cooldown_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_per_hour: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_per_hour: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whatsapp_per_hour: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_sends_per_10min: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_submissions_per_minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resends_per_session: Option<u32>,
    /// `Some(empty)` clears the allowlist (any country).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_countries: Option<Vec<u16>>,
}

impl LimitOverrides {
    /// The server's policy with this tenant's settings over it.
    pub fn over(&self, base: &LimitPolicy) -> LimitPolicy {
        LimitPolicy {
            destination_per_10min: self
                .destination_per_10min
                .unwrap_or(base.destination_per_10min),
            destination_per_day: self.destination_per_day.unwrap_or(base.destination_per_day),
            failure_streak: self.failure_streak.unwrap_or(base.failure_streak),
            failure_lock_secs: self.failure_lock_secs.unwrap_or(base.failure_lock_secs),
            prefix_digits: self.prefix_digits.unwrap_or(base.prefix_digits),
            prefix_unverified_per_hour: self
                .prefix_unverified_per_hour
                .unwrap_or(base.prefix_unverified_per_hour),
            prefix_cooldown_secs: self
                .prefix_cooldown_secs
                .unwrap_or(base.prefix_cooldown_secs),
            email_per_hour: self.email_per_hour.unwrap_or(base.email_per_hour),
            sms_per_hour: self.sms_per_hour.unwrap_or(base.sms_per_hour),
            whatsapp_per_hour: self.whatsapp_per_hour.unwrap_or(base.whatsapp_per_hour),
            ip_sends_per_10min: self.ip_sends_per_10min.unwrap_or(base.ip_sends_per_10min),
            ip_submissions_per_minute: self
                .ip_submissions_per_minute
                .unwrap_or(base.ip_submissions_per_minute),
            resends_per_session: self.resends_per_session.unwrap_or(base.resends_per_session),
            allowed_countries: match &self.allowed_countries {
                Some(list) if list.is_empty() => None,
                Some(list) => Some(list.clone()),
                None => base.allowed_countries.clone(),
            },
        }
    }

    /// This tenant's settings over `other`'s (a `tenant set` adds to what was set before).
    pub fn merged_with(&self, newer: &LimitOverrides) -> LimitOverrides {
        LimitOverrides {
            destination_per_10min: newer.destination_per_10min.or(self.destination_per_10min),
            destination_per_day: newer.destination_per_day.or(self.destination_per_day),
            failure_streak: newer.failure_streak.or(self.failure_streak),
            failure_lock_secs: newer.failure_lock_secs.or(self.failure_lock_secs),
            prefix_digits: newer.prefix_digits.or(self.prefix_digits),
            prefix_unverified_per_hour: newer
                .prefix_unverified_per_hour
                .or(self.prefix_unverified_per_hour),
            prefix_cooldown_secs: newer.prefix_cooldown_secs.or(self.prefix_cooldown_secs),
            email_per_hour: newer.email_per_hour.or(self.email_per_hour),
            sms_per_hour: newer.sms_per_hour.or(self.sms_per_hour),
            whatsapp_per_hour: newer.whatsapp_per_hour.or(self.whatsapp_per_hour),
            ip_sends_per_10min: newer.ip_sends_per_10min.or(self.ip_sends_per_10min),
            ip_submissions_per_minute: newer
                .ip_submissions_per_minute
                .or(self.ip_submissions_per_minute),
            resends_per_session: newer.resends_per_session.or(self.resends_per_session),
            allowed_countries: newer
                .allowed_countries
                .clone()
                .or_else(|| self.allowed_countries.clone()),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == LimitOverrides::default()
    }
}

/// Window lengths, in seconds.
pub const TEN_MINUTES: i64 = 600;
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;
pub const MINUTE: i64 = 60;

/// What the store counted for one message about to be sent, inside the send's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageCounts {
    pub channel: Channel,
    /// The number's country calling code (SMS, WhatsApp).
    pub country: Option<u16>,
    pub destination_last_10min: u32,
    pub destination_last_day: u32,
    /// Until when the destination is locked by failed verifications (if it is).
    pub destination_locked_until: Option<UnixSeconds>,
    /// Unverified sends to the number's prefix in the last hour (SMS, WhatsApp).
    pub prefix_unverified_last_hour: u32,
    pub prefix_cooling_until: Option<UnixSeconds>,
    /// The tenant's sends on this channel in the last hour.
    pub tenant_channel_last_hour: u32,
}

/// What the store counted for a whole send (one entry per message).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendCounts {
    pub messages: Vec<MessageCounts>,
    /// Sends from the client IP in the last 10 minutes, when the integrator gave one.
    pub ip_last_10min: Option<u32>,
}

/// Why a send (or a widget submission, or a resend) is refused. Everything about a
/// destination's history is one answer, whatever happened to it, so a refusal cannot be used
/// to learn about someone; the precise rule is kept for the operator's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The destination had its sends, is locked after failed verifications, or its prefix is
    /// cooling down.
    Destination(DestinationRule),
    /// SMS or WhatsApp to a country the tenant does not allow (403, naming it).
    Country(u16),
    /// The tenant's hourly budget for this channel is spent.
    TenantBudget(Channel),
    /// The client IP had its sends.
    ClientIp,
    /// The widget's doors took their codes from this IP this minute.
    WidgetIp,
    /// The session had its resends.
    Resends,
}

/// Which destination rule refused, for the record only (never for the answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestinationRule {
    TenMinutes,
    Day,
    FailureLock,
    PrefixVelocity,
}

impl Refusal {
    /// The rule's stable name, as refusals are recorded and reported.
    pub fn rule(self) -> &'static str {
        match self {
            Refusal::Destination(DestinationRule::TenMinutes) => "destination_10min",
            Refusal::Destination(DestinationRule::Day) => "destination_day",
            Refusal::Destination(DestinationRule::FailureLock) => "failure_lock",
            Refusal::Destination(DestinationRule::PrefixVelocity) => "prefix_velocity",
            Refusal::Country(_) => "country",
            Refusal::TenantBudget(_) => "tenant_budget",
            Refusal::ClientIp => "client_ip",
            Refusal::WidgetIp => "widget_ip",
            Refusal::Resends => "resends",
        }
    }

    /// The wait announced in `Retry-After`: fixed per kind, so it tells nothing about a
    /// destination's history either. `None` for a country (403, waiting does not help) and for
    /// resends (the session never gets more).
    pub fn retry_after(self) -> Option<i64> {
        match self {
            Refusal::Destination(_) | Refusal::ClientIp => Some(TEN_MINUTES),
            Refusal::TenantBudget(_) => Some(HOUR),
            Refusal::WidgetIp => Some(MINUTE),
            Refusal::Country(_) | Refusal::Resends => None,
        }
    }
}

/// A refused send: the rule, and which of its messages broke it (none for the client IP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub refusal: Refusal,
    pub message: Option<usize>,
}

/// The first rule a send breaks, with every rule evaluated (the same work whatever the answer):
/// the country allowlist, then the destination rules, the tenant's budget, the client IP.
pub fn decide_send(policy: &LimitPolicy, counts: &SendCounts, now: UnixSeconds) -> Option<Refused> {
    let mut refused = None;
    let mut refuse = |refusal: Refusal, message: Option<usize>| {
        refused.get_or_insert(Refused { refusal, message });
    };
    for (index, message) in counts.messages.iter().enumerate() {
        if let (Some(allowed), Some(country)) = (&policy.allowed_countries, message.country)
            && !allowed.contains(&country)
        {
            refuse(Refusal::Country(country), Some(index));
        }
    }
    for (index, message) in counts.messages.iter().enumerate() {
        if let Some(rule) = destination_rule(policy, message, now) {
            refuse(Refusal::Destination(rule), Some(index));
        }
    }
    for (index, message) in counts.messages.iter().enumerate() {
        if message.tenant_channel_last_hour >= policy.per_hour(message.channel) {
            refuse(Refusal::TenantBudget(message.channel), Some(index));
        }
    }
    if counts
        .ip_last_10min
        .is_some_and(|n| n >= policy.ip_sends_per_10min)
    {
        refuse(Refusal::ClientIp, None);
    }
    refused
}

/// The destination rule one message breaks, if any.
fn destination_rule(
    policy: &LimitPolicy,
    message: &MessageCounts,
    now: UnixSeconds,
) -> Option<DestinationRule> {
    let cooling = message
        .prefix_cooling_until
        .is_some_and(|until| now < until)
        || (message.channel.uses_phone_number()
            && message.prefix_unverified_last_hour >= policy.prefix_unverified_per_hour);
    if message
        .destination_locked_until
        .is_some_and(|until| now < until)
    {
        Some(DestinationRule::FailureLock)
    } else if message.destination_last_10min >= policy.destination_per_10min {
        Some(DestinationRule::TenMinutes)
    } else if message.destination_last_day >= policy.destination_per_day {
        Some(DestinationRule::Day)
    } else if cooling {
        Some(DestinationRule::PrefixVelocity)
    } else {
        None
    }
}

/// Whether a send makes a prefix start cooling down: the threshold is reached with this send.
pub fn prefix_starts_cooling(policy: &LimitPolicy, unverified_last_hour: u32) -> bool {
    unverified_last_hour + 1 >= policy.prefix_unverified_per_hour
}

/// The counts within which an allowed send stays allowed with the same effects, for a send
/// decided on a copy read without locks and written later: the writer re-checks that every
/// count is still inside its bounds, and the send is decided again only when one is not. The
/// bounds are what the rules above allow, not the counts seen, so concurrent sends to other
/// destinations, or sharing only a budget or a client IP, do not make each other stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendBounds {
    /// One entry per message, in the order of `SendCounts::messages`.
    pub messages: Vec<MessageBounds>,
    /// The most sends the client IP may have had in the last 10 minutes, when one was counted.
    pub ip_last_10min: Option<u32>,
}

/// The bounds of one message's counts (inclusive). A destination still locked, or a prefix
/// still cooling, at the decision's `now` is outside them too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageBounds {
    pub destination_last_10min: u32,
    pub destination_last_day: u32,
    /// Lowest and highest unverified sends to the prefix: the send starts the prefix cooling
    /// exactly when the count it sees is the threshold's last step, so that count is pinned;
    /// `None` when the message has no prefix rule (email).
    pub prefix_unverified_last_hour: Option<(u32, u32)>,
    pub tenant_channel_last_hour: u32,
}

/// The bounds within which `decide_send` allows this send with the same effects, or its
/// refusal (a refusal is recorded as seen, never re-checked).
pub fn send_bounds(
    policy: &LimitPolicy,
    counts: &SendCounts,
    now: UnixSeconds,
) -> Result<SendBounds, Refused> {
    if let Some(refused) = decide_send(policy, counts, now) {
        return Err(refused);
    }
    let messages = counts
        .messages
        .iter()
        .map(|message| {
            let threshold = policy.prefix_unverified_per_hour;
            let prefix = message.channel.uses_phone_number().then(|| {
                if prefix_starts_cooling(policy, message.prefix_unverified_last_hour) {
                    (
                        message.prefix_unverified_last_hour,
                        message.prefix_unverified_last_hour,
                    )
                } else {
                    (0, threshold.saturating_sub(2))
                }
            });
            MessageBounds {
                destination_last_10min: policy.destination_per_10min.saturating_sub(1),
                destination_last_day: policy.destination_per_day.saturating_sub(1),
                prefix_unverified_last_hour: prefix,
                tenant_channel_last_hour: policy.per_hour(message.channel).saturating_sub(1),
            }
        })
        .collect();
    Ok(SendBounds {
        messages,
        ip_last_10min: counts
            .ip_last_10min
            .map(|_| policy.ip_sends_per_10min.saturating_sub(1)),
    })
}

/// Whether one more code may come through the widget's doors from an IP that submitted `used`
/// codes in the last minute.
pub fn submission_allowed(policy: &LimitPolicy, used: u32) -> bool {
    used < policy.ip_submissions_per_minute
}

/// A destination's run of failed verifications (across sessions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Streak {
    pub failures: u32,
    pub locked_until: Option<UnixSeconds>,
}

impl Streak {
    pub fn is_locked(&self, now: UnixSeconds) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// After a verification of this destination: a success resets the run, a failure extends
    /// it, and the failure that reaches the limit locks the destination.
    pub fn after(
        self,
        policy: &LimitPolicy,
        verified: bool,
        failed: u32,
        now: UnixSeconds,
    ) -> Streak {
        if verified {
            return Streak {
                failures: 0,
                locked_until: self.locked_until.filter(|until| now < *until),
            };
        }
        if failed == 0 {
            return self;
        }
        let failures = self.failures.saturating_add(failed);
        if failures >= policy.failure_streak {
            Streak {
                failures: 0,
                locked_until: Some(now + policy.failure_lock_secs),
            }
        } else {
            Streak {
                failures,
                locked_until: self.locked_until,
            }
        }
    }
}

/// What a client IP is counted as: an IPv4 address itself (also when written as IPv4-mapped
/// IPv6), an IPv6 address by its /64, since one subscriber is usually given a whole /64.
pub fn ip_subject(ip: std::net::IpAddr) -> String {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// A number's prefix: `+`, its country calling code, and the next `digits` digits.
pub fn number_prefix(e164: &str, country_code: u16, digits: u8) -> String {
    let country = country_code.to_string();
    let national = e164
        .strip_prefix('+')
        .and_then(|n| n.strip_prefix(country.as_str()))
        .unwrap_or_default();
    let take: String = national.chars().take(usize::from(digits)).collect();
    format!("+{country}{take}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixSeconds = 1_800_000_000;

    fn sms(country: u16) -> MessageCounts {
        MessageCounts {
            channel: Channel::Sms,
            country: Some(country),
            destination_last_10min: 0,
            destination_last_day: 0,
            destination_locked_until: None,
            prefix_unverified_last_hour: 0,
            prefix_cooling_until: None,
            tenant_channel_last_hour: 0,
        }
    }

    fn decide_send(policy: &LimitPolicy, counts: &SendCounts, now: UnixSeconds) -> Option<Refusal> {
        super::decide_send(policy, counts, now).map(|r| r.refusal)
    }

    fn one(message: MessageCounts) -> SendCounts {
        SendCounts {
            messages: vec![message],
            ip_last_10min: None,
        }
    }

    #[test]
    fn destination_windows_refuse_at_their_exact_boundary() {
        let policy = LimitPolicy::default();
        let mut m = sms(1);
        m.destination_last_10min = 4;
        assert_eq!(decide_send(&policy, &one(m.clone()), T0), None);
        m.destination_last_10min = 5;
        assert_eq!(
            decide_send(&policy, &one(m.clone()), T0),
            Some(Refusal::Destination(DestinationRule::TenMinutes))
        );
        m.destination_last_10min = 0;
        m.destination_last_day = 19;
        assert_eq!(decide_send(&policy, &one(m.clone()), T0), None);
        m.destination_last_day = 20;
        assert_eq!(
            decide_send(&policy, &one(m), T0),
            Some(Refusal::Destination(DestinationRule::Day))
        );
    }

    #[test]
    fn locks_and_cooling_prefixes_refuse_until_they_end() {
        let policy = LimitPolicy::default();
        let mut m = sms(44);
        m.destination_locked_until = Some(T0 + 10);
        assert_eq!(
            decide_send(&policy, &one(m.clone()), T0 + 9),
            Some(Refusal::Destination(DestinationRule::FailureLock))
        );
        assert_eq!(decide_send(&policy, &one(m.clone()), T0 + 10), None);
        m.destination_locked_until = None;
        m.prefix_unverified_last_hour = 10;
        assert_eq!(
            decide_send(&policy, &one(m.clone()), T0),
            Some(Refusal::Destination(DestinationRule::PrefixVelocity))
        );
        m.prefix_unverified_last_hour = 9;
        assert_eq!(decide_send(&policy, &one(m.clone()), T0), None);
        m.prefix_cooling_until = Some(T0 + 1);
        assert_eq!(
            decide_send(&policy, &one(m.clone()), T0),
            Some(Refusal::Destination(DestinationRule::PrefixVelocity))
        );
        assert_eq!(decide_send(&policy, &one(m.clone()), T0 + 1), None);
        // Email has no prefix.
        let mut email = m.clone();
        email.channel = Channel::Email;
        email.country = None;
        email.prefix_cooling_until = None;
        email.prefix_unverified_last_hour = 99;
        assert_eq!(decide_send(&policy, &one(email), T0), None);
        assert!(prefix_starts_cooling(&policy, 9) && !prefix_starts_cooling(&policy, 8));
        assert!(submission_allowed(&policy, 29) && !submission_allowed(&policy, 30));
    }

    #[test]
    fn countries_budgets_and_ips() {
        let policy = LimitPolicy {
            allowed_countries: Some(vec![1, 44]),
            ..LimitPolicy::default()
        };
        assert_eq!(decide_send(&policy, &one(sms(44)), T0), None);
        assert_eq!(
            decide_send(&policy, &one(sms(218)), T0),
            Some(Refusal::Country(218))
        );
        let mut m = sms(1);
        m.tenant_channel_last_hour = 1_000;
        assert_eq!(
            decide_send(&policy, &one(m), T0),
            Some(Refusal::TenantBudget(Channel::Sms))
        );
        let mut counts = one(sms(1));
        counts.ip_last_10min = Some(9);
        assert_eq!(decide_send(&policy, &counts, T0), None);
        counts.ip_last_10min = Some(10);
        assert_eq!(decide_send(&policy, &counts, T0), Some(Refusal::ClientIp));
        // Every refusal of a destination waits the same, whatever its history.
        for rule in [
            DestinationRule::TenMinutes,
            DestinationRule::Day,
            DestinationRule::FailureLock,
            DestinationRule::PrefixVelocity,
        ] {
            assert_eq!(Refusal::Destination(rule).retry_after(), Some(600));
        }
        assert_eq!(Refusal::Country(218).retry_after(), None);
        // The refusal names the message that broke the rule.
        let mut two = SendCounts {
            messages: vec![sms(1), sms(1)],
            ip_last_10min: Some(10),
        };
        two.messages[1].destination_last_day = 20;
        assert_eq!(
            super::decide_send(&policy, &two, T0),
            Some(Refused {
                refusal: Refusal::Destination(DestinationRule::Day),
                message: Some(1)
            })
        );
        // The country is told first, whatever else is wrong.
        let mut everything = sms(218);
        everything.destination_last_10min = 99;
        assert_eq!(
            decide_send(&policy, &one(everything), T0),
            Some(Refusal::Country(218))
        );
    }

    #[test]
    fn streaks_lock_at_the_limit_and_reset_on_success() {
        let policy = LimitPolicy::default();
        let mut streak = Streak::default();
        for _ in 0..19 {
            streak = streak.after(&policy, false, 1, T0);
        }
        assert_eq!(streak.failures, 19);
        assert!(!streak.is_locked(T0));
        let locked = streak.after(&policy, false, 1, T0);
        assert!(locked.is_locked(T0) && locked.is_locked(T0 + 3599));
        assert!(!locked.is_locked(T0 + 3600));
        assert_eq!(streak.after(&policy, true, 0, T0), Streak::default());
        assert_eq!(
            streak.after(&policy, false, 0, T0),
            streak,
            "nothing counted, nothing changes"
        );
        // Several failures in one call count each.
        assert!(
            Streak {
                failures: 18,
                locked_until: None
            }
            .after(&policy, false, 2, T0)
            .is_locked(T0)
        );
    }

    #[test]
    fn a_tenants_settings_go_over_the_servers() {
        let base = LimitPolicy::default();
        let overrides = LimitOverrides {
            sms_per_hour: Some(500),
            allowed_countries: Some(vec![1, 44, 218]),
            ..LimitOverrides::default()
        };
        let policy = overrides.over(&base);
        assert_eq!(policy.sms_per_hour, 500);
        assert_eq!(policy.email_per_hour, base.email_per_hour);
        assert_eq!(policy.allowed_countries, Some(vec![1, 44, 218]));
        let cleared = overrides.merged_with(&LimitOverrides {
            allowed_countries: Some(vec![]),
            destination_per_day: Some(100),
            ..LimitOverrides::default()
        });
        assert_eq!(cleared.sms_per_hour, Some(500), "earlier settings stay");
        assert_eq!(
            cleared.over(&base).allowed_countries,
            None,
            "an empty list clears"
        );
        assert_eq!(cleared.over(&base).destination_per_day, 100);
        let json = serde_json::to_string(&overrides).unwrap();
        assert_eq!(
            json,
            r#"{"sms_per_hour":500,"allowed_countries":[1,44,218]}"#
        );
        assert!(serde_json::from_str::<LimitOverrides>(r#"{"nope":1}"#).is_err());
    }

    #[test]
    fn ips_count_as_themselves_or_their_64() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(ip_subject(ip("203.0.113.7")), "203.0.113.7");
        assert_eq!(ip_subject(ip("::ffff:203.0.113.7")), "203.0.113.7");
        assert_eq!(ip_subject(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            ip_subject(ip("2001:db8:1:2:ffff::9")),
            ip_subject(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            ip_subject(ip("2001:db8:1:3::1")),
            ip_subject(ip("2001:db8:1:2::1"))
        );
    }

    #[test]
    fn prefixes_are_the_country_code_and_the_next_digits() {
        assert_eq!(number_prefix("+14155550100", 1, 5), "+141555");
        assert_eq!(number_prefix("+447911123456", 44, 5), "+4479111");
        assert_eq!(number_prefix("+218911234567", 218, 3), "+218911");
        assert_eq!(number_prefix("+2181", 218, 5), "+2181");
    }

    /// Every field of `counts` at one end of its bounds (`high`: the highest), the rest as seen.
    fn at_bounds(counts: &SendCounts, bounds: &SendBounds, high: bool) -> SendCounts {
        let mut moved = counts.clone();
        for (message, bound) in moved.messages.iter_mut().zip(&bounds.messages) {
            if high {
                message.destination_last_10min = bound.destination_last_10min;
                message.destination_last_day = bound.destination_last_day;
                message.tenant_channel_last_hour = bound.tenant_channel_last_hour;
            } else {
                message.destination_last_10min = 0;
                message.destination_last_day = 0;
                message.tenant_channel_last_hour = 0;
            }
            if let Some((low, top)) = bound.prefix_unverified_last_hour {
                message.prefix_unverified_last_hour = if high { top } else { low };
            }
        }
        if let Some(top) = bounds.ip_last_10min {
            moved.ip_last_10min = Some(if high { top } else { 0 });
        }
        moved
    }

    /// Which messages start their prefix cooling.
    fn cooling_effects(policy: &LimitPolicy, counts: &SendCounts) -> Vec<bool> {
        counts
            .messages
            .iter()
            .map(|m| {
                m.channel.uses_phone_number()
                    && prefix_starts_cooling(policy, m.prefix_unverified_last_hour)
            })
            .collect()
    }

    #[test]
    fn send_bounds_hold_the_decision_and_its_effects_and_no_further() {
        let mut checked = 0;
        for limit in 1..=4u32 {
            for threshold in 1..=4u32 {
                let policy = LimitPolicy {
                    destination_per_10min: limit,
                    destination_per_day: limit + 1,
                    prefix_unverified_per_hour: threshold,
                    sms_per_hour: limit + 2,
                    email_per_hour: limit,
                    ip_sends_per_10min: limit,
                    ..LimitPolicy::default()
                };
                for ten in 0..=limit {
                    for prefix in 0..=threshold {
                        for ip in [None, Some(0), Some(limit - 1), Some(limit)] {
                            let mut sms = sms(218);
                            sms.destination_last_10min = ten;
                            sms.destination_last_day = ten;
                            sms.prefix_unverified_last_hour = prefix;
                            let mut email = sms.clone();
                            email.channel = Channel::Email;
                            email.country = None;
                            let counts = SendCounts {
                                messages: vec![sms, email],
                                ip_last_10min: ip,
                            };
                            let bounds = send_bounds(&policy, &counts, T0);
                            let refused = super::decide_send(&policy, &counts, T0);
                            assert_eq!(bounds.as_ref().err(), refused.as_ref(), "{counts:?}");
                            let Ok(bounds) = bounds else { continue };
                            let effects = cooling_effects(&policy, &counts);
                            // Anywhere inside (both ends, every field at once): the same.
                            for high in [false, true] {
                                let moved = at_bounds(&counts, &bounds, high);
                                assert!(super::decide_send(&policy, &moved, T0).is_none());
                                assert_eq!(cooling_effects(&policy, &moved), effects);
                            }
                            // One step past any upper bound: refused, or other effects.
                            let top = at_bounds(&counts, &bounds, true);
                            for index in 0..top.messages.len() {
                                for field in 0..4 {
                                    let mut past = top.clone();
                                    let message = &mut past.messages[index];
                                    match field {
                                        0 => message.destination_last_10min += 1,
                                        1 => message.destination_last_day += 1,
                                        2 => message.tenant_channel_last_hour += 1,
                                        _ if bounds.messages[index]
                                            .prefix_unverified_last_hour
                                            .is_some() =>
                                        {
                                            message.prefix_unverified_last_hour += 1
                                        }
                                        _ => continue,
                                    }
                                    let changed = super::decide_send(&policy, &past, T0).is_some()
                                        || cooling_effects(&policy, &past) != effects;
                                    assert!(changed, "{field} of {index} past {bounds:?}");
                                }
                            }
                            if let Some(ip) = top.ip_last_10min {
                                let mut past = top.clone();
                                past.ip_last_10min = Some(ip + 1);
                                assert!(super::decide_send(&policy, &past, T0).is_some());
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 100, "{checked} allowed sends checked");
    }

    #[test]
    fn a_send_that_starts_its_prefix_cooling_is_pinned_to_the_count_it_saw() {
        let policy = LimitPolicy {
            prefix_unverified_per_hour: 5,
            ..LimitPolicy::default()
        };
        let mut seen = sms(218);
        seen.prefix_unverified_last_hour = 4;
        let bounds = send_bounds(&policy, &one(seen.clone()), T0).expect("allowed");
        assert_eq!(bounds.messages[0].prefix_unverified_last_hour, Some((4, 4)));
        seen.prefix_unverified_last_hour = 2;
        let bounds = send_bounds(&policy, &one(seen), T0).expect("allowed");
        assert_eq!(bounds.messages[0].prefix_unverified_last_hour, Some((0, 3)));
    }
}
