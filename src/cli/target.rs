//! Which server and which app credentials an operator command uses.
//!
//! In order: `--config FILE` (its first app, or the one named by `--app-id`, with the address
//! the server would listen on), then `--url`/`--app-id`/`--key`/`--secret` (each also read
//! from `HERALD_URL`, `HERALD_APP_ID`, `HERALD_APP_KEY`, `HERALD_APP_SECRET`), then the
//! development app at http://127.0.0.1:6001. The `HERALD_APP_*` variables mean here what they
//! mean to the server: one app's credentials.

use std::path::PathBuf;

use herald::config::{AppConfig, Config};
use herald::rest_client::RestClient;

use super::Failure;

pub const DEFAULT_URL: &str = "http://127.0.0.1:6001";

#[derive(clap::Args)]
#[command(next_help_heading = "Server")]
pub struct TargetArgs {
    /// Base URL of the server's HTTP API [default: the config's host and port, or http://127.0.0.1:6001]
    #[arg(long, env = "HERALD_URL", value_name = "URL")]
    url: Option<String>,
    #[command(flatten)]
    app: AppArgs,
}

/// The app credentials alone: what the signing commands need.
#[derive(clap::Args)]
#[command(next_help_heading = "App credentials")]
pub struct AppArgs {
    /// Take the app (and the server address) from this herald config file: its first app
    /// unless --app-id names another
    #[arg(long, env = "HERALD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// App id [default: 1, or the config's first app]
    #[arg(long, env = "HERALD_APP_ID", value_name = "ID")]
    app_id: Option<String>,
    /// App key [default: herald-dev-key, or the config app's]
    #[arg(long, env = "HERALD_APP_KEY", value_name = "KEY")]
    key: Option<String>,
    /// App secret [default: herald-dev-secret, or the config app's]
    #[arg(long, env = "HERALD_APP_SECRET", value_name = "SECRET", hide_env_values = true)]
    secret: Option<String>,
}

/// A resolved server address and app.
pub struct Target {
    pub url: String,
    pub app: App,
}

/// Resolved app credentials.
pub struct App {
    pub id: String,
    pub key: String,
    pub secret: String,
}

impl TargetArgs {
    pub fn resolve(self) -> Result<Target, Failure> {
        let (app, config_url) = self.app.resolve_with_url()?;
        let url = self.url.or(config_url).unwrap_or_else(|| DEFAULT_URL.to_string());
        check_url(&url)?;
        Ok(Target { url, app })
    }
}

impl AppArgs {
    pub fn resolve(self) -> Result<App, Failure> {
        self.resolve_with_url().map(|(app, _)| app)
    }

    /// The app, and with `--config` the URL of the configured listener.
    fn resolve_with_url(self) -> Result<(App, Option<String>), Failure> {
        let (app, config_url) = match &self.config {
            Some(path) => {
                let (config, _) =
                    Config::load(Some(path), super::config_env()).map_err(|e| Failure::Usage(e.to_string()))?;
                (pick_app(&config, self.app_id.as_deref())?, Some(url_of(&config)))
            }
            None => {
                let mut app = Config::dev_app();
                match (&self.key, &self.secret) {
                    (Some(_), Some(_)) | (None, None) => {}
                    (Some(_), None) => return Err(Failure::Usage("--key needs --secret too (or HERALD_APP_SECRET)".into())),
                    (None, Some(_)) => return Err(Failure::Usage("--secret needs --key too (or HERALD_APP_KEY)".into())),
                }
                if let Some(id) = &self.app_id {
                    app.id = id.clone();
                }
                (app, None)
            }
        };
        let app = App { id: app.id, key: self.key.unwrap_or(app.key), secret: self.secret.unwrap_or(app.secret) };
        Ok((app, config_url))
    }
}

impl Target {
    pub fn client(&self) -> RestClient {
        RestClient::new(&self.url, &self.app.id, &self.app.key, &self.app.secret)
    }
}

fn pick_app(config: &Config, app_id: Option<&str>) -> Result<AppConfig, Failure> {
    let Some(id) = app_id else { return Ok(config.apps[0].clone()) };
    config.apps.iter().find(|app| app.id == id).cloned().ok_or_else(|| {
        let ids: Vec<&str> = config.apps.iter().map(|a| a.id.as_str()).collect();
        Failure::Usage(format!("no app with id \"{id}\" in the config; its apps are: {}", ids.join(", ")))
    })
}

/// The URL a local client reaches the configured listener at: a wildcard bind address
/// becomes loopback, and TLS settings make it https.
fn url_of(config: &Config) -> String {
    let scheme = if config.tls_cert.is_empty() { "http" } else { "https" };
    let host = match config.host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_string(),
    };
    format!("{scheme}://{host}:{}", config.port)
}

fn check_url(url: &str) -> Result<(), Failure> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(Failure::Usage(format!("--url \"{url}\" is not an http:// or https:// URL such as {DEFAULT_URL}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_hosts_become_loopback() {
        let mut config = Config { host: "0.0.0.0".into(), port: 7000, ..Config::default() };
        assert_eq!(url_of(&config), "http://127.0.0.1:7000");
        config.host = "::".into();
        assert_eq!(url_of(&config), "http://[::1]:7000");
        config.host = "fe80::1".into();
        assert_eq!(url_of(&config), "http://[fe80::1]:7000");
        config.tls_cert = "cert.pem".into();
        config.host = "example.org".into();
        assert_eq!(url_of(&config), "https://example.org:7000");
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("http://127.0.0.1:6001").is_ok());
        assert!(check_url("https://push.example.org/").is_ok());
        assert!(check_url("127.0.0.1:6001").is_err());
        assert!(check_url("ftp://host").is_err());
    }
}
