//! `/api/v1/subjects`: the staff view of one subject (主体) and search.

use actix_web::{get, web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::*;
use crate::auth::{AuthUser, Role};
use crate::db;
use crate::error::{ApiError, Problem};
use crate::http::{Page, PageQuery};
use crate::schema::{list_entries, subjects};
use crate::state::AppState;

/// One subject with its entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectProfile {
    pub subject: SubjectRef,
    /// The day the in-force lists below refer to.
    #[schema(value_type = String, format = Date)]
    pub as_of: NaiveDate,
    /// Ids of red entries in force on `as_of`.
    pub red_in_force: Vec<i32>,
    /// Ids of black entries in force on `as_of`.
    pub black_in_force: Vec<i32>,
    /// Every entry (drafts only for those who manage them), newest determination first, with its
    /// status as of `as_of`.
    pub entries: Vec<EntryView>,
    /// Every commitment letter (信用承诺书) the subject signed, with recorded breaches (违诺).
    pub commitments: Vec<crate::repair::letters::CommitmentSummary>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AsOf {
    /// "What was in force on this day" (default today).
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<NaiveDate>,
}

/// A subject's profile (主体)
///
/// One subject by unified social credit code or ID number, with entries and what was in force
/// on a given day.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "entries_profiles_profile",
    tag = "subjects",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Unified social credit code or ID number"), AsOf),
    responses(
        (status = 200, description = "The subject", body = SubjectProfile),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No record of this subject", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid code", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/subjects/{code}")]
pub async fn profile(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    query: crate::http::Query<AsOf>,
) -> Result<HttpResponse, ApiError> {
    let profile = load_profile(&state, user, &path.into_inner(), query.as_of).await?;
    Ok(HttpResponse::Ok().json(profile))
}

/// One subject's profile as the caller may see it (the API's `GET /subjects/{code}` and the
/// console's 主体查询).
pub(crate) async fn load_profile(
    state: &web::Data<AppState>,
    user: AuthUser,
    raw: &str,
    as_of: Option<NaiveDate>,
) -> Result<SubjectProfile, ApiError> {
    user.require(&[Role::Admin, Role::Bureau, Role::Department])?;
    let (code, _) = match parse_subject_code("code", raw, false) {
        Ok(c) => c,
        // A code recorded with an acknowledged bad check character can still be looked up.
        Err(_) => parse_subject_code("code", raw, true)?,
    };
    let as_of = as_of.unwrap_or_else(today);
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        let subject = find_subject_by_code(conn, &code, &st.pii)?
            .ok_or_else(|| ApiError::not_found("subject"))?;
        let managed = crate::auth::managed_departments(conn, &user)?;
        let mut q = list_entries::table
            .filter(list_entries::subject_id.eq(subject.id))
            .into_boxed();
        if let Some(ids) = managed {
            q = q.filter(
                list_entries::status
                    .ne("draft")
                    .or(list_entries::department_id.eq_any(ids)),
            );
        }
        let rows: Vec<EntryRow> = q
            .order((
                list_entries::determination_date.desc(),
                list_entries::id.desc(),
            ))
            .select(EntryRow::as_select())
            .load(conn)?;
        let in_force = |t: &str| {
            rows.iter()
                .filter(|e| e.list_type == t && in_force_on(e, as_of))
                .map(|e| e.id)
                .collect::<Vec<_>>()
        };
        let (red_in_force, black_in_force) = (in_force("red"), in_force("black"));
        let entries = rows
            .iter()
            .map(|e| entry_view(conn, &st.pii, e, Disclosure::Full, as_of))
            .collect::<Result<Vec<_>, _>>()?;
        let commitments = crate::repair::letters::summaries(conn, &[subject.id])?
            .remove(&subject.id)
            .unwrap_or_default();
        Ok(SubjectProfile {
            subject: subject_ref(&subject, &st.pii, Disclosure::Full)?,
            as_of,
            red_in_force,
            black_in_force,
            entries,
            commitments,
        })
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubjectSearch {
    /// A full code (exact match) or part of a name (substring, CJK included); 1–100 characters
    /// once trimmed.
    #[param(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub q: String,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

/// Search subjects (主体)
///
/// Search subjects by code or by name.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "entries_profiles_search",
    tag = "subjects",
    security(("bearer" = [])),
    params(SubjectSearch),
    responses(
        (status = 200, description = "Matching subjects", body = Page<SubjectRef>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/subjects")]
pub async fn search(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<SubjectSearch>,
) -> Result<HttpResponse, ApiError> {
    let result = find_subjects(&state, user, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Subjects matching a code or part of a name (the API's `GET /subjects` and the console).
pub(crate) async fn find_subjects(
    state: &web::Data<AppState>,
    user: AuthUser,
    f: SubjectSearch,
) -> Result<Page<SubjectRef>, ApiError> {
    user.require(&[Role::Admin, Role::Bureau, Role::Department])?;
    let text = f.q.trim().to_string();
    if text.is_empty() || text.chars().count() > 100 {
        return Err(ApiError::invalid_query(
            "q",
            "invalid_value",
            "q must have 1–100 characters",
        ));
    }
    let (limit, offset, page, per_page) = PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    let by_code = crate::domain::SubjectCode::parse(&text)
        .ok()
        .map(|c| lookup_key(&c, &state.pii));
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        let filtered = || {
            let q = subjects::table.into_boxed();
            match &by_code {
                Some(key) => q.filter(subjects::lookup_key.eq(key.clone())),
                None => q.filter(
                    subjects::name
                        .like(format!("%{}%", text.replace(['%', '_'], "")))
                        .or(subjects::uscc
                            .like(format!("{}%", text.to_uppercase().replace(['%', '_'], "")))),
                ),
            }
        };
        let total: i64 = filtered().count().get_result(conn)?;
        let rows: Vec<SubjectRow> = filtered()
            .order(subjects::id.asc())
            .limit(limit)
            .offset(offset)
            .select(SubjectRow::as_select())
            .load(conn)?;
        let items = rows
            .iter()
            .map(|s| subject_ref(s, &st.pii, Disclosure::Full))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    })
    .await
}
