//! Client connections: opening many of them from several loopback source addresses, the
//! Pusher handshake and subscription, and the lean receive loop.
//!
//! One process holds at most ~19k sockets (the open-file limit is 20,000), and one source
//! address has ~28k ephemeral ports; spreading sockets over 127.0.0.1–127.0.0.4 keeps large
//! runs and back-to-back runs (TIME_WAIT) clear of port exhaustion.

use futures_util::{SinkExt, StreamExt};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::cli::Target;
use crate::payload::{SeqTracker, Stamp};
use crate::stats::Recorder;
use crate::sys;

pub type Ws = WebSocketStream<TcpStream>;

/// How many loopback source addresses sockets are spread over.
const SOURCE_ADDRESSES: usize = 4;
/// The most one handshake plus subscription may take.
const SETUP_STEP_TIMEOUT: Duration = Duration::from_secs(30);

pub const PONG: &str = r#"{"event":"pusher:pong","data":{}}"#;

/// A connection that received `pusher:connection_established`.
pub struct Opened {
    pub ws: Ws,
    pub socket_id: String,
    /// From the start of the TCP connect to the handshake event.
    pub established_after: Duration,
}

/// Opens connection number `index` and waits for `pusher:connection_established`.
pub async fn open(target: &Target, index: usize) -> Result<Opened, String> {
    let started = Instant::now();
    let node = target.node(index);
    let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    if node.addr.ip().is_loopback() {
        sys::bind_address_no_port(socket.as_raw_fd());
        let source = Ipv4Addr::new(127, 0, 0, 1 + (index % SOURCE_ADDRESSES) as u8);
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).map_err(|e| format!("bind {source}: {e}"))?;
    }
    let stream = socket.connect(node.addr).await.map_err(|e| format!("connect {}: {e}", node.addr))?;
    let _ = stream.set_nodelay(true);
    let (mut ws, _) = tokio_tungstenite::client_async(node.url.as_str(), stream)
        .await
        .map_err(|e| format!("WebSocket handshake: {e}"))?;
    let first = next_text(&mut ws).await?;
    let socket_id = parse_established(&first)?;
    Ok(Opened { ws, socket_id, established_after: started.elapsed() })
}

/// The next text frame, answering `pusher:ping` on the way.
async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("\"pusher:ping\"") => {
                ws.send(Message::Text(PONG.into())).await.map_err(|e| e.to_string())?;
            }
            Some(Ok(Message::Text(t))) => return Ok(t),
            Some(Ok(Message::Close(frame))) => return Err(format!("closed by the server: {frame:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection ended".into()),
        }
    }
}

fn parse_established(frame: &str) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_str(frame).map_err(|e| format!("first frame is not JSON ({e}): {frame}"))?;
    if v["event"] != "pusher:connection_established" {
        return Err(format!("expected pusher:connection_established, got: {frame}"));
    }
    let data: serde_json::Value = match &v["data"] {
        serde_json::Value::String(s) => serde_json::from_str(s).map_err(|e| format!("handshake data: {e}"))?,
        other => other.clone(),
    };
    data["socket_id"].as_str().map(str::to_owned).ok_or_else(|| format!("no socket_id in {frame}"))
}

/// Subscribes and waits for `pusher_internal:subscription_succeeded`.
pub async fn subscribe(ws: &mut Ws, channel: &str, auth: Option<&str>) -> Result<(), String> {
    let mut data = serde_json::json!({ "channel": channel });
    if let Some(auth) = auth {
        data["auth"] = auth.into();
    }
    let frame = serde_json::json!({ "event": "pusher:subscribe", "data": data }).to_string();
    ws.send(Message::Text(frame)).await.map_err(|e| format!("send subscribe: {e}"))?;
    loop {
        let text = next_text(ws).await?;
        if text.contains("pusher_internal:subscription_succeeded") {
            return Ok(());
        }
        if text.contains("pusher:subscription_error") || text.contains("pusher:error") {
            return Err(format!("subscribing to {channel}: {text}"));
        }
    }
}

/// Handles one received text frame; returns a reply to send, if any.
pub fn on_text(text: &str, seqs: &mut SeqTracker, rec: &Recorder) -> Option<&'static str> {
    if let Some(stamp) = Stamp::find(text) {
        let in_order = seqs.observe(stamp.stream, stamp.seq);
        rec.delivery(&stamp, in_order);
        None
    } else if text.contains("\"pusher:ping\"") {
        Some(PONG)
    } else {
        if text.contains("\"pusher:error\"") {
            rec.server_error(text);
        }
        None
    }
}

/// Receives until the socket ends, recording every stamped delivery.
pub async fn receive(mut ws: Ws, rec: Arc<Recorder>) {
    let mut seqs = SeqTracker::default();
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(text)) => {
                if let Some(reply) = on_text(&text, &mut seqs, &rec) {
                    let _ = ws.send(Message::Text(reply.into())).await;
                }
            }
            Ok(Message::Close(frame)) => return rec.disconnect(frame.map(|f| u16::from(f.code))),
            Ok(_) => {}
            Err(_) => return rec.disconnect(None),
        }
    }
    rec.disconnect(None);
}

/// The channel-authorization token for a private channel, signed with herald's own code.
pub fn private_auth(target: &Target, socket_id: &str, channel: &str) -> String {
    use herald::protocol::token;
    let to_sign = token::channel_string_to_sign(socket_id, channel, None);
    format!("{}:{}", target.key, token::sign(&target.secret, to_sign.as_bytes()))
}

/// Setup progress shared by the tasks of a [`Fleet`].
#[derive(Default)]
struct Progress {
    ready: AtomicUsize,
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

/// Given to each connection task: report the outcome of its setup exactly once.
pub struct Slot {
    progress: Arc<Progress>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Slot {
    /// Reports the setup result (frees the handshake slot for the next connection).
    pub fn done<T>(mut self, result: Result<T, String>) -> Option<T> {
        self.permit.take();
        match result {
            Ok(v) => {
                self.progress.ready.fetch_add(1, Ordering::AcqRel);
                Some(v)
            }
            Err(e) => {
                self.progress.failed.fetch_add(1, Ordering::AcqRel);
                self.progress.first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                None
            }
        }
    }

    /// Runs `setup` with the per-step time bound and reports its result.
    pub async fn setup<T>(self, setup: impl Future<Output = Result<T, String>>) -> Option<T> {
        let result = match tokio::time::timeout(SETUP_STEP_TIMEOUT, setup).await {
            Ok(r) => r,
            Err(_) => Err(format!("setup took longer than {SETUP_STEP_TIMEOUT:?}")),
        };
        self.done(result)
    }
}

/// Many connection tasks, opened with bounded concurrency; aborted (sockets dropped) on drop.
pub struct Fleet {
    tasks: Vec<JoinHandle<()>>,
    progress: Arc<Progress>,
}

impl Fleet {
    /// Spawns `n` tasks; task `i` runs `make(i, slot)` once a handshake slot is free, and
    /// must report its setup through `slot.done` or `slot.setup`.
    pub fn spawn<F, Fut>(n: usize, concurrency: usize, make: F) -> Fleet
    where
        F: Fn(usize, Slot) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let progress = Arc::new(Progress::default());
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let make = Arc::new(make);
        let tasks = (0..n)
            .map(|i| {
                let (progress, gate, make) = (progress.clone(), gate.clone(), make.clone());
                tokio::spawn(async move {
                    let permit = gate.acquire_owned().await.expect("the gate is never closed");
                    make(i, Slot { progress, permit: Some(permit) }).await
                })
            })
            .collect();
        Fleet { tasks, progress }
    }

    /// Waits until every task finished its setup; an error names the first failure.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        let n = self.tasks.len();
        let mut last_print = Instant::now();
        loop {
            let ready = self.progress.ready.load(Ordering::Acquire);
            let failed = self.progress.failed.load(Ordering::Acquire);
            if failed > 0 {
                let e = self.progress.first_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
                return Err(format!("{failed} of {n} connections failed to set up; first error: {}", e.unwrap_or_default()));
            }
            if ready == n {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(format!("only {ready} of {n} connections were ready after {timeout:?}"));
            }
            if last_print.elapsed() > Duration::from_secs(5) {
                eprintln!("  … {ready}/{n} connections ready");
                last_print = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
