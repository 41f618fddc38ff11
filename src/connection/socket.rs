//! A WebSocket over the upgraded byte stream (TCP or TLS), owned by its connection task.
//!
//! herald writes frames itself instead of going through actix's WebSocket actor: a delivery is
//! one pre-encoded [`Frame`] moved from the outbox into a write (a plain `send` for one frame,
//! a vectored write for several) by the connection's own task, with no second queue and no
//! second task. An idle socket holds no read or write buffer: reads land in a stack buffer and
//! are copied out only while a frame is incomplete.

use bytes::BytesMut;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::protocol::ws::{self, Assembler, Frame, FrameError, Message};

/// Bytes read from the socket per read call.
const READ_CHUNK: usize = 4096;
/// Frames gathered into one vectored write.
const MAX_IOVECS: usize = 64;

/// What reading the socket produced.
pub enum Inbound {
    Message(Message),
    /// The client broke the WebSocket protocol; the connection must close with the error's code.
    Invalid(FrameError),
    /// The peer closed the stream or the stream failed.
    Gone,
}

pub struct WsSocket<T> {
    io: T,
    /// Bytes read but not yet decoded. Unallocated while empty.
    read_buf: BytesMut,
    assembler: Assembler,
    max_message: usize,
}

/// Frames on their way to the socket. Kept apart from [`WsSocket`] so the connection loop can
/// fill it from the outbox while it waits to read.
#[derive(Default)]
pub struct Outgoing {
    pub frames: VecDeque<Frame>,
    /// Bytes of the first frame already on the wire.
    written: usize,
}

impl Outgoing {
    /// Drops the frames a write of `n` bytes completed.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.frames.front() else { return };
            let left = front.wire().len() - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            self.written = 0;
            self.frames.pop_front();
        }
    }

    /// Forgets every frame not yet started; a frame cut halfway must still be finished before
    /// anything else, or the stream would no longer parse.
    pub fn discard_unstarted(&mut self) {
        self.frames.truncate(usize::from(self.written > 0));
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> WsSocket<T> {
    /// `early` holds bytes the client sent right after its handshake, if any.
    pub fn new(io: T, early: BytesMut, max_message: usize) -> Self {
        WsSocket {
            io,
            read_buf: early,
            assembler: Assembler::default(),
            max_message,
        }
    }

    /// Waits for the next whole message. Cancel-safe: bytes read are kept in `read_buf`.
    pub async fn next(&mut self) -> Inbound {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Inbound> {
        loop {
            match self.decode() {
                Ok(Some(message)) => return Poll::Ready(Inbound::Message(message)),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Inbound::Invalid(e)),
            }
            // Uninitialised: a poll that finds nothing to read (every wake for an outgoing
            // frame polls the reader too) must not pay for zeroing 4 KiB.
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut buf = ReadBuf::uninit(&mut chunk);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                Ok(()) if buf.filled().is_empty() => return Poll::Ready(Inbound::Gone),
                Ok(()) => self.read_buf.extend_from_slice(buf.filled()),
                Err(_) => return Poll::Ready(Inbound::Gone),
            }
        }
    }

    /// Decodes buffered frames until one completes a message.
    fn decode(&mut self) -> Result<Option<Message>, FrameError> {
        let limit = self.max_message;
        let message = loop {
            match ws::decode(&mut self.read_buf, limit)? {
                None => break None,
                Some(frame) => {
                    if let Some(message) = self.assembler.push(frame, limit)? {
                        break Some(message);
                    }
                }
            }
        };
        if self.read_buf.is_empty() && self.read_buf.capacity() > 0 {
            self.read_buf = BytesMut::new();
        }
        Ok(message)
    }

    /// Writes everything in `out`. Cancel-safe: progress is kept in `out`.
    pub async fn flush(&mut self, out: &mut Outgoing) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx, out)).await
    }

    /// Writes once without waiting; true when everything in `out` is on the wire. Most writes
    /// to a healthy socket complete at once, which spares the caller setting up a wait.
    pub fn try_flush(&mut self, out: &mut Outgoing) -> io::Result<bool> {
        let waker = futures_util::task::noop_waker();
        match self.poll_flush(&mut Context::from_waker(&waker), out) {
            Poll::Ready(result) => result.map(|()| true),
            Poll::Pending => Ok(false),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>, out: &mut Outgoing) -> Poll<io::Result<()>> {
        while !out.frames.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            for (i, frame) in out.frames.iter().take(MAX_IOVECS).enumerate() {
                let bytes = if i == 0 { &frame.wire()[out.written..] } else { &frame.wire()[..] };
                slices[count] = IoSlice::new(bytes);
                count += 1;
            }
            // One frame, the usual case outside bursts, goes out with a plain `send`: `writev`
            // takes the VFS path (fd position lookup, iovec import) before reaching the same
            // socket code, ~3.5% of herald's CPU in unicast (docs/benchmarks.md, session 5).
            let io = Pin::new(&mut self.io);
            let n = ready!(if count == 1 { io.poll_write(cx, &slices[0]) } else { io.poll_write_vectored(cx, &slices[..count]) })?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            out.advance(n);
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Writes raw bytes (the handshake response) before any frame.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Ends the stream after a close frame went out: shuts down our side, then reads until the
    /// peer closes too, so unread client bytes do not turn our close into a reset that could
    /// destroy the close frame in flight. The caller bounds how long this may take.
    pub async fn finish(&mut self) {
        if self.io.shutdown().await.is_err() {
            return;
        }
        let _ = poll_fn(|cx| {
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            loop {
                let mut buf = ReadBuf::uninit(&mut chunk);
                match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                    Ok(()) if !buf.filled().is_empty() => continue,
                    _ => return Poll::Ready(()),
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Flushes `frames` into a pipe that takes at most 1 KiB at a time, so every write is
    /// partial, and returns what the other end read.
    async fn flushed_through_narrow_pipe(frames: Vec<Frame>) -> (Vec<u8>, Vec<u8>) {
        let expected: Vec<u8> = frames.iter().flat_map(|f| f.wire().to_vec()).collect();
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut socket = WsSocket::new(ours, BytesMut::new(), 1 << 20);
        let mut out = Outgoing { frames: frames.into(), written: 0 };
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).await.map(|_| got)
        });
        socket.flush(&mut out).await.expect("flushed");
        assert!(out.frames.is_empty() && out.written == 0, "everything written is forgotten");
        drop(socket);
        (reader.await.unwrap().unwrap(), expected)
    }

    #[tokio::test]
    async fn a_single_frame_larger_than_the_socket_takes_goes_out_whole() {
        let (got, expected) = flushed_through_narrow_pipe(vec![Frame::text(&"a".repeat(10_000))]).await;
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn several_frames_cut_by_partial_writes_arrive_whole_and_in_order() {
        let frames = (0..40).map(|i| Frame::text(&format!("{i}:{}", "b".repeat(i * 37)))).collect();
        let (got, expected) = flushed_through_narrow_pipe(frames).await;
        assert_eq!(got, expected);
    }
}
