//! `/api/v1/cases/{id}/media-reports`: media reports (媒体报道) about a case. Reports may be added
//! at any stage, also after the case was shared: they are about the case, not part of it.

use actix_web::{get, post, web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;
use crate::audit::{self, Entry};
use crate::auth::AuthUser;
use crate::auth::STAFF;
use crate::db;
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{required_line, ApiJson};
use crate::state::AppState;

/// `city` (市级), `provincial` (省级) or `national` (国家级).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaLevel {
    City,
    Provincial,
    National,
}

impl MediaLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaLevel::City => "city",
            MediaLevel::Provincial => "provincial",
            MediaLevel::National => "national",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMediaReport {
    #[schema(
        example = "通化日报",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub outlet: String,
    pub level: MediaLevel,
    /// Not in the future, not before the case date.
    #[schema(value_type = String, format = Date)]
    pub report_date: NaiveDate,
    /// An absolute `http://` or `https://` URL.
    #[schema(example = "https://www.thrb.com.cn/news/2026/11/01.html")]
    pub link: String,
}

/// Whether `link` is an absolute http(s) URL with a plausible host and no whitespace.
pub fn valid_link(link: &str) -> bool {
    let rest = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    if link.len() > 2000 || link.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    !host.is_empty()
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host.contains('.')
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

/// A case's media reports (媒体报道)
///
/// The media reports of a case, oldest first.
///
/// Staff who may see the case (officers of the departments that filed it or took part in it,
/// bureaus of its region, admins); others get 403 or 404. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "cases_media_list",
    tag = "cases",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Case id")),
    responses(
        (status = 200, description = "The reports", body = Vec<MediaReport>),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case in your scope", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/cases/{id}/media-reports")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let v = db::run(&state.pool, move |conn| {
        load_visible(conn, &user, id)?;
        media_of(conn, id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Record a media report (媒体报道)
///
/// Record a media report about a case (the filing department or a bureau covering its region).
///
/// Department officers of another department and county bureaus of another region get 403 or 404;
/// approval systems 403. Adds the report to the case; audited.
#[utoipa::path(
    operation_id = "cases_media_create",
    tag = "cases",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Case id")),
    request_body = NewMediaReport,
    responses(
        (status = 201, description = "Recorded", body = MediaReport),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not your department's case", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad outlet, date or link", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/cases/{id}/media-reports")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<NewMediaReport>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let r = body.0;
    let mut errors = Vec::new();
    let outlet = required_line(&mut errors, "outlet", &r.outlet, 200);
    crate::domain::dates::check_date(&mut errors, "report_date", r.report_date);
    let link = r.link.trim().to_string();
    if !valid_link(&link) {
        errors.push(FieldError::new(
            "link",
            "invalid_url",
            "link must be an absolute http:// or https:// URL",
        ));
    }
    if r.report_date > crate::entries::today() {
        errors.push(FieldError::new(
            "report_date",
            "in_future",
            "the report date cannot be in the future",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let v = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let c = load_visible(conn, &user, id)?;
            require_manage(&user, &c)?;
            if r.report_date < c.case_date {
                return Err(ApiError::invalid_field(
                    "report_date",
                    "before_case_date",
                    "a report cannot precede the case",
                ));
            }
            let rid: i32 = diesel::insert_into(case_media_reports::table)
                .values((
                    case_media_reports::case_id.eq(id),
                    case_media_reports::outlet.eq(&outlet),
                    case_media_reports::level.eq(r.level.as_str()),
                    case_media_reports::report_date.eq(r.report_date),
                    case_media_reports::link.eq(&link),
                    case_media_reports::created_by.eq(user.id),
                    case_media_reports::created_at.eq(db::now()),
                ))
                .returning(case_media_reports::id)
                .get_result(conn)?;
            let report: MediaReport = case_media_reports::table
                .find(rid)
                .select(MediaReport::as_select())
                .first(conn)?;
            audit::append(
                conn,
                &user.actor(),
                Entry::new("case.media_report", "case", id)
                    .region(Some(c.region_code.clone()))
                    .department(Some(c.department_id))
                    .after(&report),
            )?;
            Ok(report)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(v))
}

#[cfg(test)]
mod tests {
    use super::valid_link;

    #[test]
    fn links() {
        assert!(valid_link("https://www.thrb.com.cn/a/b.html?x=1"));
        assert!(valid_link("http://news.example.org:8080/x"));
        assert!(!valid_link("ftp://example.org/x"));
        assert!(!valid_link("https://"));
        assert!(!valid_link("https://localhost/x"));
        assert!(!valid_link("https://exa mple.org/x"));
        assert!(!valid_link("javascript:alert(1)"));
        assert!(!valid_link("https://.example.org"));
    }
}
