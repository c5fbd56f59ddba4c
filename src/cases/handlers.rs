//! `/api/v1/cases`: the HTTP handlers for filing, editing, submitting, sharing and correcting cases,
//! listing and exporting them; each parses the request, makes one call to [`super::store`] and answers.

use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::*;
use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::http::{ApiJson, Page};
use crate::state::AppState;

use super::store::{
    case_by_id, cases_page, correct_case, draft_from_feedback, export_file, file_case,
    share_case_on, submit_case_on, update_case, CaseFilter, CasePatch, NewCase,
};

/// The optional body of a submission: the day it was really submitted, when recording the past.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseSubmission {
    /// The day the case was submitted (报送), when recording the past (补录); default today. A
    /// past day only for admins and bureaus (else 403 `backdating_not_allowed`); not in the
    /// future, not before 2019-01-01, not before `case_date` (422 naming `submitted_on`).
    #[schema(value_type = Option<String>, format = Date)]
    pub submitted_on: Option<chrono::NaiveDate>,
}

/// The optional body of a share: the day it was really shared, when recording the past.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseShare {
    /// The day the case was shared with the provincial platform (共享), when recording the past
    /// (补录); default today. Not in the future, not before 2019-01-01, not before `case_date` nor
    /// the day it was submitted (422 naming `shared_on`). `shared_at` is then noon (China time)
    /// of that day.
    #[schema(value_type = Option<String>, format = Date)]
    pub shared_on: Option<chrono::NaiveDate>,
}

fn respond(status: u16, v: CaseView) -> HttpResponse {
    if status == 201 {
        HttpResponse::Created().json(v)
    } else {
        HttpResponse::Ok().json(v)
    }
}

/// File a case (联合奖惩案例)
///
/// File a case (draft). With an `Idempotency-Key` header a retry of the same request by the same
/// user returns the case created the first time (200) instead of filing another (the first
/// answer is 201); the same key with a different body is 422 `idempotency_key_reused`.
///
/// Staff (department officers for their own department, bureaus for their region, admins); approval
/// systems get 403. Creates a draft case; audited.
#[utoipa::path(
    operation_id = "cases_create",
    tag = "cases",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe (at most 200 characters)")),
    request_body = NewCase,
    responses(
        (status = 201, description = "Filed as a draft", body = CaseView),
        (status = 200, description = "A retry with the same Idempotency-Key: the case filed the first time", body = CaseView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not your department", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid content, or Idempotency-Key reused with a different body (`idempotency_key_reused`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/cases")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    body: ApiJson<NewCase>,
) -> Result<HttpResponse, ApiError> {
    // Who may file is decided before the key is read: an unreadable key from a caller who may not
    // file at all is a 403, not a 422.
    user.require(crate::auth::STAFF)?;
    let key = crate::http::IdempotencyKey::from_request(&req)?.0;
    let (status, view) = file_case(&state, user, body.0, key).await?;
    Ok(respond(status, view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FromFeedbackQuery {
    /// The filing department, when the check was made by an account without one (an approval
    /// system); otherwise the checking department files the case.
    pub department_id: Option<i32>,
}

/// Start a case from a check's feedback (反馈)
///
/// Start a draft case from a credit check (信用核查) and its feedback (反馈): the subject, the
/// measures the feedback says were applied (their kind gives the case's kind), the subject's
/// published entries on the matching list, the field and the decision date. Only when the feedback
/// applied at least one measure.
///
/// Staff who manage the department that made the check (its officers, the bureau of its region, the
/// city bureau, admins). Creates a draft case; audited.
#[utoipa::path(
    operation_id = "cases_from_feedback",
    tag = "cases",
    security(("bearer" = [])),
    params(
        ("check_id" = i32, Path, description = "Credit check id"),
        FromFeedbackQuery,
    ),
    responses(
        (status = 201, description = "Draft filed", body = CaseView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the checking department's case", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such check", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No feedback, or the feedback applied no measure (`no_feedback`, `no_measure_applied`)", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Mixed measure kinds, no subject on record, or no filing department", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/cases/from-feedback/{check_id}")]
pub async fn from_feedback(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    query: crate::http::Query<FromFeedbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = draft_from_feedback(&state, user, path.into_inner(), query.department_id).await?;
    Ok(HttpResponse::Created().json(view))
}

/// One case (联合奖惩案例)
///
/// One case.
///
/// Staff who may see the case: officers of the department that filed it or took part in it, bureaus
/// of its region (the city bureau: all), admins; others get 403 or 404. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "cases_get_one",
    tag = "cases",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Case id")),
    responses(
        (status = 200, description = "The case", body = CaseView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case in your scope", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/cases/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let v = case_by_id(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Change a draft case
///
/// Change a draft case. Lists given replace the stored ones.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Changes the draft; audited with before and after.
#[utoipa::path(
    operation_id = "cases_update",
    tag = "cases",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Case id")),
    request_body = CasePatch,
    responses(
        (status = 200, description = "Updated", body = CaseView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not your department", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft (`not_a_draft`, `case_shared`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid content", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/cases/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<CasePatch>,
) -> Result<HttpResponse, ApiError> {
    let v = update_case(&state, user, path.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Submit a case (报送)
///
/// Submit a draft (报送): it then needs at least one subject and one measure applied.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Sets the case to submitted; audited.
#[utoipa::path(
    operation_id = "cases_submit",
    tag = "cases",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Case id")),
    request_body(content = Option<CaseSubmission>, content_type = "application/json"),
    responses(
        (status = 200, description = "Submitted", body = CaseView),
        (status = 400, description = "Malformed body or date", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not your department; a past `submitted_on` only for admins and bureaus (`backdating_not_allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Incomplete (`subjects`, `measure_item_ids`); `submitted_on` in the future, before 2019 or before `case_date`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/cases/{id}/submit")]
pub async fn submit(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: crate::http::OptionalJson<CaseSubmission>,
) -> Result<HttpResponse, ApiError> {
    let on = body.0.unwrap_or_default().submitted_on;
    let v = submit_case_on(&state, user, path.into_inner(), on).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Share a case with the province (共享)
///
/// Share a submitted case with the provincial platform (共享): the bureau of the case's region or
/// the city bureau (and admins). Records `shared_at` and queues a `case.shared` feed event in the
/// same transaction. A shared case never changes again. `shared_on` records a case shared on a
/// past day (补录); the audit records say `backdated`.
///
/// Department officers and approval systems get 403; a county bureau of another region 403 or 404.
#[utoipa::path(
    operation_id = "cases_share",
    tag = "cases",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Case id")),
    request_body(content = Option<CaseShare>, content_type = "application/json"),
    responses(
        (status = 200, description = "Shared", body = CaseView),
        (status = 400, description = "Malformed body or date", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the region's bureau or the city bureau shares", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not submitted (`not_submitted`) or already shared (`case_shared`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`shared_on` in the future, before 2019, before `case_date` or before the submission", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/cases/{id}/share")]
pub async fn share(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: crate::http::OptionalJson<CaseShare>,
) -> Result<HttpResponse, ApiError> {
    let on = body.0.unwrap_or_default().shared_on;
    let v = share_case_on(&state, user, path.into_inner(), on).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// File a correction of a case
///
/// File a correction of a submitted or shared case: a new draft with the same content, linked by
/// `corrects_case_id`, edited and submitted like any draft. Drafts are edited in place instead.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Creates the correcting draft; the corrected case is unchanged. Audited.
#[utoipa::path(
    operation_id = "cases_correct",
    tag = "cases",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Case id")),
    responses(
        (status = 201, description = "The correction (a draft)", body = CaseView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not your department", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A draft is edited, not corrected (`not_submitted`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/cases/{id}/corrections")]
pub async fn correct(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let v = correct_case(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::Created().json(v))
}

/// List cases (联合奖惩案例)
///
/// Cases in your scope, newest case date first.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Department officers
/// see the cases their department filed or took part in, bureaus their region's, admins all.
/// Read-only: changes nothing.
#[utoipa::path(
    operation_id = "cases_list",
    tag = "cases",
    security(("bearer" = [])),
    params(CaseFilter),
    responses(
        (status = 200, description = "One page of cases", body = Page<CaseView>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A subject code of the right shape that is no code (`invalid_subject_code`), or `from` after `to` (`invalid_range`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/cases")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<CaseFilter>,
) -> Result<HttpResponse, ApiError> {
    let result = cases_page(&state, user, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Export cases as a sheet
///
/// Export the cases of the list's filters (xlsx or csv, Chinese headers; codes of individuals
/// masked).
///
/// Staff: department officers, bureaus and admins; approval systems get 403. The rows are those the
/// caller may list. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "cases_export",
    tag = "cases",
    security(("bearer" = [])),
    params(CaseFilter),
    responses(
        (status = 200, description = "The file", content(("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("text/csv"))),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A subject code of the right shape that is no code (`invalid_subject_code`), or `from` after `to` (`invalid_range`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/cases/export")]
pub async fn export(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<CaseFilter>,
) -> Result<HttpResponse, ApiError> {
    export_file(&state, user, query.into_inner()).await
}
