//! Credit repair (信用修复): commitment letters (信用承诺书) and their templates, repair training
//! (信用修复培训), public-service records of individuals (志愿服务 / 社会公益服务 / 扶贫帮困), proof
//! documents, and the repair application with its two-level review (department decision, then
//! filing with and confirmation by the bureau). See `docs/repair.md`.

pub mod applications;
pub mod attachments;
pub mod commitments;
pub mod letters;
pub mod templates;
pub mod training;

use diesel::prelude::*;

use crate::auth::{AuthUser, Role};
use crate::db::DbConnection;
use crate::domain::SubjectCode;
use crate::entries::{find_subject_by_code, parse_subject_code, upsert_subject, SubjectRow};
use crate::error::ApiError;
use crate::pii::PiiCipher;
use crate::schema::regions;

/// The acting department and its region (see [`crate::org::acting_department`]).
pub fn acting_department(
    conn: &mut DbConnection,
    user: &AuthUser,
    requested: Option<i32>,
) -> Result<(i32, String), ApiError> {
    let d = crate::org::acting_department(conn, user, requested, crate::org::find_department)?;
    Ok((d.id, d.region_code))
}

/// Whether the caller may see records of `department_id` in `region`: admins; bureaus covering the
/// region; a department officer for their own department.
pub fn may_see(user: &AuthUser, department_id: i32, region: &str) -> bool {
    match user.role {
        Role::Admin => true,
        Role::Bureau => user.covers_region(region),
        Role::Department => user.department_id == Some(department_id),
        Role::ApprovalSystem => false,
    }
}

/// The subject a record is about: found by its code, or created from `name` (kind from the code,
/// region from the code's division when it is one of ours, else `fallback_region`). `field` names
/// the code in errors.
pub fn resolve_subject(
    conn: &mut DbConnection,
    pii: &PiiCipher,
    field: &str,
    raw_code: &str,
    name: Option<&str>,
    fallback_region: &str,
) -> Result<SubjectRow, ApiError> {
    let (code, _) = parse_subject_code(field, raw_code, false)?;
    if let Some(s) = find_subject_by_code(conn, &code, pii)? {
        return Ok(s);
    }
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_field(
                "subject_name",
                "required",
                "this subject is not recorded yet: give subject_name",
            )
        })?;
    let mut errors = Vec::new();
    crate::http::text_chars(&mut errors, "subject_name", name, false);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let kind = code.default_type();
    let division = code.division_code().to_string();
    let known: i64 = regions::table
        .filter(regions::code.eq(&division))
        .count()
        .get_result(conn)?;
    let region = if known > 0 {
        division
    } else {
        fallback_region.to_string()
    };
    upsert_subject(conn, pii, &code, kind, name, &region, false)
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The id of the subject with this code, or -1 (matches nothing) when none is recorded.
pub fn subject_id_or_none(
    conn: &mut DbConnection,
    pii: &PiiCipher,
    code: &SubjectCode,
) -> Result<i32, ApiError> {
    Ok(find_subject_by_code(conn, code, pii)?
        .map(|s| s.id)
        .unwrap_or(-1))
}
