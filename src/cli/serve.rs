//! `herald` / `herald serve`: load the configuration, start logging, run until a signal.

use std::path::PathBuf;

use herald::config::Config;
use herald::server::Server;

use super::Failure;

pub const HELP: &str = "\
Examples:
  herald serve                             one development app on 127.0.0.1:6001
  herald serve --config /etc/herald.toml
  HERALD_PORT=7000 herald serve --config herald.toml

Settings come from built-in defaults, then the file, then HERALD_* variables, then --host
and --port (docs/configuration.md). Exit code 2 on a configuration error, 1 when the server
cannot listen or stops with an error.";

#[derive(clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (see docs/configuration.md). Without it, herald runs one dev app.
    #[arg(long, short, env = "HERALD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Overrides `host`.
    #[arg(long)]
    host: Option<String>,
    /// Overrides `port`.
    #[arg(long)]
    port: Option<u16>,
}

pub fn run(args: ServeArgs) -> Result<(), Failure> {
    // SIGHUP loads the configuration again exactly this way: the same file, the variables as
    // they were at start, the same command-line overrides.
    let env: Vec<(String, String)> = super::config_env().into_iter().collect();
    let load = move || -> Result<(Config, bool), herald::config::ConfigError> {
        let (mut config, generated) = Config::load(args.config.as_deref(), env.clone())?;
        if let Some(host) = &args.host {
            config.host = host.clone();
        }
        if let Some(port) = args.port {
            config.port = port;
        }
        Ok((config, generated))
    };
    let (config, generated) = load().map_err(|e| Failure::Usage(e.to_string()))?;
    herald::logging::init(&config).map_err(|e| Failure::Usage(format!("configuration error: {e}")))?;
    let (host, port) = (config.host.clone(), config.port);
    actix_web::rt::System::new()
        .block_on(async move {
            let server = Server::bind(config).map_err(|e| {
                eprintln!("herald: cannot listen on {host}:{port}: {e} ({})", listen_hint(&e, &host, port));
                e
            })?;
            print_banner(&server, generated);
            server.reload_with(Box::new(move || load().map(|(config, _)| config))).run_until_signal().await
        })
        // The reason has been printed or logged already.
        .map_err(|_| Failure::Request(String::new()))
}

/// What to change when the listener cannot be opened, from why it could not.
fn listen_hint(error: &std::io::Error, host: &str, port: u16) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::AddrInUse => format!("another process holds port {port}: stop it, or set --port or HERALD_PORT"),
        ErrorKind::PermissionDenied => format!("port {port} needs privileges: use a port above 1023 (--port or HERALD_PORT)"),
        ErrorKind::AddrNotAvailable => format!("`host` = \"{host}\" is not an address of this machine: use 127.0.0.1, 0.0.0.0 or one of its addresses (HERALD_HOST)"),
        // A name that does not resolve surfaces as an uncategorized error from the resolver.
        _ => format!("check that `host` = \"{host}\" is an address or a name this machine resolves (HERALD_HOST), and `port` = {port}"),
    }
}

/// `println!` that ignores a closed stdout (e.g. piped into `head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn print_banner(server: &Server, generated: bool) {
    let addr = server.addr;
    let config = &server.state.config;
    if config.log_format == herald::config::LogFormat::Json {
        // Keep stdout pure JSON lines: the banner becomes a log event (never with a secret).
        let apps: Vec<String> = config.apps.iter().map(|a| format!("{}:{}", a.id, a.key)).collect();
        tracing::info!(addr = %addr, tls = server.tls.is_some(), apps = ?apps, dev_app = generated, "herald listening");
        return;
    }
    say!("herald {} listening on ws://{addr} (HTTP API on http://{addr})", env!("CARGO_PKG_VERSION"));
    for app in &config.apps {
        if generated {
            say!("dev app (no config given):  id = {}  key = {}  secret = {}", app.id, app.key, app.secret);
        } else {
            say!("app {}: key = {}", app.id, app.key);
        }
    }
    if generated {
        let app = &config.apps[0];
        say!(
            "\nConnect from pusher-js:\n  const pusher = new Pusher('{key}', {{ cluster: 'local', wsHost: '{host}', wsPort: {port}, forceTLS: false, enabledTransports: ['ws'] }});\n  pusher.subscribe('my-channel').bind('my-event', console.log);\nTrigger with a server library: appId '{id}', key '{key}', secret '{secret}', host '{host}', port {port}, useTLS false.\n",
            key = app.key,
            host = addr.ip(),
            port = addr.port(),
            id = app.id,
            secret = app.secret,
        );
    }
}
