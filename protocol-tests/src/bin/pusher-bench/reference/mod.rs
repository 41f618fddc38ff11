//! The reference "ideal" server: the least a Pusher-compatible server must do for the
//! benchmark scenarios, done cheaply, so herald can be judged against what this machine can
//! do. It speaks `/app/{key}` upgrades, `pusher:connection_established`, `pusher:subscribe`
//! (authorization is not checked), `pusher:ping`, client events on private and presence
//! channels, and UNSIGNED `POST /apps/{id}/events` and `/batch_events` on keep-alive HTTP.
//!
//! Every event is serialized once into a complete WebSocket frame (`Bytes`) shared by all
//! recipients; each connection has a bounded queue and is closed with 4100 when it is full.
//! One thread (`current_thread` runtime): pin it with `taskset` to give it one core.
//!
//! Not for production: no authentication, no limits beyond frame and body sizes.

mod wire;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, Notify};

use crate::cli::ReferenceArgs;

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 1024 * 1024;
const MAX_FRAME: usize = 64 * 1024;
/// Most bytes of queued frames gathered into one write.
const MAX_WRITE: usize = 64 * 1024;
const PONG: &str = r#"{"event":"pusher:pong","data":"{}"}"#;

pub fn run(args: &ReferenceArgs) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(serve(args.listen, args.queue))
}

async fn serve(listen: SocketAddr, queue: usize) -> io::Result<()> {
    let socket = if listen.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    let listener = socket.listen(4096)?;
    eprintln!("reference server listening on {listen} (ws://{listen}/app/KEY, POST http://{listen}/apps/ID/events)");
    let hub = Arc::new(Hub::default());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, hub.clone(), queue));
            }
            Err(e) => {
                // Out of file descriptors: wait for some to close rather than spin.
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// One subscriber's way in: its queue, and the signal that it fell behind.
struct Peer {
    id: u64,
    tx: mpsc::Sender<Bytes>,
    slow: Notify,
}

/// Channel name → subscribers by peer id.
type Channels = HashMap<Box<str>, HashMap<u64, Arc<Peer>>>;

/// Every channel's subscribers. The lock is never held across an await.
#[derive(Default)]
struct Hub {
    channels: Mutex<Channels>,
    next_id: AtomicU64,
}

impl Hub {
    fn channels(&self) -> std::sync::MutexGuard<'_, Channels> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn join(&self, channel: &str, peer: &Arc<Peer>) {
        self.channels().entry(channel.into()).or_default().insert(peer.id, peer.clone());
    }

    fn leave(&self, channel: &str, id: u64) {
        let mut channels = self.channels();
        if let Some(subs) = channels.get_mut(channel) {
            subs.remove(&id);
            if subs.is_empty() {
                channels.remove(channel);
            }
        }
    }

    /// Queues `frame` for every subscriber but `except`; a full queue marks its owner slow.
    fn publish(&self, channel: &str, frame: &Bytes, except: Option<u64>) {
        let channels = self.channels();
        let Some(subs) = channels.get(channel) else { return };
        for (id, peer) in subs {
            if Some(*id) == except {
                continue;
            }
            if let Err(mpsc::error::TrySendError::Full(_)) = peer.tx.try_send(frame.clone()) {
                peer.slow.notify_one();
            }
        }
    }
}

#[derive(Serialize)]
struct OutEvent<'a> {
    event: &'a str,
    channel: &'a str,
    data: &'a str,
}

/// An event frame, serialized once.
fn event_frame(event: &str, channel: &str, data: &str) -> Bytes {
    wire::text(&serde_json::to_string(&OutEvent { event, channel, data }).expect("strings serialize"))
}

fn data_string(data: &Value) -> String {
    match data {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads until `buf` holds a complete request head.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(wire::Head, usize)> {
    loop {
        if !buf.is_empty() {
            match wire::parse_head(buf) {
                Ok(Some(head)) => return Some(head),
                Ok(None) => {}
                Err(e) => {
                    let _ = stream.write_all(wire::http_response("400 Bad Request", &json_error(&e), false).as_bytes()).await;
                    return None;
                }
            }
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        buf.reserve(4096);
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

fn json_error(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

async fn connection(mut stream: TcpStream, hub: Arc<Hub>, queue: usize) {
    let mut buf = Vec::new();
    let Some((head, used)) = read_head(&mut stream, &mut buf).await else { return };
    match head.ws_key.clone() {
        Some(key) if head.method == "GET" && head.path.starts_with("/app/") => {
            buf.drain(..used);
            websocket(stream, &key, buf, hub, queue).await
        }
        _ => http(stream, head, used, buf, hub).await,
    }
}

// ---- HTTP API ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ApiEvent {
    name: String,
    data: Value,
    channel: Option<String>,
    channels: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ApiBatch {
    batch: Vec<ApiEvent>,
}

async fn http(mut stream: TcpStream, mut head: wire::Head, mut used: usize, mut buf: Vec<u8>, hub: Arc<Hub>) {
    loop {
        if head.content_length > MAX_BODY {
            let _ = stream.write_all(wire::http_response("413 Payload Too Large", &json_error("body too large"), false).as_bytes()).await;
            return;
        }
        let end = used + head.content_length;
        while buf.len() < end {
            buf.reserve(end - buf.len());
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let (status, body) = route(&head, &buf[used..end], &hub);
        let response = wire::http_response(status, &body, head.keep_alive);
        if stream.write_all(response.as_bytes()).await.is_err() || !head.keep_alive {
            return;
        }
        buf.drain(..end);
        match read_head(&mut stream, &mut buf).await {
            Some((h, u)) => (head, used) = (h, u),
            None => return,
        }
    }
}

fn route(head: &wire::Head, body: &[u8], hub: &Hub) -> (&'static str, String) {
    let path = head.path.split('?').next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').collect();
    let result = match (head.method.as_str(), segments.as_slice()) {
        ("POST", ["", "apps", _, "events"]) => serde_json::from_slice::<ApiEvent>(body).map(|e| publish(hub, &e)),
        ("POST", ["", "apps", _, "batch_events"]) => {
            serde_json::from_slice::<ApiBatch>(body).map(|b| b.batch.iter().for_each(|e| publish(hub, e)))
        }
        _ => return ("404 Not Found", json_error("not found")),
    };
    match result {
        Ok(()) => ("200 OK", "{}".into()),
        Err(e) => ("400 Bad Request", json_error(&e.to_string())),
    }
}

fn publish(hub: &Hub, event: &ApiEvent) {
    let data = data_string(&event.data);
    for channel in event.channel.iter().chain(event.channels.iter().flatten()) {
        hub.publish(channel, &event_frame(&event.name, channel, &data), None);
    }
}

// ---- WebSocket -----------------------------------------------------------------------------

#[derive(Deserialize)]
struct Incoming {
    event: String,
    #[serde(default)]
    data: Value,
    channel: Option<String>,
}

struct Session {
    hub: Arc<Hub>,
    peer: Arc<Peer>,
    channels: Vec<Box<str>>,
}

async fn websocket(mut stream: TcpStream, key: &str, pending: Vec<u8>, hub: Arc<Hub>, queue: usize) {
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let socket_id = format!("{}.{}", 1000 + id, (id * 7919) % 1_000_003);
    let established = serde_json::json!({
        "event": "pusher:connection_established",
        "data": serde_json::json!({ "socket_id": socket_id, "activity_timeout": 120 }).to_string(),
    });
    let mut hello = wire::upgrade_response(key).into_bytes();
    hello.extend_from_slice(&wire::text(&established.to_string()));
    if stream.write_all(&hello).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::channel(queue);
    let mut session = Session { hub, peer: Arc::new(Peer { id, tx, slow: Notify::new() }), channels: Vec::new() };
    let _ = session.run(&mut stream, &mut rx, pending).await;
    for channel in std::mem::take(&mut session.channels) {
        session.hub.leave(&channel, id);
    }
}

impl Session {
    /// Runs until the socket ends: writes queued frames in batches, reads client frames.
    async fn run(&mut self, stream: &mut TcpStream, rx: &mut mpsc::Receiver<Bytes>, mut pending: Vec<u8>) -> io::Result<()> {
        loop {
            while let Some((frame, used)) = wire::parse_client_frame(&pending, MAX_FRAME).map_err(io::Error::other)? {
                pending.drain(..used);
                if !self.on_frame(frame, stream).await? {
                    return Ok(());
                }
            }
            if pending.is_empty() && pending.capacity() > 0 {
                pending = Vec::new(); // idle sockets keep no read buffer
            }
            tokio::select! {
                biased;
                _ = self.peer.slow.notified() => {
                    stream.write_all(&wire::close(4100, "Slow consumer: the connection could not keep up")).await?;
                    return Ok(());
                }
                frame = rx.recv() => {
                    let Some(first) = frame else { return Ok(()) };
                    match rx.try_recv() {
                        Err(_) => stream.write_all(&first).await?,
                        Ok(second) => {
                            let mut batch = Vec::with_capacity(8 * first.len());
                            batch.extend_from_slice(&first);
                            batch.extend_from_slice(&second);
                            while batch.len() < MAX_WRITE {
                                match rx.try_recv() {
                                    Ok(f) => batch.extend_from_slice(&f),
                                    Err(_) => break,
                                }
                            }
                            stream.write_all(&batch).await?;
                        }
                    }
                }
                ready = stream.readable() => {
                    ready?;
                    pending.reserve(2048);
                    match stream.try_read_buf(&mut pending) {
                        Ok(0) => return Ok(()),
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// Handles one client frame; false ends the session.
    async fn on_frame(&mut self, frame: wire::ClientFrame, stream: &mut TcpStream) -> io::Result<bool> {
        match frame.opcode {
            wire::OP_TEXT if frame.fin => {
                if let Some(reply) = self.on_text(&frame.payload) {
                    stream.write_all(&reply).await?;
                }
                Ok(true)
            }
            wire::OP_PING => {
                stream.write_all(&wire::frame(wire::OP_PONG, &frame.payload)).await?;
                Ok(true)
            }
            wire::OP_PONG => Ok(true),
            wire::OP_CLOSE => {
                let _ = stream.write_all(&wire::close(1000, "")).await;
                Ok(false)
            }
            wire::OP_TEXT | wire::OP_BINARY | wire::OP_CONTINUATION => {
                let _ = stream.write_all(&wire::close(1003, "only unfragmented text frames")).await;
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// A client message; returns the direct reply, if any.
    fn on_text(&mut self, payload: &[u8]) -> Option<Bytes> {
        let msg: Incoming = serde_json::from_slice(payload).ok()?;
        // pusher:* data may come as an object or as a JSON string; client event data is relayed as is.
        let channel_of = |data: &Value| -> Option<String> {
            match data {
                Value::String(s) => serde_json::from_str::<Value>(s).ok()?.get("channel")?.as_str().map(str::to_owned),
                other => other.get("channel")?.as_str().map(str::to_owned),
            }
        };
        match msg.event.as_str() {
            "pusher:ping" => Some(wire::text(PONG)),
            "pusher:subscribe" => {
                let channel = channel_of(&msg.data)?;
                if !self.channels.iter().any(|c| **c == *channel) {
                    self.hub.join(&channel, &self.peer);
                    self.channels.push(channel.as_str().into());
                }
                let ok = OutEvent { event: "pusher_internal:subscription_succeeded", channel: &channel, data: "{}" };
                Some(wire::text(&serde_json::to_string(&ok).expect("strings serialize")))
            }
            "pusher:unsubscribe" => {
                let channel = channel_of(&msg.data)?;
                if let Some(i) = self.channels.iter().position(|c| **c == *channel) {
                    self.channels.swap_remove(i);
                    self.hub.leave(&channel, self.peer.id);
                }
                None
            }
            event if event.starts_with("client-") => {
                let channel = msg.channel?;
                let private = channel.starts_with("private-") || channel.starts_with("presence-");
                if private && self.channels.iter().any(|c| **c == *channel) {
                    let frame = event_frame(event, &channel, &data_string(&msg.data));
                    self.hub.publish(&channel, &frame, Some(self.peer.id));
                }
                None
            }
            _ => None,
        }
    }
}
