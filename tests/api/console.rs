//! The staff console (`/console/`) through plain HTTP: cookie session, CSRF, the pages in Chinese.
//! (Browser tests in headless Chromium are not written yet; see `docs/console.md`.)

use reqwest::{header, redirect::Policy, StatusCode};
use serde_json::Value;

use crate::helpers::*;
use crate::repairs::{enterprise_case, ok, public_entries_for, world};

/// A browser without JavaScript: keeps the console's cookies, does not follow redirects.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
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
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field")
            + 19;
        self.body[at..at + 64].to_string()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Self {
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

    async fn get(&mut self, path: &str) -> Page {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(res).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(res).await
    }

    async fn log_in(&mut self, username: &str, password: &str) -> Page {
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
