//! 红黑名单 and 四张清单 in the console: browse and filter, publish or discard drafts, Excel
//! import with the row error report as a table, templates and export. Every action calls the
//! same function as the API, so the rules, scope and audit are the API's.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use futures_util::StreamExt;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{csrf_ok, forbidden_page, not_found_page, or_page, redirect, render, Shown, SignedIn};
use crate::auth::{AuthUser, Role};
use crate::entries::ListType;
use crate::error::ApiError;
use crate::four_lists::ItemKind;
use crate::imports::ImportReport;
use crate::state::AppState;

/// What the console sends back for an error it does not turn into its own page.
pub(super) fn api_error(e: ApiError) -> HttpResponse {
    actix_web::ResponseError::error_response(&e)
}

pub(super) fn error_page(
    status: StatusCode,
    shown: &Shown,
    csrf: &str,
    title: &str,
    message: &str,
) -> HttpResponse {
    render(
        status,
        "error.html",
        context! { user => shown, csrf => csrf, title => title, message => message },
    )
}

/// An API error met by a console page, as a page in Chinese (or the API's answer when it is a
/// fault of the service, not of the request).
pub(super) fn error_for(shown: &Shown, csrf: &str, e: ApiError) -> HttpResponse {
    match e {
        ApiError::NotFound(_) => not_found_page(shown, csrf, "没有找到这条记录。"),
        ApiError::Forbidden(_) => forbidden_page(shown, csrf, "此操作不在您的办理范围内。"),
        ApiError::Conflict { detail, .. } => error_page(
            StatusCode::CONFLICT,
            shown,
            csrf,
            "当前状态不能进行此操作",
            &format!("记录已被他人处理或状态已变化（{detail}），请返回列表刷新后重试。"),
        ),
        ApiError::Invalid { detail, errors, .. } | ApiError::BadRequest { detail, errors, .. } => {
            let fields: Vec<String> = errors
                .iter()
                .map(|f| format!("{}：{}", f.field, f.message))
                .collect();
            let message = if fields.is_empty() {
                detail
            } else {
                fields.join("；")
            };
            error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                shown,
                csrf,
                "请求内容有误",
                &message,
            )
        }
        other => api_error(other),
    }
}

/// The reasons of a rejected form, one line per field: "label：中文（English）".
pub(super) fn invalid_messages(
    errors: &[crate::error::FieldError],
    code: &str,
    detail: &str,
    label: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut messages: Vec<String> = errors
        .iter()
        .map(|e| {
            format!(
                "{}：{}",
                label(&e.field),
                crate::imports::zh_message(&e.code, &e.message)
            )
        })
        .collect();
    if messages.is_empty() {
        messages.push(crate::imports::zh_message(code, detail));
    }
    messages
}

/// Staff who keep the lists (approval systems have no list pages).
fn may_keep_lists(user: &AuthUser) -> bool {
    matches!(user.role, Role::Admin | Role::Bureau | Role::Department)
}

pub(super) async fn departments(
    state: &web::Data<AppState>,
) -> Result<Vec<(i32, String)>, ApiError> {
    use crate::schema::departments;
    use diesel::prelude::*;
    crate::db::run(&state.pool, move |conn| {
        Ok(departments::table
            .order(departments::id.asc())
            .select((departments::id, departments::name))
            .load(conn)?)
    })
    .await
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
                    acknowledge_invalid_checksum: false,
                })
            }
            _ => Err(errors),
        }
    }
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

/// Which import a page serves.
#[derive(Clone, Copy)]
enum ImportKind {
    Entries,
    FourLists,
}

impl ImportKind {
    fn title(self) -> &'static str {
        match self {
            ImportKind::Entries => "红黑名单导入",
            ImportKind::FourLists => "四张清单导入",
        }
    }

    fn base(self) -> &'static str {
        match self {
            ImportKind::Entries => "/console/entries",
            ImportKind::FourLists => "/console/four-lists",
        }
    }

    fn nav(self) -> &'static str {
        match self {
            ImportKind::Entries => "entries",
            ImportKind::FourLists => "four_lists",
        }
    }

    fn allowed(self, user: &AuthUser) -> bool {
        match self {
            ImportKind::Entries => may_keep_lists(user),
            ImportKind::FourLists => matches!(user.role, Role::Admin | Role::Department),
        }
    }
}

fn import_page(
    status: StatusCode,
    kind: ImportKind,
    shown: &Shown,
    csrf: &str,
    report: Option<&ImportReport>,
    error: Option<&str>,
) -> HttpResponse {
    render(
        status,
        "import.html",
        context! {
            user => shown, csrf => csrf, page => kind.nav(), title => kind.title(),
            base => kind.base(), report => report, error => error,
        },
    )
}

async fn import_form(signed: SignedIn, kind: ImportKind) -> HttpResponse {
    let SignedIn {
        user: _,
        shown,
        csrf,
    } = or_page!(signed.allowed(|user, _| kind.allowed(user), "您的账号不能导入此清单。"));
    import_page(StatusCode::OK, kind, &shown, &csrf, None, None)
}

/// The fields of the import form.
#[derive(Default)]
struct Upload {
    csrf: String,
    filename: Option<String>,
    file: Vec<u8>,
    dry_run: bool,
    publish: bool,
}

/// Why an upload could not be read.
enum UploadError {
    TooLarge,
    Malformed,
}

/// Reads the multipart form: the file up to `file_limit` bytes, small text fields.
async fn read_form(mut form: Multipart, file_limit: usize) -> Result<Upload, UploadError> {
    let mut upload = Upload::default();
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|_| UploadError::Malformed)?;
        let name = field.name().unwrap_or_default().to_string();
        let limit = if name == "file" { file_limit } else { 1024 };
        if name == "file" {
            upload.filename = field
                .content_disposition()
                .and_then(|d| d.get_filename())
                .map(str::to_string);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| UploadError::Malformed)?;
            if bytes.len() + chunk.len() > limit {
                return Err(UploadError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = || String::from_utf8_lossy(&bytes).trim().to_string();
        match name.as_str() {
            "file" => upload.file = bytes,
            "csrf" => upload.csrf = text(),
            "dry_run" => upload.dry_run = !text().is_empty(),
            "publish" => upload.publish = !text().is_empty(),
            _ => {}
        }
    }
    Ok(upload)
}

async fn import_submit(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Multipart,
    kind: ImportKind,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = signed;
    let fail =
        |status, message: &str| import_page(status, kind, &shown, &csrf, None, Some(message));
    // An upload slot before the body is read, held until the import is done.
    let _slot = match state.uploads.enter() {
        Ok(slot) => slot,
        Err(_) => {
            return fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "其他文件正在导入，请稍后再试。",
            )
        }
    };
    let limit = state.settings.upload_max_bytes;
    let upload = match read_form(form, limit).await {
        Ok(u) => u,
        Err(UploadError::TooLarge) => {
            return fail(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "文件超过 {} MB，请拆分后分批导入。",
                    limit.div_ceil(1 << 20)
                ),
            )
        }
        Err(UploadError::Malformed) => {
            return fail(
                StatusCode::BAD_REQUEST,
                "上传内容无法读取，请重新选择文件后提交。",
            )
        }
    };
    if !csrf_ok(&req, &upload.csrf) {
        return forbidden_page(&shown, &csrf, "表单已过期或来源不明，请刷新页面后重试。");
    }
    if !kind.allowed(&user) {
        return forbidden_page(&shown, &csrf, "您的账号不能导入此清单。");
    }
    if upload.file.is_empty() {
        return fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "请选择要导入的文件（.xlsx 或 .csv）。",
        );
    }
    let table = match crate::imports::parse_upload(
        &state,
        upload.file,
        upload.filename.as_deref(),
        None,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            let status = actix_web::ResponseError::status_code(&crate::imports::table_error(&e));
            let limit = e
                .limit()
                .map(|l| format!("（上限 {l}）"))
                .unwrap_or_default();
            return fail(
                status,
                &format!(
                    "文件无法读取：{e}{limit}。请使用导入模板，另存为 .xlsx 或 UTF-8/GB18030 编码的 .csv。"
                ),
            );
        }
    };
    let (dry_run, publish) = (upload.dry_run, upload.publish);
    let report = match kind {
        ImportKind::Entries => {
            crate::entries::import::import_table(&state, user, table, dry_run, publish).await
        }
        ImportKind::FourLists => {
            crate::four_lists::import::import_table(&state, user, table, dry_run, publish).await
        }
    };
    match report {
        Ok(r) => {
            let status = if r.errors.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            import_page(status, kind, &shown, &csrf, Some(&r), None)
        }
        Err(e) => error_for(&shown, &csrf, e),
    }
}

#[get("/console/entries/import")]
async fn entries_import_form(signed: SignedIn) -> HttpResponse {
    import_form(signed, ImportKind::Entries).await
}

#[post("/console/entries/import")]
async fn entries_import(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Multipart,
) -> HttpResponse {
    import_submit(signed, req, state, form, ImportKind::Entries).await
}

#[get("/console/four-lists/import")]
async fn four_lists_import_form(signed: SignedIn) -> HttpResponse {
    import_form(signed, ImportKind::FourLists).await
}

#[post("/console/four-lists/import")]
async fn four_lists_import(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Multipart,
) -> HttpResponse {
    import_submit(signed, req, state, form, ImportKind::FourLists).await
}

/// The import templates (xlsx).
#[get("/console/{list}/import-template")]
async fn import_template(signed: SignedIn, path: web::Path<String>) -> HttpResponse {
    let SignedIn { user, shown, csrf } = signed;
    let file = match path.as_str() {
        "entries" if ImportKind::Entries.allowed(&user) => {
            crate::entries::import::template_file(&user, &None)
        }
        "four-lists" if ImportKind::FourLists.allowed(&user) => {
            crate::four_lists::import::template_file(&user, &None)
        }
        "entries" | "four-lists" => {
            return forbidden_page(&shown, &csrf, "您的账号不能导入此清单。")
        }
        _ => return not_found_page(&shown, &csrf, "没有这个模板。"),
    };
    file.unwrap_or_else(api_error)
}

/// The filters of the 四张清单 page.
#[derive(Debug, Default, Deserialize, Serialize)]
struct ItemsQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kind: String,
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

const KINDS: [(&str, &str); 4] = [
    ("red_scope", "诚信典型范围清单"),
    ("black_scope", "严重失信行为及主体范围清单"),
    ("incentive_measures", "守信激励政策措施清单"),
    ("punishment_measures", "失信惩戒政策措施清单"),
];

const ITEM_STATUSES: [(&str, &str); 3] = [
    ("draft", "草稿"),
    ("published", "已公布"),
    ("repealed", "已废止"),
];

#[derive(Serialize)]
struct ItemRow {
    item: crate::four_lists::FourListItemView,
    /// The caller may publish this item's draft version now.
    may_publish: bool,
    /// The caller may edit it (its own department's, not repealed).
    may_edit: bool,
}

/// 四张清单: the items the caller may see (drafts of the departments they manage), filtered.
#[get("/console/four-lists")]
async fn four_lists(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<ItemsQuery>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.allowed(
        |user, _| may_keep_lists(user),
        "四张清单管理仅供工作人员使用。"
    ));
    let q = query.into_inner();
    let page = q.page.unwrap_or(1).max(1);
    let filter = crate::four_lists::store::ItemFilter {
        kind: ItemKind::parse(&q.kind),
        department_id: q.department_id.parse().ok(),
        region_code: None,
        status: Some(q.status.clone()).filter(|s| !s.is_empty()),
        q: Some(q.q.trim().to_string()).filter(|s| !s.is_empty()),
        page: Some(page),
        per_page: Some(50),
    };
    let result = match crate::four_lists::store::items_page(&state, user.clone(), filter).await {
        Ok(r) => r,
        Err(e) => return error_for(&shown, &csrf, e),
    };
    let departments = match departments(&state).await {
        Ok(d) => d,
        Err(e) => return api_error(e),
    };
    let may_publish = matches!(user.role, Role::Admin | Role::Bureau | Role::Department);
    let rows: Vec<ItemRow> = result
        .items
        .into_iter()
        .map(|item| ItemRow {
            may_edit: matches!(user.role, Role::Admin | Role::Department)
                && item.status != "repealed"
                && user.may_manage_department(item.department_id, &item.region_code),
            may_publish: may_publish
                && item.status != "repealed"
                && (item.status == "draft" || item.has_unpublished_changes)
                && user.may_manage_department(item.department_id, &item.region_code),
            item,
        })
        .collect();
    let pages = (result.total + 49) / 50;
    let done = match q.done.as_deref() {
        Some("published") => Some("已公布。"),
        _ => None,
    };
    render(
        StatusCode::OK,
        "four_lists.html",
        context! {
            user => shown, csrf => csrf, page => "four_lists", f => &q, rows => rows,
            total => result.total, current => page, pages => pages, kinds => KINDS,
            kind_zh => KINDS.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
            statuses => ITEM_STATUSES,
            status_zh => ITEM_STATUSES.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
            departments => departments, done => done,
            may_import => ImportKind::FourLists.allowed(&user),
            may_add => may_add_items(&user),
        },
    )
}

/// 公布 an item's draft version.
#[post("/console/four-lists/{id}/publish")]
async fn four_list_publish(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    form: web::Form<super::CsrfForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &form.csrf));
    match crate::four_lists::store::publish(&state, user, path.into_inner()).await {
        Ok(_) => redirect("/console/four-lists?done=published"),
        Err(e) => error_for(&shown, &csrf, e),
    }
}

/// The edit form of a four-list item as shown or typed.
#[derive(Debug, Default, Serialize)]
struct ItemForm {
    /// New items only.
    code: String,
    title: String,
    description: String,
    /// (document, article, issuer), three rows on the form.
    basis: Vec<(String, String, String)>,
    subject_kinds: Vec<String>,
    fields: Vec<String>,
    severity: String,
    validity_months: String,
}

const BASIS_ROWS: usize = 3;

impl ItemForm {
    fn of(v: &crate::four_lists::FourListItemView) -> ItemForm {
        let mut basis: Vec<(String, String, String)> = v
            .legal_basis
            .iter()
            .map(|b| {
                (
                    b.document.clone(),
                    b.article.clone().unwrap_or_default(),
                    b.issuer.clone().unwrap_or_default(),
                )
            })
            .collect();
        basis.resize(basis.len().max(BASIS_ROWS), Default::default());
        ItemForm {
            code: v.code.clone(),
            title: v.title.clone(),
            description: v.description.clone(),
            basis,
            subject_kinds: v
                .subject_kinds
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            fields: v.fields.clone(),
            severity: v
                .severity
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            validity_months: v.validity_months.map(|m| m.to_string()).unwrap_or_default(),
        }
    }

    fn from_pairs(pairs: &[(String, String)]) -> (String, ItemForm) {
        let mut csrf = String::new();
        let mut f = ItemForm::default();
        let (mut docs, mut articles, mut issuers) = (Vec::new(), Vec::new(), Vec::new());
        for (k, v) in pairs {
            let v = v.trim().to_string();
            match k.as_str() {
                "csrf" => csrf = v,
                "code" => f.code = v,
                "title" => f.title = v,
                "description" => f.description = v,
                "basis_document" => docs.push(v),
                "basis_article" => articles.push(v),
                "basis_issuer" => issuers.push(v),
                "subject_kind" => f.subject_kinds.push(v),
                "field" => f.fields.push(v),
                "severity" => f.severity = v,
                "validity_months" => f.validity_months = v,
                _ => {}
            }
        }
        f.basis = docs
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                (
                    d,
                    articles.get(i).cloned().unwrap_or_default(),
                    issuers.get(i).cloned().unwrap_or_default(),
                )
            })
            .collect();
        (csrf, f)
    }

    /// The API's changes for an item of `kind`, or what the form itself cannot read.
    fn to_patch(&self, kind: ItemKind) -> Result<crate::four_lists::store::ItemPatch, Vec<String>> {
        use crate::four_lists::{LegalBasis, Severity, SubjectType};
        let mut errors = Vec::new();
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let legal_basis: Vec<LegalBasis> = self
            .basis
            .iter()
            .filter(|(d, a, i)| !(d.is_empty() && a.is_empty() && i.is_empty()))
            .map(|(d, a, i)| LegalBasis {
                document: d.clone(),
                article: opt(a),
                issuer: opt(i),
            })
            .collect();
        let subject_kinds: Vec<SubjectType> = self
            .subject_kinds
            .iter()
            .filter_map(|k| SubjectType::parse(k))
            .collect();
        let mut patch = crate::four_lists::store::ItemPatch {
            title: Some(self.title.clone()),
            description: Some(self.description.clone()),
            legal_basis: Some(legal_basis),
            subject_kinds: Some(subject_kinds),
            ..Default::default()
        };
        match kind {
            ItemKind::BlackScope => match Severity::parse(&self.severity) {
                Some(s) => patch.severity = Some(s),
                None => errors.push("失信等级：请选择".to_string()),
            },
            ItemKind::RedScope => match self.validity_months.parse::<i32>() {
                Ok(m) => patch.validity_months = Some(m),
                Err(_) => errors.push("有效期（月）：请填写整数".to_string()),
            },
            ItemKind::IncentiveMeasures | ItemKind::PunishmentMeasures => {
                patch.fields = Some(self.fields.clone());
            }
        }
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }
}

impl ItemForm {
    /// A new item of `kind` from the form.
    fn to_new(&self, kind: ItemKind) -> Result<crate::four_lists::store::NewItem, Vec<String>> {
        let p = self.to_patch(kind)?;
        Ok(crate::four_lists::store::NewItem {
            department_id: None,
            kind,
            code: self.code.clone(),
            title: p.title.unwrap_or_default(),
            description: p.description.unwrap_or_default(),
            legal_basis: p.legal_basis.unwrap_or_default(),
            subject_kinds: p.subject_kinds.unwrap_or_default(),
            fields: p.fields.unwrap_or_default(),
            implementing_department_ids: vec![],
            linked_scope_item_ids: vec![],
            severity: p.severity,
            publication_months_min: None,
            publication_months_max: None,
            repair_after_months: None,
            repairable: None,
            validity_months: p.validity_months,
        })
    }
}

/// The edit form (`item`) or the new-item form of `kind` (`item` none).
#[allow(clippy::too_many_arguments)]
async fn item_form_page(
    state: &web::Data<AppState>,
    status: StatusCode,
    shown: &Shown,
    csrf: &str,
    kind: ItemKind,
    item: Option<&crate::four_lists::FourListItemView>,
    form: &ItemForm,
    errors: &[String],
    done: bool,
) -> HttpResponse {
    match fields(state).await {
        Ok(fields) => render(
            status,
            "item_edit.html",
            context! {
                user => shown, csrf => csrf, page => "four_lists", item => item, form => form,
                kind => kind.as_str(), kinds => KINDS,
                errors => errors, fields => fields, done => done,
                kind_zh => KINDS.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
            },
        ),
        Err(e) => api_error(e),
    }
}

/// The item the caller may edit, or the page saying why not.
async fn editable_item(
    state: &web::Data<AppState>,
    user: &AuthUser,
    shown: &Shown,
    csrf: &str,
    id: i32,
) -> Result<crate::four_lists::FourListItemView, HttpResponse> {
    let item = crate::four_lists::store::item_by_id(state, user.clone(), id)
        .await
        .map_err(|e| error_for(shown, csrf, e))?;
    if !matches!(user.role, Role::Admin | Role::Department)
        || !user.may_manage_department(item.department_id, &item.region_code)
    {
        return Err(forbidden_page(shown, csrf, "清单事项由所属部门修改。"));
    }
    if item.status == "repealed" {
        return Err(error_page(
            StatusCode::CONFLICT,
            shown,
            csrf,
            "不能修改",
            "该事项已废止，不能再修改。",
        ));
    }
    Ok(item)
}

#[derive(Deserialize)]
struct EditQuery {
    done: Option<String>,
}

/// 修改清单事项: the form with the latest version's content.
#[get("/console/four-lists/{id}/edit")]
async fn edit_item(
    signed: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    query: web::Query<EditQuery>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = signed;
    let item = match editable_item(&state, &user, &shown, &csrf, path.into_inner()).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let form = ItemForm::of(&item);
    let done = query.done.is_some();
    item_form_page(
        &state,
        StatusCode::OK,
        &shown,
        &csrf,
        item.kind,
        Some(&item),
        &form,
        &[],
        done,
    )
    .await
}

/// 修改清单事项: the posted form; a published item gets a new draft version.
#[post("/console/four-lists/{id}/edit")]
async fn save_item(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    body: web::Bytes,
) -> HttpResponse {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let (sent_csrf, form) = ItemForm::from_pairs(&pairs);
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &sent_csrf));
    let id = path.into_inner();
    let item = match editable_item(&state, &user, &shown, &csrf, id).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let errors = match form.to_patch(item.kind) {
        Ok(patch) => match crate::four_lists::store::update(&state, user, id, patch).await {
            Ok(_) => return redirect(&format!("/console/four-lists/{id}/edit?done=saved")),
            Err(ApiError::Invalid {
                errors,
                detail,
                code,
            }) => invalid_messages(&errors, code, &detail, |f| item_field_label(f).to_string()),
            Err(e) => return error_for(&shown, &csrf, e),
        },
        Err(errors) => errors,
    };
    item_form_page(
        &state,
        StatusCode::UNPROCESSABLE_ENTITY,
        &shown,
        &csrf,
        item.kind,
        Some(&item),
        &form,
        &errors,
        false,
    )
    .await
}

#[derive(Deserialize)]
struct NewItemQuery {
    kind: Option<String>,
}

/// Officers of a department add its items (the form files for the caller's own department).
fn may_add_items(user: &AuthUser) -> bool {
    user.role == Role::Department && user.department_id.is_some()
}

/// 新增清单事项: the form for an item of the chosen list.
#[get("/console/four-lists/new")]
async fn new_item(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<NewItemQuery>,
) -> HttpResponse {
    let SignedIn {
        user: _,
        shown,
        csrf,
    } = or_page!(signed.allowed(
        |user, _| may_add_items(user),
        "清单事项由部门工作人员新增。"
    ));
    let kind = query
        .kind
        .as_deref()
        .and_then(ItemKind::parse)
        .unwrap_or(ItemKind::BlackScope);
    let mut form = ItemForm::default();
    form.basis.resize(BASIS_ROWS, Default::default());
    form.subject_kinds = vec!["enterprise".into()];
    item_form_page(
        &state,
        StatusCode::OK,
        &shown,
        &csrf,
        kind,
        None,
        &form,
        &[],
        false,
    )
    .await
}

/// 新增清单事项: the posted form, recorded as a draft through the API's rules.
#[post("/console/four-lists/new")]
async fn add_item(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let (sent_csrf, mut form) = ItemForm::from_pairs(&pairs);
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &sent_csrf));
    if !may_add_items(&user) {
        return forbidden_page(&shown, &csrf, "清单事项由部门工作人员新增。");
    }
    let kind = pairs
        .iter()
        .find(|(k, _)| k == "kind")
        .and_then(|(_, v)| ItemKind::parse(v))
        .unwrap_or(ItemKind::BlackScope);
    let errors = match form.to_new(kind) {
        Ok(input) => match crate::four_lists::store::create(&state, user, input).await {
            Ok(item) => {
                return redirect(&format!("/console/four-lists/{}/edit?done=saved", item.id))
            }
            Err(ApiError::Invalid {
                errors,
                detail,
                code,
            }) => invalid_messages(&errors, code, &detail, |f| item_field_label(f).to_string()),
            Err(ApiError::Conflict { code, detail }) => {
                vec![format!(
                    "编码：{}",
                    crate::imports::zh_message(code, &detail)
                )]
            }
            Err(e) => return error_for(&shown, &csrf, e),
        },
        Err(errors) => errors,
    };
    form.basis
        .resize(form.basis.len().max(BASIS_ROWS), Default::default());
    item_form_page(
        &state,
        StatusCode::UNPROCESSABLE_ENTITY,
        &shown,
        &csrf,
        kind,
        None,
        &form,
        &errors,
        false,
    )
    .await
}

fn item_field_label(field: &str) -> &str {
    match field {
        "code" => "编码",
        "title" => "名称",
        "description" => "说明",
        "subject_kinds" => "适用主体",
        "fields" => "适用领域",
        "severity" => "失信等级",
        "validity_months" => "有效期（月）",
        f if f.starts_with("legal_basis") => "设定依据",
        f if f.starts_with("fields") => "适用领域",
        other => other,
    }
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    // Fixed paths before the `{id}` ones.
    cfg.service(entries)
        .service(entries_export)
        .service(new_entry)
        .service(create_entry)
        .service(entries_import_form)
        .service(entries_import)
        .service(four_lists_import_form)
        .service(four_lists_import)
        .service(import_template)
        .service(entry_action)
        .service(four_lists)
        .service(new_item)
        .service(add_item)
        .service(edit_item)
        .service(save_item)
        .service(four_list_publish);
}

/// The application fields (领域) in use: (code, name).
pub(super) async fn fields(state: &web::Data<AppState>) -> Result<Vec<(String, String)>, ApiError> {
    use crate::schema::application_fields as f;
    use diesel::prelude::*;
    crate::db::run(&state.pool, move |conn| {
        Ok(f::table
            .filter(f::active.eq(true))
            .order(f::code.asc())
            .select((f::code, f::name))
            .load(conn)?)
    })
    .await
}
