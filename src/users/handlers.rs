//! `/api/v1/users`: account management (admin only).

use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{store, NewUser, UserView};
use crate::auth::{password, AuthUser, Role};
use crate::db;
use crate::error::{ApiError, Problem};
use crate::http::{ApiJson, Page, PageQuery};
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
    let q = store::UserQuery {
        role: f.role,
        active: f.active,
        department_id: f.department_id,
        region_code: f.region_code,
    };
    let (items, total) = db::run(&state.pool, move |conn| {
        store::list_users(conn, q, limit, offset)
    })
    .await?;
    let result = Page {
        items,
        page,
        per_page,
        total,
    };
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
    let v = db::run(&state.pool, move |conn| store::get_user(conn, id)).await?;
    Ok(HttpResponse::Ok().json(v))
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
    request_body = store::UserPatch,
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
    body: ApiJson<store::UserPatch>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let id = path.into_inner();
    let patch = body.0;
    let actor = user.actor();
    let me = user.id;
    let updated = db::run(&state.pool, move |conn| {
        store::update_user(conn, &actor, me, id, patch)
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
        store::reset_password(conn, &actor, id, &new_password)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
