//! A send as stored, written once for sessions, resends and single-SMS requests: its limits
//! counted on a read connection and decided by the engine, then its rows, messages, events
//! and counts appended to the caller's plan behind checks that re-read the counts where the
//! plan is written (`limits::send_checks`). The plan goes to the writer in one hand-off (on
//! SQLite, grouped with other calls' plans in one transaction); when a check fails, another
//! send moved a count the decision needed, nothing of the plan is written and the caller
//! decides again on fresh counts. So concurrent sends never pass a limit together, also
//! across processes, and nothing exists without its messages. A refused send leaves only its
//! refusal's record.

use super::deliveries::OwnerRef;
use super::{Backend, Plan, Query, deliveries, events, limits};
use crate::engine::limits::{Refusal, send_bounds};
use crate::server::events::Event;
use crate::server::store::deliveries::{NewMessage, Owner};
use crate::server::store::limits::{MessageSubjects, RefusalRecord, SendPolicy};
use crate::server::store::sessions::{CreateSession, Deliveries};
use crate::server::store::single::NewSingleRequest;
use crate::server::store::{StoreError, StoreResult, flag};

/// How many times a send is decided again when other sends moved its counts before its write.
/// Each stale write means another send was written, so this is reached only when far more
/// sends than this race on one destination, prefix or budget.
pub(super) const STALE_RETRIES: u32 = 100;

/// The answer when a send stayed stale `STALE_RETRIES` times: not the caller's fault, worth
/// trying again later.
pub(super) fn too_much_contention() -> StoreError {
    StoreError::Unavailable(format!(
        "the limits this send counts changed under it {STALE_RETRIES} times in a row"
    ))
}

/// What a send writes besides its messages.
#[derive(Clone, Copy)]
pub(super) enum Target<'a> {
    /// A new session with its channels.
    Session(&'a CreateSession<'a>),
    /// A new single-SMS request.
    Request(&'a NewSingleRequest<'a>),
    /// New codes for channels of a session: their earlier messages are replaced.
    Resend { session_id: i64 },
}

/// A send's messages and the limits they are held to.
pub(super) struct Outgoing<'a> {
    pub tenant_id: i64,
    pub is_test: bool,
    /// When the session or request expires: its messages are not delivered after that.
    pub expires_at: i64,
    pub now: i64,
    pub messages: &'a [NewMessage],
    pub policy: &'a SendPolicy,
    /// What the send tells of (written with its rows, for the tenant's webhook endpoints).
    pub events: &'a [Event],
}

/// Appends the row a send creates, if it creates one; how its other rows name it.
fn insert_target<'a>(plan: &mut Plan, target: Target<'a>, now: i64) -> OwnerRef<'a> {
    match target {
        Target::Session(new) => {
            let session = new.session;
            plan.push(
                Query::new(
                    "INSERT INTO sessions (tenant_id, token_hash, is_test, mode, code_length,
                         max_attempts, max_attempts_per_channel, failed_attempts, locale,
                         created_at, expires_at, public_id, fallback_after_secs, fallback_due_at,
                         app_name)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(new.tenant_id)
                .bind(new.token_hash)
                .bind(flag(new.is_test))
                .bind(session.mode.as_str())
                .bind(i64::from(session.code_length))
                .bind(i64::from(session.limits.max_attempts))
                .bind(session.limits.max_attempts_per_channel.map(i64::from))
                .bind(i64::from(session.failed_attempts))
                .bind(new.locale)
                .bind(now)
                .bind(session.expires_at)
                .bind(new.public_id)
                .bind(new.fallback.map(|f| f.after_secs))
                .bind(new.fallback.and_then(|f| f.due_at))
                .bind(new.app_name),
            );
            OwnerRef::NewSession {
                token_hash: new.token_hash,
            }
        }
        Target::Request(new) => {
            plan.push(
                Query::new(
                    "INSERT INTO sms_requests (tenant_id, request_id, phone_number, code_hash,
                         is_test, failed_attempts, created_at, expires_at, destination)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(new.tenant_id)
                .bind(new.request_id)
                .bind(new.phone_number)
                .bind(new.code_hash)
                .bind(flag(new.is_test))
                .bind(i64::from(new.request.failed_attempts))
                .bind(now)
                .bind(new.request.expires_at)
                .bind(&new.message.subjects.destination),
            );
            OwnerRef::NewRequest {
                request_id: new.request_id,
            }
        }
        Target::Resend { session_id } => OwnerRef::Id(Owner::Session(session_id)),
    }
}

/// What goes with the target's row: a new session's channels, or, for a resend, the end of
/// the replaced messages (before the new ones are written, which must not be ended).
fn target_rows(plan: &mut Plan, target: Target<'_>, send: &Outgoing<'_>) {
    match target {
        Target::Session(new) => {
            // Every channel has its row, also those a fallback sends later (without a message).
            let rows = new.session.channels.iter().zip(&new.channels);
            for (position, (state, channel)) in rows.enumerate() {
                plan.push(
                    Query::new(
                        "INSERT INTO session_channels (session_id, position, channel, recipient,
                             code_hash, last_sent_at, destination)
                         VALUES ((SELECT id FROM sessions WHERE token_hash = $1), $2, $3, $4,
                             $5, $6, $7)",
                    )
                    .bind(new.token_hash)
                    .bind(position as i64)
                    .bind(state.channel.as_str())
                    .bind(&channel.recipient)
                    .bind(&channel.code_hash)
                    .bind(state.last_sent_at)
                    .bind(&channel.destination),
                );
            }
        }
        Target::Resend { session_id } => {
            for message in send.messages {
                plan.push(deliveries::replace_channel_messages(
                    session_id,
                    message.channel,
                    send.now,
                ));
            }
        }
        Target::Request(_) => {}
    }
}

/// How writing a send ended.
pub(super) enum Sent {
    /// Written: each message as it stands.
    Written(Deliveries),
    /// A limit refused it: only the refusal's record was written.
    Refused(Refusal),
    /// A guard or check no longer held: nothing was written; decide again.
    Stale,
}

/// Decides a send and writes it with what `plan` already holds (the caller's own guards and
/// writes), in one hand-off to the writer; a refused send writes only its refusal's record.
pub(super) async fn write_send<B: Backend>(
    store: &B,
    mut plan: Plan,
    target: Target<'_>,
    send: &Outgoing<'_>,
) -> StoreResult<Sent> {
    match plan_send(store, &mut plan, target, send).await? {
        Err(record) => {
            store
                .write(refusal_plan(send.tenant_id, &record, send.now))
                .await?;
            Ok(Sent::Refused(record.refusal))
        }
        Ok(views) => Ok(if store.write(plan).await? {
            Sent::Written(views)
        } else {
            Sent::Stale
        }),
    }
}

/// Counts the send's limits on a read connection and lets the engine decide. Allowed, its
/// writes and checks are appended to `plan` (after what the caller put there), and each
/// message as it will stand once the plan is written comes back; refused, the plan is left
/// alone and the refusal to record comes back instead.
async fn plan_send<B: Backend>(
    store: &B,
    plan: &mut Plan,
    target: Target<'_>,
    send: &Outgoing<'_>,
) -> StoreResult<Result<Deliveries, RefusalRecord>> {
    let subjects: Vec<MessageSubjects> = send.messages.iter().map(|m| m.subjects.clone()).collect();
    let policy = &send.policy.policy;
    let client_ip = send.policy.client_ip.as_deref();
    let seen = {
        let mut reader = store.reader().await?;
        limits::count_send(
            &mut *reader,
            send.tenant_id,
            policy,
            &subjects,
            client_ip,
            send.now,
        )
        .await?
    };
    let counts = limits::as_one_send(&seen, &subjects);
    let bounds = match send_bounds(policy, &counts, send.now) {
        Ok(bounds) => bounds,
        Err(refused) => return Ok(Err(RefusalRecord::of_send(refused, &subjects, client_ip))),
    };
    // The rows no check reads first: on PostgreSQL the checks' subjects are locked only from
    // the checks to the commit.
    let owner = insert_target(plan, target, send.now);
    target_rows(plan, target, send);
    let views = deliveries::insert_messages(
        plan,
        send.tenant_id,
        send.is_test,
        owner,
        send.expires_at,
        send.now,
        send.messages,
    );
    if let Some(query) = events::fan_out(send.tenant_id, send.events, send.now) {
        plan.push(query);
    }
    // The checks read the counts without this send's own: they come before its record.
    limits::send_checks(
        plan,
        send.tenant_id,
        policy,
        &subjects,
        &seen,
        &counts,
        &bounds,
        client_ip,
        send.now,
    );
    limits::record_send(
        plan,
        send.tenant_id,
        owner,
        &subjects,
        send.policy,
        &counts,
        send.now,
    );
    Ok(Ok(views))
}

/// The refusal's record, written on its own (nothing of the refused send is).
pub(super) fn refusal_plan(tenant_id: i64, record: &RefusalRecord, now: i64) -> Plan {
    let mut plan = Plan::new();
    plan.push(limits::refusal_record(tenant_id, record, now));
    plan
}
