//! The provincial feed's (共享至省平台) reads that the API and the console call: the outbox by
//! cursor, and how far the push got. Events are written by [`super::enqueue`] inside the audited
//! operation that causes them.

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::{load_events, FeedEvent, TARGET};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::pii::PiiCipher;
use crate::schema::{feed_delivery, feed_events};

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    /// In commit order (ascending id).
    pub events: Vec<FeedEvent>,
    /// Pass as `after` to read on (the last event's id, or the given cursor when empty).
    pub next_cursor: i64,
    /// Whether more events follow right now.
    pub has_more: bool,
}

/// Up to `limit` events after the cursor `after`, in commit order, and whether more follow.
pub fn read_page(
    conn: &mut DbConnection,
    pii: &PiiCipher,
    after: i64,
    limit: i64,
) -> Result<FeedPage, ApiError> {
    let mut events = load_events(conn, pii, after, limit + 1)?;
    let has_more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    let next_cursor = events.last().map(|e| e.id).unwrap_or(after);
    Ok(FeedPage {
        events,
        next_cursor,
        has_more,
    })
}

/// Delivery state of the push to the provincial platform.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedStatus {
    /// Whether `feed_push_url` is configured on this instance.
    pub push_configured: bool,
    pub target: String,
    /// Everything up to this event id was accepted by the receiver.
    pub last_delivered_id: i64,
    /// The newest event id in the outbox (0 when empty).
    pub latest_event_id: i64,
    /// Events not yet delivered.
    pub pending: i64,
    /// Failed attempts since the last success.
    pub attempts: i32,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub last_attempt_at: Option<chrono::NaiveDateTime>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub last_success_at: Option<chrono::NaiveDateTime>,
    /// The instance holding the push lease, if any.
    pub lease_holder: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub lease_expires_at: Option<chrono::NaiveDateTime>,
}

type DeliveryRow = (
    i64,
    i32,
    Option<String>,
    Option<chrono::NaiveDateTime>,
    Option<chrono::NaiveDateTime>,
    Option<String>,
    Option<chrono::NaiveDateTime>,
);

/// The push's delivery state; `configured`: whether this instance has a push URL.
pub fn status(conn: &mut DbConnection, configured: bool) -> Result<FeedStatus, ApiError> {
    let row: DeliveryRow = feed_delivery::table
        .find(TARGET)
        .select((
            feed_delivery::last_delivered_id,
            feed_delivery::attempts,
            feed_delivery::last_error,
            feed_delivery::last_attempt_at,
            feed_delivery::last_success_at,
            feed_delivery::lease_holder,
            feed_delivery::lease_expires_at,
        ))
        .first(conn)?;
    let latest: Option<i64> = feed_events::table
        .select(diesel::dsl::max(feed_events::id))
        .first(conn)?;
    let pending: i64 = feed_events::table
        .filter(feed_events::id.gt(row.0))
        .count()
        .get_result(conn)?;
    Ok(FeedStatus {
        push_configured: configured,
        target: TARGET.to_string(),
        last_delivered_id: row.0,
        latest_event_id: latest.unwrap_or(0),
        pending,
        attempts: row.1,
        last_error: row.2,
        last_attempt_at: row.3,
        last_success_at: row.4,
        lease_holder: row.5,
        lease_expires_at: row.6,
    })
}
