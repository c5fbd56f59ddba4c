//! Red and black list entries (红黑名单) and the subjects (主体) they list.
//!
//! An entry is draft → published → removed. Whether a published entry is *in force* is computed on
//! every read from its validity period and removal date, so no endpoint ever reports an expired
//! entry as in force, whether or not any job ran.

pub mod handlers;
pub mod import;
pub mod objections;
pub mod profiles;
pub mod public;
pub mod store;

use chrono::{Months, NaiveDate};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::domain::{SubjectCode, SubjectCodeError, Uscc};
use crate::error::{ApiError, FieldError};
use crate::four_lists::SubjectType;
use crate::pii::PiiCipher;
use std::collections::HashMap;

use crate::four_lists::{ItemRow, VersionRow};
use crate::org::Department;
use crate::schema::{list_entries, subjects};

/// `red` (红名单, integrity exemplars) or `black` (黑名单, seriously dishonest subjects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListType {
    Red,
    Black,
}

impl ListType {
    pub fn as_str(self) -> &'static str {
        match self {
            ListType::Red => "red",
            ListType::Black => "black",
        }
    }

    /// The scope-list kind an entry of this type must cite.
    pub fn scope_kind(self) -> &'static str {
        match self {
            ListType::Red => "red_scope",
            ListType::Black => "black_scope",
        }
    }
}

/// Outcome of the subject's statement and defence (陈述申辩) after it was notified (告知) of an
/// intended black-list identification (国办发〔2020〕49号 (八)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatementOutcome {
    /// 未提出陈述申辩: none received within the time the notice gave.
    NoneReceived,
    /// 已陈述申辩，未采纳: received and not adopted.
    NotAdopted,
    /// 已陈述申辩，予以采纳: received and (wholly or partly) adopted; the identification went ahead
    /// as changed.
    Adopted,
}

impl StatementOutcome {
    pub const ALL: [StatementOutcome; 3] = [
        StatementOutcome::NoneReceived,
        StatementOutcome::NotAdopted,
        StatementOutcome::Adopted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatementOutcome::NoneReceived => "none_received",
            StatementOutcome::NotAdopted => "not_adopted",
            StatementOutcome::Adopted => "adopted",
        }
    }

    /// The name staff read and write in sheets and the console.
    pub fn zh(self) -> &'static str {
        match self {
            StatementOutcome::NoneReceived => "未提出陈述申辩",
            StatementOutcome::NotAdopted => "陈述申辩未采纳",
            StatementOutcome::Adopted => "陈述申辩已采纳",
        }
    }

    /// From the API value or the Chinese name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == s || o.zh() == s)
    }
}

/// Checks the notice (告知) and statement (陈述申辩) recorded for an entry: only black entries
/// carry them; the notice is not in the future and not after the determination; an outcome
/// follows a notice. Every problem goes to `errors`, each naming its field.
pub fn check_notice(
    errors: &mut Vec<FieldError>,
    list_type: ListType,
    determination_date: NaiveDate,
    notice_date: Option<NaiveDate>,
    outcome: Option<StatementOutcome>,
    today: NaiveDate,
) {
    if list_type == ListType::Red {
        for (field, set) in [
            ("notice_date", notice_date.is_some()),
            ("statement_outcome", outcome.is_some()),
        ] {
            if set {
                errors.push(FieldError::new(
                    field,
                    "not_applicable",
                    format!("{field} applies to black-list entries only"),
                ));
            }
        }
        return;
    }
    if let Some(n) = notice_date {
        crate::domain::dates::check_date(errors, "notice_date", n);
        if n > today {
            errors.push(FieldError::new(
                "notice_date",
                "in_future",
                "the notice date cannot be in the future",
            ));
        } else if n > determination_date {
            errors.push(FieldError::new(
                "notice_date",
                "notice_after_determination",
                "the subject is notified before it is identified: the notice date cannot be after the determination date",
            ));
        }
    } else if outcome.is_some() {
        errors.push(FieldError::new(
            "notice_date",
            "required",
            "a statement outcome follows a notice: give notice_date too",
        ));
    }
}

/// A local black-list entry is published only after the subject was told the reasons, the basis
/// and its rights and its statement was heard (国办发〔2020〕49号 (八)). National entries were
/// notified by their source; red entries need no notice.
pub fn require_notice(e: &EntryRow) -> Result<(), ApiError> {
    if e.list_type != "black" || e.source == "national" {
        return Ok(());
    }
    let mut errors = Vec::new();
    if e.notice_date.is_none() {
        errors.push(FieldError::new(
            "notice_date",
            "notice_missing",
            "a local black-list entry is published only after the subject was notified (告知) of the reasons, the basis and its right to state its case: record the notice date first (POST /list-entries/{id}/notice)",
        ));
    }
    if e.statement_outcome.is_none() {
        errors.push(FieldError::new(
            "statement_outcome",
            "notice_missing",
            "record the outcome of the subject's statement (陈述申辩) before publishing",
        ));
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        code: "notice_missing",
        detail: errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        errors,
    })
}

/// Why an entry left the list (移出原因).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// 有效期届满
    Expired,
    /// 信用修复 (set by the repair workflow only)
    Repaired,
    /// 异议成立
    ObjectionUpheld,
    /// 撤销认定
    Revoked,
    /// 认定标准变化
    StandardChanged,
    /// 红名单期间被列入黑名单 (set automatically)
    BlackListedWhileRed,
    /// 来源已移出: the national source no longer lists the entry (set by the national sync only)
    SourceRemoved,
}

impl RemovalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalReason::Expired => "expired",
            RemovalReason::Repaired => "repaired",
            RemovalReason::ObjectionUpheld => "objection_upheld",
            RemovalReason::Revoked => "revoked",
            RemovalReason::StandardChanged => "standard_changed",
            RemovalReason::BlackListedWhileRed => "black_listed_while_red",
            RemovalReason::SourceRemoved => "source_removed",
        }
    }
}

/// `local` (identified by this city's departments) or `national` (国家层面认定, imported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Local,
    National,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::National => "national",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subjects)]
pub struct SubjectRow {
    pub id: i32,
    pub kind: String,
    pub lookup_key: String,
    pub uscc: Option<String>,
    pub id_number_enc: Option<String>,
    pub id_number_masked: Option<String>,
    pub name: String,
    pub region_code: Option<String>,
    pub code_flagged: bool,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

impl SubjectRow {
    /// The code as staff see it (ID numbers decrypted).
    pub fn full_code(&self, pii: &PiiCipher) -> Result<String, ApiError> {
        match (&self.uscc, &self.id_number_enc) {
            (Some(u), _) => Ok(u.clone()),
            (None, Some(enc)) => pii
                .decrypt(enc)
                .map_err(|e| ApiError::internal(format!("cannot decrypt an ID number: {e}"))),
            _ => Err(ApiError::internal("subject without a code")),
        }
    }

    /// The code as the public sees it.
    pub fn public_code(&self) -> String {
        self.uscc
            .clone()
            .or_else(|| self.id_number_masked.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = list_entries)]
pub struct EntryRow {
    pub id: i32,
    pub subject_id: i32,
    pub list_type: String,
    pub status: String,
    pub department_id: i32,
    pub region_code: String,
    pub scope_item_id: i32,
    pub scope_item_version: i32,
    pub subject_name: String,
    pub legal_representative: Option<String>,
    pub legal_representative_id_enc: Option<String>,
    pub legal_representative_id_masked: Option<String>,
    pub document_number: String,
    pub determination_date: NaiveDate,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub facts: String,
    pub internal_note: Option<String>,
    pub source: String,
    pub objection_open: bool,
    pub removal_reason: Option<String>,
    pub removal_date: Option<NaiveDate>,
    pub removal_note: Option<String>,
    #[serde(default, with = "crate::http::utc::option")]
    pub removed_at: Option<chrono::NaiveDateTime>,
    #[serde(default, with = "crate::http::utc::option")]
    pub published_at: Option<chrono::NaiveDateTime>,
    pub created_by: Option<i32>,
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
    pub notice_date: Option<NaiveDate>,
    pub statement_outcome: Option<String>,
}

/// Status as of a day, computed from the stored status, validity and removal date.
pub fn effective_status(e: &EntryRow, day: NaiveDate) -> &'static str {
    if e.status == "draft" {
        "draft"
    } else if e.removal_date.is_some_and(|d| d <= day) {
        "removed"
    } else if e.valid_until < day {
        "expired"
    } else if e.valid_from > day {
        "pending"
    } else {
        "in_force"
    }
}

/// True when the entry was in force on `day`: published (or later removed), within its validity
/// period (both ends inclusive), and not removed on or before that day.
pub fn in_force_on(e: &EntryRow, day: NaiveDate) -> bool {
    in_force(&e.status, e.valid_from, e.valid_until, e.removal_date, day)
}

/// [`in_force_on`] over the columns it reads (for callers with a narrower row type).
pub fn in_force(
    status: &str,
    valid_from: NaiveDate,
    valid_until: NaiveDate,
    removal_date: Option<NaiveDate>,
    day: NaiveDate,
) -> bool {
    status != "draft"
        && valid_from <= day
        && day <= valid_until
        && removal_date.is_none_or(|d| d > day)
}

/// The SQL form of [`in_force_on`], for filters.
pub fn in_force_sql(
    day: NaiveDate,
) -> Box<
    dyn BoxableExpression<
        list_entries::table,
        crate::db::MultiBackend,
        SqlType = diesel::sql_types::Bool,
    >,
> {
    Box::new(
        list_entries::status
            .ne("draft")
            .and(list_entries::valid_from.le(day))
            .and(list_entries::valid_until.ge(day))
            .and(
                list_entries::removal_date
                    .is_null()
                    .or(list_entries::removal_date.gt(day))
                    .assume_not_null(),
            ),
    )
}

/// Adds calendar months, then steps back a day: a 12-month period from 2026-03-01 ends on
/// 2027-02-28 (inclusive end).
pub fn period_end(start: NaiveDate, months: i32) -> NaiveDate {
    let end = start
        .checked_add_months(Months::new(months.max(0) as u32))
        .unwrap_or(NaiveDate::MAX);
    end.pred_opt().unwrap_or(end)
}

/// Parses a subject code, allowing a USCC whose only fault is its check character when the
/// caller acknowledged it. Returns the code and whether it is flagged.
pub fn parse_subject_code(
    field: &str,
    raw: &str,
    acknowledge_checksum: bool,
) -> Result<(SubjectCode, bool), ApiError> {
    match SubjectCode::parse(raw) {
        Ok(c) => Ok((c, false)),
        Err(e) if e.is_checksum_only() && acknowledge_checksum => {
            match Uscc::parse_ignoring_check(raw) {
                Ok(u) => Ok((SubjectCode::Uscc(u), true)),
                Err(_) => Err(code_error(field, &e)),
            }
        }
        Err(e) => Err(code_error(field, &e)),
    }
}

fn code_error(field: &str, e: &crate::domain::SubjectCodeError) -> ApiError {
    ApiError::Invalid {
        code: "invalid_subject_code",
        detail: format!("{field}: {e}"),
        errors: vec![FieldError::new(field, e.code(), e.to_string())],
    }
}

/// A subject filter in a query string (`?subject=` or `?subject_code=`): `None` when absent,
/// otherwise the code (one whose only fault is its check character is accepted, as for records
/// filed with `acknowledge_invalid_checksum`). A value of the wrong shape — not 18 characters, or
/// a character no code has — does not match the pattern the OpenAPI document declares for these parameters
/// (`^[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{18}$`: the characters of a unified social credit code,
/// which cover resident ID numbers; lower case is read as upper case) and
/// is 400 `invalid_query`; one of the right shape that is still no code (an ID number whose birth
/// date is no date) is 422 `validation_failed`. Both name `query.{param}` with the field code
/// `invalid_subject_code` and say which check failed. Every list endpoint that filters by subject
/// reads it here.
pub fn subject_filter(param: &str, raw: Option<&str>) -> Result<Option<SubjectCode>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    parse_subject_code(param, raw, true)
        .map(|(code, _)| Some(code))
        .map_err(|_| {
            let err = SubjectCode::parse(raw).err();
            let why = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
            let message = format!("{param} is not a valid subject code: {why}");
            match err {
                Some(SubjectCodeError::IdBirthDate) => ApiError::validation(vec![FieldError::new(
                    format!("query.{param}"),
                    "invalid_subject_code",
                    message,
                )]),
                _ => ApiError::invalid_query(param, "invalid_subject_code", message),
            }
        })
}

/// The key a subject is found by: the USCC itself, or a keyed hash of the ID number.
pub fn lookup_key(code: &SubjectCode, pii: &PiiCipher) -> String {
    match code {
        SubjectCode::Uscc(u) => u.as_str().to_string(),
        SubjectCode::IdNumber(id) => format!("id:{}", pii.lookup_hash(id.as_str())),
    }
}

pub fn find_subject_by_code(
    conn: &mut DbConnection,
    code: &SubjectCode,
    pii: &PiiCipher,
) -> Result<Option<SubjectRow>, ApiError> {
    Ok(subjects::table
        .filter(subjects::lookup_key.eq(lookup_key(code, pii)))
        .select(SubjectRow::as_select())
        .first(conn)
        .optional()?)
}

/// Finds the subject or records it; the newest name wins.
pub fn upsert_subject(
    conn: &mut DbConnection,
    pii: &PiiCipher,
    code: &SubjectCode,
    kind: SubjectType,
    name: &str,
    region_code: &str,
    flagged: bool,
) -> Result<SubjectRow, ApiError> {
    let now = crate::db::now();
    if let Some(existing) = find_subject_by_code(conn, code, pii)? {
        diesel::update(subjects::table.find(existing.id))
            .set((subjects::name.eq(name), subjects::updated_at.eq(now)))
            .execute(conn)?;
        return Ok(SubjectRow {
            name: name.to_string(),
            updated_at: now,
            ..existing
        });
    }
    let id = insert_subject(
        conn,
        pii,
        code,
        &lookup_key(code, pii),
        kind,
        name,
        region_code,
        flagged,
    )?;
    Ok(subjects::table
        .find(id)
        .select(SubjectRow::as_select())
        .first(conn)?)
}

/// Records a new subject under its lookup key (see [`lookup_key`]); its id.
#[allow(clippy::too_many_arguments)]
pub fn insert_subject(
    conn: &mut DbConnection,
    pii: &PiiCipher,
    code: &SubjectCode,
    key: &str,
    kind: SubjectType,
    name: &str,
    region_code: &str,
    flagged: bool,
) -> Result<i32, ApiError> {
    let now = crate::db::now();
    let (uscc, enc, masked) = match code {
        SubjectCode::Uscc(u) => (Some(u.as_str().to_string()), None, None),
        SubjectCode::IdNumber(id) => (None, Some(pii.encrypt(id.as_str())), Some(id.masked())),
    };
    Ok(diesel::insert_into(subjects::table)
        .values((
            subjects::kind.eq(kind.as_str()),
            subjects::lookup_key.eq(key),
            subjects::uscc.eq(uscc),
            subjects::id_number_enc.eq(enc),
            subjects::id_number_masked.eq(masked),
            subjects::name.eq(name),
            subjects::region_code.eq(region_code),
            subjects::code_flagged.eq(flagged),
            subjects::created_at.eq(now),
            subjects::updated_at.eq(now),
        ))
        .returning(subjects::id)
        .get_result(conn)?)
}

/// Who is listed, as an entry view shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubjectRef {
    pub id: i32,
    /// Full code for staff; ID numbers masked (`110105********002X`) in public views and in the
    /// audit trail.
    #[schema(example = "91220500MA0000001Q")]
    pub code: String,
    pub kind: SubjectType,
    pub name: String,
    pub region_code: Option<String>,
    /// The code fails its check character and was recorded with an acknowledgement.
    pub code_flagged: bool,
}

/// A red or black list entry as staff see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryView {
    pub id: i32,
    pub list_type: ListType,
    /// Stored lifecycle state: `draft`, `published` or `removed`.
    pub status: String,
    /// As of today: `draft`, `pending` (not yet valid), `in_force`, `expired` or `removed`.
    pub effective_status: String,
    pub in_force: bool,
    pub subject: SubjectRef,
    /// The subject's name as determined.
    pub subject_name: String,
    /// 法定代表人 (organisations).
    pub legal_representative: Option<String>,
    /// Always masked.
    pub legal_representative_id: Option<String>,
    pub department_id: i32,
    pub department_name: String,
    pub region_code: String,
    pub scope_item_id: i32,
    /// The exact version of the scope item the entry cites.
    pub scope_item_version: i32,
    pub scope_item_code: String,
    pub scope_item_title: String,
    /// 认定文书号
    pub document_number: String,
    #[schema(value_type = String, format = Date)]
    pub determination_date: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub valid_from: NaiveDate,
    /// Last day in force (inclusive).
    #[schema(value_type = String, format = Date)]
    pub valid_until: NaiveDate,
    pub facts: String,
    /// Staff only; never public.
    pub internal_note: Option<String>,
    pub source: Source,
    /// 告知日期: the day the subject was notified of the intended identification (black entries).
    #[schema(value_type = Option<String>, format = Date)]
    pub notice_date: Option<NaiveDate>,
    /// 陈述申辩: the outcome of the subject's statement (black entries).
    pub statement_outcome: Option<StatementOutcome>,
    /// An objection (异议) is open.
    pub objection_open: bool,
    /// `expired` is reported for entries whose period ended even though nothing was stored.
    pub removal_reason: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub removal_date: Option<NaiveDate>,
    pub removal_note: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub published_at: Option<chrono::NaiveDateTime>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
}

/// Whether the full subject code is shown (staff views) or masked (audit trail, public).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disclosure {
    Full,
    Masked,
}

pub fn subject_ref(s: &SubjectRow, pii: &PiiCipher, d: Disclosure) -> Result<SubjectRef, ApiError> {
    Ok(SubjectRef {
        id: s.id,
        code: match d {
            Disclosure::Full => s.full_code(pii)?,
            Disclosure::Masked => s.public_code(),
        },
        kind: SubjectType::parse(&s.kind)
            .ok_or_else(|| ApiError::internal("unknown subject kind"))?,
        name: s.name.clone(),
        region_code: s.region_code.clone(),
        code_flagged: s.code_flagged,
    })
}

/// Reference data that repeats across the rows of one import (departments, scope items and their
/// versions, regions), read once. Valid within one transaction, where that data does not change.
#[derive(Default)]
pub struct Lookups {
    departments: HashMap<i32, Option<Department>>,
    items: HashMap<i32, Option<ItemRow>>,
    versions: HashMap<(i32, i32), Option<VersionRow>>,
    regions: HashMap<String, bool>,
}

impl Lookups {
    pub fn department(
        &mut self,
        conn: &mut DbConnection,
        id: i32,
    ) -> Result<Option<Department>, ApiError> {
        if let Some(d) = self.departments.get(&id) {
            return Ok(d.clone());
        }
        let d = crate::org::find_department(conn, id)?;
        self.departments.insert(id, d.clone());
        Ok(d)
    }

    pub fn item(&mut self, conn: &mut DbConnection, id: i32) -> Result<Option<ItemRow>, ApiError> {
        if let Some(i) = self.items.get(&id) {
            return Ok(i.clone());
        }
        let i = crate::four_lists::find_item(conn, id)?;
        self.items.insert(id, i.clone());
        Ok(i)
    }

    pub fn version(
        &mut self,
        conn: &mut DbConnection,
        id: i32,
        version: i32,
    ) -> Result<Option<VersionRow>, ApiError> {
        if let Some(v) = self.versions.get(&(id, version)) {
            return Ok(v.clone());
        }
        let v = crate::four_lists::find_version(conn, id, version)?;
        self.versions.insert((id, version), v.clone());
        Ok(v)
    }

    pub fn region_exists(&mut self, conn: &mut DbConnection, code: &str) -> Result<bool, ApiError> {
        if let Some(b) = self.regions.get(code) {
            return Ok(*b);
        }
        let b = crate::org::find_region(conn, code)?.is_some();
        self.regions.insert(code.to_string(), b);
        Ok(b)
    }
}

pub fn entry_view(
    conn: &mut DbConnection,
    pii: &PiiCipher,
    e: &EntryRow,
    d: Disclosure,
    today: NaiveDate,
) -> Result<EntryView, ApiError> {
    entry_view_with(conn, pii, e, d, today, &mut Lookups::default())
}

pub fn entry_view_with(
    conn: &mut DbConnection,
    pii: &PiiCipher,
    e: &EntryRow,
    d: Disclosure,
    today: NaiveDate,
    lookups: &mut Lookups,
) -> Result<EntryView, ApiError> {
    let subject: SubjectRow = subjects::table
        .find(e.subject_id)
        .select(SubjectRow::as_select())
        .first(conn)?;
    let missing = || ApiError::internal("entry refers to a missing record");
    let department_name = lookups
        .department(conn, e.department_id)?
        .ok_or_else(missing)?
        .name;
    let scope_code = lookups
        .item(conn, e.scope_item_id)?
        .ok_or_else(missing)?
        .code;
    let scope_title = lookups
        .version(conn, e.scope_item_id, e.scope_item_version)?
        .ok_or_else(missing)?
        .title;
    let status = effective_status(e, today);
    let removal_reason = e
        .removal_reason
        .clone()
        .filter(|_| status == "removed")
        .or_else(|| (status == "expired").then(|| "expired".to_string()));
    Ok(EntryView {
        id: e.id,
        list_type: if e.list_type == "red" {
            ListType::Red
        } else {
            ListType::Black
        },
        status: e.status.clone(),
        effective_status: status.to_string(),
        in_force: in_force_on(e, today),
        subject: subject_ref(&subject, pii, d)?,
        subject_name: e.subject_name.clone(),
        legal_representative: e.legal_representative.clone(),
        legal_representative_id: e.legal_representative_id_masked.clone(),
        department_id: e.department_id,
        department_name,
        region_code: e.region_code.clone(),
        scope_item_id: e.scope_item_id,
        scope_item_version: e.scope_item_version,
        scope_item_code: scope_code,
        scope_item_title: scope_title,
        document_number: e.document_number.clone(),
        determination_date: e.determination_date,
        valid_from: e.valid_from,
        valid_until: e.valid_until,
        facts: e.facts.clone(),
        internal_note: e.internal_note.clone(),
        source: if e.source == "national" {
            Source::National
        } else {
            Source::Local
        },
        notice_date: e.notice_date,
        statement_outcome: e
            .statement_outcome
            .as_deref()
            .and_then(StatementOutcome::parse),
        objection_open: e.objection_open,
        removal_reason,
        removal_date: e.removal_date.filter(|_| status == "removed"),
        removal_note: e.removal_note.clone().filter(|_| status == "removed"),
        published_at: e.published_at,
        created_at: e.created_at,
        updated_at: e.updated_at,
    })
}

pub fn find_entry(conn: &mut DbConnection, id: i32) -> Result<Option<EntryRow>, ApiError> {
    Ok(list_entries::table
        .find(id)
        .select(EntryRow::as_select())
        .first(conn)
        .optional()?)
}

/// Today's date in China (UTC+8), which is what "in force today" means for this city.
pub fn today() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn period_end_is_inclusive_and_handles_month_ends() {
        assert_eq!(period_end(d("2026-03-01"), 12), d("2027-02-28"));
        assert_eq!(period_end(d("2024-01-31"), 1), d("2024-02-28"));
        assert_eq!(period_end(d("2026-01-15"), 36), d("2029-01-14"));
    }
}
