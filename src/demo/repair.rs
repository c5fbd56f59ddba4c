//! Demo data for credit repair (`serve --demo`): published commitment templates, signed letters
//! (one with a breach), training sessions with attendance, public-service records, proof documents,
//! and one repair application in every state — the completed one has removed its entry exactly as
//! a confirmation through the API does (reason `repaired`, feed events).

use diesel::prelude::*;

use crate::audit::{self, Entry};
use crate::auth::AuthUser;
use crate::db::{self, DbConnection};
use crate::entries::{find_entry, today, EntryRow};
use crate::error::ApiError;
use crate::four_lists::VersionRow;
use crate::schema::{
    attachments, commitment_breaches, commitment_template_versions as versions,
    commitment_templates, commitments, four_list_item_versions, list_entries, repair_documents,
    repair_service_records, repair_steps, repairs, service_records, subjects, training_attendance,
    training_sessions,
};
use crate::state::AppState;

const DEMO_PDF: &[u8] = b"%PDF-1.4\n% credit-lists demo proof document\n%%EOF\n";

/// The states shown, in the order applications are made, with the steps that led there.
const STATES: [(&str, &[&str]); 9] = [
    ("submitted", &["submit"]),
    ("returned", &["submit", "return"]),
    ("accepted", &["submit", "accept"]),
    ("approved", &["submit", "accept", "approve"]),
    ("refused", &["submit", "accept", "refuse"]),
    ("filed", &["submit", "accept", "approve", "file"]),
    (
        "sent_back",
        &["submit", "accept", "approve", "file", "send_back"],
    ),
    (
        "completed",
        &["submit", "accept", "approve", "file", "confirm"],
    ),
    ("withdrawn", &["submit", "withdraw"]),
];

fn to_status(action: &str) -> &'static str {
    match action {
        "submit" | "resubmit" => "submitted",
        "return" => "returned",
        "accept" => "accepted",
        "approve" => "approved",
        "refuse" => "refused",
        "file" => "filed",
        "send_back" => "sent_back",
        "confirm" => "completed",
        _ => "withdrawn",
    }
}

fn comment(action: &str) -> Option<&'static str> {
    match action {
        "return" => Some("缺少履行法定义务的证明材料"),
        "refuse" => Some("整改情况核查不到位"),
        "send_back" => Some("信用承诺书未在网站公示"),
        "approve" => Some("材料齐全，同意修复"),
        _ => None,
    }
}

/// Seeds once (inside the demo seed's transaction); does nothing when templates exist.
pub fn seed(conn: &mut DbConnection, state: &AppState, admin: &AuthUser) -> Result<(), ApiError> {
    let have: i64 = commitment_templates::table.count().get_result(conn)?;
    if have > 0 {
        return Ok(());
    }
    let now = db::now();
    let day = today();
    // Black entries in force, repairable and past their minimum period: candidates.
    let rows: Vec<(EntryRow, VersionRow)> = list_entries::table
        .inner_join(
            four_list_item_versions::table.on(four_list_item_versions::item_id
                .eq(list_entries::scope_item_id)
                .and(four_list_item_versions::version.eq(list_entries::scope_item_version))),
        )
        .filter(list_entries::list_type.eq("black"))
        .filter(list_entries::status.eq("published"))
        .filter(list_entries::objection_open.eq(false))
        .filter(four_list_item_versions::repairable.eq(true))
        .order(list_entries::id)
        .select((EntryRow::as_select(), VersionRow::as_select()))
        .load(conn)?;
    let mut picked: Vec<EntryRow> = Vec::new();
    for (e, v) in rows {
        if crate::entries::in_force_on(&e, day)
            && crate::repair::applications::earliest_repair_date(&e, &v, None)
                .is_some_and(|earliest| day >= earliest)
            && !picked.iter().any(|p| p.subject_id == e.subject_id)
        {
            picked.push(e);
        }
        if picked.len() == STATES.len() {
            break;
        }
    }
    let mut templates = std::collections::HashMap::new();
    let departments: std::collections::BTreeSet<i32> = picked
        .iter()
        .map(|e| e.department_id)
        .chain([42]) // 市市场监督管理局: 告知承诺 templates
        .collect();
    for d in departments {
        for (purpose, title, body) in [
            ("repair", "信用修复承诺书", "本单位（本人）郑重承诺：已纠正失信行为、消除不良影响，履行相关法定义务；自觉接受监督，今后依法诚信经营。如违反承诺，愿意承担相应法律责任并接受联合惩戒。"),
            ("pre_licensing", "告知承诺书", "申请人承诺：所填报信息及提交材料真实、准确、完整，符合许可条件；如有虚假承诺，愿意承担相应法律责任，同意将失信信息记入信用记录。"),
        ] {
            let id = published_template(conn, admin, d, (purpose, title, body))?;
            if purpose == "repair" {
                templates.insert(d, (id, body));
            }
        }
    }
    let mut sessions = std::collections::HashMap::new();
    for (i, (state_name, steps)) in STATES.iter().enumerate() {
        let Some(e) = picked.get(i) else { break };
        let kind: String = subjects::table
            .find(e.subject_id)
            .select(subjects::kind)
            .first(conn)?;
        let (template, body) = templates[&e.department_id];
        let commitment: i32 = diesel::insert_into(commitments::table)
            .values((
                commitments::subject_id.eq(e.subject_id),
                commitments::template_id.eq(template),
                commitments::template_version.eq(1),
                commitments::purpose.eq("repair"),
                commitments::department_id.eq(e.department_id),
                commitments::region_code.eq(&e.region_code),
                commitments::signatory
                    .eq(e.legal_representative.as_deref().unwrap_or(&e.subject_name)),
                commitments::signed_at.eq(now),
                commitments::text_snapshot.eq(body),
                commitments::text_sha256.eq(crate::repair::sha256_hex(body.as_bytes())),
                commitments::recorded_by.eq(admin.id),
                commitments::created_at.eq(now),
            ))
            .returning(commitments::id)
            .get_result(conn)?;
        if i == 0 {
            diesel::insert_into(commitment_breaches::table)
                .values((
                    commitment_breaches::commitment_id.eq(commitment),
                    commitment_breaches::department_id.eq(e.department_id),
                    commitment_breaches::breach_date.eq(day),
                    commitment_breaches::facts.eq("承诺整改期间再次发生同类违法行为"),
                    commitment_breaches::recorded_by.eq(admin.id),
                    commitment_breaches::created_at.eq(now),
                ))
                .execute(conn)?;
        }
        let (attendance, services) = if kind == "individual" {
            let s: i32 = diesel::insert_into(service_records::table)
                .values((
                    service_records::subject_id.eq(e.subject_id),
                    service_records::kind.eq("volunteer"),
                    service_records::organisation.eq("通化市志愿服务联合会"),
                    service_records::hours.eq(24.0),
                    service_records::service_date.eq(day),
                    service_records::proof_reference.eq(format!("ZYFW-2026-{:04}", i + 1)),
                    service_records::department_id.eq(e.department_id),
                    service_records::region_code.eq(&e.region_code),
                    service_records::recorded_by.eq(admin.id),
                    service_records::created_at.eq(now),
                ))
                .returning(service_records::id)
                .get_result(conn)?;
            (None, vec![s])
        } else {
            let session = match sessions.get(&e.department_id) {
                Some(s) => *s,
                None => {
                    let s: i32 = diesel::insert_into(training_sessions::table)
                        .values((
                            training_sessions::department_id.eq(e.department_id),
                            training_sessions::region_code.eq(&e.region_code),
                            training_sessions::session_date.eq(day),
                            training_sessions::form.eq("offline"),
                            training_sessions::topic.eq("失信企业信用修复专题培训"),
                            training_sessions::hours.eq(3.0),
                            training_sessions::created_by.eq(admin.id),
                            training_sessions::created_at.eq(now),
                        ))
                        .returning(training_sessions::id)
                        .get_result(conn)?;
                    sessions.insert(e.department_id, s);
                    s
                }
            };
            let a: i32 = diesel::insert_into(training_attendance::table)
                .values((
                    training_attendance::session_id.eq(session),
                    training_attendance::subject_id.eq(e.subject_id),
                    training_attendance::attendee_name
                        .eq(e.legal_representative.as_deref().unwrap_or("法定代表人")),
                    training_attendance::completed.eq(true),
                    training_attendance::certificate_number.eq(format!("XYPX-2026-{:04}", i + 1)),
                    training_attendance::recorded_by.eq(admin.id),
                    training_attendance::created_at.eq(now),
                    training_attendance::updated_at.eq(now),
                ))
                .returning(training_attendance::id)
                .get_result(conn)?;
            (Some(a), vec![])
        };
        let status = to_status(steps.last().copied().unwrap_or("submit"));
        debug_assert_eq!(status, *state_name);
        let id: i32 = diesel::insert_into(repairs::table)
            .values((
                repairs::subject_id.eq(e.subject_id),
                repairs::entry_id.eq(e.id),
                repairs::department_id.eq(e.department_id),
                repairs::region_code.eq(&e.region_code),
                repairs::status.eq(status),
                repairs::grounds.eq("已纠正失信行为，履行了法定义务，申请信用修复"),
                repairs::commitment_id.eq(commitment),
                repairs::attendance_id.eq(attendance),
                repairs::version.eq(steps.len() as i32),
                repairs::deadline.eq(match status {
                    "submitted" => Some(crate::calendar::deadline(conn, day, 2)?),
                    "accepted" => Some(crate::calendar::deadline(conn, day, 10)?),
                    "approved" | "filed" => Some(crate::calendar::deadline(conn, day, 3)?),
                    _ => None,
                }),
                repairs::submitted_at.eq(now),
                repairs::updated_at.eq(now),
                repairs::completed_at.eq((status == "completed").then_some(now)),
                repairs::created_by.eq(admin.id),
            ))
            .returning(repairs::id)
            .get_result(conn)?;
        for (purpose, name) in [
            ("correction", "整改报告.pdf"),
            ("obligations", "履行义务证明.pdf"),
        ] {
            let a: i32 = diesel::insert_into(attachments::table)
                .values((
                    attachments::filename.eq(name),
                    attachments::content_type.eq("application/pdf"),
                    attachments::size_bytes.eq(DEMO_PDF.len() as i64),
                    attachments::sha256.eq(crate::repair::sha256_hex(DEMO_PDF)),
                    attachments::content.eq(DEMO_PDF),
                    attachments::department_id.eq(e.department_id),
                    attachments::region_code.eq(&e.region_code),
                    attachments::uploaded_by.eq(admin.id),
                    attachments::created_at.eq(now),
                ))
                .returning(attachments::id)
                .get_result(conn)?;
            diesel::insert_into(repair_documents::table)
                .values((
                    repair_documents::repair_id.eq(id),
                    repair_documents::attachment_id.eq(a),
                    repair_documents::purpose.eq(purpose),
                ))
                .execute(conn)?;
        }
        for s in services {
            diesel::insert_into(repair_service_records::table)
                .values((
                    repair_service_records::repair_id.eq(id),
                    repair_service_records::service_record_id.eq(s),
                ))
                .execute(conn)?;
        }
        let mut from: Option<&str> = None;
        for action in steps.iter() {
            let to = to_status(action);
            diesel::insert_into(repair_steps::table)
                .values((
                    repair_steps::repair_id.eq(id),
                    repair_steps::action.eq(*action),
                    repair_steps::from_status.eq(from),
                    repair_steps::to_status.eq(to),
                    repair_steps::comment.eq(comment(action)),
                    repair_steps::actor_user_id.eq(admin.id),
                    repair_steps::at.eq(now),
                ))
                .execute(conn)?;
            from = Some(to);
        }
        if status == "completed" {
            let before = find_entry(conn, e.id)?.ok_or_else(|| ApiError::internal("entry"))?;
            diesel::update(list_entries::table.find(e.id))
                .set((
                    list_entries::status.eq("removed"),
                    list_entries::removal_reason.eq("repaired"),
                    list_entries::removal_date.eq(day),
                    list_entries::removal_note.eq(format!("信用修复申请 #{id} 经审查确认")),
                    list_entries::removed_at.eq(now),
                    list_entries::updated_at.eq(now),
                ))
                .execute(conn)?;
            let after = find_entry(conn, e.id)?.ok_or_else(|| ApiError::internal("entry"))?;
            crate::entries::store::audit_entry(
                conn,
                state,
                admin,
                "list_entry.remove",
                Some(&before),
                &after,
            )?;
            crate::feed::enqueue_with(
                conn,
                &state.pii,
                crate::feed::Event {
                    event_type: crate::feed::EventType::RepairCompleted,
                    entity_type: "repair",
                    entity_id: id.to_string(),
                    region_code: Some(&e.region_code),
                    department_id: Some(e.department_id),
                    payload: &serde_json::json!({"repair_id": id, "entry_id": e.id, "completed_on": day}),
                },
            )?;
        }
        audit::append(
            conn,
            &admin.actor(),
            Entry::new("repair.demo_seed", "repair", id)
                .region(Some(e.region_code.clone()))
                .department(Some(e.department_id))
                .after(&serde_json::json!({"status": status, "entry_id": e.id})),
        )?;
    }
    county_repair_work(conn, admin)
}

/// Counties whose credit office (the county 政务服务和数字化局) ran repair training and collected
/// repair commitment letters (信用修复承诺书) from the year's black-listed enterprises, with the share
/// of those enterprises reached (trained %, committed %): one meets both goals (100% / 30%), one
/// meets the commitment goal only, one neither; the others did no such work.
const COUNTY_REPAIR_WORK: &[(&str, i32, i64, i64)] = &[
    ("220524", 6, 100, 45),
    ("220502", 2, 60, 35),
    ("220581", 7, 80, 20),
];

const COUNTY_COMMITMENT: &str = "本企业郑重承诺：已参加信用修复专题培训，已纠正失信行为并履行相关法定义务；今后依法诚信经营，自觉接受社会监督。如违反承诺，愿意承担相应法律责任。";

fn county_repair_work(conn: &mut DbConnection, admin: &AuthUser) -> Result<(), ApiError> {
    use chrono::Datelike;
    let now = db::now();
    let day = today();
    let year_start = day.with_ordinal(1).unwrap_or(day);
    for &(region, bureau, trained_pct, committed_pct) in COUNTY_REPAIR_WORK {
        // The year's black-listed enterprises of the county (the targets' population).
        let population: Vec<(i32, Option<String>)> = list_entries::table
            .inner_join(subjects::table)
            .filter(subjects::kind.eq("enterprise"))
            .filter(list_entries::region_code.eq(region))
            .filter(list_entries::list_type.eq("black"))
            .filter(list_entries::status.ne("draft"))
            .filter(list_entries::valid_from.le(day))
            .filter(list_entries::valid_until.ge(year_start))
            .order(list_entries::subject_id.asc())
            .select((list_entries::subject_id, list_entries::legal_representative))
            .load(conn)?;
        let mut seen = std::collections::BTreeMap::new();
        for (s, rep) in population {
            seen.entry(s).or_insert(rep);
        }
        let n = seen.len() as i64;
        let trained = (n * trained_pct + 99) / 100;
        let committed = (n * committed_pct + 99) / 100;
        let session: i32 = diesel::insert_into(training_sessions::table)
            .values((
                training_sessions::department_id.eq(bureau),
                training_sessions::region_code.eq(region),
                training_sessions::session_date.eq(day - chrono::Duration::days(7)),
                training_sessions::form.eq("offline"),
                training_sessions::topic.eq("失信企业信用修复集中培训"),
                training_sessions::hours.eq(4.0),
                training_sessions::created_by.eq(admin.id),
                training_sessions::created_at.eq(now),
            ))
            .returning(training_sessions::id)
            .get_result(conn)?;
        let template = published_template(
            conn,
            admin,
            bureau,
            ("repair", "信用修复承诺书", COUNTY_COMMITMENT),
        )?;
        for (i, (subject, rep)) in seen.iter().enumerate() {
            let i = i as i64;
            let signatory = rep.as_deref().unwrap_or("法定代表人");
            if i < trained {
                diesel::insert_into(training_attendance::table)
                    .values((
                        training_attendance::session_id.eq(session),
                        training_attendance::subject_id.eq(subject),
                        training_attendance::attendee_name.eq(signatory),
                        training_attendance::completed.eq(true),
                        training_attendance::certificate_number
                            .eq(format!("XYPX-{region}-{:04}", i + 1)),
                        training_attendance::recorded_by.eq(admin.id),
                        training_attendance::created_at.eq(now),
                        training_attendance::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            if i < committed {
                diesel::insert_into(commitments::table)
                    .values((
                        commitments::subject_id.eq(subject),
                        commitments::template_id.eq(template),
                        commitments::template_version.eq(1),
                        commitments::purpose.eq("repair"),
                        commitments::department_id.eq(bureau),
                        commitments::region_code.eq(region),
                        commitments::signatory.eq(signatory),
                        commitments::signed_at.eq(now),
                        commitments::text_snapshot.eq(COUNTY_COMMITMENT),
                        commitments::text_sha256
                            .eq(crate::repair::sha256_hex(COUNTY_COMMITMENT.as_bytes())),
                        commitments::recorded_by.eq(admin.id),
                        commitments::created_at.eq(now),
                    ))
                    .execute(conn)?;
            }
        }
        audit::append(
            conn,
            &admin.actor(),
            Entry::new("repair.demo_county_work", "region", region)
                .region(Some(region.to_string()))
                .department(Some(bureau))
                .after(&serde_json::json!({"session_id": session, "template_id": template, "trained": trained, "committed": committed})),
        )?;
    }
    Ok(())
}

/// A commitment-letter template of `department`, published at version 1; returns its id.
fn published_template(
    conn: &mut DbConnection,
    admin: &AuthUser,
    department: i32,
    (purpose, title, body): (&str, &str, &str),
) -> Result<i32, ApiError> {
    let now = db::now();
    let id: i32 = diesel::insert_into(commitment_templates::table)
        .values((
            commitment_templates::department_id.eq(department),
            commitment_templates::purpose.eq(purpose),
            commitment_templates::status.eq("published"),
            commitment_templates::latest_version.eq(1),
            commitment_templates::published_version.eq(1),
            commitment_templates::created_at.eq(now),
            commitment_templates::updated_at.eq(now),
            commitment_templates::published_at.eq(now),
        ))
        .returning(commitment_templates::id)
        .get_result(conn)?;
    diesel::insert_into(versions::table)
        .values((
            versions::template_id.eq(id),
            versions::version.eq(1),
            versions::title.eq(title),
            versions::body.eq(body),
            versions::created_at.eq(now),
            versions::created_by.eq(admin.id),
            versions::published_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}
