use credit_lists::auth::Role;
use reqwest::StatusCode;
use serde_json::Value;

use crate::entries::{fixture, id_number, uscc};
use crate::helpers::*;

pub const HEADER: &str = "名单类型*,主体代码*,主体类型,主体名称*,法定代表人,法定代表人身份证号,所属区域代码,认定部门编号,清单事项编码*,认定文书号*,认定日期*,有效期起,有效期止,事实*,来源,告知日期,陈述申辩情况";

/// One local entry's row; a black one was notified (告知) on its determination day, without a
/// statement (陈述申辩).
pub fn row(list: &str, code: &str, name: &str, scope: &str, doc: &str, date: &str) -> String {
    let readable = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok();
    let notice = if list == "黑名单" && readable {
        format!("{date},未提出陈述申辩")
    } else {
        ",".to_string()
    };
    format!("{list},{code},,{name},王五,,,,{scope},{doc},{date},,,虚开发票,本地,{notice}")
}

async fn upload(
    app: &TestApp,
    token: &str,
    query: &str,
    body: Vec<u8>,
    ct: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/list-entries/import{query}")))
        .bearer_auth(token)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn recent() -> String {
    (crate::entries::today() - chrono::Duration::days(5)).to_string()
}

fn count_entries(app: &TestApp) -> i64 {
    use credit_lists::schema::list_entries;
    use diesel::prelude::*;
    list_entries::table
        .count()
        .get_result(&mut *app.conn())
        .unwrap()
}

#[tokio::test]
async fn a_file_with_bad_rows_writes_nothing_and_reports_every_bad_row() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let before = app.audit_count();
    let good = uscc(100);
    let bad_check = format!(
        "{}{}",
        &good[..17],
        if good.ends_with('0') { '1' } else { '0' }
    );
    let csv = [
        HEADER.to_string(),
        row("黑名单", &good, "甲公司", "HEI-1", "I-1", &recent()),
        row("黑名单", &bad_check, "乙公司", "HEI-1", "I-2", &recent()),
        row("紫名单", &uscc(101), "丙公司", "HEI-1", "I-3", &recent()),
        row("黑名单", &uscc(102), "丁公司", "NO-SUCH", "I-4", &recent()),
        row("黑名单", &uscc(103), "戊公司", "HEI-1", "I-5", "2026-13-45"),
        row("黑名单", &good, "甲公司", "HEI-1", "I-1", &recent()),
        String::new(),
        row("红名单", &uscc(104), "己公司", "HEI-1", "I-7", &recent()),
    ]
    .join("\n");
    let res = upload(app, t, "", csv.into_bytes(), "text/csv").await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "import_rejected").await;
    let rows: Vec<(u64, String, String)> = p["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["column"].as_str().unwrap_or("").to_string(),
                r["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (3, "主体代码".into(), "checksum_mismatch".into()),
            (4, "名单类型".into(), "invalid_value".into()),
            (5, "清单事项编码".into(), "unknown_item".into()),
            (6, "认定日期".into(), "invalid_date".into()),
            (7, "".into(), "duplicate_in_file".into()),
            // Row 8 is blank; row 9 cites a black scope for a red entry.
            (9, "清单事项编码".into(), "wrong_kind".into()),
        ],
        "{p}"
    );
    let bad = &p["rows"][0];
    assert_eq!(bad["value"], bad_check);
    assert!(bad["message"].as_str().unwrap().contains("校验位"), "{bad}");
    assert_eq!(count_entries(app), 0, "nothing written");
    assert_eq!(app.audit_count(), before);
    // The rolled-back records left no trace in the chain: the next write links to the last
    // committed record.
    let ok = [
        HEADER.to_string(),
        row("黑名单", &good, "甲公司", "HEI-1", "I-1", &recent()),
    ]
    .join("\n");
    assert_eq!(
        upload(app, t, "", ok.into_bytes(), "text/csv")
            .await
            .status(),
        StatusCode::CREATED
    );
    let admin = app.admin().await;
    let report: Value = app
        .get("/api/v1/audit-log/verify", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
}

#[tokio::test]
async fn a_good_file_is_applied_once_and_reimporting_changes_nothing() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let csv = [
        HEADER.to_string(),
        row("黑名单", &uscc(110), "甲公司", "HEI-1", "G-1", &recent()),
        row("黑名单", &id_number(110), "赵六", "HEI-1", "G-2", &recent()),
        row("红名单", &uscc(111), "乙公司", "HONG-1", "G-3", &recent()),
    ]
    .join("\r\n");
    // Dry run: a report, nothing written.
    let res = upload(
        app,
        t,
        "?dry_run=true",
        csv.clone().into_bytes(),
        "text/csv",
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!(
        (r["created"].as_u64(), r["dry_run"].as_bool()),
        (Some(3), Some(true))
    );
    assert_eq!(count_entries(app), 0);

    let res = upload(
        app,
        t,
        "?publish=true",
        csv.clone().into_bytes(),
        "text/csv",
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    assert_eq!(
        (r["created"].as_u64(), r["published"].as_u64()),
        (Some(3), Some(3))
    );
    let res = upload(app, t, "?publish=true", csv.into_bytes(), "text/csv").await;
    let r: Value = res.json().await.unwrap();
    assert_eq!(
        (r["created"].as_u64(), r["unchanged"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(count_entries(app), 3);
    let admin = app.admin().await;
    let report: Value = app
        .get("/api/v1/audit-log/verify", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true);
}

#[tokio::test]
async fn gb18030_csv_from_chinese_excel_is_read() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let csv = [
        HEADER.to_string(),
        row(
            "黑名单",
            &uscc(120),
            "通化市鸭绿江商贸有限公司",
            "HEI-1",
            "GB-1",
            &recent(),
        ),
    ]
    .join("\r\n");
    let (bytes, _, _) = encoding_rs::GB18030.encode(&csv);
    assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
    let res = upload(app, t, "", bytes.into_owned(), "text/csv").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let page: Value = app
        .get("/api/v1/list-entries", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["subject_name"], "通化市鸭绿江商贸有限公司");
}

#[tokio::test]
async fn export_then_import_changes_nothing_in_both_formats() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let csv = [
        HEADER.to_string(),
        row("黑名单", &uscc(130), "甲公司", "HEI-1", "E-1", &recent()),
        format!(
            "黑名单,{},,孙七,,,,,HEI-1,E-2,{},,,偷税,国家",
            id_number(130),
            recent()
        ),
    ]
    .join("\n");
    assert_eq!(
        upload(app, t, "", csv.into_bytes(), "text/csv")
            .await
            .status(),
        StatusCode::CREATED
    );
    for format in ["xlsx", "csv"] {
        let res = app
            .get(&format!("/api/v1/list-entries/export?format={format}"), t)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let disposition = res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            disposition.contains(&format!("filename=\"list-entries.{format}\"")),
            "{disposition}"
        );
        assert!(
            disposition.contains("filename*=UTF-8''%E7%BA%A2%E9%BB%91"),
            "{disposition}"
        );
        let bytes = res.bytes().await.unwrap().to_vec();
        if format == "xlsx" {
            assert!(bytes.starts_with(b"PK"));
        } else {
            let text = String::from_utf8(bytes.clone()).unwrap();
            assert!(
                text.starts_with('\u{feff}') && text.contains(&id_number(130)),
                "staff export has full codes"
            );
        }
        let res = upload(
            app,
            t,
            &format!("?filename=export.{format}"),
            bytes,
            "application/octet-stream",
        )
        .await;
        let r: Value = res.json().await.unwrap();
        assert_eq!(
            (r["created"].as_u64(), r["unchanged"].as_u64()),
            (Some(0), Some(2)),
            "{format}: {r}"
        );
    }
    assert_eq!(count_entries(app), 2);
}

#[tokio::test]
async fn templates_unreadable_files_and_roles() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let res = app.get("/api/v1/list-entries/import-template", t).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.bytes().await.unwrap().starts_with(b"PK"));
    let text = app
        .get("/api/v1/list-entries/import-template?format=csv", t)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("名单类型*") && text.contains("清单事项编码*"));
    assert_problem(
        app.get("/api/v1/list-entries/import-template?format=pdf", t)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    let res = upload(
        app,
        t,
        "?filename=x.xlsx",
        b"PK\x03\x04garbage".to_vec(),
        "application/octet-stream",
    )
    .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "unreadable_file").await;
    let res = upload(
        app,
        t,
        "",
        "只有一行,没有必需的列\n".as_bytes().to_vec(),
        "text/csv",
    )
    .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "import_rejected").await;
    assert_eq!(p["rows"][0]["code"], "missing_column");
    let machine = app
        .account("machine", Role::ApprovalSystem, None, None)
        .await;
    let res = upload(app, &machine.token, "", b"x".to_vec(), "text/csv").await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Rows for another department are refused row by row.
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let csv = [
        HEADER.to_string(),
        format!(
            "黑名单,{},,甲公司,,,,{DEPT_TAX},HEI-1,F-1,{},,,事实,本地",
            uscc(140),
            recent()
        ),
    ]
    .join("\n");
    let res = upload(app, &scjg.token, "", csv.into_bytes(), "text/csv").await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "import_rejected").await;
    assert_eq!(p["rows"][0]["code"], "forbidden");
}

const ITEM_HEADER: &str = "清单类型*,事项编码*,名称*,说明,依据文件*,依据条款,发布机关,适用主体*,适用领域,失信等级,最短公示期（月）,最长公示期（月）,可修复期（月）,有效期（月）,关联范围事项编码,部门编号,依据层级,设定来源";

#[tokio::test]
async fn four_list_items_import_links_measures_to_scopes_in_the_same_file() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let upload_items = |query: &'static str, csv: String| {
        app.client
            .post(app.url(&format!("/api/v1/four-list-items/import{query}")))
            .bearer_auth(&tax.token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
    };
    let good = [
        ITEM_HEADER,
        "严重失信行为及主体范围清单,HEI-01,重大税收违法失信主体,,《重大税收违法失信主体信息公布管理办法》,第六条,国家税务总局,企业、自然人,,严重,,,,,,,部门规章,",
        "失信惩戒政策措施清单,CJ-01,限制参与政府采购,,《政府采购法》,第二十二条,,企业,政府采购、bidding,,,,,,HEI-01,,法律,",
        "诚信典型范围清单,HONG-01,纳税信用A级纳税人,,《纳税信用管理办法（试行）》,,,企业,,,,,,36,,",
    ]
    .join("\n");
    let res = upload_items("?publish=true", good.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    assert_eq!(
        (r["created"].as_u64(), r["published"].as_u64()),
        (Some(3), Some(3)),
        "{r}"
    );
    let page: Value = app
        .get(
            "/api/v1/four-list-items?kind=punishment_measures",
            &tax.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let measure = &page["items"][0];
    assert_eq!(
        measure["fields"],
        serde_json::json!(["government_procurement", "bidding"])
    );
    assert_eq!(
        measure["linked_scope_item_ids"].as_array().unwrap().len(),
        1
    );
    assert_eq!(measure["status"], "published");
    let r: Value = upload_items("?publish=true", good)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (r["created"].as_u64(), r["unchanged"].as_u64()),
        (Some(0), Some(3))
    );

    let before = app.audit_count();
    let bad = [
        ITEM_HEADER,
        "金名单,X-1,名称,,依据,,,企业,,,,,,,,",
        "失信惩戒政策措施清单,X-2,名称,,依据,,,企业,占卜,,,,,,,",
        "严重失信行为及主体范围清单,X-3,名称,,依据,,,企业,,,,,,,,",
        "诚信典型范围清单,X-4,名称,,依据,,,企业,,,,,,36,,",
    ]
    .join("\n");
    let res = upload_items("", bad).await.unwrap();
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "import_rejected").await;
    let rows: Vec<(u64, String, String)> = p["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["column"].as_str().unwrap_or("").to_string(),
                r["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (2, "清单类型".into(), "invalid_value".into()),
            (3, "适用领域".into(), "unknown_field".into()),
            (4, "失信等级".into(), "required".into()),
        ],
        "{p}"
    );
    assert_eq!(
        app.audit_count(),
        before,
        "row 5 was valid but nothing is written"
    );
    let t = app
        .get(
            "/api/v1/four-list-items/import-template?format=csv",
            &tax.token,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(t.contains("清单类型*") && t.contains("HEI-01"));
    let machine = app
        .account("machine", Role::ApprovalSystem, None, None)
        .await;
    let res = app
        .client
        .post(app.url("/api/v1/four-list-items/import"))
        .bearer_auth(&machine.token)
        .header("content-type", "text/csv")
        .body(ITEM_HEADER)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
}

/// Four officers' clients upload the same 200-row file at once: the rows are created exactly once
/// (one import creates them, the others find them unchanged or are told to retry), nobody gets a
/// 5xx or a "database is locked", and the audit chain verifies.
#[tokio::test]
async fn concurrent_imports_of_the_same_rows_create_each_row_once() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let mut csv = vec![HEADER.to_string()];
    for n in 0..200u32 {
        csv.push(row(
            "黑名单",
            &uscc(2_000 + n),
            "某某商贸有限公司",
            "HEI-1",
            &format!("R-{n}"),
            &recent(),
        ));
    }
    let body = csv.join("\n").into_bytes();
    let uploads = (0..4).map(|_| upload(app, t, "?publish=true", body.clone(), "text/csv"));
    let mut created = 0;
    for res in futures_util::future::join_all(uploads).await {
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(
            !status.is_server_error() && !text.contains("locked"),
            "{status}: {text}"
        );
        if status.is_success() {
            let r: Value = serde_json::from_str(&text).unwrap();
            created += r["created"].as_u64().unwrap();
            assert_eq!(
                r["created"].as_u64().unwrap() + r["unchanged"].as_u64().unwrap(),
                200,
                "{r}"
            );
        } else {
            // A clear refusal to retry, never a half-applied file.
            assert!(
                status == StatusCode::CONFLICT || status == StatusCode::SERVICE_UNAVAILABLE,
                "{status}: {text}"
            );
        }
    }
    assert_eq!(created, 200, "each row created once");
    assert_eq!(count_entries(app), 200);
    let admin = app.admin().await;
    let report: Value = app
        .get("/api/v1/audit-log/verify", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true);
}

/// Imports that stream (issue 22): a file far larger than the in-memory upload limit is received
/// into the spool and read row by row, written in batches, all or nothing, and audited as one
/// record that names every entry it created.
#[tokio::test]
async fn a_streamed_import_reads_a_file_larger_than_the_upload_limit() {
    use crate::four_lists::{black_scope, create, publish};
    let app = spawn_app_with(|s| {
        s.upload_max_bytes = 4096;
        s.import_max_bytes = 4 << 20;
        s.import_max_rows = 1600;
    })
    .await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let black = create(&app, &tax.token, black_scope("HEI-1")).await["id"]
        .as_i64()
        .unwrap();
    publish(&app, &tax.token, black).await;
    let lines = |n: usize, first: u32, doc: &str| -> Vec<String> {
        std::iter::once(HEADER.to_string())
            .chain((0..n).map(|i| {
                row(
                    "黑名单",
                    &uscc(first + i as u32),
                    &format!("通化市流式{i}商贸有限公司"),
                    "HEI-1",
                    &format!("{doc}-{i}"),
                    &recent(),
                )
            }))
            .collect()
    };
    let rows = |n: usize| lines(n, 1000, "S");
    // 1,200 rows, more than two write batches, forty times the in-memory limit.
    let file = rows(1200).join("\n").into_bytes();
    assert!(file.len() > 40 * 4096, "{}", file.len());
    let before = app.audit_count();
    let res = upload(&app, &tax.token, "", file.clone(), "text/csv").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    assert_eq!(
        (r["rows"].as_u64(), r["created"].as_u64()),
        (Some(1200), Some(1200)),
        "{r}"
    );
    assert_eq!(count_entries(&app), 1200);
    // One audit record for the import: the file's hash and every entry, as id ranges.
    assert_eq!(app.audit_count(), before + 1);
    let (after, entity): (Option<String>, Option<String>) = {
        use credit_lists::schema::audit_log;
        use diesel::prelude::*;
        audit_log::table
            .filter(audit_log::action.eq("list_entry.import"))
            .select((audit_log::after_json, audit_log::entity_id))
            .first(&mut *app.conn())
            .unwrap()
    };
    let after: Value = serde_json::from_str(&after.unwrap()).unwrap();
    assert_eq!(
        after["file_sha256"],
        credit_lists::repair::sha256_hex(&file)
    );
    let ids: Vec<i64> = {
        use credit_lists::schema::list_entries;
        use diesel::prelude::*;
        list_entries::table
            .select(list_entries::id)
            .order(list_entries::id.asc())
            .load::<i32>(&mut *app.conn())
            .unwrap()
            .into_iter()
            .map(i64::from)
            .collect()
    };
    let named: usize = after["entry_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[1].as_i64().unwrap() - r[0].as_i64().unwrap() + 1) as usize)
        .sum();
    assert_eq!(named, ids.len(), "{after}");
    assert_eq!(after["entry_ids"][0][0], ids[0]);
    // Each entry's history shows the import that created it.
    let history: Value = app
        .get(
            &format!("/api/v1/list-entries/{}/history", ids[700]),
            &tax.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["list_entry.import"], "{history}");
    assert!(entity.is_some());
    // The same file again: every row unchanged, nothing written, no audit record.
    let res = upload(&app, &tax.token, "", file, "text/csv").await;
    let r: Value = res.json().await.unwrap();
    assert_eq!(
        (r["created"].as_u64(), r["unchanged"].as_u64()),
        (Some(0), Some(1200)),
        "{r}"
    );
    assert_eq!(app.audit_count(), before + 1);

    // A duplicate of row 2 in a later batch is reported against it; nothing is written.
    let mut dup = lines(1300, 5000, "T");
    dup[1001] = dup[1].clone();
    let res = upload(
        &app,
        &tax.token,
        "",
        dup.join("\n").into_bytes(),
        "text/csv",
    )
    .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "import_rejected").await;
    assert_eq!(p["rows"][0]["row"], 1002, "{p}");
    assert_eq!(p["rows"][0]["code"], "duplicate_in_file", "{p}");
    assert!(p["rows"][0]["message"].as_str().unwrap().contains("row 2"));
    assert_eq!(count_entries(&app), 1200);

    // Past the row budget (1,600): refused whole, nothing written.
    let res = upload(
        &app,
        &tax.token,
        "?dry_run=true",
        rows(1601).join("\n").into_bytes(),
        "text/csv",
    )
    .await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST, "too_many_rows").await;
    assert!(p["detail"].as_str().unwrap().contains("1600"), "{p}");
    // Past the byte budget (4 MiB): 413 before anything is read.
    let big = vec![b'x'; (4 << 20) + 1];
    let res = upload(&app, &tax.token, "", big, "text/csv").await;
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // A quote never closed: the row budget stops the reading, not the end of the file.
    let mut open_quote = format!("{HEADER}\n黑名单,\"").into_bytes();
    open_quote.extend(std::iter::repeat_n(b'a', 3_000_000));
    let res = upload(&app, &tax.token, "", open_quote, "text/csv").await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "row_too_large").await;
    assert!(p["detail"].as_str().unwrap().contains("row 2"), "{p}");
    assert_eq!(count_entries(&app), 1200);
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
