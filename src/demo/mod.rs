//! Demo data for `serve --demo`: one account per role, created once (a second run finds them
//! and creates nothing).

pub mod bench;
pub mod cases;
pub mod lists;
pub mod repair;

use diesel::prelude::*;

use crate::audit::Actor;
use crate::auth::Role;
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::schema::departments;
use crate::users::{self, NewUser};

pub struct DemoAccount {
    pub username: &'static str,
    pub password: &'static str,
    pub role: Role,
    pub bound_to: String,
    pub created: bool,
}

/// (username, password, role, department name, region code)
type AccountSpec = (
    &'static str,
    &'static str,
    Role,
    Option<&'static str>,
    Option<&'static str>,
);

const ACCOUNTS: &[AccountSpec] = &[
    ("demo-admin", "demo-admin-pass", Role::Admin, None, None),
    (
        "demo-city-bureau",
        "demo-city-bureau-pass",
        Role::Bureau,
        None,
        Some("220500"),
    ),
    (
        "demo-county-bureau",
        "demo-county-bureau-pass",
        Role::Bureau,
        None,
        Some("220521"),
    ),
    (
        "demo-scjg",
        "demo-scjg-pass",
        Role::Department,
        Some("市市场监督管理局"),
        None,
    ),
    (
        "demo-tax",
        "demo-tax-pass",
        Role::Department,
        Some("市税务局"),
        None,
    ),
    (
        "demo-approval",
        "demo-approval-pass",
        Role::ApprovalSystem,
        None,
        None,
    ),
];

pub fn seed(conn: &mut DbConnection) -> Result<Vec<DemoAccount>, ApiError> {
    crate::calendar::seed_demo(conn)?;
    let actor = Actor::system("demo");
    let mut out = Vec::new();
    for (username, password, role, dept_name, region) in ACCOUNTS {
        let department_id = match dept_name {
            Some(name) => Some(
                departments::table
                    .filter(departments::name.eq(*name))
                    .filter(departments::region_code.eq(crate::auth::CITY_REGION))
                    .select(departments::id)
                    .first::<i32>(conn)?,
            ),
            None => None,
        };
        let bound_to = match (dept_name, region) {
            (Some(d), _) => format!("department {} {}", department_id.unwrap_or_default(), d),
            (None, Some(r)) => format!("region {r}"),
            _ => "—".to_string(),
        };
        let created = db::write_tx(conn, |c| {
            if users::find_by_username(c, username)?.is_some() {
                return Ok::<bool, ApiError>(false);
            }
            users::create_seeded(
                c,
                &actor,
                NewUser {
                    username: username.to_string(),
                    display_name: None,
                    password: password.to_string(),
                    role: *role,
                    department_id,
                    region_code: region.map(str::to_string),
                },
            )?;
            Ok(true)
        })?;
        out.push(DemoAccount {
            username,
            password,
            role: *role,
            bound_to,
            created,
        });
    }
    Ok(out)
}

pub fn print_accounts(accounts: &[DemoAccount]) {
    println!("Demo accounts (password = username + \"-pass\"):");
    println!(
        "  {:<20} {:<24} {:<16} bound to",
        "username", "password", "role"
    );
    for a in accounts {
        println!(
            "  {:<20} {:<24} {:<16} {}{}",
            a.username,
            a.password,
            a.role.as_str(),
            a.bound_to,
            if a.created { "" } else { " (already existed)" }
        );
    }
}
