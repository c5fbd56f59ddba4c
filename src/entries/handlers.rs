//! `/api/v1/list-entries`: the HTTP handlers for identifying (认定), publishing (公示) and removing
//! (移出) entries. Each parses the request, makes one call to [`super::store`] and shapes the answer.

use actix_web::{delete, get, post, web, HttpResponse};

use super::*;
use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::http::{ApiJson, Page};
use crate::state::AppState;

use super::store::{
    create_draft, discard, entries_page, entry_by_id, entry_history, publish_draft, record_notice,
    remove_entry, EntryFilter, HistoryEvent, NewEntry, NoticeRecord, RemoveRequest,
};

/// Identify a subject on a list (红黑名单认定)
///
/// Identify a subject on the red or black list (draft).
///
/// Department officers for their own department, bureaus for the departments of their region,
/// admins; approval systems get 403. Creates a draft entry, not yet public; audited (ID numbers
/// masked).
#[utoipa::path(
    operation_id = "entries_create",
    tag = "list-entries",
    security(("bearer" = [])),
    request_body = NewEntry,
    responses(
        (status = 201, description = "Created as a draft", body = EntryView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your department or region", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate entry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid subject code, dates or scope item", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/list-entries")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewEntry>,
) -> Result<HttpResponse, ApiError> {
    let view = create_draft(&state, user, body.0).await?;
    Ok(HttpResponse::Created().json(view))
}

/// One list entry (红黑名单)
///
/// One entry.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Drafts only for those
/// who manage them. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "entries_get_one",
    tag = "list-entries",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Entry id")),
    responses(
        (status = 200, description = "The entry", body = EntryView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Approval systems use credit checks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/list-entries/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let v = entry_by_id(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Publish an entry (公示)
///
/// Publish a draft entry (公示). Publishing a black entry removes the subject's red entries in
/// force, with reason `black_listed_while_red`, in the same transaction.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. The entry becomes public; audited.
#[utoipa::path(
    operation_id = "entries_publish",
    tag = "list-entries",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Entry id")),
    responses(
        (status = 200, description = "Published", body = EntryView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A local black entry without its notice (告知) or statement outcome (陈述申辩): `notice_missing`, naming each missing field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/list-entries/{id}/publish")]
pub async fn publish(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let v = publish_draft(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Record the notice to a subject (告知)
///
/// Record the notice (告知) given to the subject of a draft black entry and the outcome of its
/// statement (陈述申辩), which a local black entry needs before it is published (国办发〔2020〕49号
/// (八)). Audited as `list_entry.notice`.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Stores the notice with the draft entry.
#[utoipa::path(
    operation_id = "entries_notice",
    tag = "list-entries",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Entry id")),
    request_body = NoticeRecord,
    responses(
        (status = 200, description = "Recorded", body = EntryView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A red entry (`not_applicable`), a notice in the future or after the determination (`notice_after_determination`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/list-entries/{id}/notice")]
pub async fn notice(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<NoticeRecord>,
) -> Result<HttpResponse, ApiError> {
    let v = record_notice(&state, user, path.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Remove an entry from the list (移出)
///
/// Remove an entry in force from the list (移出). The record stays; the removal is published.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Marks the entry removed; audited.
#[utoipa::path(
    operation_id = "entries_remove",
    tag = "list-entries",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Entry id")),
    request_body = RemoveRequest,
    responses(
        (status = 200, description = "Removed", body = EntryView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope, or a national entry (国家层面认定: only its source or an admin correction changes it)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in force (draft, removed or expired)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Reserved reason, bad date or missing note", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/list-entries/{id}/remove")]
pub async fn remove(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<RemoveRequest>,
) -> Result<HttpResponse, ApiError> {
    let v = remove_entry(&state, user, path.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Discard a draft entry
///
/// Discard a draft entry (never published, so nothing public changes). Audited.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Deletes the draft.
#[utoipa::path(
    operation_id = "entries_discard_draft",
    tag = "list-entries",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Entry id")),
    responses(
        (status = 204, description = "Discarded"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Published entries are removed, not deleted", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/list-entries/{id}")]
pub async fn discard_draft(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    discard(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List entries (红黑名单)
///
/// List entries with filters, sorting and paging (drafts only for those who manage them).
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "entries_list",
    tag = "list-entries",
    security(("bearer" = [])),
    params(EntryFilter),
    responses(
        (status = 200, description = "One page of entries", body = Page<EntryView>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Approval systems use credit checks", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A subject code of the right shape that is no code (`invalid_subject_code`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/list-entries")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<EntryFilter>,
) -> Result<HttpResponse, ApiError> {
    let result = entries_page(&state, user, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(result))
}

/// An entry's change history
///
/// Every change to an entry, oldest first (from the audit trail; codes masked).
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "entries_history",
    tag = "list-entries",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Entry id")),
    responses(
        (status = 200, description = "The history", body = Vec<HistoryEvent>),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Approval systems use credit checks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/list-entries/{id}/history")]
pub async fn history(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let events = entry_history(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(events))
}
