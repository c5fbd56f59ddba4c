//! The push worker: POSTs batches of feed events to the provincial platform (`feed_push_url`).
//!
//! * **Resumes** from `feed_delivery.last_delivered_id`, which only moves after the receiver
//!   answered 2xx for a batch; a restarted instance continues where the last one stopped.
//! * **Retries** a failed batch (non-2xx, timeout, refused connection) with exponential backoff
//!   (`feed_push_backoff_ms`, doubling, capped at `feed_push_max_backoff_secs`), recording the
//!   attempt count and last error.
//! * **One pusher per database**: before each batch the instance takes or renews a lease on the
//!   `feed_delivery` row with one conditional `UPDATE … WHERE lease_holder IS NULL OR
//!   lease_holder = me OR lease_expires_at < now`; only the instance whose update matched pushes.
//!   The cursor is only advanced by the lease holder (`WHERE lease_holder = me`). The HTTP timeout
//!   is shorter than the lease, so a holder cannot lose its lease in the middle of a push during
//!   normal operation; if it does (a stall longer than the lease), the next holder may push the
//!   same batch again, and the receiver drops it by event id.
//! * Stops with the server: the task is aborted when `run_until_stopped` returns or its runtime
//!   shuts down.

use std::time::Duration;

use diesel::prelude::*;
use serde::Serialize;

use super::{load_events, FeedEvent, TARGET};
use crate::db::{self, Pool};
use crate::error::ApiError;
use crate::schema::feed_delivery;

#[derive(Debug, Clone)]
pub struct PushConfig {
    pub url: String,
    pub batch: usize,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub lease: Duration,
    pub poll: Duration,
}

impl PushConfig {
    pub fn from_settings(s: &crate::config::Settings) -> Option<PushConfig> {
        s.feed_push_url.as_ref().map(|url| PushConfig {
            url: url.clone(),
            batch: s.feed_push_batch,
            backoff: Duration::from_millis(s.feed_push_backoff_ms),
            max_backoff: Duration::from_secs(s.feed_push_max_backoff_secs),
            lease: Duration::from_secs(s.feed_lease_secs),
            poll: Duration::from_millis(s.feed_poll_ms),
        })
    }
}

/// The body of one push.
#[derive(Debug, Serialize)]
pub struct Batch<'a> {
    /// Identifies the pushing service.
    pub source: &'static str,
    pub events: &'a [FeedEvent],
}

fn lease_until(lease: Duration) -> chrono::NaiveDateTime {
    db::now() + chrono::Duration::milliseconds(lease.as_millis() as i64)
}

/// Takes or renews the lease. Returns whether this instance holds it, and the resume point.
fn acquire(
    conn: &mut db::DbConnection,
    me: &str,
    lease: Duration,
) -> Result<Option<i64>, ApiError> {
    let now = db::now();
    let n = diesel::update(
        feed_delivery::table
            .filter(feed_delivery::target.eq(TARGET))
            .filter(
                feed_delivery::lease_holder
                    .is_null()
                    .or(feed_delivery::lease_holder.eq(me))
                    .or(feed_delivery::lease_expires_at.lt(now)),
            ),
    )
    .set((
        feed_delivery::lease_holder.eq(me),
        feed_delivery::lease_expires_at.eq(lease_until(lease)),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(
        feed_delivery::table
            .find(TARGET)
            .select(feed_delivery::last_delivered_id)
            .first(conn)?,
    ))
}

fn delivered(conn: &mut db::DbConnection, me: &str, last_id: i64) -> Result<bool, ApiError> {
    let now = db::now();
    let n = diesel::update(
        feed_delivery::table
            .filter(feed_delivery::target.eq(TARGET))
            .filter(feed_delivery::lease_holder.eq(me))
            .filter(feed_delivery::last_delivered_id.lt(last_id)),
    )
    .set((
        feed_delivery::last_delivered_id.eq(last_id),
        feed_delivery::attempts.eq(0),
        feed_delivery::last_error.eq(None::<String>),
        feed_delivery::last_attempt_at.eq(now),
        feed_delivery::last_success_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

fn failed(conn: &mut db::DbConnection, me: &str, error: &str) -> Result<(), ApiError> {
    let msg: String = error.chars().take(500).collect();
    diesel::update(
        feed_delivery::table
            .filter(feed_delivery::target.eq(TARGET))
            .filter(feed_delivery::lease_holder.eq(me)),
    )
    .set((
        feed_delivery::attempts.eq(feed_delivery::attempts + 1),
        feed_delivery::last_error.eq(msg),
        feed_delivery::last_attempt_at.eq(db::now()),
    ))
    .execute(conn)?;
    Ok(())
}

/// Gives the lease up (on shutdown) so another instance takes over at once.
pub fn release(conn: &mut db::DbConnection, me: &str) -> Result<(), ApiError> {
    diesel::update(
        feed_delivery::table
            .filter(feed_delivery::target.eq(TARGET))
            .filter(feed_delivery::lease_holder.eq(me)),
    )
    .set((
        feed_delivery::lease_holder.eq(None::<String>),
        feed_delivery::lease_expires_at.eq(None::<chrono::NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

async fn post(client: &reqwest::Client, url: &str, events: &[FeedEvent]) -> Result<(), String> {
    let res = client
        .post(url)
        .json(&Batch {
            source: "credit-lists",
            events,
        })
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {}", res.status()))
    }
}

/// The worker loop; runs until its task is aborted.
pub async fn run(pool: Pool, pii: crate::pii::PiiCipher, cfg: PushConfig, instance: String) {
    let timeout = cfg
        .lease
        .saturating_sub(Duration::from_millis(500))
        .max(Duration::from_millis(500))
        .min(Duration::from_secs(30));
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "feed push: cannot build the HTTP client");
            return;
        }
    };
    let mut backoff = cfg.backoff;
    tracing::info!(instance = %instance, "feed push worker started");
    loop {
        let me = instance.clone();
        let lease = cfg.lease;
        let batch = cfg.batch as i64;
        let pii = pii.clone();
        let step = db::run(&pool, move |conn| {
            let Some(cursor) = acquire(conn, &me, lease)? else {
                return Ok(None);
            };
            Ok(Some(load_events(conn, &pii, cursor, batch)?))
        })
        .await;
        let events = match step {
            Ok(Some(events)) if !events.is_empty() => events,
            Ok(_) => {
                tokio::time::sleep(cfg.poll).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "feed push: database error");
                tokio::time::sleep(cfg.poll).await;
                continue;
            }
        };
        let last = events.last().map(|e| e.id).unwrap_or(0);
        match post(&client, &cfg.url, &events).await {
            Ok(()) => {
                let me = instance.clone();
                match db::run(&pool, move |conn| delivered(conn, &me, last)).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("feed push: lost the lease during a push"),
                    Err(e) => tracing::warn!(error = %e, "feed push: cannot record delivery"),
                }
                backoff = cfg.backoff;
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "feed push failed");
                let me = instance.clone();
                if let Err(e) = db::run(&pool, move |conn| failed(conn, &me, &err)).await {
                    tracing::warn!(error = %e, "feed push: cannot record the failure");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(cfg.max_backoff);
            }
        }
    }
}
