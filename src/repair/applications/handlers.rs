//! `/api/v1/repairs`: the HTTP handlers for submitting, reading and reviewing applications; each
//! parses the request, makes one call to the store and answers (the version as ETag).

use actix_web::{get, post, web, HttpRequest, HttpResponse};

use super::steps::*;
use super::*;
use crate::auth::AuthUser;
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{ApiJson, Page};
use crate::state::AppState;

/// Apply for credit repair (信用修复)
///
/// Apply for credit repair of a black-list entry. The eligibility rules are checked now; the
/// application waits for the identifying department to accept it. Audited.
///
/// Staff, on behalf of the subject: department officers for entries of their department, bureaus
/// for their region, admins; approval systems get 403. Creates the application with its working-day
/// deadline.
#[utoipa::path(
    operation_id = "repair_applications_submit",
    tag = "repair",
    security(("bearer" = [])),
    request_body = NewRepair,
    responses(
        (status = 201, description = "Submitted, with its deadline", body = RepairView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the identifying department or its bureau submits", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An application for this entry is already open", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not eligible (`not_repairable`, `not_locally_repairable` for a national entry, `too_early` with the earliest date, `not_in_force` …) or a document is missing", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/repairs")]
pub async fn submit(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewRepair>,
) -> Result<HttpResponse, ApiError> {
    let v = submit_application(&state, user, body.0).await?;
    Ok(HttpResponse::Created().json(v))
}

/// The repair review queue (信用修复)
///
/// The review queue, earliest deadline first.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Each sees the
/// applications its scope covers. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "repair_applications_list",
    tag = "repair",
    security(("bearer" = [])),
    params(RepairFilter),
    responses(
        (status = 200, description = "A page of applications", body = Page<RepairSummary>),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/repairs")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<RepairFilter>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(queue(&state, user, query.into_inner()).await?))
}

/// One repair application (信用修复)
///
/// One application with everything a reviewer needs, and the actions open to the caller.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "repair_applications_get_one",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Application id")),
    responses(
        (status = 200, description = "The application", body = RepairView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/repairs/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let v = view(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::ETAG,
            format!("\"{}\"", v.summary.version),
        ))
        .json(v))
}

/// The expected version: `If-Match: "3"` or `{"version": 3}` (they must agree when both given).
fn expected_version(req: &HttpRequest, body: Option<i32>) -> Result<Option<i32>, ApiError> {
    let header = match req.headers().get(actix_web::http::header::IF_MATCH) {
        None => None,
        Some(h) => {
            let raw = h.to_str().unwrap_or("").trim();
            let raw = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
            Some(raw.parse::<i32>().map_err(|_| ApiError::BadRequest {
                code: "invalid_if_match",
                detail: "If-Match must be the application's version, e.g. \"3\"".into(),
                errors: vec![FieldError::new(
                    "header.If-Match",
                    "invalid",
                    "not a version number",
                )],
            })?)
        }
    };
    match (header, body) {
        (Some(h), Some(b)) if h != b => Err(ApiError::invalid_field(
            "version",
            "version_mismatch",
            "If-Match and version disagree",
        )),
        (h, b) => Ok(h.or(b)),
    }
}

/// The reviewed application as the API answers a step: the view with its version as ETag.
async fn transition(
    state: web::Data<AppState>,
    user: AuthUser,
    id: i32,
    step: &'static Step,
    version: Option<i32>,
    comment: Option<String>,
    amend: Option<Resubmission>,
) -> Result<HttpResponse, ApiError> {
    let v = apply_step(&state, user, id, step, version, comment, amend).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::ETAG,
            format!("\"{}\"", v.summary.version),
        ))
        .json(v))
}

macro_rules! step_endpoint {
    ($fn_name:ident, $path:literal, $step:ident, $summary:literal, $doc:literal, $who:literal, $ok:literal, $forbidden:literal) => {
        #[doc = $summary]
        #[doc = ""]
        #[doc = $doc]
        #[doc = ""]
        #[doc = $who]
        #[utoipa::path(
            operation_id = concat!("repair_applications_", stringify!($fn_name)),
            tag = "repair",
            security(("bearer" = [])),
            params(
                ("id" = i32, Path, description = "Application id"),
                ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(W/)?"?[0-9]{1,9}"?$"#, description = "The version acted on, e.g. \"3\""),
            ),
            request_body(content = Option<Transition>, content_type = "application/json"),
            responses(
                (status = 200, description = $ok, body = RepairView),
                (status = 400, description = "Malformed body or If-Match", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = $forbidden, body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "Not in a state for this step, or another reviewer acted first (`version_conflict`)", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Reasons missing", body = Problem, content_type = "application/problem+json"),
            )
        )]
        #[post($path)]
        pub async fn $fn_name(
            state: web::Data<AppState>,
            user: AuthUser,
            req: HttpRequest,
            path: web::Path<i32>,
            body: crate::http::OptionalJson<Transition>,
        ) -> Result<HttpResponse, ApiError> {
            let t = body.0.unwrap_or_default();
            let version = expected_version(&req, t.version)?;
            transition(state, user, path.into_inner(), &$step, version, t.comment, None).await
        }
    };
}

step_endpoint!(
    accept,
    "/repairs/{id}/accept",
    ACCEPT,
    "Accept a repair application (受理)",
    "Accept (受理) a submitted application; the decision is due within `repair_decide_days`.",
    "Officers of the identifying department, bureaus of its region, the city bureau and admins; others get 403 or 404. Moves the application to accepted; audited.",
    "Accepted",
    "Only the identifying department (or its bureau)"
);
step_endpoint!(
    return_incomplete,
    "/repairs/{id}/return",
    RETURN,
    "Return a repair application as incomplete",
    "Return a submitted application as incomplete (reasons in `comment`).",
    "Officers of the identifying department, bureaus of its region, the city bureau and admins; others get 403 or 404. The applicant may resubmit; audited.",
    "Returned",
    "Only the identifying department (or its bureau)"
);
step_endpoint!(
    approve,
    "/repairs/{id}/approve",
    APPROVE,
    "Approve a repair (审核通过)",
    "The department approves the repair; it must then file it with the bureau.",
    "Officers of the identifying department, bureaus of its region, the city bureau and admins; others get 403 or 404. Moves the application to approved; the entry stays in force until the bureau confirms. Audited.",
    "Approved",
    "Only the identifying department (or its bureau)"
);
step_endpoint!(
    refuse,
    "/repairs/{id}/refuse",
    REFUSE,
    "Refuse a repair (不予修复)",
    "The department refuses the repair (reasons in `comment`).",
    "Officers of the identifying department, bureaus of its region, the city bureau and admins; others get 403 or 404. Moves the application to refused; the entry stays. Audited.",
    "Refused",
    "Only the identifying department (or its bureau)"
);
step_endpoint!(
    file,
    "/repairs/{id}/file",
    FILE,
    "File a repair with the bureau (备案)",
    "File (备案) an approved repair with the bureau of the entry's region; its review is due within `repair_review_days`.",
    "Officers of the identifying department, bureaus of its region, the city bureau and admins; others get 403 or 404. Moves the application to filed; audited.",
    "Filed",
    "Only the identifying department (or its bureau)"
);
/// Confirm a repair filing (信用修复确认)
///
/// The bureau confirms the filing: the repair is completed, the entry is removed with reason
/// `repaired`, watchers are notified and the result is queued for the provincial platform, in one
/// transaction. `completed_on` records a repair completed on a past day (补录): the entry's removal
/// date and the repair's `completed_at` are that day, and the audit records say `backdated`.
///
/// The bureau of the entry's region, the city bureau and admins; department officers and approval
/// systems get 403.
#[utoipa::path(
    operation_id = "repair_applications_confirm",
    tag = "repair",
    security(("bearer" = [])),
    params(
        ("id" = i32, Path, description = "Application id"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(W/)?"?[0-9]{1,9}"?$"#, description = "The version acted on, e.g. \"3\""),
    ),
    request_body(content = Option<Confirmation>, content_type = "application/json"),
    responses(
        (status = 200, description = "Completed", body = RepairView),
        (status = 400, description = "Malformed body, date or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only a bureau of the entry's region (or the city bureau); a past `completed_on` only for admins and bureaus (`backdating_not_allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not filed, another reviewer acted first (`version_conflict`), or the entry is no longer in force (`entry_not_in_force`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`completed_on` in the future (`in_future`), before 2019 (`before_2019`), before the submission (`before_submission`) or on a day the entry was not in force (`not_in_force`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/repairs/{id}/confirm")]
pub async fn confirm(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i32>,
    body: crate::http::OptionalJson<Confirmation>,
) -> Result<HttpResponse, ApiError> {
    let c = body.0.unwrap_or_default();
    let version = expected_version(&req, c.version)?;
    let v = apply_step_on(
        &state,
        user,
        path.into_inner(),
        &CONFIRM,
        version,
        c.comment,
        None,
        c.completed_on,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::ETAG,
            format!("\"{}\"", v.summary.version),
        ))
        .json(v))
}
step_endpoint!(
    send_back,
    "/repairs/{id}/send-back",
    SEND_BACK,
    "Send a repair filing back (退回)",
    "The bureau sends a filing back to the department (reasons in `comment`).",
    "The bureau of the entry's region, the city bureau and admins; department officers and approval systems get 403. Moves the application back to the department; audited.",
    "Sent back",
    "Only a bureau of the entry's region (or the city bureau)"
);
step_endpoint!(
    withdraw,
    "/repairs/{id}/withdraw",
    WITHDRAW,
    "Withdraw a repair application",
    "Withdraw an open application (not while the bureau reviews it).",
    "Officers of the identifying department, bureaus of its region, the city bureau and admins; others get 403 or 404. Closes the application; the entry stays. Audited.",
    "Withdrawn",
    "Only the identifying department (or its bureau)"
);

/// Resubmit a repair application
///
/// Resubmit a returned, refused or sent-back application, amended; eligibility is checked again.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Moves the application back to submitted, with a new deadline; audited.
#[utoipa::path(
    operation_id = "repair_applications_resubmit",
    tag = "repair",
    security(("bearer" = [])),
    params(
        ("id" = i32, Path, description = "Application id"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(W/)?"?[0-9]{1,9}"?$"#, description = "The version acted on, e.g. \"3\""),
    ),
    request_body = Resubmission,
    responses(
        (status = 200, description = "Submitted again", body = RepairView),
        (status = 400, description = "Malformed body or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the identifying department (or its bureau)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not returned, refused or sent back; or another reviewer acted first", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not eligible, or invalid amendments", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/repairs/{id}/resubmit")]
pub async fn resubmit(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i32>,
    body: ApiJson<Resubmission>,
) -> Result<HttpResponse, ApiError> {
    let r = body.0;
    let version = expected_version(&req, r.version)?;
    let comment = r.comment.clone();
    transition(
        state,
        user,
        path.into_inner(),
        &RESUBMIT,
        version,
        comment,
        Some(r),
    )
    .await
}
