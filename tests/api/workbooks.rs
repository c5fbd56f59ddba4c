//! The report workbooks (year-end targets, monthly statistics, cases) re-read with calamine:
//! figures are number cells, ratios carry a percentage format, days are date cells, code-like
//! columns stay text; every sheet opens with a title block; the region is in the file name;
//! totals rows add up. CSV exports stay plain.

use std::io::Read;

use calamine::{Data, Reader, Xlsx};
use credit_lists::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::entries::{create_entry, entry, fixture, publish_entry, today, uscc, Fixture};
use crate::helpers::*;

/// A local or national entry of 东昌区 (220502), published.
async fn listed(f: &Fixture, list: &str, n: u32, national: bool) -> i64 {
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

/// 东昌区: two local black entries, one red, four national identifications; one enterprise
/// trained; one punishment case filed, submitted, shared and reported by the media.
struct Seeded {
    f: Fixture,
    city: Account,
    year: i32,
    case_id: i64,
}

async fn seeded() -> Seeded {
    let f = fixture().await;
    let app = &f.app;
    let city = app
        .account("city-bureau", Role::Bureau, None, Some("220500"))
        .await;
    let black = listed(&f, "black", 101, false).await;
    listed(&f, "black", 102, false).await;
    listed(&f, "red", 103, false).await;
    for n in [105, 106, 107, 108] {
        listed(&f, "black", n, true).await;
    }
    let s = app
        .post("/api/v1/training-sessions", &f.tax.token, json!({"session_date": today().to_string(), "form": "online", "topic": "信用修复培训", "hours": 2.0}))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let res = app
        .post(
            &format!("/api/v1/training-sessions/{s}/attendance"),
            &f.tax.token,
            json!({"subject_code": uscc(101), "attendee_name": "张三", "completed": true}),
        )
        .await;
    assert!(res.status().is_success(), "{:?}", res.text().await);
    let punish = crate::four_lists::create(
        app,
        &f.tax.token,
        crate::four_lists::punishment("CJ-W", &[f.black]),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    crate::four_lists::publish(app, &f.tax.token, punish).await;
    let res = app
        .post(
            "/api/v1/cases",
            &f.tax.token,
            json!({
                "title": "某公司偷税被限制参与政府采购", "kind": "punishment",
                "subjects": [{"code": uscc(101), "name": "通化市某某商贸有限公司"}],
                "entry_ids": [black], "measure_item_ids": [punish],
                "department_ids": [DEPT_TAX], "field": "government_procurement",
                "case_date": today().to_string(), "summary": "依法限制其参与政府采购活动。"
            }),
        )
        .await;
    let case: Value = res.json().await.unwrap();
    let case_id = case["id"].as_i64().expect("case created");
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
    let year = today().format("%Y").to_string().parse().unwrap();
    Seeded {
        f,
        city,
        year,
        case_id,
    }
}

/// The response's workbook bytes, after checking the status, type and file names.
async fn download(res: reqwest::Response, ascii_name: &str, utf8_part: &str) -> Vec<u8> {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap().to_vec();
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"));
    let disposition = headers["content-disposition"].to_str().unwrap().to_string();
    assert!(
        disposition.contains(&format!("filename=\"{ascii_name}\"")),
        "{disposition}"
    );
    let encoded = disposition
        .split("filename*=UTF-8''")
        .nth(1)
        .expect("a UTF-8 file name");
    let decoded = percent_decode(encoded);
    assert!(decoded.contains(utf8_part), "{decoded}");
    bytes
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A sheet's cells from A1 (the title block starts there).
fn sheet(bytes: &[u8], name: &str) -> Vec<Vec<Data>> {
    let mut book = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = book.worksheet_range(name).unwrap();
    assert_eq!(range.start(), Some((0, 0)), "{name}: the title is in A1");
    range.rows().map(|r| r.to_vec()).collect()
}

fn sheet_names(bytes: &[u8]) -> Vec<String> {
    Xlsx::new(std::io::Cursor::new(bytes.to_vec()))
        .unwrap()
        .sheet_names()
}

fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        other => panic!("expected a text cell, got {other:?}"),
    }
}

fn num(d: &Data) -> f64 {
    match d {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        other => panic!("expected a number cell, got {other:?}"),
    }
}

/// The day of a date cell (an Excel serial day counts from 1899-12-30).
fn day(d: &Data) -> chrono::NaiveDate {
    match d {
        Data::DateTime(x) => {
            assert!(x.is_datetime(), "{d:?}");
            chrono::NaiveDate::from_ymd_opt(1899, 12, 30).unwrap()
                + chrono::Duration::days(x.as_f64().floor() as i64)
        }
        other => panic!("expected a date cell, got {other:?}"),
    }
}

fn is_date(d: &Data) -> bool {
    matches!(d, Data::DateTime(x) if x.is_datetime())
}

/// The title block's value for `label` (column B of the line labelled in column A, above the
/// header row).
fn info<'a>(rows: &'a [Vec<Data>], label: &str) -> &'a Data {
    let header = header_row(rows);
    let line = rows[..header]
        .iter()
        .find(|r| r[0] == Data::String(label.into()))
        .unwrap_or_else(|| panic!("no title line {label}"));
    &line[1]
}

/// The header row: the one after the blank row that ends the title block.
fn header_row(rows: &[Vec<Data>]) -> usize {
    rows.iter()
        .position(|r| r.iter().all(|c| *c == Data::Empty))
        .expect("a blank row below the title block")
        + 1
}

fn column(rows: &[Vec<Data>], name: &str) -> usize {
    rows[header_row(rows)]
        .iter()
        .position(|c| *c == Data::String(name.into()))
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn row<'a>(rows: &'a [Vec<Data>], first: &str) -> (usize, &'a Vec<Data>) {
    let h = header_row(rows);
    rows.iter()
        .enumerate()
        .skip(h + 1)
        .find(|(_, r)| r[0] == Data::String(first.into()))
        .unwrap_or_else(|| panic!("no row {first}"))
}

/// Every sheet opens with the report's name and the title block.
fn assert_title_block(rows: &[Vec<Data>], region_name: &str, region_code: &str, user: &str) {
    assert!(!text(&rows[0][0]).is_empty(), "a report name in A1");
    assert_eq!(text(info(rows, "区域")), region_name);
    assert_eq!(
        text(info(rows, "区域代码")),
        region_code,
        "a region code stays text"
    );
    assert!(
        is_date(info(rows, "截至日期")),
        "{:?}",
        info(rows, "截至日期")
    );
    assert!(is_date(info(rows, "生成时间（北京时间）")));
    assert_eq!(text(info(rows, "生成人")), user);
}

/// The number format of a cell (0-based row and column) of the `sheet`th worksheet (1-based),
/// read from the workbook's XML.
fn number_format(bytes: &[u8], sheet: usize, row: usize, col: usize) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut part = |name: &str| {
        let mut s = String::new();
        zip.by_name(name).unwrap().read_to_string(&mut s).unwrap();
        s
    };
    let xml = part(&format!("xl/worksheets/sheet{sheet}.xml"));
    let styles = part("xl/styles.xml");
    let mut letters = String::new();
    let mut c = col + 1;
    while c > 0 {
        letters.insert(0, (b'A' + ((c - 1) % 26) as u8) as char);
        c = (c - 1) / 26;
    }
    let cell_ref = format!("<c r=\"{letters}{}\"", row + 1);
    let at = xml
        .find(&cell_ref)
        .unwrap_or_else(|| panic!("no cell {cell_ref}"));
    let tag = &xml[at..at + xml[at..].find('>').unwrap()];
    let style: usize = attr(tag, "s").map(|s| s.parse().unwrap()).unwrap_or(0);
    let xfs = &styles[styles.find("<cellXfs").unwrap()..];
    let xf = xfs.split("<xf ").nth(style + 1).unwrap();
    let id: u32 = attr(&format!(" {xf}"), "numFmtId")
        .unwrap()
        .parse()
        .unwrap();
    match id {
        0 => "General".into(),
        1 => "0".into(),
        9 => "0%".into(),
        10 => "0.00%".into(),
        14 => "yyyy-mm-dd".into(),
        49 => "@".into(),
        _ => {
            let custom = format!("<numFmt numFmtId=\"{id}\"");
            let at = styles.find(&custom).expect("a custom number format");
            attr(&styles[at..], "formatCode").unwrap()
        }
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(tag[at..at + tag[at..].find('"')?].to_string())
}

fn json_num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test]
async fn the_targets_workbook_has_typed_figures_a_title_block_and_the_region_in_its_name() {
    let s = seeded().await;
    let app = &s.f.app;
    let year = s.year;
    let report: Value = app
        .get(&format!("/api/v1/targets?year={year}"), &s.city.token)
        .await
        .json()
        .await
        .unwrap();
    let as_of = report["as_of"].as_str().unwrap().to_string();
    let res = app
        .get(
            &format!("/api/v1/targets/export?year={year}"),
            &s.city.token,
        )
        .await;
    let bytes = download(
        res,
        &format!("targets-220500-{year}-{as_of}.xlsx"),
        &format!("{year}年度信用目标（220500，截至{as_of}）"),
    )
    .await;
    let names = sheet_names(&bytes);
    assert_eq!(names[0], "全市合计");
    assert_eq!(names.last().unwrap(), "各部门");

    // Every sheet: the title block, with the region the sheet reports.
    let city_name = report["total"]["region_name"].as_str().unwrap();
    for (i, name) in names.iter().enumerate() {
        let rows = sheet(&bytes, name);
        let (rname, rcode) = match name.as_str() {
            "全市合计" | "各部门" => (city_name.to_string(), "220500".to_string()),
            "市本级" => (city_name.to_string(), "220500".to_string()),
            _ => {
                let r = report["regions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["region_name"] == name.as_str())
                    .unwrap_or_else(|| panic!("sheet {name} is a region"));
                (name.clone(), r["region_code"].as_str().unwrap().to_string())
            }
        };
        assert_title_block(&rows, &rname, &rcode, "city-bureau");
        assert_eq!(num(info(&rows, "年度")), year as f64, "{name}");
        let legend = text(info(&rows, "说明"));
        assert!(
            legend.contains("无国家基数") && legend.contains("无名单主体"),
            "{legend}"
        );
        let as_of_row = rows
            .iter()
            .position(|r| r[0] == Data::String("截至日期".into()))
            .unwrap();
        assert_eq!(number_format(&bytes, i + 1, as_of_row, 1), "yyyy-mm-dd");
        assert_eq!(
            day(info(&rows, "截至日期")).to_string(),
            as_of,
            "{name}: the day counted"
        );
    }

    // 东昌区: numbers where figures are, the ratio a percentage, the goal too.
    let dc = report["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region_code"] == "220502")
        .unwrap();
    let sheet_no = names.iter().position(|n| n == "东昌区").unwrap() + 1;
    let rows = sheet(&bytes, "东昌区");
    let (r, coverage) = row(&rows, "红黑名单数量（覆盖率）");
    let fig = &dc["list_coverage"];
    assert_eq!(num(&coverage[column(&rows, "分子")]), 3.0);
    assert_eq!(num(&coverage[column(&rows, "分母")]), 4.0);
    assert_eq!(
        num(&coverage[column(&rows, "比例")]),
        json_num(&fig["ratio"])
    );
    assert_eq!(
        number_format(&bytes, sheet_no, r, column(&rows, "比例")),
        "0.0%"
    );
    assert_eq!(num(&coverage[column(&rows, "目标")]), 0.5);
    assert_eq!(
        number_format(&bytes, sheet_no, r, column(&rows, "目标")),
        "0%"
    );
    assert_eq!(text(&coverage[column(&rows, "是否达标")]), "达标");
    assert_eq!(num(&coverage[column(&rows, "差额")]), 0.0);
    assert_eq!(
        text(&coverage[column(&rows, "分母来源")]),
        "国家层面认定（逐条导入）"
    );
    // Training: two enterprises black-listed this year, one trained.
    let (_, training) = row(&rows, "信用修复培训率");
    assert_eq!(
        num(&training[column(&rows, "分子")]),
        json_num(&dc["training_rate"]["numerator"])
    );
    assert_eq!(
        num(&training[column(&rows, "分母")]),
        json_num(&dc["training_rate"]["denominator"])
    );
    assert_eq!(
        num(&training[column(&rows, "差额")]),
        json_num(&dc["training_rate"]["shortfall"])
    );
    assert!(json_num(&dc["training_rate"]["shortfall"]) > 0.0);
    assert_eq!(text(&training[column(&rows, "是否达标")]), "未达标");

    // 辉南县: nothing at all. National figures have no baseline; population figures have no
    // list subjects, and say so.
    let rows = sheet(&bytes, "辉南县");
    for name in ["红黑名单数量（覆盖率）", "联合奖惩案例"] {
        let (_, r) = row(&rows, name);
        assert_eq!(text(&r[column(&rows, "比例")]), "无国家基数", "{name}");
        assert_eq!(text(&r[column(&rows, "分母")]), "—", "{name}");
        assert_eq!(text(&r[column(&rows, "差额")]), "—", "{name}");
        assert_eq!(num(&r[column(&rows, "分子")]), 0.0, "{name}");
    }
    for name in [
        "信用修复培训率",
        "信用承诺比例",
        "专项治理对象整改退出率",
        "专项治理对象信用承诺率",
    ] {
        let (_, r) = row(&rows, name);
        assert_eq!(text(&r[column(&rows, "比例")]), "无名单主体", "{name}");
        assert_eq!(
            text(&r[column(&rows, "分母来源")]),
            "本年度名单主体",
            "{name}"
        );
        assert_eq!(text(&r[column(&rows, "是否达标")]), "—", "{name}");
    }

    // 各部门: every figure with numerator, denominator, ratio, goal, met and shortfall.
    let sheet_no = names.len();
    let rows = sheet(&bytes, "各部门");
    let tax = report["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department_id"] == DEPT_TAX)
        .unwrap();
    let (r, dept) = row(&rows, tax["department_name"].as_str().unwrap());
    assert_eq!(
        text(&dept[column(&rows, "所属区域代码")]),
        tax["region_code"]
    );
    assert_eq!(num(&dept[column(&rows, "本地在册红黑名单")]), 3.0);
    assert_eq!(num(&dept[column(&rows, "国家层面认定在册")]), 4.0);
    for (label, key) in [
        ("覆盖率", "list_coverage"),
        ("培训率", "training_rate"),
        ("承诺比例", "commitment_ratio"),
        ("专项治理整改退出率", "special_exit_rate"),
        ("专项治理信用承诺率", "special_commitment_rate"),
    ] {
        let fig = &tax[key];
        let cell = |part: &str| &dept[column(&rows, &format!("{label}·{part}"))];
        assert_eq!(num(cell("分子")), json_num(&fig["numerator"]), "{label}");
        assert_eq!(num(cell("目标")), json_num(&fig["goal"]), "{label}");
        match fig["denominator"].as_i64() {
            Some(d) => {
                assert_eq!(num(cell("分母")), d as f64, "{label}");
                assert_eq!(num(cell("比例")), json_num(&fig["ratio"]), "{label}");
                assert_eq!(num(cell("差额")), json_num(&fig["shortfall"]), "{label}");
                let met = if fig["met"] == true {
                    "达标"
                } else {
                    "未达标"
                };
                assert_eq!(text(cell("是否达标")), met, "{label}");
                let c = column(&rows, &format!("{label}·比例"));
                assert_eq!(number_format(&bytes, sheet_no, r, c), "0.0%", "{label}");
            }
            None => {
                assert_eq!(text(cell("分母")), "—", "{label}");
                assert_eq!(text(cell("差额")), "—", "{label}");
                let expected = if fig["baseline"] == "population" {
                    "无名单主体"
                } else {
                    "无国家基数"
                };
                assert_eq!(text(cell("比例")), expected, "{label}");
            }
        }
    }
    assert_eq!(
        num(&dept[column(&rows, "培训率·差额")]),
        json_num(&tax["training_rate"]["shortfall"])
    );
    assert!(json_num(&tax["training_rate"]["shortfall"]) > 0.0);

    // A county's file carries its own code, so it does not collide with the city's.
    let county = app
        .account("dc-bureau", Role::Bureau, None, Some("220502"))
        .await;
    let res = app
        .get(
            &format!("/api/v1/targets/export?year={year}&region=220502"),
            &county.token,
        )
        .await;
    let bytes = download(
        res,
        &format!("targets-220502-{year}-{as_of}.xlsx"),
        &format!("东昌区{year}年度信用目标（220502，截至{as_of}）"),
    )
    .await;
    assert_eq!(sheet_names(&bytes), ["东昌区", "各部门"]);
    let rows = sheet(&bytes, "东昌区");
    assert_title_block(&rows, "东昌区", "220502", "dc-bureau");
    // … and the same scope rules as the report.
    let res = app
        .get(
            &format!("/api/v1/targets/export?year={year}&region=220521"),
            &county.token,
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .get(
            &format!("/api/v1/targets/export?year={year}"),
            &s.f.tax.token,
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn the_monthly_statistics_workbook_is_typed_titled_and_totalled() {
    let s = seeded().await;
    let app = &s.f.app;
    let year = s.year;
    let month: u32 = today().format("%m").to_string().parse().unwrap();
    let city: Value = app
        .get(
            &format!("/api/v1/stats/monthly?year={year}&month={month}"),
            &s.city.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(json_num(&city["live"]["black_published"]) > 0.0, "{city}");
    let res = app
        .get(
            &format!("/api/v1/stats/monthly/export?year={year}&month={month}"),
            &s.city.token,
        )
        .await;
    let bytes = download(
        res,
        &format!("monthly-220500-{year}-{month:02}.xlsx"),
        &format!("{year}年{month}月统计（220500）"),
    )
    .await;
    let names = sheet_names(&bytes);
    assert_eq!(names, [format!("{year}年{month}月统计"), "分区域".into()]);
    let rows = sheet(&bytes, &names[0]);
    assert_title_block(&rows, "通化市", "220500", "city-bureau");
    assert_eq!(num(info(&rows, "年度")), year as f64);
    assert_eq!(num(info(&rows, "月份")), month as f64);
    assert_eq!(text(info(&rows, "关账状态")), "未关账");
    for (label, path) in [
        ("新增黑名单（公示）", "/black_published"),
        ("新增红名单（公示）", "/red_published"),
        ("报送案例合计", "/cases_filed/total"),
        ("共享至省平台案例", "/cases_shared/total"),
    ] {
        let (_, r) = row(&rows, label);
        assert_eq!(
            num(&r[column(&rows, "实时数")]),
            json_num(city["live"].pointer(path).unwrap()),
            "{label}"
        );
        assert_eq!(
            r.get(2).cloned().unwrap_or(Data::Empty),
            Data::Empty,
            "not closed"
        );
    }

    // Per region, with a totals row that is the city's figure.
    let rows = sheet(&bytes, "分区域");
    assert_title_block(&rows, "通化市", "220500", "city-bureau");
    let dc: Value = app
        .get(
            &format!("/api/v1/stats/monthly?year={year}&month={month}&region=220502"),
            &s.city.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let col = column(&rows, "新增黑名单（公示）");
    let (_, r) = row(&rows, "东昌区");
    assert_eq!(text(&r[1]), "220502");
    assert_eq!(num(&r[col]), json_num(&dc["live"]["black_published"]));
    let (t, totals) = row(&rows, "合计");
    assert_eq!(t, rows.len() - 1, "the totals row is the last");
    assert_eq!(
        num(&totals[col]),
        json_num(&city["live"]["black_published"])
    );
    let h = header_row(&rows);
    for c in 2..rows[h].len() {
        let sum: f64 = rows[h + 1..t].iter().map(|r| num(&r[c])).sum();
        assert_eq!(num(&totals[c]), sum, "{:?}", rows[h][c]);
    }
    let col = column(&rows, "共享至省平台案例");
    assert_eq!(
        num(&totals[col]),
        json_num(&city["live"]["cases_shared"]["total"])
    );
    assert_eq!(num(&totals[col]), 1.0);

    // A closed month (the previous one): the snapshot column, the difference, the close time.
    let (py, pm) = if month == 1 {
        (year - 1, 12)
    } else {
        (year, month - 1)
    };
    let res = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/stats/monthly/{py}/{pm}/close"),
            Some(&s.city.token),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let closed: Value = res.json().await.unwrap();
    let res = app
        .get(
            &format!("/api/v1/stats/monthly/export?year={py}&month={pm}"),
            &s.city.token,
        )
        .await;
    let bytes = download(
        res,
        &format!("monthly-220500-{py}-{pm:02}.xlsx"),
        &format!("{py}年{pm}月统计（220500）"),
    )
    .await;
    let rows = sheet(&bytes, &format!("{py}年{pm}月统计"));
    assert_eq!(text(info(&rows, "关账状态")), "已关账");
    assert!(is_date(info(&rows, "关账时间（北京时间）")));
    let last_day = chrono::NaiveDate::from_ymd_opt(year, month, 1)
        .unwrap()
        .pred_opt()
        .unwrap();
    assert_eq!(
        day(info(&rows, "截至日期")),
        last_day,
        "a past month: its last day"
    );
    for (label, path) in [
        ("新增黑名单（公示）", "/black_published"),
        ("移出合计", "/removals/total"),
    ] {
        let (_, r) = row(&rows, label);
        let snap = json_num(closed["snapshot"]["figures"].pointer(path).unwrap());
        assert_eq!(num(&r[column(&rows, "实时数")]), snap, "{label}");
        assert_eq!(num(&r[column(&rows, "关账快照数")]), snap, "{label}");
        assert_eq!(num(&r[column(&rows, "差异（实时−快照）")]), 0.0, "{label}");
    }

    // A county: its code in the file name; one region row and the totals.
    let res = app
        .get(
            &format!("/api/v1/stats/monthly/export?year={year}&month={month}&region=220502"),
            &s.city.token,
        )
        .await;
    let bytes = download(
        res,
        &format!("monthly-220502-{year}-{month:02}.xlsx"),
        &format!("东昌区{year}年{month}月统计（220502）"),
    )
    .await;
    let rows = sheet(&bytes, "分区域");
    assert_title_block(&rows, "东昌区", "220502", "city-bureau");
    let h = header_row(&rows);
    assert_eq!(rows.len(), h + 3, "one region and the totals");
    assert_eq!(text(&rows[h + 2][0]), "合计");

    // CSV stays plain: no title block, the header first, numbers as they are.
    let res = app
        .get(
            &format!("/api/v1/stats/monthly/export?year={year}&month={month}&format=csv"),
            &s.city.token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let csv = res.text().await.unwrap();
    let csv = csv.trim_start_matches('\u{feff}');
    assert!(
        csv.starts_with("指标,实时数,关账快照数,差异（实时−快照）\r\n"),
        "{csv}"
    );
    assert!(csv.contains(&format!(
        "新增黑名单（公示）,{},",
        city["live"]["black_published"]
    )));
    // Bad input is still refused on the export.
    let res = app
        .get(
            &format!("/api/v1/stats/monthly/export?year={year}&month=13"),
            &s.city.token,
        )
        .await;
    assert!(res.status().is_client_error());
}

#[tokio::test]
async fn the_cases_workbook_is_typed_titled_and_totalled() {
    let s = seeded().await;
    let app = &s.f.app;
    let case: Value = app
        .get(&format!("/api/v1/cases/{}", s.case_id), &s.city.token)
        .await
        .json()
        .await
        .unwrap();
    let res = app.get("/api/v1/cases/export", &s.city.token).await;
    let bytes = download(res, "cases-220500.xlsx", "联合奖惩案例（220500）").await;
    assert_eq!(sheet_names(&bytes), ["联合奖惩案例"]);
    let rows = sheet(&bytes, "联合奖惩案例");
    assert_title_block(&rows, "通化市", "220500", "city-bureau");
    assert_eq!(num(info(&rows, "案例数")), 1.0);
    assert_eq!(text(info(&rows, "案例日期")), "不限");
    let h = header_row(&rows);
    let r = &rows[h + 1];
    assert_eq!(num(&r[column(&rows, "编号")]), s.case_id as f64);
    assert_eq!(text(&r[column(&rows, "类型")]), "失信惩戒");
    assert_eq!(text(&r[column(&rows, "状态")]), "已共享");
    assert_eq!(text(&r[column(&rows, "所属区域代码")]), case["region_code"]);
    assert_eq!(day(&r[column(&rows, "案例日期")]), today());
    assert_eq!(
        number_format(&bytes, 1, h + 1, column(&rows, "案例日期")),
        "yyyy-mm-dd"
    );
    assert!(is_date(&r[column(&rows, "报送时间")]));
    assert!(is_date(&r[column(&rows, "共享时间")]));
    assert!(text(&r[column(&rows, "涉及主体")]).contains(&uscc(101)));
    assert_eq!(num(&r[column(&rows, "媒体报道数")]), 0.0);
    let (t, totals) = row(&rows, "合计");
    assert_eq!(t, h + 2);
    assert_eq!(
        text(&totals[column(&rows, "案例标题")]),
        "共1件（守信激励0件，失信惩戒1件）"
    );
    assert_eq!(num(&totals[column(&rows, "媒体报道数")]), 0.0);

    // Filtered by a region and days: the title says so; an empty result still has the totals.
    let d = today();
    let res = app
        .get(
            &format!("/api/v1/cases/export?region_code=220521&from={d}&to={d}"),
            &s.city.token,
        )
        .await;
    let bytes = download(res, "cases-220521.xlsx", "通化县联合奖惩案例（220521）").await;
    let rows = sheet(&bytes, "联合奖惩案例");
    assert_title_block(&rows, "通化县", "220521", "city-bureau");
    assert_eq!(text(info(&rows, "案例日期")), format!("{d} 至 {d}"));
    assert_eq!(num(info(&rows, "年度")), s.year as f64);
    assert_eq!(num(info(&rows, "案例数")), 0.0);
    let h = header_row(&rows);
    assert_eq!(text(&rows[h + 1][0]), "合计");
    assert_eq!(text(&rows[h + 1][1]), "共0件（守信激励0件，失信惩戒0件）");

    // CSV stays plain.
    let res = app
        .get("/api/v1/cases/export?format=csv", &s.city.token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("filename=\"cases.csv\""));
    let csv = res.text().await.unwrap();
    let csv = csv.trim_start_matches('\u{feff}');
    assert!(csv.starts_with("编号,案例标题,类型,状态"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(&format!(
        "\r\n{},某公司偷税被限制参与政府采购,失信惩戒,已共享",
        s.case_id
    )));
    let res = app
        .get("/api/v1/cases/export?format=ods", &s.city.token)
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}
