//! What the policy check looks up on every request (a session, a personal token, an edge's
//! token, the first administrator, the plant of a record) kept in memory, so a hot route does
//! not pay a store round trip per request for its caller (BENCHMARKS.md, issue 13).
//!
//! **Architecture Invariant:** nothing cached outlives a change made through central: every
//! state-changing request of a person (and every sign-in) that is not refused (4xx: nothing
//! changed) ends by moving the generation on
//! ([`AuthCache::invalidate`]), which drops every entry; reads made at an older generation are
//! not kept. Only found records are cached (an unknown token or record is asked of the store
//! each time, so guessing cannot fill the cache), lots are never cached (stock moves with
//! every event), and the cache holds at most [`MAX_ENTRIES`]. One central process: several
//! instances on one database (PostgreSQL, a later issue) must share the invalidation.

use crate::people::users::User;
use crate::store::people::{ApiToken, Record, Session};
use protocol::EdgeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Most entries kept; when full, the cache starts empty again.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Session([u8; 32]),
    Token([u8; 32]),
    Edge([u8; 32]),
    /// The first administrator, whom the admin token is.
    Admin,
    Plants(Record, String),
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Session(Arc<Session>, Arc<User>),
    Token(Arc<ApiToken>, Arc<User>),
    Edge(EdgeId),
    User(Arc<User>),
    Plants(Arc<Vec<String>>),
}

pub struct AuthCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<Key, Value>>,
    /// Told of every invalidation: what holds a credential's answer longer than a request
    /// (a kiosk's live stream) looks again when it moves.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for AuthCache {
    fn default() -> Self {
        AuthCache {
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
            changed: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl AuthCache {
    /// Moves whenever the cache is invalidated (credentials may have changed).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The generation to read at: a value read from the store is kept only if no change
    /// happened in between.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Value> {
        self.lock().get(key).cloned()
    }

    /// Keeps `value`, unless something changed since `generation` was read.
    pub(crate) fn put(&self, key: Key, value: Value, generation: u64) {
        if matches!(key, Key::Plants(Record::Lot, _)) {
            return;
        }
        let mut entries = self.lock();
        if self.generation() != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, value);
    }

    pub(crate) fn forget(&self, key: &Key) {
        self.lock().remove(key);
    }

    /// Something may have changed: forget everything.
    pub fn invalidate(&self) {
        let mut entries = self.lock();
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        entries.clear();
        drop(entries);
        self.changed.send_replace(generation);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Value>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_from_before_a_change_is_not_kept() {
        let cache = AuthCache::default();
        let g = cache.generation();
        cache.invalidate();
        cache.put(Key::Edge([1; 32]), Value::Edge("e".into()), g);
        assert!(cache.get(&Key::Edge([1; 32])).is_none());
        let g = cache.generation();
        cache.put(Key::Edge([1; 32]), Value::Edge("e".into()), g);
        assert!(cache.get(&Key::Edge([1; 32])).is_some());
        cache.invalidate();
        assert!(cache.get(&Key::Edge([1; 32])).is_none());
        // Lots move with every event: never kept.
        let g = cache.generation();
        cache.put(
            Key::Plants(Record::Lot, "L".into()),
            Value::Plants(Arc::new(vec!["a".into()])),
            g,
        );
        assert!(cache.get(&Key::Plants(Record::Lot, "L".into())).is_none());
    }

    #[test]
    fn it_stays_bounded() {
        let cache = AuthCache::default();
        for i in 0..(MAX_ENTRIES as u32 + 10) {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            cache.put(Key::Edge(k), Value::Edge("e".into()), cache.generation());
        }
        assert!(cache.lock().len() <= MAX_ENTRIES);
    }
}
