//! Audit trail (审计日志): every write appends a record in the same transaction as the change.
//! Records form a hash chain: each stores the previous record's hash, and its own hash covers
//! every stored field, so an edited, deleted or reordered record breaks the chain.

pub mod handlers;
pub mod store;

use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::DbConnection;
use crate::schema::{audit_head, audit_log};

/// Who did it.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<i32>,
    pub username: Option<String>,
    pub role: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    /// An operator at the command line (`credit-lists user create`, demo seeding …).
    pub fn system(what: &str) -> Self {
        Actor {
            username: Some(format!("system:{what}")),
            role: Some("system".into()),
            ..Actor::default()
        }
    }
}

/// What was done.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    /// Region whose bureau may read this record.
    pub region_code: Option<String>,
    pub department_id: Option<i32>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Entry {
    pub fn new(action: &str, entity_type: &str, entity_id: impl ToString) -> Self {
        Entry {
            action: action.into(),
            entity_type: entity_type.into(),
            entity_id: Some(entity_id.to_string()),
            ..Entry::default()
        }
    }

    pub fn region(mut self, region: Option<String>) -> Self {
        self.region_code = region;
        self
    }

    pub fn department(mut self, department_id: Option<i32>) -> Self {
        self.department_id = department_id;
        self
    }

    pub fn before(mut self, v: &impl Serialize) -> Self {
        self.before = serde_json::to_value(v).ok();
        self
    }

    pub fn after(mut self, v: &impl Serialize) -> Self {
        self.after = serde_json::to_value(v).ok();
        self
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    #[serde(with = "crate::http::utc")]
    pub at: chrono::NaiveDateTime,
    pub actor_user_id: Option<i32>,
    pub actor_username: Option<String>,
    pub actor_role: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    pub region_code: Option<String>,
    pub department_id: Option<i32>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    /// The hash of every field but `hash` itself, over a fixed-order JSON array of the stored
    /// values (the before/after JSON as stored text, so no re-serialisation can change it).
    pub fn compute_hash(&self) -> String {
        let material = serde_json::json!([
            self.id,
            self.prev_hash,
            self.at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            self.actor_user_id,
            self.actor_username,
            self.actor_role,
            self.action,
            self.entity_type,
            self.entity_id,
            self.region_code,
            self.department_id,
            self.before_json,
            self.after_json,
            self.request_id,
            self.ip,
        ]);
        hex::encode(Sha256::digest(material.to_string().as_bytes()))
    }
}

/// Appends one record. Call inside [`crate::db::write_tx`], whose first statement already holds
/// the chain's head row.
pub fn append(conn: &mut DbConnection, actor: &Actor, entry: Entry) -> QueryResult<i64> {
    // Inside a write transaction the head row is locked (its first statement) and the tip of
    // this transaction's records is kept in memory; the head is read once.
    let (seq, last_hash): (i64, String) = match crate::db::audit_tip() {
        Some(tip) => tip,
        None => audit_head::table
            .filter(audit_head::id.eq(1))
            .select((audit_head::seq, audit_head::last_hash))
            .first(conn)?,
    };
    let mut row = AuditRow {
        id: seq + 1,
        at: crate::db::now(),
        actor_user_id: actor.user_id,
        actor_username: actor.username.clone(),
        actor_role: actor.role.clone(),
        action: entry.action,
        entity_type: entry.entity_type,
        entity_id: entry.entity_id,
        region_code: entry.region_code,
        department_id: entry.department_id,
        before_json: entry.before.map(|v| v.to_string()),
        after_json: mark_backdated(entry.after).map(|v| v.to_string()),
        request_id: actor.request_id.clone(),
        ip: actor.ip.clone(),
        prev_hash: last_hash,
        hash: String::new(),
    };
    row.hash = row.compute_hash();
    diesel::insert_into(audit_log::table)
        .values(&row)
        .execute(conn)?;
    if crate::db::in_write_tx() {
        crate::db::set_audit_tip(row.id, &row.hash);
    } else {
        crate::db::write_audit_head(conn, row.id, &row.hash)?;
    }
    Ok(row.id)
}

thread_local! {
    /// The back-dated step this thread is writing, if any: its field and effective date.
    static BACKDATED: std::cell::RefCell<Option<(String, chrono::NaiveDate)>> =
        const { std::cell::RefCell::new(None) };
}

/// While alive, every record this thread appends is marked as written by a back-dated step
/// (`crate::backdating`): its `after` carries `"backdated": true`, `"effective_date"` and
/// `"effective_field"`, inside the hashed record. A write runs on one thread inside
/// `db::write_tx`: create the marker inside the transaction's closure.
pub struct BackdatedMarker(());

impl BackdatedMarker {
    /// Marks this step's records when `day` is a back-dated day (else does nothing).
    pub fn set(field: &str, day: Option<chrono::NaiveDate>) -> BackdatedMarker {
        if let Some(d) = day {
            BACKDATED.with(|c| *c.borrow_mut() = Some((field.to_string(), d)));
        }
        BackdatedMarker(())
    }
}

impl Drop for BackdatedMarker {
    fn drop(&mut self) {
        BACKDATED.with(|c| *c.borrow_mut() = None);
    }
}

/// Adds the back-dating marker of the current step, if any, to a record's `after`.
fn mark_backdated(after: Option<serde_json::Value>) -> Option<serde_json::Value> {
    let Some((field, day)) = BACKDATED.with(|c| c.borrow().clone()) else {
        return after;
    };
    let mut after = match after {
        Some(serde_json::Value::Object(m)) => m,
        Some(other) => {
            let mut m = serde_json::Map::new();
            m.insert("value".into(), other);
            m
        }
        None => serde_json::Map::new(),
    };
    after.insert("backdated".into(), serde_json::Value::Bool(true));
    after.insert("effective_date".into(), serde_json::json!(day));
    after.insert("effective_field".into(), serde_json::json!(field));
    Some(serde_json::Value::Object(after))
}

/// Result of checking the chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// True when every link holds.
    pub ok: bool,
    /// Records checked.
    pub checked: i64,
    /// The first broken link, if any.
    pub first_broken: Option<BrokenLink>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BrokenLink {
    /// Id of the first record that does not fit (or the expected id of a missing one).
    pub id: i64,
    pub reason: String,
}

const VERIFY_BATCH: i64 = 1_000;

/// Walks the whole chain in id order.
pub fn verify(conn: &mut DbConnection) -> QueryResult<VerifyReport> {
    let mut expected_id = 1i64;
    let mut prev_hash = "0".repeat(64);
    let broken = |id: i64, reason: String, checked: i64| VerifyReport {
        ok: false,
        checked,
        first_broken: Some(BrokenLink { id, reason }),
    };
    loop {
        let batch: Vec<AuditRow> = audit_log::table
            .filter(audit_log::id.ge(expected_id))
            .order(audit_log::id.asc())
            .limit(VERIFY_BATCH)
            .select(AuditRow::as_select())
            .load(conn)?;
        if batch.is_empty() {
            break;
        }
        for row in &batch {
            let checked = expected_id - 1;
            if row.id != expected_id {
                return Ok(broken(
                    expected_id,
                    format!("record {expected_id} is missing"),
                    checked,
                ));
            }
            if row.prev_hash != prev_hash {
                return Ok(broken(
                    row.id,
                    "does not link to the previous record".into(),
                    checked,
                ));
            }
            if row.compute_hash() != row.hash {
                return Ok(broken(
                    row.id,
                    "content does not match its hash".into(),
                    checked,
                ));
            }
            prev_hash = row.hash.clone();
            expected_id += 1;
        }
    }
    let checked = expected_id - 1;
    let (seq, last_hash): (i64, String) = audit_head::table
        .filter(audit_head::id.eq(1))
        .select((audit_head::seq, audit_head::last_hash))
        .first(conn)?;
    if seq != checked || last_hash != prev_hash {
        return Ok(broken(
            checked + 1,
            format!("the chain head says {seq} records but {checked} were found (records were removed from the end)"),
            checked,
        ));
    }
    // Records with a lower id than the walk saw would be caught above; a record beyond the head
    // would not be reached by `ge`, so count explicitly.
    let total: i64 = audit_log::table.count().get_result(conn)?;
    if total != checked {
        return Ok(broken(
            checked + 1,
            "records exist beyond the chain head".into(),
            checked,
        ));
    }
    Ok(VerifyReport {
        ok: true,
        checked,
        first_broken: None,
    })
}
