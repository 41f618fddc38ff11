//! Worker threads that accept connections themselves.
//!
//! Each worker is a thread with a single-threaded actix runtime (what actix-web's services
//! expect: they are `!Send` and spawn with `actix_rt::spawn`). Every worker registers the one
//! listening socket in its own event loop and accepts from it, then hands the connection to
//! its own copy of the service (herald's reader, behind TLS when configured).
//!
//! actix-server, which herald used before, accepts on a thread of its own and passes every
//! socket to a worker through a channel: one more thread woken per connection. With the
//! server on one core that was a context switch for most connections, and herald spent
//! 1.3× the reference's CPU per connect (docs/benchmarks.md, session 6). Accepting where the
//! connection is served costs nothing extra; the kernel's accept queue is shared, so a busy
//! worker simply accepts less and an idle one more. The price: every idle worker is woken for
//! a new connection and all but one find it taken, which measured at par with actix-server's
//! handover even with 8 workers on one core. One listening socket per worker
//! (`SO_REUSEPORT`) would avoid that wake, but it would let a second process bind the
//! port without an error, and it would tie each connection to one worker's queue.

use actix_service::{Service, ServiceFactory};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// How long accepting pauses after the process ran out of descriptors (or memory), so that
/// connections closing meanwhile can free some; accepting at once would spin.
const EXHAUSTED_PAUSE: Duration = Duration::from_millis(500);

/// Where the workers are in their life. Only ever moves forward.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Phase {
    Accepting,
    /// No new connections; those open are served on.
    Paused,
    /// Every worker's runtime is dropped, and with it every connection still open.
    Stopped,
}

/// The running workers; [`Workers::wait`] returns once every one has stopped.
pub struct Workers {
    handle: WorkersHandle,
    /// One per worker: how it ended (`Err` says why it failed).
    stopped: Vec<oneshot::Receiver<Result<(), String>>>,
}

/// Pauses or stops the workers; cheap to clone.
#[derive(Clone)]
pub struct WorkersHandle {
    phase: std::sync::Arc<watch::Sender<Phase>>,
}

impl WorkersHandle {
    /// Stops accepting on every worker. Connections already accepted are served on.
    pub fn pause(&self) {
        self.advance(Phase::Paused);
    }

    /// Stops every worker: each drops its runtime, closing every connection it still holds.
    pub fn stop(&self) {
        self.advance(Phase::Stopped);
    }

    fn advance(&self, to: Phase) {
        self.phase.send_if_modified(|phase| {
            let moved = *phase < to;
            *phase = (*phase).max(to);
            moved
        });
    }
}

impl Workers {
    /// Starts `count` workers accepting from `listener`; each serves its connections with a
    /// service from `make()`.
    pub fn start<M, F>(listener: &std::net::TcpListener, count: usize, make: M) -> io::Result<Workers>
    where
        M: Fn() -> F + Send + Clone + 'static,
        F: ServiceFactory<TcpStream, Config = (), Response = (), InitError = ()> + 'static,
        F::Service: 'static,
    {
        listener.set_nonblocking(true)?;
        let (phase, _) = watch::channel(Phase::Accepting);
        let handle = WorkersHandle { phase: std::sync::Arc::new(phase) };
        let mut stopped = Vec::with_capacity(count);
        for index in 0..count {
            let listener = listener.try_clone()?;
            let phase = handle.phase.subscribe();
            let make = make.clone();
            let (done, done_rx) = oneshot::channel();
            // A worker that panics drops `done` unsent, which `wait` reports as a panic.
            std::thread::Builder::new().name(format!("herald-worker-{index}")).spawn(move || {
                let served = match actix_web::rt::Runtime::new() {
                    // The service is built inside the runtime: actix-http's starts a task there.
                    Ok(runtime) => {
                        let served = runtime.block_on(async move { run_worker(listener, phase, make()).await });
                        // Dropping the runtime drops every connection task it still holds.
                        drop(runtime);
                        served
                    }
                    Err(e) => Err(format!("could not start its runtime: {e}")),
                };
                let _ = done.send(served);
            })?;
            stopped.push(done_rx);
        }
        Ok(Workers { handle, stopped })
    }

    pub fn handle(&self) -> WorkersHandle {
        self.handle.clone()
    }

    /// Waits until every worker has stopped. A worker that fails (it could not start, or it
    /// panicked) stops the others, and the error says which and why.
    pub async fn wait(self) -> io::Result<()> {
        let mut failures = FuturesUnordered::new();
        for (index, stopped) in self.stopped.into_iter().enumerate() {
            failures.push(async move { (index, stopped.await.unwrap_or_else(|_| Err("panicked".into()))) });
        }
        let mut first_failure = None;
        while let Some((index, result)) = failures.next().await {
            if let Err(reason) = result {
                // Logged here: the caller only learns that the server failed.
                tracing::error!("worker {index} {reason}; stopping the server");
                self.handle.stop();
                first_failure.get_or_insert(format!("worker {index} {reason}"));
            }
        }
        match first_failure {
            Some(failure) => Err(io::Error::other(failure)),
            None => Ok(()),
        }
    }
}

/// One worker's life: accept until paused, then serve on until stopped.
async fn run_worker<F>(listener: std::net::TcpListener, mut phase: watch::Receiver<Phase>, factory: F) -> Result<(), String>
where
    F: ServiceFactory<TcpStream, Config = (), Response = (), InitError = ()>,
    F::Service: 'static,
{
    let service = factory.new_service(()).await.map_err(|()| "could not build its service".to_string())?;
    let listener = TcpListener::from_std(listener).map_err(|e| format!("could not register the listening socket: {e}"))?;
    tokio::select! {
        biased;
        _ = phase.wait_for(|p| *p >= Phase::Paused) => {}
        () = accept(&listener, Rc::new(service)) => {}
    }
    // The worker's copy of the listening socket is closed here; connections go on.
    drop(listener);
    let _ = phase.wait_for(|p| *p == Phase::Stopped).await;
    Ok(())
}

/// Accepts connections and spawns a task serving each, until the listening socket is shut
/// down (as herald's shutdown does before pausing the workers).
async fn accept<S>(listener: &TcpListener, service: Rc<S>)
where
    S: Service<TcpStream, Response = ()> + 'static,
{
    loop {
        // A service that is not ready (TLS handshakes at their limit) leaves new connections
        // in the kernel's queue until it is.
        let _ = poll_fn(|cx| service.poll_ready(cx)).await;
        match listener.accept().await {
            Ok((io, _)) => {
                let service = service.clone();
                actix_web::rt::spawn(async move {
                    let _ = service.call(io).await;
                });
            }
            Err(e) => match AcceptError::of(&e) {
                // The client gave up before it was accepted: nothing to do.
                AcceptError::Connection => {}
                // Shut down under the loop: herald is stopping, and that is not an error.
                AcceptError::ListenerClosed => return,
                AcceptError::Exhausted => {
                    tracing::error!(
                        error = %e,
                        "cannot accept connections: out of file descriptors or memory; retrying in 500 ms (raise the open-file limit: `ulimit -n`, systemd's LimitNOFILE; or set the apps' `max_connections` below it)"
                    );
                    tokio::time::sleep(EXHAUSTED_PAUSE).await;
                }
                AcceptError::Other => {
                    tracing::error!(error = %e, "accepting a connection failed; retrying in 500 ms");
                    tokio::time::sleep(EXHAUSTED_PAUSE).await;
                }
            },
        }
    }
}

/// What a failed `accept` means for the loop.
#[derive(Debug, PartialEq, Eq)]
enum AcceptError {
    /// About one connection only (it was reset or aborted while queued).
    Connection,
    /// The listening socket was shut down.
    ListenerClosed,
    /// The process or the system ran out of descriptors or memory.
    Exhausted,
    Other,
}

impl AcceptError {
    fn of(error: &io::Error) -> AcceptError {
        match error.raw_os_error() {
            // What accept(2) answers on a listening socket that was shut down.
            Some(libc::EINVAL) => AcceptError::ListenerClosed,
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => AcceptError::Exhausted,
            // The queued connection was reset, or an error of its network that accept(2)
            // passes on as its own.
            Some(
                libc::ECONNABORTED
                | libc::ECONNRESET
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH,
            ) => AcceptError::Connection,
            _ => AcceptError::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_service::fn_service;
    use std::io::{Read, Write};
    use std::net::TcpStream as StdStream;

    const WAIT: Duration = Duration::from_secs(10);

    fn listener() -> std::net::TcpListener {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap()
    }

    fn connect(listener: &std::net::TcpListener) -> StdStream {
        let stream = StdStream::connect(listener.local_addr().unwrap()).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream
    }

    /// A service that echoes every byte until the peer closes.
    fn echo() -> impl ServiceFactory<TcpStream, Config = (), Response = (), Error = io::Error, InitError = ()> {
        actix_service::fn_factory(|| async {
            Ok::<_, ()>(fn_service(|mut io: TcpStream| async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 64];
                loop {
                    let n = io.read(&mut buf).await?;
                    if n == 0 {
                        return Ok(());
                    }
                    io.write_all(&buf[..n]).await?;
                }
            }))
        })
    }

    fn echoes(stream: &mut StdStream, byte: u8) -> bool {
        let mut got = [0u8; 1];
        stream.write_all(&[byte]).is_ok() && stream.read_exact(&mut got).is_ok() && got[0] == byte
    }

    fn wait(workers: Workers) -> io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async { tokio::time::timeout(WAIT, workers.wait()).await.expect("the workers stopped in time") })
    }

    #[test]
    fn workers_serve_open_connections_after_a_pause_and_close_them_at_stop() {
        let listener = listener();
        let workers = Workers::start(&listener, 2, echo).unwrap();
        let mut streams: Vec<StdStream> = (0..20).map(|_| connect(&listener)).collect();
        for (i, stream) in streams.iter_mut().enumerate() {
            assert!(echoes(stream, i as u8), "connection {i} was not served");
        }
        let handle = workers.handle();
        handle.pause();
        for (i, stream) in streams.iter_mut().enumerate() {
            assert!(echoes(stream, 100 + i as u8), "connection {i} was not served on after the pause");
        }
        handle.stop();
        wait(workers).unwrap();
        for (i, stream) in streams.iter_mut().enumerate() {
            let mut rest = Vec::new();
            // Closed by the worker: end of stream (or a reset), never a timeout.
            match stream.read_to_end(&mut rest) {
                Ok(_) => assert!(rest.is_empty()),
                Err(e) => assert_ne!(e.kind(), io::ErrorKind::WouldBlock, "connection {i} was left open at stop"),
            }
        }
    }

    #[test]
    fn a_listening_socket_shut_down_under_the_workers_ends_their_accepting_quietly() {
        let listener = listener();
        let workers = Workers::start(&listener, 2, echo).unwrap();
        let mut open = connect(&listener);
        assert!(echoes(&mut open, 1));
        socket2::SockRef::from(&listener).shutdown(std::net::Shutdown::Both).unwrap();
        assert!(StdStream::connect(listener.local_addr().unwrap()).is_err(), "a shut-down listener still took a connection");
        assert!(echoes(&mut open, 2), "an open connection was lost when the listener closed");
        workers.handle().stop();
        wait(workers).unwrap();
    }

    #[test]
    fn a_worker_that_cannot_build_its_service_fails_the_server() {
        let listener = listener();
        let failing = || actix_service::fn_factory(|| async { Err::<actix_service::boxed::BoxService<TcpStream, (), io::Error>, ()>(()) });
        let workers = Workers::start(&listener, 2, failing).unwrap();
        let error = wait(workers).unwrap_err();
        assert!(error.to_string().contains("could not build its service"), "{error}");
    }

    #[test]
    fn accept_errors_are_sorted_by_what_the_loop_must_do() {
        let os = io::Error::from_raw_os_error;
        assert_eq!(AcceptError::of(&os(libc::ECONNABORTED)), AcceptError::Connection);
        assert_eq!(AcceptError::of(&os(libc::EPROTO)), AcceptError::Connection);
        assert_eq!(AcceptError::of(&os(libc::EINVAL)), AcceptError::ListenerClosed);
        assert_eq!(AcceptError::of(&os(libc::EMFILE)), AcceptError::Exhausted);
        assert_eq!(AcceptError::of(&os(libc::ENFILE)), AcceptError::Exhausted);
        assert_eq!(AcceptError::of(&os(libc::EBADF)), AcceptError::Other);
    }

    #[test]
    fn phases_only_move_forward() {
        let (phase, rx) = watch::channel(Phase::Accepting);
        let handle = WorkersHandle { phase: std::sync::Arc::new(phase) };
        handle.stop();
        handle.pause();
        assert_eq!(*rx.borrow(), Phase::Stopped);
    }
}
