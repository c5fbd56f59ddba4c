use credit_lists::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn regions_are_seeded_with_the_city_counties_and_zones() {
    let app = spawn_app().await;
    let acc = app
        .account("machine1", Role::ApprovalSystem, None, None)
        .await;
    let regions: Value = app
        .get("/api/v1/regions", &acc.token)
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = regions
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec![
            "220500", "220502", "220503", "220521", "220523", "220524", "220581", "220582", "Z01",
            "Z02"
        ]
    );
    let zone = regions
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "Z01")
        .unwrap();
    assert_eq!(zone["name"], "通化医药高新区");
    assert_eq!(zone["kind"], "zone");
    assert_eq!(zone["parent_code"], "220500");
}

#[tokio::test]
async fn departments_are_seeded_with_stable_ids_and_filter_by_region() {
    let app = spawn_app().await;
    let acc = app
        .account("machine1", Role::ApprovalSystem, None, None)
        .await;
    let all: Value = app
        .get("/api/v1/departments", &acc.token)
        .await
        .json()
        .await
        .unwrap();
    let all = all.as_array().unwrap();
    assert!(all.len() >= 60, "{} departments", all.len());
    assert_eq!(all[0]["id"], 1);
    assert_eq!(all[0]["name"], "市政务服务和数字化局");
    assert_eq!(all[0]["kind"], "bureau");
    let scjg: Value = app
        .get(&format!("/api/v1/departments/{DEPT_SCJG}"), &acc.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(scjg["name"], "市市场监督管理局");
    let tax: Value = app
        .get(&format!("/api/v1/departments/{DEPT_TAX}"), &acc.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tax["name"], "市税务局");
    // One bureau per county or district.
    let bureaus: Value = app
        .get("/api/v1/departments?kind=bureau", &acc.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bureaus.as_array().unwrap().len(), 8);
    let county: Value = app
        .get("/api/v1/departments?region=220521", &acc.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(county.as_array().unwrap().len(), 1);
    assert_eq!(county[0]["name"], "通化县政务服务和数字化局");
    let res = app.get("/api/v1/departments?kind=club", &acc.token).await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_eq!(problem_fields(&p), vec!["query.kind"]);
    let res = app.get("/api/v1/departments/99999", &acc.token).await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get("/api/v1/departments/abc", &acc.token).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
}

#[tokio::test]
async fn organisation_needs_authentication() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/regions",
        "/api/v1/departments",
        "/api/v1/departments/1",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[tokio::test]
async fn admin_adds_and_deactivates_a_county_department() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .post(
            "/api/v1/departments",
            &admin.token,
            json!({"name": "通化县市场监督管理局", "region_code": "220521", "kind": "unit"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let d: Value = res.json().await.unwrap();
    let id = d["id"].as_i64().unwrap();
    assert!(id >= 1000, "{id}");
    assert_eq!(d["active"], true);
    let res = app
        .post(
            "/api/v1/departments",
            &admin.token,
            json!({"name": "通化县市场监督管理局", "region_code": "220521", "kind": "unit"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "department_exists").await;
    // The same name in another county is fine.
    let res = app
        .post(
            "/api/v1/departments",
            &admin.token,
            json!({"name": "通化县市场监督管理局", "region_code": "220523", "kind": "unit"}),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["id"], id + 1);

    let res = app
        .patch(
            &format!("/api/v1/departments/{id}"),
            &admin.token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["active"], false);
    let inactive: Value = app
        .get("/api/v1/departments?active=false", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inactive.as_array().unwrap().len(), 1);
    // An inactive department cannot get new accounts.
    let res = app
        .post("/api/v1/users", &admin.token, json!({"username": "late", "password": PASSWORD, "role": "department", "department_id": id}))
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "inactive_department");
}

#[tokio::test]
async fn department_input_is_validated() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let before = app.audit_count();
    let res = app
        .post(
            "/api/v1/departments",
            &admin.token,
            json!({"name": " ", "region_code": "220521", "kind": "unit"}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), vec!["name"]);
    let res = app
        .post(
            "/api/v1/departments",
            &admin.token,
            json!({"name": "x", "region_code": "220521", "kind": "club"}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&p), vec!["kind"]);
    let res = app
        .post(
            "/api/v1/departments",
            &admin.token,
            json!({"name": "x", "region_code": "110000", "kind": "unit"}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_region").await;
    assert_eq!(problem_fields(&p), vec!["region_code"]);
    let res = app
        .patch(
            "/api/v1/departments/1",
            &admin.token,
            json!({"name": "市税务局"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "department_exists").await;
    let res = app
        .patch(
            "/api/v1/departments/424242",
            &admin.token,
            json!({"active": false}),
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.audit_count(), before);
}

#[tokio::test]
async fn only_admins_write_departments() {
    let app = spawn_app().await;
    let city = app
        .account("city", Role::Bureau, None, Some("220500"))
        .await;
    let county = app
        .account("county", Role::Bureau, None, Some("220521"))
        .await;
    let dept = app
        .account("dept", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let machine = app
        .account("machine", Role::ApprovalSystem, None, None)
        .await;
    for who in [&city, &county, &dept, &machine] {
        let res = app
            .post(
                "/api/v1/departments",
                &who.token,
                json!({"name": "新部门", "region_code": "220521", "kind": "unit"}),
            )
            .await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app
            .patch(
                &format!("/api/v1/departments/{DEPT_SCJG}"),
                &who.token,
                json!({"active": false}),
            )
            .await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
}
