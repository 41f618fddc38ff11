//! `HERALD_*` environment variables, laid over the file's table before it is deserialized, so
//! a variable is read with the same types and errors as the key it names.

use serde::Serialize;

use super::{AppConfig, Config, ConfigError};

/// Maps `HERALD_FOO_BAR=value` onto the top-level key `foo_bar`. `HERALD_APPS` takes a JSON
/// array of app objects; `HERALD_APP_ID`/`_KEY`/`_SECRET`, with `HERALD_APP_<KEY>` for any
/// other scalar app key (`HERALD_APP_CLIENT_EVENTS=true`), define a single app, the way
/// container images are usually configured. Other `HERALD_*` variables (tooling such as
/// `HERALD_BIN`, or `HERALD_LOG_FILTER`) are not configuration keys and are left alone.
/// Returns whether the apps came from the single-app variables, so errors can name them.
pub(super) fn overlay_env(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) -> Result<bool, ConfigError> {
    let defaults = defaults_of(Config::default());
    let app_defaults = defaults_of(AppConfig::default());
    let mut single_app = toml::Table::new();
    let mut apps_json = false;
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("HERALD_") else { continue };
        let key = rest.to_ascii_lowercase();
        let app_key = key.strip_prefix("app_").and_then(|field| app_defaults.get_key_value(field));
        match (key.as_str(), app_key) {
            ("apps", _) => {
                let json: serde_json::Value = serde_json::from_str(&value)
                    .map_err(|e| ConfigError(format!("HERALD_APPS must be a JSON array of app objects: {e}")))?;
                let apps = toml::Value::try_from(json)
                    .map_err(|e| ConfigError(format!("HERALD_APPS cannot be used: {e}")))?;
                table.insert("apps".into(), apps);
                apps_json = true;
            }
            (_, Some((field, default))) => {
                let value = match default {
                    toml::Value::Array(_) => env_list(&name, &value)?,
                    _ => env_value(default, value),
                };
                single_app.insert(field.clone(), value);
            }
            // Read by main.rs / test tooling, not configuration keys.
            ("config" | "log_filter" | "bin" | "url", _) => {}
            _ => match defaults.get(&key) {
                Some(default) => {
                    table.insert(key, env_value(default, value));
                }
                None => eprintln!("herald: ignoring {name}: not a configuration key (see docs/configuration.md)"),
            },
        }
    }
    if single_app.is_empty() {
        return Ok(false);
    }
    if apps_json {
        return Err(ConfigError("HERALD_APPS and HERALD_APP_* both define apps; use one of them".into()));
    }
    for field in ["id", "key", "secret"] {
        if !single_app.contains_key(field) {
            let set: Vec<String> = single_app.keys().map(|k| format!("HERALD_APP_{}", k.to_ascii_uppercase())).collect();
            return Err(ConfigError(format!(
                "{} set without HERALD_APP_{}: the HERALD_APP_* variables define one app and need HERALD_APP_ID, HERALD_APP_KEY and HERALD_APP_SECRET",
                set.join(", "),
                field.to_ascii_uppercase()
            )));
        }
    }
    table.insert("apps".into(), toml::Value::Array(vec![toml::Value::Table(single_app)]));
    Ok(true)
}

/// A config struct's defaults by key: the keys an environment variable may name, and the
/// type each one's value takes.
fn defaults_of(value: impl Serialize) -> toml::Table {
    match toml::Value::try_from(value) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    }
}

/// A variable's text as the key's type: text for a key whose default is text (so a
/// numeric-looking secret, prefix or token stays text), else a number or boolean when it
/// reads as one.
fn env_value(default: &toml::Value, value: String) -> toml::Value {
    match default {
        toml::Value::String(_) => toml::Value::String(value),
        _ => scalar(&value),
    }
}

/// A variable for a key whose value is a list: a JSON array (`[{"url": "…"}]` for
/// webhooks), or else comma-separated text (`https://a.example,*.b.example`).
fn env_list(name: &str, value: &str) -> Result<toml::Value, ConfigError> {
    if value.trim_start().starts_with('[') {
        let json: serde_json::Value =
            serde_json::from_str(value).map_err(|e| ConfigError(format!("{name} starts with [ but is not a JSON array: {e}")))?;
        return toml::Value::try_from(json).map_err(|e| ConfigError(format!("{name} cannot be used: {e}")));
    }
    let items = value.split(',').map(str::trim).filter(|item| !item.is_empty());
    Ok(toml::Value::Array(items.map(|item| toml::Value::String(item.to_string())).collect()))
}

fn scalar(value: &str) -> toml::Value {
    if let Ok(i) = value.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(b) = value.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(value.to_string())
    }
}
