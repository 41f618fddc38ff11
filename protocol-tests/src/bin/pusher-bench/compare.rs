//! `compare`: herald and the reference server side by side. Each run starts a fresh server
//! pinned to one core, runs the scenario against it, and stops it; the order alternates
//! (herald, reference, herald, reference, …) so slow drifts in a shared machine's load hit
//! both alike. Prints every run, then medians and herald/reference ratios.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cli::{CompareArgs, RunArgs, Target};
use crate::report::{format_number, Better, Report};
use crate::scenario::{self, Ctx};

const APP_ID: &str = "1";
const KEY: &str = "bench-key";
const SECRET: &str = "bench-secret";
const SERVERS: [&str; 2] = ["herald", "reference"];

/// A server started for one run; killed when dropped.
struct ServerProcess {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl ServerProcess {
    fn start(name: &'static str, program: &Path, args: &[String], cpu: usize) -> Result<ServerProcess, String> {
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

fn herald_config(port: u16) -> Result<PathBuf, String> {
    let path = std::env::temp_dir().join(format!("pusher-bench-herald-{}.toml", std::process::id()));
    let text = format!(
        "host = \"127.0.0.1\"\nport = {port}\nshutdown_grace_period = 1\nlog = \"warn\"\n\n[[apps]]\nid = \"{APP_ID}\"\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\nclient_events = true\n"
    );
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

fn target(name: &str, port: u16, pid: u32) -> Target {
    Target {
        label: name.to_string(),
        ws_url: format!("ws://127.0.0.1:{port}/app/{KEY}?protocol=7&client=pusher-bench&version={}&flash=false", env!("CARGO_PKG_VERSION")),
        ws_addr: ([127, 0, 0, 1], port).into(),
        http: format!("http://127.0.0.1:{port}"),
        app_id: APP_ID.into(),
        key: KEY.into(),
        secret: SECRET.into(),
        pid: Some(pid),
    }
}

pub async fn run(args: &CompareArgs, run: &RunArgs, server_cpu: usize, client_cpu: Option<usize>) -> Result<(), String> {
    let herald = std::fs::canonicalize(&args.herald)
        .map_err(|e| format!("--herald {}: {e} (build it with `cargo build --release --bin herald`)", args.herald.display()))?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let config = herald_config(args.herald_port)?;
    let describe = args.scenario.describe();
    eprintln!(
        "compare {describe}: {} rounds, servers on CPU {server_cpu}, this tool on CPU {}",
        args.rounds,
        client_cpu.map(|c| c.to_string()).unwrap_or_else(|| "any".into())
    );

    let mut results: [Vec<Report>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=args.rounds {
        for (i, name) in SERVERS.iter().enumerate() {
            let (program, server_args, port) = match i {
                0 => (herald.as_path(), vec!["--config".to_string(), config.display().to_string()], args.herald_port),
                _ => (me.as_path(), vec!["reference".into(), "--listen".into(), format!("127.0.0.1:{}", args.reference_port)], args.reference_port),
            };
            eprintln!("-- round {round}/{}: {name}", args.rounds);
            let mut server = ServerProcess::start(name, program, &server_args, server_cpu)?;
            server.wait_listening(port).await?;
            // Let the server finish starting (worker threads, allocator warm-up).
            tokio::time::sleep(Duration::from_millis(500)).await;
            let ctx = Ctx::new(target(name, port, server.pid()), run.clone());
            let report = scenario::run(&ctx, &args.scenario).await.map_err(|e| format!("{name}, round {round}: {e}"))?;
            drop(ctx);
            drop(server);
            report.print(run.json);
            results[i].push(report);
            // Sockets of the finished run close before the next server starts.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let _ = std::fs::remove_file(&config);
    print_comparison(&describe, args.rounds, &results, run.json);
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

fn print_comparison(describe: &str, rounds: usize, results: &[Vec<Report>; 2], json: bool) {
    let names: Vec<(&'static str, Better)> = results[0].first().map(|r| r.metrics().into_iter().map(|(n, _, b)| (n, b)).collect()).unwrap_or_default();
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
                serde_json::json!({ "metric": m, "better": if *b == Better::Lower { "lower" } else { "higher" }, "herald": h, "reference": r, "ratio": ratio })
            })
            .collect();
        println!("{}", serde_json::json!({ "compare": describe, "rounds": rounds, "medians": metrics }));
        return;
    }
    let show = |v: &Option<f64>| v.map(format_number).unwrap_or_else(|| "-".into());
    println!("\n== {describe}: medians of {rounds} alternating runs ==");
    println!("| metric | herald | reference | herald / reference |");
    println!("|---|---|---|---|");
    for (metric, better, h, r, ratio) in &rows {
        let arrow = if *better == Better::Lower { "↓" } else { "↑" };
        println!("| {metric} {arrow} | {} | {} | {} |", show(h), show(r), ratio.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into()));
    }
}
