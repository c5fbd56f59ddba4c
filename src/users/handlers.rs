//! `/api/v1/users`: account management (admin only).

use actix_web::{get, patch, post, web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    audit_region, check_binding, find_row, revoke_sessions, set_password, view, NewUser, UserView,
};
use crate::audit::{self, Entry};
use crate::auth::{password, AuthUser, Role};
use crate::db;
use crate::error::{ApiError, Problem};
use crate::http::{ApiJson, Page, PageQuery};
use crate::schema::{departments, users};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub department_id: Option<i32>,
    pub region_code: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Items per page, 1–200.
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

/// List accounts
///
/// List accounts (admin).
///
/// Admins only; everyone else gets 403. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "users_list_users",
    tag = "users",
    security(("bearer" = [])),
    params(UserFilter),
    responses(
        (status = 200, description = "One page of accounts", body = Page<UserView>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<UserFilter>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let f = query.into_inner();
    let (limit, offset, page, per_page) = PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    let result = db::run(&state.pool, move |conn| {
        let filtered = || {
            let mut q = users::table.into_boxed();
            if let Some(r) = f.role {
                q = q.filter(users::role.eq(r.as_str()));
            }
            if let Some(a) = f.active {
                q = q.filter(users::active.eq(a));
            }
            if let Some(d) = f.department_id {
                q = q.filter(users::department_id.eq(d));
            }
            if let Some(r) = f.region_code.clone() {
                // Department accounts take their region from their department.
                let in_region = departments::table
                    .filter(departments::region_code.eq(r.clone()))
                    .select(departments::id.nullable());
                q = q.filter(
                    users::region_code
                        .eq(r)
                        .or(users::department_id.eq_any(in_region)),
                );
            }
            q
        };
        let total: i64 = filtered().count().get_result(conn)?;
        let rows: Vec<super::UserRow> = filtered()
            .order(users::id.asc())
            .limit(limit)
            .offset(offset)
            .select(super::UserRow::as_select())
            .load(conn)?;
        let items = rows
            .iter()
            .map(|r| view(conn, r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Create an account
///
/// Create an account (admin).
///
/// Admins only; everyone else gets 403. Creates the account with an argon2id password hash;
/// audited.
#[utoipa::path(
    operation_id = "users_create_user",
    tag = "users",
    security(("bearer" = [])),
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewUser>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let actor = user.actor();
    let input = body.0;
    let created = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| super::create(conn, &actor, input))
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

/// One account
///
/// One account (admin).
///
/// Admins only; everyone else gets 403. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "users_get_user",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "User id")),
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let id = path.into_inner();
    let v = db::run(&state.pool, move |conn| {
        let row = find_row(conn, id)?.ok_or_else(|| ApiError::not_found("user"))?;
        view(conn, &row)
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
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

/// Change an account
///
/// Change an account's name, role, binding or status (admin).
///
/// Admins only; everyone else gets 403. A disabled account or a changed role takes effect on the
/// account's next request; audited with before and after.
#[utoipa::path(
    operation_id = "users_update_user",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "User id")),
    request_body = UserPatch,
    responses(
        (status = 200, description = "Updated", body = UserView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An admin cannot disable or demote themselves", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let id = path.into_inner();
    let patch = body.0;
    let actor = user.actor();
    let me = user.id;
    let updated = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let row = find_row(conn, id)?.ok_or_else(|| ApiError::not_found("user"))?;
            let before = view(conn, &row)?;
            if id == me
                && (patch.active == Some(false) || patch.role.is_some_and(|r| r != Role::Admin))
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
            let after_row =
                find_row(conn, id)?.ok_or_else(|| ApiError::internal("user vanished"))?;
            let after = view(conn, &after_row)?;
            audit::append(
                conn,
                &actor,
                Entry::new("user.update", "user", id)
                    .region(audit_region(&after).or_else(|| audit_region(&before)))
                    .department(after.department_id.or(before.department_id))
                    .before(&before)
                    .after(&after),
            )?;
            Ok(after)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(updated))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// 12 to 256 characters; not containing the username, not a common or repetitive password.
    #[schema(min_length = 12, max_length = 256)]
    pub new_password: String,
}

/// Reset an account's password
///
/// Reset an account's password (admin); the account's sessions end.
///
/// Admins only; everyone else gets 403. Stores the new hash and ends the account's sessions;
/// audited.
#[utoipa::path(
    operation_id = "users_reset_password",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "User id")),
    request_body = PasswordReset,
    responses(
        (status = 204, description = "Password reset; the account's sessions are ended"),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The password breaks the policy (length, username, common or repetitive: `weak_password`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users/{id}/password")]
pub async fn reset_password(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<PasswordReset>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let id = path.into_inner();
    let new_password = body.0.new_password;
    password::check_length("new_password", &new_password)
        .map_err(|e| ApiError::validation(vec![e]))?;
    let actor = user.actor();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let row = find_row(conn, id)?.ok_or_else(|| ApiError::not_found("user"))?;
            password::check_policy("new_password", &row.username, &new_password)
                .map_err(|e| ApiError::validation(vec![e]))?;
            set_password(
                conn,
                &actor,
                &row,
                &new_password,
                None,
                "user.password_reset",
            )
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
