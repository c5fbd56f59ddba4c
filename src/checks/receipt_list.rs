//! The receipt list (核查记录) for staff: the store behind `GET /api/v1/credit-checks`.
//!
//! A page is read newest first under the filters. Its `total` is the number of receipts under the
//! same filters, and counting them one by one would read every receipt in scope: years of them on a
//! city's PostgreSQL. So where the filters are among what the usage statistics keep per ended day
//! (field, caller account and department, advice, region; `checks::usage`), the total adds up
//! those kept counts and counts only the receipts of the days not kept (the current day), and of
//! the first day that has receipts, which may have lost some since it was counted (a month
//! detached for retention). A filter by subject is counted from the receipts, through the
//! subject's index. The definitions are in `docs/credit-checks.md`, "The list's total".

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::receipt_queue::subject_bucket;
use super::receipts::{ReceiptRow, Settled};
use super::usage::{kept_count, next_day, KeptFilter};
use crate::backdating::{china_date, china_day_start};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;
use crate::schema::credit_checks;

/// A receipt in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptSummary {
    pub check_id: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub checked_at: NaiveDateTime,
    pub caller_user_id: i32,
    pub caller_department_id: Option<i32>,
    pub field: String,
    pub reference: Option<String>,
    pub purpose: Option<String>,
    pub advice: String,
    pub region_code: String,
    pub known: bool,
    /// The subject's code as the caller gave it (staff see full codes).
    pub subject_code: String,
    pub subject_name: Option<String>,
}

impl From<ReceiptRow> for ReceiptSummary {
    fn from(r: ReceiptRow) -> Self {
        let v = r.answer_value();
        ReceiptSummary {
            check_id: r.id,
            checked_at: r.checked_at,
            caller_user_id: r.caller_user_id,
            caller_department_id: r.caller_department_id,
            field: r.field,
            reference: r.reference,
            purpose: r.purpose,
            advice: r.advice,
            region_code: r.region_code,
            known: v["known"].as_bool().unwrap_or(false),
            subject_code: v["subject_code"].as_str().unwrap_or_default().to_string(),
            subject_name: v["subject"]["name"].as_str().map(str::to_string),
        }
    }
}

/// Which receipts a list shows: the caller's scope and the filters asked for, all of which must
/// hold.
#[derive(Debug)]
pub struct ReceiptQuery {
    /// The caller's region (a county bureau); `None`: every region.
    pub scope_region: Option<String>,
    /// The caller's department (a department officer); `None`: every department.
    pub scope_department: Option<i32>,
    /// The checking account.
    pub caller: Option<i32>,
    pub field: Option<String>,
    pub region_code: Option<String>,
    /// The subject's lookup key (`entries::lookup_key`).
    pub subject_key: Option<String>,
    /// First day (UTC+8), inclusive.
    pub from: Option<NaiveDate>,
    /// Last day (UTC+8), inclusive.
    pub to: Option<NaiveDate>,
    /// The advice as stored (`Advice::as_str`).
    pub advice: Option<&'static str>,
}

impl ReceiptQuery {
    /// The receipts under every filter, checked in `[after, before)` where given (UTC).
    fn filtered(
        &self,
        after: Option<NaiveDateTime>,
        before: Option<NaiveDateTime>,
    ) -> credit_checks::BoxedQuery<'static, MultiBackend> {
        let mut q = credit_checks::table.into_boxed();
        for r in [&self.scope_region, &self.region_code]
            .into_iter()
            .flatten()
        {
            q = q.filter(credit_checks::region_code.eq(r.clone()));
        }
        if let Some(d) = self.scope_department {
            q = q.filter(credit_checks::caller_department_id.eq(d));
        }
        if let Some(c) = self.caller {
            q = q.filter(credit_checks::caller_user_id.eq(c));
        }
        if let Some(v) = &self.field {
            q = q.filter(credit_checks::field.eq(v.clone()));
        }
        if let Some(k) = &self.subject_key {
            // The bucket first: on SQLite it is the index's leading column (the subject is
            // compared within the index entry); PostgreSQL uses its index on the subject.
            q = q
                .filter(credit_checks::subject_bucket.eq(subject_bucket(k)))
                .filter(credit_checks::subject_key.eq(k.clone()));
        }
        let from = self.from.map(china_day_start).into_iter().chain(after);
        if let Some(t) = from.max() {
            q = q.filter(credit_checks::checked_at.ge(t));
        }
        let to = self.to.map(|d| china_day_start(next_day(d)));
        if let Some(t) = to.into_iter().chain(before).min() {
            q = q.filter(credit_checks::checked_at.lt(t));
        }
        if let Some(a) = self.advice {
            q = q.filter(credit_checks::advice.eq(a));
        }
        q
    }

    /// How many receipts the query shows. Read on a [`Settled`] connection.
    pub fn total(&self, conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<i64> {
        let counted = |q: &Self, c: &mut DbConnection, after, before| -> QueryResult<i64> {
            q.filtered(after, before).count().get_result(c)
        };
        if self.subject_key.is_some() {
            return counted(self, conn, None, None);
        }
        let region = match (&self.scope_region, &self.region_code) {
            (Some(a), Some(b)) if a != b => return Ok(0),
            (a, b) => a.as_deref().or(b.as_deref()),
        };
        let first: Option<NaiveDateTime> = credit_checks::table
            .select(diesel::dsl::min(credit_checks::checked_at))
            .first(conn)?;
        let Some(first) = first else {
            return Ok(0);
        };
        // The first day with receipts is counted from them (it may have lost receipts since its
        // count was kept); the kept counts start the day after, or at `from`.
        let first_day = china_date(first);
        let kept_from = self
            .from
            .map_or(next_day(first_day), |f| f.max(next_day(first_day)));
        let kept_to = self.to.map_or(NaiveDate::MAX, next_day).max(kept_from);
        let filter = KeptFilter {
            region,
            field: self.field.as_deref(),
            advice: self.advice,
            department: self.scope_department,
            caller: self.caller,
        };
        let kept = kept_count(conn, kept_from, kept_to, &filter, now)?;
        let mut total = kept.total;
        if self.from.is_none_or(|f| f <= first_day) {
            total += counted(self, conn, None, Some(china_day_start(kept_from)))?;
        }
        for (a, b) in kept.not_kept {
            let before = (b < NaiveDate::MAX).then(|| china_day_start(b));
            total += counted(self, conn, Some(china_day_start(a)), before)?;
        }
        Ok(total)
    }

    /// One page of the receipts, newest first, and their [`total`](Self::total).
    pub fn page(
        &self,
        settled: &mut Settled<'_>,
        limit: i64,
        offset: i64,
        now: NaiveDateTime,
    ) -> Result<(Vec<ReceiptSummary>, i64), ApiError> {
        let conn = settled.conn();
        let total = self.total(conn, now)?;
        let newest = self
            .filtered(None, None)
            .order(credit_checks::id.desc())
            .limit(limit)
            .offset(offset);
        let rows: Vec<ReceiptRow> = if matches!(conn, DbConnection::Sqlite(_)) {
            // SQLite reading by an index other than the table's (a date range) sorts whole rows,
            // answers included: a month of 300,000 receipts took 0.67 s. The page's ids first,
            // sorted from the index alone (0.06 s), then their rows.
            let ids: Vec<i32> = newest.select(credit_checks::id).load(conn)?;
            credit_checks::table
                .filter(credit_checks::id.eq_any(&ids))
                .order(credit_checks::id.desc())
                .select(ReceiptRow::as_select())
                .load(conn)?
        } else {
            newest.select(ReceiptRow::as_select()).load(conn)?
        };
        Ok((rows.into_iter().map(ReceiptSummary::from).collect(), total))
    }
}
