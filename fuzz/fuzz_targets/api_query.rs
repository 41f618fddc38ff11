//! Any text as a signed HTTP API request's query string and body: parsed and verified as
//! the API does before it looks at anything else.
#![no_main]

use herald::protocol::api_signature::{parse_query, verify, SignedRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (query, body) = text.split_once('\n').unwrap_or((text, ""));
    let params = parse_query(query);
    let request = SignedRequest { method: "POST", path: "/apps/1/events", params: &params, body: body.as_bytes() };
    let _ = verify(&request, "key", "secret", 1_700_000_000);
});
