//! Settings, layered: built-in defaults < config file (TOML) < `CREDIT_LISTS_*` environment
//! variables < command-line flags. See `docs/operations.md` for the table.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::db::DatabaseUrl;

/// Every setting, after layering. Secrets are not printed by `Debug`.
#[derive(Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub bind: String,
    /// Current signing secret (HS256). Required unless running in demo mode.
    pub jwt_secret: Option<String>,
    /// Previous signing secret: tokens it signed stay valid until they expire.
    pub jwt_previous_secret: Option<String>,
    /// Master key protecting personal ID numbers at rest, as 64 lowercase hex characters
    /// (validated). Required unless running in demo mode; see [`Settings::require_pii_key`].
    pub pii_key: Option<String>,
    /// Ed25519 key signing check receipts (64 hex characters, the 32-byte seed; validated).
    /// Required unless running in demo mode; see [`Settings::require_receipt_signing_key`].
    pub receipt_signing_key: Option<String>,
    /// Earlier receipt signing keys, public part and validity: still published so that what
    /// they signed still verifies (`docs/credit-checks.md`, "Signed receipts").
    pub receipt_previous_keys: Vec<PreviousReceiptKey>,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    pub pool_size: u32,
    pub workers: Option<usize>,
    pub log_format: LogFormat,
    pub log_level: String,
    /// Wrong passwords for one account from one client before that pair must wait (default 5);
    /// see `auth::throttle`.
    pub login_free_failures: u32,
    /// A pair's first wait, doubled by each further failure (default 1 s).
    pub login_first_delay_secs: u64,
    /// Failures from one client across accounts within `login_lockout_secs` before it is
    /// refused (default 100).
    pub login_max_failures_per_ip: u32,
    /// Window of the login counters, longest wait of an account-and-client pair, and how long a
    /// client over its cap is refused (default 900 s).
    pub login_lockout_secs: u64,
    /// Failures on one account from all clients before its attempts are slowed down (default 10).
    pub login_account_delay_after: u32,
    /// Longest pause of an attempt on an account under attack (default 2000 ms).
    pub login_account_max_delay_ms: u64,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed; none by
    /// default (the TCP peer is the client).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A console session ends after this long without a request (default 1800 s).
    pub console_idle_timeout_secs: i64,
    /// A console session ends this long after login, however busy (default 43,200 s = 12 h).
    pub console_session_max_secs: i64,
    pub max_body_bytes: usize,
    /// Largest spreadsheet upload held in memory (bytes, default 32 MiB): the console's import
    /// form.
    pub upload_max_bytes: usize,
    /// Largest spreadsheet sent to a streamed import endpoint (bytes, default 512 MiB): received
    /// into an encrypted spool file, read row by row (`docs/pii-and-spreadsheets.md`).
    pub import_max_bytes: u64,
    /// Most data rows in one streamed import (default 1,000,000).
    pub import_max_rows: usize,
    /// Where streamed imports are spooled (default: the system's temporary directory).
    pub upload_spool_dir: Option<std::path::PathBuf>,
    /// Uploads read at once; more are answered 503 (default 4).
    pub upload_max_concurrent: usize,
    /// Seconds between two passes of the background count of the credit checks' usage
    /// statistics while older days are still not counted (default 60; every hour otherwise).
    pub check_counts_catch_up_secs: u64,
    /// Most data rows in one upload (default 200,000).
    pub upload_max_rows: usize,
    /// Most cells (rows × columns) in one upload (default 2,000,000).
    pub upload_max_cells: usize,
    /// Most bytes of cell text in one upload (default 48 MiB).
    pub upload_max_text_bytes: usize,
    /// Most bytes an xlsx upload's parts unpack to (default 256 MiB).
    pub upload_max_unpacked_bytes: u64,
    /// Most bytes of one xlsx part held in memory (default 32 MiB).
    pub upload_max_part_bytes: u64,
    /// Answer credit checks from the in-memory index (`src/checks/index.rs`); default on.
    pub check_index: bool,
    /// Largest proof document accepted (bytes).
    pub attachment_max_bytes: usize,
    /// Working days to accept (受理) a repair application.
    pub repair_accept_days: u32,
    /// Working days from acceptance to the department's decision.
    pub repair_decide_days: u32,
    /// Working days to file an approved repair, and for the bureau to review a filing.
    pub repair_review_days: u32,
    /// Days a removal (移出) stays announced on the public endpoints, with name, code, list, date
    /// and reason only; 0 announces none. After it the entry is no longer published at all.
    pub public_removal_notice_days: u32,
    /// A national snapshot sync that would end more than this share (percent) of its source's
    /// entries in force is refused unless confirmed (default 20).
    pub national_sync_max_end_percent: u32,
    pub demo: bool,
    /// Push target of the provincial feed (共享至省平台); no push without it. See `docs/feed.md`.
    pub feed_push_url: Option<String>,
    /// Events per pushed batch (1–1000, default 100).
    pub feed_push_batch: usize,
    /// First retry delay after a failed push, doubled per failure (default 1000 ms).
    pub feed_push_backoff_ms: u64,
    /// Longest retry delay (default 300 s).
    pub feed_push_max_backoff_secs: u64,
    /// How long a pushing instance's lease lasts without renewal (default 30 s).
    pub feed_lease_secs: u64,
    /// Pause between polls when there is nothing to push (default 1000 ms).
    pub feed_poll_ms: u64,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &self.database_url.display())
            .field("bind", &self.bind)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field(
                "jwt_previous_secret",
                &self.jwt_previous_secret.as_ref().map(|_| "***"),
            )
            .field("pii_key", &self.pii_key.as_ref().map(|_| "***"))
            .field(
                "receipt_signing_key",
                &self.receipt_signing_key.as_ref().map(|_| "***"),
            )
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .field("pool_size", &self.pool_size)
            .field("log_format", &self.log_format)
            .field("demo", &self.demo)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// One layer: every field optional. The config file has exactly these keys. `Debug` hides the
/// secrets.
#[derive(Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub database_url: Option<String>,
    pub bind: Option<String>,
    pub jwt_secret: Option<String>,
    pub jwt_previous_secret: Option<String>,
    pub pii_key: Option<String>,
    pub receipt_signing_key: Option<String>,
    pub receipt_previous_keys: Option<Vec<PreviousReceiptKey>>,
    pub access_token_ttl_secs: Option<i64>,
    pub refresh_token_ttl_secs: Option<i64>,
    pub pool_size: Option<u32>,
    pub workers: Option<usize>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub login_free_failures: Option<u32>,
    pub login_first_delay_secs: Option<u64>,
    pub login_max_failures_per_ip: Option<u32>,
    pub login_lockout_secs: Option<u64>,
    pub login_account_delay_after: Option<u32>,
    pub login_account_max_delay_ms: Option<u64>,
    pub trusted_proxies: Option<Vec<String>>,
    pub console_idle_timeout_secs: Option<i64>,
    pub console_session_max_secs: Option<i64>,
    pub max_body_bytes: Option<usize>,
    pub upload_max_bytes: Option<usize>,
    pub import_max_bytes: Option<u64>,
    pub import_max_rows: Option<usize>,
    pub upload_spool_dir: Option<std::path::PathBuf>,
    pub upload_max_concurrent: Option<usize>,
    pub check_counts_catch_up_secs: Option<u64>,
    pub upload_max_rows: Option<usize>,
    pub upload_max_cells: Option<usize>,
    pub upload_max_text_bytes: Option<usize>,
    pub upload_max_unpacked_bytes: Option<u64>,
    pub upload_max_part_bytes: Option<u64>,
    pub check_index: Option<bool>,
    pub attachment_max_bytes: Option<usize>,
    pub repair_accept_days: Option<u32>,
    pub repair_decide_days: Option<u32>,
    pub repair_review_days: Option<u32>,
    pub public_removal_notice_days: Option<u32>,
    pub national_sync_max_end_percent: Option<u32>,
    pub feed_push_url: Option<String>,
    pub feed_push_batch: Option<usize>,
    pub feed_push_backoff_ms: Option<u64>,
    pub feed_push_max_backoff_secs: Option<u64>,
    pub feed_lease_secs: Option<u64>,
    pub feed_poll_ms: Option<u64>,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("Layer")
            .field(
                "database_url",
                &self.database_url.as_ref().map(|u| {
                    DatabaseUrl::parse(u)
                        .map(|u| u.display())
                        .unwrap_or_else(|_| "?".into())
                }),
            )
            .field("bind", &self.bind)
            .field("jwt_secret", &hidden(&self.jwt_secret))
            .field("jwt_previous_secret", &hidden(&self.jwt_previous_secret))
            .field("pii_key", &hidden(&self.pii_key))
            .field("receipt_signing_key", &hidden(&self.receipt_signing_key))
            .field("receipt_previous_keys", &self.receipt_previous_keys)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .field("pool_size", &self.pool_size)
            .field("workers", &self.workers)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("login_free_failures", &self.login_free_failures)
            .field("login_first_delay_secs", &self.login_first_delay_secs)
            .field("login_max_failures_per_ip", &self.login_max_failures_per_ip)
            .field("login_lockout_secs", &self.login_lockout_secs)
            .field("login_account_delay_after", &self.login_account_delay_after)
            .field(
                "login_account_max_delay_ms",
                &self.login_account_max_delay_ms,
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .field("console_idle_timeout_secs", &self.console_idle_timeout_secs)
            .field("console_session_max_secs", &self.console_session_max_secs)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("upload_max_bytes", &self.upload_max_bytes)
            .field("import_max_bytes", &self.import_max_bytes)
            .field("import_max_rows", &self.import_max_rows)
            .field("upload_spool_dir", &self.upload_spool_dir)
            .field("upload_max_concurrent", &self.upload_max_concurrent)
            .field(
                "check_counts_catch_up_secs",
                &self.check_counts_catch_up_secs,
            )
            .field("upload_max_rows", &self.upload_max_rows)
            .field("upload_max_cells", &self.upload_max_cells)
            .field("upload_max_text_bytes", &self.upload_max_text_bytes)
            .field("upload_max_unpacked_bytes", &self.upload_max_unpacked_bytes)
            .field("upload_max_part_bytes", &self.upload_max_part_bytes)
            .field("check_index", &self.check_index)
            .field("attachment_max_bytes", &self.attachment_max_bytes)
            .field("repair_accept_days", &self.repair_accept_days)
            .field("repair_decide_days", &self.repair_decide_days)
            .field("repair_review_days", &self.repair_review_days)
            .field(
                "public_removal_notice_days",
                &self.public_removal_notice_days,
            )
            .field(
                "national_sync_max_end_percent",
                &self.national_sync_max_end_percent,
            )
            .field("feed_push_url", &self.feed_push_url)
            .field("feed_push_batch", &self.feed_push_batch)
            .field("feed_push_backoff_ms", &self.feed_push_backoff_ms)
            .field(
                "feed_push_max_backoff_secs",
                &self.feed_push_max_backoff_secs,
            )
            .field("feed_lease_secs", &self.feed_lease_secs)
            .field("feed_poll_ms", &self.feed_poll_ms)
            .finish()
    }
}

pub const DEFAULT_DATABASE_URL: &str = "data/credit-lists.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_CONFIG_FILE: &str = "credit-lists.toml";
/// Secrets shorter than this are refused: HS256 wants at least 256 bits of key.
pub const MIN_SECRET_LEN: usize = 32;
/// Name of the demo-mode PII key file, kept next to the SQLite database file.
pub const DEMO_PII_KEY_FILE: &str = "pii.key";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value {value:?} for environment variable {var}: {message}")]
    Env {
        var: String,
        value: String,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Layer {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Reads `CREDIT_LISTS_<FIELD>` variables through `get` (the process environment in
    /// production, a map in tests). `DATABASE_URL` is honoured too, below the prefixed one.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        fn parse<T: std::str::FromStr>(
            get: &impl Fn(&str) -> Option<String>,
            var: &str,
        ) -> Result<Option<T>, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            match get(var) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<T>()
                    .map(Some)
                    .map_err(|e| ConfigError::Env {
                        var: var.to_string(),
                        value: v.clone(),
                        message: e.to_string(),
                    }),
            }
        }
        let log_format = match get("CREDIT_LISTS_LOG_FORMAT") {
            None => None,
            Some(v) => Some(match v.trim().to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Env {
                        var: "CREDIT_LISTS_LOG_FORMAT".into(),
                        value: v,
                        message: "expected text or json".into(),
                    })
                }
            }),
        };
        Ok(Layer {
            database_url: get("CREDIT_LISTS_DATABASE_URL").or_else(|| get("DATABASE_URL")),
            bind: get("CREDIT_LISTS_BIND"),
            jwt_secret: get("CREDIT_LISTS_JWT_SECRET"),
            jwt_previous_secret: get("CREDIT_LISTS_JWT_PREVIOUS_SECRET"),
            pii_key: get("CREDIT_LISTS_PII_KEY"),
            receipt_signing_key: get("CREDIT_LISTS_RECEIPT_SIGNING_KEY"),
            receipt_previous_keys: None,
            access_token_ttl_secs: parse(&get, "CREDIT_LISTS_ACCESS_TOKEN_TTL_SECS")?,
            refresh_token_ttl_secs: parse(&get, "CREDIT_LISTS_REFRESH_TOKEN_TTL_SECS")?,
            pool_size: parse(&get, "CREDIT_LISTS_POOL_SIZE")?,
            workers: parse(&get, "CREDIT_LISTS_WORKERS")?,
            log_format,
            log_level: get("CREDIT_LISTS_LOG_LEVEL"),
            login_free_failures: parse(&get, "CREDIT_LISTS_LOGIN_FREE_FAILURES")?,
            login_first_delay_secs: parse(&get, "CREDIT_LISTS_LOGIN_FIRST_DELAY_SECS")?,
            login_max_failures_per_ip: parse(&get, "CREDIT_LISTS_LOGIN_MAX_FAILURES_PER_IP")?,
            login_lockout_secs: parse(&get, "CREDIT_LISTS_LOGIN_LOCKOUT_SECS")?,
            login_account_delay_after: parse(&get, "CREDIT_LISTS_LOGIN_ACCOUNT_DELAY_AFTER")?,
            login_account_max_delay_ms: parse(&get, "CREDIT_LISTS_LOGIN_ACCOUNT_MAX_DELAY_MS")?,
            // Comma-separated.
            trusted_proxies: get("CREDIT_LISTS_TRUSTED_PROXIES").map(|v| {
                v.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            }),
            console_idle_timeout_secs: parse(&get, "CREDIT_LISTS_CONSOLE_IDLE_TIMEOUT_SECS")?,
            console_session_max_secs: parse(&get, "CREDIT_LISTS_CONSOLE_SESSION_MAX_SECS")?,
            max_body_bytes: parse(&get, "CREDIT_LISTS_MAX_BODY_BYTES")?,
            upload_max_bytes: parse(&get, "CREDIT_LISTS_UPLOAD_MAX_BYTES")?,
            import_max_bytes: parse(&get, "CREDIT_LISTS_IMPORT_MAX_BYTES")?,
            import_max_rows: parse(&get, "CREDIT_LISTS_IMPORT_MAX_ROWS")?,
            upload_spool_dir: get("CREDIT_LISTS_UPLOAD_SPOOL_DIR").map(std::path::PathBuf::from),
            upload_max_concurrent: parse(&get, "CREDIT_LISTS_UPLOAD_MAX_CONCURRENT")?,
            check_counts_catch_up_secs: parse(&get, "CREDIT_LISTS_CHECK_COUNTS_CATCH_UP_SECS")?,
            upload_max_rows: parse(&get, "CREDIT_LISTS_UPLOAD_MAX_ROWS")?,
            upload_max_cells: parse(&get, "CREDIT_LISTS_UPLOAD_MAX_CELLS")?,
            upload_max_text_bytes: parse(&get, "CREDIT_LISTS_UPLOAD_MAX_TEXT_BYTES")?,
            upload_max_unpacked_bytes: parse(&get, "CREDIT_LISTS_UPLOAD_MAX_UNPACKED_BYTES")?,
            upload_max_part_bytes: parse(&get, "CREDIT_LISTS_UPLOAD_MAX_PART_BYTES")?,
            check_index: parse(&get, "CREDIT_LISTS_CHECK_INDEX")?,
            attachment_max_bytes: parse(&get, "CREDIT_LISTS_ATTACHMENT_MAX_BYTES")?,
            repair_accept_days: parse(&get, "CREDIT_LISTS_REPAIR_ACCEPT_DAYS")?,
            repair_decide_days: parse(&get, "CREDIT_LISTS_REPAIR_DECIDE_DAYS")?,
            repair_review_days: parse(&get, "CREDIT_LISTS_REPAIR_REVIEW_DAYS")?,
            public_removal_notice_days: parse(&get, "CREDIT_LISTS_PUBLIC_REMOVAL_NOTICE_DAYS")?,
            national_sync_max_end_percent: parse(
                &get,
                "CREDIT_LISTS_NATIONAL_SYNC_MAX_END_PERCENT",
            )?,
            feed_push_url: get("CREDIT_LISTS_FEED_PUSH_URL"),
            feed_push_batch: parse(&get, "CREDIT_LISTS_FEED_PUSH_BATCH")?,
            feed_push_backoff_ms: parse(&get, "CREDIT_LISTS_FEED_PUSH_BACKOFF_MS")?,
            feed_push_max_backoff_secs: parse(&get, "CREDIT_LISTS_FEED_PUSH_MAX_BACKOFF_SECS")?,
            feed_lease_secs: parse(&get, "CREDIT_LISTS_FEED_LEASE_SECS")?,
            feed_poll_ms: parse(&get, "CREDIT_LISTS_FEED_POLL_MS")?,
        })
    }

    /// `other` wins where it has a value.
    pub fn overlay(self, other: Layer) -> Layer {
        Layer {
            database_url: other.database_url.or(self.database_url),
            bind: other.bind.or(self.bind),
            jwt_secret: other.jwt_secret.or(self.jwt_secret),
            jwt_previous_secret: other.jwt_previous_secret.or(self.jwt_previous_secret),
            pii_key: other.pii_key.or(self.pii_key),
            receipt_signing_key: other.receipt_signing_key.or(self.receipt_signing_key),
            receipt_previous_keys: other.receipt_previous_keys.or(self.receipt_previous_keys),
            access_token_ttl_secs: other.access_token_ttl_secs.or(self.access_token_ttl_secs),
            refresh_token_ttl_secs: other.refresh_token_ttl_secs.or(self.refresh_token_ttl_secs),
            pool_size: other.pool_size.or(self.pool_size),
            workers: other.workers.or(self.workers),
            log_format: other.log_format.or(self.log_format),
            log_level: other.log_level.or(self.log_level),
            login_free_failures: other.login_free_failures.or(self.login_free_failures),
            login_first_delay_secs: other.login_first_delay_secs.or(self.login_first_delay_secs),
            login_max_failures_per_ip: other
                .login_max_failures_per_ip
                .or(self.login_max_failures_per_ip),
            login_lockout_secs: other.login_lockout_secs.or(self.login_lockout_secs),
            login_account_delay_after: other
                .login_account_delay_after
                .or(self.login_account_delay_after),
            login_account_max_delay_ms: other
                .login_account_max_delay_ms
                .or(self.login_account_max_delay_ms),
            trusted_proxies: other.trusted_proxies.or(self.trusted_proxies),
            console_idle_timeout_secs: other
                .console_idle_timeout_secs
                .or(self.console_idle_timeout_secs),
            console_session_max_secs: other
                .console_session_max_secs
                .or(self.console_session_max_secs),
            max_body_bytes: other.max_body_bytes.or(self.max_body_bytes),
            upload_max_bytes: other.upload_max_bytes.or(self.upload_max_bytes),
            import_max_bytes: other.import_max_bytes.or(self.import_max_bytes),
            import_max_rows: other.import_max_rows.or(self.import_max_rows),
            upload_spool_dir: other.upload_spool_dir.or(self.upload_spool_dir),
            upload_max_concurrent: other.upload_max_concurrent.or(self.upload_max_concurrent),
            check_counts_catch_up_secs: other
                .check_counts_catch_up_secs
                .or(self.check_counts_catch_up_secs),
            upload_max_rows: other.upload_max_rows.or(self.upload_max_rows),
            upload_max_cells: other.upload_max_cells.or(self.upload_max_cells),
            upload_max_text_bytes: other.upload_max_text_bytes.or(self.upload_max_text_bytes),
            upload_max_unpacked_bytes: other
                .upload_max_unpacked_bytes
                .or(self.upload_max_unpacked_bytes),
            upload_max_part_bytes: other.upload_max_part_bytes.or(self.upload_max_part_bytes),
            check_index: other.check_index.or(self.check_index),
            attachment_max_bytes: other.attachment_max_bytes.or(self.attachment_max_bytes),
            repair_accept_days: other.repair_accept_days.or(self.repair_accept_days),
            repair_decide_days: other.repair_decide_days.or(self.repair_decide_days),
            repair_review_days: other.repair_review_days.or(self.repair_review_days),
            public_removal_notice_days: other
                .public_removal_notice_days
                .or(self.public_removal_notice_days),
            national_sync_max_end_percent: other
                .national_sync_max_end_percent
                .or(self.national_sync_max_end_percent),
            feed_push_url: other.feed_push_url.or(self.feed_push_url),
            feed_push_batch: other.feed_push_batch.or(self.feed_push_batch),
            feed_push_backoff_ms: other.feed_push_backoff_ms.or(self.feed_push_backoff_ms),
            feed_push_max_backoff_secs: other
                .feed_push_max_backoff_secs
                .or(self.feed_push_max_backoff_secs),
            feed_lease_secs: other.feed_lease_secs.or(self.feed_lease_secs),
            feed_poll_ms: other.feed_poll_ms.or(self.feed_poll_ms),
        }
    }
}

/// `10.0.0.5` or `10.0.0.0/8` (IPv4 or IPv6) each.
fn parse_trusted_proxies(raw: Vec<String>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    raw.iter()
        .map(|p| {
            let p = p.trim();
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError::Invalid(format!(
                        "trusted_proxies: {p:?} is not an IP address or CIDR range"
                    ))
                })
        })
        .collect()
}

impl Settings {
    /// Resolves the layers. `demo` relaxes only the secret requirement (a random secret is made
    /// for the process).
    pub fn resolve(layer: Layer, demo: bool) -> Result<Settings, ConfigError> {
        let database_url = DatabaseUrl::parse(
            layer
                .database_url
                .as_deref()
                .unwrap_or(DEFAULT_DATABASE_URL),
        )
        .map_err(ConfigError::Invalid)?;
        for (name, secret) in [
            ("jwt_secret", &layer.jwt_secret),
            ("jwt_previous_secret", &layer.jwt_previous_secret),
        ] {
            if let Some(s) = secret {
                if s.len() < MIN_SECRET_LEN {
                    return Err(ConfigError::Invalid(format!(
                        "{name} must be at least {MIN_SECRET_LEN} characters long"
                    )));
                }
            }
        }
        let pii_key = match layer.pii_key.as_deref() {
            None => None,
            Some(raw) => Some(parse_pii_key(raw).map(|_| raw.trim().to_ascii_lowercase())?),
        };
        let receipt_signing_key = match layer.receipt_signing_key.as_deref() {
            None => None,
            Some(raw) => Some(
                parse_hex_key("receipt_signing_key", raw)
                    .map(|_| raw.trim().to_ascii_lowercase())?,
            ),
        };
        let receipt_previous_keys = layer.receipt_previous_keys.unwrap_or_default();
        for k in &receipt_previous_keys {
            parse_hex_key("receipt_previous_keys.public_key", &k.public_key)?;
            if k.not_after <= k.not_before {
                return Err(ConfigError::Invalid(
                    "receipt_previous_keys: not_after must come after not_before".into(),
                ));
            }
        }
        let positive = |name: &str, v: i64| {
            if v <= 0 {
                Err(ConfigError::Invalid(format!("{name} must be positive")))
            } else {
                Ok(v)
            }
        };
        Ok(Settings {
            database_url,
            bind: layer.bind.unwrap_or_else(|| DEFAULT_BIND.to_string()),
            jwt_secret: layer.jwt_secret,
            jwt_previous_secret: layer.jwt_previous_secret,
            pii_key,
            receipt_signing_key,
            receipt_previous_keys,
            access_token_ttl_secs: positive(
                "access_token_ttl_secs",
                layer.access_token_ttl_secs.unwrap_or(15 * 60),
            )?,
            refresh_token_ttl_secs: positive(
                "refresh_token_ttl_secs",
                layer.refresh_token_ttl_secs.unwrap_or(14 * 24 * 3600),
            )?,
            pool_size: layer.pool_size.unwrap_or(8).clamp(1, 256),
            workers: layer.workers.map(|w| w.clamp(1, 512)),
            log_format: layer.log_format.unwrap_or(LogFormat::Text),
            log_level: layer.log_level.unwrap_or_else(|| "info".into()),
            login_free_failures: layer.login_free_failures.unwrap_or(5).max(1),
            login_first_delay_secs: layer.login_first_delay_secs.unwrap_or(1).max(1),
            login_max_failures_per_ip: layer.login_max_failures_per_ip.unwrap_or(100).max(1),
            login_lockout_secs: layer.login_lockout_secs.unwrap_or(15 * 60).max(1),
            login_account_delay_after: layer.login_account_delay_after.unwrap_or(10),
            login_account_max_delay_ms: layer.login_account_max_delay_ms.unwrap_or(2000),
            trusted_proxies: parse_trusted_proxies(layer.trusted_proxies.unwrap_or_default())?,
            console_idle_timeout_secs: positive(
                "console_idle_timeout_secs",
                layer.console_idle_timeout_secs.unwrap_or(30 * 60),
            )?,
            console_session_max_secs: positive(
                "console_session_max_secs",
                layer.console_session_max_secs.unwrap_or(12 * 3600),
            )?,
            max_body_bytes: layer.max_body_bytes.unwrap_or(1 << 20),
            upload_max_bytes: layer
                .upload_max_bytes
                .unwrap_or(crate::tabular::MAX_UPLOAD_BYTES)
                .max(1),
            import_max_bytes: layer.import_max_bytes.unwrap_or(512 << 20).max(1),
            import_max_rows: layer
                .import_max_rows
                .unwrap_or(crate::tabular::MAX_STREAMED_ROWS)
                .max(1),
            upload_spool_dir: layer.upload_spool_dir,
            upload_max_concurrent: layer.upload_max_concurrent.unwrap_or(4).max(1),
            check_counts_catch_up_secs: layer.check_counts_catch_up_secs.unwrap_or(60).max(1),
            upload_max_rows: layer
                .upload_max_rows
                .unwrap_or(crate::tabular::MAX_ROWS)
                .max(1),
            upload_max_cells: layer
                .upload_max_cells
                .unwrap_or(crate::tabular::MAX_CELLS)
                .max(1),
            upload_max_text_bytes: layer
                .upload_max_text_bytes
                .unwrap_or(crate::tabular::MAX_TEXT_BYTES)
                .max(1),
            upload_max_unpacked_bytes: layer
                .upload_max_unpacked_bytes
                .unwrap_or(crate::tabular::MAX_UNPACKED_BYTES)
                .max(1),
            upload_max_part_bytes: layer
                .upload_max_part_bytes
                .unwrap_or(crate::tabular::MAX_PART_BYTES)
                .max(1),
            check_index: layer.check_index.unwrap_or(true),
            attachment_max_bytes: layer.attachment_max_bytes.unwrap_or(10 << 20),
            repair_accept_days: layer.repair_accept_days.unwrap_or(2),
            repair_decide_days: layer.repair_decide_days.unwrap_or(10),
            repair_review_days: layer.repair_review_days.unwrap_or(3),
            public_removal_notice_days: layer.public_removal_notice_days.unwrap_or(30).min(3650),
            national_sync_max_end_percent: layer
                .national_sync_max_end_percent
                .unwrap_or(20)
                .min(100),
            demo,
            feed_push_url: match layer.feed_push_url.map(|u| u.trim().to_string()) {
                None => None,
                Some(u) if u.is_empty() => None,
                Some(u) if u.starts_with("http://") && u.len() > "http://".len() => Some(u),
                Some(u) => {
                    return Err(ConfigError::Invalid(format!(
                        "feed_push_url {u:?} must be an http:// URL (this build has no TLS \
                         client: reach an https endpoint through a TLS-terminating proxy)"
                    )))
                }
            },
            feed_push_batch: layer.feed_push_batch.unwrap_or(100).clamp(1, 1000),
            feed_push_backoff_ms: layer.feed_push_backoff_ms.unwrap_or(1000).max(1),
            feed_push_max_backoff_secs: layer.feed_push_max_backoff_secs.unwrap_or(300).max(1),
            feed_lease_secs: layer.feed_lease_secs.unwrap_or(30).max(1),
            feed_poll_ms: layer.feed_poll_ms.unwrap_or(1000).max(1),
        })
    }

    /// The budget an upload is read within ([`crate::tabular::Limits`]): the configured
    /// `upload_max_*` settings, the module's defaults for the rest.
    pub fn upload_limits(&self) -> crate::tabular::Limits {
        crate::tabular::Limits {
            max_rows: self.upload_max_rows,
            max_cells: self.upload_max_cells,
            max_text_bytes: self.upload_max_text_bytes,
            max_unpacked_bytes: self.upload_max_unpacked_bytes,
            max_part_bytes: self.upload_max_part_bytes,
            ..crate::tabular::Limits::default()
        }
    }

    /// The budget of a streamed import: the upload budget's per-row limits, with
    /// `import_max_rows` rows.
    pub fn import_limits(&self) -> crate::tabular::Limits {
        crate::tabular::Limits {
            max_rows: self.import_max_rows,
            ..self.upload_limits()
        }
    }

    /// The login throttle's figures.
    pub fn throttle_limits(&self) -> crate::auth::throttle::ThrottleLimits {
        crate::auth::throttle::ThrottleLimits {
            free_failures: self.login_free_failures,
            first_delay: std::time::Duration::from_secs(self.login_first_delay_secs),
            window: std::time::Duration::from_secs(self.login_lockout_secs),
            max_per_client: self.login_max_failures_per_ip,
            account_delay_after: self.login_account_delay_after,
            account_max_delay: std::time::Duration::from_millis(self.login_account_max_delay_ms),
        }
    }

    /// The secret the service signs with, or why it cannot start.
    pub fn require_secret(&self) -> Result<String, ConfigError> {
        match (&self.jwt_secret, self.demo) {
            (Some(s), _) => Ok(s.clone()),
            (None, true) => Ok(crate::auth::tokens::random_token()),
            (None, false) => Err(ConfigError::Invalid(format!(
                "no JWT signing secret: set CREDIT_LISTS_JWT_SECRET (or jwt_secret in the config \
                 file) to a random string of at least {MIN_SECRET_LEN} characters, e.g. the output \
                 of `openssl rand -hex 32`; only `serve --demo` runs without one"
            ))),
        }
    }
}

impl Settings {
    /// The 32-byte master key protecting personal ID numbers, or why the service cannot start.
    ///
    /// * A configured `pii_key` (already validated by [`Settings::resolve`]) is used as is.
    /// * Outside demo mode a missing key is an error saying how to make one.
    /// * In demo mode on SQLite the key is read from [`DEMO_PII_KEY_FILE`] next to the database
    ///   file, or made and written there (mode 0600) on the first run, so the next demo run can
    ///   read what this one encrypted. See [`Settings::demo_pii_key_path`].
    /// * In demo mode on PostgreSQL a missing key is an error: there is no file next to the
    ///   data, and a random key per run would leave the data unreadable after a restart.
    pub fn require_pii_key(&self) -> Result<[u8; 32], ConfigError> {
        if let Some(k) = &self.pii_key {
            return parse_pii_key(k);
        }
        if !self.demo {
            return Err(ConfigError::Invalid(
                "no PII key: set CREDIT_LISTS_PII_KEY (or pii_key in the config file) to 64 hex \
                 characters (32 bytes), e.g. the output of `openssl rand -hex 32`; it encrypts \
                 personal ID numbers in the database, so keep it safe and never change or lose it \
                 (data encrypted under it cannot be read without it); only `serve --demo` on \
                 SQLite runs without one"
                    .into(),
            ));
        }
        match self.demo_pii_key_path() {
            Some(path) => read_or_create_key_file(&path),
            None => Err(ConfigError::Invalid(
                "demo mode on PostgreSQL needs a PII key: set CREDIT_LISTS_PII_KEY (or pii_key in \
                 the config file) to 64 hex characters, e.g. the output of `openssl rand -hex 32`; \
                 a random key per run would make the encrypted data unreadable after a restart"
                    .into(),
            )),
        }
    }

    /// Where demo mode keeps its PII key when none is configured: `pii.key` in the directory of
    /// the SQLite database file. `None` when a key is configured, outside demo mode, or on
    /// PostgreSQL.
    pub fn demo_pii_key_path(&self) -> Option<PathBuf> {
        if self.pii_key.is_some() || !self.demo {
            return None;
        }
        match &self.database_url {
            DatabaseUrl::Sqlite(db) => {
                let dir = match db.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                Some(dir.join(DEMO_PII_KEY_FILE))
            }
            DatabaseUrl::Postgres(_) => None,
        }
    }
}

/// Exactly 64 hex characters (surrounding whitespace ignored) → 32 bytes.
fn parse_pii_key(raw: &str) -> Result<[u8; 32], ConfigError> {
    parse_hex_key("pii_key", raw)
}

/// An earlier receipt signing key (config file only): its public key as 64 hex characters and
/// when it signed (RFC 3339 times).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousReceiptKey {
    pub public_key: String,
    pub not_before: chrono::DateTime<chrono::Utc>,
    pub not_after: chrono::DateTime<chrono::Utc>,
}

/// Name of the demo-mode receipt signing key file, kept next to the SQLite database file.
pub const DEMO_RECEIPT_KEY_FILE: &str = "receipt-signing.key";

impl Settings {
    /// The receipt signing key's 32-byte seed: as [`Settings::require_pii_key`], with
    /// [`DEMO_RECEIPT_KEY_FILE`] beside the SQLite database in demo mode.
    pub fn require_receipt_signing_key(&self) -> Result<[u8; 32], ConfigError> {
        if let Some(k) = &self.receipt_signing_key {
            return parse_hex_key("receipt_signing_key", k);
        }
        match self.demo_key_path(DEMO_RECEIPT_KEY_FILE) {
            Some(path) if self.demo => read_or_create_key_file(&path),
            _ => Err(ConfigError::Invalid(
                "no receipt signing key: set CREDIT_LISTS_RECEIPT_SIGNING_KEY (or \
                 receipt_signing_key in the config file) to 64 hex characters (an Ed25519 seed), \
                 e.g. the output of `openssl rand -hex 32`; keep it secret; only `serve --demo` \
                 on SQLite runs without one"
                    .into(),
            )),
        }
    }

    /// `name` in the directory of the SQLite database file (demo mode's key files).
    fn demo_key_path(&self, name: &str) -> Option<PathBuf> {
        match &self.database_url {
            DatabaseUrl::Sqlite(db) => {
                let dir = match db.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                Some(dir.join(name))
            }
            DatabaseUrl::Postgres(_) => None,
        }
    }
}

/// Exactly 64 hex characters (surrounding whitespace ignored) → 32 bytes.
fn parse_hex_key(name: &str, raw: &str) -> Result<[u8; 32], ConfigError> {
    let t = raw.trim();
    let invalid = |what: &str| {
        ConfigError::Invalid(format!(
            "{name} must be exactly 64 hex characters (32 bytes), e.g. the output of \
             `openssl rand -hex 32`; the value given {what}"
        ))
    };
    if t.len() != 64 {
        return Err(invalid(&format!("has {} characters", t.chars().count())));
    }
    if !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("contains characters other than 0-9 and a-f"));
    }
    let mut key = [0u8; 32];
    hex::decode_to_slice(t, &mut key).map_err(|_| invalid("is not hex"))?;
    Ok(key)
}

fn read_or_create_key_file(path: &Path) -> Result<[u8; 32], ConfigError> {
    use std::io::Write;
    let read = |path: &Path| -> Result<[u8; 32], ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        parse_pii_key(&text)
            .map_err(|e| ConfigError::Invalid(format!("demo key file {}: {e}", path.display())))
    };
    if path.exists() {
        return read(path);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            ConfigError::Invalid(format!("cannot create directory {}: {e}", dir.display()))
        })?;
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(format!("{}\n", hex::encode(key)).as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(|e| {
                    ConfigError::Invalid(format!("cannot write {}: {e}", path.display()))
                })?;
            Ok(key)
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(ConfigError::Invalid(format!(
            "cannot create the demo key file {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn feed_push_settings() {
        let layer = Layer::from_env(env(&[
            ("CREDIT_LISTS_FEED_PUSH_URL", " http://127.0.0.1:9000/feed "),
            ("CREDIT_LISTS_FEED_PUSH_BATCH", "5000"),
            ("CREDIT_LISTS_FEED_LEASE_SECS", "10"),
        ]))
        .unwrap();
        let s = Settings::resolve(layer, false).unwrap();
        assert_eq!(
            s.feed_push_url.as_deref(),
            Some("http://127.0.0.1:9000/feed")
        );
        assert_eq!(s.feed_push_batch, 1000, "clamped");
        assert_eq!(s.feed_lease_secs, 10);
        assert_eq!(s.feed_push_backoff_ms, 1000);
        let none = Settings::resolve(Layer::default(), false).unwrap();
        assert!(none.feed_push_url.is_none());
        for bad in ["https://province.example.cn/feed", "ftp://x", "http://"] {
            let layer = Layer {
                feed_push_url: Some(bad.into()),
                ..Layer::default()
            };
            assert!(Settings::resolve(layer, false).is_err(), "{bad}");
        }
        let bad = Layer::from_env(env(&[("CREDIT_LISTS_FEED_PUSH_BATCH", "many")]));
        assert!(bad.is_err());
    }

    #[test]
    fn layers_override_in_order() {
        let file: Layer = toml::from_str("bind = \"0.0.0.0:9000\"\npool_size = 4\n").unwrap();
        let envl = Layer::from_env(env(&[("CREDIT_LISTS_POOL_SIZE", "12")])).unwrap();
        let flags = Layer {
            bind: Some("127.0.0.1:1".into()),
            ..Layer::default()
        };
        let s = Settings::resolve(file.overlay(envl).overlay(flags), false).unwrap();
        assert_eq!(s.bind, "127.0.0.1:1");
        assert_eq!(s.pool_size, 12);
    }

    #[test]
    fn unknown_config_keys_and_bad_env_values_are_errors() {
        assert!(toml::from_str::<Layer>("bnd = 1").is_err());
        assert!(Layer::from_env(env(&[("CREDIT_LISTS_POOL_SIZE", "many")])).is_err());
        assert!(Layer::from_env(env(&[("CREDIT_LISTS_LOG_FORMAT", "xml")])).is_err());
    }

    #[test]
    fn secret_is_required_outside_demo_and_must_be_long() {
        let s = Settings::resolve(Layer::default(), false).unwrap();
        let err = s.require_secret().unwrap_err().to_string();
        assert!(err.contains("CREDIT_LISTS_JWT_SECRET"), "{err}");
        assert!(Settings::resolve(Layer::default(), true)
            .unwrap()
            .require_secret()
            .is_ok());
        let short = Layer {
            jwt_secret: Some("short".into()),
            ..Layer::default()
        };
        assert!(Settings::resolve(short, false).is_err());
    }

    const PII: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn pii_key_is_layered_like_the_other_settings() {
        let other = "ff".repeat(32);
        let file: Layer = toml::from_str(&format!("pii_key = \"{PII}\"\n")).unwrap();
        assert_eq!(file.pii_key.as_deref(), Some(PII));
        let s = Settings::resolve(file.clone(), false).unwrap();
        assert_eq!(s.pii_key.as_deref(), Some(PII));
        let envl = Layer::from_env(env(&[("CREDIT_LISTS_PII_KEY", &other)])).unwrap();
        let s = Settings::resolve(file.clone().overlay(envl.clone()), false).unwrap();
        assert_eq!(s.pii_key.as_deref(), Some(other.as_str()));
        assert_eq!(s.require_pii_key().unwrap(), [0xff; 32]);
        // A layer without the key does not erase it.
        let s = Settings::resolve(envl.overlay(Layer::default()), false).unwrap();
        assert_eq!(s.pii_key.as_deref(), Some(other.as_str()));
    }

    #[test]
    fn pii_key_must_be_64_hex_characters() {
        let with = |k: &str| {
            Settings::resolve(
                Layer {
                    pii_key: Some(k.into()),
                    ..Layer::default()
                },
                false,
            )
        };
        for bad in [
            "",
            "abc",
            &PII[..63],
            &format!("{PII}0"),
            &format!("{}g", &PII[..63]),
            &format!("{}é", &PII[..62]),
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(
                err.contains("pii_key must be exactly 64 hex characters"),
                "{err}"
            );
            if bad.len() > 3 {
                assert!(!err.contains(bad), "the key is echoed: {err}");
            }
        }
        // Surrounding whitespace (a trailing newline from a file) and upper case are fine.
        let s = with(&format!(" {}\n", PII.to_uppercase())).unwrap();
        assert_eq!(s.pii_key.as_deref(), Some(PII));
        let key = s.require_pii_key().unwrap();
        assert_eq!(key[0], 0x00);
        assert_eq!(key[1], 0x11);
        assert_eq!(key[31], 0xff);
    }

    #[test]
    fn secrets_are_hidden_from_debug() {
        let layer = Layer {
            jwt_secret: Some("jwt-secret-0123456789abcdef0123456789".into()),
            pii_key: Some(PII.into()),
            ..Layer::default()
        };
        let l = format!("{layer:?}");
        let s = format!("{:?}", Settings::resolve(layer, false).unwrap());
        for out in [l, s] {
            assert!(out.contains("pii_key"), "{out}");
            assert!(!out.contains(PII), "{out}");
            assert!(!out.contains("jwt-secret"), "{out}");
        }
    }

    #[test]
    fn pii_key_is_required_outside_demo() {
        let s = Settings::resolve(Layer::default(), false).unwrap();
        let err = s.require_pii_key().unwrap_err().to_string();
        assert!(err.contains("CREDIT_LISTS_PII_KEY"), "{err}");
        assert!(err.contains("openssl rand -hex 32"), "{err}");
        assert_eq!(s.demo_pii_key_path(), None);
    }

    #[test]
    fn demo_on_sqlite_keeps_its_pii_key_in_a_file_next_to_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sub").join("demo.db");
        let layer = Layer {
            database_url: Some(db.to_string_lossy().into_owned()),
            ..Layer::default()
        };
        let s = Settings::resolve(layer.clone(), true).unwrap();
        let path = dir.path().join("sub").join("pii.key");
        assert_eq!(s.demo_pii_key_path(), Some(path.clone()));
        assert!(!path.exists());
        let first = s.require_pii_key().unwrap();
        assert!(path.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim(), hex::encode(first));
        // The next run reads the same key.
        let again = Settings::resolve(layer.clone(), true).unwrap();
        assert_eq!(again.require_pii_key().unwrap(), first);
        // A configured key wins and the file is not consulted.
        let configured = Settings::resolve(
            Layer {
                pii_key: Some(PII.into()),
                ..layer.clone()
            },
            true,
        )
        .unwrap();
        assert_eq!(configured.demo_pii_key_path(), None);
        assert_ne!(configured.require_pii_key().unwrap(), first);
        // A damaged key file is an error naming the file, not a new key.
        std::fs::write(&path, "not a key").unwrap();
        let err = again.require_pii_key().unwrap_err().to_string();
        assert!(err.contains("pii.key"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key");
    }

    #[test]
    fn demo_with_a_bare_sqlite_file_name_uses_the_current_directory() {
        let s = Settings::resolve(
            Layer {
                database_url: Some("demo.db".into()),
                ..Layer::default()
            },
            true,
        )
        .unwrap();
        assert_eq!(s.demo_pii_key_path(), Some(PathBuf::from("./pii.key")));
    }

    #[test]
    fn demo_on_postgres_needs_a_configured_pii_key() {
        let layer = Layer {
            database_url: Some("postgres://u:p@localhost/db".into()),
            ..Layer::default()
        };
        let s = Settings::resolve(layer.clone(), true).unwrap();
        assert_eq!(s.demo_pii_key_path(), None);
        let err = s.require_pii_key().unwrap_err().to_string();
        assert!(err.contains("PostgreSQL"), "{err}");
        assert!(err.contains("CREDIT_LISTS_PII_KEY"), "{err}");
        let s = Settings::resolve(
            Layer {
                pii_key: Some(PII.into()),
                ..layer
            },
            true,
        )
        .unwrap();
        assert!(s.require_pii_key().is_ok());
    }

    #[test]
    fn database_url_env_fallback() {
        let l = Layer::from_env(env(&[("DATABASE_URL", "postgres://x/y")])).unwrap();
        assert_eq!(l.database_url.as_deref(), Some("postgres://x/y"));
        let l = Layer::from_env(env(&[
            ("DATABASE_URL", "postgres://x/y"),
            ("CREDIT_LISTS_DATABASE_URL", "a.db"),
        ]))
        .unwrap();
        assert_eq!(l.database_url.as_deref(), Some("a.db"));
    }
}
