//! Per-client query rate limiting: a token bucket per address, in shards
//! so the UDP threads rarely meet on a lock.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

const SHARDS: usize = 32;
/// Buckets per shard before idle ones are swept.
const SWEEP_AT: usize = 4096;

struct Bucket {
    tokens: f32,
    last: Instant,
}

pub struct RateLimiter {
    per_second: f32,
    burst: f32,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
    hasher: foldhash::fast::RandomState,
}

impl RateLimiter {
    /// `per_second` queries a second, bursts of twice that. Zero: no limit.
    pub fn new(per_second: u32) -> Option<RateLimiter> {
        (per_second > 0).then(|| RateLimiter {
            per_second: per_second as f32,
            burst: per_second as f32 * 2.0,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: foldhash::fast::RandomState::default(),
        })
    }

    /// Whether `client` may make one more query at `now`.
    pub fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let shard = &self.shards[self.hasher.hash_one(client) as usize % SHARDS];
        let Ok(mut buckets) = shard.lock() else {
            return true;
        };
        if buckets.len() >= SWEEP_AT && !buckets.contains_key(&client) {
            let (rate, burst) = (self.per_second, self.burst);
            // A bucket that would be full again holds nothing worth keeping.
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f32() * rate < burst
            });
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f32();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn limits_one_client_not_another() {
        let limiter = RateLimiter::new(10).unwrap();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        let passed = (0..100).filter(|_| limiter.allow(a, t0)).count();
        assert_eq!(passed, 20, "a burst of twice the rate");
        assert!(limiter.allow(b, t0));
        assert!(limiter.allow(a, t0 + Duration::from_millis(150)));
        assert!(RateLimiter::new(0).is_none());
    }
}
