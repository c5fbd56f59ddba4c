//! Archiving a month of receipts (核查记录归档; PostgreSQL): the retention step of
//! `docs/scaling.md`. An administrator archives an ended month; the service then, in one
//! transaction:
//!
//! - checks that every receipt of the month is in the receipt log (it sequences what waits first,
//!   and refuses while receipts of the month are still pending);
//! - records the log's leaves that hold the month's receipts, as runs of leaf indexes
//!   (`receipt_log_archived`), and the month itself (`receipt_archives`: how many receipts, which
//!   table, when, by whom);
//! - detaches the month's partition from `credit_checks` and renames it
//!   `credit_checks_archive_pYYYYMM`: the rows stay in the database, out of every query, until the
//!   operator has dumped the table and drops it (`docs/operations.md`);
//! - writes the audit record.
//!
//! The receipt log keeps its leaves, so checkpoints and proofs stay valid: a consistency proof
//! checks the rows of every receipt that is not archived and takes the recorded hash of those that
//! are ([`super::transparency::check_rows`]). The usage statistics' kept day counts of the
//! month are kept first, so statistics still count it. SQLite keeps receipts in one table and has
//! no partitions: archiving answers 409 there.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Text};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::partitions::{next_month, partition_name, SETTLE};
use super::signing::ReceiptKeys;
use crate::audit::{self, Actor, Entry};
use crate::db::{self, DbConnection};
use crate::error::ApiError;

diesel::table! {
    /// Months archived (one row each).
    receipt_archives (month) {
        month -> Date,
        table_name -> Text,
        receipts -> BigInt,
        archived_at -> Timestamp,
        archived_by -> Integer,
    }
}

/// An archived month (归档月份).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArchivedMonth {
    /// The month, `YYYY-MM` (a UTC month: the partition's bounds).
    #[schema(example = "2025-01")]
    pub month: String,
    /// The table that holds its receipts until the operator drops it.
    #[schema(example = "credit_checks_archive_p202501")]
    pub table_name: String,
    /// Receipts archived.
    pub receipts: i64,
    pub archived_at: NaiveDateTime,
    /// The administrator's account id.
    pub archived_by: i32,
}

/// Body of `POST /api/v1/receipt-archives`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    /// The month to archive, `YYYY-MM`; it must have ended more than a day ago.
    #[schema(example = "2025-01")]
    pub month: String,
}

/// `YYYY-MM` → the month's first day.
pub fn parse_month(s: &str) -> Result<NaiveDate, ApiError> {
    let bad = || {
        ApiError::invalid_field(
            "month",
            "invalid_month",
            "month must be YYYY-MM, e.g. 2025-01",
        )
    };
    let (y, m) = s.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 || !(y.chars().chain(m.chars())).all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    NaiveDate::from_ymd_opt(
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        1,
    )
    .ok_or_else(bad)
}

fn month_text(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

type Row = (NaiveDate, String, i64, NaiveDateTime, i32);

fn view(r: Row) -> ArchivedMonth {
    ArchivedMonth {
        month: month_text(r.0),
        table_name: r.1,
        receipts: r.2,
        archived_at: r.3,
        archived_by: r.4,
    }
}

/// Every archived month, oldest first.
pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<ArchivedMonth>> {
    Ok(receipt_archives::table
        .order(receipt_archives::month)
        .load::<Row>(conn)?
        .into_iter()
        .map(view)
        .collect())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// 409 `month_already_archived` when `month` is.
fn require_not_archived(conn: &mut DbConnection, month: NaiveDate) -> Result<(), ApiError> {
    let archived: i64 = receipt_archives::table
        .filter(receipt_archives::month.eq(month))
        .count()
        .get_result(conn)?;
    if archived > 0 {
        return Err(ApiError::conflict(
            "month_already_archived",
            format!("{} is already archived", month_text(month)),
        ));
    }
    Ok(())
}

/// 404 unless `part` is a partition of `credit_checks` now.
fn require_partition(
    conn: &mut DbConnection,
    part: &str,
    month: NaiveDate,
) -> Result<(), ApiError> {
    let attached: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'credit_checks'::regclass AND c.relname = $1",
    )
    .bind::<Text, _>(part)
    .get_result::<Count>(conn)?
    .n;
    if attached == 0 {
        return Err(ApiError::not_found(format!(
            "receipt partition of {}",
            month_text(month)
        )));
    }
    Ok(())
}

/// Archives `month` (its first day): see the module's documentation. `now` decides whether the
/// month has ended.
pub fn archive_month(
    conn: &mut DbConnection,
    keys: &ReceiptKeys,
    actor: &Actor,
    user_id: i32,
    month: NaiveDate,
    now: NaiveDateTime,
) -> Result<ArchivedMonth, ApiError> {
    if !matches!(conn, DbConnection::Postgresql(_)) {
        return Err(ApiError::conflict(
            "receipt_archive_needs_postgresql",
            "SQLite keeps every receipt in one table: archiving a month detaches its monthly \
             partition, which only PostgreSQL has",
        ));
    }
    let end = next_month(month);
    if end.and_hms_opt(0, 0, 0).unwrap_or(now) + SETTLE > now {
        return Err(ApiError::invalid_field(
            "month",
            "month_not_ended",
            "only a month that ended more than a day ago can be archived",
        ));
    }
    let part = partition_name(month);
    require_not_archived(conn, month)?;
    require_partition(conn, &part, month)?;
    // Everything committed goes into the log first, and the month's days are counted for the
    // usage statistics (both are idempotent and outside the archive's transaction).
    super::transparency::sequence(conn, keys)?;
    let (day_from, day_to) = (
        month.pred_opt().unwrap_or(month),
        end.succ_opt().unwrap_or(end),
    );
    super::usage::keep_range(conn, day_from, day_to, now)?;

    let archive_name = format!(
        "credit_checks_archive_p{}",
        &part["credit_checks_p".len()..]
    );
    let (start_at, end_at) = (
        month.and_hms_opt(0, 0, 0).unwrap_or(now),
        end.and_hms_opt(0, 0, 0).unwrap_or(now),
    );
    db::write_tx(conn, |c| {
        // A lock held by a long read of the table fails the archive rather than stalling checks
        // queued behind it.
        diesel::sql_query("SET LOCAL lock_timeout = '5s'").execute(c)?;
        // The log's sequencing waits for the archive (the same row serialises sequencers).
        diesel::sql_query("UPDATE receipt_log_state SET size = size WHERE id = 1").execute(c)?;
        // Another administrator may have archived it since the first look (audited writes run
        // one at a time: this sees what they committed).
        require_not_archived(c, month)?;
        require_partition(c, &part, month)?;
        // No receipt enters the month while it is counted and detached (a clock far behind could
        // still send one there); checks of other months go on.
        diesel::sql_query(format!("LOCK TABLE {part} IN SHARE MODE")).execute(c)?;
        let pending: i64 = diesel::sql_query(
            "SELECT count(*) AS n FROM receipt_log_pending WHERE first_at < $1 AND last_at >= $2",
        )
        .bind::<diesel::sql_types::Timestamp, _>(end_at)
        .bind::<diesel::sql_types::Timestamp, _>(start_at)
        .get_result::<Count>(c)?
        .n;
        if pending > 0 {
            return Err(ApiError::conflict(
                "receipts_pending",
                "receipts of that month are not in the receipt log yet; retry in a minute",
            ));
        }
        let receipts: i64 = diesel::sql_query(format!("SELECT count(*) AS n FROM {part}"))
            .get_result::<Count>(c)?
            .n;
        diesel::sql_query(
            "INSERT INTO receipt_archives (month, table_name, receipts, archived_at, archived_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind::<Date, _>(month)
        .bind::<Text, _>(&archive_name)
        .bind::<BigInt, _>(receipts)
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::Integer, _>(user_id)
        .execute(c)?;
        diesel::sql_query(format!(
            "INSERT INTO receipt_log_archived (first_leaf, last_leaf, month) \
             SELECT min(leaf_index), max(leaf_index), $1 FROM ( \
               SELECT l.leaf_index, l.leaf_index - row_number() OVER (ORDER BY l.leaf_index) AS run \
               FROM {part} r JOIN receipt_log_leaves l ON l.check_id = r.id) runs \
             GROUP BY run"
        ))
        .bind::<Date, _>(month)
        .execute(c)?;
        let in_log: i64 = diesel::sql_query(
            "SELECT coalesce(sum(last_leaf - first_leaf + 1), 0)::bigint AS n \
             FROM receipt_log_archived WHERE month = $1",
        )
        .bind::<Date, _>(month)
        .get_result::<Count>(c)?
        .n;
        if in_log != receipts {
            return Err(ApiError::conflict(
                "receipts_not_in_log",
                format!(
                    "{} of the month's {receipts} receipts are not in the receipt log; nothing \
                     was archived",
                    receipts - in_log
                ),
            ));
        }
        diesel::sql_query(format!("ALTER TABLE credit_checks DETACH PARTITION {part}"))
            .execute(c)?;
        diesel::sql_query(format!("ALTER TABLE {part} RENAME TO {archive_name}")).execute(c)?;
        let out = ArchivedMonth {
            month: month_text(month),
            table_name: archive_name.clone(),
            receipts,
            archived_at: now,
            archived_by: user_id,
        };
        audit::append(
            c,
            actor,
            Entry::new("receipts.archive", "receipt_month", month_text(month)).after(&out),
        )?;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly() {
        assert_eq!(
            parse_month("2025-01").unwrap(),
            NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
        );
        for bad in [
            "2025-1",
            "2025-13",
            "25-01",
            "2025/01",
            "2025-01-01",
            "",
            "２０２５-01",
        ] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
    }
}
