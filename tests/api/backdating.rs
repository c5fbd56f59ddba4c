//! Recording the past (补录, issue 21): a repair completed, a case submitted and shared, a letter
//! signed on a past day — who may, what is refused, how it is audited, and that the year-end
//! figures of that year count it.

use chrono::{Datelike, Duration};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cases::{post_case, punishment_case, setup};
use crate::entries::{create_entry, entry, publish_entry, today, uscc};
use crate::helpers::*;
use crate::repairs::{doc, ok, world, World};

/// A published black entry of the repairable (serious) item determined on 2024-06-01: in force
/// through 2025 and 2026, repairable from 2025-06-01.
async fn old_black_entry(w: &World, code: &str) -> i64 {
    let mut e = entry("black", w.serious, code, "通税罚〔2024〕88号");
    e["determination_date"] = json!("2024-06-01");
    let id = create_entry(&w.app, &w.tax.token, e).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(&w.app, &w.tax.token, id).await;
    id
}

async fn targets(app: &TestApp, token: &str, year: i32, as_of: &str) -> Value {
    ok(
        app.get(
            &format!("/api/v1/targets?year={year}&region=220500&as_of={as_of}"),
            token,
        )
        .await,
        StatusCode::OK,
    )
    .await["total"]
        .clone()
}

async fn audit(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    ok(
        app.get(&format!("/api/v1/audit-log?per_page=200&{query}"), token)
            .await,
        StatusCode::OK,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn step(w: &World, token: &str, id: i64, action: &str, body: Value) -> reqwest::Response {
    w.app
        .post(&format!("/api/v1/repairs/{id}/{action}"), token, body)
        .await
}

async fn repair_version(w: &World, id: i64) -> (String, i64) {
    let v = ok(
        w.app
            .get(&format!("/api/v1/repairs/{id}"), &w.city.token)
            .await,
        StatusCode::OK,
    )
    .await;
    (
        v["status"].as_str().unwrap().to_string(),
        v["version"].as_i64().unwrap(),
    )
}

/// A repair completed on 2025-11-20, entered in December 2026: only a bureau may back-date it,
/// the dates must be in order, the entry leaves the list on that day, the audit says so, and the
/// 2025 figures count it while 2026's do not list the enterprise at all.
#[tokio::test]
async fn a_repair_completed_on_a_past_day_counts_in_that_year() {
    let w = world().await;
    let code = uscc(7001);
    let entry_id = old_black_entry(&w, &code).await;
    // Section 九: the item is a special-rectification category, so the exit rate shows the repair.
    ok(
        w.app
            .request(
                reqwest::Method::PUT,
                &format!("/api/v1/four-list-items/{}/special-category", w.serious),
                Some(&w.city.token),
                Some(json!({"category": "major_tax_violation"})),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let letter = ok(
        w.app
            .post(
                "/api/v1/commitments",
                &w.city.token,
                json!({"subject_code": code, "template_id": w.template, "signatory": "张三", "signed_at": "2025-10-20T10:00:00+08:00"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let body = |submitted_on: Option<&str>| {
        let mut b = json!({
            "subject_code": code,
            "entry_id": entry_id,
            "grounds": "已补缴税款及滞纳金，整改到位",
            "commitment_id": letter,
        });
        if let Some(d) = submitted_on {
            b["submitted_on"] = json!(d);
        }
        b
    };
    let mut b = body(Some("2025-11-01"));
    b["correction_attachment_ids"] = json!([doc(&w, "整改报告.pdf").await]);
    b["obligation_attachment_ids"] = json!([doc(&w, "完税证明.pdf").await]);
    let audited = w.app.audit_count();

    // The department's officer may not back-date the submission; nor may anyone to a day the
    // entry had not reached its earliest repair date, or before it was determined.
    let p = assert_problem(
        w.app.post("/api/v1/repairs", &w.tax.token, b.clone()).await,
        StatusCode::FORBIDDEN,
        "backdating_not_allowed",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["submitted_on"]);
    for (day, status, code) in [
        ("2025-05-31", StatusCode::UNPROCESSABLE_ENTITY, "too_early"),
        (
            "2024-05-31",
            StatusCode::UNPROCESSABLE_ENTITY,
            "before_determination",
        ),
        (
            "2018-12-31",
            StatusCode::UNPROCESSABLE_ENTITY,
            "before_2019",
        ),
        ("2025-11-31", StatusCode::BAD_REQUEST, "invalid_body"),
    ] {
        let mut bad = b.clone();
        bad["submitted_on"] = json!(day);
        let p = assert_problem(
            w.app.post("/api/v1/repairs", &w.city.token, bad).await,
            status,
            code,
        )
        .await;
        assert_eq!(problem_fields(&p), vec!["submitted_on"], "{day}");
    }
    let mut bad = b.clone();
    bad["submitted_on"] = json!((today() + Duration::days(1)).to_string());
    let p = assert_problem(
        w.app.post("/api/v1/repairs", &w.city.token, bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "in_future",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["submitted_on"]);
    assert_eq!(w.app.audit_count(), audited, "refusals write nothing");

    let r = ok(
        w.app.post("/api/v1/repairs", &w.city.token, b).await,
        StatusCode::CREATED,
    )
    .await;
    let id = r["id"].as_i64().unwrap();
    assert_eq!(r["submitted_at"], "2025-11-01T04:00:00Z");
    for action in ["accept", "approve", "file"] {
        ok(
            step(&w, &w.tax.token, id, action, json!({})).await,
            StatusCode::OK,
        )
        .await;
    }
    let filed = repair_version(&w, id).await;
    assert_eq!(filed.0, "filed");

    // The confirmation's date: the department officer → 403 (backdating_not_allowed, before the
    // side rule); future, before 2019, before the submission, malformed → refused naming it.
    let p = assert_problem(
        step(
            &w,
            &w.tax.token,
            id,
            "confirm",
            json!({"completed_on": "2025-11-20"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "backdating_not_allowed",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["completed_on"]);
    let tomorrow = (today() + Duration::days(1)).to_string();
    for (day, status, code) in [
        (
            tomorrow.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "in_future",
        ),
        (
            "2018-06-30",
            StatusCode::UNPROCESSABLE_ENTITY,
            "before_2019",
        ),
        (
            "2025-10-31",
            StatusCode::UNPROCESSABLE_ENTITY,
            "before_submission",
        ),
        ("20251120", StatusCode::BAD_REQUEST, "invalid_body"),
    ] {
        let p = assert_problem(
            step(
                &w,
                &w.dongchang.token,
                id,
                "confirm",
                json!({"completed_on": day}),
            )
            .await,
            status,
            code,
        )
        .await;
        assert_eq!(problem_fields(&p), vec!["completed_on"], "{day}");
    }
    // `completed_on` belongs to the confirmation only.
    let p = assert_problem(
        step(
            &w,
            &w.dongchang.token,
            id,
            "send-back",
            json!({"comment": "材料不全", "completed_on": "2025-11-20"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["completed_on"]);
    assert_eq!(repair_version(&w, id).await, filed, "nothing changed");

    // Before: the entry counts in force at the end of 2025.
    let t = targets(&w.app, &w.city.token, 2025, "2025-12-31").await;
    assert_eq!(t["local_black_in_force"], 1);
    assert_eq!(t["special_exit_rate"]["numerator"], 0);

    let done = ok(
        step(
            &w,
            &w.dongchang.token,
            id,
            "confirm",
            json!({"completed_on": "2025-11-20", "version": filed.1}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["completed_at"], "2025-11-20T04:00:00Z");
    let e = ok(
        w.app
            .get(&format!("/api/v1/list-entries/{entry_id}"), &w.city.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(e["status"], "removed");
    assert_eq!(e["removal_reason"], "repaired");
    assert_eq!(e["removal_date"], "2025-11-20");

    // The year-end figures of 2025: in force on 19 November, gone by 20 November; the enterprise
    // exited in 2025. In 2026 it was never listed: no population at all.
    let t = targets(&w.app, &w.city.token, 2025, "2025-11-19").await;
    assert_eq!(t["local_black_in_force"], 1);
    assert_eq!(t["special_exit_rate"]["numerator"], 0);
    assert_eq!(t["special_exit_rate"]["denominator"], 1);
    let t = targets(&w.app, &w.city.token, 2025, "2025-11-20").await;
    assert_eq!(t["local_black_in_force"], 0);
    let t = targets(&w.app, &w.city.token, 2025, "2025-12-31").await;
    assert_eq!(t["local_black_in_force"], 0);
    assert_eq!(t["special_exit_rate"]["numerator"], 1);
    assert_eq!(t["special_exit_rate"]["denominator"], 1);
    assert_eq!(t["special_commitment_rate"]["numerator"], 1);
    let t = targets(&w.app, &w.city.token, today().year(), &today().to_string()).await;
    assert_eq!(t["local_black_in_force"], 0);
    // No population at all: no figure (a repair confirmed today would make it 1).
    assert_eq!(t["special_exit_rate"]["denominator"], Value::Null, "{t}");
    assert_eq!(t["training_rate"]["denominator"], Value::Null, "{t}");

    // The monthly statistics count the repair in November 2025, not in the month it was entered.
    let month = |y: i32, m: u32| {
        let app = &w.app;
        let token = w.city.token.clone();
        async move {
            ok(
                app.get(&format!("/api/v1/stats/monthly?year={y}&month={m}"), &token)
                    .await,
                StatusCode::OK,
            )
            .await["live"]
                .clone()
        }
    };
    assert_eq!(month(2025, 11).await["repairs_completed"], 1);
    assert_eq!(month(2025, 11).await["removals"]["repaired"], 1);
    let this_month = month(today().year(), today().month()).await;
    assert_eq!(this_month["repairs_completed"], 0, "{this_month}");

    // The quarterly scorecard counts the repair in 2025 Q4, not in 2026.
    let card = |v: &Value| -> Value {
        v["departments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["department_id"] == DEPT_TAX)
            .map(|d| {
                d["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|i| i["key"] == "repairs_with_commitments")
                    .unwrap()["evidence"]
                    .clone()
            })
            .unwrap_or(json!([]))
    };
    let q4 = ok(
        w.app
            .get("/api/v1/scorecards?year=2025&quarter=4", &w.city.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(card(&q4), json!([id]));
    let now = ok(
        w.app
            .get(
                &format!(
                    "/api/v1/scorecards?year={}&quarter={}",
                    today().year(),
                    today().month().div_ceil(3)
                ),
                &w.city.token,
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(card(&now), json!([]));

    // The audit: the back-dated writes say so, with the day and the field; the others do not.
    let marked = audit(&w.app, &w.city.token, "backdated=true").await;
    let of = |action: &str, entity: &str| -> Vec<Value> {
        marked
            .iter()
            .filter(|r| r["action"] == action && r["entity_id"] == entity)
            .cloned()
            .collect()
    };
    for (action, entity, day, field) in [
        (
            "repair.submit",
            id.to_string(),
            "2025-11-01",
            "submitted_on",
        ),
        (
            "repair.confirm",
            id.to_string(),
            "2025-11-20",
            "completed_on",
        ),
        (
            "list_entry.remove",
            entry_id.to_string(),
            "2025-11-20",
            "completed_on",
        ),
        (
            "commitment.create",
            letter.to_string(),
            "2025-10-20",
            "signed_at",
        ),
    ] {
        let rs = of(action, &entity);
        assert_eq!(rs.len(), 1, "{action}: {marked:?}");
        assert_eq!(rs[0]["after"]["backdated"], true);
        assert_eq!(rs[0]["after"]["effective_date"], day);
        assert_eq!(rs[0]["after"]["effective_field"], field);
    }
    assert!(
        marked.iter().all(|r| r["after"]["backdated"] == true
            && !["repair.accept", "repair.approve", "repair.file"]
                .contains(&r["action"].as_str().unwrap())),
        "{marked:?}"
    );
    let unmarked = audit(&w.app, &w.city.token, "backdated=false").await;
    assert!(unmarked.iter().any(|r| r["action"] == "repair.accept"));
    assert!(unmarked
        .iter()
        .all(|r| r["after"].get("backdated").is_none()));
    // The chain still holds.
    let admin = w.app.admin().await;
    let v = ok(
        w.app.get("/api/v1/audit-log/verify", &admin.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["ok"], true, "{v}");
}

/// A repair confirmed today without a date is not marked, and a back-dated day on which the entry
/// was not in force yet is refused.
#[tokio::test]
async fn a_confirmation_today_is_not_backdated_and_the_entry_must_be_in_force_that_day() {
    let w = world().await;
    let code = uscc(7002);
    let entry_id = old_black_entry(&w, &code).await;
    let letter = ok(
        w.app
            .post(
                "/api/v1/commitments",
                &w.tax.token,
                json!({"subject_code": code, "template_id": w.template, "signatory": "张三"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let b = json!({
        "subject_code": code,
        "entry_id": entry_id,
        "grounds": "已补缴税款及滞纳金，整改到位",
        "commitment_id": letter,
        "correction_attachment_ids": [doc(&w, "整改报告.pdf").await],
        "obligation_attachment_ids": [doc(&w, "完税证明.pdf").await],
        // Today is no back-dating: the department's officer may send it.
        "submitted_on": today().to_string(),
    });
    let id = ok(
        w.app.post("/api/v1/repairs", &w.tax.token, b).await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    for action in ["accept", "approve", "file"] {
        ok(
            step(&w, &w.tax.token, id, action, json!({})).await,
            StatusCode::OK,
        )
        .await;
    }
    // Submitted today: any past completion day precedes it.
    let yesterday = (today() - Duration::days(1)).to_string();
    assert_problem(
        step(
            &w,
            &w.dongchang.token,
            id,
            "confirm",
            json!({"completed_on": yesterday}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "before_submission",
    )
    .await;
    let done = ok(
        step(
            &w,
            &w.dongchang.token,
            id,
            "confirm",
            json!({"completed_on": today().to_string()}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["status"], "completed");
    let e = ok(
        w.app
            .get(&format!("/api/v1/list-entries/{entry_id}"), &w.city.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(e["removal_date"], today().to_string());
    let marked = audit(&w.app, &w.city.token, "backdated=true").await;
    assert!(marked.is_empty(), "{marked:?}");

    // An entry determined in 2025-03 was not in force before it: a submission dated then is refused.
    let code = uscc(7003);
    let mut e = entry("black", w.serious, &code, "通税罚〔2025〕9号");
    e["determination_date"] = json!("2025-03-01");
    e["valid_from"] = json!("2025-04-01");
    let young = create_entry(&w.app, &w.tax.token, e).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(&w.app, &w.tax.token, young).await;
    let c = ok(
        w.app
            .post(
                "/api/v1/commitments",
                &w.tax.token,
                json!({"subject_code": code, "template_id": w.template, "signatory": "张三"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let b = json!({
        "subject_code": code,
        "entry_id": young,
        "grounds": "已补缴税款及滞纳金，整改到位",
        "commitment_id": c,
        "correction_attachment_ids": [doc(&w, "整改报告.pdf").await],
        "obligation_attachment_ids": [doc(&w, "完税证明.pdf").await],
        "submitted_on": "2025-03-15",
    });
    let p = assert_problem(
        w.app.post("/api/v1/repairs", &w.city.token, b).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_in_force",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["submitted_on"]);
}

/// A case dated June 2025, submitted on 20 June and shared on 1 July 2025, entered in December
/// 2026: the 2025 case figures count it from July, the monthly statistics in July 2025.
#[tokio::test]
async fn a_case_shared_on_a_past_day_counts_in_that_year_and_month() {
    let s = setup().await;
    let app = &s.f.app;
    let code = uscc(7101);
    let entry_id = crate::cases::listed(&s, "black", &code, "通税罚〔2025〕71号").await;
    let mut body = punishment_case(&s, &code, entry_id);
    body["case_date"] = json!("2025-06-10");
    let id = post_case(app, &s.f.tax.token, body.clone()).await["id"]
        .as_i64()
        .unwrap();
    let audited = app.audit_count();
    let submit = |token: String, b: Value| async move {
        app.post(&format!("/api/v1/cases/{id}/submit"), &token, b)
            .await
    };
    let p = assert_problem(
        submit(s.f.tax.token.clone(), json!({"submitted_on": "2025-06-20"})).await,
        StatusCode::FORBIDDEN,
        "backdating_not_allowed",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["submitted_on"]);
    let tomorrow = (today() + Duration::days(1)).to_string();
    for (day, status, code) in [
        (
            "2025-06-09",
            StatusCode::UNPROCESSABLE_ENTITY,
            "before_case_date",
        ),
        (
            tomorrow.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "in_future",
        ),
        (
            "2018-12-31",
            StatusCode::UNPROCESSABLE_ENTITY,
            "before_2019",
        ),
        ("2025/06/20", StatusCode::BAD_REQUEST, "invalid_body"),
    ] {
        let p = assert_problem(
            submit(s.city.token.clone(), json!({"submitted_on": day})).await,
            status,
            code,
        )
        .await;
        assert_eq!(problem_fields(&p), vec!["submitted_on"], "{day}");
    }
    assert_eq!(app.audit_count(), audited, "refusals write nothing");
    let c = ok(
        submit(s.city.token.clone(), json!({"submitted_on": "2025-06-20"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(c["status"], "submitted");
    assert_eq!(c["submitted_at"], "2025-06-20T04:00:00Z");

    let share = |token: String, b: Value| async move {
        app.post(&format!("/api/v1/cases/{id}/share"), &token, b)
            .await
    };
    for (day, status, code) in [
        (
            "2025-06-19",
            StatusCode::UNPROCESSABLE_ENTITY,
            "before_submission",
        ),
        (
            tomorrow.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "in_future",
        ),
        (
            "2018-01-01",
            StatusCode::UNPROCESSABLE_ENTITY,
            "before_2019",
        ),
        ("2025-02-30", StatusCode::BAD_REQUEST, "invalid_body"),
    ] {
        let p = assert_problem(
            share(s.city.token.clone(), json!({"shared_on": day})).await,
            status,
            code,
        )
        .await;
        assert_eq!(problem_fields(&p), vec!["shared_on"], "{day}");
    }
    let p = assert_problem(
        share(s.city.token.clone(), json!({"shared_at": "2025-07-01"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["shared_at"]);
    // A department officer does not share at all; with a past day the refusal names the date.
    let p = assert_problem(
        share(s.f.tax.token.clone(), json!({"shared_on": "2025-07-01"})).await,
        StatusCode::FORBIDDEN,
        "backdating_not_allowed",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["shared_on"]);
    let got = ok(
        app.get(&format!("/api/v1/cases/{id}"), &s.city.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["status"], "submitted", "nothing changed");

    let before = targets(app, &s.city.token, 2025, "2025-12-31").await;
    assert_eq!(before["cases_shared"], 0);
    let c = ok(
        share(s.city.token.clone(), json!({"shared_on": "2025-07-01"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(c["status"], "shared");
    assert_eq!(c["shared_at"], "2025-07-01T04:00:00Z");

    // Year-end: counted in 2025 from 1 July (shared by the end of the day counted), not before,
    // and not in 2026 (dated 2025).
    assert_eq!(
        targets(app, &s.city.token, 2025, "2025-06-30").await["cases_shared"],
        0
    );
    assert_eq!(
        targets(app, &s.city.token, 2025, "2025-07-01").await["cases_shared"],
        1
    );
    assert_eq!(
        targets(app, &s.city.token, 2025, "2025-12-31").await["cases_shared"],
        1
    );
    assert_eq!(
        targets(app, &s.city.token, today().year(), &today().to_string()).await["cases_shared"],
        0
    );

    // The monthly statistics: submitted in June 2025, shared in July 2025.
    let month = |y: i32, m: u32| {
        let token = s.city.token.clone();
        async move {
            ok(
                app.get(&format!("/api/v1/stats/monthly?year={y}&month={m}"), &token)
                    .await,
                StatusCode::OK,
            )
            .await["live"]
                .clone()
        }
    };
    let june = month(2025, 6).await;
    assert_eq!(june["cases_filed"]["total"], 1, "{june}");
    assert_eq!(june["cases_shared"]["total"], 0, "{june}");
    let july = month(2025, 7).await;
    assert_eq!(july["cases_filed"]["total"], 0, "{july}");
    assert_eq!(july["cases_shared"]["total"], 1, "{july}");

    // Another case shared today with no date: not back-dated, and counted in 2026 only if dated
    // 2026 (this one is dated 2025 too, so the 2025 figures as of today's year-end grow).
    let other = post_case(app, &s.f.tax.token, {
        let mut b = body.clone();
        b["title"] = json!("另一案例");
        b
    })
    .await["id"]
        .as_i64()
        .unwrap();
    ok(
        app.post(
            &format!("/api/v1/cases/{other}/submit"),
            &s.f.tax.token,
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    ok(
        app.post(
            &format!("/api/v1/cases/{other}/share"),
            &s.city.token,
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    // Shared in December 2026: not by the end of 2025.
    assert_eq!(
        targets(app, &s.city.token, 2025, "2025-12-31").await["cases_shared"],
        1
    );

    let marked = audit(app, &s.city.token, "backdated=true&entity_type=case").await;
    let mut seen: Vec<(String, String, String)> = marked
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["after"]["effective_date"].as_str().unwrap().to_string(),
                r["entity_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("case.share".into(), "2025-07-01".into(), id.to_string()),
            ("case.submit".into(), "2025-06-20".into(), id.to_string()),
        ]
    );
    let unmarked = audit(app, &s.city.token, "backdated=false&entity_type=case").await;
    let (id_s, other_s) = (id.to_string(), other.to_string());
    assert!(unmarked
        .iter()
        .any(|r| r["action"] == "case.share" && r["entity_id"] == other_s.as_str()));
    assert!(unmarked
        .iter()
        .all(|r| r["entity_id"] != id_s.as_str() || r["action"] == "case.create"));
}

/// A letter signed on a past day: a bureau may record it (audited as back-dated), a department
/// officer may not; before 2019 is refused.
#[tokio::test]
async fn only_bureaus_and_admins_record_letters_signed_on_a_past_day() {
    let w = world().await;
    let letter = |code: u32, signed_at: &str| json!({"subject_code": uscc(code), "subject_name": "某公司", "template_id": w.template, "signatory": "张三", "signed_at": signed_at});
    let audited = w.app.audit_count();
    let yesterday = format!("{}T10:00:00+08:00", today() - Duration::days(1));
    let p = assert_problem(
        w.app
            .post(
                "/api/v1/commitments",
                &w.tax.token,
                letter(7201, &yesterday),
            )
            .await,
        StatusCode::FORBIDDEN,
        "backdating_not_allowed",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["signed_at"]);
    let p = assert_problem(
        w.app
            .post(
                "/api/v1/commitments",
                &w.city.token,
                letter(7202, "2018-12-31T23:00:00+08:00"),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "before_2019",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["signed_at"]);
    assert_eq!(w.app.audit_count(), audited, "refusals write nothing");
    // 2019-01-01 00:30 China time is 2018-12-31 in UTC but 2019 in China: accepted.
    let c = ok(
        w.app
            .post(
                "/api/v1/commitments",
                &w.city.token,
                letter(7203, "2019-01-01T00:30:00+08:00"),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(c["signed_at"], "2018-12-31T16:30:00Z");
    // Now (no signed_at) and a moment ago today are no back-dating: the officer may.
    let now = ok(
        w.app
            .post(
                "/api/v1/commitments",
                &w.tax.token,
                json!({"subject_code": uscc(7204), "subject_name": "某公司", "template_id": w.template, "signatory": "张三"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let marked = audit(&w.app, &w.city.token, "backdated=true").await;
    assert_eq!(marked.len(), 1, "{marked:?}");
    assert_eq!(marked[0]["action"], "commitment.create");
    assert_eq!(
        marked[0]["entity_id"],
        c["id"].as_i64().unwrap().to_string()
    );
    assert_eq!(marked[0]["after"]["effective_date"], "2019-01-01");
    assert_eq!(marked[0]["after"]["effective_field"], "signed_at");
    let unmarked = audit(
        &w.app,
        &w.city.token,
        "backdated=false&action=commitment.create",
    )
    .await;
    assert_eq!(unmarked.len(), 1);
    assert_eq!(
        unmarked[0]["entity_id"],
        now["id"].as_i64().unwrap().to_string()
    );
    // An admin may back-date too.
    let admin = w.app.admin().await;
    ok(
        w.app
            .post(
                "/api/v1/commitments",
                &admin.token,
                letter(7205, "2024-03-01T09:00:00Z"),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
}

/// An entry that has expired since can still have the repair it had in its time recorded: the
/// back-dated application is judged as of its own day.
#[tokio::test]
async fn a_repair_of_an_entry_expired_since_is_recorded_as_of_its_day() {
    let w = world().await;
    let mut item = crate::four_lists::black_scope("HEI-GEN");
    item["severity"] = json!("general");
    let general = crate::four_lists::create(&w.app, &w.tax.token, item).await["id"]
        .as_i64()
        .unwrap();
    crate::four_lists::publish(&w.app, &w.tax.token, general).await;
    let code = uscc(7301);
    let determined = today() - Duration::days(420);
    let e = crate::repairs::black_entry(&w, general, &code, "通税罚〔2025〕7301号", 420).await;
    let v: Value = ok(
        w.app
            .get(&format!("/api/v1/list-entries/{e}"), &w.tax.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        v["effective_status"], "expired",
        "the general tier's 12 months are over"
    );
    let submitted = determined + Duration::days(130);
    let letter = ok(
        w.app
            .post(
                "/api/v1/commitments",
                &w.city.token,
                json!({"subject_code": code, "template_id": w.template, "signatory": "张三",
                       "signed_at": format!("{}T10:00:00+08:00", determined + Duration::days(120))}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let body = json!({
        "subject_code": code, "entry_id": e, "grounds": "已补缴税款",
        "correction_attachment_ids": [doc(&w, "整改报告.pdf").await],
        "obligation_attachment_ids": [doc(&w, "完税证明.pdf").await],
        "commitment_id": letter,
        "submitted_on": submitted.to_string()
    });
    let v = ok(
        w.app
            .post("/api/v1/repairs", &w.city.token, body.clone())
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(v["status"], "submitted");
    // Without the past day it is judged today, when the entry is no longer in force.
    let code2 = uscc(7302);
    let e2 = crate::repairs::black_entry(&w, general, &code2, "通税罚〔2025〕7302号", 420).await;
    let mut today_body = body;
    today_body["subject_code"] = json!(code2);
    today_body["entry_id"] = json!(e2);
    today_body["commitment_id"] = json!(crate::repairs::commitment(&w, &code2).await);
    today_body.as_object_mut().unwrap().remove("submitted_on");
    let p = assert_problem(
        w.app
            .post("/api/v1/repairs", &w.city.token, today_body)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_in_force",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "entry_id");
}
