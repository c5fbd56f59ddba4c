//! `/api/v1/audit-log`: reading the trail (admin; a bureau for its region) and checking the chain.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{store, AuditRow, VerifyReport};
use crate::auth::{AuthUser, Role};
use crate::db;
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{Page, PageQuery};
use crate::state::AppState;

/// One audit record (审计记录).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub at: chrono::NaiveDateTime,
    pub actor_user_id: Option<i32>,
    pub actor_username: Option<String>,
    pub actor_role: Option<String>,
    #[schema(example = "user.create")]
    pub action: String,
    #[schema(example = "user")]
    pub entity_type: String,
    pub entity_id: Option<String>,
    pub region_code: Option<String>,
    pub department_id: Option<i32>,
    /// State before the change (JSON), if any.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// State after the change (JSON), if any.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditRow> for AuditRecord {
    fn from(r: AuditRow) -> Self {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        AuditRecord {
            id: r.id,
            at: r.at,
            actor_user_id: r.actor_user_id,
            actor_username: r.actor_username,
            actor_role: r.actor_role,
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            region_code: r.region_code,
            department_id: r.department_id,
            before: parse(r.before_json),
            after: parse(r.after_json),
            request_id: r.request_id,
            ip: r.ip,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    pub actor_user_id: Option<i32>,
    /// Exact action, e.g. `user.update`.
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    /// Only records of this region (bureau users are always limited to theirs).
    pub region_code: Option<String>,
    /// From this time (inclusive): RFC 3339 with `Z` or an offset (`+` sent as `%2B`); without
    /// one, China time (`2026-01-31T00:00:00`).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    /// Up to this time (exclusive); same forms as `from`.
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    /// `true`: only records of back-dated writes (补录: a step recorded with a past effective
    /// date; their `after` carries `backdated`, `effective_date` and `effective_field`);
    /// `false`: only the others.
    pub backdated: Option<bool>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Items per page, 1–200.
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

/// Read the audit trail (审计日志)
///
/// Read the audit trail, newest first (admin: everything; bureau: its region).
///
/// Admins and bureaus; others get 403. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "audit_list_audit",
    tag = "audit",
    security(("bearer" = [])),
    params(AuditFilter),
    responses(
        (status = 200, description = "One page of records, newest first", body = Page<AuditRecord>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or bureau account, or another region", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`from` after `to`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit-log")]
pub async fn list_audit(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<AuditFilter>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Bureau])?;
    let f = query.into_inner();
    let scope = user.region_filter()?;
    if let (Some(own), Some(asked)) = (&scope, &f.region_code) {
        if own != asked {
            return Err(ApiError::forbidden(
                "a county bureau reads only its own region's records",
            ));
        }
    }
    let from = crate::http::utc::query_param("from", f.from.as_deref())?;
    let to = crate::http::utc::query_param("to", f.to.as_deref())?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            // Both well-formed: a cross-field rule the document cannot state, so 422.
            return Err(ApiError::validation(vec![FieldError::new(
                "query.from",
                "out_of_range",
                "from must not be after to",
            )]));
        }
    }
    let (limit, offset, page, per_page) = PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    let region = scope.or(f.region_code.clone());
    let q = store::AuditQuery {
        region,
        actor_user_id: f.actor_user_id,
        action: f.action,
        entity_type: f.entity_type,
        entity_id: f.entity_id,
        from,
        to,
        backdated: f.backdated,
    };
    let (rows, total) = db::run(&state.pool, move |conn| {
        store::search(conn, &q, limit, offset)
    })
    .await?;
    let result = Page {
        items: rows.into_iter().map(AuditRecord::from).collect::<Vec<_>>(),
        page,
        per_page,
        total,
    };
    Ok(HttpResponse::Ok().json(result))
}

/// Verify the audit hash chain (审计日志)
///
/// Check the whole hash chain (admin); the answer names the first broken link.
///
/// Admins only; everyone else gets 403. Recomputes the chain over every record; changes nothing.
#[utoipa::path(
    operation_id = "audit_verify_audit",
    tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The result of the check (ok or the first broken link)", body = VerifyReport),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit-log/verify")]
pub async fn verify_audit(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let report = db::run(&state.pool, |conn| Ok(super::verify(conn)?)).await?;
    Ok(HttpResponse::Ok().json(report))
}
