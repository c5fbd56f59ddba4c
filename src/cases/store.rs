//! The cases' operations (联合奖惩案例): filing, editing, submitting (报送), sharing (共享) and
//! correcting (更正) cases, listing and exporting them. Called by the API's handlers, the console and
//! the demo; each authorises its caller and audits what it changes.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::*;
use crate::audit::{self, Entry};
use crate::auth::{AuthUser, Role, STAFF};
use crate::checks::receipts::load_receipt;
use crate::db;
use crate::domain::SubjectCode;
use crate::entries::{self, lookup_key, parse_subject_code, upsert_subject, Disclosure, EntryRow};
use crate::error::{ApiError, FieldError};
use crate::feed::{self, EventType};
use crate::four_lists::SubjectType;
use crate::http::{required_line, required_text, Page, PageQuery};
use crate::imports::{check_format, file_response};
use crate::schema::{
    application_fields, case_departments, case_entries, case_measures, case_media_reports,
    case_subjects, cases, check_feedback, departments, list_entries, regions,
};
use crate::state::AppState;

/// A subject of a case, by its code (recorded as entries record subjects).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseSubjectInput {
    /// Unified social credit code or resident ID number (stored encrypted, shown masked).
    #[schema(example = "91220500MA0000001Q")]
    pub code: String,
    #[schema(
        example = "通化市某某商贸有限公司",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub name: String,
    /// Defaults from the code, as for list entries.
    pub kind: Option<SubjectType>,
}

/// A case (draft). Lists may be empty in a draft; submitting needs at least one subject and one
/// measure.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    #[schema(
        example = "某公司因偷税被限制参与政府采购",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub title: String,
    pub kind: CaseKind,
    /// The filing department; defaults to the caller's (department officers may only file for
    /// their own).
    pub department_id: Option<i32>,
    #[serde(default)]
    pub subjects: Vec<CaseSubjectInput>,
    /// Related list entries: published or removed, on the red list for a reward case and the
    /// black list for a punishment case, of one of the case's subjects.
    #[serde(default)]
    pub entry_ids: Vec<i32>,
    /// Four-list measure items applied (incentive measures for rewards, punishment measures for
    /// punishments), published; the version in force is recorded.
    #[serde(default)]
    pub measure_item_ids: Vec<i32>,
    /// Other participating departments (联合); the filing department is always included.
    #[serde(default)]
    pub department_ids: Vec<i32>,
    /// 领域 (application_fields code).
    #[schema(example = "government_procurement")]
    pub field: String,
    #[schema(value_type = String, format = Date)]
    pub case_date: NaiveDate,
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub summary: String,
    /// The credit check whose feedback the case came from.
    pub source_check_id: Option<i32>,
}

/// Changes to a draft: every field optional; lists replace the stored ones.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CasePatch {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub title: Option<String>,
    pub kind: Option<CaseKind>,
    pub subjects: Option<Vec<CaseSubjectInput>>,
    pub entry_ids: Option<Vec<i32>>,
    pub measure_item_ids: Option<Vec<i32>>,
    pub department_ids: Option<Vec<i32>>,
    pub field: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub case_date: Option<NaiveDate>,
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub summary: Option<String>,
}

struct ValidSubject {
    code: SubjectCode,
    kind: SubjectType,
    name: String,
    flagged: bool,
}

fn subject_kind(
    field: &str,
    code: &SubjectCode,
    given: Option<SubjectType>,
) -> Result<SubjectType, FieldError> {
    code.type_with(given)
        .map_err(|m| FieldError::new(field, "kind_mismatch", m))
}

/// Validates a case's content and writes it (new row or replacing a draft's content) with its
/// links. Returns the case id. Runs inside the caller's write transaction.
/// What a new case row records besides its content.
#[derive(Debug, Default, Clone, Copy)]
pub struct CaseOrigin<'a> {
    /// The case this one corrects (更正), for a correction.
    pub corrects: Option<i32>,
    /// The caller's `Idempotency-Key`, when the API was given one.
    pub idempotency_key: Option<&'a str>,
    /// SHA-256 of the request body, to tell a retry from a different request under the same key.
    pub request_hash: Option<&'a str>,
}

pub fn write_case(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    existing: Option<&CaseRow>,
    input: &NewCase,
    origin: CaseOrigin<'_>,
) -> Result<i32, ApiError> {
    let CaseOrigin {
        corrects,
        idempotency_key: key,
        request_hash: hash,
    } = origin;
    let mut errors = Vec::new();
    let title = required_line(&mut errors, "title", &input.title, 200);
    let summary = required_text(&mut errors, "summary", &input.summary, 5000);
    crate::domain::dates::check_date(&mut errors, "case_date", input.case_date);
    if input.case_date > entries::today() {
        errors.push(FieldError::new(
            "case_date",
            "in_future",
            "the case date cannot be in the future",
        ));
    }
    let mut subjects = Vec::new();
    for (i, s) in input.subjects.iter().enumerate() {
        let field = format!("subjects[{i}].code");
        let name = required_line(&mut errors, &format!("subjects[{i}].name"), &s.name, 200);
        match parse_subject_code(&field, &s.code, false) {
            Ok((code, flagged)) => {
                match subject_kind(&format!("subjects[{i}].kind"), &code, s.kind) {
                    Ok(kind) => subjects.push(ValidSubject {
                        code,
                        kind,
                        name,
                        flagged,
                    }),
                    Err(e) => errors.push(e),
                }
            }
            Err(ApiError::Invalid { errors: e, .. }) => errors.extend(e),
            Err(e) => return Err(e),
        }
    }
    if input.subjects.len() > 100 {
        errors.push(FieldError::new(
            "subjects",
            "too_many",
            "at most 100 subjects",
        ));
    }
    if input.entry_ids.len() > 200 || input.measure_item_ids.len() > 200 {
        errors.push(FieldError::new(
            "entry_ids",
            "too_many",
            "at most 200 entries and 200 measures",
        ));
    }
    let field_ok: Option<bool> = application_fields::table
        .find(&input.field)
        .select(application_fields::active)
        .first(conn)
        .optional()?;
    match field_ok {
        None => errors.push(FieldError::new(
            "field",
            "unknown_field",
            format!("there is no field {}", input.field),
        )),
        Some(false) => errors.push(FieldError::new(
            "field",
            "inactive_field",
            "the field is no longer in use",
        )),
        Some(true) => {}
    }
    // The filing department.
    let requested = existing.map(|c| c.department_id).or(input.department_id);
    let dept = crate::org::acting_department(conn, user, requested, crate::org::find_department)?;
    let mut participants = vec![dept.id];
    for (i, d) in input.department_ids.iter().enumerate() {
        match crate::org::find_department(conn, *d)? {
            Some(p) if p.active => participants.push(p.id),
            Some(_) => errors.push(FieldError::new(
                format!("department_ids[{i}]"),
                "inactive_department",
                "the department is inactive",
            )),
            None => errors.push(FieldError::new(
                format!("department_ids[{i}]"),
                "unknown_department",
                format!("there is no department {d}"),
            )),
        }
    }
    let participants = dedup(&participants);
    // Measures: published items of the right kind; the version in force is kept.
    let mut measures = Vec::new();
    for m in dedup(&input.measure_item_ids).iter() {
        // The offending field names the position in the request (the first, if repeated).
        let i = input
            .measure_item_ids
            .iter()
            .position(|x| x == m)
            .unwrap_or_default();
        let f = format!("measure_item_ids[{i}]");
        match crate::four_lists::find_item(conn, *m)? {
            None => errors.push(FieldError::new(
                f,
                "unknown_item",
                format!("there is no four-list item {m}"),
            )),
            Some(item) if item.kind != input.kind.measure_kind() => errors.push(FieldError::new(
                f,
                "wrong_kind",
                format!(
                    "a {} case applies {} items, not {}",
                    input.kind.as_str(),
                    input.kind.measure_kind(),
                    item.kind
                ),
            )),
            Some(item) => match (item.status.as_str(), item.published_version) {
                ("published", Some(v)) => {
                    // The measure must apply in the case's field (the version in force says where).
                    let fields = crate::four_lists::find_version(conn, item.id, v)?
                        .map(|ver| ver.content().fields)
                        .unwrap_or_default();
                    if field_ok.is_some() && !fields.contains(&input.field) {
                        errors.push(FieldError::new(
                            f,
                            "measure_not_in_field",
                            format!(
                                "measure {} does not apply in the field {} (it applies in: {})",
                                item.code,
                                input.field,
                                fields.join(", ")
                            ),
                        ));
                    } else {
                        measures.push((item.id, v));
                    }
                }
                _ => errors.push(FieldError::new(
                    f,
                    "measure_not_published",
                    "the measure item is not published (or was repealed)",
                )),
            },
        }
    }
    // Entries: must exist, be visible, not drafts, on the list matching the kind.
    let mut entry_rows: Vec<(usize, EntryRow)> = Vec::new();
    for (i, e) in input.entry_ids.iter().enumerate() {
        let f = format!("entry_ids[{i}]");
        match crate::entries::store::load_visible(conn, user, *e) {
            Ok(row) if row.status == "draft" => errors.push(FieldError::new(
                f,
                "entry_not_published",
                "a case can only relate to published (or since removed) entries",
            )),
            Ok(row) if row.list_type != input.kind.list_type() => errors.push(FieldError::new(
                f,
                "wrong_list",
                format!(
                    "a {} case relates to {} list entries",
                    input.kind.as_str(),
                    input.kind.list_type()
                ),
            )),
            Ok(row) => entry_rows.push((i, row)),
            Err(ApiError::NotFound(_)) => errors.push(FieldError::new(
                f,
                "unknown_entry",
                format!("there is no list entry {e}"),
            )),
            Err(err) => return Err(err),
        }
    }
    if let Some(check) = input.source_check_id {
        if crate::checks::receipts::find_receipt(conn, check)?.is_none() {
            errors.push(FieldError::new(
                "source_check_id",
                "unknown_check",
                format!("there is no credit check {check}"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    // Subjects are recorded as entries record them.
    let mut subject_ids = Vec::new();
    for s in &subjects {
        let from_code = s.code.division_code().to_string();
        let region = if crate::org::find_region(conn, &from_code)?.is_some() {
            from_code
        } else {
            dept.region_code.clone()
        };
        let row = upsert_subject(
            conn, &state.pii, &s.code, s.kind, &s.name, &region, s.flagged,
        )?;
        subject_ids.push(row.id);
    }
    let subject_ids = dedup(&subject_ids);
    let mut errors = Vec::new();
    for (i, e) in &entry_rows {
        if !subject_ids.contains(&e.subject_id) {
            errors.push(FieldError::new(
                format!("entry_ids[{i}]"),
                "subject_not_in_case",
                "the entry lists a subject that is not among the case's subjects",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = db::now();
    let id = match existing {
        Some(c) => {
            diesel::update(cases::table.find(c.id))
                .set((
                    cases::title.eq(&title),
                    cases::kind.eq(input.kind.as_str()),
                    cases::field.eq(&input.field),
                    cases::case_date.eq(input.case_date),
                    cases::summary.eq(&summary),
                    cases::updated_at.eq(now),
                ))
                .execute(conn)?;
            for t in [
                diesel::delete(case_subjects::table.filter(case_subjects::case_id.eq(c.id)))
                    .execute(conn),
                diesel::delete(case_entries::table.filter(case_entries::case_id.eq(c.id)))
                    .execute(conn),
                diesel::delete(case_measures::table.filter(case_measures::case_id.eq(c.id)))
                    .execute(conn),
                diesel::delete(case_departments::table.filter(case_departments::case_id.eq(c.id)))
                    .execute(conn),
            ] {
                t?;
            }
            c.id
        }
        None => diesel::insert_into(cases::table)
            .values((
                cases::title.eq(&title),
                cases::kind.eq(input.kind.as_str()),
                cases::status.eq("draft"),
                cases::department_id.eq(dept.id),
                cases::region_code.eq(&dept.region_code),
                cases::field.eq(&input.field),
                cases::case_date.eq(input.case_date),
                cases::summary.eq(&summary),
                cases::corrects_case_id.eq(corrects),
                cases::source_check_id.eq(input.source_check_id),
                cases::idempotency_key.eq(key),
                cases::request_hash.eq(hash),
                cases::created_by.eq(user.id),
                cases::created_at.eq(now),
                cases::updated_at.eq(now),
            ))
            .returning(cases::id)
            .get_result(conn)?,
    };
    for s in &subject_ids {
        diesel::insert_into(case_subjects::table)
            .values((
                case_subjects::case_id.eq(id),
                case_subjects::subject_id.eq(s),
            ))
            .execute(conn)?;
    }
    for e in dedup(&entry_rows.iter().map(|(_, e)| e.id).collect::<Vec<_>>()) {
        diesel::insert_into(case_entries::table)
            .values((case_entries::case_id.eq(id), case_entries::entry_id.eq(e)))
            .execute(conn)?;
    }
    for (m, v) in &measures {
        diesel::insert_into(case_measures::table)
            .values((
                case_measures::case_id.eq(id),
                case_measures::measure_item_id.eq(m),
                case_measures::measure_version.eq(v),
            ))
            .execute(conn)?;
    }
    for d in &participants {
        diesel::insert_into(case_departments::table)
            .values((
                case_departments::case_id.eq(id),
                case_departments::department_id.eq(d),
            ))
            .execute(conn)?;
    }
    Ok(id)
}

/// Audit record of a case change (codes masked).
pub fn audit_case(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    action: &str,
    before: Option<&CaseView>,
    after: &CaseRow,
) -> Result<CaseView, ApiError> {
    let view = case_view(conn, &state.pii, after, Disclosure::Masked)?;
    let mut e = Entry::new(action, "case", after.id)
        .region(Some(after.region_code.clone()))
        .department(Some(after.department_id))
        .after(&view);
    if let Some(b) = before {
        e = e.before(b);
    }
    audit::append(conn, &user.actor(), e)?;
    Ok(view)
}

/// Files a draft case (报送前的草稿). With an `Idempotency-Key` (the API's header) a retry of the same
/// request by the same user returns the case filed the first time with status 200 instead of filing
/// another (the first answer is 201); the same key with a different body is 422
/// `idempotency_key_reused`. The console's form files without a key (it redirects after the post).
pub(crate) async fn file_case(
    state: &web::Data<AppState>,
    user: AuthUser,
    input: NewCase,
    key: Option<String>,
) -> Result<(u16, CaseView), ApiError> {
    user.require(STAFF)?;
    let hash = hex::encode(Sha256::digest(
        serde_json::to_vec(&input).map_err(|e| ApiError::internal(e.to_string()))?,
    ));
    let st = state.clone();
    state
        .receipts
        .run_settled(&state.pool, move |conn| {
            db::write_tx(conn, |conn| {
                if let Some(k) = &key {
                    let prior: Option<CaseRow> = cases::table
                        .filter(cases::created_by.eq(user.id))
                        .filter(cases::idempotency_key.eq(k))
                        .select(CaseRow::as_select())
                        .first(conn)
                        .optional()?;
                    if let Some(c) = prior {
                        if c.request_hash.as_deref() != Some(hash.as_str()) {
                            return Err(ApiError::invalid_field(
                                "Idempotency-Key",
                                "idempotency_key_reused",
                                "this Idempotency-Key was used for a different request",
                            ));
                        }
                        return Ok((200u16, case_view(conn, &st.pii, &c, Disclosure::Masked)?));
                    }
                }
                let id = write_case(
                    conn,
                    &st,
                    &user,
                    None,
                    &input,
                    CaseOrigin {
                        idempotency_key: key.as_deref(),
                        request_hash: Some(&hash),
                        ..CaseOrigin::default()
                    },
                )?;
                let row =
                    find_case(conn, id)?.ok_or_else(|| ApiError::internal("case vanished"))?;
                Ok((
                    201u16,
                    audit_case(conn, &st, &user, "case.create", None, &row)?,
                ))
            })
        })
        .await
}

/// A draft case from a check's feedback (the API's and the console's).
pub(crate) async fn draft_from_feedback(
    state: &web::Data<AppState>,
    user: AuthUser,
    check_id: i32,
    given_department: Option<i32>,
) -> Result<CaseView, ApiError> {
    user.require(STAFF)?;
    let st = state.clone();
    state.receipts.run_settled(&state.pool, move |conn| {
        conn.write_tx(|settled| {
            let receipt = load_receipt(settled, &user, check_id)?;
            let conn = settled.conn();
            let department_id = match (receipt.caller_department_id, given_department, user.role)
            {
                (Some(d), _, _) => d,
                (None, Some(d), _) => d,
                (None, None, Role::Department) => user.department_id.unwrap_or_default(),
                (None, None, _) => {
                    return Err(ApiError::invalid_field(
                        "query.department_id",
                        "required",
                        "the check was made by an account without a department: name the filing department",
                    ))
                }
            };
            let (applied, decided_at): (String, chrono::NaiveDateTime) = check_feedback::table
                .find(check_id)
                .select((check_feedback::measures_applied, check_feedback::decided_at))
                .first(conn)
                .optional()?
                .ok_or_else(|| {
                    ApiError::conflict("no_feedback", "the check has no feedback yet")
                })?;
            let applied: Vec<i32> = serde_json::from_str(&applied).unwrap_or_default();
            if applied.is_empty() {
                return Err(ApiError::conflict(
                    "no_measure_applied",
                    "the feedback applied no measure: there is no case to file",
                ));
            }
            let mut kinds = BTreeSet::new();
            for m in &applied {
                if let Some(item) = crate::four_lists::find_item(conn, *m)? {
                    kinds.insert(item.kind);
                }
            }
            let kind = match kinds.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["incentive_measures"] => CaseKind::Reward,
                ["punishment_measures"] => CaseKind::Punishment,
                _ => {
                    return Err(ApiError::invalid_field(
                        "check_id",
                        "mixed_measures",
                        "the applied measures are not all incentive or all punishment measures",
                    ))
                }
            };
            let subject_id = receipt.subject_id.ok_or_else(|| {
                ApiError::invalid_field(
                    "check_id",
                    "unknown_subject",
                    "the checked subject is not on record",
                )
            })?;
            let subject = crate::schema::subjects::table
                .find(subject_id)
                .select(SubjectRow::as_select())
                .first(conn)?;
            let entry_ids: Vec<i32> = list_entries::table
                .filter(list_entries::subject_id.eq(subject_id))
                .filter(list_entries::list_type.eq(kind.list_type()))
                .filter(list_entries::status.ne("draft"))
                .filter(list_entries::published_at.le(receipt.checked_at))
                .order(list_entries::id.asc())
                .select(list_entries::id)
                .load(conn)?;
            let case_date = crate::backdating::china_date(decided_at);
            let input = NewCase {
                title: format!("{}：{}（信用核查 {check_id}）", kind.zh(), subject.name),
                kind,
                department_id: Some(department_id),
                subjects: vec![CaseSubjectInput {
                    code: subject.full_code(&st.pii)?,
                    name: subject.name.clone(),
                    kind: SubjectType::parse(&subject.kind),
                }],
                entry_ids,
                measure_item_ids: applied,
                department_ids: vec![],
                field: receipt.field.clone(),
                case_date: case_date.min(entries::today()),
                summary: format!(
                    "依据信用核查记录 {check_id} 及审批反馈，对{}采取了{}措施。",
                    subject.name,
                    kind.zh()
                ),
                source_check_id: Some(check_id),
            };
            let id = write_case(conn, &st, &user, None, &input, CaseOrigin::default())?;
            let row = find_case(conn, id)?.ok_or_else(|| ApiError::internal("case vanished"))?;
            audit_case(conn, &st, &user, "case.create_from_feedback", None, &row)
        })
    })
    .await
}

/// One case in the caller's scope (the API's and the console's).
pub(crate) async fn case_by_id(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<CaseView, ApiError> {
    user.require(STAFF)?;
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        let c = load_visible(conn, &user, id)?;
        case_view(conn, &st.pii, &c, Disclosure::Masked)
    })
    .await
}

fn shared_conflict() -> ApiError {
    ApiError::conflict(
        "case_shared",
        "a shared case is never changed: file a correction (POST /cases/{id}/corrections)",
    )
}

/// Submits a complete draft (the API's and the console's).
pub(crate) async fn submit_case(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<CaseView, ApiError> {
    submit_case_on(state, user, id, None).await
}

/// The effective date of a back-dated case step, checked before the transaction (see
/// `crate::backdating`): range, future, 2019, and who may back-date.
fn case_effective_date(
    user: &AuthUser,
    field: &str,
    day: Option<NaiveDate>,
) -> Result<Option<NaiveDate>, ApiError> {
    if let Some(d) = day {
        let mut errors = Vec::new();
        crate::domain::dates::check_date(&mut errors, field, d);
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
    }
    crate::backdating::effective_date(user, field, day)
}

/// A back-dated case step may not precede the case's date (`case_date`).
fn not_before_case_date(c: &CaseRow, field: &str, day: NaiveDate) -> Result<(), ApiError> {
    if day < c.case_date {
        return Err(crate::backdating::precedes(
            field,
            "before_case_date",
            day,
            &format!("the case's date ({})", c.case_date),
        ));
    }
    Ok(())
}

/// [`submit_case`], optionally recorded as submitted on a past day (`submitted_on`, 补录): admins
/// and bureaus only, not before the case's date; audited as back-dated.
pub(crate) async fn submit_case_on(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
    submitted_on: Option<NaiveDate>,
) -> Result<CaseView, ApiError> {
    user.require(STAFF)?;
    let backdated = case_effective_date(&user, "submitted_on", submitted_on)?;
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let _marker = crate::backdating::Marker::set("submitted_on", backdated);
            let c = load_visible(conn, &user, id)?;
            require_manage(&user, &c)?;
            match c.status.as_str() {
                "shared" => return Err(shared_conflict()),
                "submitted" => {
                    return Err(ApiError::conflict(
                        "not_a_draft",
                        "the case is already submitted",
                    ))
                }
                _ => {}
            }
            let mut errors = Vec::new();
            if case_subject_rows(conn, id)?.is_empty() {
                errors.push(FieldError::new(
                    "subjects",
                    "required",
                    "a submitted case names at least one subject",
                ));
            }
            if case_measures_of(conn, id)?.is_empty() {
                errors.push(FieldError::new(
                    "measure_item_ids",
                    "required",
                    "a submitted case names at least one measure applied",
                ));
            }
            if !errors.is_empty() {
                return Err(ApiError::validation(errors));
            }
            match backdated {
                Some(d) => {
                    not_before_case_date(&c, "submitted_on", d)?;
                    mark_submitted_at(conn, &st, &user, &c, crate::backdating::instant(d))
                }
                None => mark_submitted(conn, &st, &user, &c),
            }
        })
    })
    .await
}

/// Marks a (validated, complete) draft as submitted; audited.
pub fn mark_submitted(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    c: &CaseRow,
) -> Result<CaseView, ApiError> {
    mark_submitted_at(conn, state, user, c, db::now())
}

/// [`mark_submitted`] with the instant it was submitted (a past one when back-dated).
pub fn mark_submitted_at(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    c: &CaseRow,
    at: chrono::NaiveDateTime,
) -> Result<CaseView, ApiError> {
    let before = case_view(conn, &state.pii, c, Disclosure::Masked)?;
    let now = db::now();
    diesel::update(cases::table.find(c.id))
        .set((
            cases::status.eq("submitted"),
            cases::submitted_at.eq(at),
            cases::updated_at.eq(now),
        ))
        .execute(conn)?;
    let row = find_case(conn, c.id)?.ok_or_else(|| ApiError::internal("case vanished"))?;
    audit_case(conn, state, user, "case.submit", Some(&before), &row)
}

/// Marks a submitted case as shared, audited, with its `case.shared` feed event (full codes).
pub fn mark_shared(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    c: &CaseRow,
) -> Result<CaseView, ApiError> {
    mark_shared_at(conn, state, user, c, db::now())
}

/// [`mark_shared`] with the instant it was shared (a past one when back-dated).
pub fn mark_shared_at(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    c: &CaseRow,
    at: chrono::NaiveDateTime,
) -> Result<CaseView, ApiError> {
    let before = case_view(conn, &state.pii, c, Disclosure::Masked)?;
    let now = db::now();
    diesel::update(cases::table.find(c.id))
        .set((
            cases::status.eq("shared"),
            cases::shared_at.eq(at),
            cases::updated_at.eq(now),
        ))
        .execute(conn)?;
    let row = find_case(conn, c.id)?.ok_or_else(|| ApiError::internal("case vanished"))?;
    let view = audit_case(conn, state, user, "case.share", Some(&before), &row)?;
    let full = case_view(conn, &state.pii, &row, Disclosure::Full)?;
    feed::enqueue_with(
        conn,
        &state.pii,
        feed::Event {
            event_type: EventType::CaseShared,
            entity_type: "case",
            entity_id: row.id.to_string(),
            region_code: Some(&row.region_code),
            department_id: Some(row.department_id),
            payload: &full,
        },
    )?;
    Ok(view)
}

/// Shares a submitted case (the API's and the console's).
pub(crate) async fn share_case(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<CaseView, ApiError> {
    share_case_on(state, user, id, None).await
}

/// [`share_case`], optionally recorded as shared on a past day (`shared_on`, 补录): not before
/// the case's date nor its submission day; audited as back-dated.
pub(crate) async fn share_case_on(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
    shared_on: Option<NaiveDate>,
) -> Result<CaseView, ApiError> {
    user.require(STAFF)?;
    let backdated = case_effective_date(&user, "shared_on", shared_on)?;
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let _marker = crate::backdating::Marker::set("shared_on", backdated);
            let c = load_visible(conn, &user, id)?;
            if !matches!(user.role, Role::Admin | Role::Bureau)
                || !user.covers_region(&c.region_code)
            {
                return Err(ApiError::forbidden(
                    "only the bureau of the case's region or the city bureau shares cases",
                ));
            }
            match c.status.as_str() {
                "shared" => return Err(shared_conflict()),
                "draft" => {
                    return Err(ApiError::conflict(
                        "not_submitted",
                        "only a submitted case can be shared",
                    ))
                }
                _ => {}
            }
            match backdated {
                Some(d) => {
                    not_before_case_date(&c, "shared_on", d)?;
                    if let Some(submitted) = c.submitted_at.map(crate::backdating::china_date) {
                        if d < submitted {
                            return Err(crate::backdating::precedes(
                                "shared_on",
                                "before_submission",
                                d,
                                &format!("the case's submission ({submitted})"),
                            ));
                        }
                    }
                    mark_shared_at(conn, &st, &user, &c, crate::backdating::instant(d))
                }
                None => mark_shared(conn, &st, &user, &c),
            }
        })
    })
    .await
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CaseFilter {
    /// `draft`, `submitted` or `shared`.
    #[param(pattern = "^(draft|submitted|shared)$")]
    pub status: Option<String>,
    pub kind: Option<CaseKind>,
    /// Cases this department filed or took part in.
    pub department_id: Option<i32>,
    pub region_code: Option<String>,
    /// Case date from (inclusive).
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    /// Case date to (inclusive).
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    /// A subject code (exact).
    #[param(pattern = "^[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{18}$")]
    pub subject: Option<String>,
    /// Export only: `xlsx` (default) or `csv`.
    #[param(pattern = "^(xlsx|csv)$")]
    pub format: Option<String>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

fn check_filter(f: &CaseFilter, state: &AppState) -> Result<Option<String>, ApiError> {
    // The list and the export share the filter: each refuses what the other alone reads.
    check_format(&f.format)?;
    PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    if let Some(s) = &f.status {
        if !["draft", "submitted", "shared"].contains(&s.as_str()) {
            return Err(ApiError::invalid_query(
                "status",
                "invalid_value",
                "status must be draft, submitted or shared",
            ));
        }
    }
    if let (Some(a), Some(b)) = (f.from, f.to) {
        if a > b {
            // Both well-formed: a cross-field rule the document cannot state, so 422.
            return Err(ApiError::validation(vec![FieldError::new(
                "query.from",
                "invalid_range",
                "from must not be after to",
            )]));
        }
    }
    Ok(
        crate::entries::subject_filter("subject", f.subject.as_deref())?
            .map(|code| lookup_key(&code, &state.pii)),
    )
}

fn filtered<'a>(
    f: &'a CaseFilter,
    user: &'a AuthUser,
    subject_key: &'a Option<String>,
) -> Result<cases::BoxedQuery<'a, crate::db::MultiBackend>, ApiError> {
    let mut q = cases::table.into_boxed();
    match user.role {
        Role::Department => {
            let d = user.department_id.unwrap_or(-1);
            let joined = case_departments::table
                .filter(case_departments::department_id.eq(d))
                .select(case_departments::case_id);
            q = q.filter(cases::department_id.eq(d).or(cases::id.eq_any(joined)));
        }
        _ => {
            if let Some(r) = user.region_filter()? {
                q = q.filter(cases::region_code.eq(r));
            }
        }
    }
    if let Some(s) = &f.status {
        q = q.filter(cases::status.eq(s.clone()));
    }
    if let Some(k) = f.kind {
        q = q.filter(cases::kind.eq(k.as_str()));
    }
    if let Some(d) = f.department_id {
        let joined = case_departments::table
            .filter(case_departments::department_id.eq(d))
            .select(case_departments::case_id);
        q = q.filter(cases::id.eq_any(joined));
    }
    if let Some(r) = &f.region_code {
        q = q.filter(cases::region_code.eq(r.clone()));
    }
    if let Some(d) = f.from {
        q = q.filter(cases::case_date.ge(d));
    }
    if let Some(d) = f.to {
        q = q.filter(cases::case_date.le(d));
    }
    if let Some(key) = subject_key {
        let ids = case_subjects::table
            .inner_join(crate::schema::subjects::table)
            .filter(crate::schema::subjects::lookup_key.eq(key.clone()))
            .select(case_subjects::case_id);
        q = q.filter(cases::id.eq_any(ids));
    }
    Ok(q)
}

/// One page of cases under a filter (the API's and the console's).
pub(crate) async fn cases_page(
    state: &web::Data<AppState>,
    user: AuthUser,
    f: CaseFilter,
) -> Result<Page<CaseView>, ApiError> {
    user.require(STAFF)?;
    let key = check_filter(&f, state)?;
    let (limit, offset, page, per_page) = PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        let total: i64 = filtered(&f, &user, &key)?.count().get_result(conn)?;
        let rows: Vec<CaseRow> = filtered(&f, &user, &key)?
            .order((cases::case_date.desc(), cases::id.desc()))
            .limit(limit)
            .offset(offset)
            .select(CaseRow::as_select())
            .load(conn)?;
        let items = rows
            .iter()
            .map(|c| case_view(conn, &st.pii, c, Disclosure::Masked))
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

const EXPORT_HEADERS: &[&str] = &[
    "编号",
    "案例标题",
    "类型",
    "状态",
    "立案部门",
    "所属区域代码",
    "领域",
    "案例日期",
    "涉及主体",
    "参与部门",
    "关联名单编号",
    "采取措施",
    "案例摘要",
    "媒体报道数",
    "报送时间",
    "共享时间",
    "更正的案例编号",
];

/// The export as a file response (the API's and the console's): CSV as plain text, or a report
/// workbook with typed cells, a title block and a totals row.
pub(crate) async fn export_file(
    state: &web::Data<AppState>,
    user: AuthUser,
    f: CaseFilter,
) -> Result<HttpResponse, ApiError> {
    use crate::tabular::Cell;
    user.require(STAFF)?;
    let format = check_format(&f.format)?;
    let key = check_filter(&f, state)?;
    let st = state.clone();
    let produced_by = user.username.clone();
    let region_code = f
        .region_code
        .clone()
        .or_else(|| user.region_code.clone())
        .unwrap_or_else(|| crate::auth::CITY_REGION.to_string());
    let period = match (f.from, f.to) {
        (None, None) => "不限".to_string(),
        (from, to) => format!(
            "{} 至 {}",
            from.map(|d| d.to_string()).unwrap_or_else(|| "不限".into()),
            to.map(|d| d.to_string()).unwrap_or_else(|| "不限".into())
        ),
    };
    let year = match (f.from, f.to) {
        (Some(a), Some(b)) if chrono::Datelike::year(&a) == chrono::Datelike::year(&b) => {
            Some(chrono::Datelike::year(&a))
        }
        _ => None,
    };
    let region = region_code.clone();
    let (rows, cells, region_name) = db::run(&state.pool, move |conn| {
        let region_name: String = regions::table
            .find(&region)
            .select(regions::name)
            .first(conn)
            .optional()?
            .unwrap_or_default();
        let found: Vec<CaseRow> = filtered(&f, &user, &key)?
            .order(cases::id.asc())
            .limit(crate::tabular::MAX_ROWS as i64)
            .select(CaseRow::as_select())
            .load(conn)?;
        let mut rows = Vec::with_capacity(found.len());
        let mut cells = Vec::with_capacity(found.len());
        for c in &found {
            let v = case_view(conn, &st.pii, c, Disclosure::Masked)?;
            let field_name: String = application_fields::table
                .find(&c.field)
                .select(application_fields::name)
                .first(conn)?;
            let dept_names: Vec<String> = departments::table
                .filter(departments::id.eq_any(&v.department_ids))
                .order(departments::id.asc())
                .select(departments::name)
                .load(conn)?;
            let media: i64 = case_media_reports::table
                .filter(case_media_reports::case_id.eq(c.id))
                .count()
                .get_result(conn)?;
            let beijing =
                |t: Option<chrono::NaiveDateTime>| t.map(|t| t + chrono::Duration::hours(8));
            let ts = |t: Option<chrono::NaiveDateTime>| {
                beijing(t)
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default()
            };
            let stamp = |t: Option<chrono::NaiveDateTime>| {
                beijing(t).map(Cell::DateTime).unwrap_or(Cell::Empty)
            };
            let subjects = v
                .subjects
                .iter()
                .map(|s| format!("{}（{}）", s.name, s.code))
                .collect::<Vec<_>>()
                .join("；");
            let entry_ids = v
                .entry_ids
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join("；");
            let measures = v
                .measures
                .iter()
                .map(|m| format!("{} {}", m.code, m.title))
                .collect::<Vec<_>>()
                .join("；");
            cells.push(vec![
                Cell::Int(c.id.into()),
                Cell::text(v.title.clone()),
                Cell::text(v.kind.zh()),
                Cell::text(status_zh(&c.status)),
                Cell::text(v.department_name.clone()),
                Cell::text(v.region_code.clone()),
                Cell::text(field_name.clone()),
                Cell::Date(v.case_date),
                Cell::text(subjects.clone()),
                Cell::text(dept_names.join("；")),
                Cell::text(entry_ids.clone()),
                Cell::text(measures.clone()),
                Cell::text(v.summary.clone()),
                Cell::Int(media),
                stamp(c.submitted_at),
                stamp(c.shared_at),
                c.corrects_case_id
                    .map(|i| Cell::Int(i.into()))
                    .unwrap_or(Cell::Empty),
            ]);
            rows.push(vec![
                c.id.to_string(),
                v.title.clone(),
                v.kind.zh().to_string(),
                status_zh(&c.status).to_string(),
                v.department_name.clone(),
                v.region_code.clone(),
                field_name,
                v.case_date.to_string(),
                subjects,
                dept_names.join("；"),
                entry_ids,
                measures,
                v.summary.clone(),
                media.to_string(),
                ts(c.submitted_at),
                ts(c.shared_at),
                c.corrects_case_id
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
            ]);
        }
        Ok((rows, cells, region_name))
    })
    .await?;
    if format == "csv" {
        return file_response(
            format,
            "联合奖惩案例",
            "cases",
            "联合奖惩案例",
            EXPORT_HEADERS,
            &rows,
        );
    }
    let count = |kind: &str| rows.iter().filter(|r| r[2] == kind).count() as i64;
    let media: i64 = cells
        .iter()
        .map(|r| match r[13] {
            Cell::Int(n) => n,
            _ => 0,
        })
        .sum();
    let mut totals = vec![Cell::Empty; EXPORT_HEADERS.len()];
    totals[0] = Cell::text("合计");
    totals[1] = Cell::text(format!(
        "共{}件（守信激励{}件，失信惩戒{}件）",
        rows.len(),
        count(CaseKind::Reward.zh()),
        count(CaseKind::Punishment.zh())
    ));
    totals[13] = Cell::Int(media);
    let info = crate::tabular::title_lines(
        &region_name,
        &region_code,
        year,
        vec![
            ("案例日期".to_string(), Cell::text(period)),
            ("案例数".to_string(), Cell::Int(rows.len() as i64)),
        ],
        crate::entries::today(),
        &produced_by,
    );
    let sheet = crate::tabular::ReportSheet {
        name: "联合奖惩案例".into(),
        title: "守信联合激励和失信联合惩戒案例".into(),
        info,
        headers: EXPORT_HEADERS.iter().map(|h| h.to_string()).collect(),
        rows: cells,
        totals: Some(totals),
    };
    let bytes =
        crate::tabular::write_report(&[sheet]).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            crate::imports::disposition(
                &format!("cases-{region_code}"),
                &format!("{region_name}联合奖惩案例（{region_code}）"),
                "xlsx",
            ),
        ))
        .body(bytes))
}

/// A stored case as input (for edits and corrections).
fn current_input(
    conn: &mut DbConnection,
    state: &AppState,
    c: &CaseRow,
) -> Result<NewCase, ApiError> {
    let subjects = case_subject_rows(conn, c.id)?
        .iter()
        .map(|s| {
            Ok(CaseSubjectInput {
                code: s.full_code(&state.pii)?,
                name: s.name.clone(),
                kind: SubjectType::parse(&s.kind),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(NewCase {
        title: c.title.clone(),
        kind: CaseKind::parse(&c.kind).ok_or_else(|| ApiError::internal("unknown case kind"))?,
        department_id: Some(c.department_id),
        subjects,
        entry_ids: case_entry_ids(conn, c.id)?,
        measure_item_ids: case_measures_of(conn, c.id)?
            .into_iter()
            .map(|m| m.measure_item_id)
            .collect(),
        department_ids: participants(conn, c.id)?
            .into_iter()
            .filter(|d| *d != c.department_id)
            .collect(),
        field: c.field.clone(),
        case_date: c.case_date,
        summary: c.summary.clone(),
        source_check_id: c.source_check_id,
    })
}

/// Changes a draft case; lists given replace the stored ones. Audited.
pub(crate) async fn update_case(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
    p: CasePatch,
) -> Result<CaseView, ApiError> {
    user.require(STAFF)?;
    let st = state.clone();
    state
        .receipts
        .run_settled(&state.pool, move |conn| {
            db::write_tx(conn, |conn| {
                let c = load_visible(conn, &user, id)?;
                require_manage(&user, &c)?;
                match c.status.as_str() {
                    "shared" => return Err(shared_conflict()),
                    "submitted" => {
                        return Err(ApiError::conflict(
                            "not_a_draft",
                            "a submitted case is not edited: file a correction",
                        ))
                    }
                    _ => {}
                }
                let before = case_view(conn, &st.pii, &c, Disclosure::Masked)?;
                let current = current_input(conn, &st, &c)?;
                let input = NewCase {
                    title: p.title.unwrap_or(current.title),
                    kind: p.kind.unwrap_or(current.kind),
                    department_id: Some(c.department_id),
                    subjects: p.subjects.unwrap_or(current.subjects),
                    entry_ids: p.entry_ids.unwrap_or(current.entry_ids),
                    measure_item_ids: p.measure_item_ids.unwrap_or(current.measure_item_ids),
                    department_ids: p.department_ids.unwrap_or(current.department_ids),
                    field: p.field.unwrap_or(current.field),
                    case_date: p.case_date.unwrap_or(current.case_date),
                    summary: p.summary.unwrap_or(current.summary),
                    source_check_id: c.source_check_id,
                };
                write_case(conn, &st, &user, Some(&c), &input, CaseOrigin::default())?;
                let row =
                    find_case(conn, id)?.ok_or_else(|| ApiError::internal("case vanished"))?;
                audit_case(conn, &st, &user, "case.update", Some(&before), &row)
            })
        })
        .await
}

/// Files a correction (更正) of a submitted or shared case: a new draft with the same content.
pub(crate) async fn correct_case(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<CaseView, ApiError> {
    user.require(STAFF)?;
    let st = state.clone();
    state
        .receipts
        .run_settled(&state.pool, move |conn| {
            db::write_tx(conn, |conn| {
                let c = load_visible(conn, &user, id)?;
                require_manage(&user, &c)?;
                if c.status == "draft" {
                    return Err(ApiError::conflict(
                        "not_submitted",
                        "a draft is edited in place (PATCH), not corrected",
                    ));
                }
                let input = current_input(conn, &st, &c)?;
                let new_id = write_case(
                    conn,
                    &st,
                    &user,
                    None,
                    &input,
                    CaseOrigin {
                        corrects: Some(id),
                        ..CaseOrigin::default()
                    },
                )?;
                let row =
                    find_case(conn, new_id)?.ok_or_else(|| ApiError::internal("case vanished"))?;
                audit_case(conn, &st, &user, "case.correct", None, &row)
            })
        })
        .await
}
