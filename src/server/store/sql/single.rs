//! Single-SMS requests, for both stores: creation with its limits, decisions written over the
//! state they were made on.

use async_trait::async_trait;

use super::audit::{About, entry};
use super::sends::{Outgoing, STALE_RETRIES, Sent, Target, too_much_contention, write_send};
use super::{Backend, Connection, Plan, Query, deliveries, events, inspect, limits, outbox};
use crate::engine::Channel;
use crate::engine::limits::Refusal;
use crate::server::mask::mask_phone;
use crate::server::store::deliveries::Owner;
use crate::server::store::limits::subject_label;
use crate::server::store::single::*;
use crate::server::store::{Caller, StoreResult};

/// A request's row, filtered by `$filter`, with its number's streak.
macro_rules! request_row {
    ($filter:literal) => {
        concat!(
            "SELECT r.id, r.tenant_id, t.name AS tenant_name, r.request_id, t.limits, r.phone_number,
                    r.code_hash, r.failed_attempts, r.is_test, r.created_at, r.expires_at, r.verified_at,
                    r.destination, d.failures AS streak_failures,
                    d.locked_until AS streak_locked_until
             FROM sms_requests r JOIN tenants t ON t.id = r.tenant_id
             LEFT JOIN destination_streaks d
               ON d.tenant_id = r.tenant_id AND d.subject = r.destination
             WHERE ",
            $filter
        )
    };
}

/// A request by its ID (`$1`) in the tenant whose ID is `$2`.
const REQUEST_ROW_IN_TENANT: &str = request_row!("r.request_id = $1 AND r.tenant_id = $2");

/// The requests that expired after the cursor (`$1` the second it reached, `$2` the last ID
/// at that second) and by `$3`, at most `$4`, in the order they expired.
pub(super) const REQUEST_ROWS_EXPIRED: &str = request_row!(
    "(r.expires_at > $1 OR (r.expires_at = $1 AND r.id > $2)) AND r.expires_at <= $3
     ORDER BY r.expires_at, r.id LIMIT $4"
);

/// A request by its ID (`$1`), within the tenant `$2` names when it names one.
pub(super) const REQUEST_ROW_BY_ID: &str =
    request_row!("r.request_id = $1 AND ($2 IS NULL OR t.name = $2)");

#[async_trait]
impl<B: Backend> SingleRequestStore for B {
    async fn create_single_request(
        &self,
        new: &NewSingleRequest<'_>,
    ) -> StoreResult<Result<(), Refusal>> {
        let now = new.created_at;
        let told = events::request_started(new, now);
        let send = Outgoing {
            tenant_id: new.tenant_id,
            is_test: new.is_test,
            expires_at: new.request.expires_at,
            now,
            messages: std::slice::from_ref(&new.message),
            policy: new.limits,
            events: &told,
        };
        for _ in 0..STALE_RETRIES {
            match write_send(self, Plan::new(), Target::Request(new), &send).await? {
                Sent::Written(_) => return Ok(Ok(())),
                Sent::Refused(refusal) => return Ok(Err(refusal)),
                Sent::Stale => {}
            }
        }
        Err(too_much_contention())
    }

    async fn load_single_request(
        &self,
        tenant_id: i64,
        request_id: &str,
    ) -> StoreResult<Option<StoredSingleRequest>> {
        let row: Option<SingleRequestRow> = self
            .reader()
            .await?
            .fetch_optional(
                Query::new(REQUEST_ROW_IN_TENANT)
                    .bind(request_id)
                    .bind(tenant_id),
            )
            .await?;
        row.map(single_from_row).transpose()
    }

    async fn commit_single_request(
        &self,
        before: &StoredSingleRequest,
        after: &StoredSingleRequest,
        now: i64,
    ) -> StoreResult<bool> {
        // No limit to count and no new message: the writes alone (SQLite groups them).
        let mut plan = Plan::new();
        if let Some(record) = &after.refusal {
            plan.push(limits::refusal_record(after.tenant_id, record, now));
            return self.write(plan).await;
        }
        if let Some(destination) = &after.destination
            && after.streak != before.streak
        {
            limits::move_streak(
                &mut plan,
                after.tenant_id,
                destination,
                before.streak,
                after.streak,
            );
            if !before.streak.is_locked(now) && after.streak.is_locked(now) {
                let shown = mask_phone(&after.phone_number);
                let target = Some(format!("{shown} ({})", subject_label(destination)));
                let detail = serde_json::json!({"locked_until": after.streak.locked_until});
                plan.push(entry(
                    &Caller::system(),
                    About::TenantId(after.tenant_id),
                    "destination.locked",
                    target,
                    None,
                    Some(detail),
                    now,
                ));
            }
        }
        if after.request != before.request {
            plan.guard(
                Query::new(
                    "UPDATE sms_requests SET failed_attempts = $1, verified_at = $2
                     WHERE id = $3 AND failed_attempts = $4
                       AND verified_at IS NOT DISTINCT FROM $5",
                )
                .bind(i64::from(after.request.failed_attempts))
                .bind(after.request.verified_at)
                .bind(after.id)
                .bind(i64::from(before.request.failed_attempts))
                .bind(before.request.verified_at),
            );
            if after.request.is_settled() {
                plan.push(outbox::erase_request_codes(after.id));
                plan.push(deliveries::end_messages(Owner::Request(after.id), now));
            }
            let owner = Owner::Request(after.id);
            let wrong = after
                .request
                .failed_attempts
                .saturating_sub(before.request.failed_attempts);
            let verified =
                after.request.verified_at.is_some() && before.request.verified_at.is_none();
            for query in inspect::decided_codes(owner, Channel::Sms, false, wrong, now).chain(
                inspect::decided_codes(owner, Channel::Sms, true, u32::from(verified), now),
            ) {
                plan.push(query);
            }
            if verified {
                plan.push(limits::mark_verified(
                    Owner::Request(after.id),
                    Channel::Sms,
                ));
            }
            let told = events::request_decided(before, after, now);
            if let Some(query) = events::fan_out(after.tenant_id, &told, now) {
                plan.push(query);
            }
        }
        self.write(plan).await
    }
}
