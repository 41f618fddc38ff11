//! `herald sign-channel` and `herald sign-user`: the JSON a correct auth endpoint answers,
//! computed with herald's own [`token`] code, to compare with what an app's endpoint returns.
//! The given `CHANNEL_DATA` / `USER_DATA` is signed byte for byte as written, as the client
//! sends it back verbatim.

use serde_json::{json, Value};

use herald::protocol::channel::{ChannelKind, ChannelType};
use herald::protocol::names;
use herald::protocol::socket_id::SocketId;
use herald::protocol::token;

use super::target::{App, AppArgs};
use super::{print_json, Failure};

pub const SIGN_CHANNEL_HELP: &str = "\
Examples:
  herald sign-channel 1234.5678 private-orders
  herald sign-channel 1234.5678 presence-room '{\"user_id\":\"42\",\"user_info\":{\"name\":\"Ada\"}}'
  herald sign-channel --config /etc/herald.toml --app-id 1002 1234.5678 private-orders

Prints {\"auth\": \"<key>:<signature>\"}, plus \"channel_data\" (exactly as given) for presence
channels. Compare it with your auth endpoint's answer for the same socket id and channel.
Exit 2 when the input is malformed (socket id, channel name, channel_data).";

pub const SIGN_USER_HELP: &str = "\
Examples:
  herald sign-user 1234.5678 '{\"id\":\"42\",\"user_info\":{\"name\":\"Ada\"}}'

Prints {\"auth\": \"<key>:<signature>\", \"user_data\": USER_DATA} as a user-authentication
endpoint answers pusher-js's signin(). Exit 2 when the input is malformed.";

#[derive(clap::Args)]
pub struct SignChannelArgs {
    /// The connection's socket id, from pusher:connection_established (e.g. 1234.5678)
    socket_id: String,
    /// A private-, private-encrypted- or presence- channel
    channel: String,
    /// Presence only: the member as a JSON object with a user_id (and optional user_info)
    channel_data: Option<String>,
    #[command(flatten)]
    app: AppArgs,
}

#[derive(clap::Args)]
pub struct SignUserArgs {
    /// The connection's socket id (e.g. 1234.5678)
    socket_id: String,
    /// The user as a JSON object with a non-empty string id (and optional user_info, watchlist)
    user_data: String,
    #[command(flatten)]
    app: AppArgs,
}

pub fn sign_channel(args: SignChannelArgs) -> Result<(), Failure> {
    check_socket_id(&args.socket_id)?;
    names::validate_channel_name(&args.channel, usize::MAX).map_err(Failure::Usage)?;
    let kind = ChannelType::of(&args.channel).kind;
    match (kind, &args.channel_data) {
        (ChannelKind::Public | ChannelKind::ServerToUser, _) => {
            return Err(Failure::Usage(format!(
                "{} needs no auth: only private-, private-encrypted- and presence- channels are signed",
                args.channel
            )))
        }
        (ChannelKind::Private | ChannelKind::PrivateEncrypted, Some(_)) => {
            return Err(Failure::Usage("CHANNEL_DATA is for presence channels only".into()))
        }
        (ChannelKind::Presence, Some(data)) => check_channel_data(data)?,
        (ChannelKind::Presence, None) => eprintln!(
            "herald: note: without CHANNEL_DATA, herald admits only a connection that has signed in; \
             auth endpoints normally return channel_data for presence channels"
        ),
        (ChannelKind::Private, None) => {}
        (ChannelKind::PrivateEncrypted, None) => eprintln!(
            "herald: note: an endpoint for encrypted channels also returns shared_secret, derived from \
             the app's encryption master key, which herald does not know"
        ),
    }
    let app = args.app.resolve()?;
    let data = args.channel_data.as_deref();
    let auth = auth_token(&app, &token::channel_string_to_sign(&args.socket_id, &args.channel, data));
    print_json(&match data {
        Some(data) => json!({ "auth": auth, "channel_data": data }),
        None => json!({ "auth": auth }),
    });
    Ok(())
}

pub fn sign_user(args: SignUserArgs) -> Result<(), Failure> {
    check_socket_id(&args.socket_id)?;
    let value = parse_object(&args.user_data, "USER_DATA")?;
    match value.get("id") {
        Some(Value::String(id)) if !id.is_empty() => {}
        _ => return Err(Failure::Usage("USER_DATA needs a non-empty string \"id\"".into())),
    }
    let app = args.app.resolve()?;
    let auth = auth_token(&app, &token::user_string_to_sign(&args.socket_id, &args.user_data));
    print_json(&json!({ "auth": auth, "user_data": args.user_data }));
    Ok(())
}

fn auth_token(app: &App, string_to_sign: &str) -> String {
    format!("{}:{}", app.key, token::sign(&app.secret, string_to_sign.as_bytes()))
}

fn check_socket_id(socket_id: &str) -> Result<(), Failure> {
    if SocketId::is_well_formed(socket_id) {
        Ok(())
    } else {
        Err(Failure::Usage(format!("SOCKET_ID \"{socket_id}\" is not of the form 1234.5678")))
    }
}

fn check_channel_data(data: &str) -> Result<(), Failure> {
    let value = parse_object(data, "CHANNEL_DATA")?;
    match value.get("user_id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(()),
        Some(Value::Number(_)) => Ok(()),
        _ => Err(Failure::Usage("CHANNEL_DATA needs a \"user_id\": a non-empty string or a number".into())),
    }
}

fn parse_object(text: &str, what: &str) -> Result<Value, Failure> {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(Failure::Usage(format!("{what} must be a JSON object"))),
        Err(e) => Err(Failure::Usage(format!("{what} is not valid JSON: {e}"))),
    }
}
