//! The demo data of `serve --demo` as a Tonghua officer would read it (issue 23): the fields the
//! plan counts, measures in 行政许可 and 资质认定 that restrict a black-listed enterprise, scope
//! items admitting only their subject kinds, department-style document numbers, names of the
//! subject's division, facts per scope item, periods from each standard, the section 九
//! categories, departments' former names; and the rule that a case's measures apply in its field.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, problem_fields, spawn_app, test_settings, TestApp};

/// An app with the demo loaded the way `serve --demo` loads it (accounts, lists, cases), and the
/// demo admin's token.
async fn demo_app() -> (TestApp, String) {
    let app = spawn_app().await;
    let state = {
        // The same state the server uses: a second application on the same database.
        let settings = test_settings(&app.db_url);
        credit_lists::startup::Application::build(settings)
            .unwrap()
            .state
            .clone()
    };
    {
        let mut conn = app.conn();
        credit_lists::demo::seed(&mut conn).unwrap();
        assert!(credit_lists::demo::lists::seed(&mut conn, &state).unwrap());
        assert!(credit_lists::demo::cases::seed(&mut conn, &state).unwrap());
    }
    let res = app.login("demo-admin", "demo-admin-pass").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_string();
    (app, token)
}

async fn token_of(app: &TestApp, user: &str) -> String {
    let res = app.login(user, &format!("{user}-pass")).await;
    assert_eq!(res.status(), StatusCode::OK, "login of {user}");
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn json_ok(res: reqwest::Response, status: StatusCode) -> Value {
    let got = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

/// Every list entry (all pages).
async fn all_entries(app: &TestApp, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let body = json_ok(
            app.get(
                &format!("/api/v1/list-entries?per_page=200&page={page}"),
                token,
            )
            .await,
            StatusCode::OK,
        )
        .await;
        let items = body["items"].as_array().unwrap().clone();
        let total = body["total"].as_u64().unwrap() as usize;
        out.extend(items);
        if out.len() >= total {
            break;
        }
    }
    out
}

/// The demo's four-list items by code.
async fn items_by_code(app: &TestApp, token: &str) -> BTreeMap<String, Value> {
    let body = json_ok(
        app.get("/api/v1/four-list-items?per_page=200", token).await,
        StatusCode::OK,
    )
    .await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["code"].as_str().unwrap().to_string(), i.clone()))
        .collect()
}

/// Whether a period from `from` to `last_day` (inclusive) is `months` long.
fn lasts_months(from: NaiveDate, last_day: NaiveDate, months: u32) -> bool {
    from.checked_add_months(chrono::Months::new(months))
        .and_then(|end| end.pred_opt())
        == Some(last_day)
}

#[tokio::test]
async fn at_least_twelve_active_fields_keeping_the_old_codes() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let fields = json_ok(
        app.get("/api/v1/application-fields", &admin.token).await,
        StatusCode::OK,
    )
    .await;
    let by_code: BTreeMap<&str, &Value> = fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f))
        .collect();
    let active = by_code.values().filter(|f| f["active"] == true).count();
    assert!(active >= 12, "{active} active fields: {fields}");
    for (code, name) in [
        // The eight seeded first, unchanged.
        ("administrative_licensing", "行政许可"),
        ("government_procurement", "政府采购"),
        ("bidding", "招标投标"),
        ("fiscal_funds", "财政资金和补贴"),
        ("honours", "评优评先和表彰"),
        ("public_recruitment", "公职人员招录"),
        ("market_access", "市场准入"),
        ("supervision", "日常监管和检查"),
        // Those the plan (section 七) and the memoranda name.
        ("qualification_accreditation", "资质认定"),
        ("project_approval", "项目审批核准"),
        ("policy_support", "政策扶持"),
        ("public_institution_recruitment", "事业单位招聘"),
        ("cadre_selection", "干部选拔任用"),
        ("professional_qualification", "从业资格认定"),
        ("state_land_supply", "国有土地出让"),
        ("financing_credit", "融资授信"),
    ] {
        let f = by_code
            .get(code)
            .unwrap_or_else(|| panic!("no field {code}"));
        assert_eq!(f["name"], name, "{code}");
        assert_eq!(f["active"], true, "{code}");
    }
    // A new field is usable at once: a check in it is answered, not refused.
    let approver = app
        .account(
            "approval",
            credit_lists::auth::Role::ApprovalSystem,
            None,
            None,
        )
        .await;
    let res = app
        .post(
            "/api/v1/credit-checks",
            &approver.token,
            json!({"subject_code": "91350100M000100Y43", "field": "qualification_accreditation",
                   "reference": "ZZ-1", "purpose": "资质认定"}),
        )
        .await;
    let answer = json_ok(res, StatusCode::CREATED).await;
    assert_eq!(answer["advice"], "normal");
}

#[tokio::test]
async fn a_black_listed_enterprise_checked_in_licensing_is_restricted_with_the_measure_and_its_basis(
) {
    let (app, admin) = demo_app().await;
    let entries = all_entries(&app, &admin).await;
    // An enterprise the court lists as 失信被执行人, in force.
    let entry = entries
        .iter()
        .find(|e| {
            e["scope_item_code"] == "FY-HEI-01"
                && e["in_force"] == true
                && e["subject"]["kind"] == "enterprise"
        })
        .expect("an enterprise on the court's list in force");
    let code = entry["subject"]["code"].as_str().unwrap().to_string();
    let approver = token_of(&app, "demo-approval").await;
    let check = |field: &'static str| {
        let (app, approver, code) = (&app, &approver, &code);
        async move {
            json_ok(
                app.post(
                    "/api/v1/credit-checks",
                    approver,
                    json!({"subject_code": code, "field": field, "reference": "XK-2026-0001",
                           "purpose": "开办许可"}),
                )
                .await,
                StatusCode::CREATED,
            )
            .await
        }
    };
    let answer = check("administrative_licensing").await;
    assert_eq!(answer["advice"], "restrict", "{answer}");
    let measure = answer["measures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == "FY-CJ-02")
        .unwrap_or_else(|| panic!("the licensing measure applies: {answer}"));
    assert_eq!(
        measure["title"],
        "从严审核行政许可审批项目，限制新增项目审批核准"
    );
    assert_eq!(measure["kind"], "punishment_measures");
    let documents: Vec<&str> = measure["legal_basis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["document"].as_str().unwrap())
        .collect();
    assert!(
        documents
            .contains(&"《关于对失信被执行人实施联合惩戒的合作备忘录》（发改财金〔2016〕141号）"),
        "{documents:?}"
    );
    assert!(measure["entry_ids"]
        .as_array()
        .unwrap()
        .contains(&entry["id"]));
    // Only measures of the field: none of the court's other measures is in this answer.
    for m in answer["measures"].as_array().unwrap() {
        assert_ne!(m["code"], "FY-CJ-01", "{answer}");
        assert_ne!(m["code"], "FY-CJ-03", "{answer}");
    }
    // 资质认定: the qualification measure, not the licensing one.
    let answer = check("qualification_accreditation").await;
    assert_eq!(answer["advice"], "restrict", "{answer}");
    let codes: Vec<&str> = answer["measures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"FY-CJ-03"), "{codes:?}");
    assert!(!codes.contains(&"FY-CJ-02"), "{codes:?}");
    // A field no demo measure covers: the entry shows, the advice is normal.
    let answer = check("financing_credit").await;
    assert_eq!(answer["advice"], "normal", "{answer}");
    assert_eq!(answer["measures"], json!([]), "{answer}");
    assert!(!answer["black"].as_array().unwrap().is_empty(), "{answer}");
}

#[tokio::test]
async fn demo_entries_read_like_the_departments_wrote_them() {
    let (app, admin) = demo_app().await;
    let entries = all_entries(&app, &admin).await;
    assert!(entries.len() > 320, "{}", entries.len());
    let division_name = |division: &str| match division {
        "220502" => "通化市东昌区",
        "220503" => "通化市二道江区",
        "220521" => "通化县",
        "220523" => "辉南县",
        "220524" => "柳河县",
        "220581" => "梅河口市",
        "220582" => "集安市",
        other => panic!("a demo code of division {other}"),
    };
    let mut facts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Court entries with the intermediate court's 案号, with a county court's.
    let mut court_cases = (0, 0);
    let mut kinds: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &entries {
        let scope = e["scope_item_code"].as_str().unwrap().to_string();
        let kind = e["subject"]["kind"].as_str().unwrap();
        let name = e["subject_name"].as_str().unwrap();
        let code = e["subject"]["code"].as_str().unwrap();
        let document = e["document_number"].as_str().unwrap();
        kinds.entry(scope.clone()).or_default().insert(kind.into());
        // Facts with their figures taken out: what is said, per scope item.
        let said: String = e["facts"]
            .as_str()
            .unwrap()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        facts.entry(scope.clone()).or_default().insert(said);
        match kind {
            "enterprise" => {
                assert!(code.starts_with("91"), "{e}");
                assert!(name.ends_with("有限公司"), "{e}");
                assert!(name.starts_with(division_name(&code[2..8])), "{e}");
            }
            "other_organisation" => {
                // Social organisations carry their registration authority's code (民政 5, 社团 1).
                assert!(code.starts_with("51"), "{e}");
                assert!(name.ends_with("协会"), "{e}");
                assert!(name.starts_with(division_name(&code[2..8])), "{e}");
            }
            // Staff see ID numbers in clear; they are of the subject's county.
            "individual" => assert_eq!(code[..6], e["region_code"], "{e}"),
            other => panic!("kind {other}"),
        }
        // Document numbers in each department's style.
        match scope.as_str() {
            "FY-HEI-01" => {
                // A 案号 of the intermediate court (（2026）吉05执123号) or of the basic court of
                // the subject's county (（2026）吉0521执123号).
                let year = &e["determination_date"].as_str().unwrap()[..4];
                let region = e["region_code"].as_str().unwrap();
                let county = format!("（{year}）吉05{}执", &region[4..]);
                let city = format!("（{year}）吉05执");
                if document.starts_with(&city) {
                    court_cases.0 += 1;
                } else {
                    assert!(document.starts_with(&county), "{e}");
                    court_cases.1 += 1;
                }
                assert!(document.ends_with('号'), "{e}");
                assert_eq!(e["source"], "national", "{e}");
            }
            "SW-HEI-01" => assert!(document.starts_with("通税稽罚〔"), "{e}"),
            "SJ-HEI-01" => assert!(document.starts_with("通市监严失〔"), "{e}"),
            "SJ-HEI-02" => assert!(document.starts_with("通市监异〔"), "{e}"),
            "RS-HEI-01" => assert!(document.starts_with("通人社欠薪认〔"), "{e}"),
            "MZ-HEI-01" => assert!(document.starts_with("通民社严〔"), "{e}"),
            _ => assert!(!document.contains('执'), "{e}"),
        }
        // Validity periods from each standard.
        let from =
            NaiveDate::parse_from_str(e["valid_from"].as_str().unwrap(), "%Y-%m-%d").unwrap();
        let until =
            NaiveDate::parse_from_str(e["valid_until"].as_str().unwrap(), "%Y-%m-%d").unwrap();
        let expected = match scope.as_str() {
            "SW-HONG-01" => Some(12),
            "FY-HEI-01" | "MZ-HEI-01" => Some(24),
            "SW-HEI-01" | "SJ-HEI-01" | "SJ-HEI-02" | "RS-HEI-01" => Some(36),
            _ => None,
        };
        if let Some(months) = expected {
            assert!(lasts_months(from, until, months), "{months} months: {e}");
        }
    }
    assert!(court_cases.0 > 0 && court_cases.1 > 0, "{court_cases:?}");
    // 严重违法失信企业 lists enterprises, not associations; associations only under civil affairs
    // and the court (a 失信被执行人 may be any kind of subject).
    assert_eq!(
        kinds["SJ-HEI-01"],
        BTreeSet::from(["enterprise".to_string()])
    );
    assert_eq!(
        kinds["MZ-HEI-01"],
        BTreeSet::from(["other_organisation".to_string()])
    );
    for (scope, ks) in &kinds {
        if ks.contains("other_organisation") {
            assert!(
                ["MZ-HEI-01", "FY-HEI-01"].contains(&scope.as_str()),
                "{scope}"
            );
        }
    }
    // Facts differ by scope item: no two scope items say the same thing.
    let scopes: Vec<&String> = facts.keys().collect();
    assert!(scopes.len() >= 9, "{scopes:?}");
    for (i, a) in scopes.iter().enumerate() {
        for b in &scopes[i + 1..] {
            assert!(
                facts[*a].is_disjoint(&facts[*b]),
                "{a} and {b} say the same"
            );
        }
    }
}

#[tokio::test]
async fn the_four_section_nine_categories_are_marked_and_departments_keep_former_names() {
    let (app, admin) = demo_app().await;
    let items = items_by_code(&app, &admin).await;
    let marked = json_ok(
        app.get("/api/v1/special-rectification-items", &admin).await,
        StatusCode::OK,
    )
    .await;
    let by_item: BTreeMap<i64, &str> = marked
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["item_id"].as_i64().unwrap(),
                m["category"].as_str().unwrap(),
            )
        })
        .collect();
    for (code, category) in [
        ("FY-HEI-01", "judgment_defaulter"),
        ("SW-HEI-01", "major_tax_violation"),
        ("SJ-HEI-02", "abnormal_operation"),
        ("SJ-HEI-01", "serious_violation"),
    ] {
        let id = items[code]["id"].as_i64().unwrap();
        assert_eq!(by_item.get(&id), Some(&category), "{code}: {marked}");
    }
    assert_eq!(by_item.len(), 4, "{marked}");
    // The licensing and qualification measures: their fields and implementing departments.
    assert_eq!(
        items["FY-CJ-02"]["fields"],
        json!(["administrative_licensing", "project_approval"])
    );
    assert_eq!(
        items["FY-CJ-03"]["fields"],
        json!(["qualification_accreditation"])
    );
    assert_eq!(
        items["FY-CJ-03"]["implementing_department_ids"],
        json!([30])
    );
    assert_eq!(items["SJ-HEI-01"]["subject_kinds"], json!(["enterprise"]));
    // Departments as they are named today, with the plan's 2019 names kept.
    let d51 = json_ok(
        app.get("/api/v1/departments/51", &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(d51["name"], "国家金融监督管理总局通化监管分局");
    assert_eq!(d51["former_names"], json!(["银监会通化监管分局"]));
    let d50 = json_ok(
        app.get("/api/v1/departments/50", &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(d50["name"], "中国人民银行通化市分行");
    assert_eq!(d50["former_names"], json!(["人民银行通化市中心支行"]));
    let d42 = json_ok(
        app.get("/api/v1/departments/42", &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(d42["name"], "市市场监督管理局");
    assert_eq!(d42["former_names"], json!([]));
    // The console's department lists show the former name next to today's.
    let all = json_ok(app.get("/api/v1/departments", &admin).await, StatusCode::OK).await;
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["former_names"].is_array()));
}

/// A case names the field where its measures were applied: a measure that does not apply in the
/// case's field is refused (422 `measure_not_in_field` on that measure), on filing and on edit,
/// and nothing is written; the demo's own cases keep the rule.
#[tokio::test]
async fn a_case_whose_measure_does_not_apply_in_its_field_is_refused() {
    let (app, admin) = demo_app().await;
    let items = items_by_code(&app, &admin).await;
    let entries = all_entries(&app, &admin).await;
    let entry = entries
        .iter()
        .find(|e| {
            e["scope_item_code"] == "FY-HEI-01"
                && e["status"] == "published"
                && e["subject"]["kind"] == "enterprise"
        })
        .unwrap();
    let licensing = items["FY-CJ-02"]["id"].as_i64().unwrap();
    let consumption = items["FY-CJ-01"]["id"].as_i64().unwrap();
    let case = |field: &str, measures: Value| {
        json!({
            "title": "某公司被限制新增项目审批",
            "kind": "punishment",
            "department_id": 15,
            "subjects": [{"code": entry["subject"]["code"], "name": entry["subject_name"]}],
            "entry_ids": [entry["id"]],
            "measure_item_ids": measures,
            "field": field,
            "case_date": entry["valid_from"],
            "summary": "办理行政许可时核查发现其为失信被执行人，依法从严审核。"
        })
    };
    let count = |v: &Value| v["total"].as_i64().unwrap();
    let before = count(
        &json_ok(
            app.get("/api/v1/cases?per_page=1", &admin).await,
            StatusCode::OK,
        )
        .await,
    );
    let audit_before = app.audit_count();
    // 限制高消费 (public recruitment, honours, fiscal funds) is no licensing measure.
    let res = app
        .post(
            "/api/v1/cases",
            &admin,
            case("administrative_licensing", json!([consumption])),
        )
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        problem_fields(&problem),
        vec!["measure_item_ids[0]"],
        "{problem}"
    );
    assert_eq!(
        problem["errors"][0]["code"], "measure_not_in_field",
        "{problem}"
    );
    // Second of two, the first applying: the second is named.
    let res = app
        .post(
            "/api/v1/cases",
            &admin,
            case("administrative_licensing", json!([licensing, consumption])),
        )
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        problem_fields(&problem),
        vec!["measure_item_ids[1]"],
        "{problem}"
    );
    assert_eq!(problem["errors"][0]["code"], "measure_not_in_field");
    // A field where the measure does not apply, named in the project-approval field's stead.
    let res = app
        .post("/api/v1/cases", &admin, case("bidding", json!([licensing])))
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "measure_not_in_field");
    // Nothing was written.
    let after = count(
        &json_ok(
            app.get("/api/v1/cases?per_page=1", &admin).await,
            StatusCode::OK,
        )
        .await,
    );
    assert_eq!(after, before);
    assert_eq!(app.audit_count(), audit_before);
    // In its field, the same case is filed.
    let filed = json_ok(
        app.post(
            "/api/v1/cases",
            &admin,
            case("administrative_licensing", json!([licensing])),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = filed["id"].as_i64().unwrap();
    assert_eq!(filed["field"], "administrative_licensing");
    // Moving the draft to a field where its measure does not apply is refused, and it stays.
    let res = app
        .patch(
            &format!("/api/v1/cases/{id}"),
            &admin,
            json!({"field": "fiscal_funds"}),
        )
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        problem["errors"][0]["code"], "measure_not_in_field",
        "{problem}"
    );
    let stored = json_ok(
        app.get(&format!("/api/v1/cases/{id}"), &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stored["field"], "administrative_licensing");
    // Changing field and measure together is fine.
    let moved = json_ok(
        app.patch(
            &format!("/api/v1/cases/{id}"),
            &admin,
            json!({"field": "fiscal_funds", "measure_item_ids": [consumption]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(moved["field"], "fiscal_funds");
    // Every demo case applies its measures in its own field.
    let fields_of: BTreeMap<i64, Vec<String>> = items
        .values()
        .map(|i| {
            (
                i["id"].as_i64().unwrap(),
                serde_json::from_value(i["fields"].clone()).unwrap(),
            )
        })
        .collect();
    let cases = json_ok(
        app.get("/api/v1/cases?per_page=200", &admin).await,
        StatusCode::OK,
    )
    .await;
    let cases = cases["items"].as_array().unwrap();
    assert!(cases.len() > 10, "{}", cases.len());
    let mut fields_used = BTreeSet::new();
    for c in cases {
        let field = c["field"].as_str().unwrap().to_string();
        for m in c["measures"].as_array().unwrap() {
            let fields = &fields_of[&m["measure_item_id"].as_i64().unwrap()];
            assert!(fields.contains(&field), "{c}");
        }
        fields_used.insert(field);
    }
    assert!(fields_used.len() > 1, "{fields_used:?}");
}
