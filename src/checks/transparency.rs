//! The receipt log (核查记录日志): every receipt, in one global order, as an append-only RFC 9162
//! Merkle tree with signed checkpoints, inclusion and consistency proofs
//! (`docs/credit-checks.md`, "The receipt log").
//!
//! - **Sequencing.** One transaction at a time, across every instance on the database, appends
//!   the receipts not yet in the log: its first statement updates the log's state row, which
//!   takes SQLite's write lock up front and, on PostgreSQL, locks that row until commit (the
//!   serialisation point). On PostgreSQL a statement trigger on `credit_checks` records every
//!   inserting statement's receipts in `receipt_log_pending`, as runs of consecutive ids with
//!   their time span, in that statement (ids from a sequence commit out of order across
//!   writers and instances), and the sequencer reads the pending rows by id within their runs'
//!   span, which prunes the monthly partitions to those that hold them (runs over
//!   1,000 ids by id alone); on SQLite receipt ids rise in commit order (the receipt
//!   log, [`super::receipt_log`]), so the sequencer takes the rows of `credit_checks` above the
//!   last id it sequenced. Each leaf is the receipt's hash recomputed **from its row**.
//! - **Checkpoints.** The state row keeps the tree's right edge ([`Frontier`]), so each
//!   sequencing signs the new tree head in O(log n) without reading old leaves.
//! - **Proofs are checked against the rows.** Before a consistency proof is given, the receipt
//!   rows of the whole range are read and hashed and each is compared with the hash the log
//!   recorded, a chunk at a time ([`check_rows`]): a receipt row deleted or altered since it was
//!   sequenced makes the request fail (409 `receipt_log_mismatch`). Cost: one read and hash of
//!   every receipt up to the newer size (linear in time, bounded in memory, one such check at a
//!   time per process: 503 while another runs). The proof's nodes then come from the stored tree
//!   like an inclusion proof's (logarithmic).
//! - **Inclusion proofs are logarithmic:** they read kept subtree heads
//!   ([`super::log_tiles`], `receipt_log_tiles`) and a few hundred leaves.

use std::collections::HashMap;

use diesel::prelude::*;

use super::log_tiles::TreeStore;
use super::receipt_queue::ReceiptRow;
use super::signing::{Checkpoint, ConsistencyProof, Frontier, Hash, InclusionProof, ReceiptKeys};
use crate::db::{Backend, DbConnection};
use crate::error::ApiError;
use crate::schema::credit_checks;

diesel::table! {
    receipt_log_leaves (leaf_index) {
        leaf_index -> BigInt,
        check_id -> Integer,
        leaf_hash -> Text,
    }
}

diesel::table! {
    /// The receipt log's leaves whose receipts are archived, as runs `first_leaf..=last_leaf`.
    receipt_log_archived (first_leaf) {
        first_leaf -> BigInt,
        last_leaf -> BigInt,
        month -> Date,
    }
}

diesel::table! {
    receipt_log_tiles (height, tile_index) {
        height -> Integer,
        tile_index -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    /// PostgreSQL: receipts committed and not yet in the log, as runs of consecutive ids with the
    /// span of time they were checked in (written by `credit_checks`' statement trigger).
    receipt_log_pending (first_id) {
        first_id -> Integer,
        last_id -> Integer,
        first_at -> Timestamp,
        last_at -> Timestamp,
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
    let (ids, spans, runs): (Vec<i32>, Vec<Span>, Vec<PendingRun>) = match c.backend() {
        Backend::Sqlite => (
            credit_checks::table
                .filter(credit_checks::id.gt(last))
                .order(credit_checks::id)
                .select(credit_checks::id)
                .limit(SEQUENCE_CHUNK)
                .load(c)?,
            Vec::new(),
            Vec::new(),
        ),
        Backend::Postgres => {
            let runs: Vec<PendingRun> = receipt_log_pending::table
                .order(receipt_log_pending::first_id)
                .select(PendingRun::as_select())
                .limit(SEQUENCE_CHUNK)
                .load(c)?;
            let (ids, spans) = take_from_runs(&runs, SEQUENCE_CHUNK as usize);
            (ids, spans, runs)
        }
    };
    if ids.is_empty() {
        return Ok(false);
    }
    let hashes = leaf_hashes(c, &ids, &spans)?;
    // PostgreSQL's trigger marks whatever is inserted as pending: receipts already in the log
    // inserted again (a data-only restore) are dropped from the pending runs, not appended twice.
    let already: std::collections::HashSet<i32> = if c.backend() != Backend::Postgres {
        Default::default()
    } else {
        receipt_log_leaves::table
            .filter(receipt_log_leaves::check_id.eq_any(&ids))
            .select(receipt_log_leaves::check_id)
            .load::<i32>(c)?
            .into_iter()
            .collect()
    };
    let mut leaves = Vec::with_capacity(ids.len());
    let mut index = size;
    let mut done = Vec::with_capacity(ids.len());
    for id in &ids {
        if already.contains(id) {
            tracing::warn!(
                check_id = id,
                "a receipt already in the receipt log was pending again: not appended twice"
            );
            done.push(*id);
            continue;
        }
        let Some(&h) = hashes.get(id) else {
            // Pending, but its row is gone before it was sequenced: left pending, reported.
            tracing::error!(check_id = id, "a receipt waiting for the log has no row");
            continue;
        };
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
        settle_runs(c, &runs, &ids, &done)?;
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
    Ok(ids.len() as i64 == SEQUENCE_CHUNK && !done.is_empty())
}

/// A run of pending receipts (PostgreSQL): ids `first_id..=last_id`, checked within
/// `first_at..=last_at`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = receipt_log_pending)]
struct PendingRun {
    first_id: i32,
    last_id: i32,
    first_at: chrono::NaiveDateTime,
    last_at: chrono::NaiveDateTime,
}

/// When a pending receipt was checked, at the earliest and at the latest (its run's span), and
/// the number of ids in its run.
type Span = (chrono::NaiveDateTime, chrono::NaiveDateTime, i64);

/// Longest run whose span bounds a read of its rows. A run's span says nothing of where inside
/// it each id lies, and PostgreSQL may read the span by `checked_at`: a run of a few group
/// commits (a batch of 1,000 at most) is read within its span, a longer one (receipts inserted
/// by one large statement, the runs migration `000292` made) by id alone.
const BOUNDED_RUN: i64 = 1_000;

/// The first `max` pending ids of `runs` (in order), each with its run's span.
fn take_from_runs(runs: &[PendingRun], max: usize) -> (Vec<i32>, Vec<Span>) {
    let mut ids = Vec::new();
    let mut spans = Vec::new();
    for r in runs {
        for id in r.first_id..=r.last_id {
            if ids.len() == max {
                return (ids, spans);
            }
            ids.push(id);
            spans.push((r.first_at, r.last_at, i64::from(r.last_id - r.first_id) + 1));
        }
    }
    (ids, spans)
}

/// Removes what was sequenced (`done`, out of `taken`) from the pending runs it came from: a run
/// taken whole is deleted, a run taken in part starts after its last taken id, and an id taken
/// but not sequenced (its row is gone) stays pending as a run of its own, reported again by the
/// next sequencing.
fn settle_runs(
    c: &mut DbConnection,
    runs: &[PendingRun],
    taken: &[i32],
    done: &[i32],
) -> QueryResult<()> {
    use receipt_log_pending::dsl as p;
    let Some(&last_taken) = taken.last() else {
        return Ok(());
    };
    let done: std::collections::HashSet<i32> = done.iter().copied().collect();
    let mut kept: Vec<PendingRun> = Vec::new();
    let mut touched: Vec<i32> = Vec::new();
    for r in runs.iter().take_while(|r| r.first_id <= last_taken) {
        touched.push(r.first_id);
        let end = r.last_id.min(last_taken);
        kept.extend(
            (r.first_id..=end)
                .filter(|id| !done.contains(id))
                .map(|id| PendingRun {
                    first_id: id,
                    last_id: id,
                    ..r.clone()
                }),
        );
        if r.last_id > last_taken {
            kept.push(PendingRun {
                first_id: last_taken + 1,
                ..r.clone()
            });
        }
    }
    diesel::delete(p::receipt_log_pending.filter(p::first_id.eq_any(&touched))).execute(c)?;
    for r in kept {
        diesel::insert_into(p::receipt_log_pending)
            .values((
                p::first_id.eq(r.first_id),
                p::last_id.eq(r.last_id),
                p::first_at.eq(r.first_at),
                p::last_at.eq(r.last_at),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// The leaf hashes of the receipts `ids`, read and hashed a few hundred rows at a time so that a
/// large chunk never holds its rows in memory at once. `spans` (PostgreSQL, one per id: when it
/// was checked, at the earliest and latest) bound each read of ids from runs of at most
/// [`BOUNDED_RUN`] in time, so that it reads the month partitions that hold the rows instead of
/// every month's.
fn leaf_hashes(
    c: &mut DbConnection,
    ids: &[i32],
    spans: &[Span],
) -> QueryResult<HashMap<i32, Hash>> {
    let mut out = HashMap::with_capacity(ids.len());
    for (n, chunk) in ids.chunks(HASH_CHUNK).enumerate() {
        let (lo, hi) = (chunk.iter().min(), chunk.iter().max());
        let mut q = match (lo, hi) {
            // Ids close together (the usual case: a run of the log) are read as one range of the
            // primary key, one index descent per partition instead of one per id; the few other
            // rows in the range are read and left out.
            (Some(&lo), Some(&hi)) if i64::from(hi) - i64::from(lo) < 2 * chunk.len() as i64 => {
                credit_checks::table
                    .filter(credit_checks::id.between(lo, hi))
                    .into_boxed()
            }
            _ => credit_checks::table
                .filter(credit_checks::id.eq_any(chunk))
                .into_boxed(),
        };
        let within = spans
            .get(n * HASH_CHUNK..n * HASH_CHUNK + chunk.len())
            .filter(|w| w.iter().all(|s| s.2 <= BOUNDED_RUN));
        if let Some((from, to)) =
            within.and_then(|w| Some((w.iter().map(|s| s.0).min()?, w.iter().map(|s| s.1).max()?)))
        {
            q = q.filter(credit_checks::checked_at.between(from, to));
        }
        let rows: Vec<ReceiptRow> = q.select(ReceiptRow::as_select()).load(c)?;
        let mut wanted = chunk.to_vec();
        wanted.sort_unstable();
        out.extend(
            rows.iter()
                .filter(|r| wanted.binary_search(&r.id).is_ok())
                .map(|r| (r.id, r.hash())),
        );
    }
    Ok(out)
}

/// Rows read at once by [`leaf_hashes`].
const HASH_CHUNK: usize = 250;

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

/// The log's leaves `start..end` as recorded, with their receipt ids: every one there, in order.
fn recorded_leaves(
    c: &mut DbConnection,
    start: i64,
    end: i64,
) -> Result<Vec<(i32, Hash)>, ApiError> {
    let rows: Vec<(i64, i32, String)> = receipt_log_leaves::table
        .filter(receipt_log_leaves::leaf_index.ge(start))
        .filter(receipt_log_leaves::leaf_index.lt(end))
        .order(receipt_log_leaves::leaf_index)
        .select((
            receipt_log_leaves::leaf_index,
            receipt_log_leaves::check_id,
            receipt_log_leaves::leaf_hash,
        ))
        .load(c)?;
    let mut out = Vec::with_capacity(rows.len());
    for (k, (index, id, h)) in rows.into_iter().enumerate() {
        let leaf = start + k as i64;
        let h = super::signing::unhex(&h)
            .filter(|_| index == leaf)
            .ok_or_else(|| mismatch(format!("the log's leaf {leaf} is damaged or missing")))?;
        out.push((id, h));
    }
    if out.len() as i64 != end - start {
        return Err(mismatch(format!(
            "the log lacks leaves between {start} and {end}"
        )));
    }
    Ok(out)
}

fn mismatch(detail: String) -> ApiError {
    ApiError::conflict("receipt_log_mismatch", detail)
}

/// Compares the receipt rows of the log's first `upto` leaves with the hashes the log recorded, a
/// chunk of `READ_CHUNK` (2,000) leaves at a time (memory bounded whatever the log's size): a missing or
/// altered receipt row is an error naming it. Receipts archived with their month
/// ([`super::archive`]) are not read.
pub fn check_rows(c: &mut DbConnection, upto: i64) -> Result<(), ApiError> {
    let archived = archived_runs(c)?;
    let mut start = 0i64;
    while start < upto {
        let end = (start + READ_CHUNK as i64).min(upto);
        let recorded = recorded_leaves(c, start, end)?;
        let kept = |k: usize| !is_archived(&archived, start + k as i64);
        let ids: Vec<i32> = (recorded.iter().enumerate())
            .filter(|(k, _)| kept(*k))
            .map(|(_, (id, _))| *id)
            .collect();
        let hashes = leaf_hashes(c, &ids, &[])?;
        for (k, (id, h)) in recorded.iter().enumerate() {
            let leaf = start + k as i64;
            if !kept(k) {
                // Archived with its month: the log's recorded hash stands for it.
                continue;
            }
            let found = hashes.get(id).ok_or_else(|| {
                mismatch(format!(
                    "receipt {id} (log leaf {leaf}) is missing from the receipts"
                ))
            })?;
            if found != h {
                return Err(mismatch(format!(
                    "receipt {id} (log leaf {leaf}) was altered after it entered the log"
                )));
            }
        }
        start = end;
    }
    Ok(())
}

/// One row check ([`check_rows`]) at a time in this process: each reads every receipt, so
/// concurrent requests would multiply that cost for nothing.
static ROW_CHECK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The runs of archived leaves, in leaf order (empty on SQLite and until a month is archived).
pub fn archived_runs(conn: &mut DbConnection) -> QueryResult<Vec<(i64, i64)>> {
    receipt_log_archived::table
        .order(receipt_log_archived::first_leaf)
        .select((
            receipt_log_archived::first_leaf,
            receipt_log_archived::last_leaf,
        ))
        .load(conn)
}

/// Whether `leaf` lies in one of `runs` ([`archived_runs`], sorted).
pub fn is_archived(runs: &[(i64, i64)], leaf: i64) -> bool {
    let i = runs.partition_point(|r| r.0 <= leaf);
    i > 0 && runs[i - 1].1 >= leaf
}

/// What `credit-lists receipt audit` found.
#[derive(Debug, Default)]
pub struct AuditReport {
    pub leaves: u64,
    /// Leaves whose receipts were archived with their month (not compared with rows).
    pub archived: u64,
    pub checkpoints: u64,
    pub problems: Vec<String>,
}

/// The full offline audit: recomputes every leaf from its receipt row (but for receipts archived
/// with their month), every checkpoint's tree head from the recorded leaves, every kept subtree
/// head, and checks every checkpoint's signature with the published keys. Streams the log
/// `READ_CHUNK` (2,000) leaves at a time: its memory grows with the number of kept subtree heads
/// (one per 256 leaves), not with the leaves.
pub fn audit(
    c: &mut DbConnection,
    keys: &[super::signing::PublicKey],
) -> Result<AuditReport, String> {
    let mut report = AuditReport::default();
    let size = log_size(c).map_err(|e| e.to_string())?;
    let archived = archived_runs(c).map_err(|e| e.to_string())?;
    let cps = all_checkpoints(c).map_err(|e| e.to_string())?;
    for cp in &cps {
        report.checkpoints += 1;
        if let Err(e) = super::signing::verify_checkpoint(cp, keys) {
            report
                .problems
                .push(format!("checkpoint of size {}: {e}", cp.tree_size));
        }
    }
    let mut tiles = super::log_tiles::TileAudit::new(kept_tiles(c, &mut report.problems)?);
    let mut frontier = Frontier::default();
    let mut next_cp = cps.iter().peekable();
    let mut start = 0i64;
    while start < size {
        let end = (start + READ_CHUNK as i64).min(size);
        let recorded = recorded_leaves(c, start, end).map_err(|e| e.to_string())?;
        let kept = |k: usize| !is_archived(&archived, start + k as i64);
        let ids: Vec<i32> = (recorded.iter().enumerate())
            .filter(|(k, _)| kept(*k))
            .map(|(_, (id, _))| *id)
            .collect();
        let hashes = leaf_hashes(c, &ids, &[]).map_err(|e| e.to_string())?;
        for (k, (id, h)) in recorded.iter().enumerate() {
            let leaf = start + k as i64;
            if !kept(k) {
                report.archived += 1;
            } else {
                match hashes.get(id) {
                    None => report
                        .problems
                        .push(format!("receipt {id} (log leaf {leaf}) is missing")),
                    Some(found) if found != h => report.problems.push(format!(
                        "receipt {id} (log leaf {leaf}) differs from what the log recorded"
                    )),
                    Some(_) => {}
                }
            }
            // The log's recorded hash: a checkpoint is checked against what was signed.
            report.leaves += 1;
            tiles.push(*h);
            frontier.push(*h);
            while let Some(cp) = next_cp.next_if(|cp| cp.tree_size == report.leaves) {
                if hex::encode(frontier.root()) != cp.root_hash {
                    report.problems.push(format!(
                        "checkpoint of size {}: its tree head differs from the log's leaves",
                        cp.tree_size
                    ));
                }
            }
        }
        start = end;
    }
    report.problems.extend(tiles.finish());
    for cp in next_cp {
        report.problems.push(format!(
            "checkpoint of size {} is beyond the log's {} leaves",
            cp.tree_size, report.leaves
        ));
    }
    Ok(report)
}

/// The RFC 9162 consistency proof between the log's sizes `first` and `second`, after checking the
/// receipt rows themselves ([`check_rows`]): a row deleted or altered since it entered the log is
/// a 409 `receipt_log_mismatch`. Reads and hashes every receipt up to `second` (linear time,
/// memory bounded, one at a time: 503 while another runs); the proof's nodes come from the stored
/// tree ([`super::log_tiles::consistency_path`]).
pub fn consistency_between(
    c: &mut DbConnection,
    first: i64,
    second: i64,
) -> Result<ConsistencyProof, ApiError> {
    let size = log_size(c)?;
    if first < 1 || first > second.max(1) {
        return Err(ApiError::invalid_field(
            "query.first",
            "out_of_range",
            "first must be at least 1 and at most second",
        ));
    }
    if second < 1 || second > size {
        return Err(ApiError::invalid_field(
            "query.second",
            "out_of_range",
            format!("second must be at most the log's size ({size})"),
        ));
    }
    {
        let _only_one = match ROW_CHECK.try_lock() {
            Ok(guard) => guard,
            // A check that panicked left nothing to repair: the lock guards no data.
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                return Err(ApiError::unavailable(
                    "another consistency proof is being checked against every receipt; retry \
                     later",
                ))
            }
        };
        check_rows(c, second)?;
    }
    let proof =
        super::log_tiles::consistency_path(&mut StoredTree(c), first as u64, second as u64)?;
    Ok(ConsistencyProof {
        first: first as u64,
        second: second as u64,
        proof: proof.iter().map(hex::encode).collect(),
    })
}

/// The inclusion proof of a stored receipt in the log of `tree_size` receipts (default: the
/// latest checkpoint's), after sequencing what waits. The row is hashed and compared with its
/// leaf: 409 `receipt_log_mismatch` when it changed since it entered the log.
pub fn inclusion_of(
    c: &mut DbConnection,
    keys: &ReceiptKeys,
    row: &ReceiptRow,
    tree_size: Option<i64>,
) -> Result<InclusionProof, ApiError> {
    let id = row.id;
    let out_of_range =
        |detail: String| ApiError::invalid_field("query.tree_size", "out_of_range", detail);
    let latest = sequence(c, keys)?;
    let (index, recorded): (i64, String) = receipt_log_leaves::table
        .filter(receipt_log_leaves::check_id.eq(id))
        .select((
            receipt_log_leaves::leaf_index,
            receipt_log_leaves::leaf_hash,
        ))
        .first(c)
        .optional()?
        .ok_or_else(|| mismatch(format!("receipt {id} is not in the log")))?;
    if hex::encode(row.hash()) != recorded {
        return Err(mismatch(format!(
            "receipt {id} was altered after it entered the log"
        )));
    }
    let size = tree_size.unwrap_or_else(|| latest.map_or(0, |cp| cp.tree_size as i64));
    if size <= index || size > log_size(c)? {
        return Err(out_of_range(format!(
            "tree_size must include the receipt (more than {index}) and not exceed the \
             log"
        )));
    }
    let path = super::log_tiles::inclusion_path(&mut StoredTree(c), index as u64, size as u64)?;
    Ok(InclusionProof {
        check_id: id,
        leaf_index: index as u64,
        leaf_hash: recorded,
        tree_size: size as u64,
        audit_path: path.iter().map(hex::encode).collect(),
    })
}

/// The log's leaves and kept subtree heads as a [`TreeStore`]: an inclusion proof reads a few
/// thousand hashes however large the log (`log_tiles`).
struct StoredTree<'c>(&'c mut DbConnection);

impl TreeStore for StoredTree<'_> {
    type Error = ApiError;

    fn leaves(&mut self, start: u64, end: u64) -> Result<Vec<Hash>, ApiError> {
        Ok(recorded_leaves(self.0, start as i64, end as i64)?
            .into_iter()
            .map(|(_, h)| h)
            .collect())
    }

    fn tiles(&mut self, height: u32, first: u64, count: u64) -> Result<Vec<(u64, Hash)>, ApiError> {
        let rows: Vec<(i64, String)> = receipt_log_tiles::table
            .filter(receipt_log_tiles::height.eq(height as i32))
            .filter(receipt_log_tiles::tile_index.ge(first as i64))
            .filter(receipt_log_tiles::tile_index.lt((first + count) as i64))
            .select((receipt_log_tiles::tile_index, receipt_log_tiles::hash))
            .load(self.0)?;
        rows.into_iter()
            .map(|(i, h)| {
                super::signing::unhex(&h)
                    .map(|h| (i as u64, h))
                    .ok_or_else(|| mismatch(format!("the log's tile {height}/{i} is damaged")))
            })
            .collect()
    }

    fn keep_tile(&mut self, height: u32, index: u64, hash: &Hash) -> Result<(), ApiError> {
        // Another instance may have kept the same head meanwhile: it is the same hash.
        diesel::sql_query(
            "INSERT INTO receipt_log_tiles (height, tile_index, hash) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind::<diesel::sql_types::Integer, _>(height as i32)
        .bind::<diesel::sql_types::BigInt, _>(index as i64)
        .bind::<diesel::sql_types::Text, _>(hex::encode(hash))
        .execute(self.0)?;
        Ok(())
    }
}

/// Every kept subtree head, by (height, index); a row that is not one is a problem named.
fn kept_tiles(
    c: &mut DbConnection,
    problems: &mut Vec<String>,
) -> Result<std::collections::BTreeMap<(u32, u64), Hash>, String> {
    let tiles: Vec<(i32, i64, String)> = receipt_log_tiles::table
        .select((
            receipt_log_tiles::height,
            receipt_log_tiles::tile_index,
            receipt_log_tiles::hash,
        ))
        .load(c)
        .map_err(|e| e.to_string())?;
    let mut out = std::collections::BTreeMap::new();
    for (height, index, hash) in tiles {
        match (
            u32::try_from(height)
                .ok()
                .filter(|h| super::log_tiles::TILE_HEIGHTS.contains(h)),
            u64::try_from(index),
            super::signing::unhex(&hash),
        ) {
            (Some(h), Ok(i), Some(hash)) => {
                out.insert((h, i), hash);
            }
            (Some(_), Ok(_), None) => problems.push(format!("tile {height}/{index} is damaged")),
            _ => problems.push(format!("tile {height}/{index} has an impossible position")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_in_runs() {
        let runs = [(3, 5), (10, 10), (20, 29)];
        let inside: Vec<i64> = (0..32).filter(|&l| is_archived(&runs, l)).collect();
        let mut want: Vec<i64> = (3..=5).chain([10]).chain(20..=29).collect();
        want.sort_unstable();
        assert_eq!(inside, want);
        assert!(!is_archived(&[], 0));
    }

    fn run(first_id: i32, last_id: i32, minute: u32) -> PendingRun {
        let at = |m: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
                .unwrap()
                .and_hms_opt(10, m, 0)
                .unwrap()
        };
        PendingRun {
            first_id,
            last_id,
            first_at: at(minute),
            last_at: at(minute + 1),
        }
    }

    #[test]
    fn pending_runs_are_taken_in_order_up_to_the_limit_with_their_spans() {
        let runs = [run(5, 7, 0), run(9, 9, 2), run(20, 24, 4)];
        let (ids, spans) = take_from_runs(&runs, 6);
        assert_eq!(ids, vec![5, 6, 7, 9, 20, 21]);
        assert_eq!(spans.len(), 6);
        assert_eq!(spans[2], (runs[0].first_at, runs[0].last_at, 3));
        assert_eq!(spans[3], (runs[1].first_at, runs[1].last_at, 1));
        assert_eq!(spans[5], (runs[2].first_at, runs[2].last_at, 5));
        let (all, _) = take_from_runs(&runs, 100);
        assert_eq!(all.len(), 9);
        assert_eq!(take_from_runs(&[], 10).0, Vec::<i32>::new());
    }
}
