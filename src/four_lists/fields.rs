//! `/api/v1/application-fields`: the managed vocabulary of fields (领域) where measures apply.

use actix_web::{get, patch, post, web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Entry};
use crate::auth::{AuthUser, Role};
use crate::db::{self, DbConnection};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{required_line, ApiJson};
use crate::schema::application_fields;
use crate::state::AppState;

/// A field (领域) such as 行政许可 or 政府采购.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, ToSchema)]
#[diesel(table_name = application_fields)]
pub struct ApplicationField {
    #[schema(example = "administrative_licensing")]
    pub code: String,
    #[schema(
        example = "行政许可",
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub name: String,
    /// Inactive fields cannot be named by new or edited measures.
    pub active: bool,
    /// The field offers the notification-and-commitment procedure (告知承诺制): credit checks in
    /// it say whether the subject may use it (`notification_commitment` in the answer).
    pub notification_commitment: bool,
}

fn find(conn: &mut DbConnection, code: &str) -> Result<Option<ApplicationField>, ApiError> {
    Ok(application_fields::table
        .find(code)
        .select(ApplicationField::as_select())
        .first(conn)
        .optional()?)
}

/// List fields (领域)
///
/// All fields.
///
/// Any signed-in account, approval systems included. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "four_lists_fields_list_fields",
    tag = "four-lists",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every field", body = Vec<ApplicationField>),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/application-fields")]
pub async fn list_fields(
    state: web::Data<AppState>,
    _user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let rows = db::run(&state.pool, |conn| {
        Ok(application_fields::table
            .order(application_fields::code.asc())
            .select(ApplicationField::as_select())
            .load(conn)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(rows))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewField {
    /// Lower-case letters, digits and `_`, 2–50 characters.
    #[schema(example = "land_supply", pattern = "^[a-z0-9_]{2,50}$")]
    pub code: String,
    #[schema(
        example = "土地供应",
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub name: String,
    /// The field offers 告知承诺 (default false).
    pub notification_commitment: Option<bool>,
}

/// Add a field (领域)
///
/// Add a field (admin).
///
/// Admins only; everyone else gets 403. Adds a field to the vocabulary; audited.
#[utoipa::path(
    operation_id = "four_lists_fields_create_field",
    tag = "four-lists",
    security(("bearer" = [])),
    request_body = NewField,
    responses(
        (status = 201, description = "Created", body = ApplicationField),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Code exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/application-fields")]
pub async fn create_field(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewField>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let mut errors = Vec::new();
    let code = body.0.code.trim().to_string();
    if !(2..=50).contains(&code.len())
        || !code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        errors.push(FieldError::new(
            "code",
            "invalid_code",
            "code must be 2–50 characters of a-z, 0-9 or '_'",
        ));
    }
    let name = required_line(&mut errors, "name", &body.0.name, 50);
    let notification_commitment = body.0.notification_commitment.unwrap_or(false);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let actor = user.actor();
    let created = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            if find(conn, &code)?.is_some() {
                return Err(ApiError::conflict(
                    "field_exists",
                    "a field with this code exists",
                ));
            }
            diesel::insert_into(application_fields::table)
                .values((
                    application_fields::code.eq(&code),
                    application_fields::name.eq(&name),
                    application_fields::active.eq(true),
                    application_fields::notification_commitment.eq(notification_commitment),
                ))
                .execute(conn)?;
            let f = find(conn, &code)?.ok_or_else(|| ApiError::internal("field vanished"))?;
            audit::append(
                conn,
                &actor,
                Entry::new("application_field.create", "application_field", &code).after(&f),
            )?;
            Ok(f)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldPatch {
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub name: Option<String>,
    pub active: Option<bool>,
    /// Whether the field offers 告知承诺.
    pub notification_commitment: Option<bool>,
}

/// Change a field (领域)
///
/// Rename, deactivate or reactivate a field, or say whether it offers 告知承诺 (admin).
///
/// Admins only; everyone else gets 403. Audited with before and after.
#[utoipa::path(
    operation_id = "four_lists_fields_update_field",
    tag = "four-lists",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Field code")),
    request_body = FieldPatch,
    responses(
        (status = 200, description = "Updated", body = ApplicationField),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such field", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/application-fields/{code}")]
pub async fn update_field(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: ApiJson<FieldPatch>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let code = path.into_inner();
    let mut errors = Vec::new();
    let name = body
        .0
        .name
        .as_deref()
        .map(|n| required_line(&mut errors, "name", n, 50));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let active = body.0.active;
    let nc = body.0.notification_commitment;
    let actor = user.actor();
    let updated = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let before = find(conn, &code)?.ok_or_else(|| ApiError::not_found("field"))?;
            diesel::update(application_fields::table.find(&code))
                .set((
                    application_fields::name.eq(name.unwrap_or_else(|| before.name.clone())),
                    application_fields::active.eq(active.unwrap_or(before.active)),
                    application_fields::notification_commitment
                        .eq(nc.unwrap_or(before.notification_commitment)),
                ))
                .execute(conn)?;
            let after = find(conn, &code)?.ok_or_else(|| ApiError::internal("field vanished"))?;
            audit::append(
                conn,
                &actor,
                Entry::new("application_field.update", "application_field", &code)
                    .before(&before)
                    .after(&after),
            )?;
            Ok(after)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(updated))
}
