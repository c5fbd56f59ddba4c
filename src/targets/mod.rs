//! Year-end targets (section 六 工作要求): list coverage, case ratio, repair-training rate and
//! repair-commitment ratio per region, counted in the database and judged by [`formulas`]. See `docs/targets.md`.

pub mod formulas;
pub mod special;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use actix_web::{get, web, HttpResponse};
use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use self::formulas::{figure, special_rates, Baseline, Figure};
use crate::auth::{AuthUser, Role, CITY_REGION};
use crate::db::{self, DbConnection};
use crate::entries::today;
use crate::error::{ApiError, Problem};
use crate::schema::{cases, departments, national_baselines, regions, special_rectification_items};
use crate::state::AppState;
use crate::tabular::{Cell, ReportSheet};

pub const COVERAGE_GOAL: f64 = 0.5;
pub const CASE_GOAL: f64 = 0.1;
pub const TRAINING_GOAL: f64 = 1.0;
pub const COMMITMENT_GOAL: f64 = 0.3;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TargetsQuery {
    /// The plan year, e.g. 2019.
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// A county/district/zone code, or `220500` for the whole city with a breakdown. Default: the
    /// caller's own region (a county bureau's county; the whole city for the city bureau and
    /// admins).
    pub region: Option<String>,
    /// The day counted (default today, or 31 December once the year has passed).
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<NaiveDate>,
}

/// The figures of one region.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionTargets {
    pub region_code: String,
    pub region_name: String,
    /// Local red entries in force on `as_of`.
    pub local_red_in_force: i64,
    /// Local black entries in force on `as_of`.
    pub local_black_in_force: i64,
    /// Itemised national-level entries in force on `as_of`.
    pub national_in_force: i64,
    /// Declared national counts for the year (sum over list types), if any were declared.
    pub national_declared: Option<i64>,
    /// 红黑名单数量: local red + black in force ÷ national identifications (goal 50%).
    pub list_coverage: Figure,
    /// Cases of the region shared with the provincial platform, dated in the year up to `as_of`.
    pub cases_shared: i64,
    /// 联合奖惩案例: shared cases ÷ the same national denominator (goal 10%).
    pub case_ratio: Figure,
    /// 信用修复培训率: black-listed enterprises with a completed repair training ÷ enterprises
    /// black-listed during the year (goal 100%).
    pub training_rate: Figure,
    /// 信用承诺比例: the same enterprises with a signed repair commitment ÷ those enterprises
    /// (goal 30%).
    pub commitment_ratio: Figure,
    /// Section 九 整改和退出率: special-rectification objects (subjects listed during the year under
    /// a scope item marked with a special category) no longer listed under such an item on
    /// `as_of` ÷ those objects (goal 100%).
    pub special_exit_rate: Figure,
    /// Section 九 信用承诺率: the same objects with a signed repair commitment letter ÷ those
    /// objects (goal 100%).
    pub special_commitment_rate: Figure,
}

/// A department's share (industry breakdown).
#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentTargets {
    pub department_id: i32,
    pub department_name: String,
    /// The department's own region (a county report counts only that county's entries under
    /// each department).
    pub region_code: String,
    pub local_in_force: i64,
    pub national_in_force: i64,
    /// The department's local entries ÷ the national entries it holds (itemised only).
    pub list_coverage: Figure,
    pub training_rate: Figure,
    pub commitment_ratio: Figure,
    pub special_exit_rate: Figure,
    pub special_commitment_rate: Figure,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetsReport {
    pub year: i32,
    #[schema(value_type = String, format = Date)]
    pub as_of: NaiveDate,
    /// The region reported on (`220500`: the whole city).
    pub region_code: String,
    pub total: RegionTargets,
    /// Per county/district/zone (the whole city only).
    pub regions: Vec<RegionTargets>,
    /// Per department with entries in scope.
    pub departments: Vec<DepartmentTargets>,
    /// Why a figure is missing, in words.
    pub notes: Vec<String>,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    local_red: i64,
    local_black: i64,
    national: i64,
    cases: i64,
}

impl Counts {
    fn add(&mut self, source: &str, list_type: &str, n: i64) {
        match (source, list_type) {
            ("national", _) => self.national += n,
            (_, "red") => self.local_red += n,
            _ => self.local_black += n,
        }
    }

    fn is_empty(&self) -> bool {
        self.local_red == 0 && self.local_black == 0 && self.national == 0 && self.cases == 0
    }
}

/// Members of a population on the day, and how many of them are trained and committed.
#[derive(Default, Clone, Copy)]
struct Members {
    members: i64,
    trained: i64,
    committed: i64,
}

/// A counting unit's populations, read from the `population_days` counters: the year's
/// black-listed enterprises and the section 九 special-rectification objects, with the objects
/// still listed under a marked item on the day.
#[derive(Default, Clone, Copy)]
struct Population {
    enterprises: Members,
    special: Members,
    special_listed: i64,
}

impl Population {
    fn is_empty(&self) -> bool {
        self.enterprises.members == 0 && self.special.members == 0
    }

    fn special_figures(&self) -> (Figure, Figure) {
        special_rates(
            self.special.members,
            self.special_listed,
            self.special.committed,
        )
    }

    fn figures(&self) -> (Figure, Figure) {
        let e = self.enterprises;
        (
            figure(
                e.trained,
                Some(e.members),
                TRAINING_GOAL,
                Baseline::Population,
            ),
            figure(
                e.committed,
                Some(e.members),
                COMMITMENT_GOAL,
                Baseline::Population,
            ),
        )
    }
}

/// The populations of every counting unit (see the `population_members` table).
#[derive(Default)]
struct Units {
    city: Population,
    region: HashMap<String, Population>,
    department: HashMap<i32, Population>,
    region_department: HashMap<(String, i32), Population>,
}

impl Units {
    /// The unit named as in the counter tables: `city` / `220500`, `region` / a code,
    /// `department` / an id, `region_department` / `code/id`.
    fn get_mut(&mut self, grouping: &str, unit: &str) -> Option<&mut Population> {
        match grouping {
            "city" => Some(&mut self.city),
            "region" => Some(self.region.entry(unit.to_string()).or_default()),
            "department" => Some(self.department.entry(unit.parse().ok()?).or_default()),
            _ => {
                let (r, d) = unit.split_once('/')?;
                let key = (r.to_string(), d.parse().ok()?);
                Some(self.region_department.entry(key).or_default())
            }
        }
    }
}

/// Region, department, source, list type and a count.
type InForceRow = (String, i32, String, String, i64);
/// Population, grouping, unit, and the sums of members, trained and committed.
type PopulationRow = (
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// Entries in force on `as_of` by region, department, source and list type, read from the
/// day-delta counters: whole months before the day's month, then the days of that month.
fn in_force_counts(conn: &mut DbConnection, as_of: NaiveDate) -> Result<Vec<InForceRow>, ApiError> {
    use crate::schema::{in_force_days as d, in_force_months as m};
    let month_start = as_of
        .with_day(1)
        .ok_or_else(|| ApiError::internal("date"))?;
    let months: Vec<(String, i32, String, String, Option<i64>)> = m::table
        .filter(m::month.lt(month_start))
        .group_by((m::region_code, m::department_id, m::source, m::list_type))
        .select((
            m::region_code,
            m::department_id,
            m::source,
            m::list_type,
            diesel::dsl::sum(m::n),
        ))
        .load(conn)?;
    let days: Vec<(String, i32, String, String, Option<i64>)> = d::table
        .filter(d::day.ge(month_start))
        .filter(d::day.le(as_of))
        .group_by((d::region_code, d::department_id, d::source, d::list_type))
        .select((
            d::region_code,
            d::department_id,
            d::source,
            d::list_type,
            diesel::dsl::sum(d::n),
        ))
        .load(conn)?;
    let mut sum: BTreeMap<(String, i32, String, String), i64> = BTreeMap::new();
    for (r, dept, source, list, n) in months.into_iter().chain(days) {
        *sum.entry((r, dept, source, list)).or_default() += n.unwrap_or(0);
    }
    Ok(sum
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|((r, dept, source, list), n)| (r, dept, source, list, n))
        .collect())
}

/// Section 九's objects still listed on `as_of` (a black entry under a marked scope item in force
/// that day), per counting unit: (grouping, unit, count), read from the day deltas of the
/// subjects' stretches (migration `special_listed_counters`) as [`in_force_counts`] reads its own.
fn still_listed(
    conn: &mut DbConnection,
    as_of: NaiveDate,
) -> Result<Vec<(String, String, i64)>, ApiError> {
    use crate::schema::{special_listed_days as d, special_listed_months as m};
    let month_start = as_of
        .with_day(1)
        .ok_or_else(|| ApiError::internal("date"))?;
    let months: Vec<(String, String, Option<i64>)> = m::table
        .filter(m::month.lt(month_start))
        .group_by((m::grouping, m::unit))
        .select((m::grouping, m::unit, diesel::dsl::sum(m::n)))
        .load(conn)?;
    let days: Vec<(String, String, Option<i64>)> = d::table
        .filter(d::day.ge(month_start))
        .filter(d::day.le(as_of))
        .group_by((d::grouping, d::unit))
        .select((d::grouping, d::unit, diesel::dsl::sum(d::n)))
        .load(conn)?;
    let mut sum: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (grouping, unit, n) in months.into_iter().chain(days) {
        *sum.entry((grouping, unit)).or_default() += n.unwrap_or(0);
    }
    Ok(sum
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|((grouping, unit), n)| (grouping, unit, n))
        .collect())
}

/// Counts everything for `year` as of `as_of` and judges it.
pub fn compute(
    conn: &mut DbConnection,
    year: i32,
    as_of: NaiveDate,
    region: &str,
) -> Result<TargetsReport, ApiError> {
    let year_start =
        NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(|| ApiError::internal("year"))?;
    let whole_city = region == CITY_REGION;
    let names: BTreeMap<String, String> = regions::table
        .select((regions::code, regions::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    // Entries in force on the day, by region, department, source and list type.
    let mut by_region: HashMap<String, Counts> = HashMap::new();
    let mut by_dept: HashMap<i32, Counts> = HashMap::new();
    let mut by_region_dept: HashMap<(String, i32), Counts> = HashMap::new();
    for (r, d, source, list, n) in in_force_counts(conn, as_of)? {
        by_region
            .entry(r.clone())
            .or_default()
            .add(&source, &list, n);
        by_dept.entry(d).or_default().add(&source, &list, n);
        by_region_dept
            .entry((r, d))
            .or_default()
            .add(&source, &list, n);
    }
    // Shared cases dated in the year up to the day, shared by the end of that day (UTC+8).
    let end_of_day = crate::backdating::china_day_start(
        as_of.succ_opt().ok_or_else(|| ApiError::internal("date"))?,
    );
    let shared: Vec<(String, i64)> = cases::table
        .filter(cases::status.eq("shared"))
        .filter(cases::case_date.ge(year_start))
        .filter(cases::case_date.le(as_of))
        .filter(cases::shared_at.lt(end_of_day))
        .group_by(cases::region_code)
        .select((cases::region_code, diesel::dsl::count_star()))
        .load(conn)?;
    for (r, n) in shared {
        by_region.entry(r).or_default().cases += n;
    }
    let declared: Vec<(String, i32)> = national_baselines::table
        .filter(national_baselines::year.eq(year))
        .select((national_baselines::region_code, national_baselines::count))
        .load(conn)?;
    let mut declared_by_region: HashMap<String, i64> = HashMap::new();
    for (r, n) in declared {
        *declared_by_region.entry(r).or_default() += i64::from(n);
    }
    // The year's populations up to `as_of` (removed or repaired since included), and those of
    // them trained and committed by then, per counting unit.
    let counted: Vec<PopulationRow> = {
        use crate::schema::population_days as p;
        p::table
            .filter(p::year.eq(year))
            .filter(p::day.le(as_of))
            .group_by((p::population, p::grouping, p::unit))
            .select((
                p::population,
                p::grouping,
                p::unit,
                diesel::dsl::sum(p::members),
                diesel::dsl::sum(p::trained),
                diesel::dsl::sum(p::committed),
            ))
            .load(conn)?
    };
    let mut units = Units::default();
    for (population, grouping, unit, members, trained, committed) in counted {
        let m = Members {
            members: members.unwrap_or(0),
            trained: trained.unwrap_or(0),
            committed: committed.unwrap_or(0),
        };
        if m.members == 0 {
            continue;
        }
        if let Some(pop) = units.get_mut(&grouping, &unit) {
            if population == "special_objects" {
                pop.special = m;
            } else {
                pop.enterprises = m;
            }
        }
    }
    // Section 九: special-rectification objects still listed under a marked scope item on the
    // day (every one of them is an object of the year in the same unit).
    let marked: Vec<i32> = special_rectification_items::table
        .select(special_rectification_items::item_id)
        .load(conn)?;
    if !marked.is_empty() {
        for (grouping, unit, n) in still_listed(conn, as_of)? {
            if let Some(pop) = units.get_mut(&grouping, &unit) {
                pop.special_listed = n;
            }
        }
    }
    let pop_all = if whole_city {
        units.city
    } else {
        units.region.get(region).copied().unwrap_or_default()
    };
    let (pop_region, pop_dept, pop_region_dept) =
        (&units.region, &units.department, &units.region_department);

    let region_figures = |code: &str, pop: &Population| -> (RegionTargets, Baseline) {
        let c = by_region.get(code).copied().unwrap_or_default();
        let declared = declared_by_region.get(code).copied();
        let (den, baseline) = if c.national > 0 {
            (Some(c.national), Baseline::Itemised)
        } else if let Some(d) = declared {
            (Some(d), Baseline::Declared)
        } else {
            (None, Baseline::None)
        };
        let (training_rate, commitment_ratio) = pop.figures();
        let (special_exit_rate, special_commitment_rate) = pop.special_figures();
        (
            RegionTargets {
                region_code: code.to_string(),
                region_name: names.get(code).cloned().unwrap_or_default(),
                local_red_in_force: c.local_red,
                local_black_in_force: c.local_black,
                national_in_force: c.national,
                national_declared: declared,
                list_coverage: figure(c.local_red + c.local_black, den, COVERAGE_GOAL, baseline),
                cases_shared: c.cases,
                case_ratio: figure(c.cases, den, CASE_GOAL, baseline),
                training_rate,
                commitment_ratio,
                special_exit_rate,
                special_commitment_rate,
            },
            baseline,
        )
    };

    let mut regions_out = Vec::new();
    let total = if whole_city {
        let mut sum = Counts::default();
        let mut den: Option<i64> = None;
        let mut kinds = HashSet::new();
        let empty = Population::default();
        for code in names.keys() {
            let (r, baseline) = region_figures(code, pop_region.get(code).unwrap_or(&empty));
            sum.local_red += r.local_red_in_force;
            sum.local_black += r.local_black_in_force;
            sum.national += r.national_in_force;
            sum.cases += r.cases_shared;
            if let Some(d) = r.list_coverage.denominator {
                den = Some(den.unwrap_or(0) + d);
                kinds.insert(baseline);
            }
            if code != CITY_REGION {
                regions_out.push(r);
            } else {
                // The city's own (city-level) identifications are part of the whole.
                regions_out.insert(0, r);
            }
        }
        let baseline = match (
            kinds.contains(&Baseline::Itemised),
            kinds.contains(&Baseline::Declared),
        ) {
            (true, true) => Baseline::Mixed,
            (true, false) => Baseline::Itemised,
            (false, true) => Baseline::Declared,
            (false, false) => Baseline::None,
        };
        let (training_rate, commitment_ratio) = pop_all.figures();
        let (special_exit_rate, special_commitment_rate) = pop_all.special_figures();
        RegionTargets {
            region_code: CITY_REGION.to_string(),
            region_name: names.get(CITY_REGION).cloned().unwrap_or_default(),
            local_red_in_force: sum.local_red,
            local_black_in_force: sum.local_black,
            national_in_force: sum.national,
            national_declared: {
                let d: i64 = declared_by_region.values().sum();
                (!declared_by_region.is_empty()).then_some(d)
            },
            list_coverage: figure(
                sum.local_red + sum.local_black,
                den,
                COVERAGE_GOAL,
                baseline,
            ),
            cases_shared: sum.cases,
            case_ratio: figure(sum.cases, den, CASE_GOAL, baseline),
            training_rate,
            commitment_ratio,
            special_exit_rate,
            special_commitment_rate,
        }
    } else {
        region_figures(region, &pop_all).0
    };

    let dept_info: HashMap<i32, (String, String)> = departments::table
        .select((departments::id, departments::name, departments::region_code))
        .load::<(i32, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, r)| (id, (name, r)))
        .collect();
    // The whole city: each department's figures over all regions. One region: the figures of
    // the region's entries under each department that has any there.
    let empty = Population::default();
    let dept_figures: Vec<(i32, Counts, &Population)> = if whole_city {
        let ids: BTreeSet<i32> = by_dept.keys().chain(pop_dept.keys()).copied().collect();
        ids.into_iter()
            .map(|d| {
                let c = by_dept.get(&d).copied().unwrap_or_default();
                (d, c, pop_dept.get(&d).unwrap_or(&empty))
            })
            .collect()
    } else {
        let ids: BTreeSet<i32> = by_region_dept
            .keys()
            .chain(pop_region_dept.keys())
            .filter(|(r, _)| r == region)
            .map(|(_, d)| *d)
            .collect();
        ids.into_iter()
            .map(|d| {
                let key = (region.to_string(), d);
                let c = by_region_dept.get(&key).copied().unwrap_or_default();
                (d, c, pop_region_dept.get(&key).unwrap_or(&empty))
            })
            .collect()
    };
    let mut departments_out = Vec::new();
    for (d, c, pop) in dept_figures {
        if c.is_empty() && pop.is_empty() {
            continue;
        }
        let (name, own_region) = dept_info.get(&d).cloned().unwrap_or_default();
        let (training_rate, commitment_ratio) = pop.figures();
        let (special_exit_rate, special_commitment_rate) = pop.special_figures();
        departments_out.push(DepartmentTargets {
            department_id: d,
            department_name: name,
            region_code: own_region,
            local_in_force: c.local_red + c.local_black,
            national_in_force: c.national,
            list_coverage: figure(
                c.local_red + c.local_black,
                Some(c.national),
                COVERAGE_GOAL,
                Baseline::Itemised,
            ),
            training_rate,
            commitment_ratio,
            special_exit_rate,
            special_commitment_rate,
        });
    }
    let mut notes = Vec::new();
    if marked.is_empty() {
        notes.push(
            "no black-list scope item is marked as a special-rectification category (section 九): \
             the special-rectification rates have no population"
                .to_string(),
        );
    }
    notes.extend(null_figure_notes(year, as_of, &total, !marked.is_empty()));
    Ok(TargetsReport {
        year,
        as_of,
        region_code: region.to_string(),
        total,
        regions: regions_out,
        departments: departments_out,
        notes,
    })
}

/// Why a figure of the region reported on (`total`) is null: no national baseline (neither a
/// national-level entry in force nor a declared count), or an empty population (no enterprise
/// black-listed during the year, no special-rectification object). The breakdown's figures say
/// the same through their `baseline` and `denominator`.
fn null_figure_notes(
    year: i32,
    as_of: NaiveDate,
    total: &RegionTargets,
    any_marked: bool,
) -> Vec<String> {
    let mut notes = Vec::new();
    let unit = format!("{} ({})", total.region_name, total.region_code);
    if total.list_coverage.denominator.is_none() {
        notes.push(format!(
            "{unit}: list_coverage and case_ratio are null because there is no national baseline: \
             no national-level entry is in force on {as_of} and no national count is declared for \
             {year} (/api/v1/baselines)"
        ));
    }
    if total.training_rate.denominator.is_none() {
        notes.push(format!(
            "{unit}: training_rate and commitment_ratio are null because no enterprise was \
             black-listed from {year}-01-01 to {as_of} (no population)"
        ));
    }
    if any_marked && total.special_exit_rate.denominator.is_none() {
        notes.push(format!(
            "{unit}: special_exit_rate and special_commitment_rate are null because no subject \
             was listed from {year}-01-01 to {as_of} under a scope item marked for special \
             rectification (no population)"
        ));
    }
    notes
}

/// Checks the caller, the year, the day and the region, then computes the report. Every refusal
/// names the query parameter that was sent (`query.year`, `query.as_of`, `query.region`); a
/// year that has not begun blames `query.year` when no `as_of` was sent. Without `region` a
/// county bureau gets its own region, everyone else the whole city. A region code that names no
/// region is 422 `unknown_region` (for a county bureau too); a real region outside the caller's
/// scope is 403.
pub(crate) async fn report_for(
    state: &web::Data<AppState>,
    user: AuthUser,
    year: i32,
    region: Option<String>,
    as_of: Option<NaiveDate>,
) -> Result<TargetsReport, ApiError> {
    user.require(&[Role::Admin, Role::Bureau])?;
    if !(2000..=2100).contains(&year) {
        return Err(ApiError::invalid_query(
            "year",
            "out_of_range",
            "year must be between 2000 and 2100",
        ));
    }
    let blamed = if as_of.is_some() { "as_of" } else { "year" };
    let as_of = formulas::as_of(year, as_of, today())
        .map_err(|m| ApiError::invalid_field(&format!("query.{blamed}"), "out_of_range", m))?;
    let region = match region {
        Some(r) => r,
        None => match (user.role, user.region_code.as_deref()) {
            (Role::Bureau, Some(own)) => own.to_string(),
            _ => CITY_REGION.to_string(),
        },
    };
    db::run(&state.pool, move |conn| {
        let known: i64 = regions::table
            .filter(regions::code.eq(&region))
            .count()
            .get_result(conn)?;
        if known == 0 {
            return Err(ApiError::invalid_field(
                "query.region",
                "unknown_region",
                format!("there is no region {region}"),
            ));
        }
        if !user.covers_region(&region) {
            return Err(ApiError::Denied {
                code: "forbidden",
                detail: "this region is outside your scope".into(),
                errors: vec![crate::error::FieldError::new(
                    "query.region",
                    "forbidden",
                    format!("region {region} is outside your scope"),
                )],
            });
        }
        compute(conn, year, as_of, &region)
    })
    .await
}

/// Year-end targets (年度目标)
///
/// Year-end targets (年度目标) of a region: numerators, denominators, ratios, goals, shortfalls, and
/// where the national denominator came from; the whole city with a breakdown per
/// county/district/zone and per department.
///
/// Bureaus (their region; a county bureau without `region` gets its own) and admins; others get
/// 403. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "targets",
    tag = "targets",
    security(("bearer" = [])),
    params(TargetsQuery),
    responses(
        (status = 200, description = "The report", body = TargetsReport),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Bureaus and admins only; a county bureau only its region (`query.region`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown region (`query.region`), a day outside the year or in the future (`query.as_of`), or a year that has not begun (`query.year`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/targets")]
pub async fn targets(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<TargetsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let report = report_for(&state, user, q.year, q.region, q.as_of).await?;
    debug_assert_eq!(report.as_of.year(), report.year);
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TargetsExportQuery {
    #[param(minimum = 2000, maximum = 2100)]
    pub year: i32,
    pub region: Option<String>,
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<NaiveDate>,
}

fn baseline_zh(b: Baseline) -> &'static str {
    match b {
        Baseline::Itemised => "国家层面认定（逐条导入）",
        Baseline::Declared => "申报数",
        Baseline::None => "无国家基数",
        Baseline::Mixed => "逐条导入与申报数合计",
        Baseline::Population => "本年度名单主体",
    }
}

/// What the sheets show instead of a ratio that cannot be computed: a population figure
/// (training, commitment, section 九) with nobody in it has no list subjects; the others have no
/// national baseline.
fn no_ratio_zh(f: &Figure) -> &'static str {
    if f.baseline == Baseline::Population {
        "无名单主体"
    } else {
        "无国家基数"
    }
}

fn ratio_cell(f: &Figure) -> Cell {
    f.ratio
        .map(Cell::Percent)
        .unwrap_or_else(|| Cell::text(no_ratio_zh(f)))
}

fn met_zh(f: &Figure) -> &'static str {
    match f.met {
        Some(true) => "达标",
        Some(false) => "未达标",
        None => "—",
    }
}

/// Numerator, denominator, ratio, goal, met, shortfall of a figure: typed cells.
fn figure_cells(f: &Figure) -> Vec<Cell> {
    vec![
        Cell::Int(f.numerator),
        Cell::int_or(f.denominator, "—"),
        ratio_cell(f),
        Cell::Goal(f.goal),
        Cell::text(met_zh(f)),
        Cell::int_or(f.shortfall, "—"),
    ]
}

fn figure_row(name: &str, f: &Figure) -> Vec<Cell> {
    let mut row = vec![Cell::text(name)];
    row.extend(figure_cells(f));
    row.push(Cell::text(baseline_zh(f.baseline)));
    row
}

/// The title block's note on the words that stand for a missing ratio.
const LEGEND_ZH: &str = "比例为“无国家基数”：无国家层面认定数（分母为零）；比例为“无名单主体”：\
                         本年度无名单主体（分母为零）；差额：达到目标还需增加的数量";

const SHEET_HEADERS: [&str; 8] = [
    "指标",
    "分子",
    "分母",
    "比例",
    "目标",
    "是否达标",
    "差额",
    "分母来源",
];

fn region_rows(r: &RegionTargets) -> Vec<Vec<Cell>> {
    vec![
        figure_row("红黑名单数量（覆盖率）", &r.list_coverage),
        figure_row("联合奖惩案例", &r.case_ratio),
        figure_row("信用修复培训率", &r.training_rate),
        figure_row("信用承诺比例", &r.commitment_ratio),
        figure_row("专项治理对象整改退出率", &r.special_exit_rate),
        figure_row("专项治理对象信用承诺率", &r.special_commitment_rate),
    ]
}

/// Export the year-end targets as a workbook
///
/// The year-end report as a workbook for the bureau (Chinese): one sheet for the region asked
/// (the whole city by default), one per county/district/zone, and one per-department sheet.
///
/// Bureaus (their region) and admins; others get 403. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "targets_export",
    tag = "targets",
    security(("bearer" = [])),
    params(TargetsExportQuery),
    responses(
        (status = 200, description = "The workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Bureaus and admins only; a county bureau only its region (`query.region`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown region (`query.region`), a day outside the year or in the future (`query.as_of`), or a year that has not begun (`query.year`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/targets/export")]
pub async fn export(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<TargetsExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let produced_by = user.username.clone();
    let report = report_for(&state, user, q.year, q.region, q.as_of).await?;
    export_file(&report, &produced_by)
}

/// The report as a workbook: one sheet per region, one for the departments (the API's and the
/// console's export). Every sheet opens with a title block; `produced_by` is the caller's
/// user name.
pub(crate) fn export_file(
    report: &TargetsReport,
    produced_by: &str,
) -> Result<HttpResponse, ApiError> {
    let report_name = format!("{}年度守信联合激励和失信联合惩戒工作目标", report.year);
    let info = |r: &RegionTargets| {
        crate::tabular::title_lines(
            &r.region_name,
            &r.region_code,
            Some(report.year),
            vec![("说明".to_string(), Cell::text(LEGEND_ZH))],
            report.as_of,
            produced_by,
        )
    };
    let headers: Vec<String> = SHEET_HEADERS.iter().map(|h| h.to_string()).collect();
    let mut sheets = Vec::new();
    let total_name = if report.region_code == CITY_REGION {
        "全市合计".to_string()
    } else {
        report.total.region_name.clone()
    };
    sheets.push(ReportSheet {
        name: total_name,
        title: report_name.clone(),
        info: info(&report.total),
        headers: headers.clone(),
        rows: region_rows(&report.total),
        totals: None,
    });
    for r in &report.regions {
        let name = if r.region_code == CITY_REGION {
            "市本级".to_string()
        } else {
            r.region_name.clone()
        };
        sheets.push(ReportSheet {
            name,
            title: report_name.clone(),
            info: info(r),
            headers: headers.clone(),
            rows: region_rows(r),
            totals: None,
        });
    }
    let mut dept_headers: Vec<String> = [
        "部门",
        "所属区域代码",
        "本地在册红黑名单",
        "国家层面认定在册",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect();
    for figure in [
        "覆盖率",
        "培训率",
        "承诺比例",
        "专项治理整改退出率",
        "专项治理信用承诺率",
    ] {
        for part in ["分子", "分母", "比例", "目标", "是否达标", "差额"] {
            dept_headers.push(format!("{figure}·{part}"));
        }
    }
    let dept_rows: Vec<Vec<Cell>> = report
        .departments
        .iter()
        .map(|d| {
            let mut row = vec![
                Cell::text(d.department_name.clone()),
                Cell::text(d.region_code.clone()),
                Cell::Int(d.local_in_force),
                Cell::Int(d.national_in_force),
            ];
            for f in [
                &d.list_coverage,
                &d.training_rate,
                &d.commitment_ratio,
                &d.special_exit_rate,
                &d.special_commitment_rate,
            ] {
                row.extend(figure_cells(f));
            }
            row
        })
        .collect();
    sheets.push(ReportSheet {
        name: "各部门".into(),
        title: format!("{report_name}（各部门）"),
        info: info(&report.total),
        headers: dept_headers,
        rows: dept_rows,
        totals: None,
    });
    let bytes =
        crate::tabular::write_report(&sheets).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            crate::imports::disposition(
                &format!(
                    "targets-{}-{}-{}",
                    report.region_code, report.year, report.as_of
                ),
                &format!(
                    "{}{}年度信用目标（{}，截至{}）",
                    report.total.region_name, report.year, report.region_code, report.as_of
                ),
                "xlsx",
            ),
        ))
        .body(bytes))
}
