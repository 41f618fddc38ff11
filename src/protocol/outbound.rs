//! Frames the server sends, encoded once into the exact bytes that go on the wire.
//!
//! Every event except `pusher:error` carries `data` as a JSON *string* (double encoding);
//! `pusher:error` carries an object, which the Swift client requires.

use bytestring::ByteString;
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
struct Frame<'a> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    data: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
}

/// An event with a string `data`, as relayed to subscribers.
pub fn event(event: &str, channel: Option<&str>, data: &str, user_id: Option<&str>) -> ByteString {
    let frame = Frame { event, channel, data, user_id };
    serde_json::to_string(&frame).expect("plain strings always serialize").into()
}

/// An event whose `data` is a JSON value, double-encoded into a string.
pub fn event_json(name: &str, channel: Option<&str>, data: &Value) -> ByteString {
    event(name, channel, &data.to_string(), None)
}

pub fn connection_established(socket_id: &str, activity_timeout: u64) -> ByteString {
    event_json(
        "pusher:connection_established",
        None,
        &serde_json::json!({ "socket_id": socket_id, "activity_timeout": activity_timeout }),
    )
}

pub fn pong() -> ByteString {
    ByteString::from_static(r#"{"event":"pusher:pong","data":"{}"}"#)
}

pub fn ping() -> ByteString {
    ByteString::from_static(r#"{"event":"pusher:ping","data":"{}"}"#)
}

/// `pusher:error` with an object `data`; `code` is null for errors that keep the socket open.
pub fn error(code: Option<u16>, message: &str) -> ByteString {
    serde_json::json!({ "event": "pusher:error", "data": { "code": code, "message": message } })
        .to_string()
        .into()
}

pub fn subscription_succeeded(channel: &str, data: &Value) -> ByteString {
    event_json("pusher_internal:subscription_succeeded", Some(channel), data)
}

pub fn subscription_succeeded_empty(channel: &str) -> ByteString {
    event("pusher_internal:subscription_succeeded", Some(channel), "{}", None)
}

pub fn member_added(channel: &str, user_id: &Value, user_info: &Value) -> ByteString {
    event_json("pusher_internal:member_added", Some(channel), &serde_json::json!({ "user_id": user_id, "user_info": user_info }))
}

pub fn member_removed(channel: &str, user_id: &Value) -> ByteString {
    event_json("pusher_internal:member_removed", Some(channel), &serde_json::json!({ "user_id": user_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_is_double_encoded() {
        let f = connection_established("123.456", 120);
        assert_eq!(&*f, r#"{"event":"pusher:connection_established","data":"{\"activity_timeout\":120,\"socket_id\":\"123.456\"}"}"#);
    }

    #[test]
    fn error_data_is_an_object() {
        let v: Value = serde_json::from_str(&error(Some(4001), "x")).unwrap();
        assert_eq!(v["data"]["code"], 4001);
        assert_eq!(v["data"]["message"], "x");
        let v: Value = serde_json::from_str(&error(None, "y")).unwrap();
        assert!(v["data"]["code"].is_null());
    }

    #[test]
    fn events_keep_data_as_a_string() {
        let f = event("my-event", Some("c"), r#"{"a":1}"#, Some("7"));
        assert_eq!(&*f, r#"{"event":"my-event","channel":"c","data":"{\"a\":1}","user_id":"7"}"#);
        let v: Value = serde_json::from_str(&subscription_succeeded_empty("c")).unwrap();
        assert_eq!(v["data"], "{}");
    }
}
