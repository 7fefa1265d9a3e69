//! The fallback pass: every session whose fallback timer is due (its current channel's time
//! ran out, or its message failed) is decided again by the engine's rules — send the next
//! channel, wait until a later time, or nothing more. A step is written like any decision on a
//! session: over the version it was made on, with the timer moved in the same write, so when
//! several instances run the pass at once each step is sent once.

use crate::engine::delivery::DeliveryStatus;
use crate::engine::fallback::{self, FallbackAction, FallbackPolicy};
use crate::server::store::NewRoute;

use super::progressive::key_of;
use super::{ServiceError, ServiceResult, VerificationService};

/// Sessions one pass looks at, at most; the rest are the next pass's.
const PASS_SIZE: i64 = 200;

impl VerificationService {
    /// One fallback pass at the service's clock; how many channels it sent.
    pub async fn fallback_pass(&self) -> ServiceResult<usize> {
        let now = self.clock.now();
        let due = self.store.due_fallbacks(now, PASS_SIZE).await?;
        let mut sent = 0;
        for (tenant_id, token_hash) in due {
            let error = match self.advance_fallback(tenant_id, &token_hash, now).await {
                Ok(true) => {
                    sent += 1;
                    continue;
                }
                Ok(false) => continue,
                Err(error) => error,
            };
            // A step a limit refused waits as long as the limit says; one the tenant's
            // settings refuse (a channel disabled, no provider) ends the fallback. Anything
            // else (the database) leaves the timer due for the next pass.
            let next = match &error {
                ServiceError::RateLimited { retry_after, .. } => Some(now + (*retry_after).max(1)),
                ServiceError::Forbidden(_) => None,
                _ => {
                    tracing::warn!(%error, tenant_id, "a fallback step failed; the next pass tries again");
                    continue;
                }
            };
            tracing::info!(%error, tenant_id, ?next, "a fallback step was refused");
            if let Err(error) = self
                .store
                .postpone_fallback(tenant_id, &token_hash, now, next)
                .await
            {
                tracing::warn!(%error, tenant_id, "cannot move a refused fallback step's timer");
            }
        }
        Ok(sent)
    }

    /// Decides one due fallback session; whether it sent a channel.
    async fn advance_fallback(
        &self,
        tenant_id: i64,
        token_hash: &[u8],
        now: i64,
    ) -> ServiceResult<bool> {
        let Some(loaded) = self.store.load_session(Some(tenant_id), token_hash).await? else {
            return Ok(false);
        };
        // Read before deciding (a decision cannot wait on a read). Should a message fail
        // between this read and the write, its wake-up may be overwritten by the timer: the
        // next channel then goes when the timer runs out instead of at once.
        let deliveries = self.store.session_deliveries(loaded.id).await?;
        let latest: Vec<Option<DeliveryStatus>> = loaded
            .session
            .channels
            .iter()
            .map(|c| deliveries.get(&c.channel).map(|d| d.status))
            .collect();
        let texts = self.texts.tenant(tenant_id).await?;
        let (stored, sent, _) = self
            .decide_retry(
                Some(tenant_id),
                token_hash,
                None,
                None,
                now,
                |stored, policy| {
                    let Some(mut timer) = stored.fallback else {
                        return Ok((None, Vec::new()));
                    };
                    // Another instance took this step since the session was listed.
                    if timer.due_at.is_none_or(|due| due > now) {
                        return Ok((None, Vec::new()));
                    }
                    let rules = FallbackPolicy::new(timer.after_secs).map_err(|e| {
                        ServiceError::InvalidRequest(format!("stored fallback: {e}"))
                    })?;
                    let action = fallback::decide(rules, &stored.session, &latest, now);
                    let mut messages = Vec::new();
                    let mut sent = None;
                    match action {
                        FallbackAction::Done => timer.due_at = None,
                        FallbackAction::WaitUntil(at) => timer.due_at = Some(at),
                        FallbackAction::Send(position) => {
                            let channel = fallback::send_step(&mut stored.session, position, now)
                                .map_err(|_| ServiceError::NotFound)?;
                            self.ensure_sendable(stored.is_test, &stored.gate, &[channel])?;
                            messages = self.new_codes(stored, &[position], &texts, policy, now)?;
                            timer.due_at = Some(now + timer.after_secs);
                            sent = Some(channel);
                        }
                    }
                    stored.fallback = Some(timer);
                    let queued = messages
                        .iter()
                        .any(|m| matches!(m.route, NewRoute::Provider { .. }));
                    Ok((sent.map(|channel| (channel, queued)), messages))
                },
            )
            .await?;
        let Some((channel, queued)) = sent else {
            return Ok(false);
        };
        self.stored(&[channel], queued, &key_of(&stored));
        crate::server::metrics::fallback_step(channel);
        tracing::info!(
            session = %stored.public_id,
            channel = %channel,
            "fallback: the next channel was sent"
        );
        Ok(true)
    }
}
