//! Demo cases (联合奖惩案例) for `serve --demo`: drafts, submitted and shared cases of both kinds
//! built from the demo entries, media reports on the shared ones, and the previous month closed
//! for the whole city.

use chrono::{Datelike, Duration};
use diesel::prelude::*;

use crate::cases::store::{
    mark_shared, mark_submitted, write_case, CaseOrigin, CaseSubjectInput, NewCase,
};
use crate::cases::{find_case, CaseKind};
use crate::db::{self, DbConnection};
use crate::entries::{EntryRow, SubjectRow};
use crate::error::ApiError;
use crate::four_lists::SubjectType;
use crate::schema::{
    application_fields, case_media_reports, cases, four_list_items, four_list_links, list_entries,
    subjects,
};
use crate::state::AppState;

/// Creates the demo cases once. Returns whether anything was created.
pub fn seed(conn: &mut DbConnection, state: &AppState) -> Result<bool, ApiError> {
    let exists: i64 = cases::table.count().get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    let admin = crate::demo::lists::demo_admin(conn)?;
    db::write_tx(conn, |conn| seed_all(conn, state, &admin))?;
    Ok(true)
}

/// A measure applied in a demo case: the item, its title, the field of the case (the first
/// field the measure applies in) and that field's name.
struct DemoMeasure {
    id: i32,
    title: String,
    field: String,
    field_name: String,
}

/// A published measure of the kind linked to the entry's scope item that applies to the
/// subject's kind, if any (one of several in turn), with the field where it applies (a case's
/// measures must apply in the case's field).
fn measure_for(
    conn: &mut DbConnection,
    entry: &EntryRow,
    kind: CaseKind,
    subject_kind: &str,
) -> Result<Option<DemoMeasure>, ApiError> {
    let linked: Vec<(i32, Option<i32>)> = four_list_links::table
        .inner_join(
            four_list_items::table.on(four_list_items::id.eq(four_list_links::measure_item_id)),
        )
        .filter(four_list_links::scope_item_id.eq(entry.scope_item_id))
        .filter(four_list_items::kind.eq(kind.measure_kind()))
        .filter(four_list_items::status.eq("published"))
        .order(four_list_items::id.asc())
        .select((four_list_items::id, four_list_items::published_version))
        .load(conn)?;
    let mut candidates = Vec::new();
    for (id, version) in linked {
        let Some(version) = version else { continue };
        let Some(content) =
            crate::four_lists::find_version(conn, id, version)?.map(|v| v.content())
        else {
            continue;
        };
        if content.fields.is_empty()
            || !content
                .subject_kinds
                .iter()
                .any(|k| k.as_str() == subject_kind)
        {
            continue;
        }
        candidates.push((id, content));
    }
    if candidates.is_empty() {
        return Ok(None);
    }
    let (id, content) = candidates.swap_remove(entry.id as usize % candidates.len());
    let field = content.fields[0].clone();
    let field_name = application_fields::table
        .find(&field)
        .select(application_fields::name)
        .first(conn)?;
    Ok(Some(DemoMeasure {
        id,
        title: content.title,
        field,
        field_name,
    }))
}

fn seed_all(
    conn: &mut DbConnection,
    state: &AppState,
    admin: &crate::auth::AuthUser,
) -> Result<(), ApiError> {
    let today = crate::entries::today();
    let mut made = 0usize;
    for (kind, list) in [(CaseKind::Punishment, "black"), (CaseKind::Reward, "red")] {
        let entries: Vec<EntryRow> = list_entries::table
            .filter(list_entries::list_type.eq(list))
            .filter(list_entries::status.eq("published"))
            .order(list_entries::id.asc())
            .limit(40)
            .select(EntryRow::as_select())
            .load(conn)?;
        let mut n = 0;
        for e in entries {
            if n >= 6 {
                break;
            }
            let subject: SubjectRow = subjects::table
                .find(e.subject_id)
                .select(SubjectRow::as_select())
                .first(conn)?;
            let Some(measure) = measure_for(conn, &e, kind, &subject.kind)? else {
                continue;
            };
            let case_date = (today - Duration::days(3 + 9 * n as i64)).max(e.valid_from);
            let input = NewCase {
                title: match kind {
                    CaseKind::Punishment => format!("{}被依法限制相关活动", subject.name),
                    CaseKind::Reward => format!("{}享受守信激励便利措施", subject.name),
                },
                kind,
                department_id: Some(e.department_id),
                subjects: vec![CaseSubjectInput {
                    code: subject.full_code(&state.pii)?,
                    name: subject.name.clone(),
                    kind: SubjectType::parse(&subject.kind),
                }],
                entry_ids: vec![e.id],
                measure_item_ids: vec![measure.id],
                department_ids: vec![],
                field: measure.field.clone(),
                case_date,
                summary: match kind {
                    CaseKind::Punishment => format!(
                        "在{}环节核查发现其为失信主体，依法实施“{}”。",
                        measure.field_name, measure.title
                    ),
                    CaseKind::Reward => format!(
                        "在{}环节查询为守信主体，给予“{}”。",
                        measure.field_name, measure.title
                    ),
                },
                source_check_id: None,
            };
            let id = write_case(conn, state, admin, None, &input, CaseOrigin::default())?;
            let row = find_case(conn, id)?.ok_or_else(|| ApiError::internal("case vanished"))?;
            crate::cases::store::audit_case(conn, state, admin, "case.create", None, &row)?;
            // Two drafts, two submitted and two shared (with media reports) of each kind.
            if n >= 2 {
                mark_submitted(conn, state, admin, &row)?;
            }
            if n >= 4 {
                let row =
                    find_case(conn, id)?.ok_or_else(|| ApiError::internal("case vanished"))?;
                mark_shared(conn, state, admin, &row)?;
                for (outlet, level, link) in [
                    ("通化日报", "city", "https://www.thrb.com.cn/xyth/"),
                    ("吉林日报", "provincial", "https://jlrb.jlcmt.com/xy/"),
                ]
                .iter()
                .take(if n == 5 { 2 } else { 1 })
                {
                    diesel::insert_into(case_media_reports::table)
                        .values((
                            case_media_reports::case_id.eq(id),
                            case_media_reports::outlet.eq(*outlet),
                            case_media_reports::level.eq(*level),
                            case_media_reports::report_date
                                .eq(today.min(case_date + Duration::days(2))),
                            case_media_reports::link.eq(format!("{link}{id}.html")),
                            case_media_reports::created_by.eq(admin.id),
                            case_media_reports::created_at.eq(db::now()),
                        ))
                        .execute(conn)?;
                }
            }
            n += 1;
            made += 1;
        }
    }
    made += county_cases(conn, state, admin)?;
    // The previous month is closed for the whole city.
    let first = today.with_day(1).unwrap_or(today);
    let prev = first - Duration::days(1);
    crate::stats::close_month(
        &mut state.receipts.settled(conn)?,
        admin,
        crate::auth::CITY_REGION,
        prev.year(),
        prev.month(),
    )?;
    tracing::info!(cases = made, "demo cases created");
    Ok(())
}

/// Counties whose own credit office (the county 政务服务和数字化局) filed and shared joint
/// punishment cases, with the share of the case goal (10% of the county's national
/// identifications) they reach: two meet it, one is half-way, the others have none.
const COUNTY_CASES: &[(&str, i32, i64)] =
    &[("220502", 2, 100), ("220524", 6, 120), ("220581", 7, 50)];

fn county_cases(
    conn: &mut DbConnection,
    state: &AppState,
    admin: &crate::auth::AuthUser,
) -> Result<usize, ApiError> {
    let today = crate::entries::today();
    let year_start = today.with_ordinal(1).unwrap_or(today);
    let mut made = 0;
    for &(region, bureau, pct_of_goal) in COUNTY_CASES {
        let national: i64 = list_entries::table
            .filter(crate::entries::in_force_sql(today))
            .filter(list_entries::region_code.eq(region))
            .filter(list_entries::source.eq("national"))
            .count()
            .get_result(conn)?;
        let goal = crate::targets::formulas::required(national, crate::targets::CASE_GOAL);
        let wanted = (goal * pct_of_goal + 99) / 100;
        let entries: Vec<EntryRow> = list_entries::table
            .filter(crate::entries::in_force_sql(today))
            .filter(list_entries::region_code.eq(region))
            .filter(list_entries::list_type.eq("black"))
            .order(list_entries::id.asc())
            .select(EntryRow::as_select())
            .load(conn)?;
        let mut shared = 0;
        for (i, e) in entries.iter().enumerate() {
            if shared >= wanted {
                break;
            }
            let subject: SubjectRow = subjects::table
                .find(e.subject_id)
                .select(SubjectRow::as_select())
                .first(conn)?;
            let Some(measure) = measure_for(conn, e, CaseKind::Punishment, &subject.kind)? else {
                continue;
            };
            let input = NewCase {
                title: format!("{}被多部门联合惩戒", subject.name),
                kind: CaseKind::Punishment,
                department_id: Some(bureau),
                subjects: vec![CaseSubjectInput {
                    code: subject.full_code(&state.pii)?,
                    name: subject.name.clone(),
                    kind: SubjectType::parse(&subject.kind),
                }],
                entry_ids: vec![e.id],
                measure_item_ids: vec![measure.id],
                department_ids: vec![e.department_id],
                field: measure.field.clone(),
                case_date: (today - Duration::days(2 + (i % 20) as i64))
                    .max(e.valid_from)
                    .max(year_start),
                summary: "县信用办组织相关部门核查，依法对其实施联合惩戒措施。".into(),
                source_check_id: None,
            };
            let id = write_case(conn, state, admin, None, &input, CaseOrigin::default())?;
            let row = find_case(conn, id)?.ok_or_else(|| ApiError::internal("case vanished"))?;
            crate::cases::store::audit_case(conn, state, admin, "case.create", None, &row)?;
            mark_submitted(conn, state, admin, &row)?;
            let row = find_case(conn, id)?.ok_or_else(|| ApiError::internal("case vanished"))?;
            mark_shared(conn, state, admin, &row)?;
            shared += 1;
            made += 1;
        }
    }
    Ok(made)
}
