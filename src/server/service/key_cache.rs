//! API keys authenticated in the last second, so a busy integrator's calls do not each look
//! their key up. Only keys found valid are kept (an unknown key always asks the store, so
//! guessing cannot fill the cache); revoking a key or changing a tenant's limits through this
//! process forgets everything at once, and through another process (the CLI, another
//! instance) takes effect within `KEY_CACHE_TTL`.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::server::store::AuthenticatedKey;

/// How long an authenticated key is believed without asking the store again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// Entries kept at most; past that the cache starts over (it refills within a second).
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<Vec<u8>, (Instant, AuthenticatedKey)>>,
}

impl KeyCache {
    /// The tenant of the key with this hash, if it was authenticated less than the TTL ago.
    pub fn get(&self, key_hash: &[u8], now: Instant) -> Option<AuthenticatedKey> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key_hash)
            .filter(|(at, _)| now.duration_since(*at) < KEY_CACHE_TTL)
            .map(|(_, key)| key.clone())
    }

    pub fn insert(&self, key_hash: Vec<u8>, key: AuthenticatedKey, now: Instant) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key_hash, (now, key));
    }

    /// Forgets every key: a revocation or a tenant's new limits apply to the next call.
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::limits::LimitOverrides;

    fn key() -> AuthenticatedKey {
        AuthenticatedKey {
            key_id: Some(1),
            key_prefix: Some("sk_test_Ab12Cd34".into()),
            tenant_id: 1,
            tenant_name: "Acme".into(),
            is_test: true,
            limits: LimitOverrides::default(),
            gate: Default::default(),
        }
    }

    #[test]
    fn a_key_is_believed_for_less_than_the_ttl_then_asked_for_again() {
        let cache = KeyCache::default();
        let start = Instant::now();
        assert_eq!(cache.get(b"hash", start), None);
        cache.insert(b"hash".to_vec(), key(), start);
        assert_eq!(cache.get(b"hash", start), Some(key()));
        let almost = start + KEY_CACHE_TTL - Duration::from_millis(1);
        assert_eq!(cache.get(b"hash", almost), Some(key()));
        assert_eq!(cache.get(b"hash", start + KEY_CACHE_TTL), None);
        assert_eq!(cache.get(b"other", start), None);
    }

    #[test]
    fn clearing_forgets_every_key_and_a_full_cache_starts_over() {
        let cache = KeyCache::default();
        let now = Instant::now();
        cache.insert(b"hash".to_vec(), key(), now);
        cache.clear();
        assert_eq!(cache.get(b"hash", now), None);
        for n in 0..CAPACITY {
            cache.insert(n.to_be_bytes().to_vec(), key(), now);
        }
        cache.insert(b"last".to_vec(), key(), now);
        assert_eq!(cache.get(b"last", now), Some(key()));
        assert_eq!(cache.get(&0usize.to_be_bytes(), now), None, "started over");
    }
}
