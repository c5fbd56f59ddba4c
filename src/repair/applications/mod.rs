//! Credit-repair applications (信用修复申请) and their two-level review.
//!
//! ```text
//! submitted ──accept──▶ accepted ──approve──▶ approved ──file──▶ filed ──confirm──▶ completed
//!     │                    │                                     │
//!     └─return─▶ returned  └─refuse─▶ refused                    └─send-back─▶ sent_back
//! returned / refused / sent_back ──resubmit──▶ submitted;  any open state ──withdraw──▶ withdrawn
//! ```
//!
//! Every transition is one conditional update (`WHERE status = … AND version = …`) inside an
//! audited write transaction: of two reviewers acting at once exactly one succeeds, the other gets
//! 409 and nothing changes. Confirmation removes the entry (reason `repaired`), notifies watchers
//! and queues feed events in the same transaction.

use actix_web::web;
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::attachments::{self, AttachmentView};
use super::commitments::{self, CommitmentView};
use super::training::{self, AttendanceView, ServiceView};
use crate::audit::{self, Entry};
use crate::auth::STAFF;
use crate::auth::{AuthUser, Role};
use crate::db::{self, DbConnection};
use crate::entries::{
    entry_view, find_entry, subject_ref, today, Disclosure, EntryRow, EntryView, SubjectRef,
    SubjectRow,
};
use crate::error::ApiError;
use crate::four_lists::VersionRow;
use crate::http::{required_text, Page, PageQuery};
use crate::schema::{
    departments, four_list_item_versions, list_entries, repair_documents, repair_service_records,
    repair_steps, repairs, subjects,
};
use crate::state::AppState;

mod eligibility;
pub mod handlers;
mod steps;

pub use eligibility::earliest_repair_date;
use eligibility::{check_eligibility, store_materials, Materials};
use steps::record_step;
pub(crate) use steps::{apply_step, review_step};

/// States in which an application is still open (one per entry at a time).
pub(crate) const OPEN: [&str; 7] = [
    "submitted",
    "returned",
    "accepted",
    "approved",
    "refused",
    "filed",
    "sent_back",
];

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = repairs)]
pub struct RepairRow {
    pub id: i32,
    pub subject_id: i32,
    pub entry_id: i32,
    pub department_id: i32,
    pub region_code: String,
    pub status: String,
    pub grounds: String,
    pub commitment_id: i32,
    pub attendance_id: Option<i32>,
    pub version: i32,
    pub deadline: Option<NaiveDate>,
    #[serde(with = "crate::http::utc")]
    pub submitted_at: chrono::NaiveDateTime,
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
    #[serde(default, with = "crate::http::utc::option")]
    pub completed_at: Option<chrono::NaiveDateTime>,
    pub created_by: i32,
    pub correction_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = repair_steps)]
pub struct StepView {
    pub id: i32,
    #[serde(skip)]
    pub repair_id: i32,
    /// `submit`, `accept`, `return`, `approve`, `refuse`, `file`, `confirm`, `send_back`,
    /// `resubmit`, `withdraw`.
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub comment: Option<String>,
    pub actor_user_id: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub at: chrono::NaiveDateTime,
}

/// A proof document of an application.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    /// `correction` (proof the conduct is corrected), `obligations` (proof the legal obligations
    /// are fulfilled) or `credit_report` (信用报告).
    pub purpose: String,
    pub attachment: AttachmentView,
}

/// A line of the review queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepairSummary {
    pub id: i32,
    pub status: String,
    /// Send it back as `If-Match` (or `version`) with the next action.
    pub version: i32,
    pub subject: SubjectRef,
    pub entry_id: i32,
    pub department_id: i32,
    pub region_code: String,
    /// The last working day for the next step (none once decided or waiting for the applicant).
    #[schema(value_type = Option<String>, format = Date)]
    pub deadline: Option<NaiveDate>,
    pub overdue: bool,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub submitted_at: chrono::NaiveDateTime,
}

/// The scope item version the entry cites, with its repair rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeRules {
    pub item_id: i32,
    pub version: i32,
    pub title: String,
    pub severity: Option<String>,
    pub repairable: Option<bool>,
    pub repair_after_months: Option<i32>,
    /// The item's standard makes repair training a condition of repair.
    pub repair_requires_training: Option<bool>,
    /// Black-list scope items: the standard asks for a credit report (信用报告) among the repair
    /// materials (default false).
    pub repair_requires_credit_report: Option<bool>,
    /// `determination` or `correction`: the day `repair_after_months` counts from.
    pub repair_waiting_from: Option<crate::four_lists::WaitingFrom>,
    /// The first day the entry may be repaired under this standard (with the application's
    /// correction date where the waiting period counts from it).
    #[schema(value_type = Option<String>, format = Date)]
    pub earliest_repair_date: Option<NaiveDate>,
}

/// Everything a reviewer needs on one page.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepairView {
    #[serde(flatten)]
    pub summary: RepairSummary,
    pub grounds: String,
    pub entry: EntryView,
    pub scope_item: ScopeRules,
    /// The subject's other red and black entries (any state).
    pub other_entries: Vec<EntryView>,
    pub commitment: CommitmentView,
    pub training: Option<AttendanceView>,
    pub service_records: Vec<ServiceView>,
    pub documents: Vec<DocumentView>,
    pub history: Vec<StepView>,
    /// What the caller may do now.
    pub allowed_actions: Vec<String>,
    /// 纠正失信行为之日: the day the subject corrected its conduct, as the application states it.
    #[schema(value_type = Option<String>, format = Date)]
    pub correction_date: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub completed_at: Option<chrono::NaiveDateTime>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRepair {
    pub subject_code: String,
    /// The black-list entry to repair (published, in force, of this subject).
    pub entry_id: i32,
    /// 申请理由: what was corrected and how.
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub grounds: String,
    /// Proof the conduct is corrected (attachment ids, at least one).
    pub correction_attachment_ids: Vec<i32>,
    /// Proof the legal obligations are fulfilled (attachment ids, at least one).
    pub obligation_attachment_ids: Vec<i32>,
    /// A credit report (信用报告): required where the entry's standard asks for one
    /// (`repair_requires_credit_report`), kept with the application otherwise.
    #[serde(default)]
    pub credit_report_attachment_ids: Vec<i32>,
    /// The subject's signed `repair` commitment letter.
    pub commitment_id: i32,
    /// A completed repair-training attendance of the subject (required for organisations; for
    /// individuals this or `service_record_ids`).
    pub attendance_id: Option<i32>,
    /// Public-service records of the subject (individuals).
    #[serde(default)]
    pub service_record_ids: Vec<i32>,
    /// 纠正失信行为之日: the day the subject corrected its conduct (not in the future, not before
    /// the determination). Required where the entry's standard counts the waiting period from
    /// the correction (`repair_waiting_from: correction`); recorded otherwise.
    #[schema(value_type = Option<String>, format = Date)]
    pub correction_date: Option<NaiveDate>,
    /// The day the application was really submitted, when recording the past (补录); default
    /// today. A past day only for admins and bureaus (else 403 `backdating_not_allowed`); not in
    /// the future, not before 2019-01-01, not before the entry's determination date nor its
    /// earliest repair date, and the entry in force that day (422 naming `submitted_on`).
    #[schema(value_type = Option<String>, format = Date)]
    pub submitted_on: Option<NaiveDate>,
}

/// Amendments on resubmission; what is left out stays as it was.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resubmission {
    pub version: Option<i32>,
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub grounds: Option<String>,
    pub correction_attachment_ids: Option<Vec<i32>>,
    pub obligation_attachment_ids: Option<Vec<i32>>,
    pub credit_report_attachment_ids: Option<Vec<i32>>,
    pub commitment_id: Option<i32>,
    pub attendance_id: Option<i32>,
    pub service_record_ids: Option<Vec<i32>>,
    #[schema(value_type = Option<String>, format = Date)]
    pub correction_date: Option<NaiveDate>,
}

/// The bureau's confirmation of a filing (确认), optionally of a repair completed on a past day.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    /// The version the reviewer acted on (or send it as `If-Match`). A stale version → 409.
    pub version: Option<i32>,
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
    /// The day the repair was really completed, when recording the past (补录); default today.
    /// The entry is removed with that date and the repair's `completed_at` is that day. Not in
    /// the future, not before 2019-01-01, not before the application's submission day, and the
    /// entry in force that day (422 naming `completed_on`). Audited as back-dated.
    #[schema(value_type = Option<String>, format = Date)]
    pub completed_on: Option<NaiveDate>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// The version the reviewer acted on (or send it as `If-Match`). A stale version → 409.
    pub version: Option<i32>,
    /// Required when returning, refusing or sending back.
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RepairFilter {
    /// One status, or `open` for every status in which the application is still open
    /// (`submitted`, `returned`, `accepted`, `approved`, `refused`, `filed`, `sent_back`).
    #[param(
        pattern = "^(open|submitted|returned|accepted|approved|refused|filed|sent_back|completed|withdrawn)$"
    )]
    pub status: Option<String>,
    pub region: Option<String>,
    pub department: Option<i32>,
    /// Only applications past their deadline.
    pub overdue: Option<bool>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

/// Working-day limits of each step (configurable: `repair_accept_days`, `repair_decide_days`,
/// `repair_review_days`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub accept: u32,
    pub decide: u32,
    pub review: u32,
}

impl Limits {
    fn of(state: &AppState) -> Limits {
        Limits {
            accept: state.settings.repair_accept_days,
            decide: state.settings.repair_decide_days,
            review: state.settings.repair_review_days,
        }
    }
}

pub fn find(conn: &mut DbConnection, id: i32) -> Result<Option<RepairRow>, ApiError> {
    Ok(repairs::table
        .find(id)
        .select(RepairRow::as_select())
        .first(conn)
        .optional()?)
}

fn department_region(conn: &mut DbConnection, id: i32) -> Result<String, ApiError> {
    Ok(departments::table
        .find(id)
        .select(departments::region_code)
        .first(conn)?)
}

/// The identifying department's side: its officers, and bureaus covering its region.
fn is_department_side(
    conn: &mut DbConnection,
    user: &AuthUser,
    r: &RepairRow,
) -> Result<bool, ApiError> {
    let region = department_region(conn, r.department_id)?;
    Ok(user.role != Role::Admin && user.may_manage_department(r.department_id, &region))
}

/// The bureau side: a bureau account covering the entry's region (the city bureau: all).
fn is_bureau_side(user: &AuthUser, r: &RepairRow) -> bool {
    user.role == Role::Bureau && user.covers_region(&r.region_code)
}

fn may_view(conn: &mut DbConnection, user: &AuthUser, r: &RepairRow) -> Result<bool, ApiError> {
    Ok(user.role == Role::Admin
        || is_bureau_side(user, r)
        || super::may_see(user, r.department_id, &r.region_code)
        || is_department_side(conn, user, r)?)
}

fn allowed_actions(
    conn: &mut DbConnection,
    user: &AuthUser,
    r: &RepairRow,
) -> Result<Vec<String>, ApiError> {
    let dept = is_department_side(conn, user, r)?;
    let bureau = is_bureau_side(user, r);
    let mut out = Vec::new();
    let mut add = |ok: bool, a: &str| {
        if ok {
            out.push(a.to_string());
        }
    };
    match r.status.as_str() {
        "submitted" => {
            add(dept, "accept");
            add(dept, "return");
        }
        "accepted" => {
            add(dept, "approve");
            add(dept, "refuse");
        }
        "approved" => add(dept, "file"),
        "filed" => {
            add(bureau, "confirm");
            add(bureau, "send_back");
        }
        "returned" | "refused" | "sent_back" => add(dept, "resubmit"),
        _ => {}
    }
    if OPEN.contains(&r.status.as_str()) && r.status != "filed" {
        add(dept, "withdraw");
    }
    Ok(out)
}

fn summary(
    conn: &mut DbConnection,
    state: &AppState,
    r: &RepairRow,
    d: Disclosure,
) -> Result<RepairSummary, ApiError> {
    let s: SubjectRow = subjects::table
        .find(r.subject_id)
        .select(SubjectRow::as_select())
        .first(conn)?;
    Ok(RepairSummary {
        id: r.id,
        status: r.status.clone(),
        version: r.version,
        subject: subject_ref(&s, &state.pii, d)?,
        entry_id: r.entry_id,
        department_id: r.department_id,
        region_code: r.region_code.clone(),
        deadline: r.deadline,
        overdue: r.deadline.is_some_and(|dl| today() > dl),
        submitted_at: r.submitted_at,
    })
}

fn full_view(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    r: RepairRow,
) -> Result<RepairView, ApiError> {
    let day = today();
    let entry = find_entry(conn, r.entry_id)?.ok_or_else(|| ApiError::internal("entry"))?;
    let v: VersionRow = four_list_item_versions::table
        .find((entry.scope_item_id, entry.scope_item_version))
        .select(VersionRow::as_select())
        .first(conn)?;
    let others: Vec<EntryRow> = list_entries::table
        .filter(list_entries::subject_id.eq(r.subject_id))
        .filter(list_entries::id.ne(r.entry_id))
        .filter(list_entries::status.ne("draft"))
        .order(list_entries::id)
        .select(EntryRow::as_select())
        .load(conn)?;
    let other_entries = others
        .iter()
        .map(|e| entry_view(conn, &state.pii, e, Disclosure::Full, day))
        .collect::<Result<Vec<_>, _>>()?;
    let c = commitments::find(conn, r.commitment_id)?
        .ok_or_else(|| ApiError::internal("commitment"))?;
    let commitment = commitments::view(conn, state, c, Disclosure::Full)?;
    let training = match r.attendance_id {
        Some(a) => training::attendance_for(conn, state, a)?,
        None => None,
    };
    let service_ids: Vec<i32> = repair_service_records::table
        .filter(repair_service_records::repair_id.eq(r.id))
        .select(repair_service_records::service_record_id)
        .load(conn)?;
    let service_records = training::services_for(conn, state, &service_ids)?;
    let docs: Vec<(i32, String)> = repair_documents::table
        .filter(repair_documents::repair_id.eq(r.id))
        .order(repair_documents::attachment_id)
        .select((repair_documents::attachment_id, repair_documents::purpose))
        .load(conn)?;
    let mut documents = Vec::new();
    for (aid, purpose) in docs {
        if let Some(m) = attachments::find_meta(conn, aid)? {
            documents.push(DocumentView {
                purpose,
                attachment: m.into(),
            });
        }
    }
    let history: Vec<StepView> = repair_steps::table
        .filter(repair_steps::repair_id.eq(r.id))
        .order(repair_steps::id)
        .select(StepView::as_select())
        .load(conn)?;
    let earliest = earliest_repair_date(&entry, &v, r.correction_date);
    Ok(RepairView {
        summary: summary(conn, state, &r, Disclosure::Full)?,
        grounds: r.grounds.clone(),
        entry: entry_view(conn, &state.pii, &entry, Disclosure::Full, day)?,
        scope_item: ScopeRules {
            item_id: v.item_id,
            version: v.version,
            title: v.title,
            severity: v.severity,
            repairable: v.repairable,
            repair_after_months: v.repair_after_months,
            repair_requires_training: v.repair_requires_training,
            repair_requires_credit_report: v.repair_requires_credit_report,
            repair_waiting_from: v
                .repair_waiting_from
                .as_deref()
                .and_then(crate::four_lists::WaitingFrom::parse),
            earliest_repair_date: earliest,
        },
        other_entries,
        commitment,
        training,
        service_records,
        documents,
        history,
        allowed_actions: allowed_actions(conn, user, &r)?,
        correction_date: r.correction_date,
        completed_at: r.completed_at,
    })
}

fn audit_repair(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    action: &str,
    before: Option<&RepairRow>,
    after: &RepairRow,
) -> Result<(), ApiError> {
    let mut e = Entry::new(action, "repair", after.id)
        .region(Some(after.region_code.clone()))
        .department(Some(after.department_id))
        .after(&summary(conn, state, after, Disclosure::Masked)?);
    if let Some(b) = before {
        e = e.before(&summary(conn, state, b, Disclosure::Masked)?);
    }
    audit::append(conn, &user.actor(), e)?;
    Ok(())
}

/// The review queue in the caller's scope, earliest deadline first (the API's `GET /repairs` and
/// the console's 工作台).
pub(crate) async fn queue(
    state: &web::Data<AppState>,
    user: AuthUser,
    f: RepairFilter,
) -> Result<Page<RepairSummary>, ApiError> {
    user.require(STAFF)?;
    let (limit, offset, page, per_page) = PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    if let Some(s) = &f.status {
        if s != "open" && !OPEN.contains(&s.as_str()) && s != "completed" && s != "withdrawn" {
            return Err(ApiError::invalid_query(
                "status",
                "unknown_status",
                format!("{s} is not a repair status"),
            ));
        }
    }
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        let managed = crate::auth::managed_departments(conn, &user)?;
        let own_region = match user.role {
            Role::Bureau => user.region_filter()?,
            _ => None,
        };
        let day = today();
        let build = || {
            let mut q = repairs::table.into_boxed();
            match (&managed, &own_region) {
                (_, Some(r)) => {
                    // A county bureau: its region's applications, and those of its departments.
                    let ids = managed.clone().unwrap_or_default();
                    q = q.filter(
                        repairs::region_code
                            .eq(r.clone())
                            .or(repairs::department_id.eq_any(ids)),
                    );
                }
                (Some(ids), None) => q = q.filter(repairs::department_id.eq_any(ids.clone())),
                (None, None) => {}
            }
            match f.status.as_deref() {
                Some("open") => q = q.filter(repairs::status.eq_any(OPEN)),
                Some(s) => q = q.filter(repairs::status.eq(s.to_string())),
                None => {}
            }
            if let Some(r) = &f.region {
                q = q.filter(repairs::region_code.eq(r.clone()));
            }
            if let Some(d) = f.department {
                q = q.filter(repairs::department_id.eq(d));
            }
            if f.overdue == Some(true) {
                q = q.filter(repairs::deadline.lt(day));
            }
            q
        };
        let total: i64 = build().count().get_result(conn)?;
        let rows: Vec<RepairRow> = build()
            .order((repairs::deadline.is_null(), repairs::deadline, repairs::id))
            .limit(limit)
            .offset(offset)
            .select(RepairRow::as_select())
            .load(conn)?;
        let items = rows
            .iter()
            .map(|r| summary(conn, &st, r, Disclosure::Full))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    })
    .await
}

/// One application as the caller may see it (the API's `GET /repairs/{id}` and the console's
/// review page).
pub(crate) async fn view(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<RepairView, ApiError> {
    user.require(STAFF)?;
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        let r = find(conn, id)?.ok_or_else(|| ApiError::not_found("repair application"))?;
        if !may_view(conn, &user, &r)? {
            return Err(ApiError::forbidden(
                "this application is outside your scope",
            ));
        }
        full_view(conn, &st, &user, r)
    })
    .await
}

/// Submits an application (信用修复申请) through the identifying department (or its bureau):
/// checks eligibility and materials, refuses a second open application for the entry. Audited.
pub async fn submit_application(
    state: &web::Data<AppState>,
    user: AuthUser,
    input: NewRepair,
) -> Result<RepairView, ApiError> {
    user.require(STAFF)?;
    let (code, _) = crate::entries::parse_subject_code("subject_code", &input.subject_code, true)?;
    let mut errors = Vec::new();
    let grounds = required_text(&mut errors, "grounds", &input.grounds, 5000);
    crate::domain::dates::check_optional_date(&mut errors, "submitted_on", input.submitted_on);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let backdated = crate::backdating::effective_date(&user, "submitted_on", input.submitted_on)?;
    let m = Materials {
        grounds,
        corrections: input.correction_attachment_ids,
        obligations: input.obligation_attachment_ids,
        credit_reports: input.credit_report_attachment_ids,
        commitment_id: input.commitment_id,
        attendance_id: input.attendance_id,
        service_record_ids: input.service_record_ids,
        correction_date: input.correction_date,
    };
    let limits = Limits::of(state);
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let subject =
                crate::entries::find_subject_by_code(conn, &code, &st.pii)?.ok_or_else(|| {
                    ApiError::invalid_field(
                        "subject_code",
                        "unknown_subject",
                        "no subject with this code is recorded",
                    )
                })?;
            let entry = find_entry(conn, input.entry_id)?.ok_or_else(|| {
                ApiError::invalid_field("entry_id", "unknown_entry", "there is no such entry")
            })?;
            let region = department_region(conn, entry.department_id)?;
            if user.role == Role::Admin || !user.may_manage_department(entry.department_id, &region)
            {
                return Err(ApiError::forbidden(
                    "applications are submitted through the identifying department (or its bureau)",
                ));
            }
            let _marker = crate::backdating::Marker::set("submitted_on", backdated);
            // Judged as of the day the application was made (a back-dated one: that day, whose
            // own rules name `submitted_on`).
            if let Some(day) = backdated {
                check_submitted_on(conn, &entry, day, m.correction_date)?;
            }
            check_eligibility(
                conn,
                &user,
                &subject,
                &entry,
                &m,
                backdated.unwrap_or(today()),
            )?;
            let open: i64 = repairs::table
                .filter(repairs::entry_id.eq(entry.id))
                .filter(repairs::status.eq_any(OPEN))
                .count()
                .get_result(conn)?;
            if open > 0 {
                return Err(ApiError::conflict(
                    "application_open",
                    "an application for this entry is already open",
                ));
            }
            let now = db::now();
            let deadline = crate::calendar::deadline(conn, today(), limits.accept)?;
            let id: i32 = diesel::insert_into(repairs::table)
                .values((
                    repairs::subject_id.eq(subject.id),
                    repairs::entry_id.eq(entry.id),
                    repairs::department_id.eq(entry.department_id),
                    repairs::region_code.eq(&entry.region_code),
                    repairs::status.eq("submitted"),
                    repairs::grounds.eq(&m.grounds),
                    repairs::commitment_id.eq(m.commitment_id),
                    repairs::attendance_id.eq(m.attendance_id),
                    repairs::correction_date.eq(m.correction_date),
                    repairs::version.eq(1),
                    repairs::deadline.eq(deadline),
                    repairs::submitted_at.eq(backdated.map_or(now, crate::backdating::instant)),
                    repairs::updated_at.eq(now),
                    repairs::created_by.eq(user.id),
                ))
                .returning(repairs::id)
                .get_result(conn)?;
            store_materials(conn, id, &m)?;
            record_step(conn, &user, id, "submit", None, "submitted", None)?;
            let row = find(conn, id)?.ok_or_else(|| ApiError::internal("vanished"))?;
            audit_repair(conn, &st, &user, "repair.submit", None, &row)?;
            full_view(conn, &st, &user, row)
        })
    })
    .await
}

/// A back-dated submission day: the entry was determined, published and in force that day, and
/// its minimum publication period had passed (the rules of [`check_eligibility`] on that day).
fn check_submitted_on(
    conn: &mut DbConnection,
    entry: &EntryRow,
    day: NaiveDate,
    correction_date: Option<NaiveDate>,
) -> Result<(), ApiError> {
    use crate::backdating::precedes;
    if day < entry.determination_date {
        return Err(precedes(
            "submitted_on",
            "before_determination",
            day,
            &format!(
                "the entry's determination date ({})",
                entry.determination_date
            ),
        ));
    }
    if !crate::entries::in_force_on(entry, day) {
        return Err(ApiError::invalid_field(
            "submitted_on",
            "not_in_force",
            format!("the entry was not in force on {day}"),
        ));
    }
    let v: VersionRow = four_list_item_versions::table
        .find((entry.scope_item_id, entry.scope_item_version))
        .select(VersionRow::as_select())
        .first(conn)?;
    // Without a correction date where the standard counts from it, eligibility has refused.
    let Some(earliest) = earliest_repair_date(entry, &v, correction_date) else {
        return Ok(());
    };
    if day < earliest {
        return Err(precedes(
            "submitted_on",
            "too_early",
            day,
            &format!("the earliest date to apply ({earliest})"),
        ));
    }
    Ok(())
}
