//! `/api/v1/feed`: the outbox read by cursor, and the push delivery status.

use actix_web::{get, web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{load_events, FeedEvent, TARGET};
use crate::auth::{AuthUser, Role, CITY_REGION};
use crate::db;
use crate::error::{ApiError, Problem};
use crate::schema::{feed_delivery, feed_events};
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

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    /// In commit order (ascending id).
    pub events: Vec<FeedEvent>,
    /// Pass as `after` to read on (the last event's id, or the given cursor when empty).
    pub next_cursor: i64,
    /// Whether more events follow right now.
    pub has_more: bool,
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
        let mut events = load_events(conn, &pii, after, limit + 1)?;
        let has_more = events.len() as i64 > limit;
        events.truncate(limit as usize);
        let next_cursor = events.last().map(|e| e.id).unwrap_or(after);
        Ok(FeedPage {
            events,
            next_cursor,
            has_more,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Delivery state of the push to the provincial platform.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedStatus {
    /// Whether `feed_push_url` is configured on this instance.
    pub push_configured: bool,
    pub target: String,
    /// Everything up to this event id was accepted by the receiver.
    pub last_delivered_id: i64,
    /// The newest event id in the outbox (0 when empty).
    pub latest_event_id: i64,
    /// Events not yet delivered.
    pub pending: i64,
    /// Failed attempts since the last success.
    pub attempts: i32,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub last_attempt_at: Option<chrono::NaiveDateTime>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub last_success_at: Option<chrono::NaiveDateTime>,
    /// The instance holding the push lease, if any.
    pub lease_holder: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub lease_expires_at: Option<chrono::NaiveDateTime>,
}

type DeliveryRow = (
    i64,
    i32,
    Option<String>,
    Option<chrono::NaiveDateTime>,
    Option<chrono::NaiveDateTime>,
    Option<String>,
    Option<chrono::NaiveDateTime>,
);

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
    let s = db::run(&state.pool, move |conn| {
        let row: DeliveryRow = feed_delivery::table
            .find(TARGET)
            .select((
                feed_delivery::last_delivered_id,
                feed_delivery::attempts,
                feed_delivery::last_error,
                feed_delivery::last_attempt_at,
                feed_delivery::last_success_at,
                feed_delivery::lease_holder,
                feed_delivery::lease_expires_at,
            ))
            .first(conn)?;
        let latest: Option<i64> = feed_events::table
            .select(diesel::dsl::max(feed_events::id))
            .first(conn)?;
        let pending: i64 = feed_events::table
            .filter(feed_events::id.gt(row.0))
            .count()
            .get_result(conn)?;
        Ok(FeedStatus {
            push_configured: configured,
            target: TARGET.to_string(),
            last_delivered_id: row.0,
            latest_event_id: latest.unwrap_or(0),
            pending,
            attempts: row.1,
            last_error: row.2,
            last_attempt_at: row.3,
            last_success_at: row.4,
            lease_holder: row.5,
            lease_expires_at: row.6,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(s))
}
