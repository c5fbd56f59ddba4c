//! 联合奖惩案例 in the console: the list with filters and export, one case with its submit and
//! share steps, filing a new case on a form, and starting one from a credit check's feedback.
//! Every step calls the API's function, so its rules, scope and audit apply.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::pages::{api_error, error_for};
use super::{not_found_page, or_page, redirect, render, Shown, SignedIn};
use crate::auth::{AuthUser, Role};
use crate::cases::store::{CaseFilter, CaseSubjectInput, NewCase};
use crate::cases::CaseKind;
use crate::error::ApiError;
use crate::state::AppState;

fn may_file(user: &AuthUser) -> bool {
    matches!(user.role, Role::Admin | Role::Bureau | Role::Department)
}

/// The console's form files for the caller's own department: accounts bound to one.
fn may_file_new(user: &AuthUser) -> bool {
    may_file(user) && (user.role == Role::Department || user.department_id.is_some())
}

const STATUSES: [(&str, &str); 3] = [
    ("draft", "草稿"),
    ("submitted", "已报送"),
    ("shared", "已共享"),
];

fn kind_zh() -> std::collections::BTreeMap<&'static str, &'static str> {
    [CaseKind::Reward, CaseKind::Punishment]
        .into_iter()
        .map(|k| (k.as_str(), k.zh()))
        .collect()
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct CasesQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(default, skip_serializing)]
    page: Option<i64>,
}

impl CasesQuery {
    fn filter(&self, page: Option<i64>, per_page: Option<i64>) -> CaseFilter {
        CaseFilter {
            status: Some(self.status.clone()).filter(|s| !s.is_empty()),
            kind: CaseKind::parse(&self.kind),
            department_id: None,
            region_code: None,
            from: None,
            to: None,
            subject: None,
            format: None,
            page,
            per_page,
        }
    }
}

/// 联合奖惩案例: the cases in the caller's scope, newest first.
#[get("/console/cases")]
async fn cases(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<CasesQuery>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } =
        or_page!(signed.allowed(|user, _| may_file(user), "联合奖惩案例仅供工作人员使用。"));
    let q = query.into_inner();
    let page = q.page.unwrap_or(1).max(1);
    let filer = may_file_new(&user);
    // Accounts bound to no department name the filing department of a case from feedback.
    let departments = if user.department_id.is_none() {
        match super::pages::departments(&state).await {
            Ok(d) => d,
            Err(e) => return api_error(e),
        }
    } else {
        Vec::new()
    };
    let result =
        match crate::cases::store::cases_page(&state, user, q.filter(Some(page), Some(50))).await {
            Ok(r) => r,
            Err(e) => return error_for(&shown, &csrf, e),
        };
    let pages = (result.total + 49) / 50;
    render(
        StatusCode::OK,
        "cases.html",
        context! {
            user => shown, csrf => csrf, page => "cases", f => &q, result => result, pages => pages,
            may_file_new => filer, departments => departments,
            statuses => STATUSES, kind_zh => kind_zh(),
            status_zh => STATUSES.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
        },
    )
}

/// 导出: the filtered cases as a spreadsheet, through the API's export.
#[get("/console/cases/export")]
async fn cases_export(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<CasesQuery>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = signed;
    let f = query.into_inner().filter(None, None);
    match crate::cases::store::export_file(&state, user, f).await {
        Ok(file) => file,
        Err(e) => error_for(&shown, &csrf, e),
    }
}

#[derive(Deserialize)]
struct CaseQuery {
    done: Option<String>,
}

fn case_page(
    shown: &Shown,
    csrf: &str,
    user: &AuthUser,
    c: &crate::cases::CaseView,
    done: Option<&str>,
) -> HttpResponse {
    let may_submit = c.status == "draft"
        && match user.role {
            Role::Department => user.department_id == Some(c.department_id),
            Role::Admin | Role::Bureau => user.covers_region(&c.region_code),
            Role::ApprovalSystem => false,
        };
    let may_share = c.status == "submitted"
        && matches!(user.role, Role::Admin | Role::Bureau)
        && user.covers_region(&c.region_code);
    let done = match done {
        Some("filed") => Some("案例已登记为草稿。"),
        Some("submit") => Some("已报送。"),
        Some("share") => Some("已共享至省级平台。"),
        _ => None,
    };
    render(
        StatusCode::OK,
        "case.html",
        context! {
            user => shown, csrf => csrf, page => "cases", c => c, kind_zh => kind_zh(),
            status_zh => STATUSES.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
            may_submit => may_submit, may_share => may_share, done => done,
        },
    )
}

/// One case with the steps open to the caller.
#[get("/console/cases/{id}")]
async fn case(
    signed: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    query: web::Query<CaseQuery>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = signed;
    match crate::cases::store::case_by_id(&state, user.clone(), path.into_inner()).await {
        Ok(c) => case_page(&shown, &csrf, &user, &c, query.done.as_deref()),
        Err(ApiError::NotFound(_)) => {
            not_found_page(&shown, &csrf, "没有这个案例，或不在您的范围内。")
        }
        Err(e) => error_for(&shown, &csrf, e),
    }
}

/// 报送 (submit) or 共享 (share) one case.
#[post("/console/cases/{id}/{step}")]
async fn case_step(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    form: web::Form<super::CsrfForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &form.csrf));
    let (id, step) = path.into_inner();
    let outcome = match step.as_str() {
        "submit" => crate::cases::store::submit_case(&state, user, id).await,
        "share" => crate::cases::store::share_case(&state, user, id).await,
        _ => return not_found_page(&shown, &csrf, "没有这个操作。"),
    };
    match outcome {
        Ok(_) => redirect(&format!("/console/cases/{id}?done={step}")),
        Err(e) => error_for(&shown, &csrf, e),
    }
}

/// The new-case form as typed (kept when the form comes back with errors).
#[derive(Debug, Default, Serialize)]
struct CaseForm {
    title: String,
    kind: String,
    subject_code: String,
    subject_name: String,
    field: String,
    case_date: String,
    summary: String,
    entry_ids: String,
    measures: Vec<String>,
}

impl CaseForm {
    fn from_pairs(pairs: &[(String, String)]) -> (String, CaseForm) {
        let mut csrf = String::new();
        let mut f = CaseForm::default();
        for (k, v) in pairs {
            let v = v.trim().to_string();
            match k.as_str() {
                "csrf" => csrf = v,
                "title" => f.title = v,
                "kind" => f.kind = v,
                "subject_code" => f.subject_code = v,
                "subject_name" => f.subject_name = v,
                "field" => f.field = v,
                "case_date" => f.case_date = v,
                "summary" => f.summary = v,
                "entry_ids" => f.entry_ids = v,
                "measure" => f.measures.push(v),
                _ => {}
            }
        }
        (csrf, f)
    }

    /// The API's input, or the fields the form itself cannot read.
    fn to_case(&self) -> Result<NewCase, Vec<String>> {
        let mut errors = Vec::new();
        let kind = CaseKind::parse(&self.kind);
        if kind.is_none() {
            errors.push("类型：请选择守信激励或失信惩戒".to_string());
        }
        let case_date = chrono::NaiveDate::parse_from_str(&self.case_date, "%Y-%m-%d").ok();
        if case_date.is_none() {
            errors.push("案例日期：请按 YYYY-MM-DD 填写".to_string());
        }
        let entry_ids: Result<Vec<i32>, _> = self
            .entry_ids
            .split([',', '，', ' ', '、'])
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect();
        if entry_ids.is_err() {
            errors.push("关联名单编号：请填写数字编号，多个用逗号分隔".to_string());
        }
        let measures: Result<Vec<i32>, _> = self.measures.iter().map(|m| m.parse()).collect();
        if measures.is_err() {
            errors.push("采取的措施：选择无效".to_string());
        }
        match (kind, case_date, entry_ids, measures) {
            (Some(kind), Some(case_date), Ok(entry_ids), Ok(measure_item_ids))
                if errors.is_empty() =>
            {
                Ok(NewCase {
                    title: self.title.clone(),
                    kind,
                    department_id: None,
                    subjects: if self.subject_code.is_empty() && self.subject_name.is_empty() {
                        vec![]
                    } else {
                        vec![CaseSubjectInput {
                            code: self.subject_code.clone(),
                            name: self.subject_name.clone(),
                            kind: None,
                        }]
                    },
                    entry_ids,
                    measure_item_ids,
                    department_ids: vec![],
                    field: self.field.clone(),
                    case_date,
                    summary: self.summary.clone(),
                    source_check_id: None,
                })
            }
            _ => Err(errors),
        }
    }
}

/// The labels of the API's fields on the form.
fn field_label(field: &str) -> &str {
    match field {
        "title" => "案例标题",
        "kind" => "类型",
        "field" => "领域",
        "case_date" => "案例日期",
        "summary" => "案例摘要",
        "entry_ids" => "关联名单编号",
        "measure_item_ids" => "采取的措施",
        "department_id" => "立案部门",
        f if f.starts_with("subjects") && f.ends_with("name") => "主体名称",
        f if f.starts_with("subjects") => "主体代码",
        f if f.starts_with("entry_ids") => "关联名单编号",
        f if f.starts_with("measure_item_ids") => "采取的措施",
        other => other,
    }
}

/// The published measures a case may name: (id, kind, code, title).
#[derive(Serialize)]
struct MeasureOption {
    id: i32,
    kind: &'static str,
    label: String,
}

async fn measure_options(
    state: &web::Data<AppState>,
    user: &AuthUser,
) -> Result<Vec<MeasureOption>, ApiError> {
    let mut options = Vec::new();
    for (kind, case_kind) in [
        (crate::four_lists::ItemKind::IncentiveMeasures, "reward"),
        (
            crate::four_lists::ItemKind::PunishmentMeasures,
            "punishment",
        ),
    ] {
        let filter = crate::four_lists::store::ItemFilter {
            kind: Some(kind),
            department_id: None,
            region_code: None,
            status: Some("published".into()),
            q: None,
            page: Some(1),
            per_page: Some(200),
        };
        let page = crate::four_lists::store::items_page(state, user.clone(), filter).await?;
        options.extend(page.items.into_iter().map(|i| MeasureOption {
            id: i.id,
            kind: case_kind,
            label: format!("{} {}（{}）", i.code, i.title, i.department_name),
        }));
    }
    Ok(options)
}

async fn new_case_page(
    state: &web::Data<AppState>,
    status: StatusCode,
    user: &AuthUser,
    shown: &Shown,
    csrf: &str,
    form: &CaseForm,
    errors: &[String],
) -> HttpResponse {
    let (fields, measures) = match (
        super::pages::fields(state).await,
        measure_options(state, user).await,
    ) {
        (Ok(f), Ok(m)) => (f, m),
        (Err(e), _) | (_, Err(e)) => return api_error(e),
    };
    render(
        status,
        "case_new.html",
        context! {
            user => shown, csrf => csrf, page => "cases", form => form, errors => errors,
            fields => fields, measures => measures,
        },
    )
}

/// 登记案例: the form.
#[get("/console/cases/new")]
async fn new_case(signed: SignedIn, state: web::Data<AppState>) -> HttpResponse {
    let SignedIn { user, shown, csrf } =
        or_page!(signed.allowed(|user, _| may_file_new(user), "案例由部门登记。"));
    let form = CaseForm {
        case_date: crate::entries::today().to_string(),
        ..Default::default()
    };
    new_case_page(&state, StatusCode::OK, &user, &shown, &csrf, &form, &[]).await
}

/// 登记案例: the posted form, filed as a draft through the API's rules.
#[post("/console/cases/new")]
async fn file_case(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let (sent_csrf, form) = CaseForm::from_pairs(&pairs);
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &sent_csrf));
    let input = match form.to_case() {
        Ok(i) => i,
        Err(errors) => {
            return new_case_page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                &user,
                &shown,
                &csrf,
                &form,
                &errors,
            )
            .await
        }
    };
    match crate::cases::store::file_case(&state, user.clone(), input, None).await {
        Ok((_, c)) => redirect(&format!("/console/cases/{}?done=filed", c.id)),
        Err(ApiError::Invalid {
            errors,
            detail,
            code,
        }) => {
            let messages = super::pages::invalid_messages(&errors, code, &detail, |f| {
                field_label(f).to_string()
            });
            new_case_page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                &user,
                &shown,
                &csrf,
                &form,
                &messages,
            )
            .await
        }
        Err(e) => error_for(&shown, &csrf, e),
    }
}

#[derive(Deserialize)]
struct FeedbackForm {
    csrf: String,
    check_id: String,
    /// The filing department when the check was made by an account without one (offered to
    /// accounts bound to no department).
    #[serde(default)]
    department_id: String,
}

/// 从核查反馈生成: a draft case from a credit check whose feedback applied measures.
#[post("/console/cases/from-feedback")]
async fn from_feedback(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<FeedbackForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &form.csrf));
    let Ok(check_id) = form.check_id.trim().parse::<i32>() else {
        return super::pages::error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &shown,
            &csrf,
            "请求内容有误",
            "核查记录编号应为数字。",
        );
    };
    let department = form.department_id.trim().parse::<i32>().ok();
    match crate::cases::store::draft_from_feedback(&state, user, check_id, department).await {
        Ok(c) => redirect(&format!("/console/cases/{}?done=filed", c.id)),
        Err(ApiError::Conflict { code, .. }) => super::pages::error_page(
            StatusCode::CONFLICT,
            &shown,
            &csrf,
            "不能生成案例",
            if code == "no_feedback" {
                "这次核查尚无审批反馈。"
            } else {
                "审批反馈未采取任何措施，无需登记案例。"
            },
        ),
        Err(ApiError::NotFound(_)) => not_found_page(&shown, &csrf, "没有这条核查记录。"),
        Err(e) => error_for(&shown, &csrf, e),
    }
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    // Fixed paths before the `{id}` ones.
    cfg.service(cases)
        .service(cases_export)
        .service(new_case)
        .service(file_case)
        .service(from_feedback)
        .service(case)
        .service(case_step);
}
