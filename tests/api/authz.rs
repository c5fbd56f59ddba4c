//! The authorisation matrix: every operation of the OpenAPI document, called by each role, with the
//! expected outcome. A new operation without a row (or a row for an operation that is gone) fails
//! the test, so who may do what is decided when an endpoint is added.
//!
//! Each operation is called by anonymous, `approval_system`, the `department` officer who owns the
//! resources in the path (市税务局, a city department), an officer of another department, the city
//! `bureau` (own region), a county `bureau` (other region) and an `admin`. Request bodies are the
//! smallest ones the document's schemas allow, so the role and scope checks, not body parsing,
//! decide.

use std::collections::{BTreeMap, BTreeSet};

use credit_lists::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::helpers::*;

/// Who may call: `p` public (anonymous allowed), else anonymous gets 401. Then six letters for
/// `approval_system`, the `department` that owns the resources, another `department`, the city
/// `bureau` (whose region holds them), a county `bureau` (another region), and `admin`: `y` allowed
/// (any answer but 401/403), `n` refused with 403, `h` refused by scope with 403 or hidden with 404.
/// `*`: the operation's own credentials decide (login, refresh, logout, own password), only "no
/// 5xx" is checked.
const MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/application-fields", "-yyyyyy"),
    ("POST", "/api/v1/application-fields", "-nnnnny"),
    ("PATCH", "/api/v1/application-fields/{code}", "-nnnnny"),
    ("POST", "/api/v1/attachments", "-nyyyyy"),
    ("GET", "/api/v1/attachments/{id}", "-nyhyhy"),
    ("GET", "/api/v1/attachments/{id}/content", "-nyhyhy"),
    ("GET", "/api/v1/audit-log", "-nnnyyy"),
    ("GET", "/api/v1/audit-log/verify", "-nnnnny"),
    ("POST", "/api/v1/auth/login", "*"),
    ("POST", "/api/v1/auth/logout", "*"),
    ("POST", "/api/v1/auth/refresh", "*"),
    ("GET", "/api/v1/calendar/add-working-days", "-yyyyyy"),
    ("GET", "/api/v1/calendar/{year}", "-yyyyyy"),
    ("PUT", "/api/v1/calendar/{year}", "-nnnnny"),
    ("GET", "/api/v1/cases", "-nyyyyy"),
    ("POST", "/api/v1/cases", "-nyyyyy"),
    ("GET", "/api/v1/cases/export", "-nyyyyy"),
    ("POST", "/api/v1/cases/from-feedback/{check_id}", "-nyhyhy"),
    ("GET", "/api/v1/cases/{id}", "-nyyyhy"),
    ("PATCH", "/api/v1/cases/{id}", "-nyhyhy"),
    ("POST", "/api/v1/cases/{id}/corrections", "-nyhyhy"),
    ("GET", "/api/v1/cases/{id}/media-reports", "-nyyyhy"),
    ("POST", "/api/v1/cases/{id}/media-reports", "-nyhyhy"),
    ("POST", "/api/v1/cases/{id}/share", "-nnnyhy"),
    ("POST", "/api/v1/cases/{id}/submit", "-nyhyhy"),
    ("GET", "/api/v1/commitment-templates", "-nyyyyy"),
    ("POST", "/api/v1/commitment-templates", "-nyyyyy"),
    ("GET", "/api/v1/commitment-templates/{id}", "-nyhyhy"),
    ("PATCH", "/api/v1/commitment-templates/{id}", "-nyhyhy"),
    (
        "POST",
        "/api/v1/commitment-templates/{id}/publish",
        "-nyhyhy",
    ),
    (
        "POST",
        "/api/v1/commitment-templates/{id}/withdraw",
        "-nyhyhy",
    ),
    ("GET", "/api/v1/commitments", "-nyyyyy"),
    ("POST", "/api/v1/commitments", "-yyhyhy"),
    ("GET", "/api/v1/commitments/{id}", "-nyhyhy"),
    ("POST", "/api/v1/commitments/{id}/breaches", "-nyhyhy"),
    ("GET", "/api/v1/credit-checks", "-nyyyyy"),
    ("POST", "/api/v1/credit-checks", "-yyyyyy"),
    ("POST", "/api/v1/credit-checks/batch", "-yyyyyy"),
    ("GET", "/api/v1/credit-checks/stats", "-nnnyyy"),
    ("GET", "/api/v1/credit-checks/{id}", "-yyhyhy"),
    ("GET", "/api/v1/credit-checks/{id}/inclusion", "-yyhyhy"),
    ("POST", "/api/v1/credit-checks/{id}/feedback", "-yyhnhn"),
    ("GET", "/api/v1/departments", "-yyyyyy"),
    ("POST", "/api/v1/departments", "-nnnnny"),
    ("GET", "/api/v1/departments/{id}", "-yyyyyy"),
    ("PATCH", "/api/v1/departments/{id}", "-nnnnny"),
    // Documents are issued from the console; an id of none is hidden from every role alike. Who
    // reads an issued one is tested in documents.rs.
    ("GET", "/api/v1/documents/{id}", "-hyhyhy"),
    ("GET", "/api/v1/feed", "-nnnyny"),
    ("GET", "/api/v1/feed/status", "-nnnyny"),
    ("GET", "/api/v1/four-list-items", "-yyyyyy"),
    ("POST", "/api/v1/four-list-items", "-nyynny"),
    ("POST", "/api/v1/four-list-items/import", "-nyynny"),
    ("GET", "/api/v1/four-list-items/import-template", "-yyyyyy"),
    ("GET", "/api/v1/four-list-items/{id}", "-yyyyyy"),
    ("PATCH", "/api/v1/four-list-items/{id}", "-nyhnny"),
    ("POST", "/api/v1/four-list-items/{id}/publish", "-nyhyhy"),
    ("POST", "/api/v1/four-list-items/{id}/repeal", "-nyhyhy"),
    (
        "PUT",
        "/api/v1/four-list-items/{id}/special-category",
        "-nnnyhy",
    ),
    ("GET", "/api/v1/four-list-items/{id}/versions", "-yyyyyy"),
    ("GET", "/api/v1/list-entries", "-nyyyyy"),
    ("POST", "/api/v1/list-entries", "-nyyyyy"),
    ("GET", "/api/v1/list-entries/export", "-nyyyyy"),
    ("POST", "/api/v1/list-entries/import", "-nyyyyy"),
    ("GET", "/api/v1/list-entries/import-template", "-nyyyyy"),
    ("GET", "/api/v1/list-entries/{id}", "-nyyyyy"),
    ("DELETE", "/api/v1/list-entries/{id}", "-nyhyhy"),
    ("GET", "/api/v1/list-entries/{id}/history", "-nyyyyy"),
    ("GET", "/api/v1/list-entries/{id}/objections", "-nyyyyy"),
    ("POST", "/api/v1/list-entries/{id}/objections", "-nyhyhy"),
    (
        "POST",
        "/api/v1/list-entries/{id}/objections/{objection_id}/resolve",
        "-nyhyhy",
    ),
    ("POST", "/api/v1/list-entries/{id}/publish", "-nyhyhy"),
    ("POST", "/api/v1/list-entries/{id}/notice", "-nyhyhy"),
    ("POST", "/api/v1/list-entries/{id}/remove", "-nyhyhy"),
    ("GET", "/api/v1/me", "-yyyyyy"),
    ("POST", "/api/v1/me/password", "*"),
    ("GET", "/api/v1/national-baselines", "-nnnyyy"),
    ("PUT", "/api/v1/national-baselines", "-nnnyyy"),
    ("GET", "/api/v1/national-sources", "-nyyyyy"),
    ("POST", "/api/v1/national-sources", "-nnnnny"),
    ("POST", "/api/v1/national-sources/{id}/sync", "-nnnyny"),
    ("GET", "/api/v1/receipt-archives", "-nnnyyy"),
    ("POST", "/api/v1/receipt-archives", "-nnnnny"),
    ("GET", "/api/v1/receipt-checkpoints/consistency", "pyyyyyy"),
    ("GET", "/api/v1/receipt-checkpoints/latest", "pyyyyyy"),
    ("GET", "/api/v1/receipt-checkpoints/{size}", "pyyyyyy"),
    ("GET", "/api/v1/receipt-keys", "pyyyyyy"),
    ("GET", "/api/v1/public/commitment-templates", "pyyyyyy"),
    ("GET", "/api/v1/public/four-list-items", "pyyyyyy"),
    ("GET", "/api/v1/public/list-entries", "pyyyyyy"),
    ("GET", "/api/v1/regions", "-yyyyyy"),
    ("GET", "/api/v1/repairs", "-nyyyyy"),
    ("POST", "/api/v1/repairs", "-nyyyyy"),
    ("GET", "/api/v1/repairs/{id}", "-nyhyhy"),
    ("POST", "/api/v1/repairs/{id}/accept", "-nyhyhy"),
    ("POST", "/api/v1/repairs/{id}/approve", "-nyhyhy"),
    ("POST", "/api/v1/repairs/{id}/confirm", "-nnnyhy"),
    ("POST", "/api/v1/repairs/{id}/file", "-nyhyhy"),
    ("POST", "/api/v1/repairs/{id}/refuse", "-nyhyhy"),
    ("POST", "/api/v1/repairs/{id}/resubmit", "-nyhyhy"),
    ("POST", "/api/v1/repairs/{id}/return", "-nyhyhy"),
    ("POST", "/api/v1/repairs/{id}/send-back", "-nnnyhy"),
    ("POST", "/api/v1/repairs/{id}/withdraw", "-nyhyhy"),
    ("GET", "/api/v1/scorecards", "-nyyyyy"),
    ("GET", "/api/v1/scorecards/indicators", "-nyyyyy"),
    ("GET", "/api/v1/scorecards/quarterly", "-nnnyyy"),
    ("GET", "/api/v1/scorecard-attestations", "-nyyyyy"),
    ("POST", "/api/v1/scorecard-attestations", "-nnnyyn"),
    ("GET", "/api/v1/scorecard-attestations/{id}", "-nyyyyy"),
    (
        "GET",
        "/api/v1/scorecard-attestations/{id}/attachment",
        "-nyyyyy",
    ),
    ("GET", "/api/v1/service-records", "-nyyyyy"),
    ("POST", "/api/v1/service-records", "-nyyyyy"),
    ("GET", "/api/v1/special-rectification-items", "-nyyyyy"),
    ("GET", "/api/v1/stats/monthly", "-nyyyyy"),
    ("GET", "/api/v1/stats/monthly/export", "-nyyyyy"),
    (
        "POST",
        "/api/v1/stats/monthly/{year}/{month}/close",
        "-nnnyyn",
    ),
    ("GET", "/api/v1/subjects", "-nyyyyy"),
    ("GET", "/api/v1/subjects/{code}", "-nyyyyy"),
    // Without `region` a county bureau gets its own region (issue 26).
    ("GET", "/api/v1/targets", "-nnnyyy"),
    ("GET", "/api/v1/targets/export", "-nnnyyy"),
    ("PATCH", "/api/v1/training-attendance/{id}", "-nyhyhy"),
    ("GET", "/api/v1/training-sessions", "-nyyyyy"),
    ("POST", "/api/v1/training-sessions", "-nyyyyy"),
    (
        "GET",
        "/api/v1/training-sessions/attendance-template",
        "-nyyyyy",
    ),
    ("GET", "/api/v1/training-sessions/{id}", "-nyhyhy"),
    (
        "GET",
        "/api/v1/training-sessions/{id}/attendance",
        "-nyhyhy",
    ),
    (
        "POST",
        "/api/v1/training-sessions/{id}/attendance",
        "-nyhyhy",
    ),
    (
        "POST",
        "/api/v1/training-sessions/{id}/attendance/bulk",
        "-nyhyhy",
    ),
    (
        "POST",
        "/api/v1/training-sessions/{id}/attendance/import",
        "-nyhyhy",
    ),
    ("GET", "/api/v1/users", "-nnnnny"),
    ("POST", "/api/v1/users", "-nnnnny"),
    ("GET", "/api/v1/users/{id}", "-nnnnny"),
    ("PATCH", "/api/v1/users/{id}", "-nnnnny"),
    ("POST", "/api/v1/users/{id}/password", "-nnnnny"),
    ("GET", "/api/v1/watches", "-yyyyyy"),
    ("POST", "/api/v1/watches", "-yyyyyy"),
    ("GET", "/api/v1/watches/notifications", "-yyyyyy"),
    ("DELETE", "/api/v1/watches/{id}", "-yyhyhy"),
    ("GET", "/health", "pyyyyyy"),
    ("GET", "/metrics", "pyyyyyy"),
    ("GET", "/ready", "pyyyyyy"),
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

    let other_dept = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let county = app
        .account("county", Role::Bureau, None, Some("220521"))
        .await;
    let actors: [(&str, Option<&str>); 7] = [
        ("anonymous", None),
        ("approval_system", Some(&approval.token)),
        ("department (own)", Some(&tax.token)),
        ("department (other)", Some(&other_dept.token)),
        ("bureau (own region)", Some(&s.city.token)),
        ("bureau (other region)", Some(&county.token)),
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
                // Valid content, so that scope rather than validation answers.
                if *path == "/api/v1/cases/{id}/media-reports" {
                    b = json!({"outlet": "通化日报", "level": "city", "report_date": "2026-11-02", "link": "https://www.thrb.com.cn/a/1.html"});
                }
                if *path == "/api/v1/training-sessions/{id}/attendance/bulk" {
                    b = json!({"items": [{"subject_code": code.clone(), "attendee_name": "张三", "completed": true}]});
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
                    b'h' => status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
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
