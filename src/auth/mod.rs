//! Authentication (who is calling) and the one authorisation mechanism every handler uses
//! (role plus scope).

pub mod extract;
pub mod handlers;
pub mod password;
pub mod session_cache;
pub mod store;
pub mod throttle;
pub mod tokens;

use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::schema::departments;

/// The whole city (通化市): a bureau bound to it sees every county and zone.
/// Staff roles: everyone but approval systems.
pub const STAFF: &[Role] = &[Role::Admin, Role::Bureau, Role::Department];

/// Roles that may run credit checks (核查).
pub const CHECKERS: &[Role] = &[
    Role::ApprovalSystem,
    Role::Admin,
    Role::Bureau,
    Role::Department,
];

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

/// The proxies whose `X-Forwarded-For` is believed (`trusted_proxies`), set as app data at
/// start-up.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

/// Set by the request-id middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestMeta {
    pub fn from_request(req: &HttpRequest) -> Self {
        let trusted = req
            .app_data::<web::Data<TrustedProxies>>()
            .map(|t| t.0.as_slice())
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

/// The authenticated caller, loaded from the database (through [`session_cache::SessionCache`]): a disabled
/// account, a changed role or a revoked session takes effect at once on the instance that made the
/// change, and within [`session_cache::SESSION_CACHE_TTL`] on the others.
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
