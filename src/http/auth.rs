//! Authentication of HTTP API requests: find the app, read the body within limits, verify
//! the signature. Handlers receive an [`Authenticated`] request or never run.

use actix_web::error::PayloadError;
use actix_web::{web, HttpRequest};
use futures_util::{Stream, StreamExt};
use std::sync::Arc;

use super::error::ApiError;
use crate::hub::AppHub;
use crate::protocol::api_signature::{self, QueryParams, SignedRequest};
use crate::state::State;

pub struct Authenticated<'r> {
    pub app: Arc<AppHub>,
    /// The query parameters, borrowed from the request.
    pub params: QueryParams<'r>,
    pub body: web::Bytes,
}

/// A request body as actix delivers it, through actix-web or straight from actix-http.
pub trait BodyStream: Stream<Item = Result<web::Bytes, PayloadError>> + Unpin {}
impl<S: Stream<Item = Result<web::Bytes, PayloadError>> + Unpin> BodyStream for S {}

/// What authentication needs of a request: whether it came through actix-web's router or
/// the publishing front (`front.rs`).
#[derive(Clone, Copy)]
pub struct ApiRequest<'r> {
    pub method: &'r str,
    /// The path as received, before `?`.
    pub path: &'r str,
    pub query: &'r str,
}

impl<'r> ApiRequest<'r> {
    pub fn of(req: &'r HttpRequest) -> Self {
        ApiRequest { method: req.method().as_str(), path: req.uri().path(), query: req.query_string() }
    }
}

/// Reads the body (413 past `limit`), finds the app by id (404), verifies the signature (401).
pub async fn authenticate<'r>(
    state: &State,
    req: ApiRequest<'r>,
    app_id: Option<&str>,
    payload: impl BodyStream,
) -> Result<Authenticated<'r>, ApiError> {
    let body = read_body(payload, state.config.max_request_bytes).await?;
    let params = api_signature::parse_query(req.query);
    let app = match app_id {
        Some(id) => state.app_by_id(id).ok_or_else(|| ApiError::not_found(format!("Unknown app id '{id}'")))?,
        // The Python library's terminate path has no app id: the key identifies the app.
        None => {
            let key = params.get("auth_key").ok_or_else(|| ApiError::unauthorized("Missing required query parameter 'auth_key'"))?.as_ref();
            state.app_by_key(key).ok_or_else(|| ApiError::unauthorized("Unknown auth_key"))?
        }
    };
    let signed = SignedRequest { method: req.method, path: req.path, params: &params, body: &body };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let config = app.config();
    // Any of the app's key pairs may sign; `auth_key` says which. Any other key is checked
    // against the main pair, so the refusal says what is wrong with it.
    let key = params.get("auth_key").map_or("", |k| k.as_ref());
    let (key, secret) = match config.secret_for(key) {
        Some(secret) => (key, secret),
        None => (config.key.as_str(), config.secret.as_str()),
    };
    api_signature::verify(&signed, key, secret, now).map_err(|e| {
        tracing::debug!(app = %app.id(), path = req.path, reason = %e, "API signature check failed");
        ApiError::unauthorized(e.to_string())
    })?;
    if !config.enabled {
        return Err(ApiError::forbidden("Application disabled"));
    }
    Ok(Authenticated { app: app.clone(), params, body })
}

/// What went wrong with a body, in words for the client (actix-http's own texts carry a
/// Rust debug value, such as "payload reached EOF before completing: None").
fn body_error(e: &PayloadError) -> String {
    match e {
        PayloadError::Incomplete(_) => "it ended early or its chunked encoding is malformed".into(),
        PayloadError::Overflow => "it is larger than the request allows".into(),
        PayloadError::EncodingCorrupted => "its content encoding is corrupted".into(),
        other => other.to_string(),
    }
}

async fn read_body(mut payload: impl BodyStream, limit: usize) -> Result<web::Bytes, ApiError> {
    // A body usually arrives in one chunk: keep that chunk rather than copy it.
    let mut single: Option<web::Bytes> = None;
    let mut joined = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("Could not read the request body: {}", body_error(&e))))?;
        if single.as_ref().map_or(0, |b| b.len()) + joined.len() + chunk.len() > limit {
            return Err(ApiError::too_large(format!("Request body exceeds the limit of {limit} bytes")));
        }
        if single.is_none() && joined.is_empty() {
            single = Some(chunk);
            continue;
        }
        if let Some(first) = single.take() {
            joined.extend_from_slice(&first);
        }
        joined.extend_from_slice(&chunk);
    }
    Ok(single.unwrap_or_else(|| joined.freeze()))
}
