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
        crate::audit::in_write_tx(),
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
