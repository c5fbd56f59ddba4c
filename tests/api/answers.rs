//! The check answer an approval system acts on (issue 23): reasons with codes and Chinese
//! messages, 告知承诺 (notification and commitment), related parties through the legal
//! representative, and approval accounts bound to a department.

use credit_lists::auth::Role;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::entries::{create_entry, entry, fixture, publish_entry, uscc, Fixture};
use crate::four_lists::{create, publish, punishment};
use crate::helpers::*;

struct Setup {
    f: Fixture,
    approver: Account,
}

/// The entries fixture, a punishment measure on its black scope item (procurement, bidding;
/// enterprises) and an approval-system account.
async fn setup() -> Setup {
    let f = fixture().await;
    let punish = create(&f.app, &f.tax.token, punishment("CJ-1", &[f.black])).await["id"]
        .as_i64()
        .unwrap();
    publish(&f.app, &f.tax.token, punish).await;
    let approver = f
        .app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    Setup { f, approver }
}

async fn listed(s: &Setup, list: &str, body: Value) -> i64 {
    let _ = list;
    let id = create_entry(&s.f.app, &s.f.tax.token, body).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(&s.f.app, &s.f.tax.token, id).await;
    id
}

async fn check_as(app: &TestApp, token: &str, code: &str, field: &str) -> Value {
    let res = app
        .post(
            "/api/v1/credit-checks",
            token,
            json!({"subject_code": code, "field": field, "reference": "XK-2026-001"}),
        )
        .await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

fn codes(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let m = r["message"].as_str().unwrap();
            assert!(
                m.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "a reason's message is in Chinese: {r}"
            );
            r["code"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn reasons_carry_stable_codes_and_chinese_messages_in_checks_batches_and_receipts() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.approver.token;
    let black = uscc(301);
    listed(&s, "black", entry("black", s.f.black, &black, "HEI-301")).await;
    let red = uscc(302);
    listed(&s, "red", entry("red", s.f.red, &red, "HONG-302")).await;
    let clean = uscc(303);

    // Black-listed, no measure in this field: the example, word for word.
    let v = check_as(app, t, &black, "administrative_licensing").await;
    assert_eq!(v["advice"], "normal");
    assert_eq!(codes(&v), vec!["black_no_measure_in_field"]);
    assert_eq!(
        v["reasons"][0]["message"],
        "该主体在严重失信主体名单内，但本领域无适用惩戒措施"
    );
    let receipt_id = v["check_id"].as_i64().unwrap();
    // Black-listed with a measure in the field.
    let v = check_as(app, t, &black, "government_procurement").await;
    assert_eq!(v["advice"], "restrict");
    assert_eq!(codes(&v), vec!["punishment_measure_applies"]);
    assert!(v["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .contains("限制参与政府采购"));
    // Red-listed without an incentive; unrecorded code.
    let v = check_as(app, t, &red, "administrative_licensing").await;
    assert_eq!(codes(&v), vec!["red_no_measure_in_field"]);
    let v = check_as(app, t, &clean, "administrative_licensing").await;
    assert_eq!(v["known"], false);
    assert_eq!(codes(&v), vec!["subject_not_recorded"]);

    // The batch gives the same objects.
    let res = app
        .post(
            "/api/v1/credit-checks/batch",
            t,
            json!({"subject_codes": [black, "not-a-code", clean], "field": "government_procurement"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    assert_eq!(
        codes(&b["results"][0]["check"]),
        vec!["punishment_measure_applies"]
    );
    assert_eq!(b["results"][1]["status"], 422);
    assert_eq!(
        codes(&b["results"][2]["check"]),
        vec!["subject_not_recorded"]
    );

    // The stored receipt reads back as answered.
    let res = app
        .get(&format!("/api/v1/credit-checks/{receipt_id}"), t)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["reasons"][0]["code"], "black_no_measure_in_field");
    assert_eq!(
        r["reasons"][0]["message"],
        "该主体在严重失信主体名单内，但本领域无适用惩戒措施"
    );
}

#[tokio::test]
async fn a_receipt_stored_with_plain_sentences_reads_back_as_legacy_reasons() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.approver.token;
    let v = check_as(app, t, &uscc(311), "administrative_licensing").await;
    let id = v["check_id"].as_i64().unwrap() as i32;
    // Read once so that the receipt is in the table (SQLite folds it from the receipt log).
    assert_eq!(
        app.get(&format!("/api/v1/credit-checks/{id}"), t)
            .await
            .status(),
        StatusCode::OK
    );
    // What a receipt stored before reasons had codes looks like.
    {
        use credit_lists::schema::credit_checks;
        let mut conn = app.raw_conn();
        let answer: String = credit_checks::table
            .find(id)
            .select(credit_checks::answer)
            .first(&mut conn)
            .unwrap();
        let mut old: Value = serde_json::from_str(&answer).unwrap();
        old["reasons"] =
            json!(["no subject with this code is recorded: no red or black list entry"]);
        diesel::update(credit_checks::table.find(id))
            .set(credit_checks::answer.eq(old.to_string()))
            .execute(&mut conn)
            .unwrap();
    }
    let r: Value = app
        .get(&format!("/api/v1/credit-checks/{id}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["reasons"],
        json!([{"code": "legacy", "message": "no subject with this code is recorded: no red or black list entry"}])
    );
    assert_eq!(r["check_id"], id);
}

/// A published commitment template of the tax department.
async fn template(s: &Setup, purpose: &str) -> i64 {
    let app = &s.f.app;
    let res = app
        .post(
            "/api/v1/commitment-templates",
            &s.f.tax.token,
            json!({"purpose": purpose, "title": "信用承诺书", "body": "本单位承诺所填报信息真实、准确，符合许可条件。"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let res = app
        .post(
            &format!("/api/v1/commitment-templates/{id}/publish"),
            &s.f.tax.token,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    id
}

fn nc(v: &Value) -> (String, Vec<String>) {
    let n = &v["notification_commitment"];
    (
        n["status"].as_str().unwrap().to_string(),
        n["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap().to_string())
            .collect(),
    )
}

async fn letters_total(app: &TestApp, admin: &str) -> i64 {
    app.get("/api/v1/commitments?per_page=1", admin)
        .await
        .json::<Value>()
        .await
        .unwrap()["total"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn notification_commitment_is_allowed_for_a_clean_subject_and_refused_while_black_listed() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.approver.token;
    let clean = uscc(321);
    let v = check_as(app, t, &clean, "administrative_licensing").await;
    assert_eq!(nc(&v), ("allowed".into(), vec!["nc_allowed".into()]));
    // A recorded subject with a red entry only: allowed too.
    let red = uscc(322);
    listed(&s, "red", entry("red", s.f.red, &red, "HONG-322")).await;
    let v = check_as(app, t, &red, "market_access").await;
    assert_eq!(nc(&v).0, "allowed");
    // A field that does not offer the procedure: no answer on it.
    let v = check_as(app, t, &clean, "government_procurement").await;
    assert_eq!(v["notification_commitment"], Value::Null);
    // Black-listed: refused, with the reason.
    let black = uscc(323);
    listed(&s, "black", entry("black", s.f.black, &black, "HEI-323")).await;
    let v = check_as(app, t, &black, "administrative_licensing").await;
    assert_eq!(
        nc(&v),
        ("not_allowed".into(), vec!["nc_black_entry_in_force".into()])
    );
    assert!(v["notification_commitment"]["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .contains("不适用告知承诺制"));
    // Which fields offer it is data: the admin turns it on for procurement.
    let admin = app.admin().await;
    let res = app
        .patch(
            "/api/v1/application-fields/government_procurement",
            &admin.token,
            json!({"notification_commitment": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["notification_commitment"],
        true
    );
    let v = check_as(app, t, &clean, "government_procurement").await;
    assert_eq!(nc(&v).0, "allowed");
    let res = app
        .patch(
            "/api/v1/application-fields/government_procurement",
            &admin.token,
            json!({"notification_commitment": "yes"}),
        )
        .await;
    assert!(res.status().is_client_error());
}

#[tokio::test]
async fn an_approval_system_records_a_pre_licensing_letter_that_later_checks_and_the_profile_show()
{
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.approver.token;
    let admin = app.admin().await;
    let pre = template(&s, "pre_licensing").await;
    let repair = template(&s, "repair").await;
    let code = uscc(331);
    let first = check_as(app, t, &code, "administrative_licensing").await;
    let check_id = first["check_id"].as_i64().unwrap();
    assert_eq!(first["commitments"], json!([]));
    let letter = |check: Value, template: i64| {
        json!({
            "subject_code": code,
            "subject_name": "通化市某某药业有限公司",
            "template_id": template,
            "signatory": "李四",
            "check_id": check,
            "licence_reference": "药品经营许可 XK-2026-001"
        })
    };

    // Unhappy paths first: nothing is recorded by any of them.
    let stranger = app
        .account("approver2", Role::ApprovalSystem, None, None)
        .await;
    let audit_before = app.audit_count();
    let total = letters_total(app, &admin.token).await;
    let mut body = letter(json!(check_id), pre);
    body.as_object_mut().unwrap().remove("check_id");
    let res = app.post("/api/v1/commitments", t, body).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), vec!["check_id"]);
    let mut body = letter(json!(check_id), pre);
    body["licence_reference"] = json!("  ");
    let res = app.post("/api/v1/commitments", t, body).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), vec!["licence_reference"]);
    let res = app
        .post("/api/v1/commitments", t, letter(json!(999_999), pre))
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_check").await;
    assert_eq!(problem_fields(&p), vec!["check_id"]);
    // A check of another subject.
    let other = check_as(app, t, &uscc(332), "administrative_licensing").await;
    let res = app
        .post(
            "/api/v1/commitments",
            t,
            letter(other["check_id"].clone(), pre),
        )
        .await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "check_subject_mismatch",
    )
    .await;
    // Another approval system's check is not this one's to cite.
    let res = app
        .post(
            "/api/v1/commitments",
            &stranger.token,
            letter(json!(check_id), pre),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_check").await;
    // Approval systems record 告知承诺 letters only.
    let res = app
        .post("/api/v1/commitments", t, letter(json!(check_id), repair))
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // A repair letter names no check or licence, whoever records it (an admin may read the
    // check; the tax officer may not: for them it is an unknown check).
    let res = app
        .post(
            "/api/v1/commitments",
            &admin.token,
            letter(json!(check_id), repair),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "not_pre_licensing").await;
    let res = app
        .post(
            "/api/v1/commitments",
            &s.f.tax.token,
            letter(json!(check_id), pre),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_check").await;
    let mut body = letter(json!(check_id), repair);
    body.as_object_mut().unwrap().remove("check_id");
    let res = app.post("/api/v1/commitments", &s.f.tax.token, body).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "not_pre_licensing").await;
    assert_eq!(app.audit_count(), audit_before);
    assert_eq!(letters_total(app, &admin.token).await, total);

    // The letter: 201, audited.
    let res = app
        .post("/api/v1/commitments", t, letter(json!(check_id), pre))
        .await;
    let status = res.status();
    let c: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["purpose"], "pre_licensing");
    assert_eq!(c["check_id"], check_id);
    assert_eq!(c["licence_reference"], "药品经营许可 XK-2026-001");
    assert_eq!(c["recorded_by"], s.approver.id);
    assert_eq!(app.audit_count(), audit_before + 1);
    let log: Value = app
        .get("/api/v1/audit-log?action=commitment.create", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["items"][0]["actor_role"], "approval_system", "{log}");
    assert_eq!(log["items"][0]["actor_user_id"], s.approver.id);
    let letter_id = c["id"].as_i64().unwrap();

    // The next check shows it, still allowed.
    let v = check_as(app, t, &code, "administrative_licensing").await;
    let shown = &v["commitments"][0];
    assert_eq!(shown["commitment_id"], letter_id);
    assert_eq!(shown["purpose"], "pre_licensing");
    assert_eq!(shown["check_id"], check_id);
    assert_eq!(shown["licence_reference"], "药品经营许可 XK-2026-001");
    assert_eq!(nc(&v).0, "allowed");
    // So does the subject's profile.
    let profile: Value = app
        .get(&format!("/api/v1/subjects/{code}"), &s.f.tax.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["commitments"][0]["commitment_id"], letter_id);
    assert_eq!(profile["commitments"][0]["check_id"], check_id);

    // The approval system may not record the breach; the department that finds it (not the
    // template's) does.
    let breach = json!({"facts": "承诺具备的条件与实际不符", "breach_date": crate::entries::today().to_string()});
    let res = app
        .post(
            &format!("/api/v1/commitments/{letter_id}/breaches"),
            t,
            breach.clone(),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let res = app
        .post(
            &format!("/api/v1/commitments/{letter_id}/breaches"),
            &scjg.token,
            breach,
        )
        .await;
    let status = res.status();
    let b: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_eq!(b["breaches"][0]["department_id"], DEPT_SCJG);
    // After the breach 告知承诺 is refused.
    let v = check_as(app, t, &code, "administrative_licensing").await;
    assert_eq!(
        nc(&v),
        ("not_allowed".into(), vec!["nc_commitment_breached".into()])
    );
    assert!(codes(&v).contains(&"commitment_breached".to_string()));
}

#[tokio::test]
async fn an_approval_account_bound_to_a_department_counts_in_that_departments_statistics() {
    use chrono::Datelike;
    let s = setup().await;
    let app = &s.f.app;
    let admin = app.admin().await;
    // Binding: an unknown department and a region are refused; a department is accepted.
    let res = app
        .post(
            "/api/v1/users",
            &admin.token,
            json!({"username": "scjg.approvals", "password": PASSWORD, "role": "approval_system", "department_id": 999_999}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), vec!["department_id"]);
    let res = app
        .post(
            "/api/v1/users",
            &admin.token,
            json!({"username": "scjg.approvals", "password": PASSWORD, "role": "approval_system", "department_id": DEPT_SCJG, "region_code": "220500"}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), vec!["region_code"]);
    // Only an admin binds accounts.
    let res = app
        .post(
            "/api/v1/users",
            &s.f.tax.token,
            json!({"username": "scjg.approvals", "password": PASSWORD, "role": "approval_system", "department_id": DEPT_SCJG}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .post(
            "/api/v1/users",
            &admin.token,
            json!({"username": "scjg.approvals", "password": PASSWORD, "role": "approval_system", "department_id": DEPT_SCJG}),
        )
        .await;
    let status = res.status();
    let u: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{u}");
    assert_eq!(u["department_id"], DEPT_SCJG);
    assert_eq!(u["region_code"], "220500");
    let bound = app.login_ok("scjg.approvals").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Two checks by the bound account, one by the city-wide one.
    for n in [341, 342] {
        check_as(app, &bound, &uscc(n), "administrative_licensing").await;
    }
    check_as(
        app,
        &s.approver.token,
        &uscc(343),
        "administrative_licensing",
    )
    .await;

    let stats: Value = app
        .get("/api/v1/credit-checks/stats", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    let count = |key: &str| {
        stats["by_department"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .map(|c| c["checks"].as_i64().unwrap())
    };
    assert_eq!(count(&DEPT_SCJG.to_string()), Some(2), "{stats}");
    assert_eq!(count("none"), Some(1), "{stats}");

    // The department's officers see its checks; the 信用产品应用 item of its scorecard counts them.
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let list: Value = app
        .get("/api/v1/credit-checks", &scjg.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 2, "{list}");
    let today = crate::entries::today();
    let cards: Value = app
        .get(
            &format!(
                "/api/v1/scorecards?year={}&quarter={}",
                today.year(),
                today.month().div_ceil(3)
            ),
            &scjg.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let item = cards["departments"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "credit_records_in_approvals")
        .cloned()
        .unwrap();
    assert_eq!(cards["departments"][0]["department_id"], DEPT_SCJG);
    assert_eq!(item["evidence"].as_array().unwrap().len(), 2, "{item}");
    assert_eq!(item["points"], 3.0);

    // Unbinding (null) leaves it city-wide: later checks count under `none`.
    let uid = u["id"].as_i64().unwrap();
    let res = app
        .patch(
            &format!("/api/v1/users/{uid}"),
            &admin.token,
            json!({"department_id": null}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    check_as(app, &bound, &uscc(344), "administrative_licensing").await;
    let stats: Value = app
        .get("/api/v1/credit-checks/stats", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    let count = |key: &str| {
        stats["by_department"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .map(|c| c["checks"].as_i64().unwrap())
    };
    assert_eq!(count(&DEPT_SCJG.to_string()), Some(2), "{stats}");
    assert_eq!(count("none"), Some(2), "{stats}");
}

#[tokio::test]
async fn a_legal_representative_on_a_black_list_is_reported_as_a_related_party_masked_unless_the_caller_may_see_it(
) {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.approver.token;
    let person = crate::entries::id_number(501);
    let masked = format!("{}********{}", &person[..6], &person[14..]);
    let mut p = entry("black", s.f.black, &person, "HEI-501");
    p["subject_name"] = json!("王五");
    p.as_object_mut().unwrap().remove("legal_representative");
    let person_entry = listed(&s, "black", p).await;
    // The enterprise is on the red list with him as its legal representative; another one
    // names a clean person; a third names none.
    let firm = uscc(351);
    let mut e = entry("red", s.f.red, &firm, "HONG-351");
    e["legal_representative"] = json!("王五");
    e["legal_representative_id"] = json!(person);
    let firm_entry = listed(&s, "red", e).await;
    let clean_firm = uscc(352);
    let mut e = entry("red", s.f.red, &clean_firm, "HONG-352");
    e["legal_representative_id"] = json!(crate::entries::id_number(502));
    listed(&s, "red", e).await;

    for field in ["administrative_licensing", "government_procurement"] {
        let res = app
            .post(
                "/api/v1/credit-checks",
                t,
                json!({"subject_code": firm, "field": field}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let text = res.text().await.unwrap();
        assert!(!text.contains(&person), "the ID number in clear: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let r = &v["related"][0];
        assert_eq!(v["related"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(r["relation"], "legal_representative");
        assert_eq!(r["name"], "王五");
        assert_eq!(r["id_number"], masked);
        assert_eq!(r["via_entry_ids"], json!([firm_entry]));
        assert_eq!(r["black"][0]["entry_id"], person_entry);
        assert_eq!(r["black"][0]["document_number"], "HEI-501");
        // Reported, not acted on: the enterprise's own advice stands (no measure reaches it).
        assert_eq!(v["advice"], "normal");
        assert_eq!(v["measures"], json!([]));
        assert!(codes(&v).contains(&"related_party_black_listed".to_string()));
        // 告知承诺 is the enterprise's own: still allowed where the field offers it.
        if field == "administrative_licensing" {
            assert_eq!(v["notification_commitment"]["status"], "allowed");
        }
    }
    let v = check_as(app, t, &clean_firm, "government_procurement").await;
    assert_eq!(v["related"], json!([]));
    // The person checked himself: no related party, his own entry.
    let v = check_as(app, t, &person, "government_procurement").await;
    assert_eq!(v["related"], json!([]));
    assert_eq!(v["black"][0]["entry_id"], person_entry);

    // An admin (and a bureau) sees the number in full; the stored receipt keeps it masked.
    let admin = app.admin().await;
    let v = check_as(app, &admin.token, &firm, "government_procurement").await;
    assert_eq!(v["related"][0]["id_number"], person);
    let id = v["check_id"].as_i64().unwrap();
    let text = app
        .get(&format!("/api/v1/credit-checks/{id}"), &admin.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains(&person), "receipt in clear: {text}");
    let stored: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stored["related"][0]["id_number"], masked);
    let city = app
        .account("city", Role::Bureau, None, Some("220500"))
        .await;
    let v = check_as(app, &city.token, &firm, "government_procurement").await;
    assert_eq!(v["related"][0]["id_number"], person);
    // A department officer does not.
    let v = check_as(app, &s.f.tax.token, &firm, "government_procurement").await;
    assert_eq!(v["related"][0]["id_number"], masked);
    {
        use credit_lists::schema::credit_checks;
        let mut conn = app.raw_conn();
        let all: Vec<String> = credit_checks::table
            .select(credit_checks::answer)
            .load(&mut conn)
            .unwrap();
        assert!(all.iter().all(|a| !a.contains(&person)));
    }

    // The database path gives the same related parties as the in-memory index.
    let plain = spawn_on(&app.db_url, |st| st.check_index = false).await;
    let body =
        json!({"subject_codes": [firm, clean_firm, person], "field": "government_procurement"});
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
    let expected = strip(crate::checks::batch_on(&plain, t, &body).await);
    assert_eq!(
        expected[0]["related"][0]["black"][0]["entry_id"],
        person_entry
    );
    for _ in 0..200 {
        let before = crate::checks::index_answers_of(app).await;
        let got = strip(crate::checks::batch_on(app, t, &body).await);
        if crate::checks::index_answers_of(app).await >= before + 3 {
            assert_eq!(got, expected);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the index never answered the batch");
}

#[tokio::test]
async fn the_consoles_check_page_shows_reasons_notification_commitment_and_related_parties_in_chinese(
) {
    let s = setup().await;
    let app = &s.f.app;
    let person = crate::entries::id_number(601);
    let mut p = entry("black", s.f.black, &person, "HEI-601");
    p["subject_name"] = json!("赵六");
    listed(&s, "black", p).await;
    let firm = uscc(361);
    let mut e = entry("black", s.f.black, &firm, "HEI-361");
    e["legal_representative"] = json!("赵六");
    e["legal_representative_id"] = json!(person);
    listed(&s, "black", e).await;
    // Checked by the tax department's officer (whose department's checks they may read).
    let v = check_as(app, &s.f.tax.token, &firm, "administrative_licensing").await;
    let id = v["check_id"].as_i64().unwrap();

    let mut b = crate::console::Browser::new(app);
    b.log_in("tax", PASSWORD).await;
    let page = b.get(&format!("/console/checks/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    for text in [
        "信用核查记录",
        "行政许可",
        "正常办理",
        "该主体在严重失信主体名单内，但本领域无适用惩戒措施",
        "告知承诺制",
        "不适用",
        "信用修复前不适用告知承诺制",
        "法定代表人",
        "赵六",
        "HEI-601",
        "不改变对被核查主体的核查建议",
    ] {
        assert!(body.contains(text), "{text} missing: {body}");
    }
    assert!(
        !body.contains("black_no_measure_in_field"),
        "codes are not shown"
    );
    assert!(!body.contains(&person), "the ID number in clear");
    assert!(body.contains(&format!("{}********{}", &person[..6], &person[14..])));

    // Someone else's check: not found, in Chinese; a bad id likewise.
    let other = check_as(
        app,
        &s.approver.token,
        &uscc(362),
        "administrative_licensing",
    )
    .await;
    let page = b
        .get(&format!("/console/checks/{}", other["check_id"]))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("没有这条核查记录"));
    let page = b.get("/console/checks/abc").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    // Not signed in: no page.
    let mut anon = crate::console::Browser::new(app);
    let page = anon.get(&format!("/console/checks/{id}")).await;
    assert_ne!(page.status, StatusCode::OK);
}
