use credit_lists::auth::Role;
use credit_lists::schema::audit_log;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn every_write_is_recorded_with_actor_before_and_after() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/departments/{DEPT_SCJG}")))
        .bearer_auth(&admin.token)
        .header("x-request-id", "trace-me-1")
        .json(&json!({"name": "市市场监管局"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-request-id"], "trace-me-1");
    let page: Value = app
        .get("/api/v1/audit-log?action=department.update", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    let rec = &page["items"][0];
    assert_eq!(rec["actor_user_id"], admin.id);
    assert_eq!(rec["actor_username"], "admin");
    assert_eq!(rec["actor_role"], "admin");
    assert_eq!(rec["entity_type"], "department");
    assert_eq!(rec["entity_id"], DEPT_SCJG.to_string());
    assert_eq!(rec["region_code"], "220500");
    assert_eq!(rec["before"]["name"], "市市场监督管理局");
    assert_eq!(rec["after"]["name"], "市市场监管局");
    assert_eq!(rec["request_id"], "trace-me-1");
    assert_eq!(rec["ip"], "127.0.0.1");

    // Logins, user changes and logouts are writes too.
    let actions: Vec<String> = {
        let page: Value = app
            .get("/api/v1/audit-log?per_page=200", &admin.token)
            .await
            .json()
            .await
            .unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(actions.contains(&"user.create".to_string()));
    assert!(actions.contains(&"auth.login".to_string()));
    // Password hashes never reach the trail.
    let all: Vec<Option<String>> = audit_log::table
        .select(audit_log::after_json)
        .load(&mut *app.conn())
        .unwrap();
    assert!(all.iter().flatten().all(|j| !j.contains("argon2")));
}

#[tokio::test]
async fn chain_verifies_and_detects_tampering() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for i in 0..3 {
        app.post(
            "/api/v1/departments",
            &admin.token,
            json!({"name": format!("部门{i}"), "region_code": "220502", "kind": "unit"}),
        )
        .await;
    }
    let report: Value = app
        .get("/api/v1/audit-log/verify", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let n = report["checked"].as_i64().unwrap();
    assert!(n >= 5);

    // Edit one record's content behind the service's back.
    let mut conn = app.raw_conn();
    diesel::update(audit_log::table.filter(audit_log::id.eq(3)))
        .set(audit_log::after_json.eq(Some("{\"name\":\"forged\"}")))
        .execute(&mut conn)
        .unwrap();
    let report: Value = app
        .get("/api/v1/audit-log/verify", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_broken"]["id"], 3);
    assert_eq!(report["checked"], 2);
}

#[tokio::test]
async fn deleted_and_truncated_records_are_detected() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for i in 0..3 {
        app.post(
            "/api/v1/departments",
            &admin.token,
            json!({"name": format!("部门{i}"), "region_code": "220502", "kind": "unit"}),
        )
        .await;
    }
    let total = app.audit_count();
    let mut conn = app.raw_conn();
    // Removing the newest record: only the head notices.
    diesel::delete(audit_log::table.filter(audit_log::id.eq(total)))
        .execute(&mut conn)
        .unwrap();
    let report = credit_lists::audit::verify(&mut conn).unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_broken.unwrap().id, total);
    // Removing one in the middle.
    diesel::delete(audit_log::table.filter(audit_log::id.eq(2)))
        .execute(&mut conn)
        .unwrap();
    let report = credit_lists::audit::verify(&mut conn).unwrap();
    assert_eq!(report.first_broken.unwrap().id, 2);
}

#[tokio::test]
async fn concurrent_writes_keep_one_unbroken_chain() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let client = app.client.clone();
        let url = app.url("/api/v1/departments");
        let token = admin.token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"name": format!("并发部门{i}"), "region_code": "220503", "kind": "unit"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let report: Value = app
        .get("/api/v1/audit-log/verify", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let created: Value = app
        .get("/api/v1/departments?region=220503", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created.as_array().unwrap().len(), 25);
}

#[tokio::test]
async fn bureaus_read_their_region_and_others_may_not_read_at_all() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for region in ["220521", "220502"] {
        let res = app
            .post(
                "/api/v1/departments",
                &admin.token,
                json!({"name": "审计测试局", "region_code": region, "kind": "unit"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let county = app
        .account("county", Role::Bureau, None, Some("220521"))
        .await;
    let page: Value = app
        .get("/api/v1/audit-log?per_page=200", &county.token)
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|r| r["region_code"] == "220521"), "{page}");
    assert!(items.iter().any(|r| r["action"] == "department.create"));
    let res = app
        .get("/api/v1/audit-log?region_code=220502", &county.token)
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.get("/api/v1/audit-log/verify", &county.token).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;

    let city = app
        .account("city", Role::Bureau, None, Some("220500"))
        .await;
    let page: Value = app
        .get("/api/v1/audit-log?region_code=220502", &city.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);

    let dept = app
        .account("dept", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let machine = app
        .account("machine", Role::ApprovalSystem, None, None)
        .await;
    for who in [&dept, &machine] {
        assert_problem(
            app.get("/api/v1/audit-log", &who.token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let res = app
        .client
        .get(app.url("/api/v1/audit-log"))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn audit_filters_are_checked() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let page: Value = app
        .get("/api/v1/audit-log?entity_type=user&action=user.create&from=2000-01-01T00:00:00&to=2999-01-01T00:00:00", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    let res = app
        .get(
            "/api/v1/audit-log?from=2030-01-01T00:00:00&to=2020-01-01T00:00:00",
            &admin.token,
        )
        .await;
    // Each well-formed, together out of order: 422, not 400 (a cross-field rule).
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "query.from");
    let res = app
        .get("/api/v1/audit-log?from=yesterday", &admin.token)
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}

/// `from` and `to` take RFC 3339 with `Z` or any offset (`+` sent as `%2B`), and a time without
/// offset as China time (UTC+8).
#[tokio::test]
async fn audit_times_take_any_offset_and_china_time_without_one() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    // The account was created just now; an hour either side of now is far from any edge.
    let now = chrono::Utc::now().naive_utc();
    let total = |from: String| {
        let app = &app;
        let token = admin.token.clone();
        async move {
            let res = app
                .get(
                    &format!("/api/v1/audit-log?entity_type=user&action=user.create&from={from}"),
                    &token,
                )
                .await;
            let status = res.status();
            let page: Value = res.json().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{from}: {page}");
            page["total"].as_i64().unwrap()
        }
    };
    let fmt = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let hour = chrono::Duration::hours(1);
    let china = chrono::Duration::hours(8);
    let utc5 = chrono::Duration::hours(5);
    // An hour ago, in four spellings: the record is found.
    assert_eq!(total(format!("{}Z", fmt(now - hour))).await, 1);
    assert_eq!(
        total(format!("{}%2B08:00", fmt(now - hour + china))).await,
        1
    );
    assert_eq!(total(format!("{}-05:00", fmt(now - hour - utc5))).await, 1);
    assert_eq!(
        total(fmt(now - hour + china)).await,
        1,
        "no offset: China time"
    );
    // An hour from now, the same four ways: it is not.
    assert_eq!(total(format!("{}Z", fmt(now + hour))).await, 0);
    assert_eq!(
        total(format!("{}%2B08:00", fmt(now + hour + china))).await,
        0
    );
    assert_eq!(total(format!("{}-05:00", fmt(now + hour - utc5))).await, 0);
    assert_eq!(
        total(fmt(now + hour + china)).await,
        0,
        "no offset: China time"
    );
    // Read as UTC, the China-time spelling of an hour ago would lie seven hours ahead.
    let res = app
        .get(
            &format!("/api/v1/audit-log?to={}", fmt(now - hour + china)),
            &admin.token,
        )
        .await;
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["total"], 0, "{page}");
    let res = app
        .get(
            "/api/v1/audit-log?from=2026-11-28T08:00:00%2B8",
            &admin.token,
        )
        .await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_eq!(problem_fields(&p), vec!["query.from"], "{p}");
}
