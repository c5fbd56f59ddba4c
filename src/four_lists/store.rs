//! The four lists' operations (信用"四张清单"): creating, editing, publishing (公布) and repealing
//! (废止) items, reading them and their versions. Called by the API's handlers, the console, the
//! importer and the demo; each authorises its caller and audits what it changes.

use actix_web::web;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::*;
use crate::audit::{self, Entry};
use crate::auth::{AuthUser, Role};
use crate::db;
use crate::error::{ApiError, FieldError};
use crate::http::{Page, PageQuery};
use crate::org::find_department;
use crate::schema::{departments, four_list_item_versions, four_list_items, four_list_links};
use crate::state::AppState;

fn department_region(conn: &mut DbConnection, id: i32) -> Result<String, ApiError> {
    Ok(departments::table
        .find(id)
        .select(departments::region_code)
        .first(conn)?)
}

/// 403 unless the caller manages the item's department.
fn require_manage(
    conn: &mut DbConnection,
    user: &AuthUser,
    department_id: i32,
) -> Result<(), ApiError> {
    let region = department_region(conn, department_id)?;
    if user.may_manage_department(department_id, &region) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "this item belongs to a department outside your scope",
        ))
    }
}

/// The version a caller sees: managers the latest, everyone else the published one.
fn visible_view(
    conn: &mut DbConnection,
    user: &AuthUser,
    item: &ItemRow,
) -> Result<Option<FourListItemView>, ApiError> {
    let region = department_region(conn, item.department_id)?;
    let manages = user.may_manage_department(item.department_id, &region);
    let version = if manages {
        Some(item.latest_version)
    } else {
        item.published_version
    };
    match version {
        None => Ok(None),
        Some(v) => {
            let row = find_version(conn, item.id, v)?
                .ok_or_else(|| ApiError::internal("missing version"))?;
            Ok(Some(view(conn, item, &row)?))
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ItemFilter {
    pub kind: Option<ItemKind>,
    pub department_id: Option<i32>,
    /// Region of the owning department.
    pub region_code: Option<String>,
    /// `draft`, `published` or `repealed`.
    #[param(pattern = "^(draft|published|repealed)$")]
    pub status: Option<String>,
    /// Substring of the code or title.
    pub q: Option<String>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

/// One page of items under a filter (the API's and the console's).
pub(crate) async fn items_page(
    state: &web::Data<AppState>,
    user: AuthUser,
    f: ItemFilter,
) -> Result<Page<FourListItemView>, ApiError> {
    if let Some(s) = &f.status {
        if !["draft", "published", "repealed"].contains(&s.as_str()) {
            return Err(ApiError::invalid_query(
                "status",
                "invalid_value",
                "status must be draft, published or repealed",
            ));
        }
    }
    let (limit, offset, page, per_page) = PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    db::run(&state.pool, move |conn| {
        let managed = crate::auth::managed_departments(conn, &user)?;
        let filtered = || {
            let mut q = four_list_items::table
                .inner_join(departments::table)
                .select(ItemRow::as_select())
                .into_boxed();
            if let Some(ids) = &managed {
                q = q.filter(
                    four_list_items::status
                        .ne("draft")
                        .or(four_list_items::department_id.eq_any(ids.clone())),
                );
            }
            if let Some(k) = f.kind {
                q = q.filter(four_list_items::kind.eq(k.as_str()));
            }
            if let Some(d) = f.department_id {
                q = q.filter(four_list_items::department_id.eq(d));
            }
            if let Some(r) = &f.region_code {
                q = q.filter(departments::region_code.eq(r.clone()));
            }
            if let Some(s) = &f.status {
                q = q.filter(four_list_items::status.eq(s.clone()));
            }
            if let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                let pattern = format!("%{}%", text.replace(['%', '_'], ""));
                let titled = four_list_item_versions::table
                    .filter(four_list_item_versions::title.like(pattern.clone()))
                    .select(four_list_item_versions::item_id);
                q = q.filter(
                    four_list_items::code
                        .like(pattern)
                        .or(four_list_items::id.eq_any(titled)),
                );
            }
            q
        };
        let total: i64 = filtered().count().get_result(conn)?;
        let rows: Vec<ItemRow> = filtered()
            .order(four_list_items::id.asc())
            .limit(limit)
            .offset(offset)
            .load(conn)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            if let Some(v) = visible_view(conn, &user, r)? {
                items.push(v);
            }
        }
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    })
    .await
}

/// A new item (draft). Department officers create items of their own department; admins name
/// the department.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    /// Defaults to the caller's department; required for admins.
    pub department_id: Option<i32>,
    pub kind: ItemKind,
    #[schema(example = "SW-HEI-001")]
    pub code: String,
    #[schema(
        example = "重大税收违法失信主体",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: String,
    pub legal_basis: Vec<LegalBasis>,
    pub subject_kinds: Vec<SubjectType>,
    /// Measures only: field codes from `/api/v1/application-fields`.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Measures only: defaults to the owning department.
    #[serde(default)]
    pub implementing_department_ids: Vec<i32>,
    /// Measures only: scope items (red_scope for incentives, black_scope for punishments).
    #[serde(default)]
    pub linked_scope_item_ids: Vec<i32>,
    /// black_scope only (required there).
    pub severity: Option<Severity>,
    /// black_scope only; defaults from the tier.
    pub publication_months_min: Option<i32>,
    pub publication_months_max: Option<i32>,
    pub repair_after_months: Option<i32>,
    pub repairable: Option<bool>,
    /// black_scope only: repair training is a condition of repair under this item's standard
    /// (default false).
    pub repair_requires_training: Option<bool>,
    /// Black-list scope items: the standard asks for a credit report (信用报告) among the repair
    /// materials (default false).
    pub repair_requires_credit_report: Option<bool>,
    /// black_scope only: entries are published on the public endpoints (default true; the minor
    /// tier false, and at most 3 months when true).
    pub publicly_disclosed: Option<bool>,
    /// black_scope only: `determination` (default) or `correction`: the day the repair waiting
    /// period counts from.
    pub repair_waiting_from: Option<WaitingFrom>,
    /// Scope items: working days to accept an objection (default 2) and to verify and answer it
    /// (default 10).
    pub objection_accept_days: Option<i32>,
    pub objection_verify_days: Option<i32>,
    /// red_scope only (required there).
    pub validity_months: Option<i32>,
    /// Scope items only: `national` for a list a national authority sets, `local` (the default)
    /// for the city's own. A local black list needs a law, administrative regulation,
    /// departmental rule or local regulation among its legal basis to be published.
    pub origin: Option<ItemOrigin>,
}

fn check_code(errors: &mut Vec<FieldError>, code: &str) -> String {
    let code = code.trim().to_string();
    let ok = !code.is_empty()
        && code.chars().count() <= 50
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        errors.push(FieldError::new(
            "code",
            "invalid_code",
            "code must be 1–50 characters of A-Z, a-z, 0-9, '-', '_' or '.'",
        ));
    }
    code
}

/// Records a new item as a draft (the API's and the console's).
pub(crate) async fn create(
    state: &web::Data<AppState>,
    user: AuthUser,
    input: NewItem,
) -> Result<FourListItemView, ApiError> {
    user.require(&[Role::Admin, Role::Department])?;
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| create_item_in(conn, &user, input))
    })
    .await
}

/// Creates a draft item and audits it; call inside [`db::write_tx`].
pub fn create_item_in(
    conn: &mut DbConnection,
    user: &AuthUser,
    input: NewItem,
) -> Result<FourListItemView, ApiError> {
    user.require(&[Role::Admin, Role::Department])?;
    let mut errors = Vec::new();
    let code = check_code(&mut errors, &input.code);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let actor = user.actor();
    let dept = crate::org::acting_department(conn, user, input.department_id, find_department)?;
    let department_id = dept.id;
    let mut implementing = input.implementing_department_ids.clone();
    if input.kind.is_measure() && implementing.is_empty() {
        implementing.push(department_id);
    }
    let content = ItemContent {
        title: input.title,
        description: input.description,
        legal_basis: input.legal_basis,
        subject_kinds: input.subject_kinds,
        fields: input.fields,
        implementing_department_ids: implementing,
        linked_scope_item_ids: input.linked_scope_item_ids,
        severity: input.severity,
        publication_months_min: input.publication_months_min,
        publication_months_max: input.publication_months_max,
        repair_after_months: input.repair_after_months,
        repairable: input.repairable,
        repair_requires_training: input.repair_requires_training,
        repair_requires_credit_report: input.repair_requires_credit_report,
        publicly_disclosed: input.publicly_disclosed,
        repair_waiting_from: input.repair_waiting_from,
        objection_accept_days: input.objection_accept_days,
        objection_verify_days: input.objection_verify_days,
        validity_months: input.validity_months,
        origin: input.origin,
    };
    let content = validate_content(conn, input.kind, None, content)?;
    let taken: i64 = four_list_items::table
        .filter(four_list_items::department_id.eq(department_id))
        .filter(four_list_items::code.eq(&code))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(ApiError::conflict(
            "code_taken",
            "the department already has an item with this code",
        ));
    }
    let now = db::now();
    let id: i32 = diesel::insert_into(four_list_items::table)
        .values((
            four_list_items::department_id.eq(department_id),
            four_list_items::kind.eq(input.kind.as_str()),
            four_list_items::code.eq(&code),
            four_list_items::status.eq("draft"),
            four_list_items::latest_version.eq(1),
            four_list_items::created_at.eq(now),
            four_list_items::updated_at.eq(now),
        ))
        .returning(four_list_items::id)
        .get_result(conn)?;
    insert_version(conn, id, 1, &content, actor.user_id)?;
    let item = find_item(conn, id)?.ok_or_else(|| ApiError::internal("item vanished"))?;
    let v = latest_view(conn, &item)?;
    audit::append(
        conn,
        &actor,
        Entry::new("four_list_item.create", "four_list_item", id)
            .region(Some(v.region_code.clone()))
            .department(Some(department_id))
            .after(&v),
    )?;
    Ok(v)
}

/// Creates and publishes an item in one go (demo data, imports); call inside [`db::write_tx`].
pub fn create_and_publish(
    conn: &mut DbConnection,
    user: &AuthUser,
    input: NewItem,
) -> Result<i32, ApiError> {
    let v = create_item_in(conn, user, input)?;
    publish_item_in(conn, user, v.id)?;
    Ok(v.id)
}

/// Publishes an item's draft version and audits it; call inside [`db::write_tx`].
pub fn publish_item_in(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: i32,
) -> Result<FourListItemView, ApiError> {
    let actor = user.actor();
    let item = load_item(conn, id)?;
    require_manage(conn, user, item.department_id)?;
    if item.status == "repealed" {
        return Err(ApiError::conflict(
            "item_repealed",
            "a repealed item cannot be published again",
        ));
    }
    let draft = find_version(conn, id, item.latest_version)?
        .ok_or_else(|| ApiError::internal("missing version"))?;
    if draft.status != "draft" {
        return Err(ApiError::conflict(
            "nothing_to_publish",
            "the item has no unpublished changes",
        ));
    }
    let content = draft.content();
    // What may be saved as a draft may not always be published: the basis's level (国办发〔2020〕
    // 49号 (五)(六)). Versions published before keep working; they are only flagged.
    let kind = ItemKind::parse(&item.kind).ok_or_else(|| ApiError::internal("unknown kind"))?;
    if let Some(message) = basis_shortfall(kind, content.origin, &content.legal_basis) {
        return Err(ApiError::invalid_field(
            "legal_basis",
            "insufficient_legal_basis",
            message,
        ));
    }
    let mut errors = Vec::new();
    for (i, s) in content.linked_scope_item_ids.iter().enumerate() {
        let published: i64 = four_list_items::table
            .filter(four_list_items::id.eq(s))
            .filter(four_list_items::status.eq("published"))
            .count()
            .get_result(conn)?;
        if published == 0 {
            errors.push(FieldError::new(
                format!("linked_scope_item_ids[{i}]"),
                "scope_not_published",
                format!("scope item {s} must be published first"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let before = latest_view(conn, &item)?;
    let now = db::now();
    if let Some(old) = item.published_version {
        diesel::update(four_list_item_versions::table.find((id, old)))
            .set(four_list_item_versions::status.eq("superseded"))
            .execute(conn)?;
    }
    diesel::update(four_list_item_versions::table.find((id, draft.version)))
        .set((
            four_list_item_versions::status.eq("published"),
            four_list_item_versions::published_at.eq(now),
        ))
        .execute(conn)?;
    diesel::update(four_list_items::table.find(id))
        .set((
            four_list_items::status.eq("published"),
            four_list_items::published_version.eq(draft.version),
            four_list_items::published_at.eq(now),
            four_list_items::updated_at.eq(now),
        ))
        .execute(conn)?;
    diesel::delete(four_list_links::table.filter(four_list_links::measure_item_id.eq(id)))
        .execute(conn)?;
    for s in &content.linked_scope_item_ids {
        diesel::insert_into(four_list_links::table)
            .values((
                four_list_links::measure_item_id.eq(id),
                four_list_links::scope_item_id.eq(s),
            ))
            .execute(conn)?;
    }
    let item = load_item(conn, id)?;
    let after = latest_view(conn, &item)?;
    audit::append(
        conn,
        &actor,
        Entry::new("four_list_item.publish", "four_list_item", id)
            .region(Some(after.region_code.clone()))
            .department(Some(item.department_id))
            .before(&before)
            .after(&after),
    )?;
    crate::feed::enqueue(
        conn,
        crate::feed::Event {
            event_type: crate::feed::EventType::FourListItemPublished,
            entity_type: "four_list_item",
            entity_id: id.to_string(),
            region_code: Some(&after.region_code),
            department_id: Some(item.department_id),
            payload: &after,
        },
    )?;
    Ok(after)
}

fn insert_version(
    conn: &mut DbConnection,
    item_id: i32,
    version: i32,
    c: &ItemContent,
    created_by: Option<i32>,
) -> Result<(), ApiError> {
    diesel::insert_into(four_list_item_versions::table)
        .values((
            four_list_item_versions::item_id.eq(item_id),
            four_list_item_versions::version.eq(version),
            four_list_item_versions::status.eq("draft"),
            four_list_item_versions::title.eq(&c.title),
            four_list_item_versions::description.eq(&c.description),
            four_list_item_versions::legal_basis.eq(json_text(&c.legal_basis)),
            four_list_item_versions::subject_kinds.eq(json_text(&c.subject_kinds)),
            four_list_item_versions::fields.eq(json_text(&c.fields)),
            four_list_item_versions::implementing_departments
                .eq(json_text(&c.implementing_department_ids)),
            four_list_item_versions::linked_scope_items.eq(json_text(&c.linked_scope_item_ids)),
            four_list_item_versions::severity.eq(c.severity.map(|s| s.as_str())),
            four_list_item_versions::publication_months_min.eq(c.publication_months_min),
            four_list_item_versions::publication_months_max.eq(c.publication_months_max),
            four_list_item_versions::repair_after_months.eq(c.repair_after_months),
            four_list_item_versions::repairable.eq(c.repairable),
            four_list_item_versions::repair_requires_training.eq(c.repair_requires_training),
            four_list_item_versions::repair_requires_credit_report
                .eq(c.repair_requires_credit_report),
            four_list_item_versions::publicly_disclosed.eq(c.publicly_disclosed),
            four_list_item_versions::repair_waiting_from
                .eq(c.repair_waiting_from.map(|w| w.as_str())),
            four_list_item_versions::objection_accept_days.eq(c.objection_accept_days),
            four_list_item_versions::objection_verify_days.eq(c.objection_verify_days),
            four_list_item_versions::validity_months.eq(c.validity_months),
            four_list_item_versions::origin.eq(c.origin.map(|o| o.as_str())),
            four_list_item_versions::created_at.eq(db::now()),
            four_list_item_versions::created_by.eq(created_by),
        ))
        .execute(conn)?;
    Ok(())
}

fn load_item(conn: &mut DbConnection, id: i32) -> Result<ItemRow, ApiError> {
    find_item(conn, id)?.ok_or_else(|| ApiError::not_found("four-list item"))
}

/// One item as the caller sees it: managers the latest version, others the published one (the
/// API's and the console's).
pub(crate) async fn item_by_id(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<FourListItemView, ApiError> {
    db::run(&state.pool, move |conn| {
        let item = load_item(conn, id)?;
        visible_view(conn, &user, &item)?.ok_or_else(|| ApiError::not_found("four-list item"))
    })
    .await
}

/// Changes to an item's content. On a published item they become a new draft version.
#[derive(Debug, Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    /// Only while the item was never published.
    pub code: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub title: Option<String>,
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    pub legal_basis: Option<Vec<LegalBasis>>,
    pub subject_kinds: Option<Vec<SubjectType>>,
    pub fields: Option<Vec<String>>,
    pub implementing_department_ids: Option<Vec<i32>>,
    pub linked_scope_item_ids: Option<Vec<i32>>,
    pub severity: Option<Severity>,
    pub publication_months_min: Option<i32>,
    pub publication_months_max: Option<i32>,
    pub repair_after_months: Option<i32>,
    pub repairable: Option<bool>,
    pub repair_requires_training: Option<bool>,
    /// Black-list scope items: the standard asks for a credit report (信用报告) among the repair
    /// materials (default false).
    pub repair_requires_credit_report: Option<bool>,
    pub publicly_disclosed: Option<bool>,
    pub repair_waiting_from: Option<WaitingFrom>,
    pub objection_accept_days: Option<i32>,
    pub objection_verify_days: Option<i32>,
    pub validity_months: Option<i32>,
    pub origin: Option<ItemOrigin>,
}

/// Edits an item: in place while a draft, as a new draft version once published (the API's and
/// the console's).
pub(crate) async fn update(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
    p: ItemPatch,
) -> Result<FourListItemView, ApiError> {
    user.require(&[Role::Admin, Role::Department])?;
    let actor = user.actor();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let item = load_item(conn, id)?;
            require_manage(conn, &user, item.department_id)?;
            if item.status == "repealed" {
                return Err(ApiError::conflict(
                    "item_repealed",
                    "a repealed item cannot be changed",
                ));
            }
            let before = latest_view(conn, &item)?;
            let latest = find_version(conn, id, item.latest_version)?
                .ok_or_else(|| ApiError::internal("missing version"))?;
            let kind =
                ItemKind::parse(&item.kind).ok_or_else(|| ApiError::internal("unknown kind"))?;
            let mut c = latest.content();
            if let Some(v) = p.title {
                c.title = v;
            }
            if let Some(v) = p.description {
                c.description = v;
            }
            if let Some(v) = p.legal_basis {
                c.legal_basis = v;
            }
            if let Some(v) = p.subject_kinds {
                c.subject_kinds = v;
            }
            if let Some(v) = p.fields {
                c.fields = v;
            }
            if let Some(v) = p.implementing_department_ids {
                c.implementing_department_ids = v;
            }
            if let Some(v) = p.linked_scope_item_ids {
                c.linked_scope_item_ids = v;
            }
            if let Some(v) = p.severity {
                if c.severity != Some(v) {
                    // A new tier brings its own defaults unless periods are sent too.
                    c.publication_months_min = None;
                    c.publication_months_max = None;
                    c.repair_after_months = None;
                    c.repairable = None;
                }
                c.severity = Some(v);
            }
            if let Some(v) = p.publication_months_min {
                c.publication_months_min = Some(v);
            }
            if let Some(v) = p.publication_months_max {
                c.publication_months_max = Some(v);
            }
            if let Some(v) = p.repair_after_months {
                c.repair_after_months = Some(v);
            }
            if let Some(v) = p.repairable {
                c.repairable = Some(v);
            }
            if let Some(v) = p.repair_requires_training {
                c.repair_requires_training = Some(v);
            }
            if let Some(v) = p.repair_requires_credit_report {
                c.repair_requires_credit_report = Some(v);
            }
            if let Some(v) = p.publicly_disclosed {
                c.publicly_disclosed = Some(v);
            }
            if let Some(v) = p.repair_waiting_from {
                c.repair_waiting_from = Some(v);
            }
            if let Some(v) = p.objection_accept_days {
                c.objection_accept_days = Some(v);
            }
            if let Some(v) = p.objection_verify_days {
                c.objection_verify_days = Some(v);
            }
            if let Some(v) = p.validity_months {
                c.validity_months = Some(v);
            }
            if let Some(v) = p.origin {
                c.origin = Some(v);
            }
            let c = validate_content(conn, kind, Some(id), c)?;
            if let Some(code) = &p.code {
                if item.published_version.is_some() && code.trim() != item.code {
                    return Err(ApiError::conflict(
                        "code_frozen",
                        "the code of an item that was published cannot change",
                    ));
                }
                let mut errors = Vec::new();
                let code = check_code(&mut errors, code);
                if !errors.is_empty() {
                    return Err(ApiError::validation(errors));
                }
                let taken: i64 = four_list_items::table
                    .filter(four_list_items::department_id.eq(item.department_id))
                    .filter(four_list_items::code.eq(&code))
                    .filter(four_list_items::id.ne(id))
                    .count()
                    .get_result(conn)?;
                if taken > 0 {
                    return Err(ApiError::conflict(
                        "code_taken",
                        "the department already has an item with this code",
                    ));
                }
                diesel::update(four_list_items::table.find(id))
                    .set(four_list_items::code.eq(code))
                    .execute(conn)?;
            }
            if latest.status == "draft" {
                diesel::delete(four_list_item_versions::table.find((id, latest.version)))
                    .execute(conn)?;
                insert_version(conn, id, latest.version, &c, actor.user_id)?;
            } else {
                insert_version(conn, id, item.latest_version + 1, &c, actor.user_id)?;
                diesel::update(four_list_items::table.find(id))
                    .set(four_list_items::latest_version.eq(item.latest_version + 1))
                    .execute(conn)?;
            }
            diesel::update(four_list_items::table.find(id))
                .set(four_list_items::updated_at.eq(db::now()))
                .execute(conn)?;
            let item = load_item(conn, id)?;
            let after = latest_view(conn, &item)?;
            audit::append(
                conn,
                &actor,
                Entry::new("four_list_item.update", "four_list_item", id)
                    .region(Some(after.region_code.clone()))
                    .department(Some(item.department_id))
                    .before(&before)
                    .after(&after),
            )?;
            Ok(after)
        })
    })
    .await
}

/// Publishes an item's draft version (the API's and the console's).
pub(crate) async fn publish(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<FourListItemView, ApiError> {
    user.require(&[Role::Admin, Role::Department, Role::Bureau])?;
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| publish_item_in(conn, &user, id))
    })
    .await
}

/// Every version of an item, oldest first (drafts only for those who manage the department).
pub async fn item_versions(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<Vec<FourListItemView>, ApiError> {
    db::run(&state.pool, move |conn| {
        let item = load_item(conn, id)?;
        let region = department_region(conn, item.department_id)?;
        let manages = user.may_manage_department(item.department_id, &region);
        let rows: Vec<VersionRow> = four_list_item_versions::table
            .filter(four_list_item_versions::item_id.eq(id))
            .order(four_list_item_versions::version.asc())
            .select(VersionRow::as_select())
            .load(conn)?;
        let mut out = Vec::new();
        for r in rows.iter().filter(|r| manages || r.status != "draft") {
            out.push(view(conn, &item, r)?);
        }
        if out.is_empty() {
            return Err(ApiError::not_found("four-list item"));
        }
        Ok(out)
    })
    .await
}

/// Repeals a published item (废止), audited and announced on the feed.
pub async fn repeal(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<FourListItemView, ApiError> {
    user.require(&[Role::Admin, Role::Department, Role::Bureau])?;
    let actor = user.actor();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let item = load_item(conn, id)?;
            require_manage(conn, &user, item.department_id)?;
            let Some(published) = item
                .published_version
                .filter(|_| item.status == "published")
            else {
                return Err(ApiError::conflict(
                    "not_published",
                    if item.status == "repealed" {
                        "the item is already repealed"
                    } else {
                        "a draft item cannot be repealed"
                    },
                ));
            };
            let before = latest_view(conn, &item)?;
            let now = db::now();
            diesel::update(four_list_item_versions::table.find((id, published)))
                .set(four_list_item_versions::status.eq("repealed"))
                .execute(conn)?;
            diesel::update(four_list_items::table.find(id))
                .set((
                    four_list_items::status.eq("repealed"),
                    four_list_items::repealed_at.eq(now),
                    four_list_items::updated_at.eq(now),
                ))
                .execute(conn)?;
            let item = load_item(conn, id)?;
            let after = latest_view(conn, &item)?;
            audit::append(
                conn,
                &actor,
                Entry::new("four_list_item.repeal", "four_list_item", id)
                    .region(Some(after.region_code.clone()))
                    .department(Some(item.department_id))
                    .before(&before)
                    .after(&after),
            )?;
            crate::feed::enqueue(
                conn,
                crate::feed::Event {
                    event_type: crate::feed::EventType::FourListItemRepealed,
                    entity_type: "four_list_item",
                    entity_id: id.to_string(),
                    region_code: Some(&after.region_code),
                    department_id: Some(item.department_id),
                    payload: &after,
                },
            )?;
            Ok(after)
        })
    })
    .await
}
