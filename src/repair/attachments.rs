//! Proof documents (证明材料): PDF, JPEG or PNG, recognised by their content, stored in the
//! database with their SHA-256, readable only by those who may see what they belong to.

use actix_web::{get, post, web, HttpResponse};
use diesel::prelude::*;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, Entry};
use crate::auth::STAFF;
use crate::auth::{AuthUser, Role};
use crate::db::{self, DbConnection};
use crate::error::{ApiError, Problem};
use crate::schema::{attachments, commitments, repair_documents, repairs};
use crate::state::AppState;

/// The content types accepted, by their leading bytes.
const KINDS: [(&[u8], &str, &str); 3] = [
    (b"%PDF-", "application/pdf", "pdf"),
    (&[0xFF, 0xD8, 0xFF], "image/jpeg", "jpg"),
    (
        &[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A],
        "image/png",
        "png",
    ),
];

/// The content type of `bytes` by its signature, whatever the client declared.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    KINDS
        .iter()
        .find(|(magic, _, _)| bytes.starts_with(magic))
        .map(|(_, ct, _)| *ct)
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = attachments)]
pub struct AttachmentMeta {
    pub id: i32,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub department_id: Option<i32>,
    pub region_code: Option<String>,
    pub uploaded_by: i32,
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
}

/// An uploaded document, without its content.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: i32,
    pub filename: String,
    /// As recognised from the content: `application/pdf`, `image/jpeg` or `image/png`.
    pub content_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    pub department_id: Option<i32>,
    pub region_code: Option<String>,
    pub uploaded_by: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
}

impl From<AttachmentMeta> for AttachmentView {
    fn from(m: AttachmentMeta) -> Self {
        AttachmentView {
            id: m.id,
            filename: m.filename,
            content_type: m.content_type,
            size_bytes: m.size_bytes,
            sha256: m.sha256,
            department_id: m.department_id,
            region_code: m.region_code,
            uploaded_by: m.uploaded_by,
            created_at: m.created_at,
        }
    }
}

pub fn find_meta(conn: &mut DbConnection, id: i32) -> Result<Option<AttachmentMeta>, ApiError> {
    Ok(attachments::table
        .find(id)
        .select(AttachmentMeta::as_select())
        .first(conn)
        .optional()?)
}

/// The one access rule for documents: admins; the uploader; the uploading department's officers;
/// bureaus covering its region; and whoever may see a repair application or a commitment that
/// uses it (reviewers of the entry's department and region).
pub fn may_read(
    conn: &mut DbConnection,
    user: &AuthUser,
    a: &AttachmentMeta,
) -> Result<bool, ApiError> {
    if user.role == Role::Admin || a.uploaded_by == user.id {
        return Ok(true);
    }
    if let (Some(d), Some(r)) = (a.department_id, a.region_code.as_deref()) {
        if super::may_see(user, d, r) {
            return Ok(true);
        }
    } else if let Some(r) = a.region_code.as_deref() {
        if user.role == Role::Bureau && user.covers_region(r) {
            return Ok(true);
        }
    }
    let via_repairs: Vec<(i32, String)> = repair_documents::table
        .inner_join(repairs::table)
        .filter(repair_documents::attachment_id.eq(a.id))
        .select((repairs::department_id, repairs::region_code))
        .load(conn)?;
    let via_commitments: Vec<(i32, String)> = commitments::table
        .filter(commitments::attachment_id.eq(a.id))
        .select((commitments::department_id, commitments::region_code))
        .load(conn)?;
    Ok(via_repairs
        .iter()
        .chain(via_commitments.iter())
        .any(|(d, r)| super::may_see(user, *d, r)))
}

/// Loads a document's metadata for `user`, or 404 (also when it exists but is not theirs to see,
/// so ids cannot be probed).
pub fn load_readable(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: i32,
) -> Result<AttachmentMeta, ApiError> {
    let a = find_meta(conn, id)?.ok_or_else(|| ApiError::not_found("attachment"))?;
    if may_read(conn, user, &a)? {
        Ok(a)
    } else {
        Err(ApiError::not_found("attachment"))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The original file name (shown to reviewers; 1–200 characters).
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub filename: String,
}

/// Upload a proof document (证明材料)
///
/// Upload a proof document (PDF, JPEG or PNG). The body is the file itself (any declared
/// `Content-Type`; the type is recognised from the content). At most `attachment_max_bytes`
/// (10 MiB by default). Audited.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Stores the file; the
/// limit is its own, not the JSON body limit (larger is 413).
#[utoipa::path(
    operation_id = "repair_attachments_upload",
    tag = "repair",
    security(("bearer" = [])),
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file"),
    responses(
        (status = 201, description = "Stored", body = AttachmentView),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over `attachment_max_bytes` (10 MiB by default)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PDF, JPEG or PNG", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty file or bad file name", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/attachments")]
pub async fn upload(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<UploadQuery>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let filename = crate::pii::mask_id_numbers(query.filename.trim().to_string());
    if filename.is_empty() || filename.chars().count() > 200 {
        return Err(ApiError::invalid_query(
            "filename",
            "invalid",
            "filename must have 1 to 200 characters",
        ));
    }
    let limit = state.settings.attachment_max_bytes;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            code: "malformed_body",
            detail: format!("the upload could not be read: {e}"),
            errors: vec![],
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ApiError::invalid_field(
            "body",
            "empty",
            "the file is empty",
        ));
    }
    let content_type = sniff(&body).ok_or_else(|| {
        ApiError::UnsupportedMediaType(
            "proof documents must be PDF, JPEG or PNG files (recognised by their content)".into(),
        )
    })?;
    let sha = super::sha256_hex(&body);
    let size = body.len() as i64;
    let view = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let region = user.region_code.clone();
            let id: i32 = diesel::insert_into(attachments::table)
                .values((
                    attachments::filename.eq(&filename),
                    attachments::content_type.eq(content_type),
                    attachments::size_bytes.eq(size),
                    attachments::sha256.eq(&sha),
                    attachments::content.eq(&body),
                    attachments::department_id.eq(user.department_id),
                    attachments::region_code.eq(&region),
                    attachments::uploaded_by.eq(user.id),
                    attachments::created_at.eq(db::now()),
                ))
                .returning(attachments::id)
                .get_result(conn)?;
            let meta = find_meta(conn, id)?.ok_or_else(|| ApiError::internal("vanished"))?;
            audit::append(
                conn,
                &user.actor(),
                Entry::new("attachment.upload", "attachment", id)
                    .region(region)
                    .department(user.department_id)
                    .after(&meta),
            )?;
            Ok(AttachmentView::from(meta))
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(view))
}

/// A proof document's metadata
///
/// A document's metadata.
///
/// The uploader, staff who manage the uploading department or its region, reviewers of a repair
/// application or commitment letter that uses the document, and admins; others get 403 or 404.
/// Read-only: changes nothing.
#[utoipa::path(
    operation_id = "repair_attachments_get_meta",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "Metadata", body = AttachmentView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document, or not yours to see", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/attachments/{id}")]
pub async fn get_meta(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let m = db::run(&state.pool, move |conn| load_readable(conn, &user, id)).await?;
    Ok(HttpResponse::Ok().json(AttachmentView::from(m)))
}

/// Download a proof document
///
/// Download a document, as uploaded.
///
/// Whoever may read its metadata (the uploader, staff who manage its department or region,
/// reviewers of a repair or letter that uses it, admins); others get 403 or 404. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "repair_attachments_content",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "The file, with the type recognised from its content at upload", content(
            (Vec<u8> = "application/pdf"),
            (Vec<u8> = "image/jpeg"),
            (Vec<u8> = "image/png"),
        )),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document, or not yours to see", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/attachments/{id}/content")]
pub async fn content(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    download(&state, user, path.into_inner()).await
}

/// The document as a download, when the caller may read it (the API's and the console's).
pub(crate) async fn download(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let (m, bytes) = db::run(&state.pool, move |conn| {
        let m = load_readable(conn, &user, id)?;
        let bytes: Vec<u8> = attachments::table
            .find(id)
            .select(attachments::content)
            .first(conn)?;
        Ok((m, bytes))
    })
    .await?;
    let ext = KINDS
        .iter()
        .find(|(_, ct, _)| *ct == m.content_type)
        .map(|(_, _, e)| *e)
        .unwrap_or("bin");
    Ok(HttpResponse::Ok()
        .content_type(m.content_type.as_str())
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            crate::imports::disposition(
                &format!("attachment-{}", m.id),
                m.filename
                    .strip_suffix(&format!(".{ext}"))
                    .unwrap_or(&m.filename),
                ext,
            ),
        ))
        .body(bytes))
}
