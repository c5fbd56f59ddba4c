//! Documents ready to print (issue 24): the 信用核查结果单 with its public verification page, the
//! repair documents and the 告知书, issued from the console with a number per department, year
//! and kind, stored once and reprinted byte-identical. (Printing to one A4 page is checked in the
//! browser test, `tests/browser/console.mjs`.)

use chrono::Datelike;
use credit_lists::auth::Role;
use credit_lists::checks::receipts::ReceiptRow;
use credit_lists::schema::{audit_log, credit_checks, documents};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::console::Browser;
use crate::entries::{create_entry, entry, fixture, id_number, publish_entry, today, uscc};
use crate::helpers::*;
use crate::repairs::{enterprise_case, ok, world};

async fn check(app: &TestApp, token: &str, code: &str) -> i64 {
    let res = app
        .post(
            "/api/v1/credit-checks",
            token,
            json!({"subject_code": code, "field": "administrative_licensing", "reference": "XK-2026-007"}),
        )
        .await;
    ok(res, StatusCode::CREATED).await["check_id"]
        .as_i64()
        .unwrap()
}

/// Posts a console form that issues a document; the answer when it is not a redirect.
async fn issue(b: &mut Browser, csrf: &str, path: &str) -> crate::console::Page {
    b.post(path, &[("csrf", csrf)]).await
}

/// Issues and follows the redirect to the stored document: (document id, page body).
async fn issue_ok(b: &mut Browser, csrf: &str, path: &str) -> (i64, String) {
    let p = issue(b, csrf, path).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{path}: {}", p.body);
    let to = p.location().to_string();
    let id = to
        .strip_prefix("/console/documents/")
        .expect("a document address")
        .parse()
        .unwrap();
    let page = b.get(&to).await;
    assert_eq!(page.status, StatusCode::OK);
    (id, page.body)
}

fn document_count(app: &TestApp) -> i64 {
    documents::table
        .count()
        .get_result(&mut app.raw_conn())
        .unwrap()
}

/// The audit records of issued documents: (entity id, after JSON).
fn issue_records(app: &TestApp) -> Vec<(String, Value)> {
    audit_log::table
        .filter(audit_log::action.eq("document.issue"))
        .order(audit_log::id)
        .select((audit_log::entity_id, audit_log::after_json))
        .load::<(Option<String>, Option<String>)>(&mut app.raw_conn())
        .unwrap()
        .into_iter()
        .map(|(id, after)| (id.unwrap(), serde_json::from_str(&after.unwrap()).unwrap()))
        .collect()
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[tokio::test]
async fn a_result_sheet_is_numbered_stored_verifiable_and_reprinted_identically() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    app.account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let first = check(&app, &tax.token, &uscc(901)).await;
    let second = check(&app, &tax.token, &uscc(902)).await;
    let year = today().year();

    let mut b = Browser::new(&app);
    b.log_in("tax", PASSWORD).await;
    let page = b.get(&format!("/console/checks/{first}")).await;
    assert!(
        page.body
            .contains(&format!("action=\"/console/documents/checks/{first}\"")),
        "the receipt page links to its result sheet"
    );
    let csrf = page.csrf();

    // Without the page's token: refused, nothing issued.
    let p = issue(
        &mut b,
        "0".repeat(64).as_str(),
        &format!("/console/documents/checks/{first}"),
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(document_count(&app), 0);

    let audits = app.audit_count();
    let (doc, body) = issue_ok(&mut b, &csrf, &format!("/console/documents/checks/{first}")).await;
    let number = format!("通税务核〔{year}〕1号");
    let row: ReceiptRow = credit_checks::table
        .find(first as i32)
        .select(ReceiptRow::as_select())
        .first(&mut app.raw_conn())
        .unwrap();
    let hash = row.hash_hex();
    for text in [
        "信用核查结果单",
        number.as_str(),
        "市税务局",
        "行政许可",
        "正常办理",
        "XK-2026-007",
        &format!("核查记录编号：{first}"),
        hash.as_str(),
        &format!("/verify/receipts/{first}?hash={hash}"),
        "<svg",
    ] {
        // (minijinja writes `/` as `&#x2f;`.)
        assert!(
            body.replace("&#x2f;", "/").contains(text),
            "{text} missing: {body}"
        );
    }
    assert!(body.contains("/console/static/documents.css"));
    assert!(
        !body.contains("退出登录"),
        "no console chrome on a document"
    );
    let css = b.get("/console/static/documents.css").await;
    assert!(css.body.contains("@page { size: A4;"));

    // One audit record naming the number and the stored bytes' hash.
    assert_eq!(app.audit_count(), audits + 1);
    let records = issue_records(&app);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].0, doc.to_string());
    assert_eq!(records[0].1["document_number"], number);
    assert_eq!(records[0].1["kind"], "check_result");
    assert_eq!(records[0].1["sha256"], sha256_hex(&body));

    // A reprint (issued again, or opened again) is the same bytes and takes no new number.
    let (again, body2) =
        issue_ok(&mut b, &csrf, &format!("/console/documents/checks/{first}")).await;
    assert_eq!(again, doc);
    assert_eq!(body2, body);
    assert_eq!(b.get(&format!("/console/documents/{doc}")).await.body, body);
    assert_eq!(issue_records(&app).len(), 1);

    // The next check's sheet takes the next number.
    let (_, next) = issue_ok(
        &mut b,
        &csrf,
        &format!("/console/documents/checks/{second}"),
    )
    .await;
    assert!(next.contains(&format!("通税务核〔{year}〕2号")), "{next}");

    // The public verification page: the real hash → exists, without the contents.
    let anon = reqwest::Client::new();
    let res = anon
        .get(app.url(&format!("/verify/receipts/{first}?hash={hash}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains("核验通过"), "{text}");
    assert!(
        !text.contains("XK-2026-007") && !text.contains(&uscc(901)),
        "{text}"
    );
    // Upper case is the same hash.
    let res = anon
        .get(app.url(&format!(
            "/verify/receipts/{first}?hash={}",
            hash.to_uppercase()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A forged hash, another receipt's hash, an unknown id: refused alike.
    let mut forged = hash.clone().into_bytes();
    forged[63] = if forged[63] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    for path in [
        format!("/verify/receipts/{first}?hash={forged}"),
        format!("/verify/receipts/{second}?hash={hash}"),
        format!("/verify/receipts/999999?hash={hash}"),
    ] {
        let res = anon.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let text = res.text().await.unwrap();
        assert!(text.contains("不存在或已被篡改"), "{path}: {text}");
    }
    // Malformed: a clear 400 problem naming the parameter, never a 500.
    for q in [
        "",
        "?hash=",
        "?hash=abc",
        &format!("?hash={}", "g".repeat(64)),
        &format!("?hash={hash}0"),
    ] {
        let res = anon
            .get(app.url(&format!("/verify/receipts/{first}{q}")))
            .send()
            .await
            .unwrap();
        let body = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
        assert_eq!(problem_fields(&body), vec!["query.hash".to_string()], "{q}");
    }
    let res = anon
        .get(app.url(&format!("/verify/receipts/abc?hash={hash}")))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;

    // The API answers the same stored document, with the audited hash.
    let v = ok(
        app.get(&format!("/api/v1/documents/{doc}"), &tax.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["content"], body);
    assert_eq!(v["sha256"], sha256_hex(&body));
    assert_eq!(v["document_number"], number);
    assert_eq!(v["kind"], "check_result");
    assert_eq!(v["source_id"], first);
    let scjg_token = app.login_ok("scjg").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for (path, token, status, code) in [
        (
            format!("/api/v1/documents/{doc}"),
            scjg_token.as_str(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/documents/999999".to_string(),
            tax.token.as_str(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/documents/abc".to_string(),
            tax.token.as_str(),
            StatusCode::BAD_REQUEST,
            "invalid_path_parameter",
        ),
        (
            format!("/api/v1/documents/{doc}"),
            "not-a-token",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
    ] {
        assert_problem(app.get(&path, token).await, status, code).await;
    }

    // Another department's officer may neither issue nor open it; the anonymous are sent to log in.
    let mut other = Browser::new(&app);
    other.log_in("scjg", PASSWORD).await;
    let csrf_other = other.get("/console/").await.csrf();
    let p = issue(
        &mut other,
        &csrf_other,
        &format!("/console/documents/checks/{first}"),
    )
    .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let p = other.get(&format!("/console/documents/{doc}")).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(!p.body.contains(&hash));
    let p = other.get("/console/documents/abc").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    let mut anon_b = Browser::new(&app);
    let p = anon_b.get(&format!("/console/documents/{doc}")).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/console/login");
    assert_eq!(issue_records(&app).len(), 2);
}

#[tokio::test]
async fn concurrent_issues_take_distinct_numbers_and_one_document_per_receipt() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let mut ids = Vec::new();
    for n in 0..8 {
        ids.push(check(&app, &tax.token, &uscc(910 + n)).await);
    }
    let mut b = Browser::new(&app);
    b.log_in("tax", PASSWORD).await;
    // Eight receipts, each asked for twice, all at once.
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().chain(ids.iter()).enumerate() {
        let mut b = Browser::new(&app);
        b.log_in("tax", PASSWORD).await;
        let csrf = b.get("/console/").await.csrf();
        let path = format!("/console/documents/checks/{id}");
        tasks.push(tokio::spawn(async move {
            let p = b.post(&path, &[("csrf", &csrf)]).await;
            (i, p.status, p.location().to_string())
        }));
    }
    let mut by_receipt = std::collections::BTreeMap::new();
    for t in tasks {
        let (i, status, to) = t.await.unwrap();
        assert_eq!(status, StatusCode::SEE_OTHER);
        by_receipt
            .entry(ids[i % ids.len()])
            .or_insert_with(Vec::new)
            .push(to);
    }
    for (receipt, docs) in &by_receipt {
        assert_eq!(docs[0], docs[1], "one document for receipt {receipt}");
    }
    let numbers: Vec<i32> = documents::table
        .order(documents::number)
        .select(documents::number)
        .load(&mut app.raw_conn())
        .unwrap();
    assert_eq!(numbers, (1..=8).collect::<Vec<_>>(), "no gap, no duplicate");
    assert_eq!(issue_records(&app).len(), 8);
    // Every page opens as the one stored.
    for docs in by_receipt.values() {
        let p = b.get(&docs[0]).await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.body.contains("信用核查结果单"));
    }
}

#[tokio::test]
async fn repair_documents_come_from_the_recorded_steps_with_reasons_and_the_right_to_object() {
    let w = world().await;
    let year = today().year();
    let (_, _, body) = enterprise_case(&w, 931).await;
    let r = ok(
        w.app.post("/api/v1/repairs", &w.tax.token, body).await,
        StatusCode::CREATED,
    )
    .await;
    let id = r["id"].as_i64().unwrap();
    ok(
        w.app
            .post(
                &format!("/api/v1/repairs/{id}/accept"),
                &w.tax.token,
                json!({"version": 1}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let v = ok(
        w.app
            .post(
                &format!("/api/v1/repairs/{id}/refuse"),
                &w.tax.token,
                json!({"version": 2, "comment": "完税证明与欠税金额不符"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let step = |action: &str| {
        v["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["action"] == action)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (submit, accept, refuse) = (step("submit"), step("accept"), step("refuse"));

    let mut b = Browser::new(&w.app);
    b.log_in("tax", PASSWORD).await;
    let page = b.get(&format!("/console/repairs/{id}")).await;
    for s in [accept, refuse] {
        assert!(
            page.body
                .contains(&format!("action=\"/console/documents/repair-steps/{s}\"")),
            "a link for step {s}"
        );
    }
    assert!(!page
        .body
        .contains(&format!("/console/documents/repair-steps/{submit}\"")));
    let csrf = page.csrf();

    let (_, accepted) = issue_ok(
        &mut b,
        &csrf,
        &format!("/console/documents/repair-steps/{accept}"),
    )
    .await;
    for text in [
        "信用修复受理通知书",
        &format!("通税务修受〔{year}〕1号"),
        "决定",
        "予以受理",
        "通化市某某商贸有限公司",
        "通税罚〔2025〕931号",
    ] {
        assert!(accepted.contains(text), "{text} missing: {accepted}");
    }
    let (refusal_id, refusal) = issue_ok(
        &mut b,
        &csrf,
        &format!("/console/documents/repair-steps/{refuse}"),
    )
    .await;
    for text in [
        "不予信用修复决定书",
        &format!("通税务修不〔{year}〕1号"),
        "完税证明与欠税金额不符",
        "行政复议",
        "行政诉讼",
    ] {
        assert!(refusal.contains(text), "{text} missing: {refusal}");
    }
    // A step that produces no document: 422 page, nothing issued.
    let before = document_count(&w.app);
    let p = issue(
        &mut b,
        &csrf,
        &format!("/console/documents/repair-steps/{submit}"),
    )
    .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let p = issue(&mut b, &csrf, "/console/documents/repair-steps/999999").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(document_count(&w.app), before);

    // Another department and another county's bureau: refused; the entry region's bureau reads it.
    for who in ["scjg", "thx-bureau"] {
        let mut o = Browser::new(&w.app);
        o.log_in(who, PASSWORD).await;
        let c = o.get("/console/").await.csrf();
        let p = issue(
            &mut o,
            &c,
            &format!("/console/documents/repair-steps/{refuse}"),
        )
        .await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{who}");
        let p = o.get(&format!("/console/documents/{refusal_id}")).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{who}");
    }
    let mut dc = Browser::new(&w.app);
    dc.log_in("dc-bureau", PASSWORD).await;
    let p = dc.get(&format!("/console/documents/{refusal_id}")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.body, refusal);
    assert_eq!(document_count(&w.app), before);
}

#[tokio::test]
async fn a_notice_before_listing_for_a_draft_local_black_entry_masks_the_id_number() {
    let f = fixture().await;
    let year = today().year();
    let person = id_number(941);
    let mut e = entry("black", f.black, &person, "通税罚〔2026〕941号");
    e["subject_name"] = json!("王五");
    e.as_object_mut().unwrap().remove("legal_representative");
    e["facts"] = json!("逾期未申报纳税，经责令限期改正仍不改正");
    let draft = create_entry(&f.app, &f.tax.token, e).await["id"]
        .as_i64()
        .unwrap();
    let red = create_entry(
        &f.app,
        &f.tax.token,
        entry("red", f.red, &uscc(942), "通税红〔2026〕942号"),
    )
    .await["id"]
        .as_i64()
        .unwrap();

    let mut b = Browser::new(&f.app);
    b.log_in("tax", PASSWORD).await;
    let page = b.get("/console/entries?status=draft").await;
    assert!(page
        .body
        .contains(&format!("action=\"/console/documents/entries/{draft}\"")));
    assert!(!page
        .body
        .contains(&format!("action=\"/console/documents/entries/{red}\"")));
    let csrf = page.csrf();
    let (doc, body) = issue_ok(
        &mut b,
        &csrf,
        &format!("/console/documents/entries/{draft}"),
    )
    .await;
    for text in [
        "失信主体认定告知书",
        &format!("通税务失告〔{year}〕1号"),
        "王五",
        "逾期未申报纳税，经责令限期改正仍不改正",
        "认定依据",
        "拟采取的惩戒措施",
        "陈述、申辩",
        "五个工作日",
    ] {
        assert!(body.contains(text), "{text} missing: {body}");
    }
    // The ID number masked on the page and in what is stored.
    let masked = format!("{}********{}", &person[..6], &person[14..]);
    assert!(body.contains(&masked), "{body}");
    let stored: String = documents::table
        .find(doc as i32)
        .select(documents::content)
        .first(&mut f.app.raw_conn())
        .unwrap();
    assert!(!stored.contains(&person));
    assert_eq!(stored, body);

    // A red entry: 422; once published no new notice (409), the issued one still prints.
    let p = issue(&mut b, &csrf, &format!("/console/documents/entries/{red}")).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    publish_entry(&f.app, &f.tax.token, draft).await;
    let (again, body2) = issue_ok(
        &mut b,
        &csrf,
        &format!("/console/documents/entries/{draft}"),
    )
    .await;
    assert_eq!((again, body2), (doc, body));
    let other = create_entry(
        &f.app,
        &f.tax.token,
        entry("black", f.black, &uscc(943), "通税罚〔2026〕943号"),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    publish_entry(&f.app, &f.tax.token, other).await;
    let p = issue(
        &mut b,
        &csrf,
        &format!("/console/documents/entries/{other}"),
    )
    .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert_eq!(issue_records(&f.app).len(), 1);
}
