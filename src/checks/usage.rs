//! Usage statistics of credit checks (section 七: credit records used in approvals): the store
//! behind `GET /api/v1/credit-checks/stats`.
//!
//! The figures are counts of a period's receipts grouped by field, caller department, advice,
//! region and feedback's applied measures. A day (UTC+8) that has ended is counted once and its
//! groups kept (`check_day_counts`); its receipts never change and it receives no new ones, so
//! only feedback on one of them changes its counts, and [`add_feedback`] moves that receipt from
//! one group to another in the feedback's own transaction. A month or a year adds up its days'
//! kept rows; only the current day (and one that ended less than [`SETTLED_AFTER`] ago) is
//! counted from the receipts on each request. The server counts the days just ended every hour
//! ([`keep_recent`]); an older day is counted the first time it is asked for. The definitions are
//! in `docs/credit-checks.md`, "Usage statistics".

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

use super::receipt_queue::ReceiptRow;
use super::receipts::Settled;
use crate::backdating::{china_date, china_day_start};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{
    check_day_counts, check_days_counted, check_feedback, credit_checks, departments,
};

/// The plan's target: credit records applied in at least this many fields per county.
pub const FIELD_TARGET: usize = 10;

/// How long after a day's end (UTC+8) its counts are kept rather than counted on each request.
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
/// `now` decides which days have ended. Changes no data but for keeping the counts of ended
/// days the first time they are asked for.
pub fn stats(
    settled: &mut Settled<'_>,
    year: i32,
    month: Option<u32>,
    region: Option<String>,
    now: NaiveDateTime,
) -> Result<CheckStats, ApiError> {
    let (first, last) = month.map_or((1, 12), |m| (m, m));
    let (Some((from, ..)), Some((_, to, ..))) = (
        crate::stats::month_bounds(year, first),
        crate::stats::month_bounds(year, last),
    ) else {
        return Err(ApiError::internal("month bounds"));
    };
    let conn = settled.conn();
    let groups = groups(conn, from, to, region.as_deref(), now)?;
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

/// The first day (UTC+8) that has not ended [`SETTLED_AFTER`] before `now`: every day before it
/// is kept rather than counted on each request.
fn settled_end(now: NaiveDateTime) -> NaiveDate {
    china_date(now - SETTLED_AFTER)
}

/// The groups of the receipts of the days `from..to` (UTC+8): kept counts for the days that have
/// ended (counted now if they were not yet), one aggregate over the receipts for the rest (the
/// current day, or every day from the first one that could not be kept).
fn groups(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    region: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<Vec<StatGroup>> {
    let kept_end = kept_through(conn, from, to, now);
    let mut out = kept_groups(conn, from, kept_end, region)?;
    if kept_end < to {
        out.extend(live_groups(
            conn,
            china_day_start(kept_end),
            china_day_start(to),
            region,
        )?);
    }
    Ok(out)
}

/// Makes sure the ended days of `from..to` are kept (counting those that are not yet) and returns
/// the day the kept counts stop at: `to`, the first day that has not ended, or the first day that
/// could not be kept. Every day from there on is counted from the receipts by the caller.
fn kept_through(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    now: NaiveDateTime,
) -> NaiveDate {
    let settled = settled_end(now).clamp(from, to);
    kept_end(settled, keep_days(conn, from, settled, now))
}

/// Where the kept counts stop after keeping up to `settled`: there, or at the first day that
/// could not be kept (logged).
fn kept_end(
    settled: NaiveDate,
    keeping: Result<(), (NaiveDate, diesel::result::Error)>,
) -> NaiveDate {
    match keeping {
        Ok(()) => settled,
        // A database that takes no writes (a read replica) still answers, from the receipts.
        Err((day, e)) => {
            tracing::warn!(
                %day, error = %e,
                "credit-check statistics: keeping a day's counts failed; counted from the receipts"
            );
            day
        }
    }
}

/// Which kept groups [`kept_count`] adds up: every filter given must match.
#[derive(Debug, Default)]
pub struct KeptFilter<'a> {
    pub region: Option<&'a str>,
    pub field: Option<&'a str>,
    pub advice: Option<&'a str>,
    /// The caller's department (checks by accounts without one are never matched by a filter).
    pub department: Option<i32>,
    /// The checking account.
    pub caller: Option<i32>,
}

/// The one row of [`kept_count`]'s sum.
#[derive(QueryableByName)]
struct KeptSum {
    #[diesel(sql_type = BigInt)]
    checks: i64,
}

/// What [`kept_count`] found: the receipts the kept counts hold for the groups asked for, and the
/// day ranges (`from..to`, UTC+8; `NaiveDate::MAX` for no end) it left out, whose receipts the
/// caller counts itself.
#[derive(Debug, Default)]
pub struct KeptCount {
    pub total: i64,
    pub not_kept: Vec<(NaiveDate, NaiveDate)>,
}

/// How many ended days not yet kept [`kept_count`] counts and keeps in one request; with more,
/// it leaves them to the background count and to the caller (see there).
pub const KEEP_PER_REQUEST: usize = RECENT_DAYS as usize;

/// How many receipts of the days `from..to` (UTC+8) the kept counts hold under `filter` (one sum
/// in the database). Days that have not ended, or could not be kept (a read replica), are left
/// to the caller. Ended days not yet kept are counted and kept first, as for the statistics,
/// when they are at most [`KEEP_PER_REQUEST`]; more (after an upgrade that dropped the kept
/// counts, until the background count has caught up) are left to the caller too, from the first
/// of them to the last, so that a request never costs much more than counting its receipts
/// would.
pub fn kept_count(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    filter: &KeptFilter<'_>,
    now: NaiveDateTime,
) -> QueryResult<KeptCount> {
    if from >= to {
        return Ok(KeptCount::default());
    }
    let settled = settled_end(now).clamp(from, to);
    let counted = counted_days(conn, from, settled)?;
    let missing: Vec<NaiveDate> = from
        .iter_days()
        .take_while(|d| *d < settled)
        .filter(|d| !counted.contains(d))
        .collect();
    let (kept, mut not_kept) = match (missing.first(), missing.last()) {
        (Some(&first), Some(&last)) if missing.len() > KEEP_PER_REQUEST => (
            vec![(from, first), (next_day(last), settled)],
            vec![(first, next_day(last))],
        ),
        _ => {
            let end = kept_end(settled, keep_uncounted(conn, from, settled, now, &counted));
            (vec![(from, end)], vec![(end, settled)])
        }
    };
    not_kept.push((settled, to));
    not_kept.retain(|(a, b)| a < b);
    not_kept.dedup_by(|next, prev| {
        let adjacent = prev.1 == next.0;
        if adjacent {
            prev.1 = next.1;
        }
        adjacent
    });
    let mut total = 0;
    for (a, b) in kept.into_iter().filter(|(a, b)| a < b) {
        total += diesel::sql_query(
            "SELECT CAST(COALESCE(SUM(checks), 0) AS BIGINT) AS checks FROM check_day_counts \
             WHERE day >= $1 AND day < $2 \
               AND ($3 IS NULL OR region_code = $3) AND ($4 IS NULL OR field = $4) \
               AND ($5 IS NULL OR advice = $5) AND ($6 IS NULL OR caller_department_id = $6) \
               AND ($7 IS NULL OR caller_user_id = $7)",
        )
        .bind::<Date, _>(a)
        .bind::<Date, _>(b)
        .bind::<Nullable<Text>, _>(filter.region)
        .bind::<Nullable<Text>, _>(filter.field)
        .bind::<Nullable<Text>, _>(filter.advice)
        .bind::<Nullable<Integer>, _>(filter.department)
        .bind::<Nullable<Integer>, _>(filter.caller)
        .get_result::<KeptSum>(conn)?
        .checks;
    }
    Ok(KeptCount { total, not_kept })
}

/// One row of [`kept_groups`]' query.
#[derive(QueryableByName)]
struct KeptRow {
    #[diesel(sql_type = Text)]
    field: String,
    #[diesel(sql_type = Integer)]
    caller_department_id: i32,
    #[diesel(sql_type = Text)]
    advice: String,
    #[diesel(sql_type = Text)]
    region_code: String,
    #[diesel(sql_type = Text)]
    measures_applied: String,
    #[diesel(sql_type = BigInt)]
    checks: i64,
}

/// The kept groups of the days `from..to`, every day's rows of a group added up by the database
/// (a year is one row per group, not one per group and day).
fn kept_groups(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    region: Option<&str>,
) -> QueryResult<Vec<StatGroup>> {
    if from >= to {
        return Ok(Vec::new());
    }
    let rows = diesel::sql_query(
        "SELECT field, caller_department_id, advice, region_code, measures_applied, \
                CAST(SUM(checks) AS BIGINT) AS checks \
         FROM check_day_counts \
         WHERE day >= $1 AND day < $2 AND ($3 = '' OR region_code = $3) \
         GROUP BY field, caller_department_id, advice, region_code, measures_applied",
    )
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .bind::<Text, _>(region.unwrap_or(""))
    .load::<KeptRow>(conn)?;
    Ok(rows
        .into_iter()
        .map(|g| {
            let dept = (g.caller_department_id != NO_DEPARTMENT).then_some(g.caller_department_id);
            let fb = (g.measures_applied != NO_FEEDBACK).then_some(g.measures_applied);
            (g.field, dept, g.advice, g.region_code, fb, g.checks)
        })
        .collect())
}

/// The groups of the receipts checked in `[from, to)` (UTC), counted by the database in one pass
/// over the period's receipts (small columns only): what comes back is one row per distinct
/// combination, not one per receipt.
fn live_groups(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
    region: Option<&str>,
) -> QueryResult<Vec<StatGroup>> {
    let period = credit_checks::table
        .left_join(check_feedback::table)
        .filter(credit_checks::checked_at.ge(from))
        .filter(credit_checks::checked_at.lt(to));
    // The same grouping with or without the region's filter (not boxed: diesel does not group a
    // boxed query of several backends).
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
            .load::<StatGroup>(conn)
        };
    }
    match region {
        Some(r) => counted!(period.filter(credit_checks::region_code.eq(r.to_string()))),
        None => counted!(period),
    }
}

/// `check_day_counts.caller_department_id` of checks by an account without a department (a key
/// column cannot be null); department ids start at 1.
const NO_DEPARTMENT: i32 = 0;

/// `check_day_counts.measures_applied` of receipts without feedback (`'[]'` is feedback that
/// applied none).
const NO_FEEDBACK: &str = "";

/// How many ended days before the current one [`keep_recent`] makes sure are counted, and how
/// many older days not yet counted it counts on each call.
pub const RECENT_DAYS: u64 = 31;

/// Counts the ended days of the last [`RECENT_DAYS`] that are not counted yet, so the first
/// reader after a day ends does not wait for its count (the server calls it every hour). Then,
/// working backwards from the newest older day not yet counted, up to [`RECENT_DAYS`] more days
/// back to the first receipt: after an upgrade, or with receipts restored from before, the
/// history is counted a month a call and a reader of an old year does not pay for it all.
/// Returns whether older days are still not counted (the server then calls again a minute later
/// rather than an hour).
pub fn keep_recent(settled: &mut Settled<'_>, now: NaiveDateTime) -> QueryResult<bool> {
    let conn = settled.conn();
    let to = settled_end(now);
    let from = to - chrono::Days::new(RECENT_DAYS);
    keep_days(conn, from, to, now).map_err(|(_, e)| e)?;
    let first: Option<NaiveDateTime> = credit_checks::table
        .select(diesel::dsl::min(credit_checks::checked_at))
        .first(conn)?;
    let Some(first) = first.map(china_date).filter(|f| *f < from) else {
        return Ok(false);
    };
    let counted = counted_days(conn, first, from)?;
    let uncounted: Vec<NaiveDate> = first
        .iter_days()
        .take_while(|d| *d < from)
        .filter(|d| !counted.contains(d))
        .collect();
    let Some(&newest) = uncounted.last() else {
        return Ok(false);
    };
    let older = (newest - chrono::Days::new(RECENT_DAYS - 1)).max(first);
    keep_days(conn, older, next_day(newest), now).map_err(|(_, e)| e)?;
    Ok(uncounted.first().is_some_and(|d| *d < older))
}

/// Keeps the counts of the days in `from..to` that have ended (by `now`) and are not kept yet:
/// before a month's receipts are archived (`checks::archive`).
pub fn keep_range(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    now: NaiveDateTime,
) -> QueryResult<()> {
    keep_days(conn, from, to.min(settled_end(now)), now).map_err(|(_, e)| e)
}

/// Makes sure every day of `from..to` (all ended: see [`settled_end`]) is counted into
/// `check_day_counts`: reads which are, then counts the others, each day in its own short
/// transaction, and a run of days without receipts in one. On failure, the first day that may
/// not be counted (every day before it is).
fn keep_days(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    now: NaiveDateTime,
) -> Result<(), (NaiveDate, diesel::result::Error)> {
    if from >= to {
        return Ok(());
    }
    let counted = counted_days(conn, from, to).map_err(|e| (from, e))?;
    keep_uncounted(conn, from, to, now, &counted)
}

/// [`keep_days`] when the days of `from..to` that are counted have just been read.
fn keep_uncounted(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    now: NaiveDateTime,
    counted: &BTreeSet<NaiveDate>,
) -> Result<(), (NaiveDate, diesel::result::Error)> {
    let mut day = from;
    while day < to {
        if counted.contains(&day) {
            day = next_day(day);
            continue;
        }
        let mut end = next_day(day);
        while end < to && !counted.contains(&end) {
            end = next_day(end);
        }
        day = keep_first(conn, day, end, now).map_err(|e| (day, e))?;
    }
    Ok(())
}

/// The days of `from..to` that are counted.
fn counted_days(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<BTreeSet<NaiveDate>> {
    Ok(check_days_counted::table
        .filter(check_days_counted::day.ge(from))
        .filter(check_days_counted::day.lt(to))
        .select(check_days_counted::day)
        .load::<NaiveDate>(conn)?
        .into_iter()
        .collect())
}

/// The day after `d` (`NaiveDate::MAX` stays).
pub(crate) fn next_day(d: NaiveDate) -> NaiveDate {
    d.succ_opt().unwrap_or(NaiveDate::MAX)
}

/// Claims `day` as counted; 0 when it was already.
fn claim(conn: &mut DbConnection, day: NaiveDate, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO check_days_counted (day, counted_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind::<Date, _>(day)
    .bind::<Timestamp, _>(now)
    .execute(conn)
}

/// In one transaction, the days `from..to` (ended, none counted when looked at) up to the first
/// that holds a receipt are marked counted with no groups, and that day is counted into
/// `check_day_counts`. Returns the day after the last one it dealt with.
///
/// On PostgreSQL the transaction first takes a lock on `check_feedback` that waits for feedback
/// being written and holds new feedback back until the counts are committed (feedback committed
/// meanwhile would be neither in the count nor added to it by [`add_feedback`]); the lock
/// conflicts with itself, so two instances count a day once. On SQLite the first statement
/// writes, so the transaction holds the write lock before it reads.
fn keep_first(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    now: NaiveDateTime,
) -> QueryResult<NaiveDate> {
    conn.transaction(|c| {
        if let DbConnection::Postgresql(pg) = c {
            diesel::sql_query("LOCK TABLE check_feedback IN SHARE ROW EXCLUSIVE MODE")
                .execute(pg)?;
        }
        if claim(c, from, now)? == 0 {
            return Ok(next_day(from));
        }
        let first: Option<NaiveDateTime> = credit_checks::table
            .filter(credit_checks::checked_at.ge(china_day_start(from)))
            .filter(credit_checks::checked_at.lt(china_day_start(to)))
            .select(diesel::dsl::min(credit_checks::checked_at))
            .first(c)?;
        let busy = first.map_or(to, china_date);
        let mut day = next_day(from);
        while day < busy {
            claim(c, day, now)?;
            day = next_day(day);
        }
        if busy >= to {
            return Ok(to);
        }
        if busy > from && claim(c, busy, now)? == 0 {
            return Ok(next_day(busy));
        }
        diesel::sql_query(format!(
            "INSERT INTO check_day_counts (day, field, caller_department_id, advice, region_code, \
                                           measures_applied, caller_user_id, checks) \
             SELECT $1, c.field, COALESCE(c.caller_department_id, {NO_DEPARTMENT}), c.advice, \
                    c.region_code, COALESCE(f.measures_applied, '{NO_FEEDBACK}'), \
                    c.caller_user_id, COUNT(*) \
             FROM credit_checks c LEFT JOIN check_feedback f ON f.check_id = c.id \
             WHERE c.checked_at >= $2 AND c.checked_at < $3 \
             GROUP BY c.field, COALESCE(c.caller_department_id, {NO_DEPARTMENT}), c.advice, \
                      c.region_code, COALESCE(f.measures_applied, '{NO_FEEDBACK}'), \
                      c.caller_user_id"
        ))
        .bind::<Date, _>(busy)
        .bind::<Timestamp, _>(china_day_start(busy))
        .bind::<Timestamp, _>(china_day_start(next_day(busy)))
        .execute(c)?;
        Ok(next_day(busy))
    })
}

fn is_counted(conn: &mut DbConnection, day: NaiveDate) -> QueryResult<bool> {
    Ok(check_days_counted::table
        .find(day)
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Keeps the counts of the day of `receipt` true when feedback applying `measures_applied` (as
/// stored) has just been written for it: the receipt moves from the group without feedback to
/// the feedback's group. Called in the feedback's transaction, after its insert. A day not yet
/// counted needs nothing; a day whose counts do not hold the receipt (a row changed behind the
/// service's back) is forgotten, to be counted again when next asked for.
pub fn add_feedback(
    conn: &mut DbConnection,
    receipt: &ReceiptRow,
    measures_applied: &str,
) -> QueryResult<()> {
    let day = china_date(receipt.checked_at);
    if !is_counted(conn, day)? {
        return Ok(());
    }
    let dept = receipt.caller_department_id.unwrap_or(NO_DEPARTMENT);
    macro_rules! group {
        ($measures:expr) => {
            check_day_counts::table
                .filter(check_day_counts::day.eq(day))
                .filter(check_day_counts::field.eq(&receipt.field))
                .filter(check_day_counts::caller_department_id.eq(dept))
                .filter(check_day_counts::advice.eq(&receipt.advice))
                .filter(check_day_counts::region_code.eq(&receipt.region_code))
                .filter(check_day_counts::measures_applied.eq($measures))
                .filter(check_day_counts::caller_user_id.eq(receipt.caller_user_id))
        };
    }
    let taken = diesel::delete(group!(NO_FEEDBACK).filter(check_day_counts::checks.eq(1)))
        .execute(conn)?
        + diesel::update(group!(NO_FEEDBACK))
            .set(check_day_counts::checks.eq(check_day_counts::checks - 1))
            .execute(conn)?;
    if taken == 0 {
        diesel::delete(check_day_counts::table.filter(check_day_counts::day.eq(day)))
            .execute(conn)?;
        diesel::delete(check_days_counted::table.find(day)).execute(conn)?;
        return Ok(());
    }
    let added = diesel::update(group!(measures_applied))
        .set(check_day_counts::checks.eq(check_day_counts::checks + 1))
        .execute(conn)?;
    if added == 0 {
        diesel::insert_into(check_day_counts::table)
            .values((
                check_day_counts::day.eq(day),
                check_day_counts::field.eq(&receipt.field),
                check_day_counts::caller_department_id.eq(dept),
                check_day_counts::advice.eq(&receipt.advice),
                check_day_counts::region_code.eq(&receipt.region_code),
                check_day_counts::measures_applied.eq(measures_applied),
                check_day_counts::caller_user_id.eq(receipt.caller_user_id),
                check_day_counts::checks.eq(1i64),
            ))
            .execute(conn)?;
    }
    Ok(())
}
