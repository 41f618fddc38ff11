//! herald's own HTTP/1.1 reader, in front of actix-http on every connection.
//!
//! Nearly every request herald gets is one of two kinds: a WebSocket handshake, or a
//! publishing `POST /apps/{id}/events` or `/batch_events` on a kept-alive connection.
//! Through actix-http each paid for a header map, a URI parse and the dispatcher's timers,
//! and every WebSocket also for a codec whose date service spawns a task. This reader parses
//! request heads with `httparse` and serves those two kinds itself. At the first request of
//! any other kind, or of an unusual shape (HTTP/1.0, a chunked, oversized or `Expect`ing
//! body, more headers than it reads, a head httparse refuses), it hands the connection, with
//! every byte it has read, to actix-http, which serves the rest of the connection's life as it
//! did before this reader existed.
//!
//! Plain TCP and TLS connections both meet it; on TLS it starts once the TLS handshake is
//! done (see `server.rs`).

mod replay;
pub mod request;
mod response;

use actix_http::error::DispatchError;
use actix_http::Protocol;
use actix_service::{fn_factory, fn_service, Service, ServiceFactory};
use actix_web::ResponseError;
use bytes::{Bytes, BytesMut};
use futures_util::stream;
use std::future::{self, poll_fn};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use actix_tls::accept::rustls_0_23::TlsStream;
use tokio::time::{timeout_at, Instant};

pub use replay::Replay;
use request::{sort, Publish, Step};

use crate::connection::Handshake;
use crate::http::{ApiError, ApiRequest};
use crate::state::State;

/// How long a new connection may take to send its first request head (actix-http's
/// `client_request_timeout`, which herald also sets).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a kept-alive connection may sit idle between requests (actix-http's `keep_alive`).
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// A head that has not ended within this many bytes goes to actix-http, which refuses it.
const MAX_HEAD: usize = 16 * 1024;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 4096;

/// A connection herald's reader can serve: plain TCP, or TLS over it.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + 'static {
    /// The TCP socket underneath.
    fn tcp(&self) -> &TcpStream;
}

impl Stream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Stream for TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// What actix-http serves a connection with once herald's reader hands it over.
pub type Fallback<T> = (Replay<T>, Protocol, Option<SocketAddr>);

/// Wraps actix-http's service factory: each worker's connections meet herald's reader first.
pub fn reader<T, F>(state: State, actix: F) -> impl ServiceFactory<T, Config = (), Response = (), Error = DispatchError, InitError = ()>
where
    T: Stream,
    F: ServiceFactory<Fallback<T>, Config = (), Response = (), Error = DispatchError, InitError = ()> + 'static,
{
    let actix = Rc::new(actix);
    fn_factory(move || {
        let state = state.clone();
        let actix = actix.new_service(());
        async move {
            let actix = Rc::new(actix.await?);
            Ok::<_, ()>(fn_service(move |io: T| serve(state.clone(), io, actix.clone())))
        }
    })
}

/// Serves one connection until it closes, upgrades, or is handed to actix-http.
async fn serve<T, S>(state: State, io: T, actix: Rc<S>) -> Result<(), DispatchError>
where
    T: Stream,
    S: Service<Fallback<T>, Response = (), Error = DispatchError>,
{
    // Real-time frames are small and latency-sensitive: no Nagle delay.
    let _ = io.tcp().set_nodelay(true);
    match read_requests(&state, io).await {
        Next::Done => Ok(()),
        Next::WebSocket(handshake, io, early) => {
            // A task of its own, sized for the WebSocket alone, so this one ends now. Measured
            // against living on inside this task: no slower, and 0.3 KB less per idle
            // connection (docs/benchmarks.md, sessions 4 and 6).
            actix_web::rt::spawn(crate::connection::serve(state, handshake, io, early));
            Ok(())
        }
        Next::HandOver(io, read) => {
            let peer = io.tcp().peer_addr().ok();
            // Boxed: actix's dispatcher is kilobytes, and unboxed it would size this future
            // (every connection's first task) for a path few connections take.
            Box::pin(actix.call((Replay::new(read, io), Protocol::Http1, peer))).await
        }
    }
}

/// How a connection goes on once herald's reader is done with it.
enum Next<T> {
    /// It closed, idled out, or asked to close.
    Done,
    /// It asked for a WebSocket; what it sent after its head comes along.
    WebSocket(Handshake, T, BytesMut),
    /// A request for actix-http, and every byte read from the first one on.
    HandOver(T, Bytes),
}

/// Serves publishing requests until the connection ends or brings something else.
async fn read_requests<T: Stream>(state: &State, io: T) -> Next<T> {
    let mut conn = Conn { io, buf: BytesMut::new(), out: Vec::new(), has_read: false };
    let mut deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        let publish = loop {
            match sort(&conn.buf, state.config.max_request_bytes) {
                Step::Partial if conn.buf.len() < MAX_HEAD => {}
                Step::Partial | Step::HandOver => return Next::HandOver(conn.io, conn.buf.freeze()),
                Step::Malformed(reason) => {
                    conn.refuse(&reason).await;
                    return Next::Done;
                }
                Step::Publish(publish) => break publish,
                Step::Upgrade(upgrade, head_len) => {
                    let handshake = crate::connection::handshake(state, &upgrade);
                    let early = BytesMut::from(&conn.buf[head_len..]);
                    return Next::WebSocket(handshake, conn.io, early);
                }
            }
            // A connection that closes or idles out between requests just ends, as with actix.
            if !conn.read(deadline).await {
                return Next::Done;
            }
        };
        // The body's deadline is the request's: a client that stalls mid-body is dropped.
        if !conn.publish(state, &publish, Instant::now() + REQUEST_TIMEOUT).await {
            let _ = conn.io.shutdown().await;
            return Next::Done;
        }
        deadline = Instant::now() + KEEP_ALIVE;
    }
}

/// A connection while herald's reader owns it.
struct Conn<T> {
    io: T,
    /// Bytes read and not yet served.
    buf: BytesMut,
    /// The response being written; kept to reuse its allocation.
    out: Vec<u8>,
    has_read: bool,
}

impl<T: Stream> Conn<T> {
    /// Reads more; false when the peer closed, the read failed or `deadline` passed.
    async fn read(&mut self, deadline: Instant) -> bool {
        let read = async {
            if self.has_read {
                // Reclaims the buffer of the request served last, once its bytes are dropped.
                self.buf.reserve(READ_CHUNK);
                return self.io.read_buf(&mut self.buf).await;
            }
            // The connection's first read goes onto the stack and only what arrived is kept,
            // so a handshake (which nearly always arrives in one read) allocates its size,
            // not 4 KiB. The chunk lives inside one poll: held across an `.await` it would
            // sit in this future, making it 4 KiB larger, and tokio copies a task's future
            // several times as it spawns it (docs/benchmarks.md, session 5).
            self.has_read = true;
            poll_fn(|cx| {
                let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
                let mut chunk = ReadBuf::uninit(&mut chunk);
                ready!(Pin::new(&mut self.io).poll_read(cx, &mut chunk))?;
                self.buf.extend_from_slice(chunk.filled());
                Poll::Ready(Ok(chunk.filled().len()))
            })
            .await
        };
        matches!(timeout_at(deadline, read).await, Ok(Ok(n)) if n > 0)
    }

    /// Answers a head that cannot be served with a JSON 400 and ends the connection: where
    /// the next request would start is unknown.
    async fn refuse(&mut self, reason: &str) {
        let response = ApiError::bad_request(format!("malformed HTTP request: {reason}")).error_response();
        if response::encode(response, true, &mut self.out).await.is_ok() && self.io.write_all(&self.out).await.is_ok() {
            let _ = self.io.shutdown().await;
        }
    }

    /// Reads the body, answers the request and writes the response; false when the
    /// connection must end (it failed, stalled past `deadline`, or is closed after this
    /// response).
    async fn publish(&mut self, state: &State, publish: &Publish, deadline: Instant) -> bool {
        // A shutdown waits for the request, body and response included.
        let _request = state.request_started();
        let len = publish.head_len + publish.body_len;
        while self.buf.len() < len {
            if !self.read(deadline).await {
                return false;
            }
        }
        let request = self.buf.split_to(len).freeze();
        // httparse has checked these parts are UTF-8; the check is repeated rather than assumed.
        let text = |range: &std::ops::Range<usize>| std::str::from_utf8(&request[range.clone()]).unwrap_or("");
        let head = ApiRequest { method: "POST", path: text(&publish.path), query: text(&publish.query) };
        let body = request.slice(publish.head_len..);
        let payload = stream::once(future::ready(Ok(body)));
        let response = crate::http::answer_publishing(state, publish.route, head, text(&publish.app_id), payload).await;
        // While shutting down (even if it began during this request, whose answer does not
        // depend on it), the client is told to take its next request elsewhere.
        let close = publish.close || state.is_shutting_down();
        if response::encode(response, close, &mut self.out).await.is_err() {
            return false;
        }
        self.io.write_all(&self.out).await.is_ok() && !close
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    /// The size of the future `make` returns, without making one.
    fn future_size<A, F: Future>(_make: impl FnOnce(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every connection's first task (this reader) and every WebSocket's task are moved
    /// several times while tokio spawns them, so their futures' sizes are a cost per
    /// connection; a buffer held across an `.await` once made the reader's 4.7 KB.
    #[test]
    fn the_per_connection_futures_stay_small() {
        let reader = future_size(|(state, io): (State, TcpStream)| async move { read_requests(&state, io).await });
        let websocket = future_size(|(state, handshake, io): (State, Handshake, TcpStream)| {
            crate::connection::serve(state, handshake, io, BytesMut::new())
        });
        assert!(reader <= 2048, "the reader's future is {reader} bytes");
        assert!(websocket <= 2048, "a WebSocket's future is {websocket} bytes");
    }
}
