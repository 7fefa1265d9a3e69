//! A send as stored, written once for sessions, resends and single-SMS requests: its limits
//! counted and decided (the engine decides), its rows and messages written, what it counts
//! recorded — all in the caller's write transaction, so concurrent sends never pass a limit
//! together and nothing exists without its messages. A refused send leaves only its refusal's
//! record, which the caller writes once the transaction is rolled back.

use super::{Backend, Connection, Plan, Query, deliveries, events, limits};
use crate::engine::limits::{SendCounts, decide_send};
use crate::server::events::Event;
use crate::server::store::deliveries::{NewMessage, Owner};
use crate::server::store::limits::{MessageSubjects, RefusalRecord, SendPolicy};
use crate::server::store::sessions::{CreateSession, Deliveries};
use crate::server::store::single::NewSingleRequest;
use crate::server::store::{StoreResult, flag};

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

/// How a send ended.
pub(super) enum Sent {
    /// Written (not yet committed): the session's or request's ID, each message as it stands.
    Stored { owner_id: i64, views: Deliveries },
    /// A limit refused it: the caller rolls back and records only this.
    Refused(RefusalRecord),
}

/// Counts the send's limits and lets the engine decide: the counts, or the refusal to record.
async fn counted<B: Backend>(
    conn: &mut B::Conn,
    send: &Outgoing<'_>,
    subjects: &[MessageSubjects],
) -> StoreResult<Result<SendCounts, RefusalRecord>> {
    let policy = &send.policy.policy;
    let client_ip = send.policy.client_ip.as_deref();
    let counts =
        limits::count_send::<B>(conn, send.tenant_id, policy, subjects, client_ip, send.now)
            .await?;
    Ok(match decide_send(policy, &counts, send.now) {
        Some(refused) => Err(RefusalRecord::of_send(refused, subjects, client_ip)),
        None => Ok(counts),
    })
}

/// Writes the row a send creates, if it creates one; the owner of its messages.
async fn insert_target(
    conn: &mut impl Connection,
    target: Target<'_>,
    now: i64,
) -> StoreResult<Owner> {
    Ok(match target {
        Target::Session(new) => {
            let session = new.session;
            let (id,): (i64,) = conn
                .fetch_one(
                    Query::new(
                        "INSERT INTO sessions (tenant_id, token_hash, is_test, mode, code_length,
                             max_attempts, max_attempts_per_channel, failed_attempts, locale,
                             created_at, expires_at, public_id)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
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
                    .bind(new.public_id),
                )
                .await?;
            Owner::Session(id)
        }
        Target::Request(new) => {
            let (id,): (i64,) = conn
                .fetch_one(
                    Query::new(
                        "INSERT INTO sms_requests (tenant_id, request_id, phone_number, code_hash,
                             is_test, failed_attempts, created_at, expires_at, destination)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
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
                )
                .await?;
            Owner::Request(id)
        }
        Target::Resend { session_id } => Owner::Session(session_id),
    })
}

/// What goes with the target's row: a new session's channels, or, for a resend, the end of
/// the replaced messages (before the new ones are written, which must not be ended).
fn target_rows(plan: &mut Plan, target: Target<'_>, owner: Owner, send: &Outgoing<'_>) {
    match (target, owner) {
        (Target::Session(new), Owner::Session(id)) => {
            let rows = new
                .session
                .channels
                .iter()
                .zip(&new.channels)
                .zip(send.messages);
            for (position, ((state, channel), message)) in rows.enumerate() {
                plan.push(
                    Query::new(
                        "INSERT INTO session_channels (session_id, position, channel, recipient,
                             code_hash, last_sent_at, destination)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(id)
                    .bind(position as i64)
                    .bind(state.channel.as_str())
                    .bind(&channel.recipient)
                    .bind(&channel.code_hash)
                    .bind(state.last_sent_at)
                    .bind(&message.subjects.destination),
                );
            }
        }
        (Target::Resend { session_id }, _) => {
            for message in send.messages {
                plan.push(deliveries::replace_channel_messages(
                    session_id,
                    message.channel,
                    send.now,
                ));
            }
        }
        _ => {}
    }
}

/// Writes a send in the caller's transaction: count → decide → write → record, the count
/// before the writes or after them as the store prefers (`Backend::COUNTS_LIMITS_LAST`).
pub(super) async fn write_send<B: Backend>(
    conn: &mut B::Conn,
    target: Target<'_>,
    send: &Outgoing<'_>,
) -> StoreResult<Sent> {
    let subjects: Vec<MessageSubjects> = send.messages.iter().map(|m| m.subjects.clone()).collect();
    let counted_first = if B::COUNTS_LIMITS_LAST {
        None
    } else {
        match counted::<B>(conn, send, &subjects).await? {
            Ok(counts) => Some(counts),
            Err(record) => return Ok(Sent::Refused(record)),
        }
    };
    let owner = insert_target(conn, target, send.now).await?;
    let mut plan = Plan::new();
    target_rows(&mut plan, target, owner, send);
    let views = deliveries::insert_messages(
        &mut plan,
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
    let record = |plan: &mut Plan, counts: &SendCounts| {
        limits::record_send(
            plan,
            send.tenant_id,
            owner,
            &subjects,
            send.policy,
            counts,
            send.now,
        );
    };
    if let Some(counts) = &counted_first {
        record(&mut plan, counts);
    }
    conn.run(plan).await?;
    if counted_first.is_none() {
        let counts = match counted::<B>(conn, send, &subjects).await? {
            Ok(counts) => counts,
            Err(record) => return Ok(Sent::Refused(record)),
        };
        let mut plan = Plan::new();
        record(&mut plan, &counts);
        conn.run(plan).await?;
    }
    let owner_id = match owner {
        Owner::Session(id) | Owner::Request(id) => id,
    };
    Ok(Sent::Stored { owner_id, views })
}

/// The refusal's record, to write on its own once the refused send is rolled back.
pub(super) fn refusal_plan(tenant_id: i64, record: &RefusalRecord, now: i64) -> Plan {
    let mut plan = Plan::new();
    plan.push(limits::refusal_record(tenant_id, record, now));
    plan
}
