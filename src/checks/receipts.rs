//! Receipts (核查记录): the durable record of every check, written by one writer thread per
//! instance that groups concurrent checks into a single transaction (group commit).
//!
//! A check's response is sent only after the transaction holding its receipt committed (on SQLite
//! with `synchronous = FULL`, so it is on disk). Grouping turns N fsyncs into one when N checks
//! arrive together, and takes SQLite's single write lock once per group instead of once per check.
//! Receipts do not pass through the audit chain's head row (see `docs/credit-checks.md`): the
//! receipt table is itself the record of the check, and does not serialise with audited writes
//! beyond SQLite's own write lock.

use std::sync::mpsc;
use std::sync::Mutex;

use diesel::prelude::*;

use diesel::r2d2::ManageConnection;

use crate::db::{ConnectionManager, DatabaseUrl, DbConnection};
use crate::error::ApiError;

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

impl ReceiptWriter {
    /// Starts the writer thread with its own connection (never waiting behind checks for a pooled
    /// one); it ends when the writer is dropped.
    pub fn start(url: DatabaseUrl) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("receipt-writer".into())
            .spawn(move || writer_loop(ConnectionManager::new(url), rx))
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

fn writer_loop(manager: ConnectionManager, rx: mpsc::Receiver<Job>) {
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
        if conn.is_none() {
            conn = manager
                .connect()
                .map_err(|e| tracing::error!(error = %e, "receipt writer cannot connect"))
                .ok();
            if let Some(DbConnection::Sqlite(c)) = conn.as_mut() {
                // The receipt indexes are written at random places (subject, region): a larger
                // page cache than SQLite's 2 MB default keeps their inner pages in memory.
                use diesel::connection::SimpleConnection;
                if let Err(e) = c.batch_execute("PRAGMA cache_size = -65536;") {
                    tracing::warn!(error = %e, "receipt writer keeps the default page cache");
                }
            }
        }
        let result = match conn.as_mut() {
            Some(c) => insert_all(c, &jobs).map_err(|e| e.to_string()),
            None => Err("no database connection".to_string()),
        };
        if result.is_err() {
            // Reconnect for the next group (the connection may be broken).
            conn = None;
        }
        match result {
            Ok(mut ids) => {
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

/// Rows per multi-row `INSERT` (12 parameters each, well under SQLite's 32,766 and PostgreSQL's
/// 65,535).
const ROWS_PER_INSERT: usize = 500;

#[derive(QueryableByName)]
struct NewId {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
}

/// One multi-row `INSERT … RETURNING id` per 500 receipts (diesel's batch insert is not available
/// through the multi-backend connection). Placeholders are `?` on SQLite (its `$name` parameters
/// are looked up by a linear scan, quadratic over thousands of them) and `$n` on PostgreSQL.
fn insert_all(conn: &mut DbConnection, jobs: &[Job]) -> QueryResult<Vec<i32>> {
    use diesel::sql_types::{Integer, Nullable, Text, Timestamp};
    let rows: Vec<&NewReceipt> = jobs.iter().flat_map(|j| j.rows.iter()).collect();
    let numbered = conn.backend() == crate::db::Backend::Postgres;
    conn.transaction(|c| {
        let mut ids = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut sql = String::from(
                "INSERT INTO credit_checks (checked_at, caller_user_id, caller_department_id, \
                 field, reference, purpose, advice, subject_key, subject_id, region_code, \
                 measure_ids, answer) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push('(');
                for j in 1..=12 {
                    if j > 1 {
                        sql.push(',');
                    }
                    if numbered {
                        sql.push_str(&format!("${}", i * 12 + j));
                    } else {
                        sql.push('?');
                    }
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
                    .bind::<Text, _>(&r.answer);
            }
            let mut got: Vec<i32> = q.load::<NewId>(c)?.into_iter().map(|n| n.id).collect();
            // RETURNING promises no order; the one writer's ids rise in row order.
            got.sort_unstable();
            ids.extend(got);
        }
        Ok(ids)
    })
}
