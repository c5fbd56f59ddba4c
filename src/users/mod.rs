//! Accounts (用户): rows, the view sent to clients, and the operations shared by the admin API,
//! the command line and demo seeding.

pub mod handlers;
pub mod store;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Actor, Entry};
use crate::auth::{password, Role};
use crate::db::{self, DbConnection};
use crate::error::{ApiError, FieldError};
use crate::org::{find_department, find_region};
use crate::schema::{departments, sessions, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i32,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: String,
    pub department_id: Option<i32>,
    pub region_code: Option<String>,
    pub active: bool,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    pub password_changed_at: chrono::NaiveDateTime,
}

/// An account as clients see it (never the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i32,
    #[schema(example = "scjg.officer")]
    pub username: String,
    #[schema(example = "市场监管局 信用科")]
    pub display_name: String,
    pub role: Role,
    /// For `department` accounts: the department they act for. For `approval_system` accounts:
    /// the department whose approvals they serve (their checks count towards its 信用产品应用
    /// points and usage statistics), or null for a city-wide system.
    pub department_id: Option<i32>,
    pub department_name: Option<String>,
    /// For `bureau` accounts the region they cover; for `department` accounts the department's.
    pub region_code: Option<String>,
    pub active: bool,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
}

pub fn find_row(conn: &mut DbConnection, id: i32) -> Result<Option<UserRow>, ApiError> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_username(
    conn: &mut DbConnection,
    username: &str,
) -> Result<Option<UserRow>, ApiError> {
    Ok(users::table
        .filter(users::username.eq(username.trim().to_lowercase()))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn view(conn: &mut DbConnection, row: &UserRow) -> Result<UserView, ApiError> {
    let dept = match row.department_id {
        Some(id) => departments::table
            .find(id)
            .select((departments::name, departments::region_code))
            .first::<(String, String)>(conn)
            .optional()?,
        None => None,
    };
    let role =
        Role::parse(&row.role).ok_or_else(|| ApiError::internal("unknown role in database"))?;
    let region_code = match role {
        Role::Department => dept.as_ref().map(|d| d.1.clone()),
        Role::ApprovalSystem if dept.is_some() => dept.as_ref().map(|d| d.1.clone()),
        _ => row.region_code.clone(),
    };
    Ok(UserView {
        id: row.id,
        username: row.username.clone(),
        display_name: row.display_name.clone(),
        role,
        department_id: row.department_id,
        department_name: dept.map(|d| d.0),
        region_code,
        active: row.active,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Region that the audit record of a change to this account belongs to.
pub fn audit_region(v: &UserView) -> Option<String> {
    v.region_code.clone()
}

/// What an account is bound to, checked against its role.
pub struct Binding {
    pub department_id: Option<i32>,
    pub region_code: Option<String>,
}

/// Checks that the role's binding is complete and consistent: `department` needs an active
/// department and nothing else; `bureau` a region and nothing else; `approval_system` may be
/// bound to an active department (or to nothing: city-wide); `admin` to neither.
/// `current_department` is the account's department before the change: keeping it is allowed
/// even when it has been deactivated (so such accounts can still be edited and disabled).
pub fn check_binding(
    conn: &mut DbConnection,
    role: Role,
    department_id: Option<i32>,
    region_code: Option<&str>,
    current_department: Option<i32>,
) -> Result<Binding, ApiError> {
    let mut errors = Vec::new();
    match role {
        Role::Department => {
            if region_code.is_some() {
                errors.push(FieldError::new(
                    "region_code",
                    "not_applicable",
                    "a department account takes its region from its department",
                ));
            }
            match department_id {
                None => errors.push(FieldError::new(
                    "department_id",
                    "required",
                    "a department account needs department_id",
                )),
                Some(id) => match find_department(conn, id)? {
                    None => errors.push(FieldError::new(
                        "department_id",
                        "unknown_department",
                        format!("there is no department {id}"),
                    )),
                    Some(d) if !d.active && current_department != Some(id) => {
                        errors.push(FieldError::new(
                            "department_id",
                            "inactive_department",
                            format!("department {id} is inactive"),
                        ))
                    }
                    Some(_) => {}
                },
            }
        }
        Role::Bureau => {
            if department_id.is_some() {
                errors.push(FieldError::new(
                    "department_id",
                    "not_applicable",
                    "a bureau account is bound to a region, not a department",
                ));
            }
            match region_code {
                None => errors.push(FieldError::new(
                    "region_code",
                    "required",
                    "a bureau account needs region_code",
                )),
                Some(code) => {
                    if find_region(conn, code)?.is_none() {
                        errors.push(FieldError::new(
                            "region_code",
                            "unknown_region",
                            format!("there is no region {code}"),
                        ));
                    }
                }
            }
        }
        Role::ApprovalSystem => {
            // Bound to a department (its checks count as that department's use of credit
            // records) or left city-wide.
            if let Some(id) = department_id {
                match find_department(conn, id)? {
                    None => errors.push(FieldError::new(
                        "department_id",
                        "unknown_department",
                        format!("there is no department {id}"),
                    )),
                    Some(d) if !d.active && current_department != Some(id) => {
                        errors.push(FieldError::new(
                            "department_id",
                            "inactive_department",
                            format!("department {id} is inactive"),
                        ))
                    }
                    Some(_) => {}
                }
            }
            if region_code.is_some() {
                errors.push(FieldError::new(
                    "region_code",
                    "not_applicable",
                    "an approval_system account takes its region from its department, if any",
                ));
            }
        }
        Role::Admin => {
            if department_id.is_some() {
                errors.push(FieldError::new(
                    "department_id",
                    "not_applicable",
                    format!("a {} account is not bound to a department", role.as_str()),
                ));
            }
            if region_code.is_some() {
                errors.push(FieldError::new(
                    "region_code",
                    "not_applicable",
                    format!("a {} account is not bound to a region", role.as_str()),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(Binding {
        department_id,
        region_code: region_code.map(str::to_string),
    })
}

/// A new account.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 3–64 characters: lower-case letters, digits, `.`, `_`, `-`.
    #[schema(example = "scjg.officer")]
    pub username: String,
    /// Shown in the console; defaults to the username.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub display_name: Option<String>,
    /// 12 to 256 characters; not containing the username, not a common or repetitive password.
    #[schema(example = "a long passphrase")]
    pub password: String,
    pub role: Role,
    /// Required for `department` accounts; optional for `approval_system` accounts (the
    /// department whose approvals the system serves; none: city-wide).
    pub department_id: Option<i32>,
    /// Required for `bureau` accounts (`220500` is the whole city).
    pub region_code: Option<String>,
}

pub fn check_username(errors: &mut Vec<FieldError>, raw: &str) -> String {
    let name = raw.trim().to_lowercase();
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !(3..=64).contains(&name.len()) || !ok_chars {
        errors.push(FieldError::new(
            "username",
            "invalid_username",
            "username must be 3–64 characters of a-z, 0-9, '.', '_' or '-'",
        ));
    }
    name
}

/// Creates an account and audits it; the password must pass the whole policy. Call inside
/// [`db::write_tx`].
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    input: NewUser,
) -> Result<UserView, ApiError> {
    create_checked(conn, actor, input, true)
}

/// [`create`] for the accounts the program seeds itself (`serve --demo`): their published
/// passwords (`demo-tax-pass`) are checked for length only.
pub fn create_seeded(
    conn: &mut DbConnection,
    actor: &Actor,
    input: NewUser,
) -> Result<UserView, ApiError> {
    create_checked(conn, actor, input, false)
}

fn create_checked(
    conn: &mut DbConnection,
    actor: &Actor,
    input: NewUser,
    full_policy: bool,
) -> Result<UserView, ApiError> {
    let mut errors = Vec::new();
    let username = check_username(&mut errors, &input.username);
    let policy = if full_policy {
        password::check_policy("password", &input.username, &input.password)
    } else {
        password::check_length("password", &input.password)
    };
    if let Err(e) = policy {
        errors.push(e);
    }
    let display_name = input
        .display_name
        .as_deref()
        .map(|d| crate::http::required_line(&mut errors, "display_name", d, 100))
        .unwrap_or_else(|| username.clone());
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let binding = check_binding(
        conn,
        input.role,
        input.department_id,
        input.region_code.as_deref(),
        None,
    )?;
    if find_by_username(conn, &username)?.is_some() {
        return Err(ApiError::conflict(
            "username_taken",
            "that username is already in use",
        ));
    }
    let hash = password::hash(&input.password).map_err(ApiError::internal)?;
    let now = db::now();
    let id: i32 = diesel::insert_into(users::table)
        .values((
            users::username.eq(&username),
            users::display_name.eq(&display_name),
            users::password_hash.eq(&hash),
            users::role.eq(input.role.as_str()),
            users::department_id.eq(binding.department_id),
            users::region_code.eq(&binding.region_code),
            users::active.eq(true),
            users::created_at.eq(now),
            users::updated_at.eq(now),
            users::password_changed_at.eq(now),
        ))
        .returning(users::id)
        .get_result(conn)?;
    let row = find_row(conn, id)?.ok_or_else(|| ApiError::internal("user vanished"))?;
    let v = view(conn, &row)?;
    audit::append(
        conn,
        actor,
        Entry::new("user.create", "user", id)
            .region(audit_region(&v))
            .department(v.department_id)
            .after(&v),
    )?;
    Ok(v)
}

/// Ends every open session of a user (except `keep`), so their tokens stop working at once.
pub fn revoke_sessions(
    conn: &mut DbConnection,
    user_id: i32,
    keep: Option<&str>,
    reason: &str,
) -> Result<usize, ApiError> {
    let now = db::now();
    let n = match keep {
        Some(keep) => diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::id.ne(keep)),
        )
        .set((
            sessions::revoked_at.eq(now),
            sessions::revoked_reason.eq(reason),
        ))
        .execute(conn)?,
        None => diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((
            sessions::revoked_at.eq(now),
            sessions::revoked_reason.eq(reason),
        ))
        .execute(conn)?,
    };
    Ok(n)
}

/// Sets a new password (already checked against the policy), ends sessions, audits.
pub fn set_password(
    conn: &mut DbConnection,
    actor: &Actor,
    row: &UserRow,
    new_password: &str,
    keep_session: Option<&str>,
    action: &str,
) -> Result<(), ApiError> {
    let hash = password::hash(new_password).map_err(ApiError::internal)?;
    let now = db::now();
    diesel::update(users::table.find(row.id))
        .set((
            users::password_hash.eq(hash),
            users::password_changed_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    let ended = revoke_sessions(conn, row.id, keep_session, "password_changed")?;
    let v = view(conn, row)?;
    audit::append(
        conn,
        actor,
        Entry::new(action, "user", row.id)
            .region(audit_region(&v))
            .department(v.department_id)
            .after(&serde_json::json!({ "password_changed": true, "sessions_ended": ended })),
    )?;
    Ok(())
}
