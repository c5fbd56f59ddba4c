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
