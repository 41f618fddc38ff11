//! Writing a handler's response as HTTP/1.1 bytes.

use actix_web::HttpResponse;
use std::cell::RefCell;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

/// Encodes `response` into `out` (cleared first) with `content-length`, `date` and, when the
/// connection ends after it, `connection: close`: the head actix-http writes for the same
/// response on a kept-alive connection.
pub async fn encode(response: HttpResponse, close: bool, out: &mut Vec<u8>) -> io::Result<()> {
    let status = response.status();
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // The publishing handlers answer with bytes at once; `to_bytes` also collects any other body.
    let body = actix_web::body::to_bytes(response.into_body()).await.map_err(|e| io::Error::other(e.to_string()))?;
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\ndate: ");
    push_date(out);
    out.extend_from_slice(if close { b"\r\nconnection: close\r\n\r\n" as &[u8] } else { b"\r\n\r\n" });
    out.extend_from_slice(&body);
    Ok(())
}

/// Appends the current time as an HTTP date, formatted at most once a second per thread.
fn push_date(out: &mut Vec<u8>) {
    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with_borrow_mut(|(at, date)| {
        if *at != second || date.is_empty() {
            *at = second;
            *date = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(date.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_json_response_gets_length_date_and_close_when_asked() {
        let mut out = Vec::new();
        encode(HttpResponse::Ok().json(serde_json::json!({})), false, &mut out).await.unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("content-type: application/json\r\n"), "{text}");
        assert!(text.contains("content-length: 2\r\ndate: "), "{text}");
        assert!(text.ends_with(" GMT\r\n\r\n{}"), "{text}");
        assert!(!text.contains("connection:"), "{text}");
        encode(HttpResponse::PayloadTooLarge().body("too big"), true, &mut out).await.unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{text}");
        assert!(text.ends_with("\r\nconnection: close\r\n\r\ntoo big"), "{text}");
    }
}
