//! A small map whose entries expire: what the serving path keeps between
//! requests so that a busy application's requests do not each read the
//! database. Bounded: when full, expired entries go first, then everything
//! (a cache refilled from the database is slower, never wrong).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the serving path trusts an API key or a label target it read
/// (`[serving] cache_ms`): what another process changes takes effect
/// within this.
pub const DEFAULT_SERVING_CACHE: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// Entries live `ttl`; a zero `ttl` keeps nothing.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        TtlCache {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        // A panic elsewhere while holding the lock leaves a map that is
        // still a valid cache.
        self.entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The value stored under `key` less than `ttl` ago.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.lock();
        let (value, stored) = entries.get(key)?;
        (stored.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, stored)| stored.elapsed() < self.ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Forgets the entries `stale` picks (a write this process made).
    pub fn forget(&self, stale: impl Fn(&K) -> bool) {
        self.lock().retain(|key, _| !stale(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_map_stays_bounded() {
        let cache = TtlCache::new(Duration::from_millis(50), 3);
        cache.insert("a", 1);
        assert_eq!(cache.get("a"), Some(1));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("a"), None, "expired");
        for (i, key) in ["b", "c", "d", "e"].into_iter().enumerate() {
            cache.insert(key, i);
        }
        assert!(cache.lock().len() <= 3);
        assert_eq!(cache.get("e"), Some(3), "the newest entry is kept");
        cache.forget(|key| *key == "e");
        assert_eq!(cache.get("e"), None);
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = TtlCache::new(Duration::ZERO, 3);
        cache.insert("a", 1);
        assert_eq!(cache.get("a"), None);
    }
}
