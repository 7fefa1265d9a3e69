//! The limits on the command line: `tenant set` (a tenant's own limits over the server's),
//! what `tenant list` shows of them, `limits show` (the limits in force) and `limits report`
//! (the refusals, by tenant and rule, so an operator can see an attack and tune the rules).

use anyhow::{Context, bail};
use clap::Args;

use super::service::{AdminService, Caller, RefusalSummary, ServiceError};
use crate::engine::Channel;
use crate::engine::limits::{LimitOverrides, LimitPolicy, list_setting};

/// The limits `tenant set` may change; each one given replaces the tenant's, the others stay.
#[derive(Debug, Default, Args)]
pub struct LimitArgs {
    /// Country calling codes SMS and WhatsApp may reach, comma-separated (`1,44,218`);
    /// `any` allows every country again.
    #[arg(long, value_name = "CODES")]
    allow_countries: Option<String>,
    /// A channel's budget of sends per hour, as CHANNEL=N (repeatable): `sms=500`.
    #[arg(long, value_name = "CHANNEL=N")]
    sends_per_hour: Vec<String>,
    /// Sends to one destination (address or number) in 10 minutes.
    #[arg(long, value_name = "N")]
    destination_per_10min: Option<u32>,
    /// Sends to one destination in 24 hours.
    #[arg(long, value_name = "N")]
    destination_per_day: Option<u32>,
    /// Consecutive failed verifications of a destination that lock it.
    #[arg(long, value_name = "N")]
    failure_streak: Option<u32>,
    /// How long a locked destination gets no codes and takes no guesses.
    #[arg(long, value_name = "SECONDS")]
    failure_lock_secs: Option<i64>,
    /// Digits after the country code that make a number's prefix.
    #[arg(long, value_name = "N")]
    prefix_digits: Option<u8>,
    /// Unverified sends to one prefix in an hour before it cools down.
    #[arg(long, value_name = "N")]
    prefix_unverified_per_hour: Option<u32>,
    /// How long a prefix that passed its threshold gets no codes.
    #[arg(long, value_name = "SECONDS")]
    prefix_cooldown_secs: Option<i64>,
    /// Sends per client IP (`client_ip` of send and initiate) in 10 minutes.
    #[arg(long, value_name = "N")]
    ip_sends_per_10min: Option<u32>,
    /// Codes submitted from one IP through the widget in a minute.
    #[arg(long, value_name = "N")]
    ip_submissions_per_minute: Option<u32>,
    /// Resends of one session.
    #[arg(long, value_name = "N")]
    resends_per_session: Option<u32>,
    /// Go back to the server's limits first (then apply the others given).
    #[arg(long)]
    pub reset: bool,
}

impl LimitArgs {
    /// The overrides these arguments set.
    pub fn overrides(&self) -> anyhow::Result<LimitOverrides> {
        let mut overrides = LimitOverrides {
            destination_per_10min: self.destination_per_10min,
            destination_per_day: self.destination_per_day,
            failure_streak: self.failure_streak,
            failure_lock_secs: self.failure_lock_secs,
            prefix_digits: self.prefix_digits,
            prefix_unverified_per_hour: self.prefix_unverified_per_hour,
            prefix_cooldown_secs: self.prefix_cooldown_secs,
            ip_sends_per_10min: self.ip_sends_per_10min,
            ip_submissions_per_minute: self.ip_submissions_per_minute,
            resends_per_session: self.resends_per_session,
            ..LimitOverrides::default()
        };
        if let Some(codes) = &self.allow_countries {
            let codes = codes.trim();
            overrides.allowed_countries = Some(if codes.eq_ignore_ascii_case("any") {
                Vec::new()
            } else {
                let list: Vec<u16> = list_setting::parse(codes)
                    .map_err(|e| anyhow::anyhow!("--allow-countries {e}"))?;
                if list.is_empty() {
                    bail!("--allow-countries needs calling codes (1,44,218) or `any`");
                }
                list
            });
        }
        for budget in &self.sends_per_hour {
            let (channel, n) = budget
                .split_once('=')
                .context("--sends-per-hour takes CHANNEL=N, e.g. sms=500")?;
            let n: u32 = n
                .trim()
                .parse()
                .with_context(|| format!("--sends-per-hour {budget}: N must be a number"))?;
            match Channel::parse(channel.trim()) {
                Some(Channel::Email) => overrides.email_per_hour = Some(n),
                Some(Channel::Sms) => overrides.sms_per_hour = Some(n),
                Some(Channel::Whatsapp) => overrides.whatsapp_per_hour = Some(n),
                None => bail!("--sends-per-hour {budget}: the channel is email, sms or whatsapp"),
            }
        }
        Ok(overrides)
    }

    pub fn is_empty(&self) -> bool {
        !self.reset && self.overrides().is_ok_and(|o| o.is_empty())
    }
}

/// `name=value` for each limit a tenant set, or that it follows the server's.
pub fn describe_overrides(overrides: &LimitOverrides) -> String {
    let value = serde_json::to_value(overrides).unwrap_or_default();
    let Some(fields) = value.as_object().filter(|f| !f.is_empty()) else {
        return "the server's".to_owned();
    };
    fields
        .iter()
        .map(|(name, value)| match value.as_array() {
            Some(list) if list.is_empty() => format!("{name}=any"),
            Some(list) => {
                let items: Vec<String> = list.iter().map(ToString::to_string).collect();
                format!("{name}={}", items.join(","))
            }
            None => format!("{name}={value}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every limit in force, one per line.
pub fn describe_policy(policy: &LimitPolicy) -> String {
    let countries = policy
        .allowed_countries
        .as_ref()
        .map_or("any".to_owned(), |list| {
            list.iter()
                .map(|c| format!("+{c}"))
                .collect::<Vec<_>>()
                .join(",")
        });
    [
        format!(
            "sends per destination: {} per 10 min, {} per 24 h",
            policy.destination_per_10min, policy.destination_per_day
        ),
        format!(
            "failed verifications per destination: {} in a row, then locked for {} s",
            policy.failure_streak, policy.failure_lock_secs
        ),
        format!(
            "unverified sends per prefix (+country and {} digits): {} per hour, then {} s cooling",
            policy.prefix_digits, policy.prefix_unverified_per_hour, policy.prefix_cooldown_secs
        ),
        format!("countries for SMS and WhatsApp: {countries}"),
        format!(
            "sends per hour: email {}, sms {}, whatsapp {}",
            policy.email_per_hour, policy.sms_per_hour, policy.whatsapp_per_hour
        ),
        format!(
            "sends per client IP: {} per 10 min",
            policy.ip_sends_per_10min
        ),
        format!(
            "code submissions per IP on the widget: {} per minute",
            policy.ip_submissions_per_minute
        ),
        format!("resends per session: {}", policy.resends_per_session),
    ]
    .join("\n")
}

/// `tenant set`: applies the arguments and prints what the tenant now has.
pub async fn set_tenant(
    admin: &AdminService,
    name: &str,
    args: &LimitArgs,
) -> Result<(), ServiceError> {
    if args.is_empty() {
        return Err(ServiceError::InvalidRequest(
            "nothing to set: give at least one limit (see `otpgate tenant set --help`)".into(),
        ));
    }
    let changes = args
        .overrides()
        .map_err(|error| ServiceError::InvalidRequest(format!("{error:#}")))?;
    let limits = admin
        .set_tenant_limits(name, &changes, args.reset, &Caller::cli())
        .await?;
    println!("tenant `{name}` limits: {}", describe_overrides(&limits));
    Ok(())
}

/// `limits report`: refusals since `since`, most frequent first.
pub fn print_report(summaries: &[RefusalSummary], hours: u32) {
    if summaries.is_empty() {
        println!("no refusals in the last {hours} h");
        return;
    }
    println!("refusals in the last {hours} h, most frequent first:");
    println!("tenant\trule\tchannel\trefusals\tsubjects\tfirst\tlast\ttop subject");
    for s in summaries {
        let top = s
            .top_subject
            .as_ref()
            .map_or("-".to_owned(), |(hash, n)| format!("{hash}… ×{n}"));
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{top}",
            s.tenant.as_deref().unwrap_or("-"),
            s.rule,
            s.channel.as_deref().unwrap_or("-"),
            s.refusals,
            s.subjects,
            crate::server::http::rest::types::rfc3339(s.first),
            crate::server::http::rest::types::rfc3339(s.last),
        );
    }
}
