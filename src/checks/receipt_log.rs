//! SQLite: receipts (核查记录) made durable in a second SQLite database beside the main one (the
//! receipt log, `<database>-receipts.db`) before the check is answered, and folded into
//! `credit_checks` in the background in large batches.
//!
//! Why: on SQLite one writer at a time may change the database, and a receipt written straight
//! into `credit_checks` costs the table's and its indexes' B-tree work plus whole 4 KB pages of
//! the write-ahead log for a few hundred bytes, all on the path of the waiting connections
//! (docs/performance.md). The log is a rowid table without any other index, in a file of its own
//! (so its writer never waits for the main database's write lock): a group commit appends at the
//! table's end and syncs SQLite's write-ahead log (`synchronous = FULL`), exactly as durable as a
//! commit into the main database. Durability, atomicity of a group and recovery after a crash are
//! SQLite's.
//!
//! - Receipt ids are the log table's `INTEGER PRIMARY KEY AUTOINCREMENT`, seeded above the
//!   highest id in `credit_checks` at start. Every instance on one database file shares the one
//!   log file, so their ids are distinct and rise in commit order without any reservation.
//! - A row holds the receipt's small columns as one JSON array and its answer in a column of its
//!   own (two bound values per row for the writer; the answer is not escaped into the array).
//! - The folder thread copies what the log holds into `credit_checks` with one
//!   `INSERT OR IGNORE … SELECT` over the attached log (committed in the main database), then
//!   checkpoints the log's write-ahead log. The writer deletes folded rows from the log at the
//!   start of its next group's transaction, so the log has one writing thread and the writer
//!   never waits for the folder's lock (SQLite's busy wait sleeps 1, 2, 5, 10 ms …, which was
//!   the single checks' p99 when the folder deleted; performance.md, ninth round). A crash
//!   between a fold and the deletion leaves rows that are folded again and ignored. At start,
//!   whatever the log holds is folded and deleted before the instance serves; `credit-lists
//!   backup` does the same before copying.
//! - Readers of `credit_checks` go through [`super::receipts::Settled`], which the receipt writer
//!   hands out only after the folder has stored every receipt this instance acknowledged.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use diesel::SqliteConnection;

use super::receipt_queue::{answer_group, Job, Lazy, NewReceipt};
use super::signing::ReceiptKeys;
use crate::db::{ConnectionManager, DatabaseUrl, DbConnection};

diesel::table! {
    receipt_log (id) {
        id -> BigInt,
        receipt -> Text,
        answer -> Nullable<Text>,
    }
}

/// The folder gathers receipts for at least this long between folds while checks arrive (a
/// reader that waits for it wakes it at once). Larger folds touch each page of the table's
/// indexes once for more receipts: 100 ms gave about a third more single checks a second than
/// 5 ms, and more than 20, 50 or 250 ms (performance.md, fifteenth round).
/// `CREDIT_LISTS_RECEIPT_FOLD_MS` changes it (tests use it to keep receipts in the log; see
/// docs/operations.md).
const FOLD_EVERY: Duration = Duration::from_millis(100);

fn fold_every() -> Duration {
    std::env::var("CREDIT_LISTS_RECEIPT_FOLD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(FOLD_EVERY, Duration::from_millis)
}
/// While nothing is written here, the folder still looks this often for receipts that other
/// instances on the same file wrote to the log.
const IDLE_FOLD: Duration = Duration::from_secs(1);
/// After a failed fold, the folder waits this long before trying again (the receipts stay in the
/// log meanwhile).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a connection waits for a lock held by another before failing.
const BUSY_TIMEOUT_MS: u32 = 10_000;

/// The receipt log beside an SQLite database file: `<file>-receipts.db`.
pub fn log_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-receipts.db");
    PathBuf::from(name)
}

/// The directory of the earlier receipt log (segment files), `<file>-receipts`.
fn old_log_dir(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-receipts");
    PathBuf::from(name)
}

/// What the request side shares with the log's threads.
pub struct LogShared {
    /// The highest receipt id this instance acknowledged (0: none yet).
    acked: AtomicI64,
    /// The highest log id known to be in `credit_checks`; readers wait on it.
    folded: tokio::sync::watch::Sender<i64>,
    /// Wakes the folder: `(new receipts, a reader waits, the writer stopped)`.
    wake: Mutex<(bool, bool, bool)>,
    bell: Condvar,
}

impl LogShared {
    /// About how many receipts this instance acknowledged that are not yet in the table.
    pub fn backlog(&self) -> i64 {
        (self.acked.load(Ordering::Acquire) - *self.folded.borrow()).max(0)
    }

    /// Sets a flag for the folder, and wakes it when that changed something (a stream of commits
    /// wakes it once, not once per commit).
    fn ring(&self, f: impl FnOnce(&mut (bool, bool, bool))) {
        if let Ok(mut w) = self.wake.lock() {
            let was = *w;
            f(&mut w);
            if *w != was {
                self.bell.notify_one();
            }
        }
    }

    /// Waits until every receipt this instance acknowledged before the call is in the table.
    /// Returns false when that took longer than `limit` (the folder is failing; its error is
    /// logged).
    pub async fn settle(&self, limit: Duration) -> bool {
        let target = self.acked.load(Ordering::Acquire);
        let mut rx = self.folded.subscribe();
        if *rx.borrow() >= target {
            return true;
        }
        self.ring(|w| w.1 = true);
        tokio::time::timeout(limit, rx.wait_for(|n| *n >= target))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// [`Self::settle`] on a thread that is not async.
    pub fn settle_blocking(&self, limit: Duration) -> bool {
        let target = self.acked.load(Ordering::Acquire);
        let deadline = Instant::now() + limit;
        while *self.folded.borrow() < target {
            if Instant::now() >= deadline {
                return false;
            }
            self.ring(|w| w.1 = true);
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

/// Opens (or makes) the log, folds what it holds, and starts the writer and folder threads.
pub(super) fn start(
    url: DatabaseUrl,
    keys: Arc<ReceiptKeys>,
) -> Result<(mpsc::Sender<Job>, Arc<LogShared>), String> {
    let DatabaseUrl::Sqlite(db) = &url else {
        return Err("the receipt log is for SQLite only".into());
    };
    let old = old_log_dir(db);
    if std::fs::read_dir(&old).is_ok_and(|mut d| d.next().is_some()) {
        return Err(format!(
            "{} holds the receipt log of an earlier version: start that version once more and stop \
             it normally (it stores those receipts and removes the directory), then start this one",
            old.display()
        ));
    }
    let path = log_path(db);
    let mut log = open_log(&path)?;
    let manager = ConnectionManager::new(url.clone());
    let mut main = folder_connection(&manager, &path)?;
    let max_id: Option<i32> = crate::schema::credit_checks::table
        .select(diesel::dsl::max(crate::schema::credit_checks::id))
        .get_result(&mut main)
        .map_err(|e| format!("receipt log: {e}"))?;
    seed(&mut log, i64::from(max_id.unwrap_or(0)))?;
    let n = fold(&mut main, true).map_err(|e| format!("cannot fold the receipt log: {e}"))?;
    if n.rows > 0 {
        tracing::warn!(
            receipts = n.rows,
            "folded receipts left in the receipt log into the table"
        );
    }
    let shared = Arc::new(LogShared {
        acked: AtomicI64::new(0),
        folded: tokio::sync::watch::channel(n.up_to).0,
        wake: Mutex::new((false, false, false)),
        bell: Condvar::new(),
    });
    let folder_shared = shared.clone();
    let folder_manager = manager.clone();
    let folder_path = path.clone();
    std::thread::Builder::new()
        .name("receipt-folder".into())
        .spawn(move || {
            let conn =
                Lazy::new(move || folder_connection(&folder_manager, &folder_path)).with(main);
            folder_loop(conn, &folder_shared)
        })
        .map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel::<Job>();
    let writer_shared = shared.clone();
    std::thread::Builder::new()
        .name("receipt-writer".into())
        .spawn(move || {
            let conn = Lazy::new(move || open_log(&path)).with(log);
            writer_loop(conn, rx, &writer_shared, &keys)
        })
        .map_err(|e| e.to_string())?;
    Ok((tx, shared))
}

/// The writer's connection to the log: WAL, synced on every commit.
fn open_log(path: &Path) -> Result<SqliteConnection, String> {
    let mut c = SqliteConnection::establish(&path.to_string_lossy())
        .map_err(|e| format!("cannot open the receipt log {}: {e}", path.display()))?;
    c.batch_execute(&format!(
        "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = FULL; \
         CREATE TABLE IF NOT EXISTS receipt_log (\
           id INTEGER PRIMARY KEY AUTOINCREMENT, receipt TEXT NOT NULL, answer TEXT);"
    ))
    .map_err(|e| format!("cannot set up the receipt log {}: {e}", path.display()))?;
    // A log made before the answer had a column of its own: its rows keep the answer inside
    // `receipt` (`answer` NULL) and are folded as they are.
    let has_answer: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM pragma_table_info('receipt_log') WHERE name = 'answer')",
    ))
    .get_result(&mut c)
    .map_err(|e| format!("cannot read the receipt log {}: {e}", path.display()))?;
    if has_answer == 0 {
        c.batch_execute("ALTER TABLE receipt_log ADD COLUMN answer TEXT;")
            .map_err(|e| format!("cannot set up the receipt log {}: {e}", path.display()))?;
    }
    Ok(c)
}

/// Makes the log's next id come after `max_id` (the table's highest: receipts of an older version,
/// a restored backup, a log file removed).
fn seed(log: &mut SqliteConnection, max_id: i64) -> Result<(), String> {
    log.immediate_transaction(|c| {
        let changed = diesel::sql_query(
            "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'receipt_log'",
        )
        .bind::<diesel::sql_types::BigInt, _>(max_id)
        .execute(c)?;
        if changed == 0 {
            diesel::sql_query("INSERT INTO sqlite_sequence (name, seq) VALUES ('receipt_log', ?1)")
                .bind::<diesel::sql_types::BigInt, _>(max_id)
                .execute(c)?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .map_err(|e| format!("cannot seed the receipt log's ids: {e}"))
}

/// A connection to the main database with the log attached as `rlog`, for folding.
fn folder_connection(manager: &ConnectionManager, log: &Path) -> Result<SqliteConnection, String> {
    let mut c = match manager.connect() {
        Ok(DbConnection::Sqlite(c)) => c,
        Ok(_) => return Err("the receipt log is for SQLite only".into()),
        Err(e) => return Err(format!("the receipt folder cannot connect: {e}")),
    };
    attach(&mut c, log)?;
    // The receipt indexes are written at several places: keep their inner pages in memory (16 MB:
    // reads go through `mmap_size`; 64 MB made most of the server's anonymous memory growth in a
    // load run, issue 25).
    c.batch_execute("PRAGMA cache_size = -16384;")
        .map_err(|e| format!("receipt folder: {e}"))?;
    Ok(c)
}

/// Attaches the log to a connection of the main database as `rlog`. Deleting folded rows need not
/// be synced: a deletion lost in a power cut only makes those rows be folded (and ignored) again.
fn attach(c: &mut SqliteConnection, log: &Path) -> Result<(), String> {
    diesel::sql_query("ATTACH DATABASE ?1 AS rlog")
        .bind::<diesel::sql_types::Text, _>(log.to_string_lossy().into_owned())
        .execute(c)
        .map_err(|e| format!("cannot attach the receipt log {}: {e}", log.display()))?;
    c.batch_execute("PRAGMA rlog.synchronous = NORMAL;")
        .map_err(|e| format!("receipt log: {e}"))
}

/// What one fold did.
struct Folded {
    /// Rows the log held (now in the table).
    rows: usize,
    /// Every log id up to this one is in the table.
    up_to: i64,
}

/// Copies every receipt the log holds into `credit_checks` (`INSERT OR IGNORE`: one stored
/// before is skipped) and commits; with `delete`, then deletes them from the log. `c` has the log
/// attached. The folder thread does not delete: the writer does, in its own transactions (see
/// [`append`]), so that the folder never holds the log's write lock the writer waits for.
fn fold(c: &mut SqliteConnection, delete: bool) -> QueryResult<Folded> {
    #[derive(QueryableByName)]
    struct Top {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
        top: Option<i64>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
        seq: Option<i64>,
    }
    // Ids are given in commit order and never reused, so every row committed after this read
    // has a larger id than `top`.
    let t: Top = diesel::sql_query(
        "SELECT (SELECT max(id) FROM rlog.receipt_log) AS top, \
         (SELECT seq FROM rlog.sqlite_sequence WHERE name = 'receipt_log') AS seq",
    )
    .get_result(c)?;
    let Some(top) = t.top else {
        return Ok(Folded {
            rows: 0,
            up_to: t.seq.unwrap_or(0),
        });
    };
    let rows = diesel::sql_query(
        "INSERT OR IGNORE INTO main.credit_checks (id, checked_at, caller_user_id, \
         caller_department_id, field, reference, purpose, advice, subject_key, subject_bucket, \
         subject_id, region_code, measure_ids, answer) \
         SELECT id, receipt->>0, receipt->>1, receipt->>2, receipt->>3, receipt->>4, \
         receipt->>5, receipt->>6, receipt->>7, receipt->>8, receipt->>9, receipt->>10, \
         receipt->>11, COALESCE(answer, receipt->>12) FROM rlog.receipt_log WHERE id <= ?1",
    )
    .bind::<diesel::sql_types::BigInt, _>(top)
    .execute(c)?;
    // Inserted or ignored, every row up to `top` is now in the table: out of the log with them.
    let gone = if delete {
        diesel::sql_query("DELETE FROM rlog.receipt_log WHERE id <= ?1")
            .bind::<diesel::sql_types::BigInt, _>(top)
            .execute(c)?
    } else {
        0
    };
    Ok(Folded {
        rows: rows.max(gone),
        up_to: top,
    })
}

/// Folds the receipt log beside an SQLite database into its table, if there is one (the backup
/// command, before it copies the database). Returns how many receipts the log held.
pub fn fold_beside(c: &mut SqliteConnection, db: &Path) -> Result<usize, String> {
    let path = log_path(db);
    if !path.exists() {
        return Ok(0);
    }
    attach(c, &path)?;
    let n = fold(c, true).map_err(|e| format!("cannot fold the receipt log: {e}"));
    let detached = c
        .batch_execute("DETACH DATABASE rlog;")
        .map_err(|e| format!("receipt log: {e}"));
    let n = n?;
    detached?;
    Ok(n.rows)
}

/// One group: appended to the log in one transaction (synced at commit), ids in row order. The
/// same transaction first deletes the rows up to `folded` (every one of them is in the table), so
/// the log's only writer is this thread and it never waits for the folder.
fn append(c: &mut SqliteConnection, jobs: &[Job], folded: Option<i64>) -> Result<Vec<i32>, String> {
    let n: usize = jobs.iter().map(|j| j.rows.len()).sum();
    let last = c
        .immediate_transaction(|c| {
            if let Some(up_to) = folded {
                diesel::delete(receipt_log::table.filter(receipt_log::id.le(up_to))).execute(c)?;
            }
            for r in jobs.iter().flat_map(|j| j.rows.iter()) {
                diesel::insert_into(receipt_log::table)
                    .values((
                        receipt_log::receipt.eq(encode(r)),
                        receipt_log::answer.eq(Some(r.answer.json.as_str())),
                    ))
                    .execute(c)?;
            }
            let last: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "last_insert_rowid()",
            ))
            .get_result(c)?;
            // The table's ids are 32-bit: refuse the group rather than acknowledge a receipt
            // the table could not hold.
            if last > i64::from(i32::MAX) {
                return Err(diesel::result::Error::QueryBuilderError(
                    "receipt ids are exhausted (past 2,147,483,647)".into(),
                ));
            }
            Ok(last)
        })
        .map_err(|e| e.to_string())?;
    // One writer holds the log's write lock for the whole transaction, so its rows' ids follow
    // one another.
    let first = last - n as i64 + 1;
    Ok((first..=last).map(|id| id as i32).collect())
}

/// A receipt as the log stores it: its columns in `credit_checks` order (after `id`) but the
/// answer, as one JSON array (the answer, most of the bytes, goes into a column of its own, not
/// escaped into the array and parsed out again); the time as diesel writes it to SQLite, so the
/// folded text is what a direct insert wrote.
fn encode(r: &NewReceipt) -> String {
    serde_json::to_string(&(
        r.checked_at.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        r.caller_user_id,
        r.caller_department_id,
        &r.field,
        &r.reference,
        &r.purpose,
        &r.advice,
        &r.subject_key,
        r.subject_bucket,
        r.subject_id,
        &r.region_code,
        &r.measure_ids,
    ))
    .expect("a receipt serialises")
}

fn writer_loop(
    mut conn: Lazy<SqliteConnection>,
    rx: mpsc::Receiver<Job>,
    shared: &LogShared,
    keys: &ReceiptKeys,
) {
    // The log's rows up to here are deleted (or were folded at start).
    let mut deleted = *shared.folded.borrow();
    while let Ok(first) = rx.recv() {
        let jobs = super::receipt_queue::gather(first, &rx);
        let folded = *shared.folded.borrow();
        let delete = (folded > deleted).then_some(folded);
        let result = conn.get().and_then(|c| append(c, &jobs, delete));
        match &result {
            Ok(ids) => {
                deleted = deleted.max(folded);
                if let Some(last) = ids.last() {
                    shared.acked.fetch_max(i64::from(*last), Ordering::AcqRel);
                }
                shared.ring(|w| w.0 = true);
            }
            Err(_) => conn.reset(),
        }
        answer_group(keys, jobs, result);
    }
    shared.ring(|w| w.2 = true);
}

/// Folds every [`FOLD_EVERY`] while receipts arrive, at once when a reader waits, every
/// [`IDLE_FOLD`] otherwise; after each fold a passive checkpoint of the log (it waits for no one),
/// so that the writer's commits seldom copy the log's WAL themselves. Ends after a last fold when
/// the writer has stopped.
fn folder_loop(mut conn: Lazy<SqliteConnection>, shared: &LogShared) {
    let every = fold_every();
    let idle = IDLE_FOLD.max(every);
    let mut last = Instant::now();
    loop {
        let (urgent, stop) = {
            let Ok(mut w) = shared.wake.lock() else {
                return;
            };
            if !(w.0 || w.1 || w.2) {
                w = match shared.bell.wait_timeout(w, idle) {
                    Ok((w, _)) => w,
                    Err(_) => return,
                };
            }
            let got = (w.1, w.2);
            *w = (false, false, w.2);
            got
        };
        if !urgent && !stop {
            // Woken early (a reader) ends the wait.
            let until = last + every;
            let Ok(mut w) = shared.wake.lock() else {
                return;
            };
            while !(w.1 || w.2) && Instant::now() < until {
                w = match shared.bell.wait_timeout(w, until - Instant::now()) {
                    Ok((w, _)) => w,
                    Err(_) => return,
                };
            }
            w.1 = false;
        }
        last = Instant::now();
        let done = conn.get().and_then(|c| {
            let n = fold(c, false).map_err(|e| e.to_string())?;
            c.batch_execute("PRAGMA rlog.wal_checkpoint(PASSIVE);")
                .map_err(|e| e.to_string())?;
            Ok(n)
        });
        match done {
            Ok(n) => {
                shared.folded.send_if_modified(|f| {
                    let more = n.up_to > *f;
                    if more {
                        *f = n.up_to;
                    }
                    more
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "folding check receipts into the table failed; retrying");
                conn.reset();
                std::thread::sleep(RETRY_AFTER);
                shared.ring(|w| w.0 = true);
            }
        }
        if stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::receipt_hash::CanonicalAnswer;
    use super::*;

    #[test]
    fn a_receipt_is_encoded_with_the_time_as_diesel_writes_it() {
        let r = NewReceipt {
            checked_at: chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
                .unwrap()
                .and_hms_micro_opt(8, 0, 0, 120_000)
                .unwrap(),
            caller_user_id: 7,
            caller_department_id: None,
            field: "licensing".into(),
            reference: Some("REF-1".into()),
            purpose: None,
            advice: "normal".into(),
            subject_key: "91350100M000100Y43".into(),
            subject_bucket: 3,
            subject_id: Some(9),
            region_code: "350100".into(),
            measure_ids: "[1,2]".into(),
            answer: CanonicalAnswer {
                json: "{\"a\":\"b\"}".to_string().into(),
                at: 1,
            },
        };
        let v: serde_json::Value = serde_json::from_str(&encode(&r)).unwrap();
        assert_eq!(v[0], "2026-11-30 08:00:00.120");
        assert_eq!(v[1], 7);
        assert!(v[2].is_null());
        assert_eq!(v[4], "REF-1");
        assert_eq!(v[9], 9);
        assert_eq!(v[11], "[1,2]");
        assert!(v.get(12).is_none(), "the answer has its own column");
    }

    #[test]
    fn rows_of_a_log_made_before_the_answer_column_fold_with_the_new_ones() {
        use diesel::sql_types::{BigInt, Text};
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("main.db");
        let mut main = SqliteConnection::establish(&db.to_string_lossy()).unwrap();
        main.batch_execute(
            "CREATE TABLE credit_checks (id INTEGER PRIMARY KEY, checked_at TEXT, \
             caller_user_id INTEGER, caller_department_id INTEGER, field TEXT, reference TEXT, \
             purpose TEXT, advice TEXT, subject_key TEXT, subject_bucket INTEGER, \
             subject_id INTEGER, region_code TEXT, measure_ids TEXT, answer TEXT);",
        )
        .unwrap();
        // The earlier format: one column, the answer escaped inside the array.
        let path = log_path(&db);
        let mut old = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        old.batch_execute(
            "CREATE TABLE receipt_log (id INTEGER PRIMARY KEY AUTOINCREMENT, receipt TEXT NOT NULL); \
             INSERT INTO receipt_log (receipt) VALUES ('[\"2026-11-30 08:00:00\",7,null,\"f\",\
             null,null,\"normal\",\"K1\",1,null,\"220500\",\"[]\",\"{\\\"old\\\":1}\"]');",
        )
        .unwrap();
        drop(old);
        let mut log = open_log(&path).unwrap();
        let r = NewReceipt {
            checked_at: chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
                .unwrap()
                .and_hms_opt(9, 0, 0)
                .unwrap(),
            caller_user_id: 8,
            caller_department_id: Some(3),
            field: "f".into(),
            reference: None,
            purpose: Some("p".into()),
            advice: "proceed".into(),
            subject_key: "K2".into(),
            subject_bucket: 2,
            subject_id: Some(5),
            region_code: "220521".into(),
            measure_ids: "[4]".into(),
            answer: CanonicalAnswer {
                json: "{\"new\":\"\\\"x\\\"\"}".to_string().into(),
                at: 1,
            },
        };
        let (reply, _answer) = tokio::sync::oneshot::channel();
        let ids = append(
            &mut log,
            &[Job {
                rows: vec![r.clone()],
                reply,
            }],
            None,
        )
        .unwrap();
        assert_eq!(ids, vec![2]);
        attach(&mut main, &path).unwrap();
        let folded = fold(&mut main, true).unwrap();
        assert_eq!((folded.rows, folded.up_to), (2, 2));
        #[derive(QueryableByName, Debug, PartialEq)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            id: i64,
            #[diesel(sql_type = Text)]
            subject_key: String,
            #[diesel(sql_type = Text)]
            measure_ids: String,
            #[diesel(sql_type = Text)]
            answer: String,
        }
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT id, subject_key, measure_ids, answer FROM credit_checks ORDER BY id",
        )
        .load(&mut main)
        .unwrap();
        assert_eq!(
            rows,
            vec![
                Row {
                    id: 1,
                    subject_key: "K1".into(),
                    measure_ids: "[]".into(),
                    answer: "{\"old\":1}".into()
                },
                Row {
                    id: 2,
                    subject_key: "K2".into(),
                    measure_ids: "[4]".into(),
                    answer: r.answer.json.to_string()
                },
            ]
        );
    }

    #[test]
    fn the_log_lies_beside_the_database() {
        assert_eq!(
            log_path(Path::new("/data/credit.db")),
            PathBuf::from("/data/credit.db-receipts.db")
        );
    }
}
