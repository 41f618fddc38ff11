//! One HTTP/1.1 connection driven by hand, byte for byte: for what a client library would
//! hide (pipelining, trickled bodies, `Connection: close`, the end of the stream).

use serde_json::{json, Value};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::api::Api;
use super::ws::WAIT;

/// One HTTP/1.1 connection driven by hand.
pub struct Http1 {
    stream: TcpStream,
    read: Vec<u8>,
}

/// A response as it came off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

impl Http1 {
    pub async fn connect(addr: SocketAddr) -> Http1 {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Http1 { stream, read: Vec::new() }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one whole response (`content-length` delimited); fails on timeout or EOF.
    pub async fn response(&mut self) -> Response {
        tokio::time::timeout(WAIT, self.read_response()).await.expect("a response in time")
    }

    async fn read_response(&mut self) -> Response {
        let head_end = loop {
            if let Some(at) = self.read.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await;
        };
        let head = String::from_utf8(self.read[..head_end].to_vec()).expect("an ASCII head");
        let mut lines = head.trim_end().split("\r\n");
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().expect("a length"));
        while self.read.len() < head_end + length {
            self.fill().await;
        }
        let body = String::from_utf8(self.read[head_end..head_end + length].to_vec()).expect("a UTF-8 body");
        self.read.drain(..head_end + length);
        Response { status, headers, body }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed the connection; read so far: {:?}", String::from_utf8_lossy(&self.read));
        self.read.extend_from_slice(&chunk[..n]);
    }

    /// The server closes the connection, with nothing more to read.
    pub async fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, self.stream.read_to_end(&mut rest)).await.expect("EOF in time").expect("read");
        assert!(rest.is_empty() && self.read.is_empty(), "unexpected bytes: {:?}", String::from_utf8_lossy(&rest));
    }
}

/// A signed `POST /apps/{id}/events` request, with `extra` header lines (each ending `\r\n`).
pub fn signed_trigger(api: &Api, channel: &str, data: &str, extra: &str) -> Vec<u8> {
    let path = api.path("/events");
    let body = json!({"name": "e", "channels": [channel], "data": data}).to_string();
    let query = api.signed_query("POST", &path, body.as_bytes(), &[]);
    format!("POST {path}?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}", body.len())
        .into_bytes()
}
