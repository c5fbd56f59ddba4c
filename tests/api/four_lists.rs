use credit_lists::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

pub fn black_scope(code: &str) -> Value {
    json!({
        "kind": "black_scope",
        "code": code,
        "title": "重大税收违法失信主体",
        "description": "偷税、逃避追缴欠税、骗取出口退税等情形",
        "legal_basis": [{"document": "《重大税收违法失信主体信息公布管理办法》", "article": "第六条", "issuer": "国家税务总局", "level": "departmental_rule"}],
        "subject_kinds": ["enterprise", "individual"],
        "severity": "serious"
    })
}

pub fn red_scope(code: &str) -> Value {
    json!({
        "kind": "red_scope",
        "code": code,
        "title": "纳税信用A级纳税人",
        "legal_basis": [{"document": "《纳税信用管理办法（试行）》", "level": "normative_document"}],
        "subject_kinds": ["enterprise"],
        "validity_months": 24
    })
}

pub fn punishment(code: &str, scopes: &[i64]) -> Value {
    json!({
        "kind": "punishment_measures",
        "code": code,
        "title": "限制参与政府采购",
        "legal_basis": [{"document": "《政府采购法》", "article": "第二十二条", "level": "law"}],
        "subject_kinds": ["enterprise"],
        "fields": ["government_procurement", "bidding"],
        "linked_scope_item_ids": scopes
    })
}

pub async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let res = app.post("/api/v1/four-list-items", token, body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

pub async fn publish(app: &TestApp, token: &str, id: i64) -> Value {
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/four-list-items/{id}/publish"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn an_item_goes_from_draft_to_published_to_repealed() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let item = create(&app, &tax.token, black_scope("SW-HEI-001")).await;
    assert_eq!(item["status"], "draft");
    assert_eq!(item["version"], 1);
    assert_eq!(item["department_id"], DEPT_TAX);
    // Tier defaults were filled in.
    assert_eq!(item["publication_months_min"], 12);
    assert_eq!(item["publication_months_max"], 36);
    assert_eq!(item["repair_after_months"], 12);
    assert_eq!(item["repairable"], true);
    let id = item["id"].as_i64().unwrap();

    // A draft is edited in place.
    let res = app
        .patch(
            &format!("/api/v1/four-list-items/{id}"),
            &tax.token,
            json!({"title": "重大税收违法失信主体（修订）"}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["version"], 1);

    let v = publish(&app, &tax.token, id).await;
    assert_eq!(v["status"], "published");
    assert_eq!(v["published_version"], 1);
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/four-list-items/{id}/publish"),
            Some(&tax.token),
            None,
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "nothing_to_publish").await;

    // Editing a published item makes version 2 as a draft; version 1 stays in force.
    let res = app
        .patch(
            &format!("/api/v1/four-list-items/{id}"),
            &tax.token,
            json!({"publication_months_max": 24}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["version_status"], "draft");
    assert_eq!(v["published_version"], 1);
    assert_eq!(v["has_unpublished_changes"], true);
    let other = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let seen: Value = app
        .get(&format!("/api/v1/four-list-items/{id}"), &other.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["version"], 1, "others see the version in force");
    assert_eq!(seen["publication_months_max"], 36);

    let v = publish(&app, &tax.token, id).await;
    assert_eq!(v["published_version"], 2);
    let versions: Value = app
        .get(
            &format!("/api/v1/four-list-items/{id}/versions"),
            &other.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version_status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["superseded", "published"]);
    assert_eq!(
        versions[0]["publication_months_max"], 36,
        "old versions stay readable"
    );

    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/four-list-items/{id}/repeal"),
            Some(&tax.token),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/four-list-items/{id}/repeal"),
            Some(&tax.token),
            None,
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "not_published").await;
    let res = app
        .patch(
            &format!("/api/v1/four-list-items/{id}"),
            &tax.token,
            json!({"title": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "item_repealed").await;
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/four-list-items/{id}/publish"),
            Some(&tax.token),
            None,
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "item_repealed").await;

    let admin = app.admin().await;
    let page: Value = app
        .get(
            &format!("/api/v1/audit-log?entity_type=four_list_item&entity_id={id}"),
            &admin.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 6);
}

#[tokio::test]
async fn a_draft_cannot_be_repealed_and_codes_are_unique_per_department() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let item = create(&app, &tax.token, red_scope("SW-HONG-001")).await;
    let id = item["id"].as_i64().unwrap();
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/four-list-items/{id}/repeal"),
            Some(&tax.token),
            None,
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "not_published").await;
    let res = app
        .post(
            "/api/v1/four-list-items",
            &tax.token,
            red_scope("SW-HONG-001"),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "code_taken").await;
    // Another department may use the same code.
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    create(&app, &scjg.token, red_scope("SW-HONG-001")).await;
    // Code frozen once published.
    publish(&app, &tax.token, id).await;
    let res = app
        .patch(
            &format!("/api/v1/four-list-items/{id}"),
            &tax.token,
            json!({"code": "NEW"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "code_frozen").await;
}

#[tokio::test]
async fn content_is_validated_against_the_kind() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let before = app.audit_count();
    let mut no_severity = black_scope("A1");
    no_severity.as_object_mut().unwrap().remove("severity");
    let mut no_validity = red_scope("A2");
    no_validity
        .as_object_mut()
        .unwrap()
        .remove("validity_months");
    let mut measure_no_fields = punishment("A3", &[]);
    measure_no_fields["fields"] = json!([]);
    let mut bad_field = punishment("A4", &[]);
    bad_field["fields"] = json!(["astrology"]);
    let mut scope_with_fields = black_scope("A5");
    scope_with_fields["fields"] = json!(["bidding"]);
    let mut bad_periods = black_scope("A6");
    bad_periods["publication_months_min"] = json!(24);
    bad_periods["publication_months_max"] = json!(12);
    let mut empty_basis = red_scope("A7");
    empty_basis["legal_basis"] = json!([]);
    let mut blank_doc = red_scope("A8");
    blank_doc["legal_basis"] = json!([{"document": "  "}]);
    let cases = [
        (no_severity, "severity"),
        (no_validity, "validity_months"),
        (measure_no_fields, "fields"),
        (bad_field, "fields[0]"),
        (scope_with_fields, "fields"),
        (bad_periods, "publication_months_max"),
        (empty_basis, "legal_basis"),
        (blank_doc, "legal_basis[0].document"),
        (
            json!({"kind": "red_scope", "code": "has space", "title": "t", "legal_basis": [{"document": "d"}], "subject_kinds": ["enterprise"], "validity_months": 12}),
            "code",
        ),
        (
            json!({"kind": "red_scope", "code": "A9", "title": "", "legal_basis": [{"document": "d"}], "subject_kinds": [], "validity_months": 12}),
            "subject_kinds",
        ),
    ];
    for (body, field) in cases {
        let res = app
            .post("/api/v1/four-list-items", &tax.token, body.clone())
            .await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(
            problem_fields(&p).contains(&field.to_string()),
            "{field}: {p}"
        );
    }
    let res = app
        .post(
            "/api/v1/four-list-items",
            &tax.token,
            json!({"kind": "gold_list", "code": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(app.audit_count(), before);
}

#[tokio::test]
async fn measures_link_to_scopes_of_the_matching_kind_and_publish_after_them() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let black = create(&app, &tax.token, black_scope("B1")).await["id"]
        .as_i64()
        .unwrap();
    let red = create(&app, &tax.token, red_scope("R1")).await["id"]
        .as_i64()
        .unwrap();
    // A punishment cannot follow from a red scope.
    let res = app
        .post(
            "/api/v1/four-list-items",
            &tax.token,
            punishment("P0", &[red]),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["code"], "wrong_kind");
    let m = create(&app, &tax.token, punishment("P1", &[black])).await;
    assert_eq!(m["implementing_department_ids"], json!([DEPT_TAX]));
    let mid = m["id"].as_i64().unwrap();
    // The scope must be published before the measure.
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/four-list-items/{mid}/publish"),
            Some(&tax.token),
            None,
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["code"], "scope_not_published");
    publish(&app, &tax.token, black).await;
    let v = publish(&app, &tax.token, mid).await;
    assert_eq!(v["linked_scope_item_ids"], json!([black]));
}

#[tokio::test]
async fn departments_manage_only_their_own_items_and_bureaus_publish_for_their_region() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let city = app
        .account("city", Role::Bureau, None, Some("220500"))
        .await;
    let county = app
        .account("county", Role::Bureau, None, Some("220521"))
        .await;
    let machine = app
        .account("machine", Role::ApprovalSystem, None, None)
        .await;

    // Creating for another department.
    let mut body = red_scope("X1");
    body["department_id"] = json!(DEPT_SCJG);
    assert_problem(
        app.post("/api/v1/four-list-items", &tax.token, body.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for who in [&city, &county, &machine] {
        assert_problem(
            app.post("/api/v1/four-list-items", &who.token, body.clone())
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    // Admins name the department.
    let res = app
        .post("/api/v1/four-list-items", &admin.token, red_scope("X2"))
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "required").await;
    create(&app, &admin.token, body).await;

    let id = create(&app, &tax.token, red_scope("X3")).await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/four-list-items/{id}");
    // A draft is invisible outside the department's managers.
    for who in [&scjg, &county, &machine] {
        assert_problem(
            app.get(&path, &who.token).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert_eq!(app.get(&path, &city.token).await.status(), StatusCode::OK);
    let listed: Value = app
        .get("/api/v1/four-list-items", &scjg.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["id"] != id));
    // Others cannot edit or publish it; a county bureau is outside the city department's region.
    assert_problem(
        app.patch(&path, &scjg.token, json!({"title": "x"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.patch(&path, &city.token, json!({"title": "x"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for who in [&scjg, &county, &machine] {
        let res = app
            .request(
                Method::POST,
                &format!("{path}/publish"),
                Some(&who.token),
                None,
            )
            .await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // The city bureau publishes on the department's behalf.
    let res = app
        .request(
            Method::POST,
            &format!("{path}/publish"),
            Some(&city.token),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Published items are readable by every authenticated caller, and by nobody anonymous here.
    for who in [&scjg, &county, &machine] {
        assert_eq!(app.get(&path, &who.token).await.status(), StatusCode::OK);
    }
    assert_problem(
        app.client.get(app.url(&path)).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn list_filters_and_search() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    create(&app, &tax.token, black_scope("F1")).await;
    create(&app, &tax.token, red_scope("F2")).await;
    let page: Value = app
        .get("/api/v1/four-list-items?kind=black_scope", &tax.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    let page: Value = app
        .get("/api/v1/four-list-items?q=%E7%BA%B3%E7%A8%8E", &tax.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["total"], 1,
        "search by a CJK substring of the title: {page}"
    );
    assert_eq!(page["items"][0]["code"], "F2");
    let page: Value = app
        .get("/api/v1/four-list-items?status=published", &tax.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 0);
    let res = app
        .get("/api/v1/four-list-items?status=lost", &tax.token)
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn the_public_sees_only_published_versions_with_an_etag() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let a = create(&app, &tax.token, black_scope("P1")).await["id"]
        .as_i64()
        .unwrap();
    create(&app, &tax.token, red_scope("P2")).await;
    publish(&app, &tax.token, a).await;
    app.patch(
        &format!("/api/v1/four-list-items/{a}"),
        &tax.token,
        json!({"title": "未公布的修改"}),
    )
    .await;
    let res = app
        .client
        .get(app.url("/api/v1/public/four-list-items"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["title"], "重大税收违法失信主体");
    assert_eq!(page["items"][0]["version"], 1);
    let res = app
        .client
        .get(app.url("/api/v1/public/four-list-items"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    publish(&app, &tax.token, a).await;
    let res = app
        .client
        .get(app.url("/api/v1/public/four-list-items"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "a new version changes the tag"
    );
}

#[tokio::test]
async fn admins_extend_the_fields_vocabulary() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let fields: Value = app
        .get("/api/v1/application-fields", &tax.token)
        .await
        .json()
        .await
        .unwrap();
    // 16 seeded (issue 23: the fields the plan and the national memoranda name).
    assert_eq!(fields.as_array().unwrap().len(), 16);
    assert_problem(
        app.post(
            "/api/v1/application-fields",
            &tax.token,
            json!({"code": "land_supply", "name": "土地供应"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = app
        .post(
            "/api/v1/application-fields",
            &admin.token,
            json!({"code": "land_supply", "name": "土地供应"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post(
            "/api/v1/application-fields",
            &admin.token,
            json!({"code": "land_supply", "name": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "field_exists").await;
    let mut m = punishment("L1", &[]);
    m["fields"] = json!(["land_supply"]);
    create(&app, &tax.token, m.clone()).await;
    let res = app
        .patch(
            "/api/v1/application-fields/land_supply",
            &admin.token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    m["code"] = json!("L2");
    let res = app.post("/api/v1/four-list-items", &tax.token, m).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn public_endpoints_reject_bad_parameters_and_need_no_token() {
    let app = spawn_app().await;
    for (path, code) in [
        ("/api/v1/public/list-entries?status=secret", "invalid_query"),
        ("/api/v1/public/list-entries?per_page=1000", "invalid_query"),
        (
            "/api/v1/public/list-entries?list_type=grey",
            "invalid_query",
        ),
        ("/api/v1/public/four-list-items?kind=gold", "invalid_query"),
        ("/api/v1/public/four-list-items?page=0", "invalid_query"),
        ("/api/v1/public/four-list-items?unknown=1", "invalid_query"),
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(res, StatusCode::BAD_REQUEST, code).await;
    }
    for path in [
        "/api/v1/public/list-entries",
        "/api/v1/public/four-list-items",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(res.headers().contains_key("etag"));
        assert_eq!(res.headers()["cache-control"], "public, max-age=60");
    }
}

#[tokio::test]
async fn versions_and_items_of_unknown_ids_are_404_and_bad_ids_400() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    for path in [
        "/api/v1/four-list-items/999",
        "/api/v1/four-list-items/999/versions",
    ] {
        assert_problem(
            app.get(path, &tax.token).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert_problem(
        app.get("/api/v1/four-list-items/abc", &tax.token).await,
        StatusCode::BAD_REQUEST,
        "invalid_path_parameter",
    )
    .await;
    let res = app
        .request(
            Method::POST,
            "/api/v1/four-list-items/999/publish",
            Some(&tax.token),
            None,
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .patch(
            "/api/v1/four-list-items/999",
            &tax.token,
            json!({"title": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .patch(
            "/api/v1/four-list-items/1",
            &tax.token,
            json!({"colour": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
}

/// Publishes `id`, expecting 422 `insufficient_legal_basis` naming `legal_basis`.
async fn refused_for_its_basis(app: &TestApp, token: &str, id: i64) {
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/four-list-items/{id}/publish"),
            Some(token),
            None,
        )
        .await;
    let p = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "insufficient_legal_basis",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["legal_basis".to_string()], "{p}");
}

fn basis(level: Option<&str>) -> Value {
    match level {
        Some(l) => json!([{"document": "《某某文件》", "article": "第一条", "level": l}]),
        None => json!([{"document": "《某某文件》", "article": "第一条"}]),
    }
}

#[tokio::test]
async fn publishing_needs_a_legal_basis_of_a_sufficient_level() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let t = &tax.token;
    let scope = create(&app, t, black_scope("HEI-1")).await;
    assert_eq!(scope["origin"], "local", "scope items are local by default");
    assert_eq!(scope["legal_basis"][0]["level"], "departmental_rule");
    assert_eq!(scope["legal_basis_sufficient"], true);
    assert_eq!(scope["published_legal_basis_sufficient"], Value::Null);
    let scope = scope["id"].as_i64().unwrap();
    publish(&app, t, scope).await;

    // A measure resting only on 其他规范性文件: saved as a draft, flagged, refused on publish.
    let mut m = punishment("CJ-1", &[scope]);
    m["legal_basis"] = basis(Some("normative_document"));
    let measure = create(&app, t, m).await;
    assert_eq!(measure["status"], "draft");
    assert_eq!(measure["legal_basis"][0]["level"], "normative_document");
    assert_eq!(measure["legal_basis_sufficient"], false);
    let measure = measure["id"].as_i64().unwrap();
    let before = app.audit_count();
    refused_for_its_basis(&app, t, measure).await;
    assert_eq!(
        app.audit_count(),
        before,
        "a refused publish writes nothing"
    );
    let v: Value = app
        .get(&format!("/api/v1/four-list-items/{measure}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["status"].as_str(), v["published_version"].as_i64()),
        (Some("draft"), None)
    );
    // Neither a 地方政府规章 nor a row without a level is enough for a measure.
    for level in [Some("local_government_rule"), None] {
        let res = app
            .patch(
                &format!("/api/v1/four-list-items/{measure}"),
                t,
                json!({"legal_basis": basis(level)}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "a draft saves without a level"
        );
        refused_for_its_basis(&app, t, measure).await;
    }
    // A central policy document (党中央国务院政策文件) among the rows is.
    let res = app
        .patch(
            &format!("/api/v1/four-list-items/{measure}"),
            t,
            json!({"legal_basis": [
                {"document": "《某某通知》", "level": "normative_document"},
                {"document": "《关于加快推进失信被执行人信用监督、警示和惩戒机制建设的意见》", "article": "二", "issuer": "中共中央办公厅、国务院办公厅", "level": "central_policy_document"}
            ]}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["legal_basis_sufficient"], true, "{v}");
    let v = publish(&app, t, measure).await;
    assert_eq!(v["status"], "published");
    assert_eq!(v["published_legal_basis_sufficient"], true);
    // So is each of law, administrative regulation, departmental rule and local regulation.
    for (n, level) in [
        "law",
        "administrative_regulation",
        "departmental_rule",
        "local_regulation",
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = punishment(&format!("CJ-OK-{n}"), &[scope]);
        m["legal_basis"] = basis(Some(level));
        let id = create(&app, t, m).await["id"].as_i64().unwrap();
        publish(&app, t, id).await;
    }

    // A local black scope item: a 地方政府规章 or a central policy document is not enough, a
    // 地方性法规 is.
    let mut local = black_scope("HEI-LOCAL");
    local["legal_basis"] = basis(Some("local_government_rule"));
    let local = create(&app, t, local).await;
    assert_eq!(local["legal_basis_sufficient"], false);
    let local = local["id"].as_i64().unwrap();
    refused_for_its_basis(&app, t, local).await;
    for level in [
        Some("central_policy_document"),
        Some("normative_document"),
        None,
    ] {
        app.patch(
            &format!("/api/v1/four-list-items/{local}"),
            t,
            json!({"legal_basis": basis(level)}),
        )
        .await;
        refused_for_its_basis(&app, t, local).await;
    }
    let res = app
        .patch(
            &format!("/api/v1/four-list-items/{local}"),
            t,
            json!({"legal_basis": basis(Some("local_regulation"))}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(publish(&app, t, local).await["status"], "published");

    // A list a national authority sets is not held to the local rule.
    let mut national = black_scope("HEI-NATIONAL");
    national["legal_basis"] = basis(Some("central_policy_document"));
    national["origin"] = json!("national");
    let national = create(&app, t, national).await;
    assert_eq!(national["origin"], "national");
    assert_eq!(national["legal_basis_sufficient"], true);
    let v = publish(&app, t, national["id"].as_i64().unwrap()).await;
    assert_eq!(v["origin"], "national");
    // Marking a local item national (a new version) is what lifts the rule, nothing else.
    let mut flip = black_scope("HEI-FLIP");
    flip["legal_basis"] = basis(None);
    let flip = create(&app, t, flip).await["id"].as_i64().unwrap();
    refused_for_its_basis(&app, t, flip).await;
    app.patch(
        &format!("/api/v1/four-list-items/{flip}"),
        t,
        json!({"origin": "national"}),
    )
    .await;
    publish(&app, t, flip).await;

    // Red scope items and incentive measures have no such condition.
    let mut red = red_scope("HONG-1");
    red["legal_basis"] = basis(None);
    let red = create(&app, t, red).await;
    assert_eq!(red["legal_basis_sufficient"], true);
    publish(&app, t, red["id"].as_i64().unwrap()).await;

    // Bad values are refused with the field named; origin is for scope items only.
    let mut bad_level = punishment("CJ-BAD", &[scope]);
    bad_level["legal_basis"] = json!([{"document": "《宪法》", "level": "constitution"}]);
    let p = assert_problem(
        app.post("/api/v1/four-list-items", t, bad_level).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert_eq!(
        problem_fields(&p),
        vec!["legal_basis[0].level".to_string()],
        "{p}"
    );
    let mut bad_origin = black_scope("HEI-BAD");
    bad_origin["origin"] = json!("provincial");
    let p = assert_problem(
        app.post("/api/v1/four-list-items", t, bad_origin).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["origin".to_string()], "{p}");
    let mut measure_origin = punishment("CJ-ORIGIN", &[scope]);
    measure_origin["origin"] = json!("local");
    let p = assert_problem(
        app.post("/api/v1/four-list-items", t, measure_origin).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["origin".to_string()], "{p}");
    let res = app
        .patch(
            &format!("/api/v1/four-list-items/{measure}"),
            t,
            json!({"legal_basis": [{"document": "《办法》", "level": "法律"}]}),
        )
        .await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(
        problem_fields(&p),
        vec!["legal_basis[0].level".to_string()],
        "{p}"
    );
}

/// Versions stored before levels were recorded: their rows have no `level`.
pub fn strip_levels(app: &TestApp, id: i64) {
    use credit_lists::schema::four_list_item_versions as v;
    use diesel::prelude::*;
    diesel::update(v::table.filter(v::item_id.eq(id as i32)))
        .set(
            v::legal_basis
                .eq(r#"[{"document":"《某某管理办法》","article":"第六条","issuer":"某某局"}]"#),
        )
        .execute(&mut *app.conn())
        .unwrap();
}

#[tokio::test]
async fn items_published_before_levels_keep_working_and_are_flagged_until_republished() {
    let f = crate::entries::fixture().await;
    let (app, t) = (&f.app, f.tax.token.as_str());
    let measure = create(app, t, punishment("CJ-OLD", &[f.black])).await["id"]
        .as_i64()
        .unwrap();
    publish(app, t, measure).await;
    strip_levels(app, f.black);
    strip_levels(app, measure);
    for id in [f.black, measure] {
        let v: Value = app
            .get(&format!("/api/v1/four-list-items/{id}"), t)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["status"], "published");
        assert_eq!(v["legal_basis"][0]["level"], Value::Null, "{v}");
        assert_eq!(v["legal_basis_sufficient"], false, "{v}");
        assert_eq!(v["published_legal_basis_sufficient"], false, "{v}");
    }
    // Others (and the public) see the version in force, flagged the same way.
    let other = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let seen: Value = app
        .get(
            &format!("/api/v1/four-list-items/{}", f.black),
            &other.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["legal_basis_sufficient"], false);
    let public: Value = app
        .client
        .get(app.url("/api/v1/public/four-list-items?kind=punishment_measures"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        public["items"][0]["legal_basis"][0]["document"], "《某某管理办法》",
        "still published: {public}"
    );

    // The scope item still takes entries.
    let e = crate::entries::create_entry(
        app,
        t,
        crate::entries::entry(
            "black",
            f.black,
            &crate::entries::uscc(7),
            "通税稽罚〔2026〕7号",
        ),
    )
    .await;
    let e = crate::entries::publish_entry(app, t, e["id"].as_i64().unwrap()).await;
    assert_eq!(e["status"], "published", "{e}");

    // A fixed draft is sufficient itself; the version in force stays flagged until it is published.
    let res = app
        .patch(
            &format!("/api/v1/four-list-items/{}", f.black),
            t,
            json!({"legal_basis": [{"document": "《某某管理办法》", "level": "departmental_rule"}]}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["legal_basis_sufficient"], true);
    assert_eq!(v["published_legal_basis_sufficient"], false);
    let v = publish(app, t, f.black).await;
    assert_eq!(v["published_version"], 2);
    assert_eq!(v["published_legal_basis_sufficient"], true);
    // A new version of the old measure without levels cannot be published.
    app.patch(
        &format!("/api/v1/four-list-items/{measure}"),
        t,
        json!({"title": "限制参与政府采购（修订）"}),
    )
    .await;
    refused_for_its_basis(app, t, measure).await;
    let v: Value = app
        .get(&format!("/api/v1/four-list-items/{measure}"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["published_version"], 1, "version 1 stays in force");
}

#[tokio::test]
async fn import_reads_the_level_and_origin_columns() {
    let app = spawn_app().await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let upload = |query: &'static str, csv: String| {
        app.client
            .post(app.url(&format!("/api/v1/four-list-items/import{query}")))
            .bearer_auth(&tax.token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
    };
    let header = "清单类型*,事项编码*,名称*,依据文件*,依据条款,依据层级,设定来源,适用主体*,适用领域,失信等级,关联范围事项编码";
    // A local list on a 地方政府规章 cannot be published; an unknown level or origin is named.
    let before = app.audit_count();
    let bad = [
        header,
        "严重失信行为及主体范围清单,HEI-1,拒不履行义务,《通化市某某办法》,第五条,地方政府规章,,企业,,严重,",
        "严重失信行为及主体范围清单,HEI-2,名称,《某办法》,,宪法,,企业,,严重,",
        "严重失信行为及主体范围清单,HEI-3,名称,《某办法》,,法律,省级,企业,,严重,",
    ]
    .join("\n");
    let res = upload("?publish=true", bad).await.unwrap();
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "import_rejected").await;
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
        vec![
            (2, "依据文件".into(), "insufficient_legal_basis".into()),
            (3, "依据层级".into(), "invalid_value".into()),
            (4, "设定来源".into(), "invalid_value".into()),
        ],
        "{p}"
    );
    assert_eq!(app.audit_count(), before, "nothing written");

    // Chinese level names; a national list on a normative document; a measure on a central
    // policy document; all published.
    let good = [
        header,
        "严重失信行为及主体范围清单,HEI-1,拒不履行义务,《吉林省社会信用条例》,第三十条,地方性法规,本地,企业,,严重,",
        "严重失信行为及主体范围清单,HEI-2,重大税收违法失信主体,《某某公告》,,其他规范性文件,国家层面,企业,,严重,",
        "失信惩戒政策措施清单,CJ-1,限制参与政府采购,《关于某某的意见》,二,党中央国务院政策文件,,企业,政府采购,,HEI-1、HEI-2",
    ]
    .join("\n");
    let res = upload("?publish=true", good).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    assert_eq!(
        (r["created"].as_u64(), r["published"].as_u64()),
        (Some(3), Some(3)),
        "{r}"
    );
    let page: Value = app
        .get("/api/v1/four-list-items?q=HEI-", &tax.token)
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    let by_code = |code: &str| items.iter().find(|i| i["code"] == code).unwrap().clone();
    assert_eq!(
        by_code("HEI-1")["legal_basis"][0]["level"],
        "local_regulation"
    );
    assert_eq!(by_code("HEI-1")["origin"], "local");
    assert_eq!(
        by_code("HEI-2")["legal_basis"][0]["level"],
        "normative_document"
    );
    assert_eq!(by_code("HEI-2")["origin"], "national");

    // Without publishing, a row without a level is a draft like any other.
    let draft = [
        header,
        "失信惩戒政策措施清单,CJ-2,限制享受财政补贴,《某某通知》,,,,企业,政府采购,,HEI-1",
    ]
    .join("\n");
    let res = upload("", draft).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let template = app
        .get(
            "/api/v1/four-list-items/import-template?format=csv",
            &tax.token,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        template.contains("依据层级") && template.contains("部门规章"),
        "{template}"
    );
}
