//! Recently read sessions ([`SessionCache`]), kept in the shared state; the extractor
//! ([`super::extract`]) reads through it.

use crate::db;

/// A session joined with its user: id, username, role, department, region, active, the
/// department's region.
pub(crate) type SessionRow = (
    i32,
    String,
    String,
    Option<i32>,
    Option<String>,
    bool,
    Option<String>,
);

/// How long a session row read from the database may be reused by other requests of the same
/// session (see [`SessionCache`]).
pub const SESSION_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

struct CachedSession {
    row: SessionRow,
    expires_at: chrono::NaiveDateTime,
    fetched: std::time::Instant,
    epoch: u64,
}

/// Recently read sessions (joined with their user), so that a burst of requests on one session
/// (an approval system's credit checks) costs one query per [`SESSION_CACHE_TTL`], not one each.
/// An entry is used only while younger than the TTL, before the session's expiry, and while this
/// process has committed no write since it was read (`db::local_commits`): a logout, disabled
/// account, role change or password change made through this instance applies to the very next
/// request; one made through another instance within the TTL.
#[derive(Default)]
pub struct SessionCache {
    map: std::sync::Mutex<std::collections::HashMap<(String, i32), CachedSession>>,
}

impl SessionCache {
    const MAX_ENTRIES: usize = 10_000;

    pub(crate) fn get(&self, sid: &str, user_id: i32) -> Option<SessionRow> {
        let map = self.map.lock().ok()?;
        let c = map.get(&(sid.to_string(), user_id))?;
        (c.fetched.elapsed() < SESSION_CACHE_TTL
            && c.epoch == db::local_commits()
            && c.expires_at > db::now())
        .then(|| c.row.clone())
    }

    /// `epoch` is `db::local_commits()` read *before* the row was: a write committed in between
    /// makes the entry stale at once, never fresh.
    pub(crate) fn put(
        &self,
        sid: &str,
        user_id: i32,
        row: SessionRow,
        expires_at: chrono::NaiveDateTime,
        epoch: u64,
    ) {
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() >= Self::MAX_ENTRIES {
            map.retain(|_, c| c.fetched.elapsed() < SESSION_CACHE_TTL);
        }
        map.insert(
            (sid.to_string(), user_id),
            CachedSession {
                row,
                expires_at,
                fetched: std::time::Instant::now(),
                epoch,
            },
        );
    }
}
