//! The staff console (`/console/`) through plain HTTP: cookie session, CSRF, the pages in Chinese.
//! (The browser test in headless Chromium is `tests/browser/console.mjs`.)

use reqwest::{header, redirect::Policy, StatusCode};
use serde_json::Value;

use crate::helpers::*;
use crate::repairs::{enterprise_case, ok, public_entries_for, world};

/// A browser without JavaScript: keeps the console's cookies, does not follow redirects.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    headers: header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The value of the form's hidden `csrf` field.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field")
            + 19;
        self.body[at..at + 64].to_string()
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Browser {
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: app.address.clone(),
            cookies: Default::default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, res: reqwest::Response) -> Page {
        let status = res.status();
        let headers = res.headers().clone();
        for c in headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let body = res.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(res).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_with(path, form, &[]).await
    }

    /// A form posted with extra headers (`Origin`, `Sec-Fetch-Site`).
    async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        self.keep(res).await
    }

    /// A `multipart/form-data` form with one file, as a browser sends an upload.
    async fn upload(&mut self, path: &str, fields: &[(&str, &str)], file: (&str, &[u8])) -> Page {
        let boundary = "----credit-lists-test-boundary";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                file.0
            )
            .as_bytes(),
        );
        body.extend_from_slice(file.1);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(res).await
    }

    pub async fn log_in(&mut self, username: &str, password: &str) -> Page {
        let csrf = self.get("/console/login").await.csrf();
        self.post(
            "/console/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

#[tokio::test]
async fn login_needs_the_forms_token_and_the_right_password_and_logout_ends_the_session() {
    let app = spawn_app().await;
    app.account(
        "tax",
        credit_lists::auth::Role::Department,
        Some(DEPT_TAX),
        None,
    )
    .await;
    let mut b = Browser::new(&app);

    // Not logged in: every page sends to the login page.
    for path in ["/console/", "/console/targets"] {
        let p = b.get(path).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(p.location(), "/console/login");
    }
    let login = b.get("/console/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login
        .body
        .contains("<label for=\"username\">用户名</label>"));
    let csrf_cookie = login.set_cookie("cl_csrf").expect("a csrf cookie");
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"));
    let csp = login.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));

    // A form posted from elsewhere (no csrf cookie, or a token that does not match): refused.
    let mut stranger = Browser::new(&app);
    let p = stranger
        .post(
            "/console/login",
            &[
                ("csrf", &login.csrf()),
                ("username", "tax"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.set_cookie("cl_console").is_none());
    let p = b
        .post(
            "/console/login",
            &[
                ("csrf", &"0".repeat(64)),
                ("username", "tax"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("表单已过期或来源不明"));

    // A wrong password: the form again, in Chinese, with the name kept and no session.
    let p = b.log_in("tax", "not the password").await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.body.contains("用户名或密码错误。"));
    assert!(p.body.contains("value=\"tax\""));
    assert!(p.set_cookie("cl_console").is_none());

    let p = b.log_in("tax", PASSWORD).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/console/");
    let session = p.set_cookie("cl_console").expect("a session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    assert!(session.contains("Path=/console"));
    assert!(!session.contains("Secure"), "plain HTTP here: not Secure");

    // A department officer: the work bench, but no targets link and no targets page.
    let home = b.get("/console/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("tax（部门 · 市税务局）"));
    assert!(!home.body.contains("/console/targets"));
    let p = b.get("/console/targets").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p
        .body
        .contains("年度目标仅供信用主管部门和系统管理员查看。"));

    // Logout needs the token too, then ends the session itself: the old cookie is worthless.
    let old = b.cookies["cl_console"].clone();
    let p = b
        .post("/console/logout", &[("csrf", &"1".repeat(64))])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b.post("/console/logout", &[("csrf", &home.csrf())]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/console/login");
    assert!(!b.cookies.contains_key("cl_console"));
    b.cookies.insert("cl_console".into(), old);
    let p = b.get("/console/").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let audit: Value = app
        .get(
            "/api/v1/audit-log?action=auth.logout",
            &app.account("auditor", credit_lists::auth::Role::Admin, None, None)
                .await
                .token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
}

#[tokio::test]
async fn the_work_bench_lists_open_repair_applications_in_scope_and_the_targets_page_the_ratios() {
    let w = world().await;
    let (_, _, body) = enterprise_case(&w, 41).await;
    let repair = ok(
        w.app.post("/api/v1/repairs", &w.tax.token, body).await,
        StatusCode::CREATED,
    )
    .await;
    let deadline = repair["deadline"].as_str().unwrap().to_string();

    // The identifying department sees it waiting, with its deadline.
    let mut tax = Browser::new(&w.app);
    tax.log_in("tax", PASSWORD).await;
    let home = tax.get("/console/").await;
    assert_eq!(home.status, StatusCode::OK);
    let row = format!(
        "<td><a href=\"/console/repairs/{id}\">{id}</a></td><td>通化市某某商贸有限公司</td><td>已提交，待受理</td><td>{deadline}</td><td>未逾期</td>",
        id = repair["id"]
    );
    assert!(home.body.contains(&row), "{}", home.body);
    // Another department does not.
    let mut scjg = Browser::new(&w.app);
    scjg.log_in("scjg", PASSWORD).await;
    let home = scjg.get("/console/").await;
    assert!(home.body.contains("暂无待处理的申请。"));

    // The city bureau reads the same figures as the API gives, against their goals.
    let mut city = Browser::new(&w.app);
    city.log_in("city-bureau", PASSWORD).await;
    let year = crate::entries::today().format("%Y").to_string();
    let page = city.get(&format!("/console/targets?year={year}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let api: Value = w
        .app
        .get(&format!("/api/v1/targets?year={year}"), &w.city.token)
        .await
        .json()
        .await
        .unwrap();
    let training = &api["total"]["training_rate"];
    assert_eq!(training["denominator"], 1);
    let cell = format!(
        "<td>信用修复培训率</td>\n      <td>{} / {}</td>",
        training["numerator"], training["denominator"]
    );
    assert!(page.body.contains(&cell), "{}", page.body);
    assert!(page.body.contains("全市合计") && page.body.contains("东昌区"));
    assert!(page.body.contains("<svg class=\"bar\""));
    assert!(
        page.body.contains("无国家基数"),
        "no national baseline is said so"
    );
    // The department breakdown: 市税务局 holds the application's entry.
    assert!(page.body.contains("<h2>各部门</h2>"));
    let tax = api["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department_id"] == DEPT_TAX)
        .unwrap();
    let row = format!(
        "<th scope=\"row\">{}</th>\n      <td>{}</td>",
        tax["department_name"].as_str().unwrap(),
        tax["local_in_force"]
    );
    assert!(page.body.contains(&row), "{}", page.body);

    // A day outside the year: the reason, in Chinese, not a crash.
    let page = city
        .get(&format!("/console/targets?year={year}&as_of=1999-01-01"))
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("查询条件有误"));

    // The export is the API's workbook, through the console's session.
    let file = city
        .client
        .get(format!("{}/console/targets/export?year={year}", city.base))
        .header(header::COOKIE, city.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert!(file.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains("targets-"));
    assert_eq!(&file.bytes().await.unwrap()[..2], b"PK");

    // The monthly trend: one row per month so far; this month's figure is the report's.
    let trend = city
        .get(&format!("/console/targets/trend?year={year}"))
        .await;
    assert_eq!(trend.status, StatusCode::OK);
    let month = crate::entries::today().format("%-m").to_string();
    let rows = trend.body.matches("<tr><th scope=\"row\">").count();
    assert_eq!(rows.to_string(), month, "{}", trend.body);
    let this_month = format!(
        "<tr><th scope=\"row\">{month}月</th><td>{}</td>",
        api["as_of"].as_str().unwrap()
    );
    assert!(trend.body.contains(&this_month), "{}", trend.body);
    let coverage = &api["total"]["list_coverage"];
    if let Some(r) = coverage["ratio"].as_f64() {
        assert!(trend.body.contains(&format!(
            "{:.1}%（{} / {}）",
            r * 100.0,
            coverage["numerator"],
            coverage["denominator"]
        )));
    }
    assert!(trend.body.contains("<path d=\"M") || coverage["ratio"].is_null());
    // Departments read neither.
    let mut tax = Browser::new(&w.app);
    tax.log_in("tax", PASSWORD).await;
    assert_eq!(
        tax.get("/console/targets/trend").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        tax.get("/console/targets/export").await.status,
        StatusCode::FORBIDDEN
    );

    // 部门评分: a department officer sees its own card, the city bureau every department's.
    let api: Value = w
        .app
        .get(
            &format!("/api/v1/scorecards?year={year}&quarter=4"),
            &w.tax.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let card = &api["departments"][0];
    let page = tax
        .get(&format!("/console/scorecards?year={year}&quarter=4"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("<section id=\"dept-").count(), 1);
    assert!(page.body.contains(&format!(
        "{}：{:.1} 分",
        card["department_name"].as_str().unwrap(),
        card["points"].as_f64().unwrap()
    )));
    assert!(page.body.contains("未计量"));
    let all = city
        .get(&format!("/console/scorecards?year={year}&quarter=4"))
        .await;
    assert!(all.body.matches("<section id=\"dept-").count() > 1);
    let bad = city.get("/console/scorecards?quarter=9").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The value of the hidden `version` field of the page's forms.
fn version_field(page: &Page) -> String {
    let needle = "name=\"version\" value=\"";
    let at = page.body.find(needle).expect("a version field") + needle.len();
    page.body[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn a_repair_goes_from_submitted_to_completed_through_the_pages() {
    let w = world().await;
    let (code, _, body) = enterprise_case(&w, 42).await;
    let id = ok(
        w.app.post("/api/v1/repairs", &w.tax.token, body).await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let listed = public_entries_for(&w.app, &code).await;
    let path = format!("/console/repairs/{id}");

    let mut tax = Browser::new(&w.app);
    tax.log_in("tax", PASSWORD).await;
    let mut city = Browser::new(&w.app);
    city.log_in("city-bureau", PASSWORD).await;
    let mut scjg = Browser::new(&w.app);
    scjg.log_in("scjg", PASSWORD).await;

    // Another department cannot even read it.
    let p = scjg.get(&path).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("这份申请不在您的办理范围内。"));

    // The department's page: the materials, and only its own step.
    let page = tax.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "已提交，待受理",
        "信用承诺书",
        "信用修复培训",
        "整改报告.pdf",
        "办理记录",
    ] {
        assert!(page.body.contains(text), "{text}");
    }
    assert!(page
        .body
        .contains(&format!("action=\"/console/repairs/{id}/accept\"")));
    assert!(!page.body.contains("/confirm\""));
    // The proof documents open from the page, for those who may read them only.
    let at = page.body.find("<a href=\"/console/attachments/").unwrap() + 9;
    let link = page.body[at..at + page.body[at..].find('"').unwrap()].to_string();
    let file = tax
        .client
        .get(format!("{}{link}", tax.base))
        .header(header::COOKIE, tax.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.headers()[header::CONTENT_TYPE], "application/pdf");
    assert!(file.bytes().await.unwrap().starts_with(b"%PDF"));
    assert_eq!(scjg.get(&link).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        tax.get("/console/attachments/999999").await.status,
        StatusCode::NOT_FOUND
    );
    let stale = version_field(&page);

    // Accept, then approve: each a form post answered with the page again.
    for (action, comment) in [("accept", ""), ("approve", "材料齐全，同意修复")] {
        let page = tax.get(&path).await;
        let p = tax
            .post(
                &format!("{path}/{action}"),
                &[
                    ("csrf", &page.csrf()),
                    ("version", &version_field(&page)),
                    ("comment", comment),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{action}: {}", p.body);
        assert_eq!(p.location(), format!("{path}?done={action}"));
    }
    let page = tax.get(&format!("{path}?done=approve")).await;
    assert!(page.body.contains("已同意修复。"));
    assert!(page.body.contains("材料齐全，同意修复"));

    // A second reviewer acting on the page as it was: told someone else has acted.
    let p = tax
        .post(
            &format!("{path}/accept"),
            &[("csrf", &page.csrf()), ("version", &stale), ("comment", "")],
        )
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert!(p.body.contains("另一位审核人已处理这份申请"), "{}", p.body);

    let p = tax
        .post(
            &format!("{path}/file"),
            &[
                ("csrf", &page.csrf()),
                ("version", &version_field(&page)),
                ("comment", ""),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);

    // The city bureau: sending back needs the reasons; confirming completes the repair.
    let page = city.get(&path).await;
    assert!(page.body.contains("退回部门意见（必填）"));
    let p = city
        .post(
            &format!("{path}/send_back"),
            &[
                ("csrf", &page.csrf()),
                ("version", &version_field(&page)),
                ("comment", "  "),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("请填写理由"));
    // A form without the browser's token does nothing.
    let p = city
        .post(
            &format!("{path}/confirm"),
            &[
                ("csrf", &"2".repeat(64)),
                ("version", &version_field(&page)),
                ("comment", ""),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = city
        .post(
            &format!("{path}/confirm"),
            &[
                ("csrf", &page.csrf()),
                ("version", &version_field(&page)),
                ("comment", "同意"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let page = city.get(&path).await;
    assert!(page.body.contains("已完成修复"));
    assert!(page.body.contains("完成修复时间"));
    assert!(!page.body.contains("<h2>办理</h2>"), "nothing left to do");

    // The entry has left the public list, as through the API.
    assert_eq!(public_entries_for(&w.app, &code).await, listed - 1);
}

#[tokio::test]
async fn subjects_are_found_by_name_or_code_with_their_entries_and_timeline() {
    let f = crate::entries::fixture().await;
    let code = crate::entries::uscc(77);
    let e = crate::entries::entry("black", f.black, &code, "通税〔2026〕77号");
    let id = crate::entries::create_entry(&f.app, &f.tax.token, e).await["id"]
        .as_i64()
        .unwrap();
    crate::entries::publish_entry(&f.app, &f.tax.token, id).await;
    let mut b = Browser::new(&f.app);
    b.log_in("tax", PASSWORD).await;

    let home = b.get("/console/").await;
    assert!(home.body.contains("href=\"/console/subjects\""));
    // By part of the name, and by the full code: the same subject, linking to its page.
    for q in ["某某商贸", code.as_str()] {
        let p = b
            .get(&format!("/console/subjects?q={}", urlencode(q)))
            .await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(
            p.body.contains(&format!(
                "<a href=\"/console/subjects/{code}\">通化市某某商贸有限公司</a>"
            )),
            "{q}: {}",
            p.body
        );
        assert!(p.body.contains("<td>企业</td>"));
    }
    let p = b
        .get("/console/subjects?q=%E6%B2%A1%E6%9C%89%E8%BF%99%E4%B8%AA")
        .await;
    assert!(p.body.contains("没有找到符合条件的主体。"));
    let long = "长".repeat(101);
    let p = b
        .get(&format!("/console/subjects?q={}", urlencode(&long)))
        .await;
    assert!(p.body.contains("查询内容应为 1 至 100 个字符。"));

    let p = b.get(&format!("/console/subjects/{code}")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("在册红名单 0 条，在册黑名单 1 条"));
    assert!(p.body.contains("<td>通税〔2026〕77号</td>"));
    assert!(p.body.contains("认定列入黑名单"), "the timeline");
    // A code nobody recorded, and one that is not a code at all.
    let p = b
        .get(&format!("/console/subjects/{}", crate::entries::uscc(78)))
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.body.contains("没有这个主体的记录"));
    let p = b.get("/console/subjects/not-a-code").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The entries the tax officer sees through the API, as (document number, stored status).
async fn entries_by_document(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let v: Value = app
        .get("/api/v1/list-entries?sort=id", token)
        .await
        .json()
        .await
        .unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["document_number"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_import_shows_every_bad_row_in_a_table_and_a_good_file_lands_as_drafts_to_publish() {
    use crate::import::{row, HEADER};
    let f = crate::entries::fixture().await;
    let (app, tax) = (&f.app, &f.tax.token);
    let recent = (crate::entries::today() - chrono::Duration::days(5)).to_string();
    let good = crate::entries::uscc(300);
    let mut b = Browser::new(app);
    assert_eq!(
        b.log_in("tax", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );

    let form = b.get("/console/entries/import").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("enctype=\"multipart/form-data\""));
    assert!(form.body.contains("<label for=\"file\">"));
    let csrf = form.csrf();

    // Bad rows: every one in the table, in file order, nothing written.
    let bad_check = format!(
        "{}{}",
        &good[..17],
        if good.ends_with('0') { '1' } else { '0' }
    );
    let bad = [
        HEADER.to_string(),
        row("黑名单", &bad_check, "乙公司", "HEI-1", "C-1", &recent),
        row("紫名单", &good, "丙公司", "HEI-1", "C-2", &recent),
        row("黑名单", &good, "丁公司", "NO-SUCH", "C-3", &recent),
    ]
    .join("\n");
    let before = app.audit_count();
    let p = b
        .upload(
            "/console/entries/import",
            &[("csrf", &csrf)],
            ("名单.csv", bad.as_bytes()),
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        p.body.contains("文件中有 3 处错误，未写入任何数据"),
        "{}",
        p.body
    );
    let table = &p.body[p.body.find("import-errors").unwrap()..];
    let rows: Vec<&str> = table.split("<tr><td>").skip(1).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows[0].starts_with("2</td><td>主体代码</td><td>") && rows[0].contains("校验位"));
    assert!(rows[1].starts_with("3</td><td>名单类型</td><td>紫名单</td>"));
    assert!(rows[2].starts_with("4</td><td>清单事项编码</td><td>NO-SUCH</td>"));
    assert!(rows[2].contains("unknown_item"));
    assert!(entries_by_document(app, tax).await.is_empty());
    assert_eq!(app.audit_count(), before);

    // A form without the page's token, an empty file, an unreadable file.
    let good_file = [
        HEADER.to_string(),
        row("黑名单", &good, "甲公司", "HEI-1", "G-1", &recent),
        row(
            "黑名单",
            &crate::entries::uscc(301),
            "乙公司",
            "HEI-1",
            "G-2",
            &recent,
        ),
    ]
    .join("\n");
    let p = b
        .upload(
            "/console/entries/import",
            &[("csrf", &"0".repeat(64))],
            ("名单.csv", good_file.as_bytes()),
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b
        .upload(
            "/console/entries/import",
            &[("csrf", &csrf)],
            ("空.csv", b""),
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("请选择要导入的文件"));
    let p = b
        .upload(
            "/console/entries/import",
            &[("csrf", &csrf)],
            ("名单.xlsx", b"PK\x03\x04 not a workbook"),
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("文件无法读取"));
    assert!(entries_by_document(app, tax).await.is_empty());

    // A dry run writes nothing; the real import makes drafts.
    let p = b
        .upload(
            "/console/entries/import",
            &[("csrf", &csrf), ("dry_run", "1")],
            ("名单.csv", good_file.as_bytes()),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(
        p.body.contains("校验通过（未写入）：共 2 行，将新增 2 条"),
        "{}",
        p.body
    );
    assert!(entries_by_document(app, tax).await.is_empty());
    let p = b
        .upload(
            "/console/entries/import",
            &[("csrf", &csrf)],
            ("名单.csv", good_file.as_bytes()),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(
        p.body.contains("导入完成：共 2 行，新增 2 条"),
        "{}",
        p.body
    );
    assert_eq!(
        entries_by_document(app, tax).await,
        vec![
            ("G-1".into(), "draft".into()),
            ("G-2".into(), "draft".into())
        ]
    );

    // The list shows the drafts with their buttons; one is published, the other discarded.
    let list = b.get("/console/entries?status=draft").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("共 2 条"), "{}", list.body);
    let ids: Vec<i64> = list
        .body
        .split("action=\"/console/entries/")
        .skip(1)
        .filter(|s| s.contains("/publish\""))
        .map(|s| s[..s.find('/').unwrap()].parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let (g2, g1) = (ids[0].max(ids[1]), ids[0].min(ids[1]));
    let p = b
        .post(
            &format!("/console/entries/{g1}/publish"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/console/entries?status=draft&done=published");
    assert!(b.get(p.location()).await.body.contains("已发布。"));
    let p = b
        .post(
            &format!("/console/entries/{g2}/discard"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(
        entries_by_document(app, tax).await,
        vec![("G-1".into(), "published".into())]
    );
    // Publishing twice, discarding a published entry, a token from elsewhere: refused, unchanged.
    let p = b
        .post(
            &format!("/console/entries/{g1}/publish"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert!(p.body.contains("当前状态不能进行此操作"));
    let p = b
        .post(
            &format!("/console/entries/{g1}/discard"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    let p = b
        .post(&format!("/console/entries/{g1}/discard"), &[("csrf", "x")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(
        entries_by_document(app, tax).await,
        vec![("G-1".into(), "published".into())]
    );

    // The filtered list and its export.
    let list = b.get("/console/entries?list_type=black&q=%E7%94%B2").await;
    assert!(list.body.contains("G-1") && list.body.contains("共 1 条"));
    assert!(list
        .body
        .contains("href=\"/console/entries/export?list_type=black&amp;q=%E7%94%B2\""));
    let file = b
        .client
        .get(format!(
            "{}/console/entries/export?list_type=black&q=%E7%94%B2",
            b.base
        ))
        .header(header::COOKIE, b.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert!(file.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(&file.bytes().await.unwrap()[..2], b"PK");
    let template = b.get("/console/entries/import-template").await;
    assert_eq!(template.status, StatusCode::OK);

    // Another department's officer: the draft of tax is not theirs.
    let other = crate::entries::create_entry(
        app,
        tax,
        crate::entries::entry("black", f.black, &crate::entries::uscc(302), "D-9"),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    app.account(
        "scjg",
        credit_lists::auth::Role::Department,
        Some(DEPT_SCJG),
        None,
    )
    .await;
    let mut s = Browser::new(app);
    s.log_in("scjg", PASSWORD).await;
    let csrf_s = s.get("/console/entries").await.csrf();
    let p = s
        .post(
            &format!("/console/entries/{other}/publish"),
            &[("csrf", &csrf_s)],
        )
        .await;
    assert!(
        matches!(p.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
        "{}",
        p.status
    );
    assert!(entries_by_document(app, tax)
        .await
        .contains(&("D-9".into(), "draft".into())));

    // Approval systems have no list pages.
    app.account(
        "approver",
        credit_lists::auth::Role::ApprovalSystem,
        None,
        None,
    )
    .await;
    let mut a = Browser::new(app);
    a.log_in("approver", PASSWORD).await;
    assert_eq!(
        a.get("/console/entries").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        a.get("/console/entries/import").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn four_list_drafts_are_published_and_imported_from_the_pages() {
    let app = spawn_app().await;
    let tax = app
        .account(
            "tax",
            credit_lists::auth::Role::Department,
            Some(DEPT_TAX),
            None,
        )
        .await;
    let id = crate::four_lists::create(&app, &tax.token, crate::four_lists::black_scope("HEI-7"))
        .await["id"]
        .as_i64()
        .unwrap();
    let mut b = Browser::new(&app);
    b.log_in("tax", PASSWORD).await;
    let page = b.get("/console/four-lists?status=draft").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("HEI-7") && page.body.contains("公布第 1 版"));
    assert!(page
        .body
        .contains("《重大税收违法失信主体信息公布管理办法》 第六条"));
    let csrf = page.csrf();
    let p = b
        .post(
            &format!("/console/four-lists/{id}/publish"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let item: Value = app
        .get(&format!("/api/v1/four-list-items/{id}"), &tax.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["status"], "published");
    let page = b.get("/console/four-lists?q=HEI-7").await;
    assert!(page.body.contains("已公布") && !page.body.contains("公布第 1 版"));
    // Nothing left to publish: a clear refusal.
    let p = b
        .post(
            &format!("/console/four-lists/{id}/publish"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);

    // Editing the published item makes a second, draft version; the first stays in force.
    let edit = b.get(&format!("/console/four-lists/{id}/edit")).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(edit
        .body
        .contains("value=\"《重大税收违法失信主体信息公布管理办法》\""));
    assert!(edit.body.contains("<option value=\"serious\" selected>"));
    let form = |title: &str, document: &str, severity: &str| -> Vec<(String, String)> {
        let mut f = vec![
            ("csrf", csrf.as_str()),
            ("title", title),
            ("description", "偷税、逃避追缴欠税"),
            ("basis_document", document),
            ("basis_article", "第六条"),
            ("basis_issuer", ""),
            ("basis_document", ""),
            ("basis_article", ""),
            ("basis_issuer", ""),
            ("subject_kind", "enterprise"),
            ("subject_kind", "individual"),
            ("severity", severity),
        ];
        f.retain(|(k, v)| !(*k == "severity" && v.is_empty()));
        f.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let post = |b: &Browser, fields: Vec<(String, String)>| {
        b.client
            .post(format!("{}/console/four-lists/{id}/edit", b.base))
            .header(header::COOKIE, b.cookie_header())
            .form(&fields)
            .send()
    };
    // No legal basis (the API's rule), no tier (the form's): refused with reasons, unchanged.
    let res = post(&b, form("重大税收违法失信主体（修订）", "", "serious"))
        .await
        .unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("设定依据："), "{}", p.body);
    let res = post(&b, form("重大税收违法失信主体（修订）", "《办法》", ""))
        .await
        .unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("失信等级：请选择"));
    let res = post(
        &b,
        form("重大税收违法失信主体（修订）", "《办法》", "general"),
    )
    .await
    .unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert!(b
        .get(p.location())
        .await
        .body
        .contains("已保存为第 2 版草稿"));
    let item: Value = app
        .get(&format!("/api/v1/four-list-items/{id}"), &tax.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["latest_version"], 2);
    assert_eq!(item["published_version"], 1);
    assert_eq!(item["title"], "重大税收违法失信主体（修订）");
    assert_eq!(item["severity"], "general");
    assert_eq!(item["legal_basis"].as_array().unwrap().len(), 1);
    assert!(b
        .get("/console/four-lists?q=HEI-7")
        .await
        .body
        .contains("公布第 2 版"));

    // A new item: a code taken or malformed is refused with the reason; then a draft.
    let page = b.get("/console/four-lists/new?kind=red_scope").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("新增清单事项：诚信典型范围清单"));
    assert!(page.body.contains("name=\"validity_months\""));
    let new_item = |code: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf.as_str()),
            ("kind", "black_scope"),
            ("code", code),
            ("title", "拒不履行法定义务"),
            ("description", ""),
            ("basis_document", "《办法》"),
            ("basis_article", ""),
            ("basis_issuer", ""),
            ("subject_kind", "enterprise"),
            ("severity", "serious"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let add = |b: &Browser, fields: Vec<(String, String)>| {
        b.client
            .post(format!("{}/console/four-lists/new", b.base))
            .header(header::COOKIE, b.cookie_header())
            .form(&fields)
            .send()
    };
    for (code, reason) in [
        ("HEI 9!", "编码：编码格式错误"),
        ("HEI-7", "编码：该部门已有相同编码的事项"),
    ] {
        let res = add(&b, new_item(code)).await.unwrap();
        let p = b.keep(res).await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{code}");
        assert!(p.body.contains(reason), "{code}: {}", p.body);
    }
    let res = add(&b, new_item("HEI-9")).await.unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let drafts: Value = app
        .get("/api/v1/four-list-items?status=draft", &tax.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(drafts["total"], 1);
    assert_eq!(drafts["items"][0]["code"], "HEI-9");
    assert_eq!(drafts["items"][0]["kind"], "black_scope");
    assert_eq!(drafts["items"][0]["severity"], "serious");

    // An import with a bad row: the table, nothing written.
    let form = b.get("/console/four-lists/import").await;
    assert_eq!(form.status, StatusCode::OK);
    let csv = "清单类型*,事项编码*,名称*,依据文件*,适用主体*\n严重失信行为及主体范围清单,HEI-8,,《办法》,企业\n";
    let p = b
        .upload(
            "/console/four-lists/import",
            &[("csrf", &csrf)],
            ("清单.csv", csv.as_bytes()),
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains("import-errors"));
    let all: Value = app
        .get("/api/v1/four-list-items", &tax.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["total"], 2);

    // A bureau may publish for departments of its region, but imports are the departments'.
    app.account(
        "bureau",
        credit_lists::auth::Role::Bureau,
        None,
        Some("220500"),
    )
    .await;
    let mut u = Browser::new(&app);
    u.log_in("bureau", PASSWORD).await;
    assert_eq!(u.get("/console/four-lists").await.status, StatusCode::OK);
    assert_eq!(
        u.get(&format!("/console/four-lists/{id}/edit"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        u.get("/console/four-lists/import").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        u.get("/console/four-lists/new").await.status,
        StatusCode::FORBIDDEN
    );
}

fn case_statuses(app: &TestApp) -> Vec<String> {
    use credit_lists::schema::cases;
    use diesel::prelude::*;
    cases::table
        .order(cases::id.asc())
        .select(cases::status)
        .load(&mut *app.conn())
        .unwrap()
}

#[tokio::test]
async fn a_case_is_filed_on_the_form_submitted_and_shared_through_the_pages() {
    let s = crate::cases::setup().await;
    let app = &s.f.app;
    let code = crate::entries::uscc(400);
    let entry = crate::cases::listed(&s, "black", &code, "B-1").await;
    let mut b = Browser::new(app);
    b.log_in("tax", PASSWORD).await;
    let form = b.get("/console/cases/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("【惩戒】CJ-1") && form.body.contains("【激励】JL-1"));
    let csrf = form.csrf();
    let (punish, entry) = (s.punish.to_string(), entry.to_string());
    let today = crate::entries::today().to_string();
    let filled = |date: &'static str, code: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf.as_str()),
            ("title", "某公司偷税被限制参与政府采购"),
            ("kind", "punishment"),
            ("subject_code", code),
            ("subject_name", "通化市某某商贸有限公司"),
            ("field", "government_procurement"),
            ("case_date", if date.is_empty() { &today } else { date }),
            ("measure", &punish),
            ("entry_ids", &entry),
            ("summary", "依法限制其参与政府采购活动。"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    // The form as a browser posts it (the measures field may repeat).
    let post = |b: &Browser, fields: Vec<(String, String)>| {
        b.client
            .post(format!("{}/console/cases/new", b.base))
            .header(header::COOKIE, b.cookie_header())
            .form(&fields)
            .send()
    };

    // A date the form cannot read, a code with a wrong check character: the form comes back
    // with the reasons and what was typed; nothing is filed.
    let res = post(&b, filled("2026-02-30", &code)).await.unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body.contains("案例日期：请按 YYYY-MM-DD 填写"),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"某公司偷税被限制参与政府采购\""));
    let bad_code = format!(
        "{}{}",
        &code[..17],
        if code.ends_with('0') { '1' } else { '0' }
    );
    let res = post(&b, filled("", &bad_code)).await.unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("主体代码：代码校验位错误"), "{}", p.body);
    assert!(case_statuses(app).is_empty());
    // A field where the measure does not apply (CJ-1: procurement and bidding): refused on the
    // measure, nothing filed.
    let mut elsewhere = filled("", &code);
    for (k, v) in elsewhere.iter_mut() {
        if k == "field" {
            *v = "honours".into();
        }
    }
    let res = post(&b, elsewhere).await.unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("采取的措施："), "{}", p.body);
    assert!(
        p.body.contains("does not apply in the field honours"),
        "{}",
        p.body
    );
    assert!(case_statuses(app).is_empty());
    // Without the page's token: refused.
    let mut stale = filled("", &code);
    stale[0].1 = "0".repeat(64);
    let res = post(&b, stale).await.unwrap();
    assert_eq!(b.keep(res).await.status, StatusCode::FORBIDDEN);
    assert!(case_statuses(app).is_empty());

    // Filed as a draft, then submitted by the department.
    let res = post(&b, filled("", &code)).await.unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let id: i64 = p.location()["/console/cases/".len()..]
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let page = b.get(p.location()).await;
    assert!(page.body.contains("案例已登记为草稿。") && page.body.contains(">报送</button>"));
    assert!(page.body.contains("CJ-1") && !page.body.contains("共享至省级平台"));
    assert_eq!(case_statuses(app), vec!["draft"]);
    // A department does not share.
    let p = b
        .post(&format!("/console/cases/{id}/share"), &[("csrf", &csrf)])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b
        .post(&format!("/console/cases/{id}/submit"), &[("csrf", &csrf)])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(case_statuses(app), vec!["submitted"]);
    let p = b
        .post(&format!("/console/cases/{id}/share"), &[("csrf", &csrf)])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b
        .post(&format!("/console/cases/{id}/submit"), &[("csrf", &csrf)])
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert_eq!(case_statuses(app), vec!["submitted"]);

    // The city bureau shares it.
    let mut city = Browser::new(app);
    city.log_in("city", PASSWORD).await;
    let page = city.get(&format!("/console/cases/{id}")).await;
    assert!(page.body.contains("共享至省级平台"));
    let csrf_city = page.csrf();
    let p = city
        .post(
            &format!("/console/cases/{id}/share"),
            &[("csrf", &csrf_city)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(case_statuses(app), vec!["shared"]);
    assert!(city
        .get(p.location())
        .await
        .body
        .contains("已共享至省级平台。"));
    let list = city
        .get("/console/cases?kind=punishment&status=shared")
        .await;
    assert!(list.body.contains("共 1 件") && list.body.contains("某公司偷税被限制参与政府采购"));
    assert!(city
        .get("/console/cases?kind=reward")
        .await
        .body
        .contains("共 0 件"));
    // The form files for the caller's own department: a bureau account bound to none has none,
    // and names the filing department of a case from a check's feedback instead.
    assert!(!list.body.contains("/console/cases/new"));
    assert!(list
        .body
        .contains("<select id=\"feedback_department\" name=\"department_id\">"));
    assert!(!b
        .get("/console/cases")
        .await
        .body
        .contains("feedback_department"));
    assert_eq!(
        city.get("/console/cases/new").await.status,
        StatusCode::FORBIDDEN
    );

    // From a check's feedback: a number is needed, and the check must exist.
    let p = city
        .post(
            "/console/cases/from-feedback",
            &[("csrf", &csrf_city), ("check_id", "abc")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let p = city
        .post(
            "/console/cases/from-feedback",
            &[("csrf", &csrf_city), ("check_id", "999")],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(case_statuses(app).len(), 1);
}

#[tokio::test]
async fn the_work_bench_shows_open_objections_and_draft_cases_of_the_callers_departments() {
    let s = crate::cases::setup().await;
    let app = &s.f.app;
    let tax = &s.f.tax.token;
    let code = crate::entries::uscc(500);
    let entry = crate::cases::listed(&s, "black", &code, "W-1").await;
    let res = app
        .post(
            &format!("/api/v1/list-entries/{entry}/objections"),
            tax,
            serde_json::json!({"raised_by": "异议人甲公司", "grounds": "认定事实有误"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut draft = crate::cases::punishment_case(&s, &code, entry);
    draft["title"] = "待报送的惩戒案例".into();
    crate::cases::post_case(app, tax, draft).await;

    let mut b = Browser::new(app);
    b.log_in("tax", PASSWORD).await;
    let home = b.get("/console/").await;
    assert_eq!(home.status, StatusCode::OK);
    let objections = &home.body[home.body.find("处理中的异议").unwrap()..];
    assert!(objections.contains("异议人甲公司") && objections.contains("W-1"));
    let drafts = &home.body[home.body.find("待报送的案例草稿").unwrap()..];
    assert!(drafts.contains("待报送的惩戒案例"), "{drafts}");

    // The participating department (市场监管) neither handles the objection nor submits the case.
    app.account(
        "scjg",
        credit_lists::auth::Role::Department,
        Some(DEPT_SCJG),
        None,
    )
    .await;
    let mut other = Browser::new(app);
    other.log_in("scjg", PASSWORD).await;
    let home = other.get("/console/").await;
    assert!(home.body.contains("暂无处理中的异议。"), "{}", home.body);
    assert!(home.body.contains("暂无案例草稿。"));
    assert!(!home.body.contains("异议人甲公司"));
}

#[tokio::test]
async fn the_work_bench_says_when_it_lists_only_the_first_drafts() {
    let s = crate::cases::setup().await;
    let app = &s.f.app;
    let tax = &s.f.tax.token;
    let code = crate::entries::uscc(501);
    let entry = crate::cases::listed(&s, "black", &code, "W-2").await;
    let mut b = Browser::new(app);
    b.log_in("tax", PASSWORD).await;
    for n in 0..200 {
        let mut draft = crate::cases::punishment_case(&s, &code, entry);
        draft["title"] = format!("草稿{n}").into();
        crate::cases::post_case(app, tax, draft).await;
    }
    // Exactly as many as the bench lists: all shown, no note.
    let home = b.get("/console/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("草稿199") && home.body.contains("草稿0<"));
    assert!(!home.body.contains("草稿超过"), "{}", home.body);
    // One more: the bench says so and links to the full list of drafts.
    let mut draft = crate::cases::punishment_case(&s, &code, entry);
    draft["title"] = "草稿200".into();
    crate::cases::post_case(app, tax, draft).await;
    let home = b.get("/console/").await;
    assert!(
        home.body.contains("草稿超过 200 件")
            && home.body.contains(r#"href="/console/cases?status=draft""#),
        "{}",
        home.body
    );
    assert!(!home.body.contains("共 0 件"));
}

#[tokio::test]
async fn an_entry_is_recorded_on_the_form_as_a_draft_with_the_apis_rules() {
    let f = crate::entries::fixture().await;
    let (app, tax) = (&f.app, &f.tax.token);
    let mut b = Browser::new(app);
    b.log_in("tax", PASSWORD).await;
    let form = b.get("/console/entries/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("【黑名单】HEI-1") && form.body.contains("【红名单】HONG-1"));
    let csrf = form.csrf();
    let code = crate::entries::uscc(600);
    let bad_code = format!(
        "{}{}",
        &code[..17],
        if code.ends_with('0') { '1' } else { '0' }
    );
    let black = f.black.to_string();
    let recent = (crate::entries::today() - chrono::Duration::days(3)).to_string();
    let fill = |code: &str, date: &str, scope: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf.as_str()),
            ("scope_item_id", scope),
            ("subject_code", code),
            ("subject_name", "通化市某某商贸有限公司"),
            ("document_number", "F-1"),
            ("determination_date", date),
            ("facts", "虚开增值税专用发票"),
            ("source", "local"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let post = |b: &Browser, fields: Vec<(String, String)>| {
        b.client
            .post(format!("{}/console/entries/new", b.base))
            .header(header::COOKIE, b.cookie_header())
            .form(&fields)
            .send()
    };
    // What the form cannot read, what the API refuses, a scope item of another department: the
    // form again with the reasons, nothing recorded.
    let res = post(&b, fill(&code, "2026-02-30", &black)).await.unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("认定日期：请按 YYYY-MM-DD 填写"));
    let res = post(&b, fill(&bad_code, &recent, &black)).await.unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("主体代码：代码校验位错误"), "{}", p.body);
    assert!(p.body.contains(&format!("value=\"{bad_code}\"")));
    let res = post(&b, fill(&code, &recent, "999999")).await.unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("清单事项：请选择"));
    assert!(entries_by_document(app, tax).await.is_empty());

    let res = post(&b, fill(&code, &recent, &black)).await.unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/console/entries?status=draft&done=created");
    assert_eq!(
        entries_by_document(app, tax).await,
        vec![("F-1".into(), "draft".into())]
    );
    assert!(b.get(p.location()).await.body.contains("已保存为草稿"));
}

#[tokio::test]
async fn a_tampered_form_or_address_gets_a_page_in_chinese_and_changes_nothing() {
    let w = world().await;
    let (_, _, body) = enterprise_case(&w, 43).await;
    let id = ok(
        w.app.post("/api/v1/repairs", &w.tax.token, body).await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let mut tax = Browser::new(&w.app);
    tax.log_in("tax", PASSWORD).await;
    let page = tax.get(&format!("/console/repairs/{id}")).await;
    let csrf = page.csrf();
    let before = w.app.audit_count();
    let tampered = [
        tax.post(
            &format!("/console/repairs/{id}/accept"),
            &[("csrf", &csrf), ("version", "abc")],
        )
        .await,
        tax.post(
            &format!("/console/repairs/{id}/accept"),
            &[("version", "1")],
        )
        .await,
        tax.get("/console/repairs/not-a-number").await,
        tax.get("/console/scorecards?quarter=first").await,
    ];
    for p in tampered {
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(p.body.contains("请求内容有误"), "{}", p.body);
    }
    assert_eq!(w.app.audit_count(), before, "nothing written");
    let v = ok(
        w.app
            .get(&format!("/api/v1/repairs/{id}"), &w.tax.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["status"], "submitted");
    // The API keeps its problem+json for the same mistakes.
    let res = w
        .app
        .get("/api/v1/repairs/not-a-number", &w.tax.token)
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
    let res = w.app.get("/api/v1/repairs?page=first", &w.tax.token).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}

async fn logged_in(app: &TestApp, username: &str) -> Browser {
    app.create_user(
        username,
        credit_lists::auth::Role::Department,
        Some(DEPT_TAX),
        None,
    );
    let mut b = Browser::new(app);
    let p = b.log_in(username, PASSWORD).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "login of {username}");
    b
}

#[tokio::test]
async fn the_console_cookie_is_not_an_api_token_nor_an_api_token_a_console_cookie() {
    let app = spawn_app().await;
    let b = logged_in(&app, "tax").await;
    let cookie = b.cookies["cl_console"].clone();
    let res = app.get("/api/v1/me", &cookie).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Nor does an API access token open the console.
    let api = app.login_ok("tax").await;
    let mut other = Browser::new(&app);
    other.cookies.insert(
        "cl_console".into(),
        api["access_token"].as_str().unwrap().to_string(),
    );
    let p = other.get("/console/").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/console/login");
}

#[tokio::test]
async fn the_console_session_ends_when_idle_and_is_kept_alive_by_use() {
    let app = spawn_app_with(|s| s.console_idle_timeout_secs = 3).await;
    let mut b = logged_in(&app, "tax").await;
    // In use: each request moves the deadline on (4 s of use with a 3 s idle timeout).
    for _ in 0..4 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let p = b.get("/console/").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.set_cookie("cl_console").is_some(), "renewed");
    }
    // Left alone past the timeout: back to the login page.
    tokio::time::sleep(std::time::Duration::from_millis(4200)).await;
    let p = b.get("/console/").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/console/login");
}

#[tokio::test]
async fn the_console_session_ends_at_its_absolute_lifetime_however_busy() {
    let app = spawn_app_with(|s| {
        s.console_idle_timeout_secs = 60;
        s.console_session_max_secs = 2;
    })
    .await;
    let mut b = logged_in(&app, "tax").await;
    assert_eq!(b.get("/console/").await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let p = b.get("/console/").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/console/login");
}

#[tokio::test]
async fn a_csrf_token_from_another_session_is_refused() {
    let app = spawn_app().await;
    let mut mine = logged_in(&app, "tax").await;
    let mut theirs = logged_in(&app, "tax2").await;
    let my_token = mine.get("/console/").await.csrf();
    let their_token = theirs.get("/console/").await.csrf();
    assert_ne!(my_token, their_token);
    // The same account logged in again: another session, another token.
    let mut again = Browser::new(&app);
    again.log_in("tax", PASSWORD).await;
    let again_token = again.get("/console/").await.csrf();
    assert_ne!(my_token, again_token);
    for foreign in [&their_token, &again_token] {
        let p = mine.post("/console/logout", &[("csrf", foreign)]).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert!(p.body.contains("表单已过期或来源不明"));
    }
    // The browser's cl_csrf cookie plays no part once logged in: one chosen to match is useless.
    mine.cookies.insert("cl_csrf".into(), "a".repeat(64));
    let p = mine
        .post("/console/logout", &[("csrf", &"a".repeat(64))])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(
        mine.get("/console/").await.status,
        StatusCode::OK,
        "still logged in"
    );
    let p = mine.post("/console/logout", &[("csrf", &my_token)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/console/login");
}

#[tokio::test]
async fn cross_site_console_posts_are_refused_and_same_origin_ones_accepted() {
    let app = spawn_app().await;
    let mut b = logged_in(&app, "tax").await;
    let csrf = b.get("/console/").await.csrf();
    for headers in [
        vec![("origin", "http://evil.example")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![
            ("origin", app.address.as_str()),
            ("sec-fetch-site", "cross-site"),
        ],
    ] {
        let p = b
            .post_with("/console/logout", &[("csrf", &csrf)], &headers)
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(p.body.contains("该请求来自其他网站"), "{headers:?}");
        assert_eq!(
            b.get("/console/").await.status,
            StatusCode::OK,
            "not logged out"
        );
    }
    // The login form too.
    let mut stranger = Browser::new(&app);
    let token = stranger.get("/console/login").await.csrf();
    let p = stranger
        .post_with(
            "/console/login",
            &[
                ("csrf", &token),
                ("username", "tax"),
                ("password", PASSWORD),
            ],
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.set_cookie("cl_console").is_none());
    // `Origin: null` from the console's own pages (`Referrer-Policy: no-referrer` makes browsers
    // send it): decided by `Sec-Fetch-Site` and the token.
    let p = b
        .post_with(
            "/console/logout",
            &[("csrf", &"2".repeat(64))],
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert!(
        p.body.contains("表单已过期或来源不明"),
        "past the origin check"
    );
    // Same origin, as a browser sends it: accepted.
    let p = b
        .post_with(
            "/console/logout",
            &[("csrf", &csrf)],
            &[
                ("origin", app.address.as_str()),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/console/login");
    assert_eq!(b.get("/console/").await.status, StatusCode::SEE_OTHER);
}

/// 设定依据层级: the form's select and origin, the refusal to publish in Chinese, and the flag on
/// the list and the edit page until a sufficient version is published.
#[tokio::test]
async fn four_list_pages_show_and_edit_the_basis_level_and_flag_insufficient_items() {
    let app = spawn_app().await;
    app.account(
        "tax",
        credit_lists::auth::Role::Department,
        Some(DEPT_TAX),
        None,
    )
    .await;
    let mut b = Browser::new(&app);
    b.log_in("tax", PASSWORD).await;
    let page = b.get("/console/four-lists/new?kind=black_scope").await;
    assert!(page.body.contains("name=\"basis_level\""));
    assert!(page
        .body
        .contains("<option value=\"local_regulation\">地方性法规</option>"));
    assert!(page.body.contains("<option value=\"local\" selected>"));
    let csrf = page.csrf();
    let new_item = |level: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf.as_str()),
            ("kind", "black_scope"),
            ("code", "HEI-LOCAL"),
            ("title", "拒不履行法定义务"),
            ("description", ""),
            ("basis_document", "《通化市某某办法》"),
            ("basis_article", "第五条"),
            ("basis_issuer", "通化市人民政府"),
            ("basis_level", level),
            ("subject_kind", "enterprise"),
            ("severity", "serious"),
            ("origin", "local"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let add = |b: &Browser, fields: Vec<(String, String)>| {
        b.client
            .post(format!("{}/console/four-lists/new", b.base))
            .header(header::COOKIE, b.cookie_header())
            .form(&fields)
            .send()
    };
    let res = add(&b, new_item("bogus")).await.unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("依据层级：请从列表中选择"), "{}", p.body);
    // A 地方政府规章 saves as a draft, flagged, and cannot be published.
    let res = add(&b, new_item("local_government_rule")).await.unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let edit = b.get(p.location()).await;
    assert!(edit.body.contains("设定依据层级不足"), "{}", edit.body);
    assert!(edit
        .body
        .contains("<option value=\"local_government_rule\" selected>地方政府规章</option>"));
    let id = p
        .location()
        .trim_start_matches("/console/four-lists/")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let list = b.get("/console/four-lists?q=HEI-LOCAL").await;
    assert!(list.body.contains("（地方政府规章）"), "{}", list.body);
    assert!(list.body.contains("设定依据层级不足"));
    let p = b
        .post(
            &format!("/console/four-lists/{id}/publish"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("设定依据层级不足"), "{}", p.body);
    // Saved with a 地方性法规, it publishes and the flag goes.
    let mut fields = new_item("local_regulation");
    fields.retain(|(k, _)| k != "code" && k != "kind");
    let res = b
        .client
        .post(format!("{}/console/four-lists/{id}/edit", b.base))
        .header(header::COOKIE, b.cookie_header())
        .form(&fields)
        .send()
        .await
        .unwrap();
    let p = b.keep(res).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = b
        .post(
            &format!("/console/four-lists/{id}/publish"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let list = b.get("/console/four-lists?q=HEI-LOCAL").await;
    assert!(list.body.contains("已公布") && list.body.contains("（地方性法规）"));
    assert!(!list.body.contains("设定依据层级不足"), "{}", list.body);
}

#[tokio::test]
async fn a_bureau_attests_an_indicator_on_the_scorecards_page() {
    let app = spawn_app().await;
    app.create_user(
        "city",
        credit_lists::auth::Role::Bureau,
        None,
        Some("220500"),
    );
    let mut city = Browser::new(&app);
    city.log_in("city", PASSWORD).await;
    let today = crate::entries::today();
    let (year, quarter) = (
        chrono::Datelike::year(&today),
        chrono::Datelike::month(&today).div_ceil(3),
    );
    let q = format!("/console/scorecards?year={year}&quarter={quarter}");
    let page = city.get(&q).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("录入佐证材料"));
    assert!(page.body.contains("value=\"civil_servant_education\""));
    let csrf = page.csrf();
    let (y, qq, dept) = (
        year.to_string(),
        quarter.to_string(),
        format!("d{DEPT_TAX}"),
    );
    let date = today.to_string();
    let form = |points: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("indicator", "civil_servant_education".to_string()),
            ("subject", dept.clone()),
            ("year", y.clone()),
            ("quarter", qq.clone()),
            ("points", points.to_string()),
            ("document_title", "公务员信用知识教育培训通知".to_string()),
            ("document_number", String::new()),
            ("document_date", date.clone()),
            ("note", "签到表".to_string()),
        ]
    };
    let audit_before = app.audit_count();
    // Over the indicator's maximum: a page naming the field, nothing written.
    let f = form("5");
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bad = city.post("/console/scorecards/attestations", &pairs).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("points"), "{}", bad.body);
    assert_eq!(app.audit_count(), audit_before);
    let f = form("1");
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = city.post("/console/scorecards/attestations", &pairs).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(done.location().contains("attested="));
    assert_eq!(app.audit_count(), audit_before + 1);
    let id = done.location().rsplit('=').next().unwrap().to_string();
    let page = city.get(&q).await;
    assert!(page.body.contains(&format!("佐证 {id}")), "{}", page.body);
    // A department officer sees its card but no form.
    let mut tax = logged_in(&app, "tax").await;
    let mine = tax.get(&q).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.body.contains(&format!("佐证 {id}")));
    assert!(!mine.body.contains("录入佐证材料"));
}
