//! Log output: human-readable or JSON lines, filtered per module.
//!
//! What is logged is chosen so that secrets, signatures and message payloads never appear:
//! connection lines carry app, socket id and close code; API errors carry the reason only.

use std::sync::atomic::{AtomicBool, Ordering};
use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_subscriber::filter::{FilterExt, LevelFilter};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, registry, EnvFilter, Layer};

use crate::config::{Config, LogFormat};

/// Installs the global subscriber. `HERALD_LOG_FILTER` overrides the configured `log` filter.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_from_env("HERALD_LOG_FILTER")
        .or_else(|_| EnvFilter::try_new(&config.log))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = filter.and(QuietAcceptLoop);
    let result = match config.log_format {
        LogFormat::Human => registry().with(fmt::layer().with_target(false).with_filter(filter)).try_init(),
        LogFormat::Json => registry().with(fmt::layer().json().with_current_span(false).flatten_event(true).with_filter(filter)).try_init(),
    };
    // A second init (tests that start several servers in one process) keeps the first.
    let _ = result;
}

/// Set once a shutdown has closed the listening socket.
static LISTENER_CLOSED: AtomicBool = AtomicBool::new(false);

/// From now on, lines from actix-server's accept loop are dropped. At shutdown herald shuts
/// the listening socket down under that loop on purpose (so new connections are refused at
/// once), and the loop reports the accept that then fails as an `ERROR`, which would have an
/// operator chase a fault that is not there.
pub fn listener_closed() {
    LISTENER_CLOSED.store(true, Ordering::Relaxed);
}

/// Drops actix-server's accept-loop lines once [`listener_closed`] was called.
struct QuietAcceptLoop;

const ACCEPT_LOOP: &str = "actix_server::accept";

impl<S> Filter<S> for QuietAcceptLoop {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        !(meta.target() == ACCEPT_LOOP && LISTENER_CLOSED.load(Ordering::Relaxed))
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        // Decided per event for the accept loop (the answer changes at shutdown); always
        // yes for everything else, so the check costs nothing elsewhere.
        if meta.target() == ACCEPT_LOOP {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }

    /// No bound of its own, said explicitly: combined with `and`, a filter without a hint
    /// makes the whole filter's hint "none", so the `log` facade's max level (which
    /// tracing-subscriber sets from the hint at init) would stay at TRACE, and every
    /// dependency's `log::debug!`/`trace!` (actix-server logs per connection) would be
    /// formatted into a record and dispatched before being dropped.
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::Registry;

    #[test]
    fn the_combined_filter_keeps_the_configured_level_as_its_bound() {
        let filter = EnvFilter::new("warn").and(QuietAcceptLoop);
        assert_eq!(Filter::<Registry>::max_level_hint(&filter), Some(LevelFilter::WARN));
        let filter = EnvFilter::new("info,herald=debug").and(QuietAcceptLoop);
        assert_eq!(Filter::<Registry>::max_level_hint(&filter), Some(LevelFilter::DEBUG));
    }
}
