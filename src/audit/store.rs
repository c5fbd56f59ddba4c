//! Reading the audit trail (审计日志): the search the API and the console call. Writing is
//! [`super::append`], inside each audited operation's transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::AuditRow;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::audit_log;

/// The marker of a back-dated write (补录) in a record's `after`: a top-level key the service adds
/// itself (`backdating::mark`); a quote inside any stored string is escaped, so no text imitates it.
const BACKDATED_PATTERN: &str = "%\"backdated\":true%";

/// Which records to read; `None` leaves a criterion out. Times are UTC, `to` exclusive.
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub region: Option<String>,
    pub actor_user_id: Option<i32>,
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// `Some(true)`: only back-dated writes; `Some(false)`: only the others.
    pub backdated: Option<bool>,
}

/// One page of matching records, newest first, and how many match in all.
pub fn search(
    conn: &mut DbConnection,
    f: &AuditQuery,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AuditRow>, i64), ApiError> {
    let filtered = || {
        let mut q = audit_log::table.into_boxed();
        if let Some(r) = &f.region {
            q = q.filter(audit_log::region_code.eq(r.clone()));
        }
        if let Some(a) = f.actor_user_id {
            q = q.filter(audit_log::actor_user_id.eq(a));
        }
        if let Some(a) = &f.action {
            q = q.filter(audit_log::action.eq(a.clone()));
        }
        if let Some(t) = &f.entity_type {
            q = q.filter(audit_log::entity_type.eq(t.clone()));
        }
        if let Some(i) = &f.entity_id {
            q = q.filter(audit_log::entity_id.eq(i.clone()));
        }
        if let Some(from) = f.from {
            q = q.filter(audit_log::at.ge(from));
        }
        if let Some(to) = f.to {
            q = q.filter(audit_log::at.lt(to));
        }
        match f.backdated {
            Some(true) => q = q.filter(audit_log::after_json.like(BACKDATED_PATTERN)),
            Some(false) => {
                q = q.filter(
                    audit_log::after_json
                        .is_null()
                        .or(audit_log::after_json.not_like(BACKDATED_PATTERN)),
                )
            }
            None => {}
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let rows: Vec<AuditRow> = filtered()
        .order(audit_log::id.desc())
        .limit(limit)
        .offset(offset)
        .select(AuditRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}
