//! 信用核查记录 in the console: one stored check (receipt) as the approval system was answered,
//! in Chinese: the advice, every reason's message, 告知承诺, the measures, related parties and
//! the commitments shown. The receipt is read through the API's function, so its scope applies.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use diesel::prelude::*;
use minijinja::context;

use super::{not_found_page, or_page, render, SignedIn};
use crate::checks::receipts::load_receipt;
use crate::error::ApiError;
use crate::schema::application_fields;
use crate::state::AppState;

const ADVICE: [(&str, &str); 3] = [
    ("restrict", "依法限制（适用失信惩戒措施）"),
    ("green_channel", "绿色通道（适用守信激励措施）"),
    ("normal", "正常办理"),
];

/// One receipt, for staff who may read it (the same rule as `GET /api/v1/credit-checks/{id}`).
#[get("/console/checks/{id}")]
async fn check(
    signed: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.allowed(
        |_, shown| shown.may_search_subjects,
        "核查记录仅供工作人员查看。"
    ));
    let Ok(id) = path.into_inner().trim().parse::<i32>() else {
        return not_found_page(&shown, &csrf, "没有这条核查记录，或编号有误。");
    };
    let loaded = state
        .receipts
        .run_settled(&state.pool, move |conn| {
            let r = load_receipt(conn, &user, id)?;
            let field_name: Option<String> = application_fields::table
                .find(&r.field)
                .select(application_fields::name)
                .first(conn.conn())
                .optional()?;
            Ok((r, field_name))
        })
        .await;
    let (receipt, field_name) = match loaded {
        Ok(v) => v,
        Err(ApiError::NotFound(_)) => {
            return not_found_page(&shown, &csrf, "没有这条核查记录，或您无权查看。")
        }
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let answer = receipt.answer_value();
    let advice_zh = ADVICE
        .iter()
        .find(|(k, _)| *k == receipt.advice)
        .map(|(_, v)| *v)
        .unwrap_or("—");
    render(
        StatusCode::OK,
        "check.html",
        context! {
            user => shown, csrf => csrf, page => "subjects", a => answer,
            field_name => field_name.unwrap_or(receipt.field), advice_zh => advice_zh,
        },
    )
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(check);
}
