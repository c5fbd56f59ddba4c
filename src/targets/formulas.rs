//! The year-end target formulas (section 六 工作要求 of the 2019 plan; `docs/targets.md`), pure:
//! no database. The database layer (`targets::compute`) counts with the same predicates in SQL;
//! the unit tests here pin the definitions on hand-computed fixtures.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

/// Where a national denominator came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// Imported national-level entries (`source = national`), counted item by item.
    Itemised,
    /// A declared count per region, year and list type (`/api/v1/baselines`).
    Declared,
    /// Neither: the ratio is not computed ("no national baseline"), never shown as 0% or 100%.
    None,
    /// The whole city when some regions count itemised entries and others declared counts.
    Mixed,
    /// The denominator is not national (training and commitment rates: the black-listed
    /// enterprises themselves).
    Population,
}

/// One target: numerator, denominator, ratio against the goal, and what it would take.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Figure {
    pub numerator: i64,
    /// `None` when there is no baseline.
    pub denominator: Option<i64>,
    /// numerator ÷ denominator; `None` when there is no (or a zero) denominator.
    pub ratio: Option<f64>,
    pub goal: f64,
    /// `None` when the ratio cannot be computed.
    pub met: Option<bool>,
    /// How many more (entries, cases, trainings, commitments) would meet the goal; 0 when met;
    /// `None` without a denominator.
    pub shortfall: Option<i64>,
    pub baseline: Baseline,
}

/// The ratio of `numerator` to `denominator` against `goal`. A zero or missing denominator is "no
/// baseline": no ratio, no verdict, no shortfall.
pub fn figure(numerator: i64, denominator: Option<i64>, goal: f64, baseline: Baseline) -> Figure {
    match denominator.filter(|d| *d > 0) {
        None => Figure {
            numerator,
            denominator: None,
            ratio: None,
            goal,
            met: None,
            shortfall: None,
            baseline: if baseline == Baseline::Population {
                Baseline::Population
            } else {
                Baseline::None
            },
        },
        Some(d) => {
            let needed = required(d, goal);
            Figure {
                numerator,
                denominator: Some(d),
                ratio: Some(numerator as f64 / d as f64),
                goal,
                met: Some(numerator >= needed),
                shortfall: Some((needed - numerator).max(0)),
                baseline,
            }
        }
    }
}

/// The smallest count meeting `goal` of `denominator` (ceil, computed in integers on the goal in
/// per cent so 0.1 × 30 is exactly 3).
pub fn required(denominator: i64, goal: f64) -> i64 {
    let pct = (goal * 100.0).round() as i64;
    (denominator * pct + 99) / 100
}

/// The day a report refers to: the one asked for, else today, or 31 December of `year` once that
/// has passed. `Err` names why an asked day is refused (outside the year, or in the future).
pub fn as_of(
    year: i32,
    asked: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<NaiveDate, &'static str> {
    let end = NaiveDate::from_ymd_opt(year, 12, 31).ok_or("year out of range")?;
    let start = NaiveDate::from_ymd_opt(year, 1, 1).ok_or("year out of range")?;
    match asked {
        Some(d) if d.year() != year => Err("as_of must fall within the year"),
        Some(d) if d > today => Err("as_of cannot be in the future"),
        Some(d) => Ok(d),
        None if today < start => Err("the year has not begun"),
        None => Ok(today.min(end)),
    }
}

/// What the formulas need to know of an entry.
#[derive(Debug, Clone)]
pub struct Listing {
    pub black: bool,
    pub national: bool,
    pub enterprise: bool,
    pub draft: bool,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub removal_date: Option<NaiveDate>,
}

impl Listing {
    /// In force on `day` (the same rule as `entries::in_force_on`: both ends of the validity
    /// inclusive, gone from its removal date).
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        !self.draft
            && self.valid_from <= day
            && day <= self.valid_until
            && self.removal_date.is_none_or(|r| r > day)
    }

    /// In force on at least one day from 1 January of the year to `as_of` (removal during the
    /// year included: such enterprises stay in the year's population).
    pub fn listed_during(&self, year_start: NaiveDate, as_of: NaiveDate) -> bool {
        if self.draft {
            return false;
        }
        let first = self.valid_from.max(year_start);
        let last = self.valid_until.min(as_of);
        first <= last && self.removal_date.is_none_or(|r| r > first)
    }
}

/// Section 九 (失信问题专项治理): of the `objects` (subjects listed during the year under a scope
/// item marked with a special category), the rectified-and-exited ones (all but the
/// `still_listed` objects, those with an entry under a marked item in force on the as-of day) and
/// the `committed` objects (with a signed repair commitment letter), each against a goal of 100%.
/// No object at all is "no population", not 100%.
pub fn special_rates(objects: i64, still_listed: i64, committed: i64) -> (Figure, Figure) {
    (
        figure(
            objects - still_listed,
            Some(objects),
            SPECIAL_GOAL,
            Baseline::Population,
        ),
        figure(committed, Some(objects), SPECIAL_GOAL, Baseline::Population),
    )
}

/// Both section 九 rates must reach 100% by the year end.
pub const SPECIAL_GOAL: f64 = 1.0;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashSet};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn listing(from: &str, until: &str, removed: Option<&str>) -> Listing {
        Listing {
            black: true,
            national: false,
            enterprise: true,
            draft: false,
            valid_from: d(from),
            valid_until: d(until),
            removal_date: removed.map(d),
        }
    }

    #[test]
    fn coverage_against_an_itemised_baseline_with_its_shortfall() {
        // 7 local entries in force against 20 national: 35%, 3 short of 50%.
        let f = figure(7, Some(20), 0.5, Baseline::Itemised);
        assert_eq!(f.ratio, Some(0.35));
        assert_eq!(f.met, Some(false));
        assert_eq!(f.shortfall, Some(3));
        assert_eq!(f.baseline, Baseline::Itemised);
        // Exactly at the goal is met.
        let f = figure(10, Some(20), 0.5, Baseline::Declared);
        assert_eq!((f.met, f.shortfall), (Some(true), Some(0)));
        assert_eq!(f.baseline, Baseline::Declared);
        // Above it: no negative shortfall.
        assert_eq!(
            figure(15, Some(20), 0.5, Baseline::Itemised).shortfall,
            Some(0)
        );
    }

    #[test]
    fn the_case_ratio_rounds_the_requirement_up() {
        // 10% of 31 national identifications is 3.1: four cases are needed.
        assert_eq!(required(31, 0.10), 4);
        assert_eq!(required(30, 0.10), 3);
        assert_eq!(required(1, 0.30), 1);
        let f = figure(3, Some(31), 0.10, Baseline::Itemised);
        assert_eq!((f.met, f.shortfall), (Some(false), Some(1)));
    }

    #[test]
    fn a_county_without_baseline_has_no_ratio_never_zero_or_full() {
        for den in [None, Some(0)] {
            let f = figure(5, den, 0.5, Baseline::Declared);
            assert_eq!(f.ratio, None);
            assert_eq!(f.met, None);
            assert_eq!(f.shortfall, None);
            assert_eq!(f.denominator, None);
            assert_eq!(f.baseline, Baseline::None);
        }
        // No black-listed enterprise: no training rate either (not 100%).
        let f = figure(0, Some(0), 1.0, Baseline::Population);
        assert_eq!(
            (f.ratio, f.met, f.baseline),
            (None, None, Baseline::Population)
        );
    }

    #[test]
    fn training_is_all_or_short_by_the_untrained() {
        let f = figure(8, Some(10), 1.0, Baseline::Population);
        assert_eq!((f.met, f.shortfall), (Some(false), Some(2)));
        let f = figure(3, Some(10), 0.3, Baseline::Population);
        assert_eq!((f.met, f.shortfall), (Some(true), Some(0)));
    }

    #[test]
    fn an_entry_expiring_on_the_as_of_date_is_still_in_force_that_day() {
        let e = listing("2019-01-01", "2019-06-30", None);
        assert!(e.in_force_on(d("2019-06-30")));
        assert!(!e.in_force_on(d("2019-07-01")));
        // Removed on the as-of date: no longer in force that day.
        let e = listing("2019-01-01", "2020-12-31", Some("2019-06-30"));
        assert!(!e.in_force_on(d("2019-06-30")));
        assert!(e.in_force_on(d("2019-06-29")));
    }

    #[test]
    fn enterprises_removed_or_repaired_during_the_year_stay_in_its_population() {
        let start = d("2019-01-01");
        let as_of = d("2019-12-31");
        // Repaired (removed) in March 2019: listed during the year.
        assert!(listing("2018-05-01", "2020-05-01", Some("2019-03-15")).listed_during(start, as_of));
        // Removed on 1 January: never in force in the year.
        assert!(
            !listing("2018-05-01", "2020-05-01", Some("2019-01-01")).listed_during(start, as_of)
        );
        // Expired in 2018: not in the population; expiring on 1 January 2019: in it.
        assert!(!listing("2016-01-01", "2018-12-31", None).listed_during(start, as_of));
        assert!(listing("2016-01-01", "2019-01-01", None).listed_during(start, as_of));
        // Listed after the as-of date: not yet.
        assert!(!listing("2019-07-01", "2021-01-01", None).listed_during(start, d("2019-06-30")));
        // A draft never counts.
        let mut draft = listing("2019-02-01", "2021-01-01", None);
        draft.draft = true;
        assert!(!draft.listed_during(start, as_of));
    }

    #[test]
    fn the_as_of_day_defaults_to_today_or_the_year_end() {
        let today = d("2026-11-28");
        assert_eq!(as_of(2026, None, today), Ok(today));
        assert_eq!(as_of(2019, None, today), Ok(d("2019-12-31")));
        assert_eq!(
            as_of(2019, Some(d("2019-06-30")), today),
            Ok(d("2019-06-30"))
        );
        assert!(as_of(2019, Some(d("2020-01-01")), today).is_err());
        assert!(as_of(2026, Some(d("2026-12-01")), today).is_err());
        assert!(as_of(2027, None, today).is_err());
    }

    #[test]
    fn special_rectification_counts_exits_and_commitments_of_the_years_objects() {
        let start = d("2019-01-01");
        let as_of = d("2019-12-31");
        // Subject 1: judgment defaulter removed in June (exited). Subject 2: still listed.
        // Subject 3: listing expires exactly on the as-of day (still listed that day).
        // Subject 4: expired in 2018 (not an object of the year).
        let listings = [
            (1, listing("2019-02-01", "2022-02-01", Some("2019-06-10"))),
            (2, listing("2019-03-01", "2022-03-01", None)),
            (3, listing("2017-01-01", "2019-12-31", None)),
            (4, listing("2016-01-01", "2018-12-31", None)),
        ];
        let objects: BTreeSet<i32> = listings
            .iter()
            .filter(|(_, l)| l.listed_during(start, as_of))
            .map(|(s, _)| *s)
            .collect();
        let still: HashSet<i32> = listings
            .iter()
            .filter(|(_, l)| l.in_force_on(as_of))
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(objects, BTreeSet::from([1, 2, 3]));
        let committed = HashSet::from([1, 2, 4]);
        let among = |set: &HashSet<i32>| objects.iter().filter(|s| set.contains(s)).count() as i64;
        let (exit, commit) = special_rates(objects.len() as i64, among(&still), among(&committed));
        assert_eq!((exit.numerator, exit.denominator), (1, Some(3)));
        assert_eq!((exit.met, exit.shortfall), (Some(false), Some(2)));
        // Subject 4 signed but is not an object of the year: 2 of 3.
        assert_eq!((commit.numerator, commit.shortfall), (2, Some(1)));
        // No object at all: no ratio and no verdict, never 100%.
        let (exit, commit) = special_rates(0, 0, 0);
        assert_eq!((exit.ratio, exit.met), (None, None));
        assert_eq!((commit.ratio, commit.met), (None, None));
    }
}
