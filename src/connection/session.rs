//! The per-connection task: one `select!` over close requests, the outbox, inbound messages
//! and the liveness timers. It is the only code that writes to its socket.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, Instant};

use super::handlers::Connection;
use super::socket::{Inbound, Outgoing, WsSocket};
use crate::hub::conn::{ConnHandle, ConnInbox};
use crate::hub::AppHub;
use crate::protocol::close_code::{self, CloseCode};
use crate::protocol::outbound;
use crate::protocol::socket_id::SocketId;
use crate::protocol::ws::{Frame, FrameError, Message};
use crate::state::State;
use crate::tap::TapEvent;

/// How long a closing connection may take to flush its last frames and see the peer's close.
const CLOSE_BOUND: Duration = Duration::from_secs(2);

/// Answers the handshake, sends `pusher:error` with the code, then closes with the same code
/// (older protocol versions read the event, newer ones the close code; both are harmless
/// together).
pub async fn refuse<T: AsyncRead + AsyncWrite + Unpin>(mut socket: WsSocket<T>, handshake: Vec<u8>, code: CloseCode) {
    crate::metrics::metrics().connections_refused.get_or_create(&crate::metrics::CodeLabel { code: code.code }).inc();
    let mut bytes = handshake;
    for frame in closing_frames(code.code, code.reason) {
        bytes.extend_from_slice(frame.wire());
    }
    let _ = tokio::time::timeout(CLOSE_BOUND, async {
        if socket.write_raw(&bytes).await.is_ok() {
            socket.finish().await;
        }
    })
    .await;
}

/// Liveness phases: waiting for activity, or waiting for an answer to our probe.
enum Liveness {
    Idle,
    Probed,
}

/// Why the loop ended, which decides what the last frames are.
enum Ending {
    /// Closed by herald with a Pusher close code.
    Code(CloseCode),
    /// The client broke the WebSocket protocol.
    Invalid(FrameError),
    /// The client sent a close frame.
    ClientClosed,
    /// The stream ended or failed: nothing more can be written.
    Gone,
}

/// What became of an attempt to write the outgoing frames.
enum Written {
    Done,
    Ended(Ending),
}

pub async fn run<T: AsyncRead + AsyncWrite + Unpin>(state: State, app: Arc<AppHub>, mut socket: WsSocket<T>, handshake: Vec<u8>) {
    // Held until the goodbye is over: a shutdown waits for it before it stops the workers.
    let _session = state.session_started();
    let (handle, inbox) = loop {
        let (handle, inbox) = ConnHandle::new(SocketId::random(), state.config.connection_queue_size);
        if app.add_connection(handle.clone()) {
            break (handle, inbox);
        }
    };
    // Admitted just before a shutdown began, registered after its sweep asked every socket
    // to close: this one closes itself, so the drain never waits on it.
    if state.is_shutting_down() {
        handle.close(close_code::SERVER_SHUTDOWN);
    }
    // Likewise for a reload that removed or disabled the app meanwhile.
    if let Some(code) = app.refusal() {
        handle.close(code);
    }
    let socket_id = handle.socket_id.to_string();
    let mut conn = Connection::new(state.clone(), app.clone(), handle, socket_id.clone());
    if !state.adapter.connection_opened(&app).await {
        // Not counted by the adapter, so not uncounted either.
        app.remove_connection(&conn.socket_id());
        return refuse(socket, handshake, close_code::OVER_QUOTA).await;
    }
    tracing::info!(app = %app.id(), socket_id, "connection opened");
    state.tap.emit(|| TapEvent::new(app.id(), "connection_opened").socket(&socket_id));

    // The handshake response and connection_established leave in one write.
    let mut hello = handshake;
    hello.extend_from_slice(outbound::connection_established(&socket_id, state.config.activity_timeout).wire());
    let mut out = Outgoing::default();
    let ending = match socket.write_raw(&hello).await {
        Ok(()) => serve(&state, &app, &mut conn, &mut socket, &inbox, &mut out).await,
        Err(_) => Ending::Gone,
    };

    conn.cleanup().await;
    app.remove_connection(&conn.socket_id());
    state.adapter.connection_closed(&app).await;
    let code = match &ending {
        Ending::Code(code) => Some(code.code),
        Ending::Invalid(e) => Some(e.close_code()),
        Ending::ClientClosed | Ending::Gone => None,
    };
    // A peer that stopped reading cannot hold the task past this bound.
    // Boxed for the same reason as the handlers: only the closing connection needs it.
    let _ = tokio::time::timeout(CLOSE_BOUND, Box::pin(say_goodbye(&mut socket, &inbox, &mut out, &ending))).await;
    drop(inbox);
    record_close(&state, &app, &socket_id, &ending, code);
}

/// The connection's life after `connection_established`, until something ends it.
async fn serve<T: AsyncRead + AsyncWrite + Unpin>(
    state: &State,
    app: &AppHub,
    conn: &mut Connection,
    socket: &mut WsSocket<T>,
    inbox: &ConnInbox,
    out: &mut Outgoing,
) -> Ending {
    let activity_timeout = Duration::from_secs(state.config.activity_timeout);
    let pong_timeout = Duration::from_secs(state.config.pong_timeout);
    let mut last_activity = Instant::now();
    let mut liveness = Liveness::Idle;
    let mut deadline = last_activity + activity_timeout;
    // With `authorized_connections`, a socket must sign in or join a private/presence channel
    // before this deadline.
    let config = app.config();
    let mut authorization_deadline = config.authorized_connections.then(|| Instant::now() + Duration::from_secs(config.authorization_timeout));
    drop(config);
    // One timer per purpose, reset when its deadline moves: creating a timer per loop turn
    // would cost a timer-wheel registration per delivered frame.
    let liveness_timer = sleep_until(deadline);
    tokio::pin!(liveness_timer);
    let authorization_timer = sleep_until(authorization_deadline.unwrap_or(deadline));
    tokio::pin!(authorization_timer);
    let mut closed = std::pin::pin!(inbox.closed());
    loop {
        // A reader that stops reading stalls our writes; past this point it is given up on.
        let stalled_after = last_activity + activity_timeout + pong_timeout;
        tokio::select! {
            biased;
            code = &mut closed => return Ending::Code(code),
            _ = poll_fn(|cx| inbox.take(cx, &mut out.frames)) => {
                if let Written::Ended(ending) = write_out(socket, out, closed.as_mut(), stalled_after).await {
                    return ending;
                }
            }
            inbound = socket.next() => {
                last_activity = Instant::now();
                liveness = Liveness::Idle;
                match inbound {
                    Inbound::Message(Message::Text(text)) => {
                        app.metrics.messages_in.inc();
                        app.metrics.bytes_in.inc_by(text.len() as u64);
                        // Boxed: a handler's state is large and only alive while a message is handled.
                        Box::pin(conn.handle_text(&text)).await;
                        if conn.is_authorized() {
                            authorization_deadline = None;
                        }
                    }
                    Inbound::Message(Message::Binary) => conn.send_error(None, "Binary frames are not supported; send JSON text frames"),
                    Inbound::Message(Message::Ping(payload)) => {
                        out.frames.push_back(Frame::pong(&payload));
                        if let Written::Ended(ending) = write_out(socket, out, closed.as_mut(), stalled_after).await {
                            return ending;
                        }
                    }
                    Inbound::Message(Message::Pong) => {}
                    Inbound::Message(Message::Close(_)) => return Ending::ClientClosed,
                    Inbound::Invalid(e) => return Ending::Invalid(e),
                    Inbound::Gone => return Ending::Gone,
                }
            }
            _ = &mut authorization_timer, if authorization_deadline.is_some() => {
                return Ending::Code(close_code::UNAUTHORIZED_CONNECTION);
            }
            _ = &mut liveness_timer => {
                match liveness {
                    _ if last_activity + activity_timeout > Instant::now() => {
                        deadline = last_activity + activity_timeout;
                    }
                    Liveness::Idle => {
                        // Probe with a WebSocket ping (Java and Swift never answer pusher:ping)
                        // and a pusher:ping for clients that only speak events.
                        out.frames.push_back(Frame::ping());
                        out.frames.push_back(outbound::ping());
                        if let Written::Ended(ending) = write_out(socket, out, closed.as_mut(), stalled_after).await {
                            return ending;
                        }
                        liveness = Liveness::Probed;
                        deadline = Instant::now() + pong_timeout;
                    }
                    Liveness::Probed => return Ending::Code(close_code::PONG_TIMEOUT),
                }
                liveness_timer.as_mut().reset(deadline);
            }
        }
    }
}

/// Writes what `out` holds. Almost always the socket has room and this completes at once; a
/// peer that stops reading makes it wait, and meanwhile a close request (slow consumer,
/// terminate, shutdown) or the stall deadline still ends the connection, so a stalled reader
/// cannot pin its task.
async fn write_out<T: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WsSocket<T>,
    out: &mut Outgoing,
    closed: std::pin::Pin<&mut crate::hub::conn::Closed<'_>>,
    stalled_after: Instant,
) -> Written {
    match socket.try_flush(out) {
        Ok(true) => Written::Done,
        Ok(false) => Box::pin(wait_for_reader(socket, out, closed, stalled_after)).await,
        Err(_) => Written::Ended(Ending::Gone),
    }
}

/// The slow path of [`write_out`], boxed so that its timer and `select!` state do not sit in
/// every connection's task while it is idle.
async fn wait_for_reader<T: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WsSocket<T>,
    out: &mut Outgoing,
    closed: std::pin::Pin<&mut crate::hub::conn::Closed<'_>>,
    stalled_after: Instant,
) -> Written {
    tokio::select! {
        written = socket.flush(out) => match written {
            Ok(()) => Written::Done,
            Err(_) => Written::Ended(Ending::Gone),
        },
        code = closed => Written::Ended(Ending::Code(code)),
        _ = sleep_until(stalled_after) => Written::Ended(Ending::Code(close_code::PONG_TIMEOUT)),
    }
}

/// The last frames: what the client was still owed, the reason, the close frame; then the
/// stream is shut down once the peer has seen it.
async fn say_goodbye<T: AsyncRead + AsyncWrite + Unpin>(socket: &mut WsSocket<T>, inbox: &ConnInbox, out: &mut Outgoing, ending: &Ending) {
    match ending {
        Ending::Gone => return,
        Ending::Code(code) => {
            if *code == close_code::SLOW_CONSUMER {
                // Its queue is the problem: what it has not started receiving is dropped.
                out.discard_unstarted();
            } else {
                // Deliver what was queued before the close request, so the close follows the
                // last event the client was owed.
                inbox.try_take(&mut out.frames);
            }
            out.frames.extend(closing_frames(code.code, code.reason));
        }
        Ending::Invalid(e) => {
            tracing::debug!(%e, "websocket protocol error");
            let message = format!("WebSocket protocol error: {e}");
            out.discard_unstarted();
            out.frames.extend(closing_frames(e.close_code(), &message));
        }
        Ending::ClientClosed => {
            out.discard_unstarted();
            out.frames.push_back(Frame::close(1000, ""));
        }
    }
    if socket.flush(out).await.is_ok() {
        socket.finish().await;
    }
}

/// `pusher:error` with the code, then the close frame with the same code: the event is for
/// clients that read events but not close codes (protocol < 6, e.g. the Java client).
fn closing_frames(code: u16, reason: &str) -> [Frame; 2] {
    [outbound::error(Some(code), reason), Frame::close(code, reason)]
}

fn record_close(state: &State, app: &AppHub, socket_id: &str, ending: &Ending, code: Option<u16>) {
    if matches!(ending, Ending::Code(c) if *c == close_code::SLOW_CONSUMER) {
        app.metrics.slow_consumers.inc();
    }
    let code_text = code.map(|c| c.to_string()).unwrap_or_else(|| "none".into());
    crate::metrics::metrics()
        .connections_closed
        .get_or_create(&crate::metrics::CloseLabels { app: app.id().to_string(), code: code_text.clone() })
        .inc();
    tracing::info!(app = %app.id(), socket_id, code = %code_text, "connection closed");
    state.tap.emit(|| {
        let event = TapEvent::new(app.id(), "connection_closed").socket(socket_id);
        match code {
            Some(code) => event.detail(format!("close code {code}")),
            None => event.detail("closed by the client"),
        }
    });
}
