//! Query errors name the parameter (issue 26): every refusal of a query string is 400 or 422
//! problem+json whose `errors[0].field` is `query.NAME`, the parameter that was sent (or left out).

use chrono::Datelike;
use credit_lists::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::entries::{fixture, today};
use crate::helpers::*;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

/// The pattern the document gives free-text query parameters (`http::QUERY_TEXT_PATTERN`).
fn free_text_pattern() -> &'static str {
    credit_lists::http::QUERY_TEXT_PATTERN
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &spec["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    }
}

/// A value every required parameter accepts, so that the parameter under test is what answers.
fn good_value(name: &str) -> String {
    match name {
        "year" => "2019".into(),
        "month" | "quarter" | "days" => "1".into(),
        "from" => "2019-09-27".into(),
        "first" | "second" => "1".into(),
        "q" => "abc".into(),
        "filename" => "证明.pdf".into(),
        other => panic!("no good value for the required parameter {other}: add one"),
    }
}

/// The values of a parameter's schema that it must refuse, with what each is. Empty for free
/// text: every line of text is an acceptable value of `region`, `region_code`, `action`,
/// `entity_type`, `entity_id`, `field`, an import's `filename` (a filter that matches nothing
/// answers an empty page), so those are not walked here (their control characters are refused
/// for every parameter alike: `errors::control_characters_in_query_parameters_*`).
fn bad_values(spec: &Value, schema: &Value) -> Vec<(String, &'static str)> {
    let schema = resolve(spec, schema);
    let mut bad = Vec::new();
    if schema["enum"].is_array() {
        bad.push(("not_a_value".to_string(), "a value outside the enum"));
        return bad;
    }
    match schema["type"].as_str() {
        Some("integer") => {
            bad.push(("abc".into(), "a string for an integer"));
            bad.push(("1.5".into(), "a fraction for an integer"));
            if schema["format"] == "int32" {
                bad.push(("99999999999".into(), "an integer beyond int32"));
            }
            if let Some(min) = schema["minimum"].as_i64() {
                bad.push(((min - 1).to_string(), "below the minimum"));
            }
            if let Some(max) = schema["maximum"].as_i64() {
                bad.push(((max + 1).to_string(), "above the maximum"));
            }
        }
        Some("boolean") => bad.push(("maybe".into(), "a string for a boolean")),
        Some("string") => match schema["format"].as_str() {
            Some("date") => {
                bad.push(("2019-02-30".into(), "a day that does not exist"));
                bad.push(("yesterday".into(), "a word for a date"));
            }
            Some("date-time") => {
                bad.push(("2019-02-30T00:00:00Z".into(), "a day that does not exist"));
                bad.push(("yesterday".into(), "a word for a date-time"));
            }
            _ => {
                let pattern = schema["pattern"].as_str().unwrap_or("");
                if pattern != free_text_pattern()
                    && (pattern.starts_with("^(") || pattern.starts_with("^[0-9A-HJ"))
                {
                    // An enumeration spelt as a pattern, or a subject code.
                    bad.push(("~".into(), "a value outside the pattern"));
                }
                if let Some(max) = schema["maxLength"].as_u64() {
                    bad.push(("x".repeat(max as usize + 1), "longer than maxLength"));
                }
                if schema["minLength"].as_u64().is_some_and(|m| m > 0) {
                    bad.push(("".into(), "shorter than minLength"));
                }
            }
        },
        other => panic!("a query parameter of type {other:?}: teach this test its bad values"),
    }
    bad
}

/// One operation's query parameters, from the committed document.
struct Operation {
    method: String,
    path: String,
    params: Vec<(String, bool, Value)>,
}

fn operations(spec: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let params: Vec<(String, bool, Value)> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_string(),
                        p["required"] == true,
                        p["schema"].clone(),
                    )
                })
                .collect();
            if !params.is_empty() {
                out.push(Operation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    params,
                });
            }
        }
    }
    out
}

fn fill(path: &str, subject: &str) -> String {
    path.replace("{code}", subject)
        .replace("{check_id}", "1")
        .replace("{id}", "1")
}

/// Sends `query` to the operation with the first token that is not refused for its role (403):
/// the query is read before the handler looks at the role, but a 403 must not hide a query that
/// was accepted.
async fn send(
    app: &TestApp,
    tokens: &[(&str, &str)],
    op: &Operation,
    url: &str,
) -> (String, Value, StatusCode) {
    let mut last = None;
    for (who, token) in tokens {
        let mut req = app.client.request(
            reqwest::Method::from_bytes(op.method.as_bytes()).unwrap(),
            app.url(url),
        );
        if !op.path.starts_with("/api/v1/public/") {
            req = req.bearer_auth(token);
        }
        if op.method != "GET" {
            req = req
                .header("content-type", "application/octet-stream")
                .body(Vec::<u8>::new());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body: Value = if ct.starts_with("application/problem+json") {
            res.json().await.unwrap()
        } else {
            json!({"content-type": ct})
        };
        last = Some((who.to_string(), body, status));
        if status != StatusCode::FORBIDDEN {
            break;
        }
    }
    last.unwrap()
}

#[tokio::test]
async fn every_query_parameter_sent_with_a_bad_value_is_named_query_name() {
    let spec: Value = serde_json::from_str(COMMITTED).unwrap();
    let app = spawn_app().await;
    let admin = app.admin().await;
    let city = app
        .account("city-bureau", Role::Bureau, None, Some("220500"))
        .await;
    let tax = app
        .account("tax", Role::Department, Some(DEPT_TAX), None)
        .await;
    let approval = app
        .account("approval", Role::ApprovalSystem, None, None)
        .await;
    let tokens = [
        ("admin", admin.token.as_str()),
        ("city bureau", city.token.as_str()),
        ("department", tax.token.as_str()),
        ("approval system", approval.token.as_str()),
    ];
    let subject = "91220502MA0Y2N1U3C";
    let ops = operations(&spec);
    assert!(ops.len() >= 30, "{} operations take a query", ops.len());
    let mut wrong = Vec::new();
    let mut walked = 0;
    for op in &ops {
        let base = fill(&op.path, subject);
        let required: Vec<String> = op
            .params
            .iter()
            .filter(|(_, req, _)| *req)
            .map(|(n, _, _)| n.clone())
            .collect();
        let with = |name: &str, value: &str| -> String {
            let mut pairs: Vec<String> = required
                .iter()
                .filter(|r| *r != name)
                .map(|r| format!("{r}={}", urlencode(&good_value(r))))
                .collect();
            pairs.push(format!("{name}={}", urlencode(value)));
            format!("{base}?{}", pairs.join("&"))
        };
        let mut cases: Vec<(String, String, String)> = Vec::new();
        for (name, _, schema) in &op.params {
            for (value, what) in bad_values(&spec, schema) {
                cases.push((
                    name.clone(),
                    with(name, &value),
                    format!("{what} ({value:.20})"),
                ));
            }
        }
        // An unknown parameter: every operation denies them.
        cases.push((
            "zz_unknown".into(),
            with("zz_unknown", "1"),
            "an unknown parameter".into(),
        ));
        // Each required parameter left out.
        for name in &required {
            let pairs: Vec<String> = required
                .iter()
                .filter(|r| *r != name)
                .map(|r| format!("{r}={}", urlencode(&good_value(r))))
                .collect();
            cases.push((
                name.clone(),
                format!("{base}?{}", pairs.join("&")),
                "a required parameter left out".into(),
            ));
        }
        for (name, url, what) in cases {
            walked += 1;
            let (who, body, status) = send(&app, &tokens, op, &url).await;
            let expected = format!("query.{name}");
            let ok = (status == StatusCode::BAD_REQUEST
                || status == StatusCode::UNPROCESSABLE_ENTITY)
                && body["errors"][0]["field"] == expected.as_str()
                && body["status"] == status.as_u16();
            if !ok {
                wrong.push(format!(
                    "{} {url} ({what}) as {who}: {status} {body}",
                    op.method
                ));
            }
        }
    }
    assert!(walked > 150, "only {walked} bad queries sent");
    assert!(
        wrong.is_empty(),
        "{} of {walked} bad queries not answered 400/422 naming query.NAME:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The parameter and field code a query problem names.
async fn named(res: reqwest::Response, status: StatusCode, code: &str) -> (String, String) {
    let p = assert_problem(res, status, code).await;
    (
        p["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        p["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn the_year_end_targets_blame_the_parameter_that_was_sent() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let next_year = today().year() + 1;
    // No `as_of` sent: a year that has not begun is the year's fault.
    let res = app
        .get(&format!("/api/v1/targets?year={next_year}"), &admin.token)
        .await;
    let (field, code) = named(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
    assert_eq!(
        (field.as_str(), code.as_str()),
        ("query.year", "out_of_range")
    );
    // With `as_of`, the day is.
    let res = app
        .get(
            &format!("/api/v1/targets?year={next_year}&as_of={next_year}-01-02"),
            &admin.token,
        )
        .await;
    let (field, _) = named(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
    assert_eq!(field, "query.as_of");
    let res = app
        .get("/api/v1/targets?year=2019&as_of=2020-01-01", &admin.token)
        .await;
    let (field, _) = named(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
    assert_eq!(field, "query.as_of");
    for path in ["/api/v1/targets", "/api/v1/targets/export"] {
        for (query, param, code) in [
            ("year=abc", "query.year", "invalid"),
            ("year=2101", "query.year", "out_of_range"),
            ("year=1999", "query.year", "out_of_range"),
            ("year=2019&as_of=2019-02-30", "query.as_of", "invalid"),
            ("year=2019&as_of=", "query.as_of", "invalid"),
            ("year=2019&year=2020", "query.year", "duplicate_parameter"),
            (
                "year=2019&asof=2019-06-30",
                "query.asof",
                "unknown_parameter",
            ),
            ("as_of=2019-06-30", "query.year", "required"),
        ] {
            let res = app.get(&format!("{path}?{query}"), &admin.token).await;
            let (field, field_code) = named(res, StatusCode::BAD_REQUEST, "invalid_query").await;
            assert_eq!(
                (field.as_str(), field_code.as_str()),
                (param, code),
                "{path}?{query}"
            );
        }
    }
}

#[tokio::test]
async fn a_county_bureau_gets_its_own_region_and_a_422_for_a_region_that_does_not_exist() {
    let f = fixture().await;
    let app = &f.app;
    let county = app
        .account("thx-bureau", Role::Bureau, None, Some("220521"))
        .await;
    let city = app
        .account("city-bureau", Role::Bureau, None, Some("220500"))
        .await;
    let year = today().year();
    for path in ["/api/v1/targets", "/api/v1/targets/export"] {
        // No region: its own.
        let res = app.get(&format!("{path}?year={year}"), &county.token).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        // An unknown region: 422 naming it, not 403.
        let res = app
            .get(&format!("{path}?year={year}&region=999999"), &county.token)
            .await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_region").await;
        assert_eq!(problem_fields(&p), vec!["query.region"], "{path}");
        // A real region outside its scope stays 403.
        let res = app
            .get(&format!("{path}?year={year}&region=220502"), &county.token)
            .await;
        let p = assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
        assert_eq!(problem_fields(&p), vec!["query.region"], "{path}");
        let res = app
            .get(&format!("{path}?year={year}&region=220500"), &county.token)
            .await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let own: Value = app
        .get(&format!("/api/v1/targets?year={year}"), &county.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["region_code"], "220521");
    assert_eq!(own["total"]["region_code"], "220521");
    assert_eq!(own["regions"], json!([]), "a county has no breakdown");
    // The city bureau's own region is the whole city, with its breakdown.
    let whole: Value = app
        .get(&format!("/api/v1/targets?year={year}"), &city.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whole["region_code"], "220500");
    assert!(!whole["regions"].as_array().unwrap().is_empty());
    let res = app
        .get(
            &format!("/api/v1/targets/export?year={year}"),
            &county.token,
        )
        .await;
    let disposition = res
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    assert_eq!(res.status(), StatusCode::OK, "{disposition}");
}

#[tokio::test]
async fn the_notes_say_why_a_figure_is_null() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    // No entries at all: no national baseline, no black-listed enterprise.
    let r: Value = app
        .get("/api/v1/targets?year=2019&region=220521", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["total"]["list_coverage"]["ratio"], Value::Null, "{r}");
    assert_eq!(r["total"]["training_rate"]["ratio"], Value::Null, "{r}");
    let notes: Vec<&str> = r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("220521")
            && n.contains("list_coverage")
            && n.contains("no national baseline")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("220521")
            && n.contains("training_rate")
            && n.contains("no population")),
        "{notes:?}"
    );
    // A declared count is a baseline: the note about it goes.
    let res = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/national-baselines",
            Some(&admin.token),
            Some(json!({"region_code": "220521", "year": 2019, "list_type": "black", "count": 10, "provenance": "信用中国（吉林）导出"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = app
        .get("/api/v1/targets?year=2019&region=220521", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["total"]["list_coverage"]["denominator"], 10, "{r}");
    let notes = r["notes"].as_array().unwrap();
    assert!(
        !notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("no national baseline")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("training_rate")),
        "{notes:?}"
    );
}

#[tokio::test]
async fn a_scorecard_of_a_year_that_has_not_begun_blames_the_year() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let next_year = today().year() + 1;
    let res = app
        .get(
            &format!("/api/v1/scorecards?year={next_year}&quarter=1"),
            &admin.token,
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
    assert_eq!(problem_fields(&p), vec!["query.year"]);
    for quarter in ["0", "5"] {
        let res = app
            .get(
                &format!("/api/v1/scorecards?year=2019&quarter={quarter}"),
                &admin.token,
            )
            .await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
        assert_eq!(problem_fields(&p), vec!["query.quarter"], "{quarter}");
    }
    // A year before the records begin (or negative: it reached PostgreSQL's dates and was a 500).
    for path in [
        "/api/v1/scorecards?year=-873&quarter=1",
        "/api/v1/scorecards/quarterly?year=-873&quarter=1&format=xlsx",
        "/api/v1/scorecards/quarterly?year=2018&quarter=4",
    ] {
        let res = app.get(path, &admin.token).await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
        assert_eq!(problem_fields(&p), vec!["query.year"], "{path}");
    }
    let res = app
        .get("/api/v1/scorecards?year=2019&quarter=4", &admin.token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}
