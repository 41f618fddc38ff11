//! `compare`: herald and the reference server side by side. Each run starts a fresh server
//! pinned to one core, runs the scenario against it, and stops it; the order alternates
//! (herald, reference, herald, reference, …) so slow drifts in a shared machine's load hit
//! both alike. Prints every run, then medians and herald/reference ratios.
//!
//! With `--cluster-nodes N` the two sides are one herald node (local adapter) and N herald
//! nodes (redis adapter, a fresh redis-server of the tool's own per run, a random prefix):
//! subscribers spread round robin over the nodes, events published through node 1, CPU summed
//! over the nodes, redis-server's CPU reported on its own. Every process runs on the server CPU.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cli::{CompareArgs, RunArgs, Target, WsNode};
use crate::report::{format_number, Better, Report};
use crate::scenario::{self, Ctx};

const APP_ID: &str = "1";
const KEY: &str = "bench-key";
const SECRET: &str = "bench-secret";

/// One side of the comparison.
#[derive(Clone, Copy)]
enum Side {
    Herald,
    Reference,
    /// herald nodes sharing a redis-server.
    Cluster(usize),
}

impl Side {
    fn name(self) -> String {
        match self {
            Side::Herald => "herald".into(),
            Side::Reference => "reference".into(),
            Side::Cluster(n) => format!("herald x{n} (redis)"),
        }
    }
}

/// A server started for one run; killed when dropped.
struct ServerProcess {
    child: Child,
    name: String,
    log: PathBuf,
}

impl ServerProcess {
    fn start(name: &str, program: &Path, args: &[String], cpu: usize) -> Result<ServerProcess, String> {
        let name = name.to_string();
        let log = std::env::temp_dir().join(format!("pusher-bench-{name}.log"));
        let stderr = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut command = Command::new("taskset");
        command.arg("-c").arg(cpu.to_string()).arg(program).args(args);
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        // The config file alone decides herald's settings.
        for (k, _) in std::env::vars() {
            if k.starts_with("HERALD_") {
                command.env_remove(k);
            }
        }
        let child = command.spawn().map_err(|e| format!("starting {name} ({}): {e}", program.display()))?;
        Ok(ServerProcess { child, name, log })
    }

    /// Starts the tool's own redis-server on `port`: no persistence, loopback only.
    fn redis(program: &Path, port: u16, cpu: usize) -> Result<ServerProcess, String> {
        let args: Vec<String> =
            ["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"].iter().map(|s| s.to_string()).collect();
        ServerProcess::start("redis", program, &args, cpu)
    }

    fn pid(&self) -> u32 {
        // taskset execs the server, so the child's pid is the server's.
        self.child.id()
    }

    /// Waits (at most 15 s) until the port accepts connections.
    async fn wait_listening(&mut self, port: u16) -> Result<(), String> {
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(format!("{} exited at start ({status}); its log:\n{log}", self.name));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("{} did not listen on port {port} within 15 s (log: {})", self.name, self.log.display()))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// herald's config for one run. `extra` holds further top-level settings (adapter, metrics).
fn herald_config(port: u16, extra: &str) -> Result<PathBuf, String> {
    let path = std::env::temp_dir().join(format!("pusher-bench-herald-{}-{port}.toml", std::process::id()));
    let text = format!(
        "host = \"127.0.0.1\"\nport = {port}\nshutdown_grace_period = 1\nlog = \"warn\"\n{extra}\n[[apps]]\nid = \"{APP_ID}\"\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\nclient_events = true\n"
    );
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Subscribers go round robin over `ports`; the HTTP API is the first one's.
fn target(name: &str, ports: &[u16], pids: Vec<u32>, redis_pid: Option<u32>) -> Target {
    Target {
        label: name.to_string(),
        ws: ports.iter().map(|p| WsNode::new(&format!("ws://127.0.0.1:{p}"), KEY).expect("a loopback URL always resolves")).collect(),
        http: format!("http://127.0.0.1:{}", ports[0]),
        app_id: APP_ID.into(),
        key: KEY.into(),
        secret: SECRET.into(),
        pids,
        redis_pid,
    }
}

/// The processes of one run (dropped, so killed, in reverse order of start: nodes, then redis).
struct Started {
    servers: Vec<ServerProcess>,
    configs: Vec<PathBuf>,
    target: Target,
}

impl Drop for Started {
    fn drop(&mut self) {
        while let Some(server) = self.servers.pop() {
            drop(server);
        }
        for c in &self.configs {
            let _ = std::fs::remove_file(c);
        }
    }
}

async fn start_side(side: Side, args: &CompareArgs, herald: &Path, me: &Path, cpu: usize) -> Result<Started, String> {
    let name = side.name();
    let mut started = Started { servers: Vec::new(), configs: Vec::new(), target: target(&name, &[1], Vec::new(), None) };
    let (ports, redis_pid) = match side {
        Side::Reference => {
            let port = args.reference_port;
            let mut server = ServerProcess::start("reference", me, &["reference".into(), "--listen".into(), format!("127.0.0.1:{port}")], cpu)?;
            server.wait_listening(port).await?;
            started.servers.push(server);
            (vec![port], None)
        }
        Side::Herald => {
            // In a cluster comparison both sides run without the metrics listener (the nodes
            // would otherwise share its port).
            let extra = if args.cluster_nodes >= 2 { "metrics_enabled = false\n" } else { "" };
            let config = herald_config(args.herald_port, extra)?;
            started.configs.push(config.clone());
            let mut server = ServerProcess::start("herald", herald, &["--config".into(), config.display().to_string()], cpu)?;
            server.wait_listening(args.herald_port).await?;
            started.servers.push(server);
            (vec![args.herald_port], None)
        }
        Side::Cluster(n) => {
            let mut redis = ServerProcess::redis(&args.redis_server, args.redis_port, cpu)?;
            redis.wait_listening(args.redis_port).await?;
            let redis_pid = redis.pid();
            started.servers.push(redis);
            let prefix = format!("pusher-bench-{:08x}", rand::random::<u32>());
            let mut ports = Vec::new();
            for k in 0..n {
                let port = args.herald_port + 10 * k as u16;
                let extra = format!(
                    "metrics_enabled = false\nadapter = \"redis\"\nredis_url = \"redis://127.0.0.1:{}\"\nprefix = \"{prefix}\"\n",
                    args.redis_port
                );
                let config = herald_config(port, &extra)?;
                started.configs.push(config.clone());
                let mut server = ServerProcess::start(&format!("herald-node{}", k + 1), herald, &["--config".into(), config.display().to_string()], cpu)?;
                server.wait_listening(port).await?;
                started.servers.push(server);
                ports.push(port);
            }
            (ports, Some(redis_pid))
        }
    };
    // Let the servers finish starting (worker threads, allocator warm-up, the cluster's bus).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pids = started.servers.iter().filter(|s| s.name != "redis").map(|s| s.pid()).collect();
    started.target = target(&name, &ports, pids, redis_pid);
    Ok(started)
}

pub async fn run(args: &CompareArgs, run: &RunArgs, server_cpu: usize, client_cpu: Option<usize>) -> Result<(), String> {
    let herald = std::fs::canonicalize(&args.herald)
        .map_err(|e| format!("--herald {}: {e} (build it with `cargo build --release --bin herald`)", args.herald.display()))?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let sides = match args.cluster_nodes {
        0 => [Side::Herald, Side::Reference],
        1 => return Err("--cluster-nodes: give 2 or more (0 compares herald with the reference)".into()),
        n => [Side::Herald, Side::Cluster(n)],
    };
    let names = [sides[0].name(), sides[1].name()];
    let describe = args.scenario.describe();
    eprintln!(
        "compare {describe}: {} vs {}, {} rounds, servers on CPU {server_cpu}, this tool on CPU {}",
        names[0],
        names[1],
        args.rounds,
        client_cpu.map(|c| c.to_string()).unwrap_or_else(|| "any".into())
    );

    let mut results: [Vec<Report>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=args.rounds {
        for (i, side) in sides.iter().enumerate() {
            let name = &names[i];
            eprintln!("-- round {round}/{}: {name}", args.rounds);
            let started = start_side(*side, args, &herald, &me, server_cpu).await?;
            let ctx = Ctx::new(started.target.clone(), run.clone());
            let report = scenario::run(&ctx, &args.scenario).await.map_err(|e| format!("{name}, round {round}: {e}"))?;
            drop(ctx);
            drop(started);
            report.print(run.json);
            results[i].push(report);
            // Sockets of the finished run close before the next server starts.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    print_comparison(&describe, args.rounds, &names, &results, run.json);
    Ok(())
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

fn medians(reports: &[Report], metric: &str) -> Option<f64> {
    median(reports.iter().filter_map(|r| r.metrics().into_iter().find(|(n, _, _)| *n == metric).map(|(_, v, _)| v)).collect())
}

fn print_comparison(describe: &str, rounds: usize, sides: &[String; 2], results: &[Vec<Report>; 2], json: bool) {
    // Metrics either side reported (redis CPU exists only for a cluster), in report order.
    let mut names: Vec<(&'static str, Better)> = Vec::new();
    for r in results.iter().flatten() {
        for (n, _, b) in r.metrics() {
            if !names.iter().any(|(m, _)| *m == n) {
                names.push((n, b));
            }
        }
    }
    let mut rows = Vec::new();
    for (metric, better) in names {
        let (h, r) = (medians(&results[0], metric), medians(&results[1], metric));
        let ratio = match (h, r) {
            (Some(h), Some(r)) if r != 0.0 => Some(h / r),
            _ => None,
        };
        rows.push((metric, better, h, r, ratio));
    }
    if json {
        let metrics: Vec<_> = rows
            .iter()
            .map(|(m, b, h, r, ratio)| {
                let mut row = serde_json::Map::new();
                row.insert("metric".into(), (*m).into());
                row.insert("better".into(), (if *b == Better::Lower { "lower" } else { "higher" }).into());
                row.insert(sides[0].clone(), serde_json::json!(h));
                row.insert(sides[1].clone(), serde_json::json!(r));
                row.insert("ratio".into(), serde_json::json!(ratio));
                serde_json::Value::Object(row)
            })
            .collect();
        println!("{}", serde_json::json!({ "compare": describe, "sides": sides, "rounds": rounds, "medians": metrics }));
        return;
    }
    let show = |v: &Option<f64>| v.map(format_number).unwrap_or_else(|| "-".into());
    println!("\n== {describe}: medians of {rounds} alternating runs ==");
    println!("| metric | {} | {} | {} / {} |", sides[0], sides[1], sides[0], sides[1]);
    println!("|---|---|---|---|");
    for (metric, better, h, r, ratio) in &rows {
        let arrow = if *better == Better::Lower { "↓" } else { "↑" };
        println!("| {metric} {arrow} | {} | {} | {} |", show(h), show(r), ratio.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into()));
    }
}
