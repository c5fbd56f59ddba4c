//! Credit checks (信用核查) for approval systems: the verdict with the applicable measures, the
//! durable receipt (核查记录), feedback (反馈), usage statistics and watches (事中事后监管).
//!
//! Every check reads committed data only: nothing about entries or the four lists is cached in
//! memory, so two instances on one database never disagree (staleness bound: zero; see
//! `docs/credit-checks.md`). Receipts are written through [`receipts::ReceiptWriter`], which groups
//! concurrent checks into one durable transaction.

pub mod bench;
pub mod feedback;
pub mod handlers;
pub mod receipts;
pub mod stats;
pub mod watches;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::domain::SubjectCode;
use crate::entries::{in_force_on, in_force_sql, lookup_key, EntryRow, Source, SubjectRow};
use crate::error::ApiError;
use crate::four_lists::{LegalBasis, SubjectType, VersionRow};
use crate::pii::PiiCipher;
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
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckSubject {
    /// The full code (approval systems are trusted callers).
    pub code: String,
    pub kind: SubjectType,
    pub name: String,
    pub region_code: Option<String>,
    /// The code fails its check character and was recorded with an acknowledgement.
    pub code_flagged: bool,
}

/// A red or black list entry in force at the moment of the check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckEntry {
    pub entry_id: i32,
    pub department_id: i32,
    pub department_name: String,
    pub scope_item_id: i32,
    pub scope_item_code: String,
    pub scope_item_version: i32,
    pub scope_item_title: String,
    /// 认定文书号
    pub document_number: String,
    #[schema(value_type = String, format = Date)]
    pub determination_date: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub valid_from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub valid_until: NaiveDate,
    pub source: Source,
    /// An objection (异议) to this entry is being handled.
    pub objection_open: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DepartmentRef {
    pub id: i32,
    pub name: String,
}

/// A measure that applies to this subject in this field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckMeasure {
    pub measure_item_id: i32,
    /// `incentive_measures` or `punishment_measures`.
    pub kind: String,
    pub code: String,
    /// The published version the answer was derived from.
    pub version: i32,
    pub title: String,
    pub description: String,
    /// 依据
    pub legal_basis: Vec<LegalBasis>,
    /// 实施部门
    pub implementing_departments: Vec<DepartmentRef>,
    /// The department whose four lists carry the measure.
    pub department_id: i32,
    /// The entries (red for incentives, black for punishments) that bring it into play.
    pub entry_ids: Vec<i32>,
}

/// The answer to one check, stored unchanged as the receipt (核查记录).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckAnswer {
    pub check_id: i32,
    #[schema(value_type = String, format = DateTime)]
    pub checked_at: chrono::NaiveDateTime,
    /// The code as checked (normalised: trimmed, upper case).
    pub subject_code: String,
    /// Field (领域) code, e.g. `administrative_licensing`.
    pub field: String,
    pub reference: Option<String>,
    pub purpose: Option<String>,
    /// False when the code is valid but no subject with it is recorded: a clean answer.
    pub known: bool,
    pub subject: Option<CheckSubject>,
    /// Red-list entries in force.
    pub red: Vec<CheckEntry>,
    /// Black-list entries in force.
    pub black: Vec<CheckEntry>,
    pub measures: Vec<CheckMeasure>,
    /// Signed commitment letters in force and recorded breaches (empty until the repair
    /// capability lands).
    #[schema(value_type = Vec<Object>)]
    pub commitments: Vec<serde_json::Value>,
    pub advice: Advice,
    /// Why this advice, in words.
    pub reasons: Vec<String>,
}

/// What a check needs from the database, for many codes at once (a batch is one pass).
pub struct Evaluation {
    pub answer: CheckAnswer,
    pub subject_key: String,
    pub subject_id: Option<i32>,
}

/// True when `field` is an active application field.
pub fn field_is_active(conn: &mut DbConnection, field: &str) -> Result<bool, ApiError> {
    let n: i64 = application_fields::table
        .filter(application_fields::code.eq(field))
        .filter(application_fields::active.eq(true))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

fn json_list<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
/// Evaluates checks for `codes` as of `now` (one set of queries for all of them). Answers carry
/// `check_id` 0 until the receipt is written.
pub fn evaluate(
    conn: &mut DbConnection,
    pii: &PiiCipher,
    codes: &[SubjectCode],
    field: &str,
    reference: Option<&str>,
    purpose: Option<&str>,
    now: chrono::NaiveDateTime,
    today: NaiveDate,
) -> Result<Vec<Evaluation>, ApiError> {
    let keys: Vec<String> = codes.iter().map(|c| lookup_key(c, pii)).collect();
    let mut subject_rows: HashMap<String, SubjectRow> = HashMap::new();
    for chunk in keys.chunks(500) {
        // One code (the hot path): a plain `=` keeps the prepared statement cached; `IN (…)` with
        // a varying number of binds is prepared anew each time.
        let rows: Vec<SubjectRow> = if let [one] = chunk {
            subjects::table
                .filter(subjects::lookup_key.eq(one))
                .select(SubjectRow::as_select())
                .load(conn)?
        } else {
            subjects::table
                .filter(subjects::lookup_key.eq_any(chunk))
                .select(SubjectRow::as_select())
                .load(conn)?
        };
        for r in rows {
            subject_rows.insert(r.lookup_key.clone(), r);
        }
    }
    let subject_ids: Vec<i32> = subject_rows.values().map(|s| s.id).collect();
    let mut entries: Vec<EntryRow> = Vec::new();
    for chunk in subject_ids.chunks(500) {
        let rows: Vec<EntryRow> = if let [one] = chunk {
            // Not boxed, so the statement is cached; `in_force_on` below is the full rule.
            list_entries::table
                .filter(list_entries::subject_id.eq(one))
                .filter(list_entries::status.ne("draft"))
                .filter(list_entries::valid_until.ge(today))
                .order(list_entries::id)
                .select(EntryRow::as_select())
                .load(conn)?
        } else {
            list_entries::table
                .filter(list_entries::subject_id.eq_any(chunk))
                .filter(in_force_sql(today))
                .order(list_entries::id)
                .select(EntryRow::as_select())
                .load(conn)?
        };
        entries.extend(rows.into_iter().filter(|e| in_force_on(e, today)));
    }
    let catalogue = Catalogue::load(conn, &entries)?;
    let mut by_subject: HashMap<i32, Vec<&EntryRow>> = HashMap::new();
    for e in &entries {
        by_subject.entry(e.subject_id).or_default().push(e);
    }
    let mut out = Vec::with_capacity(codes.len());
    for (code, key) in codes.iter().zip(keys) {
        let subject = subject_rows.get(&key);
        let mut answer = CheckAnswer {
            check_id: 0,
            checked_at: now,
            subject_code: code.as_str().to_string(),
            field: field.to_string(),
            reference: reference.map(str::to_string),
            purpose: purpose.map(str::to_string),
            known: subject.is_some(),
            subject: None,
            red: vec![],
            black: vec![],
            measures: vec![],
            commitments: vec![],
            advice: Advice::Normal,
            reasons: vec![],
        };
        if let Some(s) = subject {
            let kind = SubjectType::parse(&s.kind)
                .ok_or_else(|| ApiError::internal("unknown subject kind"))?;
            answer.subject = Some(CheckSubject {
                code: code.as_str().to_string(),
                kind,
                name: s.name.clone(),
                region_code: s.region_code.clone(),
                code_flagged: s.code_flagged,
            });
            let list = by_subject.get(&s.id).cloned().unwrap_or_default();
            catalogue.fill(&mut answer, kind, &list);
        }
        advise(&mut answer);
        out.push(Evaluation {
            answer,
            subject_key: key,
            subject_id: subject.map(|s| s.id),
        });
    }
    Ok(out)
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
        reasons.push("no subject with this code is recorded: no red or black list entry".into());
    }
    for e in a.black.iter().filter(|e| e.objection_open) {
        reasons.push(format!(
            "black-list entry {} ({}) is under objection (异议处理中)",
            e.entry_id, e.document_number
        ));
    }
    for e in a.red.iter().filter(|e| e.objection_open) {
        reasons.push(format!(
            "red-list entry {} ({}) is under objection (异议处理中)",
            e.entry_id, e.document_number
        ));
    }
    let advice = if !punish.is_empty() {
        for m in &punish {
            reasons.push(format!(
                "punishment measure {} 「{}」 applies in {} (black-list entries {:?})",
                m.code, m.title, a.field, m.entry_ids
            ));
        }
        Advice::Restrict
    } else if !incent.is_empty() && a.black.is_empty() {
        for m in &incent {
            reasons.push(format!(
                "incentive measure {} 「{}」 applies in {} (red-list entries {:?})",
                m.code, m.title, a.field, m.entry_ids
            ));
        }
        Advice::GreenChannel
    } else {
        if !a.black.is_empty() {
            reasons.push(format!(
                "{} black-list entries in force, but no punishment measure applies in {}",
                a.black.len(),
                a.field
            ));
        }
        if !incent.is_empty() {
            reasons.push("incentives are withheld while a black-list entry is in force".into());
        }
        if a.known && a.black.is_empty() && incent.is_empty() {
            if a.red.is_empty() {
                reasons.push("no red or black list entry in force".into());
            } else {
                reasons.push(format!(
                    "{} red-list entries in force, but no incentive measure applies in {}",
                    a.red.len(),
                    a.field
                ));
            }
        }
        Advice::Normal
    };
    a.advice = advice;
    a.reasons = reasons;
}

struct MeasureInfo {
    item_id: i32,
    kind: String,
    code: String,
    department_id: i32,
    version: VersionRow,
}

/// Departments, scope items and linked measures needed for a set of entries.
struct Catalogue {
    departments: HashMap<i32, String>,
    scopes: HashMap<(i32, i32), (String, String)>,
    /// scope item id → measures linked to it (published only).
    links: HashMap<i32, Vec<i32>>,
    measures: HashMap<i32, MeasureInfo>,
}

impl Catalogue {
    fn load(conn: &mut DbConnection, entries: &[EntryRow]) -> Result<Self, ApiError> {
        let mut c = Catalogue {
            departments: HashMap::new(),
            scopes: HashMap::new(),
            links: HashMap::new(),
            measures: HashMap::new(),
        };
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
        for (id, v, code, title) in scope_rows {
            c.scopes.insert((id, v), (code, title));
        }
        let links: Vec<(i32, i32)> = four_list_links::table
            .filter(four_list_links::scope_item_id.eq_any(&scope_ids))
            .select((
                four_list_links::scope_item_id,
                four_list_links::measure_item_id,
            ))
            .load(conn)?;
        let measure_ids: BTreeSet<i32> = links.iter().map(|l| l.1).collect();
        for (s, m) in links {
            c.links.entry(s).or_default().push(m);
        }
        let measure_ids: Vec<i32> = measure_ids.into_iter().collect();
        let rows: Vec<(i32, String, String, i32, VersionRow)> = four_list_items::table
            .inner_join(
                four_list_item_versions::table.on(four_list_item_versions::item_id
                    .eq(four_list_items::id)
                    .and(
                        four_list_item_versions::version
                            .nullable()
                            .eq(four_list_items::published_version),
                    )),
            )
            .filter(four_list_items::id.eq_any(&measure_ids))
            .filter(four_list_items::status.eq("published"))
            .select((
                four_list_items::id,
                four_list_items::kind,
                four_list_items::code,
                four_list_items::department_id,
                VersionRow::as_select(),
            ))
            .load(conn)?;
        let mut dept_ids: BTreeSet<i32> = entries.iter().map(|e| e.department_id).collect();
        for (item_id, kind, code, department_id, version) in rows {
            dept_ids.extend(json_list::<Vec<i32>>(&version.implementing_departments));
            c.measures.insert(
                item_id,
                MeasureInfo {
                    item_id,
                    kind,
                    code,
                    department_id,
                    version,
                },
            );
        }
        let dept_ids: Vec<i32> = dept_ids.into_iter().collect();
        let depts: Vec<(i32, String)> = departments::table
            .filter(departments::id.eq_any(&dept_ids))
            .select((departments::id, departments::name))
            .load(conn)?;
        c.departments = depts.into_iter().collect();
        Ok(c)
    }

    fn fill(&self, a: &mut CheckAnswer, kind: SubjectType, list: &[&EntryRow]) {
        let mut measures: BTreeMap<i32, CheckMeasure> = BTreeMap::new();
        for e in list {
            let (scope_code, scope_title) = self
                .scopes
                .get(&(e.scope_item_id, e.scope_item_version))
                .cloned()
                .unwrap_or_default();
            let view = CheckEntry {
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
            };
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
                if m.kind != wanted {
                    continue;
                }
                let fields: Vec<String> = json_list(&m.version.fields);
                let kinds: Vec<SubjectType> = json_list(&m.version.subject_kinds);
                if !fields.iter().any(|f| f == &a.field) || !kinds.contains(&kind) {
                    continue;
                }
                let entry = measures.entry(m.item_id).or_insert_with(|| CheckMeasure {
                    measure_item_id: m.item_id,
                    kind: m.kind.clone(),
                    code: m.code.clone(),
                    version: m.version.version,
                    title: m.version.title.clone(),
                    description: m.version.description.clone(),
                    legal_basis: json_list(&m.version.legal_basis),
                    implementing_departments: json_list::<Vec<i32>>(
                        &m.version.implementing_departments,
                    )
                    .into_iter()
                    .map(|id| DepartmentRef {
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
