//! The `herald` binary: the server and the operator commands (see src/cli/).

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
