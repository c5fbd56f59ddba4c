//! The public verification page of a receipt (`GET /verify/receipts/{id}?hash=`), opened from the
//! QR code of a printed 信用核查结果单. Anyone may ask; the answer says only whether a receipt with
//! that id and hash exists — never what it holds. A forged or altered hash and an unknown id get
//! the same answer (404 "不存在或已被篡改"); a malformed hash is 400 problem+json
//! (`invalid_query` on `query.hash`), a malformed id 400 `invalid_path_parameter`.

use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpResponse};
use diesel::prelude::*;
use minijinja::context;
use serde::Deserialize;

use crate::checks::receipts::ReceiptRow;
use crate::error::ApiError;
use crate::schema::credit_checks;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct VerifyQuery {
    hash: Option<String>,
}

/// A receipt hash as written: 64 hexadecimal digits (either case), read as lowercase.
pub fn parse_hash(raw: Option<&str>) -> Result<String, ApiError> {
    let raw = raw.unwrap_or("").trim();
    if raw.len() != 64 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid_query(
            "hash",
            "invalid_hash",
            "hash must be the receipt's SHA-256 hash: 64 hexadecimal digits",
        ));
    }
    Ok(raw.to_ascii_lowercase())
}

#[get("/verify/receipts/{id}")]
pub async fn verify_receipt(
    state: web::Data<AppState>,
    path: web::Path<i32>,
    query: crate::http::Query<VerifyQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let hash = parse_hash(query.into_inner().hash.as_deref())?;
    let found = state
        .receipts
        .run_settled(&state.pool, move |conn| {
            Ok(credit_checks::table
                .find(id)
                .select(ReceiptRow::as_select())
                .first(conn.conn())
                .optional()?)
        })
        .await?;
    // Compared in constant time: the page reveals nothing about how close a guess was.
    let genuine = found.is_some_and(|r| {
        let real = r.hash_hex();
        real.len() == hash.len()
            && real
                .bytes()
                .zip(hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    let status = if genuine {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    let body = super::render(
        "verify.html",
        context! { id => id, hash => &hash, genuine => genuine },
    )?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hash_is_64_hex_digits() {
        let h = "AB".repeat(32);
        assert_eq!(super::parse_hash(Some(&h)).unwrap(), "ab".repeat(32));
        for bad in [
            None,
            Some(""),
            Some("abc"),
            Some(&"g".repeat(64)[..]),
            Some(&"a".repeat(65)[..]),
        ] {
            assert!(super::parse_hash(bad).is_err(), "{bad:?}");
        }
    }
}
