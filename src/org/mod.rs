//! Organisation: regions (行政区划: the city, its counties and districts, the two development
//! zones) and departments (部门: the city bureau, county bureaus, and the units of the plan).

pub mod handlers;

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{departments, regions};

/// 行政区划: a region of the city.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = regions)]
pub struct Region {
    /// Division code (`220521`), or `Z01`/`Z02` for the development zones, which have none.
    #[schema(example = "220521")]
    pub code: String,
    #[schema(example = "通化县")]
    pub name: String,
    /// `city`, `district`, `county`, `county_city` or `zone`.
    #[schema(example = "county")]
    pub kind: String,
    /// The containing region (the city), if any.
    #[schema(example = "220500")]
    pub parent_code: Option<String>,
}

/// 部门: a department that maintains lists, or a bureau.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = departments)]
pub struct Department {
    #[schema(example = 45)]
    pub id: i32,
    #[schema(example = "市市场监督管理局")]
    pub name: String,
    #[schema(example = "220500")]
    pub region_code: String,
    /// `bureau` (政务服务和数字化局), `management_committee` (开发区管委会) or `unit`.
    #[schema(example = "unit")]
    pub kind: String,
    /// Inactive departments cannot be given to new accounts or records.
    pub active: bool,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
}

pub const DEPARTMENT_KINDS: &[&str] = &["bureau", "management_committee", "unit"];

pub fn find_region(conn: &mut DbConnection, code: &str) -> Result<Option<Region>, ApiError> {
    Ok(regions::table
        .find(code)
        .select(Region::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_department(conn: &mut DbConnection, id: i32) -> Result<Option<Department>, ApiError> {
    Ok(departments::table
        .find(id)
        .select(Department::as_select())
        .first(conn)
        .optional()?)
}
