//! `/api/v1/national-sources`: register and list national sources, and sync a source's file.
//! Each handler parses the request, makes one call to [`super::store`] and shapes the answer.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::store::{
    create_source_api, list_sources_api, require_syncer, sync, NewSource, SourceRef, SourceView,
    SyncMode, SyncOptions, SyncReport,
};
use crate::auth::AuthUser;
use crate::db;
use crate::error::{ApiError, Problem, PROBLEM_JSON};
use crate::http::ApiJson;
use crate::imports::receive_upload;
use crate::state::AppState;

/// Register a national source (国家层面认定)
///
/// Register a national source (admins).
///
/// Admins only; everyone else gets 403. Adds the source; audited.
#[utoipa::path(
    operation_id = "national_create",
    tag = "national-sources",
    security(("bearer" = [])),
    request_body = NewSource,
    responses(
        (status = 201, description = "Registered", body = SourceView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken (`name_taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name, department or scope item", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/national-sources")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewSource>,
) -> Result<HttpResponse, ApiError> {
    let view = create_source_api(&state, user, body.0).await?;
    Ok(HttpResponse::Created().json(view))
}

/// List national sources
///
/// The national sources (staff).
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "national_list",
    tag = "national-sources",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every source", body = Vec<SourceView>),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/national-sources")]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(list_sources_api(&state, user).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SyncQuery {
    /// `snapshot` (default): every row the source lists now; `delta`: rows added, changed or
    /// marked removed (column 变动类型 = 移出).
    pub mode: Option<SyncMode>,
    /// Report only; nothing is written.
    #[serde(default)]
    pub dry_run: bool,
    /// Accept a snapshot that ends more than the configured share of the source's entries in
    /// force (`national_sync_max_end_percent`, default 20%).
    #[serde(default)]
    pub confirm: bool,
    /// The file name, to help tell CSV from xlsx when the content type is missing.
    pub filename: Option<String>,
}

/// Sync a national source
///
/// Sync a national source from its file (admins and the city bureau). All or nothing; one audit
/// record (`national_source.sync`) with the file's SHA-256, the counts and the entries touched.
///
/// Admins and the city bureau; others get 403. Creates, updates and removes the source's national
/// entries from the file.
#[utoipa::path(
    operation_id = "national_sync_source",
    tag = "national-sources",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "The source"), SyncQuery),
    request_body(content = Vec<u8>, description = "The source's file (.xlsx, or .csv in UTF-8 or GB18030)",
                 content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Dry run: what would happen", body = SyncReport),
        (status = 201, description = "Applied", body = SyncReport),
        (status = 400, description = "Unreadable file", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins and the city bureau only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The source's scope item is no longer published (`scope_not_published`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over `import_max_bytes` (512 MiB by default; `payload_too_large`), or an xlsx over the upload budget (`unpacked_too_large`, `part_too_large`, `too_many_parts`, …: docs/pii-and-spreadsheets.md)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`upload_max_concurrent` uploads (4 by default) are being read already (`too_many_uploads`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Refused rows (`sync_rejected`, every one in `rows`, the report in `report`), or a snapshot ending too many entries without `confirm` (`snapshot_ends_too_many`); nothing written", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/national-sources/{id}/sync")]
pub async fn sync_source(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i32>,
    query: crate::http::Query<SyncQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_syncer(&user)?;
    let id = path.into_inner();
    let q = query.into_inner();
    let _slot = state.uploads.enter()?;
    let upload = receive_upload(&state, &req, q.filename.as_deref(), payload).await?;
    let opts = SyncOptions {
        mode: q.mode.unwrap_or_default(),
        dry_run: q.dry_run,
        confirm: q.confirm,
    };
    let st = state.clone();
    let report = db::run(&state.pool, move |conn| {
        let file_sha256 = upload.sha256.clone();
        let rows = upload.rows(&st)?;
        let headers = rows.headers().to_vec();
        sync(
            conn,
            &st,
            &user,
            SourceRef::Id(id),
            &headers,
            rows,
            &file_sha256,
            opts,
        )
    })
    .await?;
    Ok(respond(&report))
}

/// 422 `sync_rejected` with every refused row, 200 for a dry run, 201 when applied.
pub fn respond(report: &SyncReport) -> HttpResponse {
    if !report.errors.is_empty() {
        let mut body = serde_json::to_value(crate::error::problem_body(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "sync_rejected",
            format!("{} row error(s); nothing was written", report.errors.len()),
            vec![],
        ))
        .unwrap_or_default();
        body["rows"] = serde_json::to_value(&report.errors).unwrap_or_default();
        body["report"] = serde_json::to_value(report).unwrap_or_default();
        return HttpResponse::UnprocessableEntity()
            .content_type(PROBLEM_JSON)
            .body(body.to_string());
    }
    if report.dry_run {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::Created().json(report)
    }
}
