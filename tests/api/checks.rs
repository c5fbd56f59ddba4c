//! Credit checks (信用核查): advice and measures, receipts, batch, feedback, stats, watches, and
//! two instances on one database.

use chrono::Duration;
use credit_lists::auth::Role;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::entries::{
    create_entry, entry, fixture, id_number, publish_entry, today, uscc, Fixture,
};
use crate::four_lists::{create, publish, punishment};
use crate::helpers::*;

struct Setup {
    f: Fixture,
    approver: Account,
    punish: i64,
    incentive: i64,
}

/// Punishment measure linked to the black scope (procurement, bidding; enterprises), incentive
/// measure linked to the red scope (licensing, procurement; enterprises).
async fn setup() -> Setup {
    let f = fixture().await;
    let mut p = punishment("CJ-1", &[f.black]);
    p["implementing_department_ids"] = json!([DEPT_TAX]);
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
    let approver = f
        .app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    Setup {
        f,
        approver,
        punish,
        incentive,
    }
}

async fn listed(s: &Setup, list: &str, code: &str, doc: &str) -> i64 {
    let scope = if list == "red" { s.f.red } else { s.f.black };
    let id = create_entry(&s.f.app, &s.f.tax.token, entry(list, scope, code, doc)).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(&s.f.app, &s.f.tax.token, id).await;
    id
}

async fn check_on(app: &TestApp, token: &str, code: &str, field: &str) -> Value {
    let res = app
        .post(
            "/api/v1/credit-checks",
            token,
            json!({"subject_code": code, "field": field, "reference": "XK-2026-001", "purpose": "开办许可"}),
        )
        .await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

async fn check(s: &Setup, code: &str, field: &str) -> Value {
    check_on(&s.f.app, &s.approver.token, code, field).await
}

fn measure_ids(v: &Value) -> Vec<i64> {
    v["measures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["measure_item_id"].as_i64().unwrap())
        .collect()
}

/// Receipts stored, as staff see them (the list waits for receipts still on their way into the
/// table: on SQLite they are indexed from the receipt log shortly after the check is answered).
async fn receipts(app: &TestApp, staff_token: &str) -> i64 {
    let list: Value = app
        .get("/api/v1/credit-checks?per_page=1", staff_token)
        .await
        .json()
        .await
        .unwrap();
    list["total"].as_i64().unwrap()
}

#[tokio::test]
async fn advice_and_measures_follow_the_lists_field_and_subject_kind() {
    let s = setup().await;
    let app = &s.f.app;
    let a = uscc(101);
    listed(&s, "black", &a, "HEI-A").await;
    let v = check(&s, &a, "government_procurement").await;
    assert_eq!(v["known"], true);
    assert_eq!(v["advice"], "restrict", "{v}");
    assert_eq!(measure_ids(&v), vec![s.punish]);
    let m = &v["measures"][0];
    assert_eq!(m["kind"], "punishment_measures");
    assert_eq!(m["legal_basis"][0]["document"], "《政府采购法》");
    assert_eq!(m["implementing_departments"][0]["id"], DEPT_TAX);
    assert!(m["implementing_departments"][0]["name"].as_str().unwrap() != "");
    assert_eq!(v["black"].as_array().unwrap().len(), 1);
    assert_eq!(v["black"][0]["document_number"], "HEI-A");
    assert_eq!(v["black"][0]["objection_open"], false);
    assert_eq!(v["red"], json!([]));
    assert_eq!(v["commitments"], json!([]));
    assert!(v["check_id"].as_i64().unwrap() > 0);
    assert!(!v["reasons"].as_array().unwrap().is_empty());
    // Same subject, a field the punishment does not cover.
    let v = check(&s, &a, "administrative_licensing").await;
    assert_eq!(v["advice"], "normal");
    assert_eq!(v["measures"], json!([]));
    assert_eq!(v["black"].as_array().unwrap().len(), 1);

    // Red: incentive in its fields only.
    let b = uscc(102);
    listed(&s, "red", &b, "HONG-B").await;
    let v = check(&s, &b, "administrative_licensing").await;
    assert_eq!(v["advice"], "green_channel", "{v}");
    assert_eq!(measure_ids(&v), vec![s.incentive]);
    assert_eq!(v["red"].as_array().unwrap().len(), 1);
    let v = check(&s, &b, "bidding").await;
    assert_eq!(v["advice"], "normal");

    // An individual on the black list: the punishment applies to enterprises only.
    let c = id_number(103);
    listed(&s, "black", &c, "HEI-C").await;
    let v = check(&s, &c, "government_procurement").await;
    assert_eq!(v["subject"]["kind"], "individual");
    assert_eq!(v["subject_code"], c);
    assert_eq!(v["black"].as_array().unwrap().len(), 1);
    assert_eq!(v["measures"], json!([]));
    assert_eq!(v["advice"], "normal");

    // Red plus black (the red entry restored after the black-while-red removal): punishment wins,
    // the incentive is listed but no green channel.
    let d = uscc(104);
    let red = listed(&s, "red", &d, "HONG-D").await;
    listed(&s, "black", &d, "HEI-D").await;
    {
        use credit_lists::schema::list_entries;
        diesel::update(list_entries::table.find(red as i32))
            .set((
                list_entries::status.eq("published"),
                list_entries::removal_reason.eq(None::<String>),
                list_entries::removal_date.eq(None::<chrono::NaiveDate>),
            ))
            .execute(&mut *app.conn())
            .unwrap();
    }
    let v = check(&s, &d, "government_procurement").await;
    assert_eq!(v["advice"], "restrict");
    let mut ids = measure_ids(&v);
    ids.sort();
    assert_eq!(ids, vec![s.punish, s.incentive]);
    let v = check(&s, &d, "administrative_licensing").await;
    assert_eq!(v["advice"], "normal", "incentive withheld while black: {v}");
    assert_eq!(measure_ids(&v), vec![s.incentive]);

    // Expired entries are not in force.
    let e = uscc(105);
    let eid = listed(&s, "black", &e, "HEI-E").await;
    {
        use credit_lists::schema::list_entries;
        diesel::update(list_entries::table.find(eid as i32))
            .set(list_entries::valid_until.eq(today() - Duration::days(1)))
            .execute(&mut *app.conn())
            .unwrap();
    }
    let v = check(&s, &e, "government_procurement").await;
    assert_eq!(v["known"], true);
    assert_eq!(v["black"], json!([]));
    assert_eq!(v["advice"], "normal");

    // Under objection: flagged, still in force.
    let res = app
        .post(
            &format!("/api/v1/list-entries/{}/objections", v_entry(&s, &a).await),
            &s.f.tax.token,
            json!({"raised_by": "企业", "grounds": "认定事实有误"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v = check(&s, &a, "government_procurement").await;
    assert_eq!(v["black"][0]["objection_open"], true);
    assert_eq!(v["advice"], "restrict");
    assert!(v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "black_entry_under_objection"
            && r["message"].as_str().unwrap().contains("异议处理中")));
}

async fn v_entry(s: &Setup, code: &str) -> i64 {
    check(s, code, "bidding").await["black"][0]["entry_id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn unknown_codes_are_clean_answers_and_invalid_codes_record_nothing() {
    let s = setup().await;
    let app = &s.f.app;
    let v = check(&s, &uscc(999), "bidding").await;
    assert_eq!(v["known"], false);
    assert_eq!(v["subject"], Value::Null);
    assert_eq!(v["advice"], "normal");
    let admin = app.admin().await;
    let before = receipts(app, &admin.token).await;
    let res = app
        .post(
            "/api/v1/credit-checks",
            &s.approver.token,
            json!({"subject_code": "91350211M00013FA1N", "field": "bidding"}),
        )
        .await;
    let body = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_subject_code",
    )
    .await;
    assert_eq!(problem_fields(&body), vec!["subject_code"]);
    let res = app
        .post(
            "/api/v1/credit-checks",
            &s.approver.token,
            json!({"subject_code": uscc(1), "field": "no_such_field"}),
        )
        .await;
    let body = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_field").await;
    assert_eq!(problem_fields(&body), vec!["field"]);
    // The message points to the endpoint that lists the fields, and that endpoint exists.
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("GET /api/v1/application-fields"),
        "{detail}"
    );
    let res = app
        .get("/api/v1/application-fields", &s.approver.token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(receipts(app, &admin.token).await, before);
}

#[tokio::test]
async fn receipts_are_unchanged_after_the_lists_change() {
    let s = setup().await;
    let app = &s.f.app;
    let a = uscc(201);
    let eid = listed(&s, "black", &a, "HEI-R").await;
    let given = check(&s, &a, "bidding").await;
    assert_eq!(given["advice"], "restrict");
    let res = app
        .post(
            &format!("/api/v1/list-entries/{eid}/remove"),
            &s.f.tax.token,
            json!({"reason": "revoked", "note": "撤销认定"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(check(&s, &a, "bidding").await["advice"], "normal");
    let path = format!("/api/v1/credit-checks/{}", given["check_id"]);
    let stored: Value = app
        .get(&path, &s.approver.token)
        .await
        .json()
        .await
        .unwrap();
    // The answer is the stored receipt plus its signed proof (issue 24).
    let mut answered = given.clone();
    assert!(answered.as_object_mut().unwrap().remove("proof").is_some());
    assert_eq!(stored, answered);
    // Another approval system does not see it; the city bureau does.
    let other = app
        .account("other-system", Role::ApprovalSystem, None, None)
        .await;
    assert_problem(
        app.get(&path, &other.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let bureau = app
        .account("bureau", Role::Bureau, None, Some("220500"))
        .await;
    assert_eq!(app.get(&path, &bureau.token).await.status(), StatusCode::OK);
    let list: Value = app
        .get(
            &format!("/api/v1/credit-checks?advice=restrict&subject={a}&field=bidding"),
            &bureau.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["check_id"], given["check_id"]);
    assert_eq!(list["items"][0]["reference"], "XK-2026-001");
    let res = app.get("/api/v1/credit-checks", &s.approver.token).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn a_batch_answers_each_code_in_order() {
    let s = setup().await;
    let app = &s.f.app;
    let a = uscc(301);
    listed(&s, "black", &a, "HEI-B1").await;
    let admin = app.admin().await;
    let before = receipts(app, &admin.token).await;
    let res = app
        .post(
            "/api/v1/credit-checks/batch",
            &s.approver.token,
            json!({"subject_codes": [a, "91350211M00013FA1N", uscc(302), id_number(303)], "field": "bidding", "reference": "ZB-2026-7"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!(r[0]["status"], 201);
    assert_eq!(r[0]["check"]["advice"], "restrict");
    assert_eq!(r[1]["status"], 422);
    assert_eq!(r[1]["error"]["field"], "subject_codes[1]");
    assert_eq!(r[1]["check"], Value::Null);
    assert_eq!(r[2]["check"]["known"], false);
    assert_eq!(r[3]["check"]["subject_code"], id_number(303));
    assert_eq!(receipts(app, &admin.token).await, before + 3);
    // Each has its own receipt.
    let id = &r[2]["check"]["check_id"];
    let stored: Value = app
        .get(&format!("/api/v1/credit-checks/{id}"), &s.approver.token)
        .await
        .json()
        .await
        .unwrap();
    // The answer is the stored receipt plus its signed proof (issue 24).
    let mut answered = r[2]["check"].clone();
    assert!(answered.as_object_mut().unwrap().remove("proof").is_some());
    assert_eq!(stored, answered);
    let too_many: Vec<String> = (0..1001).map(|i| uscc(400 + i)).collect();
    let res = app
        .post(
            "/api/v1/credit-checks/batch",
            &s.approver.token,
            json!({"subject_codes": too_many, "field": "bidding"}),
        )
        .await;
    let body = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&body), vec!["subject_codes"]);
}

#[tokio::test]
async fn feedback_is_idempotent_and_validated() {
    let s = setup().await;
    let app = &s.f.app;
    let a = uscc(501);
    listed(&s, "black", &a, "HEI-F").await;
    let v = check(&s, &a, "government_procurement").await;
    let path = format!("/api/v1/credit-checks/{}/feedback", v["check_id"]);
    let body = json!({"decision": "denied", "measures_applied": [s.punish], "note": "不予采购", "decided_at": "2026-11-28T08:00:00"});
    let audit_before = app.audit_count();
    let send = |b: Value, key: &'static str| {
        app.client
            .post(app.url(&path))
            .bearer_auth(&s.approver.token)
            .header("Idempotency-Key", key)
            .json(&b)
            .send()
    };
    let res = send(body.clone(), "k-1").await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.audit_count(), audit_before + 1);
    let res = send(body.clone(), "k-1").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let fb: Value = res.json().await.unwrap();
    assert_eq!(fb["measures_applied"], json!([s.punish]));
    let mut other = body.clone();
    other["decision"] = json!("approved");
    let res = send(other, "k-2").await.unwrap();
    assert_problem(res, StatusCode::CONFLICT, "feedback_exists").await;
    assert_eq!(app.audit_count(), audit_before + 1);
    // A measure that was not in the answer.
    let v = check(&s, &a, "government_procurement").await;
    let res = app
        .post(
            &format!("/api/v1/credit-checks/{}/feedback", v["check_id"]),
            &s.approver.token,
            json!({"decision": "denied", "measures_applied": [s.punish, s.incentive], "note": "", "decided_at": "2026-11-28T08:00:00"}),
        )
        .await;
    let body = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&body), vec!["measures_applied[1]"]);
}

/// The `Idempotency-Key` of feedback is read as the cases' is: a key that is not visible ASCII,
/// or longer than 200 characters, is refused naming the header (it used to be dropped silently,
/// which made a retry file a second decision).
#[tokio::test]
async fn feedback_refuses_an_idempotency_key_it_cannot_read() {
    let s = setup().await;
    let app = &s.f.app;
    let a = uscc(503);
    let v = check(&s, &a, "government_procurement").await;
    let path = format!("/api/v1/credit-checks/{}/feedback", v["check_id"]);
    let body = json!({"decision": "approved", "measures_applied": [], "note": "", "decided_at": "2026-11-28T08:00:00Z"});
    let send = |key: reqwest::header::HeaderValue| {
        app.client
            .post(app.url(&path))
            .bearer_auth(&s.approver.token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let non_ascii = reqwest::header::HeaderValue::from_bytes("键-1".as_bytes()).unwrap();
    let p = assert_problem(
        send(non_ascii).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["Idempotency-Key"]);
    let long = reqwest::header::HeaderValue::from_str(&"k".repeat(201)).unwrap();
    let p = assert_problem(
        send(long).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_long",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["Idempotency-Key"]);
    let fits = reqwest::header::HeaderValue::from_str(&"k".repeat(200)).unwrap();
    assert_eq!(send(fits).await.unwrap().status(), StatusCode::CREATED);
}

/// `decided_at` takes RFC 3339 with `Z` or any offset, and a time without offset as China time
/// (UTC+8); the answer is always UTC with `Z`.
#[tokio::test]
async fn feedback_times_take_any_offset_and_china_time_without_one() {
    let s = setup().await;
    let app = &s.f.app;
    let a = uscc(502);
    for sent in [
        "2026-11-28T08:00:00Z",
        "2026-11-28T08:00:00z",
        "2026-11-28T16:00:00+08:00",
        "2026-11-28T03:00:00-05:00",
        "2026-11-28T16:00:00",
    ] {
        let v = check(&s, &a, "government_procurement").await;
        let res = app
            .post(
                &format!("/api/v1/credit-checks/{}/feedback", v["check_id"]),
                &s.approver.token,
                json!({"decision": "approved", "measures_applied": [], "note": "第一行\n\t第二行", "decided_at": sent}),
            )
            .await;
        let status = res.status();
        let fb: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{sent}: {fb}");
        assert_eq!(fb["decided_at"], "2026-11-28T08:00:00Z", "{sent}");
        assert_eq!(fb["note"], "第一行\n\t第二行");
    }
    let v = check(&s, &a, "government_procurement").await;
    let path = format!("/api/v1/credit-checks/{}/feedback", v["check_id"]);
    let audit_before = app.audit_count();
    for bad in [
        "2026-11-28",
        "yesterday",
        "2026-11-28T08:00:00+8",
        "2026-11-28T25:00:00Z",
        "2026-11-28 08:00:00 UTC",
    ] {
        let res = app
            .post(
                &path,
                &s.approver.token,
                json!({"decision": "approved", "measures_applied": [], "decided_at": bad}),
            )
            .await;
        let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
        assert_eq!(problem_fields(&p), vec!["decided_at"], "{bad}");
    }
    for (bad, field) in [
        (json!({"decided_at": "0000-01-01T00:00:00Z"}), "decided_at"),
        (json!({"decided_at": "1949-09-30T15:59:59Z"}), "decided_at"),
        (json!({"decided_at": "2101-01-01T00:00:00Z"}), "decided_at"),
        (
            json!({"decided_at": "2026-11-28T08:00:00Z", "note": "不予\u{0}采购"}),
            "note",
        ),
        (
            json!({"decided_at": "2026-11-28T08:00:00Z", "note": "不予\u{202e}采购"}),
            "note",
        ),
    ] {
        let mut body = json!({"decision": "approved", "measures_applied": []});
        for (k, v) in bad.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = app.post(&path, &s.approver.token, body).await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem_fields(&p), vec![field], "{bad}");
    }
    assert_eq!(app.audit_count(), audit_before, "nothing written");
    // 1949-10-01 00:00 China time is the first moment accepted.
    let res = app
        .post(
            &path,
            &s.approver.token,
            json!({"decision": "approved", "measures_applied": [], "decided_at": "1949-10-01T08:00:00+08:00"}),
        )
        .await;
    let fb = json_status(res, StatusCode::CREATED).await;
    assert_eq!(fb["decided_at"], "1949-10-01T00:00:00Z");
}

async fn json_status(res: reqwest::Response, status: StatusCode) -> Value {
    let s = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(s, status, "{v}");
    v
}

#[tokio::test]
async fn roles_anonymous_department_and_disabled_machine_accounts() {
    let s = setup().await;
    let app = &s.f.app;
    let res = app
        .request(
            Method::POST,
            "/api/v1/credit-checks",
            None,
            Some(json!({"subject_code": uscc(1), "field": "bidding"})),
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    check_on(app, &s.f.tax.token, &uscc(1), "bidding").await;
    {
        use credit_lists::schema::users;
        diesel::update(users::table.find(s.approver.id))
            .set(users::active.eq(false))
            .execute(&mut *app.conn())
            .unwrap();
    }
    let res = app
        .post(
            "/api/v1/credit-checks",
            &s.approver.token,
            json!({"subject_code": uscc(1), "field": "bidding"}),
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn stats_count_checks_feedback_and_fields() {
    let s = setup().await;
    let app = &s.f.app;
    let a = uscc(601);
    listed(&s, "black", &a, "HEI-S").await;
    let v = check(&s, &a, "government_procurement").await;
    check(&s, &uscc(602), "bidding").await;
    check_on(app, &s.f.tax.token, &uscc(603), "administrative_licensing").await;
    let res = app
        .post(
            &format!("/api/v1/credit-checks/{}/feedback", v["check_id"]),
            &s.approver.token,
            json!({"decision": "denied", "measures_applied": [s.punish], "note": "", "decided_at": "2026-11-28T08:00:00"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let admin = app.admin().await;
    let year = today().format("%Y").to_string();
    let st: Value = app
        .get(
            &format!("/api/v1/credit-checks/stats?year={year}"),
            &admin.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["checks"], 3, "{st}");
    assert_eq!(st["with_feedback"], 1);
    assert_eq!(st["with_measures_applied"], 1);
    assert!((st["feedback_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    let by_field = st["by_field"].as_array().unwrap();
    assert_eq!(by_field.len(), 3);
    let by_advice: Vec<(String, i64)> = st["by_advice"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().into(),
                c["checks"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_advice,
        vec![("normal".to_string(), 2), ("restrict".to_string(), 1)]
    );
    assert!(st["by_department"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["key"].as_str() == Some(&*DEPT_TAX.to_string()) && c["checks"] == 1));
    let r: Vec<&Value> = st["regions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["region_code"] == "220502")
        .collect();
    assert_eq!(r[0]["fields_applied"], json!(["government_procurement"]));
    assert_eq!(r[0]["target_met"], false);
    let res = app.get("/api/v1/credit-checks/stats", &s.f.tax.token).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let county = app
        .account("county", Role::Bureau, None, Some("220521"))
        .await;
    let res = app
        .get("/api/v1/credit-checks/stats?region=220502", &county.token)
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
}

/// `GET /api/v1/credit-checks/stats?{query}`, asserting 200.
async fn usage_stats(app: &TestApp, token: &str, query: String) -> Value {
    let res = app
        .get(&format!("/api/v1/credit-checks/stats?{query}"), token)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json::<Value>().await.unwrap()
}

/// `month` narrows the usage statistics to one month of the year (UTC+8); months outside 1–12 are
/// refused naming the parameter.
#[tokio::test]
async fn stats_of_one_month_count_only_that_months_checks() {
    use chrono::Datelike;
    let s = setup().await;
    let app = &s.f.app;
    let moved = check(&s, &uscc(611), "bidding").await;
    check(&s, &uscc(612), "bidding").await;
    check(&s, &uscc(613), "government_procurement").await;
    let admin = app.admin().await;
    let stats = |query: String| usage_stats(app, &admin.token, query);
    let now = today();
    let this = stats(format!("year={}&month={}", now.year(), now.month())).await;
    assert_eq!(this["checks"], 3, "{this}");
    assert_eq!(this["month"], now.month());
    // One receipt dated 15 July of last year (12:00 UTC: 20:00 in UTC+8), behind the service's
    // back (the read above stored every receipt in the table).
    let last_july = chrono::NaiveDate::from_ymd_opt(now.year() - 1, 7, 15)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    redate_receipt(app, moved["check_id"].as_i64().unwrap(), last_july);
    let this = stats(format!("year={}&month={}", now.year(), now.month())).await;
    assert_eq!(this["checks"], 2, "{this}");
    let july = stats(format!("year={}&month=7", now.year() - 1)).await;
    assert_eq!(july["checks"], 1, "{july}");
    assert_eq!(
        july["by_field"],
        json!([{"key": "bidding", "name": null, "checks": 1}])
    );
    for other in [6, 8] {
        let v = stats(format!("year={}&month={other}", now.year() - 1)).await;
        assert_eq!(v["checks"], 0, "{v}");
        assert_eq!(v["by_field"], json!([]));
    }
    let year = stats(format!("year={}", now.year() - 1)).await;
    assert_eq!(year["checks"], 1, "{year}");
    assert!(year.get("month").is_none(), "{year}");
    for bad in ["0", "13", "-1", "x"] {
        let res = app
            .get(
                &format!("/api/v1/credit-checks/stats?year=2026&month={bad}"),
                &admin.token,
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "month={bad}");
        let body: Value = res.json().await.unwrap();
        assert!(body.to_string().contains("month"), "month={bad}: {body}");
    }
}

/// The counts of the days of a month that has ended are kept the first time it is asked for:
/// feedback on one of its receipts moves that receipt between groups (the answer then equals a
/// fresh count), and a receipt moved into the month behind the service's back is not seen until
/// its day is counted again.
#[tokio::test]
async fn stats_of_an_ended_month_are_kept_and_follow_feedback() {
    use chrono::Datelike;
    use credit_lists::schema::{check_day_counts, check_days_counted};
    let s = setup().await;
    let app = &s.f.app;
    let a = uscc(621);
    listed(&s, "black", &a, "HEI-S").await;
    let applied = check(&s, &a, "government_procurement").await;
    let plain = check(&s, &uscc(622), "bidding").await;
    let late = check(&s, &uscc(623), "bidding").await;
    let admin = app.admin().await;
    let stats = |query: String| usage_stats(app, &admin.token, query);
    let now = today();
    // This month is counted from the receipts (and the read stores every receipt in the table).
    let this = stats(format!("year={}&month={}", now.year(), now.month())).await;
    assert_eq!(this["checks"], 3, "{this}");
    let y = now.year() - 1;
    let move_to_march = |check: &Value| {
        let t = chrono::NaiveDate::from_ymd_opt(y, 3, 10)
            .unwrap()
            .and_hms_opt(4, 0, 0)
            .unwrap();
        redate_receipt(app, check["check_id"].as_i64().unwrap(), t);
    };
    move_to_march(&applied);
    move_to_march(&plain);
    let (y_start, y_end) = (
        chrono::NaiveDate::from_ymd_opt(y, 1, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(y, 12, 31).unwrap(),
    );
    let march_days = (
        chrono::NaiveDate::from_ymd_opt(y, 3, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(y, 3, 31).unwrap(),
    );
    let kept_days = |(from, to): (chrono::NaiveDate, chrono::NaiveDate)| {
        check_days_counted::table
            .filter(check_days_counted::day.between(from, to))
            .count()
            .get_result::<i64>(&mut *app.conn())
            .unwrap()
    };
    assert_eq!(kept_days(march_days), 0);
    let march = format!("year={y}&month=3");
    let first = stats(march.clone()).await;
    assert_eq!(first["checks"], 2, "{first}");
    assert_eq!(first["with_feedback"], 0, "{first}");
    assert_eq!(kept_days(march_days), 31, "the ended days' counts are kept");
    let groups = check_day_counts::table
        .filter(check_day_counts::day.between(march_days.0, march_days.1))
        .select((check_day_counts::day, check_day_counts::checks))
        .load::<(chrono::NaiveDate, i64)>(&mut *app.conn())
        .unwrap();
    assert_eq!(
        groups,
        vec![(chrono::NaiveDate::from_ymd_opt(y, 3, 10).unwrap(), 1); 2],
        "10 March's two groups, the other days none"
    );
    // Feedback applying a measure on one of March's receipts, written after March was counted.
    let res = app
        .post(
            &format!("/api/v1/credit-checks/{}/feedback", applied["check_id"]),
            &s.approver.token,
            json!({"decision": "denied", "measures_applied": [s.punish], "note": "", "decided_at": "2026-11-28T08:00:00"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post(
            &format!("/api/v1/credit-checks/{}/feedback", plain["check_id"]),
            &s.approver.token,
            json!({"decision": "approved", "measures_applied": [], "note": "", "decided_at": "2026-11-28T08:00:00"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let kept = stats(march.clone()).await;
    assert_eq!(kept["checks"], 2, "{kept}");
    assert_eq!(kept["with_feedback"], 2, "{kept}");
    assert_eq!(kept["with_measures_applied"], 1, "{kept}");
    let region = kept["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region_code"] == "220502")
        .unwrap()
        .clone();
    assert_eq!(region["fields_applied"], json!(["government_procurement"]));
    assert_eq!(
        region["fields_checked"],
        json!(["government_procurement"]),
        "{kept}"
    );
    // The same as counting March afresh.
    let forget = || {
        let mut conn = app.conn();
        diesel::delete(
            check_day_counts::table.filter(check_day_counts::day.between(y_start, y_end)),
        )
        .execute(&mut *conn)
        .unwrap();
        diesel::delete(
            check_days_counted::table.filter(check_days_counted::day.between(y_start, y_end)),
        )
        .execute(&mut *conn)
        .unwrap();
    };
    forget();
    let fresh = stats(march.clone()).await;
    assert_eq!(fresh, kept);
    // The whole year is read from the kept days too (every one of them kept); one region's
    // figures from the same.
    let year = stats(format!("year={y}")).await;
    assert_eq!(year["checks"], 2, "{year}");
    assert_eq!(kept_days((y_start, y_end)), i64::from(y_end.ordinal()));
    assert_eq!(year["by_field"], kept["by_field"]);
    let one = stats(format!("{march}&region=220502")).await;
    assert_eq!(one["checks"], 1, "{one}");
    assert_eq!(one["with_measures_applied"], 1, "{one}");
    let none = stats(format!("{march}&region=220521")).await;
    assert_eq!(none["checks"], 0, "{none}");
    assert_eq!(none["by_field"], json!([]));
    // A receipt moved into March behind the service's back is not in March's kept counts (the
    // documented rule: an ended day's receipts do not change) until its day is counted again.
    move_to_march(&late);
    assert_eq!(stats(march.clone()).await["checks"], 2);
    // Feedback on that receipt finds it missing from its day's kept groups: the day is forgotten
    // and counted again at the next request, the moved receipt and its feedback included.
    let res = app
        .post(
            &format!("/api/v1/credit-checks/{}/feedback", late["check_id"]),
            &s.approver.token,
            json!({"decision": "approved", "measures_applied": [], "note": "", "decided_at": "2026-11-28T08:00:00"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(kept_days(march_days), 30, "10 March forgotten");
    let recounted = stats(march.clone()).await;
    assert_eq!(recounted["checks"], 3, "{recounted}");
    assert_eq!(recounted["with_feedback"], 3, "{recounted}");
    assert_eq!(kept_days(march_days), 31);
    forget();
    assert_eq!(stats(march.clone()).await, recounted);
}

/// The days just ended are counted by the server itself (at start, then every hour), and a
/// month's figures add its kept days to the current day's receipts, counted from the receipts.
#[tokio::test]
async fn stats_of_the_open_month_add_kept_days_to_the_current_day() {
    use chrono::Datelike;
    use credit_lists::checks::usage::{RECENT_DAYS, SETTLED_AFTER};
    use credit_lists::schema::{check_day_counts, check_days_counted};
    // The last day counted at start is the one before this (or the next, past 01:00 UTC+8).
    let settled_end = (chrono::Utc::now().naive_utc() - SETTLED_AFTER + Duration::hours(8)).date();
    let s = setup().await;
    let app = &s.f.app;
    let recent = (
        settled_end - chrono::Days::new(RECENT_DAYS - 1),
        settled_end - chrono::Days::new(1),
    );
    let counted = |(from, to): (chrono::NaiveDate, chrono::NaiveDate)| {
        check_days_counted::table
            .filter(check_days_counted::day.between(from, to))
            .count()
            .get_result::<i64>(&mut *app.conn())
            .unwrap()
    };
    wait_until("the days just ended were not counted at start", || {
        counted(recent) >= RECENT_DAYS as i64 - 1
    })
    .await;
    let moved = check(&s, &uscc(631), "bidding").await;
    check(&s, &uscc(632), "bidding").await;
    check(&s, &uscc(633), "government_procurement").await;
    let admin = app.admin().await;
    let stats = |query: String| usage_stats(app, &admin.token, query);
    let now = today();
    let this = stats(format!("year={}&month={}", now.year(), now.month())).await;
    assert_eq!(this["checks"], 3, "{this}");
    // One receipt moved to the day before yesterday (noon UTC+8), a day counted at start.
    let day = now - chrono::Days::new(2);
    redate_receipt(
        app,
        moved["check_id"].as_i64().unwrap(),
        day.and_hms_opt(4, 0, 0).unwrap(),
    );
    let same_month = day.month() == now.month();
    let month_of_day = format!("year={}&month={}", day.year(), day.month());
    // The kept (empty) day is read, not its receipts: the moved receipt is not seen ...
    let v = stats(month_of_day.clone()).await;
    assert_eq!(v["checks"], if same_month { 2 } else { 0 }, "{v}");
    // ... until the day is counted again; the current day still comes from the receipts.
    diesel::delete(check_days_counted::table.find(day))
        .execute(&mut *app.conn())
        .unwrap();
    let v = stats(month_of_day.clone()).await;
    assert_eq!(v["checks"], if same_month { 3 } else { 1 }, "{v}");
    assert_eq!(counted((day, day)), 1, "counted again and kept");
    let kept = check_day_counts::table
        .filter(check_day_counts::day.eq(day))
        .select((check_day_counts::field, check_day_counts::checks))
        .load::<(String, i64)>(&mut *app.conn())
        .unwrap();
    assert_eq!(kept, vec![("bidding".to_string(), 1)]);
    let year = stats(format!("year={}", day.year())).await;
    assert_eq!(
        year["checks"],
        if day.year() == now.year() { 3 } else { 1 },
        "{year}"
    );
}

/// Days older than the last 31 are counted in the background too, a month of them at a time
/// working backwards from the newest not yet counted (after an upgrade, or receipts restored).
#[tokio::test]
async fn older_days_are_counted_in_the_background_a_month_at_a_time() {
    use chrono::Datelike;
    use credit_lists::schema::{check_day_counts, check_days_counted};
    let s = setup().await;
    let app = &s.f.app;
    let forty = check(&s, &uscc(641), "bidding").await;
    let hundred = check(&s, &uscc(642), "bidding").await;
    let admin = app.admin().await;
    // The read stores every receipt in the table (and counts only this month's days).
    let now = today();
    usage_stats(
        app,
        &admin.token,
        format!("year={}&month={}", now.year(), now.month()),
    )
    .await;
    let moved = |check: &Value, days: u64| {
        let day = now - chrono::Days::new(days);
        redate_receipt(
            app,
            check["check_id"].as_i64().unwrap(),
            day.and_hms_opt(4, 0, 0).unwrap(),
        );
        day
    };
    // This instance's own count at start is over (the last 31 days; no older receipt then).
    wait_for_the_start_count(app).await;
    let day_40 = moved(&forty, 40);
    let day_100 = moved(&hundred, 100);
    let counted = |day: chrono::NaiveDate| {
        check_days_counted::table
            .find(day)
            .count()
            .get_result::<i64>(&mut *app.conn())
            .unwrap()
            == 1
    };
    assert!(!counted(day_40) && !counted(day_100));
    // Another instance on the same database counts at its start: the last 31 days, then the 31
    // before them (40 days ago among them), not yet 100 days ago.
    let _other = spawn_on(&app.db_url, |_| {}).await;
    wait_until(
        "the days before the last 31 were not counted at start",
        || counted(day_40),
    )
    .await;
    let kept = |day: chrono::NaiveDate| {
        check_day_counts::table
            .filter(check_day_counts::day.eq(day))
            .select((check_day_counts::field, check_day_counts::checks))
            .load::<(String, i64)>(&mut *app.conn())
            .unwrap()
    };
    assert_eq!(kept(day_40), vec![("bidding".to_string(), 1)]);
    assert!(
        counted(day_40 - chrono::Days::new(10)),
        "a month of days, not one"
    );
    assert!(!counted(day_100), "one month a pass, not all at once");
    // While older days are not counted, an instance counts a month of them every
    // `check_counts_catch_up_secs` (a minute by default) rather than every hour: 100 days ago is
    // two passes back from what the instances above counted.
    let _third = spawn_on(&app.db_url, |s| s.check_counts_catch_up_secs = 1).await;
    wait_until(
        "older days were not counted by the passes that follow",
        || counted(day_100),
    )
    .await;
    assert_eq!(kept(day_100), vec![("bidding".to_string(), 1)]);
}

async fn feed(app: &TestApp, token: &str, after: &Value) -> Value {
    let path = match after.as_i64() {
        Some(a) => format!("/api/v1/watches/notifications?after={a}"),
        None => "/api/v1/watches/notifications".to_string(),
    };
    let res = app.get(&path, token).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn events(v: &Value) -> Vec<(String, i64)> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["event"].as_str().unwrap().to_string(),
                n["entry_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn watchers_get_each_notification_once_per_cursor_walk() {
    let s = setup().await;
    let app = &s.f.app;
    let (a, b, other) = (uscc(701), id_number(702), uscc(703));
    let res = app
        .post(
            "/api/v1/watches",
            &s.approver.token,
            json!({"subject_codes": [a, b]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let w: Value = res.json().await.unwrap();
    assert_eq!(w["items"][1]["subject_code"], b);
    let res = app
        .post(
            "/api/v1/watches",
            &s.approver.token,
            json!({"subject_codes": ["91350211M00013FA1N"]}),
        )
        .await;
    let body = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_subject_code",
    )
    .await;
    assert_eq!(problem_fields(&body), vec!["subject_codes[0]"]);

    let first = feed(app, &s.approver.token, &Value::Null).await;
    assert_eq!(first["items"], json!([]));
    let ea = listed(&s, "black", &a, "HEI-W1").await;
    let eb = listed(&s, "black", &b, "HEI-W2").await;
    listed(&s, "black", &other, "HEI-W3").await;
    let v = feed(app, &s.approver.token, &first["next_cursor"]).await;
    assert_eq!(
        events(&v),
        vec![("published".into(), ea), ("published".into(), eb)]
    );
    assert_eq!(v["items"][1]["subject_code"], b);
    let cursor = v["next_cursor"].clone();
    assert_eq!(
        feed(app, &s.approver.token, &cursor).await["items"],
        json!([])
    );
    // Removal and expiry.
    let res = app
        .post(
            &format!("/api/v1/list-entries/{ea}/remove"),
            &s.f.tax.token,
            json!({"reason": "revoked", "note": "撤销"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    {
        use credit_lists::schema::list_entries;
        diesel::update(list_entries::table.find(eb as i32))
            .set(list_entries::valid_until.eq(today() - Duration::days(1)))
            .execute(&mut *app.conn())
            .unwrap();
        // Expiries count from when the subject is watched: pretend the watch is older.
        use credit_lists::schema::watches;
        diesel::update(watches::table)
            .set(watches::created_at.eq(chrono::Utc::now().naive_utc() - Duration::days(3)))
            .execute(&mut *app.conn())
            .unwrap();
    }
    let v = feed(app, &s.approver.token, &cursor).await;
    assert_eq!(
        events(&v),
        vec![("removed".into(), ea), ("expired".into(), eb)]
    );
    let cursor2 = v["next_cursor"].clone();
    assert_eq!(
        feed(app, &s.approver.token, &cursor2).await["items"],
        json!([])
    );
    // A full walk from the start sees each exactly once.
    let all = feed(app, &s.approver.token, &Value::Null).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    // Other watchers see nothing of this.
    let other_sys = app
        .account("other-system", Role::ApprovalSystem, None, None)
        .await;
    assert_eq!(
        feed(app, &other_sys.token, &Value::Null).await["items"],
        json!([])
    );
}

#[tokio::test]
async fn a_black_listing_is_seen_at_once_by_the_instance_that_made_it() {
    let s = setup().await;
    let a = uscc(801);
    // Answer once (from the index when it is fresh, else the database) before the change.
    assert_eq!(check(&s, &a, "bidding").await["advice"], "normal");
    listed(&s, "black", &a, "HEI-2I").await;
    // This instance committed the change: its index may not answer before catching up.
    let v = check(&s, &a, "bidding").await;
    assert_eq!(v["advice"], "restrict", "{v}");
}

fn index_answers(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("credit_lists_check_codes_total{source=\"index\"} "))
        .map(|n| n.trim().parse().unwrap())
        .unwrap_or(0)
}

/// Another instance in its own process (its own index, its own count of local commits): a
/// black-listing committed through the first restricts the second's checks once the stated bound
/// (`MAX_STALENESS`) has passed.
#[tokio::test]
async fn a_black_listing_through_one_instance_restricts_another_within_the_bound() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) =
        crate::process::start_server_with(&s.f.app.db_url, dir.path(), false);
    let client = reqwest::Client::new();
    let a = uscc(802);
    let check_there = |code: String| {
        let (client, address, token) = (client.clone(), address.clone(), s.approver.token.clone());
        async move {
            let res = client
                .post(format!("{address}/api/v1/credit-checks"))
                .bearer_auth(token)
                .json(&json!({"subject_code": code, "field": "bidding"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            res.json::<Value>().await.unwrap()
        }
    };
    // Until the second instance's index has loaded and answers by itself.
    let mut answered = 0;
    for _ in 0..100 {
        assert_eq!(check_there(a.clone()).await["advice"], "normal");
        let m = client
            .get(format!("{address}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        answered = index_answers(&m);
        if answered > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        answered > 0,
        "the second instance never answered from its index"
    );
    listed(&s, "black", &a, "HEI-2J").await;
    tokio::time::sleep(
        credit_lists::checks::index::MAX_STALENESS + std::time::Duration::from_millis(50),
    )
    .await;
    let v = check_there(a.clone()).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(v["advice"], "restrict", "{v}");
}

/// The in-memory index and the database path give the same answers (apart from the receipt's id
/// and time): red, black, both, under objection, an individual, unknown codes.
#[tokio::test]
async fn the_index_and_the_database_give_the_same_answers() {
    let s = setup().await;
    let (red, black, both, person) = (uscc(811), uscc(812), uscc(813), id_number(814));
    listed(&s, "red", &red, "HONG-11").await;
    listed(&s, "black", &black, "HEI-12").await;
    listed(&s, "red", &both, "HONG-13").await;
    listed(&s, "black", &both, "HEI-13").await;
    listed(&s, "black", &person, "HEI-14").await;
    let codes = json!([red, black, both, person, uscc(815), id_number(816)]);
    let plain = spawn_on(&s.f.app.db_url, |st| st.check_index = false).await;
    let strip = |v: Value| -> Vec<Value> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut c = r["check"].clone();
                let m = c.as_object_mut().unwrap();
                m.remove("check_id");
                m.remove("checked_at");
                // Signed over the receipt's id and time (issue 24).
                m.remove("proof");
                c
            })
            .collect()
    };
    let body = json!({"subject_codes": codes, "field": "government_procurement"});
    let token = s.approver.token.clone();
    let expected = strip(batch_on(&plain, &token, &body).await);
    assert_eq!(expected[2]["advice"], "restrict");
    assert_eq!(expected[0]["advice"], "green_channel");
    // Other tests in this process commit writes all the time, which makes the index step aside
    // until it has caught up: ask until the index itself answered the whole batch.
    for _ in 0..200 {
        let before = index_answers_of(&s.f.app).await;
        let got = strip(batch_on(&s.f.app, &token, &body).await);
        if index_answers_of(&s.f.app).await >= before + 6 {
            assert_eq!(got, expected);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the index never answered the batch");
}

/// Two instances on one database, checking at the same time: on SQLite each keeps its own receipt
/// log and gives ids from its own reserved blocks. Every receipt gets its own id, is readable
/// through either instance, and is counted once.
#[tokio::test]
async fn checks_through_two_instances_at_once_get_distinct_receipts() {
    let s = setup().await;
    let other = spawn_on(&s.f.app.db_url, |_| {}).await;
    let admin = s.f.app.admin().await;
    let before = receipts(&s.f.app, &admin.token).await;
    let token = s.approver.token.clone();
    let body = |from: u32| json!({"subject_codes": (from..from + 25).map(uscc).collect::<Vec<_>>(), "field": "bidding"});
    let (body_a, body_b) = (body(900), body(950));
    let (a, b) = tokio::join!(
        batch_on(&s.f.app, &token, &body_a),
        batch_on(&other, &token, &body_b)
    );
    let ids = |v: &Value| -> Vec<i64> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["check"]["check_id"].as_i64().unwrap())
            .collect()
    };
    let (ids_a, ids_b) = (ids(&a), ids(&b));
    let all: std::collections::BTreeSet<i64> = ids_a.iter().chain(&ids_b).copied().collect();
    assert_eq!(all.len(), 50, "{ids_a:?} {ids_b:?}");
    // Each through the instance that answered it (which waits for its own receipts), then through
    // the other.
    for (id, first, second) in ids_a
        .iter()
        .map(|id| (id, &s.f.app, &other))
        .chain(ids_b.iter().map(|id| (id, &other, &s.f.app)))
    {
        for app in [first, second] {
            let res = app
                .get(&format!("/api/v1/credit-checks/{id}"), &token)
                .await;
            assert_eq!(res.status(), StatusCode::OK, "receipt {id}");
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["check_id"].as_i64(), Some(*id));
        }
    }
    assert_eq!(receipts(&s.f.app, &admin.token).await, before + 50);
}

pub async fn batch_on(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app
        .post("/api/v1/credit-checks/batch", token, body.clone())
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()
}

pub async fn index_answers_of(app: &TestApp) -> u64 {
    let url = format!("{}/metrics", app.address);
    index_answers(
        &app.client
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
}

/// Receipts are found by subject through a bucket (the lookup key's last byte modulo 8, see
/// `checks::receipt_queue::subject_bucket`): subjects that share a bucket must still be told apart, an
/// individual's ID number is searched by its lookup hash, and the stored bucket is the one the
/// search computes.
#[tokio::test]
async fn receipts_are_found_by_subject_exactly_among_subjects_of_the_same_bucket() {
    use credit_lists::checks::receipt_queue::subject_bucket;
    use credit_lists::schema::credit_checks;
    let s = setup().await;
    let app = &s.f.app;
    let a = uscc(501);
    // Another code whose key ends in a byte of the same bucket.
    let b = (502..600)
        .map(uscc)
        .find(|c| subject_bucket(c) == subject_bucket(&a))
        .expect("a code in the same bucket");
    let person = id_number(77);
    let first = check(&s, &a, "bidding").await;
    let second = check(&s, &a, "administrative_licensing").await;
    let other = check(&s, &b, "bidding").await;
    let individual = check(&s, &person, "bidding").await;
    let bureau = app
        .account("bureau", Role::Bureau, None, Some("220500"))
        .await;
    let ids = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["check_id"].as_i64().unwrap())
            .collect()
    };
    let list = |code: String| {
        let token = bureau.token.clone();
        async move {
            let res = app
                .get(&format!("/api/v1/credit-checks?subject={code}"), &token)
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.unwrap()
        }
    };
    let v = list(a.clone()).await;
    assert_eq!(v["total"], 2, "{v}");
    assert_eq!(
        ids(&v),
        vec![
            second["check_id"].as_i64().unwrap(),
            first["check_id"].as_i64().unwrap()
        ],
        "newest first"
    );
    let v = list(b.clone()).await;
    assert_eq!(ids(&v), vec![other["check_id"].as_i64().unwrap()]);
    let v = list(person.clone()).await;
    assert_eq!(ids(&v), vec![individual["check_id"].as_i64().unwrap()]);
    assert_ne!(
        v["items"][0]["subject_code"], person,
        "the number is masked"
    );
    let v = list(uscc(999)).await;
    assert_eq!(v["total"], 0);
    // Each stored bucket is the one computed from the stored key.
    let stored: Vec<(String, i32)> = credit_checks::table
        .select((credit_checks::subject_key, credit_checks::subject_bucket))
        .load(&mut *app.conn())
        .unwrap();
    assert_eq!(stored.len(), 4);
    // The migration filled in the receipts it found with SQL: the same bucket.
    let expr = if is_postgres() {
        "ascii(right(subject_key, 1)) % 8"
    } else {
        "unicode(substr(subject_key, -1)) % 8"
    };
    #[derive(QueryableByName)]
    struct Migrated {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        bucket: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        subject_key: String,
    }
    let migrated: Vec<Migrated> = diesel::sql_query(format!(
        "SELECT CAST({expr} AS INTEGER) AS bucket, subject_key FROM credit_checks"
    ))
    .load(&mut *app.conn())
    .unwrap();
    assert_eq!(migrated.len(), 4);
    for (key, bucket) in stored {
        assert_eq!(bucket, subject_bucket(&key), "{key}");
    }
    for m in migrated {
        assert_eq!(
            m.bucket,
            subject_bucket(&m.subject_key),
            "{}",
            m.subject_key
        );
    }
}

/// A punishment measure published before legal-basis levels were recorded (its basis now falls
/// short, `docs/lists.md`) keeps applying in checks until it is changed.
#[tokio::test]
async fn a_measure_published_before_levels_still_applies() {
    let s = setup().await;
    crate::four_lists::strip_levels(&s.f.app, s.punish);
    let item: Value =
        s.f.app
            .get(
                &format!("/api/v1/four-list-items/{}", s.punish),
                &s.f.tax.token,
            )
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(item["published_legal_basis_sufficient"], false, "{item}");
    let a = uscc(131);
    listed(&s, "black", &a, "HEI-OLD").await;
    let v = check(&s, &a, "government_procurement").await;
    assert_eq!(v["advice"], "restrict", "{v}");
    assert_eq!(measure_ids(&v), vec![s.punish]);
}

/// The receipt list's `total` (`GET /api/v1/credit-checks`) adds up the days kept for the usage
/// statistics and counts the rest (the current day; the first day with receipts, which may have
/// lost some since it was counted; filters the kept counts have no column for) from the receipts:
/// under every filter and scope it equals the number of receipts the list shows.
#[tokio::test]
async fn the_receipt_lists_total_is_the_number_of_receipts_it_lists() {
    use credit_lists::schema::check_days_counted;
    let s = setup().await;
    let app = &s.f.app;
    let county = app
        .account("county-approver", Role::ApprovalSystem, Some(4), None)
        .await;
    let county_bureau = app
        .account("county", Role::Bureau, None, Some("220521"))
        .await;
    let other = app
        .account("approver-2", Role::ApprovalSystem, None, None)
        .await;
    let admin = app.admin().await;
    let black = uscc(640);
    listed(&s, "black", &black, "HEI-T").await;
    let by = |token: &str, n: u32, field: &'static str| {
        let token = token.to_string();
        async move {
            check_on(app, &token, &uscc(n), field).await["check_id"]
                .as_i64()
                .unwrap()
        }
    };
    let first_a = by(&s.approver.token, 641, "bidding").await;
    let first_b = by(&s.approver.token, 642, "bidding").await;
    let restricted = check(&s, &black, "government_procurement").await["check_id"]
        .as_i64()
        .unwrap();
    let mid_county = by(&county.token, 643, "bidding").await;
    let late_county = by(&county.token, 644, "government_procurement").await;
    let late_tax = by(&s.f.tax.token, 645, "bidding").await;
    by(&s.approver.token, 646, "bidding").await;
    by(&county.token, 647, "bidding").await;
    // Two accounts' receipts in one group of a kept day but for the account.
    let twin_a = by(&s.approver.token, 648, "bidding").await;
    let twin_b = by(&other.token, 649, "bidding").await;
    assert_eq!(receipts(app, &admin.token).await, 10);
    // Days older than the ones the server counts at start (the last 31), so that none of them was
    // kept before its receipts arrived; that count is over before any receipt is moved there.
    wait_for_the_start_count(app).await;
    let now = today();
    let day = |n: u64| now - chrono::Days::new(n);
    let noon = |d: chrono::NaiveDate| d.and_hms_opt(4, 0, 0).unwrap();
    let d = |n: u64| day(n).format("%Y-%m-%d").to_string();
    for (id, d) in [
        (first_a, day(70)),
        (first_b, day(70)),
        (restricted, day(65)),
        (mid_county, day(65)),
        (late_county, day(60)),
        (late_tax, day(60)),
        (twin_a, day(60)),
        (twin_b, day(60)),
    ] {
        redate_receipt(app, id, noon(d));
    }
    let list = |token: String, query: String| async move {
        let res = app
            .get(
                &format!("/api/v1/credit-checks?per_page=200&{query}"),
                &token,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{query}");
        let v: Value = res.json().await.unwrap();
        let ids: Vec<i64> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["check_id"].as_i64().unwrap())
            .collect();
        assert_eq!(
            v["total"].as_i64().unwrap(),
            ids.len() as i64,
            "{query}: {v}"
        );
        ids
    };
    let kept = |from: chrono::NaiveDate, to: chrono::NaiveDate| {
        check_days_counted::table
            .filter(check_days_counted::day.between(from, to))
            .count()
            .get_result::<i64>(&mut *app.conn())
            .unwrap()
    };
    assert_eq!(kept(day(69), day(32)), 0);
    let all = list(admin.token.clone(), String::new()).await;
    assert_eq!(all.len(), 10);
    assert_eq!(
        kept(day(69), day(32)),
        0,
        "more days not kept than one request keeps: counted from their receipts"
    );
    // A list of fewer days keeps them; then the rest are few enough to be kept too.
    // Pages: newest first, each its slice of the whole, each with the whole's total.
    for (page, range) in [(1, 0..3), (2, 3..6), (4, 9..10), (5, 10..10)] {
        let v: Value = app
            .get(
                &format!("/api/v1/credit-checks?per_page=3&page={page}"),
                &admin.token,
            )
            .await
            .json()
            .await
            .unwrap();
        let ids: Vec<i64> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["check_id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, all[range], "page {page}");
        assert_eq!(v["total"], 10);
    }
    let month = format!("from={}&to={}", d(69), d(40));
    assert_eq!(list(admin.token.clone(), month).await.len(), 6);
    assert_eq!(kept(day(69), day(32)), 30);
    assert_eq!(list(admin.token.clone(), String::new()).await, all);
    assert_eq!(
        kept(day(69), day(32)),
        38,
        "the days after the first with receipts are kept"
    );
    assert_eq!(
        kept(day(70), day(70)),
        0,
        "the first day is counted each time"
    );
    let sizes = [
        ("field=bidding".to_string(), 8),
        ("field=government_procurement".to_string(), 2),
        ("advice=restrict".to_string(), 1),
        ("region_code=220521".to_string(), 3),
        (format!("from={}", d(65)), 8),
        (format!("from={}", d(64)), 6),
        (format!("to={}", d(65)), 4),
        (format!("from={}&to={}", d(70), d(70)), 2),
        (format!("from={}&to={}", d(65), d(60)), 6),
        (format!("from={}&to={}", d(59), d(1)), 0),
        (format!("from={}&field=bidding", d(70)), 8),
        (format!("to={}&region_code=220521", d(65)), 1),
        (format!("from={}&to={}", d(60), d(65)), 0),
        (format!("caller={}", county.id), 3),
        (format!("caller={}&from={}", county.id, d(61)), 2),
        (format!("caller={}", s.approver.id), 5),
        (format!("caller={}&from={}", other.id, d(61)), 1),
        (format!("subject={}", uscc(641)), 1),
        (format!("subject={}&to={}", uscc(646), d(1)), 0),
        ("from=0001-01-01&to=9999-12-31".to_string(), 10),
        ("from=9999-12-31".to_string(), 0),
    ];
    for (query, n) in &sizes {
        assert_eq!(
            list(admin.token.clone(), query.clone()).await.len(),
            *n,
            "{query}"
        );
    }
    // Scopes: a county bureau its region, a department officer its department's checks.
    assert_eq!(
        list(county_bureau.token.clone(), String::new()).await.len(),
        3
    );
    assert_eq!(
        list(county_bureau.token.clone(), format!("to={}", d(60)))
            .await
            .len(),
        2
    );
    assert_eq!(
        list(county_bureau.token.clone(), "region_code=220500".into())
            .await
            .len(),
        0
    );
    assert_eq!(
        list(s.f.tax.token.clone(), String::new()).await,
        vec![late_tax]
    );
    // Feedback on a receipt of a kept day moves it within its own account's groups.
    let res = app
        .post(
            &format!("/api/v1/credit-checks/{twin_b}/feedback"),
            &other.token,
            json!({"decision": "approved", "measures_applied": [], "note": "", "decided_at": "2026-11-28T08:00:00"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for (caller, n) in [(s.approver.id, 3), (other.id, 1)] {
        let query = format!("caller={caller}&from={}", d(69));
        assert_eq!(list(admin.token.clone(), query).await.len(), n, "{caller}");
    }
    // A receipt of the first day gone behind the service's back (a month detached for
    // retention): the total follows, the first day being counted from the receipts.
    let gone = diesel::sql_query("DELETE FROM credit_checks WHERE id = $1")
        .bind::<diesel::sql_types::Integer, _>(first_a as i32)
        .execute(&mut *app.conn())
        .unwrap();
    assert_eq!(gone, 1);
    assert_eq!(list(admin.token.clone(), String::new()).await.len(), 9);
    assert_eq!(
        list(admin.token.clone(), "field=bidding".into()).await,
        list(admin.token.clone(), format!("field=bidding&from={}", d(80))).await,
    );
    // Both the first day's receipts gone: the next day with receipts is the first.
    diesel::sql_query("DELETE FROM credit_checks WHERE id = $1")
        .bind::<diesel::sql_types::Integer, _>(first_b as i32)
        .execute(&mut *app.conn())
        .unwrap();
    assert_eq!(list(admin.token.clone(), String::new()).await.len(), 8);
    assert_eq!(
        list(admin.token.clone(), format!("to={}", d(65))).await,
        vec![mid_county, restricted]
    );
    // The kept counts gone (an upgrade that drops them): more days to count than one request
    // keeps, so the total is counted from the receipts of those days and nothing is kept; a
    // list of a few days keeps them.
    {
        use credit_lists::schema::check_day_counts;
        let mut conn = app.conn();
        diesel::delete(check_day_counts::table)
            .execute(&mut *conn)
            .unwrap();
        diesel::delete(check_days_counted::table)
            .execute(&mut *conn)
            .unwrap();
    }
    assert_eq!(list(admin.token.clone(), String::new()).await.len(), 8);
    assert_eq!(
        list(admin.token.clone(), "field=bidding".into())
            .await
            .len(),
        6
    );
    assert_eq!(kept(day(70), day(1)), 0, "more than a request keeps");
    assert_eq!(
        list(admin.token.clone(), format!("from={}&to={}", d(64), d(60)))
            .await
            .len(),
        4
    );
    assert_eq!(kept(day(64), day(60)), 5, "a few days are kept");
    assert_eq!(kept(day(70), day(65)) + kept(day(59), day(1)), 0);
    assert_eq!(list(admin.token.clone(), String::new()).await.len(), 8);
    assert_eq!(
        list(admin.token.clone(), format!("to={}", d(65))).await,
        vec![mid_county, restricted]
    );
}
