//! The operations on accounts that the API and the console call: the admin's listing and audited
//! changes (creation and password rules are in [`super`]).

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    audit_region, check_binding, find_row, revoke_sessions, set_password, view, UserRow, UserView,
};
use crate::audit::{self, Actor, Entry};
use crate::auth::{password, Role};
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::schema::{departments, users};

/// Which accounts to list; `None` leaves a criterion out.
#[derive(Debug, Default, Clone)]
pub struct UserQuery {
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub department_id: Option<i32>,
    /// Accounts bound to the region, and department accounts whose department is in it.
    pub region_code: Option<String>,
}

/// One page of accounts matching `q`, by id, and how many match in all.
pub fn list_users(
    conn: &mut DbConnection,
    q: UserQuery,
    limit: i64,
    offset: i64,
) -> Result<(Vec<UserView>, i64), ApiError> {
    let filtered = || {
        let mut rows = users::table.into_boxed();
        if let Some(r) = q.role {
            rows = rows.filter(users::role.eq(r.as_str()));
        }
        if let Some(a) = q.active {
            rows = rows.filter(users::active.eq(a));
        }
        if let Some(d) = q.department_id {
            rows = rows.filter(users::department_id.eq(d));
        }
        if let Some(r) = q.region_code.clone() {
            // Department accounts take their region from their department.
            let in_region = departments::table
                .filter(departments::region_code.eq(r.clone()))
                .select(departments::id.nullable());
            rows = rows.filter(
                users::region_code
                    .eq(r)
                    .or(users::department_id.eq_any(in_region)),
            );
        }
        rows
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let rows: Vec<UserRow> = filtered()
        .order(users::id.asc())
        .limit(limit)
        .offset(offset)
        .select(UserRow::as_select())
        .load(conn)?;
    let items = rows
        .iter()
        .map(|r| view(conn, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, total))
}

/// One account as shown.
pub fn get_user(conn: &mut DbConnection, id: i32) -> Result<UserView, ApiError> {
    let row = find_row(conn, id)?.ok_or_else(|| ApiError::not_found("user"))?;
    view(conn, &row)
}

/// Changes to an account (admin). Changing the role re-checks the whole binding: send the
/// `department_id` or `region_code` the new role needs (`null` clears one).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub display_name: Option<String>,
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub department_id: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub region_code: Option<Option<String>>,
    /// `false` disables the account and ends its sessions at once.
    pub active: Option<bool>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// Changes an account's name, role, binding or status, audited with before and after; `me` is
/// the acting admin, who may neither disable nor demote themselves. Disabling ends the sessions.
pub fn update_user(
    conn: &mut DbConnection,
    actor: &Actor,
    me: i32,
    id: i32,
    patch: UserPatch,
) -> Result<UserView, ApiError> {
    db::write_tx(conn, |conn| {
        let row = find_row(conn, id)?.ok_or_else(|| ApiError::not_found("user"))?;
        let before = view(conn, &row)?;
        if id == me && (patch.active == Some(false) || patch.role.is_some_and(|r| r != Role::Admin))
        {
            return Err(ApiError::conflict(
                "cannot_change_self",
                "an admin cannot disable or demote their own account",
            ));
        }
        let mut errors = Vec::new();
        let display_name = match &patch.display_name {
            Some(d) => crate::http::required_line(&mut errors, "display_name", d, 100),
            None => row.display_name.clone(),
        };
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        let role = patch.role.unwrap_or(before.role);
        let department_id = patch.department_id.unwrap_or(row.department_id);
        let region_code = patch.region_code.clone().unwrap_or(row.region_code.clone());
        // When only the role changes, bindings the new role does not take are dropped.
        let (department_id, region_code) = if patch.role.is_some() {
            match role {
                Role::Department => (department_id, patch.region_code.clone().flatten()),
                Role::Bureau => (patch.department_id.flatten(), region_code),
                _ => (
                    patch.department_id.flatten(),
                    patch.region_code.clone().flatten(),
                ),
            }
        } else {
            (department_id, region_code)
        };
        let binding = check_binding(
            conn,
            role,
            department_id,
            region_code.as_deref(),
            row.department_id,
        )?;
        let active = patch.active.unwrap_or(row.active);
        diesel::update(users::table.find(id))
            .set((
                users::display_name.eq(&display_name),
                users::role.eq(role.as_str()),
                users::department_id.eq(binding.department_id),
                users::region_code.eq(&binding.region_code),
                users::active.eq(active),
                users::updated_at.eq(db::now()),
            ))
            .execute(conn)?;
        if !active && row.active {
            revoke_sessions(conn, id, None, "account_disabled")?;
        }
        let after_row = find_row(conn, id)?.ok_or_else(|| ApiError::internal("user vanished"))?;
        let after = view(conn, &after_row)?;
        audit::append(
            conn,
            actor,
            Entry::new("user.update", "user", id)
                .region(audit_region(&after).or_else(|| audit_region(&before)))
                .department(after.department_id.or(before.department_id))
                .before(&before)
                .after(&after),
        )?;
        Ok(after)
    })
}

/// Sets a new password for an account (its length already checked) after the policy check
/// against its username; audited, and the account's sessions end.
pub fn reset_password(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i32,
    new_password: &str,
) -> Result<(), ApiError> {
    db::write_tx(conn, |conn| {
        let row = find_row(conn, id)?.ok_or_else(|| ApiError::not_found("user"))?;
        password::check_policy("new_password", &row.username, new_password)
            .map_err(|e| ApiError::validation(vec![e]))?;
        set_password(conn, actor, &row, new_password, None, "user.password_reset")
    })
}
