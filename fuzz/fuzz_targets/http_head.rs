//! Any bytes as the start of an HTTP/1.1 connection: herald's request reader sorts them
//! (publish, WebSocket handshake, hand over to actix-http, malformed), and a handshake is
//! checked and answered. Nothing may panic, and a publish's ranges must lie inside the buffer.
#![no_main]

use herald::listener::request::{sort, Step};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match sort(data, 64 * 1024) {
        Step::Publish(publish) => {
            for range in [&publish.path, &publish.query, &publish.app_id] {
                assert!(range.start <= range.end && range.end <= publish.head_len && publish.head_len <= data.len());
            }
        }
        Step::Upgrade(upgrade, head_len) => {
            assert!(head_len <= data.len());
            let _ = upgrade.answer();
            let patterns = ["https://app.example.com".to_string(), "*.example.org".to_string()];
            let _ = herald::connection::origin::allowed(&patterns, upgrade.origin, upgrade.host);
        }
        Step::Partial | Step::HandOver | Step::Malformed(_) => {}
    }
});
