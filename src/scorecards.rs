//! Scorecards (评估指标): the whole evaluation table of the 2019 plan (附件2, 100 points and up to
//! 10 bonus points) for every department and every county/district/zone. The indicators the
//! service's own records prove are computed from them, each with the ids of the records; the
//! others count only what a bureau attested ([`attestations`]), with the attestation's id. An
//! indicator with neither earns 0 and says what evidence would count. See `docs/scorecards.md`.

pub mod attestations;
pub mod indicators;
pub mod quarterly;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actix_web::{get, web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{AuthUser, Role};
use crate::checks::receipts::Settled;
use crate::db::DbConnection;
use crate::entries::today;
use crate::error::{ApiError, Problem};
use crate::schema::{
    case_departments, case_media_reports, cases, commitment_templates, commitments, credit_checks,
    departments, four_list_items, list_entries, regions, repairs, special_rectification_items,
    subjects,
};
use crate::state::AppState;
use indicators::{Indicator, Rule, Source, INDICATORS};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScorecardQuery {
    pub year: i32,
    /// 1–4: counts run from 1 January to the quarter's end (or today).
    #[param(minimum = 1, maximum = 4)]
    pub quarter: u32,
    /// Departments of this region only (default: all the caller may see).
    pub region: Option<String>,
}

/// One indicator of the evaluation table, scored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScoreItem {
    pub key: &'static str,
    /// The first-level indicator (一级指标) it belongs to, with its points.
    pub group: &'static str,
    /// The indicator as the evaluation table words it.
    pub title: &'static str,
    pub max_points: f64,
    /// Points earned (0 when neither a record nor an attestation proves any).
    pub points: f64,
    /// `records` (computed from the service's records) or `attestation` (a bureau records the
    /// evidence and the points).
    pub source: &'static str,
    /// `measured` (computed from records), `attested` (an attestation counts) or `not_measured`
    /// (an attestation indicator without an attestation: 0 points).
    pub status: &'static str,
    /// True for the bonus (附加分), which is not part of the 100 points.
    pub bonus: bool,
    /// Ids of the records behind the points (at most 20; `evidence_kind` says of what).
    pub evidence: Vec<i32>,
    /// How many records prove it (may exceed the ids listed).
    pub evidence_count: i64,
    /// What the ids are: `list_entries`, `four_list_items`, `cases`, `repairs`,
    /// `commitment_templates`, `commitments`, `credit_checks`, or `attestation`.
    pub evidence_kind: &'static str,
    /// The attestation the points rest on (attestation indicators).
    pub attestation_id: Option<i32>,
    /// What is missing for the full points (none when full).
    pub missing: Option<String>,
}

/// The scorecard of one department.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Scorecard {
    pub department_id: i32,
    pub department_name: String,
    pub region_code: String,
    #[serde(flatten)]
    pub totals: Totals,
    pub items: Vec<ScoreItem>,
}

/// The scorecard of one county, district or zone: its departments' records pooled, and the
/// attestations made for the region.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegionScorecard {
    pub region_code: String,
    pub region_name: String,
    #[serde(flatten)]
    pub totals: Totals,
    pub items: Vec<ScoreItem>,
}

/// A scorecard's sums.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Totals {
    /// Points earned of the table's 100 (bonus excluded).
    pub points: f64,
    /// The table's possible points: 100.
    pub max_points: f64,
    /// Of `points`, those computed from records.
    pub record_points: f64,
    /// Of `points`, those attested by a bureau.
    pub attested_points: f64,
    /// The most the indicators computed from records could give.
    pub max_measured: f64,
    /// Bonus points (附加分, at most 10), attested.
    pub bonus_points: f64,
    /// `points` + `bonus_points`: what the quarterly report ranks by.
    pub total_points: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScorecardReport {
    pub year: i32,
    pub quarter: u32,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub departments: Vec<Scorecard>,
}

/// Record ids per department.
type Evidence = BTreeMap<i32, Vec<i32>>;

fn group(rows: Vec<(i32, i32)>) -> Evidence {
    let mut m: Evidence = BTreeMap::new();
    for (dept, id) in rows {
        m.entry(dept).or_default().push(id);
    }
    for v in m.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    m
}

/// The period of a quarter report: 1 January to the quarter's last day, or today if earlier.
pub fn period(year: i32, quarter: u32, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    if !(1..=4).contains(&quarter) {
        return None;
    }
    let from = NaiveDate::from_ymd_opt(year, 1, 1)?;
    let next = if quarter == 4 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, quarter * 3 + 1, 1)?
    };
    let end = next.pred_opt()?;
    (from <= today).then_some((from, end.min(today)))
}

/// Every record the record-computed indicators rest on, per department, for one period.
pub(crate) struct RecordEvidence {
    /// Four-list items in force (published, not repealed) at the end, per kind.
    four_lists: HashMap<&'static str, Evidence>,
    built: Evidence,
    public: Evidence,
    shared: Evidence,
    cases: Evidence,
    reported: BTreeSet<i32>,
    repaired: Evidence,
    templates: Evidence,
    checks: Evidence,
    pre_licensing: Evidence,
    cleared: Evidence,
}

pub(crate) const FOUR_LIST_KINDS: [(&str, &str); 4] = [
    ("red_scope", "诚信典型范围清单"),
    ("black_scope", "严重失信行为及主体范围清单"),
    ("incentive_measures", "守信激励政策措施清单"),
    ("punishment_measures", "失信惩戒政策措施清单"),
];

pub(crate) fn load_evidence(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<RecordEvidence, ApiError> {
    let start = crate::backdating::china_day_start(from);
    let end = crate::backdating::china_day_start(
        to.succ_opt().ok_or_else(|| ApiError::internal("date"))?,
    );
    // The four lists: items published by the end and not repealed by then.
    let mut four_lists = HashMap::new();
    for (kind, _) in FOUR_LIST_KINDS {
        four_lists.insert(
            kind,
            group(
                four_list_items::table
                    .filter(four_list_items::kind.eq(kind))
                    .filter(four_list_items::published_at.lt(end))
                    .filter(
                        four_list_items::repealed_at
                            .is_null()
                            .or(four_list_items::repealed_at.ge(end)),
                    )
                    .select((four_list_items::department_id, four_list_items::id))
                    .load(conn)?,
            ),
        );
    }
    // Lists built from the four lists: local entries published by the end, citing the
    // department's own scope items.
    let built = group(
        list_entries::table
            .inner_join(four_list_items::table)
            .filter(list_entries::source.eq("local"))
            .filter(list_entries::status.ne("draft"))
            .filter(list_entries::published_at.lt(end))
            .filter(four_list_items::department_id.eq(list_entries::department_id))
            .select((list_entries::department_id, list_entries::id))
            .load(conn)?,
    );
    // Published to the public: entries on the public list at the end (in force, not removed).
    let public = group(
        list_entries::table
            .filter(list_entries::source.eq("local"))
            .filter(crate::entries::in_force_sql(to))
            .select((list_entries::department_id, list_entries::id))
            .load(conn)?,
    );
    // Shared with the city platform during the period: entries published in it.
    let shared = group(
        list_entries::table
            .filter(list_entries::source.eq("local"))
            .filter(list_entries::published_at.ge(start))
            .filter(list_entries::published_at.lt(end))
            .select((list_entries::department_id, list_entries::id))
            .load(conn)?,
    );
    // Cases filed or joined, submitted or shared, dated in the period; media-reported ones.
    let case_rows: Vec<(i32, i32)> = cases::table
        .inner_join(case_departments::table)
        .filter(cases::status.eq_any(["submitted", "shared"]))
        .filter(cases::case_date.ge(from))
        .filter(cases::case_date.le(to))
        .select((case_departments::department_id, cases::id))
        .load(conn)?;
    let filed_rows: Vec<(i32, i32)> = cases::table
        .filter(cases::status.eq_any(["submitted", "shared"]))
        .filter(cases::case_date.ge(from))
        .filter(cases::case_date.le(to))
        .select((cases::department_id, cases::id))
        .load(conn)?;
    let cases = group(case_rows.into_iter().chain(filed_rows).collect());
    let reported: BTreeSet<i32> = case_media_reports::table
        .filter(case_media_reports::level.eq_any(["city", "provincial", "national"]))
        .filter(case_media_reports::report_date.le(to))
        .select(case_media_reports::case_id)
        .load::<i32>(conn)?
        .into_iter()
        .collect();
    // Black-listed enterprises repaired with a repair commitment, confirmed by the bureau.
    let repaired = group(
        repairs::table
            .inner_join(subjects::table.on(subjects::id.eq(repairs::subject_id)))
            .inner_join(commitments::table.on(commitments::id.eq(repairs::commitment_id)))
            .filter(repairs::status.eq("completed"))
            .filter(repairs::completed_at.ge(start))
            .filter(repairs::completed_at.lt(end))
            .filter(subjects::kind.eq("enterprise"))
            .filter(commitments::purpose.eq("repair"))
            .select((repairs::department_id, repairs::id))
            .load(conn)?,
    );
    // A standard commitment template published by the end.
    let templates = group(
        commitment_templates::table
            .filter(commitment_templates::status.eq("published"))
            .filter(commitment_templates::published_at.lt(end))
            .select((
                commitment_templates::department_id,
                commitment_templates::id,
            ))
            .load(conn)?,
    );
    // Credit checks made by the department's accounts in the period.
    let check_rows: Vec<(Option<i32>, i32)> = credit_checks::table
        .filter(credit_checks::caller_department_id.is_not_null())
        .filter(credit_checks::checked_at.ge(start))
        .filter(credit_checks::checked_at.lt(end))
        .select((credit_checks::caller_department_id, credit_checks::id))
        .order(credit_checks::id)
        .limit(200_000)
        .load(conn)?;
    let checks = group(
        check_rows
            .into_iter()
            .filter_map(|(d, id)| d.map(|d| (d, id)))
            .collect(),
    );
    // 告知承诺: letters signed before licensing in the period.
    let pre_licensing = group(
        commitments::table
            .filter(commitments::purpose.eq("pre_licensing"))
            .filter(commitments::signed_at.ge(start))
            .filter(commitments::signed_at.lt(end))
            .select((commitments::department_id, commitments::id))
            .load(conn)?,
    );
    // Special rectification: entries under a special-rectification scope item removed (verified
    // and cleared) in the period.
    let cleared = group(
        list_entries::table
            .inner_join(
                special_rectification_items::table
                    .on(special_rectification_items::item_id.eq(list_entries::scope_item_id)),
            )
            .filter(list_entries::status.ne("draft"))
            .filter(list_entries::removal_date.ge(from))
            .filter(list_entries::removal_date.le(to))
            .select((list_entries::department_id, list_entries::id))
            .load(conn)?,
    );
    Ok(RecordEvidence {
        four_lists,
        built,
        public,
        shared,
        cases,
        reported,
        repaired,
        templates,
        checks,
        pre_licensing,
        cleared,
    })
}

/// Ids of `m` for the departments `depts`, sorted and without duplicates.
fn pooled(m: &Evidence, depts: &[i32]) -> Vec<i32> {
    let mut v: Vec<i32> = depts
        .iter()
        .filter_map(|d| m.get(d))
        .flatten()
        .copied()
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The attestation in force for one subject and indicator: `(id, points in tenths)`.
pub(crate) type Attested = HashMap<&'static str, (i32, i64)>;

fn tenths(t: i64) -> f64 {
    t as f64 / 10.0
}

/// Scores every indicator for the subject made of `depts` (one department, or a region's
/// departments) with its attestations.
pub(crate) fn score(
    ev: &RecordEvidence,
    depts: &[i32],
    attested: &Attested,
) -> (Totals, Vec<ScoreItem>) {
    let mut items = Vec::with_capacity(INDICATORS.len());
    for ind in INDICATORS.iter() {
        items.push(match ind.source {
            Source::Records(rule) => score_rule(ev, depts, ind, rule),
            Source::Attestation { evidence_hint } => match attested.get(ind.key) {
                Some(&(id, t)) => ScoreItem {
                    key: ind.key,
                    group: ind.group,
                    title: ind.title,
                    max_points: tenths(ind.max_tenths),
                    points: tenths(t.min(ind.max_tenths)),
                    source: "attestation",
                    status: "attested",
                    bonus: ind.bonus,
                    evidence: vec![id],
                    evidence_count: 1,
                    evidence_kind: "attestation",
                    attestation_id: Some(id),
                    missing: (t < ind.max_tenths).then(|| {
                        format!("attestation {id} awards less than the maximum")
                    }),
                },
                None => ScoreItem {
                    key: ind.key,
                    group: ind.group,
                    title: ind.title,
                    max_points: tenths(ind.max_tenths),
                    points: 0.0,
                    source: "attestation",
                    status: "not_measured",
                    bonus: ind.bonus,
                    evidence: vec![],
                    evidence_count: 0,
                    evidence_kind: "attestation",
                    attestation_id: None,
                    missing: Some(format!(
                        "no record of this service proves it and no attestation is recorded; evidence that would count: {evidence_hint}"
                    )),
                },
            },
        });
    }
    let sum = |f: &dyn Fn(&ScoreItem) -> bool| -> f64 {
        let t: i64 = items
            .iter()
            .filter(|i| f(i))
            .map(|i| (i.points * 10.0).round() as i64)
            .sum();
        tenths(t)
    };
    let max_measured = tenths(
        INDICATORS
            .iter()
            .filter(|i| matches!(i.source, Source::Records(_)))
            .map(|i| i.max_tenths)
            .sum(),
    );
    let points = sum(&|i| !i.bonus);
    let bonus_points = sum(&|i| i.bonus);
    let totals = Totals {
        points,
        max_points: tenths(
            INDICATORS
                .iter()
                .filter(|i| !i.bonus)
                .map(|i| i.max_tenths)
                .sum(),
        ),
        record_points: sum(&|i| !i.bonus && i.source == "records"),
        attested_points: sum(&|i| !i.bonus && i.source == "attestation"),
        max_measured,
        bonus_points,
        total_points: tenths(((points + bonus_points) * 10.0).round() as i64),
    };
    (totals, items)
}

fn score_rule(ev: &RecordEvidence, depts: &[i32], ind: &Indicator, rule: Rule) -> ScoreItem {
    let max = ind.max_tenths;
    let flag = |ids: &[i32]| if ids.is_empty() { 0 } else { max };
    let (ids, kind, earned, missing): (Vec<i32>, &'static str, i64, String) = match rule {
        Rule::FourListsCompiled | Rule::FourListsPublic => {
            let mut ids = Vec::new();
            let mut lacking = Vec::new();
            for (kind, name) in FOUR_LIST_KINDS {
                let v = ev
                    .four_lists
                    .get(kind)
                    .map(|m| pooled(m, depts))
                    .unwrap_or_default();
                if v.is_empty() {
                    lacking.push(name);
                }
                ids.extend(v);
            }
            ids.sort_unstable();
            let earned = if lacking.is_empty() { max } else { 0 };
            let missing = format!(
                "{} of the four lists have a published item in force at the period's end; lacking: {}",
                4 - lacking.len(),
                lacking.join("、")
            );
            (ids, "four_list_items", earned, missing)
        }
        Rule::ListsBuilt => {
            let ids = pooled(&ev.built, depts);
            let e = flag(&ids);
            (
                ids,
                "list_entries",
                e,
                "no red or black list entry identified under the department's own four lists"
                    .into(),
            )
        }
        Rule::ListsPublished => {
            let ids = pooled(&ev.public, depts);
            let e = flag(&ids);
            (ids, "list_entries", e, "no entry on the public list at the period's end (the department's own website is not seen)".into())
        }
        Rule::ListsShared => {
            let ids = pooled(&ev.shared, depts);
            let e = flag(&ids);
            (
                ids,
                "list_entries",
                e,
                "no entry published to the city platform during the period".into(),
            )
        }
        Rule::Cases => {
            let ids = pooled(&ev.cases, depts);
            let e = (ids.len() as i64 * 5).min(max);
            let more = 4usize.saturating_sub(ids.len());
            (
                ids,
                "cases",
                e,
                format!("{more} more submitted or shared case(s) needed"),
            )
        }
        Rule::MediaReportedCases | Rule::MediaCasePublicity => {
            let ids: Vec<i32> = pooled(&ev.cases, depts)
                .into_iter()
                .filter(|c| ev.reported.contains(c))
                .collect();
            let e = if rule == Rule::MediaReportedCases {
                (ids.len() as i64 * 10).min(max)
            } else {
                flag(&ids)
            };
            let more = if rule == Rule::MediaReportedCases {
                2usize.saturating_sub(ids.len())
            } else {
                1usize.saturating_sub(ids.len())
            };
            (
                ids,
                "cases",
                e,
                format!("{more} more case(s) reported by city-level or higher media needed"),
            )
        }
        Rule::RepairsWithCommitments => {
            let ids = pooled(&ev.repaired, depts);
            let e = flag(&ids);
            (ids, "repairs", e, "no black-listed enterprise's repair with a commitment letter confirmed by the bureau in the period".into())
        }
        Rule::CommitmentTemplate => {
            let ids = pooled(&ev.templates, depts);
            let e = flag(&ids);
            (
                ids,
                "commitment_templates",
                e,
                "no published standard commitment-letter template".into(),
            )
        }
        Rule::CreditChecks => {
            let ids = pooled(&ev.checks, depts);
            let e = flag(&ids);
            (
                ids,
                "credit_checks",
                e,
                "no credit check made by the department's accounts in the period".into(),
            )
        }
        Rule::PreLicensingCommitments => {
            let ids = pooled(&ev.pre_licensing, depts);
            let e = flag(&ids);
            (
                ids,
                "commitments",
                e,
                "no commitment letter (告知承诺) signed before licensing in the period".into(),
            )
        }
        Rule::SpecialRectificationCleared => {
            let ids = pooled(&ev.cleared, depts);
            let e = flag(&ids);
            (ids, "list_entries", e, "no entry under a special-rectification scope item (失信被执行人, 重大税收违法, 企业异常名录, 严重违法) removed after verification in the period".into())
        }
    };
    ScoreItem {
        key: ind.key,
        group: ind.group,
        title: ind.title,
        max_points: tenths(max),
        points: tenths(earned),
        source: "records",
        status: "measured",
        bonus: ind.bonus,
        evidence_count: ids.len() as i64,
        evidence: ids.iter().take(20).copied().collect(),
        evidence_kind: kind,
        attestation_id: None,
        missing: (earned < max).then_some(missing),
    }
}

/// Departments (id, name, region) that are active, of `region` and/or only `only`.
pub(crate) fn departments_of(
    conn: &mut DbConnection,
    region: Option<&str>,
    only: Option<i32>,
) -> Result<Vec<(i32, String, String)>, ApiError> {
    let mut q = departments::table
        .filter(departments::active.eq(true))
        .order(departments::id)
        .select((departments::id, departments::name, departments::region_code))
        .into_boxed();
    if let Some(r) = region {
        q = q.filter(departments::region_code.eq(r.to_string()));
    }
    if let Some(d) = only {
        q = q.filter(departments::id.eq(d));
    }
    Ok(q.load(conn)?)
}

/// Counties, districts and zones (every region but the city), optionally one.
pub(crate) fn scored_regions(
    conn: &mut DbConnection,
    only: Option<&str>,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut q = regions::table
        .filter(regions::code.ne(crate::auth::CITY_REGION))
        .order(regions::code)
        .select((regions::code, regions::name))
        .into_boxed();
    if let Some(r) = only {
        q = q.filter(regions::code.eq(r.to_string()));
    }
    Ok(q.load(conn)?)
}

pub(crate) fn department_cards(
    conn: &mut DbConnection,
    ev: &RecordEvidence,
    year: i32,
    quarter: u32,
    region: Option<&str>,
    only: Option<i32>,
) -> Result<Vec<Scorecard>, ApiError> {
    let depts = departments_of(conn, region, only)?;
    let attested = attestations::in_force(conn, year, quarter)?;
    let none = Attested::new();
    Ok(depts
        .into_iter()
        .map(|(id, name, region_code)| {
            let a = attested.departments.get(&id).unwrap_or(&none);
            let (totals, items) = score(ev, &[id], a);
            Scorecard {
                department_id: id,
                department_name: name,
                region_code,
                totals,
                items,
            }
        })
        .collect())
}

fn compute(
    settled: &mut Settled<'_>,
    year: i32,
    quarter: u32,
    from: NaiveDate,
    to: NaiveDate,
    region: Option<String>,
    only: Option<i32>,
) -> Result<ScorecardReport, ApiError> {
    let conn = settled.conn();
    let ev = load_evidence(conn, from, to)?;
    let departments = department_cards(conn, &ev, year, quarter, region.as_deref(), only)?;
    Ok(ScorecardReport {
        year,
        quarter,
        from,
        to,
        departments,
    })
}

/// Department scorecards (评估指标)
///
/// The whole evaluation table (附件2) for a quarter: the indicators the service's records prove
/// with the ids of those records, the others with the bureau's attestation id (or 0 points and
/// what evidence would count). Counts run from 1 January to the quarter's end (or today).
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "scorecards",
    tag = "targets",
    security(("bearer" = [])),
    params(ScorecardQuery),
    responses(
        (status = 200, description = "Scorecards", body = ScorecardReport),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Approval systems; a county bureau asking for another region", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Quarter not 1–4, or not begun", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/scorecards")]
pub async fn scorecards(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<ScorecardQuery>,
) -> Result<HttpResponse, ApiError> {
    let report = report(&state, user, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Checks the quarter and year and returns the period.
pub(crate) fn checked_period(year: i32, quarter: u32) -> Result<(NaiveDate, NaiveDate), ApiError> {
    if !(1..=4).contains(&quarter) {
        return Err(ApiError::invalid_field(
            "query.quarter",
            "out_of_range",
            "quarter must be between 1 and 4",
        ));
    }
    // Records start with the 2019 plan (nothing can be dated earlier, see `backdating`); an
    // earlier or negative year is refused here rather than reaching the database's date types.
    if year < 2019 {
        return Err(ApiError::invalid_field(
            "query.year",
            "out_of_range",
            "the year must be 2019 or later",
        ));
    }
    period(year, quarter, today()).ok_or_else(|| {
        ApiError::invalid_field(
            "query.year",
            "out_of_range",
            "the year has not begun (or is outside the calendar)",
        )
    })
}

/// The scorecards the caller may see (the API's and the console's).
pub(crate) async fn report(
    state: &web::Data<AppState>,
    user: AuthUser,
    q: ScorecardQuery,
) -> Result<ScorecardReport, ApiError> {
    user.require(&[Role::Admin, Role::Bureau, Role::Department])?;
    let (from, to) = checked_period(q.year, q.quarter)?;
    // Department officers see their own card; bureaus their region's departments.
    let (region, only) = match user.role {
        Role::Department => (None, user.department_id),
        Role::Bureau => match (user.region_filter()?, q.region) {
            (Some(own), Some(r)) if r != own => {
                return Err(ApiError::forbidden("this region is outside your scope"))
            }
            (Some(own), _) => (Some(own), None),
            (None, r) => (r, None),
        },
        _ => (q.region, None),
    };
    state
        .receipts
        .run_settled(&state.pool, move |conn| {
            compute(conn, q.year, q.quarter, from, to, region, only)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_run_from_january_to_their_end_or_today() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let today = d("2026-11-28");
        assert_eq!(
            period(2019, 1, today),
            Some((d("2019-01-01"), d("2019-03-31")))
        );
        assert_eq!(
            period(2019, 4, today),
            Some((d("2019-01-01"), d("2019-12-31")))
        );
        assert_eq!(period(2026, 4, today), Some((d("2026-01-01"), today)));
        assert_eq!(period(2026, 0, today), None);
        assert_eq!(period(2027, 1, today), None);
    }

    #[test]
    fn the_table_has_100_points_and_10_bonus_points() {
        let main: i64 = INDICATORS
            .iter()
            .filter(|i| !i.bonus)
            .map(|i| i.max_tenths)
            .sum();
        let bonus: i64 = INDICATORS
            .iter()
            .filter(|i| i.bonus)
            .map(|i| i.max_tenths)
            .sum();
        assert_eq!((main, bonus), (1000, 100));
        let keys: BTreeSet<&str> = INDICATORS.iter().map(|i| i.key).collect();
        assert_eq!(keys.len(), INDICATORS.len());
    }
}
