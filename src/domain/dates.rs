//! Dates sent to the service: a plausible range, and periods that do not end before they start.

use chrono::{NaiveDate, NaiveDateTime};

use crate::error::FieldError;

/// The first date the service accepts (the founding of the People's Republic).
pub const MIN_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1949, 10, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};
/// The last date the service accepts.
pub const MAX_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2100, 12, 31) {
    Some(d) => d,
    None => panic!("valid date"),
};

/// Whether `d` is within [`MIN_DATE`]`..=`[`MAX_DATE`].
pub fn plausible(d: NaiveDate) -> bool {
    (MIN_DATE..=MAX_DATE).contains(&d)
}

/// An input date outside 1949-10-01..=2100-12-31 is a field error (`out_of_range`).
pub fn check_date(errors: &mut Vec<FieldError>, field: &str, d: NaiveDate) {
    if !plausible(d) {
        errors.push(FieldError::new(
            field,
            "out_of_range",
            format!("{field} must be between {MIN_DATE} and {MAX_DATE}"),
        ));
    }
}

/// An optional input date: see [`check_date`].
pub fn check_optional_date(errors: &mut Vec<FieldError>, field: &str, d: Option<NaiveDate>) {
    if let Some(d) = d {
        check_date(errors, field, d);
    }
}

/// An input date-time whose date (in UTC) is outside the range of [`check_date`].
pub fn check_date_time(errors: &mut Vec<FieldError>, field: &str, t: NaiveDateTime) {
    check_date(errors, field, t.date());
}

/// A period may not end before it starts: `until < from` is a field error on `until_field`, with
/// the code `before_{from_field}` (as entries have long answered `before_valid_from`).
pub fn check_period(
    errors: &mut Vec<FieldError>,
    from_field: &str,
    from: NaiveDate,
    until_field: &str,
    until: NaiveDate,
) {
    if until < from {
        errors.push(FieldError::new(
            until_field,
            &format!("before_{from_field}"),
            format!("{until_field} ({until}) cannot precede {from_field} ({from})"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bounds_are_inclusive() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert!(plausible(d(1949, 10, 1)));
        assert!(plausible(d(2100, 12, 31)));
        assert!(!plausible(d(1949, 9, 30)));
        assert!(!plausible(d(2101, 1, 1)));
        assert!(!plausible(d(0, 1, 1)));
        let mut errors = Vec::new();
        check_period(&mut errors, "from", d(2026, 1, 2), "until", d(2026, 1, 1));
        check_period(&mut errors, "from", d(2026, 1, 1), "until", d(2026, 1, 1));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "until");
    }
}
