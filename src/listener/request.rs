//! Sorting a request head into what herald's reader serves itself and what it hands on.

use std::ops::Range;

use crate::connection::UpgradeRequest;
use crate::http::Publishing;

/// Headers read per request. A head with more goes to actix-http, which reads up to 96.
const MAX_HEADERS: usize = 32;

/// What the bytes read so far hold.
pub enum Step<'b> {
    /// The head is not complete yet.
    Partial,
    /// A publishing request; its body is the `body_len` bytes after the head.
    Publish(Publish),
    /// A WebSocket handshake, then the length of its head.
    Upgrade(UpgradeRequest<'b>, usize),
    /// Anything else, or anything unusual: actix-http serves it.
    HandOver,
    /// A head no server may serve, and why: answered with a JSON 400, then closed. actix-http
    /// refuses the same heads, with an empty body.
    Malformed(String),
}

/// A publishing request's head, as ranges of the buffer it was read into (the buffer grows
/// while the body is read, so the head cannot borrow from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub route: Publishing,
    pub head_len: usize,
    pub body_len: usize,
    pub path: Range<usize>,
    pub query: Range<usize>,
    /// The app id as sent, still percent-encoded.
    pub app_id: Range<usize>,
    /// The client asked for the connection to close after the response.
    pub close: bool,
}

/// Sorts the head at the start of `buf`. A publishing request is only taken when its body is
/// plainly delimited: HTTP/1.1, one `Content-Length` within `max_body`, no `Transfer-Encoding`
/// and no `Expect`. A head whose body could be delimited two ways (the ground of request
/// smuggling) is malformed, as it is to actix-http. Everything else goes to actix-http, so
/// unusual requests get the answers they got before this reader existed.
pub fn sort(buf: &[u8], max_body: usize) -> Step<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Step::Partial,
        // actix-http reads more headers than this reader does.
        Err(httparse::Error::TooManyHeaders) => return Step::HandOver,
        Err(e) => return Step::Malformed(e.to_string()),
    };
    let (Some(method), Some(target), Some(1)) = (request.method, request.path, request.version) else {
        return Step::HandOver;
    };
    // Without a `?` the query is the empty slice at the target's end, still inside `buf`.
    let (path, query) = target.split_once('?').unwrap_or((target, &target[target.len()..]));
    let headers = request.headers.iter().map(|h| (h.name, h.value));
    let framing = match Framing::of(headers.clone()) {
        Ok(framing) => framing,
        Err(reason) => return Step::Malformed(reason.into()),
    };
    if framing.chunked {
        return Step::HandOver;
    }
    let upgrade = UpgradeRequest::new(method == "GET", path, query, headers.clone());
    if upgrade.upgrade_websocket {
        return Step::Upgrade(upgrade, head_len);
    }
    if method != "POST" || framing.expect {
        return Step::HandOver;
    }
    let Some((route, app_id)) = crate::http::publishing_route(path) else { return Step::HandOver };
    let Some(body_len) = framing.length.filter(|&len| len <= max_body) else { return Step::HandOver };
    let close = framing.close;
    let range = |part: &str| {
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        start..start + part.len()
    };
    Step::Publish(Publish { route, head_len, body_len, path: range(path), query: range(query), app_id: range(app_id), close })
}

/// What a request's headers say about its body and its connection, read in one pass.
struct Framing {
    /// The `Content-Length`; `usize::MAX` for one too large to represent.
    length: Option<usize>,
    /// A `Transfer-Encoding` is present.
    chunked: bool,
    /// An `Expect` is present.
    expect: bool,
    /// `Connection: close`: the connection ends after the response.
    close: bool,
}

impl Framing {
    fn of<'h>(headers: impl Iterator<Item = (&'h str, &'h [u8])>) -> Result<Framing, &'static str> {
        let mut framing = Framing { length: None, chunked: false, expect: false, close: false };
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("content-length") {
                // Digits only: `usize::from_str` would also take "+2", which RFC 9110 does not
                // allow and a proxy in front may read differently.
                if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                    return Err("Content-Length must be a decimal number");
                }
                if framing.length.is_some() {
                    return Err("more than one Content-Length header");
                }
                framing.length = Some(std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX));
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                framing.chunked = true;
            } else if name.eq_ignore_ascii_case("expect") {
                framing.expect = true;
            } else if name.eq_ignore_ascii_case("connection") {
                framing.close |= value.split(|&b| b == b',').any(|option| option.trim_ascii().eq_ignore_ascii_case(b"close"));
            }
        }
        if framing.chunked && framing.length.is_some() {
            return Err("both Transfer-Encoding and Content-Length");
        }
        Ok(framing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &[u8] = b"POST /apps/7/events?auth_key=k&auth_signature=s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

    fn publish(buf: &[u8]) -> Publish {
        match sort(buf, 1024) {
            Step::Publish(p) => p,
            _ => panic!("not taken: {}", String::from_utf8_lossy(buf)),
        }
    }

    fn handed_over(buf: &[u8]) -> bool {
        matches!(sort(buf, 1024), Step::HandOver)
    }

    #[test]
    fn a_publishing_post_is_taken_with_its_parts_located() {
        let p = publish(EVENTS);
        assert_eq!(p.route, Publishing::Events);
        assert_eq!(&EVENTS[p.path.clone()], b"/apps/7/events");
        assert_eq!(&EVENTS[p.query.clone()], b"auth_key=k&auth_signature=s");
        assert_eq!(&EVENTS[p.app_id.clone()], b"7");
        assert_eq!((p.head_len + p.body_len, p.close), (EVENTS.len(), false));
        let batch = publish(b"POST /apps/my%20app/batch_events HTTP/1.1\r\ncontent-length: 0\r\nConnection: keep-alive, Close\r\n\r\n");
        assert_eq!((batch.route, batch.body_len, batch.close), (Publishing::BatchEvents, 0, true));
        assert_eq!(batch.query, batch.query.start..batch.query.start, "no query is an empty one");
    }

    #[test]
    fn a_head_cut_anywhere_is_partial() {
        let head_len = EVENTS.len() - 2;
        for cut in 0..head_len {
            assert!(matches!(sort(&EVENTS[..cut], 1024), Step::Partial), "cut at {cut}");
        }
    }

    #[test]
    fn unusual_requests_are_handed_to_actix() {
        let with = |extra: &str| format!("POST /apps/7/events HTTP/1.1\r\n{extra}\r\n\r\n").into_bytes();
        assert!(handed_over(&with("Transfer-Encoding: chunked")));
        assert!(handed_over(&with("Content-Length: 2\r\nExpect: 100-continue")));
        assert!(handed_over(&with("Content-Length: 2048")), "over the limit: actix answers 413");
        assert!(handed_over(&with("Content-Length: 99999999999999999999999")), "over any limit");
        assert!(handed_over(&with("Host: x")), "no length");
        assert!(handed_over(b"POST /apps/7/events HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}"));
        assert!(handed_over(b"GET /apps/7/events HTTP/1.1\r\n\r\n"));
        assert!(handed_over(b"POST /apps/7/channels HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
        assert!(handed_over(b"GET /up HTTP/1.1\r\n\r\n"));
        let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
        assert!(handed_over(&with(&format!("Content-Length: 0\r\n{many}"))));
    }

    #[test]
    fn a_head_that_could_be_read_two_ways_is_malformed() {
        let malformed = |head: &[u8]| match sort(head, 1024) {
            Step::Malformed(reason) => reason,
            _ => panic!("not refused: {}", String::from_utf8_lossy(head)),
        };
        let with = |extra: &str| format!("POST /apps/7/events HTTP/1.1\r\n{extra}\r\n\r\n").into_bytes();
        assert!(malformed(&with("Content-Length: 2\r\nContent-Length: 2")).contains("more than one"));
        assert!(malformed(&with("Content-Length: 2\r\nTransfer-Encoding: chunked")).contains("both"));
        for value in ["+2", "-1", "0x2", "2 2", ""] {
            assert!(malformed(&with(&format!("Content-Length: {value}"))).contains("decimal"), "{value:?}");
        }
        // Anywhere, not only on the publishing routes.
        assert!(malformed(b"GET /up HTTP/1.1\r\nContent-Length: x\r\n\r\n").contains("decimal"));
        assert_eq!(malformed(b"NOT HTTP AT ALL\r\n\r\n"), "invalid HTTP version");
        assert_eq!(malformed(b"POST /apps/7/events HTTP/1.1\r\nBad Name: x\r\n\r\n"), "invalid header name");
    }

    #[test]
    fn a_websocket_upgrade_is_taken_whatever_its_path() {
        let head = b"GET /app/key?protocol=7 HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n\x81\x80";
        match sort(head, 1024) {
            Step::Upgrade(upgrade, len) => {
                assert_eq!((upgrade.path, upgrade.query, upgrade.is_get), ("/app/key", "protocol=7", true));
                assert_eq!(&head[len..], b"\x81\x80", "bytes after the head stay unread");
            }
            _ => panic!("not taken"),
        }
        assert!(matches!(sort(b"POST /elsewhere HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 1024), Step::Upgrade(..)));
        assert!(handed_over(b"GET /app/key HTTP/1.1\r\nUpgrade: h2c\r\n\r\n"));
    }
}
