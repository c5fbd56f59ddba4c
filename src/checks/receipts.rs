//! Receipts (核查记录): the durable record of every check, written by writer threads (one per
//! instance on SQLite, `PG_WRITERS` on PostgreSQL) that group concurrent checks into one write
//! (group commit).
//!
//! A check's response is sent only after its receipt is durable. On PostgreSQL the group is one
//! transaction into `credit_checks`. On SQLite the group is one transaction into the receipt log,
//! a second SQLite database beside the main one, and a folder thread moves receipts into
//! `credit_checks` in batches (see [`super::receipt_log`]). Queries that read `credit_checks` take
//! a [`Settled`] connection, which only [`ReceiptWriter::run_settled`] and
//! [`ReceiptWriter::settled`] hand out, once every receipt this instance acknowledged is in the
//! table. Grouping turns N syncs into one when N checks arrive together.
//! Receipts do not pass through the audit chain's head row (see `docs/credit-checks.md`): the
//! receipt table is itself the record of the check, and does not serialise with audited writes
//! beyond SQLite's own write lock.

use crate::auth::AuthUser;
use crate::auth::Role;
use crate::schema::credit_checks;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;

use diesel::r2d2::ManageConnection;

use super::receipt_queue::{answer_group, gather, Committed, Job, Lazy, NewReceipt};
use super::signing::ReceiptKeys;
use crate::db::{ConnectionManager, DatabaseUrl, DbConnection};
use crate::error::ApiError;

pub struct ReceiptWriter {
    tx: Mutex<mpsc::Sender<Job>>,
    /// SQLite: the receipt log's state shared with its threads.
    log: Option<Arc<super::receipt_log::LogShared>>,
}

/// A database connection on which every receipt this instance acknowledged is in `credit_checks`
/// (on SQLite, folded from the receipt log). Functions that read `credit_checks` take one, so a
/// reader that did not wait for the receipts does not compile. Only the receipt writer makes one.
/// It is a connection otherwise (it dereferences to [`DbConnection`]); [`Settled::write_tx`] keeps
/// it settled inside a write transaction.
pub struct Settled<'c>(&'c mut DbConnection);

impl Settled<'_> {
    /// The connection, for diesel's query methods.
    pub fn conn(&mut self) -> &mut DbConnection {
        self.0
    }

    /// [`crate::db::write_tx`] on this connection, still settled inside.
    pub fn write_tx<T, F>(&mut self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Settled<'_>) -> Result<T, ApiError>,
    {
        crate::db::write_tx(self.0, |c| f(&mut Settled(c)))
    }
}

impl std::ops::Deref for Settled<'_> {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        self.0
    }
}

impl std::ops::DerefMut for Settled<'_> {
    fn deref_mut(&mut self) -> &mut DbConnection {
        self.0
    }
}

/// PostgreSQL: receipt writer threads per instance, each with its own connection. A group's
/// commit waits for PostgreSQL's WAL flush and four round trips while the CPU is partly idle
/// (performance.md, fifteenth round): while one writer waits, the next commits the checks that
/// arrived meanwhile, and PostgreSQL flushes concurrent commits together. Ids are then not in
/// commit order within an instance, as they already were not across instances (the receipt log
/// sequences what is committed, whatever its id). Two gave the most checks a second on the
/// benchmark machine (2 cores): about 12,500–12,900 against 11,400 with three and 10,000 with
/// four (performance.md, sixteenth round). `CREDIT_LISTS_RECEIPT_WRITERS` (1–8) changes it
/// (docs/operations.md).
const PG_WRITERS: usize = 2;

fn pg_writers() -> usize {
    std::env::var("CREDIT_LISTS_RECEIPT_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=8).contains(n))
        .unwrap_or(PG_WRITERS)
}

/// How long a reader of receipts waits at most for the folder (SQLite) before answering 503.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

impl ReceiptWriter {
    /// PostgreSQL: starts `PG_WRITERS` writer threads, each with its own connection (never
    /// waiting behind checks for a pooled one). SQLite: opens the receipt log, folds what it holds into the table, and
    /// starts its writer and folder (see [`super::receipt_log`]). Either way the writer thread
    /// signs each committed group with `keys` ([`answer_group`]). The threads end when the writer
    /// is dropped.
    pub fn start(url: DatabaseUrl, keys: Arc<ReceiptKeys>) -> Result<Self, String> {
        if let DatabaseUrl::Sqlite(_) = &url {
            let (tx, log) = super::receipt_log::start(url, keys)?;
            return Ok(ReceiptWriter {
                tx: Mutex::new(tx),
                log: Some(log),
            });
        }
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..pg_writers() {
            let (rx, keys, manager) = (
                rx.clone(),
                keys.clone(),
                ConnectionManager::new(url.clone()),
            );
            std::thread::Builder::new()
                .name(format!("receipt-writer-{i}"))
                .spawn(move || writer_loop(manager, &rx, &keys))
                .map_err(|e| format!("the receipt writer thread does not start: {e}"))?;
        }
        Ok(ReceiptWriter {
            tx: Mutex::new(tx),
            log: None,
        })
    }

    /// About how many receipts this instance acknowledged that are not yet in the table (SQLite's
    /// receipt log; always 0 on PostgreSQL, which stores them before acknowledging).
    pub fn unindexed(&self) -> i64 {
        self.log.as_ref().map_or(0, |log| log.backlog())
    }

    /// On SQLite, waits until every receipt this instance acknowledged is in the table (a few
    /// milliseconds at most normally; at once when nothing is pending). Nothing to wait for on
    /// PostgreSQL.
    async fn settle(&self) -> Result<(), ApiError> {
        match &self.log {
            Some(log) if !log.settle(SETTLE_LIMIT).await => Err(ApiError::unavailable(
                "recent check receipts are still being stored; retry",
            )),
            _ => Ok(()),
        }
    }

    /// Runs `f` like [`crate::db::run`] with a [`Settled`] connection, once every receipt this
    /// instance acknowledged is in `credit_checks`.
    pub async fn run_settled<T, F>(&self, pool: &crate::db::Pool, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Settled<'_>) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.settle().await?;
        crate::db::run(pool, move |c| f(&mut Settled(c))).await
    }

    /// [`Self::run_settled`] for code that holds a connection and is not async (the demo
    /// seeding): waits on this thread. Not inside a write transaction on SQLite while receipts
    /// are pending: the folder needs the write lock (it then answers 503 after the limit).
    pub fn settled<'c>(&self, conn: &'c mut DbConnection) -> Result<Settled<'c>, ApiError> {
        if let Some(log) = &self.log {
            if !log.settle_blocking(SETTLE_LIMIT) {
                return Err(ApiError::unavailable(
                    "recent check receipts are still being stored; retry",
                ));
            }
        }
        Ok(Settled(conn))
    }

    /// Stores `rows` durably and returns their ids and proofs in order, once their group has
    /// committed and been signed. Awaits without occupying a thread.
    pub async fn write(&self, rows: Vec<NewReceipt>) -> Result<Committed, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .lock()
            .map_err(|_| ApiError::internal("receipt writer lock poisoned"))?
            .send(Job { rows, reply })
            .map_err(|_| ApiError::unavailable("the receipt writer has stopped"))?;
        match answer.await {
            Ok(Ok(committed)) => Ok(committed),
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

/// PostgreSQL: one `COPY` per group, a transaction by itself. Several writers take groups from
/// the one queue in turn: the one holding the queue waits for the next check and takes what is
/// queued behind it, then lets the next writer wait while it commits.
fn writer_loop(manager: ConnectionManager, rx: &Mutex<mpsc::Receiver<Job>>, keys: &ReceiptKeys) {
    let mut conn = Lazy::new(move || {
        let mut c = manager
            .connect()
            .map_err(|e| format!("the receipt writer cannot connect: {e}"))?;
        // The pool's connections plan every execution afresh (`db::ConnectionManager`). A writer
        // runs only its own statements (and the receipt table's trigger), whose cached plans are
        // right at any table size.
        if let DbConnection::Postgresql(pg) = &mut c {
            diesel::connection::SimpleConnection::batch_execute(pg, "SET plan_cache_mode = auto")
                .and_then(|()| prepare_reserve_ids(pg))
                .map_err(|e| format!("the receipt writer cannot configure its connection: {e}"))?;
        }
        Ok(c)
    });
    loop {
        let jobs = {
            let Ok(rx) = rx.lock() else { return };
            let Ok(first) = rx.recv() else { return };
            gather(first, &rx)
        };
        let result = conn
            .get()
            .and_then(|c| insert_all(c, &jobs).map_err(|e| e.to_string()));
        if result.is_err() {
            conn.reset();
        }
        answer_group(keys, jobs, result);
    }
}

/// The writer's session statement [`reserve_ids`] executes: `n` values of `credit_checks`' identity
/// sequence. The sequence is named by its number, looked up once per connection: looking it up by
/// the table's name on every group (`pg_get_serial_sequence` scans the catalogue's dependencies)
/// and planning the statement again cost about 3% of the machine's CPU under load.
const RESERVE_IDS: &str = "credit_lists_reserve_ids";

fn prepare_reserve_ids(conn: &mut diesel::PgConnection) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Sequence {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        oid: i64,
    }
    let seq: Sequence = diesel::sql_query(
        "SELECT pg_get_serial_sequence('credit_checks', 'id')::regclass::oid::bigint AS oid",
    )
    .get_result(conn)?;
    // A number from the catalogue, not text: nothing to quote.
    diesel::connection::SimpleConnection::batch_execute(
        conn,
        &format!(
            "PREPARE {RESERVE_IDS}(integer) AS \
             SELECT nextval({}::regclass)::integer AS id FROM generate_series(1, $1)",
            seq.oid
        ),
    )
}

/// `n` ids from `credit_checks`' identity sequence, rising (one statement, prepared by
/// [`prepare_reserve_ids`] when the writer connected). A value past 2,147,483,647 fails the cast:
/// the group is refused, not acknowledged.
fn reserve_ids(conn: &mut diesel::PgConnection, n: usize) -> QueryResult<Vec<i32>> {
    #[derive(QueryableByName)]
    struct NextId {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        id: i32,
    }
    // `n` is a number (a utility statement takes no bound parameters).
    let mut ids: Vec<i32> = diesel::sql_query(format!("EXECUTE {RESERVE_IDS}({n})"))
        .load::<NextId>(conn)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// A receipt row with its id, as `COPY` sends it (binary format, every column named).
#[derive(Insertable)]
#[diesel(table_name = crate::schema::credit_checks, treat_none_as_default_value = false)]
struct CopiedReceipt<'a> {
    id: i32,
    checked_at: chrono::NaiveDateTime,
    caller_user_id: i32,
    caller_department_id: Option<i32>,
    field: &'a str,
    reference: Option<&'a str>,
    purpose: Option<&'a str>,
    advice: &'a str,
    subject_key: &'a str,
    subject_bucket: i32,
    subject_id: Option<i32>,
    region_code: &'a str,
    measure_ids: &'a str,
    answer: &'a str,
}

impl<'a> CopiedReceipt<'a> {
    fn new(id: i32, r: &'a NewReceipt) -> Self {
        CopiedReceipt {
            id,
            checked_at: r.checked_at,
            caller_user_id: r.caller_user_id,
            caller_department_id: r.caller_department_id,
            field: &r.field,
            reference: r.reference.as_deref(),
            purpose: r.purpose.as_deref(),
            advice: &r.advice,
            subject_key: &r.subject_key,
            subject_bucket: r.subject_bucket,
            subject_id: r.subject_id,
            region_code: &r.region_code,
            measure_ids: &r.measure_ids,
            answer: &r.answer.json,
        }
    }
}

/// Inserts a group's receipts and returns their ids in row order, in two statements whatever the
/// group's size: the group's ids from the table's identity sequence, then one binary `COPY` of
/// every row, a transaction by itself. The receipt table's trigger records the new ids as waiting
/// for the receipt log in that statement (`checks::transparency`). Ids are taken per group, in
/// the order groups leave the queue, so that receipt ids keep following the time of the checks
/// (lists show receipts newest first by id; reads by id look in the months whose ids hold it).
fn insert_all(conn: &mut DbConnection, jobs: &[Job]) -> QueryResult<Vec<i32>> {
    let DbConnection::Postgresql(pg) = conn else {
        return Err(diesel::result::Error::QueryBuilderError(
            "SQLite stores receipts through its receipt log".into(),
        ));
    };
    let rows: Vec<&NewReceipt> = jobs.iter().flat_map(|j| j.rows.iter()).collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = reserve_ids(pg, rows.len())?;
    let copied: Vec<CopiedReceipt<'_>> = ids
        .iter()
        .zip(&rows)
        .map(|(&id, r)| CopiedReceipt::new(id, r))
        .collect();
    diesel::copy_from(crate::schema::credit_checks::table)
        .from_insertable(&copied)
        .execute(pg)?;
    Ok(ids)
}

pub use super::receipt_queue::{legacy_reason, stored_answer_value, ReceiptRow};

/// Whether `user` may read a receipt: its caller; admins; bureaus whose region covers it;
/// department officers for checks made by their department.
pub fn may_read(user: &AuthUser, r: &ReceiptRow) -> bool {
    r.caller_user_id == user.id
        || user.covers_region(&r.region_code)
        || (user.role == Role::Department
            && user.department_id.is_some()
            && user.department_id == r.caller_department_id)
}

/// A receipt by id, whoever made it. On PostgreSQL it looks first only in the months that can
/// hold the id (see `partitions::id_window`), then, if it is not there, in every partition: the
/// answer is exact either way. Read on a [`Settled`] connection (SQLite folds receipts late).
pub fn find_receipt(conn: &mut DbConnection, id: i32) -> QueryResult<Option<ReceiptRow>> {
    if let Some((from, until)) = super::partitions::id_window(conn, id)? {
        let mut q = credit_checks::table
            .filter(credit_checks::id.eq(id))
            .filter(credit_checks::checked_at.ge(from))
            .into_boxed();
        if let Some(until) = until {
            q = q.filter(credit_checks::checked_at.lt(until));
        }
        if let Some(r) = q.select(ReceiptRow::as_select()).first(conn).optional()? {
            return Ok(Some(r));
        }
    }
    credit_checks::table
        .find(id)
        .select(ReceiptRow::as_select())
        .first(conn)
        .optional()
}

pub fn load_receipt(
    settled: &mut Settled<'_>,
    user: &AuthUser,
    id: i32,
) -> Result<ReceiptRow, ApiError> {
    let found = find_receipt(settled.conn(), id)?;
    let r: ReceiptRow = found.ok_or_else(|| ApiError::not_found("credit check"))?;
    if !may_read(user, &r) {
        // Someone else's check: indistinguishable from a missing one.
        return Err(ApiError::not_found("credit check"));
    }
    Ok(r)
}
