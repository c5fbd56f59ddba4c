//! The declared national counts' operations (国家层面认定数): reading them in the caller's scope and
//! declaring one, audited. The API and the demo call these.

use actix_web::web;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{find, NationalBaseline, LIST_TYPES};
use crate::audit::{self, Entry};
use crate::auth::{AuthUser, Role};
use crate::calendar::{MAX_YEAR, MIN_YEAR};
use crate::db::{self, DbConnection};
use crate::error::{ApiError, FieldError};
use crate::http::required_text;
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

/// The counts the caller may read (admins and the city bureau: every region; a county bureau: its
/// own), filtered, by year, region and list type.
pub(crate) async fn baselines(
    state: &web::Data<AppState>,
    user: AuthUser,
    f: BaselineFilter,
) -> Result<Vec<NationalBaseline>, ApiError> {
    user.require(&[Role::Admin, Role::Bureau])?;
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
    db::run(&state.pool, move |conn| {
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
    .await
}

/// Declares (creates or replaces) one count after checking it and the caller's scope; audited.
pub(crate) async fn declare(
    state: &web::Data<AppState>,
    user: AuthUser,
    input: BaselineInput,
) -> Result<NationalBaseline, ApiError> {
    user.require(&[Role::Admin, Role::Bureau])?;
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
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            if find_region(conn, &region_code)?.is_none() {
                return Err(ApiError::invalid_field(
                    "region_code",
                    "unknown_region",
                    format!("there is no region {region_code}"),
                ));
            }
            declare_in(
                conn,
                &user,
                &region_code,
                input.year,
                &input.list_type,
                input.count,
                &provenance,
            )
        })
    })
    .await
}

/// Stores one checked count (insert or replace) with its audit record
/// (`national_baseline.create` / `.update`, before and after), in the caller's transaction.
pub fn declare_in(
    conn: &mut DbConnection,
    user: &AuthUser,
    region_code: &str,
    year: i32,
    list_type: &str,
    count: i32,
    provenance: &str,
) -> Result<NationalBaseline, ApiError> {
    let before = find(conn, region_code, year, list_type)?;
    let now = db::now();
    if before.is_some() {
        diesel::update(national_baselines::table.find((region_code, year, list_type)))
            .set((
                national_baselines::count.eq(count),
                national_baselines::provenance.eq(provenance),
                national_baselines::updated_at.eq(now),
                national_baselines::updated_by.eq(Some(user.id)),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(national_baselines::table)
            .values((
                national_baselines::region_code.eq(region_code),
                national_baselines::year.eq(year),
                national_baselines::list_type.eq(list_type),
                national_baselines::count.eq(count),
                national_baselines::provenance.eq(provenance),
                national_baselines::updated_at.eq(now),
                national_baselines::updated_by.eq(Some(user.id)),
            ))
            .execute(conn)?;
    }
    let after = find(conn, region_code, year, list_type)?
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
    audit::append(conn, &user.actor(), entry)?;
    Ok(after)
}
