//! `/api/v1/feed`: the outbox read by cursor, and the push delivery status.

use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::store::{self, FeedPage, FeedStatus};
use crate::auth::{AuthUser, Role, CITY_REGION};
use crate::db;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Admins and the city bureau read the feed (it carries full subject codes).
pub fn require_reader(user: &AuthUser) -> Result<(), ApiError> {
    match user.role {
        Role::Admin => Ok(()),
        Role::Bureau if user.region_code.as_deref() == Some(CITY_REGION) => Ok(()),
        _ => Err(ApiError::forbidden(
            "the provincial feed is for admins and the city bureau",
        )),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Cursor: the id of the last event already read (0 or absent: from the start).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Events per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Read the provincial feed (共享至省平台)
///
/// Events for the provincial platform (共享至省平台), in commit order from a cursor. Each event has
/// a unique id; the receiver drops duplicates by id.
///
/// Admins and the city bureau; others get 403. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "feed_list",
    tag = "feed",
    security(("bearer" = [])),
    params(FeedQuery),
    responses(
        (status = 200, description = "One page of events", body = FeedPage),
        (status = 400, description = "Bad cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins and the city bureau only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/feed")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&user)?;
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::invalid_query(
            "after",
            "out_of_range",
            "after must not be negative",
        ));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_query(
            "limit",
            "out_of_range",
            "limit must be between 1 and 1000",
        ));
    }
    let pii = state.pii.clone();
    let page = db::run(&state.pool, move |conn| {
        store::read_page(conn, &pii, after, limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The feed's push status
///
/// How far the push to the province got.
///
/// Admins and the city bureau; others get 403. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "feed_status",
    tag = "feed",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Delivery status", body = FeedStatus),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins and the city bureau only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/feed/status")]
pub async fn status(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    require_reader(&user)?;
    let configured = state.settings.feed_push_url.is_some();
    let s = db::run(&state.pool, move |conn| store::status(conn, configured)).await?;
    Ok(HttpResponse::Ok().json(s))
}
