//! `/api/v1/four-list-items`: the HTTP handlers for staff management of the four lists; each parses
//! the request, makes one call to [`super::store`] and answers.

use actix_web::{get, patch, post, web, HttpResponse};

use super::store::{
    create, item_by_id, item_versions, items_page, publish, repeal, update, ItemFilter, ItemPatch,
    NewItem,
};
use super::*;
use crate::auth::AuthUser;
use crate::error::{ApiError, Problem};
use crate::http::{ApiJson, Page};
use crate::state::AppState;

/// List four-list items (四张清单)
///
/// List four-list items. Drafts are visible only to those who manage the department.
///
/// Any signed-in account, approval systems included. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "four_lists_list_items",
    tag = "four-lists",
    security(("bearer" = [])),
    params(ItemFilter),
    responses(
        (status = 200, description = "One page of items", body = Page<FourListItemView>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/four-list-items")]
pub async fn list_items(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<ItemFilter>,
) -> Result<HttpResponse, ApiError> {
    let result = items_page(&state, user, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(result))
}

/// Create a four-list item (四张清单)
///
/// Create a four-list item as a draft.
///
/// Department officers (for their own department) and admins; approval systems and bureaus get 403.
/// Creates a draft, not yet public; audited.
#[utoipa::path(
    operation_id = "four_lists_create_item",
    tag = "four-lists",
    security(("bearer" = [])),
    request_body = NewItem,
    responses(
        (status = 201, description = "Created (draft, version 1)", body = FourListItemView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a department officer of that department or an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Code already used in the department", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/four-list-items")]
pub async fn create_item(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewItem>,
) -> Result<HttpResponse, ApiError> {
    let created = create(&state, user, body.0).await?;
    Ok(HttpResponse::Created().json(created))
}

/// One four-list item (四张清单)
///
/// One item: managers see the latest version (a pending draft included), others the published one.
///
/// Any signed-in account, approval systems included. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "four_lists_get_item",
    tag = "four-lists",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Item id")),
    responses(
        (status = 200, description = "The item", body = FourListItemView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item (or a draft outside your scope)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/four-list-items/{id}")]
pub async fn get_item(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let v = item_by_id(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// A four-list item's versions
///
/// Every version of an item, oldest first (drafts only for those who manage the department).
///
/// Any signed-in account, approval systems included. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "four_lists_list_versions",
    tag = "four-lists",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Item id")),
    responses(
        (status = 200, description = "The versions", body = Vec<FourListItemView>),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/four-list-items/{id}/versions")]
pub async fn list_versions(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let versions = item_versions(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(versions))
}

/// Edit a four-list item
///
/// Edit an item. A draft is edited in place; a published item gets a new draft version (the
/// published one stays in force until that draft is published); a repealed item cannot change.
///
/// Officers of the item's department and admins; bureaus, approval systems and other departments
/// get 403 or 404. Audited with before and after.
#[utoipa::path(
    operation_id = "four_lists_update_item",
    tag = "four-lists",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Item id")),
    request_body = ItemPatch,
    responses(
        (status = 200, description = "The item with its latest (draft) version", body = FourListItemView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your department", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Repealed, or the code is taken / frozen", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/four-list-items/{id}")]
pub async fn update_item(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<ItemPatch>,
) -> Result<HttpResponse, ApiError> {
    let updated = update(&state, user, path.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Publish a four-list item (公布)
///
/// Publish the item's draft version (公布). It replaces the version in force, if any. Bureaus
/// may publish on behalf of departments in their region.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. The version becomes public; audited.
#[utoipa::path(
    operation_id = "four_lists_publish_item",
    tag = "four-lists",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Item id")),
    responses(
        (status = 200, description = "Published", body = FourListItemView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing to publish (no draft version), or repealed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A linked scope item is not published (`validation_failed`), or the legal basis has no row of a sufficient level (`insufficient_legal_basis`, field `legal_basis`): a punishment measure needs a law, administrative regulation, departmental rule, local regulation or central policy document, a local black scope item a law, administrative regulation, departmental rule or local regulation", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/four-list-items/{id}/publish")]
pub async fn publish_item(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let published = publish(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(published))
}

/// Repeal a four-list item (废止)
///
/// Repeal a published item (废止). Entries that cite it keep citing their version; no new entry
/// may cite it.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Marks the item repealed; audited.
#[utoipa::path(
    operation_id = "four_lists_repeal_item",
    tag = "four-lists",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Item id")),
    responses(
        (status = 200, description = "Repealed", body = FourListItemView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not published (a draft) or already repealed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/four-list-items/{id}/repeal")]
pub async fn repeal_item(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let repealed = repeal(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(repealed))
}
