//! Documents ready to print from the console (`crate::documents`): a form button on the receipt,
//! repair and entries pages issues a document (or finds the one issued before) and opens it;
//! `/console/documents/{id}` answers the stored bytes, so a reprint is identical.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use super::{forbidden_page, not_found_page, or_page, redirect, render, SignedIn};
use crate::documents::{self, DocumentRow};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
struct IssueForm {
    csrf: String,
}

/// The page to answer for an issue that failed.
fn refused(shown: &super::Shown, csrf: &str, e: ApiError, missing: &str) -> HttpResponse {
    match e {
        ApiError::NotFound(_) => not_found_page(shown, csrf, missing),
        ApiError::Forbidden(_) => forbidden_page(shown, csrf, "您无权出具这份文书。"),
        ApiError::Conflict { .. } => render(
            StatusCode::CONFLICT,
            "error.html",
            context! { user => shown, csrf => csrf, title => "不能出具",
            message => "该名单条目已发布，告知书应在认定前出具。此前出具的告知书仍可打印。" },
        ),
        ApiError::Invalid { code, .. } => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            "error.html",
            context! { user => shown, csrf => csrf, title => "不能出具",
            message => match code {
                "no_issuing_department" => "这次核查不是由部门账号发起的，请由部门工作人员出具结果单。",
                "no_document_for_step" => "只有受理、退回补正、不予修复和确认修复环节出具文书。",
                _ => "告知书仅适用于本地认定的黑名单条目。",
            } },
        ),
        e => actix_web::ResponseError::error_response(&e),
    }
}

fn opened(d: &DocumentRow) -> HttpResponse {
    redirect(&format!("/console/documents/{}", d.id))
}

/// The scheme and host the request came to (through the trusted proxy), for the QR code.
fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// 出具信用核查结果单: whoever may read the receipt.
#[post("/console/documents/checks/{id}")]
async fn issue_check_result(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    form: web::Form<IssueForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &form.csrf));
    let id = path.into_inner();
    let base = base_url(&req);
    let result = state
        .receipts
        .run_settled(&state.pool, move |s| {
            documents::issue_check_result(s, &user, id, &base)
        })
        .await;
    match result {
        Ok(d) => opened(&d),
        Err(e) => refused(&shown, &csrf, e, "没有这条核查记录，或您无权查看。"),
    }
}

/// 出具受理通知书 / 不予受理通知书 / 信用修复决定书 / 不予修复决定书 from one recorded step.
#[post("/console/documents/repair-steps/{id}")]
async fn issue_repair_document(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    form: web::Form<IssueForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &form.csrf));
    let id = path.into_inner();
    let result = crate::db::run(&state.pool, move |c| {
        documents::issue_repair_document(c, &user, id)
    })
    .await;
    match result {
        Ok(d) => opened(&d),
        Err(e) => refused(&shown, &csrf, e, "没有这个办理环节，或不在您的办理范围内。"),
    }
}

/// 出具告知书 for a draft local black entry.
#[post("/console/documents/entries/{id}")]
async fn issue_listing_notice(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    form: web::Form<IssueForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &form.csrf));
    let id = path.into_inner();
    let result = crate::db::run(&state.pool, move |c| {
        documents::issue_listing_notice(c, &user, id)
    })
    .await;
    match result {
        Ok(d) => opened(&d),
        Err(e) => refused(&shown, &csrf, e, "没有这条名单记录，或不在您的办理范围内。"),
    }
}

/// A stored document, exactly as issued.
#[get("/console/documents/{id}")]
async fn document(
    signed: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = signed;
    let id = path.into_inner();
    match crate::db::run(&state.pool, move |c| documents::load(c, &user, id)).await {
        Ok(d) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(d.content),
        Err(ApiError::NotFound(_)) => not_found_page(&shown, &csrf, "没有这份文书，或您无权查看。"),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

#[get("/console/static/documents.css")]
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(documents::STYLESHEET)
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(issue_check_result)
        .service(issue_repair_document)
        .service(issue_listing_notice)
        .service(document)
        .service(stylesheet);
}
