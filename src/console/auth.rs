//! The console's guard: 404 while the console is off, 401 without the right admin token.

use std::future::{ready, Ready};

use actix_web::http::header;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::ApiError;
use crate::state::State;

/// Proof that the request carried `Authorization: Bearer <console_token>`. Handlers that take
/// it never run otherwise.
pub struct ConsoleAuth;

impl FromRequest for ConsoleAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}

fn check(req: &HttpRequest) -> Result<ConsoleAuth, ApiError> {
    let state = req.app_data::<web::Data<State>>().expect("the server registers its state");
    ensure_enabled(state)?;
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .ok_or_else(|| ApiError::unauthorized("Missing console token: send 'Authorization: Bearer <console_token>'"))?;
    if token_matches(&state.config.console_token, presented.trim()) {
        Ok(ConsoleAuth)
    } else {
        tracing::warn!(peer = ?req.peer_addr(), "console request with a wrong token refused");
        Err(ApiError::unauthorized("Wrong console token"))
    }
}

/// 404, the same answer as for any unknown path, while `console_token` is empty.
pub fn ensure_enabled(state: &State) -> Result<(), ApiError> {
    if state.config.console_token.is_empty() {
        return Err(ApiError::not_found("Not found: the console is off (set console_token to enable it)"));
    }
    Ok(())
}

/// Constant-time comparison. Both sides are hashed first so that neither the content nor the
/// length of the expected token shows in the timing (`ct_eq` on slices of different lengths
/// returns early).
fn token_matches(expected: &str, presented: &str) -> bool {
    let expected = Sha256::digest(expected.as_bytes());
    let presented = Sha256::digest(presented.as_bytes());
    expected.ct_eq(&presented).into()
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn compares_whole_tokens() {
        let token = "0123456789abcdef0123456789abcdef";
        assert!(token_matches(token, token));
        assert!(!token_matches(token, "0123456789abcdef0123456789abcdeX"));
        assert!(!token_matches(token, "0123456789abcdef"));
        assert!(!token_matches(token, ""));
    }
}
