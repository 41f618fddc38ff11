//! The checks no type can express: ranges, pairs of settings that go together, unique ids and
//! keys, patterns and URLs. Each failure names the key and what to write instead.

use std::collections::HashSet;
use std::path::Path;

use super::{AdapterKind, Config, ConfigError, WEBHOOK_EVENT_TYPES};

/// The most worker threads `workers` may ask for.
const MAX_WORKERS: usize = 1024;

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let fail = |msg: String| Err(ConfigError(msg));
        if self.port == 0 {
            return fail("`port` must be between 1 and 65535 (HERALD_PORT)".into());
        }
        if self.activity_timeout == 0 {
            return fail("`activity_timeout` must be at least 1 second; pusher-js refuses a handshake without it (120 is the usual value)".into());
        }
        if self.connection_queue_size == 0 {
            return fail("`connection_queue_size` must be at least 1 (1024 is the default)".into());
        }
        if self.max_message_bytes < 1024 {
            return fail("`max_message_bytes` must be at least 1024".into());
        }
        // Zero would not mean "off" for these: no wait for a pong, a webhook queue that cannot
        // hold one event, a webhook request that fails before it starts.
        for (key, value, usual) in [
            ("pong_timeout", self.pong_timeout, 30),
            ("webhook_queue_size", self.webhook_queue_size as u64, 10_000),
            ("webhook_timeout", self.webhook_timeout, 5),
        ] {
            if value == 0 {
                return fail(format!("`{key}` must be at least 1 ({usual} is the default; HERALD_{})", key.to_ascii_uppercase()));
            }
        }
        if self.workers > MAX_WORKERS {
            return fail(format!(
                "`workers` = {} is more than {MAX_WORKERS}; each worker is a thread with its own event loop, so use about one per CPU (0 picks that)",
                self.workers
            ));
        }
        if let Err(e) = crate::logging::parse_filter(&self.log) {
            return fail(format!("`log` (HERALD_LOG): {e}"));
        }
        if self.tls_cert.is_empty() != self.tls_key.is_empty() {
            return fail("`tls_cert` and `tls_key` go together: set both (PEM files) to enable TLS, or neither".into());
        }
        for (key, path) in [("tls_cert", &self.tls_cert), ("tls_key", &self.tls_key)] {
            if !path.is_empty() && !Path::new(path).is_file() {
                return fail(format!("`{key}` = \"{path}\" is not a readable file"));
            }
        }
        if !self.console_token.is_empty() && self.console_token.len() < 16 {
            return fail("`console_token` must be at least 16 characters (it guards the debug console)".into());
        }
        if self.metrics_enabled && self.metrics_port == self.port && self.metrics_host == self.host {
            return fail("`metrics_port` must differ from `port` (metrics use their own listener); or set metrics_enabled = false".into());
        }
        if self.adapter == AdapterKind::Redis {
            match url::Url::parse(&self.redis_url) {
                Ok(u) if matches!(u.scheme(), "redis" | "rediss" | "unix" | "redis+unix") => {}
                _ => return fail(format!("`redis_url` = \"{}\" is not a Redis URL; use e.g. redis://127.0.0.1:6379 (HERALD_REDIS_URL)", self.redis_url)),
            }
            if self.prefix.is_empty() || self.prefix.contains(char::is_whitespace) {
                return fail("`prefix` must be a non-empty word without spaces (HERALD_PREFIX)".into());
            }
            if self.redis_timeout_ms == 0 {
                return fail("`redis_timeout_ms` must be at least 1 (2000 is the default; HERALD_REDIS_TIMEOUT_MS)".into());
            }
            if self.node_timeout < 3 {
                return fail("`node_timeout` must be at least 3 seconds (nodes heartbeat every third of it)".into());
            }
        }
        let mut ids = HashSet::new();
        let mut keys = HashSet::new();
        for (i, app) in self.apps.iter().enumerate() {
            let at = format!("apps[{i}]");
            for (field, value) in [("id", &app.id), ("key", &app.key), ("secret", &app.secret)] {
                if value.trim().is_empty() {
                    return fail(format!("`{at}.{field}` is missing or empty; every app needs an id, a key and a secret"));
                }
            }
            let key_fields = std::iter::once((format!("{at}.key"), &app.key))
                .chain(app.extra_keys.iter().enumerate().map(|(j, pair)| (format!("{at}.extra_keys[{j}].key"), &pair.key)));
            for (field, key) in key_fields {
                if !key.bytes().all(|c| c.is_ascii_graphic() && c != b':' && c != b'/' && c != b'?') || key.is_empty() {
                    return fail(format!("`{field}` may not be empty or contain spaces, ':', '/' or '?' (it appears in URLs and auth tokens)"));
                }
                if !keys.insert(key.clone()) {
                    return fail(format!("`{field}` = \"{key}\" is used twice; every key of every app must be unique"));
                }
            }
            for (j, pair) in app.extra_keys.iter().enumerate() {
                if pair.secret.trim().is_empty() {
                    return fail(format!("`{at}.extra_keys[{j}].secret` is missing or empty; every key needs its secret"));
                }
            }
            if !app.id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') {
                return fail(format!("`{at}.id` may contain only letters, digits, '-' and '_' (use digits: the Python library requires a numeric id)"));
            }
            if !ids.insert(app.id.clone()) {
                return fail(format!("`{at}.id` = \"{}\" is used by two apps; app ids must be unique", app.id));
            }
            for (j, pattern) in app.allowed_origins.iter().enumerate() {
                if let Err(reason) = crate::connection::origin::check_pattern(pattern) {
                    return fail(format!(
                        "`{at}.allowed_origins[{j}]` = \"{pattern}\" is not an origin pattern: {reason} (e.g. \"https://app.example.com\", \"*.example.com\", \"localhost:3000\" or \"*\")"
                    ));
                }
            }
            for (field, value) in [
                ("max_client_events_per_second", app.max_client_events_per_second as usize),
                ("max_presence_members", app.max_presence_members),
                ("max_presence_user_info_bytes", app.max_presence_user_info_bytes),
                ("max_channel_name_length", app.max_channel_name_length),
                ("max_event_name_length", app.max_event_name_length),
                ("max_event_data_bytes", app.max_event_data_bytes),
                ("max_channels_per_trigger", app.max_channels_per_trigger),
                ("max_batch_size", app.max_batch_size),
                ("max_watchlist_size", app.max_watchlist_size),
                ("authorization_timeout", app.authorization_timeout as usize),
                ("cache_ttl", app.cache_ttl as usize),
            ] {
                if value == 0 {
                    return fail(format!("`{at}.{field}` must be at least 1"));
                }
            }
            if app.cache_ttl > 1800 {
                return fail(format!("`{at}.cache_ttl` is {} seconds; cache channels keep events at most 1800 seconds (30 minutes)", app.cache_ttl));
            }
            for (j, hook) in app.webhooks.iter().enumerate() {
                let at = format!("{at}.webhooks[{j}]");
                match url::Url::parse(&hook.url) {
                    Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                    _ => return fail(format!("`{at}.url` = \"{}\" is not an http:// or https:// URL", hook.url)),
                }
                for t in hook.event_types.iter().flatten() {
                    if !WEBHOOK_EVENT_TYPES.contains(&t.as_str()) {
                        return fail(format!("`{at}.event_types` has unknown type \"{t}\"; use any of {}", WEBHOOK_EVENT_TYPES.join(", ")));
                    }
                }
                for (name, value) in &hook.headers {
                    let lower = name.to_ascii_lowercase();
                    if lower == "content-type" || lower.starts_with("x-pusher-") {
                        return fail(format!("`{at}.headers` may not set \"{name}\": herald sets the Pusher headers itself"));
                    }
                    // Refused here rather than failing every delivery later.
                    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        return fail(format!("`{at}.headers` has \"{name}\", which is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)"));
                    }
                    if reqwest::header::HeaderValue::from_str(value).is_err() {
                        return fail(format!("`{at}.headers.{name}` is not a header value (no line breaks or control characters)"));
                    }
                }
            }
            if app.max_event_data_bytes > self.max_request_bytes {
                return fail(format!(
                    "`{at}.max_event_data_bytes` ({}) exceeds `max_request_bytes` ({}); raise max_request_bytes",
                    app.max_event_data_bytes, self.max_request_bytes
                ));
            }
        }
        Ok(())
    }
}
