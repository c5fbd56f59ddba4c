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
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    pub pool_size: u32,
    pub workers: Option<usize>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub login_max_failures_per_account: u32,
    pub login_max_failures_per_ip: u32,
    pub login_lockout_secs: u64,
    pub max_body_bytes: usize,
    pub demo: bool,
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

/// One layer: every field optional. The config file has exactly these keys.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub database_url: Option<String>,
    pub bind: Option<String>,
    pub jwt_secret: Option<String>,
    pub jwt_previous_secret: Option<String>,
    pub access_token_ttl_secs: Option<i64>,
    pub refresh_token_ttl_secs: Option<i64>,
    pub pool_size: Option<u32>,
    pub workers: Option<usize>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub login_max_failures_per_account: Option<u32>,
    pub login_max_failures_per_ip: Option<u32>,
    pub login_lockout_secs: Option<u64>,
    pub max_body_bytes: Option<usize>,
}

pub const DEFAULT_DATABASE_URL: &str = "data/credit-lists.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_CONFIG_FILE: &str = "credit-lists.toml";
/// Secrets shorter than this are refused: HS256 wants at least 256 bits of key.
pub const MIN_SECRET_LEN: usize = 32;

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
            access_token_ttl_secs: parse(&get, "CREDIT_LISTS_ACCESS_TOKEN_TTL_SECS")?,
            refresh_token_ttl_secs: parse(&get, "CREDIT_LISTS_REFRESH_TOKEN_TTL_SECS")?,
            pool_size: parse(&get, "CREDIT_LISTS_POOL_SIZE")?,
            workers: parse(&get, "CREDIT_LISTS_WORKERS")?,
            log_format,
            log_level: get("CREDIT_LISTS_LOG_LEVEL"),
            login_max_failures_per_account: parse(
                &get,
                "CREDIT_LISTS_LOGIN_MAX_FAILURES_PER_ACCOUNT",
            )?,
            login_max_failures_per_ip: parse(&get, "CREDIT_LISTS_LOGIN_MAX_FAILURES_PER_IP")?,
            login_lockout_secs: parse(&get, "CREDIT_LISTS_LOGIN_LOCKOUT_SECS")?,
            max_body_bytes: parse(&get, "CREDIT_LISTS_MAX_BODY_BYTES")?,
        })
    }

    /// `other` wins where it has a value.
    pub fn overlay(self, other: Layer) -> Layer {
        Layer {
            database_url: other.database_url.or(self.database_url),
            bind: other.bind.or(self.bind),
            jwt_secret: other.jwt_secret.or(self.jwt_secret),
            jwt_previous_secret: other.jwt_previous_secret.or(self.jwt_previous_secret),
            access_token_ttl_secs: other.access_token_ttl_secs.or(self.access_token_ttl_secs),
            refresh_token_ttl_secs: other.refresh_token_ttl_secs.or(self.refresh_token_ttl_secs),
            pool_size: other.pool_size.or(self.pool_size),
            workers: other.workers.or(self.workers),
            log_format: other.log_format.or(self.log_format),
            log_level: other.log_level.or(self.log_level),
            login_max_failures_per_account: other
                .login_max_failures_per_account
                .or(self.login_max_failures_per_account),
            login_max_failures_per_ip: other
                .login_max_failures_per_ip
                .or(self.login_max_failures_per_ip),
            login_lockout_secs: other.login_lockout_secs.or(self.login_lockout_secs),
            max_body_bytes: other.max_body_bytes.or(self.max_body_bytes),
        }
    }
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
            login_max_failures_per_account: layer
                .login_max_failures_per_account
                .unwrap_or(5)
                .max(1),
            login_max_failures_per_ip: layer.login_max_failures_per_ip.unwrap_or(30).max(1),
            login_lockout_secs: layer.login_lockout_secs.unwrap_or(15 * 60).max(1),
            max_body_bytes: layer.max_body_bytes.unwrap_or(1 << 20),
            demo,
        })
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
