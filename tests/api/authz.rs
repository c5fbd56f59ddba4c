//! The authorisation matrix: every operation of the OpenAPI document, called by each role, with the
//! expected outcome. A new operation without a row (or a row for an operation that is gone) fails
//! the test, so who may do what is decided when an endpoint is added.
//!
//! Role level: each operation is called by anonymous, `approval_system`, a `department` officer, the
//! city `bureau` and an `admin`, on resources of the officer's own department (so a refusal is the
//! role's, not the scope's). Scope (own vs other department / region) is tested per capability
//! (`entries.rs`, `repairs.rs`, `cases.rs`, `targets.rs`, …). Request bodies are the smallest ones
//! the document's schemas allow, so the role check, not body parsing, decides.

use std::collections::{BTreeMap, BTreeSet};

use credit_lists::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::helpers::*;

/// Who may call: `p` public (anonymous allowed), else anonymous gets 401. Then four letters for
/// `approval_system`, `department`, `bureau`, `admin`: `y` allowed (any answer but 401/403), `n`
/// refused with 403. `*`: the operation's own credentials decide (login, refresh, logout, own
/// password), only "no 5xx" is checked.
const MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/application-fields", "-yyyy"),
    ("POST", "/api/v1/application-fields", "-nnny"),
    ("PATCH", "/api/v1/application-fields/{code}", "-nnny"),
    ("POST", "/api/v1/attachments", "-nyyy"),
    ("GET", "/api/v1/attachments/{id}", "-nyyy"),
    ("GET", "/api/v1/attachments/{id}/content", "-nyyy"),
    ("GET", "/api/v1/audit-log", "-nnyy"),
    ("GET", "/api/v1/audit-log/verify", "-nnny"),
    ("POST", "/api/v1/auth/login", "*"),
    ("POST", "/api/v1/auth/logout", "*"),
    ("POST", "/api/v1/auth/refresh", "*"),
    ("GET", "/api/v1/calendar/add-working-days", "-yyyy"),
    ("GET", "/api/v1/calendar/{year}", "-yyyy"),
    ("PUT", "/api/v1/calendar/{year}", "-nnny"),
    ("GET", "/api/v1/cases", "-nyyy"),
    ("POST", "/api/v1/cases", "-nyyy"),
    ("GET", "/api/v1/cases/export", "-nyyy"),
    ("POST", "/api/v1/cases/from-feedback/{check_id}", "-nyyy"),
    ("GET", "/api/v1/cases/{id}", "-nyyy"),
    ("PATCH", "/api/v1/cases/{id}", "-nyyy"),
    ("POST", "/api/v1/cases/{id}/corrections", "-nyyy"),
    ("GET", "/api/v1/cases/{id}/media-reports", "-nyyy"),
    ("POST", "/api/v1/cases/{id}/media-reports", "-nyyy"),
    ("POST", "/api/v1/cases/{id}/share", "-nnyy"),
    ("POST", "/api/v1/cases/{id}/submit", "-nyyy"),
    ("GET", "/api/v1/commitment-templates", "-nyyy"),
    ("POST", "/api/v1/commitment-templates", "-nyyy"),
    ("GET", "/api/v1/commitment-templates/{id}", "-nyyy"),
    ("PATCH", "/api/v1/commitment-templates/{id}", "-nyyy"),
    ("POST", "/api/v1/commitment-templates/{id}/publish", "-nyyy"),
    (
        "POST",
        "/api/v1/commitment-templates/{id}/withdraw",
        "-nyyy",
    ),
    ("GET", "/api/v1/commitments", "-nyyy"),
    ("POST", "/api/v1/commitments", "-nyyy"),
    ("GET", "/api/v1/commitments/{id}", "-nyyy"),
    ("POST", "/api/v1/commitments/{id}/breaches", "-nyyy"),
    ("GET", "/api/v1/credit-checks", "-nyyy"),
    ("POST", "/api/v1/credit-checks", "-yyyy"),
    ("POST", "/api/v1/credit-checks/batch", "-yyyy"),
    ("GET", "/api/v1/credit-checks/stats", "-nnyy"),
    ("GET", "/api/v1/credit-checks/{id}", "-yyyy"),
    ("POST", "/api/v1/credit-checks/{id}/feedback", "-yynn"),
    ("GET", "/api/v1/departments", "-yyyy"),
    ("POST", "/api/v1/departments", "-nnny"),
    ("GET", "/api/v1/departments/{id}", "-yyyy"),
    ("PATCH", "/api/v1/departments/{id}", "-nnny"),
    ("GET", "/api/v1/feed", "-nnyy"),
    ("GET", "/api/v1/feed/status", "-nnyy"),
    ("GET", "/api/v1/four-list-items", "-yyyy"),
    ("POST", "/api/v1/four-list-items", "-nyny"),
    ("POST", "/api/v1/four-list-items/import", "-nyny"),
    ("GET", "/api/v1/four-list-items/import-template", "-yyyy"),
    ("GET", "/api/v1/four-list-items/{id}", "-yyyy"),
    ("PATCH", "/api/v1/four-list-items/{id}", "-nyny"),
    ("POST", "/api/v1/four-list-items/{id}/publish", "-nyyy"),
    ("POST", "/api/v1/four-list-items/{id}/repeal", "-nyyy"),
    (
        "PUT",
        "/api/v1/four-list-items/{id}/special-category",
        "-nnyy",
    ),
    ("GET", "/api/v1/four-list-items/{id}/versions", "-yyyy"),
    ("GET", "/api/v1/list-entries", "-nyyy"),
    ("POST", "/api/v1/list-entries", "-nyyy"),
    ("GET", "/api/v1/list-entries/export", "-nyyy"),
    ("POST", "/api/v1/list-entries/import", "-nyyy"),
    ("GET", "/api/v1/list-entries/import-template", "-nyyy"),
    ("GET", "/api/v1/list-entries/{id}", "-nyyy"),
    ("DELETE", "/api/v1/list-entries/{id}", "-nyyy"),
    ("GET", "/api/v1/list-entries/{id}/history", "-nyyy"),
    ("GET", "/api/v1/list-entries/{id}/objections", "-nyyy"),
    ("POST", "/api/v1/list-entries/{id}/objections", "-nyyy"),
    (
        "POST",
        "/api/v1/list-entries/{id}/objections/{objection_id}/resolve",
        "-nyyy",
    ),
    ("POST", "/api/v1/list-entries/{id}/publish", "-nyyy"),
    ("POST", "/api/v1/list-entries/{id}/remove", "-nyyy"),
    ("GET", "/api/v1/me", "-yyyy"),
    ("POST", "/api/v1/me/password", "*"),
    ("GET", "/api/v1/national-baselines", "-nnyy"),
    ("PUT", "/api/v1/national-baselines", "-nnyy"),
    ("GET", "/api/v1/public/commitment-templates", "pyyyy"),
    ("GET", "/api/v1/public/four-list-items", "pyyyy"),
    ("GET", "/api/v1/public/list-entries", "pyyyy"),
    ("GET", "/api/v1/regions", "-yyyy"),
    ("GET", "/api/v1/repairs", "-nyyy"),
    ("POST", "/api/v1/repairs", "-nyyy"),
    ("GET", "/api/v1/repairs/{id}", "-nyyy"),
    ("POST", "/api/v1/repairs/{id}/accept", "-nyyy"),
    ("POST", "/api/v1/repairs/{id}/approve", "-nyyy"),
    ("POST", "/api/v1/repairs/{id}/confirm", "-nnyy"),
    ("POST", "/api/v1/repairs/{id}/file", "-nyyy"),
    ("POST", "/api/v1/repairs/{id}/refuse", "-nyyy"),
    ("POST", "/api/v1/repairs/{id}/resubmit", "-nyyy"),
    ("POST", "/api/v1/repairs/{id}/return", "-nyyy"),
    ("POST", "/api/v1/repairs/{id}/send-back", "-nnyy"),
    ("POST", "/api/v1/repairs/{id}/withdraw", "-nyyy"),
    ("GET", "/api/v1/scorecards", "-nyyy"),
    ("GET", "/api/v1/service-records", "-nyyy"),
    ("POST", "/api/v1/service-records", "-nyyy"),
    ("GET", "/api/v1/special-rectification-items", "-nyyy"),
    ("GET", "/api/v1/stats/monthly", "-nyyy"),
    ("GET", "/api/v1/stats/monthly/export", "-nyyy"),
    (
        "POST",
        "/api/v1/stats/monthly/{year}/{month}/close",
        "-nnyn",
    ),
    ("GET", "/api/v1/subjects", "-nyyy"),
    ("GET", "/api/v1/subjects/{code}", "-nyyy"),
    ("GET", "/api/v1/targets", "-nnyy"),
    ("GET", "/api/v1/targets/export", "-nnyy"),
    ("PATCH", "/api/v1/training-attendance/{id}", "-nyyy"),
    ("GET", "/api/v1/training-sessions", "-nyyy"),
    ("POST", "/api/v1/training-sessions", "-nyyy"),
    (
        "GET",
        "/api/v1/training-sessions/attendance-template",
        "-nyyy",
    ),
    ("GET", "/api/v1/training-sessions/{id}", "-nyyy"),
    ("GET", "/api/v1/training-sessions/{id}/attendance", "-nyyy"),
    ("POST", "/api/v1/training-sessions/{id}/attendance", "-nyyy"),
    (
        "POST",
        "/api/v1/training-sessions/{id}/attendance/bulk",
        "-nyyy",
    ),
    (
        "POST",
        "/api/v1/training-sessions/{id}/attendance/import",
        "-nyyy",
    ),
    ("GET", "/api/v1/users", "-nnny"),
    ("POST", "/api/v1/users", "-nnny"),
    ("GET", "/api/v1/users/{id}", "-nnny"),
    ("PATCH", "/api/v1/users/{id}", "-nnny"),
    ("POST", "/api/v1/users/{id}/password", "-nnny"),
    ("GET", "/api/v1/watches", "-yyyy"),
    ("POST", "/api/v1/watches", "-yyyy"),
    ("GET", "/api/v1/watches/notifications", "-yyyy"),
    ("DELETE", "/api/v1/watches/{id}", "-yyyy"),
    ("GET", "/health", "pyyyy"),
    ("GET", "/metrics", "pyyyy"),
    ("GET", "/ready", "pyyyy"),
];

/// The smallest value a schema allows (required properties only), resolving `$ref`s.
fn minimal(spec: &Value, schema: &Value) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        return minimal(spec, &spec["components"]["schemas"][name]);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|v| v.iter().find(|s| s.get("type") != Some(&json!("null"))))
        {
            return minimal(spec, first);
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .find(|v| !v.is_null())
            .cloned()
            .unwrap_or(Value::Null);
    }
    let ty = match schema.get("type") {
        Some(Value::Array(types)) => types
            .iter()
            .find(|t| *t != "null")
            .and_then(Value::as_str)
            .unwrap_or("null"),
        Some(Value::String(t)) => t.as_str(),
        _ if schema.get("properties").is_some() => "object",
        _ => "null",
    };
    match ty {
        "object" => {
            let mut out = Map::new();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for name in required {
                out.insert(name.to_string(), minimal(spec, &schema["properties"][name]));
            }
            Value::Object(out)
        }
        "array" => json!([]),
        "integer" => json!(schema
            .get("minimum")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1)),
        "number" => json!(1.0),
        "boolean" => json!(false),
        "string" => match schema.get("format").and_then(Value::as_str) {
            Some("date") => json!("2026-01-05"),
            Some("date-time") => json!("2026-01-05T08:00:00"),
            _ => json!("x"),
        },
        _ => Value::Null,
    }
}

#[tokio::test]
async fn every_operation_has_a_row_and_each_role_gets_what_the_row_says() {
    let spec: Value = serde_json::to_value(credit_lists::openapi::spec()).unwrap();
    let mut in_spec = BTreeSet::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                in_spec.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let in_matrix: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = in_spec.difference(&in_matrix).collect();
    let stale: Vec<_> = in_matrix.difference(&in_spec).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "operations without a row: {missing:?}; rows without an operation: {stale:?}"
    );

    // Resources of the officer's own department, so that only the role decides.
    let s = crate::cases::setup().await;
    let app = &s.f.app;
    let tax = &s.f.tax;
    let admin = app.admin().await;
    let approval = app
        .account("approval", Role::ApprovalSystem, None, None)
        .await;
    let code = crate::entries::uscc(4242);
    let entry = crate::cases::listed(&s, "black", &code, "通税〔2026〕4242号").await;
    let case = crate::cases::post_case(
        app,
        &tax.token,
        crate::cases::punishment_case(&s, &code, entry),
    )
    .await["id"]
        .clone();
    let check: Value = app
        .post(
            "/api/v1/credit-checks",
            &approval.token,
            json!({"subject_code": code, "field": "government_procurement"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let template: Value = app
        .post(
            "/api/v1/commitment-templates",
            &tax.token,
            json!({"purpose": "repair", "title": "信用修复承诺书", "body": "承诺内容"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let session: Value = app
        .post(
            "/api/v1/training-sessions",
            &tax.token,
            json!({"session_date": "2026-01-05", "form": "online", "topic": "信用修复培训", "hours": 2.0}),
        )
        .await
        .json()
        .await
        .unwrap();
    let watch: Value = app
        .post(
            "/api/v1/watches",
            &approval.token,
            json!({"subject_codes": [code]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: BTreeMap<&str, String> = [
        ("/cases/{id}", case.to_string()),
        ("/four-list-items/{id}", s.f.black.to_string()),
        ("/list-entries/{id}", entry.to_string()),
        ("/commitment-templates/{id}", template["id"].to_string()),
        ("/training-sessions/{id}", session["id"].to_string()),
        ("/credit-checks/{id}", check["check_id"].to_string()),
        ("/watches/{id}", watch["items"][0]["id"].to_string()),
        ("/users/{id}", tax.id.to_string()),
        ("/departments/{id}", DEPT_TAX.to_string()),
    ]
    .into_iter()
    .collect();
    let fill = |path: &str| -> String {
        let mut p = path.to_string();
        for (prefix, id) in &ids {
            let (head, _) = prefix.split_once("{id}").unwrap();
            p = p.replacen(&format!("{head}{{id}}"), &format!("{head}{id}"), 1);
        }
        p.replace("{id}", "999999")
            .replace("{check_id}", &check["check_id"].to_string())
            .replace("{objection_id}", "999999")
            .replace(
                "{code}",
                if path.contains("application-fields") {
                    "administrative_licensing"
                } else {
                    &code
                },
            )
            .replace("{year}", "2026")
            .replace("{month}", "1")
    };

    let actors: [(&str, Option<&str>); 5] = [
        ("anonymous", None),
        ("approval_system", Some(&approval.token)),
        ("department", Some(&tax.token)),
        ("bureau", Some(&s.city.token)),
        ("admin", Some(&admin.token)),
    ];
    let mut wrong = Vec::new();
    for (method, path, expect) in MATRIX {
        let op = &spec["paths"][*path][method.to_lowercase()];
        let body = op["requestBody"]["content"]["application/json"]["schema"]
            .as_object()
            .map(|s| minimal(&spec, &Value::Object(s.clone())))
            .map(|mut b| {
                // Steps that require a comment get one, so the step's own rule is what answers.
                if path.starts_with("/api/v1/repairs/{id}/") {
                    b["comment"] = json!("审核意见");
                }
                b
            });
        let mut url = fill(path);
        let query: Vec<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query" && p["required"] == true)
            .map(|p| {
                let v = match p["name"].as_str().unwrap() {
                    "year" => json!(2026),
                    "month" => json!(1),
                    "quarter" => json!(1),
                    "filename" => json!("证明.pdf"),
                    _ => minimal(&spec, &p["schema"]),
                };
                let v = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                format!("{}={v}", p["name"].as_str().unwrap())
            })
            .collect();
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        for (i, (who, token)) in actors.iter().enumerate() {
            if *expect == "*" && token.is_some() {
                continue; // these end or change the caller's own session
            }
            let mut req = app.client.request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&url),
            );
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            req = match &body {
                Some(b) => req.json(b),
                None if *method != "GET" && *method != "DELETE" => req
                    .header("content-type", "application/octet-stream")
                    .body(Vec::<u8>::new()),
                None => req,
            };
            let status = req.send().await.unwrap().status();
            let ok = if status.is_server_error() {
                false
            } else if *expect == "*" {
                true
            } else if i == 0 {
                if expect.starts_with('p') {
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN
                } else {
                    status == StatusCode::UNAUTHORIZED
                }
            } else {
                match expect.as_bytes()[i] {
                    b'y' => status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    // A resource that does not exist may be 404 before the role is looked at:
                    // that tells nothing either.
                    _ => {
                        status == StatusCode::FORBIDDEN
                            || (url.contains("999999") && status == StatusCode::NOT_FOUND)
                    }
                }
            };
            if !ok {
                wrong.push(format!("{method} {url} as {who}: {status} (row {expect})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
