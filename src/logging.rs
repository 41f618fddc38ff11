//! Log output: human-readable or JSON lines, filtered per module.
//!
//! What is logged is chosen so that secrets, signatures and message payloads never appear:
//! connection lines carry app, socket id and close code; API errors carry the reason only.

use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, registry, EnvFilter, Layer};

use crate::config::{Config, LogFormat};

/// Installs the global subscriber. `HERALD_LOG_FILTER` overrides the configured `log` filter.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_from_env("HERALD_LOG_FILTER")
        .or_else(|_| EnvFilter::try_new(&config.log))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match config.log_format {
        // Colours only for a terminal: a log file or journald would keep the escape codes.
        LogFormat::Human => registry().with(fmt::layer().with_target(false).with_ansi(std::io::stdout().is_terminal()).with_filter(filter)).try_init(),
        LogFormat::Json => registry().with(fmt::layer().json().with_current_span(false).flatten_event(true).with_filter(filter)).try_init(),
    };
    // A second init (tests that start several servers in one process) keeps the first.
    let _ = result;
}
