//! `/api/v1/public/four-list-items`: the published four lists, for anyone (对外公开).

use actix_web::{get, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{find_version, ItemKind, ItemRow, LegalBasis, Severity, SubjectType};
use crate::db;
use crate::error::{ApiError, Problem};
use crate::http::{Page, PageQuery};
use crate::schema::{departments, four_list_items};
use crate::state::AppState;

/// A published item as the public sees it: the version in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicFourListItem {
    pub id: i32,
    pub department_id: i32,
    pub department_name: String,
    pub region_code: String,
    pub kind: ItemKind,
    pub code: String,
    pub version: i32,
    pub title: String,
    pub description: String,
    pub legal_basis: Vec<LegalBasis>,
    pub subject_kinds: Vec<SubjectType>,
    pub fields: Vec<String>,
    pub implementing_department_ids: Vec<i32>,
    pub linked_scope_item_ids: Vec<i32>,
    pub severity: Option<Severity>,
    pub publication_months_min: Option<i32>,
    pub publication_months_max: Option<i32>,
    pub repairable: Option<bool>,
    /// Repair training is a condition of repair under this item's standard.
    pub repair_requires_training: Option<bool>,
    /// Black-list scope items: the standard asks for a credit report (信用报告) among the repair
    /// materials (default false).
    pub repair_requires_credit_report: Option<bool>,
    /// Entries of this item are published on the public endpoints.
    pub publicly_disclosed: Option<bool>,
    /// The day the repair waiting period counts from: `determination` or `correction`.
    pub repair_waiting_from: Option<crate::four_lists::WaitingFrom>,
    /// Working days to accept and to verify an objection to an entry of this item.
    pub objection_accept_days: Option<i32>,
    pub objection_verify_days: Option<i32>,
    pub repair_after_months: Option<i32>,
    pub validity_months: Option<i32>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub published_at: Option<chrono::NaiveDateTime>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PublicItemFilter {
    pub kind: Option<ItemKind>,
    pub department_id: Option<i32>,
    pub region_code: Option<String>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

/// The public four lists (公开)
///
/// The published four lists (anonymous). Supports `If-None-Match`.
///
/// Anonymous: no token needed. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "four_lists_public_items",
    tag = "public",
    params(PublicItemFilter),
    responses(
        (status = 200, description = "One page of published items", body = Page<PublicFourListItem>,
         headers(("ETag" = String, description = "Validator for If-None-Match"))),
        (status = 304, description = "Not modified since the ETag sent"),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/public/four-list-items")]
pub async fn public_items(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: crate::http::Query<PublicItemFilter>,
) -> Result<HttpResponse, ApiError> {
    let f = query.into_inner();
    let (limit, offset, page, per_page) = PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    let result = db::run(&state.pool, move |conn| {
        let filtered = || {
            let mut q = four_list_items::table
                .inner_join(departments::table)
                .filter(four_list_items::status.eq("published"))
                .into_boxed();
            if let Some(k) = f.kind {
                q = q.filter(four_list_items::kind.eq(k.as_str()));
            }
            if let Some(d) = f.department_id {
                q = q.filter(four_list_items::department_id.eq(d));
            }
            if let Some(r) = &f.region_code {
                q = q.filter(departments::region_code.eq(r.clone()));
            }
            q
        };
        let total: i64 = filtered().count().get_result(conn)?;
        let rows: Vec<(ItemRow, String, String)> = filtered()
            .order(four_list_items::id.asc())
            .limit(limit)
            .offset(offset)
            .select((
                ItemRow::as_select(),
                departments::name,
                departments::region_code,
            ))
            .load(conn)?;
        let mut items = Vec::with_capacity(rows.len());
        for (item, department_name, region_code) in rows {
            let Some(pv) = item.published_version else {
                continue;
            };
            let v = find_version(conn, item.id, pv)?
                .ok_or_else(|| ApiError::internal("missing version"))?;
            let c = v.content();
            items.push(PublicFourListItem {
                id: item.id,
                department_id: item.department_id,
                department_name,
                region_code,
                kind: ItemKind::parse(&item.kind)
                    .ok_or_else(|| ApiError::internal("unknown kind"))?,
                code: item.code,
                version: pv,
                title: c.title,
                description: c.description,
                legal_basis: c.legal_basis,
                subject_kinds: c.subject_kinds,
                fields: c.fields,
                implementing_department_ids: c.implementing_department_ids,
                linked_scope_item_ids: c.linked_scope_item_ids,
                severity: c.severity,
                publication_months_min: c.publication_months_min,
                publication_months_max: c.publication_months_max,
                repairable: c.repairable,
                repair_requires_training: c.repair_requires_training,
                repair_requires_credit_report: c.repair_requires_credit_report,
                publicly_disclosed: c.publicly_disclosed,
                repair_waiting_from: c.repair_waiting_from,
                objection_accept_days: c.objection_accept_days,
                objection_verify_days: c.objection_verify_days,
                repair_after_months: c.repair_after_months,
                validity_months: c.validity_months,
                published_at: v.published_at,
            });
        }
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    })
    .await?;
    Ok(crate::http::cacheable_json(&req, &result))
}
