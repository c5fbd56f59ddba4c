//! Working-day calendar (工作日历): which days are working days (工作日) under China's official
//! holiday arrangements, and the deadline arithmetic every working-day time limit of the service
//! uses (repair reviews, objections, 行政决定 7 个工作日内 …).
//!
//! The rule is "Monday–Friday work, Saturday and Sunday off", with exceptions kept as data that an
//! administrator maintains (`calendar_days`):
//! - a `holiday` row marks a Monday–Friday that is off (public holiday, 法定节假日);
//! - a `workday` row marks a Saturday or Sunday that is a make-up working day (调休上班).
//!
//! **Computing a deadline**: call [`deadline`] (loads what it needs) or, with a [`Calendar`] already
//! loaded, [`add_working_days`]. Never count days by hand elsewhere.

pub mod handlers;

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Actor, Entry};
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::schema::calendar_days;

/// Years the calendar can be maintained for.
pub const MIN_YEAR: i32 = 2000;
pub const MAX_YEAR: i32 = 2100;

/// What a `calendar_days` row says about its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A Monday–Friday that is off (public holiday).
    Holiday,
    /// A Saturday or Sunday that is a make-up working day (调休上班).
    Workday,
}

impl DayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::Workday => "workday",
        }
    }

    pub fn parse(s: &str) -> Option<DayKind> {
        match s {
            "holiday" => Some(DayKind::Holiday),
            "workday" => Some(DayKind::Workday),
            _ => None,
        }
    }
}

/// One stored exception.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = calendar_days)]
pub struct CalendarDayRow {
    pub day: NaiveDate,
    pub kind: String,
    pub name: String,
}

/// True for Saturday and Sunday.
pub fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The exceptions of a date range, loaded once and then used without the database.
///
/// Days outside the loaded range follow the plain weekday rule (Monday–Friday work); use
/// [`Calendar::covers`] to tell, or [`deadline`], which loads a range wide enough for its answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    days: BTreeMap<NaiveDate, (DayKind, String)>,
}

impl Calendar {
    /// No exceptions at all: Monday–Friday are working days.
    pub fn weekdays_only() -> Self {
        Calendar::default()
    }

    /// A calendar from explicit exceptions (tests, seed data). It covers every day.
    pub fn from_days<'a>(days: impl IntoIterator<Item = (NaiveDate, DayKind, &'a str)>) -> Self {
        Calendar {
            from: None,
            to: None,
            days: days
                .into_iter()
                .map(|(d, k, n)| (d, (k, n.to_string())))
                .collect(),
        }
    }

    /// Loads the stored exceptions of `from..=to`.
    pub fn load(conn: &mut DbConnection, from: NaiveDate, to: NaiveDate) -> Result<Self, ApiError> {
        let rows: Vec<CalendarDayRow> = calendar_days::table
            .filter(calendar_days::day.ge(from))
            .filter(calendar_days::day.le(to))
            .order(calendar_days::day.asc())
            .select(CalendarDayRow::as_select())
            .load(conn)?;
        let mut days = BTreeMap::new();
        for r in rows {
            let kind = DayKind::parse(&r.kind)
                .ok_or_else(|| ApiError::internal(format!("unknown calendar kind {}", r.kind)))?;
            days.insert(r.day, (kind, r.name));
        }
        Ok(Calendar {
            from: Some(from),
            to: Some(to),
            days,
        })
    }

    /// Whether `day` lies in the loaded range (always true for [`Calendar::from_days`]).
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|t| day <= t)
    }

    /// The stored exception for `day`, if any.
    pub fn exception(&self, day: NaiveDate) -> Option<(DayKind, &str)> {
        self.days.get(&day).map(|(k, n)| (*k, n.as_str()))
    }

    /// Every exception in the calendar, by date.
    pub fn exceptions(&self) -> impl Iterator<Item = (NaiveDate, DayKind, &str)> {
        self.days.iter().map(|(d, (k, n))| (*d, *k, n.as_str()))
    }
}

/// Whether `day` is a working day (工作日): a Monday–Friday that is not a `holiday`, or a
/// Saturday/Sunday that is a `workday` (调休上班).
pub fn is_working_day(day: NaiveDate, cal: &Calendar) -> bool {
    match cal.exception(day) {
        Some((DayKind::Holiday, _)) => false,
        Some((DayKind::Workday, _)) => true,
        None => !is_weekend(day),
    }
}

/// The deadline `n` working days after `start`: **the n-th working day strictly after `start`**
/// (the day of the event itself never counts, whether or not it is a working day).
///
/// - `n = 0` is "the same day if it is a working day, otherwise the next working day": `start`
///   itself when it is a working day, else the first working day after it.
/// - For `n ≥ 1`, `working_days_between(start, add_working_days(start, n, cal), cal) == n`.
///
/// Example: a decision on Friday 2019-09-27 with a limit of 10 working days is due on
/// Wednesday 2019-10-16 (National Day 2019 and its make-up Saturday and Sunday included).
///
/// Panics only if the date arithmetic leaves chrono's range (years beyond ±262 000).
pub fn add_working_days(start: NaiveDate, n: u32, cal: &Calendar) -> NaiveDate {
    let next = |d: NaiveDate| d.succ_opt().expect("date within chrono's range");
    if n == 0 {
        let mut d = start;
        while !is_working_day(d, cal) {
            d = next(d);
        }
        return d;
    }
    let mut d = start;
    let mut left = n;
    while left > 0 {
        d = next(d);
        if is_working_day(d, cal) {
            left -= 1;
        }
    }
    d
}

/// The number of working days `d` with `a < d <= b` (so the first day is excluded and the last
/// included, matching [`add_working_days`]); negative when `b` is before `a`, 0 when equal.
pub fn working_days_between(a: NaiveDate, b: NaiveDate, cal: &Calendar) -> i64 {
    if b < a {
        return -working_days_between(b, a, cal);
    }
    a.iter_days()
        .skip(1)
        .take_while(|d| *d <= b)
        .filter(|d| is_working_day(*d, cal))
        .count() as i64
}

/// The deadline `n` working days after `start` by the stored calendar (see [`add_working_days`]
/// for the counting convention). Loads a range wide enough for the answer.
pub fn deadline(conn: &mut DbConnection, start: NaiveDate, n: u32) -> Result<NaiveDate, ApiError> {
    // A generous first guess (every week has working days; holidays never span more than ~10
    // days in a row); widened until the answer lies inside the loaded range.
    let mut span = u64::from(n) * 2 + 60;
    loop {
        let to = start
            .checked_add_days(Days::new(span))
            .ok_or_else(|| ApiError::internal("date out of range"))?;
        let cal = Calendar::load(conn, start, to)?;
        let due = add_working_days(start, n, &cal);
        if due <= to {
            return Ok(due);
        }
        span *= 2;
    }
}

/// First and last day of `year`.
pub fn year_bounds(year: i32) -> Option<(NaiveDate, NaiveDate)> {
    Some((
        NaiveDate::from_ymd_opt(year, 1, 1)?,
        NaiveDate::from_ymd_opt(year, 12, 31)?,
    ))
}

/// One named day of a year's calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedDay {
    #[schema(value_type = String, format = Date, example = "2019-10-07")]
    pub date: NaiveDate,
    /// Festival or reason, at most 50 characters.
    #[schema(
        example = "国庆节",
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub name: String,
}

/// A year's exceptions to the Monday–Friday rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CalendarYear {
    #[schema(example = 2019)]
    pub year: i32,
    /// Monday–Friday days that are off (public holidays), by date.
    pub holidays: Vec<NamedDay>,
    /// Saturdays and Sundays that are make-up working days (调休上班), by date.
    pub workdays: Vec<NamedDay>,
}

/// The stored calendar of one year.
pub fn load_year(conn: &mut DbConnection, year: i32) -> Result<CalendarYear, ApiError> {
    let (first, last) = year_bounds(year)
        .ok_or_else(|| ApiError::invalid_field("year", "out_of_range", "no such year"))?;
    let cal = Calendar::load(conn, first, last)?;
    let mut out = CalendarYear {
        year,
        holidays: Vec::new(),
        workdays: Vec::new(),
    };
    for (date, kind, name) in cal.exceptions() {
        let d = NamedDay {
            date,
            name: name.to_string(),
        };
        match kind {
            DayKind::Holiday => out.holidays.push(d),
            DayKind::Workday => out.workdays.push(d),
        }
    }
    Ok(out)
}

/// Replaces a year's rows with `new` (already validated). Call inside [`db::write_tx`]; audits with
/// `action`, before and after. Returns the stored year.
pub fn replace_year(
    conn: &mut DbConnection,
    actor: &Actor,
    action: &str,
    new: &CalendarYear,
) -> Result<CalendarYear, ApiError> {
    let (first, last) = year_bounds(new.year)
        .ok_or_else(|| ApiError::invalid_field("year", "out_of_range", "no such year"))?;
    let before = load_year(conn, new.year)?;
    diesel::delete(
        calendar_days::table
            .filter(calendar_days::day.ge(first))
            .filter(calendar_days::day.le(last)),
    )
    .execute(conn)?;
    let rows: Vec<CalendarDayRow> = new
        .holidays
        .iter()
        .map(|d| (d, DayKind::Holiday))
        .chain(new.workdays.iter().map(|d| (d, DayKind::Workday)))
        .map(|(d, k)| CalendarDayRow {
            day: d.date,
            kind: k.as_str().to_string(),
            name: d.name.clone(),
        })
        .collect();
    for row in &rows {
        diesel::insert_into(calendar_days::table)
            .values(row)
            .execute(conn)?;
    }
    let after = load_year(conn, new.year)?;
    audit::append(
        conn,
        actor,
        Entry::new(action, "calendar_year", new.year)
            .before(&before)
            .after(&after),
    )?;
    Ok(after)
}

/// An official holiday arrangement of one year: holiday periods (first and last day off, both
/// inclusive, possibly starting in the previous year) and make-up working days.
struct OfficialYear {
    year: i32,
    periods: &'static [(&'static str, &'static str, &'static str)],
    workdays: &'static [(&'static str, &'static str)],
}

/// 2019: 国务院办公厅关于2019年部分节假日安排的通知 (国办发明电〔2018〕15号), with Labour Day changed by
/// 国务院办公厅关于调整2019年劳动节假期安排的通知 (国办发明电〔2019〕2号).
const OFFICIAL_2019: OfficialYear = OfficialYear {
    year: 2019,
    periods: &[
        ("2018-12-30", "2019-01-01", "元旦"),
        ("2019-02-04", "2019-02-10", "春节"),
        ("2019-04-05", "2019-04-07", "清明节"),
        ("2019-05-01", "2019-05-04", "劳动节"),
        ("2019-06-07", "2019-06-09", "端午节"),
        ("2019-09-13", "2019-09-15", "中秋节"),
        ("2019-10-01", "2019-10-07", "国庆节"),
    ],
    workdays: &[
        ("2019-02-02", "春节调休上班"),
        ("2019-02-03", "春节调休上班"),
        ("2019-04-28", "劳动节调休上班"),
        ("2019-05-05", "劳动节调休上班"),
        ("2019-09-29", "国庆节调休上班"),
        ("2019-10-12", "国庆节调休上班"),
    ],
};

/// 2026: 国务院办公厅关于2026年部分节假日安排的通知 (November 2025).
const OFFICIAL_2026: OfficialYear = OfficialYear {
    year: 2026,
    periods: &[
        ("2026-01-01", "2026-01-03", "元旦"),
        ("2026-02-15", "2026-02-23", "春节"),
        ("2026-04-04", "2026-04-06", "清明节"),
        ("2026-05-01", "2026-05-05", "劳动节"),
        ("2026-06-19", "2026-06-21", "端午节"),
        ("2026-09-25", "2026-09-27", "中秋节"),
        ("2026-10-01", "2026-10-07", "国庆节"),
    ],
    workdays: &[
        ("2026-01-04", "元旦调休上班"),
        ("2026-02-14", "春节调休上班"),
        ("2026-02-28", "春节调休上班"),
        ("2026-05-09", "劳动节调休上班"),
        ("2026-09-20", "国庆节调休上班"),
        ("2026-10-10", "国庆节调休上班"),
    ],
};

fn ymd(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid date in the official calendars")
}

impl OfficialYear {
    /// The year's rows: every Monday–Friday of a holiday period that falls in the year (a Saturday
    /// or Sunday inside a period is off anyway and needs no row), and the make-up working days.
    fn calendar_year(&self) -> CalendarYear {
        let mut holidays = Vec::new();
        for (first, last, name) in self.periods {
            for date in ymd(first).iter_days().take_while(|d| *d <= ymd(last)) {
                if date.year() == self.year && !is_weekend(date) {
                    holidays.push(NamedDay {
                        date,
                        name: name.to_string(),
                    });
                }
            }
        }
        let workdays = self
            .workdays
            .iter()
            .map(|(d, name)| NamedDay {
                date: ymd(d),
                name: name.to_string(),
            })
            .collect();
        CalendarYear {
            year: self.year,
            holidays,
            workdays,
        }
    }
}

/// Demo data: the official calendars of 2019 (the year of the city's work plan) and 2026, each
/// stored only if its year has no rows yet (a second run changes nothing). Sources:
/// - 2019: 国办发明电〔2018〕15号 and, for Labour Day (May 1–4, with Apr 28 and May 5 worked),
///   国办发明电〔2019〕2号;
/// - 2026: 国务院办公厅关于2026年部分节假日安排的通知 (November 2025).
pub fn seed_demo(conn: &mut DbConnection) -> Result<(), ApiError> {
    let actor = Actor::system("demo");
    for official in [&OFFICIAL_2019, &OFFICIAL_2026] {
        let year = official.calendar_year();
        db::write_tx(conn, |c| {
            let (first, last) = year_bounds(year.year).expect("valid year");
            let existing: i64 = calendar_days::table
                .filter(calendar_days::day.ge(first))
                .filter(calendar_days::day.le(last))
                .count()
                .get_result(c)?;
            if existing == 0 {
                replace_year(c, &actor, "calendar.seed", &year)?;
            }
            Ok::<(), ApiError>(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        ymd(s)
    }

    fn official(o: &OfficialYear) -> Calendar {
        let y = o.calendar_year();
        Calendar::from_days(
            y.holidays
                .iter()
                .map(|n| (n.date, DayKind::Holiday, n.name.as_str()))
                .chain(
                    y.workdays
                        .iter()
                        .map(|n| (n.date, DayKind::Workday, n.name.as_str())),
                )
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn official_years_have_the_hand_listed_rows() {
        let y = OFFICIAL_2019.calendar_year();
        let holidays: Vec<String> = y.holidays.iter().map(|n| n.date.to_string()).collect();
        assert_eq!(
            holidays,
            [
                "2019-01-01", // Tue; Dec 30–31 are in 2018
                "2019-02-04",
                "2019-02-05",
                "2019-02-06",
                "2019-02-07",
                "2019-02-08", // Mon–Fri
                "2019-04-05", // Fri
                "2019-05-01",
                "2019-05-02",
                "2019-05-03", // Wed–Fri; May 4 is a Saturday
                "2019-06-07", // Fri
                "2019-09-13", // Fri
                "2019-10-01",
                "2019-10-02",
                "2019-10-03",
                "2019-10-04",
                "2019-10-07", // Oct 5–6 weekend
            ]
        );
        let y = OFFICIAL_2026.calendar_year();
        let holidays: Vec<String> = y.holidays.iter().map(|n| n.date.to_string()).collect();
        assert_eq!(
            holidays,
            [
                "2026-01-01",
                "2026-01-02", // Thu, Fri; Jan 3 is a Saturday
                "2026-02-16",
                "2026-02-17",
                "2026-02-18",
                "2026-02-19",
                "2026-02-20",
                "2026-02-23",
                "2026-04-06", // Mon; Apr 4–5 weekend
                "2026-05-01",
                "2026-05-04",
                "2026-05-05", // Fri, Mon, Tue
                "2026-06-19", // Fri
                "2026-09-25", // Fri
                "2026-10-01",
                "2026-10-02",
                "2026-10-05",
                "2026-10-06",
                "2026-10-07",
            ]
        );
        for o in [&OFFICIAL_2019, &OFFICIAL_2026] {
            for w in o.calendar_year().workdays {
                assert!(is_weekend(w.date), "{} is a make-up working day", w.date);
            }
        }
    }

    #[test]
    fn working_day_rule() {
        let cal = official(&OFFICIAL_2019);
        assert!(is_working_day(d("2019-09-27"), &cal)); // Fri
        assert!(!is_working_day(d("2019-09-28"), &cal)); // Sat
        assert!(is_working_day(d("2019-09-29"), &cal)); // Sun, 调休上班
        assert!(!is_working_day(d("2019-10-01"), &cal)); // Tue, 国庆节
        assert!(!is_working_day(d("2019-10-05"), &cal)); // Sat inside the holiday, no row
        assert!(is_working_day(d("2019-10-12"), &cal)); // Sat, 调休上班
        assert!(!is_working_day(d("2019-10-13"), &cal)); // Sun
        let plain = Calendar::weekdays_only();
        assert!(is_working_day(d("2019-10-01"), &plain));
        assert!(!is_working_day(d("2019-10-12"), &plain));
    }

    #[test]
    fn ten_working_days_across_national_day_2019() {
        // From Fri 2019-09-27: Sun 09-29 (1, 调休), Mon 09-30 (2), Oct 1–7 off,
        // Tue 10-08 (3), Wed 10-09 (4), Thu 10-10 (5), Fri 10-11 (6), Sat 10-12 (7, 调休),
        // Sun 10-13 off, Mon 10-14 (8), Tue 10-15 (9), Wed 10-16 (10).
        let cal = official(&OFFICIAL_2019);
        assert_eq!(add_working_days(d("2019-09-27"), 10, &cal), d("2019-10-16"));
        assert_eq!(add_working_days(d("2019-09-27"), 1, &cal), d("2019-09-29"));
        assert_eq!(add_working_days(d("2019-09-27"), 3, &cal), d("2019-10-08"));
        // Without the calendar: 10 weekdays after Fri 09-27 is Fri 10-11.
        assert_eq!(
            add_working_days(d("2019-09-27"), 10, &Calendar::weekdays_only()),
            d("2019-10-11")
        );
        assert_eq!(
            working_days_between(d("2019-09-27"), d("2019-10-16"), &cal),
            10
        );
    }

    #[test]
    fn spring_festival_2019_and_2026() {
        // 2019: Thu 01-31 → Fri 02-01 (1), Sat 02-02 (2, 调休), Sun 02-03 (3, 调休), Feb 4–10 off,
        // Mon 02-11 (4), Tue 02-12 (5).
        let cal = official(&OFFICIAL_2019);
        assert_eq!(add_working_days(d("2019-01-31"), 5, &cal), d("2019-02-12"));
        // 2026: Fri 02-13 → Sat 02-14 (1, 调休), Feb 15–23 off, Tue 02-24 (2), Wed 02-25 (3),
        // Thu 02-26 (4), Fri 02-27 (5), Sat 02-28 (6, 调休), Mon 03-02 (7).
        let cal = official(&OFFICIAL_2026);
        assert_eq!(add_working_days(d("2026-02-13"), 7, &cal), d("2026-03-02"));
        assert_eq!(add_working_days(d("2026-02-13"), 2, &cal), d("2026-02-24"));
        // 2026 National Day: Wed 09-30 → Oct 1–7 off, Thu 10-08 (1), Fri 10-09 (2),
        // Sat 10-10 (3, 调休), Mon 10-12 (4).
        assert_eq!(add_working_days(d("2026-09-30"), 4, &cal), d("2026-10-12"));
    }

    #[test]
    fn zero_days_is_the_same_or_next_working_day() {
        let cal = official(&OFFICIAL_2019);
        assert_eq!(add_working_days(d("2019-09-27"), 0, &cal), d("2019-09-27"));
        assert_eq!(add_working_days(d("2019-09-28"), 0, &cal), d("2019-09-29"));
        assert_eq!(add_working_days(d("2019-10-01"), 0, &cal), d("2019-10-08"));
        // Starting on a day off, the first working day counts as day 1 as well.
        assert_eq!(add_working_days(d("2019-10-01"), 1, &cal), d("2019-10-08"));
    }

    #[test]
    fn between_is_the_inverse_of_add() {
        let cal = official(&OFFICIAL_2026);
        assert_eq!(
            working_days_between(d("2026-01-01"), d("2026-01-01"), &cal),
            0
        );
        // Dec 31 2025 (Wed) → Jan 5 2026: Jan 1–3 off, Sun 01-04 (1, 调休), Mon 01-05 (2).
        assert_eq!(
            working_days_between(d("2025-12-31"), d("2026-01-05"), &cal),
            2
        );
        assert_eq!(
            working_days_between(d("2026-01-05"), d("2025-12-31"), &cal),
            -2
        );
        let mut start = d("2025-12-20");
        while start < d("2027-01-10") {
            for n in 1..=30 {
                let due = add_working_days(start, n, &cal);
                assert_eq!(working_days_between(start, due, &cal), i64::from(n));
                assert!(is_working_day(due, &cal));
            }
            start = start.succ_opt().unwrap();
        }
    }

    #[test]
    fn loaded_range_is_reported() {
        let cal = Calendar::from_days(Vec::new());
        assert!(cal.covers(d("1999-01-01")));
        let ranged = Calendar {
            from: Some(d("2019-01-01")),
            to: Some(d("2019-12-31")),
            days: BTreeMap::new(),
        };
        assert!(ranged.covers(d("2019-06-01")));
        assert!(!ranged.covers(d("2020-01-01")));
    }
}
