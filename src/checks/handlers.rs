//! `/api/v1/credit-checks`: single and batch checks, receipts.

use crate::checks::receipts::load_receipt;
use actix_web::{get, post, web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::receipt_hash::CanonicalAnswer;
use super::receipt_list::{ReceiptQuery, ReceiptSummary};
use super::receipt_queue::{Committed, NewReceipt};
use super::{evaluate, require_active_field, Advice, Ask, CheckAnswer, Evaluation};
use crate::auth::{AuthUser, Role, CITY_REGION};
use crate::db;
use crate::domain::SubjectCode;
use crate::entries::{lookup_key, parse_subject_code, today};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{ApiJson, Page};
use crate::state::AppState;

/// Who may run checks: approval systems and staff.
pub use crate::auth::CHECKERS;

pub const MAX_BATCH: usize = 1_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Unified social credit code or resident ID number.
    #[schema(example = "91350100M000100Y43")]
    pub subject_code: String,
    /// An active field (领域) code, e.g. `administrative_licensing`, `government_procurement`,
    /// `bidding`.
    #[schema(example = "administrative_licensing")]
    pub field: String,
    /// The caller's own application or project number.
    #[schema(max_length = 200)]
    pub reference: Option<String>,
    /// Free text.
    #[schema(max_length = 1000)]
    pub purpose: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Up to 1,000 codes; the results come in the same order.
    #[schema(min_items = 1, max_items = 1000)]
    pub subject_codes: Vec<String>,
    pub field: String,
    #[schema(max_length = 200)]
    pub reference: Option<String>,
    #[schema(max_length = 1000)]
    pub purpose: Option<String>,
}

/// One result of a batch: either the check (a receipt was stored) or an error for that code.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItem {
    /// Position in `subject_codes`.
    pub index: usize,
    /// 201 for a check, 422 for an invalid code.
    pub status: u16,
    #[schema(value_type = Option<CheckAnswer>)]
    pub check: Option<Box<RawValue>>,
    pub error: Option<FieldError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub field: String,
    pub reference: Option<String>,
    pub results: Vec<BatchItem>,
}

/// The region a receipt is counted under: the caller's (an approval system's county, a
/// department's region), else the subject's, else the city.
fn receipt_region(user: &AuthUser, subject_region: Option<&str>) -> String {
    user.region_code
        .clone()
        .or_else(|| subject_region.map(str::to_string))
        .unwrap_or_else(|| CITY_REGION.to_string())
}

/// Who sees a related party's ID number in full in an answer: admins and bureaus.
fn reveals_ids(user: &AuthUser) -> bool {
    matches!(user.role, Role::Admin | Role::Bureau)
}

/// A stored check: its receipt id and the answer as sent (JSON text, with its proof).
pub struct Checked {
    pub check_id: i32,
    pub json: String,
}

/// An answer as sent, in its RFC 8785 form without `check_id` ([`CanonicalAnswer`]), and the
/// stored receipt when it differs (an ID number stored masked); `None`: stored as sent.
struct Answer {
    sent: CanonicalAnswer,
    masked: Option<CanonicalAnswer>,
}

/// Turns evaluations into receipts to store, and the answers to send. The two differ in one way:
/// a receipt keeps an individual's ID number masked (`110105********002X`) so that no personal ID
/// number is stored in clear; the caller, who sent the number, gets it back as sent. The same for
/// related parties' ID numbers shown in full to admins and bureaus. Each answer is serialised
/// once, in its canonical form: what is stored is what the receipt's hash covers
/// (`receipt_hash`), and its leaf hash needs no parsing once the id is known.
fn receipts_for(
    user: &AuthUser,
    evals: Vec<Evaluation>,
) -> Result<(Vec<NewReceipt>, Vec<Answer>), ApiError> {
    let mut rows = Vec::with_capacity(evals.len());
    let mut answers = Vec::with_capacity(evals.len());
    for ev in evals {
        let a = ev.answer;
        let measure_ids: Vec<i32> = a.measures.iter().map(|m| m.measure_item_id).collect();
        let sent = CanonicalAnswer::of(&a).map_err(ApiError::internal)?;
        let masks: Vec<(String, String)> = ev
            .id_number
            .iter()
            .chain(&ev.revealed)
            .map(|id| (id.as_str().to_string(), id.masked()))
            .collect();
        let masked = if masks.is_empty() {
            None
        } else {
            let pairs: Vec<(&str, &str)> = masks
                .iter()
                .map(|(f, t)| (f.as_str(), t.as_str()))
                .collect();
            Some(
                sent.replaced(&pairs)
                    .ok_or_else(|| ApiError::internal("a masked ID number changed length"))?,
            )
        };
        rows.push(NewReceipt {
            checked_at: a.checked_at,
            caller_user_id: user.id,
            caller_department_id: user.department_id,
            region_code: receipt_region(
                user,
                a.subject.as_ref().and_then(|s| s.region_code.as_deref()),
            ),
            field: a.field,
            reference: a.reference,
            purpose: a.purpose,
            advice: a.advice.as_str().to_string(),
            subject_bucket: super::receipt_queue::subject_bucket(&ev.subject_key),
            subject_key: ev.subject_key,
            subject_id: ev.subject_id,
            measure_ids: serde_json::to_string(&measure_ids).unwrap_or_else(|_| "[]".into()),
            answer: masked.clone().unwrap_or_else(|| sent.clone()),
        });
        answers.push(Answer { sent, masked });
    }
    Ok((rows, answers))
}

/// Evaluates and stores checks; returns the answers as sent, with their ids, in order. Answers come from
/// the in-memory index when it is fresh (no query, no blocking thread), otherwise from the
/// database; either way the response waits for the receipts' group commit.
async fn run_checks(
    state: &web::Data<AppState>,
    user: &AuthUser,
    codes: Vec<SubjectCode>,
    field: String,
    reference: Option<String>,
    purpose: Option<String>,
) -> Result<Vec<Checked>, ApiError> {
    if field.is_empty() {
        return Err(ApiError::invalid_field(
            "field",
            "required",
            "field must not be empty",
        ));
    }
    let ask = Ask {
        field: &field,
        reference: reference.as_deref(),
        purpose: purpose.as_deref(),
        now: db::now(),
        today: today(),
        reveal_ids: reveals_ids(user),
    };
    let cached = state
        .check_index
        .as_ref()
        .and_then(|ix| ix.evaluate(&state.pii, &codes, &ask));
    let evals = match cached {
        Some(evals) => evals?,
        None => {
            let st = state.clone();
            let (field, reference, purpose) = (field.clone(), reference.clone(), purpose.clone());
            let (now, day, reveal_ids) = (ask.now, ask.today, ask.reveal_ids);
            web::block(move || {
                let mut conn = st.pool.get().map_err(|e| {
                    tracing::warn!(error = %e, "database pool exhausted or unreachable");
                    ApiError::unavailable("the database is not reachable right now")
                })?;
                require_active_field(&mut conn, &field)?;
                let ask = Ask {
                    field: &field,
                    reference: reference.as_deref(),
                    purpose: purpose.as_deref(),
                    now,
                    today: day,
                    reveal_ids,
                };
                evaluate(&mut conn, &st.pii, &codes, &ask)
            })
            .await
            .map_err(|_| ApiError::internal("blocking task failed"))??
        }
    };
    let (rows, answers) = receipts_for(user, evals)?;
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let committed = state.receipts.write(rows).await?;
    Ok(signed_answers(answers, committed))
}

/// The answers as sent, each with its `proof`: the receipt writer signed the receipts' hashes
/// (from what was stored) under one root with those of the other checks of its group commit
/// (`receipt_queue::answer_group`; `docs/credit-checks.md`, "Signed receipts"). An answer that
/// differs from its stored receipt (an ID number stored masked) carries that receipt in
/// `proof.receipt`, which is what the proof covers.
fn signed_answers(answers: Vec<Answer>, committed: Committed) -> Vec<Checked> {
    answers
        .into_iter()
        .zip(committed.ids.into_iter().zip(committed.proofs))
        .map(|(a, (check_id, proof))| {
            let stored = a.masked.as_ref().map(|s| s.with_check_id(check_id));
            let proof = proof.json(stored.as_deref());
            Checked {
                check_id,
                json: a.sent.with_check_id_and_proof(check_id, &proof),
            }
        })
        .collect()
}

/// Check a subject's credit (信用核查)
///
/// Check a subject's credit before a decision (信用核查). The answer is stored as a receipt before
/// it is sent.
///
/// Approval systems and staff (department officers, bureaus, admins). Stores the receipt (核查记录)
/// with the caller; changes no list.
#[utoipa::path(
    operation_id = "checks_check",
    tag = "credit-checks",
    security(("bearer" = [])),
    request_body = CheckRequest,
    responses(
        (status = 201, description = "The answer, stored as a receipt", body = CheckAnswer),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not check", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid subject code (`invalid_subject_code`) or unknown field; nothing recorded", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/credit-checks")]
pub async fn check(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<CheckRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require(CHECKERS)?;
    let req = body.0;
    let (code, _) = parse_subject_code("subject_code", &req.subject_code, false)?;
    let mut errors = Vec::new();
    let reference =
        crate::http::optional_line(&mut errors, "reference", req.reference.as_deref(), 200);
    let purpose = crate::http::optional_text(&mut errors, "purpose", req.purpose.as_deref(), 1000);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let field = req.field.trim().to_string();
    let mut answers = run_checks(&state, &user, vec![code], field, reference, purpose).await?;
    let a = answers
        .pop()
        .ok_or_else(|| ApiError::internal("no answer"))?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/credit-checks/{}", a.check_id),
        ))
        .content_type("application/json")
        .body(a.json))
}

/// Check many subjects at once (批量核查)
///
/// Check up to 1,000 subjects at once (a bid evaluation with all its bidders). Each valid code
/// gets its own receipt; an invalid code gets an error in its place and does not fail the batch.
///
/// Approval systems and staff. Stores one receipt per valid code; changes no list. `subject_codes`
/// holds 1 to 1,000 codes; the body is limited to `max_body_bytes` (1 MiB by default).
#[utoipa::path(
    operation_id = "checks_batch",
    tag = "credit-checks",
    security(("bearer" = [])),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "One result per code, in order", body = BatchResponse),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not check", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too many codes, unknown field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/credit-checks/batch")]
pub async fn batch(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<BatchRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require(CHECKERS)?;
    let req = body.0;
    let mut errors = Vec::new();
    if req.subject_codes.is_empty() || req.subject_codes.len() > MAX_BATCH {
        errors.push(FieldError::new(
            "subject_codes",
            "out_of_range",
            format!("subject_codes must hold between 1 and {MAX_BATCH} codes"),
        ));
    }
    let reference =
        crate::http::optional_line(&mut errors, "reference", req.reference.as_deref(), 200);
    let purpose = crate::http::optional_text(&mut errors, "purpose", req.purpose.as_deref(), 1000);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let mut results: Vec<BatchItem> = Vec::with_capacity(req.subject_codes.len());
    let mut valid = Vec::new();
    for (i, raw) in req.subject_codes.iter().enumerate() {
        let field = format!("subject_codes[{i}]");
        match parse_subject_code(&field, raw, false) {
            Ok((code, _)) => {
                valid.push(code);
                results.push(BatchItem {
                    index: i,
                    status: 201,
                    check: None,
                    error: None,
                });
            }
            Err(ApiError::Invalid { errors, .. }) => results.push(BatchItem {
                index: i,
                status: 422,
                check: None,
                error: errors.into_iter().next(),
            }),
            Err(e) => return Err(e),
        }
    }
    let field = req.field.trim().to_string();
    let answers = run_checks(
        &state,
        &user,
        valid,
        field.clone(),
        reference.clone(),
        purpose,
    )
    .await?;
    let mut answers = answers.into_iter();
    for item in results.iter_mut().filter(|r| r.status == 201) {
        item.check = match answers.next() {
            Some(c) => {
                Some(RawValue::from_string(c.json).map_err(|e| ApiError::internal(e.to_string()))?)
            }
            None => None,
        };
    }
    Ok(HttpResponse::Ok().json(BatchResponse {
        field,
        reference,
        results,
    }))
}

/// A check's receipt (核查记录)
///
/// A receipt (核查记录): the answer exactly as it was given, even if the lists changed since.
///
/// The caller that made the check, staff whose scope covers the checking department, bureaus of its
/// region and admins; others get 403 or 404. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "checks_get_receipt",
    tag = "credit-checks",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Check id")),
    responses(
        (status = 200, description = "The answer as given", body = CheckAnswer),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such check, or not yours to see", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/credit-checks/{id}")]
pub async fn get_receipt(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(CHECKERS)?;
    let id = path.into_inner();
    let r = state
        .receipts
        .run_settled(&state.pool, move |conn| load_receipt(conn, &user, id))
        .await?;
    Ok(HttpResponse::Ok().json(r.answer_value()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReceiptFilter {
    /// Caller's user id.
    pub caller: Option<i32>,
    pub field: Option<String>,
    pub region_code: Option<String>,
    /// A subject code (exact).
    #[param(pattern = "^[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{18}$")]
    pub subject: Option<String>,
    /// Checks on or after this day (UTC+8).
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    /// Checks on or before this day (UTC+8).
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    pub advice: Option<Advice>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

/// List check receipts (核查记录)
///
/// Receipts for staff: bureaus see their region, admins and the city bureau all, department
/// officers the checks made by their department.
///
/// Approval systems get 403 (they read their own receipts one by one). Read-only: changes nothing.
#[utoipa::path(
    operation_id = "checks_list_receipts",
    tag = "credit-checks",
    security(("bearer" = [])),
    params(ReceiptFilter),
    responses(
        (status = 200, description = "One page of receipts, newest first", body = Page<ReceiptSummary>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A subject code of the right shape that is no code (`invalid_subject_code`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/credit-checks")]
pub async fn list_receipts(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<ReceiptFilter>,
) -> Result<HttpResponse, ApiError> {
    user.require(crate::auth::STAFF)?;
    let f = query.into_inner();
    let (limit, offset, page, per_page) = crate::http::PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    let (scope_region, scope_dept) = if user.role == Role::Department {
        (None, user.department_id.or(Some(-1)))
    } else {
        (user.region_filter()?, None)
    };
    let q = ReceiptQuery {
        scope_region,
        scope_department: scope_dept,
        caller: f.caller,
        field: f.field,
        region_code: f.region_code,
        subject_key: crate::entries::subject_filter("subject", f.subject.as_deref())?
            .map(|c| lookup_key(&c, &state.pii)),
        from: f.from,
        to: f.to,
        advice: f.advice.map(Advice::as_str),
    };
    let now = crate::db::now();
    let (items, total) = state
        .receipts
        .run_settled(&state.pool, move |settled| {
            q.page(settled, limit, offset, now)
        })
        .await?;
    let page_v = Page {
        items,
        page,
        per_page,
        total,
    };
    Ok(HttpResponse::Ok().json(page_v))
}
