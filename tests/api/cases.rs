//! Cases (联合奖惩案例): filing with idempotency, validation, scope, submit/share/immutability,
//! corrections, media reports, export, drafts from credit-check feedback; feed events.

use credit_lists::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::entries::{
    create_entry, entry, fixture, id_number, publish_entry, today, uscc, Fixture,
};
use crate::four_lists::{create, publish, punishment};
use crate::helpers::*;

pub struct Setup {
    pub f: Fixture,
    pub punish: i64,
    pub incentive: i64,
    /// City bureau.
    pub city: Account,
}

pub async fn setup() -> Setup {
    let f = fixture().await;
    let mut p = punishment("CJ-1", &[f.black]);
    p["implementing_department_ids"] = json!([DEPT_TAX]);
    p["subject_kinds"] = json!(["enterprise", "individual"]);
    let punish = create(&f.app, &f.tax.token, p).await["id"]
        .as_i64()
        .unwrap();
    let i = json!({
        "kind": "incentive_measures",
        "code": "JL-1",
        "title": "绿色通道、容缺受理",
        "legal_basis": [{"document": "《关于建立完善守信联合激励和失信联合惩戒制度的指导意见》", "article": "（七）"}],
        "subject_kinds": ["enterprise"],
        "fields": ["administrative_licensing", "government_procurement"],
        "implementing_department_ids": [DEPT_TAX],
        "linked_scope_item_ids": [f.red]
    });
    let incentive = create(&f.app, &f.tax.token, i).await["id"]
        .as_i64()
        .unwrap();
    publish(&f.app, &f.tax.token, punish).await;
    publish(&f.app, &f.tax.token, incentive).await;
    let city = f
        .app
        .account("city", Role::Bureau, None, Some("220500"))
        .await;
    Setup {
        f,
        punish,
        incentive,
        city,
    }
}

pub async fn listed(s: &Setup, list: &str, code: &str, doc: &str) -> i64 {
    let scope = if list == "red" { s.f.red } else { s.f.black };
    let id = create_entry(&s.f.app, &s.f.tax.token, entry(list, scope, code, doc)).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(&s.f.app, &s.f.tax.token, id).await;
    id
}

pub fn punishment_case(s: &Setup, code: &str, entry_id: i64) -> Value {
    json!({
        "title": "某公司偷税被限制参与政府采购",
        "kind": "punishment",
        "subjects": [{"code": code, "name": "通化市某某商贸有限公司"}],
        "entry_ids": [entry_id],
        "measure_item_ids": [s.punish],
        "department_ids": [DEPT_SCJG],
        "field": "government_procurement",
        "case_date": today().to_string(),
        "summary": "依法限制其参与政府采购活动。"
    })
}

async fn json_of(res: reqwest::Response, status: StatusCode) -> Value {
    let got = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(got, status, "{v}");
    v
}

pub async fn post_case(app: &TestApp, token: &str, body: Value) -> Value {
    json_of(
        app.post("/api/v1/cases", token, body).await,
        StatusCode::CREATED,
    )
    .await
}

pub async fn action(app: &TestApp, token: &str, id: i64, what: &str) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/api/v1/cases/{id}/{what}"),
        Some(token),
        None,
    )
    .await
}

fn case_count(app: &TestApp) -> i64 {
    use credit_lists::schema::cases;
    use diesel::prelude::*;
    cases::table.count().get_result(&mut *app.conn()).unwrap()
}

#[tokio::test]
async fn a_retried_post_with_the_same_idempotency_key_files_one_case() {
    let s = setup().await;
    let app = &s.f.app;
    let code = uscc(11);
    let e = listed(&s, "black", &code, "HEI-IDEM").await;
    let body = punishment_case(&s, &code, e);
    let send = |b: Value, key: &'static str, token: String| {
        app.client
            .post(app.url("/api/v1/cases"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&b)
            .send()
    };
    let audit_before = app.audit_count();
    let first = json_of(
        send(body.clone(), "case-1", s.f.tax.token.clone())
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(first["status"], "draft");
    assert_eq!(first["department_id"], DEPT_TAX);
    assert_eq!(first["department_ids"], json!([DEPT_SCJG, DEPT_TAX]));
    assert_eq!(first["measures"][0]["measure_version"], 1);
    assert_eq!(first["subjects"][0]["code"], code);
    let again = json_of(
        send(body.clone(), "case-1", s.f.tax.token.clone())
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(case_count(app), 1);
    assert_eq!(app.audit_count(), audit_before + 1, "one audit record");
    // Same key, different body: refused, nothing filed.
    let mut other = body.clone();
    other["title"] = json!("另一个案例");
    let res = send(other, "case-1", s.f.tax.token.clone()).await.unwrap();
    let p = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["Idempotency-Key"]);
    assert_eq!(case_count(app), 1);
    // A key too long to read: 422 for a filer, but 403 for a caller who may not file at all.
    let long = "k".repeat(300);
    let res = app
        .client
        .post(app.url("/api/v1/cases"))
        .bearer_auth(&s.f.tax.token)
        .header("Idempotency-Key", &long)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let machine = app
        .account(
            "machine",
            credit_lists::auth::Role::ApprovalSystem,
            None,
            None,
        )
        .await;
    let res = app
        .client
        .post(app.url("/api/v1/cases"))
        .bearer_auth(&machine.token)
        .header("Idempotency-Key", &long)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(case_count(app), 1);
    // Concurrent retries with a new key still file exactly one case.
    let futs: Vec<_> = (0..6)
        .map(|_| send(body.clone(), "case-2", s.f.tax.token.clone()))
        .collect();
    let results = futures_util::future::join_all(futs).await;
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for r in results {
        let r = r.unwrap();
        if r.status() == StatusCode::CREATED {
            created += 1;
        } else {
            assert_eq!(r.status(), StatusCode::OK);
        }
        let v: Value = r.json().await.unwrap();
        ids.insert(v["id"].as_i64().unwrap());
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    assert_eq!(case_count(app), 2);
    // Keys are per user: another officer of the same department with the same key files anew.
    let tax2 = app
        .account("tax2", Role::Department, Some(DEPT_TAX), None)
        .await;
    let v = json_of(
        send(body.clone(), "case-1", tax2.token.clone())
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_ne!(v["id"], first["id"]);
}

#[tokio::test]
async fn case_content_is_validated() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.f.tax.token;
    let black_code = uscc(21);
    let red_code = uscc(22);
    let black = listed(&s, "black", &black_code, "HEI-V").await;
    let red = listed(&s, "red", &red_code, "HONG-V").await;
    let draft = create_entry(app, t, entry("black", s.f.black, &uscc(23), "HEI-D")).await["id"]
        .as_i64()
        .unwrap();

    // A red entry and an incentive measure in a punishment case; unknown field; bad code.
    let mut b = punishment_case(&s, &black_code, red);
    b["measure_item_ids"] = json!([s.incentive]);
    b["field"] = json!("no_such_field");
    b["subjects"] =
        json!([{"code": black_code, "name": "甲"}, {"code": "91220502MA0000000X", "name": "乙"}]);
    let res = app.post("/api/v1/cases", t, b).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let fields = problem_fields(&p);
    for f in [
        "subjects[1].code",
        "field",
        "measure_item_ids[0]",
        "entry_ids[0]",
    ] {
        assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
    }
    let codes: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"wrong_list"), "{codes:?}");
    assert!(codes.contains(&"wrong_kind"), "{codes:?}");
    assert!(codes.contains(&"unknown_field"), "{codes:?}");

    // A draft entry, a missing entry, an unknown department.
    let mut b = punishment_case(&s, &black_code, draft);
    b["entry_ids"] = json!([draft, 999_999]);
    b["department_ids"] = json!([424_242]);
    let res = app.post("/api/v1/cases", t, b).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        problem_fields(&p),
        vec!["department_ids[0]", "entry_ids[0]", "entry_ids[1]"]
    );

    // The entry's subject must be among the case's subjects.
    let b = punishment_case(&s, &uscc(24), black);
    let res = app.post("/api/v1/cases", t, b).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["code"], "subject_not_in_case");
    assert_eq!(case_count(app), 0, "nothing half-written");

    // A future date, empty title, unknown body field.
    let mut b = punishment_case(&s, &black_code, black);
    b["case_date"] = json!((today() + chrono::Duration::days(2)).to_string());
    b["title"] = json!("  ");
    let res = app.post("/api/v1/cases", t, b).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), vec!["title", "case_date"]);
    // Dates outside 1949-10-01..=2100-12-31, control characters in the title and names.
    for (k, v, field, code) in [
        (
            "case_date",
            json!("0000-01-01"),
            "case_date",
            "out_of_range",
        ),
        (
            "case_date",
            json!("1949-09-30"),
            "case_date",
            "out_of_range",
        ),
        (
            "title",
            json!("某公司\u{202e}偷税"),
            "title",
            "control_character",
        ),
        (
            "title",
            json!("某公司\r\n偷税"),
            "title",
            "control_character",
        ),
        (
            "summary",
            json!("依法限制\u{0}"),
            "summary",
            "control_character",
        ),
        (
            "subjects",
            json!([{"code": black_code, "name": "通化市\u{1b}某某商贸有限公司"}]),
            "subjects[0].name",
            "control_character",
        ),
    ] {
        let mut b = punishment_case(&s, &black_code, black);
        b[k] = v;
        let res = app.post("/api/v1/cases", t, b).await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem_fields(&p), vec![field], "{p}");
        assert_eq!(p["errors"][0]["code"], code, "{p}");
    }
    assert_eq!(case_count(app), 0, "nothing half-written");
    let mut b = punishment_case(&s, &black_code, black);
    b["extra"] = json!(1);
    let res = app.post("/api/v1/cases", t, b).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;

    // Filing for another department is refused; approval systems may not file at all.
    let mut b = punishment_case(&s, &black_code, black);
    b["department_id"] = json!(DEPT_SCJG);
    let res = app.post("/api/v1/cases", t, b).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let res = app
        .post(
            "/api/v1/cases",
            &approver.token,
            punishment_case(&s, &black_code, black),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;

    // A reward case with a red entry, an incentive measure and an individual's ID number.
    let person = id_number(7);
    let v = post_case(
        app,
        t,
        json!({
            "title": "纳税信用A级企业享受绿色通道",
            "kind": "reward",
            "subjects": [{"code": red_code, "name": "红企业"}, {"code": person, "name": "李四"}],
            "entry_ids": [red],
            "measure_item_ids": [s.incentive],
            "field": "administrative_licensing",
            "case_date": today().to_string(),
            "summary": "容缺受理。"
        }),
    )
    .await;
    assert_eq!(v["kind"], "reward");
    let codes: Vec<String> = v["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_string())
        .collect();
    assert!(codes.contains(&red_code));
    assert!(!codes.contains(&person), "ID numbers are masked");
    assert!(codes.iter().any(|c| c.contains('*')));
}

#[tokio::test]
async fn lifecycle_share_immutability_and_corrections() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.f.tax.token;
    let code = uscc(31);
    let e = listed(&s, "black", &code, "HEI-L").await;
    let mut body = punishment_case(&s, &code, e);
    body["measure_item_ids"] = json!([]);
    let c = post_case(app, t, body).await;
    let id = c["id"].as_i64().unwrap();
    let path = format!("/api/v1/cases/{id}");

    // Sharing a draft is refused; submitting without a measure too.
    let res = action(app, &s.city.token, id, "share").await;
    assert_problem(res, StatusCode::CONFLICT, "not_submitted").await;
    let res = action(app, t, id, "submit").await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), vec!["measure_item_ids"]);
    // A draft is edited in place.
    let v = json_of(
        app.patch(
            &path,
            t,
            json!({"measure_item_ids": [s.punish], "title": "修改后的标题"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["title"], "修改后的标题");
    assert_eq!(v["measures"].as_array().unwrap().len(), 1);
    assert_eq!(v["entry_ids"], json!([e]), "lists not given are kept");
    let res = app.patch(&path, t, json!({"field": "nope"})).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let v = json_of(action(app, t, id, "submit").await, StatusCode::OK).await;
    assert_eq!(v["status"], "submitted");
    assert!(v["submitted_at"].is_string());
    let res = app.patch(&path, t, json!({"title": "x"})).await;
    assert_problem(res, StatusCode::CONFLICT, "not_a_draft").await;

    // Only a bureau covering the region shares: not the department, not another county.
    let res = action(app, t, id, "share").await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let other_county = app
        .account("county", Role::Bureau, None, Some("220521"))
        .await;
    let res = action(app, &other_county.token, id, "share").await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let feed_before = feed_count(app, "case.shared");
    let v = json_of(
        action(app, &s.city.token, id, "share").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["status"], "shared");
    assert!(v["shared_at"].is_string());
    assert_eq!(feed_count(app, "case.shared"), feed_before + 1);

    // A shared case never changes.
    let res = app.patch(&path, t, json!({"title": "x"})).await;
    assert_problem(res, StatusCode::CONFLICT, "case_shared").await;
    for what in ["submit", "share"] {
        let token = if what == "share" { &s.city.token } else { t };
        let res = action(app, token, id, what).await;
        assert_problem(res, StatusCode::CONFLICT, "case_shared").await;
    }
    assert_eq!(feed_count(app, "case.shared"), feed_before + 1);

    // A correction is a new linked draft.
    let fix = json_of(action(app, t, id, "corrections").await, StatusCode::CREATED).await;
    assert_eq!(fix["status"], "draft");
    assert_eq!(fix["corrects_case_id"], id);
    assert_eq!(fix["title"], "修改后的标题");
    assert_eq!(fix["entry_ids"], json!([e]));
    let fix_id = fix["id"].as_i64().unwrap();
    let orig = json_of(app.get(&path, t).await, StatusCode::OK).await;
    assert_eq!(orig["corrected_by"], json!([fix_id]));
    assert_eq!(orig["title"], "修改后的标题");
    let res = action(app, t, fix_id, "corrections").await;
    assert_problem(res, StatusCode::CONFLICT, "not_submitted").await;

    // The audit trail has every step.
    use credit_lists::schema::audit_log;
    use diesel::prelude::*;
    let actions: Vec<String> = audit_log::table
        .filter(audit_log::entity_type.eq("case"))
        .filter(audit_log::entity_id.eq(id.to_string()))
        .order(audit_log::id.asc())
        .select(audit_log::action)
        .load(&mut *app.conn())
        .unwrap();
    assert_eq!(
        actions,
        vec!["case.create", "case.update", "case.submit", "case.share"]
    );
}

pub fn feed_count(app: &TestApp, event_type: &str) -> i64 {
    use credit_lists::schema::feed_events;
    use diesel::prelude::*;
    feed_events::table
        .filter(feed_events::event_type.eq(event_type))
        .count()
        .get_result(&mut *app.conn())
        .unwrap()
}

#[tokio::test]
async fn scope_filters_and_export() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.f.tax.token;
    let code = uscc(41);
    let e = listed(&s, "black", &code, "HEI-S").await;
    let joint = post_case(app, t, punishment_case(&s, &code, e)).await;
    let mut solo_body = punishment_case(&s, &code, e);
    solo_body["department_ids"] = json!([]);
    solo_body["case_date"] = json!((today() - chrono::Duration::days(40)).to_string());
    let solo = post_case(app, t, solo_body).await;

    // The market regulator took part in the joint case only.
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let page = json_of(app.get("/api/v1/cases", &scjg.token).await, StatusCode::OK).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], joint["id"]);
    let res = app
        .get(&format!("/api/v1/cases/{}", solo["id"]), &scjg.token)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    // It sees the joint case but may not edit it.
    let res = app
        .patch(
            &format!("/api/v1/cases/{}", joint["id"]),
            &scjg.token,
            json!({"title": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // A county bureau elsewhere sees nothing; the city bureau everything.
    let county = app
        .account("county", Role::Bureau, None, Some("220521"))
        .await;
    let page = json_of(
        app.get("/api/v1/cases", &county.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["total"], 0);
    let page = json_of(
        app.get("/api/v1/cases", &s.city.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["total"], 2);

    // Filters.
    let q = |p: &str| format!("/api/v1/cases?{p}");
    let total = |v: &Value| v["total"].as_i64().unwrap();
    let v = json_of(
        app.get(&q(&format!("department_id={DEPT_SCJG}")), t).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(total(&v), 1);
    let from = (today() - chrono::Duration::days(10)).to_string();
    let v = json_of(
        app.get(&q(&format!("from={from}")), t).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(total(&v), 1);
    let v = json_of(app.get(&q("kind=reward"), t).await, StatusCode::OK).await;
    assert_eq!(total(&v), 0);
    let v = json_of(
        app.get(&q(&format!("subject={code}")), t).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(total(&v), 2);
    let v = json_of(
        app.get(&q("status=draft&region_code=220500"), t).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(total(&v), 2, "the tax bureau is a city department");
    let res = app.get(&q("status=closed"), t).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    let res = app.get(&q("subject=123"), t).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    // Two well-formed dates out of order: a cross-field rule, 422 (not 400), on both.
    for path in ["/api/v1/cases", "/api/v1/cases/export"] {
        let res = app
            .get(&format!("{path}?from=2026-02-01&to=2026-01-31"), t)
            .await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], "query.from", "{path}");
        assert_eq!(p["errors"][0]["code"], "invalid_range", "{path}");
        let res = app
            .get(&format!("{path}?from=2026-01-31&to=2026-01-31"), t)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{path}: one day is a range");
    }

    // Export (csv and xlsx) with Chinese headers.
    let res = app.get("/api/v1/cases/export?format=csv", t).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = res.text().await.unwrap();
    let text = text.trim_start_matches('\u{feff}');
    assert!(text.starts_with("编号,案例标题,类型,状态"), "{text}");
    assert_eq!(text.lines().count(), 3);
    assert!(text.contains("失信惩戒") && text.contains("草稿"));
    let res = app.get("/api/v1/cases/export", &scjg.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK");
    let res = app.get("/api/v1/cases/export?format=pdf", t).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    // The list and the export share the filter, so each refuses what only the other reads:
    // a bad format on the list, bad paging on the export (the OpenAPI document declares both).
    for path in [
        "/api/v1/cases?format=",
        "/api/v1/cases?format=pdf",
        "/api/v1/cases/export?per_page=0",
        "/api/v1/cases/export?page=0",
    ] {
        let res = app.get(path, t).await;
        let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
        let field = if path.contains("format") {
            "query.format"
        } else if path.contains("per_page") {
            "query.per_page"
        } else {
            "query.page"
        };
        assert_eq!(problem_fields(&p), vec![field], "{path}");
    }
    let res = app.get("/api/v1/cases?format=csv&per_page=1", t).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn media_reports_are_validated_and_allowed_after_sharing() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.f.tax.token;
    let code = uscc(51);
    let e = listed(&s, "black", &code, "HEI-M").await;
    let c = post_case(app, t, punishment_case(&s, &code, e)).await;
    let id = c["id"].as_i64().unwrap();
    let path = format!("/api/v1/cases/{id}/media-reports");
    let report = json!({"outlet": "通化日报", "level": "city", "report_date": today().to_string(), "link": "https://www.thrb.com.cn/a/1.html"});
    for (bad, field, code) in [
        (
            json!({"link": "javascript:alert(1)"}),
            "link",
            "invalid_url",
        ),
        (
            json!({"link": "https://localhost/x"}),
            "link",
            "invalid_url",
        ),
        (json!({"outlet": " "}), "outlet", "required"),
        (
            json!({"report_date": (today() + chrono::Duration::days(1)).to_string()}),
            "report_date",
            "in_future",
        ),
        (
            json!({"report_date": "0000-01-01"}),
            "report_date",
            "out_of_range",
        ),
        (
            json!({"outlet": "通化\u{2066}日报"}),
            "outlet",
            "control_character",
        ),
    ] {
        let mut b = report.clone();
        for (k, v) in bad.as_object().unwrap() {
            b[k] = v.clone();
        }
        let res = app.post(&path, t, b).await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem_fields(&p), vec![field]);
        assert_eq!(p["errors"][0]["code"], code);
    }
    let mut b = report.clone();
    b["level"] = json!("county");
    let res = app.post(&path, t, b).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    let mut b = report.clone();
    b["report_date"] = json!((today() - chrono::Duration::days(5)).to_string());
    let res = app.post(&path, t, b).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "before_case_date").await;

    json_of(action(app, t, id, "submit").await, StatusCode::OK).await;
    json_of(
        action(app, &s.city.token, id, "share").await,
        StatusCode::OK,
    )
    .await;
    let r = json_of(
        app.post(&path, t, report.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(r["level"], "city");
    let mut national = report.clone();
    national["level"] = json!("national");
    national["outlet"] = json!("人民网");
    json_of(
        app.post(&path, &s.city.token, national).await,
        StatusCode::CREATED,
    )
    .await;
    let list = json_of(app.get(&path, t).await, StatusCode::OK).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    // Someone who only sees the case may not add reports; strangers get 404.
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let res = app.post(&path, &scjg.token, report.clone()).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let other = app
        .account("other", Role::Department, Some(DEPT_SCJG - 1), None)
        .await;
    let res = app.get(&path, &other.token).await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_draft_comes_from_check_feedback_only_when_a_measure_was_applied() {
    let s = setup().await;
    let app = &s.f.app;
    let code = uscc(61);
    let e = listed(&s, "black", &code, "HEI-FB").await;
    // The tax bureau's officer checks (as its approval desk does) and reports the feedback.
    let approver = &s.f.tax;
    let check = |field: &'static str| {
        let code = code.clone();
        let token = approver.token.clone();
        async move {
            let res = app
                .post(
                    "/api/v1/credit-checks",
                    &token,
                    json!({"subject_code": code, "field": field, "reference": "CG-1"}),
                )
                .await;
            json_of(res, StatusCode::CREATED).await["check_id"]
                .as_i64()
                .unwrap()
        }
    };
    let with_measure = check("government_procurement").await;
    let without = check("bidding").await;
    let no_feedback = check("government_procurement").await;
    for (id, applied) in [(with_measure, json!([s.punish])), (without, json!([]))] {
        let res = app
            .post(
                &format!("/api/v1/credit-checks/{id}/feedback"),
                &approver.token,
                json!({"decision": "denied", "measures_applied": applied, "note": "", "decided_at": "2026-11-20T02:00:00"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let t = &s.f.tax.token;
    let from = |id: i64| format!("/api/v1/cases/from-feedback/{id}");
    let res = app
        .request(Method::POST, &from(without), Some(t), None)
        .await;
    assert_problem(res, StatusCode::CONFLICT, "no_measure_applied").await;
    let res = app
        .request(Method::POST, &from(no_feedback), Some(t), None)
        .await;
    assert_problem(res, StatusCode::CONFLICT, "no_feedback").await;
    let res = app
        .request(Method::POST, &from(999_999), Some(t), None)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let res = app
        .request(Method::POST, &from(with_measure), Some(&scjg.token), None)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

    let v = json_of(
        app.request(Method::POST, &from(with_measure), Some(t), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(v["status"], "draft");
    assert_eq!(v["kind"], "punishment");
    assert_eq!(v["source_check_id"], with_measure);
    assert_eq!(v["field"], "government_procurement");
    assert_eq!(v["entry_ids"], json!([e]));
    assert_eq!(v["measures"][0]["measure_item_id"], s.punish);
    assert_eq!(v["subjects"][0]["code"], code);
    assert_eq!(v["case_date"], "2026-11-20");
    assert_eq!(v["department_id"], DEPT_TAX);
    // A check by an approval system (no department): the city bureau names the filing department.
    let machine = app
        .account("machine", Role::ApprovalSystem, None, None)
        .await;
    let res = app
        .post(
            "/api/v1/credit-checks",
            &machine.token,
            json!({"subject_code": code, "field": "government_procurement"}),
        )
        .await;
    let mcheck = json_of(res, StatusCode::CREATED).await["check_id"]
        .as_i64()
        .unwrap();
    let res = app
        .post(
            &format!("/api/v1/credit-checks/{mcheck}/feedback"),
            &machine.token,
            json!({"decision": "denied", "measures_applied": [s.punish], "note": "", "decided_at": "2026-11-21T02:00:00"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .request(Method::POST, &from(mcheck), Some(&s.city.token), None)
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "required").await;
    // The query parameter is named as every query parameter is (issue 26).
    assert_eq!(problem_fields(&p), vec!["query.department_id"]);
    let v2 = json_of(
        app.request(
            Method::POST,
            &format!("{}?department_id={DEPT_TAX}", from(mcheck)),
            Some(&s.city.token),
            None,
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(v2["department_id"], DEPT_TAX);
    assert_eq!(v2["source_check_id"], mcheck);
    // It can be submitted as it is.
    json_of(
        action(app, t, v["id"].as_i64().unwrap(), "submit").await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn demo_cases_cover_every_state_and_a_closed_month() {
    use credit_lists::schema::{case_media_reports, cases, feed_events, monthly_snapshots};
    use diesel::prelude::*;
    let (db_url, _dir) = fresh_database();
    let app = credit_lists::startup::Application::build(test_settings(&db_url)).unwrap();
    let mut conn = app.pool.get().unwrap();
    credit_lists::demo::seed(&mut conn).unwrap();
    assert!(credit_lists::demo::lists::seed(&mut conn, &app.state).unwrap());
    assert!(credit_lists::demo::cases::seed(&mut conn, &app.state).unwrap());
    assert!(
        !credit_lists::demo::cases::seed(&mut conn, &app.state).unwrap(),
        "seeded once"
    );
    let by_state: Vec<(String, String, i64)> = cases::table
        .group_by((cases::status, cases::kind))
        .select((cases::status, cases::kind, diesel::dsl::count_star()))
        .order((cases::status, cases::kind))
        .load(&mut conn)
        .unwrap();
    let states: std::collections::BTreeSet<&str> =
        by_state.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(
        states.into_iter().collect::<Vec<_>>(),
        vec!["draft", "shared", "submitted"],
        "{by_state:?}"
    );
    assert!(by_state.iter().any(|(_, k, _)| k == "reward"));
    assert!(by_state.iter().any(|(_, k, _)| k == "punishment"));
    let media: i64 = case_media_reports::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert!(media > 0);
    let closed: i64 = monthly_snapshots::table
        .filter(monthly_snapshots::region_code.eq("220500"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(closed, 1);
    let shared_events: i64 = feed_events::table
        .filter(feed_events::event_type.eq("case.shared"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let shared: i64 = cases::table
        .filter(cases::status.eq("shared"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(shared_events, shared);
}

/// Eight clients send the same filing with the same `Idempotency-Key` at once: one case is filed,
/// every client gets it (201 once, 200 for the others), nobody gets a 5xx.
#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_file_exactly_one_case() {
    let s = setup().await;
    let app = &s.f.app;
    let code = uscc(12);
    let e = listed(&s, "black", &code, "HEI-RACE").await;
    let body = punishment_case(&s, &code, e);
    let sends = (0..8).map(|_| {
        app.client
            .post(app.url("/api/v1/cases"))
            .bearer_auth(&s.f.tax.token)
            .header("Idempotency-Key", "race-1")
            .json(&body)
            .send()
    });
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for res in futures_util::future::join_all(sends).await {
        let res = res.unwrap();
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => {}
            other => panic!("{other}: {v}"),
        }
        ids.insert(v["id"].as_i64().unwrap());
    }
    assert_eq!(created, 1, "one client filed it");
    assert_eq!(ids.len(), 1, "everyone got the same case");
    assert_eq!(case_count(app), 1);
}
