//! The operations on regions and departments (部门) that the API, the console and the command line
//! call: reads, and the admin's audited changes.

use diesel::prelude::*;

use super::{find_department, find_region, Department, Region};
use crate::audit::{self, Actor, Entry};
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::schema::{departments, regions};

/// Ids of departments created through the API start here; the seeded ones are below.
const FIRST_CREATED_DEPARTMENT_ID: i32 = 1000;

/// Every region, by code.
pub fn list_regions(conn: &mut DbConnection) -> Result<Vec<Region>, ApiError> {
    Ok(regions::table
        .order(regions::code.asc())
        .select(Region::as_select())
        .load(conn)?)
}

/// Which departments to list; `None` leaves a criterion out.
#[derive(Debug, Default, Clone)]
pub struct DepartmentQuery {
    pub region: Option<String>,
    pub active: Option<bool>,
    /// One of [`super::DEPARTMENT_KINDS`] (checked by the caller).
    pub kind: Option<String>,
}

/// Departments matching `q`, by id.
pub fn list_departments(
    conn: &mut DbConnection,
    q: DepartmentQuery,
) -> Result<Vec<Department>, ApiError> {
    let mut rows = departments::table
        .select(Department::as_select())
        .into_boxed();
    if let Some(r) = q.region {
        rows = rows.filter(departments::region_code.eq(r));
    }
    if let Some(a) = q.active {
        rows = rows.filter(departments::active.eq(a));
    }
    if let Some(k) = q.kind {
        rows = rows.filter(departments::kind.eq(k));
    }
    Ok(rows.order(departments::id.asc()).load(conn)?)
}

/// Refuses a name another department of the region already has (`except`: the one renamed).
fn require_free_name(
    conn: &mut DbConnection,
    region_code: &str,
    name: &str,
    except: Option<i32>,
) -> Result<(), ApiError> {
    let mut q = departments::table
        .filter(departments::region_code.eq(region_code))
        .filter(departments::name.eq(name))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(departments::id.ne(id));
    }
    let clash: i64 = q.count().get_result(conn)?;
    if clash > 0 {
        return Err(ApiError::conflict(
            "department_exists",
            "a department of that name already exists in this region",
        ));
    }
    Ok(())
}

/// Adds a department (its name already checked as one line), audited.
pub fn create_department(
    conn: &mut DbConnection,
    actor: &Actor,
    name: &str,
    region_code: &str,
    kind: &str,
) -> Result<Department, ApiError> {
    db::write_tx(conn, |conn| {
        if find_region(conn, region_code)?.is_none() {
            return Err(ApiError::invalid_field(
                "region_code",
                "unknown_region",
                format!("there is no region {region_code}"),
            ));
        }
        require_free_name(conn, region_code, name, None)?;
        let max: Option<i32> = departments::table
            .select(diesel::dsl::max(departments::id))
            .first(conn)?;
        let id = max.unwrap_or(0).max(FIRST_CREATED_DEPARTMENT_ID - 1) + 1;
        let now = db::now();
        diesel::insert_into(departments::table)
            .values((
                departments::id.eq(id),
                departments::name.eq(name),
                departments::region_code.eq(region_code),
                departments::kind.eq(kind),
                departments::active.eq(true),
                departments::created_at.eq(now),
                departments::updated_at.eq(now),
            ))
            .execute(conn)?;
        let dept =
            find_department(conn, id)?.ok_or_else(|| ApiError::internal("department vanished"))?;
        audit::append(
            conn,
            actor,
            Entry::new("department.create", "department", id)
                .region(Some(dept.region_code.clone()))
                .department(Some(id))
                .after(&dept),
        )?;
        Ok(dept)
    })
}

/// Renames, deactivates or reactivates a department, audited with before and after.
pub fn update_department(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i32,
    name: Option<String>,
    active: Option<bool>,
) -> Result<Department, ApiError> {
    db::write_tx(conn, |conn| {
        let before = find_department(conn, id)?.ok_or_else(|| ApiError::not_found("department"))?;
        if let Some(name) = &name {
            require_free_name(conn, &before.region_code, name, Some(id))?;
        }
        diesel::update(departments::table.find(id))
            .set((
                departments::name.eq(name.unwrap_or_else(|| before.name.clone())),
                departments::active.eq(active.unwrap_or(before.active)),
                departments::updated_at.eq(db::now()),
            ))
            .execute(conn)?;
        let after =
            find_department(conn, id)?.ok_or_else(|| ApiError::internal("department vanished"))?;
        audit::append(
            conn,
            actor,
            Entry::new("department.update", "department", id)
                .region(Some(after.region_code.clone()))
                .department(Some(id))
                .before(&before)
                .after(&after),
        )?;
        Ok(after)
    })
}
