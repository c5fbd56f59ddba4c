//! Operations: liveness, readiness, Prometheus metrics, and the middleware that gives every
//! request an id, a log line and a place in the metrics.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::{get, web, HttpResponse};
use diesel::connection::SimpleConnection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, Problem};
use crate::startup::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness: answers without touching the database.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The process is up", body = Health)))]
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

/// Readiness: the database answers.
#[utoipa::path(
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

/// Prometheus text format: requests by route and status, latency histogram, pool usage.
#[utoipa::path(
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
        use crate::checks::receipts::{COMMITS, RECEIPTS};
        use std::sync::atomic::Ordering::Relaxed;
        out.push_str("# HELP credit_lists_receipt_commits_total Group commits of check receipts (one transaction on PostgreSQL, one synced append to the receipt log on SQLite).\n");
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
        out.push_str("# HELP credit_lists_receipts_unindexed Receipts durable in this instance's receipt log but not yet in the receipts table (SQLite).\n");
        out.push_str("# TYPE credit_lists_receipts_unindexed gauge\n");
        out.push_str(&format!(
            "credit_lists_receipts_unindexed {}\n",
            state.receipts.unindexed()
        ));
        out.push_str("# HELP credit_lists_receipt_log_held_back_total Groups of check receipts the log writer held back because the unindexed backlog was at its limit (SQLite).\n");
        out.push_str("# TYPE credit_lists_receipt_log_held_back_total counter\n");
        out.push_str(&format!(
            "credit_lists_receipt_log_held_back_total {}\n",
            crate::checks::receipt_log::HELD_BACK.load(Relaxed)
        ));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// Request counters, kept in memory by route pattern (never the raw path, which may hold a
/// subject code).
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *m.requests
            .entry((route.to_string(), method.to_string(), status))
            .or_insert(0) += 1;
        let h = m.latency.entry(route.to_string()).or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.counts[i] += 1;
            }
        }
    }

    pub fn render(&self) -> String {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP credit_lists_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE credit_lists_http_requests_total counter\n");
        for ((route, method, status), n) in &m.requests {
            out.push_str(&format!(
                "credit_lists_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                escape(route),
                escape(method),
                status,
                n
            ));
        }
        out.push_str(
            "# HELP credit_lists_http_request_duration_seconds Request latency by route.\n",
        );
        out.push_str("# TYPE credit_lists_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            let r = escape(route);
            for (i, le) in BUCKETS.iter().enumerate() {
                out.push_str(&format!(
                    "credit_lists_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{le}\"}} {}\n",
                    h.counts[i]
                ));
            }
            out.push_str(&format!(
                "credit_lists_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}\n",
                h.count
            ));
            out.push_str(&format!(
                "credit_lists_http_request_duration_seconds_sum{{route=\"{r}\"}} {}\n",
                h.sum
            ));
            out.push_str(&format!(
                "credit_lists_http_request_duration_seconds_count{{route=\"{r}\"}} {}\n",
                h.count
            ));
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

pub struct Timer(Instant);

impl Timer {
    pub fn start() -> Self {
        Timer(Instant::now())
    }
    pub fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
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
