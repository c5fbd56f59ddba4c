//! `/api/v1/public/list-entries`: the red and black lists as published (对外公开). ID numbers are
//! masked; internal notes, legal representatives' ID numbers and objection details are absent.
//!
//! Publicity ends (终止公示): an entry is public while it is in force, and no longer once it is
//! removed (a repair, a revocation) or its period ends. A removal is then announced for
//! `public_removal_notice_days` (default 30) with the subject's name and code, the list, the date
//! and the reason only: no facts, no legal representative. Staff endpoints keep the whole history.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::*;
use crate::db;
use crate::error::{ApiError, Problem};
use crate::http::{Page, PageQuery};
use crate::schema::{four_list_item_versions, list_entries};
use crate::state::AppState;

/// A published entry as the public sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicEntry {
    pub id: i32,
    pub list_type: ListType,
    /// `in_force` or `removed` (expired entries are removals with reason `expired`).
    pub status: String,
    /// Unified social credit code, or a masked ID number (`110105********002X`).
    pub subject_code: String,
    pub subject_kind: SubjectType,
    pub subject_name: String,
    /// Null for removals (only the removal itself is announced).
    pub legal_representative: Option<String>,
    pub department_name: String,
    pub region_code: String,
    pub scope_item_code: String,
    pub scope_item_title: String,
    pub document_number: String,
    #[schema(value_type = String, format = Date)]
    pub determination_date: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub valid_from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub valid_until: NaiveDate,
    /// The facts found (失信事实); null for removals.
    pub facts: Option<String>,
    pub source: Source,
    pub removal_reason: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub removal_date: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PublicEntryFilter {
    pub list_type: Option<ListType>,
    pub department_id: Option<i32>,
    pub region_code: Option<String>,
    /// `in_force` (default) or `removed` (removals and expiries announced within the last
    /// `public_removal_notice_days` days).
    #[param(pattern = "^(in_force|removed)$")]
    pub status: Option<String>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

/// The public red and black lists (公开)
///
/// The published red and black lists (anonymous): entries in force, or the removals of the last
/// `public_removal_notice_days` days (default 30) without facts or legal representative. Entries of
/// a scope item whose standard does not publish them (`publicly_disclosed: false`, the minor tier's
/// default) are never shown. Supports `If-None-Match`.
///
/// Anonymous: no token needed. ID numbers are masked. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "entries_public_entries",
    tag = "public",
    params(PublicEntryFilter),
    responses(
        (status = 200, description = "One page of entries", body = Page<PublicEntry>,
         headers(("ETag" = String, description = "Validator for If-None-Match"))),
        (status = 304, description = "Not modified since the ETag sent"),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/public/list-entries")]
pub async fn public_entries(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: crate::http::Query<PublicEntryFilter>,
) -> Result<HttpResponse, ApiError> {
    let f = query.into_inner();
    let removed = match f.status.as_deref() {
        None | Some("in_force") => false,
        Some("removed") => true,
        Some(_) => {
            return Err(ApiError::invalid_query(
                "status",
                "invalid_value",
                "status must be in_force or removed",
            ))
        }
    };
    let (limit, offset, page, per_page) = PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    let st = state.clone();
    let notice_days = i64::from(state.settings.public_removal_notice_days);
    let result = db::run(&state.pool, move |conn| {
        let today = today();
        // A removal is announced while it ended within the last `notice_days` days: removed on a
        // day after `since`, or expired (last day in force on or after `since`, not removed
        // before).
        let since = today - chrono::Duration::days(notice_days);
        let filtered = || {
            let mut q = list_entries::table
                .filter(list_entries::status.ne("draft"))
                .into_boxed();
            q = if removed {
                q.filter(
                    list_entries::removal_date
                        .le(today)
                        .and(list_entries::removal_date.gt(since))
                        .or(list_entries::valid_until
                            .lt(today)
                            .and(list_entries::valid_until.ge(since))
                            .and(list_entries::removal_date.is_null().or(
                                list_entries::removal_date.gt(list_entries::valid_until.nullable()),
                            ))
                            .nullable()),
                )
            } else {
                q.filter(in_force_sql(today))
            };
            // Only entries whose list standard publishes them (the minor tier's normally does
            // not).
            q = q.filter(diesel::dsl::not(diesel::dsl::exists(
                four_list_item_versions::table
                    .filter(four_list_item_versions::item_id.eq(list_entries::scope_item_id))
                    .filter(four_list_item_versions::version.eq(list_entries::scope_item_version))
                    .filter(four_list_item_versions::publicly_disclosed.eq(false)),
            )));
            if let Some(t) = f.list_type {
                q = q.filter(list_entries::list_type.eq(t.as_str()));
            }
            if let Some(d) = f.department_id {
                q = q.filter(list_entries::department_id.eq(d));
            }
            if let Some(r) = &f.region_code {
                q = q.filter(list_entries::region_code.eq(r.clone()));
            }
            q
        };
        let total: i64 = filtered().count().get_result(conn)?;
        let rows: Vec<EntryRow> = filtered()
            .order(list_entries::id.asc())
            .limit(limit)
            .offset(offset)
            .select(EntryRow::as_select())
            .load(conn)?;
        let mut items = Vec::with_capacity(rows.len());
        for e in &rows {
            let v = entry_view(conn, &st.pii, e, Disclosure::Masked, today)?;
            let in_force = v.effective_status == "in_force";
            items.push(PublicEntry {
                id: v.id,
                list_type: v.list_type,
                status: if in_force {
                    "in_force".into()
                } else {
                    "removed".into()
                },
                subject_code: v.subject.code,
                subject_kind: v.subject.kind,
                subject_name: v.subject_name,
                legal_representative: v.legal_representative.filter(|_| in_force),
                department_name: v.department_name,
                region_code: v.region_code,
                scope_item_code: v.scope_item_code,
                scope_item_title: v.scope_item_title,
                document_number: v.document_number,
                determination_date: v.determination_date,
                valid_from: v.valid_from,
                valid_until: v.valid_until,
                facts: in_force.then_some(v.facts),
                source: v.source,
                removal_reason: v.removal_reason,
                removal_date: v
                    .removal_date
                    .or((v.effective_status == "expired").then_some(v.valid_until)),
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
