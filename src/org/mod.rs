//! Organisation: regions (行政区划: the city, its counties and districts, the two development
//! zones) and departments (部门: the city bureau, county bureaus, and the units of the plan).

pub mod handlers;
pub mod store;

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{AuthUser, Role};
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
    /// Names the department had before (曾用名), oldest first: the 2019 plan names the units as
    /// they were then (`银监会通化监管分局` is now `国家金融监督管理总局通化监管分局`).
    #[schema(value_type = Vec<String>, example = json!(["银监会通化监管分局"]))]
    #[serde(serialize_with = "json_list")]
    pub former_names: String,
}

/// The stored JSON array of names, as an array (an unreadable value as none).
fn json_list<S: serde::Serializer>(stored: &str, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&former_names(stored), s)
}

/// A department's former names from their stored form.
pub fn former_names(stored: &str) -> Vec<String> {
    serde_json::from_str(stored).unwrap_or_default()
}

/// A department's name as staff read it: with its former names, `今名（原旧名）`.
pub fn display_name(name: &str, former: &str) -> String {
    let former = former_names(former);
    if former.is_empty() {
        name.to_string()
    } else {
        format!("{name}（原{}）", former.join("、"))
    }
}

pub const DEPARTMENT_KINDS: &[&str] = &["bureau", "management_committee", "unit"];

pub fn find_region(conn: &mut DbConnection, code: &str) -> Result<Option<Region>, ApiError> {
    Ok(regions::table
        .find(code)
        .select(Region::as_select())
        .first(conn)
        .optional()?)
}

/// The department a staff write is recorded for (the acting department): the one named in the
/// request, or a department officer's own when none is named; bureaus and admins must name one.
/// Refused: none named by a bureau or an admin (422 `required`), a department that does not exist
/// (422 `unknown_department`), one outside the caller's scope (403: an officer's own department
/// only, a bureau's departments in its region), a deactivated one (422 `inactive_department`).
/// `find` looks a department up (an importer passes its cache; others [`find_department`]).
pub fn acting_department(
    conn: &mut DbConnection,
    user: &AuthUser,
    requested: Option<i32>,
    mut find: impl FnMut(&mut DbConnection, i32) -> Result<Option<Department>, ApiError>,
) -> Result<Department, ApiError> {
    let id = match (requested, user.role) {
        (Some(d), _) => d,
        (None, Role::Department) => user
            .department_id
            .ok_or_else(|| ApiError::forbidden("no department"))?,
        (None, _) => {
            return Err(ApiError::invalid_field(
                "department_id",
                "required",
                "name the department",
            ))
        }
    };
    let dept = find(conn, id)?.ok_or_else(|| {
        ApiError::invalid_field(
            "department_id",
            "unknown_department",
            "there is no such department",
        )
    })?;
    if !user.may_manage_department(dept.id, &dept.region_code) {
        return Err(ApiError::forbidden(
            "this department is outside your scope: a department officer acts for their own department only",
        ));
    }
    if !dept.active {
        return Err(ApiError::invalid_field(
            "department_id",
            "inactive_department",
            "the department is inactive",
        ));
    }
    Ok(dept)
}

pub fn find_department(conn: &mut DbConnection, id: i32) -> Result<Option<Department>, ApiError> {
    Ok(departments::table
        .find(id)
        .select(Department::as_select())
        .first(conn)
        .optional()?)
}
