//! Frames the server sends, encoded once into the exact bytes that go on the wire (a whole
//! WebSocket text frame, see [`super::ws::Frame`]).
//!
//! Every event except `pusher:error` carries `data` as a JSON *string* (double encoding);
//! `pusher:error` carries an object, which the Swift client requires.

use serde::Serialize;
use serde_json::Value;

use super::json_string::JsonString;
use super::ws::Frame;

#[derive(Serialize)]
struct Event<'a> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    data: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
}

/// An event with a string `data`, as relayed to subscribers.
pub fn event(event: &str, channel: Option<&str>, data: &str, user_id: Option<&str>) -> Frame {
    let event = Event { event, channel, data, user_id };
    Frame::text_with(|buf| serde_json::to_writer(buf, &event).expect("plain strings always serialize"))
}

/// An event on `channel` whose `data` is an already encoded JSON string, spliced in as is:
/// what the HTTP API publishes, without unescaping and escaping the text again.
pub fn channel_event(event: &str, channel: &str, data: &JsonString) -> Frame {
    let data = data.literal();
    // The frame's exact size when the names need no escaping, so it is allocated once.
    let size = r#"{"event":"","channel":"","data":}"#.len() + event.len() + channel.len() + data.len();
    Frame::text_with_capacity(size, |buf| {
        buf.extend_from_slice(br#"{"event":"#);
        serde_json::to_writer(&mut *buf, event).expect("a str always serializes");
        buf.extend_from_slice(br#","channel":"#);
        serde_json::to_writer(&mut *buf, channel).expect("a str always serializes");
        buf.extend_from_slice(br#","data":"#);
        buf.extend_from_slice(data.as_bytes());
        buf.push(b'}');
    })
}

/// An event whose `data` is a JSON value, double-encoded into a string.
pub fn event_json(name: &str, channel: Option<&str>, data: &Value) -> Frame {
    event(name, channel, &data.to_string(), None)
}

pub fn connection_established(socket_id: &str, activity_timeout: u64) -> Frame {
    // Every connection starts with this frame: written directly rather than through a JSON
    // value serialized twice. A socket id is digits and a dot, which need no escaping.
    if !socket_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
        return event_json(
            "pusher:connection_established",
            None,
            &serde_json::json!({ "socket_id": socket_id, "activity_timeout": activity_timeout }),
        );
    }
    Frame::text_with_capacity(96 + socket_id.len(), |buf| {
        use std::io::Write;
        write!(
            buf,
            r#"{{"event":"pusher:connection_established","data":"{{\"activity_timeout\":{activity_timeout},\"socket_id\":\"{socket_id}\"}}"}}"#
        )
        .expect("writing to a Vec cannot fail")
    })
}

pub fn pong() -> Frame {
    Frame::text(r#"{"event":"pusher:pong","data":"{}"}"#)
}

pub fn ping() -> Frame {
    Frame::text(r#"{"event":"pusher:ping","data":"{}"}"#)
}

/// `pusher:error`, fields in the order a `serde_json::Value` would give them.
#[derive(Serialize)]
struct ErrorEvent<'a> {
    data: ErrorData<'a>,
    event: &'static str,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    code: Option<u16>,
    message: &'a str,
}

/// `pusher:error` with an object `data`; `code` is null for errors that keep the socket open.
/// Every close herald starts sends one (a shutdown, thousands at once), so it is serialized
/// from borrowed fields rather than built as a JSON value first.
pub fn error(code: Option<u16>, message: &str) -> Frame {
    let error = ErrorEvent { data: ErrorData { code, message }, event: "pusher:error" };
    Frame::text_with(|buf| serde_json::to_writer(buf, &error).expect("plain fields always serialize"))
}

pub fn subscription_succeeded(channel: &str, data: &Value) -> Frame {
    event_json("pusher_internal:subscription_succeeded", Some(channel), data)
}

pub fn subscription_succeeded_empty(channel: &str) -> Frame {
    event("pusher_internal:subscription_succeeded", Some(channel), "{}", None)
}

pub fn member_added(channel: &str, user_id: &Value, user_info: &Value) -> Frame {
    event_json("pusher_internal:member_added", Some(channel), &serde_json::json!({ "user_id": user_id, "user_info": user_info }))
}

pub fn member_removed(channel: &str, user_id: &Value) -> Frame {
    event_json("pusher_internal:member_removed", Some(channel), &serde_json::json!({ "user_id": user_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_is_double_encoded() {
        let f = connection_established("123.456", 120);
        assert_eq!(f.text_payload(), r#"{"event":"pusher:connection_established","data":"{\"activity_timeout\":120,\"socket_id\":\"123.456\"}"}"#);
        // The written form is the serialized one.
        let serialized = event_json("pusher:connection_established", None, &serde_json::json!({ "socket_id": "123.456", "activity_timeout": 120 }));
        assert_eq!(f.text_payload(), serialized.text_payload());
        let odd = connection_established("a\"b", 5);
        let v: Value = serde_json::from_str(odd.text_payload()).unwrap();
        let data: Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["socket_id"], "a\"b");
    }

    #[test]
    fn error_data_is_an_object() {
        let v: Value = serde_json::from_str(error(Some(4001), "x").text_payload()).unwrap();
        assert_eq!(v["data"]["code"], 4001);
        assert_eq!(v["data"]["message"], "x");
        let v: Value = serde_json::from_str(error(None, "y").text_payload()).unwrap();
        assert!(v["data"]["code"].is_null());
    }

    #[test]
    fn error_is_byte_for_byte_the_json_value_form() {
        for (code, message) in [(Some(4200), "Server shutting down"), (None, "quote \" and \\ and é\n"), (Some(4100), "")] {
            let value = serde_json::json!({ "event": "pusher:error", "data": { "code": code, "message": message } });
            assert_eq!(error(code, message).text_payload(), value.to_string());
        }
    }

    #[test]
    fn channel_event_splices_the_encoded_data_and_matches_the_serialized_form() {
        let data = JsonString::encode(r#"{"msg":"café \ "}"#);
        let spliced = channel_event("my-event", "private-c", &data);
        let serialized = event("my-event", Some("private-c"), &data.decode(), None);
        assert_eq!(spliced.text_payload(), serialized.text_payload());
        let v: Value = serde_json::from_str(channel_event("a\"b", "c", &data).text_payload()).unwrap();
        assert_eq!(v["event"], "a\"b");
        assert_eq!(v["data"], data.decode());
    }

    #[test]
    fn events_keep_data_as_a_string() {
        let f = event("my-event", Some("c"), r#"{"a":1}"#, Some("7"));
        assert_eq!(f.text_payload(), r#"{"event":"my-event","channel":"c","data":"{\"a\":1}","user_id":"7"}"#);
        let v: Value = serde_json::from_str(subscription_succeeded_empty("c").text_payload()).unwrap();
        assert_eq!(v["data"], "{}");
    }
}
