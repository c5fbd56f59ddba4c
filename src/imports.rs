//! Shared pieces of the spreadsheet imports and exports: the upload, the all-or-nothing run with
//! dry runs, the per-row report with Chinese messages, and file responses.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::{self, DbConnection};
use crate::error::{ApiError, FieldError, PROBLEM_JSON};
use crate::state::AppState;
use crate::tabular::{self, Format, Table};

/// One rejected cell or row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowError {
    /// Spreadsheet row number (the header is row 1).
    pub row: usize,
    /// Column header, when one column is at fault.
    pub column: Option<String>,
    pub value: Option<String>,
    /// Stable code (the same codes as the API).
    pub code: String,
    /// 中文说明.
    pub message: String,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    pub rows: usize,
    /// Entries created.
    pub created: usize,
    /// Rows whose entry was already recorded (same department, document number, subject, list).
    pub unchanged: usize,
    /// Created entries that were also published.
    pub published: usize,
    /// The rejected cells and rows, in file order: the first 1,000 of them.
    pub errors: Vec<RowError>,
    /// Rejections not listed in `errors` (past the first 1,000).
    #[serde(default)]
    pub errors_omitted: usize,
}

/// Most rejections an import report lists; the rest are counted (`errors_omitted`).
pub const MAX_REPORTED_ERRORS: usize = 1000;

impl ImportReport {
    /// A report with nothing done yet.
    pub fn new(dry_run: bool) -> Self {
        ImportReport {
            dry_run,
            rows: 0,
            created: 0,
            unchanged: 0,
            published: 0,
            errors: Vec::new(),
            errors_omitted: 0,
        }
    }

    /// Records a rejection (listed while fewer than [`MAX_REPORTED_ERRORS`] are).
    pub fn push_error(&mut self, e: RowError) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(e);
        } else {
            self.errors_omitted += 1;
        }
    }

    /// True when any row was rejected.
    pub fn rejected(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Rejections in all.
    pub fn error_count(&self) -> usize {
        self.errors.len() + self.errors_omitted
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Validate and report only; nothing is written.
    #[serde(default)]
    pub dry_run: bool,
    /// Publish the created entries at once (default: they stay drafts).
    #[serde(default)]
    pub publish: bool,
    /// The file name, to help tell CSV from xlsx when the content type is missing.
    pub filename: Option<String>,
}

pub fn zh_message(code: &str, english: &str) -> String {
    let zh = match code {
        "required" => "必填项为空",
        "too_long" => "内容过长",
        "checksum_mismatch" => "代码校验位错误",
        "invalid_format" => "代码格式错误",
        "invalid_birth_date" => "身份证号中的出生日期无效",
        "invalid_date" => "日期格式应为 YYYY-MM-DD",
        "invalid_value" => "取值无效",
        "in_future" => "日期不能晚于今天",
        "unknown_item" => "清单事项不存在",
        "wrong_kind" => "清单事项类型与名单类型不符",
        "scope_not_published" => "清单事项未发布或已废止",
        "other_department" => "清单事项不属于该部门",
        "kind_mismatch" => "主体类型与代码不符",
        "kind_not_covered" => "该清单事项不适用于此类主体",
        "before_valid_from" => "有效期止早于有效期起",
        "before_determination" => "有效期起早于认定日期",
        "beyond_publication_period" => "有效期超过该失信等级的最长公示期",
        "below_publication_period" => "有效期短于该失信等级的最短公示期",
        "unknown_region" => "区域代码不存在",
        "unknown_department" => "部门不存在",
        "inactive_department" => "部门已停用",
        "duplicate_in_file" => "与文件中前面的行重复",
        "forbidden" => "无权为该部门或区域认定",
        "missing_column" => "缺少必需的列",
        "code_taken" => "该部门已有相同编码的事项",
        "invalid_code" => "编码格式错误",
        "unknown_field" => "适用领域不存在或已停用",
        "not_applicable" => "该项不适用于此清单类型",
        "notice_missing" => "本地认定的黑名单须先告知并记录陈述申辩情况，方可公示",
        "notice_after_determination" => "告知日期不能晚于认定日期",
        "out_of_range" => "数值超出范围",
        "self_link" => "事项不能关联自身",
        "repealed" => "关联事项已废止",
        "already_recorded" => "该主体已登记本期培训",
        "measure_not_in_field" => "所选措施不适用于该案例的领域",
        "row_too_large" => "该行内容过长（常见原因：引号未闭合）",
        "unknown_subject_name" => "主体尚未登记，须填写主体名称",
        "invalid_subject_code" => "主体代码无效",
        "insufficient_legal_basis" => {
            "设定依据层级不足：失信惩戒措施须以法律、法规、部门规章或党中央国务院政策文件为依据，本地设定的严重失信名单须以法律、行政法规、部门规章或地方性法规为依据"
        }
        _ => "数据无效",
    };
    format!("{zh}（{english}）")
}

pub fn rejected(report: &ImportReport) -> HttpResponse {
    let mut body = serde_json::to_value(crate::error::problem_body(
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        "import_rejected",
        format!(
            "{} row(s) are invalid; nothing was written",
            report.error_count()
        ),
        vec![],
    ))
    .unwrap_or_default();
    body["rows"] = serde_json::to_value(&report.errors).unwrap_or_default();
    body["report"] = serde_json::to_value(report).unwrap_or_default();
    HttpResponse::UnprocessableEntity()
        .content_type(PROBLEM_JSON)
        .body(body.to_string())
}

pub enum ImportAbort {
    Report(ImportReport),
    Api(ApiError),
}

impl From<diesel::result::Error> for ImportAbort {
    fn from(e: diesel::result::Error) -> Self {
        ImportAbort::Api(e.into())
    }
}

impl From<ApiError> for ImportAbort {
    fn from(e: ApiError) -> Self {
        ImportAbort::Api(e)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FormatQuery {
    /// `xlsx` (default) or `csv`.
    #[param(pattern = "^(xlsx|csv)$")]
    pub format: Option<String>,
}

/// `attachment; filename="ascii.xlsx"; filename*=UTF-8''…` (RFC 6266 / 5987): an ASCII name for
/// old clients, the Chinese one for the rest.
pub fn disposition(ascii: &str, name: &str, ext: &str) -> String {
    let encoded: String = format!("{name}.{ext}")
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}.{ext}\"; filename*=UTF-8''{encoded}")
}

pub fn file_response(
    format: &str,
    sheet: &str,
    ascii: &str,
    name: &str,
    headers: &[&str],
    rows: &[Vec<String>],
) -> Result<HttpResponse, ApiError> {
    let (bytes, ct, ext) = match format {
        "csv" => (
            tabular::write_csv(headers, rows),
            "text/csv; charset=utf-8",
            "csv",
        ),
        _ => (
            tabular::write_xlsx(sheet, headers, rows)
                .map_err(|e| ApiError::internal(e.to_string()))?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    Ok(HttpResponse::Ok()
        .content_type(ct)
        .insert_header((header::CONTENT_DISPOSITION, disposition(ascii, name, ext)))
        .body(bytes))
}

pub fn check_format(f: &Option<String>) -> Result<&'static str, ApiError> {
    match f.as_deref() {
        None | Some("xlsx") => Ok("xlsx"),
        Some("csv") => Ok("csv"),
        Some(_) => Err(ApiError::invalid_query(
            "format",
            "invalid_value",
            "format must be xlsx or csv",
        )),
    }
}

/// An upload received into an encrypted spool file ([`crate::spool`]), not yet read.
pub struct Upload {
    reader: crate::spool::SpoolReader,
    format: Format,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// Bytes gathered before they are written to the spool.
const SPOOL_WRITE_BYTES: usize = 1 << 20;

/// Receives a streamed import's body into a spool file (off the request thread, in 1 MiB writes),
/// within `import_max_bytes`; takes the caller's upload slot for granted. The body is never held
/// in memory whole.
pub async fn receive_upload(
    state: &AppState,
    req: &HttpRequest,
    filename: Option<&str>,
    mut payload: web::Payload,
) -> Result<Upload, ApiError> {
    use sha2::Digest;
    let limit = state.settings.import_max_bytes;
    let dir = state
        .settings
        .upload_spool_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let spool_failed = |e: std::io::Error| ApiError::internal(format!("the upload spool: {e}"));
    let mut spool = web::block(move || crate::spool::Spool::create(&dir))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(spool_failed)?;
    let mut hasher = sha2::Sha256::new();
    let mut head = Vec::with_capacity(8);
    let mut pending = Vec::with_capacity(SPOOL_WRITE_BYTES);
    let mut total = 0u64;
    loop {
        let chunk = payload.next().await;
        let last = chunk.is_none();
        if let Some(chunk) = chunk {
            let chunk = chunk.map_err(|e| ApiError::BadRequest {
                code: "malformed_body",
                detail: format!("the upload could not be read: {e}"),
                errors: vec![],
            })?;
            total += chunk.len() as u64;
            if total > limit {
                return Err(ApiError::PayloadTooLarge {
                    limit: limit as usize,
                });
            }
            hasher.update(&chunk);
            if head.len() < 8 {
                head.extend_from_slice(&chunk[..chunk.len().min(8 - head.len())]);
            }
            pending.extend_from_slice(&chunk);
        }
        if pending.len() >= SPOOL_WRITE_BYTES || (last && !pending.is_empty()) {
            let mut buf = std::mem::take(&mut pending);
            let (s, b) = web::block(move || {
                let written = spool.append(&buf);
                buf.clear();
                written.map(|()| (spool, buf))
            })
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(spool_failed)?;
            spool = s;
            pending = b;
        }
        if last {
            break;
        }
    }
    if spool.is_empty() {
        return Err(table_error(&tabular::TabularError::Empty));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = Format::detect(filename, content_type, &head);
    Ok(Upload {
        reader: spool.into_reader().map_err(spool_failed)?,
        format,
        sha256: hex::encode(hasher.finalize()),
    })
}

impl Upload {
    /// Starts reading the upload's rows within the streamed-import budget; waits for the header
    /// (call it where blocking is fine).
    pub fn rows(self, state: &AppState) -> Result<tabular::RowStream, ApiError> {
        tabular::RowStream::open(
            std::io::BufReader::with_capacity(256 * 1024, self.reader),
            self.format,
            state.settings.import_limits(),
        )
        .map_err(|e| table_error(&e))
    }
}

/// A file's format (from its name and first bytes) and SHA-256, read through once in chunks (the
/// command line's imports).
pub fn sniff_file(path: &std::path::Path) -> std::io::Result<(Format, String)> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut head = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < 8 {
            head.extend_from_slice(&buf[..n.min(8 - head.len())]);
        }
        hasher.update(&buf[..n]);
    }
    let format = Format::detect(path.to_str(), None, &head);
    Ok((format, hex::encode(hasher.finalize())))
}

/// Ids as the shortest list of inclusive ranges (`[[1, 4], [7, 7]]`): how an import's audit
/// record names the entries it wrote.
pub fn id_ranges(mut ids: Vec<i32>) -> Vec<[i32; 2]> {
    ids.sort_unstable();
    ids.dedup();
    let mut ranges: Vec<[i32; 2]> = Vec::new();
    for id in ids {
        match ranges.last_mut() {
            Some(r) if r[1] + 1 == id => r[1] = id,
            _ => ranges.push([id, id]),
        }
    }
    ranges
}

/// Reads an upload's bytes into a table off the request thread, within the upload budget. Used
/// by the API and the console.
pub async fn parse_upload(
    state: &AppState,
    body: Vec<u8>,
    filename: Option<&str>,
    content_type: Option<&str>,
) -> Result<Table, tabular::TabularError> {
    let format = Format::detect(filename, content_type, &body);
    let limits = state.settings.upload_limits();
    web::block(move || tabular::read_table_with_limits(&body, format, limits))
        .await
        .unwrap_or_else(|_| {
            Err(tabular::TabularError::Unreadable(
                "reading the file was interrupted".into(),
            ))
        })
}

/// The problem for a file that cannot be read: 413 when it is over a size budget once unpacked,
/// 422 for a table over its cell budgets (a cell too long, too many cells), otherwise 400 (as
/// before the budgets); the `body` field names the limit.
pub fn table_error(e: &tabular::TabularError) -> ApiError {
    let message = match e.limit() {
        Some(limit) => format!("{e} (limit: {limit})"),
        None => e.to_string(),
    };
    let errors = vec![FieldError::new("body", e.code(), message.clone())];
    if e.too_large() {
        ApiError::TooLarge {
            code: e.code(),
            detail: message,
            errors,
        }
    } else if matches!(
        e,
        tabular::TabularError::CellTooLong { .. }
            | tabular::TabularError::RowTooLarge { .. }
            | tabular::TabularError::TooManyCells { .. }
    ) {
        ApiError::Invalid {
            code: e.code(),
            detail: message,
            errors,
        }
    } else {
        ApiError::BadRequest {
            code: e.code(),
            detail: message,
            errors,
        }
    }
}

/// Runs `apply` in one write transaction and rolls it back for a dry run or when any row was
/// rejected; answers 200 (dry run), 201 (applied) or 422 `import_rejected` with every bad row.
pub async fn run_import<F>(
    state: &web::Data<AppState>,
    dry_run: bool,
    apply: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<ImportReport, ApiError> + Send + 'static,
{
    let report = import_report(state, dry_run, apply).await?;
    if report.rejected() {
        return Ok(rejected(&report));
    }
    Ok(if report.dry_run {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::Created().json(report)
    })
}

/// SQLite's page cache during an import (KiB), instead of its default 2,000 KiB.
const IMPORT_CACHE_KIB: i64 = 64 * 1024;

/// Runs `apply` in one write transaction, rolled back for a dry run or when any row was rejected;
/// the report says which (the staff console shows it as a table).
pub async fn import_report<F>(
    state: &web::Data<AppState>,
    dry_run: bool,
    apply: F,
) -> Result<ImportReport, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<ImportReport, ApiError> + Send + 'static,
{
    db::run(&state.pool, move |conn| {
        use diesel::connection::SimpleConnection;
        // A large import touches the same index pages again and again: with SQLite's default
        // page cache (2 MB) they are spilled to the WAL and read back many times over. Its reads
        // go through that cache rather than the memory map, so that what the import holds is
        // bounded by the cache, not by the size of the database file.
        let sqlite = conn.backend() == db::Backend::Sqlite;
        if sqlite {
            conn.batch_execute(&format!(
                "PRAGMA cache_size = -{IMPORT_CACHE_KIB}; PRAGMA mmap_size = 0;"
            ))?;
        }
        let outcome = db::write_tx(conn, |conn| {
            let report = apply(conn)?;
            if dry_run || report.rejected() {
                return Err(ImportAbort::Report(report));
            }
            Ok(report)
        });
        if sqlite {
            conn.batch_execute(&format!(
                "PRAGMA cache_size = -2000; PRAGMA mmap_size = {};",
                db::SQLITE_MMAP_BYTES
            ))?;
        }
        match outcome {
            Ok(r) | Err(ImportAbort::Report(r)) => Ok(r),
            Err(ImportAbort::Api(e)) => Err(e),
        }
    })
    .await
}

/// Report for one row and column.
pub fn row_error(
    row: usize,
    column: Option<String>,
    value: Option<String>,
    code: &str,
    english: &str,
) -> RowError {
    RowError {
        row,
        column,
        value,
        code: code.to_string(),
        message: zh_message(code, english),
    }
}

/// Records the outcome of one imported row: counts a creation, or turns a validation, scope or
/// conflict error into report rows (`cell` maps an API field to its column header and value);
/// any other error aborts the import.
pub fn record_outcome<T>(
    report: &mut ImportReport,
    row: usize,
    outcome: Result<T, ApiError>,
    published: bool,
    cell: impl Fn(&str) -> Option<(String, String)>,
) -> Result<(), ApiError> {
    match outcome {
        Ok(_) => {
            report.created += 1;
            if published {
                report.published += 1;
            }
        }
        Err(ApiError::Invalid {
            errors,
            code,
            detail,
        }) => {
            if errors.is_empty() {
                report.push_error(row_error(row, None, None, code, &detail));
            }
            for e in errors {
                let (column, value) = cell(&e.field).unzip();
                report.push_error(row_error(row, column, value, &e.code, &e.message));
            }
        }
        Err(ApiError::Forbidden(msg)) => {
            report.push_error(row_error(row, None, None, "forbidden", &msg));
        }
        Err(ApiError::Conflict { code, detail }) => {
            report.push_error(row_error(row, None, None, code, &detail));
        }
        Err(other) => return Err(other),
    }
    Ok(())
}
