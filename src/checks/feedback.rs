//! Feedback (反馈): what the approval system actually decided after a check. One per check; a
//! retry with the same content (or the same `Idempotency-Key`) returns the stored feedback, a
//! different second one is a 409. Audited.

use actix_web::{post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::receipts::load_receipt;
use crate::audit::{self, Entry};
use crate::auth::AuthUser;
use crate::auth::CHECKERS;
use crate::db;
use crate::error::{ApiError, FieldError, Problem};
use crate::http::ApiJson;
use crate::schema::check_feedback;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    Denied,
    ApprovedWithConditions,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Denied => "denied",
            Decision::ApprovedWithConditions => "approved_with_conditions",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    pub decision: Decision,
    /// Measure item ids from the check's answer that were applied.
    #[serde(default)]
    pub measures_applied: Vec<i32>,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: String,
    /// When the decision was made: RFC 3339 with `Z` or an offset; without one, China time.
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub decided_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = check_feedback)]
pub struct FeedbackRow {
    pub check_id: i32,
    pub decision: String,
    #[serde(skip)]
    pub measures_applied: String,
    pub note: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub decided_at: chrono::NaiveDateTime,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    pub recorded_by: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub recorded_at: chrono::NaiveDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackView {
    pub check_id: i32,
    pub decision: String,
    pub measures_applied: Vec<i32>,
    pub note: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub decided_at: chrono::NaiveDateTime,
    pub recorded_by: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub recorded_at: chrono::NaiveDateTime,
}

fn view(r: &FeedbackRow) -> FeedbackView {
    FeedbackView {
        check_id: r.check_id,
        decision: r.decision.clone(),
        measures_applied: serde_json::from_str(&r.measures_applied).unwrap_or_default(),
        note: r.note.clone(),
        decided_at: r.decided_at,
        recorded_by: r.recorded_by,
        recorded_at: r.recorded_at,
    }
}

fn truncate_micros(t: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    use chrono::Timelike;
    t.with_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

/// Report the decision after a check (反馈)
///
/// Report the decision taken after a check. Send an `Idempotency-Key` header to retry safely; a
/// retry with the same content is answered with the stored feedback (200), a different second
/// feedback with 409 `feedback_exists`.
///
/// The caller that made the check (an approval system or a department's officer); bureaus and
/// admins get 403, other callers 403 or 404. Stores the feedback with the receipt; counted in the
/// usage statistics.
#[utoipa::path(
    operation_id = "checks_feedback_create",
    tag = "credit-checks",
    security(("bearer" = [])),
    params(
        ("id" = i32, Path, description = "Check id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body = FeedbackRequest,
    responses(
        (status = 201, description = "Recorded", body = FeedbackView),
        (status = 200, description = "The same feedback was already recorded", body = FeedbackView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The check was made by another caller (only that caller reports its feedback)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such check, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A different feedback exists (`feedback_exists`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A measure not in the check's answer (`measures_applied[i]`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/credit-checks/{id}/feedback")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i32>,
    body: ApiJson<FeedbackRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require(CHECKERS)?;
    let id = path.into_inner();
    let fb = body.0;
    let key = crate::http::IdempotencyKey::from_request(&req)?.0;
    let note = crate::pii::mask_id_numbers(fb.note.trim().to_string());
    if note.chars().count() > 2000 {
        return Err(ApiError::invalid_field(
            "note",
            "too_long",
            "note must have at most 2000 characters",
        ));
    }
    let mut applied = fb.measures_applied.clone();
    applied.sort_unstable();
    applied.dedup();
    let mut errors = Vec::new();
    crate::domain::dates::check_date_time(&mut errors, "decided_at", fb.decided_at);
    crate::http::text_chars(&mut errors, "note", &fb.note, true);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let decided_at = truncate_micros(fb.decided_at);
    let (status, v) = state
        .receipts
        .run_settled(&state.pool, move |conn| {
            conn.write_tx(|settled| {
                let receipt = load_receipt(settled, &user, id)?;
                let conn = settled.conn();
                // Only the caller that made the check reports what it did.
                if receipt.caller_user_id != user.id {
                    return Err(ApiError::forbidden(
                        "only the caller that made a check reports its feedback",
                    ));
                }
                let offered: Vec<i32> =
                    serde_json::from_str(&receipt.measure_ids).unwrap_or_default();
                let errors: Vec<FieldError> = fb
                    .measures_applied
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| !offered.contains(m))
                    .map(|(i, m)| {
                        FieldError::new(
                            format!("measures_applied[{i}]"),
                            "not_in_answer",
                            format!("measure {m} was not in this check's answer"),
                        )
                    })
                    .collect();
                if !errors.is_empty() {
                    return Err(ApiError::validation(errors));
                }
                let applied_json = serde_json::to_string(&applied).unwrap_or_else(|_| "[]".into());
                let existing: Option<FeedbackRow> = check_feedback::table
                    .find(id)
                    .select(FeedbackRow::as_select())
                    .first(conn)
                    .optional()?;
                if let Some(e) = existing {
                    let same_key = key.is_some() && e.idempotency_key == key;
                    let same_content = e.decision == fb.decision.as_str()
                        && e.measures_applied == applied_json
                        && e.note == note
                        && e.decided_at == decided_at;
                    if same_key || same_content {
                        return Ok((200u16, view(&e)));
                    }
                    return Err(ApiError::conflict(
                        "feedback_exists",
                        "this check already has a different feedback; one feedback per check",
                    ));
                }
                let now = db::now();
                diesel::insert_into(check_feedback::table)
                    .values((
                        check_feedback::check_id.eq(id),
                        check_feedback::decision.eq(fb.decision.as_str()),
                        check_feedback::measures_applied.eq(&applied_json),
                        check_feedback::note.eq(&note),
                        check_feedback::decided_at.eq(decided_at),
                        check_feedback::idempotency_key.eq(&key),
                        check_feedback::recorded_by.eq(user.id),
                        check_feedback::recorded_at.eq(now),
                    ))
                    .execute(conn)?;
                super::usage::add_feedback(conn, &receipt, &applied_json)?;
                let row: FeedbackRow = check_feedback::table
                    .find(id)
                    .select(FeedbackRow::as_select())
                    .first(conn)?;
                let v = view(&row);
                audit::append(
                    conn,
                    &user.actor(),
                    Entry::new("credit_check.feedback", "credit_check", id)
                        .region(Some(receipt.region_code.clone()))
                        .department(receipt.caller_department_id)
                        .after(&v),
                )?;
                Ok((201u16, v))
            })
        })
        .await?;
    Ok(if status == 201 {
        HttpResponse::Created().json(v)
    } else {
        HttpResponse::Ok().json(v)
    })
}
