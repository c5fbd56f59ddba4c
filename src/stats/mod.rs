//! Monthly statistics (按月统计): the month's figures computed with aggregate SQL, closing a
//! month (frozen snapshot, queued for the province), and the xlsx export. Every figure is defined
//! in `docs/statistics.md`.

use actix_web::{get, post, web, HttpResponse};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::count_star;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, Entry};
use crate::auth::{AuthUser, Role, CITY_REGION};
use crate::checks::receipts::Settled;
use crate::db::{self, DbConnection};
use crate::error::{ApiError, Problem};
use crate::feed::{self, EventType};
use crate::imports::file_response;
use crate::schema::{
    case_departments, case_media_reports, cases, check_feedback, credit_checks, list_entries,
    monthly_snapshots,
};
use crate::state::AppState;

/// Counts of cases by kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct KindCounts {
    pub reward: i64,
    pub punishment: i64,
    pub total: i64,
}

/// Removals (移出) by reason.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RemovalCounts {
    pub expired: i64,
    pub repaired: i64,
    pub objection_upheld: i64,
    pub revoked: i64,
    pub standard_changed: i64,
    pub black_listed_while_red: i64,
    pub total: i64,
}

/// The figures of one month (definitions in `docs/statistics.md`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct MonthlyFigures {
    /// Red list entries published (公示) in the month.
    pub red_published: i64,
    /// Black list entries published in the month.
    pub black_published: i64,
    /// Entries whose removal date is in the month, by reason.
    pub removals: RemovalCounts,
    /// Credit repairs completed (信用修复): removals with reason `repaired`.
    pub repairs_completed: i64,
    /// Cases submitted (报送) in the month (corrections not counted).
    pub cases_filed: KindCounts,
    /// Corrections of cases submitted in the month.
    pub corrections_filed: i64,
    /// Cases shared with the provincial platform in the month.
    pub cases_shared: KindCounts,
    /// Distinct cases with a media report dated in the month.
    pub cases_media_reported: KindCounts,
    /// Media reports dated in the month.
    pub media_reports: i64,
    /// Credit checks (信用核查) made in the month.
    pub credit_checks: i64,
    /// Feedback (反馈) on checks whose decision date is in the month.
    pub check_feedback: i64,
    /// Of those, feedback that applied at least one measure.
    pub feedback_with_measures: i64,
}

/// What the figures are restricted to.
#[derive(Debug, Clone)]
pub struct Scope {
    /// `None`: the whole city.
    pub region: Option<String>,
    pub department: Option<i32>,
}

/// [start, end) of a month in UTC+8 days, and the same instants as UTC timestamps.
pub fn month_bounds(
    year: i32,
    month: u32,
) -> Option<(NaiveDate, NaiveDate, NaiveDateTime, NaiveDateTime)> {
    let start = NaiveDate::from_ymd_opt(year, month, 1)?;
    let end = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let utc = crate::backdating::china_day_start;
    Some((start, end, utc(start), utc(end)))
}

/// Computes the live figures with one aggregate query per figure.
pub fn compute(
    settled: &mut Settled<'_>,
    scope: &Scope,
    year: i32,
    month: u32,
) -> Result<MonthlyFigures, ApiError> {
    let conn = settled.conn();
    let (d0, d1, t0, t1) =
        month_bounds(year, month).ok_or_else(|| ApiError::internal("bad month"))?;
    let entries = || {
        let mut q = list_entries::table.into_boxed();
        if let Some(r) = &scope.region {
            q = q.filter(list_entries::region_code.eq(r.clone()));
        }
        if let Some(d) = scope.department {
            q = q.filter(list_entries::department_id.eq(d));
        }
        q
    };
    let published = |conn: &mut DbConnection, list: &str| -> Result<i64, ApiError> {
        Ok(entries()
            .filter(list_entries::list_type.eq(list.to_string()))
            .filter(list_entries::published_at.ge(t0))
            .filter(list_entries::published_at.lt(t1))
            .select(count_star())
            .first(conn)?)
    };
    let red_published = published(conn, "red")?;
    let black_published = published(conn, "black")?;
    let rows: Vec<(Option<String>, i64)> = {
        let mut q = list_entries::table
            .filter(list_entries::status.eq("removed"))
            .filter(list_entries::removal_date.ge(d0))
            .filter(list_entries::removal_date.lt(d1))
            .group_by(list_entries::removal_reason)
            .select((list_entries::removal_reason, count_star()))
            .into_boxed();
        if let Some(r) = &scope.region {
            q = q.filter(list_entries::region_code.eq(r.clone()));
        }
        if let Some(d) = scope.department {
            q = q.filter(list_entries::department_id.eq(d));
        }
        q.load(conn)?
    };
    let mut removals = RemovalCounts::default();
    for (reason, n) in rows {
        removals.total += n;
        match reason.as_deref() {
            Some("expired") => removals.expired += n,
            Some("repaired") => removals.repaired += n,
            Some("objection_upheld") => removals.objection_upheld += n,
            Some("revoked") => removals.revoked += n,
            Some("standard_changed") => removals.standard_changed += n,
            Some("black_listed_while_red") => removals.black_listed_while_red += n,
            _ => {}
        }
    }

    let case_q = || {
        let mut q = cases::table.into_boxed();
        if let Some(r) = &scope.region {
            q = q.filter(cases::region_code.eq(r.clone()));
        }
        if let Some(d) = scope.department {
            q = q.filter(
                cases::id.eq_any(
                    case_departments::table
                        .filter(case_departments::department_id.eq(d))
                        .select(case_departments::case_id),
                ),
            );
        }
        q
    };
    let mut filed = KindCounts::default();
    let mut shared = KindCounts::default();
    let mut corrections_filed = 0;
    for kind in ["reward", "punishment"] {
        let submitted = || {
            case_q()
                .filter(cases::kind.eq(kind))
                .filter(cases::submitted_at.ge(t0))
                .filter(cases::submitted_at.lt(t1))
        };
        let n: i64 = submitted()
            .filter(cases::corrects_case_id.is_null())
            .select(count_star())
            .first(conn)?;
        corrections_filed += submitted()
            .filter(cases::corrects_case_id.is_not_null())
            .select(count_star())
            .first::<i64>(conn)?;
        let sh: i64 = case_q()
            .filter(cases::kind.eq(kind))
            .filter(cases::corrects_case_id.is_null())
            .filter(cases::shared_at.ge(t0))
            .filter(cases::shared_at.lt(t1))
            .select(count_star())
            .first(conn)?;
        if kind == "reward" {
            filed.reward = n;
            shared.reward = sh;
        } else {
            filed.punishment = n;
            shared.punishment = sh;
        }
        filed.total += n;
        shared.total += sh;
    }
    let media = || {
        let mut q = case_media_reports::table
            .inner_join(cases::table)
            .filter(case_media_reports::report_date.ge(d0))
            .filter(case_media_reports::report_date.lt(d1))
            .into_boxed();
        if let Some(r) = &scope.region {
            q = q.filter(cases::region_code.eq(r.clone()));
        }
        if let Some(d) = scope.department {
            q = q.filter(
                cases::id.eq_any(
                    case_departments::table
                        .filter(case_departments::department_id.eq(d))
                        .select(case_departments::case_id),
                ),
            );
        }
        q
    };
    let mut media_reported = KindCounts::default();
    for kind in ["reward", "punishment"] {
        let n: i64 = media()
            .filter(cases::kind.eq(kind))
            .select(diesel::dsl::count(case_media_reports::case_id).aggregate_distinct())
            .first(conn)?;
        if kind == "reward" {
            media_reported.reward = n;
        } else {
            media_reported.punishment = n;
        }
        media_reported.total += n;
    }
    let media_reports: i64 = media().select(count_star()).first(conn)?;

    let checks = || {
        let mut q = credit_checks::table.into_boxed();
        if let Some(r) = &scope.region {
            q = q.filter(credit_checks::region_code.eq(r.clone()));
        }
        if let Some(d) = scope.department {
            q = q.filter(credit_checks::caller_department_id.eq(d));
        }
        q
    };
    let credit_checks_n: i64 = checks()
        .filter(credit_checks::checked_at.ge(t0))
        .filter(credit_checks::checked_at.lt(t1))
        .select(count_star())
        .first(conn)?;
    let fb = || {
        let mut q = check_feedback::table
            .inner_join(credit_checks::table)
            .filter(check_feedback::decided_at.ge(t0))
            .filter(check_feedback::decided_at.lt(t1))
            .into_boxed();
        if let Some(r) = &scope.region {
            q = q.filter(credit_checks::region_code.eq(r.clone()));
        }
        if let Some(d) = scope.department {
            q = q.filter(credit_checks::caller_department_id.eq(d));
        }
        q
    };
    let check_feedback_n: i64 = fb().select(count_star()).first(conn)?;
    let feedback_with_measures: i64 = fb()
        .filter(check_feedback::measures_applied.ne("[]"))
        .select(count_star())
        .first(conn)?;
    Ok(MonthlyFigures {
        red_published,
        black_published,
        repairs_completed: removals.repaired,
        removals,
        cases_filed: filed,
        corrections_filed,
        cases_shared: shared,
        cases_media_reported: media_reported,
        media_reports,
        credit_checks: credit_checks_n,
        check_feedback: check_feedback_n,
        feedback_with_measures,
    })
}

/// `live − snapshot`, field by field (numbers only).
pub fn difference(live: &Value, snap: &Value) -> Value {
    match (live, snap) {
        (Value::Object(a), Value::Object(b)) => Value::Object(
            a.iter()
                .map(|(k, v)| (k.clone(), difference(v, b.get(k).unwrap_or(&Value::Null))))
                .collect(),
        ),
        (Value::Number(a), b) => {
            let b = b.as_i64().unwrap_or(0);
            Value::from(a.as_i64().unwrap_or(0) - b)
        }
        (other, _) => other.clone(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// 1–12.
    #[param(minimum = 1, maximum = 12)]
    pub month: u32,
    /// A county, district or zone code; absent or `220500`: the whole city. A county bureau gets
    /// its own region.
    pub region: Option<String>,
    /// One department's figures. Department officers always get their own.
    pub department: Option<i32>,
    /// Export only: `xlsx` (default) or `csv`.
    #[param(pattern = "^(xlsx|csv)$")]
    pub format: Option<String>,
}

/// A closed month's frozen figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct Snapshot {
    pub region_code: String,
    pub year: i32,
    pub month: i32,
    #[schema(value_type = Object)]
    pub figures: Value,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub closed_at: NaiveDateTime,
    pub closed_by: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonthlyStats {
    pub year: i32,
    pub month: u32,
    /// `None`: the whole city.
    pub region_code: Option<String>,
    pub department_id: Option<i32>,
    /// Computed now.
    pub live: MonthlyFigures,
    /// Whether the month is closed for this region (department figures are never closed).
    pub closed: bool,
    pub snapshot: Option<Snapshot>,
    /// `live − snapshot` per figure: changes recorded after the close (back-dated removals,
    /// late feedback …).
    #[schema(value_type = Option<Object>)]
    pub difference: Option<Value>,
}

fn check_month(year: i32, month: u32) -> Result<(), ApiError> {
    if !(2000..=2100).contains(&year) {
        return Err(ApiError::invalid_query(
            "year",
            "out_of_range",
            "year must be between 2000 and 2100",
        ));
    }
    if !(1..=12).contains(&month) {
        return Err(ApiError::invalid_query(
            "month",
            "out_of_range",
            "month must be between 1 and 12",
        ));
    }
    Ok(())
}

/// Resolves the caller's scope for a read.
fn resolve_scope(
    conn: &mut DbConnection,
    user: &AuthUser,
    region: Option<String>,
    department: Option<i32>,
) -> Result<Scope, ApiError> {
    let region = region.filter(|r| r != CITY_REGION);
    if let Some(r) = &region {
        if crate::org::find_region(conn, r)?.is_none() {
            return Err(ApiError::invalid_field(
                "query.region",
                "unknown_region",
                format!("there is no region {r}"),
            ));
        }
    }
    if let Some(d) = department {
        if crate::org::find_department(conn, d)?.is_none() {
            return Err(ApiError::invalid_field(
                "query.department",
                "unknown_department",
                format!("there is no department {d}"),
            ));
        }
    }
    match user.role {
        Role::Admin => Ok(Scope { region, department }),
        Role::Bureau => {
            let own = user.region_filter()?;
            let region = match (own, region) {
                (None, r) => r,
                (Some(own), None) => Some(own),
                (Some(own), Some(r)) if r == own => Some(r),
                (Some(_), Some(_)) => {
                    return Err(ApiError::forbidden("that region is outside your scope"))
                }
            };
            Ok(Scope { region, department })
        }
        Role::Department => {
            let own = user
                .department_id
                .ok_or_else(|| ApiError::forbidden("no department"))?;
            if department.is_some_and(|d| d != own) {
                return Err(ApiError::forbidden(
                    "department officers see their own department's figures",
                ));
            }
            Ok(Scope {
                region,
                department: Some(own),
            })
        }
        Role::ApprovalSystem => Err(ApiError::forbidden("staff only")),
    }
}

type SnapshotRow = (String, i32, i32, String, NaiveDateTime, i32);

fn load_snapshot(
    conn: &mut DbConnection,
    region: &str,
    year: i32,
    month: u32,
) -> Result<Option<Snapshot>, ApiError> {
    let row: Option<SnapshotRow> = monthly_snapshots::table
        .filter(monthly_snapshots::region_code.eq(region))
        .filter(monthly_snapshots::year.eq(year))
        .filter(monthly_snapshots::month.eq(month as i32))
        .select((
            monthly_snapshots::region_code,
            monthly_snapshots::year,
            monthly_snapshots::month,
            monthly_snapshots::figures,
            monthly_snapshots::closed_at,
            monthly_snapshots::closed_by,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|r| Snapshot {
        region_code: r.0,
        year: r.1,
        month: r.2,
        figures: serde_json::from_str(&r.3).unwrap_or(Value::Null),
        closed_at: r.4,
        closed_by: r.5,
    }))
}

fn stats_for(
    conn: &mut Settled<'_>,
    user: &AuthUser,
    q: &MonthQuery,
) -> Result<MonthlyStats, ApiError> {
    let scope = resolve_scope(conn, user, q.region.clone(), q.department)?;
    let live = compute(conn, &scope, q.year, q.month)?;
    let snapshot = match scope.department {
        Some(_) => None,
        None => load_snapshot(
            conn,
            scope.region.as_deref().unwrap_or(CITY_REGION),
            q.year,
            q.month,
        )?,
    };
    let difference = snapshot.as_ref().map(|s| {
        difference(
            &serde_json::to_value(&live).unwrap_or(Value::Null),
            &s.figures,
        )
    });
    Ok(MonthlyStats {
        year: q.year,
        month: q.month,
        region_code: scope.region,
        department_id: scope.department,
        live,
        closed: snapshot.is_some(),
        snapshot,
        difference,
    })
}

/// A month's statistics (按月统计)
///
/// A month's figures (按月统计), live; for a closed month also the frozen snapshot and the
/// difference.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Department officers
/// see their department, bureaus their region. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "stats_monthly",
    tag = "statistics",
    security(("bearer" = [])),
    params(MonthQuery),
    responses(
        (status = 200, description = "The month's figures", body = MonthlyStats),
        (status = 400, description = "Bad year, month or format", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such region (`unknown_region`) or department (`unknown_department`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/stats/monthly")]
pub async fn monthly(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<MonthQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    check_month(q.year, q.month)?;
    crate::imports::check_format(&q.format)?;
    let s = state
        .receipts
        .run_settled(&state.pool, move |conn| stats_for(conn, &user, &q))
        .await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Close a month (月度关账)
///
/// Close a month for your region (county bureau: its county; city bureau: the whole city): the
/// figures are frozen as a snapshot and a `monthly_snapshot.closed` feed event is queued, in one
/// transaction. Only a month that is over can be closed, and only once.
///
/// Bureaus only (a county bureau for its county, the city bureau for the city); admins, departments
/// and approval systems get 403. Stores the snapshot; audited.
#[utoipa::path(
    operation_id = "stats_close",
    tag = "statistics",
    security(("bearer" = [])),
    params(
        ("year" = i32, Path, minimum = 2000, maximum = 2100, description = "Year, 2000–2100"),
        ("month" = u32, Path, minimum = 1, maximum = 12, description = "Month, 1–12"),
    ),
    responses(
        (status = 201, description = "Closed", body = MonthlyStats),
        (status = 400, description = "Bad year or month", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Bureau accounts only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already closed (`month_closed`) or not over yet (`month_not_over`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/stats/monthly/{year}/{month}/close")]
pub async fn close(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i32, u32)>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Bureau])?;
    let (year, month) = path.into_inner();
    check_month(year, month)?;
    let region = user
        .region_code
        .clone()
        .ok_or_else(|| ApiError::forbidden("a bureau account without a region"))?;
    let (_, end, _, _) = month_bounds(year, month).ok_or_else(|| ApiError::internal("month"))?;
    if crate::entries::today() < end {
        return Err(ApiError::conflict(
            "month_not_over",
            "a month can only be closed once it is over",
        ));
    }
    let s = state
        .receipts
        .run_settled(&state.pool, move |conn| {
            conn.write_tx(|conn| close_month(conn, &user, &region, year, month))
        })
        .await?;
    Ok(HttpResponse::Created().json(s))
}

/// Freezes a month's figures for `region` (the city code: the whole city), audited, with its feed
/// event. Runs inside the caller's write transaction.
pub fn close_month(
    conn: &mut Settled<'_>,
    user: &AuthUser,
    region: &str,
    year: i32,
    month: u32,
) -> Result<MonthlyStats, ApiError> {
    let region = region.to_string();
    if load_snapshot(conn, &region, year, month)?.is_some() {
        return Err(ApiError::conflict(
            "month_closed",
            "this month is already closed for this region",
        ));
    }
    let scope = Scope {
        region: Some(region.clone()).filter(|r| r != CITY_REGION),
        department: None,
    };
    let figures = compute(conn, &scope, year, month)?;
    let json = serde_json::to_string(&figures).map_err(|e| ApiError::internal(e.to_string()))?;
    let now = db::now();
    diesel::insert_into(monthly_snapshots::table)
        .values((
            monthly_snapshots::region_code.eq(&region),
            monthly_snapshots::year.eq(year),
            monthly_snapshots::month.eq(month as i32),
            monthly_snapshots::figures.eq(&json),
            monthly_snapshots::closed_at.eq(now),
            monthly_snapshots::closed_by.eq(user.id),
        ))
        .execute(conn.conn())?;
    let snapshot = load_snapshot(conn, &region, year, month)?
        .ok_or_else(|| ApiError::internal("snapshot vanished"))?;
    audit::append(
        conn,
        &user.actor(),
        Entry::new(
            "monthly_snapshot.close",
            "monthly_snapshot",
            format!("{region}/{year}-{month:02}"),
        )
        .region(Some(region.clone()))
        .after(&snapshot),
    )?;
    feed::enqueue(
        conn,
        feed::Event {
            event_type: EventType::MonthlySnapshotClosed,
            entity_type: "monthly_snapshot",
            entity_id: format!("{region}/{year}-{month:02}"),
            region_code: Some(&region),
            department_id: None,
            payload: &snapshot,
        },
    )?;
    Ok(MonthlyStats {
        year,
        month,
        region_code: scope.region,
        department_id: None,
        live: figures,
        closed: true,
        difference: Some(difference(&snapshot.figures, &snapshot.figures)),
        snapshot: Some(snapshot),
    })
}

/// (Chinese label, JSON path) of every exported figure.
const ROWS: &[(&str, &[&str])] = &[
    ("新增红名单（公示）", &["red_published"]),
    ("新增黑名单（公示）", &["black_published"]),
    ("移出合计", &["removals", "total"]),
    ("移出：期满", &["removals", "expired"]),
    ("移出：信用修复", &["removals", "repaired"]),
    ("移出：异议成立", &["removals", "objection_upheld"]),
    ("移出：撤销认定", &["removals", "revoked"]),
    ("移出：标准变更", &["removals", "standard_changed"]),
    ("移出：列入黑名单", &["removals", "black_listed_while_red"]),
    ("完成信用修复", &["repairs_completed"]),
    ("报送案例合计", &["cases_filed", "total"]),
    ("报送案例：守信激励", &["cases_filed", "reward"]),
    ("报送案例：失信惩戒", &["cases_filed", "punishment"]),
    ("报送更正案例", &["corrections_filed"]),
    ("共享至省平台案例", &["cases_shared", "total"]),
    ("媒体报道案例", &["cases_media_reported", "total"]),
    ("媒体报道篇数", &["media_reports"]),
    ("信用核查次数", &["credit_checks"]),
    ("核查反馈数", &["check_feedback"]),
    ("反馈采取措施数", &["feedback_with_measures"]),
];

fn at(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_i64().map(|n| n.to_string()).unwrap_or_default()
}

/// Export a month's statistics as a sheet
///
/// The month's figures as a sheet with Chinese headers: live figures, the closed snapshot and the
/// difference.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. The same scope as the
/// figures. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "stats_export",
    tag = "statistics",
    security(("bearer" = [])),
    params(MonthQuery),
    responses(
        (status = 200, description = "The file", content(("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("text/csv"))),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such region (`unknown_region`) or department (`unknown_department`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/stats/monthly/export")]
pub async fn export(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<MonthQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    check_month(q.year, q.month)?;
    let format = crate::imports::check_format(&q.format)?;
    let (year, month) = (q.year, q.month);
    let produced_by = user.username.clone();
    let book = format == "xlsx";
    let (s, names, breakdown) = state
        .receipts
        .run_settled(&state.pool, move |conn| {
            let s = stats_for(conn, &user, &q)?;
            let names = scope_names(conn.conn(), &s)?;
            // The per-region sheet is the workbook's only.
            let breakdown = if book {
                breakdown(conn, &s)?
            } else {
                Vec::new()
            };
            Ok((s, names, breakdown))
        })
        .await?;
    let live = serde_json::to_value(&s.live).unwrap_or(Value::Null);
    let snap = s.snapshot.as_ref().map(|x| x.figures.clone());
    if format == "csv" {
        let rows: Vec<Vec<String>> = ROWS
            .iter()
            .map(|(label, path)| {
                vec![
                    label.to_string(),
                    at(&live, path),
                    snap.as_ref().map(|v| at(v, path)).unwrap_or_default(),
                    s.difference
                        .as_ref()
                        .map(|v| at(v, path))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        let title = format!(
            "{}年{}月统计（{}）",
            year,
            month,
            s.region_code.as_deref().unwrap_or("全市")
        );
        return file_response(
            format,
            &title,
            &format!("monthly-{year}-{month:02}"),
            &title,
            &["指标", "实时数", "关账快照数", "差异（实时−快照）"],
            &rows,
        );
    }
    workbook(year, month, &s, &names, &breakdown, &produced_by)
}

/// Region name and code, and the department's name, of the figures' scope.
struct ScopeNames {
    region_code: String,
    region_name: String,
    department: Option<String>,
}

fn scope_names(conn: &mut DbConnection, s: &MonthlyStats) -> Result<ScopeNames, ApiError> {
    use crate::schema::{departments, regions};
    let region_code = s
        .region_code
        .clone()
        .unwrap_or_else(|| CITY_REGION.to_string());
    let region_name = regions::table
        .find(&region_code)
        .select(regions::name)
        .first::<String>(conn)
        .optional()?
        .unwrap_or_default();
    let department = match s.department_id {
        Some(d) => departments::table
            .find(d)
            .select(departments::name)
            .first::<String>(conn)
            .optional()?,
        None => None,
    };
    Ok(ScopeNames {
        region_code,
        region_name,
        department,
    })
}

/// The month's live figures per region (the whole city: every region; otherwise the scope
/// itself), for the 分区域 sheet and its totals row: (name, code, figures).
fn breakdown(
    conn: &mut Settled<'_>,
    s: &MonthlyStats,
) -> Result<Vec<(String, String, Value)>, ApiError> {
    use crate::schema::regions;
    let month = s.month;
    let scopes: Vec<(String, String, Scope)> = match (&s.region_code, s.department_id) {
        (None, None) => regions::table
            .order(regions::code.asc())
            .select((regions::code, regions::name))
            .load::<(String, String)>(conn.conn())?
            .into_iter()
            .map(|(code, name)| {
                (
                    name,
                    code.clone(),
                    Scope {
                        region: Some(code),
                        department: None,
                    },
                )
            })
            .collect(),
        (region, department) => {
            let code = region.clone().unwrap_or_else(|| CITY_REGION.to_string());
            let name = regions::table
                .find(&code)
                .select(regions::name)
                .first::<String>(conn.conn())
                .optional()?
                .unwrap_or_default();
            vec![(
                name,
                code,
                Scope {
                    region: region.clone(),
                    department,
                },
            )]
        }
    };
    scopes
        .into_iter()
        .map(|(name, code, scope)| {
            let figures = compute(conn, &scope, s.year, month)?;
            Ok((
                name,
                code,
                serde_json::to_value(&figures).unwrap_or(Value::Null),
            ))
        })
        .collect()
}

fn number(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_i64()
}

/// The month as a report workbook: the figures (live, snapshot, difference) and the live figures
/// per region with a totals row, each sheet with its title block.
fn workbook(
    year: i32,
    month: u32,
    s: &MonthlyStats,
    names: &ScopeNames,
    breakdown: &[(String, String, Value)],
    produced_by: &str,
) -> Result<HttpResponse, ApiError> {
    use crate::tabular::{Cell, ReportSheet};
    let live = serde_json::to_value(&s.live).unwrap_or(Value::Null);
    let snap = s.snapshot.as_ref().map(|x| x.figures.clone());
    let cell = |v: Option<&Value>, path: &[&str]| {
        v.and_then(|v| number(v, path))
            .map(Cell::Int)
            .unwrap_or(Cell::Empty)
    };
    let rows: Vec<Vec<Cell>> = ROWS
        .iter()
        .map(|(label, path)| {
            vec![
                Cell::text(*label),
                cell(Some(&live), path),
                cell(snap.as_ref(), path),
                cell(s.difference.as_ref(), path),
            ]
        })
        .collect();
    let (_, last) = month_bounds(year, month)
        .map(|(a, b, _, _)| (a, b.pred_opt().unwrap_or(a)))
        .ok_or_else(|| ApiError::internal("bad month"))?;
    let as_of = last.min(crate::entries::today());
    let mut extra = vec![("月份".to_string(), Cell::Int(month.into()))];
    if let Some(d) = &names.department {
        extra.push(("部门".to_string(), Cell::text(d.clone())));
    }
    extra.push((
        "关账状态".to_string(),
        Cell::text(if s.closed { "已关账" } else { "未关账" }),
    ));
    if let Some(snapshot) = &s.snapshot {
        extra.push((
            "关账时间（北京时间）".to_string(),
            Cell::DateTime(snapshot.closed_at + chrono::Duration::hours(8)),
        ));
    }
    let info = crate::tabular::title_lines(
        &names.region_name,
        &names.region_code,
        Some(year),
        extra,
        as_of,
        produced_by,
    );
    let title = format!("{year}年{month}月守信联合激励和失信联合惩戒统计");
    let mut region_headers = vec!["区域".to_string(), "区域代码".to_string()];
    region_headers.extend(ROWS.iter().map(|(label, _)| label.to_string()));
    let region_rows: Vec<Vec<Cell>> = breakdown
        .iter()
        .map(|(name, code, v)| {
            let mut row = vec![Cell::text(name.clone()), Cell::text(code.clone())];
            row.extend(ROWS.iter().map(|(_, path)| cell(Some(v), path)));
            row
        })
        .collect();
    let mut totals = vec![Cell::text("合计"), Cell::Empty];
    totals.extend(ROWS.iter().map(|(_, path)| {
        Cell::Int(
            breakdown
                .iter()
                .filter_map(|(_, _, v)| number(v, path))
                .sum(),
        )
    }));
    let sheets = [
        ReportSheet {
            name: format!("{year}年{month}月统计"),
            title: title.clone(),
            info: info.clone(),
            headers: ["指标", "实时数", "关账快照数", "差异（实时−快照）"]
                .iter()
                .map(|h| h.to_string())
                .collect(),
            rows,
            totals: None,
        },
        ReportSheet {
            name: "分区域".into(),
            title: format!("{title}（分区域实时数）"),
            info,
            headers: region_headers,
            rows: region_rows,
            totals: Some(totals),
        },
    ];
    let bytes =
        crate::tabular::write_report(&sheets).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            crate::imports::disposition(
                &format!("monthly-{}-{year}-{month:02}", names.region_code),
                &format!(
                    "{}{year}年{month}月统计（{}）",
                    names.region_name, names.region_code
                ),
                "xlsx",
            ),
        ))
        .body(bytes))
}
