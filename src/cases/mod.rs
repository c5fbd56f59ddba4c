//! Reward-and-punishment cases (联合奖惩案例): what departments actually did to red- and
//! black-listed subjects. Lifecycle draft → submitted → shared (with the provincial platform). A
//! shared case is never edited in place: a correction is a new draft linked by `corrects_case_id`.
//!
//! Scope: a department officer files and edits cases of their own department and sees the cases
//! their department filed or took part in; a county bureau the cases of its region; the city
//! bureau and admins all. See `docs/cases.md`.

pub mod handlers;
pub mod media;
pub mod store;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AuthUser, Role};
use crate::db::DbConnection;
use crate::entries::{subject_ref, Disclosure, SubjectRef, SubjectRow};
use crate::error::ApiError;
use crate::pii::PiiCipher;
use crate::schema::{
    case_departments, case_entries, case_measures, case_media_reports, case_subjects, cases,
    departments, four_list_item_versions, four_list_items, subjects,
};

/// `reward` (守信联合激励) or `punishment` (失信联合惩戒).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    Reward,
    Punishment,
}

impl CaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Reward => "reward",
            CaseKind::Punishment => "punishment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reward" => Some(CaseKind::Reward),
            "punishment" => Some(CaseKind::Punishment),
            _ => None,
        }
    }

    /// The list a related entry must be on.
    pub fn list_type(self) -> &'static str {
        match self {
            CaseKind::Reward => "red",
            CaseKind::Punishment => "black",
        }
    }

    /// The four-list kind of the measures a case of this kind applies.
    pub fn measure_kind(self) -> &'static str {
        match self {
            CaseKind::Reward => "incentive_measures",
            CaseKind::Punishment => "punishment_measures",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            CaseKind::Reward => "守信激励",
            CaseKind::Punishment => "失信惩戒",
        }
    }
}

pub fn status_zh(s: &str) -> &'static str {
    match s {
        "draft" => "草稿",
        "submitted" => "已报送",
        "shared" => "已共享",
        _ => "未知",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = cases)]
pub struct CaseRow {
    pub id: i32,
    pub title: String,
    pub kind: String,
    pub status: String,
    pub department_id: i32,
    pub region_code: String,
    pub field: String,
    pub case_date: NaiveDate,
    pub summary: String,
    #[serde(default, with = "crate::http::utc::option")]
    pub submitted_at: Option<chrono::NaiveDateTime>,
    #[serde(default, with = "crate::http::utc::option")]
    pub shared_at: Option<chrono::NaiveDateTime>,
    pub corrects_case_id: Option<i32>,
    pub source_check_id: Option<i32>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    #[serde(skip)]
    pub request_hash: Option<String>,
    pub created_by: i32,
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
}

/// A measure a case applied, with the version of the four-list item in force when filed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppliedMeasure {
    pub measure_item_id: i32,
    pub measure_version: i32,
    pub code: String,
    pub title: String,
}

/// A media report (媒体报道) about a case.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = case_media_reports)]
pub struct MediaReport {
    pub id: i32,
    pub case_id: i32,
    pub outlet: String,
    /// `city`, `provincial` or `national`.
    pub level: String,
    #[schema(value_type = String, format = Date)]
    pub report_date: NaiveDate,
    pub link: String,
    pub created_by: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
}

/// A case as staff see it. Subject codes of individuals are always masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseView {
    pub id: i32,
    pub title: String,
    pub kind: CaseKind,
    /// `draft`, `submitted` or `shared`.
    pub status: String,
    /// The filing department.
    pub department_id: i32,
    pub department_name: String,
    pub region_code: String,
    /// 领域 (application_fields code).
    pub field: String,
    #[schema(value_type = String, format = Date)]
    pub case_date: NaiveDate,
    pub summary: String,
    pub subjects: Vec<SubjectRef>,
    pub entry_ids: Vec<i32>,
    pub measures: Vec<AppliedMeasure>,
    /// Participating departments, the filing one included.
    pub department_ids: Vec<i32>,
    pub media_reports: Vec<MediaReport>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub submitted_at: Option<chrono::NaiveDateTime>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub shared_at: Option<chrono::NaiveDateTime>,
    /// The case this one corrects.
    pub corrects_case_id: Option<i32>,
    /// Corrections filed for this case.
    pub corrected_by: Vec<i32>,
    /// The credit check (信用核查) whose feedback the case came from.
    pub source_check_id: Option<i32>,
    pub created_by: i32,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
}

pub fn find_case(conn: &mut DbConnection, id: i32) -> Result<Option<CaseRow>, ApiError> {
    Ok(cases::table
        .find(id)
        .select(CaseRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn participants(conn: &mut DbConnection, case_id: i32) -> Result<Vec<i32>, ApiError> {
    Ok(case_departments::table
        .filter(case_departments::case_id.eq(case_id))
        .order(case_departments::department_id.asc())
        .select(case_departments::department_id)
        .load(conn)?)
}

/// Whether the caller sees the case: admins and the city bureau all; a county bureau its region;
/// a department officer the cases its department filed or took part in.
pub fn may_see(conn: &mut DbConnection, user: &AuthUser, c: &CaseRow) -> Result<bool, ApiError> {
    Ok(match user.role {
        Role::Admin | Role::Bureau => user.covers_region(&c.region_code),
        Role::Department => match user.department_id {
            Some(d) if d == c.department_id => true,
            Some(d) => participants(conn, c.id)?.contains(&d),
            None => false,
        },
        Role::ApprovalSystem => false,
    })
}

/// Whether the caller may edit, submit or attach to the case: the filing department's officers,
/// bureaus covering its region, admins.
pub fn may_manage(user: &AuthUser, c: &CaseRow) -> bool {
    user.may_manage_department(c.department_id, &c.region_code)
}

/// 404 when the case does not exist or is out of the caller's sight.
pub fn load_visible(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: i32,
) -> Result<CaseRow, ApiError> {
    let c = find_case(conn, id)?.ok_or_else(|| ApiError::not_found("case"))?;
    if !may_see(conn, user, &c)? {
        return Err(ApiError::not_found("case"));
    }
    Ok(c)
}

pub fn require_manage(user: &AuthUser, c: &CaseRow) -> Result<(), ApiError> {
    if may_manage(user, c) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the filing department (or a bureau covering its region) may change this case",
        ))
    }
}

pub fn case_subject_rows(
    conn: &mut DbConnection,
    case_id: i32,
) -> Result<Vec<SubjectRow>, ApiError> {
    Ok(case_subjects::table
        .inner_join(subjects::table)
        .filter(case_subjects::case_id.eq(case_id))
        .order(subjects::id.asc())
        .select(SubjectRow::as_select())
        .load(conn)?)
}

pub fn case_entry_ids(conn: &mut DbConnection, case_id: i32) -> Result<Vec<i32>, ApiError> {
    Ok(case_entries::table
        .filter(case_entries::case_id.eq(case_id))
        .order(case_entries::entry_id.asc())
        .select(case_entries::entry_id)
        .load(conn)?)
}

pub fn case_measures_of(
    conn: &mut DbConnection,
    case_id: i32,
) -> Result<Vec<AppliedMeasure>, ApiError> {
    let rows: Vec<(i32, i32, String, String)> = case_measures::table
        .inner_join(four_list_items::table)
        .inner_join(
            four_list_item_versions::table.on(four_list_item_versions::item_id
                .eq(case_measures::measure_item_id)
                .and(four_list_item_versions::version.eq(case_measures::measure_version))),
        )
        .filter(case_measures::case_id.eq(case_id))
        .order(case_measures::measure_item_id.asc())
        .select((
            case_measures::measure_item_id,
            case_measures::measure_version,
            four_list_items::code,
            four_list_item_versions::title,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, v, code, title)| AppliedMeasure {
            measure_item_id: id,
            measure_version: v,
            code,
            title,
        })
        .collect())
}

pub fn media_of(conn: &mut DbConnection, case_id: i32) -> Result<Vec<MediaReport>, ApiError> {
    Ok(case_media_reports::table
        .filter(case_media_reports::case_id.eq(case_id))
        .order((
            case_media_reports::report_date.asc(),
            case_media_reports::id.asc(),
        ))
        .select(MediaReport::as_select())
        .load(conn)?)
}

pub fn case_view(
    conn: &mut DbConnection,
    pii: &PiiCipher,
    c: &CaseRow,
    disclosure: Disclosure,
) -> Result<CaseView, ApiError> {
    let department_name: String = departments::table
        .find(c.department_id)
        .select(departments::name)
        .first(conn)?;
    let subjects = case_subject_rows(conn, c.id)?
        .iter()
        .map(|s| subject_ref(s, pii, disclosure))
        .collect::<Result<Vec<_>, _>>()?;
    let corrected_by: Vec<i32> = cases::table
        .filter(cases::corrects_case_id.eq(c.id))
        .order(cases::id.asc())
        .select(cases::id)
        .load(conn)?;
    Ok(CaseView {
        id: c.id,
        title: c.title.clone(),
        kind: CaseKind::parse(&c.kind).ok_or_else(|| ApiError::internal("unknown case kind"))?,
        status: c.status.clone(),
        department_id: c.department_id,
        department_name,
        region_code: c.region_code.clone(),
        field: c.field.clone(),
        case_date: c.case_date,
        summary: c.summary.clone(),
        subjects,
        entry_ids: case_entry_ids(conn, c.id)?,
        measures: case_measures_of(conn, c.id)?,
        department_ids: participants(conn, c.id)?,
        media_reports: media_of(conn, c.id)?,
        submitted_at: c.submitted_at,
        shared_at: c.shared_at,
        corrects_case_id: c.corrects_case_id,
        corrected_by,
        source_check_id: c.source_check_id,
        created_by: c.created_by,
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

/// Dedups while keeping the first occurrence order.
pub fn dedup<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut seen = BTreeSet::new();
    v.iter()
        .filter(|x| seen.insert((*x).clone()))
        .cloned()
        .collect()
}
