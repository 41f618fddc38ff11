//! Channel authorization tokens, as an app's auth endpoint would return them, built with
//! herald's own `protocol::token` (one copy of the algorithm).

use herald::protocol::token;

use super::server::TestApp;

/// `key:signature` for a private or encrypted channel.
pub fn private_auth(app: &TestApp, socket_id: &str, channel: &str) -> String {
    sign(app, &token::channel_string_to_sign(socket_id, channel, None))
}

/// `key:signature` for a presence channel with `channel_data` (the exact string sent).
pub fn presence_auth(app: &TestApp, socket_id: &str, channel: &str, channel_data: &str) -> String {
    sign(app, &token::channel_string_to_sign(socket_id, channel, Some(channel_data)))
}

fn sign(app: &TestApp, string_to_sign: &str) -> String {
    format!("{}:{}", app.key, token::sign(&app.secret, string_to_sign.as_bytes()))
}
