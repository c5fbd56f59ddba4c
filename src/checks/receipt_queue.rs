//! What the receipt writers share (核查记录): the receipt row, the queue of jobs a check hands to
//! its writer, the group a writer takes from it, the signing and answering of a committed group,
//! the connection a writer thread keeps, and the counters `/metrics` shows. Used by
//! [`super::receipts`] (the writer) and [`super::receipt_log`] (SQLite's log), neither of which
//! imports the other's internals.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use diesel::prelude::*;
use serde_json::Value;

use super::receipt_hash::CanonicalAnswer;
use super::signing::{Hash, LeafProof, ReceiptKeys};

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

/// One receipt to store. `answer` is the canonical answer without `check_id`
/// ([`CanonicalAnswer`]: its text is the stored column, its leaf hash is made once the id is
/// known). Its fields are the receipt table's columns (`credit_checks`, all but `id`):
/// PostgreSQL copies them as they are (`receipts::insert_all`); the SQLite receipt log stores
/// the small ones as one JSON array and the answer in a column of its own (`receipt_log::append`).
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
    pub answer: CanonicalAnswer,
}

/// A job's receipts once their group has committed: their ids and their proofs, in row order.
#[derive(Debug)]
pub struct Committed {
    pub ids: Vec<i32>,
    pub proofs: Vec<LeafProof>,
}

pub type Reply = tokio::sync::oneshot::Sender<Result<Committed, String>>;

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

/// Takes what else is queued behind `first` without waiting, until the jobs taken hold
/// [`MAX_GROUP`] receipts: the group a writer commits at once. A job is never split, so the group
/// may pass it by its last job (a batch of 1,000 codes).
pub fn gather(first: Job, rx: &mpsc::Receiver<Job>) -> Vec<Job> {
    let mut n = first.rows.len();
    let mut jobs = vec![first];
    while n < MAX_GROUP {
        match rx.try_recv() {
            Ok(j) => {
                n += j.rows.len();
                jobs.push(j);
            }
            Err(_) => break,
        }
    }
    jobs
}

/// Answers a group's jobs once the writer has committed it (`ids`: the group's receipt ids in
/// row order) or failed. On success the writer thread signs the whole group under **one**
/// Ed25519 signature right here, before anyone is woken: the leaves are the receipts' hashes
/// ([`CanonicalAnswer::leaf_hash`] with their ids), each job's consecutive and in order, one RFC
/// 9162 tree over them all, and each job gets the proofs of its leaves. Each answer still
/// verifies on its own (leaf, audit path, root, signature). Signing where the ids become known
/// spares every check a hand-off to a signing thread and back (performance.md, fifteenth round).
pub fn answer_group(keys: &ReceiptKeys, jobs: Vec<Job>, committed: Result<Vec<i32>, String>) {
    let mut ids = match committed {
        Ok(ids) => ids,
        Err(e) => {
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    COMMITS.fetch_add(1, Ordering::Relaxed);
    RECEIPTS.fetch_add(ids.len() as u64, Ordering::Relaxed);
    let leaves: Vec<Hash> = jobs
        .iter()
        .flat_map(|j| j.rows.iter())
        .zip(&ids)
        .map(|(r, &id)| r.answer.leaf_hash(id))
        .collect();
    let mut proofs = keys.sign_group(&leaves);
    for job in jobs.into_iter().rev() {
        let at = ids.len() - job.rows.len();
        let mine = Committed {
            ids: ids.split_off(at),
            proofs: proofs.split_off(at),
        };
        // A request that went away (client gone) no longer waits: nothing to do.
        let _ = job.reply.send(Ok(mine));
    }
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

#[cfg(test)]
mod tests {
    use super::super::signing::{verify_answer, GroupProof};
    use super::*;
    use serde_json::json;

    fn keys() -> ReceiptKeys {
        ReceiptKeys::from_seed(&[7; 32])
    }

    /// A new receipt whose stored answer is `answer` (with `check_id` 0, as a check makes it).
    fn row(answer: Value) -> NewReceipt {
        NewReceipt {
            checked_at: chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
                .unwrap()
                .and_hms_opt(9, 0, 0)
                .unwrap(),
            caller_user_id: 1,
            caller_department_id: None,
            field: "f".into(),
            reference: None,
            purpose: None,
            advice: "normal".into(),
            subject_key: "K".into(),
            subject_bucket: 0,
            subject_id: None,
            region_code: "220500".into(),
            measure_ids: "[]".into(),
            answer: CanonicalAnswer::of(&answer).unwrap(),
        }
    }

    /// The receipts' answers of a job as stored (`check_id` 0), and the receiving end of its reply.
    type Waiting = (
        Vec<Value>,
        tokio::sync::oneshot::Receiver<Result<Committed, String>>,
    );

    /// `n` jobs of 1 to 5 receipts and 1,000 for the fourth, each with what it waits for.
    fn jobs(n: usize) -> (Vec<Job>, Vec<Waiting>) {
        let mut jobs = vec![];
        let mut waiting = vec![];
        for j in 0..n {
            let count = if j == 3 { 1000 } else { j % 5 + 1 };
            let answers: Vec<Value> = (0..count)
                .map(
                    |i| json!({"advice": "normal", "check_id": 0, "subject": format!("s-{j}-{i}")}),
                )
                .collect();
            let (reply, rx) = tokio::sync::oneshot::channel();
            jobs.push(Job {
                rows: answers.iter().cloned().map(row).collect(),
                reply,
            });
            waiting.push((answers, rx));
        }
        (jobs, waiting)
    }

    #[test]
    fn a_committed_group_is_signed_once_and_each_answer_verifies_on_its_own() {
        let keys = keys();
        let (jobs, waiting) = jobs(12);
        let total: usize = jobs.iter().map(|j| j.rows.len()).sum();
        let ids: Vec<i32> = (101..101 + total as i32).collect();
        answer_group(&keys, jobs, Ok(ids));
        let mut next_id = 101;
        let mut first_signature = None;
        for (answers, mut rx) in waiting {
            let got = rx.try_recv().unwrap().unwrap();
            assert_eq!(got.ids.len(), answers.len());
            assert_eq!(got.proofs.len(), answers.len());
            for (i, ((answer, id), proof)) in
                answers.iter().zip(&got.ids).zip(&got.proofs).enumerate()
            {
                // The job's ids and leaves are consecutive and in order in the one tree.
                assert_eq!(*id, next_id);
                assert_eq!(proof.leaf_index, (next_id - 101) as u64);
                assert_eq!(proof.leaf_index, got.proofs[0].leaf_index + i as u64);
                let parsed: GroupProof = serde_json::from_str(&proof.json(None)).unwrap();
                assert_eq!(parsed.leaf_index, proof.leaf_index);
                assert_eq!(parsed.tree_size, total as u64);
                let signature = first_signature.get_or_insert_with(|| parsed.signature.clone());
                assert_eq!(&parsed.signature, signature, "one signature for the group");
                let mut sent = answer.clone();
                sent["check_id"] = json!(id);
                sent["proof"] = serde_json::from_str(&proof.json(None)).unwrap();
                verify_answer(&sent, &keys.published).unwrap();
                // Another id, or one changed byte, and it no longer verifies.
                let mut other = sent.clone();
                other["check_id"] = json!(id + 1);
                assert!(verify_answer(&other, &keys.published).is_err());
                sent["advice"] = json!("normaL");
                assert!(verify_answer(&sent, &keys.published).is_err());
                next_id += 1;
            }
        }
        assert_eq!(next_id as usize, 101 + total);
    }

    #[test]
    fn a_failed_commit_answers_every_job_with_the_error() {
        let (jobs, waiting) = jobs(3);
        answer_group(&keys(), jobs, Err("disk full".into()));
        for (_, mut rx) in waiting {
            assert_eq!(rx.try_recv().unwrap().unwrap_err(), "disk full");
        }
    }
}
