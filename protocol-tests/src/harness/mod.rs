//! The test harness: a real herald in-process, and clients that speak to it over sockets.
//!
//! Every wait here is bounded and panics with what it was waiting for, so a missing
//! behaviour fails its test instead of hanging it.

pub mod api;
pub mod auth;
pub mod http1;
pub mod process;
pub mod raw;
pub mod server;
pub mod ws;
