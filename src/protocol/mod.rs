//! The Pusher Channels wire protocol: names, frames, signatures and codes.
//!
//! **Architecture invariant:** nothing in this module knows about actix, tokio or the hub.
//! It is pure data and pure functions, so it can be unit-tested against the spec's vectors
//! and reused by the REST client and the benchmark tool.

pub mod api_signature;
pub mod channel;
pub mod close_code;
pub mod inbound;
pub mod json_string;
pub mod names;
pub mod outbound;
pub mod socket_id;
pub mod token;
pub mod ws;

/// The protocol versions herald speaks. Pysher sends 6, the Java client 5, pusher-js 7.
pub const SUPPORTED_PROTOCOLS: std::ops::RangeInclusive<u32> = 5..=7;
