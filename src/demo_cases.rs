//! Demo cases (联合奖惩案例) for `serve --demo`: drafts, submitted and shared cases of both kinds
//! built from the demo entries, media reports on the shared ones, and the previous month closed
//! for the whole city.

use chrono::{Datelike, Duration};
use diesel::prelude::*;

use crate::cases::handlers::{mark_shared, mark_submitted, write_case, CaseSubjectInput, NewCase};
use crate::cases::{find_case, CaseKind};
use crate::db::{self, DbConnection};
use crate::entries::{EntryRow, SubjectRow};
use crate::error::ApiError;
use crate::four_lists::SubjectType;
use crate::schema::{
    case_media_reports, cases, four_list_items, four_list_links, list_entries, subjects,
};
use crate::startup::AppState;

/// Creates the demo cases once. Returns whether anything was created.
pub fn seed(conn: &mut DbConnection, state: &AppState) -> Result<bool, ApiError> {
    let exists: i64 = cases::table.count().get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    let admin = crate::demo_lists::demo_admin(conn)?;
    db::write_tx(conn, |conn| seed_all(conn, state, &admin))?;
    Ok(true)
}

/// A published measure of the kind linked to the entry's scope item, if any.
fn measure_for(
    conn: &mut DbConnection,
    entry: &EntryRow,
    kind: CaseKind,
) -> Result<Option<i32>, ApiError> {
    Ok(four_list_links::table
        .inner_join(
            four_list_items::table.on(four_list_items::id.eq(four_list_links::measure_item_id)),
        )
        .filter(four_list_links::scope_item_id.eq(entry.scope_item_id))
        .filter(four_list_items::kind.eq(kind.measure_kind()))
        .filter(four_list_items::status.eq("published"))
        .order(four_list_items::id.asc())
        .select(four_list_items::id)
        .first(conn)
        .optional()?)
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
            let Some(measure) = measure_for(conn, &e, kind)? else {
                continue;
            };
            let subject: SubjectRow = subjects::table
                .find(e.subject_id)
                .select(SubjectRow::as_select())
                .first(conn)?;
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
                measure_item_ids: vec![measure],
                department_ids: vec![],
                field: match kind {
                    CaseKind::Punishment => "government_procurement".into(),
                    CaseKind::Reward => "administrative_licensing".into(),
                },
                case_date,
                summary: match kind {
                    CaseKind::Punishment => {
                        "在政府采购资格审查中核查发现其为失信主体，依法限制其参与。".into()
                    }
                    CaseKind::Reward => {
                        "办理行政许可时查询为守信主体，给予容缺受理、绿色通道。".into()
                    }
                },
                source_check_id: None,
            };
            let id = write_case(conn, state, admin, None, &input, (None, None, None))?;
            let row = find_case(conn, id)?.ok_or_else(|| ApiError::internal("case vanished"))?;
            crate::cases::handlers::audit_case(conn, state, admin, "case.create", None, &row)?;
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
    // The previous month is closed for the whole city.
    let first = today.with_day(1).unwrap_or(today);
    let prev = first - Duration::days(1);
    crate::stats::close_month(
        conn,
        admin,
        crate::auth::CITY_REGION,
        prev.year(),
        prev.month(),
    )?;
    tracing::info!(cases = made, "demo cases created");
    Ok(())
}
