//! Any `allowed_origins` entries (every line after the first) against any `Origin` header
//! (the first line), the first entry doubling as the `Host` header: validated as the
//! configuration does, then matched.
#![no_main]

use herald::connection::origin::{allowed, check_pattern};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (origin, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let patterns: Vec<String> = String::from_utf8_lossy(rest).lines().map(str::to_string).collect();
    for pattern in &patterns {
        let _ = check_pattern(pattern);
    }
    let _ = allowed(&patterns, Some(origin), patterns.first().map(String::as_bytes));
});
