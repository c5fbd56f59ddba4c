//! Signing in and out (the operations behind `/api/v1/auth/*`, `/api/v1/me` and the console's
//! sign-in): password logins (throttled), token pairs, refresh with reuse detection, ending a
//! session, changing one's own password. Every outcome is audited.

use actix_web::web;
use chrono::Duration;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::tokens::{random_token, sha256_hex};
use super::{password, AuthUser, RequestMeta};
use crate::audit::{self, Actor, Entry};
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::schema::{refresh_tokens, sessions};
use crate::state::AppState;
use crate::users::{self, UserRow, UserView};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "demo-admin")]
    pub username: String,
    #[schema(example = "demo-admin-pass")]
    pub password: String,
}

/// Tokens issued at login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Short-lived JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Opaque, single-use: exchange it at `/api/v1/auth/refresh` for a new pair.
    pub refresh_token: String,
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid username or password")
}

fn actor_for(row: &UserRow, meta: &RequestMeta) -> Actor {
    Actor {
        user_id: Some(row.id),
        username: Some(row.username.clone()),
        role: Some(row.role.clone()),
        request_id: meta.request_id.clone(),
        ip: meta.ip.clone(),
    }
}

/// Opens a session with its first refresh token and signs an access token.
fn open_session(
    conn: &mut DbConnection,
    state: &AppState,
    row: &UserRow,
    session_ttl_secs: i64,
) -> Result<TokenResponse, ApiError> {
    let now = db::now();
    let session_id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(&session_id),
            sessions::user_id.eq(row.id),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(now + Duration::seconds(session_ttl_secs)),
        ))
        .execute(conn)?;
    issue_pair(conn, state, row, &session_id)
}

fn issue_pair(
    conn: &mut DbConnection,
    state: &AppState,
    row: &UserRow,
    session_id: &str,
) -> Result<TokenResponse, ApiError> {
    let now = db::now();
    let refresh_token = random_token();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(sha256_hex(&refresh_token)),
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::issued_at.eq(now),
            refresh_tokens::expires_at
                .eq(now + Duration::seconds(state.settings.refresh_token_ttl_secs)),
        ))
        .execute(conn)?;
    let ttl = state.settings.access_token_ttl_secs;
    Ok(TokenResponse {
        access_token: state.keys.issue(row.id, session_id, &row.role, ttl)?,
        token_type: "Bearer".into(),
        expires_in: ttl,
        refresh_token,
    })
}

/// Checks a username and password (throttled, audited as `auth.login` / `auth.login_failed`)
/// and opens a session that ends `session_ttl_secs` from now. Shared by the API login and the
/// staff console's login form.
pub(crate) async fn login_with_password(
    state: &web::Data<AppState>,
    meta: RequestMeta,
    username: &str,
    password: String,
    session_ttl_secs: i64,
) -> Result<TokenResponse, ApiError> {
    let username = username.trim().to_lowercase();
    let ip = meta.ip.clone().unwrap_or_default();
    let pause = state
        .throttle
        .check(&username, &ip)
        .map_err(|secs| ApiError::TooManyRequests {
            retry_after_secs: secs,
            detail: "too many failed login attempts; try again later".into(),
        })?;
    // An account under attack from many clients: every attempt waits, none is refused.
    if !pause.is_zero() {
        tokio::time::sleep(pause).await;
    }
    let st = state.clone();
    let name = username.clone();
    let outcome = db::run(&state.pool, move |conn| {
        let row = users::find_by_username(conn, &name)?;
        let ok = match &row {
            Some(r) => password::verify(&password, &r.password_hash) && r.active,
            None => {
                password::verify_dummy(&password);
                false
            }
        };
        db::write_tx(conn, |conn| {
            if ok {
                let row = row.as_ref().expect("checked above");
                let tokens = open_session(conn, &st, row, session_ttl_secs)?;
                audit::append(
                    conn,
                    &actor_for(row, &meta),
                    Entry::new("auth.login", "user", row.id),
                )?;
                Ok(Some(tokens))
            } else {
                let actor = Actor {
                    request_id: meta.request_id.clone(),
                    ip: meta.ip.clone(),
                    ..Actor::default()
                };
                // Only a username that exists is recorded: a mistyped one might be a password or
                // an ID number.
                let entry = Entry {
                    action: "auth.login_failed".into(),
                    entity_type: "user".into(),
                    entity_id: row.as_ref().map(|r| r.id.to_string()),
                    after: Some(serde_json::json!({
                        "username": row.as_ref().map(|r| r.username.clone()),
                        "account_disabled": row.as_ref().map(|r| !r.active),
                    })),
                    ..Entry::default()
                };
                audit::append(conn, &actor, entry)?;
                Ok(None)
            }
        })
    })
    .await?;
    match outcome {
        Some(tokens) => {
            state.throttle.record_success(&username, &ip);
            Ok(tokens)
        }
        None => {
            state.throttle.record_failure(&username, &ip);
            Err(invalid_credentials())
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Revokes the caller's session (audited as `auth.logout`): the API's logout and the console's.
pub(crate) async fn end_session(
    state: &web::Data<AppState>,
    user: &AuthUser,
) -> Result<(), ApiError> {
    let actor = user.actor();
    let sid = user.session_id.clone();
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            diesel::update(
                sessions::table
                    .find(&sid)
                    .filter(sessions::revoked_at.is_null()),
            )
            .set((
                sessions::revoked_at.eq(db::now()),
                sessions::revoked_reason.eq("logout"),
            ))
            .execute(conn)?;
            audit::append(conn, &actor, Entry::new("auth.logout", "session", &sid))?;
            Ok(())
        })
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// 12 to 256 characters; not containing the username, not a common or repetitive password.
    pub new_password: String,
}

enum RefreshOutcome {
    Issued(TokenResponse),
    Rejected(&'static str),
}

/// Exchanges a refresh token for a new pair. Each refresh token works once: presenting a spent one
/// again ends the whole session (every token of that login), since it was probably stolen.
pub async fn refresh_session(
    state: &web::Data<AppState>,
    meta: RequestMeta,
    refresh_token: &str,
) -> Result<TokenResponse, ApiError> {
    let hash = sha256_hex(refresh_token.trim());
    let st = state.clone();
    let outcome = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| -> Result<RefreshOutcome, ApiError> {
            let now = db::now();
            let token: Option<(String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> =
                refresh_tokens::table
                    .find(&hash)
                    .select((
                        refresh_tokens::session_id,
                        refresh_tokens::expires_at,
                        refresh_tokens::used_at,
                    ))
                    .first(conn)
                    .optional()?;
            let Some((session_id, expires_at, used_at)) = token else {
                return Ok(RefreshOutcome::Rejected("unknown refresh token"));
            };
            let (user_id, revoked_at, session_expires): (
                i32,
                Option<chrono::NaiveDateTime>,
                chrono::NaiveDateTime,
            ) = sessions::table
                .find(&session_id)
                .select((
                    sessions::user_id,
                    sessions::revoked_at,
                    sessions::expires_at,
                ))
                .first(conn)?;
            let row = users::find_row(conn, user_id)?
                .ok_or_else(|| ApiError::internal("session without user"))?;
            let actor = actor_for(&row, &meta);
            if revoked_at.is_some() {
                return Ok(RefreshOutcome::Rejected("the session has ended"));
            }
            // Reuse of a spent token: end the family. The revocation commits; the caller gets 401.
            let spent = used_at.is_some()
                || diesel::update(
                    refresh_tokens::table
                        .find(&hash)
                        .filter(refresh_tokens::used_at.is_null()),
                )
                .set(refresh_tokens::used_at.eq(now))
                .execute(conn)?
                    == 0;
            if spent {
                diesel::update(sessions::table.find(&session_id))
                    .set((
                        sessions::revoked_at.eq(now),
                        sessions::revoked_reason.eq("refresh_token_reuse"),
                    ))
                    .execute(conn)?;
                audit::append(
                    conn,
                    &actor,
                    Entry::new("auth.refresh_reuse", "session", &session_id)
                        .after(&serde_json::json!({ "session_revoked": true })),
                )?;
                return Ok(RefreshOutcome::Rejected(
                    "refresh token already used; the session has been ended",
                ));
            }
            if expires_at <= now || session_expires <= now {
                return Ok(RefreshOutcome::Rejected("the refresh token has expired"));
            }
            if !row.active {
                return Ok(RefreshOutcome::Rejected("this account is disabled"));
            }
            let tokens = issue_pair(conn, &st, &row, &session_id)?;
            audit::append(
                conn,
                &actor,
                Entry::new("auth.refresh", "session", &session_id),
            )?;
            Ok(RefreshOutcome::Issued(tokens))
        })
    })
    .await?;
    match outcome {
        RefreshOutcome::Issued(tokens) => Ok(tokens),
        RefreshOutcome::Rejected(why) => Err(ApiError::unauthorized(why)),
    }
}

/// The caller's own account, role and scope.
pub async fn own_account(
    state: &web::Data<AppState>,
    user: &AuthUser,
) -> Result<UserView, ApiError> {
    let id = user.id;
    db::run(&state.pool, move |conn| {
        let row = users::find_row(conn, id)?.ok_or_else(|| ApiError::not_found("user"))?;
        users::view(conn, &row)
    })
    .await
}

/// Changes one's own password (throttled like a login); other sessions of the account end.
pub async fn change_password(
    state: &web::Data<AppState>,
    user: &AuthUser,
    change: PasswordChange,
) -> Result<(), ApiError> {
    let PasswordChange {
        current_password,
        new_password,
    } = change;
    password::check_policy("new_password", &user.username, &new_password)
        .map_err(|e| ApiError::validation(vec![e]))?;
    // Guessing the current password with a stolen token is throttled like a login.
    let ip = user.meta.ip.clone().unwrap_or_default();
    let pause =
        state
            .throttle
            .check(&user.username, &ip)
            .map_err(|secs| ApiError::TooManyRequests {
                retry_after_secs: secs,
                detail: "too many failed attempts; try again later".into(),
            })?;
    if !pause.is_zero() {
        tokio::time::sleep(pause).await;
    }
    let actor = user.actor();
    let (id, sid) = (user.id, user.session_id.clone());
    let changed = db::run(&state.pool, move |conn| {
        let row = users::find_row(conn, id)?.ok_or_else(|| ApiError::not_found("user"))?;
        let ok = password::verify(&current_password, &row.password_hash);
        db::write_tx(conn, |conn| {
            if ok {
                users::set_password(
                    conn,
                    &actor,
                    &row,
                    &new_password,
                    Some(&sid),
                    "user.password_change",
                )?;
            } else {
                audit::append(
                    conn,
                    &actor,
                    Entry::new("user.password_change_failed", "user", id),
                )?;
            }
            Ok::<bool, ApiError>(ok)
        })
    })
    .await?;
    if !changed {
        state.throttle.record_failure(&user.username, &ip);
        return Err(ApiError::invalid_field(
            "current_password",
            "wrong_password",
            "the current password is not correct",
        ));
    }
    Ok(())
}
