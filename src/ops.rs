//! Operations: liveness, readiness, Prometheus metrics, and the middleware that gives every
//! request an id, a log line and a place in the metrics.

use actix_web::{get, web, HttpResponse};
use diesel::connection::SimpleConnection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness probe
///
/// Liveness: answers without touching the database.
///
/// Anonymous. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "ops_health",tag = "operations", responses((status = 200, description = "The process is up", body = Health)))]
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: String,
    /// `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub database: String,
}

/// Readiness probe
///
/// Readiness: the database answers.
///
/// Anonymous. Runs `SELECT 1` on the database; changes nothing.
#[utoipa::path(
    operation_id = "ops_ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "The database does not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backend = db::run(&state.pool, |conn| {
        conn.batch_execute("SELECT 1")
            .map_err(|e| ApiError::unavailable(format!("database check failed: {e}")))?;
        Ok(conn.backend())
    })
    .await?;
    Ok(HttpResponse::Ok().json(Readiness {
        status: "ready".into(),
        database: match backend {
            db::Backend::Sqlite => "sqlite".into(),
            db::Backend::Postgres => "postgres".into(),
        },
    }))
}

/// Prometheus metrics
///
/// Prometheus text format: requests by route and status, latency histogram, pool usage.
///
/// Anonymous. Read-only: changes nothing.
#[utoipa::path(
    operation_id = "ops_metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.state();
    let mut out = state.metrics.render();
    out.push_str("# HELP credit_lists_db_pool_connections Open database connections.\n");
    out.push_str("# TYPE credit_lists_db_pool_connections gauge\n");
    out.push_str(&format!(
        "credit_lists_db_pool_connections {}\n",
        pool.connections
    ));
    out.push_str("# HELP credit_lists_db_pool_idle_connections Idle database connections.\n");
    out.push_str("# TYPE credit_lists_db_pool_idle_connections gauge\n");
    out.push_str(&format!(
        "credit_lists_db_pool_idle_connections {}\n",
        pool.idle_connections
    ));
    out.push_str("# HELP credit_lists_db_pool_max_connections Pool size limit.\n");
    out.push_str("# TYPE credit_lists_db_pool_max_connections gauge\n");
    out.push_str(&format!(
        "credit_lists_db_pool_max_connections {}\n",
        state.pool.max_size()
    ));
    out.push_str("# HELP credit_lists_uploads_in_progress Spreadsheet uploads being read or imported (upload slots taken).\n");
    out.push_str("# TYPE credit_lists_uploads_in_progress gauge\n");
    out.push_str(&format!(
        "credit_lists_uploads_in_progress {}\n",
        state.uploads.in_use()
    ));
    out.push_str("# HELP credit_lists_upload_slots Upload slots (upload_max_concurrent).\n");
    out.push_str("# TYPE credit_lists_upload_slots gauge\n");
    out.push_str(&format!(
        "credit_lists_upload_slots {}\n",
        state.uploads.size()
    ));
    if let Some(ix) = &state.check_index {
        use std::sync::atomic::Ordering::Relaxed;
        out.push_str("# HELP credit_lists_check_codes_total Codes checked, by where the answer came from (the in-memory index, or the database when the index was not fresh).\n");
        out.push_str("# TYPE credit_lists_check_codes_total counter\n");
        out.push_str(&format!(
            "credit_lists_check_codes_total{{source=\"index\"}} {}\ncredit_lists_check_codes_total{{source=\"database\"}} {}\n",
            ix.answered.load(Relaxed),
            ix.declined.load(Relaxed)
        ));
    }
    {
        use crate::checks::receipt_queue::{COMMITS, RECEIPTS};
        use std::sync::atomic::Ordering::Relaxed;
        out.push_str("# HELP credit_lists_receipt_commits_total Group commits of check receipts (one transaction: into the table on PostgreSQL, into the receipt log on SQLite).\n");
        out.push_str("# TYPE credit_lists_receipt_commits_total counter\n");
        out.push_str(&format!(
            "credit_lists_receipt_commits_total {}\n",
            COMMITS.load(Relaxed)
        ));
        out.push_str(
            "# HELP credit_lists_receipts_total Check receipts written by this instance.\n",
        );
        out.push_str("# TYPE credit_lists_receipts_total counter\n");
        out.push_str(&format!(
            "credit_lists_receipts_total {}\n",
            RECEIPTS.load(Relaxed)
        ));
        out.push_str("# HELP credit_lists_receipts_unindexed About how many receipts this instance acknowledged are in the receipt log but not yet in the receipts table (SQLite).\n");
        out.push_str("# TYPE credit_lists_receipts_unindexed gauge\n");
        out.push_str(&format!(
            "credit_lists_receipts_unindexed {}\n",
            state.receipts.unindexed()
        ));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}

/// A client may pass its own `x-request-id` (up to 64 characters of `[A-Za-z0-9._-]`);
/// otherwise one is generated.
pub fn request_id_from(header: Option<&str>) -> String {
    match header {
        Some(h)
            if !h.is_empty()
                && h.len() <= 64
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) =>
        {
            h.to_string()
        }
        // A version 4 UUID from the thread's random generator (`rand`, seeded from the OS):
        // `Uuid::new_v4` asks the kernel for its bytes, a system call on every request.
        _ => uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .to_string(),
    }
}

/// Content-Security-Policy of the API docs pages (Swagger UI: its own scripts and styles only).
pub const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// Content-Security-Policy of the staff console (`/console/`): its own stylesheet, inline SVG
/// charts, forms posting to itself, and no script at all.
pub const CONSOLE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Content-Security-Policy of everything else (JSON, spreadsheets, documents): nothing may run.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The security headers every response carries (`docs/security.md`): no MIME sniffing, no
/// referrer, no framing, and a Content-Security-Policy. `route` is the matched route pattern.
/// No CORS header is ever added: cross-origin browser calls are refused by the browser.
pub fn security_headers(route: &str, headers: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header::{self, HeaderValue};
    let csp = if route.starts_with("/docs/") {
        DOCS_CSP
    } else if route.starts_with("/console") {
        CONSOLE_CSP
    } else {
        API_CSP
    };
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, csp),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// Whether a request carries credentials: an `Authorization` header or the console session
/// cookie. Its answer may hold personal data (full ID numbers on subject profiles) and must not be
/// kept by any cache.
pub fn carries_credentials(headers: &actix_web::http::header::HeaderMap) -> bool {
    use actix_web::http::header;
    headers.contains_key(header::AUTHORIZATION)
        || headers
            .get_all(header::COOKIE)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .any(|c| {
                c.trim()
                    .split_once('=')
                    .is_some_and(|(name, _)| name.trim() == crate::console::SESSION_COOKIE)
            })
}

/// `Cache-Control: no-store` on every answer to a request with credentials (see
/// [`carries_credentials`]) and on every file download (`Content-Disposition`), replacing any other
/// cache policy; anonymous public answers keep theirs (`public, max-age=60`).
pub fn cache_control(credentials: bool, headers: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header::{self, HeaderValue};
    if credentials || headers.contains_key(header::CONTENT_DISPOSITION) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
