//! The quarterly report (每季度通报, plan section 十一): every department's and every
//! county's/district's/zone's scorecard for a quarter, ranked by points, as JSON or as one
//! workbook.

use actix_web::{get, web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::indicators::INDICATORS;
use super::{RegionScorecard, ScoreItem, Scorecard, Totals};
use crate::auth::{AuthUser, Role, CITY_REGION};
use crate::error::{ApiError, FieldError, Problem};
use crate::schema::regions;
use crate::state::AppState;
use crate::tabular::{Cell, ReportSheet};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QuarterlyQuery {
    pub year: i32,
    /// 1–4: counts run from 1 January to the quarter's end (or today).
    #[param(minimum = 1, maximum = 4)]
    pub quarter: u32,
    /// One county/district/zone and its departments (default: a county bureau's own region,
    /// otherwise the whole city).
    pub region: Option<String>,
    /// `json` (default) or `xlsx`.
    #[param(pattern = "^(json|xlsx)$")]
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankedDepartment {
    /// 1 for the most points; equal points share a rank.
    pub rank: i64,
    #[serde(flatten)]
    pub card: Scorecard,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankedRegion {
    pub rank: i64,
    #[serde(flatten)]
    pub card: RegionScorecard,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuarterlyReport {
    pub year: i32,
    pub quarter: u32,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// The region reported (`220500`: the whole city).
    pub region_code: String,
    pub region_name: String,
    /// Departments ranked by `total_points`.
    pub departments: Vec<RankedDepartment>,
    /// Counties, districts and zones ranked by `total_points`.
    pub regions: Vec<RankedRegion>,
}

/// Competition ranks (1, 1, 3 …) of scores already sorted best first.
fn ranks(totals: &[f64]) -> Vec<i64> {
    let mut out = Vec::with_capacity(totals.len());
    for (i, t) in totals.iter().enumerate() {
        if i > 0 && (totals[i - 1] - t).abs() < 1e-9 {
            out.push(out[i - 1]);
        } else {
            out.push(i as i64 + 1);
        }
    }
    out
}

fn by_points(a: &Totals, b: &Totals) -> std::cmp::Ordering {
    b.total_points
        .total_cmp(&a.total_points)
        .then(b.points.total_cmp(&a.points))
}

async fn build(
    state: &web::Data<AppState>,
    user: &AuthUser,
    q: &QuarterlyQuery,
) -> Result<QuarterlyReport, ApiError> {
    user.require(&[Role::Admin, Role::Bureau])?;
    let (from, to) = super::checked_period(q.year, q.quarter)?;
    let region = match &q.region {
        Some(r) => r.clone(),
        None => match (user.role, user.region_code.as_deref()) {
            (Role::Bureau, Some(own)) => own.to_string(),
            _ => CITY_REGION.to_string(),
        },
    };
    let user = user.clone();
    let (year, quarter) = (q.year, q.quarter);
    state
        .receipts
        .run_settled(&state.pool, move |settled| {
            let conn = settled.conn();
            let name: Option<String> = regions::table
                .find(&region)
                .select(regions::name)
                .first(conn)
                .optional()?;
            let region_name = name.ok_or_else(|| {
                ApiError::invalid_field(
                    "query.region",
                    "unknown_region",
                    format!("there is no region {region}"),
                )
            })?;
            if !user.covers_region(&region) {
                return Err(ApiError::Denied {
                    code: "forbidden",
                    detail: "this region is outside your scope".into(),
                    errors: vec![FieldError::new(
                        "query.region",
                        "forbidden",
                        format!("region {region} is outside your scope"),
                    )],
                });
            }
            let whole_city = region == CITY_REGION;
            let scope = (!whole_city).then_some(region.as_str());
            let ev = super::load_evidence(conn, from, to)?;
            let mut depts = super::department_cards(conn, &ev, year, quarter, scope, None)?;
            depts.sort_by(|a, b| {
                by_points(&a.totals, &b.totals).then(a.department_id.cmp(&b.department_id))
            });
            let attested = super::attestations::in_force(conn, year, quarter)?;
            let all = super::departments_of(conn, None, None)?;
            let none = super::Attested::new();
            let mut regions: Vec<RegionScorecard> = super::scored_regions(conn, scope)?
                .into_iter()
                .map(|(code, name)| {
                    let ids: Vec<i32> = all
                        .iter()
                        .filter(|(_, _, r)| *r == code)
                        .map(|(id, _, _)| *id)
                        .collect();
                    let a = attested.regions.get(&code).unwrap_or(&none);
                    let (totals, items) = super::score(&ev, &ids, a);
                    RegionScorecard {
                        region_code: code,
                        region_name: name,
                        totals,
                        items,
                    }
                })
                .collect();
            regions.sort_by(|a, b| {
                by_points(&a.totals, &b.totals).then(a.region_code.cmp(&b.region_code))
            });
            let dr = ranks(
                &depts
                    .iter()
                    .map(|d| d.totals.total_points)
                    .collect::<Vec<_>>(),
            );
            let rr = ranks(
                &regions
                    .iter()
                    .map(|d| d.totals.total_points)
                    .collect::<Vec<_>>(),
            );
            Ok(QuarterlyReport {
                year,
                quarter,
                from,
                to,
                region_code: region.clone(),
                region_name,
                departments: depts
                    .into_iter()
                    .zip(dr)
                    .map(|(card, rank)| RankedDepartment { rank, card })
                    .collect(),
                regions: regions
                    .into_iter()
                    .zip(rr)
                    .map(|(card, rank)| RankedRegion { rank, card })
                    .collect(),
            })
        })
        .await
}

/// The quarterly report (每季度通报).
///
/// Every department's and every county's, district's and zone's scorecard for the quarter,
/// ranked by points (bonus included), as JSON or (`format=xlsx`) as one workbook: a ranking
/// sheet for the departments, one for the counties, and every indicator of every card with its
/// evidence. Admins and bureaus; a county bureau sees its own region (the default for it).
#[utoipa::path(
    operation_id = "scorecards_quarterly",
    tag = "targets",
    security(("bearer" = [])),
    params(QuarterlyQuery),
    responses(
        (status = 200, description = "The report (JSON), or the workbook with `format=xlsx`", content(
            (QuarterlyReport = "application/json"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Bureaus and admins only; a county bureau only its region (`query.region`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Quarter not 1–4, a quarter that has not begun, or an unknown region", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/scorecards/quarterly")]
pub async fn quarterly(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<QuarterlyQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let xlsx = match q.format.as_deref() {
        None | Some("json") => false,
        Some("xlsx") => true,
        Some(_) => {
            return Err(ApiError::invalid_query(
                "format",
                "invalid_value",
                "format must be json or xlsx",
            ))
        }
    };
    let report = build(&state, &user, &q).await?;
    if !xlsx {
        return Ok(HttpResponse::Ok().json(report));
    }
    let bytes = workbook(&report, &user.username)?;
    let code = &report.region_code;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            crate::imports::disposition(
                &format!("scorecards-{}-Q{}-{code}", report.year, report.quarter),
                &format!(
                    "{}{}年第{}季度评估通报（{code}）",
                    report.region_name, report.year, report.quarter
                ),
                "xlsx",
            ),
        ))
        .body(bytes))
}

/// The first-level indicators in table order.
fn groups() -> Vec<&'static str> {
    let mut g: Vec<&'static str> = Vec::new();
    for i in INDICATORS {
        if !g.contains(&i.group) {
            g.push(i.group);
        }
    }
    g
}

fn ranking_headers(unit: &str) -> Vec<String> {
    let mut h: Vec<String> = [
        "名次",
        unit,
        "区域代码",
        "总分",
        "评估得分（满分100）",
        "依记录得分",
        "依佐证得分",
        "附加分",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    h.extend(
        groups()
            .into_iter()
            .filter(|g| !g.starts_with("附加分"))
            .map(str::to_string),
    );
    h
}

fn ranking_row(rank: i64, name: &str, code: &str, t: &Totals, items: &[ScoreItem]) -> Vec<Cell> {
    let mut row = vec![
        Cell::Int(rank),
        Cell::text(name),
        Cell::text(code),
        Cell::Points(t.total_points),
        Cell::Points(t.points),
        Cell::Points(t.record_points),
        Cell::Points(t.attested_points),
        Cell::Points(t.bonus_points),
    ];
    for g in groups().into_iter().filter(|g| !g.starts_with("附加分")) {
        let tenths: i64 = items
            .iter()
            .filter(|i| i.group == g)
            .map(|i| (i.points * 10.0).round() as i64)
            .sum();
        row.push(Cell::Points(tenths as f64 / 10.0));
    }
    row
}

fn averages(rows: &[Vec<Cell>], count: usize) -> Option<Vec<Cell>> {
    if rows.is_empty() {
        return None;
    }
    let width = rows[0].len();
    let mut totals = vec![Cell::Empty; width];
    totals[0] = Cell::text("平均");
    totals[1] = Cell::text(format!("共{count}个"));
    for (c, cell) in totals.iter_mut().enumerate().skip(3) {
        let sum: f64 = rows
            .iter()
            .map(|r| match r.get(c) {
                Some(Cell::Points(x)) => *x,
                _ => 0.0,
            })
            .sum();
        *cell = Cell::Points((sum / count as f64 * 10.0).round() / 10.0);
    }
    Some(totals)
}

fn workbook(r: &QuarterlyReport, produced_by: &str) -> Result<Vec<u8>, ApiError> {
    let info = || {
        crate::tabular::title_lines(
            &r.region_name,
            &r.region_code,
            Some(r.year),
            vec![
                ("季度".to_string(), Cell::Int(r.quarter.into())),
                ("统计起始日".to_string(), Cell::Date(r.from)),
            ],
            r.to,
            produced_by,
        )
    };
    let drows: Vec<Vec<Cell>> = r
        .departments
        .iter()
        .map(|d| {
            ranking_row(
                d.rank,
                &d.card.department_name,
                &d.card.region_code,
                &d.card.totals,
                &d.card.items,
            )
        })
        .collect();
    let rrows: Vec<Vec<Cell>> = r
        .regions
        .iter()
        .map(|d| {
            ranking_row(
                d.rank,
                &d.card.region_name,
                &d.card.region_code,
                &d.card.totals,
                &d.card.items,
            )
        })
        .collect();
    let mut detail = Vec::new();
    let cards = r
        .departments
        .iter()
        .map(|d| {
            (
                "部门",
                d.card.department_name.as_str(),
                d.card.region_code.as_str(),
                &d.card.items,
            )
        })
        .chain(r.regions.iter().map(|d| {
            (
                "县（市、区）",
                d.card.region_name.as_str(),
                d.card.region_code.as_str(),
                &d.card.items,
            )
        }));
    for (kind, name, code, items) in cards {
        for i in items.iter() {
            let basis = match i.status {
                "measured" => "平台记录",
                "attested" => "佐证材料",
                _ => "无记录、无佐证",
            };
            let ids = if i.evidence.is_empty() {
                String::new()
            } else {
                let kind = if i.status == "attested" {
                    "佐证"
                } else {
                    i.evidence_kind
                };
                let mut s = format!(
                    "{kind}: {}",
                    i.evidence
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("、")
                );
                if i.evidence_count > i.evidence.len() as i64 {
                    s.push_str(&format!("（共{}条）", i.evidence_count));
                }
                s
            };
            detail.push(vec![
                Cell::text(kind),
                Cell::text(name),
                Cell::text(code),
                Cell::text(i.group),
                Cell::text(i.title),
                Cell::Points(i.max_points),
                Cell::Points(i.points),
                Cell::text(basis),
                Cell::text(ids),
            ]);
        }
    }
    let title = |what: &str| {
        format!(
            "{}社会信用体系建设工作评估{}年第{}季度通报（{what}）",
            r.region_name, r.year, r.quarter
        )
    };
    let sheets = vec![
        ReportSheet {
            name: "部门排名".into(),
            title: title("部门"),
            info: info(),
            headers: ranking_headers("部门"),
            totals: averages(&drows, drows.len()),
            rows: drows,
        },
        ReportSheet {
            name: "县（市、区）排名".into(),
            title: title("县（市、区）"),
            info: info(),
            headers: ranking_headers("县（市、区）"),
            totals: averages(&rrows, rrows.len()),
            rows: rrows,
        },
        ReportSheet {
            name: "指标明细".into(),
            title: title("指标明细"),
            info: info(),
            headers: [
                "单位类别",
                "单位",
                "区域代码",
                "一级指标",
                "评估指标",
                "满分",
                "得分",
                "依据",
                "依据编号",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            rows: detail,
            totals: None,
        },
    ];
    crate::tabular::write_report(&sheets).map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::ranks;

    #[test]
    fn equal_points_share_a_rank() {
        assert_eq!(ranks(&[9.0, 9.0, 7.5, 3.0, 3.0]), vec![1, 1, 3, 4, 4]);
        assert!(ranks(&[]).is_empty());
    }
}
