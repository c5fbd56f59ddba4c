//! Repair training (信用修复培训) sessions and attendance, and public-service records of
//! individuals (志愿服务 / 社会公益服务 / 扶贫帮困).

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, Entry};
use crate::auth::STAFF;
use crate::auth::{AuthUser, Role};
use crate::db::{self, DbConnection};
use crate::domain::SubjectCode;
use crate::entries::{subject_ref, today, Disclosure, SubjectRef, SubjectRow};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{required_line, ApiJson};
use crate::schema::{service_records, subjects, training_attendance, training_sessions};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    Online,
    Offline,
}

impl Form {
    fn as_str(self) -> &'static str {
        match self {
            Form::Online => "online",
            Form::Offline => "offline",
        }
    }
}

/// Kinds of public service an individual may show (2019 plan, section 六).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// 志愿服务
    Volunteer,
    /// 社会公益服务
    PublicWelfare,
    /// 扶贫帮困
    PovertyRelief,
}

impl ServiceKind {
    fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Volunteer => "volunteer",
            ServiceKind::PublicWelfare => "public_welfare",
            ServiceKind::PovertyRelief => "poverty_relief",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = training_sessions)]
pub struct SessionRow {
    pub id: i32,
    /// 组织部门
    pub department_id: i32,
    pub region_code: String,
    #[schema(value_type = String, format = Date)]
    pub session_date: NaiveDate,
    /// `online` or `offline`.
    pub form: String,
    pub topic: String,
    pub hours: f64,
    pub created_by: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = training_attendance)]
pub struct AttendanceRow {
    pub id: i32,
    pub session_id: i32,
    pub subject_id: i32,
    pub attendee_name: String,
    pub completed: bool,
    pub certificate_number: Option<String>,
    pub recorded_by: i32,
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttendanceView {
    pub id: i32,
    pub session_id: i32,
    pub subject: SubjectRef,
    /// Who attended (the legal representative for organisations).
    pub attendee_name: String,
    pub completed: bool,
    pub certificate_number: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = service_records)]
pub struct ServiceRow {
    pub id: i32,
    pub subject_id: i32,
    pub kind: String,
    pub organisation: String,
    pub hours: f64,
    pub service_date: NaiveDate,
    pub proof_reference: String,
    pub department_id: i32,
    pub region_code: String,
    pub recorded_by: i32,
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    pub id: i32,
    pub subject: SubjectRef,
    /// `volunteer` (志愿服务), `public_welfare` (社会公益服务) or `poverty_relief` (扶贫帮困).
    pub kind: String,
    pub organisation: String,
    pub hours: f64,
    #[schema(value_type = String, format = Date)]
    pub service_date: NaiveDate,
    pub proof_reference: String,
    pub department_id: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// The organising department; defaults to the caller's.
    pub department_id: Option<i32>,
    #[schema(value_type = String, format = Date)]
    pub session_date: NaiveDate,
    pub form: Form,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub topic: String,
    /// Length in hours (more than 0, at most 100).
    #[schema(exclusive_minimum = 0, maximum = 100)]
    pub hours: f64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAttendance {
    pub subject_code: String,
    /// Needed only when the subject is not recorded yet.
    pub subject_name: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub attendee_name: String,
    pub completed: bool,
    pub certificate_number: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkAttendance {
    /// All or nothing: one invalid item rejects the whole request, naming `items[i].…`. 1–1000.
    #[schema(min_items = 1, max_items = 1000)]
    pub items: Vec<NewAttendance>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAttendance {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub attendee_name: Option<String>,
    pub completed: Option<bool>,
    pub certificate_number: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServiceRecord {
    /// A resident ID number: public service is how individuals repair.
    pub subject_code: String,
    pub subject_name: Option<String>,
    pub kind: ServiceKind,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub organisation: String,
    #[schema(exclusive_minimum = 0, maximum = 100)]
    pub hours: f64,
    #[schema(value_type = String, format = Date)]
    pub service_date: NaiveDate,
    /// The certificate or record number of the proof.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub proof_reference: String,
    /// The recording department; defaults to the caller's.
    pub department_id: Option<i32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubjectFilter {
    #[param(pattern = "^[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{18}$")]
    pub subject_code: Option<String>,
}

fn subject_row(conn: &mut DbConnection, id: i32) -> Result<SubjectRow, ApiError> {
    Ok(subjects::table
        .find(id)
        .select(SubjectRow::as_select())
        .first(conn)?)
}

fn attendance_view(
    conn: &mut DbConnection,
    state: &AppState,
    a: AttendanceRow,
    d: Disclosure,
) -> Result<AttendanceView, ApiError> {
    let s = subject_row(conn, a.subject_id)?;
    Ok(AttendanceView {
        id: a.id,
        session_id: a.session_id,
        subject: subject_ref(&s, &state.pii, d)?,
        attendee_name: a.attendee_name,
        completed: a.completed,
        certificate_number: a.certificate_number,
        updated_at: a.updated_at,
    })
}

fn service_view(
    conn: &mut DbConnection,
    state: &AppState,
    r: ServiceRow,
    d: Disclosure,
) -> Result<ServiceView, ApiError> {
    let s = subject_row(conn, r.subject_id)?;
    Ok(ServiceView {
        id: r.id,
        subject: subject_ref(&s, &state.pii, d)?,
        kind: r.kind,
        organisation: r.organisation,
        hours: r.hours,
        service_date: r.service_date,
        proof_reference: r.proof_reference,
        department_id: r.department_id,
        created_at: r.created_at,
    })
}

pub fn find_attendance(
    conn: &mut DbConnection,
    id: i32,
) -> Result<Option<AttendanceRow>, ApiError> {
    Ok(training_attendance::table
        .find(id)
        .select(AttendanceRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_service(conn: &mut DbConnection, id: i32) -> Result<Option<ServiceRow>, ApiError> {
    Ok(service_records::table
        .find(id)
        .select(ServiceRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_session(conn: &mut DbConnection, id: i32) -> Result<Option<SessionRow>, ApiError> {
    Ok(training_sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?)
}

fn load_session(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: i32,
    write: bool,
) -> Result<SessionRow, ApiError> {
    let s = find_session(conn, id)?.ok_or_else(|| ApiError::not_found("training session"))?;
    let allowed = if write {
        user.may_manage_department(s.department_id, &s.region_code)
    } else {
        super::may_see(user, s.department_id, &s.region_code)
    };
    if !allowed {
        return Err(ApiError::forbidden(
            "this session was organised by a department outside your scope",
        ));
    }
    Ok(s)
}

fn check_hours(errors: &mut Vec<FieldError>, field: &str, hours: f64) {
    if !(hours > 0.0 && hours <= 100.0) {
        errors.push(FieldError::new(
            field,
            "out_of_range",
            format!("{field} must be more than 0 and at most 100"),
        ));
    }
}

/// Record a repair-training session (信用修复培训)
///
/// Record a repair-training session (信用修复培训). Audited.
///
/// Staff for their department or region; approval systems get 403. Adds the session.
#[utoipa::path(
    operation_id = "repair_training_create_session",
    tag = "repair",
    security(("bearer" = [])),
    request_body = NewSession,
    responses(
        (status = 201, description = "Recorded", body = SessionRow),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/training-sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewSession>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let input = body.0;
    let mut errors = Vec::new();
    let topic = required_line(&mut errors, "topic", &input.topic, 200);
    crate::domain::dates::check_date(&mut errors, "session_date", input.session_date);
    check_hours(&mut errors, "hours", input.hours);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let s = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let (dept, region) = super::acting_department(conn, &user, input.department_id)?;
            let id: i32 = diesel::insert_into(training_sessions::table)
                .values((
                    training_sessions::department_id.eq(dept),
                    training_sessions::region_code.eq(&region),
                    training_sessions::session_date.eq(input.session_date),
                    training_sessions::form.eq(input.form.as_str()),
                    training_sessions::topic.eq(&topic),
                    training_sessions::hours.eq(input.hours),
                    training_sessions::created_by.eq(user.id),
                    training_sessions::created_at.eq(db::now()),
                ))
                .returning(training_sessions::id)
                .get_result(conn)?;
            let s = find_session(conn, id)?.ok_or_else(|| ApiError::internal("vanished"))?;
            audit::append(
                conn,
                &user.actor(),
                Entry::new("training_session.create", "training_session", id)
                    .region(Some(region))
                    .department(Some(dept))
                    .after(&s),
            )?;
            Ok(s)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(s))
}

/// List repair-training sessions
///
/// Training sessions the caller may see, newest first.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "repair_training_list_sessions",
    tag = "repair",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Sessions", body = Vec<SessionRow>),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/training-sessions")]
pub async fn list_sessions(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let out = db::run(&state.pool, move |conn| {
        let mut q = training_sessions::table
            .select(SessionRow::as_select())
            .order((
                training_sessions::session_date.desc(),
                training_sessions::id.desc(),
            ))
            .limit(1000)
            .into_boxed();
        match user.role {
            Role::Department => {
                q = q.filter(training_sessions::department_id.eq(user.department_id.unwrap_or(-1)))
            }
            _ => {
                if let Some(r) = user.region_filter()? {
                    q = q.filter(training_sessions::region_code.eq(r));
                }
            }
        }
        Ok(q.load::<SessionRow>(conn)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// One repair-training session
///
/// One session.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "repair_training_get_session",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session", body = SessionRow),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/training-sessions/{id}")]
pub async fn get_session(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let s = db::run(&state.pool, move |conn| {
        load_session(conn, &user, id, false)
    })
    .await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Validates and inserts one attendance; `prefix` names fields (`` or `items[3].`).
fn insert_attendance(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    session: &SessionRow,
    a: &NewAttendance,
    prefix: &str,
) -> Result<AttendanceRow, ApiError> {
    let mut errors = Vec::new();
    let attendee = required_line(
        &mut errors,
        &format!("{prefix}attendee_name"),
        &a.attendee_name,
        100,
    );
    let certificate = crate::http::optional_line(
        &mut errors,
        &format!("{prefix}certificate_number"),
        a.certificate_number.as_deref(),
        100,
    );
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let subject = super::resolve_subject(
        conn,
        &state.pii,
        &format!("{prefix}subject_code"),
        &a.subject_code,
        a.subject_name.as_deref(),
        &session.region_code,
    )
    .map_err(|e| match e {
        ApiError::Invalid {
            code,
            detail,
            mut errors,
        } => {
            for f in errors.iter_mut() {
                if f.field == "subject_name" {
                    f.field = format!("{prefix}subject_name");
                }
            }
            ApiError::Invalid {
                code,
                detail,
                errors,
            }
        }
        other => other,
    })?;
    let exists: i64 = training_attendance::table
        .filter(training_attendance::session_id.eq(session.id))
        .filter(training_attendance::subject_id.eq(subject.id))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Err(ApiError::conflict(
            "already_recorded",
            format!("{prefix}subject_code already has an attendance in this session; correct it with PATCH"),
        ));
    }
    let now = db::now();
    let id: i32 = diesel::insert_into(training_attendance::table)
        .values((
            training_attendance::session_id.eq(session.id),
            training_attendance::subject_id.eq(subject.id),
            training_attendance::attendee_name.eq(&attendee),
            training_attendance::completed.eq(a.completed),
            training_attendance::certificate_number.eq(&certificate),
            training_attendance::recorded_by.eq(user.id),
            training_attendance::created_at.eq(now),
            training_attendance::updated_at.eq(now),
        ))
        .returning(training_attendance::id)
        .get_result(conn)?;
    let row = find_attendance(conn, id)?.ok_or_else(|| ApiError::internal("vanished"))?;
    let masked = attendance_view(conn, state, row.clone(), Disclosure::Masked)?;
    audit::append(
        conn,
        &user.actor(),
        Entry::new("training_attendance.create", "training_attendance", id)
            .region(Some(session.region_code.clone()))
            .department(Some(session.department_id))
            .after(&masked),
    )?;
    Ok(row)
}

/// Record a training attendance
///
/// Record one subject's attendance (the legal representative for organisations). Audited.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Adds the attendance (ID numbers encrypted, masked in the audit).
#[utoipa::path(
    operation_id = "repair_training_add_attendance",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Session id")),
    request_body = NewAttendance,
    responses(
        (status = 201, description = "Recorded", body = AttendanceView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already recorded for this session", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/training-sessions/{id}/attendance")]
pub async fn add_attendance(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<NewAttendance>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let input = body.0;
    let st = state.clone();
    let v = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let session = load_session(conn, &user, id, true)?;
            let row = insert_attendance(conn, &st, &user, &session, &input, "")?;
            attendance_view(conn, &st, row, Disclosure::Full)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(v))
}

/// Record many training attendances
///
/// Record many attendances at once, all or nothing. Audited per attendance.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Adds 1 to 1,000 attendances in one transaction; the body is limited to `max_body_bytes` (1
/// MiB by default).
#[utoipa::path(
    operation_id = "repair_training_add_attendance_bulk",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Session id")),
    request_body = BulkAttendance,
    responses(
        (status = 201, description = "All recorded", body = Vec<AttendanceView>),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An item is already recorded; nothing was", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An item is invalid (`items[i].…`); nothing was recorded", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/training-sessions/{id}/attendance/bulk")]
pub async fn add_attendance_bulk(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<BulkAttendance>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let input = body.0;
    if input.items.is_empty() || input.items.len() > 1000 {
        return Err(ApiError::invalid_field(
            "items",
            "out_of_range",
            "items must hold between 1 and 1000 attendances",
        ));
    }
    let st = state.clone();
    let v = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let session = load_session(conn, &user, id, true)?;
            let mut out = Vec::with_capacity(input.items.len());
            for (i, a) in input.items.iter().enumerate() {
                let row =
                    insert_attendance(conn, &st, &user, &session, a, &format!("items[{i}]."))?;
                out.push(attendance_view(conn, &st, row, Disclosure::Full)?);
            }
            Ok(out)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(v))
}

/// A training session's attendance
///
/// The attendance of a session.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "repair_training_list_attendance",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Session id")),
    responses(
        (status = 200, description = "Attendance", body = Vec<AttendanceView>),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/training-sessions/{id}/attendance")]
pub async fn list_attendance(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let st = state.clone();
    let v = db::run(&state.pool, move |conn| {
        load_session(conn, &user, id, false)?;
        let rows: Vec<AttendanceRow> = training_attendance::table
            .filter(training_attendance::session_id.eq(id))
            .order(training_attendance::id)
            .select(AttendanceRow::as_select())
            .load(conn)?;
        rows.into_iter()
            .map(|a| attendance_view(conn, &st, a, Disclosure::Full))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Correct a training attendance
///
/// Correct an attendance (e.g. mark it completed with its certificate). Audited.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Changes the attendance; audited with before and after.
#[utoipa::path(
    operation_id = "repair_training_update_attendance",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Attendance id")),
    request_body = UpdateAttendance,
    responses(
        (status = 200, description = "Updated", body = AttendanceView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such attendance", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/training-attendance/{id}")]
pub async fn update_attendance(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<UpdateAttendance>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let input = body.0;
    let mut errors = Vec::new();
    let attendee = input
        .attendee_name
        .as_deref()
        .map(|n| required_line(&mut errors, "attendee_name", n, 100));
    let certificate = crate::http::optional_line(
        &mut errors,
        "certificate_number",
        input.certificate_number.as_deref(),
        100,
    );
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let st = state.clone();
    let v = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let before =
                find_attendance(conn, id)?.ok_or_else(|| ApiError::not_found("attendance"))?;
            let session = load_session(conn, &user, before.session_id, true)?;
            let before_view = attendance_view(conn, &st, before.clone(), Disclosure::Masked)?;
            diesel::update(training_attendance::table.find(id))
                .set((
                    training_attendance::attendee_name
                        .eq(attendee.unwrap_or(before.attendee_name.clone())),
                    training_attendance::completed.eq(input.completed.unwrap_or(before.completed)),
                    training_attendance::certificate_number
                        .eq(certificate.or(before.certificate_number.clone())),
                    training_attendance::updated_at.eq(db::now()),
                ))
                .execute(conn)?;
            let after = find_attendance(conn, id)?.ok_or_else(|| ApiError::internal("vanished"))?;
            let after_view = attendance_view(conn, &st, after.clone(), Disclosure::Masked)?;
            audit::append(
                conn,
                &user.actor(),
                Entry::new("training_attendance.update", "training_attendance", id)
                    .region(Some(session.region_code.clone()))
                    .department(Some(session.department_id))
                    .before(&before_view)
                    .after(&after_view),
            )?;
            attendance_view(conn, &st, after, Disclosure::Full)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Record public service (公益服务)
///
/// Record an individual's public service (志愿服务 / 社会公益服务 / 扶贫帮困), which an individual
/// may show instead of training when applying for repair. Audited (ID numbers masked).
///
/// Staff for their department or region; approval systems get 403. Adds the record.
#[utoipa::path(
    operation_id = "repair_training_create_service",
    tag = "repair",
    security(("bearer" = [])),
    request_body = NewServiceRecord,
    responses(
        (status = 201, description = "Recorded", body = ServiceView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or not an individual's ID number", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/service-records")]
pub async fn create_service(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewServiceRecord>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let input = body.0;
    let (code, _) = crate::entries::parse_subject_code("subject_code", &input.subject_code, false)?;
    if !matches!(code, SubjectCode::IdNumber(_)) {
        return Err(ApiError::invalid_field(
            "subject_code",
            "not_an_individual",
            "public-service records are for individuals (a resident ID number)",
        ));
    }
    let mut errors = Vec::new();
    let organisation = required_line(&mut errors, "organisation", &input.organisation, 200);
    let proof = required_line(&mut errors, "proof_reference", &input.proof_reference, 200);
    check_hours(&mut errors, "hours", input.hours);
    crate::domain::dates::check_date(&mut errors, "service_date", input.service_date);
    if input.service_date > today() {
        errors.push(FieldError::new(
            "service_date",
            "in_future",
            "the service date cannot be in the future",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let st = state.clone();
    let v = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let (dept, region) = super::acting_department(conn, &user, input.department_id)?;
            let subject = super::resolve_subject(
                conn,
                &st.pii,
                "subject_code",
                &input.subject_code,
                input.subject_name.as_deref(),
                &region,
            )?;
            let id: i32 = diesel::insert_into(service_records::table)
                .values((
                    service_records::subject_id.eq(subject.id),
                    service_records::kind.eq(input.kind.as_str()),
                    service_records::organisation.eq(&organisation),
                    service_records::hours.eq(input.hours),
                    service_records::service_date.eq(input.service_date),
                    service_records::proof_reference.eq(&proof),
                    service_records::department_id.eq(dept),
                    service_records::region_code.eq(&region),
                    service_records::recorded_by.eq(user.id),
                    service_records::created_at.eq(db::now()),
                ))
                .returning(service_records::id)
                .get_result(conn)?;
            let row = find_service(conn, id)?.ok_or_else(|| ApiError::internal("vanished"))?;
            let masked = service_view(conn, &st, row.clone(), Disclosure::Masked)?;
            audit::append(
                conn,
                &user.actor(),
                Entry::new("service_record.create", "service_record", id)
                    .region(Some(region))
                    .department(Some(dept))
                    .after(&masked),
            )?;
            service_view(conn, &st, row, Disclosure::Full)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(v))
}

/// List public-service records
///
/// Public-service records the caller may see (filter by subject).
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "repair_training_list_services",
    tag = "repair",
    security(("bearer" = [])),
    params(SubjectFilter),
    responses(
        (status = 200, description = "Records", body = Vec<ServiceView>),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A subject code of the right shape that is no code (`invalid_subject_code`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/service-records")]
pub async fn list_services(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<SubjectFilter>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let code = crate::entries::subject_filter("subject_code", query.subject_code.as_deref())?;
    let st = state.clone();
    let v = db::run(&state.pool, move |conn| {
        let mut q = service_records::table
            .select(ServiceRow::as_select())
            .order(service_records::id.desc())
            .limit(1000)
            .into_boxed();
        match user.role {
            Role::Department => {
                q = q.filter(service_records::department_id.eq(user.department_id.unwrap_or(-1)))
            }
            _ => {
                if let Some(r) = user.region_filter()? {
                    q = q.filter(service_records::region_code.eq(r));
                }
            }
        }
        if let Some(code) = &code {
            let sid = super::subject_id_or_none(conn, &st.pii, code)?;
            q = q.filter(service_records::subject_id.eq(sid));
        }
        let rows: Vec<ServiceRow> = q.load(conn)?;
        rows.into_iter()
            .map(|r| service_view(conn, &st, r, Disclosure::Full))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

pub fn attendance_for(
    conn: &mut DbConnection,
    state: &AppState,
    id: i32,
) -> Result<Option<AttendanceView>, ApiError> {
    find_attendance(conn, id)?
        .map(|a| attendance_view(conn, state, a, Disclosure::Full))
        .transpose()
}

pub fn services_for(
    conn: &mut DbConnection,
    state: &AppState,
    ids: &[i32],
) -> Result<Vec<ServiceView>, ApiError> {
    let rows: Vec<ServiceRow> = service_records::table
        .filter(service_records::id.eq_any(ids))
        .order(service_records::id)
        .select(ServiceRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|r| service_view(conn, state, r, Disclosure::Full))
        .collect()
}

/// Attendance columns of the spreadsheet import, in template order: (header, alternative names,
/// API field).
const ATTENDANCE_COLUMNS: &[(&str, &[&str], &str)] = &[
    (
        "主体代码*",
        &[
            "主体代码",
            "统一社会信用代码/身份证号",
            "统一社会信用代码",
            "subject_code",
        ],
        "subject_code",
    ),
    ("主体名称", &["主体名称", "subject_name"], "subject_name"),
    (
        "参训人员*",
        &["参训人员", "参训人", "attendee_name"],
        "attendee_name",
    ),
    (
        "是否结业*",
        &["是否结业", "是否完成", "completed"],
        "completed",
    ),
    (
        "结业证书编号",
        &["结业证书编号", "证书编号", "certificate_number"],
        "certificate_number",
    ),
];

fn parse_completed(v: &str) -> Option<bool> {
    match v.trim() {
        "是" | "已结业" | "完成" | "true" | "TRUE" | "1" | "Y" | "y" => Some(true),
        "否" | "未结业" | "未完成" | "false" | "FALSE" | "0" | "N" | "n" => Some(false),
        _ => None,
    }
}

/// Import a training session's attendance from a sheet
///
/// Import a session's attendance from `.xlsx` or `.csv` (the file is the body; columns as in the
/// template). All or nothing, with a dry run; every bad row is reported in Chinese.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Adds the attendances, all or nothing, unless it is a dry run; audited per attendance. The
/// file is streamed to an encrypted spool file: at most `import_max_bytes` (512 MiB by default;
/// larger is 413 `payload_too_large`) and `import_max_rows` data rows (1,000,000); at most
/// `upload_max_concurrent` uploads are read at once (4 by default; more are 503 `too_many_uploads`
/// with `Retry-After`).
#[utoipa::path(
    operation_id = "repair_training_import_attendance",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Session id"), crate::imports::ImportQuery),
    request_body(content = Vec<u8>, description = "The spreadsheet (.xlsx, or .csv in UTF-8 or GB18030)",
                 content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Dry run: what would happen", body = crate::imports::ImportReport),
        (status = 201, description = "Applied", body = crate::imports::ImportReport),
        (status = 400, description = "Unreadable file", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over `import_max_bytes` (512 MiB by default; `payload_too_large`), or an xlsx over the upload budget (`unpacked_too_large`, `part_too_large`, `too_many_parts`, …: docs/pii-and-spreadsheets.md)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`upload_max_concurrent` uploads (4 by default) are being read already (`too_many_uploads`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid rows (all reported in `rows`); nothing written", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/training-sessions/{id}/attendance/import")]
pub async fn import_attendance(
    state: web::Data<AppState>,
    user: AuthUser,
    req: actix_web::HttpRequest,
    path: web::Path<i32>,
    query: crate::http::Query<crate::imports::ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    use crate::imports::{record_outcome, row_error, ImportReport};
    user.require(STAFF)?;
    let id = path.into_inner();
    let q = query.into_inner();
    // Scope first, so an outsider learns nothing from the file's report.
    {
        let user = user.clone();
        db::run(&state.pool, move |conn| load_session(conn, &user, id, true)).await?;
    }
    let _slot = state.uploads.enter()?;
    let upload =
        crate::imports::receive_upload(&state, &req, q.filename.as_deref(), payload).await?;
    let st = state.clone();
    let dry_run = q.dry_run;
    crate::imports::run_import(&state, dry_run, move |conn| {
        let session = load_session(conn, &user, id, true)?;
        let rows = upload.rows(&st)?;
        let mut report = ImportReport::new(dry_run);
        let index: Vec<Option<usize>> = ATTENDANCE_COLUMNS
            .iter()
            .map(|(_, names, _)| crate::tabular::column_index(rows.headers(), names))
            .collect();
        let header = |i: usize| ATTENDANCE_COLUMNS[i].0.trim_end_matches('*').to_string();
        for (i, (h, _, _)) in ATTENDANCE_COLUMNS.iter().enumerate() {
            if h.ends_with('*') && index[i].is_none() {
                report.push_error(row_error(
                    1,
                    Some(header(i)),
                    None,
                    "missing_column",
                    "a required column is missing",
                ));
            }
        }
        if report.rejected() {
            return Ok(report);
        }
        for row in rows {
            let row = row.map_err(|e| crate::imports::table_error(&e))?;
            report.rows += 1;
            let cell = |i: usize| {
                index[i]
                    .map(|c| row.cell(c).trim().to_string())
                    .unwrap_or_default()
            };
            let Some(completed) = parse_completed(&cell(3)) else {
                report.push_error(row_error(
                    row.number,
                    Some(header(3)),
                    Some(cell(3)),
                    "invalid_value",
                    "write 是 or 否",
                ));
                continue;
            };
            let input = NewAttendance {
                subject_code: cell(0),
                subject_name: Some(cell(1)).filter(|n| !n.is_empty()),
                attendee_name: cell(2),
                completed,
                certificate_number: Some(cell(4)).filter(|n| !n.is_empty()),
            };
            let outcome = insert_attendance(conn, &st, &user, &session, &input, "");
            record_outcome(&mut report, row.number, outcome, false, |field| {
                ATTENDANCE_COLUMNS
                    .iter()
                    .position(|c| c.2 == field)
                    .map(|i| (header(i), cell(i)))
            })?;
        }
        Ok(report)
    })
    .await
}

/// The attendance import template
///
/// The attendance import template (Chinese headers and one example row).
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "repair_training_attendance_template",
    tag = "repair",
    security(("bearer" = [])),
    params(crate::imports::FormatQuery),
    responses(
        (status = 200, description = "The template", content(("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("text/csv"))),
        (status = 400, description = "Bad format", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/training-sessions/attendance-template")]
pub async fn attendance_template(
    user: AuthUser,
    query: crate::http::Query<crate::imports::FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let format = crate::imports::check_format(&query.format)?;
    let headers: Vec<&str> = ATTENDANCE_COLUMNS.iter().map(|c| c.0).collect();
    let example = vec![vec![
        "91220502MA0000001Q".to_string(),
        "通化市某某商贸有限公司".to_string(),
        "张三".to_string(),
        "是".to_string(),
        "XYPX-2026-0001".to_string(),
    ]];
    crate::imports::file_response(
        format,
        "培训签到",
        "training-attendance-template",
        "信用修复培训签到导入模板",
        &headers,
        &example,
    )
}
