//! SQLite: receipts (核查记录) made durable in an append-only log before the check is answered,
//! and indexed into `credit_checks` afterwards in large batches.
//!
//! Why: on SQLite one writer at a time may change the database, and a receipt written straight
//! into `credit_checks` costs the table's and its indexes' B-tree work plus whole 4 KB log pages
//! for a few hundred bytes, all on the path of the 64 waiting connections. Appending the group's
//! receipts to a plain file and syncing it (`fdatasync`) makes them exactly as durable; the
//! indexer thread then inserts them in batches of hundreds into the table, off that path.
//!
//! - Each instance writes its own log directory, `<database>-receipts/<instance>/`, made of
//!   numbered segments (`00000001.log`, …) of [`SEGMENT_BYTES`] each. An exclusive lock on the
//!   directory's `lock` file says the instance is alive.
//! - Segments are written in full (zeros) before their first use and then reused: the file an
//!   indexed segment occupied becomes the segment after next. A sync then only writes the
//!   records' pages: the file's size and blocks never change, so the sync does not have to wait
//!   for the file system's journal, which also carries the database's own writes (measured: with
//!   growing files, syncs of the log waited up to half a second behind the indexer's).
//! - A record is `[length u32][crc32 u32][JSON of (id, receipt)]`, its checksum taken over the
//!   segment's number and the JSON, so the records a reused file held before do not count. Replay
//!   stops in a segment at the first record that is empty, short or fails its checksum (the end,
//!   or a group whose write a crash tore; it was never acknowledged) and goes on with the next.
//! - Receipt ids are reserved in blocks from `receipt_id_blocks` (one small transaction per
//!   [`ID_BLOCK`] receipts, normally made ahead by the indexer), so several instances on one
//!   file never hand out the same id. One instance's ids rise with time.
//! - A segment is reused (or deleted) once every receipt in it is in the table. At start, before serving,
//!   every log directory whose lock is free (an instance that stopped or crashed) is replayed into
//!   the table (`INSERT OR IGNORE`: a receipt already indexed is skipped) and deleted.
//! - Readers of `credit_checks` in this instance first wait until the indexer has caught up with
//!   every receipt acknowledged so far ([`LogShared::settle`]).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use diesel::SqliteConnection;

use super::receipt_queue::{Job, Lazy, NewReceipt, COMMITS, RECEIPTS};
use crate::db::{ConnectionManager, DatabaseUrl, DbConnection};

/// A segment's size: the next group that does not fit goes into the next segment.
const SEGMENT_BYTES: u64 = 8 << 20;
/// Segments kept ready ahead of the one being written (batches of 1,000 fill one in about a
/// quarter of a second). The first is made before the instance serves, these by the indexer.
const READY_SEGMENTS: u64 = 2;
/// Ids reserved per block. The indexer keeps at least [`SPARE_BLOCKS`] blocks reserved ahead, so
/// the writer seldom has to take SQLite's write lock itself (and wait behind an indexer batch).
pub const ID_BLOCK: i64 = 16_384;
/// Four blocks last about 2.4 s of a stream of 1,000-code batches. With two, the writer had to
/// reserve ids itself up to three times in a benchmark's 10 s batch run, and the batches' p99
/// passed 100 ms each time (docs/performance.md, sixth round).
const SPARE_BLOCKS: i64 = 4;
/// Rows per indexer transaction at most. A backlog (a stream of large batches outruns the indexer)
/// is indexed in transactions of this size, so that between them the indexer reserves ids and
/// makes segments ready in time for the writer, and SQLite's write lock is never held for long.
const INDEX_CHUNK: usize = 2_048;
/// The indexer gathers receipts for at least this long between batches while checks arrive.
const INDEX_EVERY: Duration = Duration::from_millis(5);
/// After a failed batch, the indexer waits this long before trying again (the receipts stay in
/// the log and in memory meanwhile).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often at most the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(10);
/// Rows per transaction when a log is replayed at start.
const REPLAY_BATCH: usize = 10_000;

/// Groups the writer held back because the backlog was at [`MAX_UNINDEXED`], for `/metrics`.
pub static HELD_BACK: AtomicU64 = AtomicU64::new(0);
/// The most receipts an instance keeps acknowledged but not yet indexed. They are held in memory
/// (about 3 KB each) until indexed, and a reader of the receipts waits for them: past this, the
/// writer waits for the indexer before it writes the next group, so a stream of checks that
/// outruns the indexer (1,000-code batches do: about 60,000 receipts/s against about 45,000
/// indexed) slows to the indexer's pace instead of growing memory without end. Four id blocks.
const MAX_UNINDEXED: i64 = SPARE_BLOCKS * ID_BLOCK;
/// How often the held-back writer looks at the backlog again.
const HOLD_BACK_POLL: Duration = Duration::from_millis(1);
/// How long the writer holds a group back at most before it refuses it (503).
const HOLD_BACK_LIMIT: Duration = Duration::from_secs(5);

/// What the request side shares with the log's threads.
pub struct LogShared {
    /// Receipts acknowledged so far by this instance (a count, rising).
    acked: AtomicI64,
    /// Receipts of this instance in the table so far (a count, rising); readers wait on it.
    indexed: tokio::sync::watch::Sender<i64>,
    /// The number of the segment the writer is on (for the indexer, which keeps the next ones
    /// ready).
    writing: AtomicU64,
}

impl LogShared {
    /// Receipts this instance acknowledged (durable in the log) but not yet in the table.
    pub fn backlog(&self) -> i64 {
        self.acked.load(Ordering::Acquire) - *self.indexed.borrow()
    }

    /// Waits until every receipt this instance acknowledged before the call is in the table, so a
    /// reader of `credit_checks` sees it. Returns false when that took longer than `limit` (the
    /// indexer is failing; its error is logged).
    pub async fn settle(&self, limit: Duration) -> bool {
        let target = self.acked.load(Ordering::Acquire);
        let mut rx = self.indexed.subscribe();
        if *rx.borrow() >= target {
            return true;
        }
        let caught_up = tokio::time::timeout(limit, rx.wait_for(|n| *n >= target))
            .await
            .is_ok_and(|r| r.is_ok());
        caught_up
    }
}

/// The log directory beside an SQLite database file: `<file>-receipts`.
pub fn log_root(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-receipts");
    PathBuf::from(name)
}

/// Replays the logs of instances that are gone, makes this instance's log directory, and starts
/// its writer, indexer and checkpointer threads. Returns the sender for receipt jobs and the
/// shared state.
pub(super) fn start(url: DatabaseUrl) -> Result<(mpsc::Sender<Job>, Arc<LogShared>), String> {
    let DatabaseUrl::Sqlite(db) = &url else {
        return Err("the receipt log is for SQLite only".into());
    };
    let root = log_root(db);
    let manager = ConnectionManager::new(url.clone());
    let mut conn = sqlite(&manager)?;
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    replay_orphans(&root, &mut conn)?;
    let (dir, lock) = own_directory(&root)?;
    let ids = Arc::new(Mutex::new(VecDeque::new()));
    for _ in 0..SPARE_BLOCKS {
        let block = reserve(&mut conn).map_err(|e| format!("cannot reserve receipt ids: {e}"))?;
        ids.lock().expect("fresh mutex").push_back(block);
    }
    let first = Segment::prepare(&dir, 1, "writer").map_err(|e| e.to_string())?;
    let shared = Arc::new(LogShared {
        acked: AtomicI64::new(0),
        indexed: tokio::sync::watch::channel(0).0,
        writing: AtomicU64::new(1),
    });
    let (tx, rx) = mpsc::channel::<Job>();
    let (to_indexer, indexer_rx) = mpsc::channel::<ToIndexer>();
    // The next segments, made ready by the indexer before the writer needs them.
    let (ready, ready_rx) = mpsc::sync_channel::<Segment>(READY_SEGMENTS as usize);
    let (wake, woken) = mpsc::sync_channel::<()>(1);
    let checkpoint_manager = manager.clone();
    std::thread::Builder::new()
        .name("wal-checkpoint".into())
        .spawn(move || checkpointer_loop(Lazy::new(move || sqlite(&checkpoint_manager)), woken))
        .map_err(|e| e.to_string())?;
    indexer_pragmas(&mut conn)?;
    let indexer_manager = manager.clone();
    let indexer = Indexer {
        conn: Lazy::new(move || {
            let mut c = sqlite(&indexer_manager)?;
            indexer_pragmas(&mut c)?;
            Ok(c)
        })
        .with(conn),
        dir: dir.clone(),
        ids: ids.clone(),
        shared: shared.clone(),
        checkpoints: wake,
        ready,
        prepared: 1,
        _lock: lock,
    };
    std::thread::Builder::new()
        .name("receipt-indexer".into())
        .spawn(move || indexer.run(indexer_rx))
        .map_err(|e| e.to_string())?;
    let writer = LogWriter {
        conn: Lazy::new(move || sqlite(&manager)),
        dir,
        segment: first,
        ready: ready_rx,
        ids,
        shared: shared.clone(),
        to_indexer,
    };
    std::thread::Builder::new()
        .name("receipt-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| e.to_string())?;
    Ok((tx, shared))
}

fn sqlite(manager: &ConnectionManager) -> Result<SqliteConnection, String> {
    match manager.connect() {
        Ok(DbConnection::Sqlite(c)) => Ok(c),
        Ok(_) => Err("the receipt log is for SQLite only".into()),
        Err(e) => Err(format!("the receipt log cannot connect: {e}")),
    }
}

/// Reserves the next block of receipt ids. The block starts after the highest id handed out
/// (`receipt_id_blocks`) and after the highest id in the table (receipts written by an older
/// version, or a restored backup).
fn reserve(c: &mut SqliteConnection) -> QueryResult<std::ops::Range<i64>> {
    #[derive(QueryableByName)]
    struct Start {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        start: i64,
    }
    let s: Start = diesel::sql_query(
        "UPDATE receipt_id_blocks SET next_id = max(next_id, \
         (SELECT coalesce(max(id), 0) + 1 FROM credit_checks)) + ?1 \
         WHERE id = 1 RETURNING next_id - ?1 AS start",
    )
    .bind::<diesel::sql_types::BigInt, _>(ID_BLOCK)
    .get_result(c)?;
    Ok(s.start..s.start + ID_BLOCK)
}

/// Makes this instance's directory and locks it. It is made under a name starting with `.`
/// (which replay ignores), locked, then renamed, so no other instance can take it for a dead
/// one's in between.
fn own_directory(root: &Path) -> Result<(PathBuf, File), String> {
    let name = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
    let tmp = root.join(format!(".{name}"));
    let dir = root.join(&name);
    std::fs::create_dir(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let lock = File::create(tmp.join("lock")).map_err(|e| e.to_string())?;
    lock.try_lock()
        .map_err(|e| format!("cannot lock {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &dir).map_err(|e| format!("cannot rename {}: {e}", tmp.display()))?;
    sync_dir(root)?;
    Ok((dir, lock))
}

fn sync_dir(dir: &Path) -> Result<(), String> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}

/// One segment file being written.
struct Segment {
    number: u64,
    file: File,
    /// Where the next record goes.
    len: u64,
}

impl Segment {
    fn path(dir: &Path, number: u64) -> PathBuf {
        dir.join(format!("{number:08}.log"))
    }

    /// Creates the file written in full with zeros, synced, its name made durable (the directory
    /// synced) before any record in it is acknowledged. The zeros go to a temporary file of
    /// `maker`'s, which then gets the segment's name through a hard link: that fails with
    /// [`std::io::ErrorKind::AlreadyExists`] when the other thread has put segment `number` in
    /// place meanwhile (the writer and the indexer may both make the same one).
    fn prepare(dir: &Path, number: u64, maker: &str) -> std::io::Result<Segment> {
        let path = Segment::path(dir, number);
        let tmp = dir.join(format!("{number:08}.{maker}.tmp"));
        let zeros = vec![0u8; 1 << 20];
        let made = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&tmp)
            .and_then(|mut f| {
                for _ in 0..SEGMENT_BYTES / zeros.len() as u64 {
                    f.write_all(&zeros)?;
                }
                f.sync_all()?;
                std::fs::hard_link(&tmp, &path)?;
                Ok(f)
            });
        let _ = std::fs::remove_file(&tmp);
        let file = made?;
        sync_dir(dir).map_err(std::io::Error::other)?;
        Ok(Segment {
            number,
            file,
            len: 0,
        })
    }

    /// Renames an indexed segment's file to `number`, to be written again from its start. Never
    /// replaces a file of that name (the writer may have made it itself meanwhile): the new name
    /// is a hard link, which fails when the name exists, and the old name is removed after.
    fn reuse(dir: &Path, old: u64, number: u64) -> Result<Segment, String> {
        let (from, to) = (Segment::path(dir, old), Segment::path(dir, number));
        std::fs::hard_link(&from, &to)
            .and_then(|_| std::fs::remove_file(&from))
            .map_err(|e| format!("cannot rename {}: {e}", from.display()))?;
        sync_dir(dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&to)
            .map_err(|e| format!("cannot open {}: {e}", to.display()))?;
        Ok(Segment {
            number,
            file,
            len: 0,
        })
    }
}

/// A record's checksum: over the segment's number and the record's JSON.
fn checksum(segment: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&segment.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Appends one record for segment `segment` to `buf`.
fn encode(buf: &mut Vec<u8>, segment: u64, id: i64, r: &NewReceipt) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 8]);
    serde_json::to_writer(&mut *buf, &(id, r)).expect("a receipt serialises");
    let payload = &buf[start + 8..];
    let len = u32::try_from(payload.len()).expect("a receipt is under 4 GiB");
    let crc = checksum(segment, payload);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The records of segment `segment`'s bytes, up to the first that is empty, short or fails its
/// checksum.
fn decode(segment: u64, bytes: &[u8]) -> Vec<(i64, NewReceipt)> {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() >= at + 8 {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
            break;
        };
        if len == 0 || checksum(segment, payload) != crc {
            break;
        }
        match serde_json::from_slice::<(i64, NewReceipt)>(payload) {
            Ok(rec) => out.push(rec),
            Err(_) => break,
        }
        at += 8 + len;
    }
    out
}

/// Replays into the table the log directories no live instance holds (their lock is free), then
/// deletes them.
fn replay_orphans(root: &Path, conn: &mut SqliteConnection) -> Result<(), String> {
    let entries =
        std::fs::read_dir(root).map_err(|e| format!("cannot read {}: {e}", root.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name();
        let dir = entry.path();
        if !dir.is_dir() {
            continue;
        }
        if name.to_string_lossy().starts_with('.') {
            remove_abandoned(&dir);
            continue;
        }
        let Ok(lock) = File::open(dir.join("lock")) else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue; // a live instance's log
        }
        let n = replay_dir(&dir, conn)?;
        if n > 0 {
            tracing::warn!(receipts = n, dir = %dir.display(), "replayed the receipt log of an instance that stopped");
        }
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    sync_dir(root)
}

/// How old an unfinished instance directory (`.<name>`) must be before it counts as abandoned.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// Removes an instance directory that was never finished (`.<name>`: a crash between making it
/// and renaming it). It holds no receipts: records are only written after the rename. One that is
/// younger than [`ABANDONED_AFTER`], or whose lock is held, may be an instance starting now.
fn remove_abandoned(dir: &Path) {
    let age = std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok());
    if age.is_none_or(|a| a < ABANDONED_AFTER) {
        return;
    }
    if let Ok(lock) = File::open(dir.join("lock")) {
        if lock.try_lock().is_err() {
            return;
        }
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {
            tracing::info!(dir = %dir.display(), "removed an unfinished receipt log directory")
        }
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot remove an unfinished receipt log directory")
        }
    }
}

/// Inserts every record of `dir`'s segments that the table lacks; returns how many records the
/// segments held.
pub(crate) fn replay_dir(dir: &Path, conn: &mut SqliteConnection) -> Result<usize, String> {
    let mut segments: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p)))
        .collect();
    segments.sort();
    let mut n = 0;
    for (number, path) in segments {
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let records = decode(number, &bytes);
        n += records.len();
        for chunk in records.chunks(REPLAY_BATCH) {
            conn.transaction(|c| chunk.iter().try_for_each(|(id, r)| insert(c, *id, r)))
                .map_err(|e| format!("cannot replay {}: {e}", path.display()))?;
        }
    }
    Ok(n)
}

/// One receipt into the table under its id; nothing when that id is there already (replay after
/// the indexer had stored it). The columns are named one by one rather than inserting
/// [`NewReceipt`] as a whole: measured on the benchmark database, the whole-struct insert left
/// the indexer behind under streams of 1,000-code batches (batch p99 170–480 ms in six runs,
/// 100–222 ms in two runs with this form; docs/performance.md, sixth round).
fn insert(c: &mut SqliteConnection, id: i64, r: &NewReceipt) -> QueryResult<()> {
    use crate::schema::credit_checks::dsl as cc;
    let id = i32::try_from(id)
        .map_err(|_| diesel::result::Error::QueryBuilderError("receipt id out of range".into()))?;
    diesel::insert_or_ignore_into(cc::credit_checks)
        .values((
            cc::id.eq(id),
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
        .execute(c)
        .map(|_| ())
}

enum ToIndexer {
    /// Receipts made durable, in id order.
    Rows(Vec<(i64, NewReceipt)>),
    /// Every record of this segment was sent before this message: once they are in the table the
    /// file can go.
    Closed(u64),
}

struct LogWriter {
    /// For reserving ids itself when the indexer has not kept enough ahead.
    conn: Lazy<SqliteConnection>,
    dir: PathBuf,
    segment: Segment,
    /// The next segment, prepared by the indexer.
    ready: mpsc::Receiver<Segment>,
    ids: Arc<Mutex<VecDeque<std::ops::Range<i64>>>>,
    shared: Arc<LogShared>,
    to_indexer: mpsc::Sender<ToIndexer>,
}

impl LogWriter {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        let mut buf = Vec::with_capacity(1 << 20);
        while let Ok(first) = rx.recv() {
            let held = self.hold_back(HOLD_BACK_LIMIT);
            let jobs = super::receipt_queue::gather(first, &rx);
            if let Err(e) = held {
                tracing::error!(error = %e, "check receipts refused");
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
                continue;
            }
            buf.clear();
            let result = self.append(&jobs, &mut buf);
            match result {
                Ok(ids) => self.acknowledge(jobs, ids),
                Err(e) => {
                    tracing::error!(error = %e, "writing check receipts to the log failed");
                    // Whatever half of the group reached the file stays behind the records that
                    // went before; later groups go to a fresh segment.
                    if let Err(e) = self.rotate() {
                        tracing::error!(error = %e, "cannot begin a new receipt log segment");
                    }
                    for job in jobs {
                        let _ = job.reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// Waits while [`MAX_UNINDEXED`] receipts or more wait for the indexer. An error when the
    /// backlog has not gone down in `limit` (the indexer is failing; its errors are logged): the
    /// group is then refused, not written.
    fn hold_back(&self, limit: Duration) -> Result<(), String> {
        let backlog = || self.shared.backlog();
        if backlog() < MAX_UNINDEXED {
            return Ok(());
        }
        HELD_BACK.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now() + limit;
        while backlog() >= MAX_UNINDEXED {
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} receipts have waited more than {} ms for the indexer",
                    backlog(),
                    limit.as_millis()
                ));
            }
            std::thread::sleep(HOLD_BACK_POLL);
        }
        Ok(())
    }

    /// Writes the group's records and syncs them; returns their ids in order.
    fn append(&mut self, jobs: &[Job], buf: &mut Vec<u8>) -> Result<Vec<i64>, String> {
        let n: usize = jobs.iter().map(|j| j.rows.len()).sum();
        let ids = self.take_ids(n)?;
        let mut size = 0;
        for _ in 0..2 {
            buf.clear();
            let mut next = ids.iter();
            for r in jobs.iter().flat_map(|j| j.rows.iter()) {
                encode(buf, self.segment.number, *next.next().expect("one id"), r);
            }
            size = buf.len() as u64;
            if self.segment.len == 0 || self.segment.len + size <= SEGMENT_BYTES {
                break;
            }
            // Encoded again for the next segment (its number is in the checksums).
            self.rotate()?;
        }
        use std::os::unix::fs::FileExt;
        self.segment
            .file
            .write_all_at(buf, self.segment.len)
            .and_then(|_| self.segment.file.sync_data())
            .map_err(|e| format!("receipt log: {e}"))?;
        self.segment.len += size;
        Ok(ids)
    }

    /// Takes `n` ids from the reserved blocks; reserves one more itself when the indexer has not
    /// kept enough ahead. An error when an id would not fit the table's column.
    fn take_ids(&mut self, n: usize) -> Result<Vec<i64>, String> {
        let mut out = Vec::with_capacity(n);
        let mut blocks = self.ids.lock().map_err(|_| "receipt id lock poisoned")?;
        while out.len() < n {
            match blocks.front_mut() {
                Some(b) if !b.is_empty() => {
                    let take = (n - out.len()).min(b.end as usize - b.start as usize) as i64;
                    out.extend(b.start..b.start + take);
                    b.start += take;
                }
                Some(_) => {
                    blocks.pop_front();
                }
                None => {
                    tracing::warn!("the receipt writer reserves ids itself: the indexer is behind");
                    match reserve(self.conn.get()?) {
                        Ok(b) => blocks.push_back(b),
                        Err(e) => {
                            self.conn.reset();
                            return Err(format!("cannot reserve receipt ids: {e}"));
                        }
                    }
                }
            }
        }
        // The table's ids are 32-bit: past that the group is refused before anything is written,
        // rather than acknowledged under an id the indexer could never store.
        if out.last().is_some_and(|&id| id > i64::from(i32::MAX)) {
            return Err(
                "receipt ids are exhausted: the next would not fit the table's 32-bit id".into(),
            );
        }
        Ok(out)
    }

    /// Moves on to the next segment: the one the indexer prepared, or (when it has not) one
    /// prepared here.
    fn rotate(&mut self) -> Result<(), String> {
        let number = self.segment.number + 1;
        let next = loop {
            match self.ready.try_recv() {
                Ok(s) if s.number == number => break s,
                Ok(s) => passed(s.number, number),
                // None ready (the indexer is behind, e.g. under a stream of large batches). A
                // file that grew as it is written was measured worse: its syncs wait for the file
                // system's journal (batch p99 450 ms instead of about 100 ms).
                Err(_) => match Segment::prepare(&self.dir, number, "writer") {
                    Ok(s) => break s,
                    // The indexer has just put this segment in place and is about to hand it
                    // over (it syncs the directory first).
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        break self.handed_over(number)?
                    }
                    Err(e) => {
                        return Err(format!("cannot prepare receipt log segment {number}: {e}"))
                    }
                },
            }
        };
        let old = std::mem::replace(&mut self.segment, next);
        self.shared.writing.store(number, Ordering::Release);
        let _ = self.to_indexer.send(ToIndexer::Closed(old.number));
        Ok(())
    }

    /// Waits for segment `number`, which the indexer has put in place and is handing over.
    fn handed_over(&self, number: u64) -> Result<Segment, String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self
                .ready
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(s) if s.number == number => return Ok(s),
                Ok(s) => passed(s.number, number),
                Err(_) => return Err(format!("receipt log segment {number} was not handed over")),
            }
        }
    }

    fn acknowledge(&mut self, jobs: Vec<Job>, ids: Vec<i64>) {
        let mut rows = Vec::with_capacity(ids.len());
        let mut next = ids.into_iter();
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut mine = Vec::with_capacity(job.rows.len());
            for r in job.rows {
                let id = next.next().expect("one id per receipt");
                mine.push(i32::try_from(id).expect("take_ids gives 32-bit ids only"));
                rows.push((id, r));
            }
            replies.push((job.reply, mine));
        }
        let n = rows.len() as i64;
        COMMITS.fetch_add(1, Ordering::Relaxed);
        RECEIPTS.fetch_add(n as u64, Ordering::Relaxed);
        self.shared.acked.fetch_add(n, Ordering::Release);
        let _ = self.to_indexer.send(ToIndexer::Rows(rows));
        for (reply, mine) in replies {
            let _ = reply.send(Ok(mine));
        }
    }
}

/// A segment made ready for a number other than the one the writer needs. Cannot happen: a
/// segment's name is given once ([`Segment::prepare`], [`Segment::reuse`]), so the writer never
/// prepares a number the indexer made ready. Its file is left alone, since a file under that
/// name the writer had used would hold receipts not yet indexed (the directory goes when the
/// instance stops).
fn passed(got: u64, wanted: u64) {
    tracing::warn!(
        got,
        wanted,
        "a receipt log segment was made ready out of turn; not used"
    );
}

struct Indexer {
    conn: Lazy<SqliteConnection>,
    dir: PathBuf,
    ids: Arc<Mutex<VecDeque<std::ops::Range<i64>>>>,
    shared: Arc<LogShared>,
    checkpoints: mpsc::SyncSender<()>,
    /// Where the writer takes its next segment from.
    ready: mpsc::SyncSender<Segment>,
    /// The highest segment number made ready so far.
    prepared: u64,
    /// Held while the thread runs: the log is this instance's until everything is indexed.
    _lock: File,
}

impl Indexer {
    fn run(mut self, rx: mpsc::Receiver<ToIndexer>) {
        // The first segments after the one the writer starts on (unless it got there first).
        self.keep_ready();
        let mut rows: Vec<(i64, NewReceipt)> = Vec::new();
        let mut closed: Vec<u64> = Vec::new();
        let mut open = true;
        while open || !rows.is_empty() {
            if rows.is_empty() && self.spare_ids() >= SPARE_BLOCKS * ID_BLOCK {
                match rx.recv() {
                    Ok(m) => take(m, &mut rows, &mut closed),
                    Err(_) => break,
                }
                // Let a batch gather while checks keep arriving.
                std::thread::sleep(INDEX_EVERY);
            }
            while rows.len() < INDEX_CHUNK {
                match rx.try_recv() {
                    Ok(m) => take(m, &mut rows, &mut closed),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            match self.batch(&rows) {
                Ok(()) => {
                    let n = rows.len() as i64;
                    rows.clear();
                    self.shared.indexed.send_modify(|i| *i += n);
                    let _ = self.checkpoints.try_send(());
                    for number in std::mem::take(&mut closed) {
                        let next = if open { self.wanted() } else { None };
                        if self.recycle(number, next) {
                            self.prepared = next.expect("made ready under its number");
                        }
                    }
                    if open {
                        self.keep_ready();
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, pending = rows.len(), "indexing check receipts failed; they are safe in the log, retrying");
                    self.conn.reset();
                    std::thread::sleep(RETRY_AFTER);
                }
            }
        }
        // Everything is in the table: the log directory goes with this instance.
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(error = %e, "cannot remove the receipt log directory");
        }
    }

    /// Makes new segments until [`READY_SEGMENTS`] are ready ahead of the writer: when the indexer
    /// is behind, no indexed segment can be reused, and without this the writer would have to
    /// make its next segment itself, between a group's acknowledgements.
    fn keep_ready(&mut self) {
        while let Some(next) = self.wanted() {
            match Segment::prepare(&self.dir, next, "indexer") {
                Ok(s) => {
                    if !self.offer(s) {
                        return;
                    }
                    self.prepared = next;
                }
                Err(e) => {
                    if e.kind() != std::io::ErrorKind::AlreadyExists {
                        tracing::warn!(error = %e, "cannot prepare a receipt log segment; the writer will");
                    }
                    return;
                }
            }
        }
    }

    /// The number of the next segment to make ready, when fewer than [`READY_SEGMENTS`] are ready
    /// ahead of the one the writer is on.
    fn wanted(&self) -> Option<u64> {
        let writing = self.shared.writing.load(Ordering::Acquire);
        let next = (self.prepared + 1).max(writing + 1);
        (next <= writing + READY_SEGMENTS).then_some(next)
    }

    /// Segment `number` is indexed: its file becomes segment `next`, ready for the writer, or it
    /// is deleted (`next` is `None` when the writer is gone or enough segments are ready; the
    /// rename fails when the writer has made `next` itself meanwhile). True when made ready.
    fn recycle(&self, number: u64, next: Option<u64>) -> bool {
        let path = Segment::path(&self.dir, number);
        if let Some(next) = next {
            match Segment::reuse(&self.dir, number, next) {
                Ok(s) => return self.offer(s),
                Err(e) => tracing::debug!(error = %e, "a receipt log segment is not reused"),
            }
        }
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(error = %e, path = %path.display(), "cannot delete an indexed receipt log segment");
        }
        false
    }

    /// Hands a segment this thread put in place to the writer. When the writer is gone or enough
    /// are ready, deletes its file instead (the name is this thread's) and returns false.
    fn offer(&self, s: Segment) -> bool {
        match self.ready.try_send(s) {
            Ok(()) => true,
            Err(mpsc::TrySendError::Full(s) | mpsc::TrySendError::Disconnected(s)) => {
                let _ = std::fs::remove_file(Segment::path(&self.dir, s.number));
                false
            }
        }
    }

    fn spare_ids(&self) -> i64 {
        self.ids
            .lock()
            .map(|b| b.iter().map(|r| r.end - r.start).sum())
            .unwrap_or(0)
    }

    /// A new block of ids when fewer than [`SPARE_BLOCKS`] blocks are spare, in a transaction of its
    /// own, then the rows in one transaction.
    fn batch(&mut self, rows: &[(i64, NewReceipt)]) -> Result<(), String> {
        if self.spare_ids() < SPARE_BLOCKS * ID_BLOCK {
            // First and on its own: the writer may be waiting for ids.
            let block = reserve(self.conn.get()?).map_err(|e| e.to_string())?;
            self.ids
                .lock()
                .map_err(|_| "receipt id lock poisoned")?
                .push_back(block);
        }
        if rows.is_empty() {
            return Ok(());
        }
        self.conn
            .get()?
            .transaction(|c| rows.iter().try_for_each(|(id, r)| insert(c, *id, r)))
            .map_err(|e| e.to_string())
    }
}

/// The receipt indexes are written at several places (subject buckets): a larger page cache than
/// SQLite's 2 MB default keeps their inner pages in memory.
fn indexer_pragmas(c: &mut SqliteConnection) -> Result<(), String> {
    c.batch_execute("PRAGMA cache_size = -65536;")
        .map_err(|e| format!("receipt indexer: {e}"))
}

fn take(m: ToIndexer, rows: &mut Vec<(i64, NewReceipt)>, closed: &mut Vec<u64>) {
    match m {
        ToIndexer::Rows(r) => rows.extend(r),
        ToIndexer::Closed(n) => closed.push(n),
    }
}

/// A commit appends the pages it changed to SQLite's write-ahead log; a checkpoint copies them
/// back into the database file. This thread runs a `PASSIVE` checkpoint (it waits for no one and
/// blocks no one) from its own connection after the indexer's commits, at most once every
/// [`CHECKPOINT_EVERY`] and never while nothing is written, so the copying is seldom left to a
/// commit that made the log pass SQLite's 1,000-page limit. Ends with the indexer.
fn checkpointer_loop(mut conn: Lazy<SqliteConnection>, commits: mpsc::Receiver<()>) {
    while commits.recv().is_ok() {
        let started = Instant::now();
        let done = conn.get().and_then(|c| {
            c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);")
                .map_err(|e| e.to_string())
        });
        if let Err(e) = done {
            tracing::warn!(error = %e, "background checkpoint failed; retrying");
            conn.reset();
        }
        std::thread::sleep(CHECKPOINT_EVERY.saturating_sub(started.elapsed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(n: i32) -> NewReceipt {
        NewReceipt {
            checked_at: chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
                .unwrap()
                .and_hms_opt(8, 0, 0)
                .unwrap(),
            caller_user_id: n,
            caller_department_id: None,
            field: "licensing".into(),
            reference: Some(format!("REF-{n}")),
            purpose: None,
            advice: "normal".into(),
            subject_key: "91220500MA0000000X".into(),
            subject_bucket: 0,
            subject_id: None,
            region_code: "220500".into(),
            measure_ids: "[]".into(),
            answer: r#"{"advice":"normal","quote":"\"x\""}"#.into(),
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_dropped() {
        let mut buf = Vec::new();
        for n in 1..=3 {
            encode(&mut buf, 7, i64::from(n) + 100, &receipt(n));
        }
        let whole = decode(7, &buf);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[2].0, 103);
        assert_eq!(whole[1].1.reference.as_deref(), Some("REF-2"));
        assert_eq!(whole[0].1.answer, receipt(1).answer);
        // A crash in the middle of the third record's write.
        let torn = &buf[..buf.len() - 5];
        assert_eq!(decode(7, torn).len(), 2);
        // The same bytes read as another segment's (a reused file's old records): nothing.
        assert!(decode(5, &buf).is_empty());
        // The zeros after the last record of a prepared segment end it.
        let mut padded = buf.clone();
        padded.extend_from_slice(&[0; 64]);
        assert_eq!(decode(7, &padded).len(), 3);
        // A flipped byte in the second record: it and what follows are not trusted.
        let mut flipped = buf.clone();
        let second = 8 + u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
        flipped[second + 20] ^= 1;
        assert_eq!(decode(7, &flipped).len(), 1);
        assert!(decode(7, &[]).is_empty());
        assert!(decode(7, &[1, 0, 0]).is_empty());
    }

    fn writer(
        dir: &Path,
        ready: mpsc::Receiver<Segment>,
    ) -> (LogWriter, mpsc::Receiver<ToIndexer>) {
        let (to_indexer, from_writer) = mpsc::channel();
        let w = LogWriter {
            conn: Lazy::new(|| Err("no database in this test".into())),
            dir: dir.to_path_buf(),
            segment: Segment::prepare(dir, 1, "writer").unwrap(),
            ready,
            ids: Arc::new(Mutex::new(VecDeque::new())),
            shared: Arc::new(LogShared {
                acked: AtomicI64::new(0),
                indexed: tokio::sync::watch::channel(0).0,
                writing: AtomicU64::new(1),
            }),
            to_indexer,
        };
        (w, from_writer)
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_segment_is_put_in_place_once_and_the_writer_takes_the_one_the_indexer_is_handing_over() {
        let dir = tempfile::tempdir().unwrap();
        let (ready, ready_rx) = mpsc::sync_channel(READY_SEGMENTS as usize);
        let (mut w, from_writer) = writer(dir.path(), ready_rx);
        // The indexer has put segment 2 in place and not handed it over yet: a second
        // preparation of that number fails and leaves the first file alone.
        let mut theirs = Segment::prepare(dir.path(), 2, "indexer").unwrap();
        use std::os::unix::fs::FileExt;
        theirs.file.write_all_at(b"mark", 0).unwrap();
        theirs.len = 4;
        let again = Segment::prepare(dir.path(), 2, "writer").err().unwrap();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        let handover = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            ready.send(theirs).unwrap();
            ready
        });
        // The writer moves on to segment 2 meanwhile: it takes the indexer's, it does not fail.
        w.rotate().unwrap();
        assert_eq!(w.segment.number, 2);
        assert_eq!(w.segment.len, 4);
        assert!(matches!(from_writer.try_recv(), Ok(ToIndexer::Closed(1))));
        let on_disk = std::fs::read(Segment::path(dir.path(), 2)).unwrap();
        assert_eq!(&on_disk[..4], b"mark");
        assert_eq!(on_disk.len() as u64, SEGMENT_BYTES);
        // None ready: the writer makes segment 3 itself.
        let _ready = handover.join().unwrap();
        w.rotate().unwrap();
        assert_eq!(w.segment.number, 3);
        // No temporary file is left behind.
        assert_eq!(
            files(dir.path()),
            ["00000001.log", "00000002.log", "00000003.log"]
        );
    }

    #[test]
    fn the_writer_waits_while_the_backlog_is_at_its_limit_and_refuses_when_it_does_not_go_down() {
        let dir = tempfile::tempdir().unwrap();
        let (_ready, ready_rx) = mpsc::sync_channel(READY_SEGMENTS as usize);
        let (w, _from_writer) = writer(dir.path(), ready_rx);
        let limit = Duration::from_millis(300);
        // Below the limit: no wait.
        w.shared.acked.store(MAX_UNINDEXED - 1, Ordering::Release);
        let held = HELD_BACK.load(Ordering::Relaxed);
        w.hold_back(limit).unwrap();
        // At the limit, the indexer catching up releases the writer.
        w.shared.acked.store(MAX_UNINDEXED, Ordering::Release);
        let shared = w.shared.clone();
        let indexer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            shared.indexed.send_modify(|i| *i += 1);
        });
        let started = Instant::now();
        w.hold_back(limit).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(HELD_BACK.load(Ordering::Relaxed) > held);
        indexer.join().unwrap();
        // The indexer makes no progress: refused once the limit has passed.
        w.shared.acked.store(MAX_UNINDEXED + 1, Ordering::Release);
        let e = w.hold_back(limit).unwrap_err();
        assert!(e.contains("waited more than 300 ms"), "{e}");
    }

    #[test]
    fn ids_past_the_tables_32_bit_column_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (_ready, ready_rx) = mpsc::sync_channel(READY_SEGMENTS as usize);
        let (mut w, _from_writer) = writer(dir.path(), ready_rx);
        let last = i64::from(i32::MAX);
        w.ids.lock().unwrap().push_back(last - 1..last + 10);
        assert_eq!(w.take_ids(2).unwrap(), [last - 1, last]);
        let e = w.take_ids(1).unwrap_err();
        assert!(e.contains("exhausted"), "{e}");
        // A whole group is refused: nothing reaches the log or the indexer.
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            rows: vec![receipt(1)],
            reply,
        };
        let mut buf = Vec::new();
        assert!(w.append(std::slice::from_ref(&job), &mut buf).is_err());
        assert_eq!(w.segment.len, 0);
        drop(answer);
    }

    #[test]
    fn the_indexer_makes_segments_ready_past_the_writer_when_it_is_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (ready, ready_rx) = mpsc::sync_channel(READY_SEGMENTS as usize);
        let (w, _from_writer) = writer(dir.path(), ready_rx);
        // The writer has made segments 2 to 5 itself: none of the indexer's was ready in time.
        w.shared.writing.store(5, Ordering::Release);
        let (checkpoints, _woken) = mpsc::sync_channel(1);
        let mut indexer = Indexer {
            conn: Lazy::new(|| Err("no database in this test".into())),
            dir: dir.path().to_path_buf(),
            ids: w.ids.clone(),
            shared: w.shared.clone(),
            checkpoints,
            ready,
            prepared: 1,
            _lock: File::open(dir.path()).unwrap(),
        };
        indexer.keep_ready();
        assert_eq!(indexer.prepared, 5 + READY_SEGMENTS);
        let numbers: Vec<u64> = w.ready.try_iter().map(|s| s.number).collect();
        assert_eq!(numbers, (6..6 + READY_SEGMENTS).collect::<Vec<_>>());
        // Enough are ready: nothing more is made.
        indexer.keep_ready();
        assert_eq!(indexer.prepared, 5 + READY_SEGMENTS);
    }

    #[test]
    fn unfinished_instance_directories_are_removed_once_abandoned() {
        let root = tempfile::tempdir().unwrap();
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let aged = |dir: &Path| {
            let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
            File::open(dir).unwrap().set_modified(an_hour_ago).unwrap();
        };
        // A crash before the lock file was made, long ago: removed.
        let empty = root.path().join(".1-dead");
        std::fs::create_dir(&empty).unwrap();
        aged(&empty);
        // A crash after it was made and locked: the lock is free now, so removed.
        let unlocked = root.path().join(".2-dead");
        std::fs::create_dir(&unlocked).unwrap();
        File::create(unlocked.join("lock")).unwrap();
        aged(&unlocked);
        // An instance starting now: kept.
        let young = root.path().join(".3-starting");
        std::fs::create_dir(&young).unwrap();
        // An old one whose lock is held (an instance still between its steps): kept.
        let held = root.path().join(".4-held");
        std::fs::create_dir(&held).unwrap();
        let lock = File::create(held.join("lock")).unwrap();
        lock.try_lock().unwrap();
        aged(&held);
        replay_orphans(root.path(), &mut conn).unwrap();
        assert_eq!(files(root.path()), [".3-starting", ".4-held"]);
        drop(lock);
    }

    #[test]
    fn the_log_lives_beside_the_database_file() {
        assert_eq!(
            log_root(Path::new("/data/credit-lists.db")),
            PathBuf::from("/data/credit-lists.db-receipts")
        );
    }
}
