//! Objections (异议) to list entries: recorded by staff, answered within working-day deadlines,
//! resolved as `upheld` (the entry leaves the list) or `dismissed` (it stays).

use actix_web::{get, post, web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{audit_entry, load_visible, require_manages};
use super::*;
use crate::audit::{self, Entry};
use crate::auth::AuthUser;
use crate::auth::STAFF;
use crate::db;
use crate::error::{ApiError, Problem};
use crate::http::{required_line, required_text, ApiJson};
use crate::schema::{list_entries, objections};
use crate::state::AppState;

/// Working days to accept (受理) an objection, and to verify (核实) it, from the standard of the
/// scope item version the entry cites (its defaults: [`crate::four_lists::DEFAULT_OBJECTION_ACCEPT_DAYS`],
/// [`crate::four_lists::DEFAULT_OBJECTION_VERIFY_DAYS`]), counted with the working-day calendar
/// from the day the objection was received.
fn objection_days(conn: &mut DbConnection, entry: &EntryRow) -> Result<(u32, u32), ApiError> {
    use crate::schema::four_list_item_versions as v;
    let (accept, verify): (Option<i32>, Option<i32>) = v::table
        .find((entry.scope_item_id, entry.scope_item_version))
        .select((v::objection_accept_days, v::objection_verify_days))
        .first(conn)?;
    let days = |d: Option<i32>, default: i32| d.unwrap_or(default).max(1) as u32;
    Ok((
        days(accept, crate::four_lists::DEFAULT_OBJECTION_ACCEPT_DAYS),
        days(verify, crate::four_lists::DEFAULT_OBJECTION_VERIFY_DAYS),
    ))
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = objections)]
pub struct ObjectionRow {
    pub id: i32,
    pub entry_id: i32,
    pub raised_by: String,
    pub grounds: String,
    pub received_date: NaiveDate,
    pub accept_deadline: NaiveDate,
    pub verify_deadline: NaiveDate,
    pub status: String,
    pub resolution_reason: Option<String>,
    #[serde(default, with = "crate::http::utc::option")]
    pub resolved_at: Option<chrono::NaiveDateTime>,
    pub resolved_by: Option<i32>,
    pub created_by: Option<i32>,
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
}

/// An objection as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectionView {
    pub id: i32,
    pub entry_id: i32,
    /// Who raised it (the subject or its agent).
    pub raised_by: String,
    pub grounds: String,
    #[schema(value_type = String, format = Date)]
    pub received_date: NaiveDate,
    /// Last working day to accept it.
    #[schema(value_type = String, format = Date)]
    pub accept_deadline: NaiveDate,
    /// Last working day to verify and answer it.
    #[schema(value_type = String, format = Date)]
    pub verify_deadline: NaiveDate,
    /// `open`, `upheld` or `dismissed`.
    pub status: String,
    /// Open past its verification deadline.
    pub overdue: bool,
    pub resolution_reason: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub resolved_at: Option<chrono::NaiveDateTime>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
}

fn view(o: ObjectionRow, today: NaiveDate) -> ObjectionView {
    ObjectionView {
        overdue: o.status == "open" && today > o.verify_deadline,
        id: o.id,
        entry_id: o.entry_id,
        raised_by: o.raised_by,
        grounds: o.grounds,
        received_date: o.received_date,
        accept_deadline: o.accept_deadline,
        verify_deadline: o.verify_deadline,
        status: o.status,
        resolution_reason: o.resolution_reason,
        resolved_at: o.resolved_at,
        created_at: o.created_at,
    }
}

/// An open objection with the entry it concerns (the console's work bench).
#[derive(Debug, Serialize)]
pub struct OpenObjection {
    pub objection: ObjectionView,
    pub subject_name: String,
    pub document_number: String,
}

/// The open objections on entries of the departments the caller manages, earliest verification
/// deadline first (at most 200).
pub(crate) async fn open_in_scope(
    state: &web::Data<AppState>,
    user: AuthUser,
) -> Result<Vec<OpenObjection>, ApiError> {
    user.require(STAFF)?;
    db::run(&state.pool, move |conn| {
        let managed = crate::auth::managed_departments(conn, &user)?;
        let mut q = objections::table
            .inner_join(list_entries::table)
            .filter(objections::status.eq("open"))
            .into_boxed();
        if let Some(ids) = managed {
            q = q.filter(list_entries::department_id.eq_any(ids));
        }
        let rows: Vec<(ObjectionRow, String, String)> = q
            .order((objections::verify_deadline.asc(), objections::id.asc()))
            .limit(200)
            .select((
                ObjectionRow::as_select(),
                list_entries::subject_name,
                list_entries::document_number,
            ))
            .load(conn)?;
        let today = today();
        Ok(rows
            .into_iter()
            .map(|(o, subject_name, document_number)| OpenObjection {
                objection: view(o, today),
                subject_name,
                document_number,
            })
            .collect())
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewObjection {
    #[schema(
        example = "通化市某某商贸有限公司（委托代理人王某）",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub raised_by: String,
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub grounds: String,
    /// Defaults to today; not in the future.
    #[schema(value_type = Option<String>, format = Date)]
    pub received_date: Option<NaiveDate>,
}

/// Record an objection (异议)
///
/// Record an objection to an entry in force; the entry shows it is under objection.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Adds the objection and flags the entry; audited.
#[utoipa::path(
    operation_id = "entries_objections_create",
    tag = "list-entries",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Entry id")),
    request_body = NewObjection,
    responses(
        (status = 201, description = "Recorded, with its deadlines", body = ObjectionView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in force, or an objection is already open", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/list-entries/{id}/objections")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<NewObjection>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let input = body.0;
    let mut errors = Vec::new();
    let raised_by = required_line(&mut errors, "raised_by", &input.raised_by, 200);
    let grounds = required_text(&mut errors, "grounds", &input.grounds, 5000);
    crate::domain::dates::check_optional_date(&mut errors, "received_date", input.received_date);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let today = today();
    let received = input.received_date.unwrap_or(today);
    if received > today {
        return Err(ApiError::invalid_field(
            "received_date",
            "in_future",
            "the received date cannot be in the future",
        ));
    }
    let st = state.clone();
    let created = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let entry = load_visible(conn, &user, id)?;
            require_manages(conn, &user, &entry)?;
            if entry.status != "published" || !in_force_on(&entry, today) {
                return Err(ApiError::conflict(
                    "not_in_force",
                    "objections are recorded against entries in force",
                ));
            }
            if entry.objection_open {
                return Err(ApiError::conflict(
                    "objection_open",
                    "an objection to this entry is already open",
                ));
            }
            let (accept_days, verify_days) = objection_days(conn, &entry)?;
            let accept = crate::calendar::deadline(conn, received, accept_days)?;
            let verify = crate::calendar::deadline(conn, received, verify_days)?;
            let oid: i32 = diesel::insert_into(objections::table)
                .values((
                    objections::entry_id.eq(id),
                    objections::raised_by.eq(&raised_by),
                    objections::grounds.eq(&grounds),
                    objections::received_date.eq(received),
                    objections::accept_deadline.eq(accept),
                    objections::verify_deadline.eq(verify),
                    objections::status.eq("open"),
                    objections::created_by.eq(user.id),
                    objections::created_at.eq(db::now()),
                ))
                .returning(objections::id)
                .get_result(conn)?;
            diesel::update(list_entries::table.find(id))
                .set((
                    list_entries::objection_open.eq(true),
                    list_entries::updated_at.eq(db::now()),
                ))
                .execute(conn)?;
            let after =
                find_entry(conn, id)?.ok_or_else(|| ApiError::internal("entry vanished"))?;
            audit_entry(
                conn,
                &st,
                &user,
                "list_entry.objection_open",
                Some(&entry),
                &after,
            )?;
            let row: ObjectionRow = objections::table
                .find(oid)
                .select(ObjectionRow::as_select())
                .first(conn)?;
            audit::append(
                conn,
                &user.actor(),
                Entry::new("objection.create", "objection", oid)
                    .region(Some(entry.region_code.clone()))
                    .department(Some(entry.department_id))
                    .after(&row),
            )?;
            Ok(view(row, today))
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

/// An entry's objections (异议)
///
/// The objections to an entry, oldest first.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "entries_objections_list",
    tag = "list-entries",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Entry id")),
    responses(
        (status = 200, description = "The objections", body = Vec<ObjectionView>),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/list-entries/{id}/objections")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let rows = db::run(&state.pool, move |conn| {
        load_visible(conn, &user, id)?;
        let today = today();
        let rows: Vec<ObjectionRow> = objections::table
            .filter(objections::entry_id.eq(id))
            .order(objections::id.asc())
            .select(ObjectionRow::as_select())
            .load(conn)?;
        Ok(rows.into_iter().map(|o| view(o, today)).collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// `upheld` (异议成立: the entry leaves the list) or `dismissed` (不成立: it stays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Upheld,
    Dismissed,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    pub resolution: Resolution,
    /// The answer given (required).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub reason: String,
}

/// Resolve an objection (异议处理)
///
/// Resolve an open objection. Upheld: the entry is removed with reason `objection_upheld` in the
/// same transaction.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Closes the objection (and removes the entry when upheld); audited.
#[utoipa::path(
    operation_id = "entries_objections_resolve",
    tag = "list-entries",
    security(("bearer" = [])),
    params(
        ("id" = i32, Path, description = "Entry id"),
        ("objection_id" = i32, Path, description = "Objection id"),
    ),
    request_body = Resolve,
    responses(
        (status = 200, description = "Resolved", body = ObjectionView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry or objection", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already resolved", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/list-entries/{id}/objections/{objection_id}/resolve")]
pub async fn resolve(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i32, i32)>,
    body: ApiJson<Resolve>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let (id, oid) = path.into_inner();
    let mut errors = Vec::new();
    let reason = required_text(&mut errors, "reason", &body.0.reason, 2000);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let resolution = body.0.resolution;
    let st = state.clone();
    let resolved = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let entry = load_visible(conn, &user, id)?;
            require_manages(conn, &user, &entry)?;
            let before: ObjectionRow = objections::table
                .find(oid)
                .filter(objections::entry_id.eq(id))
                .select(ObjectionRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| ApiError::not_found("objection"))?;
            // Conditional update: of two reviewers acting at once exactly one wins.
            let status = match resolution {
                Resolution::Upheld => "upheld",
                Resolution::Dismissed => "dismissed",
            };
            let now = db::now();
            let changed = diesel::update(
                objections::table
                    .find(oid)
                    .filter(objections::status.eq("open")),
            )
            .set((
                objections::status.eq(status),
                objections::resolution_reason.eq(&reason),
                objections::resolved_at.eq(now),
                objections::resolved_by.eq(user.id),
            ))
            .execute(conn)?;
            if changed == 0 {
                return Err(ApiError::conflict(
                    "already_resolved",
                    "this objection has already been resolved",
                ));
            }
            let today = today();
            if resolution == Resolution::Upheld && entry.status == "published" {
                diesel::update(list_entries::table.find(id))
                    .set((
                        list_entries::status.eq("removed"),
                        list_entries::removal_reason.eq(RemovalReason::ObjectionUpheld.as_str()),
                        list_entries::removal_date.eq(today.max(entry.valid_from)),
                        list_entries::removal_note.eq(&reason),
                        list_entries::removed_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            diesel::update(list_entries::table.find(id))
                .set((
                    list_entries::objection_open.eq(false),
                    list_entries::updated_at.eq(now),
                ))
                .execute(conn)?;
            let after_entry =
                find_entry(conn, id)?.ok_or_else(|| ApiError::internal("entry vanished"))?;
            let action = if resolution == Resolution::Upheld {
                "list_entry.remove"
            } else {
                "list_entry.objection_dismissed"
            };
            audit_entry(conn, &st, &user, action, Some(&entry), &after_entry)?;
            if resolution == Resolution::Upheld && entry.status == "published" {
                crate::checks::watches::notify(
                    conn,
                    &after_entry,
                    crate::checks::watches::WatchEvent::Removed,
                )?;
            }
            let after: ObjectionRow = objections::table
                .find(oid)
                .select(ObjectionRow::as_select())
                .first(conn)?;
            audit::append(
                conn,
                &user.actor(),
                Entry::new("objection.resolve", "objection", oid)
                    .region(Some(entry.region_code.clone()))
                    .department(Some(entry.department_id))
                    .before(&before)
                    .after(&after),
            )?;
            Ok(view(after, today))
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(resolved))
}
