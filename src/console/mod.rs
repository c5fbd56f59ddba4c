//! The staff console (工作台): server-rendered pages in Chinese under `/console/`, for bureau staff
//! and department officers who do not use the API directly. Templates are embedded in the binary
//! (minijinja, HTML auto-escaped); charts are inline SVG made on the server; no script runs.
//!
//! Login checks the password as `POST /api/v1/auth/login` does (same accounts, throttling and
//! audit) and opens a console session: a session row that ends `console_session_max_secs` after
//! login, and in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` behind TLS) a token of the
//! console's own audience (the API refuses it) that expires after `console_idle_timeout_secs`
//! and is renewed by every request of the session. Every form carries a CSRF token derived by
//! HMAC from the session id (the login form's from its `cl_csrf` cookie), and any state-changing
//! request from a foreign `Origin` or with `Sec-Fetch-Site: cross-site` is refused before it
//! reaches a handler ([`guard`]). See `docs/console.md`.

use std::sync::OnceLock;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{get, post, web, HttpMessage, HttpRequest, HttpResponse};
use minijinja::{context, Environment, Value};
use serde::{Deserialize, Serialize};

use crate::auth::{RequestMeta, Role};
use crate::error::ApiError;
use crate::state::AppState;

mod cases;
mod checks;
mod documents;
mod entries;
mod four_lists;
mod imports;
mod pages;
mod reports;

pub(crate) const SESSION_COOKIE: &str = "cl_console";
const CSRF_COOKIE: &str = "cl_csrf";

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("local_time", local_time);
        env.add_filter("repair_status", |s: String| repair_status_zh(&s));
        env.add_filter("repair_action", |s: String| action_zh(&s));
        for (name, source) in [
            ("layout.html", include_str!("templates/layout.html")),
            ("login.html", include_str!("templates/login.html")),
            ("home.html", include_str!("templates/home.html")),
            ("targets.html", include_str!("templates/targets.html")),
            ("error.html", include_str!("templates/error.html")),
            ("repair.html", include_str!("templates/repair.html")),
            ("subjects.html", include_str!("templates/subjects.html")),
            ("subject.html", include_str!("templates/subject.html")),
            ("entries.html", include_str!("templates/entries.html")),
            ("four_lists.html", include_str!("templates/four_lists.html")),
            ("import.html", include_str!("templates/import.html")),
            ("entry_new.html", include_str!("templates/entry_new.html")),
            ("item_edit.html", include_str!("templates/item_edit.html")),
            ("cases.html", include_str!("templates/cases.html")),
            ("case.html", include_str!("templates/case.html")),
            ("case_new.html", include_str!("templates/case_new.html")),
            ("trend.html", include_str!("templates/trend.html")),
            ("scorecards.html", include_str!("templates/scorecards.html")),
            ("check.html", include_str!("templates/check.html")),
        ] {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("console template {name}: {e}"));
        }
        env
    })
}

/// An RFC 3339 timestamp as Beijing time (UTC+8) for people: `2019-06-10 14:30`.
fn local_time(value: String) -> String {
    chrono::DateTime::parse_from_rfc3339(&value)
        .map(|t| {
            (t.naive_utc() + chrono::Duration::hours(8))
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or(value)
}

fn html(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn render(status: actix_web::http::StatusCode, name: &str, ctx: Value) -> HttpResponse {
    match templates().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(template = name, error = %e, "console template failed");
            html(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><meta charset=utf-8><title>错误</title><p>页面生成失败，请稍后重试。</p>"
                    .into(),
            )
        }
    }
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

fn keys(req: &HttpRequest) -> Option<&crate::auth::tokens::JwtKeys> {
    req.app_data::<web::Data<AppState>>().map(|s| &s.keys)
}

/// What the login form's CSRF token is bound to: the browser's `cl_csrf` cookie (random).
fn login_binding(cookie: &str) -> String {
    format!("console login:{cookie}")
}

/// The login form's CSRF token (an HMAC of the browser's `cl_csrf` cookie), and the cookie to set
/// when the browser has none yet.
fn login_csrf(req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    let (cookie, new_cookie) = match req.cookie(CSRF_COOKIE) {
        Some(c) if c.value().len() == 64 => (c.value().to_string(), None),
        _ => {
            let value = crate::auth::tokens::random_token();
            let cookie = base_cookie(req, CSRF_COOKIE, value.clone()).finish();
            (value, Some(cookie))
        }
    };
    let token = keys(req)
        .map(|k| k.csrf_token(&login_binding(&cookie)))
        .unwrap_or_default();
    (token, new_cookie)
}

/// The login form's `csrf` field must be the token of the browser's `cl_csrf` cookie.
fn login_csrf_ok(req: &HttpRequest, sent: &str) -> bool {
    match (req.cookie(CSRF_COOKIE), keys(req)) {
        (Some(c), Some(k)) => {
            c.value().len() == 64 && k.csrf_matches(&login_binding(c.value()), sent)
        }
        _ => false,
    }
}

/// The console session of this request, set by [`console_user`].
#[derive(Clone)]
struct ConsoleSession {
    id: String,
    /// The cookie with a fresh idle deadline, added to the response by [`guard`].
    renewed: Option<Cookie<'static>>,
}

/// The CSRF token of a console session: an HMAC of its id (constant for the session, useless in
/// another one).
fn session_csrf(req: &HttpRequest, session_id: &str) -> String {
    keys(req)
        .map(|k| k.csrf_token(session_id))
        .unwrap_or_default()
}

/// A form's `csrf` field must be the token of the request's console session (checked by
/// [`console_user`] first; without a session nothing matches).
fn csrf_ok(req: &HttpRequest, sent: &str) -> bool {
    let sid = req
        .extensions()
        .get::<ConsoleSession>()
        .map(|s| s.id.clone());
    match (sid, keys(req)) {
        (Some(sid), Some(k)) => k.csrf_matches(&sid, sent),
        _ => false,
    }
}

/// Whether a request says it comes from another site: `Sec-Fetch-Site` other than `same-origin`
/// or `none`, or an `Origin` whose host and port are not this server's (`Host`, or
/// `X-Forwarded-Host` from the proxy). `Origin: null` says nothing: browsers send it for the
/// console's own forms, whose pages have `Referrer-Policy: no-referrer`. Requests with neither
/// header (old browsers, scripts) are judged by their CSRF token alone.
fn foreign_origin(req: &actix_web::dev::ServiceRequest) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("").trim().to_ascii_lowercase();
        if site != "same-origin" && site != "none" {
            return true;
        }
    }
    match headers.get(header::ORIGIN) {
        None => false,
        Some(origin) => {
            let origin = origin.to_str().unwrap_or("").trim().to_ascii_lowercase();
            let authority = origin
                .split_once("://")
                .map(|(_, rest)| rest.trim_end_matches('/'))
                .unwrap_or("");
            origin != "null" && authority != req.connection_info().host().to_ascii_lowercase()
        }
    }
}

/// Middleware for `/console/`: refuses (403 page, nothing written) a state-changing request from
/// another site; adds the renewed session cookie to the answer of a request that had a session.
pub async fn guard(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::http::Method;
    if !req.path().starts_with("/console") {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && foreign_origin(&req) {
        let page = render(
            actix_web::http::StatusCode::FORBIDDEN,
            "error.html",
            context! {
                title => "请求来源不明",
                message => "该请求来自其他网站，已被拒绝。请在本系统的页面中操作。",
            },
        );
        return Ok(req.into_response(page));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    let renewed = res
        .request()
        .extensions()
        .get::<ConsoleSession>()
        .and_then(|s| s.renewed.clone());
    if let Some(cookie) = renewed {
        // Not over a cookie the handler set itself (logout removes it).
        if !res.response().cookies().any(|c| c.name() == SESSION_COOKIE) {
            let _ = res.response_mut().add_cookie(&cookie);
        }
    }
    Ok(res)
}

/// The console's session cookie holding `token`.
fn session_cookie(req: &HttpRequest, state: &AppState, token: String) -> Cookie<'static> {
    base_cookie(req, SESSION_COOKIE, token)
        .max_age(CookieDuration::seconds(
            state.settings.console_session_max_secs,
        ))
        .finish()
}

fn base_cookie(
    req: &HttpRequest,
    name: &'static str,
    value: String,
) -> actix_web::cookie::CookieBuilder<'static> {
    Cookie::build(name, value)
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
}

/// The signed-in console user, the way every console page receives it: a handler takes a
/// `SignedIn` argument and runs only when someone is signed in (the console cookie's session is
/// live); otherwise the answer is a redirect to the sign-in page and the handler does not run.
/// `csrf` is the browser's CSRF token for the forms the page shows.
struct SignedIn {
    user: crate::auth::AuthUser,
    shown: Shown,
    csrf: String,
}

impl actix_web::FromRequest for SignedIn {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
                return Err(actix_web::error::ErrorInternalServerError(
                    "application state missing",
                ));
            };
            let (user, shown) = console_user(&req, &state)
                .await
                .map_err(|page| actix_web::error::InternalError::from_response("", page))?;
            let csrf = session_csrf(&req, &user.session_id);
            Ok(SignedIn { user, shown, csrf })
        })
    }
}

impl SignedIn {
    /// This user when `allowed`, or the page to answer instead: a refusal saying `refusal`.
    fn allowed(
        self,
        allowed: impl Fn(&crate::auth::AuthUser, &Shown) -> bool,
        refusal: &str,
    ) -> Result<Self, Box<HttpResponse>> {
        if allowed(&self.user, &self.shown) {
            Ok(self)
        } else {
            Err(Box::new(forbidden_page(&self.shown, &self.csrf, refusal)))
        }
    }

    /// This user posting a form whose CSRF token (`sent_csrf`) matches and whose origin is the
    /// console's, or the page to answer instead: a refusal that writes nothing.
    fn posted(self, req: &HttpRequest, sent_csrf: &str) -> Result<Self, Box<HttpResponse>> {
        if csrf_ok(req, sent_csrf) {
            Ok(self)
        } else {
            Err(Box::new(forbidden_page(
                &self.shown,
                &self.csrf,
                "表单已过期或来源不明，请刷新页面后重试。",
            )))
        }
    }
}

/// The value of a `Result<T, Box<HttpResponse>>`, or returns its page from the handler.
macro_rules! or_page {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(page) => return *page,
        }
    };
}
use or_page;

/// A malformed query, path or form under `/console/` (a tampered form, a hand-edited address): a
/// page in Chinese (400) instead of the API's problem+json; writes nothing. Elsewhere the error
/// is handed back for the API's answer.
pub fn malformed<E>(req: &HttpRequest, err: E) -> Result<actix_web::Error, E>
where
    E: std::fmt::Debug + std::fmt::Display + 'static,
{
    if !req.path().starts_with("/console/") {
        return Err(err);
    }
    let page = render(
        actix_web::http::StatusCode::BAD_REQUEST,
        "error.html",
        context! {
            title => "请求内容有误",
            message => "页面地址或表单内容有误，请返回上一页刷新后重试。",
        },
    );
    Ok(actix_web::error::InternalError::from_response(err, page).into())
}

fn not_found_page(user: &Shown, csrf: &str, message: &str) -> HttpResponse {
    render(
        actix_web::http::StatusCode::NOT_FOUND,
        "error.html",
        context! { user => user, csrf => csrf, title => "未找到", message => message },
    )
}

fn forbidden_page(user: &Shown, csrf: &str, message: &str) -> HttpResponse {
    render(
        actix_web::http::StatusCode::FORBIDDEN,
        "error.html",
        context! { user => user, csrf => csrf, title => "无权访问", message => message },
    )
}

/// What the layout shows of the caller.
#[derive(Serialize)]
struct Shown {
    username: String,
    role_zh: &'static str,
    scope_zh: String,
    may_read_targets: bool,
    may_search_subjects: bool,
    /// 红黑名单 and 四张清单 pages.
    may_keep_lists: bool,
}

fn role_zh(role: Role) -> &'static str {
    match role {
        Role::Admin => "系统管理员",
        Role::Bureau => "信用主管部门",
        Role::Department => "部门",
        Role::ApprovalSystem => "审批系统",
    }
}

/// The logged-in console user, or a redirect to the login page.
async fn console_user(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<(crate::auth::AuthUser, Shown), HttpResponse> {
    let token = req
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .ok_or_else(|| ApiError::unauthorized("no console session"));
    let user =
        crate::auth::extract::authenticate_console(state, token, RequestMeta::from_request(req))
            .await
            .map_err(|_| redirect("/console/login"))?;
    // Each request of the session moves its idle deadline on.
    let renewed = state
        .keys
        .issue_for(
            crate::auth::tokens::CONSOLE_AUDIENCE,
            user.id,
            &user.session_id,
            user.role.as_str(),
            state.settings.console_idle_timeout_secs,
        )
        .ok()
        .map(|token| session_cookie(req, state, token));
    req.extensions_mut().insert(ConsoleSession {
        id: user.session_id.clone(),
        renewed,
    });
    let scope_zh = match (&user.region_code, user.department_id) {
        (_, Some(d)) => department_name(state, d).await.unwrap_or_default(),
        (Some(r), None) => region_name(state, r.clone()).await.unwrap_or_default(),
        _ => String::new(),
    };
    let shown = Shown {
        username: user.username.clone(),
        role_zh: role_zh(user.role),
        scope_zh,
        may_read_targets: matches!(user.role, Role::Admin | Role::Bureau),
        may_search_subjects: matches!(user.role, Role::Admin | Role::Bureau | Role::Department),
        may_keep_lists: matches!(user.role, Role::Admin | Role::Bureau | Role::Department),
    };
    Ok((user, shown))
}

async fn department_name(state: &web::Data<AppState>, id: i32) -> Result<String, ApiError> {
    crate::db::run(&state.pool, move |conn| {
        let d = crate::org::find_department(conn, id)?
            .ok_or_else(|| ApiError::not_found("department"))?;
        Ok(crate::org::display_name(&d.name, &d.former_names))
    })
    .await
}

async fn region_name(state: &web::Data<AppState>, code: String) -> Result<String, ApiError> {
    crate::db::run(&state.pool, move |conn| {
        let r =
            crate::org::find_region(conn, &code)?.ok_or_else(|| ApiError::not_found("region"))?;
        Ok(r.name)
    })
    .await
}

#[get("/console/login")]
async fn login_page(req: HttpRequest) -> HttpResponse {
    let (csrf, new_cookie) = login_csrf(&req);
    let mut res = render(
        actix_web::http::StatusCode::OK,
        "login.html",
        context! { csrf => csrf, username => "", error => Value::from(()) },
    );
    if let Some(c) = new_cookie {
        let _ = res.add_cookie(&c);
    }
    res
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    username: String,
    password: String,
}

#[post("/console/login")]
async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (csrf, _) = login_csrf(&req);
    if !login_csrf_ok(&req, &form.csrf) {
        return render(
            actix_web::http::StatusCode::FORBIDDEN,
            "error.html",
            context! { csrf => csrf, title => "请求已失效", message => "表单已过期或来源不明，请刷新登录页后重试。" },
        );
    }
    let meta = RequestMeta::from_request(&req);
    let failed = |status, message: &str| {
        render(
            status,
            "login.html",
            context! { csrf => &csrf, username => &form.username, error => message },
        )
    };
    let tokens = match crate::auth::store::login_with_password(
        &state,
        meta,
        &form.username,
        form.password.clone(),
        state.settings.console_session_max_secs,
    )
    .await
    {
        Ok(t) => t,
        Err(ApiError::TooManyRequests { .. }) => {
            return failed(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "登录失败次数过多，请稍后再试。",
            )
        }
        Err(ApiError::Unauthorized(_)) => {
            return failed(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "用户名或密码错误。",
            )
        }
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    // The console's own token for the session (ended at `console_session_max_secs` by its row):
    // valid for the idle timeout, renewed by each request; logout, a disabled account or a
    // password reset still end it at once (server side). The API's tokens are not kept.
    let issued = state.keys.verify(&tokens.access_token).and_then(|claims| {
        let user_id = claims
            .sub
            .parse::<i32>()
            .map_err(|_| ApiError::internal("sub"))?;
        state.keys.issue_for(
            crate::auth::tokens::CONSOLE_AUDIENCE,
            user_id,
            &claims.sid,
            &claims.role,
            state.settings.console_idle_timeout_secs,
        )
    });
    match issued {
        Ok(token) => {
            let cookie = session_cookie(&req, &state, token);
            let mut res = redirect("/console/");
            let _ = res.add_cookie(&cookie);
            res
        }
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

#[post("/console/logout")]
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (user, shown) = match console_user(&req, &state).await {
        Ok(u) => u,
        Err(to_login) => return to_login,
    };
    if !csrf_ok(&req, &form.csrf) {
        let csrf = session_csrf(&req, &user.session_id);
        return forbidden_page(&shown, &csrf, "表单已过期或来源不明，请刷新页面后重试。");
    }
    if let Err(e) = crate::auth::store::end_session(&state, &user).await {
        return actix_web::ResponseError::error_response(&e);
    }
    let mut res = redirect("/console/login");
    let mut gone = base_cookie(&req, SESSION_COOKIE, String::new()).finish();
    gone.make_removal();
    let _ = res.add_cookie(&gone);
    res
}

#[derive(Serialize)]
struct QueueRow {
    id: i32,
    subject_name: String,
    status_zh: &'static str,
    deadline: String,
    overdue: bool,
}

fn repair_status_zh(s: &str) -> &'static str {
    match s {
        "submitted" => "已提交，待受理",
        "returned" => "已退回补正",
        "accepted" => "已受理，待审核",
        "approved" => "部门已同意，待市级确认",
        "refused" => "部门不予修复",
        "filed" => "已报送，待市级确认",
        "sent_back" => "市级退回",
        "completed" => "已完成修复",
        "withdrawn" => "已撤回",
        _ => "其他",
    }
}

/// Most repair applications and draft cases the work bench lists; when there are more, the page
/// says how many and where to find the rest.
const WORK_BENCH_ROWS: i64 = 200;

/// 工作台: the open credit-repair applications in the caller's scope, earliest deadline first.
#[get("/console/")]
async fn home(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (user, shown) = match console_user(&req, &state).await {
        Ok(u) => u,
        Err(to_login) => return to_login,
    };
    let csrf = session_csrf(&req, &user.session_id);
    let staff = matches!(user.role, Role::Admin | Role::Bureau | Role::Department);
    let mut repairs: Vec<QueueRow> = Vec::new();
    let mut repairs_total = 0i64;
    let mut objections = Vec::new();
    let mut draft_cases = Vec::new();
    let mut draft_cases_cut = false;
    if staff {
        let filter = crate::repair::applications::RepairFilter {
            status: Some("open".into()),
            region: None,
            department: None,
            overdue: None,
            page: None,
            per_page: Some(WORK_BENCH_ROWS),
        };
        match crate::repair::applications::queue(&state, user.clone(), filter).await {
            Ok(page) => {
                repairs_total = page.total;
                repairs.extend(page.items.into_iter().map(|r| {
                    QueueRow {
                        id: r.id,
                        subject_name: r.subject.name.clone(),
                        status_zh: repair_status_zh(&r.status),
                        deadline: r
                            .deadline
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "—".into()),
                        overdue: r.overdue,
                    }
                }))
            }
            Err(e) => return actix_web::ResponseError::error_response(&e),
        }
        match crate::entries::objections::open_in_scope(&state, user.clone()).await {
            Ok(o) => objections = o,
            Err(e) => return actix_web::ResponseError::error_response(&e),
        }
        let filter = crate::cases::store::CaseFilter {
            status: Some("draft".into()),
            kind: None,
            department_id: None,
            region_code: None,
            from: None,
            to: None,
            subject: None,
            format: None,
            page: None,
            per_page: Some(WORK_BENCH_ROWS),
        };
        match crate::cases::store::cases_page(&state, user.clone(), filter).await {
            // Those the caller may submit (not the ones it only takes part in).
            Ok(p) => {
                draft_cases_cut = p.total > p.items.len() as i64;
                draft_cases = p.items;
                draft_cases.retain(|c| user.may_manage_department(c.department_id, &c.region_code));
            }
            Err(e) => return actix_web::ResponseError::error_response(&e),
        }
    }
    render(
        actix_web::http::StatusCode::OK,
        "home.html",
        context! {
            user => shown, csrf => csrf, page => "home", repairs => repairs,
            repairs_total => repairs_total, objections => objections,
            draft_cases => draft_cases, draft_cases_cut => draft_cases_cut, staff => staff,
            rows => WORK_BENCH_ROWS,
        },
    )
}

fn action_zh(action: &str) -> &'static str {
    match action {
        "submit" => "提交申请",
        "accept" => "受理",
        "return" => "退回补正",
        "approve" => "同意修复",
        "refuse" => "不予修复",
        "file" => "报送市级",
        "confirm" => "确认修复",
        "send_back" => "退回部门",
        "resubmit" => "重新提交",
        "withdraw" => "撤回申请",
        _ => "其他",
    }
}

#[derive(Serialize)]
struct ActionButton {
    action: String,
    label: &'static str,
    comment_required: bool,
}

#[derive(Deserialize)]
struct RepairQuery {
    done: Option<String>,
}

/// Renders one application with the review steps open to the caller.
fn repair_page(
    status: actix_web::http::StatusCode,
    shown: &Shown,
    csrf: &str,
    r: &crate::repair::applications::RepairView,
    done: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let actions: Vec<ActionButton> = r
        .allowed_actions
        .iter()
        .filter_map(|a| crate::repair::applications::review_step(a))
        .map(|s| ActionButton {
            action: s.action.to_string(),
            label: action_zh(s.action),
            comment_required: s.comment_required,
        })
        .collect();
    render(
        status,
        "repair.html",
        context! {
            user => shown, csrf => csrf, page => "repairs", r => r,
            status_zh => repair_status_zh(&r.summary.status),
            actions => actions,
            done => done, error => error,
            step_documents => crate::documents::step_titles(),
        },
    )
}

/// 信用修复审核: one application on one page, with the steps open to the caller.
#[get("/console/repairs/{id}")]
async fn repair(
    signed: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    query: web::Query<RepairQuery>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = signed;
    match crate::repair::applications::view(&state, user, path.into_inner()).await {
        Ok(r) => {
            let done = query
                .done
                .as_deref()
                .map(action_zh)
                .map(|a| format!("已{a}。"));
            repair_page(
                actix_web::http::StatusCode::OK,
                &shown,
                &csrf,
                &r,
                done.as_deref(),
                None,
            )
        }
        Err(ApiError::NotFound(_)) => not_found_page(&shown, &csrf, "没有这份信用修复申请。"),
        Err(ApiError::Forbidden(_)) => {
            forbidden_page(&shown, &csrf, "这份申请不在您的办理范围内。")
        }
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

#[derive(Deserialize)]
struct StepForm {
    csrf: String,
    version: i32,
    comment: Option<String>,
}

/// A review step from the page's form: the same rules as the API (role, scope, state, version,
/// required reasons). A stale version says another reviewer acted first.
#[post("/console/repairs/{id}/{action}")]
async fn repair_step(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    form: web::Form<StepForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &form.csrf));
    let (id, action) = path.into_inner();
    let Some(step) = crate::repair::applications::review_step(&action) else {
        return not_found_page(&shown, &csrf, "没有这个办理环节。");
    };
    let form = form.into_inner();
    let result = crate::repair::applications::apply_step(
        &state,
        user.clone(),
        id,
        step,
        Some(form.version),
        form.comment,
        None,
    )
    .await;
    let message = match result {
        Ok(_) => return redirect(&format!("/console/repairs/{id}?done={action}")),
        Err(ApiError::Conflict {
            code: "version_conflict",
            ..
        }) => (
            actix_web::http::StatusCode::CONFLICT,
            "另一位审核人已处理这份申请，以下为最新状态。",
        ),
        Err(ApiError::Conflict { .. }) => (
            actix_web::http::StatusCode::CONFLICT,
            "申请当前所处环节不能进行此操作，以下为最新状态。",
        ),
        Err(ApiError::Invalid { .. }) => (
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "请填写理由（不超过 2000 字）。",
        ),
        Err(ApiError::Forbidden(_)) => {
            return forbidden_page(&shown, &csrf, "此环节不由您办理。");
        }
        Err(ApiError::NotFound(_)) => {
            return not_found_page(&shown, &csrf, "没有这份信用修复申请。")
        }
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    match crate::repair::applications::view(&state, user, id).await {
        Ok(r) => repair_page(message.0, &shown, &csrf, &r, None, Some(message.1)),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

fn kind_names() -> std::collections::BTreeMap<&'static str, &'static str> {
    [
        ("enterprise", "企业"),
        ("individual", "自然人"),
        ("other_organisation", "其他组织"),
    ]
    .into_iter()
    .collect()
}

async fn region_names(
    state: &web::Data<AppState>,
) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    crate::db::run(&state.pool, move |conn| {
        Ok(crate::org::store::list_regions(conn)?
            .into_iter()
            .map(|r| (r.code, r.name))
            .collect())
    })
    .await
}

#[derive(Deserialize)]
struct SearchForm {
    q: Option<String>,
}

/// 主体查询: search by code (exact) or part of a name.
#[get("/console/subjects")]
async fn subjects(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<SearchForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.allowed(
        |_, shown| shown.may_search_subjects,
        "主体查询仅供工作人员使用。"
    ));
    let q = query.into_inner().q.unwrap_or_default();
    let regions = match region_names(&state).await {
        Ok(r) => r,
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let mut results: Option<Vec<crate::entries::SubjectRef>> = None;
    let mut total = 0;
    let mut error: Option<&str> = None;
    if !q.trim().is_empty() {
        let f = crate::entries::profiles::SubjectSearch {
            q: q.clone(),
            page: None,
            per_page: Some(100),
        };
        match crate::entries::profiles::find_subjects(&state, user, f).await {
            Ok(page) => {
                total = page.total;
                results = Some(page.items);
            }
            Err(ApiError::BadRequest { .. }) => error = Some("查询内容应为 1 至 100 个字符。"),
            Err(e) => return actix_web::ResponseError::error_response(&e),
        }
    }
    render(
        actix_web::http::StatusCode::OK,
        "subjects.html",
        context! {
            user => shown, csrf => csrf, page => "subjects", q => q, results => results,
            total => total, error => error, kind_zh => kind_names(), region_names => regions,
        },
    )
}

fn entry_status_names() -> std::collections::BTreeMap<&'static str, &'static str> {
    [
        ("draft", "草稿"),
        ("pending", "尚未生效"),
        ("in_force", "在册"),
        ("expired", "已到期"),
        ("removed", "已移出"),
    ]
    .into_iter()
    .collect()
}

fn removal_zh(reason: &str) -> &'static str {
    match reason {
        "expired" => "到期移出",
        "repaired" => "信用修复后移出",
        "objection_upheld" => "异议成立移出",
        "revoked" => "撤销认定",
        "standard_changed" => "认定标准调整移出",
        "black_listed_while_red" => "因列入黑名单移出红名单",
        "source_removed" => "国家层面来源已移出",
        _ => "移出",
    }
}

#[derive(Serialize)]
struct TimelineItem {
    day: chrono::NaiveDate,
    text: String,
}

/// The subject's history as dated events: each entry's determination, its end (removal or
/// expiry), oldest first.
fn timeline(p: &crate::entries::profiles::SubjectProfile) -> Vec<TimelineItem> {
    let mut items = Vec::new();
    for e in &p.entries {
        let list = if e.list_type == crate::entries::ListType::Red {
            "红名单"
        } else {
            "黑名单"
        };
        if e.status == "draft" {
            continue;
        }
        items.push(TimelineItem {
            day: e.valid_from,
            text: format!(
                "{}认定列入{}（{}，{}）",
                e.department_name, list, e.scope_item_title, e.document_number
            ),
        });
        match (e.removal_date, &e.removal_reason) {
            (Some(d), Some(r)) => items.push(TimelineItem {
                day: d,
                text: format!("{}：{}（{}）", removal_zh(r), list, e.document_number),
            }),
            _ if e.valid_until < p.as_of => items.push(TimelineItem {
                day: e.valid_until,
                text: format!("{}有效期届满（{}）", list, e.document_number),
            }),
            _ => {}
        }
    }
    items.sort_by_key(|i| i.day);
    items
}

/// One subject: its red and black entries, a timeline and its commitments.
#[get("/console/subjects/{code}")]
async fn subject(
    signed: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.allowed(
        |_, shown| shown.may_search_subjects,
        "主体查询仅供工作人员使用。"
    ));
    let profile = match crate::entries::profiles::load_profile(
        &state,
        user,
        &path.into_inner(),
        None,
    )
    .await
    {
        Ok(p) => p,
        Err(ApiError::NotFound(_) | ApiError::Invalid { .. }) => {
            return not_found_page(&shown, &csrf, "没有这个主体的记录，或代码有误。")
        }
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let regions = match region_names(&state).await {
        Ok(r) => r,
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let events = timeline(&profile);
    render(
        actix_web::http::StatusCode::OK,
        "subject.html",
        context! {
            user => shown, csrf => csrf, page => "subjects", p => profile, timeline => events,
            kind_zh => kind_names(), region_names => regions, entry_status_zh => entry_status_names(),
        },
    )
}

#[derive(Deserialize)]
struct TargetsForm {
    year: Option<i32>,
    as_of: Option<chrono::NaiveDate>,
}

#[derive(Serialize)]
struct TargetRow {
    name: String,
    figures: Vec<(&'static str, crate::targets::formulas::Figure)>,
}

fn target_row(name: String, r: &crate::targets::RegionTargets) -> TargetRow {
    TargetRow {
        name,
        figures: vec![
            ("红黑名单数量（覆盖率）", r.list_coverage.clone()),
            ("联合奖惩案例", r.case_ratio.clone()),
            ("信用修复培训率", r.training_rate.clone()),
            ("信用承诺比例", r.commitment_ratio.clone()),
            ("专项治理对象整改退出率", r.special_exit_rate.clone()),
            ("专项治理对象信用承诺率", r.special_commitment_rate.clone()),
        ],
    }
}

/// 年度目标: the four ratios of section 六 and the two of section 九 against their goals, for the
/// caller's region and (for the whole city) each county/district/zone.
#[get("/console/targets")]
async fn targets(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<TargetsForm>,
) -> HttpResponse {
    let (_, shown, csrf, report) =
        match reports::caller_report(signed, &state, query.year, query.as_of).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let total_name = if report.region_code == crate::auth::CITY_REGION {
        "全市合计".to_string()
    } else {
        report.total.region_name.clone()
    };
    let mut rows = vec![target_row(total_name, &report.total)];
    for r in &report.regions {
        let name = if r.region_code == crate::auth::CITY_REGION {
            "市本级".to_string()
        } else {
            r.region_name.clone()
        };
        rows.push(target_row(name, r));
    }
    render(
        actix_web::http::StatusCode::OK,
        "targets.html",
        context! { user => shown, csrf => csrf, page => "targets", report => report, rows => rows },
    )
}

#[get("/console/static/console.css")]
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("templates/console.css"))
}

#[get("/console")]
async fn bare() -> HttpResponse {
    redirect("/console/")
}

/// The console's routes (HTML, not part of the OpenAPI document).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login_page)
        .service(login_submit)
        .service(logout)
        .service(home)
        .service(targets)
        .service(repair)
        .service(repair_step)
        .service(subjects)
        .service(subject)
        .service(stylesheet)
        .service(bare)
        .configure(imports::routes)
        .configure(entries::routes)
        .configure(four_lists::routes)
        .configure(cases::routes)
        .configure(reports::routes)
        .configure(checks::routes)
        .configure(documents::routes);
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        let env = super::templates();
        for name in [
            "layout.html",
            "login.html",
            "home.html",
            "targets.html",
            "error.html",
            "repair.html",
            "subjects.html",
            "subject.html",
            "entries.html",
            "four_lists.html",
            "import.html",
            "entry_new.html",
            "item_edit.html",
            "cases.html",
            "case.html",
            "case_new.html",
            "trend.html",
            "scorecards.html",
        ] {
            env.get_template(name).unwrap();
        }
    }
}
