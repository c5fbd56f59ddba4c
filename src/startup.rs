//! Builds the application from [`Settings`]: database, state, routes, middleware, server.
//! Tests start the real server through [`Application::build`] exactly as `serve` does.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::ErrorHandlers;
use actix_web::{web, App, HttpMessage, HttpServer};
use tracing::Instrument;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::JwtKeys;
use crate::auth::RequestId;
use crate::checks;
use crate::config::Settings;
use crate::db::{self, Pool};
use crate::error::{self, ApiError};
use crate::metrics::{Metrics, Timer};
use crate::ops;
use crate::pii::PiiCipher;
use crate::routes::routes;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

pub struct Application {
    port: u16,
    server: Server,
    /// The feed push worker's settings, when `feed_push_url` is set.
    feed_push: Option<crate::feed::push::PushConfig>,
    /// This instance's name as a lease holder.
    pub instance: String,
    /// `Settings::check_counts_catch_up_secs`.
    check_counts_catch_up: Duration,
    pub pool: Pool,
    pub state: web::Data<AppState>,
}

/// How often every instance appends the receipts waiting for the receipt log and signs a
/// checkpoint (`checks::transparency::sequence`); `GET /receipt-checkpoints/latest` and inclusion
/// proofs also do it at once. `CREDIT_LISTS_RECEIPT_SEQUENCE_SECS` changes it (tests use 1).
const SEQUENCE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

fn sequence_every() -> std::time::Duration {
    std::env::var("CREDIT_LISTS_RECEIPT_SEQUENCE_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .map_or(SEQUENCE_EVERY, std::time::Duration::from_secs)
}

/// Keeps the receipt log current without waiting for a reader: every [`sequence_every`], the
/// receipts not yet in the log are appended and a checkpoint is signed. Instances on one
/// PostgreSQL take turns on the log's row lock; an error is logged and retried next time.
async fn sequence_receipts(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(sequence_every());
    tick.tick().await; // the first tick is immediate: nothing waits yet at start
    loop {
        tick.tick().await;
        let st = state.clone();
        let done = state
            .receipts
            .run_settled(&state.pool, move |settled| {
                checks::transparency::sequence(settled.conn(), &st.receipt_keys)
            })
            .await;
        if let Err(e) = done {
            tracing::error!(error = %e, "receipt log: sequencing failed");
        }
    }
}

/// Counts the credit-check usage statistics of the days just ended every hour (the first time at
/// start), so the first reader after midnight does not wait for them ([`checks::usage`]). While
/// older days are not yet counted (after an upgrade that dropped the kept counts, or receipts
/// restored from before), a month of them every `catch_up` instead.
async fn keep_check_counts(state: web::Data<AppState>, catch_up: Duration) {
    loop {
        let done = state
            .receipts
            .run_settled(&state.pool, move |settled| {
                checks::usage::keep_recent(settled, db::now()).map_err(ApiError::from)
            })
            .await;
        let more = match done {
            Ok(more) => more,
            Err(e) => {
                tracing::warn!(error = %e, "credit-check statistics: counting the days just ended failed");
                false
            }
        };
        let pause = if more {
            catch_up
        } else {
            Duration::from_secs(3600)
        };
        tokio::time::sleep(pause).await;
    }
}

impl Application {
    /// Connects (and migrates) the database, then binds. Port 0 picks a free port.
    pub fn build(settings: Settings) -> Result<Self, StartError> {
        let secret = settings.require_secret()?;
        let keys = JwtKeys::new(&secret, settings.jwt_previous_secret.as_deref())
            .map_err(StartError::Other)?;
        let pii = PiiCipher::new(&settings.require_pii_key()?);
        let pool = db::connect(&settings.database_url, settings.pool_size, true)?;
        // Feed payloads written in clear by older versions get their ID numbers encrypted.
        {
            let mut conn = pool.get().map_err(|e| StartError::Other(e.to_string()))?;
            let n = crate::feed::seal_stored_payloads(&mut conn, &pii)
                .map_err(|e| StartError::Other(format!("sealing stored feed payloads: {e}")))?;
            if n > 0 {
                tracing::info!(rewritten = n, "feed payloads: ID numbers encrypted at rest");
            }
            // PostgreSQL: this month's receipt partition and the next ones exist before serving.
            checks::partitions::ensure_now(&mut conn);
        }
        let listener = TcpListener::bind(&settings.bind).map_err(|source| StartError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| StartError::Other(e.to_string()))?
            .port();
        let receipt_keys = Arc::new(
            checks::signing::ReceiptKeys::from_settings(&settings).map_err(StartError::Other)?,
        );
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            keys,
            pii,
            throttle: LoginThrottle::new(settings.throttle_limits()),
            metrics: Arc::new(Metrics::default()),
            receipts: checks::receipts::ReceiptWriter::start(
                settings.database_url.clone(),
                receipt_keys.clone(),
            )
            .map_err(StartError::Other)?,
            receipt_keys,
            sessions: Default::default(),
            uploads: crate::tabular::UploadGate::new(settings.upload_max_concurrent),
            check_index: settings
                .check_index
                .then(|| checks::index::CheckIndex::start(settings.database_url.clone())),
            settings: settings.clone(),
        });
        let app_state = state.clone();
        let spec = crate::openapi::spec();
        let max_body = settings.max_body_bytes;
        let trusted_proxies = web::Data::new(crate::auth::TrustedProxies(
            settings.trusted_proxies.clone(),
        ));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .app_data(crate::http::JsonBodyLimit(max_body))
                .app_data(trusted_proxies.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, req| {
                    crate::console::malformed(req, e).unwrap_or_else(|e| error::query_error(e).into())
                }))
                .app_data(web::PathConfig::default().error_handler(|e, req| {
                    crate::console::malformed(req, e).unwrap_or_else(|e| error::path_error(e).into())
                }))
                // Only the console posts forms.
                .app_data(web::FormConfig::default().error_handler(|e, req| {
                    crate::console::malformed(req, e).unwrap_or_else(actix_web::Error::from)
                }))
                .into_utoipa_app()
                .configure(routes)
                .into_app()
                .configure(crate::console::routes)
                // The public verification page of a printed 信用核查结果单's QR code (HTML).
                .service(crate::documents::verify::verify_receipt)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", spec.clone()))
                .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::not_found("resource")) }))
                .wrap(actix_web::middleware::from_fn(crate::console::guard))
                .wrap(actix_web::middleware::from_fn(crate::http::query_text))
                .wrap(ErrorHandlers::new().default_handler(error::problem_fallback))
                .wrap_fn(|req, srv| {
                    let request_id = ops::request_id_from(
                        req.headers().get("x-request-id").and_then(|v| v.to_str().ok()),
                    );
                    req.extensions_mut().insert(RequestId(request_id.clone()));
                    let metrics = req
                        .app_data::<web::Data<AppState>>()
                        .map(|s| s.metrics.clone());
                    let method = req.method().to_string();
                    let credentials = ops::carries_credentials(req.headers());
                    let span = tracing::info_span!("request", request_id = %request_id, method = %method);
                    let timer = Timer::start();
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        // The route pattern, never the raw path: paths may carry subject codes.
                        let route = res
                            .request()
                            .match_pattern()
                            .unwrap_or_else(|| "unmatched".to_string());
                        let status = res.status().as_u16();
                        let secs = timer.seconds();
                        if let Some(m) = metrics {
                            m.observe(&route, &method, status, secs);
                        }
                        tracing::info!(route = %route, status, latency_ms = secs * 1000.0, "request");
                        if let Ok(v) = HeaderValue::from_str(&request_id) {
                            res.headers_mut().insert(HeaderName::from_static("x-request-id"), v);
                        }
                        ops::security_headers(&route, res.headers_mut());
                        ops::cache_control(credentials, res.headers_mut());
                        Ok(res)
                    }
                    .instrument(span)
                })
        })
        .shutdown_timeout(30)
        // A client has this long to send its request head, and to go on after a disconnect.
        .client_request_timeout(Duration::from_secs(10))
        .client_disconnect_timeout(Duration::from_secs(5))
        .keep_alive(Duration::from_secs(75))
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        if let Some(w) = settings.workers {
            server = server.workers(w.max(1));
        }
        Ok(Application {
            port,
            feed_push: crate::feed::push::PushConfig::from_settings(&settings),
            instance: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            check_counts_catch_up: Duration::from_secs(settings.check_counts_catch_up_secs),
            server: server.run(),
            pool,
            state: app_state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until stopped. On SIGTERM in-flight requests finish (up to 30 s); SIGINT (Ctrl-C)
    /// stops at once.
    /// The feed push worker (see [`crate::feed::push`]) runs alongside and stops with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let worker = self.feed_push.map(|cfg| {
            AbortOnDrop(tokio::spawn(crate::feed::push::run(
                self.pool.clone(),
                self.state.pii.clone(),
                cfg,
                self.instance.clone(),
            )))
        });
        let _partitions = AbortOnDrop(tokio::spawn(checks::partitions::run(self.pool.clone())));
        let _sequencer = AbortOnDrop(tokio::spawn(sequence_receipts(self.state.clone())));
        let _counts = AbortOnDrop(tokio::spawn(keep_check_counts(
            self.state.clone(),
            self.check_counts_catch_up,
        )));
        let result = self.server.await;
        if let Some(w) = worker {
            w.0.abort();
            let me = self.instance.clone();
            let _ = db::run(&self.pool, move |conn| {
                crate::feed::push::release(conn, &me)
            })
            .await;
        }
        result
    }

    /// Stops the server (and with it the feed push worker).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Aborts the task when dropped, so the worker also ends when the runtime drops the server
/// future without it completing.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
