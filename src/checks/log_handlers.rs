//! HTTP handlers of the receipt log (核查记录的只增日志): the public keys, the signed checkpoints,
//! consistency and inclusion proofs. The log itself is [`super::transparency`].

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::archive::{self, ArchiveRequest, ArchivedMonth};
use super::receipts::load_receipt;
use super::signing::{Checkpoint, ConsistencyProof, InclusionProof};
use super::transparency;
use crate::auth::{AuthUser, Role};
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;
use crate::state::AppState;

/// The public keys that sign receipts and checkpoints, as a JWK set (RFC 7517, RFC 8037
/// `OKP`/`Ed25519`), with each key's validity.
#[utoipa::path(
    operation_id = "receipt_keys_list",
    summary = "Receipt signing keys (JWK set)",
    description = "The Ed25519 public keys that sign check answers and receipt log checkpoints, \
                   current and retired, each with `kid`, `status` and its validity \
                   (`not_before`, `not_after`; null is open). Public.",
    tag = "receipt-log",
    responses((status = 200, description = "A JWK set", body = Object)),
)]
#[get("/receipt-keys")]
pub async fn receipt_keys(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(state.receipt_keys.jwks())
}

/// Sequences what waits and returns the latest checkpoint.
async fn sequence_now(state: &web::Data<AppState>) -> Result<Option<Checkpoint>, ApiError> {
    let st = state.clone();
    state
        .receipts
        .run_settled(&state.pool, move |settled| {
            transparency::sequence(settled.conn(), &st.receipt_keys)
        })
        .await
}

#[utoipa::path(
    operation_id = "receipt_checkpoints_latest",
    summary = "Latest signed checkpoint of the receipt log",
    description = "Appends the receipts not yet in the log, signs a checkpoint when the log grew, \
                   and returns the latest: size, RFC 9162 tree head, time, key id, signature. \
                   Public. 404 `not_found` while the log is empty.",
    tag = "receipt-log",
    responses(
        (status = 200, description = "The latest checkpoint", body = Checkpoint),
        (status = 404, description = "The log is empty", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/receipt-checkpoints/latest")]
pub async fn checkpoint_latest(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let cp = sequence_now(&state)
        .await?
        .ok_or_else(|| ApiError::not_found("receipt checkpoint"))?;
    Ok(HttpResponse::Ok().json(cp))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The older size (a checkpoint the verifier holds), ≥ 1 (RFC 6962's `first`).
    #[param(minimum = 1)]
    pub first: i64,
    /// The newer size, ≤ the log's size (RFC 6962's `second`).
    #[param(minimum = 1)]
    pub second: i64,
}

#[utoipa::path(
    operation_id = "receipt_checkpoints_consistency",
    summary = "Consistency proof between two log sizes",
    description = "RFC 9162 consistency proof from `first` to `second` receipts, given after \
                   checking the receipt rows themselves: every receipt up to `second` is read and hashed and \
                   compared with the hash the log recorded, so a receipt row deleted or altered \
                   in the database answers 409 `receipt_log_mismatch` naming it (receipts \
                   archived with their month excepted: the log's recorded hashes stand for \
                   them). Reads every receipt up to `second` (linear time, bounded memory); one \
                   such request at a time per instance, 503 `unavailable` while another runs. \
                   Public.",
    tag = "receipt-log",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProof),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A receipt row is missing or altered (`receipt_log_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Sizes out of range (`out_of_range`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Another consistency check is reading the receipts (`unavailable`); retry later", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/receipt-checkpoints/consistency")]
pub async fn consistency(
    state: web::Data<AppState>,
    query: crate::http::Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let proof = crate::db::run(&state.pool, move |c| {
        transparency::consistency_between(c, q.first, q.second)
    })
    .await?;
    Ok(HttpResponse::Ok().json(proof))
}

#[utoipa::path(
    operation_id = "receipt_checkpoints_get",
    summary = "A signed checkpoint by size",
    description = "The checkpoint signed when the log had `size` receipts. Public. 404 when no \
                   checkpoint has that size.",
    tag = "receipt-log",
    params(("size" = i64, Path, description = "Receipts in the log")),
    responses(
        (status = 200, description = "The checkpoint", body = Checkpoint),
        (status = 404, description = "No checkpoint of that size", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/receipt-checkpoints/{size}")]
pub async fn checkpoint_by_size(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let size = path.into_inner();
    let cp = crate::db::run(&state.pool, move |c| transparency::checkpoint_of(c, size))
        .await?
        .ok_or_else(|| ApiError::not_found("receipt checkpoint"))?;
    Ok(HttpResponse::Ok().json(cp))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The log size (a checkpoint's `tree_size`); default the latest checkpoint's.
    #[param(minimum = 1)]
    pub tree_size: Option<i64>,
}

#[utoipa::path(
    operation_id = "checks_receipt_inclusion",
    summary = "Inclusion proof of a receipt in the receipt log",
    description = "Sequences what waits, then returns the receipt's position in the log and \
                   its RFC 9162 audit path to the tree of `tree_size` receipts (default: the \
                   latest checkpoint). The receipt row is hashed and compared with the log: 409 \
                   `receipt_log_mismatch` when it was altered. For whoever may read the receipt.",
    tag = "credit-checks",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Check id"), InclusionQuery),
    responses(
        (status = 200, description = "The proof", body = InclusionProof),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such check, or not yours to see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The receipt row differs from the log (`receipt_log_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "tree_size does not include the receipt or exceeds the log (`out_of_range`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/credit-checks/{id}/inclusion")]
pub async fn inclusion(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    query: crate::http::Query<InclusionQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require(crate::auth::CHECKERS)?;
    let id = path.into_inner();
    let q = query.into_inner();
    if q.tree_size.is_some_and(|n| n < 1) {
        return Err(ApiError::invalid_field(
            "query.tree_size",
            "out_of_range",
            "tree_size must be at least 1",
        ));
    }
    let st = state.clone();
    let proof = state
        .receipts
        .run_settled(&state.pool, move |settled| {
            let row = load_receipt(settled, &user, id)?;
            transparency::inclusion_of(settled.conn(), &st.receipt_keys, &row, q.tree_size)
        })
        .await?;
    Ok(HttpResponse::Ok().json(proof))
}

#[utoipa::path(
    operation_id = "receipt_archives_create",
    summary = "Archive a month of receipts (归档; PostgreSQL)",
    description = "Retention: detaches an ended month's receipts from the service. In one \
                   transaction the month's partition of `credit_checks` is detached and renamed \
                   `credit_checks_archive_pYYYYMM` (the operator dumps and drops it), the receipt \
                   log records which of its leaves are archived (consistency proofs take their \
                   recorded hashes instead of reading rows), and the audit trail records it. \
                   The month's receipts then read as 404. Admins only. 409 \
                   `receipt_archive_needs_postgresql` on SQLite, `month_already_archived`, \
                   `receipts_pending` (retry), `receipts_not_in_log`; 422 `invalid_month`, \
                   `month_not_ended` (a month is archived a day after it ends at the earliest); \
                   404 when the month has no partition.",
    tag = "receipt-log",
    security(("bearer" = [])),
    request_body = ArchiveRequest,
    responses(
        (status = 201, description = "The month archived", body = ArchivedMonth),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The month has no receipt partition", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already archived, receipts pending, or SQLite", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a month, or not ended", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/receipt-archives")]
pub async fn archive_create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<ArchiveRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let month = archive::parse_month(&body.0.month)?;
    let st = state.clone();
    let out = state
        .receipts
        .run_settled(&state.pool, move |settled| {
            archive::archive_month(
                settled.conn(),
                &st.receipt_keys,
                &user.actor(),
                user.id,
                month,
                crate::db::now(),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(out))
}

#[utoipa::path(
    operation_id = "receipt_archives_list",
    summary = "Archived months of receipts",
    description = "Every month archived, oldest first: its table, how many receipts, when and by \
                   whom. Admins and bureaus.",
    tag = "receipt-log",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The archived months", body = [ArchivedMonth]),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or bureau", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/receipt-archives")]
pub async fn archive_list(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Bureau])?;
    let out = crate::db::run(&state.pool, |c| Ok(archive::list(c)?)).await?;
    Ok(HttpResponse::Ok().json(out))
}
