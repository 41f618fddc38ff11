//! The `nexora` command line: `serve`, `seed`, `run-job NAME`, `migrate`.

use clap::{Parser, Subcommand};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use nexora::config::Config;
use nexora::db::{self, Db};
use nexora::jobs::{self, Job, Trigger};
use nexora::server::{AppState, Server};

#[derive(Parser)]
#[command(name = "nexora", version, about = "Nexora's real-time layer on herald (example app)")]
struct Cli {
    /// TOML configuration file (see nexora.example.toml); environment variables override it.
    #[arg(long, short, global = true, env = "NEXORA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the page, the API and the scheduler.
    Serve {
        /// Load the demo data first when the database has no users.
        #[arg(long)]
        seed: bool,
    },
    /// Migrate and load the demo data (only into a database without users).
    Seed,
    /// Run one job now: trust-decay or oracle. A period that already ran is not run again.
    RunJob {
        name: String,
        /// Run as of this RFC 3339 time instead of now (to backfill a missed period).
        #[arg(long)]
        at: Option<String>,
    },
    /// Apply the migrations and exit.
    Migrate,
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nexora: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log);
    match run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nexora: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Migrate => {
            Db::connect_and_migrate(&config.database_url).await?;
            println!("migrations applied to {}", config.database_url);
        }
        Command::Seed => {
            let db = Db::connect_and_migrate(&config.database_url).await?;
            report_seed(db::seed::seed(&db, db::now_ms()).await?);
        }
        Command::RunJob { name, at } => {
            let job = Job::parse(&name).ok_or_else(|| format!("no job '{name}'; jobs: {}", Job::ALL.map(Job::name).join(", ")))?;
            let at = match at {
                Some(text) => chrono::DateTime::parse_from_rfc3339(&text).map_err(|e| format!("--at '{text}': {e}"))?.with_timezone(&chrono::Utc),
                None => chrono::Utc::now(),
            };
            let state = AppState::new(config).await?;
            let report = jobs::run(&state, job, Trigger::Cli, at).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Serve { seed } => {
            let listener = TcpListener::bind((config.host.as_str(), config.port))
                .map_err(|e| format!("cannot listen on {}:{}: {e} (set NEXORA_PORT or port in the config)", config.host, config.port))?;
            let state = AppState::new(config).await?;
            if seed {
                report_seed(db::seed::seed(&state.db, db::now_ms()).await?);
            }
            let server = Server::start(Arc::new(state), listener)?;
            let herald = &server.state.config.herald.url;
            println!("nexora listening on http://{} (herald API at {herald}, database {:?})", server.addr, server.state.db.backend);
            server.run().await?;
        }
    }
    Ok(())
}

fn report_seed(seeded: bool) {
    if seeded {
        println!("demo data loaded: users alice, bob, carol, dave, erin; password '{}'", db::seed::DEMO_PASSWORD);
    } else {
        println!("the database already has users; demo data not loaded");
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}
