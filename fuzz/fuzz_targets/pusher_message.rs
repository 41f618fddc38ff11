//! Any text as one WebSocket message: parsed as a Pusher message, and a subscription's
//! token checked as it would be, before anything else looks at it.
#![no_main]

use herald::protocol::inbound::{parse, ClientMessage};
use herald::protocol::{names, token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text) {
        Ok(ClientMessage::Subscribe(sub)) => {
            let _ = names::validate_channel_name(&sub.channel, 200);
            let to_sign = token::channel_string_to_sign("123.456", &sub.channel, sub.channel_data.as_deref());
            let _ = token::verify(sub.auth.as_deref(), "key", "secret", &to_sign);
        }
        Ok(ClientMessage::ClientEvent { event, .. }) => {
            let _ = names::validate_event_name(&event, 200);
        }
        Ok(ClientMessage::Signin { auth, user_data: Some(user_data) }) => {
            let to_sign = token::user_string_to_sign("123.456", &user_data);
            let _ = token::verify(auth.as_deref(), "key", "secret", &to_sign);
        }
        _ => {}
    }
});
