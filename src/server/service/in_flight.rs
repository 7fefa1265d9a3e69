//! The `Idempotency-Key`s this process is answering right now. A second request with a key
//! whose first request is still being answered is refused at once (`409`, as
//! draft-ietf-httpapi-idempotency-key-header says) instead of racing it; once the first is
//! answered, the same key replays its answer. Across instances the store's unique record
//! decides: a later request waits for the first one's commit and replays it.

use std::collections::HashSet;
use std::sync::Mutex;

#[derive(Default)]
pub(super) struct InFlight(Mutex<HashSet<String>>);

/// A key held while its request is answered; let go when dropped, however the request ends.
pub(super) struct Claim<'a> {
    keys: &'a InFlight,
    key: String,
}

impl InFlight {
    /// Holds `key`, or `None` when another request holds it.
    pub(super) fn claim(&self, key: String) -> Option<Claim<'_>> {
        let mut held = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Not `then_some`: it would make (and drop, taking the lock again) a claim it does not
        // give.
        if held.insert(key.clone()) {
            Some(Claim { keys: self, key })
        } else {
            None
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut held = self
            .keys
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        held.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_held_once_until_its_claim_is_dropped() {
        let keys = InFlight::default();
        let first = keys.claim("1:order-42".into()).expect("free");
        assert!(keys.claim("1:order-42".into()).is_none(), "held");
        assert!(
            keys.claim("2:order-42".into()).is_some(),
            "another tenant's"
        );
        drop(first);
        assert!(keys.claim("1:order-42".into()).is_some(), "free again");
    }
}
