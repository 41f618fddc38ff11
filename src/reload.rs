//! Reloading the configuration on `SIGHUP`, without dropping a socket.
//!
//! What a reload applies: the apps (added, changed, removed; see [`Shared::replace_apps`]), the
//! log filter (`log`), and the TLS certificate and key, read again from their files. Every
//! other setting shapes something built once at start (the listener, the workers, the adapter,
//! the webhook dispatcher, the log format), so a changed one is named in the log as waiting
//! for a restart rather than half applied. A file that does not load leaves everything as it
//! was.
//!
//! [`Shared::replace_apps`]: crate::state::Shared::replace_apps

use crate::config::{Config, ConfigError};
use crate::metrics::{metrics, ResultLabel};
use crate::state::State;
use crate::tls::ReloadableCert;

/// Loads the configuration the way start-up did (same file, same variables, same overrides).
pub type Loader = Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// Loads the configuration again and applies what can change while running. Never fails the
/// server: a problem is logged (with the key and the fix, as at start-up) and counted.
pub fn reload(state: &State, load: Option<&Loader>, cert: Option<&ReloadableCert>) {
    let config_loaded = match load.map(|load| load()) {
        Some(Ok(config)) => {
            apply(state, &config);
            true
        }
        Some(Err(e)) => {
            tracing::error!("configuration reload failed, the running configuration stays: {e}");
            false
        }
        // Started from code (tests, embedding) with no way to read the configuration again.
        None => true,
    };
    let cert_loaded = match cert.map(ReloadableCert::reload) {
        Some(Ok(())) => {
            tracing::info!("TLS certificate reloaded");
            true
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "TLS certificate reload failed; keeping the current one");
            false
        }
        None => true,
    };
    let result = if config_loaded && cert_loaded { "applied" } else { "failed" };
    metrics().config_reloads.get_or_create(&ResultLabel { result }).inc();
}

fn apply(state: &State, config: &Config) {
    let waiting = needs_restart(&state.config, config);
    match crate::logging::set_filter(&config.log) {
        Ok(true) => {}
        Ok(false) if config.log != state.config.log => {
            tracing::warn!("`log` changed in the configuration, but HERALD_LOG_FILTER overrides it; the filter stays")
        }
        Ok(false) => {}
        Err(e) => tracing::error!("`log` could not be applied: {e}"),
    }
    let changes = state.replace_apps(&config.apps);
    tracing::info!(added = ?changes.added, changed = ?changes.changed, removed = ?changes.removed, "configuration reloaded");
    if !waiting.is_empty() {
        tracing::warn!(
            "configuration reloaded; these settings differ from the running ones and take effect only at a restart: {}",
            waiting.join(", ")
        );
    }
}

/// Keys a reload applies, so never reported as waiting for a restart.
const APPLIED: [&str; 2] = ["apps", "log"];

/// The top-level keys (all but [`APPLIED`]) whose value in `new` differs from `running`.
fn needs_restart(running: &Config, new: &Config) -> Vec<String> {
    let as_table = |c: &Config| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (running, new) = (as_table(running), as_table(new));
    new.iter().filter(|(key, value)| !APPLIED.contains(&key.as_str()) && running.get(*key) != Some(*value)).map(|(key, _)| key.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_top_level_keys_wait_for_a_restart() {
        let running = Config::default();
        let mut new = Config::default();
        new.apps.push(Config::dev_app());
        assert!(needs_restart(&running, &new).is_empty(), "apps are applied, never reported");
        new.log = "debug".into();
        assert!(needs_restart(&running, &new).is_empty(), "the log filter is applied, never reported");
        new.activity_timeout = 30;
        new.tls_cert = "/etc/other.pem".into();
        let mut waiting = needs_restart(&running, &new);
        waiting.sort();
        assert_eq!(waiting, ["activity_timeout", "tls_cert"]);
    }
}
