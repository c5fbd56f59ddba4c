//! Receipts (核查记录): the durable record of every check, written by one writer thread per
//! instance that groups concurrent checks into a single transaction (group commit).
//!
//! A check's response is sent only after the transaction holding its receipt committed (on SQLite
//! with `synchronous = FULL`, so it is on disk). Grouping turns N fsyncs into one when N checks
//! arrive together, and takes SQLite's single write lock once per group instead of once per check.
//! Receipts do not pass through the audit chain's head row (see `docs/credit-checks.md`): the
//! receipt table is itself the record of the check, and does not serialise with audited writes
//! beyond SQLite's own write lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;

use diesel::prelude::*;

use diesel::r2d2::ManageConnection;

use crate::db::{ConnectionManager, DatabaseUrl, DbConnection};
use crate::error::ApiError;

/// How many buckets receipts are spread over for the search by subject (see the migration
/// `receipt_subject_buckets`).
pub const SUBJECT_BUCKETS: i32 = 8;

/// A receipt's subject bucket: the last byte of the subject's lookup key modulo
/// [`SUBJECT_BUCKETS`]. Lookup keys are ASCII (a unified social credit code, or `id:` and a hex
/// digest), so this equals the migration's `unicode(substr(subject_key, -1)) % 8` (SQLite) and
/// `ascii(right(subject_key, 1)) % 8` (PostgreSQL) for the receipts it filled in.
pub fn subject_bucket(lookup_key: &str) -> i32 {
    lookup_key
        .as_bytes()
        .last()
        .map_or(0, |b| i32::from(*b) % SUBJECT_BUCKETS)
}

/// One receipt to store. `answer` is the JSON answer without `check_id`.
#[derive(Debug, Clone)]
pub struct NewReceipt {
    pub checked_at: chrono::NaiveDateTime,
    pub caller_user_id: i32,
    pub caller_department_id: Option<i32>,
    pub field: String,
    pub reference: Option<String>,
    pub purpose: Option<String>,
    pub advice: String,
    pub subject_key: String,
    /// [`subject_bucket`] of `subject_key`.
    pub subject_bucket: i32,
    pub subject_id: Option<i32>,
    pub region_code: String,
    pub measure_ids: String,
    pub answer: String,
}

type Reply = tokio::sync::oneshot::Sender<Result<Vec<i32>, String>>;

struct Job {
    rows: Vec<NewReceipt>,
    reply: Reply,
}

/// Most receipts one group commit writes.
const MAX_GROUP: usize = 4_000;

pub struct ReceiptWriter {
    tx: Mutex<mpsc::Sender<Job>>,
}

/// SQLite: how often at most the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl ReceiptWriter {
    /// Starts the writer thread with its own connection (never waiting behind checks for a pooled
    /// one); it ends when the writer is dropped.
    /// On SQLite a checkpointer thread is started too; the writer wakes it after its commits, and
    /// it ends with the writer.
    pub fn start(url: DatabaseUrl) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let checkpoints = matches!(url, DatabaseUrl::Sqlite(_)).then(|| {
            // One pending wake-up is enough: the checkpointer copies whatever has committed.
            let (wake, woken) = mpsc::sync_channel::<()>(1);
            let manager = ConnectionManager::new(url.clone());
            std::thread::Builder::new()
                .name("wal-checkpoint".into())
                .spawn(move || checkpointer_loop(manager, woken))
                .expect("the checkpointer thread starts");
            wake
        });
        std::thread::Builder::new()
            .name("receipt-writer".into())
            .spawn(move || writer_loop(ConnectionManager::new(url), rx, checkpoints))
            .expect("the receipt writer thread starts");
        ReceiptWriter { tx: Mutex::new(tx) }
    }

    /// Stores `rows` durably and returns their ids in order, once their group has committed.
    /// Awaits without occupying a thread.
    pub async fn write(&self, rows: Vec<NewReceipt>) -> Result<Vec<i32>, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .lock()
            .map_err(|_| ApiError::internal("receipt writer lock poisoned"))?
            .send(Job { rows, reply })
            .map_err(|_| ApiError::unavailable("the receipt writer has stopped"))?;
        match answer.await {
            Ok(Ok(ids)) => Ok(ids),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "writing check receipts failed");
                Err(ApiError::unavailable(
                    "the check could not be recorded; nothing was answered, retry",
                ))
            }
            Err(_) => Err(ApiError::unavailable("the receipt writer has stopped")),
        }
    }
}

/// SQLite only. A commit appends the pages it changed to the write-ahead log; a checkpoint copies
/// them back into the database file and syncs it. By default the connection whose commit makes the
/// log pass 1,000 pages does that copy itself, before its next transaction, so every few hundred
/// receipts one group commit waited for a checkpoint. This thread runs a `PASSIVE` checkpoint
/// (it waits for no one and blocks no one) from its own connection after the writer's commits, at
/// most once every [`CHECKPOINT_EVERY`] and never while nothing is written, so the frames are
/// mostly copied before any commit reaches the limit; the writer's own automatic checkpoint stays
/// as it was and finds little left to copy, and it is what lets the next transaction start the log
/// over from its beginning. Ends when the writer does (its sender is dropped).
fn checkpointer_loop(manager: ConnectionManager, commits: mpsc::Receiver<()>) {
    use diesel::connection::SimpleConnection;
    let mut conn: Option<DbConnection> = None;
    while commits.recv().is_ok() {
        if let Some(DbConnection::Sqlite(c)) = connected(&manager, &mut conn, "checkpointer") {
            if let Err(e) = c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                tracing::debug!(error = %e, "background checkpoint failed; retrying");
                conn = None;
            }
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
}

/// The thread's connection, made first when there is none (after an error the thread drops it, so
/// the next use connects afresh).
fn connected<'a>(
    manager: &ConnectionManager,
    slot: &'a mut Option<DbConnection>,
    thread: &str,
) -> Option<&'a mut DbConnection> {
    if slot.is_none() {
        *slot = manager
            .connect()
            .map_err(|e| tracing::error!(error = %e, "the receipt {thread} cannot connect"))
            .ok();
    }
    slot.as_mut()
}

/// Group commits made (counted when committed), for `/metrics`.
pub static COMMITS: AtomicU64 = AtomicU64::new(0);
/// Receipts written, for `/metrics`.
pub static RECEIPTS: AtomicU64 = AtomicU64::new(0);

fn writer_loop(
    manager: ConnectionManager,
    rx: mpsc::Receiver<Job>,
    checkpoints: Option<mpsc::SyncSender<()>>,
) {
    let mut conn: Option<DbConnection> = None;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let mut n = jobs[0].rows.len();
        while n < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => {
                    n += j.rows.len();
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let fresh = conn.is_none();
        let result = match connected(&manager, &mut conn, "writer") {
            Some(c) => {
                if let (true, DbConnection::Sqlite(s)) = (fresh, &mut *c) {
                    // The receipt indexes are written at several places (subject buckets): a
                    // larger page cache than SQLite's 2 MB default keeps their inner pages in
                    // memory.
                    use diesel::connection::SimpleConnection;
                    if let Err(e) = s.batch_execute("PRAGMA cache_size = -65536;") {
                        tracing::warn!(error = %e, "receipt writer keeps the default page cache");
                    }
                }
                insert_all(c, &jobs).map_err(|e| e.to_string())
            }
            None => Err("no database connection".to_string()),
        };
        if result.is_err() {
            // Reconnect for the next group (the connection may be broken).
            conn = None;
        }
        match result {
            Ok(mut ids) => {
                if let Some(wake) = &checkpoints {
                    // Full means a wake-up is already pending.
                    let _ = wake.try_send(());
                }
                COMMITS.fetch_add(1, Ordering::Relaxed);
                RECEIPTS.fetch_add(ids.len() as u64, Ordering::Relaxed);
                for job in jobs.into_iter().rev() {
                    let mine = ids.split_off(ids.len() - job.rows.len());
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Rows per multi-row `INSERT` on PostgreSQL (13 parameters each, well under its 65,535).
const ROWS_PER_INSERT: usize = 500;

#[derive(QueryableByName)]
struct NewId {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
}

/// Inserts a group's receipts in one transaction and returns their ids in row order.
///
/// SQLite: one single-row `INSERT … RETURNING id` per receipt, a statement prepared once per
/// connection and kept in diesel's cache. Each is a local call with no round trip, and a
/// single-row insert needs no statement journal (a multi-row one makes SQLite copy every page it
/// changes to a sub-journal first, in case the statement has to be undone half way).
///
/// PostgreSQL: one multi-row `INSERT … RETURNING id` per 500 receipts, since there every statement
/// is a round trip (diesel's batch insert is not available through the multi-backend connection).
fn insert_all(conn: &mut DbConnection, jobs: &[Job]) -> QueryResult<Vec<i32>> {
    let rows: Vec<&NewReceipt> = jobs.iter().flat_map(|j| j.rows.iter()).collect();
    let postgres = conn.backend() == crate::db::Backend::Postgres;
    conn.transaction(|c| {
        if postgres {
            insert_chunks(c, &rows)
        } else {
            rows.iter().map(|r| insert_one(c, r)).collect()
        }
    })
}

fn insert_one(c: &mut DbConnection, r: &NewReceipt) -> QueryResult<i32> {
    use crate::schema::credit_checks::dsl as cc;
    diesel::insert_into(cc::credit_checks)
        .values((
            cc::checked_at.eq(r.checked_at),
            cc::caller_user_id.eq(r.caller_user_id),
            cc::caller_department_id.eq(r.caller_department_id),
            cc::field.eq(&r.field),
            cc::reference.eq(&r.reference),
            cc::purpose.eq(&r.purpose),
            cc::advice.eq(&r.advice),
            cc::subject_key.eq(&r.subject_key),
            cc::subject_bucket.eq(r.subject_bucket),
            cc::subject_id.eq(r.subject_id),
            cc::region_code.eq(&r.region_code),
            cc::measure_ids.eq(&r.measure_ids),
            cc::answer.eq(&r.answer),
        ))
        .returning(cc::id)
        .get_result(c)
}

fn insert_chunks(c: &mut DbConnection, rows: &[&NewReceipt]) -> QueryResult<Vec<i32>> {
    use diesel::sql_types::{Integer, Nullable, Text, Timestamp};
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO credit_checks (checked_at, caller_user_id, caller_department_id, \
             field, reference, purpose, advice, subject_key, subject_id, region_code, \
             measure_ids, answer, subject_bucket) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for j in 1..=13 {
                if j > 1 {
                    sql.push(',');
                }
                sql.push_str(&format!("${}", i * 13 + j));
            }
            sql.push(')');
        }
        sql.push_str(" RETURNING id");
        let mut q = diesel::sql_query(sql).into_boxed::<crate::db::MultiBackend>();
        for r in chunk {
            q = q
                .bind::<Timestamp, _>(r.checked_at)
                .bind::<Integer, _>(r.caller_user_id)
                .bind::<Nullable<Integer>, _>(r.caller_department_id)
                .bind::<Text, _>(&r.field)
                .bind::<Nullable<Text>, _>(&r.reference)
                .bind::<Nullable<Text>, _>(&r.purpose)
                .bind::<Text, _>(&r.advice)
                .bind::<Text, _>(&r.subject_key)
                .bind::<Nullable<Integer>, _>(r.subject_id)
                .bind::<Text, _>(&r.region_code)
                .bind::<Text, _>(&r.measure_ids)
                .bind::<Text, _>(&r.answer)
                .bind::<Integer, _>(r.subject_bucket);
        }
        let mut got: Vec<i32> = q.load::<NewId>(c)?.into_iter().map(|n| n.id).collect();
        // RETURNING promises no order; one transaction's ids rise in row order.
        got.sort_unstable();
        ids.extend(got);
    }
    Ok(ids)
}
