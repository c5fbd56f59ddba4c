//! National-level identification baselines (国家层面认定 declared counts): how many red-list or
//! black-list subjects national authorities (courts' 失信被执行人, tax's 重大税收违法 …) identified
//! in a region and year, declared by the bureau when only the count is known. They are the
//! denominator of the year-end targets (section 六) when no itemised national entries exist; the
//! source is required (`provenance`: the document or platform export the count came from).

pub mod handlers;
pub mod store;

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::national_baselines;

/// List types a baseline can be declared for.
pub const LIST_TYPES: &[&str] = &["red", "black"];

/// A declared count of national-level identifications.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = national_baselines)]
pub struct NationalBaseline {
    #[schema(example = "220521")]
    pub region_code: String,
    #[schema(example = 2019)]
    pub year: i32,
    /// `red` (红名单) or `black` (黑名单).
    #[schema(example = "black")]
    pub list_type: String,
    /// Number of national-level identifications, at least 0.
    #[schema(example = 37)]
    pub count: i32,
    /// Where the count comes from (a document number, a platform export …).
    #[schema(example = "信用中国（吉林）2019 年度导出, 2020-01-06")]
    pub provenance: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
    /// The account that last set it.
    pub updated_by: Option<i32>,
}

impl NationalBaseline {
    /// The audit trail's entity id: `region/year/list_type`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.region_code, self.year, self.list_type)
    }
}

pub fn find(
    conn: &mut DbConnection,
    region_code: &str,
    year: i32,
    list_type: &str,
) -> Result<Option<NationalBaseline>, ApiError> {
    Ok(national_baselines::table
        .find((region_code, year, list_type))
        .select(NationalBaseline::as_select())
        .first(conn)
        .optional()?)
}
