use credit_lists::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn malformed_bodies_are_problems_that_name_the_field() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let before = app.audit_count();
    let send = |body: &'static str, ct: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/departments"))
            .bearer_auth(&admin.token)
            .body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let p = assert_problem(
        send("{\"name\": ", Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    assert_eq!(problem_fields(&p).len(), 1);
    let p = assert_problem(
        send(
            r#"{"name":"a","region_code":"220521","kind":"unit","colour":"red"}"#,
            Some("application/json"),
        )
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("colour"), "{p}");
    let p = assert_problem(
        send(
            r#"{"name":5,"region_code":"220521","kind":"unit"}"#,
            Some("application/json"),
        )
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert_eq!(problem_fields(&p), vec!["name"]);
    let p = assert_problem(
        send(
            r#"{"region_code":"220521","kind":"unit"}"#,
            Some("application/json"),
        )
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("name"), "{p}");
    assert_problem(
        send("[1,2]", Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert_problem(
        send(
            r#"{"name":"a","region_code":"220521","kind":"unit"} trailing"#,
            Some("application/json"),
        )
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    assert_problem(
        send("name=a", Some("application/x-www-form-urlencoded"))
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_problem(
        send(r#"{"name":"a"}"#, None).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(app.audit_count(), before, "nothing written");
}

#[tokio::test]
async fn oversize_bodies_are_refused() {
    let app = spawn_app_with(|s| s.max_body_bytes = 4096).await;
    let admin = app.admin().await;
    let big = format!(
        r#"{{"name":"{}","region_code":"220521","kind":"unit"}}"#,
        "长".repeat(5000)
    );
    let res = app
        .client
        .post(app.url("/api/v1/departments"))
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_parameters_are_problems() {
    let app = spawn_app().await;
    let acc = app.account("admin1", Role::Admin, None, None).await;
    assert_problem(
        app.get("/api/v1/nothing-here", &acc.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        app.client.get(app.url("/nothing")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app
        .client
        .delete(app.url("/api/v1/regions"))
        .bearer_auth(&acc.token)
        .send()
        .await
        .unwrap();
    assert!(
        res.status() == StatusCode::METHOD_NOT_ALLOWED || res.status() == StatusCode::NOT_FOUND
    );
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/problem+json"), "{ct}");
    assert_problem(
        app.get("/api/v1/users/9999999999999", &acc.token).await,
        StatusCode::BAD_REQUEST,
        "invalid_path_parameter",
    )
    .await;
    assert_problem(
        app.get("/api/v1/users/-", &acc.token).await,
        StatusCode::BAD_REQUEST,
        "invalid_path_parameter",
    )
    .await;
    assert_problem(
        app.get("/api/v1/departments?active=perhaps", &acc.token)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_problem(
        app.get("/api/v1/departments?unknown=1", &acc.token).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn login_body_errors_are_problems_too() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "malformed_json").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "a"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
}

/// Found by the property test of the code parsers: an 18-byte code made of multi-byte characters
/// once panicked the parser. Through HTTP it is a clean 422 naming the field.
#[tokio::test]
async fn a_multibyte_code_of_eighteen_bytes_is_a_problem_not_a_panic() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let code = "ῶA00\u{1e000} ® 𝼀";
    assert_eq!(code.len(), 18);
    let res = app
        .post(
            "/api/v1/credit-checks",
            &admin.token,
            serde_json::json!({"subject_code": code, "field": "administrative_licensing"}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let p: serde_json::Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "subject_code", "{p}");
    // The server is still there.
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
}
