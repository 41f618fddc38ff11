//! Frames a client sends, parsed once into a typed message.
//!
//! Clients send `data` as an object (pusher-js, Java, Swift) or, per older docs, as a JSON
//! string; both are accepted everywhere.

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Envelope {
    event: Option<String>,
    channel: Option<String>,
    #[serde(default)]
    data: Value,
}

/// One client-to-server message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Ping,
    Pong,
    Subscribe(Subscribe),
    Unsubscribe { channel: String },
    Signin { auth: Option<String>, user_data: Option<String> },
    /// A `client-*` event; `data` is already in its relayed string form.
    ClientEvent { event: String, channel: Option<String>, data: String },
    /// An event name the server does not handle (e.g. an unknown `pusher:` event).
    Unknown { event: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subscribe {
    pub channel: String,
    pub auth: Option<String>,
    pub channel_data: Option<String>,
}

/// Why a frame could not be understood; sent back as a `pusher:error` with code null.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

/// Parses one text frame.
pub fn parse(text: &str) -> Result<ClientMessage, ParseError> {
    // serde's own texts name herald's types ("expected struct Envelope"): say it in the
    // protocol's words, with the position for JSON that does not parse.
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
        ParseError(match e.classify() {
            serde_json::error::Category::Data => "Invalid message: expected a JSON object with a string 'event'".into(),
            _ => format!("Invalid message: not valid JSON (line {}, column {})", e.line(), e.column()),
        })
    })?;
    let event = envelope.event.ok_or_else(|| ParseError("Invalid message: the 'event' field is missing".into()))?;
    let data = unwrap_string_data(envelope.data);
    Ok(match event.as_str() {
        "pusher:ping" => ClientMessage::Ping,
        "pusher:pong" => ClientMessage::Pong,
        "pusher:subscribe" => ClientMessage::Subscribe(Subscribe {
            channel: required_str(&data, "channel", &event)?,
            auth: optional_str(&data, "auth"),
            channel_data: data.get("channel_data").and_then(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            }),
        }),
        "pusher:unsubscribe" => ClientMessage::Unsubscribe { channel: required_str(&data, "channel", &event)? },
        "pusher:signin" => ClientMessage::Signin {
            auth: optional_str(&data, "auth"),
            user_data: data.get("user_data").and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }),
        },
        name if name.starts_with("client-") => ClientMessage::ClientEvent {
            event: event.clone(),
            channel: envelope.channel,
            data: relayed_data(data),
        },
        _ => ClientMessage::Unknown { event },
    })
}

/// Older clients send `data` as a JSON string; decode it when it holds an object.
fn unwrap_string_data(data: Value) -> Value {
    if let Value::String(s) = &data {
        if let Ok(parsed @ Value::Object(_)) = serde_json::from_str::<Value>(s) {
            return parsed;
        }
    }
    data
}

/// Client event payloads are relayed as a JSON string: strings pass through, anything else is
/// serialized compactly (receivers such as the Swift client need a string).
fn relayed_data(data: Value) -> String {
    match data {
        Value::String(s) => s,
        Value::Null => "{}".to_string(),
        other => other.to_string(),
    }
}

fn required_str(data: &Value, field: &str, event: &str) -> Result<String, ParseError> {
    match data.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(ParseError(format!("Invalid {event}: data.{field} must be a string"))),
    }
}

fn optional_str(data: &Value, field: &str) -> Option<String> {
    data.get(field).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_with_object_or_string_data() {
        let a = parse(r#"{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"k:s"}}"#).unwrap();
        let b = parse(r#"{"event":"pusher:subscribe","data":"{\"channel\":\"private-a\",\"auth\":\"k:s\"}"}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a,
            ClientMessage::Subscribe(Subscribe { channel: "private-a".into(), auth: Some("k:s".into()), channel_data: None })
        );
    }

    #[test]
    fn ping_without_data_and_client_events() {
        assert_eq!(parse(r#"{"event": "pusher:ping"}"#).unwrap(), ClientMessage::Ping);
        let msg = parse(r#"{"event":"client-x","channel":"private-a","data":{"k":1}}"#).unwrap();
        assert_eq!(
            msg,
            ClientMessage::ClientEvent { event: "client-x".into(), channel: Some("private-a".into()), data: r#"{"k":1}"#.into() }
        );
        let s = parse(r#"{"event":"client-x","channel":"private-a","data":"raw"}"#).unwrap();
        assert!(matches!(s, ClientMessage::ClientEvent { data, .. } if data == "raw"));
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert_eq!(parse("not json").unwrap_err().0, "Invalid message: not valid JSON (line 1, column 2)");
        assert_eq!(parse(r#"{"event":"x""#).unwrap_err().0, "Invalid message: not valid JSON (line 1, column 12)");
        for not_an_object in ["[1,2]", "[]", r#""str""#, r#"{"event": 5}"#] {
            assert_eq!(parse(not_an_object).unwrap_err().0, "Invalid message: expected a JSON object with a string 'event'", "{not_an_object}");
        }
        assert!(parse(r#"{"data":{}}"#).is_err());
        assert!(parse(r#"{"event":"pusher:subscribe","data":{}}"#).unwrap_err().0.contains("data.channel"));
        assert!(matches!(parse(r#"{"event":"other"}"#).unwrap(), ClientMessage::Unknown { .. }));
    }
}
