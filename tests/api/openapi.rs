use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

/// `openapi/openapi.json` must be what the code generates. To refresh it:
/// `cargo run -- openapi > openapi/openapi.json`.
#[test]
fn committed_openapi_document_is_current() {
    let generated = credit_lists::openapi::spec_json();
    if generated != COMMITTED {
        if std::env::var("UPDATE_OPENAPI").is_ok() {
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"),
                &generated,
            )
            .unwrap();
        }
        panic!("openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`");
    }
}

/// Clients are generated from the document: every operation has its own stable `operationId`
/// (area, sub-area, verb), so that generated method names do not clash.
#[test]
fn every_operation_has_a_unique_operation_id() {
    let doc: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{id}"
            );
            if let Some(other) = seen.insert(id.to_string(), format!("{method} {path}")) {
                panic!("operationId {id} of {method} {path} is also {other}'s");
            }
        }
    }
    assert!(seen.len() > 100, "{}", seen.len());
}

#[test]
fn every_api_operation_is_documented_with_security_and_errors() {
    let spec: Value = serde_json::from_str(COMMITTED).unwrap();
    let public = ["/api/v1/auth/login", "/api/v1/auth/refresh"];
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 15);
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let where_ = format!("{method} {path}");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{where_}"
            );
            // The receipt keys and the receipt log's checkpoints are public by design (issue 24:
            // anyone verifies receipts with them), at the paths the issue names.
            if path.starts_with("/api/v1/public/")
                || path == "/api/v1/receipt-keys"
                || path.starts_with("/api/v1/receipt-checkpoints/")
            {
                assert!(
                    op["security"].is_null(),
                    "{where_} is public and must not ask for a token"
                );
            } else if path.starts_with("/api/v1/") && !public.contains(&path.as_str()) {
                assert!(op["security"].is_array(), "{where_} declares no security");
                assert!(
                    op["responses"]["401"].is_object(),
                    "{where_} documents no 401"
                );
            }
        }
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn the_service_serves_its_document_and_swagger_ui() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let served: Value = res.json().await.unwrap();
    let committed: Value = serde_json::from_str(COMMITTED).unwrap();
    assert_eq!(served, committed);
    let res = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("swagger"));
}
