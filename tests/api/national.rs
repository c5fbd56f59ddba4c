//! National sources and their sync (issue 22), through the HTTP API and the command line.

use chrono::{Duration, NaiveDate};
use credit_lists::auth::Role;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::entries::{fixture, id_number, today, uscc, Fixture};
use crate::helpers::*;

const HEADER: &str =
    "名称,代码,案号,执行法院,认定日期,公布日期,有效期止,失信情形,法定代表人,法定代表人身份证号";
const DELTA_HEADER: &str = "名称,代码,案号,执行法院,认定日期,公布日期,有效期止,失信情形,法定代表人,法定代表人身份证号,变动类型";

fn determined() -> NaiveDate {
    today() - Duration::days(30)
}

/// One row of a court file (失信被执行人), determined thirty days ago; `end` empty = the
/// scope item's longest period.
fn row(n: u32, key: &str, end: &str) -> String {
    let d = determined();
    format!(
        "被执行人{n}有限公司,{},{key},通化市中级人民法院,{d},{d},{end},有履行能力而拒不履行,李四,{}",
        uscc(n),
        id_number(n % 900)
    )
}

fn csv(header: &str, rows: &[String]) -> Vec<u8> {
    let mut lines = vec![header.to_string()];
    lines.extend(rows.iter().cloned());
    lines.join("\n").into_bytes()
}

struct Setup {
    f: Fixture,
    admin: Account,
    source: i64,
}

async fn setup() -> Setup {
    let f = fixture().await;
    let admin = f.app.admin().await;
    let res = f
        .app
        .post(
            "/api/v1/national-sources",
            &admin.token,
            json!({
                "name": "最高人民法院失信被执行人",
                "issuer": "最高人民法院",
                "key_kind": "case_number",
                "department_id": DEPT_TAX,
                "scope_item_id": f.black,
            }),
        )
        .await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["key_column"], "案号");
    assert_eq!(v["entries_in_force"], 0);
    Setup {
        source: v["id"].as_i64().unwrap(),
        f,
        admin,
    }
}

async fn sync_as(
    app: &TestApp,
    token: &str,
    source: i64,
    query: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/national-sources/{source}/sync{query}")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn sync_ok(s: &Setup, query: &str, body: Vec<u8>, status: StatusCode) -> Value {
    let res = sync_as(&s.f.app, &s.admin.token, s.source, query, body).await;
    let got = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(got, status, "{v}");
    v
}

fn counts(r: &Value) -> (i64, i64, i64, i64) {
    (
        r["created"].as_i64().unwrap(),
        r["changed"].as_i64().unwrap(),
        r["ended"].as_i64().unwrap(),
        r["unchanged"].as_i64().unwrap(),
    )
}

async fn national_entries(s: &Setup) -> Vec<Value> {
    let v: Value =
        s.f.app
            .get(
                "/api/v1/list-entries?source=national&sort=id&per_page=200",
                &s.admin.token,
            )
            .await
            .json()
            .await
            .unwrap();
    v["items"].as_array().unwrap().clone()
}

fn by_doc<'a>(entries: &'a [Value], doc: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["document_number"] == doc)
        .unwrap_or_else(|| panic!("no entry {doc}"))
}

fn entry_count(app: &TestApp) -> i64 {
    use credit_lists::schema::list_entries;
    list_entries::table
        .count()
        .get_result(&mut *app.conn())
        .unwrap()
}

fn feed_count(app: &TestApp, event_type: &str) -> i64 {
    use credit_lists::schema::feed_events;
    feed_events::table
        .filter(feed_events::event_type.eq(event_type))
        .count()
        .get_result(&mut *app.conn())
        .unwrap()
}

/// The `national_source.sync` audit records, oldest first (their `after` JSON).
fn sync_audits(app: &TestApp) -> Vec<Value> {
    use credit_lists::schema::audit_log;
    let rows: Vec<Option<String>> = audit_log::table
        .filter(audit_log::action.eq("national_source.sync"))
        .order(audit_log::id.asc())
        .select(audit_log::after_json)
        .load(&mut *app.conn())
        .unwrap();
    rows.into_iter()
        .map(|j| serde_json::from_str(&j.unwrap()).unwrap())
        .collect()
}

fn case(n: u32) -> String {
    format!("（2026）吉05执{n}号")
}

#[tokio::test]
async fn sources_are_registered_by_admins_and_read_by_staff() {
    let s = setup().await;
    let app = &s.f.app;
    let body = |name: &str, scope: i64| {
        json!({"name": name, "issuer": "国家税务总局", "key_kind": "document_number",
               "department_id": DEPT_TAX, "scope_item_id": scope})
    };
    // A department may read, not register.
    let res = app
        .post(
            "/api/v1/national-sources",
            &s.f.tax.token,
            body("税务", s.f.black),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let list: Value = app
        .get("/api/v1/national-sources", &s.f.tax.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "最高人民法院失信被执行人");
    assert_eq!(list[0]["key_kind"], "case_number");
    assert_eq!(list[0]["scope_item_code"], "HEI-1");
    // Entries of a source are black entries: a red item is refused; so is a taken name, an
    // unknown department and a blank name.
    let res = app
        .post(
            "/api/v1/national-sources",
            &s.admin.token,
            body("税务", s.f.red),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "wrong_kind").await;
    assert_eq!(problem_fields(&p), ["scope_item_id"]);
    let res = app
        .post(
            "/api/v1/national-sources",
            &s.admin.token,
            body("最高人民法院失信被执行人", s.f.black),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "name_taken").await;
    let mut b = body("税务", s.f.black);
    b["department_id"] = json!(99999);
    let res = app
        .post("/api/v1/national-sources", &s.admin.token, b)
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_department").await;
    assert_eq!(problem_fields(&p), ["department_id"]);
    let res = app
        .post(
            "/api/v1/national-sources",
            &s.admin.token,
            body("  ", s.f.black),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), ["name"]);
    let mut b = body("税务", s.f.black);
    b["key_kind"] = json!("tax_number");
    let res = app
        .post("/api/v1/national-sources", &s.admin.token, b)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The tax source, properly.
    let res = app
        .post(
            "/api/v1/national-sources",
            &s.admin.token,
            body("税务", s.f.black),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let list: Value = app
        .get("/api/v1/national-sources", &s.f.tax.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1]["key_column"], "文书号");
}

#[tokio::test]
async fn a_snapshot_creates_changes_and_ends_entries_and_the_same_file_again_changes_nothing() {
    let s = setup().await;
    let app = &s.f.app;
    let d = determined();
    let first = csv(
        HEADER,
        &[
            row(1, &case(1), ""),
            row(2, &case(2), ""),
            row(3, &case(3), ""),
        ],
    );
    let audits_before = app.audit_count();
    let r = sync_ok(&s, "", first.clone(), StatusCode::CREATED).await;
    assert_eq!(counts(&r), (3, 0, 0, 0), "{r}");
    assert_eq!(r["mode"], "snapshot");
    assert_eq!(r["file_sha256"], credit_lists::repair::sha256_hex(&first));
    let rows: Vec<u64> = r["created_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [2, 3, 4]);
    // One audit record for the whole sync, naming the entries it created.
    assert_eq!(app.audit_count(), audits_before + 1);
    let audits = sync_audits(app);
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0]["created"], 3);
    assert_eq!(audits[0]["created_ids"].as_array().unwrap().len(), 3);
    assert_eq!(
        audits[0]["file_sha256"],
        credit_lists::repair::sha256_hex(&first)
    );
    assert_eq!(feed_count(app, "list_entry.published"), 3);
    let entries = national_entries(&s).await;
    assert_eq!(entries.len(), 3);
    let e2 = by_doc(&entries, &case(2));
    assert_eq!(e2["status"], "published");
    assert_eq!(e2["in_force"], true);
    assert_eq!(e2["source"], "national");
    assert_eq!(e2["department_id"], DEPT_TAX);
    assert_eq!(e2["scope_item_id"], s.f.black);
    assert_eq!(e2["subject"]["code"], uscc(2));
    assert_eq!(e2["determination_date"], d.to_string());
    assert_eq!(
        e2["valid_until"],
        (d.checked_add_months(chrono::Months::new(36)).unwrap() - Duration::days(1)).to_string()
    );
    assert_eq!(
        e2["facts"],
        "认定机关：通化市中级人民法院；有履行能力而拒不履行"
    );
    // The legal representative's ID number: masked when shown, encrypted when stored.
    let id2 = id_number(2);
    assert_eq!(
        e2["legal_representative_id"],
        format!("{}********{}", &id2[..6], &id2[14..])
    );
    {
        use credit_lists::schema::list_entries;
        let stored: Vec<Option<String>> = list_entries::table
            .select(list_entries::legal_representative_id_enc)
            .load(&mut *app.conn())
            .unwrap();
        assert_eq!(stored.len(), 3);
        for enc in stored {
            let enc = enc.unwrap();
            assert!(!enc.contains(&id2[6..14]), "{enc}");
        }
    }
    assert_eq!(
        by_doc(&national_entries(&s).await, &case(1))["in_force"],
        true
    );

    // The source's next snapshot: case 1 as before, case 2 with a shorter period, case 3 gone,
    // case 4 new. Ending one of three entries is more than 20%: refused without confirm.
    let end2 = (d.checked_add_months(chrono::Months::new(24)).unwrap()).to_string();
    let second = csv(
        HEADER,
        &[
            row(1, &case(1), ""),
            row(2, &case(2), &end2),
            row(4, &case(4), ""),
        ],
    );
    let audits_before = app.audit_count();
    let res = sync_as(app, &s.admin.token, s.source, "", second.clone()).await;
    let p = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "snapshot_ends_too_many",
    )
    .await;
    assert_eq!(problem_fields(&p), ["confirm"]);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("1 of the source's 3"),
        "{p}"
    );
    assert_eq!(app.audit_count(), audits_before);
    assert_eq!(entry_count(app), 3);
    assert_eq!(
        by_doc(&national_entries(&s).await, &case(2))["valid_until"],
        e2["valid_until"]
    );
    // A dry run with confirm says what would happen and writes nothing.
    let r = sync_ok(
        &s,
        "?confirm=true&dry_run=true",
        second.clone(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(counts(&r), (1, 1, 1, 1), "{r}");
    assert_eq!(r["created_entries"][0]["entry_id"], Value::Null);
    assert_eq!(app.audit_count(), audits_before);
    assert_eq!(entry_count(app), 3);

    let r = sync_ok(&s, "?confirm=true", second.clone(), StatusCode::CREATED).await;
    assert_eq!(counts(&r), (1, 1, 1, 1), "{r}");
    assert_eq!(r["changed_entries"][0]["row"], 3);
    assert_eq!(r["changed_entries"][0]["fields"], json!(["valid_until"]));
    assert_eq!(r["ended_entries"][0]["key"], case(3));
    assert_eq!(r["ended_entries"][0]["row"], Value::Null);
    let entries = national_entries(&s).await;
    assert_eq!(entries.len(), 4);
    let e2 = by_doc(&entries, &case(2));
    assert_eq!(
        e2["valid_until"],
        (d.checked_add_months(chrono::Months::new(24)).unwrap()).to_string()
    );
    let e3 = by_doc(&entries, &case(3));
    assert_eq!(e3["effective_status"], "removed");
    assert_eq!(e3["in_force"], false);
    assert_eq!(e3["removal_reason"], "source_removed");
    assert_eq!(e3["removal_date"], today().to_string());
    assert_eq!(by_doc(&entries, &case(4))["in_force"], true);
    assert_eq!(app.audit_count(), audits_before + 1);
    let audit = sync_audits(app).pop().unwrap();
    assert_eq!(audit["ended_ids"], json!([e3["id"]]));
    assert_eq!(audit["changed_ids"], json!([e2["id"]]));
    assert_eq!(feed_count(app, "list_entry.published"), 4);
    assert_eq!(feed_count(app, "list_entry.changed"), 1);
    assert_eq!(feed_count(app, "list_entry.removed"), 1);
    // The public list no longer shows the ended entry.
    let public: Value = app
        .client
        .get(app.url("/api/v1/public/list-entries?list_type=black&per_page=200"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let docs: Vec<&str> = public["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{public}"))
        .iter()
        .filter_map(|e| e["document_number"].as_str())
        .collect();
    assert!(docs.contains(&case(4).as_str()), "{docs:?}");
    assert!(!docs.contains(&case(3).as_str()), "{docs:?}");

    // The same snapshot again: nothing changes (and no confirm is needed).
    let audits_before = app.audit_count();
    let r = sync_ok(&s, "", second, StatusCode::CREATED).await;
    assert_eq!(counts(&r), (0, 0, 0, 3), "{r}");
    assert_eq!(entry_count(app), 4);
    assert_eq!(feed_count(app, "list_entry.changed"), 1);
    assert_eq!(feed_count(app, "list_entry.removed"), 1);
    assert_eq!(app.audit_count(), audits_before + 1);

    // Synced entries are read-only locally: the department may not remove one.
    let e1 = by_doc(&national_entries(&s).await, &case(1))["id"].clone();
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/list-entries/{e1}/remove"),
            Some(&s.f.tax.token),
            Some(json!({"reason": "revoked", "note": "本地撤销"})),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Nor may anyone remove an entry with the sync's own reason.
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/list-entries/{e1}/remove"),
            Some(&s.admin.token),
            Some(json!({"reason": "source_removed", "note": "手工"})),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "reserved_reason").await;
    assert_eq!(problem_fields(&p), ["reason"]);
    assert_eq!(
        by_doc(&national_entries(&s).await, &case(1))["in_force"],
        true
    );
}

#[tokio::test]
async fn a_delta_adds_and_removes_and_applied_again_changes_nothing() {
    let s = setup().await;
    let app = &s.f.app;
    let rows: Vec<String> = (1..=5).map(|n| row(n, &case(n), "")).collect();
    sync_ok(&s, "", csv(HEADER, &rows), StatusCode::CREATED).await;
    // Removing one of five (20%) through a delta is no snapshot: no guard applies anyway.
    let delta = csv(
        DELTA_HEADER,
        &[
            format!("{},移出", row(1, &case(1), "")),
            format!("{},新增", row(6, &case(6), "")),
            // A removed row needs its key only.
            format!(",,{},,,,,,,,移出", case(2)),
        ],
    );
    let r = sync_ok(&s, "?mode=delta", delta.clone(), StatusCode::CREATED).await;
    assert_eq!(counts(&r), (1, 0, 2, 0), "{r}");
    assert_eq!(r["mode"], "delta");
    let ended: Vec<(u64, String)> = r["ended_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(ended, [(2, case(1)), (4, case(2))]);
    let entries = national_entries(&s).await;
    for n in [1, 2] {
        let e = by_doc(&entries, &case(n));
        assert_eq!(e["removal_reason"], "source_removed");
        assert_eq!(e["in_force"], false);
    }
    for n in [3, 4, 5, 6] {
        assert_eq!(by_doc(&entries, &case(n))["in_force"], true);
    }
    // Entries left out of a delta stay as they are.
    assert_eq!(entries.len(), 6);
    // The same delta again changes nothing.
    let r = sync_ok(&s, "?mode=delta", delta, StatusCode::CREATED).await;
    assert_eq!(counts(&r), (0, 0, 0, 3), "{r}");
    assert_eq!(feed_count(app, "list_entry.removed"), 2);
    // Removing a key the source never had is refused, and nothing is written.
    let audits = app.audit_count();
    let delta = csv(
        DELTA_HEADER,
        &[
            format!(",,{},,,,,,,,移出", case(3)),
            format!(",,{},,,,,,,,移出", case(99)),
        ],
    );
    let res = sync_as(app, &s.admin.token, s.source, "?mode=delta", delta).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "sync_rejected").await;
    assert_eq!(p["rows"][0]["row"], 3);
    assert_eq!(p["rows"][0]["code"], "unknown_key");
    assert_eq!(p["rows"][0]["column"], "案号");
    assert_eq!(p["rows"].as_array().unwrap().len(), 1);
    assert_eq!(app.audit_count(), audits);
    assert_eq!(
        by_doc(&national_entries(&s).await, &case(3))["in_force"],
        true
    );
}

#[tokio::test]
async fn refused_rows_are_reported_with_row_numbers_and_nothing_is_written() {
    let s = setup().await;
    let app = &s.f.app;
    sync_ok(
        &s,
        "",
        csv(HEADER, &[row(1, &case(1), "")]),
        StatusCode::CREATED,
    )
    .await;
    let audits = app.audit_count();
    let good = uscc(20);
    let bad_check = format!(
        "{}{}",
        &good[..17],
        if good.ends_with('0') { '1' } else { '0' }
    );
    let d = determined();
    let too_long = (d.checked_add_months(chrono::Months::new(60)).unwrap()).to_string();
    // With the delta's column 变动类型, so a removal mark can be refused in a snapshot.
    let file = csv(
        DELTA_HEADER,
        &[
            row(10, &case(10), ""),
            format!(
                "乙公司,{bad_check},{},通化市中级人民法院,{d},,,,,",
                case(11)
            ),
            format!("丙公司,{},{},通化市中级人民法院,,,,,,", uscc(12), case(12)),
            String::new(),
            row(13, &case(10), ""),
            row(14, &case(14), &too_long),
            format!("{},移出", row(15, &case(15), "")),
            // The subject of a synced key is not changed by a sync.
            row(16, &case(1), ""),
        ],
    );
    let res = sync_as(app, &s.admin.token, s.source, "", file).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "sync_rejected").await;
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
        [
            (3, "代码".into(), "checksum_mismatch".into()),
            (4, "认定日期".into(), "required".into()),
            (6, "案号".into(), "duplicate_in_file".into()),
            (7, "有效期止".into(), "beyond_publication_period".into()),
            (8, "变动类型".into(), "removal_in_snapshot".into()),
            (9, "代码".into(), "subject_changed".into()),
        ]
    );
    for r in p["rows"].as_array().unwrap() {
        let m = r["message"].as_str().unwrap();
        assert!(
            m.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{m}"
        );
    }
    assert_eq!(p["report"]["created"], 1, "{p}");
    assert_eq!(entry_count(app), 1);
    assert_eq!(app.audit_count(), audits);
    assert_eq!(feed_count(app, "list_entry.published"), 1);
    // A file without the key column is refused as a whole (row 1).
    let res = sync_as(
        app,
        &s.admin.token,
        s.source,
        "",
        "名称,代码,执行法院,认定日期\n甲,91220502MA0000001Q,法院,2026-01-01"
            .as_bytes()
            .to_vec(),
    )
    .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "sync_rejected").await;
    assert_eq!(p["rows"][0]["row"], 1);
    assert_eq!(p["rows"][0]["code"], "missing_column");
    assert_eq!(p["rows"][0]["column"], "案号");
    // Unknown source, bad mode.
    let res = sync_as(app, &s.admin.token, 9999, "", csv(HEADER, &[])).await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = sync_as(
        app,
        &s.admin.token,
        s.source,
        "?mode=full",
        csv(HEADER, &[]),
    )
    .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let s = setup().await;
    let app = &s.f.app;
    let audits = app.audit_count();
    let r = sync_ok(
        &s,
        "?dry_run=true",
        csv(HEADER, &[row(1, &case(1), ""), row(2, &case(2), "")]),
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["dry_run"], true);
    assert_eq!(counts(&r), (2, 0, 0, 0));
    assert_eq!(entry_count(app), 0);
    assert_eq!(app.audit_count(), audits);
    assert_eq!(feed_count(app, "list_entry.published"), 0);
}

#[tokio::test]
async fn only_admins_and_the_city_bureau_sync() {
    let s = setup().await;
    let app = &s.f.app;
    let county = app
        .account("county", Role::Bureau, None, Some("220502"))
        .await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let file = csv(HEADER, &[row(1, &case(1), "")]);
    for token in [&s.f.tax.token, &county.token, &approver.token] {
        let res = sync_as(app, token, s.source, "", file.clone()).await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let res = app
        .client
        .post(app.url(&format!("/api/v1/national-sources/{}/sync", s.source)))
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(entry_count(app), 0);
    let city = app
        .account("city", Role::Bureau, None, Some("220500"))
        .await;
    let res = sync_as(app, &city.token, s.source, "", file).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(entry_count(app), 1);
}

#[tokio::test]
async fn synced_entries_are_seen_by_checks_and_targets() {
    let s = setup().await;
    let app = &s.f.app;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let city = app
        .account("city", Role::Bureau, None, Some("220500"))
        .await;
    let check = |code: String| {
        let token = approver.token.clone();
        async move {
            let res = app
                .post(
                    "/api/v1/credit-checks",
                    &token,
                    json!({"subject_code": code, "field": "government_procurement"}),
                )
                .await;
            let status = res.status();
            let v: Value = res.json().await.unwrap();
            assert_eq!(status, StatusCode::CREATED, "{v}");
            v
        }
    };
    let coverage = || async {
        let year = today().format("%Y").to_string();
        let r: Value = app
            .get(&format!("/api/v1/targets?year={year}"), &city.token)
            .await
            .json()
            .await
            .unwrap();
        r["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["region_code"] == "220502")
            .unwrap()
            .clone()
    };
    assert_eq!(check(uscc(1)).await["black"], json!([]));
    let before = coverage().await;
    assert_eq!(before["national_in_force"], 0);
    // No national baseline yet: no denominator.
    assert_eq!(before["list_coverage"]["denominator"], Value::Null);
    sync_ok(
        &s,
        "",
        csv(HEADER, &[row(1, &case(1), ""), row(2, &case(2), "")]),
        StatusCode::CREATED,
    )
    .await;
    let v = check(uscc(1)).await;
    assert_eq!(v["black"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["black"][0]["document_number"], case(1));
    let r = coverage().await;
    assert_eq!(r["national_in_force"], 2);
    assert_eq!(r["list_coverage"]["denominator"], 2);
    // The source drops case 1 (half of its entries: confirmed).
    sync_ok(
        &s,
        "?confirm=true",
        csv(HEADER, &[row(2, &case(2), "")]),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(check(uscc(1)).await["black"], json!([]));
    assert_eq!(check(uscc(2)).await["black"].as_array().unwrap().len(), 1);
    let r = coverage().await;
    assert_eq!(r["national_in_force"], 1);
    assert_eq!(r["list_coverage"]["denominator"], 1);
}

#[tokio::test]
async fn sync_national_on_the_command_line() {
    let s = setup().await;
    let app = &s.f.app;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("court.csv");
    std::fs::write(
        &file,
        csv(HEADER, &[row(1, &case(1), ""), row(2, &case(2), "")]),
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_credit-lists"))
            .current_dir(dir.path())
            .env_remove("CREDIT_LISTS_CONFIG")
            .env_remove("DATABASE_URL")
            .env_remove("CREDIT_LISTS_DATABASE_URL")
            .env("CREDIT_LISTS_JWT_SECRET", SECRET)
            .env("CREDIT_LISTS_PII_KEY", PII_KEY)
            .env("CREDIT_LISTS_RECEIPT_SIGNING_KEY", RECEIPT_KEY)
            .env("CREDIT_LISTS_LOG_LEVEL", "warn")
            .arg("--database-url")
            .arg(&app.db_url)
            .arg("sync-national")
            .args(["--source", "最高人民法院失信被执行人"])
            .arg(&file)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["created"], 2);
    assert_eq!(entry_count(app), 0);
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(entry_count(app), 2);
    let audit = sync_audits(app).pop().unwrap();
    assert_eq!(audit["created"], 2);
    // A truncated snapshot is refused without --confirm, with a non-zero exit.
    std::fs::write(&file, csv(HEADER, &[row(2, &case(2), "")])).unwrap();
    let out = run(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("confirm"), "{err}");
    assert_eq!(
        by_doc(&national_entries(&s).await, &case(1))["in_force"],
        true
    );
    let out = run(&["--confirm"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        by_doc(&national_entries(&s).await, &case(1))["removal_reason"],
        "source_removed"
    );
    // An unknown source.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_credit-lists"))
        .current_dir(dir.path())
        .env("CREDIT_LISTS_JWT_SECRET", SECRET)
        .env("CREDIT_LISTS_PII_KEY", PII_KEY)
        .env("CREDIT_LISTS_RECEIPT_SIGNING_KEY", RECEIPT_KEY)
        .arg("--database-url")
        .arg(&app.db_url)
        .args(["sync-national", "--source", "无此来源"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    // Refused for the source, not for anything else missing.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("national source not found"), "{err}");
}

#[tokio::test]
async fn a_synced_black_entry_ends_the_subjects_red_entry() {
    let s = setup().await;
    let app = &s.f.app;
    let red = crate::entries::create_entry(
        app,
        &s.f.tax.token,
        crate::entries::entry("red", s.f.red, &uscc(1), "通税红〔2026〕1号"),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    crate::entries::publish_entry(app, &s.f.tax.token, red).await;
    let r = sync_ok(
        &s,
        "",
        csv(HEADER, &[row(1, &case(1), ""), row(2, &case(2), "")]),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(r["red_entries_removed"], json!([red]), "{r}");
    let e: Value = app
        .get(&format!("/api/v1/list-entries/{red}"), &s.admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(e["removal_reason"], "black_listed_while_red");
    assert_eq!(e["in_force"], false);
    assert_eq!(sync_audits(app)[0]["red_removed_ids"], json!([red]));
    assert_eq!(feed_count(app, "list_entry.removed"), 1);
}
