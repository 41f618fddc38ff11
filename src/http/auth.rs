//! Authentication of HTTP API requests: find the app, read the body within limits, verify
//! the signature. Handlers receive an [`Authenticated`] request or never run.

use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::ApiError;
use crate::hub::AppHub;
use crate::protocol::api_signature::{self, SignedRequest};
use crate::state::State;

pub struct Authenticated {
    pub app: Arc<AppHub>,
    pub params: BTreeMap<String, String>,
    pub body: web::Bytes,
}

/// Reads the body (413 past `limit`), finds the app by id (404), verifies the signature (401).
pub async fn authenticate(
    state: &State,
    req: &HttpRequest,
    app_id: Option<&str>,
    payload: web::Payload,
) -> Result<Authenticated, ApiError> {
    let body = read_body(payload, state.config.max_request_bytes).await?;
    let params = api_signature::parse_query(req.query_string());
    let app = match app_id {
        Some(id) => state.app_by_id(id).ok_or_else(|| ApiError::not_found(format!("Unknown app id '{id}'")))?,
        // The Python library's terminate path has no app id: the key identifies the app.
        None => {
            let key = params.get("auth_key").ok_or_else(|| ApiError::unauthorized("Missing required query parameter 'auth_key'"))?;
            state.app_by_key(key).ok_or_else(|| ApiError::unauthorized("Unknown auth_key"))?
        }
    };
    let signed = SignedRequest { method: req.method().as_str(), path: req.uri().path(), params: &params, body: &body };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    api_signature::verify(&signed, &app.config.key, &app.config.secret, now).map_err(|e| {
        tracing::debug!(app = %app.config.id, path = req.uri().path(), reason = %e, "API signature check failed");
        ApiError::unauthorized(e.to_string())
    })?;
    if !app.config.enabled {
        return Err(ApiError::forbidden("Application disabled"));
    }
    Ok(Authenticated { app: app.clone(), params, body })
}

async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::too_large(format!("Request body exceeds the limit of {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
