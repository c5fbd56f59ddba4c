//! Attestations (佐证): for an evaluation-table indicator no record of the service proves, a
//! bureau records the evidence it saw and the points it awards, for one department or one
//! county/district/zone, one year and quarter. A city bureau attests for the whole city, a
//! county bureau for its own county and its departments. A new attestation for the same
//! indicator, subject, year and quarter supersedes the current one (both kept). Audited.

use std::collections::HashMap;

use actix_web::{get, post, web, HttpResponse};
use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::indicators::{IndicatorView, Source, INDICATORS};
use super::Attested;
use crate::audit::{self, Entry};
use crate::auth::{AuthUser, Role, CITY_REGION};
use crate::db::{self, DbConnection};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{optional_line, optional_text, required_line, ApiJson};
use crate::schema::{departments, regions, scorecard_attestations as sa};
use crate::state::AppState;

/// A new attestation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAttestation {
    /// An attestation indicator's `key` (see `GET /api/v1/scorecards/indicators`).
    pub indicator: String,
    /// The department attested (or give `region_code`).
    pub department_id: Option<i32>,
    /// The county, district or zone attested (or give `department_id`).
    pub region_code: Option<String>,
    pub year: i32,
    /// 1–4: the attestation counts in the year's scorecards from this quarter on.
    pub quarter: i32,
    /// Points awarded: 0 up to the indicator's maximum, in steps of 0.1.
    pub points: f64,
    /// The evidence document's title (1–200 characters).
    pub document_title: String,
    /// Its number (文号), if any.
    pub document_number: Option<String>,
    /// Its date (not in the future).
    #[schema(value_type = String, format = Date)]
    pub document_date: NaiveDate,
    /// What the bureau found (at most 2,000 characters).
    pub note: Option<String>,
    /// A document uploaded with `POST /api/v1/attachments` (PDF, JPEG or PNG) that the caller may
    /// read.
    pub attachment_id: Option<i32>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = sa)]
pub struct Row {
    pub id: i32,
    pub indicator: String,
    pub department_id: Option<i32>,
    pub region_code: String,
    pub year: i32,
    pub quarter: i32,
    pub points_tenths: i32,
    pub document_title: String,
    pub document_number: Option<String>,
    pub document_date: NaiveDate,
    pub note: Option<String>,
    pub attachment_id: Option<i32>,
    pub recorded_by: i32,
    pub created_at: chrono::NaiveDateTime,
    pub superseded_by: Option<i32>,
    pub superseded_at: Option<chrono::NaiveDateTime>,
}

/// An attestation as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Attestation {
    pub id: i32,
    pub indicator: String,
    /// The indicator as the table words it.
    pub indicator_title: String,
    pub max_points: f64,
    /// `department` or `region`.
    pub subject_kind: &'static str,
    pub department_id: Option<i32>,
    /// The department's region, or the region attested.
    pub region_code: String,
    pub year: i32,
    pub quarter: i32,
    pub points: f64,
    pub document_title: String,
    pub document_number: Option<String>,
    #[schema(value_type = String, format = Date)]
    pub document_date: NaiveDate,
    pub note: Option<String>,
    pub attachment_id: Option<i32>,
    pub recorded_by: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    /// The attestation that replaced this one (none while it is current).
    pub superseded_by: Option<i32>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "crate::http::utc::option")]
    pub superseded_at: Option<chrono::NaiveDateTime>,
    /// The attestation this one replaced, if any.
    pub supersedes: Option<i32>,
}

fn view(r: Row, supersedes: Option<i32>) -> Attestation {
    let ind = INDICATORS.iter().find(|i| i.key == r.indicator);
    Attestation {
        id: r.id,
        indicator_title: ind.map(|i| i.title).unwrap_or_default().to_string(),
        max_points: ind.map(|i| i.max_tenths as f64 / 10.0).unwrap_or_default(),
        indicator: r.indicator,
        subject_kind: if r.department_id.is_some() {
            "department"
        } else {
            "region"
        },
        department_id: r.department_id,
        region_code: r.region_code,
        year: r.year,
        quarter: r.quarter,
        points: r.points_tenths as f64 / 10.0,
        document_title: r.document_title,
        document_number: r.document_number,
        document_date: r.document_date,
        note: r.note,
        attachment_id: r.attachment_id,
        recorded_by: r.recorded_by,
        created_at: r.created_at,
        superseded_by: r.superseded_by,
        superseded_at: r.superseded_at,
        supersedes,
    }
}

fn supersedes_of(conn: &mut DbConnection, id: i32) -> Result<Option<i32>, ApiError> {
    Ok(sa::table
        .filter(sa::superseded_by.eq(id))
        .select(sa::id)
        .first(conn)
        .optional()?)
}

/// The attestations that count in the scorecards of `year` up to `quarter`: per subject and
/// indicator, the current one of the latest quarter.
pub struct InForce {
    pub departments: HashMap<i32, Attested>,
    pub regions: HashMap<String, Attested>,
}

pub fn in_force(conn: &mut DbConnection, year: i32, quarter: u32) -> Result<InForce, ApiError> {
    let rows: Vec<(i32, String, Option<i32>, String, i32)> = sa::table
        .filter(sa::year.eq(year))
        .filter(sa::quarter.le(quarter as i32))
        .filter(sa::superseded_by.is_null())
        .order((sa::quarter.asc(), sa::id.asc()))
        .select((
            sa::id,
            sa::indicator,
            sa::department_id,
            sa::region_code,
            sa::points_tenths,
        ))
        .load(conn)?;
    let mut out = InForce {
        departments: HashMap::new(),
        regions: HashMap::new(),
    };
    for (id, key, dept, region, points) in rows {
        let Some(ind) = INDICATORS.iter().find(|i| i.key == key) else {
            continue;
        };
        let m = match dept {
            Some(d) => out.departments.entry(d).or_default(),
            None => out.regions.entry(region).or_default(),
        };
        // Later quarters (and, within one, later ids) replace earlier ones.
        m.insert(ind.key, (id, points.into()));
    }
    Ok(out)
}

/// Record an attestation.
///
/// A bureau records the evidence for an evaluation-table indicator that no record of the
/// service proves (a document's title, number and date, a note, optionally an uploaded
/// attachment) and the points it awards (0 up to the indicator's maximum). The city bureau may
/// attest any department or county/district/zone; a county bureau its own region and its
/// departments. A current attestation for the same indicator, subject, year and quarter is
/// superseded (kept, pointing to the new one). Audited.
#[utoipa::path(
    operation_id = "scorecard_attestations_create",
    tag = "targets",
    security(("bearer" = [])),
    request_body = NewAttestation,
    responses(
        (status = 201, description = "Recorded", body = Attestation),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a bureau; a department or region outside the bureau's scope (`errors[].field` names it)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown indicator, an indicator computed from records, points out of range, unknown department or region, bad period or document", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/scorecard-attestations")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewAttestation>,
) -> Result<HttpResponse, ApiError> {
    let out = record(&state, user, body.0).await?;
    Ok(HttpResponse::Created().json(out))
}

/// Validates and records an attestation (the API's and the console's).
pub(crate) async fn record(
    state: &web::Data<AppState>,
    user: AuthUser,
    n: NewAttestation,
) -> Result<Attestation, ApiError> {
    user.require(&[Role::Bureau])?;
    let mut errors = Vec::new();
    let ind = INDICATORS.iter().find(|i| i.key == n.indicator);
    match ind {
        None => errors.push(FieldError::new(
            "indicator",
            "unknown_indicator",
            format!("there is no indicator {:?}", n.indicator),
        )),
        Some(i) if matches!(i.source, Source::Records(_)) => errors.push(FieldError::new(
            "indicator",
            "computed_from_records",
            format!(
                "{} is computed from the service's records; it cannot be attested",
                i.key
            ),
        )),
        Some(_) => {}
    }
    let points_tenths = (n.points * 10.0).round();
    if !n.points.is_finite() || (n.points * 10.0 - points_tenths).abs() > 1e-6 {
        errors.push(FieldError::new(
            "points",
            "invalid",
            "points must be a number in steps of 0.1",
        ));
    } else if let Some(i) = ind {
        if points_tenths < 0.0 || points_tenths as i64 > i.max_tenths {
            errors.push(FieldError::new(
                "points",
                "out_of_range",
                format!(
                    "points must be between 0 and {} for {}",
                    i.max_tenths as f64 / 10.0,
                    i.key
                ),
            ));
        }
    }
    let today = crate::entries::today();
    if !(1..=4).contains(&n.quarter) {
        errors.push(FieldError::new(
            "quarter",
            "out_of_range",
            "quarter must be between 1 and 4",
        ));
    } else if n.year < 2000
        || super::period(n.year, n.quarter as u32, today).is_none()
        || n.year > today.year()
    {
        errors.push(FieldError::new(
            "year",
            "out_of_range",
            "the year must be 2000 or later and not in the future",
        ));
    }
    if n.document_date > today {
        errors.push(FieldError::new(
            "document_date",
            "in_future",
            "the document's date must not be in the future",
        ));
    }
    let title = required_line(&mut errors, "document_title", &n.document_title, 200);
    let number = optional_line(
        &mut errors,
        "document_number",
        n.document_number.as_deref(),
        100,
    );
    let note = optional_text(&mut errors, "note", n.note.as_deref(), 2000);
    match (n.department_id, n.region_code.as_deref()) {
        (Some(_), Some(_)) | (None, None) => errors.push(FieldError::new(
            "department_id",
            "subject_required",
            "give exactly one of department_id and region_code",
        )),
        _ => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let key = ind.map(|i| i.key).unwrap_or_default();
    let points_tenths = points_tenths as i32;
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            // The subject: a known department or a county/district/zone, within scope.
            let (dept, region, field) = match (n.department_id, n.region_code) {
                (Some(d), _) => {
                    let region: Option<String> = departments::table
                        .find(d)
                        .select(departments::region_code)
                        .first(conn)
                        .optional()?;
                    let region = region.ok_or_else(|| {
                        ApiError::invalid_field(
                            "department_id",
                            "unknown_department",
                            format!("there is no department {d}"),
                        )
                    })?;
                    (Some(d), region, "department_id")
                }
                (None, Some(r)) => {
                    let known: i64 = regions::table
                        .filter(regions::code.eq(&r))
                        .count()
                        .get_result(conn)?;
                    if known == 0 {
                        return Err(ApiError::invalid_field(
                            "region_code",
                            "unknown_region",
                            format!("there is no region {r}"),
                        ));
                    }
                    if r == CITY_REGION {
                        return Err(ApiError::invalid_field(
                            "region_code",
                            "not_scored",
                            "the city as a whole has no scorecard; attest a department or a county, district or zone",
                        ));
                    }
                    (None, r, "region_code")
                }
                (None, None) => return Err(ApiError::internal("no subject")),
            };
            if !user.covers_region(&region) {
                return Err(ApiError::Denied {
                    code: "forbidden",
                    detail: "this subject is outside your scope".into(),
                    errors: vec![FieldError::new(
                        field,
                        "forbidden",
                        format!("{field} is outside your region"),
                    )],
                });
            }
            if let Some(a) = n.attachment_id {
                let readable = crate::repair::attachments::find_meta(conn, a)?
                    .map(|m| crate::repair::attachments::may_read(conn, &user, &m))
                    .transpose()?
                    .unwrap_or(false);
                if !readable {
                    return Err(ApiError::invalid_field(
                        "attachment_id",
                        "unknown_attachment",
                        format!("there is no attachment {a} you may read"),
                    ));
                }
            }
            let now = db::now();
            let id: i32 = diesel::insert_into(sa::table)
                .values((
                    sa::indicator.eq(key),
                    sa::department_id.eq(dept),
                    sa::region_code.eq(&region),
                    sa::year.eq(n.year),
                    sa::quarter.eq(n.quarter),
                    sa::points_tenths.eq(points_tenths),
                    sa::document_title.eq(&title),
                    sa::document_number.eq(&number),
                    sa::document_date.eq(n.document_date),
                    sa::note.eq(&note),
                    sa::attachment_id.eq(n.attachment_id),
                    sa::recorded_by.eq(user.id),
                    sa::created_at.eq(now),
                ))
                .returning(sa::id)
                .get_result(conn)?;
            // The current one for the same indicator, subject and period is superseded.
            let mut previous = sa::table
                .filter(sa::id.ne(id))
                .filter(sa::indicator.eq(key))
                .filter(sa::year.eq(n.year))
                .filter(sa::quarter.eq(n.quarter))
                .filter(sa::region_code.eq(&region))
                .filter(sa::superseded_by.is_null())
                .select(Row::as_select())
                .into_boxed();
            previous = match dept {
                Some(d) => previous.filter(sa::department_id.eq(d)),
                None => previous.filter(sa::department_id.is_null()),
            };
            let previous: Option<Row> = previous.first(conn).optional()?;
            if let Some(p) = &previous {
                diesel::update(sa::table.find(p.id))
                    .set((sa::superseded_by.eq(id), sa::superseded_at.eq(now)))
                    .execute(conn)?;
                audit::append(
                    conn,
                    &user.actor(),
                    Entry::new("scorecard_attestation.supersede", "scorecard_attestation", p.id)
                        .region(Some(region.clone()))
                        .department(dept)
                        .before(p)
                        .after(&serde_json::json!({"superseded_by": id})),
                )?;
            }
            let row: Row = sa::table.find(id).select(Row::as_select()).first(conn)?;
            audit::append(
                conn,
                &user.actor(),
                Entry::new("scorecard_attestation.create", "scorecard_attestation", id)
                    .region(Some(region.clone()))
                    .department(dept)
                    .after(&row),
            )?;
            Ok(view(row, previous.map(|p| p.id)))
        })
    })
    .await
}

/// Whether `user` may read attestations about this subject: admins; bureaus covering the
/// region; a department's officers their department's.
fn may_read(user: &AuthUser, r: &Row) -> bool {
    match user.role {
        Role::Admin => true,
        Role::Bureau => user.covers_region(&r.region_code),
        Role::Department => r.department_id.is_some() && r.department_id == user.department_id,
        Role::ApprovalSystem => false,
    }
}

fn load_readable(conn: &mut DbConnection, user: &AuthUser, id: i32) -> Result<Row, ApiError> {
    let r: Row = sa::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("attestation"))?;
    if may_read(user, &r) {
        Ok(r)
    } else {
        Err(ApiError::not_found("attestation"))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub year: Option<i32>,
    pub department_id: Option<i32>,
    /// The region attested, or the region of the department attested.
    pub region: Option<String>,
    pub indicator: Option<String>,
    /// Include superseded attestations (the history); default false.
    pub include_superseded: Option<bool>,
}

/// List attestations.
///
/// The attestations the caller may read (admins all, a bureau its region's, a department
/// officer its department's), newest first, at most 1,000; current ones only unless
/// `include_superseded=true`.
#[utoipa::path(
    operation_id = "scorecard_attestations_list",
    tag = "targets",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "Attestations", body = Vec<Attestation>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Approval systems", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/scorecard-attestations")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Bureau, Role::Department])?;
    let q = query.into_inner();
    let rows = db::run(&state.pool, move |conn| {
        let mut b = sa::table.select(Row::as_select()).into_boxed();
        if let Some(y) = q.year {
            b = b.filter(sa::year.eq(y));
        }
        if let Some(d) = q.department_id {
            b = b.filter(sa::department_id.eq(d));
        }
        if let Some(r) = q.region {
            b = b.filter(sa::region_code.eq(r));
        }
        if let Some(i) = q.indicator {
            b = b.filter(sa::indicator.eq(i));
        }
        if !q.include_superseded.unwrap_or(false) {
            b = b.filter(sa::superseded_by.is_null());
        }
        match user.role {
            Role::Department => {
                b = b.filter(sa::department_id.eq(user.department_id.unwrap_or(-1)));
            }
            Role::Bureau => {
                if let Some(own) = user.region_filter()? {
                    b = b.filter(sa::region_code.eq(own));
                }
            }
            _ => {}
        }
        let rows: Vec<Row> = b.order(sa::id.desc()).limit(1000).load(conn)?;
        let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
        let back: HashMap<i32, i32> = sa::table
            .filter(sa::superseded_by.eq_any(&ids))
            .select((sa::superseded_by.assume_not_null(), sa::id))
            .load::<(i32, i32)>(conn)?
            .into_iter()
            .collect();
        Ok(rows
            .into_iter()
            .map(|r| {
                let s = back.get(&r.id).copied();
                view(r, s)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// Get one attestation.
///
/// One attestation, current or superseded, if the caller may read it (otherwise 404).
#[utoipa::path(
    operation_id = "scorecard_attestations_get",
    tag = "targets",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Attestation id")),
    responses(
        (status = 200, description = "The attestation", body = Attestation),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Approval systems", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such attestation, or not yours to see", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/scorecard-attestations/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Bureau, Role::Department])?;
    let id = path.into_inner();
    let a = db::run(&state.pool, move |conn| {
        let r = load_readable(conn, &user, id)?;
        let s = supersedes_of(conn, r.id)?;
        Ok(view(r, s))
    })
    .await?;
    Ok(HttpResponse::Ok().json(a))
}

/// Download an attestation's attachment.
///
/// The document attached to an attestation, as uploaded (type recognised from its content),
/// for whoever may read the attestation.
#[utoipa::path(
    operation_id = "scorecard_attestations_attachment",
    tag = "targets",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Attestation id")),
    responses(
        (status = 200, description = "The file", content(
            (Vec<u8> = "application/pdf"),
            (Vec<u8> = "image/jpeg"),
            (Vec<u8> = "image/png"),
        )),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Approval systems", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such attestation, not yours to see, or without attachment", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/scorecard-attestations/{id}/attachment")]
pub async fn attachment(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Bureau, Role::Department])?;
    let id = path.into_inner();
    let (m, bytes) = db::run(&state.pool, move |conn| {
        let r = load_readable(conn, &user, id)?;
        let a = r
            .attachment_id
            .ok_or_else(|| ApiError::not_found("attachment"))?;
        let m = crate::repair::attachments::find_meta(conn, a)?
            .ok_or_else(|| ApiError::not_found("attachment"))?;
        let bytes: Vec<u8> = crate::schema::attachments::table
            .find(a)
            .select(crate::schema::attachments::content)
            .first(conn)?;
        Ok((m, bytes))
    })
    .await?;
    let ext = match m.content_type.as_str() {
        "application/pdf" => "pdf",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        _ => "bin",
    };
    Ok(HttpResponse::Ok()
        .content_type(m.content_type.as_str())
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            crate::imports::disposition(
                &format!("attestation-{id}"),
                m.filename
                    .strip_suffix(&format!(".{ext}"))
                    .unwrap_or(&m.filename),
                ext,
            ),
        ))
        .body(bytes))
}

/// The evaluation table.
///
/// Every indicator of the evaluation table (附件2): its first-level indicator, wording, points,
/// whether it is computed from records or attested, and what evidence counts.
#[utoipa::path(
    operation_id = "scorecards_indicators",
    tag = "targets",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The indicators", body = Vec<IndicatorView>),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Approval systems", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/scorecards/indicators")]
pub async fn indicators(user: AuthUser) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Bureau, Role::Department])?;
    let v: Vec<IndicatorView> = INDICATORS.iter().map(IndicatorView::of).collect();
    Ok(HttpResponse::Ok().json(v))
}
