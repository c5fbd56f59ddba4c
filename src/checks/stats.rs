//! Usage statistics of credit checks (section 七: credit records used in approvals).

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{get, web, HttpResponse};
use chrono::Datelike;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{AuthUser, Role};
use crate::error::{ApiError, Problem};
use crate::schema::{check_feedback, credit_checks, departments};
use crate::state::AppState;

/// field, caller department, advice, region, feedback's applied measures, and how many receipts
/// share them: one group of the database's aggregation.
type StatGroup = (String, Option<i32>, String, String, Option<String>, i64);

// The receipts' columns and their feedback's applied measures grouped together (below).
diesel::allow_columns_to_appear_in_same_group_by_clause!(
    credit_checks::field,
    credit_checks::caller_department_id,
    credit_checks::advice,
    credit_checks::region_code,
    check_feedback::measures_applied,
);

/// The plan's target: credit records applied in at least this many fields per county.
pub const FIELD_TARGET: usize = 10;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// Default: this year (UTC+8).
    #[param(minimum = 2000, maximum = 2100)]
    pub year: Option<i32>,
    /// One month of `year` (1–12); default: the whole year.
    #[param(minimum = 1, maximum = 12)]
    pub month: Option<u32>,
    /// A region code; default: every region in the caller's scope.
    pub region: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    pub key: String,
    /// Human-readable name where there is one (departments).
    pub name: Option<String>,
    pub checks: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionFields {
    pub region_code: String,
    pub checks: i64,
    /// Distinct fields with at least one check (credit records consulted).
    pub fields_checked: Vec<String>,
    /// Distinct fields where feedback reports an applied measure (credit records applied).
    pub fields_applied: Vec<String>,
    /// `fields_applied.len()`, against the target of 10 per county.
    pub fields_applied_count: usize,
    pub target: usize,
    pub target_met: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckStats {
    pub year: i32,
    /// The month counted, when one was asked for; absent: the whole year.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month: Option<u32>,
    pub region: Option<String>,
    pub checks: i64,
    pub by_field: Vec<Count>,
    /// By the caller's department (`none` for accounts without one, e.g. approval systems).
    pub by_department: Vec<Count>,
    pub by_advice: Vec<Count>,
    pub with_feedback: i64,
    /// `with_feedback / checks`; null when there were no checks.
    pub feedback_rate: Option<f64>,
    pub with_measures_applied: i64,
    pub regions: Vec<RegionFields>,
}

/// Credit-check usage statistics
///
/// Checks by field, caller department and advice; feedback rate; distinct fields in which credit
/// records were applied per region; for a year, or one month of it (`month`). Bureau (its region)
/// and admin.
///
/// Bureaus (their region) and admins; others get 403. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "checks_stats",
    tag = "credit-checks",
    security(("bearer" = [])),
    params(StatsQuery),
    responses(
        (status = 200, description = "Statistics", body = CheckStats),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not bureau or admin, or region outside scope", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/credit-checks/stats")]
pub async fn stats(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Bureau])?;
    let q = query.into_inner();
    let year = q.year.unwrap_or_else(|| crate::entries::today().year());
    if !(2000..=2100).contains(&year) {
        return Err(ApiError::invalid_query(
            "year",
            "out_of_range",
            "year must be between 2000 and 2100",
        ));
    }
    let scope = user.region_filter()?;
    let region = match (q.region, scope) {
        (Some(r), Some(s)) if r != s => {
            return Err(ApiError::forbidden("that region is outside your scope"))
        }
        (Some(r), _) => Some(r),
        (None, s) => s,
    };
    if q.month.is_some_and(|m| !(1..=12).contains(&m)) {
        return Err(ApiError::invalid_query(
            "month",
            "out_of_range",
            "month must be between 1 and 12",
        ));
    }
    let month = q.month;
    // From the first month's start to the last one's end (UTC+8 days, as UTC instants).
    let (first, last) = month.map_or((1, 12), |m| (m, m));
    let (Some((_, _, from, _)), Some((_, _, _, to))) = (
        crate::stats::month_bounds(year, first),
        crate::stats::month_bounds(year, last),
    ) else {
        return Err(ApiError::internal("a month of a valid year has no bounds"));
    };
    let region_c = region.clone();
    let v = state
        .receipts
        .run_settled(&state.pool, move |settled| {
            let conn = settled.conn();
            // One pass over the period's receipts (small columns only), counted by the database:
            // what comes back is one row per distinct combination, not one per receipt, so a year
            // of tens of millions of receipts costs no memory here (on PostgreSQL a month reads
            // one partition).
            let period = credit_checks::table
                .left_join(check_feedback::table)
                .filter(credit_checks::checked_at.ge(from))
                .filter(credit_checks::checked_at.lt(to));
            // The same grouping with or without the region's filter (not boxed: diesel does not
            // group a boxed query of several backends).
            macro_rules! counted {
                ($q:expr) => {
                    $q.group_by((
                        credit_checks::field,
                        credit_checks::caller_department_id,
                        credit_checks::advice,
                        credit_checks::region_code,
                        check_feedback::measures_applied,
                    ))
                    .select((
                        credit_checks::field,
                        credit_checks::caller_department_id,
                        credit_checks::advice,
                        credit_checks::region_code,
                        check_feedback::measures_applied.nullable(),
                        diesel::dsl::count_star(),
                    ))
                    .load::<StatGroup>(conn)?
                };
            }
            let groups = match &region_c {
                Some(r) => counted!(period.filter(credit_checks::region_code.eq(r.clone()))),
                None => counted!(period),
            };
            let mut by_field: BTreeMap<String, i64> = BTreeMap::new();
            let mut by_dept: BTreeMap<Option<i32>, i64> = BTreeMap::new();
            let mut by_advice: BTreeMap<String, i64> = BTreeMap::new();
            let mut regions: BTreeMap<String, (i64, BTreeSet<String>, BTreeSet<String>)> =
                BTreeMap::new();
            let (mut checks, mut with_feedback, mut applied) = (0i64, 0i64, 0i64);
            for (field, dept, advice, reg, fb, n) in &groups {
                checks += n;
                *by_field.entry(field.clone()).or_default() += n;
                *by_dept.entry(*dept).or_default() += n;
                *by_advice.entry(advice.clone()).or_default() += n;
                let r = regions.entry(reg.clone()).or_default();
                r.0 += n;
                r.1.insert(field.clone());
                if let Some(m) = fb {
                    with_feedback += n;
                    if m != "[]" {
                        applied += n;
                        r.2.insert(field.clone());
                    }
                }
            }
            let ids: Vec<i32> = by_dept.keys().flatten().copied().collect();
            let names: BTreeMap<i32, String> = departments::table
                .filter(departments::id.eq_any(&ids))
                .select((departments::id, departments::name))
                .load::<(i32, String)>(conn)?
                .into_iter()
                .collect();
            Ok(CheckStats {
                year,
                month,
                region: region_c,
                checks,
                by_field: by_field
                    .into_iter()
                    .map(|(k, n)| Count {
                        key: k,
                        name: None,
                        checks: n,
                    })
                    .collect(),
                by_department: by_dept
                    .into_iter()
                    .map(|(k, n)| Count {
                        key: k.map(|d| d.to_string()).unwrap_or_else(|| "none".into()),
                        name: k.and_then(|d| names.get(&d).cloned()),
                        checks: n,
                    })
                    .collect(),
                by_advice: by_advice
                    .into_iter()
                    .map(|(k, n)| Count {
                        key: k,
                        name: None,
                        checks: n,
                    })
                    .collect(),
                with_feedback,
                feedback_rate: (checks > 0).then(|| with_feedback as f64 / checks as f64),
                with_measures_applied: applied,
                regions: regions
                    .into_iter()
                    .map(|(code, (n, checked, applied))| RegionFields {
                        region_code: code,
                        checks: n,
                        fields_applied_count: applied.len(),
                        target: FIELD_TARGET,
                        target_met: applied.len() >= FIELD_TARGET,
                        fields_checked: checked.into_iter().collect(),
                        fields_applied: applied.into_iter().collect(),
                    })
                    .collect(),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(v))
}
