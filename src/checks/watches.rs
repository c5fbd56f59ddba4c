//! Watches (事中事后监管): an approval system watches the subjects it licensed and pulls
//! notifications when an entry for one of them is published, removed or expires.
//!
//! `published` and `removed` notifications are written by [`notify`] in the same transaction as
//! the change (publish, removal, black-while-red removal, upheld objection). `expired` ones are
//! materialised when the watcher reads its feed. Every insert happens inside [`db::write_tx`],
//! which holds the audit head row until commit, so notification ids are assigned in commit order:
//! a cursor (the last id seen) never skips a row committed later, and a walk sees each
//! notification exactly once.

use std::collections::{HashMap, HashSet};

use actix_web::{delete, get, post, web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, Entry};
use crate::auth::AuthUser;
use crate::auth::CHECKERS;
use crate::backdating::china_day_start;
use crate::db::{self, DbConnection};
use crate::domain::SubjectCode;
use crate::entries::{lookup_key, parse_subject_code, today, EntryRow};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::ApiJson;
use crate::schema::{list_entries, subjects, watch_notifications, watches};
use crate::state::AppState;

/// What happened to an entry of a watched subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WatchEvent {
    Published,
    Removed,
    Expired,
}

impl WatchEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEvent::Published => "published",
            WatchEvent::Removed => "removed",
            WatchEvent::Expired => "expired",
        }
    }
}

/// Records a notification for every watcher of the entry's subject. Call inside the write
/// transaction that made the change.
pub fn notify(
    conn: &mut DbConnection,
    entry: &EntryRow,
    event: WatchEvent,
) -> Result<(), ApiError> {
    let key: Option<String> = subjects::table
        .find(entry.subject_id)
        .select(subjects::lookup_key)
        .first(conn)
        .optional()?;
    let Some(key) = key else {
        return Ok(());
    };
    let ws: Vec<(i32, i32)> = watches::table
        .filter(watches::subject_key.eq(&key))
        .select((watches::id, watches::user_id))
        .load(conn)?;
    let now = db::now();
    for (wid, uid) in ws {
        insert_once(conn, wid, uid, entry, event, now)?;
    }
    Ok(())
}

fn insert_once(
    conn: &mut DbConnection,
    watch_id: i32,
    user_id: i32,
    entry: &EntryRow,
    event: WatchEvent,
    now: chrono::NaiveDateTime,
) -> Result<(), ApiError> {
    let exists: i64 = watch_notifications::table
        .filter(watch_notifications::watch_id.eq(watch_id))
        .filter(watch_notifications::entry_id.eq(entry.id))
        .filter(watch_notifications::event.eq(event.as_str()))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        diesel::insert_into(watch_notifications::table)
            .values((
                watch_notifications::watch_id.eq(watch_id),
                watch_notifications::user_id.eq(user_id),
                watch_notifications::entry_id.eq(entry.id),
                watch_notifications::event.eq(event.as_str()),
                watch_notifications::list_type.eq(&entry.list_type),
                watch_notifications::occurred_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchRequest {
    /// Up to 1,000 codes. Watching a subject twice is harmless.
    #[schema(min_items = 1, max_items = 1000)]
    pub subject_codes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WatchView {
    pub id: i32,
    /// Full code (the watcher gave it).
    pub subject_code: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WatchList {
    pub items: Vec<WatchView>,
}

type WatchRow = (i32, String, bool, chrono::NaiveDateTime);

fn watch_view(state: &AppState, (id, code, enc, created_at): WatchRow) -> WatchView {
    let subject_code = if enc {
        state.pii.decrypt(&code).unwrap_or_default()
    } else {
        code
    };
    WatchView {
        id,
        subject_code,
        created_at,
    }
}

/// Watch subjects (事中事后监管)
///
/// Watch subjects (e.g. those an approval system licensed). Audited (ID numbers masked).
///
/// Approval systems and staff, for themselves. Adds the caller's watches.
#[utoipa::path(
    operation_id = "checks_watches_create",
    tag = "watches",
    security(("bearer" = [])),
    request_body = WatchRequest,
    responses(
        (status = 201, description = "The watches (new and existing) for these codes", body = WatchList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role may not watch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid code (`subject_codes[i]`) or too many", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/watches")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<WatchRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require(CHECKERS)?;
    let req = body.0;
    if req.subject_codes.is_empty() || req.subject_codes.len() > 1000 {
        return Err(ApiError::invalid_field(
            "subject_codes",
            "out_of_range",
            "subject_codes must hold between 1 and 1000 codes",
        ));
    }
    let mut codes: Vec<SubjectCode> = Vec::new();
    let mut errors: Vec<FieldError> = Vec::new();
    for (i, raw) in req.subject_codes.iter().enumerate() {
        match parse_subject_code(&format!("subject_codes[{i}]"), raw, false) {
            Ok((c, _)) => codes.push(c),
            Err(ApiError::Invalid { errors: e, .. }) => errors.extend(e),
            Err(e) => return Err(e),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid {
            code: "invalid_subject_code",
            detail: format!("{} subject codes are invalid", errors.len()),
            errors,
        });
    }
    let st = state.clone();
    let items = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let now = db::now();
            let mut ids = Vec::new();
            let mut added = Vec::new();
            for c in &codes {
                let key = lookup_key(c, &st.pii);
                let existing: Option<i32> = watches::table
                    .filter(watches::user_id.eq(user.id))
                    .filter(watches::subject_key.eq(&key))
                    .select(watches::id)
                    .first(conn)
                    .optional()?;
                let id = match existing {
                    Some(id) => id,
                    None => {
                        let (stored, enc) = match c {
                            SubjectCode::Uscc(u) => (u.as_str().to_string(), false),
                            SubjectCode::IdNumber(n) => (st.pii.encrypt(n.as_str()), true),
                        };
                        let id: i32 = diesel::insert_into(watches::table)
                            .values((
                                watches::user_id.eq(user.id),
                                watches::subject_key.eq(&key),
                                watches::subject_code.eq(&stored),
                                watches::code_encrypted.eq(enc),
                                watches::created_at.eq(now),
                            ))
                            .returning(watches::id)
                            .get_result(conn)?;
                        added.push(c.public());
                        id
                    }
                };
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            if !added.is_empty() {
                audit::append(
                    conn,
                    &user.actor(),
                    Entry::new("watch.create", "watch", user.id)
                        .department(user.department_id)
                        .region(user.region_code.clone())
                        .after(&serde_json::json!({ "subject_codes": added })),
                )?;
            }
            let rows: Vec<WatchRow> = watches::table
                .filter(watches::id.eq_any(&ids))
                .select((
                    watches::id,
                    watches::subject_code,
                    watches::code_encrypted,
                    watches::created_at,
                ))
                .load(conn)?;
            let by_id: HashMap<i32, WatchRow> = rows.into_iter().map(|r| (r.0, r)).collect();
            Ok(ids
                .iter()
                .filter_map(|id| by_id.get(id).cloned())
                .map(|r| watch_view(&st, r))
                .collect::<Vec<_>>())
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(WatchList { items }))
}

/// The caller's watches
///
/// The caller's watches.
///
/// Approval systems and staff, each seeing only its own watches. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "checks_watches_list",
    tag = "watches",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's watches", body = WatchList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/watches")]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    user.require(CHECKERS)?;
    let st = state.clone();
    let items = db::run(&state.pool, move |conn| {
        let rows: Vec<WatchRow> = watches::table
            .filter(watches::user_id.eq(user.id))
            .order(watches::id)
            .select((
                watches::id,
                watches::subject_code,
                watches::code_encrypted,
                watches::created_at,
            ))
            .load(conn)?;
        Ok(rows.into_iter().map(|r| watch_view(&st, r)).collect())
    })
    .await?;
    Ok(HttpResponse::Ok().json(WatchList { items }))
}

/// Stop watching a subject
///
/// Stop watching a subject. Its notifications stay in the feed. Audited.
///
/// Approval systems and staff, for their own watches: another account's watch is 404. Removes the
/// watch.
#[utoipa::path(
    operation_id = "checks_watches_remove",
    tag = "watches",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Watch id")),
    responses(
        (status = 204, description = "No longer watched"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such watch of yours", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/watches/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(CHECKERS)?;
    let id = path.into_inner();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            // The row stays (notifications refer to it); its key is cleared so nothing new matches.
            let n = diesel::update(
                watches::table
                    .filter(watches::id.eq(id))
                    .filter(watches::user_id.eq(user.id))
                    .filter(watches::subject_key.not_like("removed:%")),
            )
            .set(watches::subject_key.eq(format!("removed:{id}")))
            .execute(conn)?;
            if n == 0 {
                return Err(ApiError::not_found("watch"));
            }
            audit::append(
                conn,
                &user.actor(),
                Entry::new("watch.remove", "watch", id)
                    .department(user.department_id)
                    .region(user.region_code.clone()),
            )?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// The last notification id seen (the cursor); omit to start from the beginning.
    pub after: Option<i32>,
    /// At most this many (1–500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Notification {
    /// The cursor value of this notification.
    pub id: i32,
    pub event: WatchEvent,
    pub watch_id: i32,
    pub subject_code: String,
    pub entry_id: i32,
    pub list_type: String,
    pub department_id: i32,
    /// 认定文书号
    pub document_number: String,
    #[schema(value_type = String, format = Date)]
    pub valid_until: chrono::NaiveDate,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub occurred_at: chrono::NaiveDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationFeed {
    pub items: Vec<Notification>,
    /// Pass as `after` next time (unchanged when nothing new).
    pub next_cursor: Option<i32>,
}

/// `expired` notifications for the user's watched subjects not yet recorded.
fn missing_expiries(
    conn: &mut DbConnection,
    user_id: i32,
) -> Result<Vec<(i32, EntryRow)>, ApiError> {
    let ws: Vec<(i32, String, chrono::NaiveDateTime)> = watches::table
        .filter(watches::user_id.eq(user_id))
        .select((watches::id, watches::subject_key, watches::created_at))
        .load(conn)?;
    if ws.is_empty() {
        return Ok(vec![]);
    }
    let keys: Vec<&String> = ws.iter().map(|w| &w.1).collect();
    let subs: Vec<(i32, String)> = subjects::table
        .filter(subjects::lookup_key.eq_any(keys))
        .select((subjects::id, subjects::lookup_key))
        .load(conn)?;
    if subs.is_empty() {
        return Ok(vec![]);
    }
    let today = today();
    let sub_ids: Vec<i32> = subs.iter().map(|s| s.0).collect();
    let expired: Vec<EntryRow> = list_entries::table
        .filter(list_entries::subject_id.eq_any(&sub_ids))
        .filter(list_entries::status.eq("published"))
        .filter(list_entries::removal_date.is_null())
        .filter(list_entries::valid_until.lt(today))
        .select(EntryRow::as_select())
        .load(conn)?;
    if expired.is_empty() {
        return Ok(vec![]);
    }
    let key_of: HashMap<i32, &String> = subs.iter().map(|s| (s.0, &s.1)).collect();
    let done: HashSet<(i32, i32)> = watch_notifications::table
        .filter(watch_notifications::user_id.eq(user_id))
        .filter(watch_notifications::event.eq("expired"))
        .select((watch_notifications::watch_id, watch_notifications::entry_id))
        .load::<(i32, i32)>(conn)?
        .into_iter()
        .collect();
    let mut out = Vec::new();
    for e in expired {
        for (wid, key, created) in &ws {
            // Only expiries that happen while the subject is watched (the period ends at the end
            // of `valid_until`, UTC+8).
            let ends = china_day_start(e.valid_until + chrono::Duration::days(1));
            if key_of.get(&e.subject_id) == Some(&key)
                && ends > *created
                && !done.contains(&(*wid, e.id))
            {
                out.push((*wid, e.clone()));
            }
        }
    }
    Ok(out)
}

/// Notifications for watched subjects
///
/// Notifications for the caller's watched subjects, oldest first, after the cursor. Walking the
/// feed with `after = next_cursor` sees each notification exactly once.
///
/// Approval systems and staff, each reading only its own notifications. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "checks_watches_notifications",
    tag = "watches",
    security(("bearer" = [])),
    params(FeedQuery),
    responses(
        (status = 200, description = "Notifications after the cursor", body = NotificationFeed),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/watches/notifications")]
pub async fn notifications(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require(CHECKERS)?;
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid_query(
            "limit",
            "out_of_range",
            "limit must be between 1 and 500",
        ));
    }
    let after = q.after.unwrap_or(0);
    let st = state.clone();
    let feed = db::run(&state.pool, move |conn| {
        if !missing_expiries(conn, user.id)?.is_empty() {
            db::write_tx(conn, |conn| {
                let now = db::now();
                for (wid, e) in missing_expiries(conn, user.id)? {
                    insert_once(conn, wid, user.id, &e, WatchEvent::Expired, now)?;
                }
                Ok::<_, ApiError>(())
            })?;
        }
        let rows: Vec<(i32, String, i32, i32, String, chrono::NaiveDateTime)> =
            watch_notifications::table
                .filter(watch_notifications::user_id.eq(user.id))
                .filter(watch_notifications::id.gt(after))
                .order(watch_notifications::id)
                .limit(limit)
                .select((
                    watch_notifications::id,
                    watch_notifications::event,
                    watch_notifications::watch_id,
                    watch_notifications::entry_id,
                    watch_notifications::list_type,
                    watch_notifications::occurred_at,
                ))
                .load(conn)?;
        let wids: Vec<i32> = rows.iter().map(|r| r.2).collect();
        let eids: Vec<i32> = rows.iter().map(|r| r.3).collect();
        let ws: HashMap<i32, WatchRow> = watches::table
            .filter(watches::id.eq_any(&wids))
            .select((
                watches::id,
                watches::subject_code,
                watches::code_encrypted,
                watches::created_at,
            ))
            .load::<WatchRow>(conn)?
            .into_iter()
            .map(|r| (r.0, r))
            .collect();
        let es: HashMap<i32, (i32, String, chrono::NaiveDate)> = list_entries::table
            .filter(list_entries::id.eq_any(&eids))
            .select((
                list_entries::id,
                list_entries::department_id,
                list_entries::document_number,
                list_entries::valid_until,
            ))
            .load::<(i32, i32, String, chrono::NaiveDate)>(conn)?
            .into_iter()
            .map(|r| (r.0, (r.1, r.2, r.3)))
            .collect();
        let mut items = Vec::new();
        for (id, event, wid, eid, list_type, occurred_at) in rows {
            let code = ws
                .get(&wid)
                .cloned()
                .map(|w| watch_view(&st, w).subject_code)
                .unwrap_or_default();
            let (department_id, document_number, valid_until) =
                es.get(&eid).cloned().unwrap_or_default();
            items.push(Notification {
                id,
                event: match event.as_str() {
                    "published" => WatchEvent::Published,
                    "removed" => WatchEvent::Removed,
                    _ => WatchEvent::Expired,
                },
                watch_id: wid,
                subject_code: code,
                entry_id: eid,
                list_type,
                department_id,
                document_number,
                valid_until,
                occurred_at,
            });
        }
        let next_cursor = items.last().map(|n| n.id).or(q.after);
        Ok(NotificationFeed { items, next_cursor })
    })
    .await?;
    Ok(HttpResponse::Ok().json(feed))
}
