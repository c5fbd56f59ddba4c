//! Errors as RFC 9457 problem details (`application/problem+json`), with a stable `code`.
//!
//! Handlers return `Result<_, ApiError>`; extractor failures (bad JSON, query, path, payload size)
//! and framework errors (unknown route, wrong method) are turned into the same shape, so a client
//! never sees another error format.

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One offending input field: a JSON path (`department_id`, `items[3].code`), a query or path
/// parameter name, or a header.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// Where the problem is, e.g. `subject_code` or `query.page`.
    pub field: String,
    /// Stable machine-readable code for this field's problem.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// Problem details (RFC 9457) as sent to clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:credit-lists:problem:{code}`.
    #[serde(rename = "type")]
    #[schema(example = "urn:credit-lists:problem:validation_failed")]
    pub type_: String,
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "the request has invalid fields")]
    pub detail: String,
    /// Stable machine-readable error code.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// Offending fields, if any.
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request could not be read (malformed JSON, bad query string …).
    #[error("{detail}")]
    BadRequest {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// 422: readable but invalid.
    #[error("{detail}")]
    Invalid {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// 403 with its own code and the field that asked for what the caller may not do.
    #[error("{detail}")]
    Denied {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("request body too large")]
    PayloadTooLarge { limit: usize },
    /// 413 for content over a budget once unpacked or parsed (an upload's budget), with its own
    /// code and the field naming the limit.
    #[error("{detail}")]
    TooLarge {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    #[error("too many requests")]
    TooManyRequests {
        retry_after_secs: u64,
        detail: String,
    },
    #[error("{0}")]
    Unavailable(String),
    /// 503 with its own code and `Retry-After`: a bounded resource (e.g. upload slots) is full.
    #[error("{detail}")]
    Busy {
        code: &'static str,
        detail: String,
        retry_after_secs: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid_field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::Invalid {
            code,
            detail: message.clone(),
            errors: vec![FieldError::new(field, code, message)],
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => one.message.clone(),
            _ => format!("{} fields are invalid", errors.len()),
        };
        ApiError::Invalid {
            code: "validation_failed",
            detail,
            errors,
        }
    }

    /// 400 `invalid_query` naming the query parameter (`query.{param}`).
    pub fn invalid_query(param: &str, code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::BadRequest {
            code: "invalid_query",
            detail: message.clone(),
            errors: vec![FieldError::new(format!("query.{param}"), code, message)],
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError::Unauthorized(detail.into())
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden(detail.into())
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound(what.into())
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        ApiError::Unavailable(detail.into())
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        ApiError::Internal(detail.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::Invalid { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Denied { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { code, .. } => code,
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::TooLarge { code, .. } => code,
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Busy { code, .. } => code,
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn detail(&self) -> String {
        match self {
            // Never leak internals (SQL, paths) to the client; the log has them.
            ApiError::Internal(_) => "an unexpected error occurred".into(),
            ApiError::PayloadTooLarge { limit } => {
                format!("request body exceeds the limit of {limit} bytes")
            }
            ApiError::UnsupportedMediaType(detail) => detail.clone(),
            ApiError::TooManyRequests { detail, .. } => detail.clone(),
            other => other.to_string(),
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            ApiError::BadRequest { errors, .. }
            | ApiError::Invalid { errors, .. }
            | ApiError::TooLarge { errors, .. }
            | ApiError::Denied { errors, .. } => errors.clone(),
            _ => Vec::new(),
        }
    }
}

pub fn problem_body(
    status: StatusCode,
    code: &str,
    detail: String,
    errors: Vec<FieldError>,
) -> Problem {
    Problem {
        type_: format!("urn:credit-lists:problem:{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail,
        code: code.to_string(),
        errors,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Denied { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } | ApiError::TooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let ApiError::Internal(msg) = self {
            tracing::error!(error = %msg, "internal error");
        }
        let body = problem_body(status, self.code(), self.detail(), self.field_errors());
        let mut res = HttpResponse::build(status);
        res.content_type(PROBLEM_JSON);
        match self {
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.max(&1).to_string()));
            }
            ApiError::Unavailable(_) => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::Busy {
                retry_after_secs, ..
            } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.max(&1).to_string()));
            }
            ApiError::Unauthorized(_) => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        res.json(body)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => ApiError::not_found("record"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                ApiError::conflict("conflict", format!("already exists: {}", info.message()))
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ApiError::unavailable("the database was busy; retry the request")
            }
            Error::DatabaseError(_, info)
                if info.message().contains("database is locked")
                    || info.message().contains("database is busy")
                    || info.message().contains("deadlock detected") =>
            {
                ApiError::unavailable("the database was busy; retry the request")
            }
            other => ApiError::internal(format!("database error: {other}")),
        }
    }
}

/// Builds the problem response for extractor errors (bad JSON, query, path, size).
pub fn json_payload_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { limit, .. } | E::Overflow { limit } => {
            ApiError::PayloadTooLarge { limit }
        }
        E::ContentType => {
            ApiError::UnsupportedMediaType("the request body must be application/json".into())
        }
        other => ApiError::BadRequest {
            code: "malformed_body",
            detail: format!("the request body could not be read: {other}"),
            errors: vec![],
        },
    }
}

pub fn query_error(err: actix_web::error::QueryPayloadError) -> ApiError {
    let msg = err.to_string();
    ApiError::BadRequest {
        code: "invalid_query",
        detail: format!("invalid query string: {msg}"),
        errors: vec![FieldError::new(
            field_from_serde_message(&msg)
                .map(|f| format!("query.{f}"))
                .unwrap_or_else(|| "query".to_string()),
            "invalid",
            msg,
        )],
    }
}

pub fn path_error(err: actix_web::error::PathError) -> ApiError {
    let msg = err.to_string();
    ApiError::BadRequest {
        code: "invalid_path_parameter",
        detail: format!("invalid path parameter: {msg}"),
        errors: vec![FieldError::new("path", "invalid", msg)],
    }
}

/// serde messages name the field between backticks ("missing field `page`").
fn field_from_serde_message(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let end = msg[start..].find('`')? + start;
    Some(msg[start..end].to_string())
}

/// Last line of defence: an error response made by the framework itself (unknown route, wrong
/// method, an extractor without our handler) gets a problem+json body too.
pub fn problem_fallback<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()))
        .unwrap_or(false);
    // The staff console answers its errors with its own pages (in Chinese), and so does the
    // public receipt verification page (`/verify/`, a forged hash: 404 "不存在或已被篡改").
    let path = res.request().path();
    let is_console_page = (path.starts_with("/console/") || path.starts_with("/verify/"))
        && res
            .response()
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_problem || is_console_page {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such resource".to_string()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this method is not allowed on this resource".to_string(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body too large".into()),
        s if s.is_server_error() => ("internal_error", "an unexpected error occurred".into()),
        s => (
            "bad_request",
            s.canonical_reason().unwrap_or("bad request").to_lowercase(),
        ),
    };
    let body = serde_json::to_string(&problem_body(status, code, detail, vec![]))
        .unwrap_or_else(|_| "{}".into());
    let (req, mut res) = res.into_parts();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    let res = res.set_body(BoxBody::new(body));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, res).map_into_right_body(),
    ))
}
