//! Section 九 (集中开展重点领域失信问题专项治理): which black-list scope items make their listed
//! subjects special-rectification objects (专项治理对象), and under which of the plan's four
//! categories. The year-end report counts the rectification-and-exit rate and the commitment rate
//! of those subjects; see `docs/targets.md`.

use actix_web::{get, put, web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, Entry};
use crate::auth::{AuthUser, Role};
use crate::db::{self, DbConnection};
use crate::error::{ApiError, Problem};
use crate::four_lists::find_item;
use crate::http::ApiJson;
use crate::schema::{departments, four_list_items, special_rectification_items};
use crate::state::AppState;

/// The categories of section 九.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpecialCategory {
    /// 失信被执行人
    JudgmentDefaulter,
    /// 重大税收违法案件当事人
    MajorTaxViolation,
    /// 企业异常名录（经营异常名录）
    AbnormalOperation,
    /// 严重违法企业名单（严重违法失信企业名单）
    SeriousViolation,
}

impl SpecialCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecialCategory::JudgmentDefaulter => "judgment_defaulter",
            SpecialCategory::MajorTaxViolation => "major_tax_violation",
            SpecialCategory::AbnormalOperation => "abnormal_operation",
            SpecialCategory::SeriousViolation => "serious_violation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SpecialCategory::JudgmentDefaulter,
            SpecialCategory::MajorTaxViolation,
            SpecialCategory::AbnormalOperation,
            SpecialCategory::SeriousViolation,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// A scope item marked as a special-rectification category.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SpecialItem {
    pub item_id: i32,
    pub category: SpecialCategory,
    pub department_id: i32,
    pub region_code: String,
    pub set_by: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub set_at: chrono::NaiveDateTime,
}

type MarkingRow = (i32, String, i32, chrono::NaiveDateTime, i32, String);

fn load_markings(
    conn: &mut DbConnection,
    item: Option<i32>,
    region: Option<String>,
) -> Result<Vec<SpecialItem>, ApiError> {
    let mut q = special_rectification_items::table
        .inner_join(four_list_items::table.inner_join(departments::table))
        .select((
            special_rectification_items::item_id,
            special_rectification_items::category,
            special_rectification_items::set_by,
            special_rectification_items::set_at,
            departments::id,
            departments::region_code,
        ))
        .order(special_rectification_items::item_id.asc())
        .into_boxed();
    if let Some(id) = item {
        q = q.filter(special_rectification_items::item_id.eq(id));
    }
    if let Some(r) = region {
        q = q.filter(departments::region_code.eq(r));
    }
    q.load::<MarkingRow>(conn)?
        .into_iter()
        .map(to_item)
        .collect()
}

fn find_marking(conn: &mut DbConnection, item_id: i32) -> Result<Option<SpecialItem>, ApiError> {
    Ok(load_markings(conn, Some(item_id), None)?.pop())
}

fn to_item(
    (item_id, category, set_by, set_at, department_id, region_code): MarkingRow,
) -> Result<SpecialItem, ApiError> {
    Ok(SpecialItem {
        item_id,
        category: SpecialCategory::parse(&category)
            .ok_or_else(|| ApiError::internal("unknown special-rectification category"))?,
        department_id,
        region_code,
        set_by,
        set_at,
    })
}

/// Sets or clears the category; `None` clears.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecialCategoryInput {
    /// `judgment_defaulter` (失信被执行人), `major_tax_violation` (重大税收违法案件当事人),
    /// `abnormal_operation` (企业异常名录), `serious_violation` (严重违法企业名单), or null to clear.
    pub category: Option<SpecialCategory>,
}

/// Mark a special-rectification category (专项治理)
///
/// Mark a black-list scope item (失信名单认定范围) as a special-rectification category of section
/// 九, or clear the mark (`category: null`). Admins, or a bureau whose region covers the item's
/// department. Audited with before and after. Subjects listed under a marked item are the
/// special-rectification objects counted by `GET /api/v1/targets`.
///
/// Department officers and approval systems get 403. Changes the item's mark and so the section 九
/// figures.
#[utoipa::path(
    operation_id = "targets_special_put_special_category",
    tag = "targets",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Four-list item id")),
    request_body = SpecialCategoryInput,
    responses(
        (status = 200, description = "The mark as stored (null when cleared)", body = Option<SpecialItem>),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or bureau, or the item's department is outside your region", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The item is not a black-list scope item", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/four-list-items/{id}/special-category")]
pub async fn put_special_category(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<SpecialCategoryInput>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Bureau])?;
    let id = path.into_inner();
    let category = body.0.category;
    let actor = user.actor();
    let stored = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let item = find_item(conn, id)?
                .ok_or_else(|| ApiError::not_found(format!("four-list item {id}")))?;
            let region: String = departments::table
                .find(item.department_id)
                .select(departments::region_code)
                .first(conn)?;
            if !user.covers_region(&region) {
                return Err(ApiError::forbidden(
                    "this item belongs to a department outside your region",
                ));
            }
            if item.kind != "black_scope" {
                return Err(ApiError::invalid_field(
                    "category",
                    "not_black_scope",
                    "only black-list scope items (失信名单认定范围) can mark special-rectification objects",
                ));
            }
            let before = find_marking(conn, id)?;
            diesel::delete(special_rectification_items::table.find(id)).execute(conn)?;
            if let Some(c) = category {
                diesel::insert_into(special_rectification_items::table)
                    .values((
                        special_rectification_items::item_id.eq(id),
                        special_rectification_items::category.eq(c.as_str()),
                        special_rectification_items::set_by.eq(user.id),
                        special_rectification_items::set_at.eq(db::now()),
                    ))
                    .execute(conn)?;
            }
            let after = find_marking(conn, id)?;
            let mut entry = Entry::new("four_list_item.special_category", "four_list_item", id)
                .region(Some(region))
                .department(Some(item.department_id));
            if let Some(b) = &before {
                entry = entry.before(b);
            }
            if let Some(a) = &after {
                entry = entry.after(a);
            }
            audit::append(conn, &actor, entry)?;
            Ok(after)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(stored))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SpecialFilter {
    /// Only items of departments in this region.
    pub region_code: Option<String>,
}

/// List special-rectification categories (专项治理)
///
/// The scope items marked as special-rectification categories (section 九), for staff.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "targets_special_list_special",
    tag = "targets",
    security(("bearer" = [])),
    params(SpecialFilter),
    responses(
        (status = 200, description = "Marked items, by item id", body = Vec<SpecialItem>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/special-rectification-items")]
pub async fn list_special(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<SpecialFilter>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Bureau, Role::Department])?;
    let region = query.into_inner().region_code;
    let rows = db::run(&state.pool, move |conn| load_markings(conn, None, region)).await?;
    Ok(HttpResponse::Ok().json(rows))
}
