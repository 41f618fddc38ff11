//! The `herald` command line: the server (`herald`, `herald serve`) and the operator
//! commands. One file per concern: `serve.rs` runs the server, `check_config.rs` validates a
//! configuration, `target.rs` decides which server and app credentials a command uses,
//! `api.rs` makes the signed HTTP API calls and `sign.rs` prints auth-endpoint answers.
//!
//! Every command returns `Result<(), Failure>`; the exit code follows from the failure kind
//! alone, so scripts can rely on it (see [`EXIT_CODES`]).

mod api;
mod check_config;
mod serve;
mod sign;
mod target;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The exit-code contract, shown at the end of `herald --help` and in docs/cli.md.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the request failed: network error or a non-2xx answer (status and body on stderr);
     for the server: it could not listen or stopped with an error
  2  usage or configuration error (bad flags, an invalid config file, malformed input)";

const TOP_EXAMPLES: &str = "\
Examples:
  herald                                   run a server with a development app on 127.0.0.1:6001
  herald --config herald.toml              run a server from a config file (same as `herald serve`)
  herald check-config herald.toml          validate a config file and print it, secrets masked
  herald trigger -c my-channel -e my-event -d '{\"hello\":\"world\"}'
  herald channels --info user_count        list occupied channels
  herald sign-channel 1234.5678 private-orders

The API commands talk to http://127.0.0.1:6001 as the development app unless told
otherwise with --config FILE, --url/--app-id/--key/--secret, or HERALD_URL, HERALD_APP_ID,
HERALD_APP_KEY, HERALD_APP_SECRET. See docs/cli.md.";

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "A self-hosted, Pusher-compatible real-time server, and tools to operate one",
    after_help = format!("{TOP_EXAMPLES}\n\n{EXIT_CODES}"),
    args_conflicts_with_subcommands = true,
    subcommand_value_name = "COMMAND"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no command, herald runs the server (`herald serve`).
    #[command(flatten)]
    serve: serve::ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default when no command is given)
    #[command(after_help = serve::HELP)]
    Serve(serve::ServeArgs),
    /// Validate a config file and print the effective configuration, secrets masked
    #[command(after_help = check_config::HELP)]
    CheckConfig(check_config::Args),
    /// Publish an event on one or more channels (POST /apps/{id}/events)
    #[command(after_help = api::TRIGGER_HELP)]
    Trigger(api::TriggerArgs),
    /// List occupied channels (GET /apps/{id}/channels)
    #[command(after_help = api::CHANNELS_HELP)]
    Channels(api::ChannelsArgs),
    /// Show one channel: occupied, and counts on request (GET /apps/{id}/channels/{name})
    #[command(after_help = api::CHANNEL_HELP)]
    Channel(api::ChannelArgs),
    /// List the members of a presence channel (GET /apps/{id}/channels/{name}/users)
    #[command(after_help = api::USERS_HELP)]
    Users(api::UsersArgs),
    /// Disconnect every connection of a signed-in user (POST /apps/{id}/users/{id}/terminate_connections)
    #[command(after_help = api::TERMINATE_HELP)]
    Terminate(api::TerminateArgs),
    /// Print the JSON an auth endpoint returns for a private or presence channel
    #[command(after_help = sign::SIGN_CHANNEL_HELP)]
    SignChannel(sign::SignChannelArgs),
    /// Print the JSON a user-authentication endpoint returns for `signin()`
    #[command(after_help = sign::SIGN_USER_HELP)]
    SignUser(sign::SignUserArgs),
}

/// Why a command did not succeed; decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Exit 1: the network or the server refused (or, for `serve`, the server failed).
    Request(String),
    /// Exit 2: the command line, the configuration or an input value is wrong.
    Usage(String),
}

impl Failure {
    fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Request(_) => ExitCode::from(1),
            Failure::Usage(_) => ExitCode::from(2),
        }
    }
}

/// Parses the command line, runs the command and returns the documented exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve::run(cli.serve),
        Some(Command::Serve(args)) => serve::run(args),
        Some(Command::CheckConfig(args)) => check_config::run(args),
        Some(Command::Trigger(args)) => api::trigger(args),
        Some(Command::Channels(args)) => api::channels(args),
        Some(Command::Channel(args)) => api::channel(args),
        Some(Command::Users(args)) => api::users(args),
        Some(Command::Terminate(args)) => api::terminate(args),
        Some(Command::SignChannel(args)) => sign::sign_channel(args),
        Some(Command::SignUser(args)) => sign::sign_user(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            match &failure {
                Failure::Request(msg) | Failure::Usage(msg) if !msg.is_empty() => eprintln!("herald: {msg}"),
                _ => {}
            }
            failure.exit_code()
        }
    }
}

/// `HERALD_*` variables for [`herald::config::Config::load`], without the ones only the
/// command line reads (so the loader does not warn about them).
fn config_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars().filter(|(name, _)| name != "HERALD_URL")
}

/// Prints a JSON value the way every command does: pretty, one trailing newline.
fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
