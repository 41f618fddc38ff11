//! A signed client for herald's HTTP API. Signing is herald's own
//! `protocol::api_signature::signed_query`; this file only sends requests.

use herald::protocol::api_signature;
use serde_json::{json, Value};

use super::server::{TestApp, TestServer};
use super::ws::WAIT;

#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    pub app: TestApp,
}

/// What the server answered: the status, the content type and the raw body.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: Option<String>,
    /// `Retry-After`, which a 429 carries.
    pub retry_after: Option<String>,
    pub text: String,
}

impl ApiResponse {
    /// The body parsed as JSON; fails the test when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("response body is not JSON ({e}): {self:?}"))
    }

    /// Requires `status` and a JSON body; returns the body.
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        let content_type = self.content_type.as_deref().unwrap_or("");
        assert!(content_type.starts_with("application/json"), "content type is {content_type:?}, expected JSON: {self:?}");
        self.json()
    }

    /// Requires an error `status` with the JSON body `{"error": "<message>"}`; returns the message.
    pub fn expect_error(&self, status: u16) -> String {
        let body = self.expect(status);
        let object = body.as_object().unwrap_or_else(|| panic!("error body must be an object: {body}"));
        assert_eq!(object.len(), 1, "error body has exactly one field: {body}");
        body["error"].as_str().unwrap_or_else(|| panic!("error body needs a string 'error': {body}")).to_string()
    }
}

impl Api {
    /// A client for the server's first app.
    pub fn new(server: &TestServer) -> Api {
        Api::for_app(server, server.app())
    }

    pub fn for_app(server: &TestServer, app: TestApp) -> Api {
        let client = reqwest::Client::builder().no_proxy().timeout(WAIT).build().expect("build the HTTP client");
        Api { client, base: server.http_base(), app }
    }

    /// `/apps/{id}{suffix}`.
    pub fn path(&self, suffix: &str) -> String {
        format!("/apps/{}{suffix}", self.app.id)
    }

    /// The signed query string for a request made now.
    pub fn signed_query(&self, method: &str, path: &str, body: &[u8], extra: &[(&str, &str)]) -> String {
        self.signed_query_at(method, path, body, extra, now())
    }

    /// The signed query string for a request stamped `timestamp` (Unix seconds).
    pub fn signed_query_at(&self, method: &str, path: &str, body: &[u8], extra: &[(&str, &str)], timestamp: i64) -> String {
        api_signature::signed_query(&self.app.key, &self.app.secret, method, path, body, timestamp, extra)
    }

    /// Sends a request exactly as given: no signing, no changes.
    pub async fn send_raw(&self, method: &str, path: &str, query: &str, body: Vec<u8>) -> ApiResponse {
        let url = format!("{}{path}?{query}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid HTTP method");
        let mut request = self.client.request(method, &url);
        if !body.is_empty() {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("HTTP request to {url} failed: {e}"));
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (content_type, retry_after) = (header("content-type"), header("retry-after"));
        let text = response.text().await.unwrap_or_else(|e| panic!("reading the body from {url} failed: {e}"));
        ApiResponse { status, content_type, retry_after, text }
    }

    /// A signed POST of `body` to `/apps/{id}{suffix}`.
    pub async fn post(&self, suffix: &str, body: &Value) -> ApiResponse {
        let path = self.path(suffix);
        let body = body.to_string().into_bytes();
        let query = self.signed_query("POST", &path, &body, &[]);
        self.send_raw("POST", &path, &query, body).await
    }

    /// A signed GET of `/apps/{id}{suffix}` with extra query parameters.
    pub async fn get(&self, suffix: &str, params: &[(&str, &str)]) -> ApiResponse {
        let path = self.path(suffix);
        let query = self.signed_query("GET", &path, b"", params);
        self.send_raw("GET", &path, &query, Vec::new()).await
    }

    /// Triggers `event` with string `data` on `channels`.
    pub async fn trigger(&self, channels: &[&str], event: &str, data: &str) -> ApiResponse {
        self.post("/events", &json!({ "name": event, "channels": channels, "data": data })).await
    }

    /// Triggers and requires the plain success answer `{}`.
    pub async fn trigger_ok(&self, channels: &[&str], event: &str, data: &str) {
        let body = self.trigger(channels, event, data).await.expect(200);
        assert_eq!(body, json!({}), "a trigger without info answers {{}}");
    }
}

/// The current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs() as i64
}
