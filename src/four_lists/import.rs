//! Spreadsheet import of four-list items (departments keep their lists in Excel). All or nothing,
//! with a dry run and a per-row report; an item is identified by department + code, so rows whose
//! item exists are reported unchanged and a second import of the same file changes nothing.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;

use super::store::{create_item_in, publish_item_in, NewItem};
use super::{ItemKind, ItemOrigin, LegalBasis, LegalBasisLevel, Severity, SubjectType};
use crate::auth::{AuthUser, Role};
use crate::db::DbConnection;
use crate::error::{ApiError, Problem};
use crate::imports::{
    check_format, file_response, import_report, receive_upload, record_outcome, row_error,
    run_import, FormatQuery, ImportQuery, ImportReport,
};
use crate::schema::{application_fields, four_list_items};
use crate::state::AppState;
use crate::tabular::{column_index, Table};

const COLUMNS: &[(&str, &[&str], &str)] = &[
    ("清单类型*", &["清单类型", "kind"], "kind"),
    ("事项编码*", &["事项编码", "编码", "code"], "code"),
    ("名称*", &["名称", "事项名称", "title"], "title"),
    ("说明", &["说明", "description"], "description"),
    (
        "依据文件*",
        &["依据文件", "依据", "legal_basis"],
        "legal_basis",
    ),
    ("依据条款", &["依据条款", "条款"], "legal_basis_article"),
    ("发布机关", &["发布机关", "制定机关"], "legal_basis_issuer"),
    ("适用主体*", &["适用主体", "subject_kinds"], "subject_kinds"),
    ("适用领域", &["适用领域", "领域", "fields"], "fields"),
    (
        "失信等级",
        &["失信等级", "严重程度", "severity"],
        "severity",
    ),
    (
        "最短公示期（月）",
        &["最短公示期（月）", "最短公示期"],
        "publication_months_min",
    ),
    (
        "最长公示期（月）",
        &["最长公示期（月）", "最长公示期"],
        "publication_months_max",
    ),
    (
        "可修复期（月）",
        &["可修复期（月）", "可修复期"],
        "repair_after_months",
    ),
    (
        "有效期（月）",
        &["有效期（月）", "有效期"],
        "validity_months",
    ),
    (
        "关联范围事项编码",
        &["关联范围事项编码", "关联事项"],
        "linked_scope_item_ids",
    ),
    ("部门编号", &["部门编号", "department_id"], "department_id"),
    // Looked up by key, not position: columns may be added before these.
    (
        "依据层级",
        &["依据层级", "效力层级", "legal_basis_level"],
        "legal_basis_level",
    ),
    ("设定来源", &["设定来源", "origin"], "origin"),
];

/// A column's index by its key (the third element of [`COLUMNS`]).
fn col(key: &str) -> usize {
    COLUMNS
        .iter()
        .position(|c| c.2 == key)
        .expect("a known column key")
}

fn split_list(raw: &str) -> Vec<String> {
    raw.split(['、', ',', '，', ';', '；', '\n'])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn kind_of(raw: &str) -> Option<ItemKind> {
    Some(match raw {
        "red_scope" | "诚信典型范围清单" | "诚信典型范围" | "红名单范围" => {
            ItemKind::RedScope
        }
        "black_scope" | "严重失信行为及主体范围清单" | "严重失信范围" | "黑名单范围" => {
            ItemKind::BlackScope
        }
        "incentive_measures" | "守信激励政策措施清单" | "守信激励措施" => {
            ItemKind::IncentiveMeasures
        }
        "punishment_measures" | "失信惩戒政策措施清单" | "失信惩戒措施" => {
            ItemKind::PunishmentMeasures
        }
        _ => return None,
    })
}

fn column_for_field(field: &str) -> Option<usize> {
    if field.starts_with("legal_basis[") && field.ends_with(".level") {
        return Some(col("legal_basis_level"));
    }
    let base = field.split(['[', '.']).next().unwrap_or(field);
    COLUMNS.iter().position(|c| c.2 == base)
}

fn origin_of(raw: &str) -> Option<ItemOrigin> {
    Some(match raw {
        "national" | "国家" | "国家层面" | "国家设定" => ItemOrigin::National,
        "local" | "本地" | "地方" | "本地设定" | "地方设定" => ItemOrigin::Local,
        _ => return None,
    })
}

fn apply(
    conn: &mut DbConnection,
    user: &AuthUser,
    headers: &[String],
    rows: impl Iterator<Item = Result<crate::tabular::TableRow, crate::tabular::TabularError>>,
    dry_run: bool,
    publish: bool,
) -> Result<ImportReport, ApiError> {
    let mut report = ImportReport::new(dry_run);
    let index: Vec<Option<usize>> = COLUMNS
        .iter()
        .map(|(_, names, _)| column_index(headers, names))
        .collect();
    let header_name = |i: usize| COLUMNS[i].0.trim_end_matches('*').to_string();
    for (i, (h, _, _)) in COLUMNS.iter().enumerate() {
        if h.ends_with('*') && index[i].is_none() {
            report.push_error(row_error(
                1,
                Some(header_name(i)),
                None,
                "missing_column",
                "a required column is missing",
            ));
        }
    }
    if report.rejected() {
        return Ok(report);
    }
    let fields: Vec<(String, String)> = application_fields::table
        .select((application_fields::code, application_fields::name))
        .load(conn)?;
    for row in rows {
        let row = row.map_err(|e| crate::imports::table_error(&e))?;
        report.rows += 1;
        let cells = |i: usize| {
            index[i]
                .map(|c| row.cell(c).trim().to_string())
                .unwrap_or_default()
        };
        let bad = |col: usize, code: &str, english: &str, report: &mut ImportReport| {
            report.push_error(row_error(
                row.number,
                Some(header_name(col)),
                Some(cells(col)),
                code,
                english,
            ));
        };
        let before = report.error_count();
        let kind = kind_of(&cells(0));
        if kind.is_none() {
            bad(0, "invalid_value", "unknown list kind", &mut report);
        }
        let department_id = match cells(15).as_str() {
            "" => user.department_id,
            raw => raw.trim_end_matches(".0").parse::<i32>().ok().or_else(|| {
                bad(15, "invalid_value", "not a department number", &mut report);
                None
            }),
        };
        let mut subject_kinds = Vec::new();
        for s in split_list(&cells(7)) {
            match s.as_str() {
                "企业" | "enterprise" => subject_kinds.push(SubjectType::Enterprise),
                "自然人" | "个人" | "individual" => {
                    subject_kinds.push(SubjectType::Individual)
                }
                "其他组织" | "other_organisation" => {
                    subject_kinds.push(SubjectType::OtherOrganisation)
                }
                _ => bad(
                    7,
                    "invalid_value",
                    "subject kinds are 企业, 自然人, 其他组织",
                    &mut report,
                ),
            }
        }
        let mut field_codes = Vec::new();
        for f in split_list(&cells(8)) {
            match fields.iter().find(|(code, name)| *code == f || *name == f) {
                Some((code, _)) => field_codes.push(code.clone()),
                None => bad(8, "unknown_field", "no such field", &mut report),
            }
        }
        let severity = match cells(9).as_str() {
            "" => None,
            "轻微" | "minor" => Some(Severity::Minor),
            "一般" | "general" => Some(Severity::General),
            "严重" | "serious" => Some(Severity::Serious),
            "特定严重" | "specific_serious" => Some(Severity::SpecificSerious),
            _ => {
                bad(
                    9,
                    "invalid_value",
                    "severity is 轻微, 一般, 严重 or 特定严重",
                    &mut report,
                );
                None
            }
        };
        let months = |col: usize, report: &mut ImportReport| -> Option<i32> {
            let raw = cells(col);
            if raw.is_empty() {
                return None;
            }
            match raw.trim_end_matches(".0").parse::<i32>() {
                Ok(v) => Some(v),
                Err(_) => {
                    report.push_error(row_error(
                        row.number,
                        Some(header_name(col)),
                        Some(raw),
                        "invalid_value",
                        "not a whole number of months",
                    ));
                    None
                }
            }
        };
        let (min, max, repair, validity) = (
            months(10, &mut report),
            months(11, &mut report),
            months(12, &mut report),
            months(13, &mut report),
        );
        let level_col = col("legal_basis_level");
        let level = match cells(level_col).as_str() {
            "" => None,
            raw => LegalBasisLevel::parse(raw).or_else(|| {
                bad(
                    level_col,
                    "invalid_value",
                    "the level is one of 法律, 行政法规, 部门规章, 地方性法规, 地方政府规章, \
                     党中央国务院政策文件, 其他规范性文件",
                    &mut report,
                );
                None
            }),
        };
        let origin_col = col("origin");
        let origin = match cells(origin_col).as_str() {
            "" => None,
            raw => origin_of(raw).or_else(|| {
                bad(
                    origin_col,
                    "invalid_value",
                    "the origin is 国家层面 or 本地",
                    &mut report,
                );
                None
            }),
        };
        if report.error_count() > before {
            continue;
        }
        let (Some(kind), Some(department_id)) = (kind, department_id) else {
            report.push_error(row_error(
                row.number,
                Some(header_name(15)),
                None,
                "required",
                "name the department",
            ));
            continue;
        };
        let code = cells(1);
        let exists: i64 = four_list_items::table
            .filter(four_list_items::department_id.eq(department_id))
            .filter(four_list_items::code.eq(&code))
            .count()
            .get_result(conn)?;
        if exists > 0 {
            report.unchanged += 1;
            continue;
        }
        let mut linked = Vec::new();
        for c in split_list(&cells(14)) {
            let id: Option<i32> = four_list_items::table
                .filter(four_list_items::department_id.eq(department_id))
                .filter(four_list_items::code.eq(&c))
                .select(four_list_items::id)
                .first(conn)
                .optional()?;
            match id {
                Some(id) => linked.push(id),
                None => report.push_error(row_error(
                    row.number,
                    Some(header_name(14)),
                    Some(c),
                    "unknown_item",
                    "no such scope item in the department",
                )),
            }
        }
        if report.error_count() > before {
            continue;
        }
        let opt = |i: usize| Some(cells(i)).filter(|s| !s.is_empty());
        let input = NewItem {
            department_id: Some(department_id),
            kind,
            code,
            title: cells(2),
            description: cells(3),
            legal_basis: if cells(4).is_empty() {
                vec![]
            } else {
                vec![LegalBasis {
                    document: cells(4),
                    article: opt(5),
                    issuer: opt(6),
                    level,
                }]
            },
            subject_kinds,
            fields: field_codes,
            implementing_department_ids: vec![],
            linked_scope_item_ids: linked,
            severity,
            publication_months_min: min,
            publication_months_max: max,
            repair_after_months: repair,
            repairable: None,
            repair_requires_training: None,
            repair_requires_credit_report: None,
            publicly_disclosed: None,
            repair_waiting_from: None,
            objection_accept_days: None,
            objection_verify_days: None,
            validity_months: validity,
            origin,
        };
        // No savepoint per row (see the list-entry import): failures are validation errors.
        let created = (|| -> Result<(), ApiError> {
            let v = create_item_in(conn, user, input)?;
            if publish {
                publish_item_in(conn, user, v.id)?;
            }
            Ok(())
        })();
        record_outcome(&mut report, row.number, created, publish, |field| {
            column_for_field(field).map(|c| (header_name(c), cells(c)))
        })?;
    }
    Ok(report)
}

/// Import four-list items from a sheet
///
/// Import four-list items from `.xlsx` or `.csv` (the file is the request body). All or nothing.
///
/// Department officers (for their own department) and admins; others get 403. Creates the items as
/// drafts; audited. The file is streamed to an encrypted spool file: at most `import_max_bytes`
/// (512 MiB by default; larger is 413 `payload_too_large`) and `import_max_rows` data rows
/// (1,000,000); at most `upload_max_concurrent` uploads are read at once (4 by default; more are
/// 503 `too_many_uploads` with `Retry-After`).
#[utoipa::path(
    operation_id = "four_lists_import",
    tag = "four-lists",
    security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = Vec<u8>, description = "The spreadsheet (.xlsx, or .csv in UTF-8 or GB18030)",
                 content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Dry run: what would happen", body = ImportReport),
        (status = 201, description = "Applied", body = ImportReport),
        (status = 400, description = "Unreadable file", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Department officers and admins only", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over `import_max_bytes` (512 MiB by default; `payload_too_large`), or an xlsx over the upload budget (`unpacked_too_large`, `part_too_large`, `too_many_parts`, …: docs/pii-and-spreadsheets.md)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`upload_max_concurrent` uploads (4 by default) are being read already (`too_many_uploads`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid rows (all reported in `rows`); nothing written", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/four-list-items/import")]
pub async fn import(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    query: crate::http::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Department])?;
    let q = query.into_inner();
    let _slot = state.uploads.enter()?;
    let upload = receive_upload(&state, &req, q.filename.as_deref(), payload).await?;
    let (dry_run, publish) = (q.dry_run, q.publish);
    let st = state.clone();
    run_import(&state, dry_run, move |conn| {
        let rows = upload.rows(&st)?;
        let headers = rows.headers().to_vec();
        apply(conn, &user, &headers, rows, dry_run, publish)
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
    user.require(&[Role::Admin, Role::Department])?;
    import_report(state, dry_run, move |conn| {
        let Table { headers, rows } = table;
        apply(
            conn,
            &user,
            &headers,
            rows.into_iter().map(Ok),
            dry_run,
            publish,
        )
    })
    .await
}

/// The four-list import template
///
/// The import template for four-list items, with one example row per kind.
///
/// Any signed-in account, approval systems included. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "four_lists_import_template",
    tag = "four-lists",
    security(("bearer" = [])),
    params(FormatQuery),
    responses(
        (status = 200, description = "The template file", content(("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("text/csv"))),
        (status = 400, description = "Bad format", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/four-list-items/import-template")]
pub async fn template(
    user: AuthUser,
    query: crate::http::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    template_file(&user, &query.format)
}

/// The template file in the asked format (the examples name the caller's department).
pub(crate) fn template_file(
    user: &AuthUser,
    format: &Option<String>,
) -> Result<HttpResponse, ApiError> {
    let format = check_format(format)?;
    let headers: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    let dept = user
        .department_id
        .map(|d| d.to_string())
        .unwrap_or_default();
    // The 15 columns before 部门编号, then 依据层级 and 设定来源.
    let row = |cells: [&str; 15], level: &str, origin: &str| -> Vec<String> {
        let mut v: Vec<String> = cells.iter().map(|s| s.to_string()).collect();
        v.push(dept.clone());
        v.push(level.to_string());
        v.push(origin.to_string());
        v
    };
    let examples = vec![
        row(
            [
                "严重失信行为及主体范围清单",
                "HEI-01",
                "重大税收违法失信主体",
                "",
                "《重大税收违法失信主体信息公布管理办法》",
                "第六条",
                "国家税务总局",
                "企业、自然人",
                "",
                "严重",
                "",
                "",
                "",
                "",
                "",
            ],
            "部门规章",
            "国家层面",
        ),
        row(
            [
                "失信惩戒政策措施清单",
                "CJ-01",
                "限制参与政府采购",
                "",
                "《政府采购法》",
                "第二十二条",
                "全国人民代表大会常务委员会",
                "企业",
                "政府采购、招标投标",
                "",
                "",
                "",
                "",
                "",
                "HEI-01",
            ],
            "法律",
            "",
        ),
        row(
            [
                "诚信典型范围清单",
                "HONG-01",
                "纳税信用A级纳税人",
                "",
                "《纳税信用管理办法（试行）》",
                "",
                "国家税务总局",
                "企业",
                "",
                "",
                "",
                "",
                "",
                "36",
                "",
            ],
            "其他规范性文件",
            "国家层面",
        ),
    ];
    file_response(
        format,
        "四张清单",
        "four-list-items-template",
        "四张清单导入模板",
        &headers,
        &examples,
    )
}
