use credit_lists::auth::Role;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Response {
    app.request(Method::PUT, path, Some(token), Some(body))
        .await
}

fn seed(app: &TestApp) {
    credit_lists::calendar::seed_demo(&mut app.conn()).expect("demo calendar");
}

fn dates(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap().to_string())
        .collect()
}

async fn deadline(app: &TestApp, token: &str, from: &str, days: i64) -> String {
    let res = app
        .get(
            &format!("/api/v1/calendar/add-working-days?from={from}&days={days}"),
            token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{from} + {days}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["from"], from);
    assert_eq!(body["days"], days);
    body["date"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn calendar_needs_authentication() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/calendar/2019",
        "/api/v1/calendar/add-working-days?from=2019-09-27&days=10",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let res = app
        .request(
            Method::PUT,
            "/api/v1/calendar/2019",
            None,
            Some(json!({"holidays": [], "workdays": []})),
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn demo_seed_stores_the_official_calendars_once() {
    let app = spawn_app().await;
    let machine = app
        .account("machine", Role::ApprovalSystem, None, None)
        .await;
    let before = app.audit_count();
    seed(&app);
    // One audited write per year.
    assert_eq!(app.audit_count(), before + 2);
    seed(&app);
    assert_eq!(
        app.audit_count(),
        before + 2,
        "a second seed writes nothing"
    );

    let y2019: Value = app
        .get("/api/v1/calendar/2019", &machine.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(y2019["year"], 2019);
    assert_eq!(
        dates(&y2019["holidays"]),
        [
            "2019-01-01",
            "2019-02-04",
            "2019-02-05",
            "2019-02-06",
            "2019-02-07",
            "2019-02-08",
            "2019-04-05",
            "2019-05-01",
            "2019-05-02",
            "2019-05-03",
            "2019-06-07",
            "2019-09-13",
            "2019-10-01",
            "2019-10-02",
            "2019-10-03",
            "2019-10-04",
            "2019-10-07",
        ]
    );
    assert_eq!(y2019["holidays"][0]["name"], "元旦");
    assert_eq!(y2019["holidays"][16]["name"], "国庆节");
    assert_eq!(
        dates(&y2019["workdays"]),
        [
            "2019-02-02",
            "2019-02-03",
            "2019-04-28",
            "2019-05-05",
            "2019-09-29",
            "2019-10-12"
        ]
    );
    let y2026: Value = app
        .get("/api/v1/calendar/2026", &machine.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        dates(&y2026["holidays"]),
        [
            "2026-01-01",
            "2026-01-02",
            "2026-02-16",
            "2026-02-17",
            "2026-02-18",
            "2026-02-19",
            "2026-02-20",
            "2026-02-23",
            "2026-04-06",
            "2026-05-01",
            "2026-05-04",
            "2026-05-05",
            "2026-06-19",
            "2026-09-25",
            "2026-10-01",
            "2026-10-02",
            "2026-10-05",
            "2026-10-06",
            "2026-10-07",
        ]
    );
    assert_eq!(
        dates(&y2026["workdays"]),
        [
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10"
        ]
    );
    // A year without rows is empty, not an error.
    let y2030: Value = app
        .get("/api/v1/calendar/2030", &machine.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(y2030, json!({"year": 2030, "holidays": [], "workdays": []}));

    // The demo seeding of `serve --demo` includes the calendar and stays idempotent.
    let before = app.audit_count();
    credit_lists::demo::seed(&mut app.conn()).expect("demo seed");
    let after_first = app.audit_count();
    assert!(after_first > before, "demo accounts were created");
    credit_lists::demo::seed(&mut app.conn()).expect("demo seed again");
    assert_eq!(app.audit_count(), after_first);
}

#[tokio::test]
async fn add_working_days_follows_the_official_calendars() {
    let app = spawn_app().await;
    seed(&app);
    let dept = app
        .account("dept", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let t = &dept.token;
    // 2019 National Day, from Fri 09-27: Sun 09-29 (1, 调休), Mon 09-30 (2), Oct 1–7 off,
    // Tue 10-08 (3), Wed 10-09 (4), Thu 10-10 (5), Fri 10-11 (6), Sat 10-12 (7, 调休),
    // Sun 10-13 off, Mon 10-14 (8), Tue 10-15 (9), Wed 10-16 (10).
    assert_eq!(deadline(&app, t, "2019-09-27", 10).await, "2019-10-16");
    assert_eq!(deadline(&app, t, "2019-09-27", 1).await, "2019-09-29");
    assert_eq!(deadline(&app, t, "2019-09-27", 7).await, "2019-10-12");
    // 2019 Spring Festival, from Thu 01-31: Fri 02-01 (1), Sat 02-02 (2, 调休), Sun 02-03
    // (3, 调休), Feb 4–10 off, Mon 02-11 (4), Tue 02-12 (5).
    assert_eq!(deadline(&app, t, "2019-01-31", 5).await, "2019-02-12");
    // 2019 Labour Day, from Fri 04-26: Sun 04-28 (1, 调休), Mon 04-29 (2), Tue 04-30 (3),
    // May 1–4 off, Sun 05-05 (4, 调休), Mon 05-06 (5).
    assert_eq!(deadline(&app, t, "2019-04-26", 5).await, "2019-05-06");
    // 2026 Spring Festival, from Fri 02-13: Sat 02-14 (1, 调休), Feb 15–23 off, Tue 02-24 (2),
    // Wed 02-25 (3), Thu 02-26 (4), Fri 02-27 (5), Sat 02-28 (6, 调休), Sun 03-01 off,
    // Mon 03-02 (7).
    assert_eq!(deadline(&app, t, "2026-02-13", 7).await, "2026-03-02");
    // 2026 National Day, from Fri 09-18: Sun 09-20 (1, 调休), Mon 09-21 (2) … Thu 09-24 (5),
    // Fri 09-25 off (中秋节), Mon 09-28 (6), Tue 09-29 (7), Wed 09-30 (8), Oct 1–7 off,
    // Thu 10-08 (9), Fri 10-09 (10), Sat 10-10 (11, 调休), Mon 10-12 (12).
    assert_eq!(deadline(&app, t, "2026-09-18", 12).await, "2026-10-12");
    // Across the year end into 2026 (2025 has no rows): Wed 2025-12-31, Jan 1–3 off,
    // Sun 01-04 (1, 调休), Mon 01-05 (2).
    assert_eq!(deadline(&app, t, "2025-12-31", 2).await, "2026-01-05");
    // days = 0: the same day if it is a working day, else the next working day.
    assert_eq!(deadline(&app, t, "2019-09-27", 0).await, "2019-09-27");
    assert_eq!(deadline(&app, t, "2019-10-01", 0).await, "2019-10-08");
    assert_eq!(deadline(&app, t, "2019-09-29", 0).await, "2019-09-29");
    // The largest span: 2019 has 250 working days after Jan 1 (261 weekdays − 17 holidays + 6
    // make-up days); 2020 has no rows here, so the other 116 are plain weekdays: Jan 1–3 (3),
    // 22 full weeks to Fri 06-05 (113), Mon 06-08 … Wed 06-10 (116).
    assert_eq!(deadline(&app, t, "2019-01-01", 366).await, "2020-06-10");
}

#[tokio::test]
async fn add_working_days_validates_its_query() {
    let app = spawn_app().await;
    let dept = app
        .account("dept", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let path = "/api/v1/calendar/add-working-days";
    for (query, field) in [
        ("from=2019-09-27&days=367", "query.days"),
        ("from=2019-09-27&days=-1", "query.days"),
        ("from=1999-12-31&days=1", "query.from"),
        ("from=2101-01-01&days=1", "query.from"),
    ] {
        let res = app.get(&format!("{path}?{query}"), &dept.token).await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem_fields(&p), vec![field], "{query}");
    }
    for query in [
        "from=2019-02-30&days=1",
        "from=2019-09-27",
        "days=1",
        "from=2019-09-27&days=ten",
        "from=2019-09-27&days=1&region=220500",
    ] {
        let res = app.get(&format!("{path}?{query}"), &dept.token).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
}

#[tokio::test]
async fn admin_replaces_a_year_and_reads_exactly_the_new_set() {
    let app = spawn_app().await;
    seed(&app);
    let admin = app.admin().await;
    let before = app.audit_count();
    let res = put(
        &app,
        "/api/v1/calendar/2019",
        &admin.token,
        json!({
            "holidays": [
                {"date": "2019-10-07", "name": "国庆节"},
                {"date": "2019-01-01", "name": " 元旦 "}
            ],
            "workdays": [{"date": "2019-10-12", "name": "国庆节调休上班"}]
        }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let stored: Value = res.json().await.unwrap();
    let expected = json!({
        "year": 2019,
        "holidays": [
            {"date": "2019-01-01", "name": "元旦"},
            {"date": "2019-10-07", "name": "国庆节"}
        ],
        "workdays": [{"date": "2019-10-12", "name": "国庆节调休上班"}]
    });
    assert_eq!(stored, expected);
    let read: Value = app
        .get("/api/v1/calendar/2019", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, expected);
    assert_eq!(app.audit_count(), before + 1);
    // The other seeded year is untouched.
    let y2026: Value = app
        .get("/api/v1/calendar/2026", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(y2026["holidays"].as_array().unwrap().len(), 19);
    // The audit record holds the old and the new set.
    let page: Value = app
        .get("/api/v1/audit-log?action=calendar.replace", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    let rec = &page["items"][0];
    assert_eq!(rec["entity_type"], "calendar_year");
    assert_eq!(rec["entity_id"], "2019");
    assert_eq!(rec["actor_username"], "admin");
    assert_eq!(rec["before"]["holidays"].as_array().unwrap().len(), 17);
    assert_eq!(rec["after"], expected);
    // Days that lost their row follow the weekday rule again: Tue 10-01 is now a working day.
    assert_eq!(
        deadline(&app, &admin.token, "2019-09-30", 1).await,
        "2019-10-01"
    );
    // An empty set clears the year.
    let res = put(
        &app,
        "/api/v1/calendar/2019",
        &admin.token,
        json!({"holidays": [], "workdays": []}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let read: Value = app
        .get("/api/v1/calendar/2019", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, json!({"year": 2019, "holidays": [], "workdays": []}));
}

#[tokio::test]
async fn calendar_input_is_validated_and_nothing_is_written() {
    let app = spawn_app().await;
    seed(&app);
    let admin = app.admin().await;
    let original: Value = app
        .get("/api/v1/calendar/2019", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    let before = app.audit_count();
    let ok_day = json!({"date": "2019-10-01", "name": "国庆节"});
    let cases: Vec<(Value, &str, &str)> = vec![
        // A date outside the year.
        (
            json!({"holidays": [ok_day, {"date": "2020-01-01", "name": "元旦"}], "workdays": []}),
            "holidays[1].date",
            "outside_year",
        ),
        // A holiday on a Saturday.
        (
            json!({"holidays": [ok_day, {"date": "2019-10-05", "name": "国庆节"}], "workdays": []}),
            "holidays[1].date",
            "not_a_weekday",
        ),
        // A make-up working day on a Monday.
        (
            json!({"holidays": [], "workdays": [{"date": "2019-09-30", "name": "调休"}]}),
            "workdays[0].date",
            "not_a_weekend_day",
        ),
        // The same date twice (as a holiday and again).
        (
            json!({"holidays": [ok_day, {"date": "2019-10-02", "name": "国庆节"}, ok_day], "workdays": []}),
            "holidays[2].date",
            "duplicate_date",
        ),
        // An empty name.
        (
            json!({"holidays": [{"date": "2019-10-01", "name": "  "}], "workdays": []}),
            "holidays[0].name",
            "required",
        ),
        // A name of 51 characters.
        (
            json!({"holidays": [], "workdays": [{"date": "2019-10-12", "name": "调".repeat(51)}]}),
            "workdays[0].name",
            "too_long",
        ),
    ];
    for (body, field, code) in cases {
        let res = put(&app, "/api/v1/calendar/2019", &admin.token, body).await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem_fields(&p), vec![field], "{p}");
        assert_eq!(p["errors"][0]["code"], code, "{p}");
    }
    // A 50-character name is fine in principle; with two bad fields both are named.
    let res = put(
        &app,
        "/api/v1/calendar/2019",
        &admin.token,
        json!({
            "holidays": [{"date": "2019-10-05", "name": "调".repeat(50)}],
            "workdays": [{"date": "2019-10-01", "name": ""}]
        }),
    )
    .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        problem_fields(&p),
        vec!["holidays[0].date", "workdays[0].date", "workdays[0].name"]
    );
    // Years outside 2000–2100.
    for year in [1999, 2101] {
        let res = put(
            &app,
            &format!("/api/v1/calendar/{year}"),
            &admin.token,
            json!({"holidays": [], "workdays": []}),
        )
        .await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
        assert_eq!(problem_fields(&p), vec!["year"]);
        let res = app
            .get(&format!("/api/v1/calendar/{year}"), &admin.token)
            .await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
    }
    // Malformed input is a 400 naming the field.
    let res = put(
        &app,
        "/api/v1/calendar/2019",
        &admin.token,
        json!({"holidays": [{"date": "2019-02-30", "name": "x"}], "workdays": []}),
    )
    .await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(problem_fields(&p), vec!["holidays[0].date"]);
    let res = put(
        &app,
        "/api/v1/calendar/2019",
        &admin.token,
        json!({"holidays": [], "workdays": [], "year": 2019}),
    )
    .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    let res = put(
        &app,
        "/api/v1/calendar/2019",
        &admin.token,
        json!({"holidays": []}),
    )
    .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    let res = put(
        &app,
        "/api/v1/calendar/twenty",
        &admin.token,
        json!({"holidays": [], "workdays": []}),
    )
    .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;

    assert_eq!(app.audit_count(), before);
    let unchanged: Value = app
        .get("/api/v1/calendar/2019", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged, original);
}

#[tokio::test]
async fn only_admins_replace_the_calendar_but_everyone_reads_it() {
    let app = spawn_app().await;
    seed(&app);
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
    let before = app.audit_count();
    for who in [&city, &county, &dept, &machine] {
        let res = put(
            &app,
            "/api/v1/calendar/2019",
            &who.token,
            json!({"holidays": [], "workdays": []}),
        )
        .await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app.get("/api/v1/calendar/2019", &who.token).await;
        assert_eq!(res.status(), StatusCode::OK);
        let y: Value = res.json().await.unwrap();
        assert_eq!(y["holidays"].as_array().unwrap().len(), 17);
    }
    assert_eq!(app.audit_count(), before);
}
