//! Spreadsheet import and export of list entries (departments live in Excel).
//!
//! Import: `.xlsx` or `.csv` (UTF-8 or GB18030) with Chinese headers. Every row is validated with
//! the same rules as `POST /list-entries`; the whole file is applied in one transaction, so one
//! bad row means nothing is written and every bad row is reported. An entry is identified by
//! department + document number + subject code + list type: rows already recorded are reported
//! as unchanged, so importing the same file twice changes nothing.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::store::{
    check_filter, filtered_entries, insert_entry, prepare_entry, publish_entry, EntryFilter,
    NewEntry, PreparedEntry,
};
use super::*;
use crate::audit;
use crate::auth::AuthUser;
use crate::auth::STAFF;
use crate::db;
use crate::error::{ApiError, Problem};
use crate::imports::{
    check_format, file_response, import_report, receive_upload, record_outcome, run_import,
    zh_message, FormatQuery, ImportQuery, ImportReport, RowError,
};
use crate::state::AppState;
use crate::tabular::{self, column_index, Table, TableRow};

/// The columns, in template order: (header, alternative names, API field it fills).
const COLUMNS: &[(&str, &[&str], &str)] = &[
    ("名单类型*", &["名单类型", "list_type"], "list_type"),
    (
        "主体代码*",
        &[
            "主体代码",
            "统一社会信用代码/身份证号",
            "统一社会信用代码",
            "subject_code",
        ],
        "subject_code",
    ),
    ("主体类型", &["主体类型", "subject_kind"], "subject_kind"),
    ("主体名称*", &["主体名称", "subject_name"], "subject_name"),
    (
        "法定代表人",
        &["法定代表人", "legal_representative"],
        "legal_representative",
    ),
    (
        "法定代表人身份证号",
        &["法定代表人身份证号", "legal_representative_id"],
        "legal_representative_id",
    ),
    (
        "所属区域代码",
        &["所属区域代码", "区域代码", "region_code"],
        "region_code",
    ),
    (
        "认定部门编号",
        &["认定部门编号", "部门编号", "department_id"],
        "department_id",
    ),
    (
        "清单事项编码*",
        &["清单事项编码", "scope_item_code"],
        "scope_item_code",
    ),
    (
        "认定文书号*",
        &["认定文书号", "document_number"],
        "document_number",
    ),
    (
        "认定日期*",
        &["认定日期", "determination_date"],
        "determination_date",
    ),
    ("有效期起", &["有效期起", "valid_from"], "valid_from"),
    ("有效期止", &["有效期止", "valid_until"], "valid_until"),
    ("事实*", &["事实", "失信事实", "守信事实", "facts"], "facts"),
    ("来源", &["来源", "source"], "source"),
    ("告知日期", &["告知日期", "notice_date"], "notice_date"),
    (
        "陈述申辩情况",
        &["陈述申辩情况", "陈述申辩", "statement_outcome"],
        "statement_outcome",
    ),
];

/// Read-only columns added by the export (ignored by the import).
const EXPORT_EXTRA: &[&str] = &["编号", "状态", "移出原因", "移出日期"];

fn parse_date(errors: &mut Vec<(usize, String)>, col: usize, raw: &str) -> Option<NaiveDate> {
    if raw.is_empty() {
        return None;
    }
    let t = raw.replace(['/', '.'], "-");
    let t = t.split(' ').next().unwrap_or("");
    match NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            errors.push((col, "invalid_date".into()));
            None
        }
    }
}

/// A row parsed into the API's input, or the cells at fault.
struct ParsedRow {
    input: Option<NewEntry>,
    scope_code: String,
    errors: Vec<(usize, String)>,
}

fn parse_row(cells: &dyn Fn(usize) -> String, user: &AuthUser) -> ParsedRow {
    let mut errors = Vec::new();
    let list_type = match cells(0).as_str() {
        "红名单" | "红" | "red" => Some(ListType::Red),
        "黑名单" | "黑" | "black" => Some(ListType::Black),
        "" => {
            errors.push((0, "required".into()));
            None
        }
        _ => {
            errors.push((0, "invalid_value".into()));
            None
        }
    };
    let subject_kind = match cells(2).as_str() {
        "" => None,
        "企业" | "enterprise" => Some(SubjectType::Enterprise),
        "自然人" | "个人" | "individual" => Some(SubjectType::Individual),
        "其他组织" | "other_organisation" => Some(SubjectType::OtherOrganisation),
        _ => {
            errors.push((2, "invalid_value".into()));
            None
        }
    };
    let department_id = match cells(7).as_str() {
        "" => user.department_id,
        raw => match raw.trim_end_matches(".0").parse::<i32>() {
            Ok(d) => Some(d),
            Err(_) => {
                errors.push((7, "invalid_value".into()));
                None
            }
        },
    };
    let scope_code = cells(8);
    if scope_code.is_empty() {
        errors.push((8, "required".into()));
    }
    let determination = parse_date(&mut errors, 10, &cells(10));
    if cells(10).is_empty() {
        errors.push((10, "required".into()));
    }
    let valid_from = parse_date(&mut errors, 11, &cells(11));
    let valid_until = parse_date(&mut errors, 12, &cells(12));
    let source = match cells(14).as_str() {
        "" | "本地" | "本地认定" | "local" => Source::Local,
        "国家" | "国家层面认定" | "national" => Source::National,
        _ => {
            errors.push((14, "invalid_value".into()));
            Source::Local
        }
    };
    let notice_date = parse_date(&mut errors, 15, &cells(15));
    let statement_outcome = match cells(16).as_str() {
        "" => None,
        raw => StatementOutcome::parse(raw).or_else(|| {
            errors.push((16, "invalid_value".into()));
            None
        }),
    };
    let opt = |i: usize| Some(cells(i)).filter(|s| !s.is_empty());
    let input = match (list_type, determination) {
        (Some(list_type), Some(determination_date)) if errors.is_empty() => Some(NewEntry {
            list_type,
            subject_code: cells(1),
            subject_kind,
            subject_name: cells(3),
            legal_representative: opt(4),
            legal_representative_id: opt(5),
            region_code: opt(6),
            department_id,
            scope_item_id: 0,
            document_number: cells(9),
            determination_date,
            valid_from,
            valid_until,
            facts: cells(13),
            internal_note: None,
            source,
            notice_date,
            statement_outcome,
            acknowledge_invalid_checksum: false,
        }),
        _ => None,
    };
    ParsedRow {
        input,
        scope_code,
        errors,
    }
}

/// The spreadsheet header (without its `*`) of an API field, for messages shown to staff.
pub(crate) fn field_header(field: &str) -> Option<&'static str> {
    column_for_field(field).map(|c| COLUMNS[c].0.trim_end_matches('*'))
}

fn column_for_field(field: &str) -> Option<usize> {
    COLUMNS.iter().position(|c| c.2 == field).or(match field {
        "scope_item_id" => Some(8),
        _ => None,
    })
}

/// Import list entries from a sheet
///
/// Import entries from `.xlsx` or `.csv` (send the file as the request body). All or nothing.
///
/// The body is streamed to an encrypted spool file (up to `import_max_bytes`, 512 MiB by
/// default) and read row by row (up to `import_max_rows`, 1,000,000): memory does not grow with
/// the file. The import is one audit record (`list_entry.import`) naming the entries it created.
///
/// Staff, for departments they manage; approval systems get 403. Creates the entries as drafts, all
/// or nothing. At most `upload_max_concurrent` uploads are read at once (4 by default; more are 503
/// `too_many_uploads` with `Retry-After`).
#[utoipa::path(
    operation_id = "entries_import",
    tag = "list-entries",
    security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = Vec<u8>, description = "The spreadsheet (.xlsx, or .csv in UTF-8 or GB18030)",
                 content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Dry run: what would happen", body = ImportReport),
        (status = 201, description = "Applied", body = ImportReport),
        (status = 400, description = "Unreadable file", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over `import_max_bytes` (512 MiB by default; `payload_too_large`), or an xlsx over the upload budget (`unpacked_too_large`, `part_too_large`, `too_many_parts`, …: docs/pii-and-spreadsheets.md)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`upload_max_concurrent` uploads (4 by default) are being read already (`too_many_uploads`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid rows (all reported in `rows`); nothing written", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/list-entries/import")]
pub async fn import(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    query: crate::http::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let q = query.into_inner();
    let _slot = state.uploads.enter()?;
    let upload = receive_upload(&state, &req, q.filename.as_deref(), payload).await?;
    let st = state.clone();
    let (dry_run, publish) = (q.dry_run, q.publish);
    run_import(&state, dry_run, move |conn| {
        let sha256 = upload.sha256.clone();
        let rows = upload.rows(&st)?;
        let headers = rows.headers().to_vec();
        let source = ImportSource {
            headers: &headers,
            sha256: Some(&sha256),
        };
        apply(conn, &st, &user, source, rows, dry_run, publish)
    })
    .await
}

/// The import for the staff console: the same rules and transaction, answered with the report.
pub(crate) async fn import_table(
    state: &web::Data<AppState>,
    user: AuthUser,
    table: Table,
    dry_run: bool,
    publish: bool,
) -> Result<ImportReport, ApiError> {
    user.require(STAFF)?;
    let st = state.clone();
    import_report(state, dry_run, move |conn| {
        let Table { headers, rows } = table;
        let source = ImportSource {
            headers: &headers,
            sha256: None,
        };
        apply(
            conn,
            &st,
            &user,
            source,
            rows.into_iter().map(Ok),
            dry_run,
            publish,
        )
    })
    .await
}

/// What is known of an import's file before its rows are read.
struct ImportSource<'a> {
    headers: &'a [String],
    sha256: Option<&'a str>,
}

/// Rows checked and waiting to be written together.
const WRITE_BATCH: usize = 500;

/// A row checked against the rules, waiting for its batch to be written.
struct Pending {
    row: TableRow,
    entry: PreparedEntry,
    key: String,
}

/// The entry identity: department, document number, subject and list.
type EntryKey = (i32, String, i32, String);

/// What the import has written so far.
struct Written {
    import_id: String,
    /// The entries created, each with the row that created it (to name the first row of a
    /// duplicate), in the order they were inserted: ids only grow within a transaction, so the
    /// list is sorted and searched by halves (8 bytes an entry).
    created: Vec<(i32, u32)>,
    departments: std::collections::BTreeSet<i32>,
    regions: std::collections::BTreeSet<String>,
}

#[allow(clippy::too_many_arguments)]
fn apply(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    source: ImportSource<'_>,
    rows: impl Iterator<Item = Result<TableRow, tabular::TabularError>>,
    dry_run: bool,
    publish: bool,
) -> Result<ImportReport, ApiError> {
    let mut report = ImportReport::new(dry_run);
    let index: Vec<Option<usize>> = COLUMNS
        .iter()
        .map(|(_, names, _)| column_index(source.headers, names))
        .collect();
    for (i, (header, _, _)) in COLUMNS.iter().enumerate() {
        if header.ends_with('*') && index[i].is_none() {
            report.push_error(RowError {
                row: 1,
                column: Some(header_name(i)),
                value: None,
                code: "missing_column".into(),
                message: zh_message("missing_column", "a required column is missing"),
            });
        }
    }
    if report.rejected() {
        return Ok(report);
    }
    let mut lookups = Lookups::default();
    let mut scope_codes: std::collections::HashMap<(i32, String), Option<i32>> =
        std::collections::HashMap::new();
    let mut written = Written {
        import_id: uuid::Uuid::new_v4().to_string(),
        created: Vec::new(),
        departments: Default::default(),
        regions: Default::default(),
    };
    let mut batch: Vec<Pending> = Vec::with_capacity(WRITE_BATCH);
    for row in rows {
        let row = row.map_err(|e| crate::imports::table_error(&e))?;
        report.rows += 1;
        let cells = |i: usize| cell(&row, &index, i);
        let parsed = parse_row(&cells, user);
        for (col, code) in &parsed.errors {
            report.push_error(RowError {
                row: row.number,
                column: Some(header_name(*col)),
                value: Some(cells(*col)),
                code: code.clone(),
                message: zh_message(code, code),
            });
        }
        let Some(mut input) = parsed.input else {
            continue;
        };
        // The scope item by its code within the department.
        let dept = input.department_id.unwrap_or_default();
        let scope = match scope_codes.get(&(dept, parsed.scope_code.clone())) {
            Some(found) => *found,
            None => {
                let found: Option<i32> = crate::schema::four_list_items::table
                    .filter(crate::schema::four_list_items::department_id.eq(dept))
                    .filter(crate::schema::four_list_items::code.eq(&parsed.scope_code))
                    .select(crate::schema::four_list_items::id)
                    .first(conn)
                    .optional()?;
                scope_codes.insert((dept, parsed.scope_code.clone()), found);
                found
            }
        };
        let Some(scope) = scope else {
            report.push_error(RowError {
                row: row.number,
                column: Some(header_name(8)),
                value: Some(parsed.scope_code.clone()),
                code: "unknown_item".into(),
                message: zh_message(
                    "unknown_item",
                    "no such item in the department's four lists",
                ),
            });
            continue;
        };
        input.scope_item_id = scope;
        let prepared = prepare_entry(conn, user, input, &mut lookups);
        let entry = match prepared {
            Ok(entry) => entry,
            Err(e) => {
                record_outcome(&mut report, row.number, Err::<(), _>(e), false, |field| {
                    column_for_field(field).map(|c| (header_name(c), cells(c)))
                })?;
                continue;
            }
        };
        let key = crate::entries::lookup_key(&entry.code, &state.pii);
        batch.push(Pending { row, entry, key });
        if batch.len() >= WRITE_BATCH {
            write_batch(
                conn,
                state,
                user,
                std::mem::take(&mut batch),
                &mut report,
                &mut written,
                publish,
                &index,
            )?;
        }
    }
    write_batch(
        conn,
        state,
        user,
        batch,
        &mut report,
        &mut written,
        publish,
        &index,
    )?;
    // Rows refused while their batch was written come after later rows' parse errors.
    report.errors.sort_by_key(|e| e.row);
    if !report.rejected() && !written.created.is_empty() {
        // One record for the import, naming what it created (each entry's history shows it).
        let ids: Vec<i32> = written.created.iter().map(|(id, _)| *id).collect();
        audit::append(
            conn,
            &user.actor(),
            audit::Entry::new("list_entry.import", "import", &written.import_id)
                .region(single(&written.regions))
                .department(single(&written.departments))
                .after(&serde_json::json!({
                    "file_sha256": source.sha256,
                    "rows": report.rows,
                    "created": report.created,
                    "unchanged": report.unchanged,
                    "published": report.published,
                    "entry_ids": crate::imports::id_ranges(ids),
                })),
        )?;
    }
    Ok(report)
}

/// The template header (without its `*`) of column `i` of [`COLUMNS`].
fn header_name(i: usize) -> String {
    COLUMNS[i].0.trim_end_matches('*').to_string()
}

/// The trimmed text of column `i` of [`COLUMNS`] in a row (`index` maps columns to the file's).
fn cell(row: &TableRow, index: &[Option<usize>], i: usize) -> String {
    index[i]
        .map(|c| row.cell(c).trim().to_string())
        .unwrap_or_default()
}

/// The one element of a set, if it has exactly one.
fn single<T: Clone>(set: &std::collections::BTreeSet<T>) -> Option<T> {
    (set.len() == 1)
        .then(|| set.iter().next().cloned())
        .flatten()
}

/// Writes a batch of checked rows: their subjects are read in one query and recorded when new,
/// the entries already recorded are read in one query (a row naming one is unchanged, or a
/// duplicate of an earlier row of the file), and each new entry is one insert.
#[allow(clippy::too_many_arguments)]
fn write_batch(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    batch: Vec<Pending>,
    report: &mut ImportReport,
    written: &mut Written,
    publish: bool,
    index: &[Option<usize>],
) -> Result<(), ApiError> {
    use crate::schema::{list_entries, subjects};
    if batch.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = batch.iter().map(|p| p.key.as_str()).collect();
    let mut subjects_by_key: std::collections::HashMap<String, (i32, String)> = subjects::table
        .filter(subjects::lookup_key.eq_any(&keys))
        .select((subjects::lookup_key, subjects::id, subjects::name))
        .load::<(String, i32, String)>(conn)?
        .into_iter()
        .map(|(k, id, name)| (k, (id, name)))
        .collect();
    let subject_ids: Vec<i32> = subjects_by_key.values().map(|(id, _)| *id).collect();
    let mut recorded: std::collections::HashMap<EntryKey, i32> = list_entries::table
        .filter(list_entries::subject_id.eq_any(&subject_ids))
        .select((
            list_entries::department_id,
            list_entries::document_number,
            list_entries::subject_id,
            list_entries::list_type,
            list_entries::id,
        ))
        .load::<(i32, String, i32, String, i32)>(conn)?
        .into_iter()
        .map(|(d, doc, s, l, id)| ((d, doc, s, l), id))
        .collect();
    for Pending { row, entry, key } in batch {
        let number = row.number;
        let known = subjects_by_key.get(&key).map(|(id, _)| *id);
        if let Some(subject_id) = known {
            let identity = (
                entry.department_id,
                entry.document_number.clone(),
                subject_id,
                entry.list_type.as_str().to_string(),
            );
            if let Some(id) = recorded.get(&identity) {
                let first = written
                    .created
                    .binary_search_by_key(id, |(created, _)| *created)
                    .ok()
                    .map(|at| written.created[at].1);
                match first {
                    Some(first) => report.push_error(RowError {
                        row: number,
                        column: None,
                        value: None,
                        code: "duplicate_in_file".into(),
                        message: zh_message(
                            "duplicate_in_file",
                            &format!("same entry as row {first}"),
                        ),
                    }),
                    None => report.unchanged += 1,
                }
                continue;
            }
        }
        // The newest name wins, as for an entry recorded through the API.
        let subject_id = match subjects_by_key.get_mut(&key) {
            Some((id, name)) => {
                if *name != entry.subject_name {
                    diesel::update(subjects::table.find(*id))
                        .set((
                            subjects::name.eq(&entry.subject_name),
                            subjects::updated_at.eq(db::now()),
                        ))
                        .execute(conn)?;
                    name.clone_from(&entry.subject_name);
                }
                *id
            }
            None => {
                let id = crate::entries::insert_subject(
                    conn,
                    &state.pii,
                    &entry.code,
                    &key,
                    entry.kind,
                    &entry.subject_name,
                    &entry.region_code,
                    entry.flagged,
                )?;
                subjects_by_key.insert(key, (id, entry.subject_name.clone()));
                id
            }
        };
        let id = insert_entry(
            conn,
            state,
            user,
            &entry,
            subject_id,
            Some(&written.import_id),
        )?;
        recorded.insert(
            (
                entry.department_id,
                entry.document_number.clone(),
                subject_id,
                entry.list_type.as_str().to_string(),
            ),
            id,
        );
        match written.created.last() {
            Some((last, _)) if *last > id => {
                // Not expected (a sequence only grows), but kept sorted whatever happens.
                let at = written.created.partition_point(|(c, _)| *c < id);
                written.created.insert(at, (id, number as u32));
            }
            _ => written.created.push((id, number as u32)),
        }
        written.departments.insert(entry.department_id);
        written.regions.insert(entry.region_code.clone());
        if publish {
            let outcome = find_entry(conn, id)?
                .ok_or_else(|| ApiError::internal("entry vanished"))
                .and_then(|e| publish_entry(conn, state, user, e));
            let cells = |i: usize| cell(&row, index, i);
            record_outcome(report, number, outcome, true, |field| {
                column_for_field(field).map(|c| (header_name(c), cells(c)))
            })?;
        } else {
            report.created += 1;
        }
    }
    Ok(())
}

/// The list-entry import template
///
/// The import template: the headers (required ones marked `*`) and one example row.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "entries_import_template",
    tag = "list-entries",
    security(("bearer" = [])),
    params(FormatQuery),
    responses(
        (status = 200, description = "The template file", content(("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("text/csv"))),
        (status = 400, description = "Bad format", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/list-entries/import-template")]
pub async fn template(
    user: AuthUser,
    query: crate::http::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    template_file(&user, &query.format)
}

/// The template file in the asked format (the example row names the caller's department).
pub(crate) fn template_file(
    user: &AuthUser,
    format: &Option<String>,
) -> Result<HttpResponse, ApiError> {
    let format = check_format(format)?;
    let headers: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    let example = vec![vec![
        "黑名单".to_string(),
        "91220502MA0000001Q".to_string(),
        "企业".to_string(),
        "通化市某某商贸有限公司".to_string(),
        "张三".to_string(),
        String::new(),
        "220502".to_string(),
        user.department_id
            .map(|d| d.to_string())
            .unwrap_or_default(),
        "SW-HEI-01".to_string(),
        "通税稽罚〔2026〕12号".to_string(),
        "2026-03-01".to_string(),
        String::new(),
        String::new(),
        "虚开增值税专用发票".to_string(),
        "本地".to_string(),
        "2026-02-20".to_string(),
        "未提出陈述申辩".to_string(),
    ]];
    file_response(
        format,
        "红黑名单",
        "list-entries-template",
        "红黑名单导入模板",
        &headers,
        &example,
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `xlsx` (default) or `csv`.
    #[param(pattern = "^(xlsx|csv)$")]
    pub format: Option<String>,
    pub list_type: Option<ListType>,
    pub department_id: Option<i32>,
    pub region_code: Option<String>,
    #[param(pattern = "^(draft|published|removed|in_force|expired|pending)$")]
    pub status: Option<String>,
    pub source: Option<Source>,
    #[param(pattern = "^[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{18}$")]
    pub subject: Option<String>,
    #[param(value_type = Option<String>, format = Date)]
    pub determined_from: Option<NaiveDate>,
    #[param(value_type = Option<String>, format = Date)]
    pub determined_to: Option<NaiveDate>,
    pub q: Option<String>,
}

/// Export list entries as a sheet
///
/// Export entries with the list's filters (at most 200,000 rows), in the import's columns plus
/// read-only ones, so an export can be imported again without changes.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. The rows are those the
/// caller may list. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "entries_import_export",
    tag = "list-entries",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "The file", content(("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("text/csv"))),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A subject code of the right shape that is no code (`invalid_subject_code`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/list-entries/export")]
pub async fn export(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    export_file(&state, user, query.into_inner()).await
}

/// The export as a file response (the API's and the console's).
pub(crate) async fn export_file(
    state: &web::Data<AppState>,
    user: AuthUser,
    q: ExportQuery,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let format = check_format(&q.format)?;
    let f = EntryFilter {
        list_type: q.list_type,
        department_id: q.department_id,
        region_code: q.region_code,
        status: q.status,
        source: q.source,
        subject: q.subject,
        determined_from: q.determined_from,
        determined_to: q.determined_to,
        q: q.q,
        sort: None,
        page: None,
        per_page: None,
    };
    let subject_key = check_filter(&f, state)?;
    let st = state.clone();
    let rows = db::run(&state.pool, move |conn| {
        let today = today();
        let managed = crate::auth::managed_departments(conn, &user)?;
        let entries: Vec<EntryRow> = filtered_entries(&f, &managed, &subject_key, today)
            .order(crate::schema::list_entries::id.asc())
            .limit(tabular::MAX_ROWS as i64)
            .select(EntryRow::as_select())
            .load(conn)?;
        let mut rows = Vec::with_capacity(entries.len());
        for e in &entries {
            let v = entry_view(conn, &st.pii, e, Disclosure::Full, today)?;
            rows.push(vec![
                if e.list_type == "red" {
                    "红名单"
                } else {
                    "黑名单"
                }
                .to_string(),
                v.subject.code.clone(),
                match v.subject.kind {
                    SubjectType::Enterprise => "企业",
                    SubjectType::Individual => "自然人",
                    SubjectType::OtherOrganisation => "其他组织",
                }
                .to_string(),
                v.subject_name.clone(),
                v.legal_representative.clone().unwrap_or_default(),
                e.legal_representative_id_enc
                    .as_deref()
                    .and_then(|enc| st.pii.decrypt(enc).ok())
                    .unwrap_or_default(),
                v.region_code.clone(),
                v.department_id.to_string(),
                v.scope_item_code.clone(),
                v.document_number.clone(),
                v.determination_date.to_string(),
                v.valid_from.to_string(),
                v.valid_until.to_string(),
                v.facts.clone(),
                if e.source == "national" {
                    "国家层面认定"
                } else {
                    "本地"
                }
                .to_string(),
                v.notice_date.map(|d| d.to_string()).unwrap_or_default(),
                v.statement_outcome
                    .map(|o| o.zh().to_string())
                    .unwrap_or_default(),
                v.id.to_string(),
                match v.effective_status.as_str() {
                    "draft" => "草稿",
                    "pending" => "未生效",
                    "in_force" => "有效",
                    "expired" => "已到期",
                    _ => "已移出",
                }
                .to_string(),
                v.removal_reason.clone().unwrap_or_default(),
                v.removal_date.map(|d| d.to_string()).unwrap_or_default(),
            ]);
        }
        Ok(rows)
    })
    .await?;
    let headers: Vec<&str> = COLUMNS
        .iter()
        .map(|c| c.0)
        .chain(EXPORT_EXTRA.iter().copied())
        .collect();
    file_response(
        format,
        "红黑名单",
        "list-entries",
        "红黑名单",
        &headers,
        &rows,
    )
}
