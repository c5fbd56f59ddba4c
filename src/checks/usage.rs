//! Usage statistics of credit checks (section 七: credit records used in approvals): the store
//! behind `GET /api/v1/credit-checks/stats`.
//!
//! The figures are counts of a period's receipts grouped by field, caller department, advice,
//! region and feedback's applied measures. A month that has ended is counted once and its groups
//! kept (`check_month_counts`); its receipts never change and it receives no new ones, so only
//! feedback on one of them changes its counts, and [`add_feedback`] moves that receipt from one
//! group to another in the feedback's own transaction. The month still running (and one that
//! ended less than [`SETTLED_AFTER`] ago) is counted from the receipts on each request. The
//! definitions are in `docs/credit-checks.md`, "Usage statistics".

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

use super::receipt_queue::ReceiptRow;
use super::receipts::Settled;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{
    check_feedback, check_month_counts, check_months_counted, credit_checks, departments,
};

/// The plan's target: credit records applied in at least this many fields per county.
pub const FIELD_TARGET: usize = 10;

/// How long after a month's end (UTC+8) its counts are kept rather than counted on each request.
/// A receipt is stamped when its check is answered and stored moments later, possibly by
/// another instance whose clock differs by a little: an hour leaves room for both.
pub const SETTLED_AFTER: Duration = Duration::hours(1);

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

/// field, caller department, advice, region, feedback's applied measures (`None`: no feedback),
/// and how many receipts share them.
type StatGroup = (String, Option<i32>, String, String, Option<String>, i64);

// The receipts' columns and their feedback's applied measures grouped together (below).
diesel::allow_columns_to_appear_in_same_group_by_clause!(
    credit_checks::field,
    credit_checks::caller_department_id,
    credit_checks::advice,
    credit_checks::region_code,
    check_feedback::measures_applied,
);

/// The usage statistics of `year`, or of one `month` of it, for one region or all (`region`);
/// `now` decides which months have ended. Read-only but for keeping the counts of an ended
/// month the first time it is asked for.
pub fn stats(
    settled: &mut Settled<'_>,
    year: i32,
    month: Option<u32>,
    region: Option<String>,
    now: NaiveDateTime,
) -> Result<CheckStats, ApiError> {
    let (first, last) = month.map_or((1, 12), |m| (m, m));
    let conn = settled.conn();
    let groups = groups(conn, year, first, last, region.as_deref(), now)?;
    let mut by_field: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_dept: BTreeMap<Option<i32>, i64> = BTreeMap::new();
    let mut by_advice: BTreeMap<String, i64> = BTreeMap::new();
    let mut regions: BTreeMap<String, (i64, BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
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
    let counts = |m: BTreeMap<String, i64>| {
        m.into_iter()
            .map(|(key, checks)| Count {
                key,
                name: None,
                checks,
            })
            .collect()
    };
    Ok(CheckStats {
        year,
        month,
        region,
        checks,
        by_field: counts(by_field),
        by_department: by_dept
            .into_iter()
            .map(|(k, n)| Count {
                key: k.map(|d| d.to_string()).unwrap_or_else(|| "none".into()),
                name: k.and_then(|d| names.get(&d).cloned()),
                checks: n,
            })
            .collect(),
        by_advice: counts(by_advice),
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
}

/// The groups of the receipts of `year`'s months `first..=last`: kept counts for the months that
/// have ended (counted now if they were not yet), one aggregate over the receipts for the others.
fn groups(
    conn: &mut DbConnection,
    year: i32,
    first: u32,
    last: u32,
    region: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<Vec<StatGroup>> {
    let mut kept: Vec<i32> = Vec::new();
    // Periods counted from the receipts, adjacent months joined.
    let mut live: Vec<(NaiveDateTime, NaiveDateTime)> = Vec::new();
    for m in first..=last {
        let Some((_, _, from, to)) = crate::stats::month_bounds(year, m) else {
            continue;
        };
        if to + SETTLED_AFTER <= now {
            match keep_counts(conn, year, m, from, to, now) {
                Ok(()) => {
                    kept.push(m as i32);
                    continue;
                }
                // A database that takes no writes (a read replica) still answers, from the
                // receipts.
                Err(e) => tracing::warn!(
                    year, month = m, error = %e,
                    "credit-check statistics: keeping a month's counts failed; counted from the receipts"
                ),
            }
        }
        match live.last_mut() {
            Some((_, end)) if *end == from => *end = to,
            _ => live.push((from, to)),
        }
    }
    let mut out = Vec::new();
    if !kept.is_empty() {
        let mut q = check_month_counts::table
            .filter(check_month_counts::year.eq(year))
            .filter(check_month_counts::month.eq_any(kept))
            .select((
                check_month_counts::field,
                check_month_counts::caller_department_id,
                check_month_counts::advice,
                check_month_counts::region_code,
                check_month_counts::measures_applied,
                check_month_counts::checks,
            ))
            .into_boxed();
        if let Some(r) = region {
            q = q.filter(check_month_counts::region_code.eq(r.to_string()));
        }
        out.extend(
            q.load::<(String, i32, String, String, String, i64)>(conn)?
                .into_iter()
                .map(|(field, dept, advice, reg, fb, n)| {
                    let dept = (dept != NO_DEPARTMENT).then_some(dept);
                    let fb = (!fb.is_empty()).then_some(fb);
                    (field, dept, advice, reg, fb, n)
                }),
        );
    }
    for (from, to) in live {
        // One pass over the period's receipts (small columns only), counted by the database:
        // what comes back is one row per distinct combination, not one per receipt (on
        // PostgreSQL a month reads one partition).
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
        out.extend(match region {
            Some(r) => counted!(period.filter(credit_checks::region_code.eq(r.to_string()))),
            None => counted!(period),
        });
    }
    Ok(out)
}

/// `check_month_counts.caller_department_id` of checks by an account without a department (a
/// key column cannot be null); department ids start at 1.
const NO_DEPARTMENT: i32 = 0;

/// `check_month_counts.measures_applied` of receipts without feedback (`'[]'` is feedback that
/// applied none).
const NO_FEEDBACK: &str = "";

fn is_counted(conn: &mut DbConnection, year: i32, month: i32) -> QueryResult<bool> {
    Ok(check_months_counted::table
        .filter(check_months_counted::year.eq(year))
        .filter(check_months_counted::month.eq(month))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Counts the ended month `year`-`month` ([from, to) in UTC) into `check_month_counts`, unless it
/// is counted already. One transaction; on PostgreSQL it first takes a lock on `check_feedback`
/// that waits for feedback being written and holds new feedback back until the counts are
/// committed (feedback committed meanwhile would be neither in the count nor added to it by
/// [`add_feedback`]); the lock conflicts with itself, so two instances count a month once.
fn keep_counts(
    conn: &mut DbConnection,
    year: i32,
    month: u32,
    from: NaiveDateTime,
    to: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let month = month as i32;
    if is_counted(conn, year, month)? {
        return Ok(());
    }
    conn.transaction(|c| {
        if let DbConnection::Postgresql(pg) = c {
            diesel::sql_query("LOCK TABLE check_feedback IN SHARE ROW EXCLUSIVE MODE")
                .execute(pg)?;
        }
        // The first statement writes, so SQLite takes its write lock before it reads.
        let claimed = diesel::sql_query(
            "INSERT INTO check_months_counted (year, month, counted_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind::<Integer, _>(year)
        .bind::<Integer, _>(month)
        .bind::<Timestamp, _>(now)
        .execute(c)?;
        if claimed == 0 {
            return Ok(());
        }
        diesel::sql_query(
            "INSERT INTO check_month_counts (year, month, field, caller_department_id, advice, \
                                             region_code, measures_applied, checks) \
             SELECT $1, $2, c.field, COALESCE(c.caller_department_id, 0), c.advice, \
                    c.region_code, COALESCE(f.measures_applied, ''), COUNT(*) \
             FROM credit_checks c LEFT JOIN check_feedback f ON f.check_id = c.id \
             WHERE c.checked_at >= $3 AND c.checked_at < $4 \
             GROUP BY c.field, COALESCE(c.caller_department_id, 0), c.advice, c.region_code, \
                      COALESCE(f.measures_applied, '')",
        )
        .bind::<Integer, _>(year)
        .bind::<Integer, _>(month)
        .bind::<Timestamp, _>(from)
        .bind::<Timestamp, _>(to)
        .execute(c)?;
        Ok(())
    })
}

/// Keeps the counts of the month of `receipt` true when feedback applying `measures_applied` (as
/// stored) has just been written for it: the receipt moves from the group without feedback to
/// the feedback's group. Called in the feedback's transaction, after its insert. A month not yet
/// counted needs nothing; a month whose counts do not hold the receipt (a row changed behind the
/// service's back) is forgotten, to be counted again when next asked for.
pub fn add_feedback(
    conn: &mut DbConnection,
    receipt: &ReceiptRow,
    measures_applied: &str,
) -> QueryResult<()> {
    let local = crate::backdating::china_date(receipt.checked_at);
    let (year, month) = (local.year(), local.month() as i32);
    if !is_counted(conn, year, month)? {
        return Ok(());
    }
    let dept = receipt.caller_department_id.unwrap_or(NO_DEPARTMENT);
    macro_rules! group {
        ($measures:expr) => {
            check_month_counts::table
                .filter(check_month_counts::year.eq(year))
                .filter(check_month_counts::month.eq(month))
                .filter(check_month_counts::field.eq(&receipt.field))
                .filter(check_month_counts::caller_department_id.eq(dept))
                .filter(check_month_counts::advice.eq(&receipt.advice))
                .filter(check_month_counts::region_code.eq(&receipt.region_code))
                .filter(check_month_counts::measures_applied.eq($measures))
        };
    }
    let taken = diesel::delete(group!(NO_FEEDBACK).filter(check_month_counts::checks.eq(1)))
        .execute(conn)?
        + diesel::update(group!(NO_FEEDBACK))
            .set(check_month_counts::checks.eq(check_month_counts::checks - 1))
            .execute(conn)?;
    if taken == 0 {
        diesel::delete(
            check_month_counts::table
                .filter(check_month_counts::year.eq(year))
                .filter(check_month_counts::month.eq(month)),
        )
        .execute(conn)?;
        diesel::delete(
            check_months_counted::table
                .filter(check_months_counted::year.eq(year))
                .filter(check_months_counted::month.eq(month)),
        )
        .execute(conn)?;
        return Ok(());
    }
    let added = diesel::update(group!(measures_applied))
        .set(check_month_counts::checks.eq(check_month_counts::checks + 1))
        .execute(conn)?;
    if added == 0 {
        diesel::insert_into(check_month_counts::table)
            .values((
                check_month_counts::year.eq(year),
                check_month_counts::month.eq(month),
                check_month_counts::field.eq(&receipt.field),
                check_month_counts::caller_department_id.eq(dept),
                check_month_counts::advice.eq(&receipt.advice),
                check_month_counts::region_code.eq(&receipt.region_code),
                check_month_counts::measures_applied.eq(measures_applied),
                check_month_counts::checks.eq(1i64),
            ))
            .execute(conn)?;
    }
    Ok(())
}
