//! The `herald` command line.

use clap::Parser;
use std::path::PathBuf;

use herald::config::Config;
use herald::server::Server;

#[derive(Parser)]
#[command(name = "herald", version, about = "A self-hosted, Pusher-compatible real-time server")]
struct Cli {
    /// TOML configuration file (see docs/configuration.md). Without it, herald runs one dev app.
    #[arg(long, short, env = "HERALD_CONFIG")]
    config: Option<PathBuf>,
    /// Overrides `host`.
    #[arg(long)]
    host: Option<String>,
    /// Overrides `port`.
    #[arg(long)]
    port: Option<u16>,
}

fn main() {
    let cli = Cli::parse();
    let (mut config, generated) = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("herald: {e}");
            std::process::exit(2);
        }
    };
    if let Some(host) = cli.host {
        config.host = host;
    }
    if let Some(port) = cli.port {
        config.port = port;
    }
    init_logging(&config.log);
    let result = actix_web::rt::System::new().block_on(async move {
        let server = Server::bind(config).map_err(|e| {
            eprintln!("herald: cannot listen: {e} (is another process using the port? set --port or HERALD_PORT)");
            e
        })?;
        print_banner(&server, generated);
        server.run_until_signal().await
    });
    if result.is_err() {
        std::process::exit(1);
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG_FILTER")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}

fn print_banner(server: &Server, generated: bool) {
    let addr = server.addr;
    let config = &server.state.config;
    println!("herald {} listening on ws://{addr} (HTTP API on http://{addr})", env!("CARGO_PKG_VERSION"));
    for app in &config.apps {
        if generated {
            println!("dev app (no config given):  id = {}  key = {}  secret = {}", app.id, app.key, app.secret);
        } else {
            println!("app {}: key = {}", app.id, app.key);
        }
    }
    if generated {
        let app = &config.apps[0];
        println!(
            "\nConnect from pusher-js:\n  const pusher = new Pusher('{key}', {{ cluster: 'local', wsHost: '{host}', wsPort: {port}, forceTLS: false, enabledTransports: ['ws'] }});\n  pusher.subscribe('my-channel').bind('my-event', console.log);\nTrigger with a server library: appId '{id}', key '{key}', secret '{secret}', host '{host}', port {port}, useTLS false.\n",
            key = app.key,
            host = addr.ip(),
            port = addr.port(),
            id = app.id,
            secret = app.secret,
        );
    }
}
