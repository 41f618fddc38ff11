//! nexora: the real-time layer of a bounty marketplace (guilds, DMs, disputes, trust scores),
//! built on herald exactly as it would be on pusher.com: the server publishes over herald's
//! signed HTTP API and signs channel authorizations; browsers connect with pusher-js.
//!
//! Layout:
//! - [`channels`] builds and parses every channel name; [`events`] names every event.
//! - [`access`] decides who may join which channel (and so who may post where).
//! - [`auth`]: argon2 passwords, the signed session cookie, the `CurrentUser` extractor.
//! - [`db`]: the sqlx `Any` pool (SQLite or PostgreSQL), one file per table group, seed data.
//! - [`realtime`]: publishing through `herald::rest_client`, with failure counting.
//! - [`messaging`] and [`notify`]: the app's writes, each stored first and published second.
//! - [`cache`]: the moka-based TTL cache with single-flight get-or-set.
//! - [`jobs`]: trust decay and the oracle monitor, their scheduler and run records.
//! - [`http`]: routes and handlers; [`server`]: state, binding and running.
//!
//! **Architecture invariant:** nexora never signs anything itself; all herald signatures come
//! from `herald::rest_client`, so there is one copy of the signing code.

pub mod access;
pub mod auth;
pub mod cache;
pub mod channels;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod http;
pub mod jobs;
pub mod messaging;
pub mod notify;
pub mod realtime;
pub mod server;
