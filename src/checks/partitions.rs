//! Monthly partitions of `credit_checks` on PostgreSQL (issue 25; see `docs/scaling.md`).
//!
//! The table is partitioned by range on `checked_at`, one partition a month named
//! `credit_checks_pYYYYMM`, plus `credit_checks_default` for a row whose month has no partition
//! (a clock far off). Every instance calls [`ensure`] at start and every few hours, creating the
//! current month's partition and the next [`MONTHS_AHEAD`] ones, so a month's partition exists
//! months before its first receipt. Creating a month whose rows sit in the default partition moves
//! them into it in the same transaction. Instances serialise on an advisory lock; a partition that
//! exists is left alone. On SQLite there is nothing to do (one table; see `docs/scaling.md`).
//!
//! **Reads by id.** Ids come from one sequence, so a month that has ended holds a fixed range of
//! them. [`ensure`] also records, in `credit_check_id_ranges`, the smallest and largest id of every
//! month partition that ended more than [`SETTLE`] ago; [`id_window`] turns an id into a
//! `checked_at` range the planner prunes on: the recorded months whose range holds the id, widened
//! by a month on each side (ids are not ordered by `checked_at` across instances near a month's
//! boundary), or, for an id above every recorded range, the last recorded month onwards (the open
//! months). A read that finds nothing in its window probes every partition
//! ([`crate::checks::receipts::load_receipt`]), so the answer stays exact whatever the table says.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Timestamp};

use crate::db::DbConnection;

/// Months created ahead of the current one.
pub const MONTHS_AHEAD: u32 = 3;

/// How often a running instance calls [`ensure`] (a month's partition then exists about three
/// months before it begins, whatever the interval).
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// How long after a month's end its id range is recorded: receipts are committed within seconds
/// of their `checked_at`, so a month this long over takes no new rows (one that does anyway is
/// still found, by the read's fallback to every partition).
pub const SETTLE: chrono::Duration = chrono::Duration::days(1);

/// Advisory lock key of partition maintenance (any fixed number; "cc-part").
const LOCK_KEY: i64 = 0x0063_632d_7061_7274;

/// The partition's name of the month that starts on `month` (the first of a month).
pub fn partition_name(month: NaiveDate) -> String {
    format!("credit_checks_p{:04}{:02}", month.year(), month.month())
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("first of a month")
}

fn previous_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 1 {
        (d.year() - 1, 12)
    } else {
        (d.year(), d.month() - 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("first of a month")
}

/// The first of the month after `d`'s.
pub fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("first of a month")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Creates the partitions of `now`'s month and the [`MONTHS_AHEAD`] following ones that do not
/// exist yet, moving any of their rows out of the default partition. Returns the names created.
/// A no-op on SQLite.
pub fn ensure(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<Vec<String>> {
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(Vec::new());
    };
    let mut month = first_of_month(now.date());
    let mut wanted = Vec::new();
    for _ in 0..=MONTHS_AHEAD {
        wanted.push(month);
        month = next_month(month);
    }
    pg.transaction(|c| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(LOCK_KEY)
            .execute(c)?;
        let mut created = Vec::new();
        for m in wanted {
            let name = partition_name(m);
            let exists: Count = diesel::sql_query(
                "SELECT count(*) AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = 'credit_checks'::regclass AND c.relname = $1",
            )
            .bind::<Text, _>(&name)
            .get_result(c)?;
            if exists.n > 0 {
                continue;
            }
            let (from, to) = (m.format("%Y-%m-%d"), next_month(m).format("%Y-%m-%d"));
            // Built as a plain table, filled from the default partition, then attached: attaching
            // checks that the default partition holds no row of the month any more.
            diesel::sql_query(format!(
                "CREATE TABLE {name} (LIKE credit_checks INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            ))
            .execute(c)?;
            diesel::sql_query(format!(
                "WITH moved AS (DELETE FROM credit_checks_default \
                 WHERE checked_at >= '{from}' AND checked_at < '{to}' RETURNING *) \
                 INSERT INTO {name} SELECT * FROM moved"
            ))
            .execute(c)?;
            diesel::sql_query(format!(
                "ALTER TABLE credit_checks ATTACH PARTITION {name} \
                 FOR VALUES FROM ('{from}') TO ('{to}')"
            ))
            .execute(c)?;
            created.push(name);
        }
        record_ranges(c, now)?;
        Ok(created)
    })
}

#[derive(QueryableByName)]
struct PartName {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Range {
    #[diesel(sql_type = Nullable<Integer>)]
    lo: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    hi: Option<i32>,
}

/// The month a partition named `credit_checks_pYYYYMM` takes.
fn month_of(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix("credit_checks_p")?;
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::from_ymd_opt(digits[..4].parse().ok()?, digits[4..].parse().ok()?, 1)
}

/// Records the id range of every month partition that ended more than [`SETTLE`] before `now`
/// and has no row in `credit_check_id_ranges` yet (one `min`/`max` over its primary key each).
/// `now` is also bounded by the database's clock: an instance whose clock runs far ahead must not
/// record a month that is still open (its reads would then all take the slow path).
fn record_ranges(c: &mut PgConnection, now: NaiveDateTime) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Now {
        #[diesel(sql_type = Timestamp)]
        t: NaiveDateTime,
    }
    let db_now: Now =
        diesel::sql_query("SELECT (now() AT TIME ZONE 'UTC')::timestamp AS t").get_result(c)?;
    let now = now.min(db_now.t);
    let names: Vec<PartName> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'credit_checks'::regclass AND c.relname::text NOT IN \
         (SELECT 'credit_checks_p' || to_char(month, 'YYYYMM') FROM credit_check_id_ranges)",
    )
    .load(c)?;
    for p in names {
        let Some(month) = month_of(&p.name) else {
            continue;
        };
        if next_month(month).and_hms_opt(0, 0, 0).expect("midnight") + SETTLE > now {
            continue;
        }
        // The name comes from the catalogue and matched `credit_checks_pYYYYMM`.
        let r: Range = diesel::sql_query(format!(
            "SELECT min(id) AS lo, max(id) AS hi FROM {}",
            p.name
        ))
        .get_result(c)?;
        diesel::sql_query(
            "INSERT INTO credit_check_id_ranges (month, min_id, max_id, recorded_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (month) DO NOTHING",
        )
        .bind::<Date, _>(month)
        .bind::<Nullable<Integer>, _>(r.lo)
        .bind::<Nullable<Integer>, _>(r.hi)
        .bind::<Timestamp, _>(now)
        .execute(c)?;
    }
    Ok(())
}

/// Where a receipt of id `id` can be, as a `checked_at` range `[from, until)` (`until` `None`:
/// no upper bound): see the module documentation. `None` on SQLite (one table) and when nothing
/// is recorded yet; then a read probes everything.
pub fn id_window(
    conn: &mut DbConnection,
    id: i32,
) -> QueryResult<Option<(NaiveDateTime, Option<NaiveDateTime>)>> {
    #[derive(QueryableByName)]
    struct Months {
        #[diesel(sql_type = Nullable<Date>)]
        lo: Option<NaiveDate>,
        #[diesel(sql_type = Nullable<Date>)]
        hi: Option<NaiveDate>,
        #[diesel(sql_type = Nullable<Date>)]
        last: Option<NaiveDate>,
        #[diesel(sql_type = Nullable<Integer>)]
        top: Option<i32>,
    }
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(None);
    };
    let m: Months = diesel::sql_query(
        "SELECT (SELECT min(month) FROM credit_check_id_ranges WHERE min_id <= $1 AND $1 <= max_id) AS lo, \
                (SELECT max(month) FROM credit_check_id_ranges WHERE min_id <= $1 AND $1 <= max_id) AS hi, \
                (SELECT max(month) FROM credit_check_id_ranges) AS last, \
                (SELECT max(max_id) FROM credit_check_id_ranges) AS top",
    )
    .bind::<Integer, _>(id)
    .get_result(pg)?;
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight");
    Ok(match (m.lo, m.hi, m.last) {
        (Some(lo), Some(hi), _) => Some((
            midnight(previous_month(lo)),
            Some(midnight(next_month(next_month(hi)))),
        )),
        // Above every recorded range: the last recorded month (a receipt committed late into it)
        // and the open months after it.
        (_, _, Some(last)) if m.top.is_none_or(|t| id > t) => Some((midnight(last), None)),
        // Inside the recorded span but in no month's range: no month holds it (or the table is
        // behind): probe everything.
        _ => None,
    })
}

/// [`ensure`] for the current time, logging what it created or why it failed (a failure is not
/// fatal: the default partition takes the rows of a month without one).
pub fn ensure_now(conn: &mut DbConnection) {
    match ensure(conn, chrono::Utc::now().naive_utc()) {
        Ok(created) if !created.is_empty() => {
            tracing::info!(partitions = ?created, "credit_checks: monthly partitions created")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "credit_checks: creating monthly partitions failed"),
    }
}

/// Calls [`ensure_now`] every [`INTERVAL`] until aborted.
pub async fn run(pool: crate::db::Pool) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.tick().await; // the first tick is immediate; `Application::build` already ran it
    loop {
        tick.tick().await;
        let _ = crate::db::run(&pool, |conn| {
            ensure_now(conn);
            Ok(())
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_month_steps() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 17).unwrap();
        assert_eq!(
            first_of_month(d),
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
        );
        assert_eq!(next_month(d), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(partition_name(next_month(d)), "credit_checks_p202701");
        let d = NaiveDate::from_ymd_opt(2027, 1, 31).unwrap();
        assert_eq!(next_month(d), NaiveDate::from_ymd_opt(2027, 2, 1).unwrap());
        assert_eq!(
            previous_month(first_of_month(d)),
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
        );
        assert_eq!(
            previous_month(NaiveDate::from_ymd_opt(2027, 3, 1).unwrap()),
            NaiveDate::from_ymd_opt(2027, 2, 1).unwrap()
        );
    }

    #[test]
    fn only_month_partitions_have_a_month() {
        assert_eq!(
            month_of("credit_checks_p202612"),
            NaiveDate::from_ymd_opt(2026, 12, 1)
        );
        assert_eq!(month_of("credit_checks_default"), None);
        assert_eq!(month_of("credit_checks_p202613"), None);
        assert_eq!(month_of("credit_checks_p20261"), None);
        assert_eq!(month_of("credit_checks_p2026-1"), None);
    }
}
