//! A small client for the Pusher HTTP API (herald's or any compatible server's), and the
//! auth-endpoint helpers an app server needs. The nexora example and the CLI use it; it signs
//! with [`crate::protocol::api_signature`], the same code the server verifies with.

use serde::Serialize;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::protocol::{api_signature, token};

/// Credentials and address of one app on a Pusher-compatible server.
#[derive(Clone)]
pub struct RestClient {
    base_url: String,
    app_id: String,
    key: String,
    secret: String,
    http: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("server answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("invalid input: {0}")]
    Invalid(String),
}

/// One event of a batch trigger.
#[derive(Debug, Clone, Serialize)]
pub struct BatchEvent {
    pub channel: String,
    pub name: String,
    pub data: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_id: Option<String>,
}

impl RestClient {
    /// `base_url` like `http://127.0.0.1:6001` (no trailing path).
    pub fn new(base_url: &str, app_id: &str, key: &str, secret: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .expect("the HTTP client builds with static settings");
        RestClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            app_id: app_id.to_string(),
            key: key.to_string(),
            secret: secret.to_string(),
            http,
        }
    }

    /// Like [`RestClient::new`] with a caller-built HTTP client (custom TLS trust, proxies…).
    pub fn with_http_client(base_url: &str, app_id: &str, key: &str, secret: &str, http: reqwest::Client) -> Self {
        RestClient { http, ..RestClient::new(base_url, app_id, key, secret) }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Publishes `name` with string `data` on each channel; `socket_id` is excluded.
    pub async fn trigger(&self, channels: &[&str], name: &str, data: &str, socket_id: Option<&str>) -> Result<Value, RestError> {
        let mut body = serde_json::json!({ "name": name, "channels": channels, "data": data });
        if let Some(id) = socket_id {
            body["socket_id"] = Value::String(id.to_string());
        }
        self.post("events", &body).await
    }

    pub async fn trigger_batch(&self, events: &[BatchEvent]) -> Result<Value, RestError> {
        self.post("batch_events", &serde_json::json!({ "batch": events })).await
    }

    /// `GET /channels` with optional prefix filter and info attributes.
    pub async fn channels(&self, prefix: Option<&str>, info: Option<&str>) -> Result<Value, RestError> {
        let mut params = Vec::new();
        if let Some(p) = prefix {
            params.push(("filter_by_prefix", p));
        }
        if let Some(i) = info {
            params.push(("info", i));
        }
        self.get("channels", &params).await
    }

    pub async fn channel(&self, channel: &str, info: Option<&str>) -> Result<Value, RestError> {
        let params: Vec<(&str, &str)> = info.map(|i| vec![("info", i)]).unwrap_or_default();
        self.get(&format!("channels/{channel}"), &params).await
    }

    pub async fn users(&self, channel: &str) -> Result<Value, RestError> {
        self.get(&format!("channels/{channel}/users"), &[]).await
    }

    pub async fn terminate_user_connections(&self, user_id: &str) -> Result<Value, RestError> {
        self.post(&format!("users/{user_id}/terminate_connections"), &serde_json::json!({})).await
    }

    /// The body for a channel authorization endpoint: `{"auth": …}` plus `channel_data` on
    /// presence channels.
    pub fn authorize_channel(&self, socket_id: &str, channel: &str, presence: Option<&Value>) -> Result<Value, RestError> {
        if !crate::protocol::socket_id::SocketId::is_well_formed(socket_id) {
            return Err(RestError::Invalid(format!("socket_id '{socket_id}' is not of the form 1234.5678")));
        }
        let channel_data = presence.map(Value::to_string);
        let to_sign = token::channel_string_to_sign(socket_id, channel, channel_data.as_deref());
        let auth = format!("{}:{}", self.key, token::sign(&self.secret, to_sign.as_bytes()));
        Ok(match channel_data {
            Some(data) => serde_json::json!({ "auth": auth, "channel_data": data }),
            None => serde_json::json!({ "auth": auth }),
        })
    }

    /// The body for a user authentication endpoint (`signin()`): `{"auth", "user_data"}`.
    pub fn authenticate_user(&self, socket_id: &str, user_data: &Value) -> Result<Value, RestError> {
        if user_data.get("id").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(RestError::Invalid("user_data needs a non-empty string id".into()));
        }
        let data = user_data.to_string();
        let to_sign = token::user_string_to_sign(socket_id, &data);
        let auth = format!("{}:{}", self.key, token::sign(&self.secret, to_sign.as_bytes()));
        Ok(serde_json::json!({ "auth": auth, "user_data": data }))
    }

    async fn post(&self, sub_path: &str, body: &Value) -> Result<Value, RestError> {
        let body = body.to_string().into_bytes();
        let path = format!("/apps/{}/{}", self.app_id, sub_path);
        let query = api_signature::signed_query(&self.key, &self.secret, "POST", &path, &body, now(), &[]);
        let request = self.http.post(format!("{}{}?{}", self.base_url, path, query)).header("Content-Type", "application/json").body(body);
        Self::finish(request).await
    }

    async fn get(&self, sub_path: &str, params: &[(&str, &str)]) -> Result<Value, RestError> {
        let path = format!("/apps/{}/{}", self.app_id, sub_path);
        let query = api_signature::signed_query(&self.key, &self.secret, "GET", &path, b"", now(), params);
        Self::finish(self.http.get(format!("{}{}?{}", self.base_url, path, query))).await
    }

    async fn finish(request: reqwest::RequestBuilder) -> Result<Value, RestError> {
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(RestError::Status { status: status.as_u16(), body: text });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
