//! The signed HTTP API commands: `trigger`, `channels`, `channel`, `users`, `terminate`.
//! Each resolves its target, makes one call through [`RestClient`] and prints the JSON answer.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use std::future::Future;
use std::io::Read;

use herald::rest_client::{RestClient, RestError};

use super::target::{Target, TargetArgs};
use super::{print_json, Failure};

pub const TRIGGER_HELP: &str = "\
Examples:
  herald trigger -c my-channel -e my-event -d '{\"message\":\"hello\"}'
  herald trigger -c orders -c private-audit -e created -d '{\"id\":7}' --socket-id 1234.5678
  jq -c . order.json | herald trigger -c orders -e created -d -
  herald trigger --config /etc/herald.toml --app-id 1002 -c news -e update -d '{}'

Prints the server's JSON answer ({} from herald). Exit 1 if the request fails, 2 on bad usage.";

pub const CHANNELS_HELP: &str = "\
Examples:
  herald channels
  herald channels --prefix presence- --info user_count
  herald channels --url https://push.example.org --app-id 42 --key KEY --secret SECRET";

pub const CHANNEL_HELP: &str = "\
Examples:
  herald channel my-channel --info subscription_count
  herald channel presence-room --info user_count,subscription_count";

pub const USERS_HELP: &str = "\
Examples:
  herald users presence-room";

pub const TERMINATE_HELP: &str = "\
Examples:
  herald terminate user-42

Closes every connection signed in (pusher:signin) as that user, on every node.";

#[derive(clap::Args)]
pub struct TriggerArgs {
    /// Channel to publish on; repeat for several (one request)
    #[arg(long, short, value_name = "CHANNEL", required = true)]
    channel: Vec<String>,
    /// Event name
    #[arg(long, short, value_name = "EVENT")]
    event: String,
    /// Event data, sent as a string (usually JSON); `-` reads it from stdin (one trailing
    /// newline is dropped)
    #[arg(long, short, value_name = "DATA", allow_hyphen_values = true)]
    data: String,
    /// Exclude this connection from receiving the event (e.g. 1234.5678)
    #[arg(long, value_name = "SOCKET_ID")]
    socket_id: Option<String>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(clap::Args)]
pub struct ChannelsArgs {
    /// Only channels whose name starts with this (e.g. presence-)
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// Attributes to include, comma-separated (user_count for presence channels)
    #[arg(long, value_name = "ATTRS")]
    info: Option<String>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(clap::Args)]
pub struct ChannelArgs {
    /// Channel name
    name: String,
    /// Attributes to include, comma-separated: user_count, subscription_count, cache
    #[arg(long, value_name = "ATTRS")]
    info: Option<String>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(clap::Args)]
pub struct UsersArgs {
    /// Presence channel name
    channel: String,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(clap::Args)]
pub struct TerminateArgs {
    /// The id the user signed in with
    user_id: String,
    #[command(flatten)]
    target: TargetArgs,
}

pub fn trigger(args: TriggerArgs) -> Result<(), Failure> {
    let data = if args.data == "-" { read_stdin()? } else { args.data };
    let TriggerArgs { channel, event, socket_id, target, .. } = args;
    call(target, |client| async move {
        let channels: Vec<&str> = channel.iter().map(String::as_str).collect();
        client.trigger(&channels, &event, &data, socket_id.as_deref()).await
    })
}

pub fn channels(args: ChannelsArgs) -> Result<(), Failure> {
    let ChannelsArgs { prefix, info, target } = args;
    call(target, |client| async move { client.channels(prefix.as_deref(), info.as_deref()).await })
}

pub fn channel(args: ChannelArgs) -> Result<(), Failure> {
    let ChannelArgs { name, info, target } = args;
    call(target, |client| async move { client.channel(&path_segment(&name), info.as_deref()).await })
}

pub fn users(args: UsersArgs) -> Result<(), Failure> {
    let UsersArgs { channel, target } = args;
    call(target, |client| async move { client.users(&path_segment(&channel)).await })
}

pub fn terminate(args: TerminateArgs) -> Result<(), Failure> {
    let TerminateArgs { user_id, target } = args;
    call(target, |client| async move { client.terminate_user_connections(&path_segment(&user_id)).await })
}

/// Resolves the target, runs one request on a single-threaded runtime and prints the answer.
fn call<F, Fut>(target: TargetArgs, request: F) -> Result<(), Failure>
where
    F: FnOnce(RestClient) -> Fut,
    Fut: Future<Output = Result<Value, RestError>>,
{
    let target = target.resolve()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Request(format!("cannot start the async runtime: {e}")))?;
    let answer = runtime.block_on(request(target.client())).map_err(|e| failure(e, &target))?;
    print_json(&answer);
    Ok(())
}

/// Words a failed request for the operator, with a hint for the usual causes.
fn failure(error: RestError, target: &Target) -> Failure {
    match error {
        RestError::Status { status, body } => {
            let hint = match status {
                401 => " (check the app key and secret, and that this machine's clock is right)",
                403 => " (is the app disabled?)",
                404 => " (check the app id and the URL)",
                _ => "",
            };
            Failure::Request(format!("server answered {status}{hint}: {}", body.trim_end()))
        }
        RestError::Transport(e) => {
            // Without the URL: its query holds a signature, and the base URL is printed instead.
            let e = e.without_url();
            let mut message = format!("request to {} failed: {e}", target.url);
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            Failure::Request(message)
        }
        RestError::Invalid(message) => Failure::Usage(message),
    }
}

fn read_stdin() -> Result<String, Failure> {
    let mut data = String::new();
    std::io::stdin()
        .read_to_string(&mut data)
        .map_err(|e| Failure::Usage(format!("cannot read --data from stdin: {e}")))?;
    if data.ends_with('\n') {
        data.pop();
        if data.ends_with('\r') {
            data.pop();
        }
    }
    Ok(data)
}

/// Characters left as they are in a path segment: those of channel names and URL-safe marks.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'=').remove(b'@').remove(b',').remove(b';');

/// Percent-encodes a channel name or user id for use as one path segment, so names such as
/// `#server-to-user-42` reach the server intact (the signature covers the encoded path).
fn path_segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_keep_channel_characters() {
        assert_eq!(path_segment("presence-room_1=a@b,c;d.e"), "presence-room_1=a@b,c;d.e");
        assert_eq!(path_segment("#server-to-user-42"), "%23server-to-user-42");
        assert_eq!(path_segment("a/b?c d"), "a%2Fb%3Fc%20d");
    }
}
