//! Usage statistics of credit checks (section 七: credit records used in approvals): the
//! handler; the figures come from [`super::usage`].

use actix_web::{get, web, HttpResponse};
use chrono::Datelike;
use serde::Deserialize;
use utoipa::IntoParams;

use super::usage::{self, CheckStats};
use crate::auth::{AuthUser, Role};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// Default: this year (UTC+8).
    #[param(minimum = 2000, maximum = 2100)]
    pub year: Option<i32>,
    /// One month of `year` (1–12); default: the whole year.
    #[param(minimum = 1, maximum = 12)]
    pub month: Option<u32>,
    /// A region code; default: every region in the caller's scope.
    pub region: Option<String>,
}

/// Credit-check usage statistics
///
/// Checks by field, caller department and advice; feedback rate; distinct fields in which credit
/// records were applied per region; for a year, or one month of it (`month`). Bureau (its region)
/// and admin.
///
/// Bureaus (their region) and admins; others get 403. Changes no data; the counts of each day
/// (UTC+8) that has ended are kept once counted and read from then on, and only the current
/// day is counted from the receipts (see `docs/credit-checks.md`, "Usage statistics").
#[utoipa::path(
    operation_id = "checks_stats",
    tag = "credit-checks",
    security(("bearer" = [])),
    params(StatsQuery),
    responses(
        (status = 200, description = "Statistics", body = CheckStats),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not bureau or admin, or region outside scope", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/credit-checks/stats")]
pub async fn stats(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Bureau])?;
    let q = query.into_inner();
    let year = q.year.unwrap_or_else(|| crate::entries::today().year());
    if !(2000..=2100).contains(&year) {
        return Err(ApiError::invalid_query(
            "year",
            "out_of_range",
            "year must be between 2000 and 2100",
        ));
    }
    let scope = user.region_filter()?;
    let region = match (q.region, scope) {
        (Some(r), Some(s)) if r != s => {
            return Err(ApiError::forbidden("that region is outside your scope"))
        }
        (Some(r), _) => Some(r),
        (None, s) => s,
    };
    if q.month.is_some_and(|m| !(1..=12).contains(&m)) {
        return Err(ApiError::invalid_query(
            "month",
            "out_of_range",
            "month must be between 1 and 12",
        ));
    }
    let month = q.month;
    let now = crate::db::now();
    let v = state
        .receipts
        .run_settled(&state.pool, move |settled| {
            usage::stats(settled, year, month, region, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(v))
}
