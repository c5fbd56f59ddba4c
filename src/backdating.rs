//! Recording the past (补录): a bureau that starts using the service in the middle of its work
//! enters what already happened with the real dates — a repair completed, a case submitted or
//! shared, a commitment signed on a past day. See `docs/repair.md` and `docs/cases.md`.
//!
//! The rules, the same for every back-datable step:
//!
//! - the effective date is optional; absent (or today, China time) the step happens now;
//! - not in the future (422 `in_future`), not before [`EARLIEST`] (422 `before_2019`);
//! - a date before today is *back-dating*: only admins and bureau accounts (within their scope, as
//!   for the step itself) may do it; anyone else gets 403 `backdating_not_allowed`;
//! - the step's own order still holds (each caller checks that the date does not precede what it
//!   follows: the submission, the determination, the case date …) → 422 naming the field;
//! - every audit record written by a back-dated step carries `"backdated": true`,
//!   `"effective_date"` and `"effective_field"` in its `after` (see [`Marker`]); the audit API
//!   filters them with `?backdated=true`.

use chrono::{NaiveDate, NaiveDateTime};

use crate::auth::{AuthUser, Role};
use crate::error::{ApiError, FieldError};

/// The earliest effective date: the 2019 work plan's year, when the lists began.
pub const EARLIEST: NaiveDate = match NaiveDate::from_ymd_opt(2019, 1, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};

/// Checks an optional effective date sent as `field` and answers the back-dated day, if any:
/// `None` for no date or today (the step happens now), `Some(day)` for a day before today that the
/// caller may back-date to. Errors: out of range, future, before [`EARLIEST`] (422), or a caller
/// other than an admin or a bureau (403 `backdating_not_allowed`).
pub fn effective_date(
    user: &AuthUser,
    field: &str,
    date: Option<NaiveDate>,
) -> Result<Option<NaiveDate>, ApiError> {
    let Some(day) = date else {
        return Ok(None);
    };
    let today = crate::entries::today();
    if day > today {
        return Err(ApiError::invalid_field(
            field,
            "in_future",
            format!("{field} ({day}) is in the future (today is {today}, China time)"),
        ));
    }
    if day < EARLIEST {
        return Err(ApiError::invalid_field(
            field,
            "before_2019",
            format!("{field} ({day}) is before {EARLIEST}: nothing earlier than the 2019 work plan is recorded"),
        ));
    }
    if day == today {
        return Ok(None);
    }
    if !matches!(user.role, Role::Admin | Role::Bureau) {
        return Err(ApiError::Denied {
            code: "backdating_not_allowed",
            detail: format!(
                "only admins and bureaus may record a past date ({field} {day}); leave it out to record today"
            ),
            errors: vec![FieldError::new(
                field,
                "backdating_not_allowed",
                "only admins and bureaus may back-date",
            )],
        });
    }
    Ok(Some(day))
}

/// The stored instant of a back-dated day: noon in China (04:00 UTC), so the day is the same in
/// UTC and in China time and every count by day, month or year sees it on that day.
pub fn instant(day: NaiveDate) -> NaiveDateTime {
    day.and_hms_opt(4, 0, 0).unwrap_or_default()
}

/// The China (UTC+8) date of a stored UTC instant.
pub fn china_date(t: NaiveDateTime) -> NaiveDate {
    (t + chrono::Duration::hours(8)).date()
}

/// The stored UTC instant at which China's (UTC+8) `day` begins: [`china_date`]'s inverse.
pub fn china_day_start(day: NaiveDate) -> NaiveDateTime {
    day.and_hms_opt(0, 0, 0).unwrap_or_default() - chrono::Duration::hours(8)
}

/// A 422 on `field`: the effective date precedes what the step follows.
pub fn precedes(field: &str, code: &'static str, day: NaiveDate, what: &str) -> ApiError {
    ApiError::invalid_field(field, code, format!("{field} ({day}) is before {what}"))
}

/// While alive, every audit record this thread appends is marked as back-dated (see
/// [`crate::audit::BackdatedMarker`]). Create it inside the transaction's closure.
pub type Marker = crate::audit::BackdatedMarker;
