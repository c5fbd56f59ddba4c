//! Department scorecards (评估指标): the points of the evaluation table's "守信联合激励和失信联合惩戒"
//! section (and "信用产品应用" item 1) that the service's own records prove, each with its evidence
//! and what is missing. Items the service cannot see are listed as not measured. See
//! `docs/targets.md`.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{get, web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{AuthUser, Role};
use crate::checks::receipts::Settled;
use crate::entries::today;
use crate::error::{ApiError, Problem};
use crate::schema::{
    case_departments, case_media_reports, cases, commitment_templates, commitments, credit_checks,
    departments, four_list_items, list_entries, repairs, subjects,
};
use crate::state::AppState;

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

/// One evaluation item.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreItem {
    pub key: &'static str,
    /// The item as the evaluation table words it.
    pub title: &'static str,
    pub max_points: f64,
    /// `None` when not measured.
    pub points: Option<f64>,
    /// `measured` or `not_measured`.
    pub status: &'static str,
    /// Ids of the records behind the points (at most 20).
    pub evidence: Vec<i32>,
    /// What is missing for the full points (empty when full).
    pub missing: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Scorecard {
    pub department_id: i32,
    pub department_name: String,
    pub region_code: String,
    /// Points proven by the service's records.
    pub points: f64,
    /// The most the measured items could give.
    pub max_measured: f64,
    pub items: Vec<ScoreItem>,
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

type Evidence = BTreeMap<i32, Vec<i32>>;

fn group(rows: Vec<(i32, i32)>) -> Evidence {
    let mut m: Evidence = BTreeMap::new();
    for (dept, id) in rows {
        let v = m.entry(dept).or_default();
        if !v.contains(&id) {
            v.push(id);
        }
    }
    m
}

fn item(
    key: &'static str,
    title: &'static str,
    max: f64,
    points: f64,
    evidence: &[i32],
    missing: &str,
) -> ScoreItem {
    ScoreItem {
        key,
        title,
        max_points: max,
        points: Some(points),
        status: "measured",
        evidence: evidence.iter().take(20).copied().collect(),
        missing: (points < max).then(|| missing.to_string()),
    }
}

fn not_measured(key: &'static str, title: &'static str, max: f64, why: &str) -> ScoreItem {
    ScoreItem {
        key,
        title,
        max_points: max,
        points: None,
        status: "not_measured",
        evidence: vec![],
        missing: Some(why.to_string()),
    }
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
    let end = to
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| ApiError::internal("date"))?
        - chrono::Duration::hours(8);
    let start = from
        .and_hms_opt(0, 0, 0)
        .ok_or_else(|| ApiError::internal("date"))?
        - chrono::Duration::hours(8);
    // 1. Lists built from the four lists: local entries published by the end, citing the
    //    department's own scope items.
    let built = group(
        list_entries::table
            .inner_join(four_list_items::table)
            .filter(list_entries::source.eq("local"))
            .filter(list_entries::status.ne("draft"))
            .filter(list_entries::published_at.lt(end))
            .filter(four_list_items::department_id.eq(list_entries::department_id))
            .select((list_entries::department_id, list_entries::id))
            .order(list_entries::id)
            .load(conn)?,
    );
    // 2. Published to the public: entries on the public list at the end (in force, not removed).
    let public = group(
        list_entries::table
            .filter(list_entries::source.eq("local"))
            .filter(crate::entries::in_force_sql(to))
            .select((list_entries::department_id, list_entries::id))
            .order(list_entries::id)
            .load(conn)?,
    );
    // 3. Shared with the city platform during the period: entries published in it.
    let shared = group(
        list_entries::table
            .filter(list_entries::source.eq("local"))
            .filter(list_entries::published_at.ge(start))
            .filter(list_entries::published_at.lt(end))
            .select((list_entries::department_id, list_entries::id))
            .order(list_entries::id)
            .load(conn)?,
    );
    // 4./5. Cases filed or joined, submitted or shared, dated in the period; media-reported ones.
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
    let case_map = group(case_rows.into_iter().chain(filed_rows).collect());
    let reported: BTreeSet<i32> = case_media_reports::table
        .filter(case_media_reports::level.eq_any(["city", "provincial", "national"]))
        .filter(case_media_reports::report_date.le(to))
        .select(case_media_reports::case_id)
        .load::<i32>(conn)?
        .into_iter()
        .collect();
    // 6. Black-listed enterprises repaired with a repair commitment, confirmed by the bureau.
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
    // 7. A standard commitment template published by the end.
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
    // 信用产品应用 1: credit checks made by the department's accounts in the period.
    let checks: Vec<(Option<i32>, i32)> = credit_checks::table
        .filter(credit_checks::caller_department_id.is_not_null())
        .filter(credit_checks::checked_at.ge(start))
        .filter(credit_checks::checked_at.lt(end))
        .select((credit_checks::caller_department_id, credit_checks::id))
        .order(credit_checks::id)
        .limit(200_000)
        .load(conn)?;
    let checks = group(
        checks
            .into_iter()
            .filter_map(|(d, id)| d.map(|d| (d, id)))
            .collect(),
    );

    let mut q = departments::table
        .filter(departments::active.eq(true))
        .order(departments::id)
        .select((departments::id, departments::name, departments::region_code))
        .into_boxed();
    if let Some(r) = region {
        q = q.filter(departments::region_code.eq(r));
    }
    if let Some(d) = only {
        q = q.filter(departments::id.eq(d));
    }
    let depts: Vec<(i32, String, String)> = q.load(conn)?;
    let none: Vec<i32> = Vec::new();
    let mut out = Vec::with_capacity(depts.len());
    for (id, name, region_code) in depts {
        let get = |m: &Evidence| m.get(&id).unwrap_or(&none).clone();
        let built_ids = get(&built);
        let public_ids = get(&public);
        let shared_ids = get(&shared);
        let case_ids = get(&case_map);
        let media_ids: Vec<i32> = case_ids
            .iter()
            .copied()
            .filter(|c| reported.contains(c))
            .collect();
        let repair_ids = get(&repaired);
        let template_ids = get(&templates);
        let check_ids = get(&checks);
        let flag = |ids: &[i32], pts: f64| if ids.is_empty() { 0.0 } else { pts };
        let items = vec![
            not_measured(
                "data_quality",
                "数据质量：信用信息数据无缺项漏项、按时更新",
                2.0,
                "the completeness and timeliness of the department's own data is not visible to this service",
            ),
            item(
                "lists_built",
                "依据信用\"四张清单\"，建立本部门本行业红黑名单",
                4.0,
                flag(&built_ids, 4.0),
                &built_ids,
                "no red or black list entry identified under the department's own four lists",
            ),
            item(
                "lists_published",
                "对外公开本行业本部门红黑名单",
                2.0,
                flag(&public_ids, 2.0),
                &public_ids,
                "no entry of the department on the public list at the period's end (the department's own website is not seen)",
            ),
            item(
                "lists_shared",
                "与市社会信用综合服务平台共享红黑名单信息",
                4.0,
                flag(&shared_ids, 4.0),
                &shared_ids,
                "no entry published to the city platform during the period",
            ),
            item(
                "cases",
                "形成联合奖惩典型案例（每个0.5分，最高2分）",
                2.0,
                (case_ids.len() as f64 * 0.5).min(2.0),
                &case_ids,
                &format!(
                    "{} more submitted or shared case(s) needed",
                    4usize.saturating_sub(case_ids.len())
                ),
            ),
            item(
                "media_reported_cases",
                "被市级以上主流媒体公开报道（每个1分，最高2分）",
                2.0,
                (media_ids.len() as f64).min(2.0),
                &media_ids,
                &format!(
                    "{} more case(s) reported by city-level or higher media needed",
                    2usize.saturating_sub(media_ids.len())
                ),
            ),
            item(
                "repairs_with_commitments",
                "对黑名单企业进行信用修复，做出信用承诺并报市政务服务和数字化局备案",
                4.0,
                flag(&repair_ids, 4.0),
                &repair_ids,
                "no black-listed enterprise's repair with a commitment letter confirmed by the bureau in the period",
            ),
            item(
                "commitment_template",
                "制定标准化的信用承诺书并公示",
                2.0,
                flag(&template_ids, 2.0),
                &template_ids,
                "no published standard commitment-letter template",
            ),
            item(
                "credit_records_in_approvals",
                "在行政审批事项中应用信用信息记录和数据",
                3.0,
                flag(&check_ids, 3.0),
                &check_ids,
                "no credit check made by the department's accounts in the period",
            ),
        ];
        let points = items.iter().filter_map(|i| i.points).sum();
        let max_measured = items
            .iter()
            .filter(|i| i.points.is_some())
            .map(|i| i.max_points)
            .sum();
        out.push(Scorecard {
            department_id: id,
            department_name: name,
            region_code,
            points,
            max_measured,
            items,
        });
    }
    Ok(ScorecardReport {
        year,
        quarter,
        from,
        to,
        departments: out,
    })
}

/// Department scorecards (评估指标)
///
/// Department scorecards (评估指标) for a quarter: the points the service's records prove, with
/// evidence ids and what is missing; items it cannot see are `not_measured`.
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

/// The scorecards the caller may see (the API's and the console's).
pub(crate) async fn report(
    state: &web::Data<AppState>,
    user: AuthUser,
    q: ScorecardQuery,
) -> Result<ScorecardReport, ApiError> {
    user.require(&[Role::Admin, Role::Bureau, Role::Department])?;
    if !(1..=4).contains(&q.quarter) {
        return Err(ApiError::invalid_field(
            "query.quarter",
            "out_of_range",
            "quarter must be between 1 and 4",
        ));
    }
    let (from, to) = period(q.year, q.quarter, today()).ok_or_else(|| {
        ApiError::invalid_field(
            "query.year",
            "out_of_range",
            "the year has not begun (or is outside the calendar)",
        )
    })?;
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
}
