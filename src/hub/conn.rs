//! The handle through which the rest of the server reaches one connection.

use bytestring::ByteString;
use futures_util::task::AtomicWaker;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

use crate::protocol::close_code::{self, CloseCode};
use crate::protocol::socket_id::SocketId;

/// A cheap-to-clone handle to a connection's outbound queue and its close signal.
///
/// **Invariant:** nobody but the connection's own task writes to its socket. Everyone else
/// enqueues frames here, without waiting: a full queue marks the connection as a slow
/// consumer and asks its task to close it, so a publisher is never blocked by a reader.
#[derive(Clone)]
pub struct ConnHandle {
    pub socket_id: SocketId,
    tx: mpsc::Sender<ByteString>,
    control: Arc<Control>,
}

/// Close requests from outside the connection task (slow consumer, terminate, shutdown).
///
/// The connection task polls [`Control::closed`] on every turn of its loop, so it is built on
/// an `AtomicWaker` (a few atomic operations) rather than `Notify` (a mutex-guarded list).
pub struct Control {
    close: OnceLock<CloseCode>,
    waker: AtomicWaker,
}

/// The receiving half, owned by the connection task.
pub struct ConnInbox {
    pub frames: mpsc::Receiver<ByteString>,
    pub control: Arc<Control>,
}

impl ConnHandle {
    pub fn new(socket_id: SocketId, queue_size: usize) -> (ConnHandle, ConnInbox) {
        let (tx, rx) = mpsc::channel(queue_size);
        let control = Arc::new(Control { close: OnceLock::new(), waker: AtomicWaker::new() });
        (ConnHandle { socket_id, tx, control: control.clone() }, ConnInbox { frames: rx, control })
    }

    /// Enqueues a frame. Returns false when the frame was not queued.
    pub fn send(&self, frame: ByteString) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(close_code::SLOW_CONSUMER);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the connection task to close the socket with `code`. The first request wins.
    pub fn close(&self, code: CloseCode) {
        if self.control.close.set(code).is_ok() {
            self.control.waker.wake();
        }
    }
}

impl Control {
    /// Resolves once someone has asked for the connection to close, with the code to use.
    /// The future can be polled again and again (the connection loop keeps one).
    pub fn closed(&self) -> Closed<'_> {
        Closed { control: self }
    }
}

/// See [`Control::closed`].
pub struct Closed<'a> {
    control: &'a Control,
}

impl Future for Closed<'_> {
    type Output = CloseCode;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CloseCode> {
        if let Some(code) = self.control.close.get() {
            return Poll::Ready(*code);
        }
        self.control.waker.register(cx.waker());
        // A close may have landed between the check and the registration.
        match self.control.close.get() {
            Some(code) => Poll::Ready(*code),
            None => Poll::Pending,
        }
    }
}
