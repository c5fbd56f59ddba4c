//! The outbox of events for the provincial platform (共享至省平台).
//!
//! [`enqueue`] is called inside the write transaction of the change it reports, so an event exists
//! if and only if its change committed. Every audited write transaction takes the audit chain head
//! first (`db::write_tx`), which serialises them on both backends: the id order of `feed_events`
//! is therefore the commit order, and the id is the cursor readers page with.
//!
//! **ID numbers at rest.** A payload names individuals by their full resident ID number, because
//! the provincial platform needs it. It is never stored in clear: [`enqueue_with`] replaces every
//! string value that is a valid ID number by `{"$pii": "v1:…"}` (the number encrypted with
//! [`PiiCipher::encrypt`]) before the row is written, and [`load_events`] puts the number back
//! when the feed is read (admins and the city bureau, see [`handlers::require_reader`]) or pushed.
//! So readers and the receiver see exactly what the change produced. [`seal_stored_payloads`]
//! rewrites payloads written in clear by older versions, once, at start-up. An ID number that
//! sits inside a longer string (free text from before free text was masked) is masked, not
//! sealed.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::{self, DbConnection};
use crate::domain::IdNumber;
use crate::error::ApiError;
use crate::pii::PiiCipher;
use crate::schema::feed_events;

/// The kinds of change the province is told about. The string is the stable `event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A red or black list entry was published (公示).
    EntryPublished,
    /// A red or black list entry was removed (移出), whatever the reason.
    EntryRemoved,
    /// A national entry's content changed at its source (dates, facts, name …), applied by the
    /// national-list sync.
    EntryChanged,
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
            EventType::EntryChanged => "list_entry.changed",
            EventType::FourListItemPublished => "four_list_item.published",
            EventType::FourListItemRepealed => "four_list_item.repealed",
            EventType::RepairCompleted => "repair.completed",
            EventType::CaseShared => "case.shared",
            EventType::MonthlySnapshotClosed => "monthly_snapshot.closed",
        }
    }

    pub const ALL: [EventType; 8] = [
        EventType::EntryPublished,
        EventType::EntryRemoved,
        EventType::EntryChanged,
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

/// Appends one event whose payload names no individual (four-list items, statistics) to the
/// outbox. Must be called inside the change's write transaction. Should a resident ID number
/// turn up in the payload after all, it is masked, never stored in clear; payloads about
/// subjects use [`enqueue_with`].
pub fn enqueue<P: Serialize>(conn: &mut DbConnection, ev: Event<'_, P>) -> Result<i64, ApiError> {
    insert(conn, None, ev)
}

/// Appends one event to the outbox, with every resident ID number in its payload encrypted
/// (see the module documentation). Must be called inside the change's write transaction.
pub fn enqueue_with<P: Serialize>(
    conn: &mut DbConnection,
    pii: &PiiCipher,
    ev: Event<'_, P>,
) -> Result<i64, ApiError> {
    insert(conn, Some(pii), ev)
}

fn insert<P: Serialize>(
    conn: &mut DbConnection,
    pii: Option<&PiiCipher>,
    ev: Event<'_, P>,
) -> Result<i64, ApiError> {
    debug_assert!(
        crate::db::in_write_tx(),
        "feed events are written inside db::write_tx"
    );
    let mut value = serde_json::to_value(ev.payload)
        .map_err(|e| ApiError::internal(format!("feed payload: {e}")))?;
    seal(&mut value, pii);
    let payload = value.to_string();
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
pub mod store;

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

/// Events with id > `after`, ascending, at most `limit`, with their ID numbers decrypted (for
/// the feed's readers and the push only).
pub fn load_events(
    conn: &mut DbConnection,
    pii: &PiiCipher,
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
    rows.into_iter()
        .map(|r| {
            Ok(FeedEvent {
                id: r.0,
                event_type: r.1,
                entity_type: r.2,
                entity_id: r.3,
                region_code: r.4,
                department_id: r.5,
                payload: match serde_json::from_str(&r.6) {
                    Ok(mut v) => {
                        unseal(&mut v, pii)?;
                        v
                    }
                    Err(_) => serde_json::Value::Null,
                },
                occurred_at: r.7,
            })
        })
        .collect()
}

/// The key of the one-member object that stands for an encrypted ID number in a stored payload.
/// No payload type has a field of that name.
pub const SEALED: &str = "$pii";

/// Replaces every string that is a valid resident ID number by `{"$pii": <ciphertext>}` (or by
/// its masked form when there is no cipher), and masks ID numbers inside longer strings.
/// Returns whether anything changed.
pub fn seal(value: &mut serde_json::Value, pii: Option<&PiiCipher>) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Ok(id) = IdNumber::parse(s) {
                *value = match pii {
                    Some(pii) => serde_json::json!({ SEALED: pii.encrypt(id.as_str()) }),
                    None => Value::String(id.masked()),
                };
                true
            } else if let std::borrow::Cow::Owned(masked) = crate::pii::mask_id_numbers_in(s) {
                *s = masked;
                true
            } else {
                false
            }
        }
        // Every element is visited (no short circuit): all of them must be sealed.
        Value::Array(items) => {
            let mut changed = false;
            for v in items.iter_mut() {
                changed |= seal(v, pii);
            }
            changed
        }
        Value::Object(map) => {
            if is_sealed(map) {
                return false;
            }
            let mut changed = false;
            for v in map.values_mut() {
                changed |= seal(v, pii);
            }
            changed
        }
        _ => false,
    }
}

fn is_sealed(map: &serde_json::Map<String, serde_json::Value>) -> bool {
    map.len() == 1 && map.get(SEALED).is_some_and(|v| v.is_string())
}

/// Puts back the ID numbers [`seal`] encrypted. A value that does not decrypt (another key, an
/// altered row) is an error: the feed is not served or pushed with a hole in it.
pub fn unseal(value: &mut serde_json::Value, pii: &PiiCipher) -> Result<(), ApiError> {
    use serde_json::Value;
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(|v| unseal(v, pii)),
        Value::Object(map) if is_sealed(map) => {
            let stored = map.get(SEALED).and_then(|v| v.as_str()).unwrap_or_default();
            let clear = pii
                .decrypt(stored)
                .map_err(|e| ApiError::internal(format!("feed payload: {e} ({})", e.code())))?;
            *value = Value::String(clear);
            Ok(())
        }
        Value::Object(map) => map.values_mut().try_for_each(|v| unseal(v, pii)),
        _ => Ok(()),
    }
}

/// Encrypts the ID numbers of payloads stored in clear by versions before this one (start-up
/// step; idempotent). Only rows holding a run of 17 digits are read; each is rewritten with
/// [`seal`], all in one audited write transaction. Returns how many rows were rewritten.
pub fn seal_stored_payloads(conn: &mut DbConnection, pii: &PiiCipher) -> Result<usize, ApiError> {
    let digits17 = match conn.backend() {
        db::Backend::Sqlite => format!("payload GLOB '*{}*'", "[0-9]".repeat(17)),
        db::Backend::Postgres => "payload ~ '[0-9]{17}'".to_string(),
    };
    let candidates = |conn: &mut DbConnection| -> Result<Vec<(i64, serde_json::Value)>, ApiError> {
        let rows: Vec<(i64, String)> = feed_events::table
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&digits17))
            .order(feed_events::id.asc())
            .select((feed_events::id, feed_events::payload))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, text)| serde_json::from_str(&text).ok().map(|v| (id, v)))
            .collect())
    };
    // Looked at outside a write transaction first: a start with nothing to seal writes nothing
    // (and does not wait for the write lock of a running instance).
    if !candidates(conn)?
        .into_iter()
        .any(|(_, mut v)| seal(&mut v, None))
    {
        return Ok(0);
    }
    db::write_tx(conn, |conn| {
        let mut rewritten = Vec::new();
        for (id, mut value) in candidates(conn)? {
            if seal(&mut value, Some(pii)) {
                diesel::update(feed_events::table.find(id))
                    .set(feed_events::payload.eq(value.to_string()))
                    .execute(conn)?;
                rewritten.push(id);
            }
        }
        if !rewritten.is_empty() {
            crate::audit::append(
                conn,
                &crate::audit::Actor::system("startup"),
                crate::audit::Entry::new("feed.payloads_sealed", "feed_event", rewritten[0]).after(
                    &serde_json::json!({
                        "rewritten": rewritten.len(),
                        "first_id": rewritten[0],
                        "last_id": rewritten[rewritten.len() - 1],
                    }),
                ),
            )?;
        }
        Ok(rewritten.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "11010519491231002X";
    const B: &str = "110105194912310038";

    #[test]
    fn every_id_number_is_sealed_and_comes_back_unchanged() {
        let pii = PiiCipher::new(&[3; 32]);
        let original = json!({
            "subjects": [{"code": A, "name": "甲"}, {"code": B}, {"code": "91350100M000100Y43"}],
            "subject": {"code": B, "kind": "individual"},
            "facts": format!("与{A}共同"),
            "count": 3,
            "none": null,
            "near_miss": "110105194912310021",
        });
        let mut v = original.clone();
        assert!(seal(&mut v, Some(&pii)));
        let text = v.to_string();
        assert!(!text.contains(A) && !text.contains(B), "{text}");
        assert_eq!(v["subjects"][0]["code"].as_object().unwrap().len(), 1);
        assert_eq!(v["facts"], "与110105********002X共同");
        assert_eq!(v["near_miss"], "110105194912310021");
        // Sealing again changes nothing.
        let sealed = v.clone();
        assert!(!seal(&mut v, Some(&pii)));
        assert_eq!(v, sealed);
        unseal(&mut v, &pii).unwrap();
        let mut expected = original.clone();
        expected["facts"] = json!("与110105********002X共同");
        assert_eq!(v, expected);
        // Without a cipher the numbers are masked.
        let mut m = original.clone();
        assert!(seal(&mut m, None));
        assert_eq!(m["subject"]["code"], "110105********0038");
        // Another key cannot read it.
        let mut other = sealed.clone();
        assert!(unseal(&mut other, &PiiCipher::new(&[4; 32])).is_err());
        // Nothing to do in a payload without ID numbers.
        let mut plain = json!({"code": "91350100M000100Y43", "n": [1, 2]});
        assert!(!seal(&mut plain, Some(&pii)));
    }
}
