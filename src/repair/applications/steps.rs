//! The review steps of a repair application (受理, 退回, 同意, 不同意, 备案, 确认, 退回部门, 撤回,
//! 重新提交): who may take each, from which state to which, and what completing a repair changes.

use actix_web::web;
use diesel::prelude::*;

use super::*;
use crate::auth::AuthUser;
use crate::auth::STAFF;
use crate::db::{self, DbConnection};
use crate::entries::store::audit_entry;
use crate::entries::{entry_view, find_entry, in_force_on, today, Disclosure, SubjectRow};
use crate::error::ApiError;
use crate::http::required_text;
use crate::schema::{
    list_entries, repair_documents, repair_service_records, repair_steps, repairs, subjects,
};
use crate::state::AppState;

pub(super) fn record_step(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: i32,
    action: &str,
    from: Option<&str>,
    to: &str,
    comment: Option<&str>,
) -> Result<(), ApiError> {
    diesel::insert_into(repair_steps::table)
        .values((
            repair_steps::repair_id.eq(id),
            repair_steps::action.eq(action),
            repair_steps::from_status.eq(from),
            repair_steps::to_status.eq(to),
            repair_steps::comment.eq(comment),
            repair_steps::actor_user_id.eq(user.id),
            repair_steps::at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Department,
    Bureau,
}

pub(crate) struct Step {
    pub(crate) action: &'static str,
    from: &'static [&'static str],
    to: &'static str,
    side: Side,
    pub(crate) comment_required: bool,
}

/// The review steps a reviewer takes (not the applicant's resubmission), by action name.
pub(crate) fn review_step(action: &str) -> Option<&'static Step> {
    [
        &ACCEPT, &RETURN, &APPROVE, &REFUSE, &FILE, &CONFIRM, &SEND_BACK,
    ]
    .into_iter()
    .find(|s| s.action == action)
}

pub(super) const ACCEPT: Step = Step {
    action: "accept",
    from: &["submitted"],
    to: "accepted",
    side: Side::Department,
    comment_required: false,
};
pub(super) const RETURN: Step = Step {
    action: "return",
    from: &["submitted"],
    to: "returned",
    side: Side::Department,
    comment_required: true,
};
pub(super) const APPROVE: Step = Step {
    action: "approve",
    from: &["accepted"],
    to: "approved",
    side: Side::Department,
    comment_required: false,
};
pub(super) const REFUSE: Step = Step {
    action: "refuse",
    from: &["accepted"],
    to: "refused",
    side: Side::Department,
    comment_required: true,
};
pub(super) const FILE: Step = Step {
    action: "file",
    from: &["approved"],
    to: "filed",
    side: Side::Department,
    comment_required: false,
};
pub(super) const CONFIRM: Step = Step {
    action: "confirm",
    from: &["filed"],
    to: "completed",
    side: Side::Bureau,
    comment_required: false,
};
pub(super) const SEND_BACK: Step = Step {
    action: "send_back",
    from: &["filed"],
    to: "sent_back",
    side: Side::Bureau,
    comment_required: true,
};
pub(super) const WITHDRAW: Step = Step {
    action: "withdraw",
    from: &[
        "submitted",
        "returned",
        "accepted",
        "approved",
        "refused",
        "sent_back",
    ],
    to: "withdrawn",
    side: Side::Department,
    comment_required: false,
};
pub(super) const RESUBMIT: Step = Step {
    action: "resubmit",
    from: &["returned", "refused", "sent_back"],
    to: "submitted",
    side: Side::Department,
    comment_required: false,
};

/// Runs one transition: authorise, check state and version, update conditionally, record the step,
/// audit, and (for confirm) complete the repair. `amend` is applied for resubmissions.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_step(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
    step: &'static Step,
    version: Option<i32>,
    comment: Option<String>,
    amend: Option<Resubmission>,
) -> Result<RepairView, ApiError> {
    apply_step_on(state, user, id, step, version, comment, amend, None).await
}

/// [`apply_step`], for the confirmation optionally of a repair completed on a past day
/// (`completed_on`, see `crate::backdating`): the entry is removed with that date and the
/// repair's `completed_at` is that day; the audit records are marked as back-dated.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_step_on(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
    step: &'static Step,
    version: Option<i32>,
    comment: Option<String>,
    amend: Option<Resubmission>,
    completed_on: Option<chrono::NaiveDate>,
) -> Result<RepairView, ApiError> {
    user.require(STAFF)?;
    if completed_on.is_some() && step.to != "completed" {
        return Err(ApiError::invalid_field(
            "completed_on",
            "not_applicable",
            "completed_on belongs to the confirmation only",
        ));
    }
    if let Some(d) = completed_on {
        let mut errors = Vec::new();
        crate::domain::dates::check_date(&mut errors, "completed_on", d);
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
    }
    let backdated = crate::backdating::effective_date(&user, "completed_on", completed_on)?;
    let comment = comment
        .map(|c| crate::pii::mask_id_numbers(c.trim().to_string()))
        .filter(|c| !c.is_empty());
    if step.comment_required && comment.is_none() {
        return Err(ApiError::invalid_field(
            "comment",
            "required",
            format!("{} needs the reasons in comment", step.action),
        ));
    }
    if comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
        return Err(ApiError::invalid_field(
            "comment",
            "too_long",
            "comment must have at most 2000 characters",
        ));
    }
    let limits = Limits::of(state);
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let _marker = crate::backdating::Marker::set("completed_on", backdated);
            let before = find(conn, id)?.ok_or_else(|| ApiError::not_found("repair application"))?;
            let permitted = match step.side {
                Side::Department => is_department_side(conn, &user, &before)?,
                Side::Bureau => is_bureau_side(&user, &before),
            };
            if !permitted {
                return Err(ApiError::forbidden(match step.side {
                    Side::Department => {
                        "this step belongs to the identifying department (or its bureau)"
                    }
                    Side::Bureau => "only a bureau of the entry's region (or the city bureau) confirms or sends back a filing",
                }));
            }
            if let Some(v) = version {
                if v != before.version {
                    return Err(ApiError::conflict(
                        "version_conflict",
                        format!(
                            "the application changed since version {v} (now {}): another reviewer has acted; reload it",
                            before.version
                        ),
                    ));
                }
            }
            if !step.from.contains(&before.status.as_str()) {
                return Err(ApiError::conflict(
                    "invalid_state",
                    format!(
                        "cannot {} an application that is {}",
                        step.action, before.status
                    ),
                ));
            }
            if let Some(d) = backdated {
                let submitted = crate::backdating::china_date(before.submitted_at);
                if d < submitted {
                    return Err(crate::backdating::precedes(
                        "completed_on",
                        "before_submission",
                        d,
                        &format!("the application's submission ({submitted})"),
                    ));
                }
            }
            let day = today();
            let deadline = match step.to {
                "submitted" => Some(crate::calendar::deadline(conn, day, limits.accept)?),
                "accepted" => Some(crate::calendar::deadline(conn, day, limits.decide)?),
                "approved" | "filed" => Some(crate::calendar::deadline(conn, day, limits.review)?),
                _ => None,
            };
            if let Some(a) = &amend {
                let subject: SubjectRow = subjects::table
                    .find(before.subject_id)
                    .select(SubjectRow::as_select())
                    .first(conn)?;
                let entry = find_entry(conn, before.entry_id)?
                    .ok_or_else(|| ApiError::internal("entry"))?;
                let old_docs: Vec<(i32, String)> = repair_documents::table
                    .filter(repair_documents::repair_id.eq(id))
                    .select((repair_documents::attachment_id, repair_documents::purpose))
                    .load(conn)?;
                let old_services: Vec<i32> = repair_service_records::table
                    .filter(repair_service_records::repair_id.eq(id))
                    .select(repair_service_records::service_record_id)
                    .load(conn)?;
                let pick = |p: &str| -> Vec<i32> {
                    old_docs
                        .iter()
                        .filter(|(_, q)| q == p)
                        .map(|(a, _)| *a)
                        .collect()
                };
                let mut errors = Vec::new();
                let grounds = match &a.grounds {
                    Some(g) => required_text(&mut errors, "grounds", g, 5000),
                    None => before.grounds.clone(),
                };
                if !errors.is_empty() {
                    return Err(ApiError::validation(errors));
                }
                let m = Materials {
                    grounds,
                    corrections: a
                        .correction_attachment_ids
                        .clone()
                        .unwrap_or_else(|| pick("correction")),
                    obligations: a
                        .obligation_attachment_ids
                        .clone()
                        .unwrap_or_else(|| pick("obligations")),
                    credit_reports: a
                        .credit_report_attachment_ids
                        .clone()
                        .unwrap_or_else(|| pick("credit_report")),
                    commitment_id: a.commitment_id.unwrap_or(before.commitment_id),
                    attendance_id: a.attendance_id.or(before.attendance_id),
                    service_record_ids: a.service_record_ids.clone().unwrap_or(old_services),
                    correction_date: a.correction_date.or(before.correction_date),
                };
                check_eligibility(conn, &user, &subject, &entry, &m, today())?;
                store_materials(conn, id, &m)?;
                diesel::update(repairs::table.find(id))
                    .set((
                        repairs::grounds.eq(&m.grounds),
                        repairs::commitment_id.eq(m.commitment_id),
                        repairs::correction_date.eq(m.correction_date),
                        repairs::attendance_id.eq(m.attendance_id),
                    ))
                    .execute(conn)?;
            }
            let now = db::now();
            let changed = diesel::update(
                repairs::table
                    .filter(repairs::id.eq(id))
                    .filter(repairs::status.eq(&before.status))
                    .filter(repairs::version.eq(before.version)),
            )
            .set((
                repairs::status.eq(step.to),
                repairs::version.eq(before.version + 1),
                repairs::deadline.eq(deadline),
                repairs::updated_at.eq(now),
                repairs::completed_at.eq(if step.to == "completed" {
                    Some(backdated.map_or(now, crate::backdating::instant))
                } else {
                    None
                }),
            ))
            .execute(conn)?;
            if changed != 1 {
                return Err(ApiError::conflict(
                    "version_conflict",
                    "another reviewer has acted on this application; reload it",
                ));
            }
            record_step(
                conn,
                &user,
                id,
                step.action,
                Some(&before.status),
                step.to,
                comment.as_deref(),
            )?;
            if step.to == "completed" {
                complete(conn, &st, &user, &before, backdated.unwrap_or(day))?;
            }
            let after = find(conn, id)?.ok_or_else(|| ApiError::internal("vanished"))?;
            audit_repair(
                conn,
                &st,
                &user,
                &format!("repair.{}", step.action),
                Some(&before),
                &after,
            )?;
            full_view(conn, &st, &user, after)
        })
    })
    .await
}

/// The bureau confirmed: the entry leaves the list (reason `repaired`, removal date `day`: today,
/// or the back-dated completion day), watchers are told, and the province is fed
/// (`list_entry.removed` through `audit_entry`, then `repair.completed`) — all in the confirming
/// transaction.
pub(super) fn complete(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    r: &RepairRow,
    day: chrono::NaiveDate,
) -> Result<(), ApiError> {
    let before = find_entry(conn, r.entry_id)?.ok_or_else(|| ApiError::internal("entry"))?;
    if before.status != "published" {
        return Err(ApiError::conflict(
            "entry_not_in_force",
            "the entry is no longer in force (expired or removed meanwhile); send the filing back",
        ));
    }
    if !in_force_on(&before, day) {
        if day < today() {
            return Err(ApiError::invalid_field(
                "completed_on",
                "not_in_force",
                format!(
                    "the entry was not in force on {day} (valid from {} until {})",
                    before.valid_from, before.valid_until
                ),
            ));
        }
        return Err(ApiError::conflict(
            "entry_not_in_force",
            "the entry is no longer in force (expired or removed meanwhile); send the filing back",
        ));
    }
    let now = db::now();
    diesel::update(list_entries::table.find(r.entry_id))
        .set((
            list_entries::status.eq("removed"),
            list_entries::removal_reason.eq("repaired"),
            list_entries::removal_date.eq(day),
            list_entries::removal_note.eq(format!("信用修复申请 #{} 经审查确认", r.id)),
            list_entries::removed_at.eq(now),
            list_entries::updated_at.eq(now),
        ))
        .execute(conn)?;
    let after = find_entry(conn, r.entry_id)?.ok_or_else(|| ApiError::internal("entry"))?;
    audit_entry(
        conn,
        state,
        user,
        "list_entry.remove",
        Some(&before),
        &after,
    )?;
    crate::checks::watches::notify(conn, &after, crate::checks::watches::WatchEvent::Removed)?;
    // `audit_entry` above queued the `list_entry.removed` feed event.
    let view = entry_view(conn, &state.pii, &after, Disclosure::Full, day)?;
    crate::feed::enqueue_with(
        conn,
        &state.pii,
        crate::feed::Event {
            event_type: crate::feed::EventType::RepairCompleted,
            entity_type: "repair",
            entity_id: r.id.to_string(),
            region_code: Some(&r.region_code),
            department_id: Some(r.department_id),
            payload: &serde_json::json!({
                "repair_id": r.id,
                "entry_id": r.entry_id,
                "subject": view.subject,
                "commitment_id": r.commitment_id,
                "completed_on": day,
            }),
        },
    )?;
    Ok(())
}
