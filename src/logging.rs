//! Log output: human-readable or JSON lines, filtered per module.
//!
//! What is logged is chosen so that secrets, signatures and message payloads never appear:
//! connection lines carry app, socket id and close code; API errors carry the reason only.

use crate::config::{Config, LogFormat};

/// Installs the global subscriber. `HERALD_LOG_FILTER` overrides the configured `log` filter.
pub fn init(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG_FILTER")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match config.log_format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(false).flatten_event(true).try_init(),
    };
    // A second init (tests that start several servers in one process) keeps the first.
    let _ = result;
}
