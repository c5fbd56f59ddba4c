//! Year-end targets through the API: coverage against itemised and declared baselines, no
//! baseline, the repair-training and commitment rates of the year's black-listed enterprises.

use credit_lists::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::entries::{create_entry, entry, fixture, publish_entry, today, uscc};
use crate::helpers::*;

async fn listed(f: &crate::entries::Fixture, list: &str, n: u32, national: bool) -> i64 {
    let scope = if list == "red" { f.red } else { f.black };
    let mut e = entry(list, scope, &uscc(n), &format!("通税〔2026〕{n}号"));
    if national {
        e["source"] = json!("national");
    }
    let id = create_entry(&f.app, &f.tax.token, e).await["id"]
        .as_i64()
        .unwrap();
    publish_entry(&f.app, &f.tax.token, id).await;
    id
}

fn region<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region_code"] == code)
        .unwrap()
}

#[tokio::test]
async fn targets_count_entries_baselines_training_and_commitments() {
    let f = fixture().await;
    let app = &f.app;
    let city = app
        .account("city-bureau", Role::Bureau, None, Some("220500"))
        .await;
    // 东昌区 (220502): four local entries (one later revoked), four national identifications.
    for n in [101, 102, 103] {
        listed(&f, "black", n, false).await;
    }
    listed(&f, "red", 104, false).await;
    for n in [105, 106, 107, 108] {
        listed(&f, "black", n, true).await;
    }
    let revoked = app
        .client
        .get(app.url(&format!("/api/v1/subjects/{}", uscc(103))))
        .bearer_auth(&f.tax.token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["entries"][0]["id"]
        .as_i64()
        .unwrap();
    let res = app
        .post(
            &format!("/api/v1/list-entries/{revoked}/remove"),
            &f.tax.token,
            json!({"reason": "revoked", "note": "行政复议撤销"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // 通化县 (220521): only a declared count; 辉南县 (220523): nothing at all.
    let year = today().format("%Y").to_string().parse::<i32>().unwrap();
    let res = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/national-baselines",
            Some(&city.token),
            Some(json!({"region_code": "220521", "year": year, "list_type": "black", "count": 10, "provenance": "信用中国（吉林）导出"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // One enterprise trained, two signed repair commitments.
    let t = app
        .post(
            "/api/v1/commitment-templates",
            &f.tax.token,
            json!({"purpose": "repair", "title": "信用修复承诺书", "body": "承诺内容"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/commitment-templates/{t}/publish"),
        &f.tax.token,
        json!({}),
    )
    .await;
    for n in [101, 102] {
        let res = app
            .post(
                "/api/v1/commitments",
                &f.tax.token,
                json!({"subject_code": uscc(n), "template_id": t, "signatory": "张三"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let s = app
        .post("/api/v1/training-sessions", &f.tax.token, json!({"session_date": today().to_string(), "form": "online", "topic": "信用修复培训", "hours": 2.0}))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/training-sessions/{s}/attendance"),
        &f.tax.token,
        json!({"subject_code": uscc(101), "attendee_name": "张三", "completed": true}),
    )
    .await;
    app.post(
        &format!("/api/v1/training-sessions/{s}/attendance"),
        &f.tax.token,
        json!({"subject_code": uscc(102), "attendee_name": "李四", "completed": false}),
    )
    .await;

    // One punishment case on an entry of 东昌区, filed, submitted and shared with the province.
    let punish = crate::four_lists::create(
        app,
        &f.tax.token,
        crate::four_lists::punishment("CJ-T", &[f.black]),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    crate::four_lists::publish(app, &f.tax.token, punish).await;
    let entry_101 = app
        .get(&format!("/api/v1/subjects/{}", uscc(101)), &f.tax.token)
        .await
        .json::<Value>()
        .await
        .unwrap()["entries"][0]["id"]
        .clone();
    let res = app
        .post(
            "/api/v1/cases",
            &f.tax.token,
            json!({
                "title": "某公司偷税被限制参与政府采购", "kind": "punishment",
                "subjects": [{"code": uscc(101), "name": "通化市某某商贸有限公司"}],
                "entry_ids": [entry_101], "measure_item_ids": [punish],
                "department_ids": [DEPT_TAX], "field": "government_procurement",
                "case_date": today().to_string(), "summary": "依法限制其参与政府采购活动。"
            }),
        )
        .await;
    let case: Value = res.json().await.unwrap();
    let case_id = case["id"].as_i64().expect("case created");
    let case_region = case["region_code"].as_str().unwrap().to_string();
    for (token, what) in [(&f.tax.token, "submit"), (&city.token, "share")] {
        let res = app
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/cases/{case_id}/{what}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{what}");
    }
    // Nothing marked yet: the section 九 rates have no population, and the report says so.
    let before: Value = app
        .get(&format!("/api/v1/targets?year={year}"), &city.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["total"]["special_exit_rate"]["ratio"], Value::Null);
    assert_eq!(before["total"]["special_exit_rate"]["met"], Value::Null);
    assert_eq!(before["notes"].as_array().unwrap().len(), 1, "{before}");
    // The black-list scope item is the judgment-defaulter category (失信被执行人).
    let res = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/four-list-items/{}/special-category", f.black),
            Some(&city.token),
            Some(json!({"category": "judgment_defaulter"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .get(&format!("/api/v1/targets?year={year}"), &city.token)
        .await;
    let status = res.status();
    let r: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["as_of"], today().to_string());
    let dc = region(&r, "220502");
    assert_eq!(
        dc["local_black_in_force"], 2,
        "the revoked entry is not in force"
    );
    assert_eq!(dc["local_red_in_force"], 1);
    assert_eq!(dc["list_coverage"]["numerator"], 3);
    assert_eq!(dc["list_coverage"]["denominator"], 4);
    assert_eq!(dc["list_coverage"]["baseline"], "itemised");
    assert_eq!(dc["list_coverage"]["met"], true);
    // Seven enterprises black-listed this year (the revoked one included), one trained.
    assert_eq!(dc["training_rate"]["denominator"], 7);
    assert_eq!(dc["training_rate"]["numerator"], 1);
    assert_eq!(dc["training_rate"]["shortfall"], 6);
    // Two of seven committed: 28.6% < 30%, one more needed.
    assert_eq!(dc["commitment_ratio"]["numerator"], 2);
    assert_eq!(dc["commitment_ratio"]["met"], false);
    assert_eq!(dc["commitment_ratio"]["shortfall"], 1);
    // Section 九: the same seven are special-rectification objects; the revoked one has exited,
    // two signed a commitment.
    assert_eq!(dc["special_exit_rate"]["denominator"], 7);
    assert_eq!(dc["special_exit_rate"]["numerator"], 1);
    assert_eq!(dc["special_exit_rate"]["shortfall"], 6);
    assert_eq!(dc["special_commitment_rate"]["numerator"], 2);
    assert_eq!(dc["special_commitment_rate"]["shortfall"], 5);
    assert_eq!(dc["special_commitment_rate"]["goal"], 1.0);
    assert_eq!(r["total"]["special_exit_rate"]["denominator"], 7);
    assert_eq!(r["notes"], json!([]));
    let thx = region(&r, "220521");
    assert_eq!(thx["list_coverage"]["baseline"], "declared");
    assert_eq!(thx["list_coverage"]["denominator"], 10);
    assert_eq!(thx["list_coverage"]["ratio"], 0.0);
    assert_eq!(thx["list_coverage"]["shortfall"], 5);
    let hn = region(&r, "220523");
    assert_eq!(hn["list_coverage"]["baseline"], "none");
    assert_eq!(hn["list_coverage"]["ratio"], Value::Null);
    assert_eq!(hn["list_coverage"]["met"], Value::Null);
    assert_eq!(
        hn["training_rate"]["ratio"],
        Value::Null,
        "no black-listed enterprise: no rate"
    );
    // The whole city: itemised plus declared denominators.
    assert_eq!(r["total"]["list_coverage"]["denominator"], 14);
    assert_eq!(r["total"]["list_coverage"]["baseline"], "mixed");
    assert_eq!(r["total"]["list_coverage"]["shortfall"], 4);
    // One shared case against 14 national identifications: 7.1%, one more needed for 10%.
    assert_eq!(r["total"]["cases_shared"], 1);
    assert_eq!(r["total"]["case_ratio"]["numerator"], 1);
    assert_eq!(r["total"]["case_ratio"]["denominator"], 14);
    assert_eq!(r["total"]["case_ratio"]["met"], false);
    assert_eq!(r["total"]["case_ratio"]["shortfall"], 1);
    assert_eq!(region(&r, &case_region)["cases_shared"], 1);
    let tax = r["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department_id"] == DEPT_TAX)
        .unwrap();
    assert_eq!(tax["local_in_force"], 3);

    // One county.
    let one = app
        .get("/api/v1/targets?year=".to_string().as_str(), &city.token)
        .await;
    assert_eq!(one.status(), StatusCode::BAD_REQUEST);
    let res = app
        .get(
            &format!("/api/v1/targets?year={year}&region=220521"),
            &city.token,
        )
        .await;
    let one: Value = res.json().await.unwrap();
    assert_eq!(one["total"]["list_coverage"]["denominator"], 10);
    assert_eq!(one["regions"], json!([]));
}

#[tokio::test]
async fn targets_are_for_bureaus_in_scope_and_a_day_of_the_year() {
    let f = fixture().await;
    let app = &f.app;
    let county = app
        .account("thx-bureau", Role::Bureau, None, Some("220521"))
        .await;
    let year = today().format("%Y").to_string();
    let res = app
        .get(
            &format!("/api/v1/targets?year={year}&region=220502"),
            &county.token,
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Without `region` a county bureau gets its own region (issue 26: it was 403, the default
    // being the whole city).
    let res = app
        .get(&format!("/api/v1/targets?year={year}"), &county.token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let own: Value = res.json().await.unwrap();
    assert_eq!(own["region_code"], "220521", "{own}");
    assert_eq!(own["regions"], json!([]));
    let res = app
        .get(
            &format!("/api/v1/targets?year={year}&region=220521"),
            &county.token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .get(&format!("/api/v1/targets?year={year}"), &f.tax.token)
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let admin = app.admin().await;
    let res = app
        .get(
            &format!("/api/v1/targets?year={year}&as_of=2019-06-30"),
            &admin.token,
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
    assert_eq!(p["errors"][0]["field"], "query.as_of");
    let res = app
        .get("/api/v1/targets?year=2019&as_of=2019-06-30", &admin.token)
        .await;
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["as_of"], "2019-06-30");
    let res = app
        .get(
            &format!("/api/v1/targets?year={year}&region=999999"),
            &admin.token,
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_region").await;
    let res = app.get("/api/v1/targets?year=2019", &admin.token).await;
    let r: Value = res.json().await.unwrap();
    assert_eq!(
        r["as_of"], "2019-12-31",
        "a past year is counted on its last day"
    );
}

#[tokio::test]
async fn the_year_end_report_exports_one_sheet_per_region() {
    use calamine::Reader;
    let f = fixture().await;
    let app = &f.app;
    let admin = app.admin().await;
    let res = app
        .get("/api/v1/targets/export?year=2019", &admin.token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("targets-220500-2019-2019-12-31.xlsx"));
    let bytes = res.bytes().await.unwrap().to_vec();
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let names = book.sheet_names();
    let regions: i64 = {
        use credit_lists::schema::regions;
        use diesel::prelude::*;
        regions::table.count().get_result(&mut *app.conn()).unwrap()
    };
    assert_eq!(names.len() as i64, regions + 2, "{names:?}");
    assert_eq!(names[0], "全市合计");
    assert!(names.contains(&"通化县".to_string()) && names.contains(&"各部门".to_string()));
    let sheet = book.worksheet_range("通化县").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    // Below the title block (tests/api/workbooks.rs), the header row and the figures.
    let h = rows
        .iter()
        .position(|r| r[0] == "指标")
        .expect("header row");
    assert_eq!(rows[h + 1][0], "红黑名单数量（覆盖率）");
    assert_eq!(rows[h + 1][3], "无国家基数", "no baseline is said, not 0%");
    // The same scope rules as the report.
    let county = app
        .account("thx-bureau", Role::Bureau, None, Some("220521"))
        .await;
    let res = app
        .get(
            "/api/v1/targets/export?year=2019&region=220502",
            &county.token,
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Without `region`, its own region (issue 26: it was 403, the default being the whole city).
    let res = app
        .get("/api/v1/targets/export?year=2019", &county.token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn scorecards_give_points_with_evidence_and_say_what_is_missing() {
    let f = fixture().await;
    let app = &f.app;
    let entry = listed(&f, "black", 201, false).await;
    let t = app
        .post(
            "/api/v1/commitment-templates",
            &f.tax.token,
            json!({"purpose": "pre_licensing", "title": "告知承诺书", "body": "承诺内容"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/commitment-templates/{t}/publish"),
        &f.tax.token,
        json!({}),
    )
    .await;
    let check = app
        .post(
            "/api/v1/credit-checks",
            &f.tax.token,
            json!({"subject_code": uscc(201), "field": "bidding"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["check_id"]
        .as_i64()
        .unwrap();
    let year = today().format("%Y").to_string();
    let quarter = (today().format("%m").to_string().parse::<u32>().unwrap() - 1) / 3 + 1;
    let admin = app.admin().await;
    let res = app
        .get(
            &format!("/api/v1/scorecards?year={year}&quarter={quarter}"),
            &admin.token,
        )
        .await;
    let r: Value = res.json().await.unwrap();
    let card = |id: i32| {
        r["departments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["department_id"] == id)
            .unwrap()
            .clone()
    };
    let tax = card(DEPT_TAX);
    let items: std::collections::HashMap<String, Value> = tax["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["key"].as_str().unwrap().to_string(), i.clone()))
        .collect();
    assert_eq!(items["lists_built"]["points"], 4.0);
    assert_eq!(items["lists_built"]["evidence"], json!([entry]));
    assert_eq!(items["lists_published"]["points"], 2.0);
    assert_eq!(items["lists_shared"]["points"], 4.0);
    assert_eq!(items["commitment_template"]["evidence"], json!([t]));
    assert_eq!(
        items["credit_records_in_approvals"]["evidence"],
        json!([check])
    );
    assert_eq!(items["cases"]["points"], 0.0);
    assert!(items["cases"]["missing"]
        .as_str()
        .unwrap()
        .contains("4 more"));
    assert_eq!(items["repairs_with_commitments"]["points"], 0.0);
    // Issue 26: indicators no record proves earn 0 (not null) until a bureau attests them; the
    // fixture's scope items (red and black, no measures) do not complete the four lists.
    assert_eq!(items["data_complete"]["status"], "not_measured");
    assert_eq!(items["data_complete"]["points"], 0.0);
    assert_eq!(items["four_lists_compiled"]["points"], 0.0);
    assert_eq!(items["commitment_template_public"]["evidence"], json!([t]));
    assert_eq!(items["commitment_template_public"]["points"], 1.0);
    assert_eq!(tax["points"], 16.0);
    assert_eq!(tax["max_measured"], 37.0);
    assert_eq!(tax["max_points"], 100.0);
    let scjg = card(DEPT_SCJG);
    assert_eq!(scjg["points"], 0.0);
    // A department officer sees only their own card; a county bureau only its region's.
    let mine: Value = app
        .get(
            &format!("/api/v1/scorecards?year={year}&quarter={quarter}"),
            &f.tax.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["departments"].as_array().unwrap().len(), 1);
    let county = app
        .account("thx-bureau", Role::Bureau, None, Some("220521"))
        .await;
    let res = app
        .get(
            &format!("/api/v1/scorecards?year={year}&quarter={quarter}&region=220502"),
            &county.token,
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let theirs: Value = app
        .get(
            &format!("/api/v1/scorecards?year={year}&quarter={quarter}"),
            &county.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(theirs["departments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["region_code"] == "220521"));
    let res = app
        .get(
            &format!("/api/v1/scorecards?year={year}&quarter=5"),
            &admin.token,
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
}

#[tokio::test]
async fn special_rectification_marks_are_for_bureaus_on_black_scope_items_and_audited() {
    let f = fixture().await;
    let app = &f.app;
    let city = app
        .account("city-bureau", Role::Bureau, None, Some("220500"))
        .await;
    let county = app
        .account("county-bureau", Role::Bureau, None, Some("220521"))
        .await;
    let path = format!("/api/v1/four-list-items/{}/special-category", f.black);
    let put = |token: String, path: String, body: Value| async move {
        app.request(reqwest::Method::PUT, &path, Some(&token), Some(body))
            .await
    };
    let body = json!({"category": "major_tax_violation"});
    // A department officer, and a county bureau for a city department: refused.
    let res = put(f.tax.token.clone(), path.clone(), body.clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = put(county.token.clone(), path.clone(), body.clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .request(reqwest::Method::PUT, &path, None, Some(body.clone()))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A red scope item cannot be one; an unknown item is 404; an unknown category is refused.
    let res = put(
        city.token.clone(),
        format!("/api/v1/four-list-items/{}/special-category", f.red),
        body.clone(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["code"], "not_black_scope", "{p}");
    let res = put(
        city.token.clone(),
        "/api/v1/four-list-items/999999/special-category".into(),
        body.clone(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = put(
        city.token.clone(),
        path.clone(),
        json!({"category": "littering"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Nothing was stored by the refusals.
    let list: Value = app
        .get("/api/v1/special-rectification-items", &city.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
    // Set, change, clear: each audited with before and after.
    let res = put(city.token.clone(), path.clone(), body.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let stored: Value = res.json().await.unwrap();
    assert_eq!(stored["category"], "major_tax_violation");
    assert_eq!(stored["item_id"], f.black);
    let res = put(
        city.token.clone(),
        path.clone(),
        json!({"category": "judgment_defaulter"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: Value = app
        .get("/api/v1/special-rectification-items", &f.tax.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["category"], "judgment_defaulter");
    let res = put(city.token.clone(), path.clone(), json!({"category": null})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), Value::Null);
    let audit: Value = app
        .get(
            "/api/v1/audit-log?action=four_list_item.special_category",
            &app.admin().await.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let items = audit["items"].as_array().expect("audit page");
    assert_eq!(items.len(), 3, "{audit}");
    let cleared = items
        .iter()
        .find(|i| i["after"].is_null())
        .expect("the clearing is audited");
    assert_eq!(cleared["before"]["category"], "judgment_defaulter");
}

/// The counters behind the report (kept by triggers) against a recount of the raw tables with
/// the pure formulas, after every kind of change made directly in the database: dates moved
/// across the year's edges, removals, drafts, list type, region, department, source and subject
/// changed, entries deleted, a subject's kind, training and commitments changed.
#[tokio::test]
async fn the_report_counters_match_a_recount_after_every_kind_of_change() {
    use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
    use credit_lists::schema::{
        commitments, list_entries, special_rectification_items, subjects, training_attendance,
        training_sessions,
    };
    use credit_lists::targets::formulas::{figure, special_rates, Baseline, Listing};
    use credit_lists::targets::{COMMITMENT_GOAL, TRAINING_GOAL};
    use diesel::prelude::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use std::collections::{BTreeMap, BTreeSet, HashSet};

    let f = fixture().await;
    let app = &f.app;
    let city = app
        .account("city-bureau", Role::Bureau, None, Some("220500"))
        .await;
    let mut ids = Vec::new();
    for n in 0..16u32 {
        let list = if n % 4 == 3 { "red" } else { "black" };
        ids.push(listed(&f, list, 300 + n, n % 5 == 4).await);
    }
    let t = app
        .post(
            "/api/v1/commitment-templates",
            &f.tax.token,
            json!({"purpose": "repair", "title": "信用修复承诺书", "body": "承诺内容"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/commitment-templates/{t}/publish"),
        &f.tax.token,
        json!({}),
    )
    .await;
    let s = app
        .post("/api/v1/training-sessions", &f.tax.token, json!({"session_date": today().to_string(), "form": "online", "topic": "信用修复培训", "hours": 2.0}))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    for n in 300..308u32 {
        let res = app
            .post(
                &format!("/api/v1/training-sessions/{s}/attendance"),
                &f.tax.token,
                json!({"subject_code": uscc(n), "attendee_name": "张三", "completed": n % 2 == 0}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = app
            .post(
                "/api/v1/commitments",
                &f.tax.token,
                json!({"subject_code": uscc(n + 4), "template_id": t, "signatory": "张三"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }

    let today = today();
    let y = today.year();
    let day = |yy: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(yy, m, d).unwrap();
    let dates = [
        day(y - 2, 5, 1),
        day(y - 1, 12, 31),
        day(y, 1, 1),
        day(y, 1, 2),
        day(y, 3, 31),
        day(y, 4, 1),
        today - Duration::days(1),
        today,
        day(y + 1, 3, 1),
    ];
    let regions = ["220502", "220521", "220523"];
    let depts = [DEPT_TAX, DEPT_SCJG];
    let mut rng = StdRng::seed_from_u64(2019);
    let mut live: Vec<i32> = ids.iter().map(|i| *i as i32).collect();
    let subject_ids: Vec<i32> = subjects::table
        .select(subjects::id)
        .load(&mut *app.pool.get().unwrap())
        .unwrap();
    let scopes = [f.black as i32, f.minor as i32];
    // Three rounds of changes: with the black scope item marked as a special-rectification
    // category (section 九), unmarked, and marked again.
    for round in 0..3 {
        let category = [Some("judgment_defaulter"), None, Some("serious_violation")][round];
        let res = app
            .request(
                reqwest::Method::PUT,
                &format!("/api/v1/four-list-items/{}/special-category", f.black),
                Some(&city.token),
                Some(json!({ "category": category })),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let mut conn = app.pool.get().unwrap();
        let c = &mut *conn;
        for step in round * 45..(round + 1) * 45 {
            let e = live[rng.gen_range(0..live.len())];
            let target = list_entries::table.find(e);
            let d = dates[rng.gen_range(0..dates.len())];
            let r = match step % 13 {
                12 => diesel::update(target)
                    .set(list_entries::scope_item_id.eq(scopes[rng.gen_range(0..scopes.len())]))
                    .execute(c),
                0 => diesel::update(target)
                    .set(list_entries::valid_from.eq(d))
                    .execute(c),
                1 => diesel::update(target)
                    .set(list_entries::valid_until.eq(d))
                    .execute(c),
                2 => diesel::update(target)
                    .set((
                        list_entries::status.eq("removed"),
                        list_entries::removal_date.eq(Some(d)),
                    ))
                    .execute(c),
                3 => diesel::update(target)
                    .set((
                        list_entries::status.eq(["draft", "published"][rng.gen_range(0..2)]),
                        list_entries::removal_date.eq(None::<NaiveDate>),
                    ))
                    .execute(c),
                4 => diesel::update(target)
                    .set(list_entries::list_type.eq(["red", "black"][rng.gen_range(0..2)]))
                    .execute(c),
                5 => diesel::update(target)
                    .set(list_entries::region_code.eq(regions[rng.gen_range(0..regions.len())]))
                    .execute(c),
                6 => diesel::update(target)
                    .set(list_entries::department_id.eq(depts[rng.gen_range(0..depts.len())]))
                    .execute(c),
                7 => diesel::update(target)
                    .set(list_entries::source.eq(["local", "national"][rng.gen_range(0..2)]))
                    .execute(c),
                8 => diesel::update(target)
                    .set(
                        list_entries::subject_id
                            .eq(subject_ids[rng.gen_range(0..subject_ids.len())]),
                    )
                    .execute(c),
                9 => diesel::update(
                    subjects::table.find(subject_ids[rng.gen_range(0..subject_ids.len())]),
                )
                .set(subjects::kind.eq(["enterprise", "individual"][rng.gen_range(0..2)]))
                .execute(c),
                10 => match rng.gen_range(0..4) {
                    0 => diesel::update(training_sessions::table)
                        .set(training_sessions::session_date.eq(d))
                        .execute(c),
                    1 => diesel::update(
                        training_attendance::table.filter(
                            training_attendance::subject_id
                                .eq(subject_ids[rng.gen_range(0..subject_ids.len())]),
                        ),
                    )
                    .set(training_attendance::completed.eq(rng.gen_bool(0.5)))
                    .execute(c),
                    2 => diesel::update(
                        commitments::table.filter(
                            commitments::subject_id
                                .eq(subject_ids[rng.gen_range(0..subject_ids.len())]),
                        ),
                    )
                    .set(
                        commitments::signed_at
                            .eq(d.and_hms_opt(rng.gen_range(0..24), 30, 0).unwrap()),
                    )
                    .execute(c),
                    _ => diesel::delete(
                        commitments::table.filter(
                            commitments::subject_id
                                .eq(subject_ids[rng.gen_range(0..subject_ids.len())]),
                        ),
                    )
                    .execute(c),
                },
                _ if step % 26 == 11 && live.len() > 8 => {
                    live.retain(|x| *x != e);
                    diesel::delete(target).execute(c)
                }
                _ => {
                    // A new entry written straight in as published, as imports and bench-data do.
                    let until = dates[rng.gen_range(0..dates.len())];
                    let now = chrono::Utc::now().naive_utc();
                    let id: i32 = diesel::insert_into(list_entries::table)
                        .values((
                            list_entries::subject_id
                                .eq(subject_ids[rng.gen_range(0..subject_ids.len())]),
                            list_entries::list_type.eq(["red", "black"][rng.gen_range(0..2)]),
                            list_entries::status.eq("published"),
                            list_entries::department_id.eq(depts[rng.gen_range(0..depts.len())]),
                            list_entries::region_code.eq(regions[rng.gen_range(0..regions.len())]),
                            list_entries::scope_item_id.eq(scopes[rng.gen_range(0..scopes.len())]),
                            list_entries::scope_item_version.eq(1),
                            list_entries::subject_name.eq("通化市某某商贸有限公司"),
                            list_entries::document_number.eq(format!("直写〔{step}〕号")),
                            list_entries::determination_date.eq(d.min(until)),
                            list_entries::valid_from.eq(d.min(until)),
                            list_entries::valid_until.eq(until.max(d)),
                            list_entries::facts.eq("直接写入"),
                            list_entries::source.eq(["local", "national"][rng.gen_range(0..2)]),
                            list_entries::objection_open.eq(false),
                            list_entries::published_at.eq(Some(now)),
                            list_entries::created_at.eq(now),
                            list_entries::updated_at.eq(now),
                        ))
                        .returning(list_entries::id)
                        .get_result(c)
                        .unwrap();
                    live.push(id);
                    Ok(1)
                }
            };
            r.unwrap_or_else(|err| panic!("step {step}: {err}"));
        }
    }
    let mut conn = app.pool.get().unwrap();
    let c = &mut *conn;

    // The recount, straight from the tables.
    type Row = (
        i32,
        String,
        String,
        i32,
        String,
        String,
        NaiveDate,
        NaiveDate,
        Option<NaiveDate>,
        i32,
    );
    let entries: Vec<Row> = list_entries::table
        .select((
            list_entries::subject_id,
            list_entries::list_type,
            list_entries::status,
            list_entries::department_id,
            list_entries::region_code,
            list_entries::source,
            list_entries::valid_from,
            list_entries::valid_until,
            list_entries::removal_date,
            list_entries::scope_item_id,
        ))
        .load(c)
        .unwrap();
    let marked: HashSet<i32> = special_rectification_items::table
        .select(special_rectification_items::item_id)
        .load::<i32>(c)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(marked.len(), 1);
    let kinds: BTreeMap<i32, String> = subjects::table
        .select((subjects::id, subjects::kind))
        .load(c)
        .unwrap()
        .into_iter()
        .collect();
    let trainings: Vec<(i32, bool, NaiveDate)> = training_attendance::table
        .inner_join(training_sessions::table)
        .select((
            training_attendance::subject_id,
            training_attendance::completed,
            training_sessions::session_date,
        ))
        .load(c)
        .unwrap();
    let signed: Vec<(i32, String, NaiveDateTime)> = commitments::table
        .select((
            commitments::subject_id,
            commitments::purpose,
            commitments::signed_at,
        ))
        .load(c)
        .unwrap();
    drop(conn);

    #[derive(Default, PartialEq, Debug)]
    struct Unit {
        local_red: i64,
        local_black: i64,
        national: i64,
        population: BTreeSet<i32>,
        special: BTreeSet<i32>,
        special_listed: BTreeSet<i32>,
    }
    let mut as_of_days: Vec<(i32, NaiveDate)> = [day(y, 1, 1), day(y, 1, 2), day(y, 3, 31), today]
        .into_iter()
        .filter(|d| *d <= today)
        .map(|d| (y, d))
        .collect();
    as_of_days.push((y - 1, day(y - 1, 12, 31)));
    for (year, as_of) in as_of_days {
        let year_start = day(year, 1, 1);
        let end_of_day =
            (as_of + Duration::days(1)).and_hms_opt(0, 0, 0).unwrap() - Duration::hours(8);
        let trained: HashSet<i32> = trainings
            .iter()
            .filter(|(_, done, d)| *done && *d <= as_of)
            .map(|(s, _, _)| *s)
            .collect();
        let committed: HashSet<i32> = signed
            .iter()
            .filter(|(_, p, at)| p == "repair" && *at < end_of_day)
            .map(|(s, _, _)| *s)
            .collect();
        // Units: "city", a region code, "dept:ID", "REGION/ID".
        let mut units: BTreeMap<String, Unit> = BTreeMap::new();
        for (s, list, status, dept, region, source, from, until, removed, scope) in &entries {
            let l = Listing {
                black: list == "black",
                national: source == "national",
                enterprise: kinds[s] == "enterprise",
                draft: status == "draft",
                valid_from: *from,
                valid_until: *until,
                removal_date: *removed,
            };
            let keys = [
                "city".to_string(),
                region.clone(),
                format!("dept:{dept}"),
                format!("{region}/{dept}"),
            ];
            for k in keys {
                let u = units.entry(k).or_default();
                if l.in_force_on(as_of) {
                    match (source.as_str(), list.as_str()) {
                        ("national", _) => u.national += 1,
                        (_, "red") => u.local_red += 1,
                        _ => u.local_black += 1,
                    }
                }
                if l.black && l.enterprise && l.listed_during(year_start, as_of) {
                    u.population.insert(*s);
                }
                if l.black && marked.contains(scope) {
                    if l.listed_during(year_start, as_of) {
                        u.special.insert(*s);
                    }
                    if l.in_force_on(as_of) {
                        u.special_listed.insert(*s);
                    }
                }
            }
        }
        let rates = |u: &Unit| {
            let n = u.population.len() as i64;
            let t = u.population.iter().filter(|s| trained.contains(s)).count() as i64;
            let c = u
                .population
                .iter()
                .filter(|s| committed.contains(s))
                .count() as i64;
            (
                serde_json::to_value(figure(t, Some(n), TRAINING_GOAL, Baseline::Population))
                    .unwrap(),
                serde_json::to_value(figure(c, Some(n), COMMITMENT_GOAL, Baseline::Population))
                    .unwrap(),
            )
        };
        let special = |u: &Unit| {
            let committed = u.special.iter().filter(|s| committed.contains(s)).count();
            let (exit, signed) = special_rates(
                u.special.len() as i64,
                u.special_listed.len() as i64,
                committed as i64,
            );
            (
                serde_json::to_value(exit).unwrap(),
                serde_json::to_value(signed).unwrap(),
            )
        };
        let check_region = |got: &Value, u: &Unit, what: &str| {
            assert_eq!(got["local_red_in_force"], u.local_red, "{what} {as_of} red");
            assert_eq!(
                got["local_black_in_force"], u.local_black,
                "{what} {as_of} black"
            );
            assert_eq!(
                got["national_in_force"], u.national,
                "{what} {as_of} national"
            );
            let (training, commitment) = rates(u);
            assert_eq!(got["training_rate"], training, "{what} {as_of} training");
            let (exit, signed) = special(u);
            assert_eq!(
                got["special_exit_rate"], exit,
                "{what} {as_of} special exit"
            );
            assert_eq!(
                got["special_commitment_rate"], signed,
                "{what} {as_of} special commitment"
            );
            assert_eq!(
                got["commitment_ratio"], commitment,
                "{what} {as_of} commitment"
            );
        };
        let empty = Unit::default();
        let report: Value = app
            .get(
                &format!("/api/v1/targets?year={year}&as_of={as_of}"),
                &city.token,
            )
            .await
            .json()
            .await
            .unwrap();
        check_region(
            &report["total"],
            units.get("city").unwrap_or(&empty),
            "city",
        );
        for code in regions {
            check_region(
                region(&report, code),
                units.get(code).unwrap_or(&empty),
                code,
            );
        }
        let check_departments = |got: &Value, prefix: &dyn Fn(i32) -> String| {
            let mut expected = BTreeSet::new();
            for d in depts {
                let u = units.get(&prefix(d)).unwrap_or(&empty);
                if u.local_red + u.local_black + u.national > 0
                    || !u.population.is_empty()
                    || !u.special.is_empty()
                {
                    expected.insert(d);
                    let row = got
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|r| r["department_id"] == d)
                        .unwrap_or_else(|| panic!("department {d} missing on {as_of}"));
                    assert_eq!(row["local_in_force"], u.local_red + u.local_black);
                    assert_eq!(row["national_in_force"], u.national);
                    let (training, commitment) = rates(u);
                    assert_eq!(row["training_rate"], training, "department {d} {as_of}");
                    let (exit, signed) = special(u);
                    assert_eq!(row["special_exit_rate"], exit, "department {d} {as_of}");
                    assert_eq!(
                        row["special_commitment_rate"], signed,
                        "department {d} {as_of}"
                    );
                    assert_eq!(
                        row["commitment_ratio"], commitment,
                        "department {d} {as_of}"
                    );
                }
            }
            let listed: BTreeSet<i32> = got
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["department_id"].as_i64().unwrap() as i32)
                .collect();
            assert_eq!(listed, expected, "departments on {as_of}");
        };
        check_departments(&report["departments"], &|d| format!("dept:{d}"));
        let county: Value = app
            .get(
                &format!("/api/v1/targets?year={year}&as_of={as_of}&region=220521"),
                &city.token,
            )
            .await
            .json()
            .await
            .unwrap();
        check_region(
            &county["total"],
            units.get("220521").unwrap_or(&empty),
            "220521 alone",
        );
        check_departments(&county["departments"], &|d| format!("220521/{d}"));
    }
}
