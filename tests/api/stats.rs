//! Monthly statistics (按月统计): figures, scope, month close, later differences, export.

use chrono::{Datelike, Duration, NaiveDate};
use credit_lists::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::cases::{action, feed_count, listed, post_case, punishment_case, setup};
use crate::entries::{create_entry, entry, publish_entry, today, uscc};
use crate::helpers::*;

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

fn month_of(d: NaiveDate) -> (i32, u32) {
    (d.year(), d.month())
}

#[tokio::test]
async fn monthly_figures_close_and_later_differences() {
    let s = setup().await;
    let app = &s.f.app;
    let t = &s.f.tax.token;
    let first_of_month = today().with_day(1).unwrap();
    let prev_start = (first_of_month - Duration::days(1)).with_day(1).unwrap();
    let (py, pm) = month_of(prev_start);
    let (cy, cm) = month_of(today());

    // Two black entries determined long ago, one red; all published now.
    let mut old = Vec::new();
    for (n, doc) in [(71, "HEI-OLD-1"), (72, "HEI-OLD-2")] {
        let mut b = entry("black", s.f.black, &uscc(n), doc);
        b["determination_date"] = json!((prev_start - Duration::days(30)).to_string());
        let id = create_entry(app, t, b).await["id"].as_i64().unwrap();
        publish_entry(app, t, id).await;
        old.push(id);
    }
    let red = listed(&s, "red", &uscc(73), "HONG-1").await;
    let q =
        |y: i32, m: u32, extra: &str| format!("/api/v1/stats/monthly?year={y}&month={m}{extra}");
    let v = ok(app.get(&q(cy, cm, ""), &s.city.token).await).await;
    assert_eq!(v["live"]["red_published"], 1);
    assert_eq!(v["live"]["black_published"], 2);
    assert_eq!(v["closed"], false);
    assert!(v["snapshot"].is_null());

    // A removal back-dated into the previous month counts there.
    // (Back-dating is for bureaus and admins.)
    let city = &s.city.token;
    let remove = |id: i64, day: NaiveDate| async move {
        app.post(
            &format!("/api/v1/list-entries/{id}/remove"),
            city,
            json!({"reason": "revoked", "removal_date": day.to_string(), "note": "复议撤销"}),
        )
        .await
    };
    assert_eq!(
        remove(old[0], prev_start + Duration::days(5))
            .await
            .status(),
        StatusCode::OK
    );
    let v = ok(app.get(&q(py, pm, ""), &s.city.token).await).await;
    assert_eq!(v["live"]["removals"]["revoked"], 1);
    assert_eq!(v["live"]["removals"]["total"], 1);
    assert_eq!(
        v["live"]["black_published"], 0,
        "published this month, not last"
    );
    assert_eq!(v["live"]["repairs_completed"], 0);

    // Closing: bureaus only, a month that is over, once per region.
    let close = |y: i32, m: u32, token: String| async move {
        app.request(
            Method::POST,
            &format!("/api/v1/stats/monthly/{y}/{m}/close"),
            Some(&token),
            None,
        )
        .await
    };
    let res = close(py, pm, t.clone()).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = close(cy, cm, s.city.token.clone()).await;
    assert_problem(res, StatusCode::CONFLICT, "month_not_over").await;
    let res = close(py, 13, s.city.token.clone()).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    let feed_before = feed_count(app, "monthly_snapshot.closed");
    let res = close(py, pm, s.city.token.clone()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let closed: Value = res.json().await.unwrap();
    assert_eq!(closed["snapshot"]["figures"]["removals"]["revoked"], 1);
    assert_eq!(closed["snapshot"]["region_code"], "220500");
    let res = close(py, pm, s.city.token.clone()).await;
    assert_problem(res, StatusCode::CONFLICT, "month_closed").await;
    let county = app
        .account("dongchang", Role::Bureau, None, Some("220502"))
        .await;
    let res = close(py, pm, county.token.clone()).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "each region closes its own"
    );
    assert_eq!(feed_count(app, "monthly_snapshot.closed"), feed_before + 2);

    // A later back-dated removal changes the live figures, not the snapshot.
    assert_eq!(
        remove(old[1], prev_start + Duration::days(6))
            .await
            .status(),
        StatusCode::OK
    );
    let v = ok(app.get(&q(py, pm, ""), &s.city.token).await).await;
    assert_eq!(v["closed"], true);
    assert_eq!(v["live"]["removals"]["revoked"], 2);
    assert_eq!(v["snapshot"]["figures"]["removals"]["revoked"], 1);
    assert_eq!(v["difference"]["removals"]["revoked"], 1);
    assert_eq!(v["difference"]["removals"]["total"], 1);
    assert_eq!(v["difference"]["red_published"], 0);
    // The county sees its own snapshot (by default its own region).
    let v = ok(app.get(&q(py, pm, ""), &county.token).await).await;
    assert_eq!(v["region_code"], "220502");
    assert_eq!(v["snapshot"]["region_code"], "220502");
    assert_eq!(v["difference"]["removals"]["revoked"], 1);
    let other = app
        .account("tonghuaxian", Role::Bureau, None, Some("220521"))
        .await;
    let res = app.get(&q(py, pm, "&region=220502"), &other.token).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let v = ok(app.get(&q(py, pm, ""), &other.token).await).await;
    assert_eq!(v["live"]["removals"]["total"], 0);
    assert_eq!(v["closed"], false);

    // Cases: filed (submitted), shared, media-reported this month; a department's own view.
    assert!(red > 0);
    let e = listed(&s, "black", &uscc(74), "HEI-C").await;
    let c = post_case(app, t, punishment_case(&s, &uscc(74), e)).await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(action(app, t, id, "submit").await.status(), StatusCode::OK);
    assert_eq!(
        action(app, &s.city.token, id, "share").await.status(),
        StatusCode::OK
    );
    let res = app
        .post(
            &format!("/api/v1/cases/{id}/media-reports"),
            t,
            json!({"outlet": "吉林日报", "level": "provincial", "report_date": today().to_string(), "link": "https://jlrb.example.cn/x"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v = ok(app.get(&q(cy, cm, ""), &s.city.token).await).await;
    assert_eq!(
        v["live"]["cases_filed"],
        json!({"reward": 0, "punishment": 1, "total": 1})
    );
    assert_eq!(v["live"]["cases_shared"]["total"], 1);
    assert_eq!(v["live"]["cases_media_reported"]["punishment"], 1);
    assert_eq!(v["live"]["media_reports"], 1);
    assert_eq!(v["live"]["black_published"], 3);
    // The market regulator took part in the case; it published no entries.
    let scjg = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let v = ok(app.get(&q(cy, cm, ""), &scjg.token).await).await;
    assert_eq!(v["department_id"], DEPT_SCJG);
    assert_eq!(v["live"]["black_published"], 0);
    assert_eq!(v["live"]["cases_filed"]["total"], 1);
    let res = app
        .get(&q(cy, cm, &format!("&department={DEPT_TAX}")), &scjg.token)
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let v = ok(app
        .get(
            &q(cy, cm, &format!("&department={DEPT_SCJG}")),
            &s.city.token,
        )
        .await)
    .await;
    assert_eq!(v["live"]["cases_filed"]["total"], 1);
    assert_eq!(v["live"]["black_published"], 0);

    // Bad parameters: malformed per the document (400) …
    for bad in ["year=1999&month=1", "year=2026&month=0", "year=2026"] {
        let res = app
            .get(&format!("/api/v1/stats/monthly?{bad}"), &s.city.token)
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    // … and well-formed references to nothing (422), on the figures and on the export.
    for path in ["/api/v1/stats/monthly", "/api/v1/stats/monthly/export"] {
        for (bad, field, code) in [
            ("region=999999", "query.region", "unknown_region"),
            (
                "department=999999",
                "query.department",
                "unknown_department",
            ),
        ] {
            let res = app
                .get(&format!("{path}?year=2026&month=1&{bad}"), &s.city.token)
                .await;
            let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, code).await;
            assert_eq!(p["errors"][0]["field"], field, "{path}?{bad}");
        }
    }

    // Export: Chinese headers, live, snapshot and difference columns.
    let res = app
        .get(
            &format!("/api/v1/stats/monthly/export?year={py}&month={pm}&format=csv"),
            &s.city.token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let text = text.trim_start_matches('\u{feff}');
    assert!(text.starts_with("指标,实时数,关账快照数"), "{text}");
    assert!(text.contains("移出：撤销认定,2,1,1"), "{text}");
    let res = app
        .get(
            &format!("/api/v1/stats/monthly/export?year={py}&month={pm}"),
            &s.city.token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(&res.bytes().await.unwrap()[..2], b"PK");
}
