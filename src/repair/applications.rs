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

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::attachments::{self, AttachmentView};
use super::commitments::{self, CommitmentView};
use super::training::{self, AttendanceView, ServiceView};
use crate::audit::{self, Entry};
use crate::auth::{AuthUser, Role};
use crate::db::{self, DbConnection};
use crate::entries::handlers::{audit_entry, STAFF};
use crate::entries::{
    entry_view, find_entry, in_force_on, subject_ref, today, Disclosure, EntryRow, EntryView,
    SubjectRef, SubjectRow,
};
use crate::error::{ApiError, FieldError, Problem};
use crate::four_lists::VersionRow;
use crate::http::{required_text, ApiJson, Page, PageQuery};
use crate::schema::{
    departments, four_list_item_versions, list_entries, repair_documents, repair_service_records,
    repair_steps, repairs, subjects,
};
use crate::state::AppState;

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
    /// `correction` (proof the conduct is corrected) or `obligations` (proof the legal obligations
    /// are fulfilled).
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
    /// The subject's signed `repair` commitment letter.
    pub commitment_id: i32,
    /// A completed repair-training attendance of the subject (required for organisations; for
    /// individuals this or `service_record_ids`).
    pub attendance_id: Option<i32>,
    /// Public-service records of the subject (individuals).
    #[serde(default)]
    pub service_record_ids: Vec<i32>,
}

/// Amendments on resubmission; what is left out stays as it was.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resubmission {
    pub version: Option<i32>,
    pub comment: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub grounds: Option<String>,
    pub correction_attachment_ids: Option<Vec<i32>>,
    pub obligation_attachment_ids: Option<Vec<i32>>,
    pub commitment_id: Option<i32>,
    pub attendance_id: Option<i32>,
    pub service_record_ids: Option<Vec<i32>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// The version the reviewer acted on (or send it as `If-Match`). A stale version → 409.
    pub version: Option<i32>,
    /// Required when returning, refusing or sending back.
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
        },
        other_entries,
        commitment,
        training,
        service_records,
        documents,
        history,
        allowed_actions: allowed_actions(conn, user, &r)?,
        completed_at: r.completed_at,
    })
}

/// The materials an application cites, checked against the rules.
struct Materials {
    grounds: String,
    corrections: Vec<i32>,
    obligations: Vec<i32>,
    commitment_id: i32,
    attendance_id: Option<i32>,
    service_record_ids: Vec<i32>,
}

/// The earliest day a black entry may be repaired: the determination date plus the scope item
/// version's minimum period (`repair_after_months`, else `publication_months_min`).
pub fn earliest_repair_date(entry: &EntryRow, v: &VersionRow) -> NaiveDate {
    let months = v
        .repair_after_months
        .or(v.publication_months_min)
        .unwrap_or(0)
        .max(0) as u32;
    entry
        .determination_date
        .checked_add_months(chrono::Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// The eligibility rules (发改办财金〔2019〕527号; 2019 plan, section 六), checked at submission
/// and on resubmission. Each refusal names the rule and the field.
fn check_eligibility(
    conn: &mut DbConnection,
    user: &AuthUser,
    subject: &SubjectRow,
    entry: &EntryRow,
    m: &Materials,
) -> Result<(), ApiError> {
    let day = today();
    if entry.subject_id != subject.id {
        return Err(ApiError::invalid_field(
            "entry_id",
            "entry_of_another_subject",
            "this entry lists another subject",
        ));
    }
    if entry.list_type != "black" {
        return Err(ApiError::invalid_field(
            "entry_id",
            "not_black_listed",
            "only black-list entries are repaired",
        ));
    }
    if entry.status != "published" || !in_force_on(entry, day) {
        return Err(ApiError::invalid_field(
            "entry_id",
            "not_in_force",
            "the entry is not in force (draft, removed or expired)",
        ));
    }
    let v: VersionRow = four_list_item_versions::table
        .find((entry.scope_item_id, entry.scope_item_version))
        .select(VersionRow::as_select())
        .first(conn)?;
    if v.repairable == Some(false) || v.severity.as_deref() == Some("specific_serious") {
        return Err(ApiError::invalid_field(
            "entry_id",
            "not_repairable",
            "the entry's scope item is of the specific-serious tier (特定严重) or marked not repairable: credit repair does not apply",
        ));
    }
    let earliest = earliest_repair_date(entry, &v);
    if day < earliest {
        return Err(ApiError::invalid_field(
            "entry_id",
            "too_early",
            format!(
                "the minimum publication period has not passed: the earliest date to apply is {earliest}"
            ),
        ));
    }
    let mut errors = Vec::new();
    for (field, ids) in [
        ("correction_attachment_ids", &m.corrections),
        ("obligation_attachment_ids", &m.obligations),
    ] {
        if ids.is_empty() {
            errors.push(FieldError::new(
                field,
                "missing_document",
                format!("{field}: at least one proof document is required"),
            ));
        }
        for (i, id) in ids.iter().enumerate() {
            let ok = match attachments::find_meta(conn, *id)? {
                Some(meta) => attachments::may_read(conn, user, &meta)?,
                None => false,
            };
            if !ok {
                errors.push(FieldError::new(
                    format!("{field}[{i}]"),
                    "unknown_attachment",
                    "there is no such document you may use",
                ));
            }
        }
    }
    match commitments::find(conn, m.commitment_id)? {
        None => errors.push(FieldError::new(
            "commitment_id",
            "unknown_commitment",
            "there is no such commitment letter",
        )),
        Some(c) if c.subject_id != subject.id => errors.push(FieldError::new(
            "commitment_id",
            "commitment_of_another_subject",
            "the commitment letter was signed by another subject",
        )),
        Some(c) if c.purpose != "repair" => errors.push(FieldError::new(
            "commitment_id",
            "not_a_repair_commitment",
            "a repair needs a signed repair commitment letter (信用修复承诺书)",
        )),
        Some(_) => {}
    }
    let individual = subject.kind == "individual";
    match m.attendance_id {
        Some(a) => match training::find_attendance(conn, a)? {
            None => errors.push(FieldError::new(
                "attendance_id",
                "unknown_attendance",
                "there is no such training attendance",
            )),
            Some(t) if t.subject_id != subject.id => errors.push(FieldError::new(
                "attendance_id",
                "attendance_of_another_subject",
                "the training attendance is another subject's",
            )),
            Some(t) if !t.completed => errors.push(FieldError::new(
                "attendance_id",
                "training_not_completed",
                "the repair training was not completed",
            )),
            Some(_) => {}
        },
        None if !individual => errors.push(FieldError::new(
            "attendance_id",
            "training_required",
            "an organisation's legal representative must complete repair training (信用修复培训)",
        )),
        None if m.service_record_ids.is_empty() => errors.push(FieldError::new(
            "service_record_ids",
            "training_or_service_required",
            "an individual shows completed repair training or public-service records",
        )),
        None => {}
    }
    for (i, id) in m.service_record_ids.iter().enumerate() {
        match training::find_service(conn, *id)? {
            Some(s) if s.subject_id == subject.id => {}
            Some(_) => errors.push(FieldError::new(
                format!("service_record_ids[{i}]"),
                "service_of_another_subject",
                "the public-service record is another subject's",
            )),
            None => errors.push(FieldError::new(
                format!("service_record_ids[{i}]"),
                "unknown_service_record",
                "there is no such public-service record",
            )),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

fn store_materials(conn: &mut DbConnection, id: i32, m: &Materials) -> Result<(), ApiError> {
    diesel::delete(repair_documents::table.filter(repair_documents::repair_id.eq(id)))
        .execute(conn)?;
    diesel::delete(repair_service_records::table.filter(repair_service_records::repair_id.eq(id)))
        .execute(conn)?;
    for (purpose, ids) in [
        ("correction", &m.corrections),
        ("obligations", &m.obligations),
    ] {
        for a in ids {
            let exists: i64 = repair_documents::table
                .filter(repair_documents::repair_id.eq(id))
                .filter(repair_documents::attachment_id.eq(a))
                .count()
                .get_result(conn)?;
            if exists == 0 {
                diesel::insert_into(repair_documents::table)
                    .values((
                        repair_documents::repair_id.eq(id),
                        repair_documents::attachment_id.eq(a),
                        repair_documents::purpose.eq(purpose),
                    ))
                    .execute(conn)?;
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in &m.service_record_ids {
        if seen.insert(*s) {
            diesel::insert_into(repair_service_records::table)
                .values((
                    repair_service_records::repair_id.eq(id),
                    repair_service_records::service_record_id.eq(s),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

fn record_step(
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

/// Apply for credit repair of a black-list entry. The eligibility rules are checked now; the
/// application waits for the identifying department to accept it. Audited.
#[utoipa::path(
    tag = "repair",
    security(("bearer" = [])),
    request_body = NewRepair,
    responses(
        (status = 201, description = "Submitted, with its deadline", body = RepairView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the identifying department or its bureau submits", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An application for this entry is already open", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not eligible (`not_repairable`, `too_early` with the earliest date, `not_in_force` …) or a document is missing", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/repairs")]
pub async fn submit(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewRepair>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let input = body.0;
    let (code, _) = crate::entries::parse_subject_code("subject_code", &input.subject_code, true)?;
    let mut errors = Vec::new();
    let grounds = required_text(&mut errors, "grounds", &input.grounds, 5000);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let m = Materials {
        grounds,
        corrections: input.correction_attachment_ids,
        obligations: input.obligation_attachment_ids,
        commitment_id: input.commitment_id,
        attendance_id: input.attendance_id,
        service_record_ids: input.service_record_ids,
    };
    let limits = Limits::of(&state);
    let st = state.clone();
    let v = db::run(&state.pool, move |conn| {
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
            check_eligibility(conn, &user, &subject, &entry, &m)?;
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
                    repairs::version.eq(1),
                    repairs::deadline.eq(deadline),
                    repairs::submitted_at.eq(now),
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
    .await?;
    Ok(HttpResponse::Created().json(v))
}

/// The review queue, earliest deadline first.
#[utoipa::path(
    tag = "repair",
    security(("bearer" = [])),
    params(RepairFilter),
    responses(
        (status = 200, description = "A page of applications", body = Page<RepairSummary>),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/repairs")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<RepairFilter>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(queue(&state, user, query.into_inner()).await?))
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

/// One application with everything a reviewer needs, and the actions open to the caller.
#[utoipa::path(
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Application id")),
    responses(
        (status = 200, description = "The application", body = RepairView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/repairs/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let v = view(&state, user, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::ETAG,
            format!("\"{}\"", v.summary.version),
        ))
        .json(v))
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

/// The expected version: `If-Match: "3"` or `{"version": 3}` (they must agree when both given).
fn expected_version(req: &HttpRequest, body: Option<i32>) -> Result<Option<i32>, ApiError> {
    let header = match req.headers().get(actix_web::http::header::IF_MATCH) {
        None => None,
        Some(h) => {
            let raw = h.to_str().unwrap_or("").trim();
            let raw = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
            Some(raw.parse::<i32>().map_err(|_| ApiError::BadRequest {
                code: "invalid_if_match",
                detail: "If-Match must be the application's version, e.g. \"3\"".into(),
                errors: vec![FieldError::new(
                    "header.If-Match",
                    "invalid",
                    "not a version number",
                )],
            })?)
        }
    };
    match (header, body) {
        (Some(h), Some(b)) if h != b => Err(ApiError::invalid_field(
            "version",
            "version_mismatch",
            "If-Match and version disagree",
        )),
        (h, b) => Ok(h.or(b)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
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

const ACCEPT: Step = Step {
    action: "accept",
    from: &["submitted"],
    to: "accepted",
    side: Side::Department,
    comment_required: false,
};
const RETURN: Step = Step {
    action: "return",
    from: &["submitted"],
    to: "returned",
    side: Side::Department,
    comment_required: true,
};
const APPROVE: Step = Step {
    action: "approve",
    from: &["accepted"],
    to: "approved",
    side: Side::Department,
    comment_required: false,
};
const REFUSE: Step = Step {
    action: "refuse",
    from: &["accepted"],
    to: "refused",
    side: Side::Department,
    comment_required: true,
};
const FILE: Step = Step {
    action: "file",
    from: &["approved"],
    to: "filed",
    side: Side::Department,
    comment_required: false,
};
const CONFIRM: Step = Step {
    action: "confirm",
    from: &["filed"],
    to: "completed",
    side: Side::Bureau,
    comment_required: false,
};
const SEND_BACK: Step = Step {
    action: "send_back",
    from: &["filed"],
    to: "sent_back",
    side: Side::Bureau,
    comment_required: true,
};
const WITHDRAW: Step = Step {
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
const RESUBMIT: Step = Step {
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
    user.require(STAFF)?;
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
                    commitment_id: a.commitment_id.unwrap_or(before.commitment_id),
                    attendance_id: a.attendance_id.or(before.attendance_id),
                    service_record_ids: a.service_record_ids.clone().unwrap_or(old_services),
                };
                check_eligibility(conn, &user, &subject, &entry, &m)?;
                store_materials(conn, id, &m)?;
                diesel::update(repairs::table.find(id))
                    .set((
                        repairs::grounds.eq(&m.grounds),
                        repairs::commitment_id.eq(m.commitment_id),
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
                    Some(now)
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
                complete(conn, &st, &user, &before)?;
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

/// The reviewed application as the API answers a step: the view with its version as ETag.
async fn transition(
    state: web::Data<AppState>,
    user: AuthUser,
    id: i32,
    step: &'static Step,
    version: Option<i32>,
    comment: Option<String>,
    amend: Option<Resubmission>,
) -> Result<HttpResponse, ApiError> {
    let v = apply_step(&state, user, id, step, version, comment, amend).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::ETAG,
            format!("\"{}\"", v.summary.version),
        ))
        .json(v))
}

/// The bureau confirmed: the entry leaves the list (reason `repaired`), watchers are told, and the
/// province is fed (`list_entry.removed` through `audit_entry`, then `repair.completed`) — all in
/// the confirming transaction.
fn complete(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    r: &RepairRow,
) -> Result<(), ApiError> {
    let day = today();
    let before = find_entry(conn, r.entry_id)?.ok_or_else(|| ApiError::internal("entry"))?;
    if before.status != "published" || !in_force_on(&before, day) {
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

macro_rules! step_endpoint {
    ($fn_name:ident, $path:literal, $step:ident, $doc:literal, $ok:literal, $forbidden:literal) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "repair",
            security(("bearer" = [])),
            params(
                ("id" = i32, Path, description = "Application id"),
                ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(W/)?"?[0-9]{1,9}"?$"#, description = "The version acted on, e.g. \"3\""),
            ),
            request_body(content = Option<Transition>, content_type = "application/json"),
            responses(
                (status = 200, description = $ok, body = RepairView),
                (status = 400, description = "Malformed body or If-Match", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = $forbidden, body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "Not in a state for this step, or another reviewer acted first (`version_conflict`)", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Reasons missing", body = Problem, content_type = "application/problem+json"),
            )
        )]
        #[post($path)]
        pub async fn $fn_name(
            state: web::Data<AppState>,
            user: AuthUser,
            req: HttpRequest,
            path: web::Path<i32>,
            body: crate::http::OptionalJson<Transition>,
        ) -> Result<HttpResponse, ApiError> {
            let t = body.0.unwrap_or_default();
            let version = expected_version(&req, t.version)?;
            transition(state, user, path.into_inner(), &$step, version, t.comment, None).await
        }
    };
}

step_endpoint!(
    accept,
    "/repairs/{id}/accept",
    ACCEPT,
    "Accept (受理) a submitted application; the decision is due within `repair_decide_days`.",
    "Accepted",
    "Only the identifying department (or its bureau)"
);
step_endpoint!(
    return_incomplete,
    "/repairs/{id}/return",
    RETURN,
    "Return a submitted application as incomplete (reasons in `comment`).",
    "Returned",
    "Only the identifying department (or its bureau)"
);
step_endpoint!(
    approve,
    "/repairs/{id}/approve",
    APPROVE,
    "The department approves the repair; it must then file it with the bureau.",
    "Approved",
    "Only the identifying department (or its bureau)"
);
step_endpoint!(
    refuse,
    "/repairs/{id}/refuse",
    REFUSE,
    "The department refuses the repair (reasons in `comment`).",
    "Refused",
    "Only the identifying department (or its bureau)"
);
step_endpoint!(
    file,
    "/repairs/{id}/file",
    FILE,
    "File (备案) an approved repair with the bureau of the entry's region; its review is due within `repair_review_days`.",
    "Filed",
    "Only the identifying department (or its bureau)"
);
step_endpoint!(
    confirm,
    "/repairs/{id}/confirm",
    CONFIRM,
    "The bureau confirms the filing: the repair is completed, the entry is removed with reason `repaired`, watchers are notified and the result is queued for the provincial platform, in one transaction.",
    "Completed",
    "Only a bureau of the entry's region (or the city bureau)"
);
step_endpoint!(
    send_back,
    "/repairs/{id}/send-back",
    SEND_BACK,
    "The bureau sends a filing back to the department (reasons in `comment`).",
    "Sent back",
    "Only a bureau of the entry's region (or the city bureau)"
);
step_endpoint!(
    withdraw,
    "/repairs/{id}/withdraw",
    WITHDRAW,
    "Withdraw an open application (not while the bureau reviews it).",
    "Withdrawn",
    "Only the identifying department (or its bureau)"
);

/// Resubmit a returned, refused or sent-back application, amended; eligibility is checked again.
#[utoipa::path(
    tag = "repair",
    security(("bearer" = [])),
    params(
        ("id" = i32, Path, description = "Application id"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(W/)?"?[0-9]{1,9}"?$"#, description = "The version acted on, e.g. \"3\""),
    ),
    request_body = Resubmission,
    responses(
        (status = 200, description = "Submitted again", body = RepairView),
        (status = 400, description = "Malformed body or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the identifying department (or its bureau)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not returned, refused or sent back; or another reviewer acted first", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not eligible, or invalid amendments", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/repairs/{id}/resubmit")]
pub async fn resubmit(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i32>,
    body: ApiJson<Resubmission>,
) -> Result<HttpResponse, ApiError> {
    let r = body.0;
    let version = expected_version(&req, r.version)?;
    let comment = r.comment.clone();
    transition(
        state,
        user,
        path.into_inner(),
        &RESUBMIT,
        version,
        comment,
        Some(r),
    )
    .await
}
