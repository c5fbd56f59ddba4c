//! `/api/v1/national-baselines`: declared counts of national-level identifications (国家层面认定).

use actix_web::{get, put, web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{find, NationalBaseline, LIST_TYPES};
use crate::audit::{self, Entry};
use crate::auth::{AuthUser, Role};
use crate::calendar::{MAX_YEAR, MIN_YEAR};
use crate::db;
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{required_text, ApiJson};
use crate::org::find_region;
use crate::schema::national_baselines;
use crate::state::AppState;

/// Longest provenance, in characters.
const MAX_PROVENANCE_CHARS: usize = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BaselineFilter {
    /// Only this year.
    #[param(example = 2019)]
    pub year: Option<i32>,
    /// Only this region. A county bureau may only name its own.
    #[param(example = "220521")]
    pub region_code: Option<String>,
    /// `red` or `black`.
    #[param(example = "black", pattern = "^(red|black)$")]
    pub list_type: Option<String>,
}

/// Declared national-level identification counts (国家层面认定), by year, region and list type.
/// Admins and the city bureau see every region; a county bureau only its own.
#[utoipa::path(
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
    query: web::Query<BaselineFilter>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Bureau])?;
    let f = query.into_inner();
    if let Some(t) = &f.list_type {
        if !LIST_TYPES.contains(&t.as_str()) {
            return Err(ApiError::invalid_query(
                "list_type",
                "invalid_value",
                "list_type must be red or black",
            ));
        }
    }
    let scope = user.region_filter()?;
    let region = match (scope, f.region_code) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(ApiError::forbidden(
                "a county bureau sees only its own region",
            ))
        }
        (Some(own), _) => Some(own),
        (None, asked) => asked,
    };
    let rows = db::run(&state.pool, move |conn| {
        let mut q = national_baselines::table
            .select(NationalBaseline::as_select())
            .into_boxed();
        if let Some(r) = region {
            q = q.filter(national_baselines::region_code.eq(r));
        }
        if let Some(y) = f.year {
            q = q.filter(national_baselines::year.eq(y));
        }
        if let Some(t) = f.list_type {
            q = q.filter(national_baselines::list_type.eq(t));
        }
        Ok(q.order((
            national_baselines::year.asc(),
            national_baselines::region_code.asc(),
            national_baselines::list_type.asc(),
        ))
        .load(conn)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// A declared count for one region, year and list type.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselineInput {
    #[schema(example = "220521")]
    pub region_code: String,
    /// 2000–2100.
    #[schema(example = 2019, minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// `red` or `black`.
    #[schema(example = "black", pattern = "^(red|black)$")]
    pub list_type: String,
    /// At least 0.
    #[schema(example = 37, minimum = 0)]
    pub count: i32,
    /// Required: the document or platform export the count came from, at most 500 characters.
    #[schema(
        example = "信用中国（吉林）2019 年度导出, 2020-01-06",
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub provenance: String,
}

/// Set the declared count of one region, year and list type (admin, or a bureau whose region
/// covers `region_code`). Creates or replaces it; audited with before and after.
#[utoipa::path(
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
    user.require(&[Role::Admin, Role::Bureau])?;
    let input = body.0;
    let mut errors = Vec::new();
    let region_code = input.region_code.trim().to_string();
    if region_code.is_empty() {
        errors.push(FieldError::new(
            "region_code",
            "required",
            "region_code must not be empty",
        ));
    }
    if !(MIN_YEAR..=MAX_YEAR).contains(&input.year) {
        errors.push(FieldError::new(
            "year",
            "out_of_range",
            format!("year must be between {MIN_YEAR} and {MAX_YEAR}"),
        ));
    }
    if !LIST_TYPES.contains(&input.list_type.as_str()) {
        errors.push(FieldError::new(
            "list_type",
            "invalid_value",
            "list_type must be red or black",
        ));
    }
    if input.count < 0 {
        errors.push(FieldError::new(
            "count",
            "out_of_range",
            "count must be at least 0",
        ));
    }
    let provenance = required_text(
        &mut errors,
        "provenance",
        &input.provenance,
        MAX_PROVENANCE_CHARS,
    );
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if !user.covers_region(&region_code) {
        return Err(ApiError::forbidden(
            "a county bureau may set counts only for its own region",
        ));
    }
    let actor = user.actor();
    let user_id = user.id;
    let row = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            if find_region(conn, &region_code)?.is_none() {
                return Err(ApiError::invalid_field(
                    "region_code",
                    "unknown_region",
                    format!("there is no region {region_code}"),
                ));
            }
            let (year, list_type) = (input.year, input.list_type.as_str());
            let before = find(conn, &region_code, year, list_type)?;
            let now = db::now();
            if before.is_some() {
                diesel::update(national_baselines::table.find((&region_code, year, list_type)))
                    .set((
                        national_baselines::count.eq(input.count),
                        national_baselines::provenance.eq(&provenance),
                        national_baselines::updated_at.eq(now),
                        national_baselines::updated_by.eq(Some(user_id)),
                    ))
                    .execute(conn)?;
            } else {
                diesel::insert_into(national_baselines::table)
                    .values((
                        national_baselines::region_code.eq(&region_code),
                        national_baselines::year.eq(year),
                        national_baselines::list_type.eq(list_type),
                        national_baselines::count.eq(input.count),
                        national_baselines::provenance.eq(&provenance),
                        national_baselines::updated_at.eq(now),
                        national_baselines::updated_by.eq(Some(user_id)),
                    ))
                    .execute(conn)?;
            }
            let after = find(conn, &region_code, year, list_type)?
                .ok_or_else(|| ApiError::internal("national baseline vanished"))?;
            let action = if before.is_some() {
                "national_baseline.update"
            } else {
                "national_baseline.create"
            };
            let mut entry = Entry::new(action, "national_baseline", after.key())
                .region(Some(after.region_code.clone()))
                .after(&after);
            if let Some(b) = &before {
                entry = entry.before(b);
            }
            audit::append(conn, &actor, entry)?;
            Ok(after)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(row))
}
