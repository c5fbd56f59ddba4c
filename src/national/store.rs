//! The national sources' operations: registering a source, listing sources, and syncing a file
//! of a source (snapshot or delta) into the list entries. The API, the CLI and the tests call
//! these; each authorises its caller and audits what it changes.

use std::collections::{HashMap, HashSet};

use actix_web::web;
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;
use crate::audit::{self, Entry};
use crate::auth::{AuthUser, Role, CITY_REGION, STAFF};
use crate::db;
use crate::domain::{IdNumber, SubjectCode};
use crate::entries::store::{create_entry, NewEntry};
use crate::entries::{
    find_entry, in_force_on, lookup_key, parse_subject_code, period_end, today, EntryRow, ListType,
    Lookups, RemovalReason, Source,
};
use crate::error::{ApiError, FieldError};
use crate::imports::{zh_message, RowError};
use crate::schema::{list_entries, subjects};
use crate::state::AppState;
use crate::tabular::{column_index, TableRow, TabularError};

/// A new national source.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSource {
    /// Unique; the CLI names the source by it.
    #[schema(example = "最高人民法院失信被执行人", min_length = 1, max_length = 100)]
    pub name: String,
    /// Who identifies and publishes the list.
    #[schema(example = "最高人民法院", min_length = 1, max_length = 100)]
    pub issuer: String,
    pub key_kind: KeyKind,
    /// The local department that holds the source's entries (an active department).
    pub department_id: i32,
    /// The published `black_scope` item of that department the entries cite; its tier gives the
    /// default and the longest publication period.
    pub scope_item_id: i32,
}

/// A national source as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    pub id: i32,
    pub name: String,
    pub issuer: String,
    pub key_kind: KeyKind,
    /// The key column's header in the source's files.
    #[schema(example = "案号")]
    pub key_column: String,
    pub department_id: i32,
    pub department_name: String,
    pub scope_item_id: i32,
    pub scope_item_code: String,
    /// Entries of the source in force today.
    pub entries_in_force: i64,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
}

/// Admins and the city bureau (市政务服务和数字化局) sync national sources.
pub fn require_syncer(user: &AuthUser) -> Result<(), ApiError> {
    match user.role {
        Role::Admin => Ok(()),
        Role::Bureau if user.region_code.as_deref() == Some(CITY_REGION) => Ok(()),
        _ => Err(ApiError::forbidden(
            "only admins and the city bureau sync national sources",
        )),
    }
}

fn source_view(conn: &mut DbConnection, s: &SourceRow) -> Result<SourceView, ApiError> {
    let missing = || ApiError::internal("source refers to a missing record");
    let dept = crate::org::find_department(conn, s.department_id)?.ok_or_else(missing)?;
    let item = crate::four_lists::find_item(conn, s.scope_item_id)?.ok_or_else(missing)?;
    let key_kind = KeyKind::parse(&s.key_kind).ok_or_else(missing)?;
    Ok(SourceView {
        id: s.id,
        name: s.name.clone(),
        issuer: s.issuer.clone(),
        key_kind,
        key_column: key_kind.header().to_string(),
        department_id: s.department_id,
        department_name: dept.name,
        scope_item_id: s.scope_item_id,
        scope_item_code: item.code,
        entries_in_force: in_force_count(conn, s.id, today())?,
        created_at: s.created_at,
    })
}

/// Registers a source (admins); audited as `national_source.create`.
pub fn create_source(
    conn: &mut DbConnection,
    user: &AuthUser,
    input: NewSource,
) -> Result<SourceView, ApiError> {
    user.require(&[Role::Admin])?;
    let mut errors = Vec::new();
    let name = crate::http::required_line(&mut errors, "name", &input.name, 100);
    let issuer = crate::http::required_line(&mut errors, "issuer", &input.issuer, 100);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let dept = crate::org::find_department(conn, input.department_id)?.ok_or_else(|| {
        ApiError::invalid_field(
            "department_id",
            "unknown_department",
            "there is no such department",
        )
    })?;
    if !dept.active {
        return Err(ApiError::invalid_field(
            "department_id",
            "inactive_department",
            "the department is inactive",
        ));
    }
    let item = crate::four_lists::find_item(conn, input.scope_item_id)?.ok_or_else(|| {
        ApiError::invalid_field("scope_item_id", "unknown_item", "there is no such item")
    })?;
    if item.kind != "black_scope" {
        return Err(ApiError::invalid_field(
            "scope_item_id",
            "wrong_kind",
            "a national source's entries are black-list entries: cite a black_scope item",
        ));
    }
    if item.department_id != dept.id {
        return Err(ApiError::invalid_field(
            "scope_item_id",
            "other_department",
            "the scope item belongs to another department than the source's",
        ));
    }
    if item.status != "published" {
        return Err(ApiError::invalid_field(
            "scope_item_id",
            "scope_not_published",
            "the scope item is not published (or was repealed)",
        ));
    }
    if find_source_by_name(conn, &name)?.is_some() {
        return Err(ApiError::conflict(
            "name_taken",
            "a national source with this name exists",
        ));
    }
    let now = db::now();
    let id: i32 = diesel::insert_into(national_sources::table)
        .values((
            national_sources::name.eq(&name),
            national_sources::issuer.eq(&issuer),
            national_sources::key_kind.eq(input.key_kind.as_str()),
            national_sources::department_id.eq(dept.id),
            national_sources::scope_item_id.eq(item.id),
            national_sources::created_by.eq(user.id),
            national_sources::created_at.eq(now),
            national_sources::updated_at.eq(now),
        ))
        .returning(national_sources::id)
        .get_result(conn)?;
    let row = find_source(conn, id)?.ok_or_else(|| ApiError::internal("source vanished"))?;
    let view = source_view(conn, &row)?;
    audit::append(
        conn,
        &user.actor(),
        Entry::new("national_source.create", "national_source", id)
            .region(Some(dept.region_code.clone()))
            .department(Some(dept.id))
            .after(&view),
    )?;
    Ok(view)
}

pub fn list_sources(conn: &mut DbConnection) -> Result<Vec<SourceView>, ApiError> {
    let rows: Vec<SourceRow> = national_sources::table
        .order(national_sources::id.asc())
        .select(SourceRow::as_select())
        .load(conn)?;
    rows.iter().map(|r| source_view(conn, r)).collect()
}

pub(crate) async fn create_source_api(
    state: &web::Data<AppState>,
    user: AuthUser,
    input: NewSource,
) -> Result<SourceView, ApiError> {
    user.require(&[Role::Admin])?;
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| create_source(conn, &user, input))
    })
    .await
}

pub(crate) async fn list_sources_api(
    state: &web::Data<AppState>,
    user: AuthUser,
) -> Result<Vec<SourceView>, ApiError> {
    user.require(STAFF)?;
    db::run(&state.pool, list_sources).await
}

/// `snapshot`: every row the source lists for the city now; `delta`: rows added, changed or
/// removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    #[default]
    Snapshot,
    Delta,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    pub mode: SyncMode,
    /// Report only; nothing is written.
    pub dry_run: bool,
    /// Accept a snapshot that ends more than the allowed share of the source's entries.
    pub confirm: bool,
}

/// One row's (or one entry's) outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncItem {
    /// Spreadsheet row (the header is row 1); none for an entry a snapshot ended by leaving it
    /// out.
    pub row: Option<usize>,
    /// The source's key (案号 / 文书号 / 决定书文号).
    pub key: String,
    /// The entry (none for entries a dry run would create).
    pub entry_id: Option<i32>,
    /// Changed rows: the fields that changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// What a sync did (or, in a dry run, would do).
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncReport {
    pub source_id: i32,
    pub source_name: String,
    pub mode: SyncMode,
    pub dry_run: bool,
    /// SHA-256 of the file (hex), as recorded in the audit trail.
    pub file_sha256: String,
    /// The sync's date: entries ended by it are removed on this day (China time).
    #[schema(value_type = String, format = Date)]
    pub as_of: NaiveDate,
    /// Data rows read.
    pub rows: usize,
    pub created: usize,
    pub changed: usize,
    pub ended: usize,
    pub unchanged: usize,
    /// Entries ended: in a snapshot those left out of the file, in a delta those marked removed.
    pub ended_entries: Vec<SyncItem>,
    pub created_entries: Vec<SyncItem>,
    pub changed_entries: Vec<SyncItem>,
    /// Red-list entries of subjects the sync black-listed, removed with reason
    /// `black_listed_while_red`.
    pub red_entries_removed: Vec<i32>,
    /// Refused rows; when there is any, nothing was written.
    pub errors: Vec<RowError>,
}

/// The columns: (header, other accepted names, required).
const COLUMNS: &[(&str, &[&str], bool)] = &[
    (
        "名称",
        &[
            "名称",
            "主体名称",
            "被执行人姓名/名称",
            "被执行人名称",
            "当事人名称",
            "企业名称",
            "name",
        ],
        true,
    ),
    (
        "代码",
        &[
            "代码",
            "主体代码",
            "统一社会信用代码/身份证号",
            "统一社会信用代码",
            "身份证号码",
            "证件号码",
            "code",
        ],
        true,
    ),
    (
        "案号",
        &["案号", "文书号", "决定书文号", "列入决定书文号", "key"],
        true,
    ),
    (
        "认定机关",
        &[
            "认定机关",
            "执行法院",
            "作出决定机关",
            "列入机关",
            "authority",
        ],
        true,
    ),
    (
        "认定日期",
        &["认定日期", "列入日期", "决定日期", "determination_date"],
        true,
    ),
    (
        "公布日期",
        &["公布日期", "发布日期", "publication_date"],
        false,
    ),
    ("有效期止", &["有效期止", "截止日期", "end_date"], false),
    (
        "失信情形",
        &["失信情形", "违法事实", "主要违法事实", "事实", "facts"],
        false,
    ),
    (
        "法定代表人",
        &[
            "法定代表人",
            "法定代表人或负责人",
            "法定代表人姓名",
            "legal_representative",
        ],
        false,
    ),
    (
        "法定代表人身份证号",
        &[
            "法定代表人身份证号",
            "法定代表人证件号码",
            "legal_representative_id",
        ],
        false,
    ),
    ("变动类型", &["变动类型", "变动", "change"], false),
];

const NAME: usize = 0;
const CODE: usize = 1;
const KEY: usize = 2;
const AUTHORITY: usize = 3;
const DETERMINATION: usize = 4;
const PUBLICATION: usize = 5;
const END: usize = 6;
const FACTS: usize = 7;
const LEGAL_REP: usize = 8;
const LEGAL_REP_ID: usize = 9;
const CHANGE: usize = 10;

/// Chinese messages of this module's codes (others: the imports' table).
fn zh(code: &str, english: &str) -> String {
    let text = match code {
        "removal_in_snapshot" => "全量文件不能标记移出，移出请用增量文件",
        "unknown_key" => "该编号从未同步过，无法移出",
        "subject_changed" => "同一编号对应的主体代码与已同步的不同",
        "duplicate_entry" => "该部门已按此文书号登记过该主体",
        "not_in_city" => "主体不属于本市",
        _ => return zh_message(code, english),
    };
    format!("{text}（{english}）")
}

/// A data row, checked and resolved into the entry it stands for.
struct Resolved {
    key: String,
    code: SubjectCode,
    name: String,
    legal_rep: Option<String>,
    legal_rep_id: Option<IdNumber>,
    determination: NaiveDate,
    valid_from: NaiveDate,
    valid_until: NaiveDate,
    facts: String,
}

impl Resolved {
    /// A keyed hash of the row's content (no ID number in clear on disk).
    fn fingerprint(&self, pii: &crate::pii::PiiCipher) -> String {
        let material = serde_json::json!([
            code_str(&self.code),
            self.name,
            self.legal_rep,
            self.legal_rep_id.as_ref().map(|i| i.as_str()),
            self.determination.to_string(),
            self.valid_from.to_string(),
            self.valid_until.to_string(),
            self.facts,
        ]);
        pii.lookup_hash(&material.to_string())
    }
}

fn code_str(code: &SubjectCode) -> &str {
    match code {
        SubjectCode::Uscc(u) => u.as_str(),
        SubjectCode::IdNumber(i) => i.as_str(),
    }
}

/// What the scope item says about periods.
struct Periods {
    min_months: i32,
    max_months: i32,
    kinds: Vec<crate::four_lists::SubjectType>,
}

fn parse_date(raw: &str) -> Option<NaiveDate> {
    let t = raw.replace(['/', '.'], "-");
    let t = t.split(' ').next().unwrap_or("");
    NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()
}

/// Checks one add/change row; every fault goes to `errors` as (column, code, English).
fn resolve(
    cells: &dyn Fn(usize) -> String,
    periods: &Periods,
    today: NaiveDate,
    errors: &mut Vec<(usize, &'static str, String)>,
) -> Option<Resolved> {
    let before = errors.len();
    let mut text = |col: usize, max: usize| -> String {
        let v = cells(col);
        if v.is_empty() && COLUMNS[col].2 {
            errors.push((col, "required", "required".into()));
        } else if v.chars().count() > max {
            errors.push((col, "too_long", format!("at most {max} characters")));
        } else if v.chars().any(|c| c.is_control()) {
            errors.push((col, "invalid_value", "control characters".into()));
        }
        v
    };
    let name = text(NAME, 200);
    let key = text(KEY, 100);
    let authority = text(AUTHORITY, 100);
    let facts_cell = text(FACTS, 4800);
    let legal_rep = text(LEGAL_REP, 50);
    let code = match cells(CODE).as_str() {
        "" => {
            errors.push((CODE, "required", "required".into()));
            None
        }
        raw => match parse_subject_code("code", raw, false) {
            Ok((code, _)) => {
                match code.type_with(None) {
                    Ok(kind) if !periods.kinds.contains(&kind) => errors.push((
                        CODE,
                        "kind_not_covered",
                        format!(
                            "the source's scope item does not apply to {} subjects",
                            kind.as_str()
                        ),
                    )),
                    Ok(_) => {}
                    Err(m) => errors.push((CODE, "kind_mismatch", m.to_string())),
                }
                Some(code)
            }
            Err(ApiError::Invalid { errors: e, .. }) => {
                let (c, m) = e
                    .first()
                    .map(|f| (f.code.clone(), f.message.clone()))
                    .unwrap_or_default();
                let c: &'static str = match c.as_str() {
                    "checksum_mismatch" => "checksum_mismatch",
                    "invalid_birth_date" => "invalid_birth_date",
                    _ => "invalid_subject_code",
                };
                errors.push((CODE, c, m));
                None
            }
            Err(_) => {
                errors.push((CODE, "invalid_subject_code", "not a subject code".into()));
                None
            }
        },
    };
    let legal_rep_id = match cells(LEGAL_REP_ID).as_str() {
        "" => None,
        raw => match IdNumber::parse(raw) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.push((LEGAL_REP_ID, e.code(), e.to_string()));
                None
            }
        },
    };
    let mut date = |col: usize| -> Option<NaiveDate> {
        let raw = cells(col);
        if raw.is_empty() {
            if COLUMNS[col].2 {
                errors.push((col, "required", "required".into()));
            }
            return None;
        }
        match parse_date(&raw) {
            Some(d) => {
                let mut e = Vec::<FieldError>::new();
                crate::domain::dates::check_date(&mut e, "date", d);
                if let Some(f) = e.first() {
                    errors.push((col, "out_of_range", f.message.clone()));
                    None
                } else {
                    Some(d)
                }
            }
            None => {
                errors.push((col, "invalid_date", "a date is YYYY-MM-DD".into()));
                None
            }
        }
    };
    let determination = date(DETERMINATION);
    let publication = date(PUBLICATION);
    let end = date(END);
    let determination = determination?;
    if determination > today {
        errors.push((
            DETERMINATION,
            "in_future",
            "the determination date cannot be in the future".into(),
        ));
    }
    let valid_from = publication.unwrap_or(determination);
    if valid_from < determination {
        errors.push((
            PUBLICATION,
            "before_determination",
            "the publication date precedes the determination date".into(),
        ));
    }
    let max = period_end(determination, periods.max_months);
    let valid_until = end.unwrap_or(max);
    if valid_until < valid_from {
        errors.push((
            END,
            "before_valid_from",
            "the end date precedes the start of publication".into(),
        ));
    } else if valid_until > max {
        errors.push((
            END,
            "beyond_publication_period",
            format!("the scope item's tier allows publication until {max} at the latest"),
        ));
    } else if periods.min_months > 0 && valid_until < period_end(determination, periods.min_months)
    {
        errors.push((
            END,
            "below_publication_period",
            format!(
                "the scope item's tier requires at least {} months of publication",
                periods.min_months
            ),
        ));
    }
    if errors.len() > before {
        return None;
    }
    let facts = if facts_cell.is_empty() {
        format!("认定机关：{authority}")
    } else {
        format!("认定机关：{authority}；{facts_cell}")
    };
    Some(Resolved {
        key,
        code: code?,
        name,
        legal_rep: Some(legal_rep)
            .filter(|s| !s.is_empty())
            .map(|s| crate::pii::mask_id_numbers_in(&s).into_owned()),
        legal_rep_id,
        determination,
        valid_from,
        valid_until,
        facts: crate::pii::mask_id_numbers_in(&facts).into_owned(),
    })
}

/// The fields of `entry` that `r` changes.
fn changed_fields(pii: &crate::pii::PiiCipher, e: &EntryRow, r: &Resolved) -> Vec<String> {
    let mut out = Vec::new();
    let stored_id = e
        .legal_representative_id_enc
        .as_deref()
        .and_then(|enc| pii.decrypt(enc).ok());
    let checks = [
        ("subject_name", e.subject_name != r.name),
        (
            "legal_representative",
            e.legal_representative != r.legal_rep,
        ),
        (
            "legal_representative_id",
            stored_id.as_deref() != r.legal_rep_id.as_ref().map(|i| i.as_str()),
        ),
        (
            "determination_date",
            e.determination_date != r.determination,
        ),
        ("valid_from", e.valid_from != r.valid_from),
        ("valid_until", e.valid_until != r.valid_until),
        ("facts", e.facts != r.facts),
    ];
    for (field, differs) in checks {
        if differs {
            out.push(field.to_string());
        }
    }
    out
}

/// Who may run a sync and on what: the source's record and the caller.
pub enum SourceRef<'a> {
    Id(i32),
    Name(&'a str),
}

/// Aborts the sync's transaction, keeping the report.
enum Abort {
    Report(Box<SyncReport>),
    Api(ApiError),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Api(e.into())
    }
}

impl From<ApiError> for Abort {
    fn from(e: ApiError) -> Self {
        Abort::Api(e)
    }
}

/// The account a command-line sync is recorded under: the named one (an admin or the city
/// bureau), or the first active admin account.
pub fn cli_user(conn: &mut DbConnection, username: Option<&str>) -> Result<AuthUser, ApiError> {
    use crate::schema::users;
    let mut q = users::table
        .filter(users::active.eq(true))
        .order(users::id.asc())
        .select((users::id, users::username, users::role, users::region_code))
        .into_boxed();
    q = match username {
        Some(name) => q.filter(users::username.eq(name.to_string())),
        None => q.filter(users::role.eq("admin")),
    };
    let (id, username, role, region_code): (i32, String, String, Option<String>) = q
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("active account to record the sync under"))?;
    let role = match role.as_str() {
        "admin" => Role::Admin,
        "bureau" => Role::Bureau,
        _ => {
            return Err(ApiError::forbidden(
                "only admins and the city bureau sync national sources",
            ))
        }
    };
    let user = AuthUser {
        id,
        username,
        role,
        department_id: None,
        region_code,
        session_id: "cli".into(),
        meta: Default::default(),
    };
    require_syncer(&user)?;
    Ok(user)
}

/// Applies a file of a source in one write transaction: all or nothing. Returns the report
/// (with `errors` when rows were refused, then nothing was written; a dry run writes nothing
/// either). A snapshot that would end more than the configured share of the source's entries in
/// force is refused (422 `snapshot_ends_too_many`) unless `confirm`.
#[allow(clippy::too_many_arguments)]
pub fn sync(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    source: SourceRef<'_>,
    headers: &[String],
    rows: impl Iterator<Item = Result<TableRow, TabularError>>,
    file_sha256: &str,
    opts: SyncOptions,
) -> Result<SyncReport, ApiError> {
    require_syncer(user)?;
    let outcome = db::write_tx(conn, |conn| {
        let report = apply(conn, state, user, &source, headers, rows, file_sha256, opts)?;
        if opts.dry_run || !report.errors.is_empty() {
            return Err(Abort::Report(Box::new(report)));
        }
        Ok(report)
    });
    match outcome {
        Ok(r) => Ok(r),
        Err(Abort::Report(r)) => Ok(*r),
        Err(Abort::Api(e)) => Err(e),
    }
}

#[allow(clippy::too_many_arguments)]
fn apply(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    source: &SourceRef<'_>,
    headers: &[String],
    rows: impl Iterator<Item = Result<TableRow, TabularError>>,
    file_sha256: &str,
    opts: SyncOptions,
) -> Result<SyncReport, Abort> {
    let src = match source {
        SourceRef::Id(id) => find_source(conn, *id)?,
        SourceRef::Name(name) => find_source_by_name(conn, name)?,
    }
    .ok_or_else(|| ApiError::not_found("national source"))?;
    let as_of = today();
    let mut report = SyncReport {
        source_id: src.id,
        source_name: src.name.clone(),
        mode: opts.mode,
        dry_run: opts.dry_run,
        file_sha256: file_sha256.to_string(),
        as_of,
        rows: 0,
        created: 0,
        changed: 0,
        ended: 0,
        unchanged: 0,
        ended_entries: Vec::new(),
        created_entries: Vec::new(),
        changed_entries: Vec::new(),
        red_entries_removed: Vec::new(),
        errors: Vec::new(),
    };
    let key_header = KeyKind::parse(&src.key_kind)
        .map(KeyKind::header)
        .unwrap_or("案号");
    let header_name = |col: usize| -> String {
        if col == KEY {
            key_header.to_string()
        } else {
            COLUMNS[col].0.to_string()
        }
    };
    let index: Vec<Option<usize>> = COLUMNS
        .iter()
        .map(|(_, names, _)| column_index(headers, names))
        .collect();
    for (i, (_, _, required)) in COLUMNS.iter().enumerate() {
        if *required && index[i].is_none() {
            report.errors.push(RowError {
                row: 1,
                column: Some(header_name(i)),
                value: None,
                code: "missing_column".into(),
                message: zh("missing_column", "a required column is missing"),
            });
        }
    }
    if !report.errors.is_empty() {
        return Ok(report);
    }
    // The scope item's periods (the version in force now).
    let mut lookups = Lookups::default();
    let item = lookups
        .item(conn, src.scope_item_id)?
        .ok_or_else(|| ApiError::internal("source without scope item"))?;
    let version = match item.published_version {
        Some(v) if item.status == "published" => lookups
            .version(conn, item.id, v)?
            .ok_or_else(|| ApiError::internal("missing scope version"))?,
        _ => {
            return Err(Abort::Api(ApiError::conflict(
                "scope_not_published",
                "the source's scope item is not published (or was repealed): publish it or register the source again",
            )))
        }
    };
    let content = version.content();
    let periods = Periods {
        min_months: content.publication_months_min.unwrap_or(0),
        max_months: content.publication_months_max.unwrap_or(36),
        kinds: content.subject_kinds.clone(),
    };
    let keys = source_keys(conn, src.id)?;
    let in_force_before = in_force_count(conn, src.id, as_of)?;
    let mut active: HashMap<String, KeyRow> = HashMap::new();
    let mut ever: HashSet<String> = HashSet::new();
    for k in keys {
        ever.insert(k.national_key.clone());
        if k.active {
            active.insert(k.national_key.clone(), k);
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let now = db::now();
    let mut touched_created = Vec::new();
    let mut touched_changed = Vec::new();
    let mut touched_ended = Vec::new();
    for row in rows {
        let row = row.map_err(|e| crate::imports::table_error(&e))?;
        report.rows += 1;
        let cells = |i: usize| {
            index[i]
                .map(|c| row.cell(c).trim().to_string())
                .unwrap_or_default()
        };
        let mut errs: Vec<(usize, &'static str, String)> = Vec::new();
        let removal = match cells(CHANGE).as_str() {
            "" | "新增" | "变更" | "add" | "change" => false,
            "移出" | "删除" | "撤销" | "remove" => true,
            _ => {
                errs.push((CHANGE, "invalid_value", "新增, 变更 or 移出".into()));
                false
            }
        };
        if removal && opts.mode == SyncMode::Snapshot {
            errs.push((
                CHANGE,
                "removal_in_snapshot",
                "a snapshot lists what is in force; removals go in a delta".into(),
            ));
        }
        let key = cells(KEY);
        if !key.is_empty() {
            if let Some(first) = seen.insert(key.clone(), row.number) {
                report.errors.push(RowError {
                    row: row.number,
                    column: Some(header_name(KEY)),
                    value: Some(key.clone()),
                    code: "duplicate_in_file".into(),
                    message: zh("duplicate_in_file", &format!("same key as row {first}")),
                });
                continue;
            }
        }
        let resolved = if removal {
            if key.is_empty() {
                errs.push((KEY, "required", "required".into()));
            }
            None
        } else {
            resolve(&cells, &periods, as_of, &mut errs)
        };
        if !errs.is_empty() {
            for (col, code, english) in errs {
                report.errors.push(RowError {
                    row: row.number,
                    column: Some(header_name(col)),
                    value: Some(cells(col)),
                    code: code.into(),
                    message: zh(code, &english),
                });
            }
            continue;
        }
        if removal {
            match active.get(&key) {
                Some(k) => {
                    let entry_id = k.entry_id;
                    if end_entry(conn, state, entry_id, as_of, &src, now)? {
                        report.ended += 1;
                        touched_ended.push(entry_id);
                        report.ended_entries.push(SyncItem {
                            row: Some(row.number),
                            key: key.clone(),
                            entry_id: Some(entry_id),
                            fields: vec![],
                        });
                    } else {
                        report.unchanged += 1;
                    }
                    diesel::update(national_entries::table.find(entry_id))
                        .set((
                            national_entries::active.eq(false),
                            national_entries::synced_at.eq(now),
                        ))
                        .execute(conn)?;
                    active.remove(&key);
                }
                None if ever.contains(&key) => report.unchanged += 1,
                None => report.errors.push(RowError {
                    row: row.number,
                    column: Some(header_name(KEY)),
                    value: Some(key.clone()),
                    code: "unknown_key".into(),
                    message: zh("unknown_key", "no entry of the source has this key"),
                }),
            }
            continue;
        }
        let Some(r) = resolved else { continue };
        let fingerprint = r.fingerprint(&state.pii);
        let subject_key = lookup_key(&r.code, &state.pii);
        // An entry of this key: the synced one, or one recorded by hand before the source was
        // synced (same department, document number and subject), which the sync adopts.
        let existing = match active.get(&r.key) {
            Some(k) => Some((k.entry_id, k.fingerprint.clone())),
            None => adoptable(conn, &src, &r.key, &subject_key)?.map(|id| (id, String::new())),
        };
        match existing {
            Some((entry_id, stored_fp)) => {
                let entry = find_entry(conn, entry_id)?
                    .ok_or_else(|| ApiError::internal("entry vanished"))?;
                let entry_key: String = subjects::table
                    .find(entry.subject_id)
                    .select(subjects::lookup_key)
                    .first(conn)?;
                if entry_key != subject_key {
                    report.errors.push(RowError {
                        row: row.number,
                        column: Some(header_name(CODE)),
                        value: Some(cells(CODE)),
                        code: "subject_changed".into(),
                        message: zh(
                            "subject_changed",
                            &format!("entry {entry_id} of this key lists another subject"),
                        ),
                    });
                    continue;
                }
                let fields = if stored_fp == fingerprint || entry.status != "published" {
                    vec![]
                } else {
                    changed_fields(&state.pii, &entry, &r)
                };
                if stored_fp.is_empty() {
                    diesel::insert_into(national_entries::table)
                        .values((
                            national_entries::entry_id.eq(entry_id),
                            national_entries::source_id.eq(src.id),
                            national_entries::national_key.eq(&r.key),
                            national_entries::fingerprint.eq(&fingerprint),
                            national_entries::active.eq(true),
                            national_entries::synced_at.eq(now),
                        ))
                        .execute(conn)?;
                } else if stored_fp != fingerprint {
                    diesel::update(national_entries::table.find(entry_id))
                        .set((
                            national_entries::fingerprint.eq(&fingerprint),
                            national_entries::synced_at.eq(now),
                        ))
                        .execute(conn)?;
                }
                if fields.is_empty() {
                    report.unchanged += 1;
                    continue;
                }
                diesel::update(list_entries::table.find(entry_id))
                    .set((
                        list_entries::subject_name.eq(&r.name),
                        list_entries::legal_representative.eq(&r.legal_rep),
                        list_entries::legal_representative_id_enc.eq(r
                            .legal_rep_id
                            .as_ref()
                            .map(|i| state.pii.encrypt(i.as_str()))),
                        list_entries::legal_representative_id_masked
                            .eq(r.legal_rep_id.as_ref().map(|i| i.masked())),
                        list_entries::determination_date.eq(r.determination),
                        list_entries::valid_from.eq(r.valid_from),
                        list_entries::valid_until.eq(r.valid_until),
                        list_entries::facts.eq(&r.facts),
                        list_entries::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                let after = find_entry(conn, entry_id)?
                    .ok_or_else(|| ApiError::internal("entry vanished"))?;
                crate::entries::store::feed_entry_event(
                    conn,
                    state,
                    &after,
                    crate::feed::EventType::EntryChanged,
                    &mut lookups,
                )?;
                report.changed += 1;
                touched_changed.push(entry_id);
                report.changed_entries.push(SyncItem {
                    row: Some(row.number),
                    key: r.key.clone(),
                    entry_id: Some(entry_id),
                    fields,
                });
                active.insert(
                    r.key.clone(),
                    KeyRow {
                        entry_id,
                        source_id: src.id,
                        national_key: r.key.clone(),
                        fingerprint,
                        active: true,
                        synced_at: now,
                    },
                );
            }
            None => {
                let input = NewEntry {
                    list_type: ListType::Black,
                    subject_code: code_str(&r.code).to_string(),
                    subject_kind: None,
                    subject_name: r.name.clone(),
                    legal_representative: r.legal_rep.clone(),
                    legal_representative_id: r
                        .legal_rep_id
                        .as_ref()
                        .map(|i| i.as_str().to_string()),
                    region_code: None,
                    department_id: Some(src.department_id),
                    scope_item_id: src.scope_item_id,
                    document_number: r.key.clone(),
                    determination_date: r.determination,
                    valid_from: Some(r.valid_from),
                    valid_until: Some(r.valid_until),
                    facts: r.facts.clone(),
                    internal_note: None,
                    source: Source::National,
                    notice_date: None,
                    statement_outcome: None,
                    acknowledge_invalid_checksum: false,
                };
                let created = match create_entry(conn, state, user, input, &mut lookups) {
                    Ok(e) => e,
                    Err(e) => {
                        refused(&mut report, row.number, e, &header_name)?;
                        continue;
                    }
                };
                diesel::update(list_entries::table.find(created.id))
                    .set((
                        list_entries::status.eq("published"),
                        list_entries::published_at.eq(now),
                        list_entries::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                diesel::insert_into(national_entries::table)
                    .values((
                        national_entries::entry_id.eq(created.id),
                        national_entries::source_id.eq(src.id),
                        national_entries::national_key.eq(&r.key),
                        national_entries::fingerprint.eq(&fingerprint),
                        national_entries::active.eq(true),
                        national_entries::synced_at.eq(now),
                    ))
                    .execute(conn)?;
                let after = find_entry(conn, created.id)?
                    .ok_or_else(|| ApiError::internal("entry vanished"))?;
                crate::entries::store::feed_entry_event(
                    conn,
                    state,
                    &after,
                    crate::feed::EventType::EntryPublished,
                    &mut lookups,
                )?;
                crate::checks::watches::notify(
                    conn,
                    &after,
                    crate::checks::watches::WatchEvent::Published,
                )?;
                if in_force_on(&after, as_of) {
                    let reds = end_reds(conn, state, &after, as_of, now, &mut lookups)?;
                    report.red_entries_removed.extend(reds);
                }
                report.created += 1;
                touched_created.push(created.id);
                report.created_entries.push(SyncItem {
                    row: Some(row.number),
                    key: r.key.clone(),
                    entry_id: (!opts.dry_run).then_some(created.id),
                    fields: vec![],
                });
                active.insert(
                    r.key.clone(),
                    KeyRow {
                        entry_id: created.id,
                        source_id: src.id,
                        national_key: r.key.clone(),
                        fingerprint,
                        active: true,
                        synced_at: now,
                    },
                );
            }
        }
    }
    if !report.errors.is_empty() {
        return Ok(report);
    }
    if opts.mode == SyncMode::Snapshot {
        // Entries of the source left out of the snapshot end on its date.
        let mut absent: Vec<(String, i32)> = active
            .iter()
            .filter(|(k, _)| !seen.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.entry_id))
            .collect();
        absent.sort_by_key(|(_, id)| *id);
        let mut to_end = Vec::new();
        for (key, id) in absent {
            let e = find_entry(conn, id)?.ok_or_else(|| ApiError::internal("entry vanished"))?;
            if e.status == "published" && e.valid_until >= as_of {
                to_end.push((key, id));
            }
        }
        let limit = state.settings.national_sync_max_end_percent as i64;
        let ending = to_end.len() as i64;
        if !opts.confirm && ending > 0 && ending * 100 > limit * in_force_before.max(1) {
            return Err(Abort::Api(ApiError::Invalid {
                code: "snapshot_ends_too_many",
                detail: format!(
                    "the snapshot would end {ending} of the source's {in_force_before} entries in force, more than {limit}%: a truncated file must not empty a list; check the file, or send it again with confirm=true"
                ),
                errors: vec![FieldError::new(
                    "confirm",
                    "confirm_required",
                    format!("ending {ending} of {in_force_before} entries needs confirm=true"),
                )],
            }));
        }
        for (key, id) in to_end {
            if end_entry(conn, state, id, as_of, &src, now)? {
                report.ended += 1;
                touched_ended.push(id);
                report.ended_entries.push(SyncItem {
                    row: None,
                    key,
                    entry_id: Some(id),
                    fields: vec![],
                });
            }
            diesel::update(national_entries::table.find(id))
                .set((
                    national_entries::active.eq(false),
                    national_entries::synced_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    let dept_region = lookups
        .department(conn, src.department_id)?
        .map(|d| d.region_code)
        .unwrap_or_else(|| CITY_REGION.to_string());
    audit::append(
        conn,
        &user.actor(),
        Entry::new("national_source.sync", "national_source", src.id)
            .region(Some(dept_region))
            .department(Some(src.department_id))
            .after(&serde_json::json!({
                "source": src.name,
                "mode": opts.mode,
                "file_sha256": file_sha256,
                "as_of": as_of,
                "rows": report.rows,
                "created": report.created,
                "changed": report.changed,
                "ended": report.ended,
                "unchanged": report.unchanged,
                "created_ids": touched_created,
                "changed_ids": touched_changed,
                "ended_ids": touched_ended,
                "red_removed_ids": report.red_entries_removed,
            })),
    )?;
    Ok(report)
}

/// A black entry of the source's department with this document number and subject, national,
/// not yet tied to any source: recorded by hand before the sync existed.
fn adoptable(
    conn: &mut DbConnection,
    src: &SourceRow,
    key: &str,
    subject_key: &str,
) -> Result<Option<i32>, ApiError> {
    let tied = national_entries::table.select(national_entries::entry_id);
    let subject_ids = subjects::table
        .filter(subjects::lookup_key.eq(subject_key.to_string()))
        .select(subjects::id);
    Ok(list_entries::table
        .filter(list_entries::department_id.eq(src.department_id))
        .filter(list_entries::document_number.eq(key))
        .filter(list_entries::list_type.eq("black"))
        .filter(list_entries::source.eq("national"))
        .filter(list_entries::status.eq("published"))
        .filter(list_entries::subject_id.eq_any(subject_ids))
        .filter(diesel::dsl::not(list_entries::id.eq_any(tied)))
        .select(list_entries::id)
        .first(conn)
        .optional()?)
}

/// Turns a refused creation into report rows; other errors abort.
fn refused(
    report: &mut SyncReport,
    row: usize,
    e: ApiError,
    header_name: &dyn Fn(usize) -> String,
) -> Result<(), ApiError> {
    let column = |field: &str| -> Option<String> {
        let col = match field {
            "subject_code" | "subject_kind" => CODE,
            "subject_name" => NAME,
            "document_number" => KEY,
            "determination_date" => DETERMINATION,
            "valid_from" => PUBLICATION,
            "valid_until" => END,
            "facts" => FACTS,
            "legal_representative" => LEGAL_REP,
            "legal_representative_id" => LEGAL_REP_ID,
            _ => return None,
        };
        Some(header_name(col))
    };
    match e {
        ApiError::Invalid {
            errors,
            code,
            detail,
        } => {
            if errors.is_empty() {
                report.errors.push(RowError {
                    row,
                    column: None,
                    value: None,
                    code: code.into(),
                    message: zh(code, &detail),
                });
            }
            for f in errors {
                report.errors.push(RowError {
                    row,
                    column: column(&f.field),
                    value: None,
                    code: f.code.clone(),
                    message: zh(&f.code, &f.message),
                });
            }
        }
        ApiError::Conflict { code, detail } => report.errors.push(RowError {
            row,
            column: None,
            value: None,
            code: code.into(),
            message: zh(code, &detail),
        }),
        ApiError::Forbidden(msg) => report.errors.push(RowError {
            row,
            column: None,
            value: None,
            code: "forbidden".into(),
            message: zh("forbidden", &msg),
        }),
        other => return Err(other),
    }
    Ok(())
}

/// Ends an entry the source no longer lists (reason `source_removed`) on `day`, or on the first
/// day of its validity when that is later; tells the feed and the watchers. False when the entry
/// was no longer published and in its period (nothing to end).
fn end_entry(
    conn: &mut DbConnection,
    state: &AppState,
    id: i32,
    day: NaiveDate,
    src: &SourceRow,
    now: chrono::NaiveDateTime,
) -> Result<bool, ApiError> {
    let e = find_entry(conn, id)?.ok_or_else(|| ApiError::internal("entry vanished"))?;
    if e.status != "published" || e.valid_until < day {
        return Ok(false);
    }
    let date = day.max(e.valid_from);
    diesel::update(list_entries::table.find(id))
        .set((
            list_entries::status.eq("removed"),
            list_entries::removal_reason.eq(RemovalReason::SourceRemoved.as_str()),
            list_entries::removal_date.eq(date),
            list_entries::removal_note.eq(format!("no longer listed by {}", src.name)),
            list_entries::removed_at.eq(now),
            list_entries::updated_at.eq(now),
        ))
        .execute(conn)?;
    let after = find_entry(conn, id)?.ok_or_else(|| ApiError::internal("entry vanished"))?;
    crate::entries::store::feed_entry_event(
        conn,
        state,
        &after,
        crate::feed::EventType::EntryRemoved,
        &mut Lookups::default(),
    )?;
    crate::checks::watches::notify(conn, &after, crate::checks::watches::WatchEvent::Removed)?;
    Ok(true)
}

/// 发改财金规〔2017〕1798号 §十九: a subject black-listed during its red validity leaves the red
/// list. Returns the red entries removed.
fn end_reds(
    conn: &mut DbConnection,
    state: &AppState,
    black: &EntryRow,
    day: NaiveDate,
    now: chrono::NaiveDateTime,
    lookups: &mut Lookups,
) -> Result<Vec<i32>, ApiError> {
    let reds: Vec<EntryRow> = list_entries::table
        .filter(list_entries::subject_id.eq(black.subject_id))
        .filter(list_entries::list_type.eq("red"))
        .filter(list_entries::status.eq("published"))
        .select(EntryRow::as_select())
        .load(conn)?;
    let mut ids = Vec::new();
    for red in reds.into_iter().filter(|r| in_force_on(r, day)) {
        diesel::update(list_entries::table.find(red.id))
            .set((
                list_entries::status.eq("removed"),
                list_entries::removal_reason.eq(RemovalReason::BlackListedWhileRed.as_str()),
                list_entries::removal_date.eq(day),
                list_entries::removal_note.eq(format!("black-list entry {} synced", black.id)),
                list_entries::removed_at.eq(now),
                list_entries::updated_at.eq(now),
            ))
            .execute(conn)?;
        let after =
            find_entry(conn, red.id)?.ok_or_else(|| ApiError::internal("entry vanished"))?;
        crate::entries::store::feed_entry_event(
            conn,
            state,
            &after,
            crate::feed::EventType::EntryRemoved,
            lookups,
        )?;
        crate::checks::watches::notify(conn, &after, crate::checks::watches::WatchEvent::Removed)?;
        ids.push(red.id);
    }
    Ok(ids)
}
