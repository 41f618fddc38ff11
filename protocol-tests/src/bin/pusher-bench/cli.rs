//! The command line: global target and run flags, one subcommand per scenario, plus
//! `reference` and `compare`.

use clap::{Args, Parser, Subcommand};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

const USAGE: &str = "\
Usage examples (herald's dev app is the default target: id 1, key herald-dev-key):

  cargo build --release --bin herald
  cargo build --release -p protocol-tests --bin pusher-bench
  B=target/release/pusher-bench

  # one scenario against a running server, the server pinned to CPU 0 and the tool to CPU 1
  $B fanout --subscribers 1000 --rate 20 --pid $(pidof herald) --server-cpu 0 --client-cpu 1
  $B unicast --channels 5000 --batch 10 --rate 2000 --pid $(pidof herald)
  $B connect --connections 10000 --pid $(pidof herald)
  $B client-events --members 50 --rate 5 --pid $(pidof herald)
  $B saturate --subscribers 1000 --pid $(pidof herald)
  $B triggers --connections 32 --duration 10 --pid $(pidof herald)

  # any Pusher-compatible server: give its addresses and app credentials
  $B fanout --ws ws://127.0.0.1:6001 --http http://127.0.0.1:6001 --app-id 1 --key KEY --secret SECRET

  # the reference \"ideal\" server (public subscribe, ping, client events, UNSIGNED triggers)
  taskset -c 0 $B reference --listen 127.0.0.1:6002

  # a cluster: subscribers spread round robin over two nodes, events published through the
  # --http node; CPU summed over both pids, redis-server's CPU reported on its own
  $B fanout --ws ws://127.0.0.1:6001,ws://127.0.0.1:6002 --http http://127.0.0.1:6001 \\
     --pid $(pgrep -d, -x herald) --redis-pid $(pgrep -x redis-server)

  # herald and the reference side by side: each run starts a fresh server pinned to
  # --server-cpu (default 0), the tool on --client-cpu (default 1), order A B A B A B,
  # then medians and herald/reference ratios
  $B compare --herald target/release/herald fanout --subscribers 1000 --rate 20

  # one herald node against a 2-node cluster (its own redis-server on --redis-port 16379),
  # all servers on --server-cpu, the same A B A B A B order
  $B compare --herald target/release/herald --cluster-nodes 2 fanout --subscribers 1000 --rate 20

Every run is bounded: --warmup + --duration of load, at most --drain to collect stragglers,
--setup-timeout for opening connections. CPU µs per delivery and KB per connection need --pid
(compare sets it). Add --json for one JSON line per result. See docs/benchmarks.md.";

#[derive(Parser)]
#[command(
    name = "pusher-bench",
    version,
    about = "Load generator and reference server for Pusher-compatible servers",
    after_help = USAGE
)]
pub struct Cli {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the server is and how to sign for it.
#[derive(Args, Clone, Debug)]
pub struct TargetArgs {
    /// WebSocket base URL; clients open {ws}/app/{key}?protocol=7. Repeat the flag (or give a
    /// comma-separated list) to spread connections round robin over several nodes of a cluster.
    #[arg(long, global = true, value_delimiter = ',', default_value = "ws://127.0.0.1:6001")]
    pub ws: Vec<String>,
    /// HTTP API base URL; events go to {http}/apps/{app-id}/events (signed, keep-alive).
    #[arg(long, global = true, default_value = "http://127.0.0.1:6001")]
    pub http: String,
    #[arg(long, global = true, default_value = "1")]
    pub app_id: String,
    #[arg(long, global = true, default_value = "herald-dev-key")]
    pub key: String,
    #[arg(long, global = true, default_value = "herald-dev-secret")]
    pub secret: String,
    /// The server's process id: measure its CPU time and RSS over each window. Repeat it (or
    /// comma-separate) for a cluster: the nodes' CPU and RSS are summed.
    #[arg(long, global = true, value_delimiter = ',')]
    pub pid: Vec<u32>,
    /// A helper process (e.g. the cluster's redis-server) whose CPU is reported separately.
    #[arg(long, global = true)]
    pub redis_pid: Option<u32>,
    /// A name for the server in the output.
    #[arg(long, global = true, default_value = "server")]
    pub label: String,
}

/// How long and how hard to run, and where.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Seconds of measured load.
    #[arg(long, global = true, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring (not counted).
    #[arg(long, global = true, default_value_t = 2.0)]
    pub warmup: f64,
    /// Most seconds to wait for outstanding deliveries after publishing stops.
    #[arg(long, global = true, default_value_t = 5.0)]
    pub drain: f64,
    /// Bytes of event `data` (timestamp and sequence number, padded).
    #[arg(long, global = true, default_value_t = 100)]
    pub payload: usize,
    /// WebSocket handshakes in flight while opening connections.
    #[arg(long, global = true, default_value_t = 500)]
    pub concurrency: usize,
    /// Most seconds to open and subscribe every connection.
    #[arg(long, global = true, default_value_t = 180.0)]
    pub setup_timeout: f64,
    /// Pin this tool to one CPU (sched_setaffinity before the runtime starts).
    #[arg(long, global = true)]
    pub client_cpu: Option<usize>,
    /// Pin the server to one CPU (`taskset -a -cp N PID`; needs --pid, or compare).
    #[arg(long, global = true)]
    pub server_cpu: Option<usize>,
    /// One JSON object per line instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum Command {
    #[command(flatten)]
    Scenario(Scenario),
    /// Run the reference "ideal" server (no signatures checked; for benchmarks only).
    Reference(ReferenceArgs),
    /// Start herald and the reference alternately, run one scenario against each, print medians and ratios.
    Compare(CompareArgs),
}

#[derive(Subcommand, Clone, Debug)]
pub enum Scenario {
    /// N subscribers on one public channel; events at a fixed rate.
    Fanout(FanoutArgs),
    /// N subscribers each on its own channel, published with batch triggers.
    Unicast(UnicastArgs),
    /// Open N connections as fast as accepted; then memory per idle connection.
    Connect(ConnectArgs),
    /// M members of a private channel each sending client events.
    ClientEvents(ClientEventsArgs),
    /// Fan-out at rising rates until loss or p99 over the bound; the highest sustainable rate.
    Saturate(SaturateArgs),
    /// Signed `POST /events` back to back on K keep-alive connections; requests per second.
    Triggers(TriggersArgs),
}

#[derive(Args, Clone, Debug)]
pub struct FanoutArgs {
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Events per second (each delivered to every subscriber).
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    #[arg(long, default_value = "bench-fanout")]
    pub channel: String,
}

#[derive(Args, Clone, Debug)]
pub struct UnicastArgs {
    /// Channels, one subscriber each.
    #[arg(long, default_value_t = 5000)]
    pub channels: usize,
    /// Events per second in total (each to one channel, round robin).
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Events per `batch_events` request.
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
}

#[derive(Args, Clone, Debug)]
pub struct ConnectArgs {
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Seconds to let the server settle before reading its memory.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
}

#[derive(Args, Clone, Debug)]
pub struct ClientEventsArgs {
    #[arg(long, default_value_t = 50)]
    pub members: usize,
    /// Client events per second per member (Pusher allows at most 10).
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    #[arg(long, default_value = "private-bench-client-events")]
    pub channel: String,
}

#[derive(Args, Clone, Debug)]
pub struct SaturateArgs {
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// First step, in deliveries per second.
    #[arg(long, default_value_t = 10_000.0)]
    pub start: f64,
    /// Each step's rate is the previous one times this.
    #[arg(long, default_value_t = 1.15)]
    pub factor: f64,
    /// Seconds per step.
    #[arg(long, default_value_t = 5.0)]
    pub step: f64,
    /// A step fails when its p99 exceeds this.
    #[arg(long, default_value_t = 100.0)]
    pub max_p99_ms: f64,
    #[arg(long, default_value_t = 25)]
    pub max_steps: usize,
    /// Times a step that failed on latency alone is tried again at the same rate (noise).
    #[arg(long, default_value_t = 1)]
    pub latency_retries: usize,
    #[arg(long, default_value = "bench-saturate")]
    pub channel: String,
}

#[derive(Args, Clone, Debug)]
pub struct TriggersArgs {
    /// Keep-alive HTTP/1.1 connections, each with one request in flight (no pipelining).
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// WebSocket subscribers on the channel, opened first (0: the HTTP path alone).
    #[arg(long, default_value_t = 0)]
    pub subscribers: usize,
    #[arg(long, default_value = "bench-triggers")]
    pub channel: String,
}

#[derive(Args, Clone, Debug)]
pub struct ReferenceArgs {
    #[arg(long, default_value = "127.0.0.1:6002")]
    pub listen: SocketAddr,
    /// Frames queued per connection before it is closed as a slow consumer (4100).
    #[arg(long, default_value_t = 1024)]
    pub queue: usize,
}

#[derive(Args, Clone, Debug)]
pub struct CompareArgs {
    /// The herald binary (build it with --release).
    #[arg(long, default_value = "target/release/herald")]
    pub herald: PathBuf,
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    #[arg(long, default_value_t = 16001)]
    pub herald_port: u16,
    #[arg(long, default_value_t = 16002)]
    pub reference_port: u16,
    /// Instead of the reference, compare one herald node (local adapter) with a cluster of this
    /// many herald nodes (redis adapter, a redis-server of its own on --redis-port),
    /// subscribers spread round robin over the nodes, events published through node 1.
    #[arg(long, default_value_t = 0)]
    pub cluster_nodes: usize,
    /// Port of the redis-server that `--cluster-nodes` starts (never the machine's own Redis).
    #[arg(long, default_value_t = 16379)]
    pub redis_port: u16,
    /// The redis-server binary.
    #[arg(long, default_value = "redis-server")]
    pub redis_server: PathBuf,
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// One WebSocket endpoint (a node of a cluster, or the only server).
#[derive(Clone, Debug)]
pub struct WsNode {
    /// The WebSocket URL clients open.
    pub url: String,
    /// Where to connect the TCP socket for it.
    pub addr: SocketAddr,
}

impl WsNode {
    pub fn new(base: &str, key: &str) -> Result<WsNode, String> {
        let (addr, _) = resolve_url("--ws", "ws", base)?;
        let base = base.trim_end_matches('/');
        Ok(WsNode { url: format!("{base}/app/{key}?protocol=7&client=pusher-bench&version={}&flash=false", env!("CARGO_PKG_VERSION")), addr })
    }
}

/// The IPv4 socket address a `scheme://host[:port]/…` URL given as `flag` points at (port 80
/// by default), and its authority as written (for a `Host` header).
pub fn resolve_url<'a>(flag: &str, scheme: &str, base: &'a str) -> Result<(SocketAddr, &'a str), String> {
    let rest = base
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
        .ok_or_else(|| format!("{flag} {base}: only {scheme}:// URLs are supported (no TLS)"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let with_port = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{flag} {base}: {e}"))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| format!("{flag} {base}: no IPv4 address"))?;
    Ok((addr, authority))
}

/// A resolved target.
#[derive(Clone, Debug)]
pub struct Target {
    pub label: String,
    /// WebSocket endpoints; connection `i` goes to `ws[i % len]`. Never empty.
    pub ws: Vec<WsNode>,
    /// HTTP API base, without a trailing slash.
    pub http: String,
    pub app_id: String,
    pub key: String,
    pub secret: String,
    /// Server processes whose CPU time and RSS are summed (the nodes of a cluster).
    pub pids: Vec<u32>,
    /// A helper process whose CPU is reported on its own (a cluster's redis-server).
    pub redis_pid: Option<u32>,
}

impl Target {
    pub fn resolve(args: &TargetArgs) -> Result<Target, String> {
        let ws = args.ws.iter().filter(|w| !w.is_empty()).map(|w| WsNode::new(w, &args.key)).collect::<Result<Vec<_>, _>>()?;
        if ws.is_empty() {
            return Err("--ws: give at least one WebSocket URL".into());
        }
        Ok(Target {
            label: args.label.clone(),
            ws,
            http: args.http.trim_end_matches('/').to_string(),
            app_id: args.app_id.clone(),
            key: args.key.clone(),
            secret: args.secret.clone(),
            pids: args.pid.clone(),
            redis_pid: args.redis_pid,
        })
    }

    /// The endpoint connection number `index` uses (round robin over the nodes).
    pub fn node(&self, index: usize) -> &WsNode {
        &self.ws[index % self.ws.len()]
    }

    /// The endpoints, for messages.
    pub fn ws_urls(&self) -> String {
        self.ws.iter().map(|n| n.url.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl Scenario {
    /// The scenario and its parameters, one line.
    pub fn describe(&self) -> String {
        match self {
            Scenario::Fanout(a) => format!("fanout: {} subscribers, {} events/s", a.subscribers, a.rate),
            Scenario::Unicast(a) => format!("unicast: {} channels, {} events/s in batches of {}", a.channels, a.rate, a.batch),
            Scenario::Connect(a) => format!("connect: {} connections", a.connections),
            Scenario::ClientEvents(a) => format!("client-events: {} members x {}/s", a.members, a.rate),
            Scenario::Saturate(a) => format!(
                "saturate: {} subscribers, from {} deliveries/s x{} per {} s step, p99 bound {} ms",
                a.subscribers, a.start, a.factor, a.step, a.max_p99_ms
            ),
            Scenario::Triggers(a) => {
                format!("triggers: {} keep-alive connections back to back, {} subscribers", a.connections, a.subscribers)
            }
        }
    }
}
