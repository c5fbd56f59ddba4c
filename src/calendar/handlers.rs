//! `/api/v1/calendar`: the working-day calendar (工作日历) and its deadline arithmetic.

use std::collections::HashSet;

use actix_web::{get, put, web, HttpResponse};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{is_weekend, CalendarYear, NamedDay, MAX_YEAR, MIN_YEAR};
use crate::auth::{AuthUser, Role};
use crate::db;
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{required_line, ApiJson};
use crate::state::AppState;

/// Longest name of a calendar day, in characters.
const MAX_NAME_CHARS: usize = 50;
/// Largest `days` of `add-working-days`.
const MAX_DAYS: i64 = 366;

fn check_year(year: i32) -> Result<(), ApiError> {
    if (MIN_YEAR..=MAX_YEAR).contains(&year) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "year",
            "out_of_range",
            format!("year must be between {MIN_YEAR} and {MAX_YEAR}"),
        ))
    }
}

/// A year's working-day calendar (工作日历)
///
/// A year's public holidays (Monday–Friday days off) and make-up working days (调休上班). Days
/// without a row follow the Monday–Friday rule.
///
/// Any signed-in account, approval systems included. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "calendar_get_calendar",
    tag = "calendar",
    security(("bearer" = [])),
    params(("year" = i32, Path, minimum = 2000, maximum = 2100, description = "Calendar year, 2000–2100", example = 2019)),
    responses(
        (status = 200, description = "The year's exceptions, by date", body = CalendarYear),
        (status = 400, description = "The year is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Year outside 2000–2100", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/calendar/{year}")]
pub async fn get_calendar(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let year = path.into_inner();
    check_year(year)?;
    let out = db::run(&state.pool, move |conn| super::load_year(conn, year)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The complete set of exceptions of one year; it replaces whatever the year had.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarYearInput {
    /// Monday–Friday days that are off (public holidays, 法定节假日). A Saturday or Sunday inside
    /// a holiday period is off anyway and must not be listed.
    pub holidays: Vec<NamedDay>,
    /// Saturdays and Sundays that are make-up working days (调休上班).
    pub workdays: Vec<NamedDay>,
}

/// Checks one year's input; every problem is named by its JSON path (`holidays[3].date`).
fn validate_year(year: i32, input: CalendarYearInput) -> Result<CalendarYear, ApiError> {
    check_year(year)?;
    let mut errors = Vec::new();
    let mut seen: HashSet<NaiveDate> = HashSet::new();
    let mut check = |list: &str, days: Vec<NamedDay>, want_weekend: bool| -> Vec<NamedDay> {
        let mut out = Vec::with_capacity(days.len());
        for (i, day) in days.into_iter().enumerate() {
            let field = format!("{list}[{i}].date");
            if day.date.year() != year {
                errors.push(FieldError::new(
                    &field,
                    "outside_year",
                    format!("{} is not in {year}", day.date),
                ));
            } else if want_weekend && !is_weekend(day.date) {
                errors.push(FieldError::new(
                    &field,
                    "not_a_weekend_day",
                    format!(
                        "{} is a {}: a make-up working day must be a Saturday or Sunday",
                        day.date,
                        day.date.weekday()
                    ),
                ));
            } else if !want_weekend && is_weekend(day.date) {
                errors.push(FieldError::new(
                    &field,
                    "not_a_weekday",
                    format!(
                        "{} is a {}: a holiday must be a Monday–Friday (weekends are off anyway)",
                        day.date,
                        day.date.weekday()
                    ),
                ));
            }
            if !seen.insert(day.date) {
                errors.push(FieldError::new(
                    &field,
                    "duplicate_date",
                    format!("{} is listed more than once", day.date),
                ));
            }
            let name = required_line(
                &mut errors,
                &format!("{list}[{i}].name"),
                &day.name,
                MAX_NAME_CHARS,
            );
            out.push(NamedDay {
                date: day.date,
                name,
            });
        }
        out
    };
    let mut holidays = check("holidays", input.holidays, false);
    let mut workdays = check("workdays", input.workdays, true);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    holidays.sort_by_key(|d| d.date);
    workdays.sort_by_key(|d| d.date);
    Ok(CalendarYear {
        year,
        holidays,
        workdays,
    })
}

/// Replace a year's working-day calendar (工作日历)
///
/// Replace a year's calendar (admin). The body is the complete new set: days not listed lose
/// their row. Audited with the previous and the new set.
///
/// Admins only; everyone else gets 403. Working-day deadlines computed from now on use the new
/// calendar.
#[utoipa::path(
    operation_id = "calendar_put_calendar",
    tag = "calendar",
    security(("bearer" = [])),
    params(("year" = i32, Path, minimum = 2000, maximum = 2100, description = "Calendar year, 2000–2100", example = 2026)),
    request_body = CalendarYearInput,
    responses(
        (status = 200, description = "The stored year", body = CalendarYear),
        (status = 400, description = "Malformed body or year (e.g. a date that does not exist)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid days: outside the year, holiday on a weekend, make-up day on a weekday, a date twice, a bad name", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/calendar/{year}")]
pub async fn put_calendar(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<CalendarYearInput>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let new = validate_year(path.into_inner(), body.0)?;
    let actor = user.actor();
    let out = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            super::replace_year(conn, &actor, "calendar.replace", &new)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AddWorkingDaysQuery {
    /// The start date (the event's day; it never counts itself), 2000-01-01 to 2100-12-31.
    #[param(value_type = String, format = Date, example = "2019-09-27")]
    pub from: NaiveDate,
    /// Working days to add, 0–366. 0 gives `from` itself if it is a working day, else the next
    /// working day.
    #[param(minimum = 0, maximum = 366, example = 10)]
    pub days: i64,
}

/// The result of `add-working-days`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkingDaysResult {
    #[schema(value_type = String, format = Date, example = "2019-09-27")]
    pub from: NaiveDate,
    #[schema(example = 10)]
    pub days: i64,
    /// The `days`-th working day after `from`.
    #[schema(value_type = String, format = Date, example = "2019-10-16")]
    pub date: NaiveDate,
}

/// Add working days to a date (工作日)
///
/// The deadline `days` working days after `from`, by the stored calendar: the same arithmetic
/// the service uses for its own time limits (the n-th working day strictly after `from`).
///
/// Any signed-in account, approval systems included. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "calendar_add_working_days",
    tag = "calendar",
    security(("bearer" = [])),
    params(AddWorkingDaysQuery),
    responses(
        (status = 200, description = "The deadline", body = WorkingDaysResult),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "days outside 0–366 or from outside 2000–2100", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/calendar/add-working-days")]
pub async fn add_working_days(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: crate::http::Query<AddWorkingDaysQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let mut errors = Vec::new();
    if !(MIN_YEAR..=MAX_YEAR).contains(&q.from.year()) {
        errors.push(FieldError::new(
            "query.from",
            "out_of_range",
            format!("from must be in the years {MIN_YEAR}–{MAX_YEAR}"),
        ));
    }
    if !(0..=MAX_DAYS).contains(&q.days) {
        errors.push(FieldError::new(
            "query.days",
            "out_of_range",
            format!("days must be between 0 and {MAX_DAYS}"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (from, days) = (q.from, q.days);
    let n = u32::try_from(days).map_err(|_| ApiError::internal("days out of range"))?;
    let date = db::run(&state.pool, move |conn| super::deadline(conn, from, n)).await?;
    Ok(HttpResponse::Ok().json(WorkingDaysResult { from, days, date }))
}
