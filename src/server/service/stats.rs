//! The figures of a time window, per tenant and channel or country, computed from the
//! verifications and messages the store still keeps (live traffic only): sessions started,
//! verified, expired and locked; messages sent, delivered and failed; conversion, delivery rate
//! and receipt coverage; time to deliver and to verify (p50, p95). A rate or a percentile over
//! nothing is `None` (`null`), never 0. Pure: `now` is given.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::Channel;
use crate::server::store::{ChannelOutcome, MessageOutcome};

/// How figures are split besides the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Channel,
    /// Phone channels (SMS, WhatsApp) by the number's country calling code.
    Country,
}

/// One group's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub sessions_started: u64,
    pub sessions_verified: u64,
    pub sessions_expired: u64,
    pub sessions_locked: u64,
    pub messages_sent: u64,
    pub messages_delivered: u64,
    pub messages_failed: u64,
    /// Verified ÷ started (a send a limit refused starts no session).
    pub conversion: Option<f64>,
    /// Delivered ÷ messages with a final receipt (delivered, or failed after a provider took it).
    pub delivery_rate: Option<f64>,
    /// Messages with a final receipt ÷ messages sent.
    pub receipt_coverage: Option<f64>,
    /// Seconds from stored to delivered.
    pub time_to_deliver_p50: Option<f64>,
    pub time_to_deliver_p95: Option<f64>,
    /// Seconds from started to verified.
    pub time_to_verify_p50: Option<f64>,
    pub time_to_verify_p95: Option<f64>,
}

/// The window's figures: in total, and per group (named `email`, `sms`, `+44`, …) when asked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub total: Figures,
    pub groups: Vec<(String, Figures)>,
}

#[derive(Default)]
struct Tally {
    started: u64,
    verified: u64,
    expired: u64,
    locked: u64,
    sent: u64,
    delivered: u64,
    failed: u64,
    final_receipts: u64,
    deliver_times: Vec<i64>,
    verify_times: Vec<i64>,
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1] as f64)
}

impl Tally {
    /// One verification (or one channel of one): verified, else locked, else expired, as a
    /// session's status says (cancelled ones are none of these).
    fn verification(&mut self, verified: Option<i64>, locked: bool, expired: bool, created: i64) {
        self.started += 1;
        if let Some(at) = verified {
            self.verified += 1;
            self.verify_times.push(at - created);
        } else if locked {
            self.locked += 1;
        } else if expired {
            self.expired += 1;
        }
    }

    fn message(&mut self, message: &MessageOutcome) {
        let (delivered, failed) = (message.status == "delivered", message.status == "failed");
        if message.status == "sent" || delivered || (failed && message.accepted) {
            self.sent += 1;
        }
        if delivered {
            self.delivered += 1;
            self.deliver_times
                .push(message.updated_at - message.created_at);
        }
        if failed {
            self.failed += 1;
        }
        if delivered || (failed && message.accepted) {
            self.final_receipts += 1;
        }
    }

    fn figures(mut self) -> Figures {
        self.deliver_times.sort_unstable();
        self.verify_times.sort_unstable();
        Figures {
            sessions_started: self.started,
            sessions_verified: self.verified,
            sessions_expired: self.expired,
            sessions_locked: self.locked,
            messages_sent: self.sent,
            messages_delivered: self.delivered,
            messages_failed: self.failed,
            conversion: ratio(self.verified, self.started),
            delivery_rate: ratio(self.delivered, self.final_receipts),
            receipt_coverage: ratio(self.final_receipts, self.sent),
            time_to_deliver_p50: percentile(&self.deliver_times, 0.5),
            time_to_deliver_p95: percentile(&self.deliver_times, 0.95),
            time_to_verify_p50: percentile(&self.verify_times, 0.5),
            time_to_verify_p95: percentile(&self.verify_times, 0.95),
        }
    }
}

/// A group's name for a channel to `recipient`, or `None` when the grouping leaves it out.
fn group_of(group_by: GroupBy, channel: Channel, recipient: &str) -> Option<String> {
    match group_by {
        GroupBy::Channel => Some(channel.as_str().to_owned()),
        GroupBy::Country if channel.uses_phone_number() => Some(
            crate::server::phone::country_code(recipient)
                .map_or_else(|| "unknown".to_owned(), |c| format!("+{c}")),
        ),
        GroupBy::Country => None,
    }
}

/// The figures of these verifications and messages, at `now`.
pub fn compute(
    channels: &[ChannelOutcome],
    messages: &[MessageOutcome],
    group_by: Option<GroupBy>,
    now: i64,
) -> Stats {
    let mut total = Tally::default();
    let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
    // The total counts verifications: a session's channels together.
    let mut owners: BTreeMap<(bool, i64), Vec<&ChannelOutcome>> = BTreeMap::new();
    for channel in channels {
        owners
            .entry((channel.single, channel.owner_id))
            .or_default()
            .push(channel);
        let Some(group) = group_by.and_then(|g| group_of(g, channel.channel, &channel.recipient))
        else {
            continue;
        };
        let ended = channel.cancelled || channel.verified_at.is_some();
        groups.entry(group).or_default().verification(
            channel.verified_at,
            channel.session_locked || channel.channel_locked,
            !ended && now >= channel.expires_at,
            channel.created_at,
        );
    }
    for parts in owners.values() {
        let first = parts[0];
        let verified_at: BTreeSet<Option<i64>> = parts.iter().map(|c| c.verified_at).collect();
        // `any`: the first channel verified it; `all`: the last, once every one is.
        let verified = if first.mode_all {
            if verified_at.contains(&None) {
                None
            } else {
                verified_at.iter().flatten().max().copied()
            }
        } else {
            verified_at.iter().flatten().min().copied()
        };
        let expired = !first.cancelled && verified.is_none() && now >= first.expires_at;
        total.verification(verified, first.session_locked, expired, first.created_at);
    }
    for message in messages {
        total.message(message);
        if let Some(group) = group_by.and_then(|g| group_of(g, message.channel, &message.recipient))
        {
            groups.entry(group).or_default().message(message);
        }
    }
    Stats {
        total: total.figures(),
        groups: groups
            .into_iter()
            .map(|(name, t)| (name, t.figures()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000;

    fn channel(owner: i64, channel: Channel, to: &str, verified: Option<i64>) -> ChannelOutcome {
        ChannelOutcome {
            tenant: "acme".into(),
            owner_id: owner,
            single: false,
            mode_all: false,
            channel,
            recipient: to.into(),
            created_at: T,
            expires_at: T + 600,
            cancelled: false,
            session_locked: false,
            channel_locked: false,
            verified_at: verified,
        }
    }

    fn message(
        channel: Channel,
        to: &str,
        status: &str,
        accepted: bool,
        took: i64,
    ) -> MessageOutcome {
        MessageOutcome {
            tenant: "acme".into(),
            channel,
            recipient: to.into(),
            status: status.into(),
            accepted,
            created_at: T,
            updated_at: T + took,
        }
    }

    #[test]
    fn nothing_gives_counts_of_zero_and_rates_of_null() {
        let stats = compute(&[], &[], Some(GroupBy::Channel), T);
        assert_eq!(stats.total, Figures::default());
        assert!(stats.groups.is_empty());
        assert_eq!(stats.total.conversion, None);
        assert_eq!(stats.total.time_to_verify_p50, None);
    }

    #[test]
    fn a_session_counts_once_in_total_and_once_per_channel() {
        let mut locked = channel(2, Channel::Sms, "+447911123456", None);
        locked.session_locked = true;
        let mut all_mode = vec![
            channel(3, Channel::Email, "a@example.com", Some(T + 5)),
            channel(3, Channel::Sms, "+14155550100", None),
        ];
        for c in &mut all_mode {
            c.mode_all = true;
        }
        let mut rows = vec![
            channel(1, Channel::Email, "a@example.com", Some(T + 10)),
            channel(1, Channel::Sms, "+14155550100", Some(T + 30)),
            locked,
        ];
        rows.extend(all_mode);
        let stats = compute(&rows, &[], Some(GroupBy::Channel), T + 1000);
        let total = &stats.total;
        assert_eq!(
            (
                total.sessions_started,
                total.sessions_verified,
                total.sessions_locked
            ),
            (3, 1, 1)
        );
        assert_eq!(
            total.sessions_expired, 1,
            "the `all` session with a channel left"
        );
        assert_eq!(
            total.time_to_verify_p50,
            Some(10.0),
            "`any`: its first channel"
        );
        assert_eq!(total.conversion, Some(1.0 / 3.0));
        let groups: BTreeMap<_, _> = stats.groups.into_iter().collect();
        assert_eq!(groups["email"].sessions_verified, 2);
        assert_eq!(groups["sms"].sessions_started, 3);
        assert_eq!(
            (
                groups["sms"].sessions_verified,
                groups["sms"].sessions_locked,
                groups["sms"].sessions_expired
            ),
            (1, 1, 1)
        );
    }

    #[test]
    fn messages_count_receipts_rates_and_times_and_countries_group_phones_only() {
        let messages = [
            message(Channel::Sms, "+14155550100", "delivered", true, 4),
            message(Channel::Sms, "+14155550101", "delivered", true, 8),
            message(Channel::Sms, "+447911123456", "failed", true, 20),
            message(Channel::Sms, "+447911123457", "failed", false, 1),
            message(Channel::Sms, "+447911123458", "sent", true, 1),
            message(Channel::Email, "a@example.com", "queued", false, 0),
        ];
        let stats = compute(&[], &messages, Some(GroupBy::Country), T);
        let total = &stats.total;
        assert_eq!(
            (
                total.messages_sent,
                total.messages_delivered,
                total.messages_failed
            ),
            (4, 2, 2)
        );
        assert_eq!(
            total.delivery_rate,
            Some(2.0 / 3.0),
            "a refused send has no receipt"
        );
        assert_eq!(total.receipt_coverage, Some(3.0 / 4.0));
        assert_eq!(total.time_to_deliver_p50, Some(4.0));
        assert_eq!(total.time_to_deliver_p95, Some(8.0));
        let names: Vec<&str> = stats.groups.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["+1", "+44"], "no email in a country");
        assert_eq!(stats.groups[1].1.delivery_rate, Some(0.0));
        assert_eq!(stats.groups[1].1.messages_sent, 2);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<i64> = (1..=20).collect();
        assert_eq!(percentile(&values, 0.5), Some(10.0));
        assert_eq!(percentile(&values, 0.95), Some(19.0));
        assert_eq!(percentile(&[7], 0.95), Some(7.0));
    }
}
