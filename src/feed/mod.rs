//! The outbox of events for the provincial platform (共享至省平台).
//!
//! [`enqueue`] is called inside the write transaction of the change it reports, so an event exists
//! if and only if its change committed. Every audited write transaction takes the audit chain head
//! first (`db::write_tx`), which serialises them on both backends: the id order of `feed_events`
//! is therefore the commit order, and the id is the cursor readers page with.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::schema::feed_events;

/// The kinds of change the province is told about. The string is the stable `event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A red or black list entry was published (公示).
    EntryPublished,
    /// A red or black list entry was removed (移出), whatever the reason.
    EntryRemoved,
    /// A four-list item version was published.
    FourListItemPublished,
    /// A four-list item was repealed.
    FourListItemRepealed,
    /// A credit-repair application was completed (the entry is removed with reason `repaired`).
    RepairCompleted,
    /// A reward-and-punishment case was shared with the provincial platform.
    CaseShared,
    /// A month's statistics were closed (frozen snapshot).
    MonthlySnapshotClosed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::EntryPublished => "list_entry.published",
            EventType::EntryRemoved => "list_entry.removed",
            EventType::FourListItemPublished => "four_list_item.published",
            EventType::FourListItemRepealed => "four_list_item.repealed",
            EventType::RepairCompleted => "repair.completed",
            EventType::CaseShared => "case.shared",
            EventType::MonthlySnapshotClosed => "monthly_snapshot.closed",
        }
    }

    pub const ALL: [EventType; 7] = [
        EventType::EntryPublished,
        EventType::EntryRemoved,
        EventType::FourListItemPublished,
        EventType::FourListItemRepealed,
        EventType::RepairCompleted,
        EventType::CaseShared,
        EventType::MonthlySnapshotClosed,
    ];
}

/// What an event is about.
pub struct Event<'a, P: Serialize> {
    pub event_type: EventType,
    pub entity_type: &'a str,
    pub entity_id: String,
    pub region_code: Option<&'a str>,
    pub department_id: Option<i32>,
    /// The state after the change, as the province should see it.
    pub payload: &'a P,
}

/// Appends one event to the outbox. Must be called inside the change's write transaction.
pub fn enqueue<P: Serialize>(conn: &mut DbConnection, ev: Event<'_, P>) -> Result<i64, ApiError> {
    debug_assert!(
        crate::db::in_write_tx(),
        "feed events are written inside db::write_tx"
    );
    let payload = serde_json::to_string(ev.payload)
        .map_err(|e| ApiError::internal(format!("feed payload: {e}")))?;
    let id = diesel::insert_into(feed_events::table)
        .values((
            feed_events::event_type.eq(ev.event_type.as_str()),
            feed_events::entity_type.eq(ev.entity_type),
            feed_events::entity_id.eq(&ev.entity_id),
            feed_events::region_code.eq(ev.region_code),
            feed_events::department_id.eq(ev.department_id),
            feed_events::payload.eq(payload),
            feed_events::occurred_at.eq(db::now()),
        ))
        .returning(feed_events::id)
        .get_result(conn)?;
    Ok(id)
}

pub mod handlers;
pub mod push;

/// The one push target's row in `feed_delivery`.
pub const TARGET: &str = "province";

/// One event as read from the feed and as pushed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedEvent {
    /// Unique, increasing in commit order: the cursor, and the receiver's de-duplication key.
    pub id: i64,
    #[schema(example = "list_entry.published")]
    pub event_type: String,
    #[schema(example = "list_entry")]
    pub entity_type: String,
    pub entity_id: String,
    pub region_code: Option<String>,
    pub department_id: Option<i32>,
    /// The state after the change (full subject codes: the feed is for admins, the city bureau
    /// and the provincial platform only).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub occurred_at: chrono::NaiveDateTime,
}

type EventRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<i32>,
    String,
    chrono::NaiveDateTime,
);

/// Events with id > `after`, ascending, at most `limit`.
pub fn load_events(
    conn: &mut DbConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<FeedEvent>, ApiError> {
    let rows: Vec<EventRow> = feed_events::table
        .filter(feed_events::id.gt(after))
        .order(feed_events::id.asc())
        .limit(limit)
        .select((
            feed_events::id,
            feed_events::event_type,
            feed_events::entity_type,
            feed_events::entity_id,
            feed_events::region_code,
            feed_events::department_id,
            feed_events::payload,
            feed_events::occurred_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| FeedEvent {
            id: r.0,
            event_type: r.1,
            entity_type: r.2,
            entity_id: r.3,
            region_code: r.4,
            department_id: r.5,
            payload: serde_json::from_str(&r.6).unwrap_or(serde_json::Value::Null),
            occurred_at: r.7,
        })
        .collect())
}
