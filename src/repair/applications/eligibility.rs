//! Whether a subject may apply to repair an entry (修复条件), and the materials an application
//! carries.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::attachments::{self};
use super::commitments::{self};
use super::training::{self};
use crate::auth::AuthUser;
use crate::db::DbConnection;
use crate::entries::{in_force_on, EntryRow, SubjectRow};
use crate::error::{ApiError, FieldError};
use crate::four_lists::VersionRow;
use crate::schema::{four_list_item_versions, repair_documents, repair_service_records};

/// The materials an application cites, checked against the rules.
pub(super) struct Materials {
    pub(super) grounds: String,
    pub(super) corrections: Vec<i32>,
    pub(super) obligations: Vec<i32>,
    pub(super) credit_reports: Vec<i32>,
    pub(super) commitment_id: i32,
    pub(super) attendance_id: Option<i32>,
    pub(super) service_record_ids: Vec<i32>,
    pub(super) correction_date: Option<NaiveDate>,
}

/// The earliest day a black entry may be repaired: the day the waiting period counts from plus
/// the scope item version's waiting period (`repair_after_months`, else
/// `publication_months_min`). The period counts from the determination date, or, where the
/// standard says `repair_waiting_from: correction`, from the correction date — `None` while that
/// date is not known.
pub fn earliest_repair_date(
    entry: &EntryRow,
    v: &VersionRow,
    correction_date: Option<NaiveDate>,
) -> Option<NaiveDate> {
    let months = v
        .repair_after_months
        .or(v.publication_months_min)
        .unwrap_or(0)
        .max(0) as u32;
    let from = match v.repair_waiting_from.as_deref() {
        Some("correction") => correction_date?,
        _ => entry.determination_date,
    };
    Some(
        from.checked_add_months(chrono::Months::new(months))
            .unwrap_or(NaiveDate::MAX),
    )
}

/// The eligibility rules (发改办财金〔2019〕527号; 2019 plan, section 六), checked at submission
/// and on resubmission. Each refusal names the rule and the field.
pub(super) fn check_eligibility(
    conn: &mut DbConnection,
    user: &AuthUser,
    subject: &SubjectRow,
    entry: &EntryRow,
    m: &Materials,
    day: NaiveDate,
) -> Result<(), ApiError> {
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
    if entry.source == crate::entries::Source::National.as_str() {
        use crate::schema::departments;
        let holder: String = departments::table
            .find(entry.department_id)
            .select(departments::name)
            .first(conn)?;
        return Err(ApiError::invalid_field(
            "entry_id",
            "not_locally_repairable",
            format!(
                "this entry was identified nationally (国家层面认定) under 「{}」 and is held here by {holder}: it is repaired by its identifying authority, not through the city's review",
                v.title
            ),
        ));
    }
    if v.repairable == Some(false) || v.severity.as_deref() == Some("specific_serious") {
        return Err(ApiError::invalid_field(
            "entry_id",
            "not_repairable",
            "the entry's scope item is of the specific-serious tier (特定严重) or marked not repairable: credit repair does not apply",
        ));
    }
    if let Some(c) = m.correction_date {
        let mut errors = Vec::new();
        crate::domain::dates::check_date(&mut errors, "correction_date", c);
        if c > day {
            errors.push(FieldError::new(
                "correction_date",
                "in_future",
                "the correction date cannot be in the future",
            ));
        } else if c < entry.determination_date {
            errors.push(FieldError::new(
                "correction_date",
                "before_determination",
                "the conduct is corrected after the identification: the correction date cannot precede the determination date",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
    }
    let Some(earliest) = earliest_repair_date(entry, &v, m.correction_date) else {
        return Err(ApiError::invalid_field(
            "correction_date",
            "correction_date_required",
            "the entry's standard counts the waiting period from the day the conduct was corrected: give correction_date",
        ));
    };
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
    // A credit report (信用报告) is among the materials only where the standard asks for one.
    let report_required = v.repair_requires_credit_report == Some(true);
    for (field, ids, required) in [
        ("correction_attachment_ids", &m.corrections, true),
        ("obligation_attachment_ids", &m.obligations, true),
        (
            "credit_report_attachment_ids",
            &m.credit_reports,
            report_required,
        ),
    ] {
        if required && ids.is_empty() {
            errors.push(FieldError::new(
                field,
                "missing_document",
                format!("{field}: at least one document is required"),
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
    // Training (or, for individuals, public service) is a condition only where the entry's list
    // standard makes it one; otherwise a record given is checked and shown, and a missing one is
    // no refusal (国办发〔2025〕22号: proof of fulfilment and a commitment).
    let training_required = v.repair_requires_training == Some(true);
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
        None if !training_required => {}
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

pub(super) fn store_materials(
    conn: &mut DbConnection,
    id: i32,
    m: &Materials,
) -> Result<(), ApiError> {
    diesel::delete(repair_documents::table.filter(repair_documents::repair_id.eq(id)))
        .execute(conn)?;
    diesel::delete(repair_service_records::table.filter(repair_service_records::repair_id.eq(id)))
        .execute(conn)?;
    for (purpose, ids) in [
        ("correction", &m.corrections),
        ("obligations", &m.obligations),
        ("credit_report", &m.credit_reports),
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
