//! 红黑名单 in the console: browse and filter entries, publish or discard drafts, identify a new
//! entry, export. Every action calls the entries' store, so the rules, scope and audit are the API's.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::pages::{api_error, departments, error_for, invalid_messages};
use super::{not_found_page, or_page, redirect, render, Shown, SignedIn};
use crate::auth::{AuthUser, Role};
use crate::entries::ListType;
use crate::error::ApiError;
use crate::four_lists::ItemKind;
use crate::state::AppState;

/// Staff who keep the lists (approval systems have no list pages).
pub(super) fn may_keep_lists(user: &AuthUser) -> bool {
    matches!(user.role, Role::Admin | Role::Bureau | Role::Department)
}

/// The filters of the 红黑名单 page as the browser sends them (empty means "any").
#[derive(Debug, Default, Deserialize, Serialize)]
struct EntriesQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    list_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    department_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    q: String,
    #[serde(default, skip_serializing)]
    page: Option<i64>,
    #[serde(default, skip_serializing)]
    done: Option<String>,
}

const ENTRY_STATUSES: [(&str, &str); 6] = [
    ("draft", "草稿"),
    ("pending", "尚未生效"),
    ("in_force", "在册"),
    ("expired", "已到期"),
    ("removed", "已移出"),
    ("published", "已发布（含到期）"),
];

fn done_zh(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "published" => Some("已发布。"),
        "discarded" => Some("草稿已删除。"),
        "created" => Some("已保存为草稿，核对后请发布。"),
        "imported" => Some("导入完成。"),
        _ => None,
    }
}

/// 红黑名单: the entries the caller may see, filtered, fifty to a page.
#[get("/console/entries")]
async fn entries(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<EntriesQuery>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } =
        or_page!(signed.allowed(|user, _| may_keep_lists(user), "红黑名单仅供工作人员使用。"));
    let q = query.into_inner();
    let page = q.page.unwrap_or(1).max(1);
    let filter = crate::entries::store::EntryFilter {
        list_type: q.list_type(),
        department_id: q.department_id(),
        region_code: None,
        status: EntriesQuery::non_empty(&q.status),
        source: None,
        subject: None,
        determined_from: None,
        determined_to: None,
        q: EntriesQuery::non_empty(&q.q),
        sort: None,
        page: Some(page),
        per_page: Some(50),
    };
    let result = crate::entries::store::entries_page(&state, user, filter).await;
    let result = match result {
        Ok(r) => r,
        Err(e) => return error_for(&shown, &csrf, e),
    };
    let departments = match departments(&state).await {
        Ok(d) => d,
        Err(e) => return api_error(e),
    };
    let pages = (result.total + 49) / 50;
    render(
        StatusCode::OK,
        "entries.html",
        context! {
            user => shown, csrf => csrf, page => "entries", f => &q, result => result,
            pages => pages, statuses => ENTRY_STATUSES, departments => departments,
            status_zh => super::entry_status_names(), done => done_zh(q.done.as_deref()),
        },
    )
}

/// 导出: the filtered entries as a spreadsheet, through the API's export.
#[get("/console/entries/export")]
async fn entries_export(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<EntriesQuery>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } =
        or_page!(signed.allowed(|user, _| may_keep_lists(user), "红黑名单仅供工作人员使用。"));
    let q = query.into_inner();
    let export = crate::entries::import::ExportQuery {
        format: None,
        list_type: q.list_type(),
        department_id: q.department_id(),
        region_code: None,
        status: EntriesQuery::non_empty(&q.status),
        source: None,
        subject: None,
        determined_from: None,
        determined_to: None,
        q: EntriesQuery::non_empty(&q.q),
    };
    match crate::entries::import::export_file(&state, user, export).await {
        Ok(file) => file,
        Err(e) => error_for(&shown, &csrf, e),
    }
}

/// 发布 or 删除 one draft entry.
#[post("/console/entries/{id}/{action}")]
async fn entry_action(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    form: web::Form<super::CsrfForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &form.csrf));
    let (id, action) = path.into_inner();
    let outcome = match action.as_str() {
        "publish" => crate::entries::store::publish_draft(&state, user, id)
            .await
            .map(|_| "published"),
        "discard" => crate::entries::store::discard(&state, user, id)
            .await
            .map(|_| "discarded"),
        _ => return not_found_page(&shown, &csrf, "没有这个操作。"),
    };
    match outcome {
        Ok(done) => redirect(&format!("/console/entries?status=draft&done={done}")),
        Err(e) => error_for(&shown, &csrf, e),
    }
}

/// The new-entry form as typed (kept when the form comes back with errors).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct EntryForm {
    #[serde(skip_serializing)]
    csrf: String,
    scope_item_id: String,
    subject_code: String,
    subject_name: String,
    legal_representative: String,
    document_number: String,
    determination_date: String,
    valid_from: String,
    valid_until: String,
    facts: String,
    internal_note: String,
    source: String,
    #[serde(default)]
    notice_date: String,
    #[serde(default)]
    statement_outcome: String,
}

/// A published red- or black-list scope item the caller may cite.
#[derive(Serialize)]
struct ScopeOption {
    id: i32,
    department_id: i32,
    red: bool,
    label: String,
}

async fn scope_options(
    state: &web::Data<AppState>,
    user: &AuthUser,
) -> Result<Vec<ScopeOption>, ApiError> {
    let mut options = Vec::new();
    for kind in [ItemKind::BlackScope, ItemKind::RedScope] {
        let filter = crate::four_lists::store::ItemFilter {
            kind: Some(kind),
            department_id: user.department_id,
            region_code: None,
            status: Some("published".into()),
            q: None,
            page: Some(1),
            per_page: Some(200),
        };
        let page = crate::four_lists::store::items_page(state, user.clone(), filter).await?;
        options.extend(
            page.items
                .into_iter()
                .filter(|i| user.may_manage_department(i.department_id, &i.region_code))
                .map(|i| ScopeOption {
                    id: i.id,
                    department_id: i.department_id,
                    red: kind == ItemKind::RedScope,
                    label: format!("{} {}（{}）", i.code, i.title, i.department_name),
                }),
        );
    }
    Ok(options)
}

async fn entry_form_page(
    state: &web::Data<AppState>,
    status: StatusCode,
    user: &AuthUser,
    shown: &Shown,
    csrf: &str,
    form: &EntryForm,
    errors: &[String],
) -> HttpResponse {
    match scope_options(state, user).await {
        Ok(options) => render(
            status,
            "entry_new.html",
            context! {
                user => shown, csrf => csrf, page => "entries", form => form, errors => errors,
                options => options,
            },
        ),
        Err(e) => api_error(e),
    }
}

/// 新增认定: the form for one entry (saved as a draft).
#[get("/console/entries/new")]
async fn new_entry(signed: SignedIn, state: web::Data<AppState>) -> HttpResponse {
    let SignedIn { user, shown, csrf } =
        or_page!(signed.allowed(|user, _| may_keep_lists(user), "红黑名单仅供工作人员使用。"));
    let form = EntryForm {
        determination_date: crate::entries::today().to_string(),
        ..Default::default()
    };
    entry_form_page(&state, StatusCode::OK, &user, &shown, &csrf, &form, &[]).await
}

/// 新增认定: the posted form, recorded as a draft through the API's rules.
#[post("/console/entries/new")]
async fn create_entry(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<EntryForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &form.csrf));
    let options = match scope_options(&state, &user).await {
        Ok(o) => o,
        Err(e) => return error_for(&shown, &csrf, e),
    };
    let rejected = |errors: Vec<String>| {
        let (state, user, shown, csrf, form) = (&state, &user, &shown, &csrf, &form);
        async move {
            entry_form_page(
                state,
                StatusCode::UNPROCESSABLE_ENTITY,
                user,
                shown,
                csrf,
                form,
                &errors,
            )
            .await
        }
    };
    let input = match form.to_entry(&options) {
        Ok(i) => i,
        Err(errors) => return rejected(errors).await,
    };
    match crate::entries::store::create_draft(&state, user.clone(), input).await {
        Ok(_) => redirect("/console/entries?status=draft&done=created"),
        Err(ApiError::Invalid {
            errors,
            detail,
            code,
        }) => {
            let messages = invalid_messages(&errors, code, &detail, |f| {
                crate::entries::import::field_header(f)
                    .unwrap_or(f)
                    .to_string()
            });
            rejected(messages).await
        }
        Err(e) => error_for(&shown, &csrf, e),
    }
}

impl EntriesQuery {
    fn list_type(&self) -> Option<ListType> {
        match self.list_type.as_str() {
            "red" => Some(ListType::Red),
            "black" => Some(ListType::Black),
            _ => None,
        }
    }

    fn department_id(&self) -> Option<i32> {
        self.department_id.parse().ok()
    }

    fn non_empty(s: &str) -> Option<String> {
        Some(s.trim().to_string()).filter(|s| !s.is_empty())
    }
}

impl EntryForm {
    /// The API's input, or what the form itself cannot read.
    fn to_entry(
        &self,
        options: &[ScopeOption],
    ) -> Result<crate::entries::store::NewEntry, Vec<String>> {
        let mut errors = Vec::new();
        let scope = options
            .iter()
            .find(|o| o.id.to_string() == self.scope_item_id);
        if scope.is_none() {
            errors.push("清单事项：请选择本部门已发布的红名单或黑名单认定范围".to_string());
        }
        let date = |label: &str, raw: &str, errors: &mut Vec<String>| {
            if raw.is_empty() {
                return None;
            }
            let d = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
            if d.is_none() {
                errors.push(format!("{label}：请按 YYYY-MM-DD 填写"));
            }
            d
        };
        let determination = date("认定日期", &self.determination_date, &mut errors);
        if self.determination_date.is_empty() {
            errors.push("认定日期：必填".to_string());
        }
        let valid_from = date("有效期起", &self.valid_from, &mut errors);
        let valid_until = date("有效期止", &self.valid_until, &mut errors);
        let notice_date = date("告知日期", &self.notice_date, &mut errors);
        let statement_outcome = match self.statement_outcome.as_str() {
            "" => None,
            raw => {
                let o = crate::entries::StatementOutcome::parse(raw);
                if o.is_none() {
                    errors.push("陈述申辩情况：请从列表中选择".to_string());
                }
                o
            }
        };
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        match (scope, determination) {
            (Some(scope), Some(determination_date)) if errors.is_empty() => {
                Ok(crate::entries::store::NewEntry {
                    list_type: if scope.red {
                        ListType::Red
                    } else {
                        ListType::Black
                    },
                    subject_code: self.subject_code.trim().to_string(),
                    subject_kind: None,
                    subject_name: self.subject_name.trim().to_string(),
                    legal_representative: opt(&self.legal_representative),
                    legal_representative_id: None,
                    region_code: None,
                    department_id: Some(scope.department_id),
                    scope_item_id: scope.id,
                    document_number: self.document_number.trim().to_string(),
                    determination_date,
                    valid_from,
                    valid_until,
                    facts: self.facts.trim().to_string(),
                    internal_note: opt(&self.internal_note),
                    source: if self.source == "national" {
                        crate::entries::Source::National
                    } else {
                        crate::entries::Source::Local
                    },
                    notice_date,
                    statement_outcome,
                    acknowledge_invalid_checksum: false,
                })
            }
            _ => Err(errors),
        }
    }
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(entries)
        .service(entries_export)
        .service(new_entry)
        .service(create_entry)
        .service(entry_action);
}
