//! What the console's pages share: error pages in Chinese and the choices forms offer
//! (departments, application fields).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use minijinja::context;

use super::{forbidden_page, not_found_page, render, Shown};
use crate::error::ApiError;
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

pub(super) async fn departments(
    state: &web::Data<AppState>,
) -> Result<Vec<(i32, String)>, ApiError> {
    crate::db::run(&state.pool, move |conn| {
        let rows = crate::org::store::list_departments(conn, Default::default())?;
        // Shown with their former names (曾用名), as the 2019 plan names some of them.
        Ok(rows
            .into_iter()
            .map(|d| (d.id, crate::org::display_name(&d.name, &d.former_names)))
            .collect())
    })
    .await
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
