//! Authentication (who is calling) and the one authorisation mechanism every handler uses
//! (role plus scope).

pub mod handlers;
pub mod password;
pub mod throttle;
pub mod tokens;

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db;
use crate::error::ApiError;
use crate::schema::{departments, sessions, users};
use crate::state::AppState;

/// The whole city (通化市): a bureau bound to it sees every county and zone.
pub const CITY_REGION: &str = "220500";

/// 角色: what kind of account this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 系统管理员: everything.
    Admin,
    /// 政务服务和数字化局 (city or county bureau): bound to a region.
    Bureau,
    /// 部门 officer: bound to one department.
    Department,
    /// 审批系统: machine account of an approval system (credit checks).
    #[value(name = "approval_system")]
    ApprovalSystem,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Bureau => "bureau",
            Role::Department => "department",
            Role::ApprovalSystem => "approval_system",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "bureau" => Some(Role::Bureau),
            "department" => Some(Role::Department),
            "approval_system" => Some(Role::ApprovalSystem),
            _ => None,
        }
    }
}

/// Facts about the request that the audit trail records.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

/// Set by the request-id middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestMeta {
    pub fn from_request(req: &HttpRequest) -> Self {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.trusted_proxies.as_slice())
            .unwrap_or_default();
        RequestMeta {
            request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
            ip: client_ip(req, trusted).map(|ip| ip.to_string()),
        }
    }
}

/// The client's address: the TCP peer, unless the peer is one of the `trusted` proxies; then
/// `X-Forwarded-For` is read from the right (the entries the trusted proxies appended) and the
/// first address that is not a trusted proxy is the client. Entries left of it were written by
/// the client itself and are never believed. An unreadable entry stops the walk at the last
/// trusted hop. Without trusted proxies (the default) the header is ignored.
pub fn client_ip(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr()?.ip();
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(client)
}

impl FromRequest for RequestMeta {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(RequestMeta::from_request(req)))
    }
}

/// The authenticated caller, loaded from the database (through [`SessionCache`]): a disabled
/// account, a changed role or a revoked session takes effect at once on the instance that made the
/// change, and within [`SESSION_CACHE_TTL`] on the others.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i32,
    pub username: String,
    pub role: Role,
    pub department_id: Option<i32>,
    /// Bureau: its region. Department: the department's region. Others: none.
    pub region_code: Option<String>,
    pub session_id: String,
    pub meta: RequestMeta,
}

impl AuthUser {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the {} role may not do this",
                self.role.as_str()
            )))
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the caller's scope covers everything recorded for `region`: admins and the city
    /// bureau cover all regions, a county bureau its own.
    pub fn covers_region(&self, region: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Bureau => match self.region_code.as_deref() {
                Some(CITY_REGION) => true,
                Some(own) => own == region,
                None => false,
            },
            Role::Department | Role::ApprovalSystem => false,
        }
    }

    /// Whether the caller may write a department's data: admins; bureaus whose region covers the
    /// department's; a department officer only for their own department.
    pub fn may_manage_department(&self, department_id: i32, department_region: &str) -> bool {
        match self.role {
            Role::Department => self.department_id == Some(department_id),
            _ => self.covers_region(department_region),
        }
    }

    /// The region filter a read of region-scoped records gets: `None` means no restriction.
    pub fn region_filter(&self) -> Result<Option<String>, ApiError> {
        match self.role {
            Role::Admin => Ok(None),
            Role::Bureau if self.region_code.as_deref() == Some(CITY_REGION) => Ok(None),
            Role::Bureau => Ok(self.region_code.clone()),
            _ => Err(ApiError::forbidden("this needs a bureau or admin account")),
        }
    }

    /// For the audit trail.
    pub fn actor(&self) -> crate::audit::Actor {
        crate::audit::Actor {
            user_id: Some(self.id),
            username: Some(self.username.clone()),
            role: Some(self.role.as_str().to_string()),
            request_id: self.meta.request_id.clone(),
            ip: self.meta.ip.clone(),
        }
    }
}

fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("authentication required: send a Bearer token"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "the Authorization scheme must be Bearer",
        ));
    }
    Ok(token.trim().to_string())
}

type SessionRow = (
    i32,
    String,
    String,
    Option<i32>,
    Option<String>,
    bool,
    Option<String>,
);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        let meta = RequestMeta::from_request(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            authenticate(&state, token, meta).await
        })
    }
}

/// Checks an API access token (signature, audience, expiry) from the `Authorization` header and
/// its session (not ended, account active), and gives the caller with their role and scope.
pub async fn authenticate(
    state: &web::Data<AppState>,
    token: Result<String, ApiError>,
    meta: RequestMeta,
) -> Result<AuthUser, ApiError> {
    authenticate_for(state, token, meta, tokens::AUDIENCE).await
}

/// [`authenticate`] for the staff console's session cookie (its own audience: the API refuses
/// it, and the console refuses API tokens).
pub async fn authenticate_console(
    state: &web::Data<AppState>,
    token: Result<String, ApiError>,
    meta: RequestMeta,
) -> Result<AuthUser, ApiError> {
    authenticate_for(state, token, meta, tokens::CONSOLE_AUDIENCE).await
}

async fn authenticate_for(
    state: &web::Data<AppState>,
    token: Result<String, ApiError>,
    meta: RequestMeta,
    audience: &str,
) -> Result<AuthUser, ApiError> {
    let claims = state.keys.verify_for(&token?, audience)?;
    let user_id: i32 = claims
        .sub
        .parse()
        .map_err(|_| ApiError::unauthorized("the access token is invalid"))?;
    let row = match state.sessions.get(&claims.sid, user_id) {
        Some(row) => Some(row),
        None => {
            let epoch = db::local_commits();
            let sid = claims.sid.clone();
            let fetched = db::run(&state.pool, move |conn| {
                let now = db::now();
                Ok(sessions::table
                    .inner_join(users::table)
                    .left_join(
                        departments::table.on(departments::id.nullable().eq(users::department_id)),
                    )
                    .filter(sessions::id.eq(&sid))
                    .filter(sessions::user_id.eq(user_id))
                    .filter(sessions::revoked_at.is_null())
                    .filter(sessions::expires_at.gt(now))
                    .select((
                        (
                            users::id,
                            users::username,
                            users::role,
                            users::department_id,
                            users::region_code,
                            users::active,
                            departments::region_code.nullable(),
                        ),
                        sessions::expires_at,
                    ))
                    .first::<(SessionRow, chrono::NaiveDateTime)>(conn)
                    .optional()?)
            })
            .await?;
            fetched.map(|(row, expires_at)| {
                state
                    .sessions
                    .put(&claims.sid, user_id, row.clone(), expires_at, epoch);
                row
            })
        }
    };
    let (id, username, role, department_id, region_code, active, dept_region) =
        row.ok_or_else(|| ApiError::unauthorized("the session has ended; log in again"))?;
    if !active {
        return Err(ApiError::unauthorized("this account is disabled"));
    }
    let role = Role::parse(&role).ok_or_else(|| ApiError::internal("unknown role in database"))?;
    let region_code = match role {
        Role::Department => dept_region,
        _ => region_code,
    };
    Ok(AuthUser {
        id,
        username,
        role,
        department_id,
        region_code,
        session_id: claims.sid.clone(),
        meta,
    })
}

/// How long a session row read from the database may be reused by other requests of the same
/// session (see [`SessionCache`]).
pub const SESSION_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

struct CachedSession {
    row: SessionRow,
    expires_at: chrono::NaiveDateTime,
    fetched: std::time::Instant,
    epoch: u64,
}

/// Recently read sessions (joined with their user), so that a burst of requests on one session
/// (an approval system's credit checks) costs one query per [`SESSION_CACHE_TTL`], not one each.
/// An entry is used only while younger than the TTL, before the session's expiry, and while this
/// process has committed no write since it was read (`db::local_commits`): a logout, disabled
/// account, role change or password change made through this instance applies to the very next
/// request; one made through another instance within the TTL.
#[derive(Default)]
pub struct SessionCache {
    map: std::sync::Mutex<std::collections::HashMap<(String, i32), CachedSession>>,
}

impl SessionCache {
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, sid: &str, user_id: i32) -> Option<SessionRow> {
        let map = self.map.lock().ok()?;
        let c = map.get(&(sid.to_string(), user_id))?;
        (c.fetched.elapsed() < SESSION_CACHE_TTL
            && c.epoch == db::local_commits()
            && c.expires_at > db::now())
        .then(|| c.row.clone())
    }

    /// `epoch` is `db::local_commits()` read *before* the row was: a write committed in between
    /// makes the entry stale at once, never fresh.
    fn put(
        &self,
        sid: &str,
        user_id: i32,
        row: SessionRow,
        expires_at: chrono::NaiveDateTime,
        epoch: u64,
    ) {
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() >= Self::MAX_ENTRIES {
            map.retain(|_, c| c.fetched.elapsed() < SESSION_CACHE_TTL);
        }
        map.insert(
            (sid.to_string(), user_id),
            CachedSession {
                row,
                expires_at,
                fetched: std::time::Instant::now(),
                epoch,
            },
        );
    }
}

/// Departments whose drafts (four-list items, list entries) the caller may see and manage:
/// `None` = all (admins, the city bureau); a county bureau its region's departments; a department
/// officer their own; approval systems none.
pub fn managed_departments(
    conn: &mut crate::db::DbConnection,
    user: &AuthUser,
) -> Result<Option<Vec<i32>>, ApiError> {
    Ok(match user.role {
        Role::Admin => None,
        Role::Department => Some(user.department_id.into_iter().collect()),
        Role::Bureau => match user.region_filter()? {
            None => None,
            Some(region) => Some(
                departments::table
                    .filter(departments::region_code.eq(region))
                    .select(departments::id)
                    .load(conn)?,
            ),
        },
        Role::ApprovalSystem => Some(vec![]),
    })
}
