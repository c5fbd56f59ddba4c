//! Monthly partitions of `credit_checks` on PostgreSQL (issue 25; see `docs/scaling.md`).
//!
//! The table is partitioned by range on `checked_at`, one partition a month named
//! `credit_checks_pYYYYMM`, plus `credit_checks_default` for a row whose month has no partition
//! (a clock far off). Every instance calls [`ensure`] at start and every few hours, creating the
//! current month's partition and the next [`MONTHS_AHEAD`] ones, so a month's partition exists
//! months before its first receipt. Creating a month whose rows sit in the default partition moves
//! them into it in the same transaction. Instances serialise on an advisory lock; a partition that
//! exists is left alone. On SQLite there is nothing to do (one table; see `docs/scaling.md`).

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::DbConnection;

/// Months created ahead of the current one.
pub const MONTHS_AHEAD: u32 = 3;

/// How often a running instance calls [`ensure`] (a month's partition then exists about three
/// months before it begins, whatever the interval).
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Advisory lock key of partition maintenance (any fixed number; "cc-part").
const LOCK_KEY: i64 = 0x0063_632d_7061_7274;

/// The partition's name of the month that starts on `month` (the first of a month).
pub fn partition_name(month: NaiveDate) -> String {
    format!("credit_checks_p{:04}{:02}", month.year(), month.month())
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("first of a month")
}

fn next_month(d: NaiveDate) -> NaiveDate {
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
        Ok(created)
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
    }
}
