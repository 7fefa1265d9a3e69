//! `otpgate webhook …`: a tenant's webhook endpoints from the command line, through the same
//! `AdminService` calls as the admin API. Commands that make a secret read the server secret
//! (it seals the secrets); the others do not need it.

use clap::Subcommand;

use super::clock::{Clock, SystemClock};
use super::http::rest::types::rfc3339;
use super::service::webhooks::WebhookChange;
use super::service::{AdminService, Caller, ServiceError, WebhookDeliveryQuery};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Subscribe a URL to a tenant's events; the signing secret is printed once, alone on the
    /// last line.
    Create {
        #[arg(long)]
        tenant: String,
        /// `https://…` (http and private addresses only with OTPGATE_WEBHOOKS_ALLOW_PRIVATE).
        #[arg(long)]
        url: String,
        /// An event type it wants (repeatable); every type when none is given.
        #[arg(long = "event")]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List endpoints (of one tenant, or of all).
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Change an endpoint.
    Update {
        id: i64,
        #[arg(long)]
        url: Option<String>,
        /// The event types it wants (repeatable): replaces its list.
        #[arg(long = "event", conflicts_with = "all_events")]
        events: Vec<String>,
        /// Every event type.
        #[arg(long)]
        all_events: bool,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Delete an endpoint with its deliveries.
    Delete { id: i64 },
    /// A new signing secret (printed once, on the last line); the previous one keeps signing
    /// for the overlap.
    Rotate {
        id: i64,
        /// How long the previous secret keeps signing: `24h` (the default), `30m`, seconds.
        #[arg(long)]
        overlap: Option<String>,
    },
    /// Send a test event of a type (its data made up, `"test": true`).
    Test {
        id: i64,
        #[arg(long = "type", default_value = "verification.verified")]
        kind: String,
    },
    /// An endpoint's latest deliveries with their attempts.
    Deliveries {
        id: i64,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Send one delivery again.
    Resend { id: i64, delivery: i64 },
    /// Send again what failed or was skipped since a time (`2h`, `7d`, seconds ago).
    Replay {
        id: i64,
        #[arg(long)]
        since: String,
        /// Also what was delivered.
        #[arg(long)]
        delivered: bool,
    },
}

impl WebhookCommand {
    /// Whether the command makes a secret (and so needs the server secret to seal it).
    pub fn seals(&self) -> bool {
        matches!(
            self,
            WebhookCommand::Create { .. } | WebhookCommand::Rotate { .. }
        )
    }
}

fn seconds(what: &str, text: &str) -> Result<i64, ServiceError> {
    super::cli::seconds_of(text).map_err(|e| ServiceError::InvalidRequest(format!("{what} {e}")))
}

fn print_endpoint(endpoint: &super::service::EndpointInfo) {
    let events = endpoint
        .event_types
        .as_ref()
        .map_or("every event".to_owned(), |types| {
            types
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(",")
        });
    let state = match (&endpoint.disabled_at, &endpoint.disabled_reason) {
        (None, _) => "enabled".to_owned(),
        (Some(at), reason) => format!(
            "disabled ({}, {})",
            reason.as_deref().unwrap_or("operator"),
            rfc3339(*at)
        ),
    };
    println!(
        "{}\t{}\t{}\t{events}\t{state}\t{}",
        endpoint.id, endpoint.tenant, endpoint.url, endpoint.description
    );
}

pub async fn run(admin: &AdminService, command: WebhookCommand) -> Result<(), ServiceError> {
    let by = Caller::cli();
    match command {
        WebhookCommand::Create {
            tenant,
            url,
            events,
            description,
        } => {
            let events = (!events.is_empty()).then_some(events);
            let created = admin
                .create_webhook(
                    &tenant,
                    &url,
                    events.as_deref(),
                    description.as_deref(),
                    &by,
                )
                .await?;
            println!(
                "created webhook {} for tenant `{tenant}`; its signing secret is shown only now:",
                created.endpoint.id
            );
            println!("{}", created.secret);
        }
        WebhookCommand::List { tenant } => {
            println!("id\ttenant\turl\tevents\tstate\tdescription");
            for endpoint in admin.webhooks(tenant.as_deref()).await? {
                print_endpoint(&endpoint);
            }
        }
        WebhookCommand::Update {
            id,
            url,
            events,
            all_events,
            description,
            enable,
            disable,
        } => {
            let change = WebhookChange {
                url,
                events: if all_events {
                    Some(None)
                } else if events.is_empty() {
                    None
                } else {
                    Some(Some(events))
                },
                description,
                enabled: match (enable, disable) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
            };
            let endpoint = admin.update_webhook(id, &change, &by).await?;
            print_endpoint(&endpoint);
        }
        WebhookCommand::Delete { id } => {
            admin.delete_webhook(id, &by).await?;
            println!("deleted webhook {id}");
        }
        WebhookCommand::Rotate { id, overlap } => {
            let overlap = overlap
                .as_deref()
                .map(|o| seconds("--overlap", o))
                .transpose()?;
            let rotated = admin.rotate_webhook_secret(id, overlap, &by).await?;
            println!(
                "rotated webhook {id}'s secret; the previous one signs too until {}; the new one \
                 is shown only now:",
                rfc3339(rotated.previous_valid_until)
            );
            println!("{}", rotated.secret);
        }
        WebhookCommand::Test { id, kind } => {
            let delivery = admin.test_webhook(id, &kind).await?;
            println!("queued a test {kind} event for webhook {id} (delivery {delivery})");
        }
        WebhookCommand::Deliveries { id, status, limit } => {
            let query = WebhookDeliveryQuery {
                status: status.as_deref(),
                before_id: None,
                limit,
            };
            println!("delivery\tevent\ttype\tstatus\tattempts\tcreated\tlast answer");
            for delivery in admin.webhook_deliveries(id, &query).await? {
                let last = delivery.tries.last().map_or("-".to_owned(), |a| {
                    a.status
                        .map_or_else(|| a.error.clone().unwrap_or_default(), |s| s.to_string())
                });
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{last}",
                    delivery.id,
                    delivery.event_id,
                    delivery.event_type,
                    delivery.status,
                    delivery.attempts,
                    rfc3339(delivery.created_at)
                );
            }
        }
        WebhookCommand::Resend { id, delivery } => {
            admin.resend_webhook(id, delivery, &by).await?;
            println!("queued delivery {delivery} of webhook {id} again");
        }
        WebhookCommand::Replay {
            id,
            since,
            delivered,
        } => {
            let since = SystemClock.now() - seconds("--since", &since)?;
            let queued = admin.replay_webhooks(id, since, delivered, &by).await?;
            println!(
                "queued {queued} deliveries of webhook {id} again (since {})",
                rfc3339(since)
            );
        }
    }
    Ok(())
}
