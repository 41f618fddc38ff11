//! The per-connection task: one `select!` over inbound frames, the outbound queue, close
//! requests and the liveness timer.

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseReason, Session};
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::time::{sleep_until, Instant};

use super::handlers::Connection;
use crate::hub::conn::ConnHandle;
use crate::hub::AppHub;
use crate::protocol::close_code::{self, CloseCode};
use crate::protocol::outbound;
use crate::protocol::socket_id::SocketId;
use crate::state::State;
use crate::tap::TapEvent;

/// Sends `pusher:error` with the code, then closes with the same code (older protocol
/// versions read the event, newer ones the close code; both are harmless together).
pub async fn refuse(mut session: Session, code: CloseCode) {
    let _ = session.text(outbound::error(Some(code.code), code.reason)).await;
    let _ = session.close(Some(close_reason(code))).await;
}

fn close_reason(code: CloseCode) -> CloseReason {
    CloseReason { code: code.code.into(), description: Some(code.reason.to_string()) }
}

/// Liveness phases: waiting for activity, or waiting for an answer to our probe.
enum Liveness {
    Idle,
    Probed,
}

pub async fn run(state: State, app: Arc<AppHub>, mut session: Session, mut stream: AggregatedMessageStream) {
    let (handle, mut inbox) = loop {
        let (handle, inbox) = ConnHandle::new(SocketId::random(), state.config.connection_queue_size);
        if app.add_connection(handle.clone()) {
            break (handle, inbox);
        }
    };
    let socket_id = handle.socket_id.to_string();
    tracing::info!(app = %app.config.id, socket_id, "connection opened");
    state.tap.emit(|| TapEvent::new(&app.config.id, "connection_opened").socket(&socket_id));

    let activity_timeout = Duration::from_secs(state.config.activity_timeout);
    let pong_timeout = Duration::from_secs(state.config.pong_timeout);
    let mut conn = Connection::new(state.clone(), app.clone(), handle);
    let established = outbound::connection_established(&socket_id, state.config.activity_timeout);

    let mut close_code: Option<CloseCode> = None;
    if !state.adapter.connection_opened(&app).await {
        // Not counted by the adapter, so not uncounted either.
        app.remove_connection(&conn.socket_id());
        return refuse(session, close_code::OVER_QUOTA).await;
    }
    if session.text(established).await.is_ok() {
        let mut last_activity = Instant::now();
        let mut liveness = Liveness::Idle;
        let mut deadline = last_activity + activity_timeout;
        // With `authorized_connections`, a socket must sign in or join a private/presence
        // channel before this deadline.
        let mut authorization_deadline = app
            .config
            .authorized_connections
            .then(|| Instant::now() + Duration::from_secs(app.config.authorization_timeout));
        // One timer per purpose, reset when its deadline moves: creating a timer per loop turn
        // would cost a timer-wheel registration per delivered frame.
        let liveness_timer = sleep_until(deadline);
        tokio::pin!(liveness_timer);
        let authorization_timer = sleep_until(authorization_deadline.unwrap_or(deadline));
        tokio::pin!(authorization_timer);
        let mut closed = inbox.control.closed();
        loop {
            tokio::select! {
                biased;
                code = &mut closed => {
                    close_code = Some(code);
                    break;
                }
                frame = inbox.frames.recv() => {
                    let Some(frame) = frame else { break };
                    let mut send = std::pin::pin!(session.text(frame));
                    // Almost always the session has room and the send completes at once.
                    let sent = std::future::poll_fn(|cx| Poll::Ready(match send.as_mut().poll(cx) {
                        Poll::Ready(r) => Some(r),
                        Poll::Pending => None,
                    }))
                    .await;
                    match sent {
                        Some(Ok(())) => {}
                        Some(Err(_)) => break,
                        // A peer that stops reading makes the send wait. Meanwhile a close
                        // request (slow consumer, terminate, shutdown) or the liveness deadline
                        // still ends the connection, so a stalled reader cannot pin its task.
                        None => {
                            let stalled_after = last_activity + activity_timeout + pong_timeout;
                            tokio::select! {
                                sent = send => if sent.is_err() { break },
                                code = &mut closed => {
                                    close_code = Some(code);
                                    break;
                                }
                                _ = sleep_until(stalled_after) => {
                                    close_code = Some(close_code::PONG_TIMEOUT);
                                    break;
                                }
                            }
                        }
                    }
                }
                message = stream.recv() => {
                    last_activity = Instant::now();
                    liveness = Liveness::Idle;
                    match message {
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            app.metrics.messages_in.inc();
                            app.metrics.bytes_in.inc_by(text.len() as u64);
                            conn.handle_text(&text).await;
                            if conn.is_authorized() {
                                authorization_deadline = None;
                            }
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => conn.send_error(None, "Binary frames are not supported; send JSON text frames"),
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if session.pong(&bytes).await.is_err() {
                                break;
                            }
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Close(_))) | None => break,
                        Some(Err(err)) => {
                            tracing::debug!(socket_id, %err, "websocket protocol error");
                            let message = format!("WebSocket protocol error: {err}");
                            let _ = session.text(outbound::error(Some(1009), &message)).await;
                            let _ = session.clone().close(Some(CloseReason { code: actix_ws::CloseCode::Size, description: Some(message) })).await;
                            break;
                        }
                    }
                }
                _ = &mut authorization_timer, if authorization_deadline.is_some() => {
                    close_code = Some(close_code::UNAUTHORIZED_CONNECTION);
                    break;
                }
                _ = &mut liveness_timer => {
                    match liveness {
                        _ if last_activity + activity_timeout > Instant::now() => {
                            deadline = last_activity + activity_timeout;
                        }
                        Liveness::Idle => {
                            // Probe with a WebSocket ping (Java and Swift never answer
                            // pusher:ping) and a pusher:ping for clients that only speak events.
                            if session.ping(b"").await.is_err() || session.text(outbound::ping()).await.is_err() {
                                break;
                            }
                            liveness = Liveness::Probed;
                            deadline = Instant::now() + pong_timeout;
                        }
                        Liveness::Probed => {
                            close_code = Some(close_code::PONG_TIMEOUT);
                            break;
                        }
                    }
                    liveness_timer.as_mut().reset(deadline);
                }
            }
        }
    }

    conn.cleanup().await;
    app.remove_connection(&conn.socket_id());
    state.adapter.connection_closed(&app).await;
    let finish = async {
        match close_code {
            Some(code) => {
                // Deliver what was queued before the close request (not to a slow consumer,
                // whose queue is the problem), so the close follows the last event it was owed.
                if code != close_code::SLOW_CONSUMER {
                    while let Ok(frame) = inbox.frames.try_recv() {
                        if session.text(frame).await.is_err() {
                            break;
                        }
                    }
                }
                // The error event before the close, for clients that read events but not close
                // codes (protocol < 6, e.g. the Java client).
                let _ = session.text(outbound::error(Some(code.code), code.reason)).await;
                let _ = session.close(Some(close_reason(code))).await;
            }
            None => {
                let _ = session.close(None).await;
            }
        }
    };
    // A peer that stopped reading cannot hold the task past this bound.
    let _ = tokio::time::timeout(Duration::from_secs(2), finish).await;
    let code = close_code.map(|c| c.code);
    if close_code == Some(close_code::SLOW_CONSUMER) {
        app.metrics.slow_consumers.inc();
    }
    crate::metrics::metrics()
        .connections_closed
        .get_or_create(&crate::metrics::CloseLabels {
            app: app.config.id.clone(),
            code: code.map(|c| c.to_string()).unwrap_or_else(|| "none".into()),
        })
        .inc();
    let code_text = code.map(|c| c.to_string()).unwrap_or_else(|| "none".into());
    tracing::info!(app = %app.config.id, socket_id, code = %code_text, "connection closed");
    state.tap.emit(|| {
        let event = TapEvent::new(&app.config.id, "connection_closed").socket(&socket_id);
        match code {
            Some(code) => event.detail(format!("close code {code}")),
            None => event.detail("closed by the client"),
        }
    });
}
