//! The list entries' operations (红黑名单): identifying (认定), publishing (公示), removing (移出),
//! discarding and reading entries. The API's handlers, the console, the importer and the demo all
//! call these; each authorises its caller and audits what it changes.

use actix_web::web;
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::*;
use crate::audit::{self, Entry};
use crate::auth::{AuthUser, Role, STAFF};
use crate::db;
use crate::domain::dates::{check_date, check_optional_date};
use crate::error::{ApiError, FieldError};
use crate::http::{required_line, required_text, Page, PageQuery};
use crate::schema::{audit_log, departments, list_entries, subjects};
use crate::state::AppState;

/// A new entry (draft).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntry {
    pub list_type: ListType,
    /// Unified social credit code or resident ID number.
    #[schema(example = "91220500MA0000001Q")]
    pub subject_code: String,
    /// Defaults from the code: ID numbers are individuals; codes registered by market regulation
    /// (first character 9) enterprises; others other organisations.
    pub subject_kind: Option<SubjectType>,
    #[schema(
        example = "通化市某某商贸有限公司",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub subject_name: String,
    /// 法定代表人 (organisations).
    #[schema(max_length = 50)]
    pub legal_representative: Option<String>,
    /// The legal representative's ID number; stored encrypted, shown masked.
    pub legal_representative_id: Option<String>,
    /// Defaults to the region in the code, or the department's region when the code is from
    /// elsewhere.
    pub region_code: Option<String>,
    /// Defaults to the caller's department.
    pub department_id: Option<i32>,
    /// A published scope item of the right kind (red_scope / black_scope).
    pub scope_item_id: i32,
    #[schema(
        example = "通税稽罚〔2026〕12号",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub document_number: String,
    #[schema(value_type = String, format = Date)]
    pub determination_date: NaiveDate,
    /// Defaults to the determination date.
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<NaiveDate>,
    /// Last day in force. Defaults from the scope item: red entries its validity, black entries
    /// the maximum publication period of its tier, counted from the determination date.
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<NaiveDate>,
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub facts: String,
    /// Staff-only note, never published.
    pub internal_note: Option<String>,
    #[serde(default)]
    pub source: Source,
    /// 告知日期: the day the subject was notified of the reasons, the basis and its right to state
    /// its case (black entries; not after the determination). A local black entry is published
    /// only with it (422 `notice_missing`).
    #[schema(value_type = Option<String>, format = Date)]
    pub notice_date: Option<NaiveDate>,
    /// 陈述申辩: the outcome of the subject's statement (black entries; follows a notice).
    pub statement_outcome: Option<StatementOutcome>,
    /// Record a unified social credit code whose only fault is its check character (some real
    /// early codes); bureau and admin accounts only. The subject stays flagged.
    #[serde(default)]
    pub acknowledge_invalid_checksum: bool,
}

fn scope_error(detail: impl Into<String>, code: &'static str) -> ApiError {
    ApiError::invalid_field("scope_item_id", code, detail)
}

/// An entry checked against the rules, the caller's scope and the reference data, ready to be
/// written for its subject.
pub struct PreparedEntry {
    pub code: SubjectCode,
    /// The code fails its check character and was acknowledged.
    pub flagged: bool,
    pub kind: SubjectType,
    pub list_type: ListType,
    pub subject_name: String,
    pub department_id: i32,
    pub region_code: String,
    pub scope_item_id: i32,
    pub scope_item_version: i32,
    pub legal_representative: Option<String>,
    pub legal_representative_id: Option<crate::domain::IdNumber>,
    pub document_number: String,
    pub determination_date: NaiveDate,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub facts: String,
    pub internal_note: Option<String>,
    pub source: Source,
    pub notice_date: Option<NaiveDate>,
    pub statement_outcome: Option<StatementOutcome>,
}

/// Validates and inserts one draft entry (the API's, the console's, the demo's).
pub fn create_entry(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    input: NewEntry,
    lookups: &mut Lookups,
) -> Result<EntryRow, ApiError> {
    let p = prepare_entry(conn, user, input, lookups)?;
    let subject = upsert_subject(
        conn,
        &state.pii,
        &p.code,
        p.kind,
        &p.subject_name,
        &p.region_code,
        p.flagged,
    )?;
    let duplicate: i64 = list_entries::table
        .filter(list_entries::department_id.eq(p.department_id))
        .filter(list_entries::document_number.eq(&p.document_number))
        .filter(list_entries::subject_id.eq(subject.id))
        .filter(list_entries::list_type.eq(p.list_type.as_str()))
        .count()
        .get_result(conn)?;
    if duplicate > 0 {
        return Err(ApiError::conflict(
            "duplicate_entry",
            "this department already recorded this subject on this list under this document number",
        ));
    }
    let id = insert_entry(conn, state, user, &p, subject.id, None)?;
    find_entry(conn, id)?.ok_or_else(|| ApiError::internal("entry vanished"))
}

/// Checks a new entry against the rules, the caller's scope and the reference data (read
/// through `lookups`, so that an import reads each item once); writes nothing.
pub fn prepare_entry(
    conn: &mut DbConnection,
    user: &AuthUser,
    input: NewEntry,
    lookups: &mut Lookups,
) -> Result<PreparedEntry, ApiError> {
    let mut errors = Vec::new();
    if input.acknowledge_invalid_checksum && !matches!(user.role, Role::Admin | Role::Bureau) {
        return Err(ApiError::forbidden(
            "only bureau and admin accounts may record a code that fails its check",
        ));
    }
    let (code, flagged) = parse_subject_code(
        "subject_code",
        &input.subject_code,
        input.acknowledge_invalid_checksum,
    )?;
    let kind = code
        .type_with(input.subject_kind)
        .map_err(|m| ApiError::invalid_field("subject_kind", "kind_mismatch", m))?;
    let subject_name = required_line(&mut errors, "subject_name", &input.subject_name, 200);
    let document_number =
        required_line(&mut errors, "document_number", &input.document_number, 100);
    let facts = required_text(&mut errors, "facts", &input.facts, 5000);
    let legal_representative = input
        .legal_representative
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| crate::pii::mask_id_numbers_in(s).into_owned());
    if legal_representative
        .as_ref()
        .is_some_and(|s| s.chars().count() > 50)
    {
        errors.push(FieldError::new(
            "legal_representative",
            "too_long",
            "at most 50 characters",
        ));
    }
    let legal_rep_id = match input
        .legal_representative_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(raw) => match crate::domain::IdNumber::parse(raw) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.push(FieldError::new(
                    "legal_representative_id",
                    e.code(),
                    e.to_string(),
                ));
                None
            }
        },
    };
    if let Some(r) = &legal_representative {
        crate::http::text_chars(&mut errors, "legal_representative", r, false);
    }
    if let Some(n) = &input.internal_note {
        crate::http::text_chars(&mut errors, "internal_note", n, true);
    }
    check_date(&mut errors, "determination_date", input.determination_date);
    check_optional_date(&mut errors, "valid_from", input.valid_from);
    check_optional_date(&mut errors, "valid_until", input.valid_until);
    let today = today();
    if input.determination_date > today {
        errors.push(FieldError::new(
            "determination_date",
            "in_future",
            "the determination date cannot be in the future",
        ));
    }
    check_notice(
        &mut errors,
        input.list_type,
        input.determination_date,
        input.notice_date,
        input.statement_outcome,
        today,
    );
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let dept = crate::org::acting_department(conn, user, input.department_id, |c, id| {
        lookups.department(c, id)
    })?;
    // The scope item: published, of the right kind, of that department (bureaus: of a
    // department in their region).
    let scope = lookups
        .item(conn, input.scope_item_id)?
        .ok_or_else(|| scope_error("there is no such scope item", "unknown_item"))?;
    if scope.kind != input.list_type.scope_kind() {
        return Err(scope_error(
            format!(
                "a {} entry cites a {} item, not {}",
                input.list_type.as_str(),
                input.list_type.scope_kind(),
                scope.kind
            ),
            "wrong_kind",
        ));
    }
    if scope.status != "published" {
        return Err(scope_error(
            "the scope item is not published (or was repealed)",
            "scope_not_published",
        ));
    }
    if scope.department_id != dept.id {
        let scope_region = lookups
            .department(conn, scope.department_id)?
            .map(|d| d.region_code)
            .unwrap_or_default();
        let allowed = user.role != Role::Department && user.covers_region(&scope_region);
        if !allowed {
            return Err(scope_error(
                "the scope item belongs to another department",
                "other_department",
            ));
        }
    }
    let version_no = scope
        .published_version
        .ok_or_else(|| scope_error("no published version", "scope_not_published"))?;
    let version = lookups
        .version(conn, scope.id, version_no)?
        .ok_or_else(|| ApiError::internal("missing scope version"))?;
    let content = version.content();
    if !content.subject_kinds.contains(&kind) {
        return Err(ApiError::invalid_field(
            "subject_kind",
            "kind_not_covered",
            format!(
                "the scope item does not apply to {} subjects",
                kind.as_str()
            ),
        ));
    }
    let valid_from = input.valid_from.unwrap_or(input.determination_date);
    if valid_from < input.determination_date {
        return Err(ApiError::invalid_field(
            "valid_from",
            "before_determination",
            "valid_from cannot precede the determination date",
        ));
    }
    let valid_until = match (input.list_type, input.valid_until) {
        (_, Some(u)) => u,
        (ListType::Red, None) => period_end(valid_from, content.validity_months.unwrap_or(24)),
        (ListType::Black, None) => period_end(
            input.determination_date,
            content.publication_months_max.unwrap_or(36),
        ),
    };
    if valid_until < valid_from {
        return Err(ApiError::invalid_field(
            "valid_until",
            "before_valid_from",
            "valid_until cannot precede valid_from",
        ));
    }
    if input.list_type == ListType::Black {
        let max = period_end(
            input.determination_date,
            content.publication_months_max.unwrap_or(36),
        );
        if valid_until > max {
            return Err(ApiError::invalid_field(
                "valid_until",
                "beyond_publication_period",
                format!("the scope item's tier allows publication until {max} at the latest"),
            ));
        }
        let min_months = content.publication_months_min.unwrap_or(0);
        if min_months > 0 && valid_until < period_end(input.determination_date, min_months) {
            return Err(ApiError::invalid_field(
                "valid_until",
                "below_publication_period",
                format!(
                    "the scope item's tier requires at least {min_months} months of publication"
                ),
            ));
        }
    }
    let region_code = match input.region_code {
        Some(r) => {
            if !lookups.region_exists(conn, &r)? {
                return Err(ApiError::invalid_field(
                    "region_code",
                    "unknown_region",
                    format!("there is no region {r}"),
                ));
            }
            r
        }
        None => {
            let from_code = code.division_code().to_string();
            if lookups.region_exists(conn, &from_code)? {
                from_code
            } else {
                dept.region_code.clone()
            }
        }
    };
    if user.role == Role::Bureau && !user.covers_region(&region_code) {
        return Err(ApiError::forbidden(
            "the entry's region is outside your scope",
        ));
    }
    Ok(PreparedEntry {
        code,
        flagged,
        kind,
        list_type: input.list_type,
        subject_name,
        department_id: dept.id,
        region_code,
        scope_item_id: scope.id,
        scope_item_version: version_no,
        legal_representative,
        legal_representative_id: legal_rep_id,
        document_number,
        determination_date: input.determination_date,
        valid_from,
        valid_until,
        facts,
        internal_note: input
            .internal_note
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| crate::pii::mask_id_numbers_in(s).into_owned()),
        source: input.source,
        notice_date: input.notice_date,
        statement_outcome: input.statement_outcome,
    })
}

/// Writes a prepared entry as a draft of `subject_id`; its id. `import_id` names the import
/// that wrote it, whose audit record then stands for the entry's creation.
pub fn insert_entry(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    p: &PreparedEntry,
    subject_id: i32,
    import_id: Option<&str>,
) -> Result<i32, ApiError> {
    let now = db::now();
    Ok(diesel::insert_into(list_entries::table)
        .values((
            list_entries::subject_id.eq(subject_id),
            list_entries::list_type.eq(p.list_type.as_str()),
            list_entries::status.eq("draft"),
            list_entries::department_id.eq(p.department_id),
            list_entries::region_code.eq(&p.region_code),
            list_entries::scope_item_id.eq(p.scope_item_id),
            list_entries::scope_item_version.eq(p.scope_item_version),
            list_entries::subject_name.eq(&p.subject_name),
            list_entries::legal_representative.eq(&p.legal_representative),
            list_entries::legal_representative_id_enc.eq(p
                .legal_representative_id
                .as_ref()
                .map(|i| state.pii.encrypt(i.as_str()))),
            list_entries::legal_representative_id_masked
                .eq(p.legal_representative_id.as_ref().map(|i| i.masked())),
            list_entries::document_number.eq(&p.document_number),
            list_entries::determination_date.eq(p.determination_date),
            list_entries::valid_from.eq(p.valid_from),
            list_entries::valid_until.eq(p.valid_until),
            list_entries::facts.eq(&p.facts),
            list_entries::internal_note.eq(&p.internal_note),
            list_entries::source.eq(p.source.as_str()),
            list_entries::notice_date.eq(p.notice_date),
            list_entries::statement_outcome.eq(p.statement_outcome.map(|o| o.as_str())),
            list_entries::objection_open.eq(false),
            list_entries::created_by.eq(user.id),
            list_entries::created_at.eq(now),
            list_entries::updated_at.eq(now),
            list_entries::import_id.eq(import_id),
        ))
        .returning(list_entries::id)
        .get_result(conn)?)
}

/// Audit record of an entry change (subject codes masked in the trail).
pub fn audit_entry(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    action: &str,
    before: Option<&EntryRow>,
    after: &EntryRow,
) -> Result<(), ApiError> {
    audit_entry_with(
        conn,
        state,
        user,
        action,
        before,
        after,
        &mut Lookups::default(),
    )
}

/// [`audit_entry`] reusing reference data already read (imports).
pub fn audit_entry_with(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    action: &str,
    before: Option<&EntryRow>,
    after: &EntryRow,
    lookups: &mut Lookups,
) -> Result<(), ApiError> {
    let today = today();
    let after_view = entry_view_with(conn, &state.pii, after, Disclosure::Masked, today, lookups)?;
    let mut entry = Entry::new(action, "list_entry", after.id)
        .region(Some(after.region_code.clone()))
        .department(Some(after.department_id))
        .after(&after_view);
    if let Some(b) = before {
        entry = entry.before(&entry_view_with(
            conn,
            &state.pii,
            b,
            Disclosure::Masked,
            today,
            lookups,
        )?);
    }
    audit::append(conn, &user.actor(), entry)?;
    // Every change of an entry's stored status passes here (publish, remove, black-while-red,
    // objection upheld, imports, credit repair): the province hears of each one, in the same
    // transaction (共享至省平台).
    let event = match (before.map(|b| b.status.as_str()), after.status.as_str()) {
        (Some("published"), "published") | (Some("removed"), "removed") => None,
        (_, "published") => Some(crate::feed::EventType::EntryPublished),
        (_, "removed") => Some(crate::feed::EventType::EntryRemoved),
        _ => None,
    };
    if let Some(event_type) = event {
        feed_entry_event(conn, state, after, event_type, lookups)?;
    }
    Ok(())
}

/// Queues an entry's change for the provincial platform (共享至省平台): its full view, without the
/// staff-only note, which stays in the city.
pub fn feed_entry_event(
    conn: &mut DbConnection,
    state: &AppState,
    e: &EntryRow,
    event_type: crate::feed::EventType,
    lookups: &mut Lookups,
) -> Result<(), ApiError> {
    let mut payload = entry_view_with(conn, &state.pii, e, Disclosure::Full, today(), lookups)?;
    payload.internal_note = None;
    crate::feed::enqueue_with(
        conn,
        &state.pii,
        crate::feed::Event {
            event_type,
            entity_type: "list_entry",
            entity_id: e.id.to_string(),
            region_code: Some(&e.region_code),
            department_id: Some(e.department_id),
            payload: &payload,
        },
    )?;
    Ok(())
}

/// Records one entry as a draft (the API's and the console's).
pub(crate) async fn create_draft(
    state: &web::Data<AppState>,
    user: AuthUser,
    input: NewEntry,
) -> Result<EntryView, ApiError> {
    user.require(STAFF)?;
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let row = create_entry(conn, &st, &user, input, &mut Lookups::default())?;
            audit_entry(conn, &st, &user, "list_entry.create", None, &row)?;
            entry_view(conn, &st.pii, &row, Disclosure::Full, today())
        })
    })
    .await
}

/// 404 for drafts the caller does not manage; 403 for approval systems.
pub fn load_visible(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: i32,
) -> Result<EntryRow, ApiError> {
    let e = find_entry(conn, id)?.ok_or_else(|| ApiError::not_found("list entry"))?;
    if e.status == "draft" && !manages(conn, user, &e)? {
        return Err(ApiError::not_found("list entry"));
    }
    Ok(e)
}

fn manages(conn: &mut DbConnection, user: &AuthUser, e: &EntryRow) -> Result<bool, ApiError> {
    let dept_region: String = departments::table
        .find(e.department_id)
        .select(departments::region_code)
        .first(conn)?;
    Ok(user.may_manage_department(e.department_id, &dept_region)
        && (user.role != Role::Bureau
            || user.covers_region(&e.region_code)
            || user.covers_region(&dept_region)))
}

pub fn require_manages(
    conn: &mut DbConnection,
    user: &AuthUser,
    e: &EntryRow,
) -> Result<(), ApiError> {
    if manages(conn, user, e)? {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "this entry belongs to a department outside your scope",
        ))
    }
}

/// A draft entry the caller manages, for a step only drafts take; otherwise 404 (not visible),
/// 403 (not the caller's) or 409 `not_a_draft` with `why`.
fn managed_draft(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: i32,
    why: &'static str,
) -> Result<EntryRow, ApiError> {
    let before = load_visible(conn, user, id)?;
    require_manages(conn, user, &before)?;
    if before.status != "draft" {
        return Err(ApiError::conflict("not_a_draft", why));
    }
    Ok(before)
}

/// Publishes one draft entry (the API's and the console's).
pub(crate) async fn publish_draft(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<EntryView, ApiError> {
    user.require(STAFF)?;
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let before = managed_draft(conn, &user, id, "only a draft entry can be published")?;
            let row = publish_entry(conn, &st, &user, before)?;
            entry_view(conn, &st.pii, &row, Disclosure::Full, today())
        })
    })
    .await
}

/// The notice (告知) and statement (陈述申辩) of a draft black entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeRecord {
    /// 告知日期: not in the future, not after the determination date.
    #[schema(value_type = String, format = Date)]
    pub notice_date: NaiveDate,
    /// 陈述申辩 outcome.
    pub statement_outcome: StatementOutcome,
}

/// Records (or corrects) the notice and statement of a draft black entry; audited as
/// `list_entry.notice`. Published entries keep the notice they were published with.
pub(crate) async fn record_notice(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
    input: NoticeRecord,
) -> Result<EntryView, ApiError> {
    user.require(STAFF)?;
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let before = managed_draft(
                conn,
                &user,
                id,
                "the notice is recorded before publication, on a draft",
            )?;
            let list_type = if before.list_type == "red" {
                ListType::Red
            } else {
                ListType::Black
            };
            let mut errors = Vec::new();
            check_notice(
                &mut errors,
                list_type,
                before.determination_date,
                Some(input.notice_date),
                Some(input.statement_outcome),
                today(),
            );
            if !errors.is_empty() {
                return Err(ApiError::validation(errors));
            }
            diesel::update(list_entries::table.find(id))
                .set((
                    list_entries::notice_date.eq(input.notice_date),
                    list_entries::statement_outcome.eq(input.statement_outcome.as_str()),
                    list_entries::updated_at.eq(db::now()),
                ))
                .execute(conn)?;
            let after =
                find_entry(conn, id)?.ok_or_else(|| ApiError::internal("entry vanished"))?;
            audit_entry(conn, &st, &user, "list_entry.notice", Some(&before), &after)?;
            entry_view(conn, &st.pii, &after, Disclosure::Full, today())
        })
    })
    .await
}

/// Publishes a draft (checked by the caller) and applies the black-while-red rule; audited.
pub fn publish_entry(
    conn: &mut DbConnection,
    state: &AppState,
    user: &AuthUser,
    before: EntryRow,
) -> Result<EntryRow, ApiError> {
    require_notice(&before)?;
    let now = db::now();
    let today = today();
    diesel::update(list_entries::table.find(before.id))
        .set((
            list_entries::status.eq("published"),
            list_entries::published_at.eq(now),
            list_entries::updated_at.eq(now),
        ))
        .execute(conn)?;
    let after = find_entry(conn, before.id)?.ok_or_else(|| ApiError::internal("entry vanished"))?;
    audit_entry(
        conn,
        state,
        user,
        "list_entry.publish",
        Some(&before),
        &after,
    )?;
    crate::checks::watches::notify(conn, &after, crate::checks::watches::WatchEvent::Published)?;
    if after.list_type == "black" && in_force_on(&after, today) {
        // 发改财金规〔2017〕1798号 §十九: black-listed during the red validity → off the red list.
        let reds: Vec<EntryRow> = list_entries::table
            .filter(list_entries::subject_id.eq(after.subject_id))
            .filter(list_entries::list_type.eq("red"))
            .filter(list_entries::status.eq("published"))
            .select(EntryRow::as_select())
            .load(conn)?;
        for red in reds.into_iter().filter(|r| in_force_on(r, today)) {
            diesel::update(list_entries::table.find(red.id))
                .set((
                    list_entries::status.eq("removed"),
                    list_entries::removal_reason.eq(RemovalReason::BlackListedWhileRed.as_str()),
                    list_entries::removal_date.eq(today),
                    list_entries::removal_note
                        .eq(format!("black-list entry {} published", after.id)),
                    list_entries::removed_at.eq(now),
                    list_entries::updated_at.eq(now),
                ))
                .execute(conn)?;
            let red_after =
                find_entry(conn, red.id)?.ok_or_else(|| ApiError::internal("entry vanished"))?;
            audit_entry(
                conn,
                state,
                user,
                "list_entry.remove",
                Some(&red),
                &red_after,
            )?;
            crate::checks::watches::notify(
                conn,
                &red_after,
                crate::checks::watches::WatchEvent::Removed,
            )?;
        }
    }
    Ok(after)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveRequest {
    /// `expired`, `objection_upheld`, `revoked` or `standard_changed`. (`repaired` is set by the
    /// credit-repair workflow, `black_listed_while_red` automatically, `source_removed` by the
    /// national-list sync.)
    pub reason: RemovalReason,
    /// Defaults to today; not in the future, not before the entry's determination.
    #[schema(value_type = Option<String>, format = Date)]
    pub removal_date: Option<NaiveDate>,
    /// Why, for the record (required).
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub note: String,
}

/// Deletes one draft entry (the API's and the console's).
pub(crate) async fn discard(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<(), ApiError> {
    user.require(STAFF)?;
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let before = managed_draft(
                conn,
                &user,
                id,
                "a published entry is removed with a reason, never deleted",
            )?;
            let view = entry_view(conn, &st.pii, &before, Disclosure::Masked, today())?;
            diesel::delete(list_entries::table.find(id)).execute(conn)?;
            audit::append(
                conn,
                &user.actor(),
                Entry::new("list_entry.discard", "list_entry", id)
                    .region(Some(before.region_code.clone()))
                    .department(Some(before.department_id))
                    .before(&view),
            )?;
            Ok(())
        })
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntryFilter {
    pub list_type: Option<ListType>,
    pub department_id: Option<i32>,
    pub region_code: Option<String>,
    /// `draft`, `published`, `removed` (stored state) or `in_force`, `expired`, `pending`
    /// (computed as of today).
    #[param(pattern = "^(draft|published|removed|in_force|expired|pending)$")]
    pub status: Option<String>,
    pub source: Option<Source>,
    /// A subject code (exact).
    #[param(pattern = "^[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{18}$")]
    pub subject: Option<String>,
    #[param(value_type = Option<String>, format = Date)]
    pub determined_from: Option<NaiveDate>,
    #[param(value_type = Option<String>, format = Date)]
    pub determined_to: Option<NaiveDate>,
    /// Substring of the subject name, document number or facts.
    pub q: Option<String>,
    /// `determination_date` (default, newest first), `valid_until`, `id`.
    #[param(pattern = "^(determination_date|valid_until|id)$")]
    pub sort: Option<String>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

/// Filters shared by the list and the export.
pub fn filtered_entries<'a>(
    f: &'a EntryFilter,
    managed: &'a Option<Vec<i32>>,
    subject_key: &'a Option<String>,
    today: NaiveDate,
) -> list_entries::BoxedQuery<'a, crate::db::MultiBackend> {
    let mut q = list_entries::table.into_boxed();
    if let Some(ids) = managed {
        q = q.filter(
            list_entries::status
                .ne("draft")
                .or(list_entries::department_id.eq_any(ids.clone())),
        );
    }
    if let Some(t) = f.list_type {
        q = q.filter(list_entries::list_type.eq(t.as_str()));
    }
    if let Some(d) = f.department_id {
        q = q.filter(list_entries::department_id.eq(d));
    }
    if let Some(r) = &f.region_code {
        q = q.filter(list_entries::region_code.eq(r.clone()));
    }
    if let Some(s) = f.source {
        q = q.filter(list_entries::source.eq(s.as_str()));
    }
    if let Some(key) = subject_key {
        let ids = subjects::table
            .filter(subjects::lookup_key.eq(key.clone()))
            .select(subjects::id);
        q = q.filter(list_entries::subject_id.eq_any(ids));
    }
    if let Some(d) = f.determined_from {
        q = q.filter(list_entries::determination_date.ge(d));
    }
    if let Some(d) = f.determined_to {
        q = q.filter(list_entries::determination_date.le(d));
    }
    if let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = format!("%{}%", text.replace(['%', '_'], ""));
        q = q.filter(
            list_entries::subject_name
                .like(pattern.clone())
                .or(list_entries::document_number.like(pattern.clone()))
                .or(list_entries::facts.like(pattern)),
        );
    }
    match f.status.as_deref() {
        Some("draft") | Some("published") | Some("removed") => {
            q = q.filter(list_entries::status.eq(f.status.clone().unwrap_or_default()));
        }
        Some("in_force") => q = q.filter(in_force_sql(today)),
        Some("expired") => {
            q = q
                .filter(list_entries::status.eq("published"))
                .filter(list_entries::valid_until.lt(today))
        }
        Some("pending") => {
            q = q
                .filter(list_entries::status.eq("published"))
                .filter(list_entries::valid_from.gt(today))
        }
        _ => {}
    }
    q
}

pub fn check_filter(f: &EntryFilter, state: &AppState) -> Result<Option<String>, ApiError> {
    if let Some(s) = &f.status {
        if ![
            "draft",
            "published",
            "removed",
            "in_force",
            "expired",
            "pending",
        ]
        .contains(&s.as_str())
        {
            return Err(ApiError::invalid_query(
                "status",
                "invalid_value",
                "status must be draft, published, removed, in_force, expired or pending",
            ));
        }
    }
    if let Some(s) = &f.sort {
        if !["determination_date", "valid_until", "id"].contains(&s.as_str()) {
            return Err(ApiError::invalid_query(
                "sort",
                "invalid_value",
                "sort must be determination_date, valid_until or id",
            ));
        }
    }
    Ok(super::subject_filter("subject", f.subject.as_deref())?
        .map(|code| lookup_key(&code, &state.pii)))
}

/// One page of entries under a filter (the API's and the console's).
pub(crate) async fn entries_page(
    state: &web::Data<AppState>,
    user: AuthUser,
    f: EntryFilter,
) -> Result<Page<EntryView>, ApiError> {
    user.require(STAFF)?;
    let subject_key = check_filter(&f, state)?;
    let (limit, offset, page, per_page) = PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        let today = today();
        let managed = crate::auth::managed_departments(conn, &user)?;
        let total: i64 = filtered_entries(&f, &managed, &subject_key, today)
            .count()
            .get_result(conn)?;
        let q = filtered_entries(&f, &managed, &subject_key, today);
        let q = match f.sort.as_deref() {
            Some("valid_until") => {
                q.order((list_entries::valid_until.asc(), list_entries::id.asc()))
            }
            Some("id") => q.order(list_entries::id.asc()),
            _ => q.order((
                list_entries::determination_date.desc(),
                list_entries::id.desc(),
            )),
        };
        let rows: Vec<EntryRow> = q
            .limit(limit)
            .offset(offset)
            .select(EntryRow::as_select())
            .load(conn)?;
        let items = rows
            .iter()
            .map(|e| entry_view(conn, &st.pii, e, Disclosure::Full, today))
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

/// One change in an entry's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEvent {
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub at: chrono::NaiveDateTime,
    #[schema(example = "list_entry.publish")]
    pub action: String,
    pub actor_username: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

/// Removes an entry in force from the list (移出), audited; the watchers are told.
pub async fn remove_entry(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
    req: RemoveRequest,
) -> Result<EntryView, ApiError> {
    user.require(STAFF)?;
    if matches!(
        req.reason,
        RemovalReason::Repaired | RemovalReason::BlackListedWhileRed | RemovalReason::SourceRemoved
    ) {
        return Err(ApiError::invalid_field(
            "reason",
            "reserved_reason",
            "this reason is set by the service itself (credit repair, black-listing, national sync)",
        ));
    }
    let mut errors = Vec::new();
    let note = required_text(&mut errors, "note", &req.note, 1000);
    check_optional_date(&mut errors, "removal_date", req.removal_date);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            let before = load_visible(conn, &user, id)?;
            require_manages(conn, &user, &before)?;
            // A national entry (国家层面认定) belongs to its source: it changes through the
            // national-list sync, or by an admin's correction, audited as such.
            let national = before.source == Source::National.as_str();
            if national && user.role != Role::Admin {
                return Err(ApiError::forbidden(
                    "a national entry (国家层面认定) changes only through its source: the national-list sync, or an admin's audited correction",
                ));
            }
            let today = today();
            // A removal on a past day is back-dating: admins and bureaus only, marked in the
            // audit trail (crate::backdating).
            let backdated =
                crate::backdating::effective_date(&user, "removal_date", req.removal_date)?;
            let _marker = crate::backdating::Marker::set("removal_date", backdated);
            let date = backdated.unwrap_or(today);
            if date < before.valid_from {
                return Err(ApiError::invalid_field(
                    "removal_date",
                    "before_valid_from",
                    "the removal date precedes the entry's validity",
                ));
            }
            if before.status != "published" || !in_force_on(&before, date) {
                return Err(ApiError::conflict(
                    "not_in_force",
                    "only a published entry in force can be removed",
                ));
            }
            let now = db::now();
            diesel::update(list_entries::table.find(id))
                .set((
                    list_entries::status.eq("removed"),
                    list_entries::removal_reason.eq(req.reason.as_str()),
                    list_entries::removal_date.eq(date),
                    list_entries::removal_note.eq(&note),
                    list_entries::removed_at.eq(now),
                    list_entries::updated_at.eq(now),
                ))
                .execute(conn)?;
            let after =
                find_entry(conn, id)?.ok_or_else(|| ApiError::internal("entry vanished"))?;
            let action = if national {
                "list_entry.admin_correction"
            } else {
                "list_entry.remove"
            };
            audit_entry(conn, &st, &user, action, Some(&before), &after)?;
            crate::checks::watches::notify(
                conn,
                &after,
                crate::checks::watches::WatchEvent::Removed,
            )?;
            entry_view(conn, &st.pii, &after, Disclosure::Full, today)
        })
    })
    .await
}

/// One entry, as its manager or staff may see it.
pub async fn entry_by_id(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<EntryView, ApiError> {
    user.require(STAFF)?;
    let st = state.clone();
    db::run(&state.pool, move |conn| {
        let e = load_visible(conn, &user, id)?;
        entry_view(conn, &st.pii, &e, Disclosure::Full, today())
    })
    .await
}

/// (at, action, actor, before JSON, after JSON) from the audit trail.
type HistoryRow = (
    chrono::NaiveDateTime,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Every change to an entry, oldest first, from the audit trail.
pub async fn entry_history(
    state: &web::Data<AppState>,
    user: AuthUser,
    id: i32,
) -> Result<Vec<HistoryEvent>, ApiError> {
    user.require(STAFF)?;
    db::run(&state.pool, move |conn| {
        load_visible(conn, &user, id)?;
        // An entry written by a streamed import has no record of its own for its creation: the
        // import's record names it.
        let import_id: Option<String> = list_entries::table
            .find(id)
            .select(list_entries::import_id)
            .first(conn)?;
        let own = audit_log::entity_type
            .eq("list_entry")
            .and(audit_log::entity_id.eq(id.to_string()));
        let by_import = audit_log::entity_type
            .eq("import")
            .and(audit_log::entity_id.eq(import_id.unwrap_or_default()));
        let rows: Vec<HistoryRow> = audit_log::table
            .filter(own.or(by_import))
            .order(audit_log::id.asc())
            .select((
                audit_log::at,
                audit_log::action,
                audit_log::actor_username,
                audit_log::before_json,
                audit_log::after_json,
            ))
            .load(conn)?;
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        Ok(rows
            .into_iter()
            .map(|(at, action, actor_username, before, after)| HistoryEvent {
                at,
                action,
                actor_username,
                before: parse(before),
                after: parse(after),
            })
            .collect::<Vec<_>>())
    })
    .await
}
