//! The authenticated caller from a request: the `AuthUser` extractor (API bearer tokens) and
//! the console's variant (its session cookie). The one part of `auth` that reads the shared
//! state.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use diesel::prelude::*;

use super::session_cache::SessionRow;
use super::{tokens, AuthUser, RequestMeta, Role};
use crate::db;
use crate::error::ApiError;
use crate::schema::{departments, sessions, users};
use crate::state::AppState;

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
        // An approval system bound to a department checks in that department's region.
        Role::ApprovalSystem if department_id.is_some() => dept_region,
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
