//! The receipt log (核查记录日志): every receipt, in one global order, as an append-only RFC 9162
//! Merkle tree with signed checkpoints, inclusion and consistency proofs
//! (`docs/credit-checks.md`, "The receipt log").
//!
//! - **Sequencing.** One transaction at a time, across every instance on the database, appends
//!   the receipts not yet in the log: its first statement updates the log's state row, which
//!   takes SQLite's write lock up front and, on PostgreSQL, locks that row until commit (the
//!   serialisation point). PostgreSQL's receipt writer records each receipt's id in
//!   `receipt_log_pending` in the receipt's own transaction (ids from a sequence commit out of
//!   order across instances); on SQLite receipt ids rise in commit order (the receipt log,
//!   [`super::receipt_log`]), so the sequencer takes the rows of `credit_checks` above the last
//!   id it sequenced. Each leaf is the receipt's hash recomputed **from its row**.
//! - **Checkpoints.** The state row keeps the tree's right edge ([`Frontier`]), so each
//!   sequencing signs the new tree head in O(log n) without reading old leaves.
//! - **Proofs are checked against the rows.** A consistency proof is computed from the leaf
//!   hashes recomputed from the receipt rows of the whole range, after comparing each with the
//!   hash the log recorded: a receipt row deleted or altered since it was sequenced makes the
//!   request fail (409 `receipt_log_mismatch`). Cost: one read and hash of every receipt up to
//!   the newer size (linear; see the documentation for figures).

use std::collections::HashMap;

use actix_web::{get, web, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::receipt_hash::receipt_hash;
use super::receipts::ReceiptRow;
use super::signing::{
    consistency_proof, inclusion_path, Checkpoint, ConsistencyProof, Frontier, Hash,
    InclusionProof, ReceiptKeys,
};
use crate::auth::AuthUser;
use crate::db::{Backend, DbConnection};
use crate::error::{ApiError, Problem};
use crate::schema::credit_checks;
use crate::state::AppState;

diesel::table! {
    receipt_log_leaves (leaf_index) {
        leaf_index -> BigInt,
        check_id -> Integer,
        leaf_hash -> Text,
    }
}

diesel::table! {
    receipt_log_pending (check_id) {
        check_id -> Integer,
    }
}

diesel::table! {
    receipt_log_state (id) {
        id -> Integer,
        size -> BigInt,
        last_check_id -> Integer,
        frontier -> Text,
    }
}

diesel::table! {
    receipt_checkpoints (tree_size) {
        tree_size -> BigInt,
        root_hash -> Text,
        signed_at -> Text,
        kid -> Text,
        signature -> Text,
    }
}

/// Receipts sequenced per transaction (a large backlog takes several, each with a checkpoint).
const SEQUENCE_CHUNK: i64 = 5_000;
/// Receipt rows read per query when hashing a range.
const READ_CHUNK: usize = 2_000;

/// PostgreSQL's receipt writer: records receipts as waiting to be sequenced, in their own
/// transaction (one statement for the group).
pub fn record_pending(conn: &mut diesel::PgConnection, ids: &[i32]) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO receipt_log_pending (check_id) SELECT unnest($1::integer[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(ids)
    .execute(conn)?;
    Ok(())
}

/// Appends every receipt not yet in the log and signs a checkpoint of the new size. Returns
/// the latest checkpoint (`None`: the log is empty). On SQLite, call it on a settled connection
/// so this instance's receipts are in the table.
pub fn sequence(
    conn: &mut DbConnection,
    keys: &ReceiptKeys,
) -> Result<Option<Checkpoint>, ApiError> {
    loop {
        let more = conn.transaction::<_, ApiError, _>(|c| sequence_chunk(c, keys))?;
        if !more {
            return latest(conn);
        }
    }
}

/// One transaction of [`sequence`]; true when there may be more to sequence.
fn sequence_chunk(c: &mut DbConnection, keys: &ReceiptKeys) -> Result<bool, ApiError> {
    use receipt_log_state::dsl as st;
    // The serialisation point (see the module's documentation).
    diesel::sql_query("UPDATE receipt_log_state SET size = size WHERE id = 1").execute(c)?;
    let (size, last, frontier): (i64, i32, String) = st::receipt_log_state
        .filter(st::id.eq(1))
        .select((st::size, st::last_check_id, st::frontier))
        .first(c)?;
    let mut frontier: Frontier = serde_json::from_str(&frontier)
        .map_err(|e| ApiError::internal(format!("receipt log state: {e}")))?;
    let ids: Vec<i32> = match c.backend() {
        Backend::Sqlite => credit_checks::table
            .filter(credit_checks::id.gt(last))
            .order(credit_checks::id)
            .select(credit_checks::id)
            .limit(SEQUENCE_CHUNK)
            .load(c)?,
        Backend::Postgres => receipt_log_pending::table
            .order(receipt_log_pending::check_id)
            .select(receipt_log_pending::check_id)
            .limit(SEQUENCE_CHUNK)
            .load(c)?,
    };
    if ids.is_empty() {
        return Ok(false);
    }
    let rows = load_rows(c, &ids)?;
    let mut leaves = Vec::with_capacity(ids.len());
    let mut index = size;
    let mut done = Vec::with_capacity(ids.len());
    for id in &ids {
        let Some(row) = rows.get(id) else {
            // Pending, but its row is gone before it was sequenced: left pending, reported.
            tracing::error!(check_id = id, "a receipt waiting for the log has no row");
            continue;
        };
        let h = receipt_hash(row);
        frontier.push(h);
        // Numbers and hex only (made here): safe to write into the statement.
        leaves.push(format!("({index},{id},'{}')", hex::encode(h)));
        done.push(*id);
        index += 1;
    }
    // One multi-row statement per 1,000 leaves (diesel's batch insert is not available through
    // the multi-backend connection).
    for chunk in leaves.chunks(1_000) {
        diesel::sql_query(format!(
            "INSERT INTO receipt_log_leaves (leaf_index, check_id, leaf_hash) VALUES {}",
            chunk.join(",")
        ))
        .execute(c)?;
    }
    if c.backend() == Backend::Postgres {
        diesel::delete(
            receipt_log_pending::table.filter(receipt_log_pending::check_id.eq_any(&done)),
        )
        .execute(c)?;
    }
    let max_id = ids.iter().copied().max().unwrap_or(last).max(last);
    diesel::update(st::receipt_log_state.filter(st::id.eq(1)))
        .set((
            st::size.eq(index),
            st::last_check_id.eq(max_id),
            st::frontier.eq(serde_json::to_string(&frontier).unwrap_or_default()),
        ))
        .execute(c)?;
    if index > size {
        let cp = keys.sign_checkpoint(index as u64, &frontier.root());
        diesel::insert_into(receipt_checkpoints::table)
            .values((
                receipt_checkpoints::tree_size.eq(cp.tree_size as i64),
                receipt_checkpoints::root_hash.eq(&cp.root_hash),
                receipt_checkpoints::signed_at.eq(&cp.signed_at),
                receipt_checkpoints::kid.eq(&cp.kid),
                receipt_checkpoints::signature.eq(&cp.signature),
            ))
            .execute(c)?;
    }
    Ok(ids.len() as i64 == SEQUENCE_CHUNK)
}

fn load_rows(c: &mut DbConnection, ids: &[i32]) -> QueryResult<HashMap<i32, ReceiptRow>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(READ_CHUNK) {
        let rows: Vec<ReceiptRow> = credit_checks::table
            .filter(credit_checks::id.eq_any(chunk))
            .select(ReceiptRow::as_select())
            .load(c)?;
        out.extend(rows.into_iter().map(|r| (r.id, r)));
    }
    Ok(out)
}

type CheckpointRow = (i64, String, String, String, String);

fn to_checkpoint(r: CheckpointRow) -> Checkpoint {
    Checkpoint {
        tree_size: r.0 as u64,
        root_hash: r.1,
        signed_at: r.2,
        kid: r.3,
        signature: r.4,
    }
}

fn checkpoint_columns() -> (
    receipt_checkpoints::tree_size,
    receipt_checkpoints::root_hash,
    receipt_checkpoints::signed_at,
    receipt_checkpoints::kid,
    receipt_checkpoints::signature,
) {
    (
        receipt_checkpoints::tree_size,
        receipt_checkpoints::root_hash,
        receipt_checkpoints::signed_at,
        receipt_checkpoints::kid,
        receipt_checkpoints::signature,
    )
}

/// The latest checkpoint.
pub fn latest(c: &mut DbConnection) -> Result<Option<Checkpoint>, ApiError> {
    Ok(receipt_checkpoints::table
        .order(receipt_checkpoints::tree_size.desc())
        .select(checkpoint_columns())
        .first::<CheckpointRow>(c)
        .optional()?
        .map(to_checkpoint))
}

/// Every checkpoint, by size.
pub fn all_checkpoints(c: &mut DbConnection) -> QueryResult<Vec<Checkpoint>> {
    Ok(receipt_checkpoints::table
        .order(receipt_checkpoints::tree_size)
        .select(checkpoint_columns())
        .load::<CheckpointRow>(c)?
        .into_iter()
        .map(to_checkpoint)
        .collect())
}

/// The checkpoint of exactly `size` receipts.
pub fn checkpoint_of(c: &mut DbConnection, size: i64) -> Result<Option<Checkpoint>, ApiError> {
    Ok(receipt_checkpoints::table
        .find(size)
        .select(checkpoint_columns())
        .first::<CheckpointRow>(c)
        .optional()?
        .map(to_checkpoint))
}

fn log_size(c: &mut DbConnection) -> QueryResult<i64> {
    receipt_log_state::table
        .filter(receipt_log_state::id.eq(1))
        .select(receipt_log_state::size)
        .first(c)
}

/// The log's first `upto` leaves as recorded, with their receipt ids.
fn recorded_leaves(c: &mut DbConnection, upto: i64) -> Result<Vec<(i32, Hash)>, ApiError> {
    let rows: Vec<(i64, i32, String)> = receipt_log_leaves::table
        .filter(receipt_log_leaves::leaf_index.lt(upto))
        .order(receipt_log_leaves::leaf_index)
        .select((
            receipt_log_leaves::leaf_index,
            receipt_log_leaves::check_id,
            receipt_log_leaves::leaf_hash,
        ))
        .load(c)?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, (index, id, h)) in rows.into_iter().enumerate() {
        let h = super::signing::unhex(&h)
            .filter(|_| index == i as i64)
            .ok_or_else(|| mismatch(format!("the log's leaf {i} is damaged or missing")))?;
        out.push((id, h));
    }
    if out.len() as i64 != upto {
        return Err(mismatch(format!(
            "the log records {} leaves, not {upto}",
            out.len()
        )));
    }
    Ok(out)
}

fn mismatch(detail: String) -> ApiError {
    ApiError::conflict("receipt_log_mismatch", detail)
}

/// The first `upto` leaves recomputed from the receipt rows, each compared with the hash the
/// log recorded: a missing or altered receipt row is an error naming it.
pub fn leaves_from_rows(c: &mut DbConnection, upto: i64) -> Result<Vec<Hash>, ApiError> {
    let recorded = recorded_leaves(c, upto)?;
    let mut out = Vec::with_capacity(recorded.len());
    for (n, chunk) in recorded.chunks(READ_CHUNK).enumerate() {
        let ids: Vec<i32> = chunk.iter().map(|(id, _)| *id).collect();
        let rows = load_rows(c, &ids)?;
        for (k, (id, h)) in chunk.iter().enumerate() {
            let leaf = n * READ_CHUNK + k;
            let row = rows.get(id).ok_or_else(|| {
                mismatch(format!(
                    "receipt {id} (log leaf {leaf}) is missing from the receipts"
                ))
            })?;
            if receipt_hash(row) != *h {
                return Err(mismatch(format!(
                    "receipt {id} (log leaf {leaf}) was altered after it entered the log"
                )));
            }
            out.push(*h);
        }
    }
    Ok(out)
}

/// What `credit-lists receipt audit` found.
#[derive(Debug, Default)]
pub struct AuditReport {
    pub leaves: u64,
    pub checkpoints: u64,
    pub problems: Vec<String>,
}

/// The full offline audit: recomputes every leaf from its receipt row, every checkpoint's tree
/// head from those, and checks every checkpoint's signature with the published keys.
pub fn audit(
    c: &mut DbConnection,
    keys: &[super::signing::PublicKey],
) -> Result<AuditReport, String> {
    let mut report = AuditReport::default();
    let size = log_size(c).map_err(|e| e.to_string())?;
    let recorded = recorded_leaves(c, size).map_err(|e| e.to_string())?;
    report.leaves = recorded.len() as u64;
    let mut leaves = Vec::with_capacity(recorded.len());
    for (n, chunk) in recorded.chunks(READ_CHUNK).enumerate() {
        let ids: Vec<i32> = chunk.iter().map(|(id, _)| *id).collect();
        let rows = load_rows(c, &ids).map_err(|e| e.to_string())?;
        for (k, (id, h)) in chunk.iter().enumerate() {
            let leaf = n * READ_CHUNK + k;
            match rows.get(id) {
                None => report
                    .problems
                    .push(format!("receipt {id} (log leaf {leaf}) is missing")),
                Some(r) if receipt_hash(r) != *h => report.problems.push(format!(
                    "receipt {id} (log leaf {leaf}) differs from what the log recorded"
                )),
                Some(_) => {}
            }
            // The log's recorded hash: a checkpoint is checked against what was signed.
            leaves.push(*h);
        }
    }
    let cps = all_checkpoints(c).map_err(|e| e.to_string())?;
    let mut frontier = Frontier::default();
    let mut at = 0usize;
    for cp in &cps {
        report.checkpoints += 1;
        if let Err(e) = super::signing::verify_checkpoint(cp, keys) {
            report
                .problems
                .push(format!("checkpoint of size {}: {e}", cp.tree_size));
        }
        let n = cp.tree_size as usize;
        if n > leaves.len() {
            report.problems.push(format!(
                "checkpoint of size {n} is beyond the log's {} leaves",
                leaves.len()
            ));
            continue;
        }
        while at < n {
            frontier.push(leaves[at]);
            at += 1;
        }
        if hex::encode(frontier.root()) != cp.root_hash {
            report.problems.push(format!(
                "checkpoint of size {n}: its tree head differs from the log's leaves"
            ));
        }
    }
    Ok(report)
}

// ---------------------------------------------------------------- HTTP

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
            sequence(settled.conn(), &st.receipt_keys)
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
    description = "RFC 9162 consistency proof from `first` to `second` receipts. Computed from the \
                   receipt rows themselves: every receipt up to `to` is read and hashed and \
                   compared with the hash the log recorded, so a receipt row deleted or altered \
                   in the database answers 409 `receipt_log_mismatch` naming it. Reads every \
                   receipt up to `second` (linear cost). Public.",
    tag = "receipt-log",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProof),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A receipt row is missing or altered (`receipt_log_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Sizes out of range (`out_of_range`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/receipt-checkpoints/consistency")]
pub async fn consistency(
    state: web::Data<AppState>,
    query: crate::http::Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let proof = crate::db::run(&state.pool, move |c| {
        let size = log_size(c)?;
        if q.first < 1 || q.first > q.second.max(1) {
            return Err(ApiError::invalid_field(
                "query.first",
                "out_of_range",
                "first must be at least 1 and at most second",
            ));
        }
        if q.second < 1 || q.second > size {
            return Err(ApiError::invalid_field(
                "query.second",
                "out_of_range",
                format!("second must be at most the log's size ({size})"),
            ));
        }
        let leaves = leaves_from_rows(c, q.second)?;
        Ok(ConsistencyProof {
            first: q.first as u64,
            second: q.second as u64,
            proof: consistency_proof(q.first as usize, &leaves)
                .iter()
                .map(hex::encode)
                .collect(),
        })
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
    let cp = crate::db::run(&state.pool, move |c| checkpoint_of(c, size))
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
    user.require(super::handlers::CHECKERS)?;
    let id = path.into_inner();
    let q = query.into_inner();
    let out_of_range =
        |detail: String| ApiError::invalid_field("query.tree_size", "out_of_range", detail);
    if q.tree_size.is_some_and(|n| n < 1) {
        return Err(out_of_range("tree_size must be at least 1".into()));
    }
    let st = state.clone();
    let proof = state
        .receipts
        .run_settled(&state.pool, move |settled| {
            let row = super::receipts::load_receipt(settled, &user, id)?;
            let c = settled.conn();
            let latest = sequence(c, &st.receipt_keys)?;
            let (index, recorded): (i64, String) = receipt_log_leaves::table
                .filter(receipt_log_leaves::check_id.eq(id))
                .select((
                    receipt_log_leaves::leaf_index,
                    receipt_log_leaves::leaf_hash,
                ))
                .first(c)
                .optional()?
                .ok_or_else(|| mismatch(format!("receipt {id} is not in the log")))?;
            if hex::encode(receipt_hash(&row)) != recorded {
                return Err(mismatch(format!(
                    "receipt {id} was altered after it entered the log"
                )));
            }
            let size = q
                .tree_size
                .unwrap_or_else(|| latest.map_or(0, |cp| cp.tree_size as i64));
            if size <= index || size > log_size(c)? {
                return Err(out_of_range(format!(
                    "tree_size must include the receipt (more than {index}) and not exceed the \
                     log"
                )));
            }
            let leaves: Vec<Hash> = recorded_leaves(c, size)?
                .into_iter()
                .map(|(_, h)| h)
                .collect();
            Ok(InclusionProof {
                check_id: id,
                leaf_index: index as u64,
                leaf_hash: recorded,
                tree_size: size as u64,
                audit_path: inclusion_path(index as usize, &leaves)
                    .iter()
                    .map(hex::encode)
                    .collect(),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(proof))
}
