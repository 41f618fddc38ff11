//! Strings taken out of a JSON request body without copying or re-escaping them.
//!
//! An event's `data` travels from the HTTP API to every subscriber as a JSON string. The
//! server libraries already sent it escaped, so herald keeps that encoded literal
//! ([`JsonString`]) and splices it into the outgoing frame as is: no unescape on the way in,
//! no escape on the way out. Any JSON parser reads the literal back to the same text. Short
//! fields (names, channels) are read as [`Text`], which borrows from the body unless the
//! string holds an escape.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A string field that borrows from the JSON it was read from when it has no escapes.
/// (`Option<Cow<str>>` always copies: serde borrows only for a bare `Cow` field.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'a> Text<'a> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_cow(self) -> Cow<'a, str> {
        self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// A JSON string in its encoded form: the quotes and escapes included, exactly the bytes that
/// go between `"data":` and the next field of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonString<'a>(Cow<'a, str>);

impl<'a> JsonString<'a> {
    /// The literal of a raw JSON value that is a string; `None` for any other JSON value.
    pub fn from_raw(raw: &'a RawValue) -> Option<JsonString<'a>> {
        let text = raw.get();
        text.starts_with('"').then(|| JsonString(Cow::Borrowed(text)))
    }

    /// Encodes `text` as a JSON string.
    pub fn encode(text: &str) -> JsonString<'static> {
        JsonString(Cow::Owned(serde_json::to_string(text).expect("a str always serializes")))
    }

    /// The encoded literal, quotes included.
    pub fn literal(&self) -> &str {
        &self.0
    }

    /// The decoded text.
    pub fn decode(&self) -> String {
        serde_json::from_str(&self.0).expect("a JsonString holds a valid JSON string")
    }

    /// The decoded length in bytes. Escapes only ever decode to fewer bytes than they take,
    /// so a literal that fits within `limit` needs no decoding to know its text fits too.
    pub fn decoded_len_within(&self, limit: usize) -> Result<(), usize> {
        if self.0.len() - 2 <= limit {
            return Ok(());
        }
        match self.decoded_len() {
            len if len > limit => Err(len),
            _ => Ok(()),
        }
    }

    /// The decoded length in bytes (decodes only when the literal has an escape).
    pub fn decoded_len(&self) -> usize {
        if self.0.contains('\\') {
            self.decode().len()
        } else {
            self.0.len() - 2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        name: Option<Text<'a>>,
        #[serde(borrow)]
        data: Option<&'a RawValue>,
    }

    #[test]
    fn text_borrows_unless_escaped() {
        let body: Body = serde_json::from_str(r#"{"name":"plain"}"#).unwrap();
        assert!(matches!(body.name.unwrap().0, Cow::Borrowed("plain")));
        let body: Body = serde_json::from_str(r#"{"name":"caf\u00e9"}"#).unwrap();
        assert_eq!(body.name.unwrap().as_str(), "café");
        assert!(serde_json::from_str::<Body>(r#"{"name":5}"#).is_err());
    }

    #[test]
    fn a_string_literal_is_kept_as_sent_and_decodes_to_its_text() {
        let body: Body = serde_json::from_str(r#"{"data": "{\"a\":\"\u00e9\\n\"}" }"#).unwrap();
        let data = JsonString::from_raw(body.data.unwrap()).unwrap();
        assert_eq!(data.literal(), r#""{\"a\":\"\u00e9\\n\"}""#);
        assert_eq!(data.decode(), "{\"a\":\"é\\n\"}");
        assert_eq!(data.decoded_len(), "{\"a\":\"é\\n\"}".len());
    }

    #[test]
    fn other_json_values_are_not_string_literals() {
        for raw in [r#"{"a":1}"#, "[1]", "12", "true", "null"] {
            let value: &RawValue = serde_json::from_str(raw).unwrap();
            assert!(JsonString::from_raw(value).is_none(), "{raw}");
        }
    }

    #[test]
    fn decoded_length_limit_counts_text_not_escapes() {
        // 6 bytes of text in a 14-byte literal: within 6, over 5.
        let data = JsonString::encode("a\"b\\c\n");
        assert_eq!(data.decoded_len_within(6), Ok(()));
        assert_eq!(data.decoded_len_within(5), Err(6));
        let escaped: &RawValue = serde_json::from_str(r#""\u0041\u0042""#).unwrap();
        let escaped = JsonString::from_raw(escaped).unwrap();
        assert_eq!(escaped.decoded_len_within(2), Ok(()));
        assert_eq!(escaped.decoded_len_within(1), Err(2));
        assert_eq!(JsonString::encode("abc").decoded_len_within(3), Ok(()));
        assert_eq!(JsonString::encode("abc").decoded_len_within(2), Err(3));
    }
}
