//! Throttling of failed logins per account and per client address (in memory, per process).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Counter {
    failures: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

pub struct LoginThrottle {
    counters: Mutex<HashMap<String, Counter>>,
    max_per_account: u32,
    max_per_ip: u32,
    window: Duration,
}

/// Entries kept before stale ones are pruned.
const PRUNE_AT: usize = 10_000;

impl LoginThrottle {
    pub fn new(max_per_account: u32, max_per_ip: u32, window: Duration) -> Self {
        Self {
            counters: Mutex::new(HashMap::new()),
            max_per_account,
            max_per_ip,
            window,
        }
    }

    fn keys(account: &str, ip: &str) -> [String; 2] {
        [format!("a:{}", account.to_lowercase()), format!("i:{ip}")]
    }

    /// `Err(seconds)` while the account or the address is locked.
    pub fn check(&self, account: &str, ip: &str) -> Result<(), u64> {
        let now = Instant::now();
        let map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let wait = Self::keys(account, ip)
            .iter()
            .filter_map(|k| map.get(k))
            .filter_map(|c| c.locked_until)
            .filter(|until| *until > now)
            .map(|until| (until - now).as_secs().max(1))
            .max();
        match wait {
            Some(secs) => Err(secs),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, account: &str, ip: &str) {
        let now = Instant::now();
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > PRUNE_AT {
            let window = self.window;
            map.retain(|_, c| {
                now.duration_since(c.window_start) < window
                    || c.locked_until.is_some_and(|u| u > now)
            });
        }
        for (key, max) in Self::keys(account, ip)
            .into_iter()
            .zip([self.max_per_account, self.max_per_ip])
        {
            let c = map.entry(key).or_insert(Counter {
                failures: 0,
                window_start: now,
                locked_until: None,
            });
            if now.duration_since(c.window_start) >= self.window {
                c.failures = 0;
                c.window_start = now;
                c.locked_until = None;
            }
            c.failures += 1;
            if c.failures >= max {
                c.locked_until = Some(now + self.window);
            }
        }
    }

    /// A successful login clears the account's counter (not the address's).
    pub fn record_success(&self, account: &str) {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("a:{}", account.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_the_account_after_max_failures() {
        let t = LoginThrottle::new(3, 100, Duration::from_secs(60));
        for _ in 0..2 {
            t.record_failure("alice", "1.1.1.1");
            assert!(t.check("alice", "1.1.1.1").is_ok());
        }
        t.record_failure("Alice", "1.1.1.1");
        let secs = t.check("alice", "2.2.2.2").unwrap_err();
        assert!((1..=60).contains(&secs));
        assert!(t.check("bob", "1.1.1.1").is_ok());
    }

    #[test]
    fn locks_the_address_across_accounts() {
        let t = LoginThrottle::new(100, 3, Duration::from_secs(60));
        for name in ["a", "b", "c"] {
            t.record_failure(name, "9.9.9.9");
        }
        assert!(t.check("d", "9.9.9.9").is_err());
        assert!(t.check("d", "8.8.8.8").is_ok());
    }

    #[test]
    fn success_resets_the_account() {
        let t = LoginThrottle::new(2, 100, Duration::from_secs(60));
        t.record_failure("a", "1");
        t.record_success("a");
        t.record_failure("a", "1");
        assert!(t.check("a", "1").is_ok());
    }
}
