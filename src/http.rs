//! Request and response helpers shared by every handler: the JSON body extractor that names the
//! offending field, pagination, and validation helpers.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, FieldError};

/// A JSON request body. Unlike `web::Json`, a deserialisation error names the offending field
/// (`errors[0].field` is its JSON path) and every failure is a problem+json response.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let mime = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        let limit = req
            .app_data::<web::Data<crate::startup::AppState>>()
            .map(|s| s.settings.max_body_bytes)
            .unwrap_or(0);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "the request body must be sent as Content-Type: application/json".into(),
                ));
            }
            let body = bytes.await.map_err(|e| {
                let status = actix_web::ResponseError::status_code(e.as_response_error());
                if status == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit }
                } else {
                    ApiError::BadRequest {
                        code: "malformed_body",
                        detail: format!("the request body could not be read: {e}"),
                        errors: vec![],
                    }
                }
            })?;
            parse_json(&body).map(ApiJson)
        })
    }
}

/// Deserialises with the path of the failing field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = inner.is_syntax() || inner.is_eof();
        let field = if syntax || path == "." || path.is_empty() {
            "body".to_string()
        } else {
            path
        };
        let (code, detail) = if syntax {
            (
                "malformed_json",
                format!("the request body is not valid JSON: {inner}"),
            )
        } else {
            (
                "invalid_body",
                format!("invalid request body at {field}: {inner}"),
            )
        };
        ApiError::BadRequest {
            code,
            detail: detail.clone(),
            errors: vec![FieldError::new(field, code, inner.to_string())],
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest {
        code: "malformed_json",
        detail: format!("the request body has trailing characters: {e}"),
        errors: vec![FieldError::new("body", "malformed_json", e.to_string())],
    })?;
    Ok(value)
}

pub const MAX_PER_PAGE: i64 = 200;

/// `?page=1&per_page=50`: pages count from 1; `per_page` is at most 200.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1.
    #[param(minimum = 1, example = 1)]
    pub page: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub per_page: Option<i64>,
}

impl PageQuery {
    /// (limit, offset, page, per_page), or a 400 naming the bad parameter.
    pub fn resolve(&self) -> Result<(i64, i64, i64, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(50);
        if !(1..=1_000_000).contains(&page) {
            return Err(ApiError::invalid_query(
                "page",
                "out_of_range",
                "page must be between 1 and 1000000",
            ));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::invalid_query(
                "per_page",
                "out_of_range",
                format!("per_page must be between 1 and {MAX_PER_PAGE}"),
            ));
        }
        Ok((per_page, (page - 1) * per_page, page, per_page))
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub per_page: i64,
    /// Items matching the filters, over all pages.
    pub total: i64,
}

/// Trims a required text field and checks its length in characters. Resident ID numbers typed
/// into it are masked ([`crate::pii::mask_id_numbers_in`]): free text never stores one in clear.
pub fn required_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    max_chars: usize,
) -> String {
    let v = crate::pii::mask_id_numbers(value.trim().to_string());
    if v.is_empty() {
        errors.push(FieldError::new(
            field,
            "required",
            format!("{field} must not be empty"),
        ));
    } else if v.chars().count() > max_chars {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("{field} must have at most {max_chars} characters"),
        ));
    }
    v
}

/// A public JSON answer with a strong `ETag` (hash of the body) and a short shared cache
/// lifetime; `If-None-Match` with the same tag gets 304 without a body.
pub fn cacheable_json<T: Serialize>(
    req: &actix_web::HttpRequest,
    value: &T,
) -> actix_web::HttpResponse {
    use actix_web::http::header;
    use sha2::Digest;
    let body = serde_json::to_vec(value).unwrap_or_default();
    let etag = format!("\"{}\"", &hex::encode(sha2::Sha256::digest(&body))[..32]);
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if matches {
        actix_web::HttpResponse::NotModified()
    } else {
        actix_web::HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag.clone()))
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"));
    if matches {
        res.finish()
    } else {
        res.content_type("application/json").body(body)
    }
}

/// Timestamps on the wire: RFC 3339 in UTC with a `Z` (`2026-11-29T03:22:11.794908Z`), as the
/// OpenAPI `date-time` format says. The service keeps UTC `NaiveDateTime`s inside; input accepts
/// RFC 3339 with any offset (converted to UTC) or, for older clients, a plain UTC date-time without
/// one. Use as `#[serde(with = "crate::http::utc")]` (or `utc::option`).
pub mod utc {
    use chrono::{DateTime, NaiveDateTime, SecondsFormat};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn to_string(t: &NaiveDateTime) -> String {
        t.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    pub fn parse(s: &str) -> Option<NaiveDateTime> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.naive_utc())
            .ok()
            .or_else(|| s.parse::<NaiveDateTime>().ok())
    }

    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_string(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an RFC 3339 date-time")))
    }

    pub mod option {
        use chrono::NaiveDateTime;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<NaiveDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<NaiveDateTime>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(s) => super::parse(&s).map(Some).ok_or_else(|| {
                    serde::de::Error::custom(format!("{s:?} is not an RFC 3339 date-time"))
                }),
            }
        }
    }
}
