//! 年度目标 export and monthly trend, 部门评分 (scorecards) and repair documents, in the console. The figures are
//! the API's (`/targets`, `/scorecards`); the trend is the year-end report computed at the end of
//! each month, drawn as inline SVG on the server.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{Datelike, NaiveDate};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::pages::{api_error, error_page};
use super::{or_page, Shown, SignedIn, TargetsForm};
use crate::auth::AuthUser;
use crate::auth::Role;
use crate::error::ApiError;
use crate::state::AppState;
use crate::targets::formulas::Figure;
use crate::targets::TargetsReport;

/// The year-end report of the caller's region for a targets page: only bureaus and admins, the
/// year defaulting to this one, a query outside the year answered as a page.
pub(super) async fn caller_report(
    signed: SignedIn,
    state: &web::Data<AppState>,
    year: Option<i32>,
    as_of: Option<NaiveDate>,
) -> Result<(AuthUser, Shown, String, TargetsReport), HttpResponse> {
    let SignedIn { user, shown, csrf } = signed
        .allowed(
            |_, shown| shown.may_read_targets,
            "年度目标仅供信用主管部门和系统管理员查看。",
        )
        .map_err(|page| *page)?;
    let year = year.unwrap_or_else(|| crate::entries::today().year());
    let region = user.region_code.clone();
    match crate::targets::report_for(state, user.clone(), year, region, as_of).await {
        Ok(report) => Ok((user, shown, csrf, report)),
        Err(ApiError::Invalid { detail, .. }) => Err(error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &shown,
            &csrf,
            "查询条件有误",
            &detail,
        )),
        Err(e) => Err(api_error(e)),
    }
}

/// 导出 Excel: the targets report the page shows, as a workbook.
#[get("/console/targets/export")]
async fn targets_export(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<TargetsForm>,
) -> HttpResponse {
    match caller_report(signed, &state, query.year, query.as_of).await {
        Ok((user, _, _, report)) => {
            crate::targets::export_file(&report, &user.username).unwrap_or_else(api_error)
        }
        Err(page) => page,
    }
}

/// The four ratios of section 六 drawn on the trend chart: (name, colour, goal).
const SERIES: [(&str, &str); 4] = [
    ("红黑名单数量（覆盖率）", "#7f1d1d"),
    ("联合奖惩案例", "#1d4ed8"),
    ("信用修复培训率", "#15803d"),
    ("信用承诺比例", "#b45309"),
];

fn four(r: &crate::targets::RegionTargets) -> [Figure; 4] {
    [
        r.list_coverage.clone(),
        r.case_ratio.clone(),
        r.training_rate.clone(),
        r.commitment_ratio.clone(),
    ]
}

/// One month of the trend: the report as of its last day (or the as-of day in its month).
#[derive(Serialize)]
struct Month {
    month: u32,
    as_of: NaiveDate,
    figures: [Figure; 4],
}

/// One line of the chart.
#[derive(Serialize)]
struct Line {
    name: &'static str,
    colour: &'static str,
    /// SVG path data (`M x y L x y …`), breaking where a month has no ratio.
    path: String,
    /// The goal's height.
    goal_y: f64,
    points: Vec<(f64, f64)>,
}

const CHART_W: f64 = 640.0;
const CHART_H: f64 = 240.0;
const LEFT: f64 = 48.0;
const TOP: f64 = 12.0;

fn x_of(month: u32) -> f64 {
    LEFT + (month as f64 - 1.0) * (CHART_W - LEFT - 16.0) / 11.0
}

/// The chart's lines on a scale from 0 to `top` (at least 100%, a multiple of 25%).
fn lines(months: &[Month]) -> (f64, Vec<Line>) {
    let top = months
        .iter()
        .flat_map(|m| m.figures.iter().filter_map(|f| f.ratio))
        .fold(1.0_f64, f64::max);
    // Round the scale up to a quarter, so that the ticks read 25%, 50%, …
    let top = (top * 4.0).ceil() / 4.0;
    let y_of = |ratio: f64| TOP + (CHART_H - TOP - 24.0) * (1.0 - ratio / top);
    let lines = SERIES
        .iter()
        .enumerate()
        .map(|(i, (name, colour))| {
            let mut path = String::new();
            let mut points = Vec::new();
            let mut pen_down = false;
            for m in months {
                match m.figures[i].ratio {
                    Some(r) => {
                        let (x, y) = (x_of(m.month), y_of(r));
                        path.push_str(&format!(
                            "{}{x:.1} {y:.1} ",
                            if pen_down { "L" } else { "M" }
                        ));
                        points.push((x, y));
                        pen_down = true;
                    }
                    None => pen_down = false,
                }
            }
            let goal = months.first().map(|m| m.figures[i].goal).unwrap_or(0.0);
            Line {
                name,
                colour,
                path: path.trim_end().to_string(),
                goal_y: y_of(goal),
                points,
            }
        })
        .collect();
    (top, lines)
}

/// The last day of each month of `year` up to `as_of` (that day itself for its own month).
fn month_ends(year: i32, as_of: NaiveDate) -> Vec<(u32, NaiveDate)> {
    (1..=as_of.month())
        .map(|m| {
            let next = if m == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(year, m + 1, 1)
            };
            let end = next.and_then(|d| d.pred_opt()).unwrap_or(as_of);
            (m, end.min(as_of))
        })
        .collect()
}

/// 月度趋势: the four ratios at the end of each month of the year so far.
#[get("/console/targets/trend")]
async fn trend(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<TargetsForm>,
) -> HttpResponse {
    // The year's report fixes the as-of day (today within the current year, 31 December before).
    let (user, shown, csrf, last) = match caller_report(signed, &state, query.year, None).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let (year, region) = (last.year, Some(last.region_code.clone()));
    let mut months = Vec::new();
    for (month, day) in month_ends(year, last.as_of) {
        let figures = if day == last.as_of {
            four(&last.total)
        } else {
            match crate::targets::report_for(&state, user.clone(), year, region.clone(), Some(day))
                .await
            {
                Ok(r) => four(&r.total),
                Err(e) => return api_error(e),
            }
        };
        months.push(Month {
            month,
            as_of: day,
            figures,
        });
    }
    let (top, lines) = lines(&months);
    let ticks: Vec<(String, f64)> = (0..=4)
        .map(|i| {
            let r = top * i as f64 / 4.0;
            (
                format!("{:.0}%", r * 100.0),
                TOP + (CHART_H - TOP - 24.0) * (1.0 - r / top),
            )
        })
        .collect();
    let xs: Vec<(u32, f64)> = (1..=12).map(|m| (m, x_of(m))).collect();
    let names: Vec<&str> = SERIES.iter().map(|s| s.0).collect();
    super::render(
        StatusCode::OK,
        "trend.html",
        context! {
            user => shown, csrf => csrf, page => "targets", year => year, as_of => last.as_of,
            region_name => last.total.region_name, months => months, lines => lines,
            ticks => ticks, xs => xs, names => names, width => CHART_W, height => CHART_H,
            left => LEFT, bottom => CHART_H - 24.0,
        },
    )
}

#[derive(Deserialize)]
struct ScoreForm {
    year: Option<i32>,
    quarter: Option<u32>,
}

/// 部门评分: the departments' scorecards for a quarter (counts from 1 January).
#[get("/console/scorecards")]
async fn scorecards(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<ScoreForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.allowed(
        |user, _| matches!(user.role, Role::Admin | Role::Bureau | Role::Department),
        "部门评分仅供工作人员查看。"
    ));
    let today = crate::entries::today();
    let year = query.year.unwrap_or(today.year());
    let quarter = query.quarter.unwrap_or(if year == today.year() {
        today.month0() / 3 + 1
    } else {
        4
    });
    let q = crate::scorecards::ScorecardQuery {
        year,
        quarter,
        region: None,
    };
    // Bureaus get the attestation form: the indicators no record proves, and their subjects.
    let attest_choices = (user.role == Role::Bureau).then(|| {
        crate::scorecards::indicators::INDICATORS
            .iter()
            .filter(|i| {
                matches!(
                    i.source,
                    crate::scorecards::indicators::Source::Attestation { .. }
                )
            })
            .map(|i| (i.key, i.title, i.max_tenths as f64 / 10.0))
            .collect::<Vec<_>>()
    });
    let mut report = match crate::scorecards::report(&state, user, q).await {
        Ok(r) => r,
        Err(ApiError::Invalid { .. }) => {
            return error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &shown,
                &csrf,
                "查询条件有误",
                "季度应为 1 至 4，且该季度已经开始。",
            )
        }
        Err(e) => return api_error(e),
    };
    report.departments.sort_by(|a, b| {
        b.totals
            .total_points
            .total_cmp(&a.totals.total_points)
            .then(a.department_id.cmp(&b.department_id))
    });
    let mut regions: Vec<String> = report
        .departments
        .iter()
        .map(|d| d.region_code.clone())
        .filter(|r| r != crate::auth::CITY_REGION)
        .collect();
    regions.sort();
    regions.dedup();
    super::render(
        StatusCode::OK,
        "scorecards.html",
        context! {
            user => shown, csrf => csrf, page => "scorecards", report => report,
            attest => attest_choices, regions => regions,
            today => crate::entries::today().to_string(),
        },
    )
}

/// 评估佐证: the attestation form of the scorecards page (bureaus).
#[derive(Deserialize)]
struct AttestForm {
    csrf: String,
    indicator: String,
    /// `d{id}` for a department, `r{code}` for a county, district or zone.
    subject: String,
    year: i32,
    quarter: i32,
    points: f64,
    document_title: String,
    document_number: Option<String>,
    document_date: NaiveDate,
    note: Option<String>,
}

#[post("/console/scorecards/attestations")]
async fn attest(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<AttestForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &form.csrf));
    let f = form.into_inner();
    let (department_id, region_code) = match f.subject.split_at_checked(1) {
        Some(("d", id)) => (id.parse().ok(), None),
        Some(("r", code)) => (None, Some(code.to_string())),
        _ => (None, None),
    };
    let n = crate::scorecards::attestations::NewAttestation {
        indicator: f.indicator,
        department_id,
        region_code,
        year: f.year,
        quarter: f.quarter,
        points: f.points,
        document_title: f.document_title,
        document_number: f.document_number,
        document_date: f.document_date,
        note: f.note,
        attachment_id: None,
    };
    let (year, quarter) = (n.year, n.quarter);
    match crate::scorecards::attestations::record(&state, user, n).await {
        Ok(a) => super::redirect(&format!(
            "/console/scorecards?year={year}&quarter={quarter}&attested={}",
            a.id
        )),
        Err(e) => super::pages::error_for(&shown, &csrf, e),
    }
}

/// 证明材料: a repair application's document, for those who may read it.
#[get("/console/attachments/{id}")]
async fn attachment(
    signed: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = signed;
    match crate::repair::attachments::download(&state, user, path.into_inner()).await {
        Ok(file) => file,
        Err(e) => super::pages::error_for(&shown, &csrf, e),
    }
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(attachment)
        .service(targets_export)
        .service(trend)
        .service(scorecards)
        .service(attest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trend_takes_each_month_end_up_to_the_as_of_day() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            month_ends(2026, d("2026-03-10")),
            vec![
                (1, d("2026-01-31")),
                (2, d("2026-02-28")),
                (3, d("2026-03-10"))
            ]
        );
        assert_eq!(month_ends(2024, d("2024-12-31")).len(), 12);
        assert_eq!(month_ends(2024, d("2024-12-31"))[1], (2, d("2024-02-29")));
    }

    #[test]
    fn a_month_without_a_ratio_breaks_the_line() {
        let f = |ratio: Option<f64>| crate::targets::formulas::Figure {
            numerator: 0,
            denominator: ratio.map(|_| 1),
            ratio,
            goal: 0.5,
            met: None,
            shortfall: None,
            baseline: crate::targets::formulas::Baseline::Itemised,
        };
        let month = |m: u32, r: Option<f64>| Month {
            month: m,
            as_of: NaiveDate::from_ymd_opt(2026, m, 1).unwrap(),
            figures: [f(r), f(r), f(r), f(r)],
        };
        let (top, _) = lines(&[month(1, Some(1.03))]);
        assert_eq!(top, 1.25, "the scale ends on a quarter");
        let (top, lines) = lines(&[month(1, Some(0.2)), month(2, None), month(3, Some(2.0))]);
        assert_eq!(top, 2.0, "the scale grows past 100%");
        let path = &lines[0].path;
        assert_eq!(path.matches('M').count(), 2, "{path}");
        assert!(!path.contains('L'), "{path}");
        assert_eq!(lines[0].points.len(), 2);
        assert_eq!(lines[0].points[1].1, TOP, "the largest ratio is at the top");
    }
}
