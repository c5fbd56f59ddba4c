//! Credit checks (信用核查) for approval systems: the verdict with the applicable measures, the
//! durable receipt (核查记录), feedback (反馈), usage statistics and watches (事中事后监管).
//!
//! Every check reads committed data only: nothing about entries or the four lists is cached in
//! memory, so two instances on one database never disagree (staleness bound: zero; see
//! `docs/credit-checks.md`). Receipts are written through [`receipts::ReceiptWriter`], which groups
//! concurrent checks into one durable transaction.

pub mod archive;
pub mod feedback;
pub mod handlers;
pub mod index;
pub mod log_handlers;
pub mod log_tiles;
pub mod partitions;
pub mod receipt_hash;
pub mod receipt_list;
pub mod receipt_log;
pub mod receipt_queue;
pub mod receipts;
pub mod signing;
pub mod stats;
pub mod transparency;
pub mod usage;
pub mod watches;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::domain::SubjectCode;
use crate::entries::{in_force, in_force_sql, lookup_key, Source};
use crate::error::ApiError;
use crate::four_lists::{LegalBasis, SubjectType, VersionRow};
use crate::pii::PiiCipher;
use crate::repair::letters::{shown_on, CommitmentSummary};
use crate::schema::{
    application_fields, departments, four_list_item_versions, four_list_items, four_list_links,
    list_entries, subjects,
};

/// What the approval system should do (核查建议).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Advice {
    /// A punishment measure (失信惩戒措施) applies.
    Restrict,
    /// An incentive (守信激励措施) applies and no black-list entry is in force: 绿色通道, 容缺受理 …
    GreenChannel,
    /// Nothing applies.
    Normal,
}

impl Advice {
    pub fn as_str(self) -> &'static str {
        match self {
            Advice::Restrict => "restrict",
            Advice::GreenChannel => "green_channel",
            Advice::Normal => "normal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Advice::Restrict, Advice::GreenChannel, Advice::Normal]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// The subject as the service knows it.
// Fields in sorted order: a check answer serialises in its RFC 8785 form (`receipt_hash`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckSubject {
    /// The full code (approval systems are trusted callers).
    pub code: String,
    /// The code fails its check character and was recorded with an acknowledgement.
    pub code_flagged: bool,
    pub kind: SubjectType,
    pub name: String,
    pub region_code: Option<String>,
}

/// A red or black list entry in force at the moment of the check.
// Fields in sorted order: a check answer serialises in its RFC 8785 form (`receipt_hash`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckEntry {
    pub department_id: i32,
    pub department_name: String,
    #[schema(value_type = String, format = Date)]
    pub determination_date: NaiveDate,
    /// 认定文书号
    pub document_number: String,
    pub entry_id: i32,
    /// An objection (异议) to this entry is being handled.
    pub objection_open: bool,
    pub scope_item_code: String,
    pub scope_item_id: i32,
    pub scope_item_title: String,
    pub scope_item_version: i32,
    pub source: Source,
    #[schema(value_type = String, format = Date)]
    pub valid_from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub valid_until: NaiveDate,
}

// Fields in sorted order: a check answer serialises in its RFC 8785 form (`receipt_hash`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DepartmentRef {
    pub id: i32,
    pub name: String,
}

/// A measure that applies to this subject in this field.
// Fields in sorted order: a check answer serialises in its RFC 8785 form (`receipt_hash`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckMeasure {
    pub code: String,
    /// The department whose four lists carry the measure.
    pub department_id: i32,
    pub description: String,
    /// The entries (red for incentives, black for punishments) that bring it into play.
    pub entry_ids: Vec<i32>,
    /// 实施部门
    pub implementing_departments: Vec<DepartmentRef>,
    /// `incentive_measures` or `punishment_measures`.
    pub kind: String,
    /// 依据
    pub legal_basis: Vec<LegalBasis>,
    pub measure_item_id: i32,
    pub title: String,
    /// The published version the answer was derived from.
    pub version: i32,
}

/// The answer to one check, stored unchanged as the receipt (核查记录).
// Its fields, and those of every type inside it, are declared in sorted order: serialised as
// declared, an answer is in its RFC 8785 form (`receipt_hash::CanonicalAnswer::of`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckAnswer {
    pub advice: Advice,
    /// Black-list entries in force.
    pub black: Vec<CheckEntry>,
    pub check_id: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub checked_at: chrono::NaiveDateTime,
    /// The subject's signed commitment letters (信用承诺书) in force, and every letter with a
    /// recorded breach (违诺).
    pub commitments: Vec<CommitmentSummary>,
    /// Field (领域) code, e.g. `administrative_licensing`.
    pub field: String,
    /// False when the code is valid but no subject with it is recorded: a clean answer.
    pub known: bool,
    pub measures: Vec<CheckMeasure>,
    /// 告知承诺: whether the subject may use the notification-and-commitment procedure in this
    /// field, with the reasons; null when the field does not offer the procedure.
    pub notification_commitment: Option<NotificationCommitment>,
    /// The receipt's signed proof (`docs/credit-checks.md`, "Signed receipts"): in check
    /// answers, not in stored receipts (`GET /credit-checks/{id}` returns the receipt it covers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<signing::GroupProof>,
    pub purpose: Option<String>,
    /// Why this advice: stable codes with messages in Chinese a clerk can show (see
    /// `docs/credit-checks.md` for the codes). Receipts stored before reasons had codes read
    /// back each old sentence as `{"code": "legacy", "message": <the sentence>}`.
    pub reasons: Vec<Reason>,
    /// Red-list entries in force.
    pub red: Vec<CheckEntry>,
    pub reference: Option<String>,
    /// Related parties on a black list: an organisation's legal representative (法定代表人, as
    /// its entries in force record him) with his own black-list entries in force. Reported only:
    /// they do not change this subject's advice.
    pub related: Vec<RelatedParty>,
    pub subject: Option<CheckSubject>,
    /// The code as checked (normalised: trimmed, upper case).
    pub subject_code: String,
}

/// How a related party is related to the subject checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// 法定代表人
    LegalRepresentative,
}

/// A person related to the subject checked who is on a black list himself.
// Fields in sorted order: a check answer serialises in its RFC 8785 form (`receipt_hash`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RelatedParty {
    /// The person's own black-list entries in force.
    pub black: Vec<CheckEntry>,
    /// The person's ID number: in full for admin and bureau callers, masked
    /// (`110105********002X`) for everyone else; always masked in the stored receipt.
    pub id_number: String,
    /// The name as the subject's entry records it.
    pub name: Option<String>,
    pub relation: Relation,
    /// The subject's entries (in force) that record this person as legal representative.
    pub via_entry_ids: Vec<i32>,
}

/// Whether 告知承诺 may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NcStatus {
    Allowed,
    NotAllowed,
}

/// The answer on 告知承诺 (notification and commitment) in a field that offers it.
// Fields in sorted order: a check answer serialises in its RFC 8785 form (`receipt_hash`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationCommitment {
    /// `nc_allowed`, or each rule that refuses it: `nc_black_entry_in_force`,
    /// `nc_commitment_breached`.
    pub reasons: Vec<Reason>,
    pub status: NcStatus,
}

/// 国办发〔2020〕42号: an applicant with a serious bad credit record, or who made a false
/// commitment before, may not use 告知承诺 until its credit is repaired.
fn notification_commitment(a: &CheckAnswer) -> NotificationCommitment {
    let mut reasons = Vec::new();
    if !a.black.is_empty() {
        reasons.push(Reason::new(
            "nc_black_entry_in_force",
            "该主体有严重失信主体名单记录在有效期内，信用修复前不适用告知承诺制".to_string(),
        ));
    }
    if a.commitments.iter().any(|c| !c.breaches.is_empty()) {
        reasons.push(Reason::new(
            "nc_commitment_breached",
            "该主体有违反信用承诺（违诺）的记录，信用修复前不适用告知承诺制".to_string(),
        ));
    }
    if reasons.is_empty() {
        NotificationCommitment {
            status: NcStatus::Allowed,
            reasons: vec![Reason::new(
                "nc_allowed",
                "该主体可适用告知承诺制".to_string(),
            )],
        }
    } else {
        NotificationCommitment {
            status: NcStatus::NotAllowed,
            reasons,
        }
    }
}

/// One reason of an answer: a stable machine-readable code and a message in Chinese.
// Fields in sorted order: a check answer serialises in its RFC 8785 form (`receipt_hash`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    #[schema(example = "black_no_measure_in_field")]
    pub code: String,
    #[schema(example = "该主体在严重失信主体名单内，但本领域无适用惩戒措施")]
    pub message: String,
}

impl Reason {
    pub fn new(code: &str, message: String) -> Self {
        Reason {
            code: code.to_string(),
            message,
        }
    }
}

/// What a check needs from the database, for many codes at once (a batch is one pass).
pub struct Evaluation {
    pub answer: CheckAnswer,
    /// The code when it is a resident ID number, parsed once: the receipt masks it.
    pub id_number: Option<crate::domain::IdNumber>,
    pub subject_key: String,
    pub subject_id: Option<i32>,
    /// Related parties' ID numbers shown in full in the answer: the receipt masks them.
    pub revealed: Vec<crate::domain::IdNumber>,
}

/// The columns of a subject a check reads.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subjects)]
pub struct SubjectLite {
    pub id: i32,
    pub kind: String,
    pub lookup_key: String,
    pub name: String,
    pub region_code: Option<String>,
    pub code_flagged: bool,
}

/// The columns of a list entry a check reads.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = list_entries)]
pub struct EntryLite {
    pub id: i32,
    pub subject_id: i32,
    pub list_type: String,
    pub status: String,
    pub department_id: i32,
    pub scope_item_id: i32,
    pub scope_item_version: i32,
    pub document_number: String,
    pub determination_date: NaiveDate,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub source: String,
    pub objection_open: bool,
    pub removal_date: Option<NaiveDate>,
    /// 法定代表人 and the encrypted ID number, as the (organisation's) entry records them.
    pub legal_representative: Option<String>,
    pub legal_representative_id_enc: Option<String>,
}

/// What an answer needs to know about a recorded subject.
#[derive(Debug, Clone, Copy)]
pub struct SubjectFacts<'a> {
    pub id: i32,
    pub kind: SubjectType,
    pub name: &'a str,
    pub region_code: Option<&'a str>,
    pub code_flagged: bool,
}

impl SubjectLite {
    pub fn facts(&self) -> Result<SubjectFacts<'_>, ApiError> {
        Ok(SubjectFacts {
            id: self.id,
            kind: SubjectType::parse(&self.kind)
                .ok_or_else(|| ApiError::internal("unknown subject kind"))?,
            name: &self.name,
            region_code: self.region_code.as_deref(),
            code_flagged: self.code_flagged,
        })
    }
}

impl EntryLite {
    /// [`crate::entries::in_force_on`] for these columns.
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        in_force(
            &self.status,
            self.valid_from,
            self.valid_until,
            self.removal_date,
            day,
        )
    }
}

/// The one rule for a check's field, whichever source says whether it is active (the index's
/// catalogue or the database): an active application field, else 422 `unknown_field`.
fn require_active(active: bool, field: &str) -> Result<(), ApiError> {
    if active {
        Ok(())
    } else {
        Err(unknown_field(field))
    }
}

/// `require_active` with the database's `application_fields` (the path without the index).
pub fn require_active_field(conn: &mut DbConnection, field: &str) -> Result<(), ApiError> {
    let n: i64 = application_fields::table
        .filter(application_fields::code.eq(field))
        .filter(application_fields::active.eq(true))
        .count()
        .get_result(conn)?;
    require_active(n > 0, field)
}

fn json_list<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

/// The request a set of answers is for.
pub struct Ask<'a> {
    pub field: &'a str,
    pub reference: Option<&'a str>,
    pub purpose: Option<&'a str>,
    pub now: chrono::NaiveDateTime,
    pub today: NaiveDate,
    /// The caller may see related parties' ID numbers in full (admins and bureaus).
    pub reveal_ids: bool,
}

/// A legal representative recorded on a subject's entries: his lookup key (as an individual
/// subject), his ID number, name and the entries that record him.
pub struct LegalRep {
    pub key: String,
    pub id: crate::domain::IdNumber,
    pub name: Option<String>,
    pub via: Vec<i32>,
}

/// The legal representatives the entries of an organisation record (decrypted here, once per
/// check; an undecryptable or invalid number is skipped).
pub fn legal_reps(pii: &PiiCipher, entries: &[&EntryLite]) -> Vec<LegalRep> {
    let mut out: Vec<LegalRep> = Vec::new();
    for e in entries {
        let Some(enc) = &e.legal_representative_id_enc else {
            continue;
        };
        let Ok(clear) = pii.decrypt(enc) else {
            tracing::warn!(
                entry = e.id,
                "a legal representative's ID number does not decrypt"
            );
            continue;
        };
        let Ok(id) = crate::domain::IdNumber::parse(&clear) else {
            continue;
        };
        let key = lookup_key(&SubjectCode::IdNumber(id.clone()), pii);
        match out.iter_mut().find(|r| r.key == key) {
            Some(r) => {
                r.via.push(e.id);
                if r.name.is_none() {
                    r.name = e.legal_representative.clone();
                }
            }
            None => out.push(LegalRep {
                key,
                id,
                name: e.legal_representative.clone(),
                via: vec![e.id],
            }),
        }
    }
    out
}

/// A legal representative with his black-list entries in force (the party is reported only when
/// there is one).
pub fn related_party(
    rep: LegalRep,
    black: &[&EntryLite],
    catalogue: &Catalogue,
    ask: &Ask<'_>,
) -> Option<(RelatedParty, Option<crate::domain::IdNumber>)> {
    let black: Vec<CheckEntry> = black
        .iter()
        .filter(|e| e.list_type == "black")
        .map(|e| catalogue.entry_view(e))
        .collect();
    if black.is_empty() {
        return None;
    }
    let (id_number, revealed) = if ask.reveal_ids {
        (rep.id.as_str().to_string(), Some(rep.id.clone()))
    } else {
        (rep.id.masked(), None)
    };
    Some((
        RelatedParty {
            relation: Relation::LegalRepresentative,
            name: rep.name,
            id_number,
            via_entry_ids: rep.via,
            black,
        },
        revealed,
    ))
}

/// What an answer shows beside the subject's own entries: its commitment letters, and related
/// parties with the ID numbers shown in full (for the receipt to mask).
pub struct Around {
    pub commitments: Vec<CommitmentSummary>,
    pub related: Vec<(RelatedParty, Option<crate::domain::IdNumber>)>,
}

/// Builds the answer for one code from the subject (if recorded), its entries in force and the
/// catalogue. Shared by the database path ([`evaluate`]) and the in-memory index.
pub fn answer_for(
    code: &SubjectCode,
    key: String,
    subject: Option<SubjectFacts<'_>>,
    entries: &[&EntryLite],
    around: Around,
    catalogue: &Catalogue,
    ask: &Ask<'_>,
) -> Result<Evaluation, ApiError> {
    let Around {
        commitments,
        related,
    } = around;
    let mut answer = CheckAnswer {
        check_id: 0,
        checked_at: ask.now,
        subject_code: code.as_str().to_string(),
        field: ask.field.to_string(),
        reference: ask.reference.map(str::to_string),
        purpose: ask.purpose.map(str::to_string),
        known: subject.is_some(),
        subject: None,
        red: vec![],
        black: vec![],
        measures: vec![],
        commitments,
        related: vec![],
        advice: Advice::Normal,
        notification_commitment: None,
        reasons: vec![],
        proof: None,
    };
    if let Some(s) = subject {
        answer.subject = Some(CheckSubject {
            code: code.as_str().to_string(),
            kind: s.kind,
            name: s.name.to_string(),
            region_code: s.region_code.map(str::to_string),
            code_flagged: s.code_flagged,
        });
        catalogue.fill(&mut answer, s.kind, entries);
    }
    let mut revealed = Vec::new();
    for (party, id) in related {
        answer.related.push(party);
        revealed.extend(id);
    }
    advise(&mut answer);
    if catalogue.nc_fields.contains(ask.field) {
        answer.notification_commitment = Some(notification_commitment(&answer));
    }
    Ok(Evaluation {
        answer,
        id_number: match code {
            SubjectCode::IdNumber(id) => Some(id.clone()),
            SubjectCode::Uscc(_) => None,
        },
        subject_key: key,
        subject_id: subject.map(|s| s.id),
        revealed,
    })
}

/// Evaluates checks for `codes` from the database (one set of queries for all of them). Answers
/// carry `check_id` 0 until the receipt is written. The in-memory index
/// ([`index::CheckIndex`]) gives the same answers without queries when it is fresh.
pub fn evaluate(
    conn: &mut DbConnection,
    pii: &PiiCipher,
    codes: &[SubjectCode],
    ask: &Ask<'_>,
) -> Result<Vec<Evaluation>, ApiError> {
    let today = ask.today;
    let keys: Vec<String> = codes.iter().map(|c| lookup_key(c, pii)).collect();
    let mut subject_rows: HashMap<String, SubjectLite> = HashMap::new();
    for chunk in keys.chunks(500) {
        // One code: a plain `=` keeps the prepared statement cached; `IN (…)` with a varying
        // number of binds is prepared anew each time.
        let rows: Vec<SubjectLite> = if let [one] = chunk {
            subjects::table
                .filter(subjects::lookup_key.eq(one))
                .select(SubjectLite::as_select())
                .load(conn)?
        } else {
            subjects::table
                .filter(subjects::lookup_key.eq_any(chunk))
                .select(SubjectLite::as_select())
                .load(conn)?
        };
        for r in rows {
            subject_rows.insert(r.lookup_key.clone(), r);
        }
    }
    let subject_ids: Vec<i32> = subject_rows.values().map(|s| s.id).collect();
    let mut entries: Vec<EntryLite> = Vec::new();
    for chunk in subject_ids.chunks(500) {
        let rows: Vec<EntryLite> = if let [one] = chunk {
            // Not boxed, so the statement is cached; `in_force_on` below is the full rule.
            list_entries::table
                .filter(list_entries::subject_id.eq(one))
                .filter(list_entries::status.ne("draft"))
                .filter(list_entries::valid_until.ge(today))
                .order(list_entries::id)
                .select(EntryLite::as_select())
                .load(conn)?
        } else {
            list_entries::table
                .filter(list_entries::subject_id.eq_any(chunk))
                .filter(in_force_sql(today))
                .order(list_entries::id)
                .select(EntryLite::as_select())
                .load(conn)?
        };
        entries.extend(rows.into_iter().filter(|e| e.in_force_on(today)));
    }
    // Legal representatives recorded on organisations' entries, and their own entries.
    let mut reps: HashMap<i32, Vec<LegalRep>> = HashMap::new();
    {
        let mut recorded: HashMap<i32, Vec<&EntryLite>> = HashMap::new();
        for e in entries
            .iter()
            .filter(|e| e.legal_representative_id_enc.is_some())
        {
            recorded.entry(e.subject_id).or_default().push(e);
        }
        for (sid, own) in recorded {
            let found = legal_reps(pii, &own);
            if !found.is_empty() {
                reps.insert(sid, found);
            }
        }
    }
    let rep_keys: BTreeSet<&str> = reps.values().flatten().map(|r| r.key.as_str()).collect();
    let rep_keys: Vec<&str> = rep_keys.into_iter().collect();
    let mut rep_subjects: HashMap<String, i32> = HashMap::new();
    for chunk in rep_keys.chunks(500) {
        let rows: Vec<(String, i32)> = subjects::table
            .filter(subjects::lookup_key.eq_any(chunk))
            .select((subjects::lookup_key, subjects::id))
            .load(conn)?;
        rep_subjects.extend(rows);
    }
    let rep_ids: Vec<i32> = rep_subjects.values().copied().collect();
    for chunk in rep_ids.chunks(500) {
        let rows: Vec<EntryLite> = list_entries::table
            .filter(list_entries::subject_id.eq_any(chunk))
            .filter(list_entries::list_type.eq("black"))
            .filter(in_force_sql(today))
            .order(list_entries::id)
            .select(EntryLite::as_select())
            .load(conn)?;
        entries.extend(
            rows.into_iter().filter(|e| {
                e.in_force_on(today) && !entries_ids_contain(&subject_ids, e.subject_id)
            }),
        );
    }
    let mut catalogue = Catalogue::load_for(conn, &entries)?;
    let nc: Option<bool> = application_fields::table
        .find(ask.field)
        .select(application_fields::notification_commitment)
        .first(conn)
        .optional()?;
    if nc == Some(true) {
        catalogue.nc_fields.insert(ask.field.to_string());
    }
    let commitments = crate::repair::letters::summaries(conn, &subject_ids)?;
    let mut by_subject: HashMap<i32, Vec<&EntryLite>> = HashMap::new();
    for e in &entries {
        by_subject.entry(e.subject_id).or_default().push(e);
    }
    let mut out = Vec::with_capacity(codes.len());
    for (code, key) in codes.iter().zip(keys) {
        let subject = subject_rows.get(&key);
        let list = subject
            .and_then(|s| by_subject.get(&s.id))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let facts = subject.map(SubjectLite::facts).transpose()?;
        let shown = subject
            .and_then(|s| commitments.get(&s.id))
            .map(|c| shown_on(c, today))
            .unwrap_or_default();
        let related = subject
            .and_then(|s| reps.remove(&s.id))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|rep| {
                let black = rep_subjects
                    .get(&rep.key)
                    .and_then(|id| by_subject.get(id))
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                related_party(rep, black, &catalogue, ask)
            })
            .collect();
        out.push(answer_for(
            code,
            key,
            facts,
            list,
            Around {
                commitments: shown,
                related,
            },
            &catalogue,
            ask,
        )?);
    }
    Ok(out)
}

fn entries_ids_contain(ids: &[i32], id: i32) -> bool {
    ids.contains(&id)
}

fn ids_text(ids: &[i32]) -> String {
    ids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join("、")
}

fn advise(a: &mut CheckAnswer) {
    let punish: Vec<&CheckMeasure> = a
        .measures
        .iter()
        .filter(|m| m.kind == "punishment_measures")
        .collect();
    let incent: Vec<&CheckMeasure> = a
        .measures
        .iter()
        .filter(|m| m.kind == "incentive_measures")
        .collect();
    let mut reasons = Vec::new();
    if !a.known {
        reasons.push(Reason::new(
            "subject_not_recorded",
            "未查询到该代码对应的主体，无红黑名单记录".to_string(),
        ));
    }
    for e in a.black.iter().filter(|e| e.objection_open) {
        reasons.push(Reason::new(
            "black_entry_under_objection",
            format!(
                "严重失信主体名单记录 {}（{}）正在异议处理中，处理期间仍在有效期内",
                e.entry_id, e.document_number
            ),
        ));
    }
    for e in a.red.iter().filter(|e| e.objection_open) {
        reasons.push(Reason::new(
            "red_entry_under_objection",
            format!(
                "诚信典型名单记录 {}（{}）正在异议处理中",
                e.entry_id, e.document_number
            ),
        ));
    }
    for c in a.commitments.iter().filter(|c| !c.breaches.is_empty()) {
        reasons.push(Reason::new(
            "commitment_breached",
            format!(
                "信用承诺书 {}（{}）有 {} 条违诺记录",
                c.commitment_id,
                c.purpose.name_zh(),
                c.breaches.len()
            ),
        ));
    }
    for r in &a.related {
        reasons.push(Reason::new(
            "related_party_black_listed",
            format!(
                "该主体的法定代表人{}在严重失信主体名单内（记录 {}），仅作提示，不改变对本主体的核查建议",
                r.name
                    .as_deref()
                    .map(|n| format!("（{n}）"))
                    .unwrap_or_default(),
                ids_text(&r.black.iter().map(|e| e.entry_id).collect::<Vec<_>>())
            ),
        ));
    }
    let advice = if !punish.is_empty() {
        for m in &punish {
            reasons.push(Reason::new(
                "punishment_measure_applies",
                format!(
                    "本领域适用失信惩戒措施「{}」（{}），依据严重失信主体名单记录 {}",
                    m.title,
                    m.code,
                    ids_text(&m.entry_ids)
                ),
            ));
        }
        Advice::Restrict
    } else if !incent.is_empty() && a.black.is_empty() {
        for m in &incent {
            reasons.push(Reason::new(
                "incentive_measure_applies",
                format!(
                    "本领域适用守信激励措施「{}」（{}），依据诚信典型名单记录 {}",
                    m.title,
                    m.code,
                    ids_text(&m.entry_ids)
                ),
            ));
        }
        Advice::GreenChannel
    } else {
        if !a.black.is_empty() {
            reasons.push(Reason::new(
                "black_no_measure_in_field",
                "该主体在严重失信主体名单内，但本领域无适用惩戒措施".to_string(),
            ));
        }
        if !incent.is_empty() {
            reasons.push(Reason::new(
                "incentives_withheld_while_black",
                "该主体有严重失信主体名单记录在有效期内，暂停适用守信激励措施".to_string(),
            ));
        }
        if a.known && a.black.is_empty() && incent.is_empty() {
            if a.red.is_empty() {
                reasons.push(Reason::new(
                    "no_entry_in_force",
                    "该主体无有效的红黑名单记录".to_string(),
                ));
            } else {
                reasons.push(Reason::new(
                    "red_no_measure_in_field",
                    "该主体在诚信典型名单内，但本领域无适用激励措施".to_string(),
                ));
            }
        }
        Advice::Normal
    };
    a.advice = advice;
    a.reasons = reasons;
}

/// A published measure with its JSON columns parsed once.
#[derive(Debug, Clone)]
struct MeasureInfo {
    item_id: i32,
    kind: String,
    code: String,
    department_id: i32,
    version: i32,
    title: String,
    description: String,
    legal_basis: Vec<LegalBasis>,
    fields: Vec<String>,
    subject_kinds: Vec<SubjectType>,
    implementing_departments: Vec<i32>,
}

/// Departments, scope item versions and published measures linked to scope items: what turns
/// entries into a check's answer. [`Catalogue::load_for`] loads what some entries need;
/// [`Catalogue::load_all`] everything (the in-memory index).
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    departments: HashMap<i32, String>,
    scopes: HashMap<(i32, i32), (String, String)>,
    /// scope item id → measures linked to it (published only).
    links: HashMap<i32, Vec<i32>>,
    measures: HashMap<i32, MeasureInfo>,
    /// Active application fields (领域).
    fields: BTreeSet<String>,
    /// Fields that offer 告知承诺 (all of them in [`Catalogue::load_all`]; the asked one, if it
    /// does, in [`evaluate`]).
    nc_fields: BTreeSet<String>,
}

type MeasureRow = (i32, String, String, i32, VersionRow);

impl Catalogue {
    /// What the answers for `entries` need.
    pub fn load_for(conn: &mut DbConnection, entries: &[EntryLite]) -> Result<Self, ApiError> {
        let mut c = Catalogue::default();
        if entries.is_empty() {
            return Ok(c);
        }
        let scope_ids: BTreeSet<i32> = entries.iter().map(|e| e.scope_item_id).collect();
        let scope_ids: Vec<i32> = scope_ids.into_iter().collect();
        let scope_rows: Vec<(i32, i32, String, String)> = four_list_item_versions::table
            .inner_join(four_list_items::table)
            .filter(four_list_item_versions::item_id.eq_any(&scope_ids))
            .select((
                four_list_item_versions::item_id,
                four_list_item_versions::version,
                four_list_items::code,
                four_list_item_versions::title,
            ))
            .load(conn)?;
        let links: Vec<(i32, i32)> = four_list_links::table
            .filter(four_list_links::scope_item_id.eq_any(&scope_ids))
            .select((
                four_list_links::scope_item_id,
                four_list_links::measure_item_id,
            ))
            .load(conn)?;
        let measure_ids: BTreeSet<i32> = links.iter().map(|l| l.1).collect();
        let measure_ids: Vec<i32> = measure_ids.into_iter().collect();
        let rows = Self::published_measures(conn, Some(&measure_ids))?;
        let mut dept_ids: BTreeSet<i32> = entries.iter().map(|e| e.department_id).collect();
        c.add(scope_rows, links, rows);
        for m in c.measures.values() {
            dept_ids.extend(m.implementing_departments.iter().copied());
        }
        let dept_ids: Vec<i32> = dept_ids.into_iter().collect();
        let depts: Vec<(i32, String)> = departments::table
            .filter(departments::id.eq_any(&dept_ids))
            .select((departments::id, departments::name))
            .load(conn)?;
        c.departments = depts.into_iter().collect();
        Ok(c)
    }

    /// Everything: every version of every scope item, every link, every published measure,
    /// every department, the active fields.
    pub fn load_all(conn: &mut DbConnection) -> Result<Self, ApiError> {
        let mut c = Catalogue::default();
        let scope_rows: Vec<(i32, i32, String, String)> = four_list_item_versions::table
            .inner_join(four_list_items::table)
            .filter(four_list_items::kind.eq_any(["red_scope", "black_scope"]))
            .select((
                four_list_item_versions::item_id,
                four_list_item_versions::version,
                four_list_items::code,
                four_list_item_versions::title,
            ))
            .load(conn)?;
        let links: Vec<(i32, i32)> = four_list_links::table
            .select((
                four_list_links::scope_item_id,
                four_list_links::measure_item_id,
            ))
            .load(conn)?;
        let rows = Self::published_measures(conn, None)?;
        c.add(scope_rows, links, rows);
        c.departments = departments::table
            .select((departments::id, departments::name))
            .load::<(i32, String)>(conn)?
            .into_iter()
            .collect();
        for (code, nc) in application_fields::table
            .filter(application_fields::active.eq(true))
            .select((
                application_fields::code,
                application_fields::notification_commitment,
            ))
            .load::<(String, bool)>(conn)?
        {
            if nc {
                c.nc_fields.insert(code.clone());
            }
            c.fields.insert(code);
        }
        Ok(c)
    }

    /// `require_active` with the catalogue's active fields.
    pub fn require_active_field(&self, field: &str) -> Result<(), ApiError> {
        require_active(self.fields.contains(field), field)
    }

    /// Published measures with their published version (all, or those in `ids`).
    fn published_measures(
        conn: &mut DbConnection,
        ids: Option<&[i32]>,
    ) -> Result<Vec<MeasureRow>, ApiError> {
        let mut q = four_list_items::table
            .inner_join(
                four_list_item_versions::table.on(four_list_item_versions::item_id
                    .eq(four_list_items::id)
                    .and(
                        four_list_item_versions::version
                            .nullable()
                            .eq(four_list_items::published_version),
                    )),
            )
            .filter(four_list_items::status.eq("published"))
            .select((
                four_list_items::id,
                four_list_items::kind,
                four_list_items::code,
                four_list_items::department_id,
                VersionRow::as_select(),
            ))
            .into_boxed();
        if let Some(ids) = ids {
            q = q.filter(four_list_items::id.eq_any(ids));
        }
        Ok(q.load(conn)?)
    }

    fn add(
        &mut self,
        scope_rows: Vec<(i32, i32, String, String)>,
        links: Vec<(i32, i32)>,
        measures: Vec<MeasureRow>,
    ) {
        for (id, v, code, title) in scope_rows {
            self.scopes.insert((id, v), (code, title));
        }
        for (s, m) in links {
            self.links.entry(s).or_default().push(m);
        }
        for (item_id, kind, code, department_id, v) in measures {
            self.measures.insert(
                item_id,
                MeasureInfo {
                    item_id,
                    kind,
                    code,
                    department_id,
                    version: v.version,
                    legal_basis: json_list(&v.legal_basis),
                    fields: json_list(&v.fields),
                    subject_kinds: json_list(&v.subject_kinds),
                    implementing_departments: json_list(&v.implementing_departments),
                    title: v.title,
                    description: v.description,
                },
            );
        }
    }

    /// An entry as an answer shows it.
    pub fn entry_view(&self, e: &EntryLite) -> CheckEntry {
        let (scope_code, scope_title) = self
            .scopes
            .get(&(e.scope_item_id, e.scope_item_version))
            .cloned()
            .unwrap_or_default();
        CheckEntry {
            entry_id: e.id,
            department_id: e.department_id,
            department_name: self
                .departments
                .get(&e.department_id)
                .cloned()
                .unwrap_or_default(),
            scope_item_id: e.scope_item_id,
            scope_item_code: scope_code,
            scope_item_version: e.scope_item_version,
            scope_item_title: scope_title,
            document_number: e.document_number.clone(),
            determination_date: e.determination_date,
            valid_from: e.valid_from,
            valid_until: e.valid_until,
            source: if e.source == "national" {
                Source::National
            } else {
                Source::Local
            },
            objection_open: e.objection_open,
        }
    }

    fn fill(&self, a: &mut CheckAnswer, kind: SubjectType, list: &[&EntryLite]) {
        let mut measures: BTreeMap<i32, CheckMeasure> = BTreeMap::new();
        for e in list {
            let view = self.entry_view(e);
            let wanted = if e.list_type == "red" {
                a.red.push(view);
                "incentive_measures"
            } else {
                a.black.push(view);
                "punishment_measures"
            };
            for mid in self.links.get(&e.scope_item_id).into_iter().flatten() {
                let Some(m) = self.measures.get(mid) else {
                    continue;
                };
                if m.kind != wanted
                    || !m.fields.iter().any(|f| f == &a.field)
                    || !m.subject_kinds.contains(&kind)
                {
                    continue;
                }
                let entry = measures.entry(m.item_id).or_insert_with(|| CheckMeasure {
                    measure_item_id: m.item_id,
                    kind: m.kind.clone(),
                    code: m.code.clone(),
                    version: m.version,
                    title: m.title.clone(),
                    description: m.description.clone(),
                    legal_basis: m.legal_basis.clone(),
                    implementing_departments: m
                        .implementing_departments
                        .iter()
                        .map(|&id| DepartmentRef {
                            id,
                            name: self.departments.get(&id).cloned().unwrap_or_default(),
                        })
                        .collect(),
                    department_id: m.department_id,
                    entry_ids: vec![],
                });
                if !entry.entry_ids.contains(&e.id) {
                    entry.entry_ids.push(e.id);
                }
            }
        }
        a.measures = measures.into_values().collect();
    }
}

/// The refusal for a field that is not an active application field.
pub fn unknown_field(field: &str) -> ApiError {
    ApiError::invalid_field(
        "field",
        "unknown_field",
        format!("{field} is not an active application field (see GET /api/v1/application-fields)"),
    )
}
