//! `/api/v1/auth/*` and `/api/v1/me`: the HTTP handlers; each parses the request, makes one call to
//! [`super::store`] and answers.

use actix_web::{get, post, web, HttpResponse};

use super::store::{
    change_password, end_session, login_with_password, own_account, refresh_session, LoginRequest,
    PasswordChange, RefreshRequest, TokenResponse,
};
use super::{AuthUser, RequestMeta};
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;
use crate::state::AppState;
use crate::users::UserView;

/// Log in (登录)
///
/// Log in with username and password. Repeated failures for one account from one client address
/// make that client wait longer each time, and many failures from one address refuse it (429
/// with `Retry-After`); failures from other clients only slow an account down. The answer never
/// tells whether the username exists.
///
/// Anonymous: this is how a caller gets its access token (15 minutes by default) and refresh token.
/// Starts a session; a failure is counted by the login throttle.
#[utoipa::path(
    operation_id = "auth_login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid username or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.0;
    let ttl = state.settings.refresh_token_ttl_secs;
    let tokens = login_with_password(&state, meta, &username, password, ttl).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(tokens))
}

/// Refresh the token pair
///
/// Exchange a refresh token for a new pair. Each refresh token works once: presenting a spent
/// one again ends the whole session (every token of that login), since it was probably stolen.
///
/// Anonymous: the refresh token is the credential. Spends the refresh token and issues a new pair
/// within the same session, which keeps its original end.
#[utoipa::path(
    operation_id = "auth_refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenResponse),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown, expired, spent or revoked refresh token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let tokens = refresh_session(&state, meta, &body.0.refresh_token).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(tokens))
}

/// Log out
///
/// End the current session: its access and refresh tokens stop working at once.
///
/// Any signed-in account, for its own current session. Ends the session.
#[utoipa::path(
    operation_id = "auth_logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    end_session(&state, &user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own account
///
/// The caller's own account, role and scope.
///
/// Any signed-in account, approval systems included. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "auth_me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let v = own_account(&state, &user).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Change one's own password
///
/// Change one's own password; other sessions of the account end, this one stays.
///
/// Any signed-in account, with its current password. Stores the new password hash (argon2id) and
/// ends the account's other sessions; audited.
#[utoipa::path(
    operation_id = "auth_change_own_password",
    tag = "auth",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password, or the new one breaks the policy", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong current passwords; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/me/password")]
pub async fn change_own_password(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ApiJson<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    change_password(&state, &user, body.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
