//! Standard commitment-letter templates (标准化信用承诺书): each department publishes templates by
//! purpose — `pre_licensing` (告知承诺, signed before a licence is granted) and `repair` — versioned
//! like four-list items: a published version is never edited; a change makes a new draft version.

use actix_web::{get, patch, post, web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, Entry};
use crate::auth::AuthUser;
use crate::auth::STAFF;
use crate::db::{self, DbConnection};
use crate::error::{ApiError, Problem};
use crate::http::{required_line, required_text, ApiJson};
use crate::schema::{commitment_template_versions as versions, commitment_templates, departments};
use crate::state::AppState;

pub use super::letters::Purpose;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = commitment_templates)]
pub struct TemplateRow {
    pub id: i32,
    pub department_id: i32,
    pub purpose: String,
    pub status: String,
    pub latest_version: i32,
    pub published_version: Option<i32>,
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
    #[serde(default, with = "crate::http::utc::option")]
    pub published_at: Option<chrono::NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = versions)]
pub struct TemplateVersion {
    pub template_id: i32,
    pub version: i32,
    pub title: String,
    /// The letter's text (what a subject signs).
    pub body: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    pub created_by: Option<i32>,
    /// Set once this version was published.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub published_at: Option<chrono::NaiveDateTime>,
}

/// A template as staff see it: every version, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: i32,
    pub department_id: i32,
    pub department_name: String,
    pub purpose: Purpose,
    /// `draft` (never published), `published` or `withdrawn`.
    pub status: String,
    pub latest_version: i32,
    /// The version subjects sign now (`None` before the first publication).
    pub published_version: Option<i32>,
    pub versions: Vec<TemplateVersion>,
}

/// A published template, as the public reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicTemplate {
    pub id: i32,
    pub department_id: i32,
    pub department_name: String,
    pub purpose: Purpose,
    pub version: i32,
    pub title: String,
    pub body: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub published_at: chrono::NaiveDateTime,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    /// Defaults to the caller's department (required for bureau and admin accounts).
    pub department_id: Option<i32>,
    pub purpose: Purpose,
    #[schema(
        example = "信用修复承诺书",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub title: String,
    #[schema(
        min_length = 1,
        max_length = 20000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplate {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub title: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 20000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub body: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TemplateFilter {
    pub department_id: Option<i32>,
    pub purpose: Option<Purpose>,
}

pub fn find(conn: &mut DbConnection, id: i32) -> Result<Option<TemplateRow>, ApiError> {
    Ok(commitment_templates::table
        .find(id)
        .select(TemplateRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn version(
    conn: &mut DbConnection,
    id: i32,
    v: i32,
) -> Result<Option<TemplateVersion>, ApiError> {
    Ok(versions::table
        .find((id, v))
        .select(TemplateVersion::as_select())
        .first(conn)
        .optional()?)
}

fn department(conn: &mut DbConnection, id: i32) -> Result<(String, String), ApiError> {
    Ok(departments::table
        .find(id)
        .select((departments::name, departments::region_code))
        .first(conn)?)
}

fn view(conn: &mut DbConnection, t: TemplateRow) -> Result<TemplateView, ApiError> {
    let (department_name, _) = department(conn, t.department_id)?;
    let vs = versions::table
        .filter(versions::template_id.eq(t.id))
        .order(versions::version.desc())
        .select(TemplateVersion::as_select())
        .load(conn)?;
    Ok(TemplateView {
        id: t.id,
        department_id: t.department_id,
        department_name,
        purpose: Purpose::parse(&t.purpose).ok_or_else(|| ApiError::internal("purpose"))?,
        status: t.status,
        latest_version: t.latest_version,
        published_version: t.published_version,
        versions: vs,
    })
}

/// Loads a template the caller manages (404 if it does not exist, 403 outside their scope).
fn load_managed(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: i32,
) -> Result<TemplateRow, ApiError> {
    let t = find(conn, id)?.ok_or_else(|| ApiError::not_found("commitment template"))?;
    let (_, region) = department(conn, t.department_id)?;
    if !user.may_manage_department(t.department_id, &region) {
        return Err(ApiError::forbidden(
            "this template belongs to a department outside your scope",
        ));
    }
    Ok(t)
}

fn audit_template(
    conn: &mut DbConnection,
    user: &AuthUser,
    action: &str,
    before: Option<&TemplateView>,
    after: &TemplateView,
) -> Result<(), ApiError> {
    let (_, region) = department(conn, after.department_id)?;
    let mut e = Entry::new(action, "commitment_template", after.id)
        .region(Some(region))
        .department(Some(after.department_id))
        .after(after);
    if let Some(b) = before {
        e = e.before(b);
    }
    audit::append(conn, &user.actor(), e)?;
    Ok(())
}

/// Reloads the template after a change, audits before → after, and returns the new view.
fn finish(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: i32,
    action: &str,
    before: &TemplateView,
) -> Result<TemplateView, ApiError> {
    let t = find(conn, id)?.ok_or_else(|| ApiError::internal("vanished"))?;
    let after = view(conn, t)?;
    audit_template(conn, user, action, Some(before), &after)?;
    Ok(after)
}

/// Create a commitment-letter template (信用承诺书模板)
///
/// Create a template (a draft, version 1). Audited.
///
/// Staff for their department or region; approval systems get 403. Creates a draft, not yet public.
#[utoipa::path(
    operation_id = "repair_templates_create",
    tag = "repair",
    security(("bearer" = [])),
    request_body = NewTemplate,
    responses(
        (status = 201, description = "Created", body = TemplateView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/commitment-templates")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewTemplate>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let input = body.0;
    let mut errors = Vec::new();
    let title = required_line(&mut errors, "title", &input.title, 200);
    let text = required_text(&mut errors, "body", &input.body, 20_000);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let v = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let (dept, _) = super::acting_department(conn, &user, input.department_id)?;
            let now = db::now();
            let id: i32 = diesel::insert_into(commitment_templates::table)
                .values((
                    commitment_templates::department_id.eq(dept),
                    commitment_templates::purpose.eq(input.purpose.as_str()),
                    commitment_templates::status.eq("draft"),
                    commitment_templates::latest_version.eq(1),
                    commitment_templates::created_at.eq(now),
                    commitment_templates::updated_at.eq(now),
                ))
                .returning(commitment_templates::id)
                .get_result(conn)?;
            diesel::insert_into(versions::table)
                .values((
                    versions::template_id.eq(id),
                    versions::version.eq(1),
                    versions::title.eq(&title),
                    versions::body.eq(&text),
                    versions::created_at.eq(now),
                    versions::created_by.eq(user.id),
                ))
                .execute(conn)?;
            let t = find(conn, id)?.ok_or_else(|| ApiError::internal("vanished"))?;
            let v = view(conn, t)?;
            audit_template(conn, &user, "commitment_template.create", None, &v)?;
            Ok(v)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(v))
}

/// List commitment-letter templates
///
/// Templates the caller may manage (department officers: their department's; bureaus: their
/// region's; admins: all).
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "repair_templates_list",
    tag = "repair",
    security(("bearer" = [])),
    params(TemplateFilter),
    responses(
        (status = 200, description = "Templates", body = Vec<TemplateView>),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/commitment-templates")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<TemplateFilter>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let f = query.into_inner();
    let out = db::run(&state.pool, move |conn| {
        let managed = crate::auth::managed_departments(conn, &user)?;
        let mut q = commitment_templates::table
            .select(TemplateRow::as_select())
            .order(commitment_templates::id)
            .into_boxed();
        if let Some(ids) = managed {
            q = q.filter(commitment_templates::department_id.eq_any(ids));
        }
        if let Some(d) = f.department_id {
            q = q.filter(commitment_templates::department_id.eq(d));
        }
        if let Some(p) = f.purpose {
            q = q.filter(commitment_templates::purpose.eq(p.as_str()));
        }
        let rows = q.load(conn)?;
        rows.into_iter()
            .map(|t| view(conn, t))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// One commitment-letter template
///
/// One template with all its versions.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "repair_templates_get_one",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Template id")),
    responses(
        (status = 200, description = "The template", body = TemplateView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such template", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/commitment-templates/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let v = db::run(&state.pool, move |conn| {
        let t = load_managed(conn, &user, id)?;
        view(conn, t)
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Edit a commitment-letter template
///
/// Change a template's title or text: edits the draft version, or starts a new draft version when
/// the latest one is published (published versions are never changed). Audited.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404.
#[utoipa::path(
    operation_id = "repair_templates_update",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Template id")),
    request_body = UpdateTemplate,
    responses(
        (status = 200, description = "Updated", body = TemplateView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such template", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Withdrawn", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/commitment-templates/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<UpdateTemplate>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let input = body.0;
    let mut errors = Vec::new();
    let title = input
        .title
        .as_deref()
        .map(|t| required_line(&mut errors, "title", t, 200));
    let text = input
        .body
        .as_deref()
        .map(|t| required_text(&mut errors, "body", t, 20_000));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let v = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let t = load_managed(conn, &user, id)?;
            if t.status == "withdrawn" {
                return Err(ApiError::conflict(
                    "withdrawn",
                    "a withdrawn template is not changed; create a new one",
                ));
            }
            let before = view(conn, t.clone())?;
            let latest = version(conn, id, t.latest_version)?
                .ok_or_else(|| ApiError::internal("missing version"))?;
            let now = db::now();
            let new_title = title.unwrap_or(latest.title.clone());
            let new_body = text.unwrap_or(latest.body.clone());
            if latest.published_at.is_none() {
                diesel::update(versions::table.find((id, latest.version)))
                    .set((versions::title.eq(&new_title), versions::body.eq(&new_body)))
                    .execute(conn)?;
            } else {
                diesel::insert_into(versions::table)
                    .values((
                        versions::template_id.eq(id),
                        versions::version.eq(latest.version + 1),
                        versions::title.eq(&new_title),
                        versions::body.eq(&new_body),
                        versions::created_at.eq(now),
                        versions::created_by.eq(user.id),
                    ))
                    .execute(conn)?;
                diesel::update(commitment_templates::table.find(id))
                    .set(commitment_templates::latest_version.eq(latest.version + 1))
                    .execute(conn)?;
            }
            diesel::update(commitment_templates::table.find(id))
                .set(commitment_templates::updated_at.eq(now))
                .execute(conn)?;
            finish(conn, &user, id, "commitment_template.update", &before)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Publish a commitment-letter template
///
/// Publish the latest (draft) version: from now on it is the text subjects sign. Audited.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. The version becomes public.
#[utoipa::path(
    operation_id = "repair_templates_publish",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Template id")),
    responses(
        (status = 200, description = "Published", body = TemplateView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such template", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing new to publish, or withdrawn", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/commitment-templates/{id}/publish")]
pub async fn publish(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let v = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let t = load_managed(conn, &user, id)?;
            if t.status == "withdrawn" {
                return Err(ApiError::conflict(
                    "withdrawn",
                    "this template is withdrawn",
                ));
            }
            if t.published_version == Some(t.latest_version) {
                return Err(ApiError::conflict(
                    "nothing_to_publish",
                    "the latest version is already published",
                ));
            }
            let before = view(conn, t.clone())?;
            let now = db::now();
            diesel::update(versions::table.find((id, t.latest_version)))
                .set(versions::published_at.eq(now))
                .execute(conn)?;
            diesel::update(commitment_templates::table.find(id))
                .set((
                    commitment_templates::status.eq("published"),
                    commitment_templates::published_version.eq(t.latest_version),
                    commitment_templates::published_at.eq(now),
                    commitment_templates::updated_at.eq(now),
                ))
                .execute(conn)?;
            finish(conn, &user, id, "commitment_template.publish", &before)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Withdraw a commitment-letter template
///
/// Withdraw a published template: no new letters are signed on it; letters already signed keep
/// their text. Audited.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. The template leaves the public list.
#[utoipa::path(
    operation_id = "repair_templates_withdraw",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Template id")),
    responses(
        (status = 200, description = "Withdrawn", body = TemplateView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such template", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not published", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/commitment-templates/{id}/withdraw")]
pub async fn withdraw(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let v = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let t = load_managed(conn, &user, id)?;
            if t.status != "published" {
                return Err(ApiError::conflict(
                    "not_published",
                    "only a published template can be withdrawn",
                ));
            }
            let before = view(conn, t)?;
            diesel::update(commitment_templates::table.find(id))
                .set((
                    commitment_templates::status.eq("withdrawn"),
                    commitment_templates::updated_at.eq(db::now()),
                ))
                .execute(conn)?;
            finish(conn, &user, id, "commitment_template.withdraw", &before)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// The public commitment-letter templates (公开)
///
/// Published commitment-letter templates (公开): the version in force of each, for subjects to read
/// before they sign.
///
/// Anonymous: no token needed. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "repair_templates_public_list",
    tag = "public",
    params(TemplateFilter),
    responses(
        (status = 200, description = "Published templates", body = Vec<PublicTemplate>),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/public/commitment-templates")]
pub async fn public_list(
    state: web::Data<AppState>,
    query: crate::http::Query<TemplateFilter>,
) -> Result<HttpResponse, ApiError> {
    let f = query.into_inner();
    let out = db::run(&state.pool, move |conn| {
        let mut q = commitment_templates::table
            .inner_join(departments::table)
            .inner_join(
                versions::table.on(versions::template_id.eq(commitment_templates::id).and(
                    versions::version
                        .nullable()
                        .eq(commitment_templates::published_version),
                )),
            )
            .filter(commitment_templates::status.eq("published"))
            .select((
                commitment_templates::id,
                commitment_templates::department_id,
                departments::name,
                commitment_templates::purpose,
                TemplateVersion::as_select(),
            ))
            .order(commitment_templates::id)
            .into_boxed();
        if let Some(d) = f.department_id {
            q = q.filter(commitment_templates::department_id.eq(d));
        }
        if let Some(p) = f.purpose {
            q = q.filter(commitment_templates::purpose.eq(p.as_str()));
        }
        let rows: Vec<(i32, i32, String, String, TemplateVersion)> = q.load(conn)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, department_id, department_name, purpose, v)| {
                Some(PublicTemplate {
                    id,
                    department_id,
                    department_name,
                    purpose: Purpose::parse(&purpose)?,
                    version: v.version,
                    title: v.title,
                    body: v.body,
                    published_at: v.published_at?,
                })
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}
