//! The whole evaluation table (附件2): a department's scorecard adds up to 100 possible points,
//! every earned point names its evidence (record ids or an attestation id); bureaus attest what
//! no record proves, within their scope, audited and correctable; the quarterly report ranks
//! every department and county, also as a workbook re-read with calamine.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::Datelike;
use credit_lists::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cases::{listed, setup};
use crate::entries::{today, uscc};
use crate::helpers::*;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";

fn year_quarter() -> (i32, u32) {
    let t = today();
    (t.year(), t.month().div_ceil(3))
}

fn attestation(indicator: &str, subject: Value, points: f64) -> Value {
    let (year, quarter) = year_quarter();
    let mut b = json!({
        "indicator": indicator,
        "year": year,
        "quarter": quarter,
        "points": points,
        "document_title": "关于开展公务员信用知识教育的通知",
        "document_number": "通信用办〔2026〕3号",
        "document_date": today().to_string(),
        "note": "抽查培训签到表 42 人"
    });
    for (k, v) in subject.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

async fn card(app: &TestApp, token: &str, dept: i32) -> Value {
    let (year, quarter) = year_quarter();
    let r: Value = app
        .get(
            &format!("/api/v1/scorecards?year={year}&quarter={quarter}"),
            token,
        )
        .await
        .json()
        .await
        .unwrap();
    r["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department_id"] == dept)
        .unwrap_or_else(|| panic!("no card for {dept} in {r}"))
        .clone()
}

fn items(card: &Value) -> HashMap<String, Value> {
    card["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["key"].as_str().unwrap().to_string(), i.clone()))
        .collect()
}

fn tenths(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 10.0).round() as i64
}

/// Every card's invariants: 100 possible points, sums that add up, and every earned point
/// resting on record ids or on an attestation id.
fn check_card(card: &Value) {
    let items = card["items"].as_array().unwrap();
    let main: Vec<&Value> = items.iter().filter(|i| i["bonus"] == false).collect();
    assert_eq!(
        main.iter().map(|i| tenths(&i["max_points"])).sum::<i64>(),
        1000,
        "{card}"
    );
    assert_eq!(tenths(&card["max_points"]), 1000);
    assert_eq!(
        main.iter().map(|i| tenths(&i["points"])).sum::<i64>(),
        tenths(&card["points"]),
        "{card}"
    );
    assert_eq!(
        tenths(&card["record_points"]) + tenths(&card["attested_points"]),
        tenths(&card["points"])
    );
    assert_eq!(
        tenths(&card["points"]) + tenths(&card["bonus_points"]),
        tenths(&card["total_points"])
    );
    for i in items {
        assert!(tenths(&i["points"]) <= tenths(&i["max_points"]), "{i}");
        match i["status"].as_str().unwrap() {
            "measured" => {
                assert_eq!(i["source"], "records", "{i}");
                if tenths(&i["points"]) > 0 {
                    assert!(!i["evidence"].as_array().unwrap().is_empty(), "{i}");
                    assert_ne!(i["evidence_kind"], "attestation", "{i}");
                }
            }
            "attested" => {
                assert_eq!(i["source"], "attestation", "{i}");
                assert!(i["attestation_id"].is_i64(), "{i}");
                assert_eq!(i["evidence"], json!([i["attestation_id"]]), "{i}");
            }
            "not_measured" => {
                assert_eq!(i["source"], "attestation", "{i}");
                assert_eq!(tenths(&i["points"]), 0, "{i}");
                assert!(
                    i["missing"]
                        .as_str()
                        .unwrap()
                        .contains("evidence that would count"),
                    "{i}"
                );
            }
            other => panic!("status {other} in {i}"),
        }
    }
}

#[tokio::test]
async fn a_departments_card_adds_up_to_100_and_every_point_names_its_evidence() {
    let s = setup().await;
    let app = &s.f.app;
    let tax = &s.f.tax;
    let entry = listed(&s, "black", &uscc(301), "通税〔2026〕301号").await;
    let c = card(app, &s.city.token, DEPT_TAX).await;
    check_card(&c);
    let it = items(&c);
    assert_eq!(it.len(), 38);
    // The four lists: all four kinds published → 6 + 1, with the items as evidence.
    assert_eq!(it["four_lists_compiled"]["points"], 6.0, "{c}");
    assert_eq!(it["four_lists_public"]["points"], 1.0);
    let mut four: Vec<i64> = vec![s.f.black, s.f.red, s.f.minor, s.punish, s.incentive];
    four.sort();
    assert_eq!(it["four_lists_compiled"]["evidence"], json!(four));
    assert_eq!(
        it["four_lists_compiled"]["evidence_kind"],
        "four_list_items"
    );
    assert_eq!(it["lists_built"]["evidence"], json!([entry]));
    assert_eq!(it["lists_built"]["evidence_kind"], "list_entries");
    assert_eq!(it["civil_servant_education"]["status"], "not_measured");
    assert_eq!(tenths(&c["attested_points"]), 0);
    // 6 + 1 (four lists) + 4 + 2 + 4 (entries built, public, shared).
    assert_eq!(tenths(&c["record_points"]), 170, "{c}");
    // A department with no records and no attestation earns nothing, and says why.
    let scjg = card(app, &s.city.token, DEPT_SCJG).await;
    check_card(&scjg);
    assert_eq!(scjg["points"], 0.0);
    assert!(items(&scjg)["four_lists_compiled"]["missing"]
        .as_str()
        .unwrap()
        .contains("诚信典型范围清单"));

    // A city bureau attests 公务员信用知识教育 with a document: the total grows by the points
    // awarded, the item names the attestation, and the write is audited.
    let file = app
        .client
        .post(app.url("/api/v1/attachments?filename=签到表.pdf"))
        .bearer_auth(&s.city.token)
        .header("content-type", "application/octet-stream")
        .body(PDF.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::CREATED);
    let file_id = file.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let mut body = attestation(
        "civil_servant_education",
        json!({"department_id": DEPT_TAX}),
        1.0,
    );
    body["attachment_id"] = json!(file_id);
    let audit_before = app.audit_count();
    let res = app
        .post("/api/v1/scorecard-attestations", &s.city.token, body)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first: Value = res.json().await.unwrap();
    let first_id = first["id"].as_i64().unwrap();
    assert_eq!(first["points"], 1.0);
    assert_eq!(first["subject_kind"], "department");
    assert_eq!(first["region_code"], "220500");
    assert_eq!(first["supersedes"], Value::Null);
    assert_eq!(app.audit_count(), audit_before + 1);
    let admin = app.admin().await;
    let log: Value = app
        .get(
            &format!("/api/v1/audit-log?action=scorecard_attestation.create&entity_id={first_id}"),
            &admin.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log["items"][0]["actor_user_id"], s.city.id);

    let after = card(app, &s.city.token, DEPT_TAX).await;
    check_card(&after);
    let ai = items(&after);
    assert_eq!(ai["civil_servant_education"]["status"], "attested");
    assert_eq!(ai["civil_servant_education"]["attestation_id"], first_id);
    assert_eq!(tenths(&after["points"]), tenths(&c["points"]) + 10);
    assert_eq!(tenths(&after["attested_points"]), 10);

    // The department's officer reads it and its document; another department's does not.
    let one = app
        .get(
            &format!("/api/v1/scorecard-attestations/{first_id}"),
            &tax.token,
        )
        .await;
    assert_eq!(one.status(), StatusCode::OK);
    let doc = app
        .get(
            &format!("/api/v1/scorecard-attestations/{first_id}/attachment"),
            &tax.token,
        )
        .await;
    assert_eq!(doc.status(), StatusCode::OK);
    assert_eq!(doc.headers()["content-type"], "application/pdf");
    assert_eq!(doc.bytes().await.unwrap().as_ref(), PDF);
    let other = app
        .account("scjg", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let res = app
        .get(
            &format!("/api/v1/scorecard-attestations/{first_id}"),
            &other.token,
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .get(
            &format!("/api/v1/scorecard-attestations/{first_id}/attachment"),
            &other.token,
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

    // A correction supersedes it: the card counts the new one, the old one stays readable.
    let res = app
        .post(
            "/api/v1/scorecard-attestations",
            &s.city.token,
            attestation(
                "civil_servant_education",
                json!({"department_id": DEPT_TAX}),
                0.5,
            ),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let second: Value = res.json().await.unwrap();
    let second_id = second["id"].as_i64().unwrap();
    assert_eq!(second["supersedes"], first_id);
    let old: Value = app
        .get(
            &format!("/api/v1/scorecard-attestations/{first_id}"),
            &s.city.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old["superseded_by"], second_id);
    assert_eq!(old["points"], 1.0);
    let corrected = card(app, &s.city.token, DEPT_TAX).await;
    check_card(&corrected);
    let ci = items(&corrected);
    assert_eq!(ci["civil_servant_education"]["attestation_id"], second_id);
    assert_eq!(ci["civil_servant_education"]["points"], 0.5);
    assert_eq!(tenths(&corrected["points"]), tenths(&c["points"]) + 5);
    let log: Value = app
        .get(
            &format!(
                "/api/v1/audit-log?action=scorecard_attestation.supersede&entity_id={first_id}"
            ),
            &admin.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");
    let current: Value = app
        .get(
            &format!("/api/v1/scorecard-attestations?department_id={DEPT_TAX}"),
            &tax.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        current
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![second_id]
    );
    let history: Value = app
        .get(
            "/api/v1/scorecard-attestations?include_superseded=true",
            &tax.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");
    let theirs: Value = app
        .get("/api/v1/scorecard-attestations", &other.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs, json!([]));

    // The bonus is attested apart from the 100 points.
    let res = app
        .post(
            "/api/v1/scorecard-attestations",
            &s.city.token,
            attestation("innovation_bonus", json!({"department_id": DEPT_TAX}), 3.0),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let bonus = card(app, &s.city.token, DEPT_TAX).await;
    check_card(&bonus);
    assert_eq!(bonus["bonus_points"], 3.0);
    assert_eq!(bonus["points"], corrected["points"]);

    // The table itself.
    let table: Value = app
        .get("/api/v1/scorecards/indicators", &tax.token)
        .await
        .json()
        .await
        .unwrap();
    let table = table.as_array().unwrap();
    assert_eq!(table.len(), 38);
    assert_eq!(
        table
            .iter()
            .filter(|i| i["bonus"] == false)
            .map(|i| tenths(&i["max_points"]))
            .sum::<i64>(),
        1000
    );
}

#[tokio::test]
async fn bad_attestations_are_refused_and_change_nothing() {
    let s = setup().await;
    let app = &s.f.app;
    let county = app
        .account("thx-bureau", Role::Bureau, None, Some("220521"))
        .await;
    let admin = app.admin().await;
    let audit_before = app.audit_count();
    let post = |token: String, body: Value| async move {
        app.post("/api/v1/scorecard-attestations", &token, body)
            .await
    };
    let dept = json!({"department_id": DEPT_TAX});
    // (body, field, problem code, field code)
    let cases: Vec<(Value, &str, &str, &str)> = vec![
        // Over the indicator's maximum (1 point), negative, not in steps of 0.1.
        (
            attestation("civil_servant_education", dept.clone(), 1.5),
            "points",
            "validation_failed",
            "out_of_range",
        ),
        (
            attestation("news_adopted", dept.clone(), 3.2),
            "points",
            "validation_failed",
            "out_of_range",
        ),
        (
            attestation("civil_servant_education", dept.clone(), -0.5),
            "points",
            "validation_failed",
            "out_of_range",
        ),
        (
            attestation("news_adopted", dept.clone(), 0.25),
            "points",
            "validation_failed",
            "invalid",
        ),
        // No such indicator; one the records prove.
        (
            attestation("good_behaviour", dept.clone(), 1.0),
            "indicator",
            "validation_failed",
            "unknown_indicator",
        ),
        (
            attestation("lists_built", dept.clone(), 1.0),
            "indicator",
            "validation_failed",
            "computed_from_records",
        ),
        // No such department or region; the city as a whole; no subject; both subjects.
        (
            attestation(
                "civil_servant_education",
                json!({"department_id": 999_999}),
                1.0,
            ),
            "department_id",
            "unknown_department",
            "unknown_department",
        ),
        (
            attestation(
                "civil_servant_education",
                json!({"region_code": "229999"}),
                1.0,
            ),
            "region_code",
            "unknown_region",
            "unknown_region",
        ),
        (
            attestation(
                "civil_servant_education",
                json!({"region_code": "220500"}),
                1.0,
            ),
            "region_code",
            "not_scored",
            "not_scored",
        ),
        (
            attestation("civil_servant_education", json!({}), 1.0),
            "department_id",
            "validation_failed",
            "subject_required",
        ),
        (
            attestation(
                "civil_servant_education",
                json!({"department_id": DEPT_TAX, "region_code": "220521"}),
                1.0,
            ),
            "department_id",
            "validation_failed",
            "subject_required",
        ),
        // A bad period, a blank document title, an attachment that does not exist.
        (
            attestation(
                "civil_servant_education",
                json!({"department_id": DEPT_TAX, "quarter": 5}),
                1.0,
            ),
            "quarter",
            "validation_failed",
            "out_of_range",
        ),
        (
            attestation(
                "civil_servant_education",
                json!({"department_id": DEPT_TAX, "year": today().year() + 1}),
                1.0,
            ),
            "year",
            "validation_failed",
            "out_of_range",
        ),
        (
            attestation(
                "civil_servant_education",
                json!({"department_id": DEPT_TAX, "document_title": "  "}),
                1.0,
            ),
            "document_title",
            "validation_failed",
            "required",
        ),
        (
            attestation(
                "civil_servant_education",
                json!({"department_id": DEPT_TAX, "attachment_id": 999_999}),
                1.0,
            ),
            "attachment_id",
            "unknown_attachment",
            "unknown_attachment",
        ),
    ];
    for (body, field, top, code) in cases {
        let res = post(s.city.token.clone(), body.clone()).await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, top).await;
        assert_eq!(problem_fields(&p), vec![field.to_string()], "{body} → {p}");
        assert_eq!(p["errors"][0]["code"], code, "{body} → {p}");
    }
    // A county bureau outside its county: a city department, another county.
    let res = post(
        county.token.clone(),
        attestation("civil_servant_education", dept.clone(), 1.0),
    )
    .await;
    let p = assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(problem_fields(&p), vec!["department_id"]);
    let res = post(
        county.token.clone(),
        attestation("integrity_education", json!({"region_code": "220502"}), 1.0),
    )
    .await;
    let p = assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(problem_fields(&p), vec!["region_code"]);
    // A department officer, an admin: not bureaus.
    let res = post(
        s.f.tax.token.clone(),
        attestation("civil_servant_education", dept.clone(), 1.0),
    )
    .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = post(
        admin.token.clone(),
        attestation("civil_servant_education", dept.clone(), 1.0),
    )
    .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Nothing was written.
    assert_eq!(app.audit_count(), audit_before);
    let all: Value = app
        .get(
            "/api/v1/scorecard-attestations?include_superseded=true",
            &admin.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all, json!([]));
    // Its own county is the county bureau's to attest; the points count on the county's card.
    let res = post(
        county.token.clone(),
        attestation("integrity_education", json!({"region_code": "220521"}), 3.0),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (year, quarter) = year_quarter();
    let r: Value = app
        .get(
            &format!("/api/v1/scorecards/quarterly?year={year}&quarter={quarter}"),
            &county.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["region_code"], "220521",
        "a county bureau's default is its county"
    );
    let regions = r["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0]["region_code"], "220521");
    assert_eq!(regions[0]["attested_points"], 3.0);
    check_card(&regions[0]);
    assert!(r["departments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["region_code"] == "220521"));
}

/// The cells of a sheet's data rows (after the header row that starts with `名次` or `单位类别`),
/// and the header row.
fn table(sheet: &calamine::Range<Data>, first: &str) -> (Vec<String>, Vec<Vec<Data>>) {
    let rows: Vec<Vec<Data>> = sheet.rows().map(|r| r.to_vec()).collect();
    let at = rows
        .iter()
        .position(|r| r.first() == Some(&Data::String(first.into())))
        .expect("a header row");
    let headers = rows[at].iter().map(|c| c.to_string()).collect();
    (headers, rows[at + 1..].to_vec())
}

#[tokio::test]
async fn the_quarterly_report_ranks_departments_and_counties_and_exports_one_workbook() {
    let s = setup().await;
    let app = &s.f.app;
    listed(&s, "black", &uscc(311), "通税〔2026〕311号").await;
    // 市市场监督管理局 gets more attested points than 市税务局's records give.
    for (ind, pts) in [
        ("provincial_sharing", 12.0),
        ("materials_reported", 5.0),
        ("tasks_completed", 5.0),
    ] {
        let res = app
            .post(
                "/api/v1/scorecard-attestations",
                &s.city.token,
                attestation(ind, json!({"department_id": DEPT_SCJG}), pts),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = app
        .post(
            "/api/v1/scorecard-attestations",
            &s.city.token,
            attestation("integrity_education", json!({"region_code": "220582"}), 3.0),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (year, quarter) = year_quarter();
    let q = format!("/api/v1/scorecards/quarterly?year={year}&quarter={quarter}");
    let r: Value = app.get(&q, &s.city.token).await.json().await.unwrap();
    assert_eq!(r["region_code"], "220500");
    let depts = r["departments"].as_array().unwrap();
    assert!(depts.len() > 50, "every department");
    assert_eq!(depts[0]["department_id"], DEPT_SCJG, "{}", depts[0]);
    assert_eq!(depts[0]["rank"], 1);
    assert_eq!(depts[0]["points"], 22.0);
    assert_eq!(depts[1]["department_id"], DEPT_TAX);
    assert_eq!(depts[1]["rank"], 2);
    for w in depts.windows(2) {
        assert!(tenths(&w[0]["total_points"]) >= tenths(&w[1]["total_points"]));
        assert!(w[0]["rank"].as_i64() <= w[1]["rank"].as_i64());
    }
    for d in depts.iter().take(3) {
        check_card(d);
    }
    // Departments without any point share the last rank.
    let last = depts.last().unwrap();
    assert_eq!(last["points"], 0.0);
    assert_eq!(last["rank"], depts[2]["rank"]);
    let regions = r["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 9, "every county, district and zone");
    assert_eq!(regions[0]["region_code"], "220582");
    assert_eq!(regions[0]["points"], 3.0);

    // The workbook: ranked by points, figures in number cells, title block, region in its name.
    let res = app.get(&format!("{q}&format=xlsx"), &s.city.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.contains(&format!("scorecards-{year}-Q{quarter}-220500")),
        "{disposition}"
    );
    let bytes = res.bytes().await.unwrap();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(
        book.sheet_names(),
        vec!["部门排名", "县（市、区）排名", "指标明细"]
    );
    let sheet = book.worksheet_range("部门排名").unwrap();
    let block: Vec<String> = sheet
        .rows()
        .take(10)
        .map(|r| {
            r.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("|")
                .trim_end_matches('|')
                .to_string()
        })
        .collect();
    assert!(
        block[0].contains("评估") && block[0].contains(&format!("第{quarter}季度")),
        "{block:?}"
    );
    assert!(block.iter().any(|l| l == "区域代码|220500"), "{block:?}");
    assert!(block.iter().any(|l| l == "区域|通化市"), "{block:?}");
    assert!(
        block
            .iter()
            .any(|l| l.starts_with("年度|") && l.contains(&year.to_string())),
        "{block:?}"
    );
    let (headers, rows) = table(&sheet, "名次");
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (rank, unit, code, total) = (col("名次"), col("部门"), col("区域代码"), col("总分"));
    let data: Vec<&Vec<Data>> = rows
        .iter()
        .filter(|r| r[0] != Data::String("平均".into()))
        .collect();
    assert_eq!(data.len(), depts.len());
    assert_eq!(data[0][unit], Data::String("市市场监督管理局".into()));
    assert_eq!(data[0][rank], Data::Float(1.0));
    assert_eq!(data[0][total], Data::Float(22.0));
    assert_eq!(data[0][code], Data::String("220500".into()));
    let totals: Vec<f64> = data
        .iter()
        .map(|r| match r[total] {
            Data::Float(x) => x,
            ref other => panic!("总分 is not a number: {other:?}"),
        })
        .collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}");
    for r in &data {
        for c in [
            rank,
            total,
            col("评估得分（满分100）"),
            col("依记录得分"),
            col("依佐证得分"),
            col("附加分"),
        ] {
            assert!(matches!(r[c], Data::Float(_)), "{:?}", r[c]);
        }
    }
    let sum_groups: f64 = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| h.contains("分）") && !h.contains("满分"))
        .map(|(c, _)| match data[0][c] {
            Data::Float(x) => x,
            _ => panic!("group column {c} not a number"),
        })
        .sum();
    assert_eq!(sum_groups, 22.0);
    let county_sheet = book.worksheet_range("县（市、区）排名").unwrap();
    let (h2, rows2) = table(&county_sheet, "名次");
    let unit2 = h2.iter().position(|h| h == "县（市、区）").unwrap();
    assert_eq!(rows2[0][unit2], Data::String("集安市".into()));
    assert_eq!(
        rows2
            .iter()
            .filter(|r| r[0] != Data::String("平均".into()))
            .count(),
        9
    );
    let detail = book.worksheet_range("指标明细").unwrap();
    let (h3, rows3) = table(&detail, "单位类别");
    let pts = h3.iter().position(|h| h == "得分").unwrap();
    let basis = h3.iter().position(|h| h == "依据编号").unwrap();
    assert_eq!(rows3.len(), (depts.len() + 9) * 38);
    assert!(rows3.iter().all(|r| matches!(r[pts], Data::Float(_))));
    // Every earned point in the workbook names its evidence too.
    assert!(rows3
        .iter()
        .filter(|r| matches!(r[pts], Data::Float(x) if x > 0.0))
        .all(|r| !r[basis].to_string().is_empty()));

    // Scope and query errors name the parameter.
    let county = app
        .account("thx-bureau", Role::Bureau, None, Some("220521"))
        .await;
    let res = app.get(&format!("{q}&region=220502"), &county.token).await;
    let p = assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(problem_fields(&p), vec!["query.region"]);
    let res = app.get(&format!("{q}&region=229999"), &county.token).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_region").await;
    assert_eq!(problem_fields(&p), vec!["query.region"]);
    let res = app.get(&format!("{q}&format=pdf"), &s.city.token).await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_eq!(problem_fields(&p), vec!["query.format"]);
    let res = app
        .get(
            &format!("/api/v1/scorecards/quarterly?year={year}&quarter=5"),
            &s.city.token,
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
    assert_eq!(problem_fields(&p), vec!["query.quarter"]);
    let res = app.get(&q, &s.f.tax.token).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.get(&format!("{q}&format=xlsx"), &county.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("-220521"));
}

#[tokio::test]
async fn special_rectification_cleanup_counts_entries_of_marked_items_removed_in_the_period() {
    let s = setup().await;
    let app = &s.f.app;
    let entry = listed(&s, "black", &uscc(321), "通税〔2026〕321号").await;
    let res = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/four-list-items/{}/special-category", s.f.black),
            Some(&s.city.token),
            Some(json!({"category": "judgment_defaulter"})),
        )
        .await;
    assert!(res.status().is_success(), "{:?}", res.text().await);
    let before = items(&card(app, &s.city.token, DEPT_TAX).await);
    assert_eq!(before["special_rectification_cleanup"]["points"], 0.0);
    assert_eq!(
        before["special_rectification_cleanup"]["evidence"],
        json!([])
    );
    let res = app
        .post(
            &format!("/api/v1/list-entries/{entry}/remove"),
            &s.f.tax.token,
            json!({"reason": "revoked", "note": "核实后撤销"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let after = card(app, &s.city.token, DEPT_TAX).await;
    check_card(&after);
    let it = items(&after);
    assert_eq!(it["special_rectification_cleanup"]["points"], 3.0);
    assert_eq!(
        it["special_rectification_cleanup"]["evidence"],
        json!([entry])
    );
    assert_eq!(
        it["special_rectification_cleanup"]["evidence_kind"],
        "list_entries"
    );
    // Removed, the entry is no longer on the public list: that item has no evidence left.
    assert_eq!(it["lists_published"]["points"], 0.0);
}
