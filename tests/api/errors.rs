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

/// serde's derived structs also take a JSON array of the fields in order: a login sent as
/// `["user","pass"]` once succeeded. Every body must be an object; nothing else is even read.
#[tokio::test]
async fn request_bodies_must_be_json_objects() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let raw = |path: &'static str, body: &'static str, token: Option<String>| {
        let mut req = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    // Right credentials, as an array: refused.
    let body = format!("[\"admin\", \"{PASSWORD}\"]");
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(problem_fields(&p), vec!["body"]);
    assert!(p.get("access_token").is_none());
    let before = app.audit_count();
    for body in [
        r#"["通化县市场监督管理局", "220521", "unit"]"#,
        r#""name""#,
        "42",
        "null",
        "true",
        " \n [] ",
    ] {
        let p = assert_problem(
            raw("/api/v1/departments", body, Some(admin.token.clone()))
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        )
        .await;
        assert_eq!(problem_fields(&p), vec!["body"], "{body}");
    }
    assert_eq!(app.audit_count(), before, "nothing written");
    // Broken JSON stays a syntax error; the same credentials as an object log in.
    assert_problem(
        raw("/api/v1/auth/login", "[\"admin\",", None)
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    app.login_ok("admin").await;
}

fn cache_control(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
}

/// Answers to requests with credentials (a bearer token, the console session cookie) and file
/// downloads are never stored by a cache; anonymous public lists keep their short shared lifetime.
#[tokio::test]
async fn authenticated_answers_are_not_stored_by_caches() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let public = "/api/v1/public/list-entries";
    let res = app.client.get(app.url(public)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(cache_control(&res).as_deref(), Some("public, max-age=60"));
    // The same public list asked with a token.
    let res = app.get(public, &admin.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(cache_control(&res).as_deref(), Some("no-store"));
    // Authenticated reads, errors included.
    for path in [
        "/api/v1/auth/me",
        "/api/v1/departments",
        "/api/v1/list-entries",
        "/api/v1/list-entries/999999",
        "/api/v1/no-such-thing",
    ] {
        let res = app.get(path, &admin.token).await;
        assert_eq!(cache_control(&res).as_deref(), Some("no-store"), "{path}");
    }
    // Even a wrong token: the request carried credentials.
    let res = app.get("/api/v1/departments", "not-a-token").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(cache_control(&res).as_deref(), Some("no-store"));
    // The console session cookie, among others, counts as credentials; another cookie does not.
    let res = app
        .client
        .get(app.url(public))
        .header("cookie", "theme=dark; cl_console=whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(cache_control(&res).as_deref(), Some("no-store"));
    let res = app
        .client
        .get(app.url(public))
        .header("cookie", "theme=dark; not_cl_console=x")
        .send()
        .await
        .unwrap();
    assert_eq!(cache_control(&res).as_deref(), Some("public, max-age=60"));
    // A file download.
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let res = app
        .client
        .post(app.url("/api/v1/attachments?filename=a.pdf"))
        .bearer_auth(&tax.token)
        .header("content-type", "application/octet-stream")
        .body(b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".to_vec())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let res = app
        .get(
            &format!("/api/v1/attachments/{}/content", v["id"]),
            &tax.token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("content-disposition"));
    assert_eq!(cache_control(&res).as_deref(), Some("no-store"));
}

/// Names and titles are single lines without control characters; free text keeps its line
/// breaks and tabs but no other control character.
#[tokio::test]
async fn control_characters_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let before = app.audit_count();
    for name in [
        "通化县\u{0}市场监督管理局",
        "通化县\n市场监督管理局",
        "通化县\t市场监督管理局",
        "通化县\u{7f}局",
        "通化县\u{85}局",
        "通化县\u{9b}局",
        "\u{202e}局理管督监场市县化通",
        "通化县\u{202a}局",
        "通化县\u{2066}局",
        "通化县\u{2069}局",
        "通化县\u{1b}[31m局",
    ] {
        let res = app
            .post(
                "/api/v1/departments",
                &admin.token,
                json!({"name": name, "region_code": "220521", "kind": "unit"}),
            )
            .await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem_fields(&p), vec!["name"], "{name:?}");
        assert_eq!(p["errors"][0]["code"], "control_character", "{name:?}");
    }
    assert_eq!(app.audit_count(), before, "nothing written");
    // Ordinary punctuation and other scripts are fine.
    let res = app
        .post(
            "/api/v1/departments",
            &admin.token,
            json!({"name": "通化县（东昌）市场监督管理局·O'Brien & Co. — 2", "region_code": "220521", "kind": "unit"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// Every list endpoint that filters by subject reads the filter the same way: a value of the
/// wrong shape (not 18 characters of a code's alphabet: the documented pattern) is 400
/// `invalid_query`; one of the right shape that is no code (an ID number whose birth date is no
/// date) is 422 `validation_failed`; both name the parameter with the field code
/// `invalid_subject_code`. A valid code filters (here: nothing recorded, so an empty page).
#[tokio::test]
async fn subject_filters_of_every_list_are_read_alike() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let good = "91220500MA0000001Q";
    for (path, param) in [
        ("/api/v1/list-entries", "subject"),
        ("/api/v1/cases", "subject"),
        ("/api/v1/credit-checks", "subject"),
        ("/api/v1/commitments", "subject_code"),
        ("/api/v1/service-records", "subject_code"),
    ] {
        let res = app
            .get(&format!("{path}?{param}=not-a-code"), &admin.token)
            .await;
        let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
        assert_eq!(p["errors"][0]["field"], format!("query.{param}"), "{path}");
        assert_eq!(p["errors"][0]["code"], "invalid_subject_code", "{path}");
        // Month 13: the shape of an ID number (and of a USCC, whose check character it fails).
        let res = app
            .get(&format!("{path}?{param}=110101199913450014"), &admin.token)
            .await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], format!("query.{param}"), "{path}");
        assert_eq!(p["errors"][0]["code"], "invalid_subject_code", "{path}");
        let res = app
            .get(&format!("{path}?{param}={good}"), &admin.token)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn whole_numbers_with_a_fraction_are_integers_and_others_are_not() {
    // JSON Schema counts 2019.0 as the integer 2019: a body the schema admits is read as such.
    let app = spawn_app().await;
    let admin = app.admin().await;
    let put = |body: &'static str| {
        app.client
            .put(app.url("/api/v1/national-baselines"))
            .bearer_auth(&admin.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let before = app.audit_count();
    let res = put(
        r#"{"region_code":"220521","year":2019.0,"list_type":"black","count":3.7e1,"provenance":"导出"}"#,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let row: serde_json::Value = res.json().await.unwrap();
    assert_eq!(row["year"], 2019);
    assert_eq!(row["count"], 37);
    assert_eq!(app.audit_count(), before + 1);
    for (body, field) in [
        (
            r#"{"region_code":"220521","year":2019.5,"list_type":"black","count":3,"provenance":"导出"}"#,
            "year",
        ),
        (
            r#"{"region_code":"220521","year":2019,"list_type":"black","count":1e300,"provenance":"导出"}"#,
            "count",
        ),
        (
            r#"{"region_code":"220521","year":2019.0,"list_type":"black","count":3,"provenance":"导出","x":1}"#,
            "`x`",
        ),
    ] {
        let p = assert_problem(
            put(body).await.unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        )
        .await;
        assert!(p["detail"].as_str().unwrap().contains(field), "{body}: {p}");
    }
    // A duplicated key stays refused, whichever of the two is the whole float.
    for body in [
        r#"{"region_code":"220521","year":2019.0,"year":2020.0,"list_type":"black","count":3,"provenance":"导出"}"#,
        r#"{"region_code":"220521","year":2019,"year":2020.0,"list_type":"black","count":3,"provenance":"导出"}"#,
    ] {
        assert_problem(
            put(body).await.unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        )
        .await;
    }
    assert_eq!(app.audit_count(), before + 1, "nothing else written");
}

/// A query parameter is a line of text: a control character in a name or value (NUL, which
/// PostgreSQL refuses in text, a line break, a bidirectional override) is 400 `invalid_query`
/// naming the parameter, before any handler runs, on public and secured operations alike; the
/// OpenAPI document declares it with a pattern on every free-text query parameter.
#[tokio::test]
async fn control_characters_in_query_parameters_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for (path, field) in [
        (
            "/api/v1/public/four-list-items?region_code=22%00",
            "query.region_code",
        ),
        (
            "/api/v1/public/list-entries?page=1&region_code=%0A220500",
            "query.region_code",
        ),
        ("/api/v1/four-list-items?q=a%E2%80%AEb", "query.q"),
        ("/api/v1/audit-log?action=user.create%7F", "query.action"),
        ("/api/v1/list-entries?region_code%00=1", "query.region_code"),
    ] {
        let res = app.get(path, &admin.token).await;
        let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
        assert_eq!(p["errors"][0]["field"], field, "{path}");
        assert_eq!(p["errors"][0]["code"], "control_character", "{path}");
    }
    // Text without them is read as before (here: matching nothing).
    let res = app
        .get(
            "/api/v1/public/four-list-items?region_code=22%20",
            &admin.token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc: serde_json::Value = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let params = doc["paths"]["/api/v1/audit-log"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let action = params.iter().find(|p| p["name"] == "action").unwrap();
    assert_eq!(
        action["schema"]["pattern"],
        credit_lists::http::QUERY_TEXT_PATTERN
    );
}
