//! `/api/v1/regions` and `/api/v1/departments`.

use actix_web::{get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{find_department, store, Department, Region, DEPARTMENT_KINDS};
use crate::auth::{AuthUser, Role};
use crate::db;
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{required_line, ApiJson};
use crate::state::AppState;

/// List regions (行政区划)
///
/// All regions of the city (通化市 and its counties, districts and zones).
///
/// Any signed-in account, approval systems included. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "org_list_regions",
    tag = "organisation",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every region", body = Vec<Region>),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/regions")]
pub async fn list_regions(
    state: web::Data<AppState>,
    _user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let rows = db::run(&state.pool, store::list_regions).await?;
    Ok(HttpResponse::Ok().json(rows))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DepartmentFilter {
    /// Only departments of this region.
    #[param(example = "220500")]
    pub region: Option<String>,
    /// Only active (`true`) or inactive (`false`) departments.
    pub active: Option<bool>,
    /// `bureau`, `management_committee` or `unit`.
    #[param(pattern = "^(bureau|management_committee|unit)$")]
    pub kind: Option<String>,
}

/// List departments (部门)
///
/// Departments (部门), filtered by region, activity and kind.
///
/// Any signed-in account, approval systems included. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "org_list_departments",
    tag = "organisation",
    security(("bearer" = [])),
    params(DepartmentFilter),
    responses(
        (status = 200, description = "Matching departments, by id", body = Vec<Department>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/departments")]
pub async fn list_departments(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: crate::http::Query<DepartmentFilter>,
) -> Result<HttpResponse, ApiError> {
    let f = query.into_inner();
    if let Some(k) = &f.kind {
        if !DEPARTMENT_KINDS.contains(&k.as_str()) {
            return Err(ApiError::invalid_query(
                "kind",
                "invalid_value",
                "kind must be bureau, management_committee or unit",
            ));
        }
    }
    let q = store::DepartmentQuery {
        region: f.region,
        active: f.active,
        kind: f.kind,
    };
    let rows = db::run(&state.pool, move |conn| store::list_departments(conn, q)).await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// One department (部门)
///
/// One department.
///
/// Any signed-in account, approval systems included. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "org_get_department",
    tag = "organisation",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Department id")),
    responses(
        (status = 200, description = "The department", body = Department),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such department", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/departments/{id}")]
pub async fn get_department(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let dept = db::run(&state.pool, move |conn| find_department(conn, id))
        .await?
        .ok_or_else(|| ApiError::not_found("department"))?;
    Ok(HttpResponse::Ok().json(dept))
}

/// A new department (admin only), e.g. a county-level unit.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    #[schema(
        example = "通化县市场监督管理局",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub name: String,
    #[schema(example = "220521")]
    pub region_code: String,
    /// `bureau`, `management_committee` or `unit`.
    #[schema(example = "unit", pattern = "^(bureau|management_committee|unit)$")]
    pub kind: String,
}

/// Add a department (部门)
///
/// Add a department (admin).
///
/// Admins only; everyone else gets 403. Audited.
#[utoipa::path(
    operation_id = "org_create_department",
    tag = "organisation",
    security(("bearer" = [])),
    request_body = NewDepartment,
    responses(
        (status = 201, description = "Created", body = Department),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A department of that name exists in the region", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/departments")]
pub async fn create_department(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewDepartment>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let input = body.0;
    let mut errors = Vec::new();
    let name = required_line(&mut errors, "name", &input.name, 100);
    if !DEPARTMENT_KINDS.contains(&input.kind.as_str()) {
        errors.push(FieldError::new(
            "kind",
            "invalid_value",
            "kind must be bureau, management_committee or unit",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let actor = user.actor();
    let dept = db::run(&state.pool, move |conn| {
        store::create_department(conn, &actor, &name, &input.region_code, &input.kind)
    })
    .await?;
    Ok(HttpResponse::Created().json(dept))
}

/// Changes to a department (admin): rename, deactivate or reactivate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentPatch {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub name: Option<String>,
    pub active: Option<bool>,
}

/// Change a department (部门)
///
/// Rename, deactivate or reactivate a department (admin).
///
/// Admins only; everyone else gets 403. Audited with before and after.
#[utoipa::path(
    operation_id = "org_update_department",
    tag = "organisation",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Department id")),
    request_body = DepartmentPatch,
    responses(
        (status = 200, description = "Updated", body = Department),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such department", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken in the region", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/departments/{id}")]
pub async fn update_department(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<DepartmentPatch>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let id = path.into_inner();
    let patch = body.0;
    let mut errors = Vec::new();
    let name = patch
        .name
        .as_deref()
        .map(|n| required_line(&mut errors, "name", n, 100));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let actor = user.actor();
    let dept = db::run(&state.pool, move |conn| {
        store::update_department(conn, &actor, id, name, patch.active)
    })
    .await?;
    Ok(HttpResponse::Ok().json(dept))
}
