//! Excel import in the console (红黑名单 and 四张清单): the upload form, the row error report as a
//! table, the templates. The upload is read within the same budget as the API's import.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use minijinja::context;

use super::entries::may_keep_lists;
use super::pages::{api_error, error_for};
use super::{csrf_ok, forbidden_page, not_found_page, or_page, render, Shown, SignedIn};
use crate::auth::{AuthUser, Role};
use crate::imports::ImportReport;
use crate::state::AppState;

/// Which import a page serves.
#[derive(Clone, Copy)]
pub(super) enum ImportKind {
    Entries,
    FourLists,
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

    pub(super) fn allowed(self, user: &AuthUser) -> bool {
        match self {
            ImportKind::Entries => may_keep_lists(user),
            ImportKind::FourLists => matches!(user.role, Role::Admin | Role::Department),
        }
    }
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(entries_import_form)
        .service(entries_import)
        .service(four_lists_import_form)
        .service(four_lists_import)
        .service(import_template);
}
