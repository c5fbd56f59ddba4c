//! `/api/v1/national-baselines`: declared counts of national-level identifications (国家层面认定).
//! Each handler parses the request, makes one call to [`super::store`] and shapes the answer.

use actix_web::{get, put, web, HttpResponse};

use super::store::{baselines, declare, BaselineFilter, BaselineInput};
use super::NationalBaseline;
use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;
use crate::state::AppState;

/// National baselines (国家层面认定)
///
/// Declared national-level identification counts (国家层面认定), by year, region and list type.
/// Admins and the city bureau see every region; a county bureau only its own.
///
/// Bureaus and admins; department officers and approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "baselines_list_baselines",
    tag = "baselines",
    security(("bearer" = [])),
    params(BaselineFilter),
    responses(
        (status = 200, description = "Matching counts, by year, region and list type", body = Vec<NationalBaseline>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or bureau, or another county's region", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/national-baselines")]
pub async fn list_baselines(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<BaselineFilter>,
) -> Result<HttpResponse, ApiError> {
    let rows = baselines(&state, user, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// Set a national baseline (国家层面认定)
///
/// Set the declared count of one region, year and list type (admin, or a bureau whose region
/// covers `region_code`). Creates or replaces it; audited with before and after.
///
/// Changes the year-end target denominators of that region and year.
#[utoipa::path(
    operation_id = "baselines_put_baseline",
    tag = "baselines",
    security(("bearer" = [])),
    request_body = BaselineInput,
    responses(
        (status = 200, description = "The stored count", body = NationalBaseline),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or bureau, or a region outside the bureau's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (unknown region, year, list type, negative count, missing provenance)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/national-baselines")]
pub async fn put_baseline(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<BaselineInput>,
) -> Result<HttpResponse, ApiError> {
    let row = declare(&state, user, body.0).await?;
    Ok(HttpResponse::Ok().json(row))
}
