//! Documents ready to print (issue 24): the 信用核查结果单 of a receipt, the repair documents made
//! from an application's recorded steps (受理通知书, 不予受理通知书, 信用修复决定书, 不予修复决定书)
//! and the 告知书 before black-listing of a draft local black entry.
//!
//! A document is **issued** once: inside one [`crate::db::write_tx`] the next number of its
//! department's sequence for the year and kind is taken (a rollback leaves no gap), the HTML is
//! rendered from the data of the moment (personal ID numbers masked), stored with its SHA-256,
//! and an audit record `document.issue` names the number and the hash. Issuing again, or printing,
//! answers the stored bytes: a reprint is byte-identical and takes no new number. See
//! `docs/documents.md`.

pub mod handlers;
pub mod qr;
pub mod verify;

use std::sync::OnceLock;

use chrono::Datelike;
use diesel::prelude::*;
use minijinja::{context, Environment, Value};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::{AuthUser, Role};
use crate::checks::receipts::{may_read, ReceiptRow, Settled};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{
    application_fields, credit_checks, departments, document_sequences, documents,
    four_list_item_versions, four_list_items, four_list_links, repair_steps, repairs, subjects,
};

/// The kinds of document, each with its own number sequence per department and year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 信用核查结果单, from a receipt (`credit_checks.id`).
    CheckResult,
    /// 信用修复受理通知书, from an `accept` step (`repair_steps.id`).
    RepairAccepted,
    /// 信用修复不予受理通知书, from a `return` step (材料不全，退回补正).
    RepairNotAccepted,
    /// 信用修复决定书, from the city bureau's `confirm` step.
    RepairDecision,
    /// 不予信用修复决定书, from a `refuse` step.
    RepairRefusal,
    /// 失信主体认定告知书 (告知, 陈述申辩), from a draft local black entry (`list_entries.id`).
    ListingNotice,
}

pub const KINDS: [Kind; 6] = [
    Kind::CheckResult,
    Kind::RepairAccepted,
    Kind::RepairNotAccepted,
    Kind::RepairDecision,
    Kind::RepairRefusal,
    Kind::ListingNotice,
];

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CheckResult => "check_result",
            Kind::RepairAccepted => "repair_accepted",
            Kind::RepairNotAccepted => "repair_not_accepted",
            Kind::RepairDecision => "repair_decision",
            Kind::RepairRefusal => "repair_refusal",
            Kind::ListingNotice => "listing_notice",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        KINDS.into_iter().find(|k| k.as_str() == s)
    }

    /// The printed title.
    pub fn title(self) -> &'static str {
        match self {
            Kind::CheckResult => "信用核查结果单",
            Kind::RepairAccepted => "信用修复受理通知书",
            Kind::RepairNotAccepted => "信用修复不予受理通知书",
            Kind::RepairDecision => "信用修复决定书",
            Kind::RepairRefusal => "不予信用修复决定书",
            Kind::ListingNotice => "失信主体认定告知书",
        }
    }

    /// The kind's word in the document number (`通税务核〔2026〕12号`).
    fn word(self) -> &'static str {
        match self {
            Kind::CheckResult => "核",
            Kind::RepairAccepted => "修受",
            Kind::RepairNotAccepted => "修退",
            Kind::RepairDecision => "修决",
            Kind::RepairRefusal => "修不",
            Kind::ListingNotice => "失告",
        }
    }

    /// The document a repair step produces, if any.
    pub fn for_step(action: &str) -> Option<Kind> {
        match action {
            "accept" => Some(Kind::RepairAccepted),
            "return" => Some(Kind::RepairNotAccepted),
            "confirm" => Some(Kind::RepairDecision),
            "refuse" => Some(Kind::RepairRefusal),
            _ => None,
        }
    }

    fn template(self) -> &'static str {
        match self {
            Kind::CheckResult => "check_result.html",
            Kind::ListingNotice => "listing_notice.html",
            _ => "repair.html",
        }
    }
}

/// A stored document.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = documents)]
pub struct DocumentRow {
    pub id: i32,
    pub kind: String,
    pub source_id: i32,
    pub department_id: i32,
    pub region_code: String,
    pub year: i32,
    pub number: i32,
    pub document_number: String,
    pub issued_on: chrono::NaiveDate,
    #[serde(with = "crate::http::utc")]
    pub issued_at: chrono::NaiveDateTime,
    pub issued_by: i32,
    pub title: String,
    pub content: String,
    pub sha256: String,
}

#[derive(Insertable)]
#[diesel(table_name = documents)]
struct NewDocument<'a> {
    kind: &'a str,
    source_id: i32,
    department_id: i32,
    region_code: &'a str,
    year: i32,
    number: i32,
    document_number: &'a str,
    issued_on: chrono::NaiveDate,
    issued_at: chrono::NaiveDateTime,
    issued_by: i32,
    title: &'a str,
    content: &'a str,
    sha256: &'a str,
}

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("document.html", include_str!("templates/document.html")),
            (
                "check_result.html",
                include_str!("templates/check_result.html"),
            ),
            ("repair.html", include_str!("templates/repair.html")),
            (
                "listing_notice.html",
                include_str!("templates/listing_notice.html"),
            ),
            ("verify.html", include_str!("templates/verify.html")),
        ] {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("document template {name}: {e}"));
        }
        env
    })
}

/// Renders one of this module's templates.
pub(crate) fn render(name: &str, ctx: Value) -> Result<String, ApiError> {
    templates()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| {
            tracing::error!(template = name, error = %e, "document template failed");
            ApiError::internal("document template failed")
        })
}

/// The print stylesheet (`/console/static/documents.css`).
pub const STYLESHEET: &str = include_str!("templates/documents.css");

/// A department's abbreviation in document numbers: `通` and the first two characters of its name
/// after a leading `市` (市税务局 → 通税务).
pub fn abbreviation(name: &str) -> String {
    let rest = name.strip_prefix('市').unwrap_or(name);
    let short: String = rest.chars().take(2).collect();
    format!("通{short}")
}

/// `通税务核〔2026〕12号`.
pub fn document_number(department_name: &str, kind: Kind, year: i32, number: i32) -> String {
    format!(
        "{}{}〔{year}〕{number}号",
        abbreviation(department_name),
        kind.word()
    )
}

/// A date as printed: `2026年12月6日`.
fn chinese_date(d: chrono::NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// A UTC timestamp as Beijing time: `2026年12月6日 14:30`.
fn chinese_time(t: chrono::NaiveDateTime) -> String {
    let local = t + chrono::Duration::hours(8);
    format!("{} {}", chinese_date(local.date()), local.format("%H:%M"))
}

/// Takes the next number of a department's sequence for a year and kind. Call inside a write
/// transaction: its first statement holds the audit chain's head row, which serialises audited
/// writes on both databases, and a rollback takes the number back.
fn next_number(
    conn: &mut DbConnection,
    department_id: i32,
    year: i32,
    kind: Kind,
) -> Result<i32, ApiError> {
    use document_sequences::dsl as s;
    let key = s::department_id
        .eq(department_id)
        .and(s::year.eq(year))
        .and(s::kind.eq(kind.as_str()));
    let last: Option<i32> = s::document_sequences
        .filter(key)
        .select(s::last_number)
        .first(conn)
        .optional()?;
    let next = last.unwrap_or(0) + 1;
    if last.is_some() {
        diesel::update(s::document_sequences.filter(key))
            .set(s::last_number.eq(next))
            .execute(conn)?;
    } else {
        diesel::insert_into(s::document_sequences)
            .values((
                s::department_id.eq(department_id),
                s::year.eq(year),
                s::kind.eq(kind.as_str()),
                s::last_number.eq(next),
            ))
            .execute(conn)?;
    }
    Ok(next)
}

/// What a document is made of before it has a number.
struct Prepared {
    department_id: i32,
    /// The region whose bureaus may read it.
    region_code: String,
    /// The template's data (the number, issuer and date are added).
    data: serde_json::Value,
}

fn existing(
    conn: &mut DbConnection,
    kind: Kind,
    source_id: i32,
) -> Result<Option<DocumentRow>, ApiError> {
    Ok(documents::table
        .filter(documents::kind.eq(kind.as_str()))
        .filter(documents::source_id.eq(source_id))
        .select(DocumentRow::as_select())
        .first(conn)
        .optional()?)
}

/// Whether `user` may read a stored document: admins; bureaus covering its region; the issuing
/// department's officers; whoever issued it.
pub fn may_read_document(user: &AuthUser, d: &DocumentRow) -> bool {
    user.covers_region(&d.region_code)
        || (user.role == Role::Department && user.department_id == Some(d.department_id))
        || d.issued_by == user.id
}

/// Issues (or, when issued before, returns) the document of `kind` made from `source_id`.
/// `prepare` checks that the caller may issue it and gathers its data.
fn issue(
    conn: &mut DbConnection,
    user: &AuthUser,
    kind: Kind,
    source_id: i32,
    prepare: impl FnOnce(&mut DbConnection) -> Result<Prepared, ApiError>,
) -> Result<DocumentRow, ApiError> {
    crate::db::write_tx(conn, |conn| {
        // Checked first so that a reprint by someone who may read the stored document needs
        // nothing else; anyone else is judged by the rules of the source.
        if let Some(d) = existing(conn, kind, source_id)? {
            if may_read_document(user, &d) {
                return Ok(d);
            }
        }
        let p = prepare(conn)?;
        if let Some(d) = existing(conn, kind, source_id)? {
            return Ok(d);
        }
        let (dept_name, former): (String, String) = departments::table
            .find(p.department_id)
            .select((departments::name, departments::former_names))
            .first(conn)?;
        let issuer = crate::org::display_name(&dept_name, &former);
        let issued_on = crate::entries::today();
        let year = issued_on.year();
        let number = next_number(conn, p.department_id, year, kind)?;
        let doc_no = document_number(&dept_name, kind, year, number);
        let html = render(
            kind.template(),
            context! {
                title => kind.title(), kind => kind.as_str(), number => &doc_no,
                issuer => &issuer, issued_on => chinese_date(issued_on), d => Value::from_serialize(&p.data),
                qr => p.data.get("qr_svg").and_then(|v| v.as_str()).map(|s| Value::from_safe_string(s.to_string())),
            },
        )?;
        // Belt and braces: whatever the data held, no ID number is stored in clear.
        let html = crate::pii::mask_id_numbers(html);
        let sha = hex::encode(Sha256::digest(html.as_bytes()));
        let now = crate::db::now();
        let id: i32 = diesel::insert_into(documents::table)
            .values(NewDocument {
                kind: kind.as_str(),
                source_id,
                department_id: p.department_id,
                region_code: &p.region_code,
                year,
                number,
                document_number: &doc_no,
                issued_on,
                issued_at: now,
                issued_by: user.id,
                title: kind.title(),
                content: &html,
                sha256: &sha,
            })
            .returning(documents::id)
            .get_result(conn)?;
        crate::audit::append(
            conn,
            &user.actor(),
            crate::audit::Entry::new("document.issue", "document", id)
                .department(Some(p.department_id))
                .region(Some(p.region_code.clone()))
                .after(&serde_json::json!({
                    "kind": kind.as_str(),
                    "source_id": source_id,
                    "document_number": doc_no,
                    "sha256": sha,
                })),
        )?;
        Ok(documents::table
            .find(id)
            .select(DocumentRow::as_select())
            .first(conn)?)
    })
}

/// A stored document for a reader who may read it (404 otherwise: ids cannot be probed).
pub fn load(conn: &mut DbConnection, user: &AuthUser, id: i32) -> Result<DocumentRow, ApiError> {
    let d: DocumentRow = documents::table
        .find(id)
        .select(DocumentRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("document"))?;
    if !may_read_document(user, &d) {
        return Err(ApiError::not_found("document"));
    }
    Ok(d)
}

/// The advice in Chinese.
fn advice_zh(advice: &str) -> &'static str {
    match advice {
        "restrict" => "依法限制（适用失信惩戒措施）",
        "green_channel" => "绿色通道（适用守信激励措施）",
        "normal" => "正常办理",
        _ => "—",
    }
}

/// The address of a receipt's public verification page, below `base` (scheme and host).
pub fn verify_url(base: &str, id: i32, hash: &str) -> String {
    format!(
        "{}/verify/receipts/{id}?hash={hash}",
        base.trim_end_matches('/')
    )
}

/// 信用核查结果单 of a receipt, for whoever may read the receipt (as `GET
/// /api/v1/credit-checks/{id}`). The issuing department is the one whose officer made the check,
/// else the caller's own; an account of neither gets 422 `no_issuing_department`. `base` is the
/// scheme and host the QR code's address starts with.
pub fn issue_check_result(
    settled: &mut Settled<'_>,
    user: &AuthUser,
    receipt_id: i32,
    base: &str,
) -> Result<DocumentRow, ApiError> {
    let user_dept = user.department_id;
    let base = base.to_string();
    issue(
        settled.conn(),
        user,
        Kind::CheckResult,
        receipt_id,
        |conn| {
            let r: ReceiptRow = credit_checks::table
                .find(receipt_id)
                .select(ReceiptRow::as_select())
                .first(conn)
                .optional()?
                .filter(|r| may_read(user, r))
                .ok_or_else(|| ApiError::not_found("credit check"))?;
            let department_id = r.caller_department_id.or(user_dept).ok_or_else(|| {
            ApiError::invalid_field(
                "department_id",
                "no_issuing_department",
                "the check was made by an account of no department; a department's officer issues its result sheet",
            )
        })?;
            let field_name: Option<String> = application_fields::table
                .find(&r.field)
                .select(application_fields::name)
                .first(conn)
                .optional()?;
            let hash = r.hash_hex();
            let url = verify_url(&base, r.id, &hash);
            Ok(Prepared {
                department_id,
                region_code: r.region_code.clone(),
                data: serde_json::json!({
                    "a": r.answer_value(),
                    "checked_at": chinese_time(r.checked_at),
                    "field_name": field_name.unwrap_or_else(|| r.field.clone()),
                    "advice_zh": advice_zh(&r.advice),
                    "hash": hash,
                    "verify_url": url,
                    "qr_svg": qr::svg(&url)?,
                }),
            })
        },
    )
}

#[derive(Queryable)]
struct StepRow {
    repair_id: i32,
    action: String,
    comment: Option<String>,
    at: chrono::NaiveDateTime,
}

/// A repair document from one recorded step (`accept` → 受理通知书, `return` → 不予受理通知书,
/// `confirm` → 信用修复决定书, `refuse` → 不予修复决定书), issued by the application's
/// department, for that department's officers (and bureaus over it), bureaus covering the entry's
/// region and admins; anyone else 404. Other steps are 422 `no_document_for_step`.
pub fn issue_repair_document(
    conn: &mut DbConnection,
    user: &AuthUser,
    step_id: i32,
) -> Result<DocumentRow, ApiError> {
    let step: StepRow = repair_steps::table
        .find(step_id)
        .select((
            repair_steps::repair_id,
            repair_steps::action,
            repair_steps::comment,
            repair_steps::at,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("repair step"))?;
    let Some(kind) = Kind::for_step(&step.action) else {
        return Err(ApiError::invalid_field(
            "step_id",
            "no_document_for_step",
            "only acceptance, return, refusal and confirmation steps produce a document",
        ));
    };
    issue(conn, user, kind, step_id, |conn| {
        let r = crate::repair::applications::find(conn, step.repair_id)?
            .ok_or_else(|| ApiError::not_found("repair step"))?;
        let dept_region: String = departments::table
            .find(r.department_id)
            .select(departments::region_code)
            .first(conn)?;
        // The application's department side and the bureaus covering the entry's region (who
        // confirm or send back), as the review itself.
        let bureau = user.role == Role::Bureau && user.covers_region(&r.region_code);
        if !(user.role == Role::Admin
            || bureau
            || user.may_manage_department(r.department_id, &dept_region))
        {
            return Err(ApiError::not_found("repair step"));
        }
        let entry = crate::entries::find_entry(conn, r.entry_id)?
            .ok_or_else(|| ApiError::internal("entry"))?;
        let subject: (String, Option<String>, Option<String>) = subjects::table
            .find(r.subject_id)
            .select((subjects::name, subjects::uscc, subjects::id_number_masked))
            .first(conn)?;
        let entry_dept: String = departments::table
            .find(entry.department_id)
            .select(departments::name)
            .first(conn)?;
        let scope_title: String = four_list_item_versions::table
            .find((entry.scope_item_id, entry.scope_item_version))
            .select(four_list_item_versions::title)
            .first(conn)?;
        let completed = repairs::table
            .find(r.id)
            .select(repairs::completed_at)
            .first::<Option<chrono::NaiveDateTime>>(conn)?;
        Ok(Prepared {
            department_id: r.department_id,
            region_code: r.region_code.clone(),
            data: serde_json::json!({
                "repair_id": r.id,
                "subject_name": subject.0,
                "subject_code": subject.1.or(subject.2).unwrap_or_default(),
                "submitted_on": chinese_date(crate::backdating::china_date(r.submitted_at)),
                "step_on": chinese_date(crate::backdating::china_date(step.at)),
                "comment": step.comment,
                "grounds": r.grounds,
                "deadline": r.deadline.map(chinese_date),
                "completed_on": completed.map(|t| chinese_date(crate::backdating::china_date(t))),
                "entry_document_number": entry.document_number,
                "entry_department": entry_dept,
                "scope_title": scope_title,
            }),
        })
    })
}

/// 告知书 before black-listing, for a draft local black entry, issued by its department for that
/// department's officers, bureaus covering its region and admins. A published entry is 409
/// `not_a_draft` (its notice, if issued before, stays printable); a red or national entry is 422
/// `not_applicable`.
pub fn issue_listing_notice(
    conn: &mut DbConnection,
    user: &AuthUser,
    entry_id: i32,
) -> Result<DocumentRow, ApiError> {
    issue(conn, user, Kind::ListingNotice, entry_id, |conn| {
        let e = crate::entries::find_entry(conn, entry_id)?
            .ok_or_else(|| ApiError::not_found("list entry"))?;
        let dept_region: String = departments::table
            .find(e.department_id)
            .select(departments::region_code)
            .first(conn)?;
        if !(user.role == Role::Admin || user.may_manage_department(e.department_id, &dept_region))
        {
            return Err(ApiError::not_found("list entry"));
        }
        if e.list_type != "black" || e.source != "local" {
            return Err(ApiError::invalid_field(
                "entry_id",
                "not_applicable",
                "a notice before listing is given for local black-list entries only",
            ));
        }
        if e.status != "draft" {
            return Err(ApiError::conflict(
                "not_a_draft",
                "the entry is published; a notice is given before listing",
            ));
        }
        let subject: (Option<String>, Option<String>) = subjects::table
            .find(e.subject_id)
            .select((subjects::uscc, subjects::id_number_masked))
            .first(conn)?;
        let version: (String, String) = four_list_item_versions::table
            .find((e.scope_item_id, e.scope_item_version))
            .select((
                four_list_item_versions::title,
                four_list_item_versions::legal_basis,
            ))
            .first(conn)?;
        // The measures in force linked to the scope item, with their legal basis.
        let measures: Vec<(String, String)> = four_list_links::table
            .inner_join(
                four_list_items::table.on(four_list_items::id.eq(four_list_links::measure_item_id)),
            )
            .inner_join(
                four_list_item_versions::table.on(four_list_item_versions::item_id
                    .eq(four_list_items::id)
                    .and(
                        four_list_items::published_version
                            .eq(four_list_item_versions::version.nullable()),
                    )),
            )
            .filter(four_list_links::scope_item_id.eq(e.scope_item_id))
            .filter(four_list_items::status.eq("published"))
            .order(four_list_items::id)
            .select((
                four_list_item_versions::title,
                four_list_item_versions::legal_basis,
            ))
            .load(conn)?;
        let basis = |s: &str| -> serde_json::Value {
            serde_json::from_str(s).unwrap_or(serde_json::Value::Array(vec![]))
        };
        let measures: Vec<serde_json::Value> = measures
            .iter()
            .map(|(t, b)| serde_json::json!({"title": t, "legal_basis": basis(b)}))
            .collect();
        Ok(Prepared {
            department_id: e.department_id,
            region_code: dept_region,
            data: serde_json::json!({
                "entry_id": e.id,
                "subject_name": e.subject_name,
                "subject_code": subject.0.or(subject.1).unwrap_or_default(),
                "legal_representative": e.legal_representative,
                "facts": e.facts,
                "scope_title": version.0,
                "legal_basis": basis(&version.1),
                "measures": measures,
                "determination_date": chinese_date(e.determination_date),
            }),
        })
    })
}

/// The repair steps that produce a document and its title, for the review page's links.
pub fn step_titles() -> std::collections::BTreeMap<&'static str, &'static str> {
    ["accept", "return", "refuse", "confirm"]
        .into_iter()
        .filter_map(|a| Kind::for_step(a).map(|k| (a, k.title())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for name in [
            "document.html",
            "check_result.html",
            "repair.html",
            "listing_notice.html",
            "verify.html",
        ] {
            templates().get_template(name).unwrap();
        }
    }

    #[test]
    fn numbers_name_the_department_kind_and_year() {
        assert_eq!(
            document_number("市税务局", Kind::CheckResult, 2026, 12),
            "通税务核〔2026〕12号"
        );
        assert_eq!(
            document_number("东昌区政务服务和数字化局", Kind::ListingNotice, 2026, 1),
            "通东昌失告〔2026〕1号"
        );
        for k in KINDS {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
