//! The debug console at `/console` (placeholder; being built).

use actix_web::web;

/// Registers the console's routes (none while the console is being built).
pub fn routes(_cfg: &mut web::ServiceConfig) {}
