//! National sources (国家层面认定的名单来源) and their sync.
//!
//! Most black-list entries of the city are identified nationally and handed down: the court's
//! 失信被执行人 (keyed by 案号), the tax administration's 重大税收违法失信主体 (keyed by the case's
//! document number), market regulation's 严重违法失信名单 (keyed by the decision number). A
//! *source* names one such list, the department that holds its entries locally and the
//! black-list scope item they cite. A *sync* applies a file the source published — a full
//! snapshot or a delta — to the entries of that source (`source = national`), keyed by the
//! source's key: see [`store::sync`] and `docs/national-sync.md`.
//!
//! Rows and queries live here; [`store`] has the operations the API, the CLI and the tests call;
//! [`handlers`] is the HTTP layer.

pub mod handlers;
pub mod store;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::error::ApiError;

diesel::table! {
    national_sources (id) {
        id -> Integer,
        name -> Text,
        issuer -> Text,
        key_kind -> Text,
        department_id -> Integer,
        scope_item_id -> Integer,
        created_by -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    national_entries (entry_id) {
        entry_id -> Integer,
        source_id -> Integer,
        national_key -> Text,
        fingerprint -> Text,
        active -> Bool,
        synced_at -> Timestamp,
    }
}

diesel::joinable!(national_entries -> national_sources (source_id));
diesel::joinable!(national_entries -> list_entries (entry_id));
diesel::allow_tables_to_appear_in_same_query!(national_sources, national_entries, list_entries);

use crate::schema::list_entries;

/// What identifies a row of the source (the source's key column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// 案号 (court judgments, e.g. `（2026）吉05执123号`): 失信被执行人.
    CaseNumber,
    /// The tax case's document number (税务处理/处罚决定书文号): 重大税收违法失信主体.
    DocumentNumber,
    /// The listing decision's number (列入决定书文号): 严重违法失信名单.
    DecisionNumber,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::CaseNumber => "case_number",
            KeyKind::DocumentNumber => "document_number",
            KeyKind::DecisionNumber => "decision_number",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            KeyKind::CaseNumber,
            KeyKind::DocumentNumber,
            KeyKind::DecisionNumber,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// The key column's header in the source's files.
    pub fn header(self) -> &'static str {
        match self {
            KeyKind::CaseNumber => "案号",
            KeyKind::DocumentNumber => "文书号",
            KeyKind::DecisionNumber => "决定书文号",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = national_sources)]
pub struct SourceRow {
    pub id: i32,
    pub name: String,
    pub issuer: String,
    pub key_kind: String,
    pub department_id: i32,
    pub scope_item_id: i32,
    pub created_by: Option<i32>,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = national_entries)]
pub struct KeyRow {
    pub entry_id: i32,
    pub source_id: i32,
    pub national_key: String,
    pub fingerprint: String,
    pub active: bool,
    pub synced_at: chrono::NaiveDateTime,
}

pub fn find_source(conn: &mut DbConnection, id: i32) -> Result<Option<SourceRow>, ApiError> {
    Ok(national_sources::table
        .find(id)
        .select(SourceRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_source_by_name(
    conn: &mut DbConnection,
    name: &str,
) -> Result<Option<SourceRow>, ApiError> {
    Ok(national_sources::table
        .filter(national_sources::name.eq(name))
        .select(SourceRow::as_select())
        .first(conn)
        .optional()?)
}

/// The keys of a source: the active one per key, and every key ever synced (ended ones too).
pub fn source_keys(conn: &mut DbConnection, source_id: i32) -> Result<Vec<KeyRow>, ApiError> {
    Ok(national_entries::table
        .filter(national_entries::source_id.eq(source_id))
        .order(national_entries::entry_id.asc())
        .select(KeyRow::as_select())
        .load(conn)?)
}

/// How many entries of the source are in force on `day`.
pub fn in_force_count(
    conn: &mut DbConnection,
    source_id: i32,
    day: chrono::NaiveDate,
) -> Result<i64, ApiError> {
    Ok(national_entries::table
        .inner_join(list_entries::table)
        .filter(national_entries::source_id.eq(source_id))
        .filter(national_entries::active.eq(true))
        .filter(list_entries::status.eq("published"))
        .filter(list_entries::valid_from.le(day))
        .filter(list_entries::valid_until.ge(day))
        .filter(
            list_entries::removal_date
                .is_null()
                .or(list_entries::removal_date.gt(day)),
        )
        .count()
        .get_result(conn)?)
}
