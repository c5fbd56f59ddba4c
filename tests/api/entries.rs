use chrono::{Duration, NaiveDate};
use credit_lists::auth::Role;
use credit_lists::domain::{IdNumber, Uscc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::four_lists::{black_scope, create, publish, red_scope};
use crate::helpers::*;

pub fn today() -> NaiveDate {
    (chrono::Utc::now() + Duration::hours(8)).date_naive()
}

pub fn uscc(n: u32) -> String {
    Uscc::with_check_character(&format!("91220502MA{n:07}"))
        .unwrap()
        .as_str()
        .to_string()
}

pub fn id_number(seq: u32) -> String {
    IdNumber::with_check_character(&format!("22050219800101{seq:03}"))
        .unwrap()
        .as_str()
        .to_string()
}

pub struct Fixture {
    pub app: TestApp,
    pub tax: Account,
    pub black: i64,
    pub red: i64,
    pub minor: i64,
}

pub async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let black = create(&app, &tax.token, black_scope("HEI-1")).await["id"]
        .as_i64()
        .unwrap();
    let red = create(&app, &tax.token, red_scope("HONG-1")).await["id"]
        .as_i64()
        .unwrap();
    // A minor-tier item whose standard publishes its entries (for at most three months).
    let mut m = black_scope("HEI-MINOR");
    m["severity"] = json!("minor");
    m["publicly_disclosed"] = json!(true);
    m["subject_kinds"] = json!(["enterprise", "individual"]);
    let minor = create(&app, &tax.token, m).await["id"].as_i64().unwrap();
    for id in [black, red, minor] {
        publish(&app, &tax.token, id).await;
    }
    Fixture {
        app,
        tax,
        black,
        red,
        minor,
    }
}

/// A new entry determined ten days ago.
pub fn entry(list_type: &str, scope: i64, code: &str, doc: &str) -> Value {
    json!({
        "list_type": list_type,
        "subject_code": code,
        "subject_name": "通化市某某商贸有限公司",
        "legal_representative": "张三",
        "scope_item_id": scope,
        "document_number": doc,
        "determination_date": (today() - Duration::days(10)).to_string(),
        "facts": "虚开增值税专用发票"
    })
}

/// A local black entry without a word on its notice (告知) gets one given five days before its
/// determination and no statement (陈述申辩), so that it may be published. A body that names
/// `notice_date` (even as null) is sent as it is.
pub fn with_notice(mut body: Value) -> Value {
    let local_black = body["list_type"] == "black" && body["source"] != "national";
    if local_black && body.get("notice_date").is_none() {
        if let Some(d) = body["determination_date"]
            .as_str()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        {
            body["notice_date"] = json!((d - Duration::days(5)).to_string());
            body["statement_outcome"] = json!("none_received");
        }
    }
    body
}

pub async fn create_entry(app: &TestApp, token: &str, body: Value) -> Value {
    let res = app
        .post("/api/v1/list-entries", token, with_notice(body))
        .await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

pub async fn publish_entry(app: &TestApp, token: &str, id: i64) -> Value {
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/list-entries/{id}/publish"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn an_entry_goes_from_draft_to_published_to_removed() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let code = uscc(1);
    let e = create_entry(app, t, entry("black", f.black, &code, "通税罚〔2026〕1号")).await;
    assert_eq!(e["status"], "draft");
    assert_eq!(e["effective_status"], "draft");
    assert_eq!(e["in_force"], false);
    assert_eq!(e["subject"]["code"], code);
    assert_eq!(e["subject"]["kind"], "enterprise");
    assert_eq!(e["region_code"], "220502", "region read from the code");
    assert_eq!(e["scope_item_version"], 1);
    // Default validity: the tier's maximum (36 months) from the determination date, inclusive.
    let det = today() - Duration::days(10);
    let expected = det
        .checked_add_months(chrono::Months::new(36))
        .unwrap()
        .pred_opt()
        .unwrap();
    assert_eq!(e["valid_until"], expected.to_string());
    let id = e["id"].as_i64().unwrap();

    let public: Value = app
        .client
        .get(app.url("/api/v1/public/list-entries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(public["total"], 0, "drafts are not public");

    let p = publish_entry(app, t, id).await;
    assert_eq!(p["effective_status"], "in_force");
    assert_eq!(p["in_force"], true);
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/list-entries/{id}/publish"),
            Some(t),
            None,
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "not_a_draft").await;
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/list-entries/{id}"),
            Some(t),
            None,
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "not_a_draft").await;

    let public: Value = app
        .client
        .get(app.url("/api/v1/public/list-entries?list_type=black"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(public["total"], 1);

    // Reserved reasons and a missing note are refused.
    let res = app
        .post(
            &format!("/api/v1/list-entries/{id}/remove"),
            t,
            json!({"reason": "repaired", "note": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "reserved_reason").await;
    let res = app
        .post(
            &format!("/api/v1/list-entries/{id}/remove"),
            t,
            json!({"reason": "revoked", "note": " "}),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .post(
            &format!("/api/v1/list-entries/{id}/remove"),
            t,
            json!({"reason": "revoked", "note": "行政复议撤销原处罚决定"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["effective_status"], "removed");
    assert_eq!(r["removal_reason"], "revoked");
    let res = app
        .post(
            &format!("/api/v1/list-entries/{id}/remove"),
            t,
            json!({"reason": "revoked", "note": "again"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "not_in_force").await;

    // Removals are published as removals.
    let public: Value = app
        .client
        .get(app.url("/api/v1/public/list-entries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(public["total"], 0);
    let removed: Value = app
        .client
        .get(app.url("/api/v1/public/list-entries?status=removed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(removed["total"], 1);
    assert_eq!(removed["items"][0]["removal_reason"], "revoked");

    let history: Value = app
        .get(&format!("/api/v1/list-entries/{id}/history"), t)
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
    assert_eq!(
        actions,
        vec![
            "list_entry.create",
            "list_entry.publish",
            "list_entry.remove"
        ]
    );
}

#[tokio::test]
async fn expiry_is_computed_on_read_at_the_boundary_day() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let mut last_day_today = entry("black", f.minor, &uscc(2), "D-1");
    last_day_today["valid_until"] = json!(today().to_string());
    let mut ended_yesterday = entry("black", f.minor, &uscc(3), "D-2");
    ended_yesterday["valid_until"] = json!((today() - Duration::days(1)).to_string());
    let a = create_entry(app, t, last_day_today).await["id"]
        .as_i64()
        .unwrap();
    let b = create_entry(app, t, ended_yesterday).await["id"]
        .as_i64()
        .unwrap();
    let a = publish_entry(app, t, a).await;
    let b = publish_entry(app, t, b).await;
    assert_eq!(
        a["effective_status"], "in_force",
        "the last day is still in force"
    );
    assert_eq!(b["effective_status"], "expired");
    assert_eq!(b["in_force"], false);
    assert_eq!(b["removal_reason"], "expired");
    let in_force: Value = app
        .get("/api/v1/list-entries?status=in_force", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(in_force["total"], 1);
    assert_eq!(in_force["items"][0]["id"], a["id"]);
    let expired: Value = app
        .get("/api/v1/list-entries?status=expired", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(expired["total"], 1);
    let public: Value = app
        .client
        .get(app.url("/api/v1/public/list-entries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(public["total"], 1);
    let removed: Value = app
        .client
        .get(app.url("/api/v1/public/list-entries?status=removed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(removed["items"][0]["removal_reason"], "expired");
    // An expired entry cannot be removed again.
    let res = app
        .post(
            &format!("/api/v1/list-entries/{}/remove", b["id"]),
            t,
            json!({"reason": "revoked", "note": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "not_in_force").await;
}

#[tokio::test]
async fn black_listing_removes_red_entries_in_force_in_the_same_transaction() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let code = uscc(4);
    let red = create_entry(app, t, entry("red", f.red, &code, "R-1")).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(app, t, red).await;
    let black = create_entry(app, t, entry("black", f.black, &code, "B-1")).await["id"]
        .as_i64()
        .unwrap();
    // A draft black entry changes nothing yet.
    let r: Value = app
        .get(&format!("/api/v1/list-entries/{red}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["effective_status"], "in_force");
    publish_entry(app, t, black).await;
    let r: Value = app
        .get(&format!("/api/v1/list-entries/{red}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["effective_status"], "removed");
    assert_eq!(r["removal_reason"], "black_listed_while_red");
    assert_eq!(r["removal_date"], today().to_string());
    let profile: Value = app
        .get(&format!("/api/v1/subjects/{code}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["red_in_force"], json!([]));
    assert_eq!(profile["black_in_force"], json!([black]));
    // Yesterday the red entry was in force and the black one too (determined 10 days ago).
    let y = (today() - Duration::days(1)).to_string();
    let past: Value = app
        .get(&format!("/api/v1/subjects/{code}?as_of={y}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(past["red_in_force"], json!([red]));
}

#[tokio::test]
async fn as_of_reads_answer_what_was_in_force_on_a_day() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let code = uscc(5);
    let mut body = entry("black", f.black, &code, "A-1");
    body["determination_date"] = json!((today() - Duration::days(100)).to_string());
    let id = create_entry(app, t, body).await["id"].as_i64().unwrap();
    publish_entry(app, t, id).await;
    let removal = today() - Duration::days(20);
    let body = json!({"reason": "objection_upheld", "note": "异议成立", "removal_date": removal.to_string()});
    // A removal on a past day is back-dating: a department officer may not, a bureau may, and
    // the audit trail marks it.
    let res = app
        .post(
            &format!("/api/v1/list-entries/{id}/remove"),
            t,
            body.clone(),
        )
        .await;
    let p = assert_problem(res, StatusCode::FORBIDDEN, "backdating_not_allowed").await;
    assert_eq!(p["errors"][0]["field"], "removal_date");
    let city = app
        .account("city-bureau", Role::Bureau, None, Some("220500"))
        .await;
    let res = app
        .post(
            &format!("/api/v1/list-entries/{id}/remove"),
            &city.token,
            body,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let marked: Value = app
        .get(
            &format!("/api/v1/audit-log?backdated=true&entity_type=list_entry&entity_id={id}"),
            &city.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        marked["items"][0]["action"], "list_entry.remove",
        "{marked}"
    );
    assert_eq!(
        marked["items"][0]["after"]["effective_date"],
        removal.to_string()
    );
    for (days_ago, in_force) in [
        (101, false),
        (100, true),
        (21, true),
        (20, false),
        (0, false),
    ] {
        let day = today() - Duration::days(days_ago);
        let p: Value = app
            .get(&format!("/api/v1/subjects/{code}?as_of={day}"), t)
            .await
            .json()
            .await
            .unwrap();
        let expected = if in_force { json!([id]) } else { json!([]) };
        assert_eq!(p["black_in_force"], expected, "{days_ago} days ago");
    }
    let res = app
        .get(&format!("/api/v1/subjects/{code}?as_of=yesterday"), t)
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn invalid_codes_and_dates_are_422_naming_the_field_and_write_nothing() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let before = app.audit_count();
    let good = uscc(6);
    let bad_check = format!(
        "{}{}",
        &good[..17],
        if good.ends_with('0') { '1' } else { '0' }
    );
    let mut cases: Vec<(Value, &str, &str)> = Vec::new();
    let mut b = entry("black", f.black, &bad_check, "X-1");
    cases.push((b.clone(), "subject_code", "invalid_subject_code"));
    b["subject_code"] = json!("91220502MA000000I1");
    cases.push((b.clone(), "subject_code", "invalid_subject_code"));
    b["subject_code"] = json!("110105194902310020");
    cases.push((b.clone(), "subject_code", "invalid_subject_code"));
    let mut b = entry("black", f.black, &good, "X-2");
    b["determination_date"] = json!((today() + Duration::days(1)).to_string());
    cases.push((b, "determination_date", "validation_failed"));
    let mut b = entry("black", f.black, &good, "X-3");
    b["valid_from"] = json!(today().to_string());
    b["valid_until"] = json!((today() - Duration::days(1)).to_string());
    cases.push((b, "valid_until", "before_valid_from"));
    let mut b = entry("black", f.black, &good, "X-4");
    b["valid_until"] = json!((today() + Duration::days(3650)).to_string());
    cases.push((b, "valid_until", "beyond_publication_period"));
    let mut b = entry("black", f.black, &good, "X-5");
    b["valid_until"] = json!((today() + Duration::days(30)).to_string());
    cases.push((b, "valid_until", "below_publication_period"));
    cases.push((
        entry("black", f.red, &good, "X-6"),
        "scope_item_id",
        "wrong_kind",
    ));
    cases.push((
        entry("black", 99999, &good, "X-7"),
        "scope_item_id",
        "unknown_item",
    ));
    let mut b = entry("black", f.black, &good, "X-8");
    b["legal_representative_id"] = json!("110105194912310021");
    cases.push((b, "legal_representative_id", "validation_failed"));
    let mut b = entry("black", f.black, &id_number(1), "X-9");
    b["subject_kind"] = json!("enterprise");
    cases.push((b, "subject_kind", "kind_mismatch"));
    let b = entry("red", f.red, &id_number(2), "X-10");
    cases.push((b, "subject_kind", "kind_not_covered"));
    for (body, field, code) in cases {
        let res = app.post("/api/v1/list-entries", t, body.clone()).await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, code).await;
        assert!(
            problem_fields(&p).contains(&field.to_string()),
            "{field}: {p}"
        );
    }
    let res = app
        .post("/api/v1/list-entries", t, json!({"list_type": "grey"}))
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(app.audit_count(), before, "nothing written");
    let page: Value = app
        .get("/api/v1/list-entries", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 0);
}

#[tokio::test]
async fn a_known_bad_check_character_needs_a_bureau_acknowledgement_and_stays_flagged() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let mut body = entry("black", f.black, "91350211M00013FA1N", "K-1");
    body["acknowledge_invalid_checksum"] = json!(true);
    body["department_id"] = json!(DEPT_TAX);
    assert_problem(
        app.post("/api/v1/list-entries", t, body.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let city = app
        .account("city", Role::Bureau, None, Some("220500"))
        .await;
    let e = create_entry(app, &city.token, body).await;
    assert_eq!(e["subject"]["code_flagged"], true);
    assert_eq!(
        e["region_code"], "220500",
        "a code from elsewhere takes the department's region"
    );
}

#[tokio::test]
async fn scope_rules_for_departments_and_bureaus() {
    let f = fixture().await;
    let app = &f.app;
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let county = app
        .account("county", Role::Bureau, None, Some("220521"))
        .await;
    let city = app
        .account("city", Role::Bureau, None, Some("220500"))
        .await;
    let machine = app
        .account("machine", Role::ApprovalSystem, None, None)
        .await;
    // Another department cannot identify for tax, nor cite tax's scope items for itself.
    let mut b = entry("black", f.black, &uscc(7), "S-1");
    b["department_id"] = json!(DEPT_TAX);
    assert_problem(
        app.post("/api/v1/list-entries", &scjg.token, b).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let b = entry("black", f.black, &uscc(7), "S-2");
    let p = assert_problem(
        app.post("/api/v1/list-entries", &scjg.token, b).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "other_department",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["scope_item_id"]);
    // The city bureau may cite tax's scope for market regulation (both city departments).
    let mut b = entry("black", f.black, &uscc(7), "S-3");
    b["department_id"] = json!(DEPT_SCJG);
    let e = create_entry(app, &city.token, b).await;
    let id = e["id"].as_i64().unwrap();
    // The draft is invisible and untouchable for others.
    for who in [&f.tax, &county] {
        assert_problem(
            app.get(&format!("/api/v1/list-entries/{id}"), &who.token)
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert_eq!(
        app.get(&format!("/api/v1/list-entries/{id}"), &scjg.token)
            .await
            .status(),
        StatusCode::OK
    );
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/list-entries/{id}/publish"),
            Some(&county.token),
            None,
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    publish_entry(app, &scjg.token, id).await;
    // Published: readable by staff, but only managers may remove it.
    assert_eq!(
        app.get(&format!("/api/v1/list-entries/{id}"), &f.tax.token)
            .await
            .status(),
        StatusCode::OK
    );
    let res = app
        .post(
            &format!("/api/v1/list-entries/{id}/remove"),
            &f.tax.token,
            json!({"reason": "revoked", "note": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .post(
            &format!("/api/v1/list-entries/{id}/remove"),
            &county.token,
            json!({"reason": "revoked", "note": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Approval systems use credit checks; anonymous callers the public endpoints.
    assert_problem(
        app.get("/api/v1/list-entries", &machine.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get(&format!("/api/v1/subjects/{}", uscc(7)), &machine.token)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.client
            .get(app.url("/api/v1/list-entries"))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn duplicates_are_conflicts_and_drafts_can_be_discarded() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let e = create_entry(app, t, entry("black", f.black, &uscc(8), "DUP-1")).await;
    let res = app
        .post(
            "/api/v1/list-entries",
            t,
            entry("black", f.black, &uscc(8), "DUP-1"),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "duplicate_entry").await;
    let id = e["id"].as_i64().unwrap();
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/list-entries/{id}"),
            Some(t),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&format!("/api/v1/list-entries/{id}"), t).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // The discarded draft frees the document number.
    create_entry(app, t, entry("black", f.black, &uscc(8), "DUP-1")).await;
}

#[tokio::test]
async fn personal_id_numbers_are_masked_in_public_and_in_the_trail_and_encrypted_at_rest() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let person = id_number(7);
    let rep = id_number(8);
    let mut b = entry("black", f.black, &person, "P-1");
    b["subject_name"] = json!("李四");
    b["legal_representative_id"] = json!(rep);
    let e = create_entry(app, t, b).await;
    assert_eq!(e["subject"]["code"], person, "staff see the full number");
    assert_eq!(e["subject"]["kind"], "individual");
    assert_eq!(
        e["legal_representative_id"],
        format!("{}********{}", &rep[..6], &rep[14..])
    );
    publish_entry(app, t, e["id"].as_i64().unwrap()).await;
    let masked = format!("{}********{}", &person[..6], &person[14..]);
    let public = app
        .client
        .get(app.url("/api/v1/public/list-entries"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(public.contains(&masked), "{public}");
    assert!(
        !public.contains(&person) && !public.contains(&rep[6..14]),
        "{public}"
    );
    // Found by the full number through the keyed hash.
    let p: Value = app
        .get(&format!("/api/v1/subjects/{person}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["black_in_force"].as_array().unwrap().len(), 1);
    let page: Value = app
        .get(&format!("/api/v1/list-entries?subject={person}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    // Nowhere in the database in clear.
    use credit_lists::schema::{audit_log, list_entries, subjects};
    use diesel::prelude::*;
    let mut conn = app.conn();
    let trail: Vec<Option<String>> = audit_log::table
        .select(audit_log::after_json)
        .load(&mut *conn)
        .unwrap();
    assert!(trail
        .iter()
        .flatten()
        .all(|j| !j.contains(&person) && !j.contains(&rep)));
    let subject_cols: Vec<(String, Option<String>, Option<String>)> = subjects::table
        .select((
            subjects::lookup_key,
            subjects::id_number_enc,
            subjects::uscc,
        ))
        .load(&mut *conn)
        .unwrap();
    for (key, enc, uscc) in subject_cols {
        assert!(!key.contains(&person) && uscc.is_none());
        assert!(!enc.unwrap().contains(&person));
    }
    let reps: Vec<Option<String>> = list_entries::table
        .select(list_entries::legal_representative_id_enc)
        .load(&mut *conn)
        .unwrap();
    assert!(reps.iter().flatten().all(|r| !r.contains(&rep)));
}

#[tokio::test]
async fn subjects_are_searched_by_name_or_code() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let mut b = entry("black", f.black, &uscc(9), "Q-1");
    b["subject_name"] = json!("通化葡萄酒股份有限公司");
    create_entry(app, t, b).await;
    create_entry(app, t, entry("black", f.black, &uscc(10), "Q-2")).await;
    let r: Value = app
        .get("/api/v1/subjects?q=%E8%91%A1%E8%90%84%E9%85%92", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["total"], 1, "葡萄酒: {r}");
    let r: Value = app
        .get(&format!("/api/v1/subjects?q={}", uscc(10)), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["total"], 1);
    assert_eq!(r["items"][0]["name"], "通化市某某商贸有限公司");
    assert_problem(
        app.get("/api/v1/subjects?q=", t).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_problem(
        app.get("/api/v1/subjects/123", t).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_subject_code",
    )
    .await;
    assert_problem(
        app.get(&format!("/api/v1/subjects/{}", uscc(11)), t).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn demo_lists_are_seeded_once_and_consistent() {
    let app = spawn_app().await;
    let state = {
        // The same state the server uses: a second application on the same database.
        let settings = test_settings(&app.db_url);
        credit_lists::startup::Application::build(settings)
            .unwrap()
            .state
            .clone()
    };
    let mut conn = app.conn();
    credit_lists::demo::seed(&mut conn).unwrap();
    assert!(credit_lists::demo::lists::seed(&mut conn, &state).unwrap());
    assert!(
        !credit_lists::demo::lists::seed(&mut conn, &state).unwrap(),
        "second run creates nothing"
    );
    drop(conn);
    let res = app.login("demo-admin", "demo-admin-pass").await;
    let admin: Value = res.json().await.unwrap();
    let t = admin["access_token"].as_str().unwrap();
    let all: Value = app
        .get("/api/v1/list-entries?per_page=1", t)
        .await
        .json()
        .await
        .unwrap();
    // 320 generated, plus the national identifications that bring each county to its coverage.
    assert!(all["total"].as_i64().unwrap() > 320, "{all}");
    // The demo's year-end targets read like a real year: some counties meet each goal, some not.
    let year = today().format("%Y").to_string();
    let targets: Value = app
        .get(&format!("/api/v1/targets?year={year}"), t)
        .await
        .json()
        .await
        .unwrap();
    for figure in ["list_coverage", "training_rate", "commitment_ratio"] {
        let verdicts: Vec<&Value> = targets["regions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r[figure]["met"])
            .collect();
        assert!(verdicts.contains(&&json!(true)), "{figure}: {verdicts:?}");
        assert!(verdicts.contains(&&json!(false)), "{figure}: {verdicts:?}");
    }
    let declared = targets["regions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["list_coverage"]["baseline"] == "declared")
        .count();
    assert_eq!(declared, 1, "one county has a declared national count");
    assert_eq!(targets["notes"], json!([]), "the court's scope is special");
    for status in ["in_force", "expired", "removed", "draft"] {
        let page: Value = app
            .get(
                &format!("/api/v1/list-entries?per_page=1&status={status}"),
                t,
            )
            .await
            .json()
            .await
            .unwrap();
        assert!(page["total"].as_i64().unwrap() > 0, "some {status} entries");
    }
    let entries: Value = app
        .get("/api/v1/list-entries?per_page=200&status=in_force", t)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        entries["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["objection_open"] == true),
        "some open objections"
    );
    let national: Value = app
        .get("/api/v1/list-entries?per_page=1&source=national", t)
        .await
        .json()
        .await
        .unwrap();
    assert!(national["total"].as_i64().unwrap() > 0);
    let public: Value = app
        .client
        .get(app.url("/api/v1/public/four-list-items?per_page=200"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // 17 items: issue 23 added the court's measures in 行政许可 and 资质认定 and civil affairs'
    // list of social organisations.
    assert_eq!(public["total"], 17);
    let report: Value = app
        .get("/api/v1/audit-log/verify", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true);
}

#[tokio::test]
async fn objections_have_working_day_deadlines_and_resolve_once() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    credit_lists::calendar::seed_demo(&mut app.conn()).unwrap();
    let code = uscc(12);
    let id = create_entry(app, t, entry("black", f.black, &code, "O-1")).await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/list-entries/{id}/objections");
    // Not in force yet (a draft).
    let res = app
        .post(
            &path,
            t,
            json!({"raised_by": "企业", "grounds": "认定事实有误"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "not_in_force").await;
    publish_entry(app, t, id).await;
    let res = app
        .post(&path, t, json!({"raised_by": "通化市某某商贸有限公司", "grounds": "认定事实有误", "received_date": "2026-09-28"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let o: Value = res.json().await.unwrap();
    // 2026-09-28 is a Monday: two working days → Wednesday 30th. Ten: 29, 30, (1–7 October
    // National Day), 8, 9, 10 (Saturday make-up day), 12, 13, 14, 15, 16.
    assert_eq!(o["accept_deadline"], "2026-09-30");
    assert_eq!(o["verify_deadline"], "2026-10-16");
    assert_eq!(
        o["overdue"],
        today() > NaiveDate::from_ymd_opt(2026, 10, 16).unwrap()
    );
    let e: Value = app
        .get(&format!("/api/v1/list-entries/{id}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(e["objection_open"], true);
    let res = app
        .post(&path, t, json!({"raised_by": "x", "grounds": "y"}))
        .await;
    assert_problem(res, StatusCode::CONFLICT, "objection_open").await;
    // The public does not see objection details.
    let public = app
        .client
        .get(app.url("/api/v1/public/list-entries"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !public.contains("认定事实有误") && !public.contains("objection"),
        "{public}"
    );

    let oid = o["id"].as_i64().unwrap();
    let resolve = format!("{path}/{oid}/resolve");
    let res = app
        .post(
            &resolve,
            t,
            json!({"resolution": "dismissed", "reason": "  "}),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .post(
            &resolve,
            t,
            json!({"resolution": "dismissed", "reason": "经核实，认定事实清楚"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post(
            &resolve,
            t,
            json!({"resolution": "upheld", "reason": "again"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "already_resolved").await;
    let e: Value = app
        .get(&format!("/api/v1/list-entries/{id}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(e["objection_open"], false);
    assert_eq!(e["effective_status"], "in_force");

    // A second objection, upheld: the entry leaves the list.
    let o2: Value = app
        .post(&path, t, json!({"raised_by": "企业", "grounds": "新证据"}))
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .post(
            &format!("{path}/{}/resolve", o2["id"]),
            t,
            json!({"resolution": "upheld", "reason": "异议成立，撤销认定"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let e: Value = app
        .get(&format!("/api/v1/list-entries/{id}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(e["effective_status"], "removed");
    assert_eq!(e["removal_reason"], "objection_upheld");
    let list: Value = app.get(&path, t).await.json().await.unwrap();
    let statuses: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["dismissed", "upheld"]);
    // Another department may read but not record or resolve.
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    assert_eq!(app.get(&path, &scjg.token).await.status(), StatusCode::OK);
    let res = app
        .post(
            &format!("{path}/{oid}/resolve"),
            &scjg.token,
            json!({"resolution": "upheld", "reason": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .post(
            &format!("{path}/999/resolve"),
            t,
            json!({"resolution": "upheld", "reason": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

/// Dates outside 1949-10-01..=2100-12-31 (an entry once went out already expired with
/// `0000-01-01`) and control characters in names are 422 naming the field; nothing is written.
#[tokio::test]
async fn implausible_dates_and_control_characters_in_entries_are_refused() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let code = uscc(70);
    let published = create_entry(app, t, entry("black", f.black, &code, "P-1")).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(app, t, published).await;
    let before = app.audit_count();
    let with = |k: &str, v: Value| {
        let mut b = entry("red", f.red, &uscc(71), "D-1");
        b[k] = v;
        b
    };
    let cases = [
        (
            with("determination_date", json!("0000-01-01")),
            "determination_date",
            "out_of_range",
        ),
        (
            with("determination_date", json!("1949-09-30")),
            "determination_date",
            "out_of_range",
        ),
        (
            with("valid_from", json!("0001-01-01")),
            "valid_from",
            "out_of_range",
        ),
        (
            with("valid_until", json!("2101-01-01")),
            "valid_until",
            "out_of_range",
        ),
        (
            with("valid_until", json!("9999-12-31")),
            "valid_until",
            "out_of_range",
        ),
        (
            with("subject_name", json!("通化市\u{202e}司公限有")),
            "subject_name",
            "control_character",
        ),
        (
            with("subject_name", json!("通化市某某\n商贸有限公司")),
            "subject_name",
            "control_character",
        ),
        (
            with("document_number", json!("通税稽罚\u{0}〔2026〕12号")),
            "document_number",
            "control_character",
        ),
        (
            with("legal_representative", json!("张\u{9b}三")),
            "legal_representative",
            "control_character",
        ),
        (
            with("facts", json!("虚开\u{7}增值税专用发票")),
            "facts",
            "control_character",
        ),
        (
            with("internal_note", json!("内部\u{2067}备注")),
            "internal_note",
            "control_character",
        ),
    ];
    for (body, field, code) in cases {
        let res = app.post("/api/v1/list-entries", t, body).await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem_fields(&p), vec![field], "{p}");
        assert_eq!(p["errors"][0]["code"], code, "{p}");
    }
    // Removal and objection dates.
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/list-entries/{published}/remove"),
            Some(t),
            Some(json!({"reason": "revoked", "note": "撤销", "removal_date": "0000-01-01"})),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), vec!["removal_date"], "{p}");
    let res = app
        .post(
            &format!("/api/v1/list-entries/{published}/objections"),
            t,
            json!({"raised_by": "通化市某某商贸有限公司", "grounds": "认定事实有误", "received_date": "0000-01-01"}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), vec!["received_date"], "{p}");
    let res = app
        .post(
            &format!("/api/v1/list-entries/{published}/objections"),
            t,
            json!({"raised_by": "通化市某某\u{202e}商贸有限公司", "grounds": "认定事实有误"}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), vec!["raised_by"], "{p}");
    assert_eq!(app.audit_count(), before, "nothing written");
    // Free text keeps its line breaks and tabs.
    let e = create_entry(
        app,
        t,
        with(
            "facts",
            json!("一、虚开增值税专用发票；\n\t二、逃避追缴欠税。"),
        ),
    )
    .await;
    assert_eq!(e["facts"], "一、虚开增值税专用发票；\n\t二、逃避追缴欠税。");
}

/// The public list (anonymous): a page of entries, or of removals with `status=removed`.
async fn public_page(app: &TestApp, query: &str) -> Value {
    let res = app
        .client
        .get(app.url(&format!("/api/v1/public/list-entries{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn publicity_ends_and_removals_are_announced_briefly_without_the_facts() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    // In force: public with its facts and legal representative.
    let a = create_entry(app, t, entry("black", f.black, &uscc(41), "D-41")).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(app, t, a).await;
    let public = public_page(app, "").await;
    assert_eq!(public["total"], 1);
    assert_eq!(public["items"][0]["facts"], "虚开增值税专用发票");
    assert_eq!(public["items"][0]["legal_representative"], "张三");
    // Removed today (终止公示): gone from the list at once, announced with name, code, list, date
    // and reason only.
    let res = app
        .post(
            &format!("/api/v1/list-entries/{a}/remove"),
            t,
            json!({"reason": "revoked", "note": "行政复议撤销"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(public_page(app, "").await["total"], 0);
    // Removed 40 days ago, and expired 40 days ago: past the 30-day notice, no longer public.
    let mut old = entry("black", f.black, &uscc(42), "D-42");
    old["determination_date"] = json!((today() - Duration::days(100)).to_string());
    let b = create_entry(app, t, old).await["id"].as_i64().unwrap();
    publish_entry(app, t, b).await;
    let city = app
        .account("city-bureau", Role::Bureau, None, Some("220500"))
        .await;
    let res = app
        .post(
            &format!("/api/v1/list-entries/{b}/remove"),
            &city.token,
            json!({"reason": "revoked", "note": "撤销", "removal_date": (today() - Duration::days(40)).to_string()}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut expired_long_ago = entry("black", f.minor, &uscc(43), "D-43");
    expired_long_ago["determination_date"] = json!((today() - Duration::days(60)).to_string());
    expired_long_ago["valid_until"] = json!((today() - Duration::days(40)).to_string());
    let c = create_entry(app, t, expired_long_ago).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(app, t, c).await;
    // Expired five days ago: announced as an expiry.
    let mut expired_lately = entry("black", f.minor, &uscc(44), "D-44");
    expired_lately["determination_date"] = json!((today() - Duration::days(60)).to_string());
    expired_lately["valid_until"] = json!((today() - Duration::days(5)).to_string());
    let d = create_entry(app, t, expired_lately).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(app, t, d).await;
    let removed = public_page(app, "?status=removed").await;
    assert_eq!(removed["total"], 2, "{removed}");
    let items = removed["items"].as_array().unwrap();
    let by_id = |id: i64| items.iter().find(|i| i["id"] == id).unwrap();
    let revoked = by_id(a);
    assert_eq!(revoked["status"], "removed");
    assert_eq!(revoked["removal_reason"], "revoked");
    assert_eq!(revoked["removal_date"], today().to_string());
    assert_eq!(revoked["subject_code"], uscc(41));
    assert_eq!(revoked["subject_name"], "通化市某某商贸有限公司");
    assert_eq!(revoked["list_type"], "black");
    assert!(revoked["facts"].is_null(), "{revoked}");
    assert!(revoked["legal_representative"].is_null(), "{revoked}");
    let expired = by_id(d);
    assert_eq!(expired["removal_reason"], "expired");
    assert_eq!(
        expired["removal_date"],
        (today() - Duration::days(5)).to_string()
    );
    assert!(expired["facts"].is_null());
    // Staff keep the whole history: all four, with their facts.
    let staff: Value = app
        .get("/api/v1/list-entries?per_page=50", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(staff["total"], 4);
    assert!(staff["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["facts"] == "虚开增值税专用发票"));
}

#[tokio::test]
async fn a_notice_window_of_zero_announces_no_removal() {
    let app = spawn_app_with(|s| s.public_removal_notice_days = 0).await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let scope = create(&app, &tax.token, black_scope("HEI-0")).await["id"]
        .as_i64()
        .unwrap();
    publish(&app, &tax.token, scope).await;
    let id = create_entry(&app, &tax.token, entry("black", scope, &uscc(45), "D-45")).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(&app, &tax.token, id).await;
    assert_eq!(public_page(&app, "").await["total"], 1);
    let res = app
        .post(
            &format!("/api/v1/list-entries/{id}/remove"),
            &tax.token,
            json!({"reason": "revoked", "note": "撤销"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(public_page(&app, "").await["total"], 0);
    assert_eq!(public_page(&app, "?status=removed").await["total"], 0);
}

#[tokio::test]
async fn objection_time_limits_come_from_the_scope_items_standard() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    credit_lists::calendar::seed_demo(&mut app.conn()).unwrap();
    // Scope items carry the limits, 2 and 10 working days unless their standard says otherwise.
    let plain: Value = app
        .get(&format!("/api/v1/four-list-items/{}", f.black), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(plain["objection_accept_days"], 2);
    assert_eq!(plain["objection_verify_days"], 10);
    let mut item = black_scope("HEI-OBJ");
    item["objection_accept_days"] = json!(5);
    item["objection_verify_days"] = json!(15);
    let own = create(app, t, item).await["id"].as_i64().unwrap();
    publish(app, t, own).await;
    let id = create_entry(app, t, entry("black", own, &uscc(46), "O-46")).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(app, t, id).await;
    let res = app
        .post(
            &format!("/api/v1/list-entries/{id}/objections"),
            t,
            json!({"raised_by": "企业", "grounds": "认定事实有误", "received_date": "2026-09-28"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let o: Value = res.json().await.unwrap();
    // From Monday 2026-09-28: five working days → 29, 30, (1–7 October National Day), 8, 9, 10
    // (a Saturday make-up day); fifteen → …, 12, 13, 14, 15, 16, 19, 20, 21, 22, 23.
    assert_eq!(o["accept_deadline"], "2026-10-10");
    assert_eq!(o["verify_deadline"], "2026-10-23");
    // Limits out of range, a verification shorter than the acceptance, or on a measure: refused.
    for (accept, verify, field) in [
        (0, 10, "objection_accept_days"),
        (5, 3, "objection_verify_days"),
        (2, 121, "objection_verify_days"),
    ] {
        let mut bad = black_scope("HEI-OBJ-BAD");
        bad["objection_accept_days"] = json!(accept);
        bad["objection_verify_days"] = json!(verify);
        let p = assert_problem(
            app.post("/api/v1/four-list-items", t, bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
}

/// 国办发〔2020〕49号 (八): a local black entry is published only after the subject was told the
/// reasons, the basis and its rights (告知) and its statement (陈述申辩) was heard.
#[tokio::test]
async fn a_local_black_entry_is_published_only_after_its_notice() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let determined = today() - Duration::days(10);
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let mut body = entry("black", f.black, &uscc(900), "通税罚〔2026〕900号");
    body["notice_date"] = Value::Null;
    let e = create_entry(app, t, body).await;
    let id = e["id"].as_i64().unwrap();
    assert_eq!(e["notice_date"], Value::Null);
    assert_eq!(e["statement_outcome"], Value::Null);

    // Publishing without the notice names both missing fields and changes nothing.
    let before = app.audit_count();
    let publish_path = format!("/api/v1/list-entries/{id}/publish");
    let res = app
        .request(Method::POST, &publish_path, Some(t), None)
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "notice_missing").await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["notice_date", "statement_outcome"], "{p}");
    assert_eq!(app.audit_count(), before);
    let stored: Value = app
        .get(&format!("/api/v1/list-entries/{id}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["status"], "draft");

    // The notice endpoint refuses a notice after the determination, in the future, a made-up
    // outcome, and other departments' entries.
    let notice_path = format!("/api/v1/list-entries/{id}/notice");
    let notice = |d: NaiveDate, outcome: &str| json!({"notice_date": d.to_string(), "statement_outcome": outcome});
    let res = app
        .post(
            &notice_path,
            t,
            notice(determined + Duration::days(1), "none_received"),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "notice_date");
    assert_eq!(p["errors"][0]["code"], "notice_after_determination");
    let res = app
        .post(
            &notice_path,
            t,
            notice(today() + Duration::days(1), "none_received"),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["code"], "in_future");
    let res = app.post(&notice_path, t, notice(determined, "maybe")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .post(
            &notice_path,
            &scjg.token,
            notice(determined, "none_received"),
        )
        .await;
    assert!(
        matches!(res.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        res.status()
    );
    assert_eq!(app.audit_count(), before);

    // The notice on the determination day itself is in time; it is audited, then the entry
    // publishes and keeps it.
    let res = app
        .post(&notice_path, t, notice(determined, "not_adopted"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["notice_date"], determined.to_string());
    assert_eq!(v["statement_outcome"], "not_adopted");
    assert_eq!(app.audit_count(), before + 1);
    let published = publish_entry(app, t, id).await;
    assert_eq!(published["notice_date"], determined.to_string());
    assert_eq!(published["statement_outcome"], "not_adopted");
    let res = app
        .post(&notice_path, t, notice(determined, "none_received"))
        .await;
    assert_problem(res, StatusCode::CONFLICT, "not_a_draft").await;

    // On creation: a notice after the determination, or an outcome without a notice, is
    // refused; red entries carry no notice.
    let mut body = entry("black", f.black, &uscc(901), "通税罚〔2026〕901号");
    body["notice_date"] = json!((determined + Duration::days(2)).to_string());
    let res = app.post("/api/v1/list-entries", t, body).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["code"], "notice_after_determination");
    let mut body = entry("black", f.black, &uscc(901), "通税罚〔2026〕901号");
    body["notice_date"] = Value::Null;
    body["statement_outcome"] = json!("none_received");
    let res = app.post("/api/v1/list-entries", t, body).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "notice_date");
    assert_eq!(p["errors"][0]["code"], "required");
    let mut body = entry("red", f.red, &uscc(902), "通税奖〔2026〕902号");
    body["notice_date"] = json!(determined.to_string());
    let res = app.post("/api/v1/list-entries", t, body).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["code"], "not_applicable");
    let red = create_entry(
        app,
        t,
        entry("red", f.red, &uscc(902), "通税奖〔2026〕902号"),
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/list-entries/{}/notice", red["id"]),
            t,
            notice(determined, "none_received"),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["code"], "not_applicable");
    // A red entry and a national black entry (notified by its source) publish without one.
    publish_entry(app, t, red["id"].as_i64().unwrap()).await;
    let mut body = entry("black", f.black, &uscc(903), "（2026）吉05执903号");
    body["source"] = json!("national");
    let national = create_entry(app, t, body).await;
    assert_eq!(national["notice_date"], Value::Null);
    publish_entry(app, t, national["id"].as_i64().unwrap()).await;

    // The import template carries the two columns.
    let res = app
        .get("/api/v1/list-entries/import-template?format=csv", t)
        .await;
    let text = res.text().await.unwrap();
    assert!(
        text.contains("告知日期") && text.contains("陈述申辩情况"),
        "{text}"
    );
}

/// Minor-tier (轻微) information is normally not published (国办发〔2025〕22号): its entries stay off
/// the public list unless its standard publishes them, and then for at most three months.
#[tokio::test]
async fn minor_tier_entries_are_public_only_where_their_standard_publishes_them() {
    let f = fixture().await;
    let (app, t) = (&f.app, &f.tax.token);
    let item = |id: i64| {
        let path = format!("/api/v1/four-list-items/{id}");
        async move {
            let v: Value = app.get(&path, t).await.json().await.unwrap();
            v
        }
    };
    let mut m = black_scope("HEI-MINOR-QUIET");
    m["severity"] = json!("minor");
    let quiet = create(app, t, m).await["id"].as_i64().unwrap();
    publish(app, t, quiet).await;
    assert_eq!(item(quiet).await["publicly_disclosed"], false);
    assert_eq!(item(f.black).await["publicly_disclosed"], true);
    let ids = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let minor = create_entry(
        app,
        t,
        entry("black", quiet, &uscc(910), "通税罚〔2026〕910号"),
    )
    .await;
    let minor_id = minor["id"].as_i64().unwrap();
    let serious = create_entry(
        app,
        t,
        entry("black", f.black, &uscc(911), "通税罚〔2026〕911号"),
    )
    .await;
    let serious_id = serious["id"].as_i64().unwrap();
    assert_eq!(publish_entry(app, t, minor_id).await["in_force"], true);
    publish_entry(app, t, serious_id).await;
    let public = ids(&public_page(app, "?list_type=black").await);
    assert!(public.contains(&serious_id), "{public:?}");
    assert!(
        !public.contains(&minor_id),
        "a minor entry is not published"
    );
    // Nor is its removal announced; staff still see it.
    let res = app
        .post(
            &format!("/api/v1/list-entries/{minor_id}/remove"),
            t,
            json!({"reason": "revoked", "note": "撤销认定"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!ids(&public_page(app, "?status=removed").await).contains(&minor_id));
    let staff: Value = app
        .get(&format!("/api/v1/list-entries/{minor_id}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(staff["effective_status"], "removed");

    // A minor standard that publishes does so for at most three months.
    let mut m = black_scope("HEI-MINOR-PUB");
    m["severity"] = json!("minor");
    m["publicly_disclosed"] = json!(true);
    m["publication_months_max"] = json!(6);
    let res = app.post("/api/v1/four-list-items", t, m.clone()).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "publication_months_max");
    assert_eq!(p["errors"][0]["code"], "out_of_range");
    m["publication_months_max"] = json!(3);
    let published_minor = create(app, t, m).await;
    assert_eq!(published_minor["publicly_disclosed"], true);
    let pm = published_minor["id"].as_i64().unwrap();
    publish(app, t, pm).await;
    let e = create_entry(
        app,
        t,
        entry("black", pm, &uscc(912), "通税罚〔2026〕912号"),
    )
    .await;
    let e_id = e["id"].as_i64().unwrap();
    publish_entry(app, t, e_id).await;
    assert!(ids(&public_page(app, "?list_type=black").await).contains(&e_id));
    // The flag is a black-list standard's only.
    let mut red = red_scope("HONG-PUB");
    red["publicly_disclosed"] = json!(false);
    let res = app.post("/api/v1/four-list-items", t, red).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "publicly_disclosed");
    assert_eq!(p["errors"][0]["code"], "not_applicable");
}
