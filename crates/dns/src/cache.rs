//! Upstream answers kept for their TTL, bounded in entries, and kept past
//! it for serve-stale (RFC 8767) until the cache needs the room.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use quick_cache::Equivalent;

use crate::wire::AnswerShape;

/// The longest any answer is kept fresh, whatever its TTL says.
pub const MAX_TTL: u32 = 86_400;
/// The TTL of an answer served stale.
pub const STALE_TTL: u32 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    name: Box<str>,
    qtype: u16,
    qclass: u16,
    dnssec_ok: bool,
}

/// A key borrowed from a query, so a lookup does not allocate.
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    pub name: &'a str,
    pub qtype: u16,
    pub qclass: u16,
    pub dnssec_ok: bool,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_ref().hash(state)
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.name.as_bytes());
        state.write_u16(self.qtype);
        state.write_u16(self.qclass);
        state.write_u8(self.dnssec_ok as u8);
    }
}

impl Key {
    fn as_ref(&self) -> KeyRef<'_> {
        KeyRef {
            name: &self.name,
            qtype: self.qtype,
            qclass: self.qclass,
            dnssec_ok: self.dnssec_ok,
        }
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.name == &*key.name
            && self.qtype == key.qtype
            && self.qclass == key.qclass
            && self.dnssec_ok == key.dnssec_ok
    }
}

/// An upstream answer as stored: already checked, with any `ech`
/// parameters removed.
#[derive(Debug)]
pub struct CachedAnswer {
    pub wire: Box<[u8]>,
    pub shape: AnswerShape,
    pub stored: Instant,
    /// Seconds it stays fresh.
    pub ttl: u32,
}

impl CachedAnswer {
    /// Seconds since it was stored, if it is still fresh at `now`.
    pub fn fresh_age(&self, now: Instant) -> Option<u32> {
        let age = now.saturating_duration_since(self.stored).as_secs();
        (age < self.ttl as u64).then_some(age as u32)
    }

    fn stale_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.stored)
            .saturating_sub(Duration::from_secs(self.ttl as u64))
    }
}

/// The answer cache.
pub struct AnswerCache {
    entries: Cache<Key, Arc<CachedAnswer>>,
    max_stale: Duration,
}

impl AnswerCache {
    pub fn new(capacity: usize, max_stale: Duration) -> AnswerCache {
        AnswerCache {
            entries: Cache::new(capacity.max(16)),
            max_stale,
        }
    }

    /// A fresh answer, with its age in seconds.
    pub fn fresh(&self, key: &KeyRef<'_>, now: Instant) -> Option<(Arc<CachedAnswer>, u32)> {
        let entry = self.entries.get(key)?;
        let age = entry.fresh_age(now)?;
        Some((entry, age))
    }

    /// An expired answer still young enough to serve when every upstream
    /// has failed.
    pub fn stale(&self, key: &KeyRef<'_>, now: Instant) -> Option<Arc<CachedAnswer>> {
        let entry = self.entries.get(key)?;
        (entry.stale_for(now) <= self.max_stale).then_some(entry)
    }

    pub fn insert(&self, key: &KeyRef<'_>, answer: Arc<CachedAnswer>) {
        let key = Key {
            name: key.name.into(),
            qtype: key.qtype,
            qclass: key.qclass,
            dnssec_ok: key.dnssec_ok,
        };
        self.entries.insert(key, answer);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    pub fn clear(&self) {
        self.entries.clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(ttl: u32, stored: Instant) -> Arc<CachedAnswer> {
        Arc::new(CachedAnswer {
            wire: Box::new([]),
            shape: AnswerShape::default(),
            stored,
            ttl,
        })
    }

    #[test]
    fn fresh_then_stale_then_gone() {
        let cache = AnswerCache::new(100, Duration::from_secs(60));
        let key = KeyRef {
            name: "example.org",
            qtype: 1,
            qclass: 1,
            dnssec_ok: false,
        };
        let t0 = Instant::now();
        cache.insert(&key, answer(10, t0));
        assert_eq!(
            cache.fresh(&key, t0 + Duration::from_secs(3)).map(|a| a.1),
            Some(3)
        );
        assert!(cache.fresh(&key, t0 + Duration::from_secs(10)).is_none());
        assert!(cache.stale(&key, t0 + Duration::from_secs(50)).is_some());
        assert!(cache.stale(&key, t0 + Duration::from_secs(71)).is_none());
        let other = KeyRef { qtype: 28, ..key };
        assert!(cache.fresh(&other, t0).is_none());
    }

    #[test]
    fn bounded() {
        let cache = AnswerCache::new(1000, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..20_000 {
            let name = format!("n{i}.example");
            let key = KeyRef {
                name: &name,
                qtype: 1,
                qclass: 1,
                dnssec_ok: false,
            };
            cache.insert(&key, answer(60, t0));
        }
        assert!(cache.len() <= 1100, "{} entries", cache.len());
    }
}
