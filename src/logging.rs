//! Log output: human-readable or JSON lines, filtered per module.
//!
//! What is logged is chosen so that secrets, signatures and message payloads never appear:
//! connection lines carry app, socket id and close code; API errors carry the reason only.
//!
//! The filter sits behind a reload handle so SIGHUP can change it (`log`) without a restart:
//! turning on `debug` for one module while a problem is live is the point of it. A callsite
//! the filter rejects is rejected once and cached, so the handle costs nothing per event
//! that is not logged.

use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, registry, reload, EnvFilter, Layer, Registry};

use crate::config::{Config, LogFormat};

/// The variable that overrides `log` (for a one-off run, or a test harness).
const OVERRIDE: &str = "HERALD_LOG_FILTER";

/// Replaces the installed filter; set once the subscriber is installed.
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Parses a filter in `tracing`'s syntax, with the error worded for the operator.
pub fn parse_filter(text: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder().parse(text).map_err(|e| {
        format!("\"{text}\" is not a log filter ({e}); use a level (error, warn, info, debug, trace) or e.g. info,herald::http=debug")
    })
}

/// Installs the global subscriber. `HERALD_LOG_FILTER` overrides the configured `log` filter;
/// an invalid one is an error naming the variable.
pub fn init(config: &Config) -> Result<(), String> {
    let filter = match std::env::var(OVERRIDE) {
        Ok(text) => parse_filter(&text).map_err(|e| format!("{OVERRIDE}: {e}"))?,
        // Validated with the rest of the configuration.
        Err(_) => parse_filter(&config.log).map_err(|e| format!("`log`: {e}"))?,
    };
    let (filter, handle) = reload::Layer::new(filter);
    let output = match config.log_format {
        // Colours only for a terminal: a log file or journald would keep the escape codes.
        LogFormat::Human => fmt::layer().with_target(false).with_ansi(std::io::stdout().is_terminal()).boxed(),
        LogFormat::Json => fmt::layer().json().with_current_span(false).flatten_event(true).boxed(),
    };
    // A second init (tests that start several servers in one process) keeps the first.
    if registry().with(filter).with(output).try_init().is_ok() {
        let _ = FILTER.set(handle);
    }
    Ok(())
}

/// Applies a reloaded `log`. Returns false, changing nothing, when `HERALD_LOG_FILTER`
/// overrides it (the variable wins, as at start-up) or when no subscriber was installed here.
pub fn set_filter(text: &str) -> Result<bool, String> {
    if std::env::var_os(OVERRIDE).is_some() {
        return Ok(false);
    }
    let filter = parse_filter(text)?;
    match FILTER.get() {
        Some(handle) => handle.reload(filter).map(|()| true).map_err(|e| format!("the log filter could not be replaced: {e}")),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_or_say_what_to_write() {
        assert!(parse_filter("warn").is_ok());
        assert!(parse_filter("info,herald::http=debug").is_ok());
        let e = parse_filter("herald=verbose").unwrap_err();
        assert!(e.contains("\"herald=verbose\" is not a log filter") && e.contains("use a level"), "{e}");
    }
}
