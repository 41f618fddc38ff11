//! herald's conformance suite.
//!
//! Layout:
//! - [`harness`]: what the wire-level tests in `tests/` are built on: an in-process
//!   [`TestServer`] on `127.0.0.1:0`, a WebSocket client ([`WsClient`]) whose waits fail the
//!   test on timeout, a [`RawSocket`] that never answers pings nor reads unless asked (for
//!   liveness and slow-consumer tests), a signed HTTP API client ([`Api`]) and channel-auth helpers.
//! - `tests/*.rs`: one file per protocol concept (handshake, liveness, subscriptions, presence,
//!   client events, HTTP API, limits, shutdown). Each asserts exact wire shapes and names the
//!   section of `pusher-protocol.md` it checks.

pub mod harness;

pub use harness::{
    api::{Api, ApiResponse},
    auth::{presence_auth, private_auth},
    raw::{RawFrame, RawSocket},
    server::{IntoConfig, TestApp, TestServer, DEFAULT_CONFIG},
    ws::{assert_error_shape, assert_keys, data_object, WsClient, WAIT},
};
