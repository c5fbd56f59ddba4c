//! Commitment letters (信用承诺书) as records: rows, breaches (违诺), and the summaries credit
//! checks and subject profiles show. No HTTP here: `commitments.rs` has the handlers,
//! `templates.rs` the letter templates.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{commitment_breaches, commitments, departments};

/// What a commitment letter is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// 告知承诺: signed before a licence or approval is granted.
    PreLicensing,
    /// 信用修复承诺: signed by a subject applying for credit repair.
    Repair,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::PreLicensing => "pre_licensing",
            Purpose::Repair => "repair",
        }
    }

    /// The name shown to staff and in check reasons.
    pub fn name_zh(self) -> &'static str {
        match self {
            Purpose::PreLicensing => "告知承诺",
            Purpose::Repair => "信用修复承诺",
        }
    }

    pub fn parse(s: &str) -> Option<Purpose> {
        match s {
            "pre_licensing" => Some(Purpose::PreLicensing),
            "repair" => Some(Purpose::Repair),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = commitments)]
pub struct CommitmentRow {
    pub id: i32,
    pub subject_id: i32,
    pub template_id: i32,
    pub template_version: i32,
    pub purpose: String,
    pub department_id: i32,
    pub region_code: String,
    pub signatory: String,
    #[serde(with = "crate::http::utc")]
    pub signed_at: chrono::NaiveDateTime,
    pub text_snapshot: String,
    pub text_sha256: String,
    pub attachment_id: Option<i32>,
    pub valid_until: Option<NaiveDate>,
    pub recorded_by: i32,
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    /// 告知承诺 recorded after a credit check: the check it follows.
    pub check_id: Option<i32>,
    /// The licence (or application) the 告知承诺 letter is for.
    pub licence_reference: Option<String>,
}

impl CommitmentRow {
    /// In force on `day`: signed by then and not past its validity.
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.signed_at.date() <= day && self.valid_until.is_none_or(|u| u >= day)
    }
}

// Fields in sorted order: a check answer serialises in its RFC 8785 form (`receipt_hash`).
#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, ToSchema)]
#[diesel(table_name = commitment_breaches)]
pub struct BreachView {
    #[schema(value_type = String, format = Date)]
    pub breach_date: NaiveDate,
    pub commitment_id: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    /// The department that found the breach.
    pub department_id: i32,
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub facts: String,
    pub id: i32,
    pub recorded_by: i32,
}

/// What a credit check and the subject profile show of a commitment.
// Fields in sorted order: a check answer serialises in its RFC 8785 form (`receipt_hash`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommitmentSummary {
    pub breaches: Vec<BreachView>,
    /// The credit check a 告知承诺 letter follows (letters recorded by approval systems).
    #[serde(default)]
    pub check_id: Option<i32>,
    pub commitment_id: i32,
    pub department_id: i32,
    pub department_name: String,
    /// The licence (or application) a 告知承诺 letter is for.
    #[serde(default)]
    pub licence_reference: Option<String>,
    pub purpose: Purpose,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub signed_at: chrono::NaiveDateTime,
    pub template_id: i32,
    pub template_version: i32,
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<NaiveDate>,
}

pub fn breaches_of(conn: &mut DbConnection, ids: &[i32]) -> Result<Vec<BreachView>, ApiError> {
    Ok(commitment_breaches::table
        .filter(commitment_breaches::commitment_id.eq_any(ids))
        .order(commitment_breaches::id)
        .select(BreachView::as_select())
        .load(conn)?)
}

/// Every commitment of these subjects with its breaches, for credit checks and profiles (one
/// query each for letters, breaches and department names).
pub fn summaries(
    conn: &mut DbConnection,
    subject_ids: &[i32],
) -> Result<HashMap<i32, Vec<CommitmentSummary>>, ApiError> {
    let mut out: HashMap<i32, Vec<CommitmentSummary>> = HashMap::new();
    if subject_ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(CommitmentRow, String)> = commitments::table
        .inner_join(departments::table)
        .filter(commitments::subject_id.eq_any(subject_ids))
        .order(commitments::id)
        .select((CommitmentRow::as_select(), departments::name))
        .load(conn)?;
    let ids: Vec<i32> = rows.iter().map(|(c, _)| c.id).collect();
    let mut breaches: HashMap<i32, Vec<BreachView>> = HashMap::new();
    for chunk in ids.chunks(500) {
        for b in breaches_of(conn, chunk)? {
            breaches.entry(b.commitment_id).or_default().push(b);
        }
    }
    for (c, department_name) in rows {
        let Some(purpose) = Purpose::parse(&c.purpose) else {
            continue;
        };
        out.entry(c.subject_id)
            .or_default()
            .push(CommitmentSummary {
                commitment_id: c.id,
                purpose,
                department_id: c.department_id,
                department_name,
                template_id: c.template_id,
                template_version: c.template_version,
                signed_at: c.signed_at,
                valid_until: c.valid_until,
                check_id: c.check_id,
                licence_reference: c.licence_reference,
                breaches: breaches.remove(&c.id).unwrap_or_default(),
            });
    }
    Ok(out)
}

/// What a check shows on `day`: letters in force, and every letter with a recorded breach.
pub fn shown_on(all: &[CommitmentSummary], day: NaiveDate) -> Vec<CommitmentSummary> {
    all.iter()
        .filter(|c| {
            !c.breaches.is_empty()
                || (c.signed_at.date() <= day && c.valid_until.is_none_or(|u| u >= day))
        })
        .cloned()
        .collect()
}
