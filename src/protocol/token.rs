//! `key:signature` tokens for channel authorization and user sign-in.
//!
//! signature = lower-case hex HMAC-SHA256(app secret, string to sign). Verification compares
//! in constant time so a client cannot learn a valid signature byte by byte.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Hex HMAC-SHA256 of `message` under `secret`.
pub fn sign(secret: &str, message: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time comparison of a received hex signature with the expected one.
/// The received hex is decoded (either case) rather than the expected one encoded, so the check
/// allocates nothing; `verify_slice` compares in constant time.
pub fn signature_matches(secret: &str, message: &[u8], received_hex: &str) -> bool {
    signature_matches_parts(secret, [message], received_hex)
}

/// [`signature_matches`] for a message given as consecutive pieces.
pub fn signature_matches_parts<'m>(secret: &str, message: impl IntoIterator<Item = &'m [u8]>, received_hex: &str) -> bool {
    let mut received = [0u8; 32];
    if hex::decode_to_slice(received_hex, &mut received).is_err() {
        return false;
    }
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    for piece in message {
        mac.update(piece);
    }
    mac.verify_slice(&received).is_ok()
}

/// The string signed to authorize a channel subscription.
pub fn channel_string_to_sign(socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
    match channel_data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    }
}

/// The string signed to authenticate a user (`pusher:signin`).
pub fn user_string_to_sign(socket_id: &str, user_data: &str) -> String {
    format!("{socket_id}::user::{user_data}")
}

/// Why an `auth` token was refused. The messages never reveal the expected signature.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Missing,
    Malformed,
    WrongKey,
    BadSignature,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenError::Missing => "Missing auth: this channel requires a signed auth token",
            TokenError::Malformed => "Invalid auth: expected the form '<app key>:<hex signature>'",
            TokenError::WrongKey => "Invalid auth: the key in the token is not one of this app's keys",
            TokenError::BadSignature => "Invalid signature: the auth token does not match this socket and channel",
        })
    }
}

/// Verifies a `key:signature` token against the app's key and secret.
pub fn verify(token: Option<&str>, app_key: &str, secret: &str, string_to_sign: &str) -> Result<(), TokenError> {
    verify_with(token, |key| (key == app_key).then_some(secret), string_to_sign)
}

/// Verifies a `key:signature` token against whichever of the app's key pairs its key names
/// (`secret_of` answers the secret of one of the app's keys, `None` for any other key).
pub fn verify_with<'s>(token: Option<&str>, secret_of: impl FnOnce(&str) -> Option<&'s str>, string_to_sign: &str) -> Result<(), TokenError> {
    let token = match token {
        Some(t) if !t.is_empty() => t,
        _ => return Err(TokenError::Missing),
    };
    let (key, signature) = token.split_once(':').ok_or(TokenError::Malformed)?;
    let secret = secret_of(key).ok_or(TokenError::WrongKey)?;
    if !signature_matches(secret, string_to_sign.as_bytes(), signature) {
        return Err(TokenError::BadSignature);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn private_channel_vector() {
        let s = channel_string_to_sign("1234.1234", "private-foobar", None);
        assert_eq!(sign(SECRET, s.as_bytes()), "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4");
        let token = format!("{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4");
        assert_eq!(verify(Some(&token), KEY, SECRET, &s), Ok(()));
    }

    #[test]
    fn user_vector() {
        let s = user_string_to_sign("1234.1234", r#"{"id":"12345"}"#);
        assert_eq!(sign(SECRET, s.as_bytes()), "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba");
    }

    #[test]
    fn presence_vector() {
        let data = r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#;
        let s = channel_string_to_sign("1234.1234", "presence-foobar", Some(data));
        assert_eq!(sign(SECRET, s.as_bytes()), "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80");
    }

    #[test]
    fn rejections() {
        let s = channel_string_to_sign("1234.1234", "private-foobar", None);
        assert_eq!(verify(None, KEY, SECRET, &s), Err(TokenError::Missing));
        assert_eq!(verify(Some(""), KEY, SECRET, &s), Err(TokenError::Missing));
        assert_eq!(verify(Some("nocolon"), KEY, SECRET, &s), Err(TokenError::Malformed));
        assert_eq!(verify(Some("other:abc"), KEY, SECRET, &s), Err(TokenError::WrongKey));
        assert_eq!(verify(Some(&format!("{KEY}:00")), KEY, SECRET, &s), Err(TokenError::BadSignature));
        let other = channel_string_to_sign("1234.1235", "private-foobar", None);
        let token = format!("{KEY}:{}", sign(SECRET, other.as_bytes()));
        assert_eq!(verify(Some(&token), KEY, SECRET, &s), Err(TokenError::BadSignature));
    }
}
