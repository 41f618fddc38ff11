//! A lean HTTP/1.1 keep-alive client connection for the `triggers` scenario: one request in
//! flight at a time (no pipelining), one write per request, the read buffer reused, responses
//! parsed in place with httparse.
//!
//! Hand-written rather than reqwest because the scenario measures the server at tens of
//! thousands of requests per second while the tool has one core of its own: a general client's
//! pool, header maps and per-request tasks would make the tool the bottleneck.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most response headers parsed; a response with more is an error.
const MAX_HEADERS: usize = 32;
/// A response head larger than this is an error, not something to keep reading.
const MAX_HEAD: usize = 16 * 1024;

/// Where an `http://host:port` base URL points: the socket address and the `Host` header value.
pub fn resolve(base: &str) -> Result<(SocketAddr, String), String> {
    let (addr, authority) = crate::cli::resolve_url("--http", "http", base)?;
    Ok((addr, authority.to_string()))
}

/// What the tool needs from one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The server will close the connection after this response (`Connection: close`, an
    /// HTTP/1.0 answer without keep-alive, or a body delimited by the end of the stream).
    pub close: bool,
}

/// A keep-alive connection to one server.
pub struct Connection {
    stream: TcpStream,
    /// Bytes read and not yet consumed; kept between requests so its capacity is reused.
    buf: Vec<u8>,
    /// Where the last response's body lies in `buf` (until the next request).
    body: Range<usize>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        // Each request is one write that must leave at once, not wait for the previous ACK.
        stream.set_nodelay(true)?;
        Ok(Connection { stream, buf: Vec::with_capacity(4096), body: 0..0 })
    }

    /// Sends one complete request (head and body) and reads its whole response.
    pub async fn round_trip(&mut self, request: &[u8]) -> io::Result<Answer> {
        self.buf.drain(..self.body.end.min(self.buf.len()));
        self.body = 0..0;
        self.stream.write_all(request).await?;
        loop {
            if let Some((answer, body)) = parse_response(&self.buf)? {
                self.body = body;
                if answer.close && self.body.end == usize::MAX {
                    // No length given: the body runs to the end of the stream.
                    self.stream.read_to_end(&mut self.buf).await?;
                    self.body.end = self.buf.len();
                }
                return Ok(answer);
            }
            if self.buf.len() > MAX_HEAD + (1 << 20) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "response too large"));
            }
            self.buf.reserve(4096);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection before answering"));
            }
        }
    }

    /// The last response's body, for error messages.
    pub fn body(&self) -> &[u8] {
        self.buf.get(self.body.clone()).unwrap_or(&[])
    }
}

/// Parses a complete response from the front of `buf`: `Ok(None)` while incomplete, else
/// the answer and where its body lies (`end == usize::MAX` when it runs to the end of the
/// stream). Chunked bodies are accepted; the chunk framing stays inside the range.
fn parse_response(buf: &[u8]) -> io::Result<Option<(Answer, Range<usize>)>> {
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf).map_err(|e| invalid(format!("bad HTTP response: {e}")))? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial if buf.len() > MAX_HEAD => return Err(invalid("response head too large".into())),
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.unwrap_or(0);
    let mut close = response.version != Some(1);
    let (mut length, mut chunked) = (None, false);
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<usize>().ok());
            length = Some(v.ok_or_else(|| invalid("bad Content-Length".into()))?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = h.value.to_ascii_lowercase();
            close = contains(&v, b"close") || (close && !contains(&v, b"keep-alive"));
        }
    }
    let end = if status == 204 || status == 304 || (100..200).contains(&status) {
        head_len
    } else if chunked {
        match chunked_end(&buf[head_len..]).map_err(invalid)? {
            Some(n) => head_len + n,
            None => return Ok(None),
        }
    } else if let Some(n) = length {
        if buf.len() < head_len + n {
            return Ok(None);
        }
        head_len + n
    } else {
        return Ok(Some((Answer { status, close: true }, head_len..usize::MAX)));
    };
    Ok(Some((Answer { status, close }, head_len..end)))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The length of a complete chunked body at the front of `buf`, trailers included.
fn chunked_end(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut at = 0;
    loop {
        let (size_len, size) = match httparse::parse_chunk_size(&buf[at..]).map_err(|_| "bad chunk size".to_string())? {
            httparse::Status::Complete(c) => c,
            httparse::Status::Partial => return Ok(None),
        };
        at += size_len;
        if size == 0 {
            // Trailers (rare) end with an empty line; without them the empty line is next.
            let rest = &buf[at..];
            return Ok(if rest.starts_with(b"\r\n") {
                Some(at + 2)
            } else {
                rest.windows(4).position(|w| w == b"\r\n\r\n").map(|p| at + p + 4)
            });
        }
        at += size as usize + 2;
        if buf.len() < at {
            return Ok(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_and_keep_alive() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-type: application/json\r\n\r\n{}";
        assert_eq!(parse_response(&raw[..raw.len() - 1]).unwrap(), None);
        let (answer, body) = parse_response(raw).unwrap().unwrap();
        assert_eq!(answer, Answer { status: 200, close: false });
        assert_eq!(&raw[body], b"{}");
    }

    #[test]
    fn close_is_noticed() {
        let raw = b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap().unwrap().0, Answer { status: 401, close: true });
        let raw = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(parse_response(raw).unwrap().unwrap().0.close);
        let raw = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert!(!parse_response(raw).unwrap().unwrap().0.close);
    }

    #[test]
    fn chunked_body() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert_eq!(parse_response(&raw[..raw.len() - 2]).unwrap(), None);
        let (answer, body) = parse_response(raw).unwrap().unwrap();
        assert_eq!((answer.status, body.end), (200, raw.len()));
    }
}
