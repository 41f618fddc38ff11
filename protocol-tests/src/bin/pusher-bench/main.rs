//! pusher-bench: a load generator for Pusher-compatible servers, speaking only the public
//! WebSocket protocol and the signed HTTP API, plus the reference "ideal" server that herald
//! is measured against. `pusher-bench --help` has usage; docs/benchmarks.md has results.
//!
//! Layout:
//! - `cli`: flags, subcommands and the resolved [`cli::Target`].
//! - `scenario/`: fanout, unicast, connect, client-events, saturate, triggers, and the shared
//!   measured window.
//! - `ws`: opening many client sockets (spread over 127.0.0.1–4), subscribing, receiving.
//! - `publish`: the open-loop, keep-alive, signed HTTP publisher.
//! - `http1`: the lean keep-alive HTTP/1.1 connection `triggers` sends back to back on.
//! - `payload`: the `data` string carrying timestamp and sequence number.
//! - `stats` / `report`: counts, latency histograms, and the printed result.
//! - `sys`: /proc samples, the shared clock, CPU pinning, the open-file limit.
//! - `reference/`: the reference server. `compare`: both servers side by side.
//!
//! The load side runs on one thread (pin it with --client-cpu) so it is cheap to measure and
//! never competes with the server for a second core; its own CPU is in every report.

mod cli;
mod compare;
mod http1;
mod payload;
mod publish;
mod reference;
mod report;
mod scenario;
mod stats;
mod sys;
mod ws;

use clap::Parser;

use cli::{Cli, Command, Target};

fn main() {
    let cli = Cli::parse();
    sys::raise_nofile_limit();
    if let Err(e) = dispatch(cli) {
        eprintln!("pusher-bench: {e}");
        std::process::exit(1);
    }
}

fn dispatch(cli: Cli) -> Result<(), String> {
    let run = cli.run.clone();
    match cli.command {
        Command::Reference(args) => reference::run(&args).map_err(|e| format!("reference server: {e}")),
        Command::Scenario(scenario) => {
            pin_client(run.client_cpu)?;
            let target = Target::resolve(&cli.target)?;
            if let Some(cpu) = run.server_cpu {
                if target.pids.is_empty() {
                    return Err("--server-cpu needs --pid (the server's process id)".into());
                }
                for &pid in target.pids.iter().chain(target.redis_pid.iter()) {
                    sys::pin_pid(pid, cpu).map_err(|e| e.to_string())?;
                }
            }
            let ctx = scenario::Ctx::new(target, run.clone());
            let report = runtime()?.block_on(scenario::run(&ctx, &scenario))?;
            report.print(run.json);
            Ok(())
        }
        Command::Compare(args) => {
            let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            let server_cpu = run.server_cpu.unwrap_or(0);
            let client_cpu = run.client_cpu.or((cpus > 1).then_some(if server_cpu == 0 { 1 } else { 0 }));
            pin_client(client_cpu)?;
            runtime()?.block_on(compare::run(&args, &run, server_cpu, client_cpu))
        }
    }
}

fn pin_client(cpu: Option<usize>) -> Result<(), String> {
    match cpu {
        Some(cpu) => sys::pin_self(cpu).map_err(|e| format!("--client-cpu {cpu}: {e}")),
        None => Ok(()),
    }
}

/// The load generator's runtime: one thread, so its CPU use is one number and it leaves the
/// other core to the server.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("runtime: {e}"))
}
