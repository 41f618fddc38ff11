//! The `herald` command line (issue 7, "CLI"; reference in docs/cli.md), run as a real
//! process against a real herald process: check-config, the signed API commands, the signing
//! helpers and the exit codes scripts rely on.
//!
//! The binary is not built by `cargo test -p protocol-tests`; run `cargo build` first, or point
//! `HERALD_BIN` at one.

use protocol_tests::harness::process::{herald_command, HeraldProcess, TempFile, PROCESS_WAIT};
use protocol_tests::{WsClient, WAIT};
use serde_json::{json, Value};
use std::process::Stdio;

use herald::protocol::token;

const APP_ID: &str = "1001";
const KEY: &str = "cli-key";
const SECRET: &str = "cli-secret-value";

/// A config with two apps; `port` is filled in per server.
const CONFIG: &str = r#"
metrics_enabled = false

[[apps]]
id = "1001"
key = "cli-key"
secret = "cli-secret-value"
client_events = true

[[apps]]
id = "1002"
key = "cli-key-2"
secret = "cli-secret-value-2"
"#;

/// `--url … --app-id … --key … --secret …` for the first app.
fn flags(server: &HeraldProcess) -> Vec<String> {
    ["--url", &server.url(), "--app-id", APP_ID, "--key", KEY, "--secret", SECRET].map(String::from).to_vec()
}

/// What one CLI run produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Requires exit code 0 and returns stdout parsed as JSON.
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// Runs `herald ARGS` with `env` and optional stdin; bounded by [`PROCESS_WAIT`].
async fn cli_with(args: &[String], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut command = tokio::process::Command::from(herald_command());
    command.args(args).envs(env.iter().copied()).kill_on_drop(true);
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn the herald CLI");
    if let Some(input) = stdin {
        use tokio::io::AsyncWriteExt;
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input.as_bytes()).await.expect("write the CLI's stdin");
    }
    let output = match tokio::time::timeout(PROCESS_WAIT, child.wait_with_output()).await {
        Ok(output) => output.expect("wait for the CLI"),
        Err(_) => panic!("`herald {}` did not finish within {PROCESS_WAIT:?}", args.join(" ")),
    };
    Run {
        code: output.status.code().expect("the CLI exits normally"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn cli(args: &[&str]) -> Run {
    cli_with(&strings(args), &[], None).await
}

/// `herald ARGS` followed by the server's address and first app's credentials.
async fn cli_at(server: &HeraldProcess, args: &[&str]) -> Run {
    let mut all = strings(args);
    all.extend(flags(server));
    cli_with(&all, &[], None).await
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

// --- check-config ----------------------------------------------------------------------

#[tokio::test]
async fn check_config_prints_the_effective_config_with_secrets_masked() {
    let file = TempFile::new(
        r#"
port = 7123
metrics_enabled = false
console_token = "console-token-0123456789"
adapter = "redis"
redis_url = "redis://:redis-password@cache.internal:6379"

[[apps]]
id = "1001"
key = "visible-key"
secret = "app-secret-one"
extra_keys = [{ key = "visible-extra-key", secret = "extra-secret-two" }]

[[apps.webhooks]]
url = "https://hooks.example.org/in?team=blue&token=url-token"
headers = { Authorization = "Bearer bearer-token", "X-Api-Key" = "header-key", "X-Team" = "blue-team" }
"#,
    );
    let run = cli_with(&strings(&["check-config", file.path()]), &[("HERALD_WORKERS", "3")], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    for secret in ["console-token-0123456789", "redis-password", "app-secret-one", "extra-secret-two", "url-token", "bearer-token", "header-key"] {
        assert!(!run.stdout.contains(secret), "{secret} is printed: {}", run.stdout);
    }
    for shown in [
        "port = 7123",
        "workers = 3", // HERALD_* variables apply, as for the server
        "key = \"visible-key\"",
        "visible-extra-key",
        "secret = \"********\"",
        "console_token = \"********\"",
        "redis://:********@cache.internal:6379",
        "team=blue",
        "Authorization = \"Bearer ********\"",
        "X-Team = \"blue-team\"",
        "max_presence_members = 100", // defaults are shown too
    ] {
        assert!(run.stdout.contains(shown), "missing {shown:?} in:\n{}", run.stdout);
    }
}

#[tokio::test]
async fn check_config_names_the_bad_key_and_exits_2() {
    let unknown = TempFile::new("prot = 6001\n");
    let run = cli(&["check-config", unknown.path()]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("`prot`"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");

    let missing_secret = TempFile::new("[[apps]]\nid = \"1\"\nkey = \"k\"\n");
    let run = cli(&["check-config", missing_secret.path()]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("apps[0].secret"), "{run:?}");

    let run = cli(&["check-config", "/nonexistent/herald.toml"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("/nonexistent/herald.toml"), "{run:?}");
}

// --- the signed API commands ---------------------------------------------------------------

#[tokio::test]
async fn trigger_reaches_a_subscriber() {
    let server = HeraldProcess::start(CONFIG);
    let mut client = WsClient::connect_app(server.addr, KEY).await;
    client.subscribe("news").await;

    let run = cli_at(&server, &["trigger", "--channel", "news", "--event", "greeting", "--data", r#"{"hello":"world"}"#]).await;
    assert_eq!(run.json(), json!({}));
    let frame = client.recv_json().await;
    assert_eq!(frame, json!({"event": "greeting", "channel": "news", "data": r#"{"hello":"world"}"#}));

    // `--data -` reads stdin (one trailing newline dropped); several channels in one request.
    let mut args = strings(&["trigger", "-c", "other", "-c", "news", "-e", "piped", "-d", "-"]);
    args.extend(flags(&server));
    let run = cli_with(&args, &[], Some("{\"n\":2}\n")).await;
    assert_eq!(run.json(), json!({}));
    assert_eq!(client.recv_json().await, json!({"event": "piped", "channel": "news", "data": r#"{"n":2}"#}));

    // The excluded socket does not receive it; the marker after it proves nothing came first.
    let run = cli_at(&server, &["trigger", "-c", "news", "-e", "skipped", "-d", "x", "--socket-id", client.socket_id()]).await;
    assert_eq!(run.code, 0, "{run:?}");
    cli_at(&server, &["trigger", "-c", "news", "-e", "marker", "-d", "y"]).await.json();
    assert_eq!(client.recv_json().await["event"], "marker");
}

#[tokio::test]
async fn credentials_come_from_the_config_file_or_the_environment() {
    let server = HeraldProcess::start(CONFIG);
    let mut first = WsClient::connect_app(server.addr, KEY).await;
    first.subscribe("news").await;
    let mut second = WsClient::connect_app(server.addr, "cli-key-2").await;
    second.subscribe("news").await;

    // The config gives the address (its host and port) and the first app.
    let run = cli(&["trigger", "--config", server.config.path(), "-c", "news", "-e", "from-config", "-d", "1"]).await;
    assert_eq!(run.json(), json!({}));
    assert_eq!(first.recv_json().await["event"], "from-config");

    // --app-id picks another app of the config.
    let run = cli(&["trigger", "--config", server.config.path(), "--app-id", "1002", "-c", "news", "-e", "second-app", "-d", "2"]).await;
    assert_eq!(run.json(), json!({}));
    assert_eq!(second.recv_json().await["event"], "second-app");

    // HERALD_URL and HERALD_APP_ID/KEY/SECRET, as the server reads them.
    let url = server.url();
    let env = [("HERALD_URL", url.as_str()), ("HERALD_APP_ID", APP_ID), ("HERALD_APP_KEY", KEY), ("HERALD_APP_SECRET", SECRET)];
    let run = cli_with(&strings(&["trigger", "-c", "news", "-e", "from-env", "-d", "3"]), &env, None).await;
    assert_eq!(run.json(), json!({}));
    assert_eq!(first.recv_json().await["event"], "from-env");

    // An app id the config does not have is a usage error that lists the ones it has.
    let run = cli(&["channels", "--config", server.config.path(), "--app-id", "77"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("1001, 1002"), "{run:?}");
}

#[tokio::test]
async fn channels_channel_and_users_print_json() {
    let server = HeraldProcess::start(CONFIG);
    let mut public = WsClient::connect_app(server.addr, KEY).await;
    public.subscribe("news").await;
    let mut member = WsClient::connect_app(server.addr, KEY).await;
    let app = protocol_tests::TestApp { id: APP_ID.into(), key: KEY.into(), secret: SECRET.into() };
    member.subscribe_presence(&app, "presence-room", &json!({"user_id": "42", "user_info": {"name": "Ada"}})).await;

    let all = cli_at(&server, &["channels"]).await.json();
    assert_eq!(all, json!({"channels": {"news": {}, "presence-room": {}}}));
    let presence = cli_at(&server, &["channels", "--prefix", "presence-", "--info", "user_count"]).await.json();
    assert_eq!(presence, json!({"channels": {"presence-room": {"user_count": 1}}}));

    let room = cli_at(&server, &["channel", "presence-room", "--info", "user_count,subscription_count"]).await.json();
    assert_eq!(room, json!({"occupied": true, "user_count": 1, "subscription_count": 1}));
    let empty = cli_at(&server, &["channel", "nobody-here"]).await.json();
    assert_eq!(empty, json!({"occupied": false}));

    let users = cli_at(&server, &["users", "presence-room"]).await.json();
    assert_eq!(users, json!({"users": [{"id": "42"}]}));

    // Output is pretty-printed for people, and still one JSON document for scripts.
    let run = cli_at(&server, &["channels"]).await;
    assert!(run.stdout.contains("\n  \"channels\""), "{run:?}");
}

#[tokio::test]
async fn terminate_disconnects_a_signed_in_user() {
    let server = HeraldProcess::start(CONFIG);
    let mut client = WsClient::connect_app(server.addr, KEY).await;
    let user_data = r#"{"id":"user-7"}"#;
    let signed = cli(&["sign-user", "--config", server.config.path(), client.socket_id(), user_data]).await.json();
    client.send_json(&json!({"event": "pusher:signin", "data": signed})).await;
    client.wait_for_event("pusher:signin_success").await;

    let run = cli_at(&server, &["terminate", "user-7"]).await;
    assert_eq!(run.json(), json!({}));
    client.expect_close(4009).await;
}

// --- failures and exit codes -----------------------------------------------------------

#[tokio::test]
async fn a_refused_request_exits_1_with_the_status_and_body_on_stderr() {
    let server = HeraldProcess::start(CONFIG);
    let run = cli(&["channels", "--url", &server.url(), "--app-id", APP_ID, "--key", KEY, "--secret", "wrong-secret"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(run.stderr.contains("401"), "{run:?}");
    assert!(run.stderr.contains("Invalid signature"), "the server's body is shown: {run:?}");
    assert!(!run.stderr.contains("wrong-secret"), "the secret is never printed: {run:?}");

    // A 4xx for a well-signed but invalid request is a failed request too.
    let run = cli_at(&server, &["users", "news"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("400"), "{run:?}");
}

#[tokio::test]
async fn an_unreachable_server_exits_1() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let run = cli(&["trigger", "--url", &format!("http://127.0.0.1:{port}"), "-c", "news", "-e", "e", "-d", "1"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(&format!("127.0.0.1:{port}")), "{run:?}");
}

#[tokio::test]
async fn serve_on_a_port_in_use_exits_1_saying_which_port_and_what_to_do() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let port = holder.local_addr().expect("its address").port().to_string();
    let run = cli_with(&strings(&["serve", "--port", &port]), &[("HERALD_METRICS_ENABLED", "false")], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{run:?}");
    assert!(run.stderr.contains(&format!("another process holds port {port}")) && run.stderr.contains("HERALD_PORT"), "{run:?}");
}

#[tokio::test]
async fn serve_with_a_bad_log_filter_exits_2_naming_it() {
    for (variable, named) in [("HERALD_LOG", "`log` (HERALD_LOG)"), ("HERALD_LOG_FILTER", "HERALD_LOG_FILTER")] {
        let run = cli_with(&strings(&["serve", "--port", "1"]), &[(variable, "herald=verbose")], None).await;
        assert_eq!(run.code, 2, "{variable}: {run:?}");
        assert!(run.stderr.contains(named) && run.stderr.contains("is not a log filter"), "{variable}: {run:?}");
    }
}

#[tokio::test]
async fn usage_errors_exit_2() {
    for args in [
        &["trigger", "-c", "news", "-d", "1"][..],            // no --event
        &["trigger", "-e", "e", "-d", "1"][..],               // no --channel
        &["channels", "--url", "not a url"][..],              // bad URL
        &["channels", "--key", "only-a-key"][..],             // key without secret
        &["sign-channel", "not-a-socket", "private-a"][..],   // malformed socket id
        &["sign-channel", "1.2", "public-news"][..],          // public channels are not signed
        &["sign-channel", "1.2", "presence-a", "{}"][..],     // channel_data without user_id
        &["sign-channel", "1.2", "private-a", r#"{"user_id":"1"}"#][..], // channel_data off presence
        &["sign-user", "1.2", r#"{"name":"no id"}"#][..],     // user_data without id
        &["no-such-command"][..],
        &["--port", "7000", "channels"][..],                  // server flags belong to serve
    ] {
        let run = cli(args).await;
        assert_eq!(run.code, 2, "herald {args:?}: {run:?}");
        assert!(!run.stderr.is_empty(), "herald {args:?} explains itself: {run:?}");
    }
}

#[tokio::test]
async fn help_documents_commands_examples_and_exit_codes() {
    let run = cli(&["--help"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    for text in ["check-config", "trigger", "channels", "users", "sign-channel", "Exit codes", "0  success", "1  the request failed", "2  usage"] {
        assert!(run.stdout.contains(text), "--help lacks {text:?}:\n{}", run.stdout);
    }
    for command in ["check-config", "trigger", "channels", "channel", "users", "terminate", "sign-channel", "sign-user", "serve"] {
        let run = cli(&[command, "--help"]).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains("Examples:"), "`herald {command} --help` has no examples:\n{}", run.stdout);
    }
}

// --- signing helpers ---------------------------------------------------------------------

#[tokio::test]
async fn sign_channel_output_verifies_and_is_accepted_by_the_server() {
    let socket_id = "1234.5678";
    let keys = ["--key", KEY, "--secret", SECRET];

    let mut args = vec!["sign-channel", socket_id, "private-orders"];
    args.extend(keys);
    let private = cli(&args).await.json();
    assert_eq!(private.as_object().map(|o| o.len()), Some(1), "{private}");
    let to_sign = token::channel_string_to_sign(socket_id, "private-orders", None);
    assert_eq!(token::verify(private["auth"].as_str(), KEY, SECRET, &to_sign), Ok(()));

    // channel_data is signed and returned exactly as given (spacing included).
    let channel_data = r#"{"user_id": 10, "user_info": {"name": "Mr. Channels"}}"#;
    let mut args = vec!["sign-channel", socket_id, "presence-room", channel_data];
    args.extend(keys);
    let presence = cli(&args).await.json();
    assert_eq!(presence["channel_data"], channel_data);
    let to_sign = token::channel_string_to_sign(socket_id, "presence-room", Some(channel_data));
    assert_eq!(token::verify(presence["auth"].as_str(), KEY, SECRET, &to_sign), Ok(()));

    // Without flags: the development app's credentials.
    let dev = cli(&["sign-channel", socket_id, "private-orders"]).await.json();
    let to_sign = token::channel_string_to_sign(socket_id, "private-orders", None);
    assert_eq!(token::verify(dev["auth"].as_str(), "herald-dev-key", "herald-dev-secret", &to_sign), Ok(()));

    let user_data = r#"{"id":"42","user_info":{"name":"Ada"}}"#;
    let mut args = vec!["sign-user", socket_id, user_data];
    args.extend(keys);
    let user = cli(&args).await.json();
    assert_eq!(user["user_data"], user_data);
    let to_sign = token::user_string_to_sign(socket_id, user_data);
    assert_eq!(token::verify(user["auth"].as_str(), KEY, SECRET, &to_sign), Ok(()));

    // End to end: a real connection subscribes with what the CLI signed.
    let server = HeraldProcess::start(CONFIG);
    let mut client = WsClient::connect_app(server.addr, KEY).await;
    let signed = cli(&["sign-channel", "--config", server.config.path(), client.socket_id(), "private-orders"]).await.json();
    client.send_subscribe("private-orders", signed["auth"].as_str(), None).await;
    client.expect_subscribed("private-orders").await;
    let signed = cli(&["sign-channel", "--config", server.config.path(), client.socket_id(), "presence-room", channel_data]).await.json();
    client.send_subscribe("presence-room", signed["auth"].as_str(), signed["channel_data"].as_str()).await;
    let frame = tokio::time::timeout(WAIT, client.expect_event("pusher_internal:subscription_succeeded")).await.expect("bounded");
    assert_eq!(frame["channel"], "presence-room");
}
