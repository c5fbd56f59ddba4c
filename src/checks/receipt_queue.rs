//! What the receipt writers share (核查记录): the receipt row, the queue of jobs a check hands to
//! its writer, the group a writer takes from it, the connection a writer thread keeps, and the
//! counters `/metrics` shows. Used by [`super::receipts`] (the writer) and [`super::receipt_log`]
//! (SQLite's log), neither of which imports the other's internals.

use std::sync::atomic::AtomicU64;
use std::sync::mpsc;

use diesel::prelude::*;
use serde_json::Value;

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

/// One receipt to store. `answer` is the JSON answer without `check_id`. Its fields are the
/// receipt table's columns (`credit_checks`, all but `id`): PostgreSQL inserts it as it is (a
/// `None` binds NULL, so every row's statement is the same); the SQLite receipt log stores it as
/// JSON, and its indexer names the columns one by one (see `receipt_log::insert`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Insertable)]
#[diesel(table_name = crate::schema::credit_checks, treat_none_as_default_value = false)]
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

pub type Reply = tokio::sync::oneshot::Sender<Result<Vec<i32>, String>>;

pub struct Job {
    pub rows: Vec<NewReceipt>,
    pub reply: Reply,
}

/// Most receipts one group commit writes.
pub const MAX_GROUP: usize = 4_000;

/// Group commits made (counted when committed), for `/metrics`.
pub static COMMITS: AtomicU64 = AtomicU64::new(0);
/// Receipts written, for `/metrics`.
pub static RECEIPTS: AtomicU64 = AtomicU64::new(0);

/// Takes what else is queued behind `first`, up to [`MAX_GROUP`] receipts: one group commit.
pub fn gather(first: Job, rx: &mpsc::Receiver<Job>) -> Vec<Job> {
    gather_up_to(first, rx, MAX_GROUP, |j| j.rows.len())
}

/// Takes what else is queued behind `first` without waiting, until the jobs taken hold `max`
/// items (`size` of each job): the group a writer or the signer handles at once. A job is never
/// split, so the group may pass `max` by its last job.
pub fn gather_up_to<J>(
    first: J,
    rx: &mpsc::Receiver<J>,
    max: usize,
    size: impl Fn(&J) -> usize,
) -> Vec<J> {
    let mut n = size(&first);
    let mut jobs = vec![first];
    while n < max {
        match rx.try_recv() {
            Ok(j) => {
                n += size(&j);
                jobs.push(j);
            }
            Err(_) => break,
        }
    }
    jobs
}

/// A connection made when first needed and made again after a failure: the receipt threads
/// keep theirs across groups, and a broken one must not stop them.
pub struct Lazy<C> {
    connect: Box<dyn Fn() -> Result<C, String> + Send>,
    conn: Option<C>,
}

impl<C> Lazy<C> {
    pub fn new(connect: impl Fn() -> Result<C, String> + Send + 'static) -> Self {
        Lazy {
            connect: Box::new(connect),
            conn: None,
        }
    }

    /// Starts with a connection already made.
    pub fn with(mut self, conn: C) -> Self {
        self.conn = Some(conn);
        self
    }

    /// The connection, made now if there is none.
    pub fn get(&mut self) -> Result<&mut C, String> {
        if self.conn.is_none() {
            self.conn = Some((self.connect)()?);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Drops the connection after a failure (it may be broken); the next [`Self::get`] makes a
    /// new one.
    pub fn reset(&mut self) {
        self.conn = None;
    }
}

/// A stored receipt (核查记录) as read back.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::credit_checks)]
pub struct ReceiptRow {
    pub id: i32,
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

impl ReceiptRow {
    /// The receipt hash (`receipt_hash`): RFC 9162 leaf hash of the RFC 8785 canonical form of
    /// the receipt as [`Self::answer_value`] gives it. The signed log's leaf, and what the printed
    /// 信用核查结果单 shows.
    pub fn hash(&self) -> [u8; 32] {
        super::receipt_hash::leaf_hash(&super::receipt_hash::canonical_bytes(&self.answer_value()))
    }

    /// [`Self::hash`] as lowercase hex, the form shown and compared.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash())
    }

    /// The answer exactly as it was given. A receipt stored before reasons had codes keeps its
    /// sentences: each plain string reads back as `{"code": "legacy", "message": <sentence>}`.
    pub fn answer_value(&self) -> Value {
        stored_answer_value(self.id, &self.answer)
    }
}

/// [`ReceiptRow::answer_value`] of a receipt's id and stored answer.
pub fn stored_answer_value(id: i32, answer: &str) -> Value {
    let mut v: Value = serde_json::from_str(answer).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("check_id".into(), Value::from(id));
        if let Some(Value::Array(reasons)) = m.get_mut("reasons") {
            for r in reasons.iter_mut() {
                if let Value::String(s) = r {
                    *r = legacy_reason(std::mem::take(s));
                }
            }
        }
    }
    v
}

/// An old receipt's reason sentence in today's shape.
pub fn legacy_reason(sentence: String) -> Value {
    serde_json::json!({"code": "legacy", "message": sentence})
}
