//! The in-memory index credit checks answer from (信用核查的内存索引).
//!
//! It holds what a check reads — every subject's identity (by lookup key), the list entries that can
//! still be in force, and the catalogue (scope item versions, scope → measure links, published
//! measures, departments, active fields) — so that a check needs no query at all; only its receipt
//! is written.
//!
//! **Keeping it current.** Database triggers append a row to `check_changes` for every insert,
//! update and delete of those tables, whatever code path made it (migration
//! `000026_check_changes`). A refresher thread per instance reads the rows after its cursor every
//! [`POLL_EVERY`] and reloads exactly the changed rows (the whole catalogue when a catalogue table
//! changed). Writes that touch these tables are serialised by the audit chain's head
//! (`db::write_tx`), so ids are assigned in commit order and a cursor never skips a change.
//!
//! **Staleness bound.** The index answers only while its last complete poll *started* less than
//! [`MAX_STALENESS`] ago, so an answer never misses a change committed more than that long before
//! (on any instance). A change committed through *this* instance is seen at once: `db::write_tx`
//! counts local commits, and a check finding a count newer than the index's falls back to the
//! database and wakes the refresher. Whenever the index cannot answer (not loaded yet, refresher
//! behind or disconnected), checks are evaluated from the database as before: same answers, slower.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::r2d2::ManageConnection;

use super::{answer_for, Ask, Catalogue, EntryLite, Evaluation, SubjectFacts, SubjectLite};
use crate::db::{self, ConnectionManager, DatabaseUrl, DbConnection};
use crate::domain::SubjectCode;
use crate::entries::lookup_key;
use crate::error::ApiError;
use crate::four_lists::SubjectType;
use crate::pii::PiiCipher;
use crate::repair::letters::{shown_on, CommitmentSummary};
use crate::schema::{check_changes, commitments, list_entries, subjects};

/// The index answers only if its last complete poll started less than this long ago.
pub const MAX_STALENESS: Duration = Duration::from_secs(1);
/// How often the refresher polls `check_changes` when nothing wakes it.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// Subjects read per query when loading.
const SUBJECT_PAGE: i64 = 50_000;
/// List entries read per query when loading.
const ENTRY_PAGE: i64 = 20_000;
/// Change rows read per query.
const CHANGE_PAGE: i64 = 50_000;
/// Change rows kept for instances that lag (older ones are pruned; a lagging instance reloads).
const PRUNE_KEEP: i64 = 1_000_000;
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Tables whose changes reload the whole catalogue.
const CATALOGUE_TABLES: [&str; 5] = [
    "four_list_items",
    "four_list_item_versions",
    "four_list_links",
    "departments",
    "application_fields",
];

/// A subject as the index keeps it: 16 bytes beside its fixed-size key (see [`Subjects`]).
#[derive(Clone, Copy)]
struct CachedSubject {
    id: i32,
    /// The name's place in [`Subjects::names`].
    name_at: u32,
    name_len: u32,
    /// Index into [`Subjects::regions`]; [`NO_REGION`] for none.
    region: u16,
    kind: SubjectType,
    code_flagged: bool,
}

const NO_REGION: u16 = u16::MAX;

/// A subject's lookup key as a fixed-size value: a unified social credit code's 18 ASCII bytes,
/// or the 32 bytes of an ID number's lookup digest (`id:` and 64 lower-case hex digits, see
/// [`crate::entries::lookup_key`]). Any other form (none is written today) is kept as a string.
enum FixedKey {
    Uscc([u8; 18]),
    Digest([u8; 32]),
}

fn fixed_key(key: &str) -> Option<FixedKey> {
    let b = key.as_bytes();
    if b.len() == 18 && b.iter().all(|c| c.is_ascii_graphic()) {
        return b.try_into().ok().map(FixedKey::Uscc);
    }
    let hex = key.strip_prefix("id:")?.as_bytes();
    // Lower-case only, so that one digest has one key (the lookup key is always written so).
    if hex.len() != 64 || !hex.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex, &mut out).ok()?;
    Some(FixedKey::Digest(out))
}

/// Every subject, compactly (issue 25): organisations by their 18-byte code, individuals by their
/// 32-byte digest, in two hash maps of fixed-size keys and 16-byte values; names in one string
/// (a changed name is appended, the old bytes stay until the next full load); regions shared.
/// About 40 bytes a subject plus its name, against about 200 as heap strings.
#[derive(Default)]
struct Subjects {
    orgs: HashMap<[u8; 18], CachedSubject>,
    people: HashMap<[u8; 32], CachedSubject>,
    other: HashMap<Box<str>, CachedSubject>,
    names: String,
    regions: Vec<Box<str>>,
    region_ids: HashMap<Box<str>, u16>,
}

impl Subjects {
    fn len(&self) -> usize {
        self.orgs.len() + self.people.len() + self.other.len()
    }

    fn get(&self, key: &str) -> Option<&CachedSubject> {
        match fixed_key(key) {
            Some(FixedKey::Uscc(k)) => self.orgs.get(&k),
            Some(FixedKey::Digest(k)) => self.people.get(&k),
            None => self.other.get(key),
        }
    }

    fn facts(&self, s: &CachedSubject) -> SubjectFacts<'_> {
        let at = s.name_at as usize;
        SubjectFacts {
            id: s.id,
            kind: s.kind,
            name: &self.names[at..at + s.name_len as usize],
            region_code: self.regions.get(s.region as usize).map(|r| &**r),
            code_flagged: s.code_flagged,
        }
    }

    /// Keeps `s`. `reuse_name`: look the key up first, to reuse the name's bytes when it did not
    /// change (a full load, where every key is new, skips that).
    fn insert(&mut self, s: SubjectLite, reuse_name: bool) {
        let Some(kind) = SubjectType::parse(&s.kind) else {
            return;
        };
        let region = match s.region_code {
            None => NO_REGION,
            Some(r) => match self.region_ids.get(r.as_str()) {
                Some(i) => *i,
                None if self.regions.len() < NO_REGION as usize => {
                    let i = self.regions.len() as u16;
                    self.regions.push(r.clone().into_boxed_str());
                    self.region_ids.insert(r.into_boxed_str(), i);
                    i
                }
                // More than 65,535 distinct regions cannot happen (about 3,000 divisions exist);
                // such a subject is left to the database path rather than answered wrongly.
                None => {
                    self.remove(&s.lookup_key);
                    return;
                }
            },
        };
        // The name's bytes are reused when it did not change.
        let previous = if reuse_name {
            self.get(&s.lookup_key).copied()
        } else {
            None
        };
        let (name_at, name_len) = match previous {
            Some(p) if self.facts(&p).name == s.name => (p.name_at, p.name_len),
            _ => {
                let (Ok(at), Ok(len)) =
                    (u32::try_from(self.names.len()), u32::try_from(s.name.len()))
                else {
                    self.remove(&s.lookup_key);
                    return;
                };
                self.names.push_str(&s.name);
                (at, len)
            }
        };
        let value = CachedSubject {
            id: s.id,
            name_at,
            name_len,
            region,
            kind,
            code_flagged: s.code_flagged,
        };
        match fixed_key(&s.lookup_key) {
            Some(FixedKey::Uscc(k)) => {
                self.orgs.insert(k, value);
            }
            Some(FixedKey::Digest(k)) => {
                self.people.insert(k, value);
            }
            None => {
                self.other.insert(s.lookup_key.into_boxed_str(), value);
            }
        }
    }

    fn remove(&mut self, key: &str) {
        match fixed_key(key) {
            Some(FixedKey::Uscc(k)) => self.orgs.remove(&k),
            Some(FixedKey::Digest(k)) => self.people.remove(&k),
            None => self.other.remove(key),
        };
    }
}

/// A list entry as the index keeps it: 48 bytes, no allocation of its own. Its list type, status
/// and source are interned ([`Index::words`]); its document number, representative's name and
/// encrypted ID number are runs of [`Index::texts`]; its subject is the key it is kept under.
/// (Before issue 25's second round: about 112 bytes and three allocations, in a vector of at least
/// four per subject.)
#[derive(Clone, Copy)]
struct CompactEntry {
    id: i32,
    department_id: i32,
    scope_item_id: i32,
    scope_item_version: i32,
    determination_date: NaiveDate,
    valid_from: NaiveDate,
    valid_until: NaiveDate,
    removal_date: Option<NaiveDate>,
    /// The texts' place in [`Index::texts`]: the document number, then the representative's name,
    /// then the encrypted number; a length of [`ABSENT`] is `None` (no bytes).
    text_at: u32,
    document_len: u16,
    representative_len: u16,
    representative_id_len: u16,
    list_type: u8,
    status: u8,
    source: u8,
    objection_open: bool,
}

/// The length of a text that is absent (`None`).
const ABSENT: u16 = u16::MAX;

/// Short strings of a few distinct values (list types, statuses, sources), kept once.
#[derive(Default)]
struct Words {
    words: Vec<Box<str>>,
    ids: HashMap<Box<str>, u8>,
}

impl Words {
    /// The word's number; `None` past 256 distinct words (the columns hold a handful each).
    fn id(&mut self, w: &str) -> Option<u8> {
        if let Some(i) = self.ids.get(w) {
            return Some(*i);
        }
        let i = u8::try_from(self.words.len()).ok()?;
        self.words.push(w.into());
        self.ids.insert(w.into(), i);
        Some(i)
    }

    fn word(&self, i: u8) -> &str {
        &self.words[i as usize]
    }
}

/// The list entries that can still be in force (see [`CompactEntry`]).
struct Entries {
    /// Subject id → its entries, ordered by id (a slice of its exact length: most subjects have
    /// one entry).
    by_subject: HashMap<i32, Box<[CompactEntry]>>,
    /// Entry id → its subject.
    entry_subject: HashMap<i32, i32>,
    words: Words,
    /// The entries' texts, end to end (a changed entry's are appended; the old bytes stay until
    /// the next full load).
    texts: String,
    /// Subjects whose entries the index could not keep (a text longer than 65,534 bytes, more
    /// than 256 distinct statuses): checks of these fall back to the database.
    unkept: BTreeSet<i32>,
    /// Entries whose validity ended before this day are not kept.
    kept_from: NaiveDate,
}

struct Index {
    cursor: i64,
    subjects: Subjects,
    entries: Entries,
    /// Subject id → its commitment letters with breaches (only subjects that have any).
    commitments: HashMap<i32, Vec<CommitmentSummary>>,
    catalogue: Catalogue,
    /// When the last complete poll started, and the local commit count it had seen.
    polled_at: Instant,
    epoch: u64,
}

impl Entries {
    fn new(kept_from: NaiveDate) -> Entries {
        Entries {
            by_subject: HashMap::new(),
            entry_subject: HashMap::new(),
            words: Words::default(),
            texts: String::new(),
            unkept: BTreeSet::new(),
            kept_from,
        }
    }

    fn keeps(&self, e: &EntryLite) -> bool {
        e.status != "draft"
            && e.valid_until >= self.kept_from
            && e.removal_date.is_none_or(|d| d >= self.kept_from)
    }

    fn forget(&mut self, entry_id: i32) {
        if let Some(sid) = self.entry_subject.remove(&entry_id) {
            if let Some(list) = self.by_subject.remove(&sid) {
                let kept: Box<[CompactEntry]> =
                    list.iter().filter(|e| e.id != entry_id).copied().collect();
                if !kept.is_empty() {
                    self.by_subject.insert(sid, kept);
                }
            }
        }
    }

    fn keep(&mut self, e: EntryLite) {
        if !self.keeps(&e) {
            return;
        }
        let Some(compact) = self.compact(&e) else {
            tracing::warn!(
                entry = e.id,
                "a list entry does not fit the check index; its subject is checked from the database"
            );
            self.unkept.insert(e.subject_id);
            return;
        };
        self.entry_subject.insert(e.id, e.subject_id);
        let list = self.by_subject.remove(&e.subject_id).unwrap_or_default();
        let at = list.partition_point(|x| x.id < e.id);
        let mut grown = Vec::with_capacity(list.len() + 1);
        grown.extend_from_slice(&list[..at]);
        grown.push(compact);
        grown.extend_from_slice(&list[at..]);
        self.by_subject
            .insert(e.subject_id, grown.into_boxed_slice());
    }

    fn compact(&mut self, e: &EntryLite) -> Option<CompactEntry> {
        let len = |t: &str| u16::try_from(t.len()).ok().filter(|l| *l != ABSENT);
        let document_len = len(&e.document_number)?;
        let opt_len = |t: &Option<String>| match t {
            None => Some(ABSENT),
            Some(t) => len(t),
        };
        let representative_len = opt_len(&e.legal_representative)?;
        let representative_id_len = opt_len(&e.legal_representative_id_enc)?;
        let (list_type, status, source) = (
            self.words.id(&e.list_type)?,
            self.words.id(&e.status)?,
            self.words.id(&e.source)?,
        );
        let text_at = u32::try_from(self.texts.len()).ok()?;
        let added = e.document_number.len()
            + e.legal_representative.as_ref().map_or(0, String::len)
            + e.legal_representative_id_enc
                .as_ref()
                .map_or(0, String::len);
        u32::try_from(self.texts.len() + added).ok()?;
        self.texts.push_str(&e.document_number);
        for t in [&e.legal_representative, &e.legal_representative_id_enc]
            .into_iter()
            .flatten()
        {
            self.texts.push_str(t);
        }
        Some(CompactEntry {
            id: e.id,
            department_id: e.department_id,
            scope_item_id: e.scope_item_id,
            scope_item_version: e.scope_item_version,
            determination_date: e.determination_date,
            valid_from: e.valid_from,
            valid_until: e.valid_until,
            removal_date: e.removal_date,
            text_at,
            document_len,
            representative_len,
            representative_id_len,
            list_type,
            status,
            source,
            objection_open: e.objection_open,
        })
    }

    /// An entry's document number, representative's name and encrypted number.
    fn texts_of(&self, e: &CompactEntry) -> (&str, Option<&str>, Option<&str>) {
        let mut at = e.text_at as usize;
        let mut next = |len: u16| {
            if len == ABSENT {
                return None;
            }
            let t = &self.texts[at..at + len as usize];
            at += len as usize;
            Some(t)
        };
        let document = next(e.document_len).unwrap_or_default();
        let representative = next(e.representative_len);
        let representative_id = next(e.representative_id_len);
        (document, representative, representative_id)
    }

    /// The subject's entries in force on `day`, as the answer reads them.
    fn in_force(&self, subject_id: i32, day: NaiveDate) -> Vec<EntryLite> {
        self.by_subject
            .get(&subject_id)
            .into_iter()
            .flat_map(|list| list.iter())
            .filter(|e| {
                crate::entries::in_force(
                    self.words.word(e.status),
                    e.valid_from,
                    e.valid_until,
                    e.removal_date,
                    day,
                )
            })
            .map(|e| {
                let (document, representative, representative_id) = self.texts_of(e);
                EntryLite {
                    id: e.id,
                    subject_id,
                    list_type: self.words.word(e.list_type).to_string(),
                    status: self.words.word(e.status).to_string(),
                    department_id: e.department_id,
                    scope_item_id: e.scope_item_id,
                    scope_item_version: e.scope_item_version,
                    document_number: document.to_string(),
                    determination_date: e.determination_date,
                    valid_from: e.valid_from,
                    valid_until: e.valid_until,
                    source: self.words.word(e.source).to_string(),
                    objection_open: e.objection_open,
                    removal_date: e.removal_date,
                    legal_representative: representative.map(str::to_string),
                    legal_representative_id_enc: representative_id.map(str::to_string),
                }
            })
            .collect()
    }
}

/// The index of one instance; see the module documentation.
pub struct CheckIndex {
    index: RwLock<Option<Index>>,
    /// Codes answered from memory, and codes the index declined (answered from the database).
    pub answered: AtomicU64,
    pub declined: AtomicU64,
    wake: Mutex<bool>,
    woken: Condvar,
}

impl CheckIndex {
    /// Starts the refresher thread (its first poll loads everything). The thread ends when the
    /// index is dropped.
    pub fn start(url: DatabaseUrl) -> Arc<CheckIndex> {
        let index = Arc::new(CheckIndex {
            index: RwLock::new(None),
            answered: AtomicU64::new(0),
            declined: AtomicU64::new(0),
            wake: Mutex::new(false),
            woken: Condvar::new(),
        });
        let weak = Arc::downgrade(&index);
        std::thread::Builder::new()
            .name("check-index".into())
            .spawn(move || refresher(weak, ConnectionManager::new(url)))
            .expect("the check index thread starts");
        index
    }

    /// Answers from memory, or `None` when the index may not answer now (then evaluate from the
    /// database). `Some(Err)` is an unknown field.
    pub fn evaluate(
        &self,
        pii: &PiiCipher,
        codes: &[SubjectCode],
        ask: &Ask<'_>,
    ) -> Option<Result<Vec<Evaluation>, ApiError>> {
        let n = codes.len() as u64;
        let guard = self.index.read().ok()?;
        let fresh = guard.as_ref().is_some_and(|ix| {
            ix.epoch == db::local_commits() && ix.polled_at.elapsed() <= MAX_STALENESS
        });
        let Some(ix) = guard.as_ref().filter(|_| fresh) else {
            drop(guard);
            self.declined.fetch_add(n, Ordering::Relaxed);
            self.wake();
            return None;
        };
        if let Err(e) = ix.catalogue.require_active_field(ask.field) {
            self.answered.fetch_add(n, Ordering::Relaxed);
            return Some(Err(e));
        }
        let unkept = |id: i32| !ix.entries.unkept.is_empty() && ix.entries.unkept.contains(&id);
        let decline = || {
            self.declined.fetch_add(n, Ordering::Relaxed);
            None
        };
        let mut out = Vec::with_capacity(codes.len());
        for code in codes {
            let key = lookup_key(code, pii);
            let subject = ix.subjects.get(key.as_str());
            if subject.is_some_and(|s| unkept(s.id)) {
                return decline();
            }
            let facts = subject.map(|s| ix.subjects.facts(s));
            let owned = subject
                .map(|s| ix.entries.in_force(s.id, ask.today))
                .unwrap_or_default();
            let list: Vec<&EntryLite> = owned.iter().collect();
            let shown = subject
                .and_then(|s| ix.commitments.get(&s.id))
                .map(|c| shown_on(c, ask.today))
                .unwrap_or_default();
            let related = match subject {
                Some(_) => super::legal_reps(pii, &list)
                    .into_iter()
                    .map(|rep| {
                        let person = ix.subjects.get(rep.key.as_str());
                        if person.is_some_and(|p| unkept(p.id)) {
                            return Err(());
                        }
                        let owned = person
                            .map(|p| ix.entries.in_force(p.id, ask.today))
                            .unwrap_or_default();
                        let black: Vec<&EntryLite> = owned.iter().collect();
                        Ok(super::related_party(rep, &black, &ix.catalogue, ask))
                    })
                    .filter_map(Result::transpose)
                    .collect::<Result<Vec<_>, ()>>(),
                None => Ok(vec![]),
            };
            let Ok(related) = related else {
                return decline();
            };
            let around = super::Around {
                commitments: shown,
                related,
            };
            match answer_for(code, key, facts, &list, around, &ix.catalogue, ask) {
                Ok(ev) => out.push(ev),
                Err(e) => {
                    self.answered.fetch_add(n, Ordering::Relaxed);
                    return Some(Err(e));
                }
            }
        }
        self.answered.fetch_add(n, Ordering::Relaxed);
        Some(Ok(out))
    }

    /// True once loaded and fresh (for tests and `/ready`-style probes).
    pub fn is_fresh(&self) -> bool {
        self.index.read().ok().is_some_and(|g| {
            g.as_ref().is_some_and(|ix| {
                ix.epoch == db::local_commits() && ix.polled_at.elapsed() <= MAX_STALENESS
            })
        })
    }

    fn wake(&self) {
        if let Ok(mut w) = self.wake.lock() {
            *w = true;
            self.woken.notify_one();
        }
    }

    fn sleep(&self, d: Duration) {
        if let Ok(w) = self.wake.lock() {
            if let Ok((mut w, _)) = self.woken.wait_timeout_while(w, d, |w| !*w) {
                *w = false;
            }
        }
    }

    /// Catches up with every committed change (or loads everything the first time).
    fn poll(&self, conn: &mut DbConnection, manager: &ConnectionManager) -> Result<(), ApiError> {
        loop {
            let started = Instant::now();
            let epoch = db::local_commits();
            let cursor = self
                .index
                .read()
                .map_err(|_| ApiError::internal("check index lock poisoned"))?
                .as_ref()
                .map(|ix| ix.cursor);
            let Some(cursor) = cursor else {
                return self.reload(conn, manager, started, epoch);
            };
            let changes: Vec<(i64, String, i64)> = check_changes::table
                .filter(check_changes::id.gt(cursor))
                .order(check_changes::id)
                .limit(CHANGE_PAGE)
                .select((check_changes::id, check_changes::tbl, check_changes::row_id))
                .load(conn)?;
            if let Some(first) = changes.first() {
                if cursor > 0 && first.0 != cursor + 1 {
                    // A hole is normal (rolled-back ids); a pruned cursor row means we lagged.
                    let kept: i64 = check_changes::table
                        .filter(check_changes::id.eq(cursor))
                        .count()
                        .get_result(conn)?;
                    if kept == 0 {
                        return self.reload(conn, manager, started, epoch);
                    }
                }
            }
            let complete = (changes.len() as i64) < CHANGE_PAGE;
            let last = changes.last().map(|c| c.0);
            let mut entry_ids = BTreeSet::new();
            let mut subject_ids = BTreeSet::new();
            let mut commitment_ids = BTreeSet::new();
            let mut catalogue_dirty = false;
            for (_, tbl, row) in &changes {
                match tbl.as_str() {
                    "list_entries" => {
                        entry_ids.insert(*row as i32);
                    }
                    "subjects" => {
                        subject_ids.insert(*row as i32);
                    }
                    "commitments" => {
                        commitment_ids.insert(*row as i32);
                    }
                    t if CATALOGUE_TABLES.contains(&t) => catalogue_dirty = true,
                    _ => {}
                }
            }
            let entry_ids: Vec<i32> = entry_ids.into_iter().collect();
            let subject_ids: Vec<i32> = subject_ids.into_iter().collect();
            let mut entries = Vec::new();
            for chunk in entry_ids.chunks(500) {
                entries.extend(
                    list_entries::table
                        .filter(list_entries::id.eq_any(chunk))
                        .select(EntryLite::as_select())
                        .load::<EntryLite>(conn)?,
                );
            }
            let mut subjects_changed = Vec::new();
            for chunk in subject_ids.chunks(500) {
                subjects_changed.extend(
                    subjects::table
                        .filter(subjects::id.eq_any(chunk))
                        .select(SubjectLite::as_select())
                        .load::<SubjectLite>(conn)?,
                );
            }
            let commitment_ids: Vec<i32> = commitment_ids.into_iter().collect();
            let mut committed: BTreeSet<i32> = BTreeSet::new();
            for chunk in commitment_ids.chunks(500) {
                committed.extend(
                    commitments::table
                        .filter(commitments::id.eq_any(chunk))
                        .select(commitments::subject_id)
                        .load::<i32>(conn)?,
                );
            }
            let committed: Vec<i32> = committed.into_iter().collect();
            let mut letters = HashMap::new();
            for chunk in committed.chunks(500) {
                letters.extend(crate::repair::letters::summaries(conn, chunk)?);
            }
            let catalogue = if catalogue_dirty {
                Some(Catalogue::load_all(conn)?)
            } else {
                None
            };
            let mut guard = self
                .index
                .write()
                .map_err(|_| ApiError::internal("check index lock poisoned"))?;
            let Some(ix) = guard.as_mut() else {
                continue;
            };
            for id in &entry_ids {
                ix.entries.forget(*id);
            }
            for e in entries {
                ix.entries.keep(e);
            }
            for s in subjects_changed {
                ix.subjects.insert(s, true);
            }
            for sid in &committed {
                match letters.remove(sid) {
                    Some(l) => ix.commitments.insert(*sid, l),
                    None => ix.commitments.remove(sid),
                };
            }
            if let Some(c) = catalogue {
                ix.catalogue = c;
            }
            if let Some(last) = last {
                ix.cursor = last;
            }
            if complete {
                ix.polled_at = started;
                ix.epoch = epoch;
                return Ok(());
            }
        }
    }

    /// Loads everything: the subjects on this thread while a second connection reads the entries
    /// (the two halves of the load take about as long). The cursor is read first: a change
    /// committed while loading is applied again by the next poll (reloading a row is idempotent).
    fn reload(
        &self,
        conn: &mut DbConnection,
        manager: &ConnectionManager,
        started: Instant,
        epoch: u64,
    ) -> Result<(), ApiError> {
        let cursor: Option<i64> = check_changes::table
            .select(diesel::dsl::max(check_changes::id))
            .first(conn)?;
        let kept_from = crate::entries::today().pred_opt().unwrap_or(NaiveDate::MIN);
        let catalogue = Catalogue::load_all(conn)?;
        let (subjects, entries) = std::thread::scope(|scope| {
            let loader = std::thread::Builder::new()
                .name("check-index-load".into())
                .spawn_scoped(scope, || {
                    let mut c = manager.connect().map_err(|e| {
                        ApiError::internal(format!("the check index cannot connect: {e}"))
                    })?;
                    load_entries(&mut c, kept_from)
                });
            let subjects = load_subjects(conn);
            let entries = match loader {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(ApiError::internal("check index loader panicked"))),
                Err(_) => load_entries(conn, kept_from),
            };
            Ok::<_, ApiError>((subjects?, entries?))
        })?;
        let mut ix = Index {
            cursor: cursor.unwrap_or(0),
            subjects,
            entries,
            commitments: HashMap::new(),
            catalogue,
            polled_at: started,
            epoch,
        };
        let committed: Vec<i32> = commitments::table
            .select(commitments::subject_id)
            .distinct()
            .load(conn)?;
        for chunk in committed.chunks(500) {
            ix.commitments
                .extend(crate::repair::letters::summaries(conn, chunk)?);
        }
        tracing::info!(
            subjects = ix.subjects.len(),
            entries = ix.entries.entry_subject.len(),
            millis = started.elapsed().as_millis() as u64,
            "credit-check index loaded"
        );
        let old = self
            .index
            .write()
            .map_err(|_| ApiError::internal("check index lock poisoned"))?
            .replace(ix);
        drop(old);
        release_freed_memory();
        Ok(())
    }
}

/// Every subject, in pages by id (so the rows in flight stay small next to the index).
fn load_subjects(conn: &mut DbConnection) -> Result<Subjects, ApiError> {
    let mut out = Subjects::default();
    let mut after = 0;
    loop {
        let page: Vec<SubjectLite> = subjects::table
            .filter(subjects::id.gt(after))
            .order(subjects::id)
            .limit(SUBJECT_PAGE)
            .select(SubjectLite::as_select())
            .load(conn)?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        let full = page.len() as i64 == SUBJECT_PAGE;
        for s in page {
            out.insert(s, false);
        }
        if !full {
            break;
        }
    }
    out.names.shrink_to_fit();
    Ok(out)
}

/// The entries that can be in force from `kept_from` on, in pages by id.
fn load_entries(conn: &mut DbConnection, kept_from: NaiveDate) -> Result<Entries, ApiError> {
    let mut out = Entries::new(kept_from);
    let mut after = 0;
    loop {
        let page: Vec<EntryLite> = list_entries::table
            .filter(list_entries::id.gt(after))
            .filter(list_entries::status.ne("draft"))
            .filter(list_entries::valid_until.ge(kept_from))
            .order(list_entries::id)
            .limit(ENTRY_PAGE)
            .select(EntryLite::as_select())
            .load(conn)?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        let full = page.len() as i64 == ENTRY_PAGE;
        for e in page {
            out.keep(e);
        }
        if !full {
            break;
        }
    }
    out.texts.shrink_to_fit();
    Ok(out)
}

/// Hands the memory freed by a load (its pages of rows, a replaced index) back to the system:
/// glibc keeps freed memory of a thread's arena for reuse, and a full load frees hundreds of
/// megabytes the running server never needs again.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn prune(conn: &mut DbConnection) -> Result<(), ApiError> {
    let max: Option<i64> = check_changes::table
        .select(diesel::dsl::max(check_changes::id))
        .first(conn)?;
    if let Some(max) = max.filter(|m| *m > PRUNE_KEEP) {
        diesel::delete(check_changes::table.filter(check_changes::id.le(max - PRUNE_KEEP)))
            .execute(conn)?;
    }
    Ok(())
}

fn refresher(index: Weak<CheckIndex>, manager: ConnectionManager) {
    let mut conn: Option<DbConnection> = None;
    let mut pruned = Instant::now();
    loop {
        let Some(ix) = index.upgrade() else {
            return;
        };
        if conn.is_none() {
            conn = manager
                .connect()
                .map_err(|e| tracing::warn!(error = %e, "check index cannot connect"))
                .ok();
        }
        if let Some(c) = conn.as_mut() {
            match ix.poll(c, &manager) {
                Err(e) => {
                    tracing::warn!(error = %e, "check index refresh failed; checks use the database");
                    conn = None;
                }
                Ok(()) if pruned.elapsed() >= PRUNE_EVERY => {
                    pruned = Instant::now();
                    if let Err(e) = prune(c) {
                        tracing::warn!(error = %e, "pruning check_changes failed");
                    }
                }
                Ok(()) => {}
            }
        }
        ix.sleep(POLL_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_size_only_in_their_one_written_form() {
        assert!(
            matches!(fixed_key("91220502MA0000001X"), Some(FixedKey::Uscc(k)) if &k == b"91220502MA0000001X")
        );
        let digest = "id:".to_string() + &"0123456789abcdef".repeat(4);
        let Some(FixedKey::Digest(d)) = fixed_key(&digest) else {
            panic!("a digest key");
        };
        assert_eq!(hex::encode(d), &digest[3..]);
        // Upper case, short, or not hex: kept as strings, never folded onto another key.
        assert!(fixed_key(&digest.to_uppercase().replacen("ID:", "id:", 1)).is_none());
        assert!(fixed_key(&digest[..66]).is_none());
        assert!(fixed_key(&(digest[..66].to_string() + "g")).is_none());
        assert!(fixed_key("91220502MA000001X").is_none());
    }

    #[test]
    fn subjects_read_back_what_was_stored_and_keep_an_unchanged_name_once() {
        let mut s = Subjects::default();
        let lite = |id, key: &str, name: &str, region: Option<&str>| SubjectLite {
            id,
            kind: "enterprise".into(),
            lookup_key: key.into(),
            name: name.into(),
            region_code: region.map(str::to_string),
            code_flagged: id == 2,
        };
        let digest = "id:".to_string() + &"ab".repeat(32);
        s.insert(
            lite(1, "91220502MA0000001X", "通化市甲公司", Some("220502")),
            true,
        );
        s.insert(lite(2, &digest, "张三", None), true);
        s.insert(lite(3, "legacy-key", "乙", Some("220502")), true);
        assert_eq!(s.len(), 3);
        let f = s.facts(s.get("91220502MA0000001X").unwrap());
        assert_eq!(
            (f.id, f.name, f.region_code, f.code_flagged),
            (1, "通化市甲公司", Some("220502"), false)
        );
        let f = s.facts(s.get(&digest).unwrap());
        assert_eq!(
            (f.id, f.name, f.region_code, f.code_flagged),
            (2, "张三", None, true)
        );
        assert_eq!(s.facts(s.get("legacy-key").unwrap()).name, "乙");
        assert!(s.get("91220502MA0000002X").is_none());
        let before = s.names.len();
        s.insert(
            lite(1, "91220502MA0000001X", "通化市甲公司", Some("220503")),
            true,
        );
        assert_eq!(
            s.names.len(),
            before,
            "an unchanged name is not appended again"
        );
        s.insert(
            lite(1, "91220502MA0000001X", "通化市丙公司", Some("220503")),
            true,
        );
        let f = s.facts(s.get("91220502MA0000001X").unwrap());
        assert_eq!((f.name, f.region_code), ("通化市丙公司", Some("220503")));
        assert_eq!(s.regions.len(), 2);
    }

    #[test]
    fn entries_read_back_whole_and_one_that_does_not_fit_leaves_its_subject_to_the_database() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let mut es = Entries::new(day);
        let entry = |id, subject_id, rep: Option<(&str, &str)>, doc: String| EntryLite {
            id,
            subject_id,
            list_type: "black".into(),
            status: "published".into(),
            department_id: 3,
            scope_item_id: 4,
            scope_item_version: 5,
            document_number: doc,
            determination_date: day - chrono::Duration::days(30),
            valid_from: day - chrono::Duration::days(10),
            valid_until: day + chrono::Duration::days(300),
            source: "manual".into(),
            objection_open: id == 2,
            removal_date: None,
            legal_representative: rep.map(|r| r.0.to_string()),
            legal_representative_id_enc: rep.map(|r| r.1.to_string()),
        };
        let a = entry(
            2,
            7,
            Some(("张三", "bm9uY2UrY2lwaGVy")),
            "通化市监罚〔2026〕2号".into(),
        );
        let b = entry(1, 7, None, "".into());
        let c = entry(3, 8, Some(("", "x")), "D-3".into());
        for e in [a.clone(), b.clone(), c.clone()] {
            es.keep(e);
        }
        let got = |es: &Entries, sid| format!("{:?}", es.in_force(sid, day));
        assert_eq!(got(&es, 7), format!("{:?}", vec![b.clone(), a.clone()]));
        assert_eq!(got(&es, 8), format!("{:?}", vec![c.clone()]));
        assert_eq!(std::mem::size_of::<CompactEntry>(), 48);
        es.forget(1);
        assert_eq!(got(&es, 7), format!("{:?}", vec![a.clone()]));
        es.forget(2);
        assert!(!es.by_subject.contains_key(&7));
        // A document number longer than a u16 length: not kept, its subject marked.
        es.keep(entry(4, 9, None, "号".repeat(30_000)));
        assert!(es.in_force(9, day).is_empty());
        assert!(es.unkept.contains(&9));
        assert_eq!(got(&es, 8), format!("{:?}", vec![c]));
    }
}
