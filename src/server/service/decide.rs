//! One loop for every decision made on a copy (a progressive session, a single-SMS request):
//! the record is read without the write lock, the engine decides on a copy, and what changed
//! is written only over the state it was read in. When the record moved meanwhile (another
//! call's write went through), the decision is made again on a fresh copy.

use async_trait::async_trait;

use super::ServiceResult;
use super::error::{count_refusal, too_much_contention};
use crate::engine::limits::LimitPolicy;
use crate::server::store::NewMessage;

/// How many times a call decides again when its record changed before its write. Each stale
/// answer means another call's write went through, so this is reached only when far more calls
/// than this race on one record.
const STALE_RETRIES: u32 = 100;

/// How a write of a decision ended.
pub(super) enum Written<T> {
    /// Written (or nothing to write), with what the write reports.
    Done(T),
    /// The record changed under the decision: nothing was written.
    Stale,
}

/// A record that decisions are made on: how to read it, and how to write a decision over it.
#[async_trait]
pub(super) trait Record: Sync {
    type Copy: Clone + Send + Sync;
    /// What a written decision reports (each new message's delivery, or nothing).
    type Report: Send;

    /// Reads the record without the write lock.
    async fn read(&self) -> ServiceResult<Self::Copy>;

    /// The limits a decision on `copy` is made under: its tenant's over the server's.
    fn policy(&self, copy: &Self::Copy) -> LimitPolicy;

    /// Writes what the decision changed from `before` to `after` (and the `messages` it made,
    /// when it `decided` rather than refused), only if the record still stands as `before`.
    async fn write(
        &self,
        before: &Self::Copy,
        after: &Self::Copy,
        messages: &[NewMessage],
        decided: bool,
        policy: &LimitPolicy,
    ) -> ServiceResult<Written<Self::Report>>;
}

/// Reads `record`, lets `decide` change a copy, writes what changed, until the write is not
/// stale (`STALE_RETRIES` times at most). A decision that fails is written all the same (a
/// wrong code still counts): its error comes back beside the copy it left.
pub(super) async fn until_fresh<R: Record, T>(
    record: &R,
    mut decide: impl FnMut(&mut R::Copy, &LimitPolicy) -> ServiceResult<(T, Vec<NewMessage>)>,
) -> ServiceResult<(R::Copy, ServiceResult<T>, R::Report)> {
    for _ in 0..STALE_RETRIES {
        let before = record.read().await?;
        let policy = record.policy(&before);
        let mut after = before.clone();
        let decision = decide(&mut after, &policy);
        let messages = decision.as_ref().map_or(&[][..], |(_, m)| m.as_slice());
        match record
            .write(&before, &after, messages, decision.is_ok(), &policy)
            .await?
        {
            Written::Stale => continue,
            Written::Done(report) => {
                if let Err(error) = &decision {
                    count_refusal(error);
                }
                return Ok((after, decision.map(|(value, _)| value), report));
            }
        }
    }
    Err(too_much_contention(STALE_RETRIES))
}
