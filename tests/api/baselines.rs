use credit_lists::auth::Role;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const PATH: &str = "/api/v1/national-baselines";

async fn put(app: &TestApp, token: &str, body: Value) -> Response {
    app.request(Method::PUT, PATH, Some(token), Some(body))
        .await
}

fn body(region: &str, year: i32, list_type: &str, count: i64) -> Value {
    json!({
        "region_code": region,
        "year": year,
        "list_type": list_type,
        "count": count,
        "provenance": "信用中国（吉林）年度导出"
    })
}

async fn list(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let res = app.get(&format!("{PATH}{query}"), token).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json::<Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn keys(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{}/{}/{}", r["region_code"], r["year"], r["list_type"]).replace('"', ""))
        .collect()
}

#[tokio::test]
async fn baselines_need_authentication() {
    let app = spawn_app().await;
    let res = app.client.get(app.url(PATH)).send().await.unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app
        .request(
            Method::PUT,
            PATH,
            None,
            Some(body("220521", 2019, "black", 3)),
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn admin_declares_and_updates_a_count_with_audit() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let before = app.audit_count();
    let res = put(&app, &admin.token, body("220521", 2019, "black", 37)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let row: Value = res.json().await.unwrap();
    assert_eq!(row["region_code"], "220521");
    assert_eq!(row["year"], 2019);
    assert_eq!(row["list_type"], "black");
    assert_eq!(row["count"], 37);
    assert_eq!(row["provenance"], "信用中国（吉林）年度导出");
    assert_eq!(row["updated_by"], admin.id);
    assert!(row["updated_at"].is_string());
    assert_eq!(app.audit_count(), before + 1);

    let res = put(
        &app,
        &admin.token,
        json!({"region_code": "220521", "year": 2019, "list_type": "black", "count": 0,
               "provenance": " 通化县法院 2019 年失信被执行人名单 "}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["count"], 0);
    assert_eq!(updated["provenance"], "通化县法院 2019 年失信被执行人名单");
    assert_eq!(app.audit_count(), before + 2);

    // Same region and year, other list type: a second row.
    let res = put(&app, &admin.token, body("220521", 2019, "red", 5)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let rows = list(&app, &admin.token, "").await;
    assert_eq!(keys(&rows), ["220521/2019/black", "220521/2019/red"]);
    assert_eq!(rows[0], updated);

    let page: Value = app
        .get(
            "/api/v1/audit-log?action=national_baseline.update",
            &admin.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    let rec = &page["items"][0];
    assert_eq!(rec["entity_type"], "national_baseline");
    assert_eq!(rec["entity_id"], "220521/2019/black");
    assert_eq!(rec["region_code"], "220521");
    assert_eq!(rec["before"]["count"], 37);
    assert_eq!(rec["after"]["count"], 0);
    let page: Value = app
        .get(
            "/api/v1/audit-log?action=national_baseline.create",
            &admin.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 2);
}

#[tokio::test]
async fn list_filters_by_year_region_and_type() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for (region, year, t, n) in [
        ("220500", 2019, "black", 120),
        ("220521", 2019, "black", 37),
        ("220521", 2020, "red", 4),
        ("220582", 2019, "red", 9),
    ] {
        let res = put(&app, &admin.token, body(region, year, t, n)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let t = &admin.token;
    assert_eq!(
        keys(&list(&app, t, "").await),
        [
            "220500/2019/black",
            "220521/2019/black",
            "220582/2019/red",
            "220521/2020/red"
        ]
    );
    assert_eq!(
        keys(&list(&app, t, "?year=2019&list_type=black").await),
        ["220500/2019/black", "220521/2019/black"]
    );
    assert_eq!(
        keys(&list(&app, t, "?region_code=220521").await),
        ["220521/2019/black", "220521/2020/red"]
    );
    assert!(list(&app, t, "?year=2030").await.is_empty());
    let res = app.get(&format!("{PATH}?list_type=grey"), t).await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_eq!(problem_fields(&p), vec!["query.list_type"]);
    let res = app.get(&format!("{PATH}?region=220521"), t).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    let res = app.get(&format!("{PATH}?year=last"), t).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn bureaus_are_scoped_to_their_region() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let city = app
        .account("city", Role::Bureau, None, Some("220500"))
        .await;
    let county = app
        .account("county", Role::Bureau, None, Some("220521"))
        .await;
    // The city bureau covers every region.
    for region in ["220500", "220582", "Z01"] {
        let res = put(&app, &city.token, body(region, 2019, "black", 1)).await;
        assert_eq!(res.status(), StatusCode::OK, "{region}");
    }
    // A county bureau writes its own region only.
    let res = put(&app, &county.token, body("220521", 2019, "black", 2)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let before = app.audit_count();
    for region in ["220500", "220582", "999999"] {
        let res = put(&app, &county.token, body(region, 2019, "black", 2)).await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(app.audit_count(), before);
    // … and reads its own region only.
    assert_eq!(
        keys(&list(&app, &county.token, "").await),
        ["220521/2019/black"]
    );
    assert_eq!(
        keys(&list(&app, &county.token, "?region_code=220521&year=2019").await),
        ["220521/2019/black"]
    );
    let res = app
        .get(&format!("{PATH}?region_code=220582"), &county.token)
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // The city bureau and admins see all four rows.
    assert_eq!(list(&app, &city.token, "").await.len(), 4);
    assert_eq!(list(&app, &admin.token, "").await.len(), 4);
    // The stored row names who set it.
    let rows = list(&app, &county.token, "").await;
    assert_eq!(rows[0]["updated_by"], county.id);
}

#[tokio::test]
async fn departments_and_approval_systems_may_not_use_baselines() {
    let app = spawn_app().await;
    let dept = app
        .account("dept", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let machine = app
        .account("machine", Role::ApprovalSystem, None, None)
        .await;
    let before = app.audit_count();
    for who in [&dept, &machine] {
        let res = app.get(PATH, &who.token).await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = put(&app, &who.token, body("220500", 2019, "black", 1)).await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(app.audit_count(), before);
}

#[tokio::test]
async fn baseline_input_is_validated_and_nothing_is_written() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let before = app.audit_count();
    let good = body("220521", 2019, "black", 3);
    let with = |field: &str, value: Value| {
        let mut b = good.clone();
        b[field] = value;
        b
    };
    for (b, field, code) in [
        (with("year", json!(1999)), "year", "out_of_range"),
        (with("year", json!(2101)), "year", "out_of_range"),
        (
            with("list_type", json!("grey")),
            "list_type",
            "invalid_value",
        ),
        (with("count", json!(-1)), "count", "out_of_range"),
        (with("provenance", json!("  ")), "provenance", "required"),
        (
            with("provenance", json!("据".repeat(501))),
            "provenance",
            "too_long",
        ),
        (with("region_code", json!(" ")), "region_code", "required"),
    ] {
        let res = put(&app, &admin.token, b).await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem_fields(&p), vec![field], "{p}");
        assert_eq!(p["errors"][0]["code"], code, "{p}");
    }
    // Several bad fields are named together.
    let res = put(
        &app,
        &admin.token,
        json!({"region_code": "220521", "year": 1900, "list_type": "white", "count": -5, "provenance": ""}),
    )
    .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        problem_fields(&p),
        vec!["year", "list_type", "count", "provenance"]
    );
    // An unknown region.
    let res = put(&app, &admin.token, with("region_code", json!("110000"))).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_region").await;
    assert_eq!(problem_fields(&p), vec!["region_code"]);
    // Malformed bodies are 400s naming the field.
    let res = put(&app, &admin.token, with("count", json!("many"))).await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(problem_fields(&p), vec!["count"]);
    let res = put(&app, &admin.token, with("source", json!("x"))).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("provenance");
    let res = put(&app, &admin.token, missing).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;

    assert_eq!(app.audit_count(), before);
    assert!(list(&app, &admin.token, "").await.is_empty());
}
