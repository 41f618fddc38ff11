//! Any bytes as what a client sends after the handshake: decoded into frames (64 KiB limit),
//! joined into messages, and every text message parsed as a Pusher message, as the
//! connection task does. Errors are fine; panics and unbounded buffering are not.
#![no_main]

use bytes::BytesMut;
use herald::protocol::ws::{decode, Assembler, Message};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let mut assembler = Assembler::default();
    loop {
        match decode(&mut buf, MAX) {
            Ok(Some(frame)) => match assembler.push(frame, MAX) {
                Ok(Some(Message::Text(text))) => {
                    assert!(text.len() <= MAX);
                    let _ = herald::protocol::inbound::parse(&text);
                }
                Ok(_) => {}
                Err(_) => break,
            },
            Ok(None) | Err(_) => break,
        }
    }
});
