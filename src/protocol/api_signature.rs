//! Signing and verifying HTTP API requests (`auth_key`, `auth_timestamp`, `auth_version`,
//! `body_md5`, `auth_signature`). The server verifies with it; the REST client signs with it,
//! so there is exactly one copy of the algorithm.
//!
//! string_to_sign = `METHOD\nPATH\nQUERY`, QUERY being every parameter except
//! `auth_signature`, keys lower-cased, sorted, `key=value` with decoded values, joined by `&`.

use md5::{Digest, Md5};
use std::borrow::Cow;
use std::collections::BTreeMap;

use super::token;

/// The clock skew the API tolerates, in seconds.
pub const MAX_TIMESTAMP_SKEW_SECS: i64 = 600;

/// Lower-case hex MD5 of a request body.
pub fn body_md5(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// A request's query parameters: keys lower-cased and sorted, values decoded. Both borrow
/// from the query string unless decoding or lower-casing changed them.
pub type QueryParams<'a> = BTreeMap<Cow<'a, str>, Cow<'a, str>>;

/// Decodes a raw query string into sorted, lower-cased keys; repeated keys join with `,`.
pub fn parse_query(raw_query: &str) -> QueryParams<'_> {
    // What the server libraries send (hex signature and MD5, digits, key, version) has
    // nothing to decode: split it directly, which costs a fraction of a general decoder.
    if !raw_query.contains(['%', '+']) {
        let pairs = raw_query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, "")));
        return collect_params(pairs.map(|(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v))));
    }
    collect_params(form_urlencoded::parse(raw_query.as_bytes()))
}

fn collect_params<'a>(pairs: impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)>) -> QueryParams<'a> {
    let mut params = QueryParams::new();
    for (k, v) in pairs {
        let key = match k {
            Cow::Borrowed(k) if !k.bytes().any(|b| b.is_ascii_uppercase()) => Cow::Borrowed(k),
            k => Cow::Owned(k.to_ascii_lowercase()),
        };
        match params.get_mut(&key) {
            Some(existing) => {
                let joined = existing.to_mut();
                joined.push(',');
                joined.push_str(&v);
            }
            None => {
                params.insert(key, v);
            }
        }
    }
    params
}

/// The canonical string to sign for a request, in the pieces it is made of, so the server
/// can feed them to the HMAC without building the string.
fn string_to_sign_parts<'p, K: AsRef<str>, V: AsRef<str>>(
    method: &'p str,
    path: &'p str,
    params: &'p BTreeMap<K, V>,
) -> impl Iterator<Item = &'p [u8]> {
    let query = params.iter().filter(|(k, _)| k.as_ref() != "auth_signature").enumerate().flat_map(|(i, (k, v))| {
        let separator: &[u8] = if i == 0 { b"" } else { b"&" };
        [separator, k.as_ref().as_bytes(), b"=", v.as_ref().as_bytes()]
    });
    [method.as_bytes(), b"\n", path.as_bytes(), b"\n"].into_iter().chain(query)
}

/// The canonical string to sign for a request. `method` must be upper case (as HTTP sends it).
pub fn string_to_sign<K: AsRef<str>, V: AsRef<str>>(method: &str, path: &str, params: &BTreeMap<K, V>) -> String {
    let pieces: Vec<&[u8]> = string_to_sign_parts(method, path, params).collect();
    String::from_utf8(pieces.concat()).expect("joined from strs")
}

/// True when `given` is the hex MD5 of `body` (either case), without building a string.
fn body_md5_matches(given: &str, body: &[u8]) -> bool {
    let mut expected = [0u8; 16];
    hex::decode_to_slice(given, &mut expected).is_ok() && expected == Md5::digest(body)[..]
}

/// Builds the signed query string for a request, as the official libraries do.
pub fn signed_query(
    key: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp: i64,
    extra: &[(&str, &str)],
) -> String {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    params.insert("auth_key".into(), key.into());
    params.insert("auth_timestamp".into(), timestamp.to_string());
    params.insert("auth_version".into(), "1.0".into());
    if !body.is_empty() {
        params.insert("body_md5".into(), body_md5(body));
    }
    for (k, v) in extra {
        params.insert(k.to_ascii_lowercase(), (*v).to_string());
    }
    let signature = token::sign(secret, string_to_sign(&method.to_ascii_uppercase(), path, &params).as_bytes());
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &params {
        out.append_pair(k, v);
    }
    out.append_pair("auth_signature", &signature);
    out.finish()
}

/// Why a signed request was refused (all map to HTTP 401).
#[derive(Debug, PartialEq, Eq)]
pub enum SignatureError {
    MissingParam(&'static str),
    WrongKey,
    UnsupportedVersion(String),
    BadTimestamp,
    Expired { given: i64, now: i64 },
    BodyMd5Mismatch,
    BadSignature,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureError::MissingParam(p) => write!(f, "Missing required query parameter '{p}'"),
            SignatureError::WrongKey => f.write_str("Unknown auth_key for this app"),
            SignatureError::UnsupportedVersion(v) => write!(f, "Unsupported auth_version '{v}', expected 1.0"),
            SignatureError::BadTimestamp => f.write_str("auth_timestamp must be an integer number of seconds"),
            SignatureError::Expired { given, now } => write!(
                f,
                "Timestamp expired: given timestamp {given} not within {MAX_TIMESTAMP_SKEW_SECS}s of server time {now}"
            ),
            SignatureError::BodyMd5Mismatch => f.write_str("body_md5 does not match the MD5 of the request body"),
            SignatureError::BadSignature => f.write_str(
                "Invalid signature: expected HMAC-SHA256 hex of 'METHOD\\nPATH\\nsorted query' with the app secret",
            ),
        }
    }
}

/// A request as the verifier needs it.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as received (before `?`).
    pub path: &'a str,
    pub params: &'a QueryParams<'a>,
    pub body: &'a [u8],
}

/// Verifies a request against one app's key and secret at time `now` (Unix seconds).
pub fn verify(req: &SignedRequest<'_>, key: &str, secret: &str, now: i64) -> Result<(), SignatureError> {
    let param = |name: &'static str| req.params.get(name).ok_or(SignatureError::MissingParam(name));
    if param("auth_key")? != key {
        return Err(SignatureError::WrongKey);
    }
    let signature = param("auth_signature")?;
    let version = param("auth_version")?;
    if version != "1.0" {
        return Err(SignatureError::UnsupportedVersion(version.to_string()));
    }
    let given: i64 = param("auth_timestamp")?.parse().map_err(|_| SignatureError::BadTimestamp)?;
    if (now - given).abs() > MAX_TIMESTAMP_SKEW_SECS {
        return Err(SignatureError::Expired { given, now });
    }
    match req.params.get("body_md5") {
        Some(md5) if !body_md5_matches(md5, req.body) => return Err(SignatureError::BodyMd5Mismatch),
        None if !req.body.is_empty() => return Err(SignatureError::MissingParam("body_md5")),
        _ => {}
    }
    let matches = |path: &str| {
        token::signature_matches_parts(secret, string_to_sign_parts(req.method, path, req.params), signature)
    };
    if matches(req.path) {
        return Ok(());
    }
    // Libraries sign the unencoded path; a proxy or client may have percent-encoded it.
    let decoded = percent_encoding::percent_decode_str(req.path).decode_utf8_lossy();
    if decoded != req.path && matches(&decoded) {
        return Ok(());
    }
    Err(SignatureError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn docs_worked_example() {
        let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        assert_eq!(body_md5(body), "ec365a775a4cd0599faeb73354201b6f");
        let q = "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";
        let params = parse_query(q);
        let req = SignedRequest { method: "POST", path: "/apps/3/events", params: &params, body };
        assert_eq!(verify(&req, KEY, SECRET, 1353088179), Ok(()));
        assert_eq!(verify(&req, KEY, SECRET, 1353088179 + 601), Err(SignatureError::Expired { given: 1353088179, now: 1353088780 }));
        let other_body = br#"{"name":"foo"}"#;
        let tampered = SignedRequest { body: other_body, ..req };
        assert_eq!(verify(&tampered, KEY, SECRET, 1353088179), Err(SignatureError::BodyMd5Mismatch));
    }

    #[test]
    fn python_style_get_with_empty_body_md5() {
        let q = "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=d41d8cd98f00b204e9800998ecf8427e&filter_by_prefix=presence-&info=user_count&auth_signature=f3f17c61ae491cc9085db68b22076e9b772e3bcb301659d655153ee3f9782aba";
        let params = parse_query(q);
        let req = SignedRequest { method: "GET", path: "/apps/3/channels", params: &params, body: b"" };
        assert_eq!(verify(&req, KEY, SECRET, 1353088179), Ok(()));
    }

    #[test]
    fn get_vector_and_percent_encoded_values() {
        let params = parse_query("auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&filter_by_prefix=presence-&info=user_count");
        let s = string_to_sign("GET", "/apps/3/channels", &params);
        assert_eq!(token::sign(SECRET, s.as_bytes()), "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291");
        let encoded = parse_query("info=user_count%2Csubscription_count");
        assert_eq!(encoded["info"], "user_count,subscription_count");
    }

    #[test]
    fn the_plain_query_fast_path_agrees_with_the_decoder() {
        for query in ["auth_key=k&auth_timestamp=1&auth_version=1.0&Body_MD5=ab&auth_signature=cd", "a=1&&b&C=2&a=3", "", "x="] {
            let decoded = collect_params(form_urlencoded::parse(query.as_bytes()));
            assert_eq!(parse_query(query), decoded, "{query}");
        }
        assert_eq!(parse_query("info=a%2Cb&name=x+y")["name"], "x y");
    }

    #[test]
    fn signed_query_round_trips() {
        let body = br#"{"name":"e","channel":"c","data":"x"}"#;
        let q = signed_query(KEY, SECRET, "POST", "/apps/3/events", body, 1_700_000_000, &[]);
        let params = parse_query(&q);
        let req = SignedRequest { method: "POST", path: "/apps/3/events", params: &params, body };
        assert_eq!(verify(&req, KEY, SECRET, 1_700_000_100), Ok(()));
        assert_eq!(verify(&req, KEY, "wrong", 1_700_000_100), Err(SignatureError::BadSignature));
        assert_eq!(verify(&req, "otherkey", SECRET, 1_700_000_100), Err(SignatureError::WrongKey));
    }
}
