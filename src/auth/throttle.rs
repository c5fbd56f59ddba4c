//! Throttling of failed logins (in memory, per process). See `docs/security.md` ("Login
//! throttling") for the design against OWASP's guidance.
//!
//! Three counters, none of which locks an account for everyone:
//!
//! * **account and client** together: after `free_failures` wrong passwords for one account from
//!   one client address, that pair must wait before its next attempt — `first_delay` (1 s),
//!   then 2 s, 4 s, … doubling with each further failure up to `window` (15 min) — and is answered 429 with
//!   `Retry-After` until then. The same account from another address is not affected.
//! * **client**: `max_per_client` failures from one address within `window`, whatever the
//!   accounts (password spraying), refuse that address for `window`.
//! * **account**: failures from all addresses together only *slow down* attempts on the account
//!   (a server-side pause before the password is checked, growing from 250 ms and capped at
//!   `account_max_delay`) once there are more than `account_delay_after` of them: the owner's
//!   own client is never refused because of others' failures.
//!
//! The client and account counters are forgotten `window` after their last failure, a pair's two
//! windows after it; a correct password clears the pair.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The figures of [`LoginThrottle`] (from the settings).
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Wrong passwords one client may try for one account before it must wait.
    pub free_failures: u32,
    /// The first wait of a pair; doubled by each further failure.
    pub first_delay: Duration,
    /// Longest wait of one account-and-client pair; also how long counters are remembered after
    /// their last failure, and how long a client over its cap is refused.
    pub window: Duration,
    /// Failures from one client (all accounts together) within `window` before it is refused.
    pub max_per_client: u32,
    /// Failures on one account (all clients together) before attempts on it are slowed down.
    pub account_delay_after: u32,
    /// Longest server-side pause of an attempt on an account under attack.
    pub account_max_delay: Duration,
}

/// The first pause of attempts on an account under attack; doubled by each further failure.
pub const ACCOUNT_BASE_DELAY: Duration = Duration::from_millis(250);

#[derive(Debug)]
struct Counter {
    failures: u32,
    /// The client counter: start of its window. Others: the last failure.
    since: Instant,
    blocked_until: Option<Instant>,
}

pub struct LoginThrottle {
    counters: Mutex<HashMap<String, Counter>>,
    limits: ThrottleLimits,
}

/// Entries kept before stale ones are pruned.
const PRUNE_AT: usize = 10_000;

/// `base · 2^exp`, capped (no overflow for any `exp`).
fn doubling(base: Duration, exp: u32, cap: Duration) -> Duration {
    base.checked_mul(1u32.checked_shl(exp.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap)
}

fn pair_key(account: &str, ip: &str) -> String {
    format!("p:{}\u{1f}{ip}", account.to_lowercase())
}

fn client_key(ip: &str) -> String {
    format!("c:{ip}")
}

fn account_key(account: &str) -> String {
    format!("a:{}", account.to_lowercase())
}

/// Whole seconds to wait, at least 1.
fn secs_until(until: Instant, now: Instant) -> u64 {
    let d = until - now;
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            counters: Mutex::new(HashMap::new()),
            limits,
        }
    }

    pub fn limits(&self) -> ThrottleLimits {
        self.limits
    }

    /// Before a password is checked: `Err(seconds)` while this account-and-client pair must wait
    /// or this client is over its cap; otherwise `Ok(pause)`, the server-side pause to make
    /// before checking (non-zero only for an account under attack from many clients).
    pub fn check(&self, account: &str, ip: &str) -> Result<Duration, u64> {
        self.check_at(account, ip, Instant::now())
    }

    fn check_at(&self, account: &str, ip: &str, now: Instant) -> Result<Duration, u64> {
        let map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let wait = [pair_key(account, ip), client_key(ip)]
            .iter()
            .filter_map(|k| map.get(k))
            .filter_map(|c| c.blocked_until)
            .filter(|until| *until > now)
            .map(|until| secs_until(until, now))
            .max();
        if let Some(secs) = wait {
            return Err(secs);
        }
        let l = &self.limits;
        let pause = match map.get(&account_key(account)) {
            Some(c)
                if c.failures > l.account_delay_after && now.duration_since(c.since) < l.window =>
            {
                doubling(
                    ACCOUNT_BASE_DELAY,
                    c.failures - l.account_delay_after - 1,
                    l.account_max_delay,
                )
            }
            _ => Duration::ZERO,
        };
        Ok(pause)
    }

    pub fn record_failure(&self, account: &str, ip: &str) {
        self.record_failure_at(account, ip, Instant::now())
    }

    fn record_failure_at(&self, account: &str, ip: &str, now: Instant) {
        let l = self.limits;
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > PRUNE_AT {
            map.retain(|_, c| {
                now.duration_since(c.since) < l.window * 2
                    || c.blocked_until.is_some_and(|u| u > now)
            });
        }
        let fresh = || Counter {
            failures: 0,
            since: now,
            blocked_until: None,
        };
        // The pair: forgotten two windows after its last failure (so a pair at the longest wait,
        // one window, still counts when it tries again); waits double past the free ones.
        let pair = map.entry(pair_key(account, ip)).or_insert_with(fresh);
        if now.duration_since(pair.since) >= l.window * 2 {
            *pair = fresh();
        }
        pair.failures += 1;
        pair.since = now;
        if pair.failures >= l.free_failures {
            let delay = doubling(l.first_delay, pair.failures - l.free_failures, l.window);
            pair.blocked_until = Some(now + delay);
        }
        // The client: a fixed window from its first failure; over the cap, refused for a window.
        let client = map.entry(client_key(ip)).or_insert_with(fresh);
        if now.duration_since(client.since) >= l.window {
            *client = fresh();
        }
        client.failures += 1;
        if client.failures >= l.max_per_client {
            client.blocked_until = Some(now + l.window);
        }
        // The account: counts only, for the pause; forgotten a window after its last failure.
        let acc = map.entry(account_key(account)).or_insert_with(fresh);
        if now.duration_since(acc.since) >= l.window {
            *acc = fresh();
        }
        acc.failures += 1;
        acc.since = now;
    }

    /// A correct password clears this account-and-client pair (not the client's count of
    /// failures across accounts, nor the account's count across clients).
    pub fn record_success(&self, account: &str, ip: &str) {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&pair_key(account, ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ThrottleLimits {
        ThrottleLimits {
            free_failures: 3,
            first_delay: Duration::from_secs(1),
            window: Duration::from_secs(900),
            max_per_client: 100,
            account_delay_after: 10,
            account_max_delay: Duration::from_secs(2),
        }
    }

    #[test]
    fn a_pair_waits_longer_after_each_failure_and_other_clients_do_not() {
        let t = LoginThrottle::new(limits());
        let t0 = Instant::now();
        for _ in 0..2 {
            t.record_failure_at("alice", "1.1.1.1", t0);
            assert!(t.check_at("alice", "1.1.1.1", t0).is_ok());
        }
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..13 {
            t.record_failure_at("Alice", "1.1.1.1", now);
            let secs = t.check_at("alice", "1.1.1.1", now).unwrap_err();
            waits.push(secs);
            // The same account from another client, and another account from this one: free.
            assert!(t.check_at("alice", "2.2.2.2", now).is_ok());
            assert!(t.check_at("bob", "1.1.1.1", now).is_ok());
            now += Duration::from_secs(secs);
            assert!(t.check_at("alice", "1.1.1.1", now).is_ok(), "wait is over");
        }
        assert_eq!(
            waits,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
        );
        // Forgotten two windows after the last failure.
        let last = now - Duration::from_secs(900);
        t.record_failure_at("alice", "1.1.1.1", last + Duration::from_secs(1800));
        assert!(t
            .check_at("alice", "1.1.1.1", last + Duration::from_secs(1800))
            .is_ok());
    }

    #[test]
    fn a_client_over_its_cap_is_refused_for_every_account() {
        let t = LoginThrottle::new(ThrottleLimits {
            max_per_client: 3,
            ..limits()
        });
        let now = Instant::now();
        for name in ["a", "b", "c"] {
            t.record_failure_at(name, "9.9.9.9", now);
        }
        assert_eq!(t.check_at("d", "9.9.9.9", now), Err(900));
        assert!(t.check_at("d", "8.8.8.8", now).is_ok());
        let later = now + Duration::from_secs(900);
        assert!(t.check_at("d", "9.9.9.9", later).is_ok());
    }

    #[test]
    fn failures_from_many_clients_slow_the_account_down_but_never_refuse_a_fresh_client() {
        let t = LoginThrottle::new(limits());
        let now = Instant::now();
        let mut pauses = Vec::new();
        for i in 0..20 {
            t.record_failure_at("alice", &format!("10.0.0.{i}"), now);
            pauses.push(t.check_at("alice", "192.0.2.1", now).unwrap());
        }
        let ms: Vec<u128> = pauses.iter().map(|d| d.as_millis()).collect();
        assert_eq!(
            ms,
            [
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 250, 500, 1000, 2000, 2000, 2000, 2000, 2000, 2000,
                2000
            ]
        );
        // Forgotten a window after the last failure.
        let later = now + Duration::from_secs(900);
        assert_eq!(t.check_at("alice", "192.0.2.1", later), Ok(Duration::ZERO));
    }

    #[test]
    fn success_clears_the_pair_only() {
        let t = LoginThrottle::new(ThrottleLimits {
            free_failures: 2,
            ..limits()
        });
        let now = Instant::now();
        t.record_failure_at("a", "1", now);
        t.record_success("a", "1");
        t.record_failure_at("a", "1", now);
        assert!(t.check_at("a", "1", now).is_ok());
        t.record_failure_at("a", "1", now);
        assert!(t.check_at("a", "1", now).is_err());
    }

    #[test]
    fn doubling_saturates() {
        let cap = Duration::from_secs(900);
        let one = Duration::from_secs(1);
        assert_eq!(doubling(one, 0, cap), one);
        assert_eq!(doubling(one, 9, cap), Duration::from_secs(512));
        assert_eq!(doubling(one, 40, cap), cap);
        assert_eq!(doubling(one, u32::MAX, cap), cap);
    }
}
