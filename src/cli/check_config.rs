//! `herald check-config FILE`: load a configuration exactly as the server would (the file,
//! then `HERALD_*` variables), validate it, and print the effective result as TOML with
//! every secret masked, so it can be pasted into a bug report or compared between hosts.

use std::path::PathBuf;

use herald::config::{Config, WebhookConfig};

use super::Failure;

pub const HELP: &str = "\
Examples:
  herald check-config /etc/herald.toml
  HERALD_PORT=7000 herald check-config herald.toml > effective.toml

Masked: app secrets, console_token, passwords in redis_url and webhook URLs, credential-like
query parameters of webhook URLs, and webhook headers that carry credentials (Authorization,
Cookie, anything named like a token, key, secret or password).
Exit 0 when the configuration is valid; 2 with a message naming the offending key otherwise.";

/// What replaces a secret in the output.
const MASK: &str = "********";

/// Parts of a header or query-parameter name that mark its value as a credential.
const CREDENTIAL_WORDS: [&str; 9] = ["auth", "token", "secret", "key", "pass", "cookie", "signature", "credential", "session"];

#[derive(clap::Args)]
pub struct Args {
    /// The TOML configuration file to check
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let (mut config, generated) =
        Config::load(Some(&args.file), super::config_env()).map_err(|e| Failure::Usage(e.to_string()))?;
    mask_secrets(&mut config);
    let text = toml::to_string(&config).map_err(|e| Failure::Usage(format!("cannot print the configuration: {e}")))?;
    println!("# {}: valid. Effective configuration (file, then HERALD_* variables); secrets masked.", args.file.display());
    if generated {
        println!("# No [[apps]] configured: herald would serve the development app shown below.");
    }
    print!("{text}");
    Ok(())
}

fn mask_secrets(config: &mut Config) {
    mask(&mut config.console_token);
    if let Some(masked) = mask_url(&config.redis_url) {
        config.redis_url = masked;
    }
    for app in &mut config.apps {
        mask(&mut app.secret);
        app.extra_keys.iter_mut().for_each(|pair| mask(&mut pair.secret));
        app.webhooks.iter_mut().for_each(mask_webhook);
    }
}

fn mask_webhook(hook: &mut WebhookConfig) {
    if let Some(masked) = mask_url(&hook.url) {
        hook.url = masked;
    }
    for (name, value) in hook.headers.iter_mut() {
        if is_credential_name(name) || looks_like_credential(value) {
            *value = match value.split_once(' ') {
                // Keep the scheme of `Bearer …` / `Basic …` so the operator sees which it is.
                Some((scheme, _)) if scheme.chars().all(|c| c.is_ascii_alphabetic()) => format!("{scheme} {MASK}"),
                _ => MASK.to_string(),
            };
        }
    }
}

/// Replaces a non-empty value; an empty one stays visible, since "unset" is worth seeing.
fn mask(value: &mut String) {
    if !value.is_empty() {
        *value = MASK.to_string();
    }
}

/// The URL with its password and credential-like query parameters masked, or `None` when
/// there is nothing to mask (the text is then printed exactly as written).
fn mask_url(text: &str) -> Option<String> {
    let mut url = url::Url::parse(text).ok()?;
    let mut changed = false;
    if url.password().is_some() {
        changed |= url.set_password(Some(MASK)).is_ok();
    }
    if url.query_pairs().any(|(name, _)| is_credential_name(&name)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_credential_name(&name) { MASK.to_string() } else { value.into_owned() };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    changed.then(|| url.to_string())
}

fn is_credential_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    CREDENTIAL_WORDS.iter().any(|word| name.contains(word))
}

fn looks_like_credential(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    ["bearer ", "basic ", "token ", "digest "].iter().any(|scheme| lower.starts_with(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn urls_lose_passwords_and_tokens_only() {
        assert_eq!(mask_url("redis://:hunter2@cache:6379/0").as_deref(), Some("redis://:********@cache:6379/0"));
        assert_eq!(mask_url("redis://127.0.0.1:6379"), None);
        let masked = mask_url("https://hooks.example.org/in?team=7&token=abc").unwrap();
        assert_eq!(masked, "https://hooks.example.org/in?team=7&token=********");
    }

    #[test]
    fn credential_headers_are_masked() {
        let mut hook = WebhookConfig {
            url: "https://user:pw@example.org/hook".into(),
            event_types: None,
            channel_prefix: None,
            headers: BTreeMap::from([
                ("Authorization".to_string(), "Bearer s3cr3t".to_string()),
                ("X-Api-Key".to_string(), "k3y".to_string()),
                ("X-Custom".to_string(), "Basic dXNlcjpwdw==".to_string()),
                ("X-Team".to_string(), "blue".to_string()),
            ]),
        };
        mask_webhook(&mut hook);
        assert_eq!(hook.url, "https://user:********@example.org/hook");
        assert_eq!(hook.headers["Authorization"], "Bearer ********");
        assert_eq!(hook.headers["X-Api-Key"], MASK);
        assert_eq!(hook.headers["X-Custom"], "Basic ********");
        assert_eq!(hook.headers["X-Team"], "blue");
    }
}
