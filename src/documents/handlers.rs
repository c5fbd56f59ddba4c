//! `GET /api/v1/documents/{id}`: a stored document (文书) as issued, for programs (archiving,
//! printing elsewhere). Documents are issued from the console (`docs/documents.md`).

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// An issued document: its number, kind and the exact HTML stored when it was first issued.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedDocument {
    pub id: i32,
    /// `check_result` (信用核查结果单), `repair_accepted` (受理通知书), `repair_not_accepted`
    /// (不予受理通知书), `repair_decision` (信用修复决定书), `repair_refusal` (不予信用修复决定书)
    /// or `listing_notice` (告知书).
    #[schema(example = "check_result")]
    pub kind: String,
    /// The printed title.
    #[schema(example = "信用核查结果单")]
    pub title: String,
    /// What it was made from, by kind: a credit check id, a repair step id or a list entry id.
    pub source_id: i32,
    /// The issuing department.
    pub department_id: i32,
    /// Numbered per department, year and kind.
    #[schema(example = "通市场核〔2026〕12号")]
    pub document_number: String,
    #[schema(value_type = String, format = Date)]
    pub issued_on: chrono::NaiveDate,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub issued_at: chrono::NaiveDateTime,
    /// The account that issued it.
    pub issued_by: i32,
    /// SHA-256 (hex) of `content`'s UTF-8 bytes, as recorded in the audit trail (`document.issue`).
    pub sha256: String,
    /// The HTML page as stored (personal ID numbers masked); it links the print stylesheet
    /// `/console/static/documents.css`.
    pub content: String,
}

/// Get an issued document
///
/// The document exactly as stored when it was first issued from the console, with its number,
/// its SHA-256 (the one in the audit trail) and the HTML. Readable by admins, bureaus covering its
/// region, the issuing department's officers and whoever issued it; anyone else gets 404.
#[utoipa::path(
    operation_id = "documents_get_one",
    tag = "documents",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Document id")),
    responses(
        (status = 200, description = "The stored document", body = IssuedDocument),
        (status = 400, description = "Malformed id (`invalid_path_parameter`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document, or not yours to read", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/documents/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let d = crate::db::run(&state.pool, move |c| super::load(c, &user, id)).await?;
    Ok(HttpResponse::Ok().json(IssuedDocument {
        id: d.id,
        kind: d.kind,
        title: d.title,
        source_id: d.source_id,
        department_id: d.department_id,
        document_number: d.document_number,
        issued_on: d.issued_on,
        issued_at: d.issued_at,
        issued_by: d.issued_by,
        sha256: d.sha256,
        content: d.content,
    }))
}
