use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a generated request id: {id}");
    assert_eq!(&id[14..15], "4", "a version 4 UUID: {id}");
    let res = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_ne!(
        res.headers()["x-request-id"],
        id.as_str(),
        "one id per request"
    );
    let ready: Value = res.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["database"],
        if is_postgres() { "postgres" } else { "sqlite" }
    );

    app.client
        .get(app.url("/api/v1/departments/123"))
        .send()
        .await
        .unwrap();
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"credit_lists_http_requests_total{route="/health",method="GET",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/v1/departments/{id}",method="GET",status="401"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("credit_lists_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("credit_lists_db_pool_max_connections 4"),
        "{text}"
    );
    // Raw paths are not labels (they may carry subject codes).
    assert!(!text.contains("/api/v1/departments/123"));
}

#[tokio::test]
async fn a_clients_request_id_is_echoed_and_a_hostile_one_replaced() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "evil id<script>")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "evil id<script>");
    let long = "a".repeat(65);
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", &long)
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], long.as_str());
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_no_cors() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let origin = "https://evil.example";
    let mut responses = vec![
        (
            "health",
            app.client
                .get(app.url("/health"))
                .header("origin", origin)
                .send()
                .await
                .unwrap(),
        ),
        (
            "problem",
            app.client
                .get(app.url("/api/v1/no-such-thing"))
                .send()
                .await
                .unwrap(),
        ),
        (
            "unauthorised",
            app.client
                .get(app.url("/api/v1/users"))
                .send()
                .await
                .unwrap(),
        ),
        ("json", app.get("/api/v1/users", &admin.token).await),
        (
            "preflight",
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/api/v1/credit-checks"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .send()
                .await
                .unwrap(),
        ),
    ];
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    for (what, res) in responses.drain(..).chain([("docs", docs)]) {
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
        assert_eq!(h["x-frame-options"], "DENY", "{what}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        if what == "docs" {
            assert!(csp.starts_with("default-src 'self'"), "{csp}");
            let page = res.text().await.unwrap();
            // The docs page runs no inline script, so the policy does not break it.
            assert!(!page.contains("<script>"), "{page}");
        } else {
            assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}");
            assert!(
                h.get("access-control-allow-origin").is_none(),
                "{what}: CORS is off"
            );
        }
    }
}
