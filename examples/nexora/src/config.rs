//! nexora's settings: built-in defaults, then a TOML file (`--config`), then environment
//! variables, in increasing precedence. See nexora.example.toml for every key.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// `sqlite:nexora.db` (created on first start) or `postgres://user@host/db`.
    pub database_url: String,
    pub herald: HeraldConfig,
    /// At least 32 bytes. Unset: a random key per start (sessions end on restart).
    pub session_secret: Option<String>,
    /// Mark the session cookie `Secure` (serve nexora over HTTPS when on).
    pub secure_cookies: bool,
    pub session_days: i64,
    /// Bearer token for `/api/cron/*`; unset disables those endpoints.
    pub cron_secret: Option<String>,
    pub scheduler: SchedulerConfig,
    /// Where `web/node_modules/pusher-js` lives (the page's pusher-js build).
    pub web_dir: PathBuf,
    /// Log filter in tracing's EnvFilter syntax.
    pub log: String,
}

/// How nexora reaches herald: the HTTP API for publishing, and the WebSocket address the page
/// hands to pusher-js.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeraldConfig {
    /// Base URL of herald's HTTP API, e.g. `http://127.0.0.1:6001`.
    pub url: String,
    pub app_id: String,
    pub key: String,
    pub secret: String,
    /// WebSocket host and port browsers connect to; default: those of `url`.
    pub ws_host: Option<String>,
    pub ws_port: Option<u16>,
    pub ws_tls: bool,
    /// Events per batch request (herald's `max_batch_size`).
    pub batch_size: usize,
}

/// The in-process scheduler. Expressions have 6 fields (`sec min hour day month weekday`,
/// weekday 1-7 = SUN-SAT, names accepted) or the 5 classic ones (seconds then default to 0).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    pub enabled: bool,
    pub trust_decay: String,
    pub oracle: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 3000,
            database_url: "sqlite:nexora.db".into(),
            herald: HeraldConfig::default(),
            session_secret: None,
            secure_cookies: false,
            session_days: 7,
            cron_secret: None,
            scheduler: SchedulerConfig::default(),
            web_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web")),
            log: "info".into(),
        }
    }
}

impl Default for HeraldConfig {
    fn default() -> Self {
        HeraldConfig {
            url: "http://127.0.0.1:6001".into(),
            app_id: "1".into(),
            key: "herald-dev-key".into(),
            secret: "herald-dev-secret".into(),
            ws_host: None,
            ws_port: None,
            ws_tls: false,
            batch_size: 10,
        }
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig { enabled: true, trust_decay: "0 0 0 * * SUN".into(), oracle: "0 0 0 * * *".into() }
    }
}

/// The environment variables read, and the key each sets.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("NEXORA_HOST", "host"),
    ("NEXORA_PORT", "port"),
    ("DATABASE_URL", "database_url"),
    ("NEXORA_HERALD_URL", "herald.url"),
    ("NEXORA_HERALD_APP_ID", "herald.app_id"),
    ("NEXORA_HERALD_KEY", "herald.key"),
    ("NEXORA_HERALD_SECRET", "herald.secret"),
    ("NEXORA_HERALD_WS_HOST", "herald.ws_host"),
    ("NEXORA_HERALD_WS_PORT", "herald.ws_port"),
    ("NEXORA_SESSION_SECRET", "session_secret"),
    ("NEXORA_SECURE_COOKIES", "secure_cookies"),
    ("CRON_SECRET", "cron_secret"),
    ("NEXORA_SCHEDULER", "scheduler.enabled"),
    ("NEXORA_TRUST_DECAY_CRON", "scheduler.trust_decay"),
    ("NEXORA_ORACLE_CRON", "scheduler.oracle"),
    ("NEXORA_WEB_DIR", "web_dir"),
    ("NEXORA_LOG", "log"),
];

#[derive(Debug, thiserror::Error)]
#[error("nexora configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Loads defaults, then `path`, then the variables in `env` (see [`ENV_KEYS`]).
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut table = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", p.display())))?
                .parse::<toml::Table>()
                .map_err(|e| ConfigError(format!("{} is not valid TOML: {e}", p.display())))?,
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some((_, key)) = ENV_KEYS.iter().find(|(n, _)| *n == name) else { continue };
            if value.is_empty() {
                continue;
            }
            let (section, leaf) = match key.split_once('.') {
                Some((section, leaf)) => (Some(section), leaf),
                None => (None, *key),
            };
            let target = match section {
                Some(section) => table
                    .entry(section)
                    .or_insert_with(|| toml::Value::Table(Default::default()))
                    .as_table_mut()
                    .ok_or_else(|| ConfigError(format!("`{section}` must be a table")))?,
                None => &mut table,
            };
            target.insert(leaf.to_string(), scalar(leaf, &value));
        }
        let config: Config = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError(e.message().to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if crate::db::Backend::of_url(&self.database_url).is_none() {
            return Err(ConfigError(format!("database_url (DATABASE_URL) must start with sqlite: or postgres://, got '{}'", self.database_url)));
        }
        if self.session_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(ConfigError("session_secret (NEXORA_SESSION_SECRET) must be at least 32 bytes".into()));
        }
        if self.cron_secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(ConfigError("cron_secret (CRON_SECRET) must be at least 16 characters".into()));
        }
        for (name, expr) in [("scheduler.trust_decay", &self.scheduler.trust_decay), ("scheduler.oracle", &self.scheduler.oracle)] {
            crate::jobs::scheduler::parse_schedule(expr).map_err(|e| ConfigError(format!("{name}: {e}")))?;
        }
        url_host_port(&self.herald.url).ok_or_else(|| ConfigError(format!("herald.url must look like http://host:port, got '{}'", self.herald.url)))?;
        Ok(())
    }

    /// What the page needs to open its pusher-js connection.
    pub fn pusher_client_options(&self) -> serde_json::Value {
        let (host, port) = url_host_port(&self.herald.url).unwrap_or_else(|| ("127.0.0.1".into(), 6001));
        serde_json::json!({
            "key": self.herald.key,
            "wsHost": self.herald.ws_host.clone().unwrap_or(host),
            "wsPort": self.herald.ws_port.unwrap_or(port),
            "forceTLS": self.herald.ws_tls,
        })
    }
}

/// Numbers and booleans from the environment become TOML numbers and booleans, except for
/// keys that are always strings.
fn scalar(key: &str, value: &str) -> toml::Value {
    let always_string = matches!(key, "session_secret" | "cron_secret" | "secret" | "key" | "app_id");
    if !always_string {
        if let Ok(i) = value.parse::<i64>() {
            return toml::Value::Integer(i);
        }
        if let Ok(b) = value.parse::<bool>() {
            return toml::Value::Boolean(b);
        }
    }
    toml::Value::String(value.to_string())
}

/// `http://host:port/...` → (host, port); the port defaults by scheme.
fn url_host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Some((host.to_string(), port.parse().ok()?)),
        None if !authority.is_empty() => Some((authority.to_string(), default_port)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_then_env() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!((c.port, c.database_url.as_str(), c.herald.key.as_str()), (3000, "sqlite:nexora.db", "herald-dev-key"));
        let c = Config::load(
            None,
            env(&[("NEXORA_PORT", "4000"), ("DATABASE_URL", "postgres://u@h/db"), ("NEXORA_HERALD_APP_ID", "7"), ("NEXORA_SCHEDULER", "false"), ("HERALD_PORT", "1")]),
        )
        .unwrap();
        assert_eq!((c.port, c.database_url.as_str(), c.herald.app_id.as_str(), c.scheduler.enabled), (4000, "postgres://u@h/db", "7", false));
    }

    #[test]
    fn validation_names_the_key() {
        let err = Config::load(None, env(&[("DATABASE_URL", "mysql://x")])).unwrap_err().to_string();
        assert!(err.contains("DATABASE_URL"), "{err}");
        let err = Config::load(None, env(&[("CRON_SECRET", "short")])).unwrap_err().to_string();
        assert!(err.contains("CRON_SECRET"), "{err}");
        let err = Config::load(None, env(&[("NEXORA_ORACLE_CRON", "every day")])).unwrap_err().to_string();
        assert!(err.contains("scheduler.oracle"), "{err}");
    }

    #[test]
    fn pusher_options_follow_the_herald_url() {
        let c = Config::load(None, env(&[("NEXORA_HERALD_URL", "http://10.0.0.5:7001")])).unwrap();
        assert_eq!(c.pusher_client_options()["wsHost"], "10.0.0.5");
        assert_eq!(c.pusher_client_options()["wsPort"], 7001);
    }
}
