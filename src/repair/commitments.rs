//! Signed commitment letters (信用承诺书) and their breaches (违诺).

use actix_web::{get, post, web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::letters::{breaches_of, BreachView, CommitmentRow, Purpose};
use super::templates;
use crate::audit::{self, Entry};
use crate::auth::STAFF;
use crate::auth::{AuthUser, Role};
use crate::db::{self, DbConnection};
use crate::entries::{subject_ref, today, Disclosure, SubjectRef, SubjectRow};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{required_line, required_text, ApiJson, Page, PageQuery};
use crate::schema::{commitment_breaches, commitments, departments, subjects};
use crate::state::AppState;

/// Who may record a letter: staff, and approval systems (告知承诺 letters only).
const COMMITMENT_RECORDERS: &[Role] = &[
    Role::Admin,
    Role::Bureau,
    Role::Department,
    Role::ApprovalSystem,
];

/// A signed letter as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommitmentView {
    pub id: i32,
    pub subject: SubjectRef,
    pub template_id: i32,
    pub template_version: i32,
    pub purpose: Purpose,
    pub department_id: i32,
    pub region_code: String,
    /// Who signed (the legal representative, or the individual).
    pub signatory: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub signed_at: chrono::NaiveDateTime,
    /// The text exactly as signed.
    pub text: String,
    /// Hex SHA-256 of `text` (UTF-8).
    pub text_sha256: String,
    pub attachment_id: Option<i32>,
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<NaiveDate>,
    /// Signed and not past `valid_until` today.
    pub in_force: bool,
    /// The credit check a 告知承诺 letter follows.
    pub check_id: Option<i32>,
    /// The licence (or application) a 告知承诺 letter is for.
    pub licence_reference: Option<String>,
    /// Recorded breaches (违诺), oldest first.
    pub breaches: Vec<BreachView>,
    pub recorded_by: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCommitment {
    /// Unified social credit code or resident ID number of the subject that signs.
    pub subject_code: String,
    /// Needed only when the subject is not recorded yet.
    pub subject_name: Option<String>,
    pub template_id: i32,
    /// A published version of the template; defaults to the one in force.
    pub template_version: Option<i32>,
    /// The signatory (法定代表人 for organisations).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub signatory: String,
    /// Defaults to now. RFC 3339 with `Z` or an offset; without one, China time. A time before
    /// today (China time) is back-dated (补录): admins and bureaus only (else 403
    /// `backdating_not_allowed`), not before 2019-01-01; audited as back-dated.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub signed_at: Option<chrono::NaiveDateTime>,
    /// The scanned signed letter (an attachment id).
    pub attachment_id: Option<i32>,
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<NaiveDate>,
    /// 告知承诺 only: the credit check (its `check_id`) of the same subject that this letter
    /// follows; one the caller may read. Required from `approval_system` accounts.
    pub check_id: Option<i32>,
    /// 告知承诺 only: the licence or application reference (up to 200 characters). Required
    /// from `approval_system` accounts.
    pub licence_reference: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBreach {
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub facts: String,
    #[schema(value_type = String, format = Date)]
    pub breach_date: NaiveDate,
    /// The department that found it; defaults to the caller's.
    pub department_id: Option<i32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CommitmentFilter {
    #[param(pattern = "^[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{18}$")]
    pub subject_code: Option<String>,
    pub purpose: Option<Purpose>,
    pub department_id: Option<i32>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

pub fn find(conn: &mut DbConnection, id: i32) -> Result<Option<CommitmentRow>, ApiError> {
    Ok(commitments::table
        .find(id)
        .select(CommitmentRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn view(
    conn: &mut DbConnection,
    state: &AppState,
    c: CommitmentRow,
    disclosure: Disclosure,
) -> Result<CommitmentView, ApiError> {
    let s: SubjectRow = subjects::table
        .find(c.subject_id)
        .select(SubjectRow::as_select())
        .first(conn)?;
    let breaches = breaches_of(conn, &[c.id])?;
    Ok(CommitmentView {
        subject: subject_ref(&s, &state.pii, disclosure)?,
        in_force: c.in_force_on(today()),
        purpose: Purpose::parse(&c.purpose).ok_or_else(|| ApiError::internal("purpose"))?,
        id: c.id,
        template_id: c.template_id,
        template_version: c.template_version,
        department_id: c.department_id,
        region_code: c.region_code,
        signatory: c.signatory,
        signed_at: c.signed_at,
        text: c.text_snapshot,
        text_sha256: c.text_sha256,
        attachment_id: c.attachment_id,
        valid_until: c.valid_until,
        check_id: c.check_id,
        licence_reference: c.licence_reference,
        breaches,
        recorded_by: c.recorded_by,
        created_at: c.created_at,
    })
}

fn load_visible(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: i32,
) -> Result<CommitmentRow, ApiError> {
    let c = find(conn, id)?.ok_or_else(|| ApiError::not_found("commitment"))?;
    if !super::may_see(user, c.department_id, &c.region_code) {
        return Err(ApiError::forbidden(
            "this commitment was recorded by a department outside your scope",
        ));
    }
    Ok(c)
}

/// Record a signed commitment letter (信用承诺书)
///
/// Record a signed commitment letter on a published template version. The letter's text is
/// copied from that version and hashed. Audited (ID numbers masked). An approval system records
/// the 告知承诺 letter an applicant signs before a licence: on any published `pre_licensing`
/// template, naming the credit check of that subject it follows (`check_id`) and the licence
/// (`licence_reference`); later checks of the subject and its profile show the letter.
///
/// Staff for letters on templates they may see; approval systems for 告知承诺 letters after their own
/// checks. Adds the letter.
#[utoipa::path(
    operation_id = "repair_commitments_create",
    tag = "repair",
    security(("bearer" = [])),
    request_body = NewCommitment,
    responses(
        (status = 201, description = "Recorded", body = CommitmentView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The template's department is outside your scope; a past `signed_at` only for admins and bureaus (`backdating_not_allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid code, unknown or unpublished template version, unknown attachment; `signed_at` before 2019 (`before_2019`); `check_id` unknown or not readable (`unknown_check`) or of another subject (`check_subject_mismatch`); `check_id`/`licence_reference` on a letter that is not 告知承诺 (`not_pre_licensing`), or missing from an approval system (`required`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/commitments")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<NewCommitment>,
) -> Result<HttpResponse, ApiError> {
    user.require(COMMITMENT_RECORDERS)?;
    let input = body.0;
    let mut errors = Vec::new();
    let signatory = required_line(&mut errors, "signatory", &input.signatory, 100);
    let licence_reference = crate::http::optional_line(
        &mut errors,
        "licence_reference",
        input.licence_reference.as_deref(),
        200,
    );
    let approval = user.role == Role::ApprovalSystem;
    if approval && input.check_id.is_none() {
        errors.push(FieldError::new(
            "check_id",
            "required",
            "an approval system records a 告知承诺 letter after a credit check: name its check_id",
        ));
    }
    if approval && licence_reference.is_none() {
        errors.push(FieldError::new(
            "licence_reference",
            "required",
            "an approval system names the licence the letter is for",
        ));
    }
    if let Some(t) = input.signed_at {
        crate::domain::dates::check_date_time(&mut errors, "signed_at", t);
    }
    crate::domain::dates::check_optional_date(&mut errors, "valid_until", input.valid_until);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = db::now();
    let signed_at = input.signed_at.unwrap_or(now);
    if signed_at > now + chrono::Duration::minutes(5) {
        return Err(ApiError::invalid_field(
            "signed_at",
            "in_future",
            "a letter cannot be signed in the future",
        ));
    }
    // A letter signed before today (China time) is back-dated: admins and bureaus only.
    let backdated = crate::backdating::effective_date(
        &user,
        "signed_at",
        input.signed_at.map(crate::backdating::china_date),
    )?;
    if input.valid_until.is_some_and(|u| u < signed_at.date()) {
        return Err(ApiError::invalid_field(
            "valid_until",
            "before_signed",
            "valid_until precedes the signature",
        ));
    }
    let st = state.clone();
    let v = db::run(&state.pool, move |conn| {
        // The check it follows, read before the write (on SQLite the receipt may still be on its
        // way from the receipt log into the table).
        let check_subject = match input.check_id {
            None => None,
            Some(id) => {
                let mut settled = st.receipts.settled(conn)?;
                match crate::checks::receipts::load_receipt(&mut settled, &user, id) {
                    Ok(r) => Some(r.subject_key),
                    Err(ApiError::NotFound(_)) => {
                        return Err(ApiError::invalid_field(
                            "check_id",
                            "unknown_check",
                            format!("there is no credit check {id} you may read"),
                        ))
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        db::write_tx(conn, |conn| {
            let _marker = crate::backdating::Marker::set("signed_at", backdated);
            let t = templates::find(conn, input.template_id)?.ok_or_else(|| {
                ApiError::invalid_field(
                    "template_id",
                    "unknown_template",
                    "there is no such template",
                )
            })?;
            let (dept_region,): (String,) = departments::table
                .find(t.department_id)
                .select((departments::region_code,))
                .first(conn)?;
            let pre_licensing = t.purpose == Purpose::PreLicensing.as_str();
            if approval && !pre_licensing {
                return Err(ApiError::forbidden(
                    "an approval system records 告知承诺 (pre_licensing) letters only",
                ));
            }
            if !approval && !user.may_manage_department(t.department_id, &dept_region) {
                return Err(ApiError::forbidden(
                    "letters are recorded by the template's department (or its bureau)",
                ));
            }
            if !pre_licensing {
                for (name, given) in [
                    ("check_id", input.check_id.is_some()),
                    ("licence_reference", licence_reference.is_some()),
                ] {
                    if given {
                        return Err(ApiError::invalid_field(
                            name,
                            "not_pre_licensing",
                            format!("{name} belongs to a 告知承诺 (pre_licensing) letter only"),
                        ));
                    }
                }
            }
            if t.status != "published" {
                return Err(ApiError::invalid_field(
                    "template_id",
                    "template_not_published",
                    "this template is not published (or withdrawn)",
                ));
            }
            let wanted = input.template_version.or(t.published_version).unwrap_or(0);
            let version = templates::version(conn, t.id, wanted)?
                .filter(|v| v.published_at.is_some())
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "template_version",
                        "version_not_published",
                        "sign a published version of the template",
                    )
                })?;
            if let Some(a) = input.attachment_id {
                let meta = super::attachments::find_meta(conn, a)?;
                let readable = match &meta {
                    Some(m) => super::attachments::may_read(conn, &user, m)?,
                    None => false,
                };
                if !readable {
                    return Err(ApiError::invalid_field(
                        "attachment_id",
                        "unknown_attachment",
                        "there is no such attachment you may use",
                    ));
                }
            }
            let subject = super::resolve_subject(
                conn,
                &st.pii,
                "subject_code",
                &input.subject_code,
                input.subject_name.as_deref(),
                &dept_region,
            )?;
            if check_subject
                .as_ref()
                .is_some_and(|key| key != &subject.lookup_key)
            {
                return Err(ApiError::invalid_field(
                    "check_id",
                    "check_subject_mismatch",
                    "that credit check is about another subject",
                ));
            }
            let id: i32 = diesel::insert_into(commitments::table)
                .values((
                    commitments::subject_id.eq(subject.id),
                    commitments::template_id.eq(t.id),
                    commitments::template_version.eq(version.version),
                    commitments::purpose.eq(&t.purpose),
                    commitments::department_id.eq(t.department_id),
                    commitments::region_code.eq(&dept_region),
                    commitments::signatory.eq(&signatory),
                    commitments::signed_at.eq(signed_at),
                    commitments::text_sha256.eq(super::sha256_hex(version.body.as_bytes())),
                    commitments::text_snapshot.eq(&version.body),
                    commitments::attachment_id.eq(input.attachment_id),
                    commitments::valid_until.eq(input.valid_until),
                    commitments::recorded_by.eq(user.id),
                    commitments::created_at.eq(db::now()),
                    commitments::check_id.eq(input.check_id),
                    commitments::licence_reference.eq(&licence_reference),
                ))
                .returning(commitments::id)
                .get_result(conn)?;
            let row = find(conn, id)?.ok_or_else(|| ApiError::internal("vanished"))?;
            let masked = view(conn, &st, row.clone(), Disclosure::Masked)?;
            audit::append(
                conn,
                &user.actor(),
                Entry::new("commitment.create", "commitment", id)
                    .region(Some(dept_region.clone()))
                    .department(Some(t.department_id))
                    .after(&masked),
            )?;
            view(conn, &st, row, Disclosure::Full)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(v))
}

/// List commitment letters (信用承诺书)
///
/// Signed letters the caller may see, newest first.
///
/// Staff: department officers, bureaus and admins; approval systems get 403. Read-only: changes
/// nothing.
#[utoipa::path(
    operation_id = "repair_commitments_list",
    tag = "repair",
    security(("bearer" = [])),
    params(CommitmentFilter),
    responses(
        (status = 200, description = "A page of letters", body = Page<CommitmentView>),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Staff only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A subject code of the right shape that is no code (`invalid_subject_code`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/commitments")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: crate::http::Query<CommitmentFilter>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let f = query.into_inner();
    let (limit, offset, page, per_page) = PageQuery {
        page: f.page,
        per_page: f.per_page,
    }
    .resolve()?;
    let code = crate::entries::subject_filter("subject_code", f.subject_code.as_deref())?;
    let st = state.clone();
    let out = db::run(&state.pool, move |conn| {
        let filter = |conn: &mut DbConnection| -> Result<_, ApiError> {
            let mut q = commitments::table.into_boxed();
            match user.role {
                Role::Admin => {}
                Role::Department => {
                    q = q.filter(commitments::department_id.eq(user.department_id.unwrap_or(-1)))
                }
                _ => {
                    if let Some(r) = user.region_filter()? {
                        q = q.filter(commitments::region_code.eq(r));
                    }
                }
            }
            if let Some(code) = &code {
                let sid = super::subject_id_or_none(conn, &st.pii, code)?;
                q = q.filter(commitments::subject_id.eq(sid));
            }
            if let Some(p) = f.purpose {
                q = q.filter(commitments::purpose.eq(p.as_str()));
            }
            if let Some(d) = f.department_id {
                q = q.filter(commitments::department_id.eq(d));
            }
            Ok(q)
        };
        let total: i64 = filter(conn)?.count().get_result(conn)?;
        let rows: Vec<CommitmentRow> = filter(conn)?
            .order(commitments::id.desc())
            .limit(limit)
            .offset(offset)
            .select(CommitmentRow::as_select())
            .load(conn)?;
        let items = rows
            .into_iter()
            .map(|c| view(conn, &st, c, Disclosure::Full))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// One commitment letter (信用承诺书)
///
/// One signed letter with its breaches.
///
/// Staff within their scope: department officers for their own department, bureaus for the
/// departments of their region (the city bureau: the whole city), admins for all; others get 403 or
/// 404. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "repair_commitments_get_one",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Commitment id")),
    responses(
        (status = 200, description = "The letter", body = CommitmentView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such letter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/commitments/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let st = state.clone();
    let v = db::run(&state.pool, move |conn| {
        let c = load_visible(conn, &user, id)?;
        view(conn, &st, c, Disclosure::Full)
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Record a breach of a commitment (违诺)
///
/// Record a breach of a commitment (违诺) with its facts and date; it shows in the subject profile
/// and in credit checks (and refuses 告知承诺 in later checks). Audited. A 告知承诺
/// (`pre_licensing`) letter may be breached by any department's officer, as the department that
/// found the breach; other letters by those who may see them.
///
/// Approval systems get 403. Adds the breach to the letter.
#[utoipa::path(
    operation_id = "repair_commitments_breach",
    tag = "repair",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "Commitment id")),
    request_body = NewBreach,
    responses(
        (status = 201, description = "The letter with the breach", body = CommitmentView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside your scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such letter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing facts, date in the future or before the signature", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/commitments/{id}/breaches")]
pub async fn breach(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i32>,
    body: ApiJson<NewBreach>,
) -> Result<HttpResponse, ApiError> {
    user.require(STAFF)?;
    let id = path.into_inner();
    let input = body.0;
    let mut errors = Vec::new();
    let facts = required_text(&mut errors, "facts", &input.facts, 5000);
    crate::domain::dates::check_date(&mut errors, "breach_date", input.breach_date);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if input.breach_date > today() {
        return Err(ApiError::invalid_field(
            "breach_date",
            "in_future",
            "the breach date cannot be in the future",
        ));
    }
    let st = state.clone();
    let v = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            // A 告知承诺 letter is breached by whichever department finds the breach (the
            // licence it was signed for is often supervised by another department); other
            // letters by the departments that may see them.
            let c = find(conn, id)?.ok_or_else(|| ApiError::not_found("commitment"))?;
            let c = if c.purpose == Purpose::PreLicensing.as_str() && user.role == Role::Department
            {
                c
            } else {
                load_visible(conn, &user, id)?
            };
            if input.breach_date < c.signed_at.date() {
                return Err(ApiError::invalid_field(
                    "breach_date",
                    "before_signed",
                    "a letter cannot be breached before it was signed",
                ));
            }
            let (dept, _) = super::acting_department(conn, &user, input.department_id)?;
            let before = view(conn, &st, c.clone(), Disclosure::Masked)?;
            diesel::insert_into(commitment_breaches::table)
                .values((
                    commitment_breaches::commitment_id.eq(id),
                    commitment_breaches::department_id.eq(dept),
                    commitment_breaches::breach_date.eq(input.breach_date),
                    commitment_breaches::facts.eq(&facts),
                    commitment_breaches::recorded_by.eq(user.id),
                    commitment_breaches::created_at.eq(db::now()),
                ))
                .execute(conn)?;
            let after = view(conn, &st, c.clone(), Disclosure::Masked)?;
            audit::append(
                conn,
                &user.actor(),
                Entry::new("commitment.breach", "commitment", id)
                    .region(Some(c.region_code.clone()))
                    .department(Some(dept))
                    .before(&before)
                    .after(&after),
            )?;
            view(conn, &st, c, Disclosure::Full)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(v))
}
