//! herald: a self-hosted, Pusher-compatible real-time server.
//!
//! Layout (see docs/ARCHITECTURE.md for the longer tour):
//! - [`protocol`]: the Pusher wire protocol as pure data and functions (no I/O).
//! - [`config`]: the TOML file, `HERALD_*` variables and their validation.
//! - [`hub`]: node-local state: connections, channels, presence rosters.
//! - [`adapter`]: the cluster seam that publishes and answers queries cluster-wide.
//! - [`connection`]: the WebSocket upgrade and the one task per connection.
//! - [`http`]: the signed HTTP API and health endpoints.
//! - [`server`]: binding, running and graceful shutdown.
//! - [`workers`]: the worker threads, each accepting and serving its own connections.

pub mod adapter;
pub mod config;
pub mod connection;
pub mod console;
pub mod http;
pub mod hub;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod protocol;
pub mod reload;
pub mod rest_client;
pub mod server;
pub mod state;
pub mod tap;
pub mod tls;
pub mod webhooks;
pub mod workers;
