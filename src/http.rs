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

/// The largest JSON body [`ApiJson`] reads (`max_body_bytes`), set as app data at start-up.
#[derive(Debug, Clone, Copy)]
pub struct JsonBodyLimit(pub usize);

/// A JSON request body. Unlike `web::Json`, a deserialisation error names the offending field
/// (`errors[0].field` is its JSON path) and every failure is a problem+json response.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = json_content_type(req);
        let limit = req.app_data::<JsonBodyLimit>().map(|l| l.0).unwrap_or(0);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "the request body must be sent as Content-Type: application/json".into(),
                ));
            }
            let body = bytes.await.map_err(|e| body_read_error(e, limit))?;
            parse_json(&body).map(ApiJson)
        })
    }
}

fn json_content_type(req: &HttpRequest) -> bool {
    req.headers()
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
        .unwrap_or(false)
}

fn body_read_error(e: actix_web::Error, limit: usize) -> ApiError {
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
}

/// An optional JSON request body (documented as the object or `null`): no body at all, or JSON
/// `null`, is `None`; any other body is read as [`ApiJson`] reads it and refused as it refuses
/// it (415, 400 naming the field, 413). `Option<ApiJson<T>>` would not do: actix turns every
/// refusal of the inner extractor into `None`, so a body with an unknown field or a value of
/// the wrong type would be ignored and the request carried out as if there were no body.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = json_content_type(req);
        let limit = req.app_data::<JsonBodyLimit>().map(|l| l.0).unwrap_or(0);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = bytes.await.map_err(|e| body_read_error(e, limit))?;
            if body.iter().all(|b| b.is_ascii_whitespace()) {
                return Ok(OptionalJson(None));
            }
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "the request body must be sent as Content-Type: application/json".into(),
                ));
            }
            if body.trim_ascii() == b"null" {
                return Ok(OptionalJson(None));
            }
            parse_json(&body).map(|t| OptionalJson(Some(t)))
        })
    }
}

/// Deserialises with the path of the failing field. Every request body of the API is a JSON
/// object: serde's derived structs would also take an array of the fields in order
/// (`["user","pass"]`), so any other top-level value is refused here, before serde sees it.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if let Some(first) = body.iter().find(|b| !b.is_ascii_whitespace()) {
        if *first != b'{' && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
            let detail = "the request body must be a JSON object";
            return Err(ApiError::BadRequest {
                code: "invalid_body",
                detail: detail.into(),
                errors: vec![FieldError::new("body", "invalid_body", detail)],
            });
        }
    }
    match read_json(body) {
        // JSON Schema counts `2.0` as the integer 2 (our OpenAPI document is JSON Schema
        // 2020-12), serde does not: a body refused only for a whole number spelt with a
        // fraction or exponent is read again with those numbers as integers (docs/api.md).
        Err((e, true)) => match whole_floats_as_integers(body) {
            Some(rewritten) => read_json(&rewritten).map_err(|(e, _)| e),
            None => Err(e),
        },
        other => other.map_err(|(e, _)| e),
    }
}

/// Reads a body; on error, the problem and whether it was a value of the wrong type or shape
/// (rather than a syntax error).
fn read_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, (ApiError, bool)> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = inner.is_syntax() || inner.is_eof();
        (body_error(path, inner), !syntax)
    })?;
    de.end().map_err(|e| {
        let problem = ApiError::BadRequest {
            code: "malformed_json",
            detail: format!("the request body has trailing characters: {e}"),
            errors: vec![FieldError::new("body", "malformed_json", e.to_string())],
        };
        (problem, false)
    })?;
    Ok(value)
}

/// The body with every number outside strings that is a whole number written with a fraction or
/// exponent (`22.0`, `2.2e1`) written as an integer (`22`), within ±2^53 where a float spells one
/// integer exactly; `None` when there is none. Text, keys and structure are left as they are, so
/// the second reading refuses what the first would (duplicate keys, trailing characters).
fn whole_floats_as_integers(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut changed = false;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == b'"' {
            let start = i;
            i += 1;
            while i < body.len() && body[i] != b'"' {
                i += if body[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(body.len());
            out.extend_from_slice(&body[start..i]);
        } else if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < body.len()
                && matches!(body[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            {
                i += 1;
            }
            let token = &body[start..i];
            let whole = token
                .iter()
                .any(|c| matches!(c, b'.' | b'e' | b'E'))
                .then(|| std::str::from_utf8(token).ok()?.parse::<f64>().ok())
                .flatten()
                .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0);
            match whole {
                Some(f) => {
                    out.extend_from_slice((f as i64).to_string().as_bytes());
                    changed = true;
                }
                None => out.extend_from_slice(token),
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    changed.then_some(out)
}

fn body_error(path: String, inner: serde_json::Error) -> ApiError {
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
        detail,
        errors: vec![FieldError::new(field, code, inner.to_string())],
    }
}

/// A query string. Unlike `web::Query`, every failure is a 400 `invalid_query` problem whose
/// `errors[0].field` is `query.NAME`, naming the parameter that was sent (or the one missing):
/// a value of the wrong type or shape (`?year=abc`, `?as_of=2019-02-30`), an unknown parameter
/// (field code `unknown_parameter`, where the type denies unknown fields), a required one left
/// out (`required`), one sent twice (`duplicate_parameter`). Every API operation that takes a
/// query uses it (docs/api.md, "Errors").
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

/// Reads a query string as [`Query`] reads it.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        query_problem(path, message)
    })
}

/// The problem for a query string serde refused: the parameter is the path of the failing value
/// or, for errors about the whole string (unknown, missing or repeated parameters), the name serde
/// quotes in its message.
fn query_problem(path: String, message: String) -> ApiError {
    let quoted = || {
        let start = message.find('`')? + 1;
        let end = message[start..].find('`')? + start;
        Some(message[start..end].to_string())
    };
    let (name, code) = if message.starts_with("unknown field") {
        (quoted(), "unknown_parameter")
    } else if message.starts_with("missing field") {
        (quoted(), "required")
    } else if message.starts_with("duplicate field") {
        (quoted(), "duplicate_parameter")
    } else if !path.is_empty() && path != "." {
        (Some(path), "invalid")
    } else {
        (quoted(), "invalid")
    };
    let (field, detail) = match &name {
        Some(n) => (
            format!("query.{n}"),
            format!("query parameter {n}: {message}"),
        ),
        None => (
            "query".to_string(),
            format!("invalid query string: {message}"),
        ),
    };
    ApiError::BadRequest {
        code: "invalid_query",
        detail,
        errors: vec![FieldError::new(field, code, message)],
    }
}

pub const MAX_PER_PAGE: i64 = 200;

/// `?page=1&per_page=50`: pages count from 1; `per_page` is at most 200.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1 (at most 1,000,000).
    #[param(minimum = 1, maximum = 1000000, example = 1)]
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

/// Whether `c` may not appear in text sent to the service: C0 controls (but `\n`, `\r` and `\t`
/// in multi-line text), DEL, C1 controls, and the bidirectional embedding, override and isolate
/// controls (U+202A–U+202E, U+2066–U+2069) that make a name read differently from what it is.
pub fn forbidden_char(c: char, multiline: bool) -> bool {
    match c {
        '\n' | '\r' | '\t' => !multiline,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// The pattern the OpenAPI document gives every query parameter that is free text (a string with no
/// pattern, format or enum of its own): no character that [`forbidden_char`] refuses in a line.
pub const QUERY_TEXT_PATTERN: &str =
    "^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]*$";

/// Middleware for `/api/`: a query parameter whose name or value (decoded) holds a character that
/// [`forbidden_char`] refuses in a line is 400 `invalid_query` naming `query.{name}`, field code
/// `control_character`, before any handler reads it. Every query parameter is a line: a region
/// code, a search text, a file name. The document says so ([`QUERY_TEXT_PATTERN`], added by
/// `openapi::spec`), and no filter then hands PostgreSQL a NUL, which it refuses in text.
pub async fn query_text(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if req.path().starts_with("/api/") && !req.query_string().is_empty() {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        let bad = pairs
            .iter()
            .find(|(k, v)| k.chars().chain(v.chars()).any(|c| forbidden_char(c, false)));
        if let Some((name, _)) = bad {
            let name: String = name
                .chars()
                .filter(|c| !forbidden_char(*c, false))
                .collect();
            let message = format!("{name} must not contain control characters");
            let res = actix_web::ResponseError::error_response(&ApiError::invalid_query(
                &name,
                "control_character",
                message,
            ));
            return Ok(req.into_response(res));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Refuses control characters (see [`forbidden_char`]) in a text field: single-line text (names,
/// titles, numbers) allows none, multi-line free text allows line breaks and tabs. The error
/// (code `control_character`) names the field and the first offending character.
pub fn text_chars(errors: &mut Vec<FieldError>, field: &str, value: &str, multiline: bool) {
    if let Some((i, c)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| forbidden_char(*c, multiline))
    {
        errors.push(FieldError::new(
            field,
            "control_character",
            format!(
                "{field} must not contain control characters (U+{:04X} at character {})",
                u32::from(c),
                i + 1
            ),
        ));
    }
}

/// Trims a text field, checks its length and its characters, and masks any resident ID number
/// typed into it ([`crate::pii::mask_id_numbers_in`]): free text never stores one in clear.
fn trimmed_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    max_chars: usize,
    multiline: bool,
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
    } else {
        text_chars(errors, field, &v, multiline);
    }
    v
}

/// Trims a required multi-line text field (facts, grounds, notes) and checks its length in
/// characters; line breaks and tabs are allowed, other control characters are not.
pub fn required_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    max_chars: usize,
) -> String {
    trimmed_text(errors, field, value, max_chars, true)
}

/// Trims a required single-line text field (a name, a title, a number) and checks its length in
/// characters; no control character at all, line breaks included.
pub fn required_line(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    max_chars: usize,
) -> String {
    trimmed_text(errors, field, value, max_chars, false)
}

/// Trims an optional text field: empty becomes `None`; otherwise its length, characters and ID
/// numbers are treated as in [`required_text`] (`multiline`) or [`required_line`].
fn trimmed_optional(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&str>,
    max_chars: usize,
    multiline: bool,
) -> Option<String> {
    let v = value.map(str::trim).filter(|s| !s.is_empty())?;
    Some(trimmed_text(errors, field, v, max_chars, multiline))
}

/// An optional multi-line text field (a purpose, a note): `None` when absent or blank, otherwise
/// checked as [`required_text`] checks.
pub fn optional_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Option<String> {
    trimmed_optional(errors, field, value, max_chars, true)
}

/// An optional single-line text field (a reference, a certificate number): `None` when absent
/// or blank, otherwise checked as [`required_line`] checks.
pub fn optional_line(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Option<String> {
    trimmed_optional(errors, field, value, max_chars, false)
}

/// Most characters of an `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The `Idempotency-Key` header that makes a retried POST safe: absent or blank is `None`; a key
/// that is not visible ASCII (422 `invalid_value`) or longer than [`MAX_IDEMPOTENCY_KEY`]
/// characters (422 `too_long`) is refused, on every operation that takes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

impl IdempotencyKey {
    pub fn from_request(req: &actix_web::HttpRequest) -> Result<Self, ApiError> {
        let Some(value) = req.headers().get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        let text = value.to_str().map_err(|_| {
            ApiError::invalid_field(
                "Idempotency-Key",
                "invalid_value",
                "the Idempotency-Key header must be visible ASCII",
            )
        })?;
        let key = text.trim();
        if key.len() > MAX_IDEMPOTENCY_KEY {
            return Err(ApiError::invalid_field(
                "Idempotency-Key",
                "too_long",
                format!(
                    "the Idempotency-Key header must have at most {MAX_IDEMPOTENCY_KEY} characters"
                ),
            ));
        }
        Ok(IdempotencyKey((!key.is_empty()).then(|| key.to_string())))
    }
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
/// OpenAPI `date-time` format says. The service keeps UTC `NaiveDateTime`s inside. Every date-time
/// input (bodies and query parameters) goes through [`utc::parse`]: RFC 3339 with `Z` or any offset
/// (converted to UTC), or a date-time without an offset, read as China Standard Time (UTC+8, the
/// time of the bureaus and approval systems that send it). Use as
/// `#[serde(with = "crate::http::utc")]` (or `utc::option`).
pub mod utc {
    use chrono::{DateTime, NaiveDateTime, SecondsFormat};
    use serde::{Deserialize, Deserializer, Serializer};

    /// China Standard Time, UTC+8 (no daylight saving since 1991).
    pub const CHINA_OFFSET_HOURS: i64 = 8;

    pub fn to_string(t: &NaiveDateTime) -> String {
        t.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// An RFC 3339 date-time with an offset, as UTC; one without an offset is China time.
    pub fn parse(s: &str) -> Option<NaiveDateTime> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.naive_utc())
            .ok()
            .or_else(|| {
                s.parse::<NaiveDateTime>()
                    .ok()
                    .and_then(|t| t.checked_sub_signed(chrono::Duration::hours(CHINA_OFFSET_HOURS)))
            })
    }

    fn message(s: &str) -> String {
        format!(
            "{s:?} is not an RFC 3339 date-time (e.g. 2026-11-28T08:00:00Z or 2026-11-28T16:00:00+08:00; without an offset it is read as China time, UTC+8)"
        )
    }

    fn invalid<E: serde::de::Error>(s: &str) -> E {
        E::custom(message(s))
    }

    /// A date-time query parameter through [`parse`]; a bad one is a 400 naming `query.{name}`.
    pub fn query_param(
        name: &str,
        value: Option<&str>,
    ) -> Result<Option<NaiveDateTime>, crate::error::ApiError> {
        value
            .map(|s| {
                parse(s).ok_or_else(|| {
                    crate::error::ApiError::invalid_query(name, "invalid_date_time", message(s))
                })
            })
            .transpose()
    }

    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_string(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| invalid(&s))
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
                Some(s) => super::parse(&s).map(Some).ok_or_else(|| super::invalid(&s)),
            }
        }
    }
}
