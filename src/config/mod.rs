//! Configuration: an embedded default, a TOML file (`--config`) and `HERALD_*` environment
//! variables, in increasing order of precedence. Every problem is reported with the key that
//! causes it and how to fix it, and stops start-up. `env.rs` reads the variables, `validate.rs`
//! checks what no type can express.

mod env;
mod validate;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The whole server configuration. Field docs are mirrored in docs/configuration.md.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the WebSocket and HTTP API listener binds to.
    pub host: String,
    pub port: u16,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Seconds of silence after which a client should ping; sent in the handshake.
    pub activity_timeout: u64,
    /// Extra seconds the server waits for any frame after probing an idle socket, before 4201.
    pub pong_timeout: u64,
    /// Seconds to wait for sockets and queued work to drain on SIGTERM/SIGINT.
    pub shutdown_grace_period: u64,
    /// Largest inbound WebSocket message, in bytes.
    pub max_message_bytes: usize,
    /// Frames buffered per connection before it is dropped as a slow consumer (4100).
    pub connection_queue_size: usize,
    /// Largest HTTP API request body, in bytes.
    pub max_request_bytes: usize,
    /// `local` (one node, the default) or `redis` (several nodes sharing one Redis).
    pub adapter: AdapterKind,
    /// Redis used by the `redis` adapter.
    pub redis_url: String,
    /// Prefix of every Redis key and channel of this cluster, so clusters can share a Redis.
    pub prefix: String,
    /// Seconds without a heartbeat after which a node counts as dead and its sockets'
    /// memberships are removed cluster-wide.
    pub node_timeout: u64,
    /// Milliseconds a single Redis command may take before the node treats Redis as down.
    pub redis_timeout_ms: u64,
    /// Answer `/ready` with 503 while the cluster adapter cannot reach Redis.
    pub ready_requires_adapter: bool,
    /// Seconds a webhook request may take before it counts as failed.
    pub webhook_timeout: u64,
    /// Seconds after which a failing webhook stops being retried and is dropped.
    pub webhook_retry_horizon: u64,
    /// Milliseconds `channel_vacated` and `member_removed` are held back, and cancelled if
    /// the channel or member comes back meanwhile.
    pub webhook_leave_delay_ms: u64,
    /// Milliseconds during which an app's webhook events are gathered into one request.
    pub webhook_batch_ms: u64,
    /// Webhook events waiting for delivery before new ones are dropped (and logged).
    pub webhook_queue_size: usize,
    /// PEM certificate chain and private key: when both are set the listener speaks TLS
    /// (wss:// and https://). SIGHUP reloads them without dropping connections.
    pub tls_cert: String,
    pub tls_key: String,
    /// Prometheus metrics on a separate listener (`GET /metrics`).
    pub metrics_enabled: bool,
    pub metrics_host: String,
    pub metrics_port: u16,
    /// Admin token for the debug console at `/console`; empty keeps the console off.
    pub console_token: String,
    /// `human` or `json` log lines.
    pub log_format: LogFormat,
    /// Log filter in `tracing` EnvFilter syntax, e.g. `info,herald::http=debug`.
    pub log: String,
    pub apps: Vec<AppConfig>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// Which adapter connects this node to the others.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    Local,
    Redis,
}

/// One application: credentials, switches and limits.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AppConfig {
    pub id: String,
    pub key: String,
    pub secret: String,
    pub enabled: bool,
    /// Relay `client-*` events between subscribers of private and presence channels.
    pub client_events: bool,
    /// Most simultaneous connections; 0 means unlimited.
    pub max_connections: u64,
    pub max_client_events_per_second: u32,
    /// Events (one per channel) the HTTP API may publish per second on this node; 0 means
    /// unlimited.
    pub max_backend_events_per_second: u32,
    /// `GET` requests the HTTP API answers per second (cluster-wide with Redis); 0 means
    /// unlimited.
    pub max_read_requests_per_second: u32,
    pub max_presence_members: usize,
    pub max_presence_user_info_bytes: usize,
    pub max_channel_name_length: usize,
    pub max_event_name_length: usize,
    pub max_event_data_bytes: usize,
    pub max_channels_per_trigger: usize,
    pub max_batch_size: usize,
    /// Close sockets that neither sign in nor join a private/presence channel in time (4009).
    pub authorized_connections: bool,
    /// Seconds an unauthorized socket may stay when `authorized_connections` is on.
    pub authorization_timeout: u64,
    /// Send `pusher_internal:subscription_count` to subscribers of non-presence channels.
    pub subscription_count: bool,
    /// Send `online`/`offline` watchlist events to signed-in users with a watchlist.
    pub watchlist_events: bool,
    pub max_watchlist_size: usize,
    /// Seconds a cache channel keeps its last event (at most 1800).
    pub cache_ttl: u64,
    /// Page origins whose browsers may connect (`*`, a host, `*.domain`, or a whole origin);
    /// empty lets every origin through. Handshakes without `Origin` (not from a browser)
    /// always pass. See `connection/origin.rs`.
    pub allowed_origins: Vec<String>,
    /// More key/secret pairs (pusher.com's "create new key and secret"): clients may connect
    /// with any of the app's keys, and tokens and API requests signed with any pair are
    /// accepted. Webhooks are signed with the main pair.
    pub extra_keys: Vec<KeyPair>,
    pub webhooks: Vec<WebhookConfig>,
}

/// One more key and secret of an app.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    pub key: String,
    pub secret: String,
}

impl AppConfig {
    /// The secret of `key` if it is one of this app's keys.
    pub fn secret_for(&self, key: &str) -> Option<&str> {
        if key == self.key {
            return Some(&self.secret);
        }
        self.extra_keys.iter().find(|pair| pair.key == key).map(|pair| pair.secret.as_str())
    }

    /// Every key clients may connect with: the main one first.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key.as_str()).chain(self.extra_keys.iter().map(|pair| pair.key.as_str()))
    }
}

/// One webhook target of an app.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// Only these event types (all when absent).
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Only events on channels starting with this prefix (all when absent).
    #[serde(default)]
    pub channel_prefix: Option<String>,
    /// Extra request headers; they can never replace the Pusher ones.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Every webhook event type herald sends.
pub const WEBHOOK_EVENT_TYPES: [&str; 7] =
    ["channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event", "cache_miss", "subscription_count"];

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 6001,
            workers: 0,
            activity_timeout: 120,
            pong_timeout: 30,
            shutdown_grace_period: 10,
            max_message_bytes: 64 * 1024,
            connection_queue_size: 1024,
            max_request_bytes: 1024 * 1024,
            adapter: AdapterKind::Local,
            redis_url: "redis://127.0.0.1:6379".into(),
            prefix: "herald".into(),
            node_timeout: 30,
            redis_timeout_ms: 2000,
            ready_requires_adapter: false,
            webhook_timeout: 5,
            webhook_retry_horizon: 300,
            webhook_leave_delay_ms: 3000,
            webhook_batch_ms: 50,
            webhook_queue_size: 10_000,
            tls_cert: String::new(),
            tls_key: String::new(),
            metrics_enabled: true,
            metrics_host: "127.0.0.1".into(),
            metrics_port: 9601,
            console_token: String::new(),
            log_format: LogFormat::Human,
            log: "info".into(),
            apps: Vec::new(),
        }
    }
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            id: String::new(),
            key: String::new(),
            secret: String::new(),
            enabled: true,
            client_events: false,
            max_connections: 0,
            max_client_events_per_second: 10,
            max_backend_events_per_second: 0,
            max_read_requests_per_second: 0,
            max_presence_members: 100,
            max_presence_user_info_bytes: 1024,
            max_channel_name_length: 200,
            max_event_name_length: 200,
            max_event_data_bytes: 10 * 1024,
            max_channels_per_trigger: 100,
            max_batch_size: 10,
            authorized_connections: false,
            authorization_timeout: 30,
            subscription_count: false,
            watchlist_events: true,
            max_watchlist_size: 100,
            cache_ttl: 1800,
            allowed_origins: Vec::new(),
            extra_keys: Vec::new(),
            webhooks: Vec::new(),
        }
    }
}

/// A configuration problem, worded for the operator.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Loads the file (if any), overlays `HERALD_*` variables from `env`, and validates.
    /// With no apps configured, one development app is generated (see [`Config::dev_app`]).
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<(Config, bool), ConfigError> {
        let mut table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", p.display())))?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError(format!("{} is not valid TOML: {e}", p.display())))?
            }
            None => toml::Table::new(),
        };
        let single_app_env = env::overlay_env(&mut table, env)?;
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let reason = inner.message().trim().to_string();
            let env = match key.strip_prefix("apps[0].") {
                Some(field) if single_app_env => format!("HERALD_APP_{}", field.to_ascii_uppercase()),
                _ => format!("HERALD_{}", key.split(['.', '[']).next().unwrap_or("").to_ascii_uppercase()),
            };
            ConfigError(format!("key `{key}` (or {env}): {reason}; see docs/configuration.md for every key"))
        })?;
        let generated = config.apps.is_empty();
        if generated {
            config.apps.push(Config::dev_app());
        }
        config.validate()?;
        Ok((config, generated))
    }

    /// The app used when none is configured: fixed credentials so examples work out of the box.
    pub fn dev_app() -> AppConfig {
        AppConfig {
            id: "1".into(),
            key: "herald-dev-key".into(),
            secret: "herald-dev-secret".into(),
            client_events: true,
            ..AppConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_str(toml_text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let path = std::env::temp_dir().join(format!("herald-config-{}.toml", rand::random::<u64>()));
        std::fs::File::create(&path).unwrap().write_all(toml_text.as_bytes()).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let loaded = Config::load(Some(&path), env).map(|(c, _)| c);
        // Removed before any assertion can fail, so runs leave nothing in the temp directory.
        let _ = std::fs::remove_file(&path);
        loaded
    }

    #[test]
    fn the_issue_example_loads() {
        let c = load_str(
            "host = \"127.0.0.1\"\nport = 16001\n[[apps]]\nid = \"1001\"\nkey = \"app-key\"\nsecret = \"app-secret\"\nclient_events = true\n[[apps]]\nid = \"1002\"\nkey = \"app-key-2\"\nsecret = \"app-secret-2\"\nclient_events = false\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.port, 16001);
        assert_eq!(c.apps.len(), 2);
        assert!(c.apps[0].client_events && !c.apps[1].client_events);
        assert_eq!(c.apps[1].max_presence_members, 100);
    }

    #[test]
    fn env_overrides_file() {
        let c = load_str("port = 7000\n", &[("HERALD_BIN", "/x"), ("HERALD_LOG_FILTER", "debug"), ("HERALD_PORT", "7100"), ("HERALD_APP_ID", "5"), ("HERALD_APP_KEY", "k"), ("HERALD_APP_SECRET", "s")]).unwrap();
        assert_eq!(c.port, 7100);
        assert_eq!(c.apps[0].key, "k");
        let c = load_str("", &[("HERALD_APPS", r#"[{"id":"1","key":"a","secret":"b","client_events":true}]"#)]).unwrap();
        assert!(c.apps[0].client_events);
    }

    #[test]
    fn single_app_env_takes_every_scalar_app_key() {
        let creds = [("HERALD_APP_ID", "5"), ("HERALD_APP_KEY", "k"), ("HERALD_APP_SECRET", "s")];
        let with = |extra: &[(&'static str, &'static str)]| [&creds[..], extra].concat();
        let c = load_str(
            "[[apps]]\nid = \"9\"\nkey = \"file\"\nsecret = \"x\"\n",
            &with(&[("HERALD_APP_CLIENT_EVENTS", "true"), ("HERALD_APP_MAX_CONNECTIONS", "500"), ("HERALD_APP_SUBSCRIPTION_COUNT", "true")]),
        )
        .unwrap();
        assert_eq!(c.apps.len(), 1, "the variables' app replaces the file's");
        assert_eq!((c.apps[0].id.as_str(), c.apps[0].key.as_str()), ("5", "k"));
        assert!(c.apps[0].client_events && c.apps[0].subscription_count);
        assert_eq!(c.apps[0].max_connections, 500);
        assert_eq!(c.apps[0].max_presence_members, 100, "unset keys keep their defaults");
        // A numeric-looking secret stays a string.
        let c = load_str("", &[("HERALD_APP_ID", "5"), ("HERALD_APP_KEY", "123"), ("HERALD_APP_SECRET", "456")]).unwrap();
        assert_eq!(c.apps[0].secret, "456");

        let e = load_str("", &with(&[("HERALD_APP_CLIENT_EVENTS", "yes")])).unwrap_err().to_string();
        assert!(e.contains("HERALD_APP_CLIENT_EVENTS") && e.contains("apps[0].client_events"), "{e}");
        let e = load_str("", &[("HERALD_APP_CLIENT_EVENTS", "true"), ("HERALD_APP_ID", "5")]).unwrap_err().to_string();
        assert!(e.contains("without HERALD_APP_KEY") && e.contains("HERALD_APP_CLIENT_EVENTS"), "{e}");
        let e = load_str("", &with(&[("HERALD_APPS", r#"[{"id":"1","key":"a","secret":"b"}]"#)])).unwrap_err().to_string();
        assert!(e.contains("HERALD_APPS and HERALD_APP_*"), "{e}");
    }

    #[test]
    fn single_app_env_takes_lists_as_json_or_comma_separated_text() {
        let creds = [("HERALD_APP_ID", "5"), ("HERALD_APP_KEY", "k"), ("HERALD_APP_SECRET", "s")];
        let with = |extra: &[(&'static str, &'static str)]| [&creds[..], extra].concat();
        let c = load_str("", &with(&[("HERALD_APP_ALLOWED_ORIGINS", "https://app.example.com, *.example.org")])).unwrap();
        assert_eq!(c.apps[0].allowed_origins, ["https://app.example.com", "*.example.org"]);
        let c = load_str("", &with(&[("HERALD_APP_WEBHOOKS", r#"[{"url":"http://127.0.0.1:9/hook","event_types":["channel_occupied"]}]"#)])).unwrap();
        assert_eq!(c.apps[0].webhooks[0].url, "http://127.0.0.1:9/hook");
        let e = load_str("", &with(&[("HERALD_APP_WEBHOOKS", "[{")])).unwrap_err().to_string();
        assert!(e.contains("HERALD_APP_WEBHOOKS starts with [ but is not a JSON array"), "{e}");
        let e = load_str("", &with(&[("HERALD_APP_WEBHOOKS", "http://127.0.0.1:9/hook")])).unwrap_err().to_string();
        assert!(e.contains("HERALD_APP_WEBHOOKS") && e.contains("apps[0].webhooks"), "{e}");
    }

    #[test]
    fn the_example_in_the_configuration_docs_loads() {
        let docs = include_str!("../../docs/configuration.md");
        let example = docs.split("## Example").nth(1).expect("docs/configuration.md has an Example section");
        let toml_text = example.split("```toml").nth(1).and_then(|rest| rest.split("```").next()).expect("a toml block");
        let c = load_str(toml_text, &[]).unwrap_or_else(|e| panic!("the documented example does not load: {e}"));
        assert_eq!(c.apps[0].extra_keys.len(), 1);
        assert_eq!(c.apps[0].allowed_origins.len(), 2);
    }

    #[test]
    fn extra_keys_are_keys_of_the_app_and_unique_across_apps() {
        let apps = "[[apps]]\nid = \"1\"\nkey = \"main\"\nsecret = \"s1\"\nextra_keys = [{ key = \"mobile\", secret = \"s2\" }]\n";
        let c = load_str(apps, &[]).unwrap();
        assert_eq!(c.apps[0].keys().collect::<Vec<_>>(), ["main", "mobile"]);
        assert_eq!(c.apps[0].secret_for("mobile"), Some("s2"));
        assert_eq!(c.apps[0].secret_for("main"), Some("s1"));
        assert_eq!(c.apps[0].secret_for("other"), None);
        let clash = format!("{apps}[[apps]]\nid = \"2\"\nkey = \"mobile\"\nsecret = \"s3\"\n");
        let e = load_str(&clash, &[]).unwrap_err().to_string();
        assert!(e.contains("`apps[1].key` = \"mobile\" is used twice"), "{e}");
        let e = load_str("[[apps]]\nid = \"1\"\nkey = \"main\"\nsecret = \"s1\"\nextra_keys = [{ key = \"m\", secret = \"\" }]\n", &[]).unwrap_err().to_string();
        assert!(e.contains("`apps[0].extra_keys[0].secret` is missing or empty"), "{e}");
    }

    #[test]
    fn an_allowed_origin_that_cannot_match_stops_start_up_naming_it() {
        let e = load_str("[[apps]]\nid = \"1\"\nkey = \"k\"\nsecret = \"s\"\nallowed_origins = [\"https://app.example.com/chat\"]\n", &[]).unwrap_err().to_string();
        assert!(e.contains("`apps[0].allowed_origins[0]` = \"https://app.example.com/chat\" is not an origin pattern: an origin has no path"), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let e = load_str("prot = 1\n", &[]).unwrap_err().to_string();
        assert!(e.contains("prot"), "{e}");
        let e = load_str("[[apps]]\nid = \"1\"\nkey = \"k\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("apps[0].secret"), "{e}");
        for (text, key) in [("pong_timeout = 0\n", "`pong_timeout` must be at least 1"), ("webhook_queue_size = 0\n", "`webhook_queue_size` must be at least 1"), ("webhook_timeout = 0\n", "`webhook_timeout` must be at least 1"), ("workers = 100000\n", "`workers` = 100000 is more than 1024")] {
            let e = load_str(text, &[]).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        let hook = |headers: &str| format!("[[apps]]\nid = \"1\"\nkey = \"k\"\nsecret = \"s\"\n[[apps.webhooks]]\nurl = \"http://127.0.0.1:9/\"\nheaders = {headers}\n");
        let e = load_str(&hook(r#"{ "bad header" = "x" }"#), &[]).unwrap_err().to_string();
        assert!(e.contains("\"bad header\", which is not a header name"), "{e}");
        let e = load_str(&hook(r#"{ "X-A" = "line\nbreak" }"#), &[]).unwrap_err().to_string();
        assert!(e.contains("`apps[0].webhooks[0].headers.X-A` is not a header value"), "{e}");
        let e = load_str("log = \"herald=verbose\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("`log` (HERALD_LOG): \"herald=verbose\" is not a log filter"), "{e}");
        let e = load_str("port = \"abc\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("port"), "{e}");
        let e = load_str("[[apps]]\nid=\"1\"\nkey=\"k\"\nsecret=\"s\"\n[[apps]]\nid=\"1\"\nkey=\"k2\"\nsecret=\"s\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("apps[1].id"), "{e}");
    }

    #[test]
    fn no_apps_means_a_dev_app() {
        let (c, generated) = Config::load(None, Vec::new()).unwrap();
        assert!(generated);
        assert_eq!(c.apps[0].id, "1");
        assert_eq!(c.port, 6001);
    }
}
