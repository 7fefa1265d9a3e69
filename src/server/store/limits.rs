//! Limit records: what a message's limits count, the refusals kept for the report.

use async_trait::async_trait;

use super::*;
use crate::engine::Channel;
use crate::engine::limits::{LimitPolicy, MINUTE, MessageCounts, Refusal, Refused};

/// What one message's limits count, as keyed hashes.
#[derive(Clone, Debug)]
pub struct MessageSubjects {
    pub channel: Channel,
    /// The number's country calling code (SMS, WhatsApp).
    pub country: Option<u16>,
    pub destination: Vec<u8>,
    /// The number's prefix (SMS, WhatsApp).
    pub prefix: Option<Vec<u8>>,
    /// The tenant's budget this message spends: its channel, live and test keys apart.
    pub budget: String,
}

/// The limits a send is held to: the tenant's policy and, when the integrator gave one, the
/// client's IP (hashed).
#[derive(Clone, Debug)]
pub struct SendPolicy {
    pub policy: LimitPolicy,
    pub client_ip: Option<Vec<u8>>,
}

/// A refusal to record: the rule, and the subject (hashed) and channel it was about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusalRecord {
    pub refusal: Refusal,
    pub subject: Option<Vec<u8>>,
    pub channel: Option<Channel>,
}

impl RefusalRecord {
    /// The record of a refused send: the message that broke the rule, or the client IP.
    pub fn of_send(
        refused: Refused,
        messages: &[MessageSubjects],
        client_ip: Option<&[u8]>,
    ) -> RefusalRecord {
        let message = refused.message.and_then(|i| messages.get(i));
        let subject = match refused.refusal {
            Refusal::ClientIp | Refusal::WidgetIp => client_ip.map(<[u8]>::to_vec),
            // A budget is the tenant's, not a person's.
            Refusal::TenantBudget(_) => None,
            _ => message.map(|m| m.destination.clone()),
        };
        RefusalRecord {
            refusal: refused.refusal,
            subject,
            channel: message.map(|m| m.channel),
        }
    }
}

/// The minute a time falls in, as budgets are counted.
pub(super) fn minute(at: i64) -> i64 {
    at.div_euclid(MINUTE)
}

/// How many earlier messages of the same send share something with this one.
fn earlier_alike(earlier: &[MessageSubjects], alike: impl Fn(&MessageSubjects) -> bool) -> u32 {
    u32::try_from(earlier.iter().filter(|m| alike(m)).count()).unwrap_or(u32::MAX)
}

/// A message's stored counts plus the earlier messages of the same send: a send with SMS and
/// WhatsApp to one number is two sends to it, to its prefix and, per channel, to its budgets.
pub(super) fn with_earlier_messages(
    mut counted: MessageCounts,
    message: &MessageSubjects,
    earlier: &[MessageSubjects],
) -> MessageCounts {
    let same_destination = earlier_alike(earlier, |m| m.destination == message.destination);
    counted.destination_last_10min = counted
        .destination_last_10min
        .saturating_add(same_destination);
    counted.destination_last_day = counted
        .destination_last_day
        .saturating_add(same_destination);
    if message.prefix.is_some() {
        counted.prefix_unverified_last_hour = counted
            .prefix_unverified_last_hour
            .saturating_add(earlier_alike(earlier, |m| m.prefix == message.prefix));
    }
    counted.tenant_channel_last_hour = counted
        .tenant_channel_last_hour
        .saturating_add(earlier_alike(earlier, |m| m.budget == message.budget));
    counted
}

/// The hex of a refused subject's hash prefix, as the report shows it.
pub(super) fn subject_label(subject: &[u8]) -> String {
    hex::encode(&subject[..subject.len().min(6)])
}

/// One line of `otpgate limits report`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusalSummary {
    pub tenant: Option<String>,
    pub rule: String,
    pub channel: Option<String>,
    pub refusals: i64,
    /// Distinct subjects refused (destinations, IPs).
    pub subjects: i64,
    pub first: i64,
    pub last: i64,
    /// The most refused subject (hex of its hash prefix) and how often.
    pub top_subject: Option<(String, i64)>,
}

/// A destination's run of failed verifications in one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationState {
    pub tenant: String,
    pub failures: u32,
    /// Until when it gets no codes and takes no guesses, if it was locked.
    pub locked_until: Option<i64>,
}

/// The refusals the limits made, and the destinations their failure streaks lock. (The limits
/// themselves are checked and recorded inside the writes of the sends and verifications they
/// hold: `SessionStore`, `SingleRequestStore`.)
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Refusals since `since`, by tenant, rule and channel, most frequent first.
    async fn refusal_report(&self, since: i64) -> StoreResult<Vec<RefusalSummary>>;

    /// The failure streaks of the destination whose keyed hash is `subject`, in `tenant` (in
    /// every tenant when `None`), by tenant name.
    async fn destination_states(
        &self,
        subject: &[u8],
        tenant: Option<&str>,
    ) -> StoreResult<Vec<DestinationState>>;

    /// Ends the destination's streaks (and so its locks) in `tenant` (every tenant when
    /// `None`), with one `destination.unlocked` audit entry per tenant, naming it as `shown`
    /// (masked) with its hash's prefix, and what it had before; in one transaction. A decision
    /// made meanwhile on the old streak is stale and made again. The tenants it had a streak in.
    async fn unlock_destination(
        &self,
        subject: &[u8],
        shown: &str,
        tenant: Option<&str>,
        now: i64,
        by: &Caller,
    ) -> StoreResult<Vec<String>>;
}
