//! The handle through which the rest of the server reaches one connection.

use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};

use crate::protocol::close_code::{self, CloseCode};
use crate::protocol::socket_id::SocketId;
use crate::protocol::ws::Frame;

/// A cheap-to-clone handle to a connection's outbox and its close signal.
///
/// **Invariant:** nobody but the connection's own task writes to its socket. Everyone else
/// enqueues frames here, without waiting: a full outbox marks the connection as a slow
/// consumer and asks its task to close it, so a publisher is never blocked by a reader.
#[derive(Clone)]
pub struct ConnHandle {
    pub socket_id: SocketId,
    outbox: Arc<Outbox>,
}

/// Frames waiting for the connection task, and close requests from outside it (slow
/// consumer, terminate, shutdown).
///
/// A plain mutex-guarded deque rather than a channel: an idle connection's queue holds no
/// allocation beyond its last burst, and the task takes everything queued in one swap, which
/// becomes one vectored write. One `AtomicWaker` serves both frames and close requests because
/// one task waits for both.
struct Outbox {
    queue: Mutex<Queue>,
    capacity: usize,
    close: OnceLock<CloseCode>,
    waker: AtomicWaker,
}

struct Queue {
    frames: VecDeque<Frame>,
    /// False once the connection task is gone: frames sent then are not queued.
    open: bool,
}

/// The receiving side, owned by the connection task.
pub struct ConnInbox {
    outbox: Arc<Outbox>,
}

impl ConnHandle {
    pub fn new(socket_id: SocketId, queue_size: usize) -> (ConnHandle, ConnInbox) {
        let outbox = Arc::new(Outbox {
            queue: Mutex::new(Queue { frames: VecDeque::new(), open: true }),
            capacity: queue_size.max(1),
            close: OnceLock::new(),
            waker: AtomicWaker::new(),
        });
        (ConnHandle { socket_id, outbox: outbox.clone() }, ConnInbox { outbox })
    }

    /// Enqueues a frame. Returns false when the frame was not queued.
    pub fn send(&self, frame: Frame) -> bool {
        let mut queue = self.outbox.lock();
        if !queue.open {
            return false;
        }
        if queue.frames.len() >= self.outbox.capacity {
            drop(queue);
            self.close(close_code::SLOW_CONSUMER);
            return false;
        }
        let was_empty = queue.frames.is_empty();
        queue.frames.push_back(frame);
        drop(queue);
        // The task drains the whole queue when it wakes, so only the first frame wakes it.
        if was_empty {
            self.outbox.waker.wake();
        }
        true
    }

    /// Asks the connection task to close the socket with `code`. The first request wins.
    pub fn close(&self, code: CloseCode) {
        if self.outbox.close.set(code).is_ok() {
            self.outbox.waker.wake();
        }
    }
}

impl Outbox {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the lock; a poisoned queue is still a valid queue.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ConnInbox {
    /// Resolves once someone has asked for the connection to close, with the code to use.
    /// The future can be polled again and again (the connection loop keeps one).
    pub fn closed(&self) -> Closed<'_> {
        Closed { outbox: &self.outbox }
    }

    /// Moves every queued frame to the back of `into`, waiting until there is at least one.
    /// `into` is expected to be empty, so the swap hands over the queue's allocation.
    pub fn take(&self, cx: &mut Context<'_>, into: &mut VecDeque<Frame>) -> Poll<()> {
        if self.try_take(into) {
            return Poll::Ready(());
        }
        self.outbox.waker.register(cx.waker());
        // A frame may have landed between the check and the registration.
        match self.try_take(into) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }

    /// Like [`ConnInbox::take`], without waiting. True when something was taken.
    pub fn try_take(&self, into: &mut VecDeque<Frame>) -> bool {
        let mut queue = self.outbox.lock();
        if queue.frames.is_empty() {
            return false;
        }
        if into.is_empty() {
            std::mem::swap(&mut queue.frames, into);
        } else {
            into.extend(queue.frames.drain(..));
        }
        true
    }
}

#[cfg(test)]
impl ConnInbox {
    /// The oldest queued frame's text, for tests.
    pub fn pop_text(&self) -> Option<String> {
        self.outbox.lock().frames.pop_front().map(|f| f.text_payload().to_string())
    }
}

impl Drop for ConnInbox {
    /// Frames queued for a finished connection would never be written: refuse further ones
    /// and free the queued ones now rather than when the last handle goes away.
    fn drop(&mut self) {
        let mut queue = self.outbox.lock();
        queue.open = false;
        queue.frames = VecDeque::new();
    }
}

/// See [`ConnInbox::closed`].
pub struct Closed<'a> {
    outbox: &'a Outbox,
}

impl Future for Closed<'_> {
    type Output = CloseCode;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CloseCode> {
        if let Some(code) = self.outbox.close.get() {
            return Poll::Ready(*code);
        }
        self.outbox.waker.register(cx.waker());
        // A close may have landed between the check and the registration.
        match self.outbox.close.get() {
            Some(code) => Poll::Ready(*code),
            None => Poll::Pending,
        }
    }
}
