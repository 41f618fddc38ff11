//! `POST /apps/{id}/events` and `POST /apps/{id}/batch_events`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::auth::{authenticate, Authenticated};
use super::error::ApiError;
use crate::config::AppConfig;
use crate::hub::AppHub;
use crate::protocol::channel::{ChannelKind, ChannelType};
use crate::protocol::socket_id::SocketId;
use crate::protocol::{names, outbound};
use crate::state::State;
use crate::tap::TapEvent;

/// One event as the libraries send it. `channel` (PHP, batch) or `channels` (the others).
#[derive(Deserialize)]
struct EventBody {
    name: Option<String>,
    data: Option<Value>,
    channel: Option<String>,
    channels: Option<Vec<String>>,
    socket_id: Option<String>,
    info: Option<String>,
}

#[derive(Deserialize)]
struct BatchBody {
    batch: Option<Vec<EventBody>>,
}

/// A validated event, ready to publish.
struct Event {
    name: String,
    data: String,
    channels: Vec<String>,
    except: Option<SocketId>,
    info: Info,
}

#[derive(Default, Clone, Copy)]
struct Info {
    user_count: bool,
    subscription_count: bool,
}

pub async fn trigger(
    state: web::Data<State>,
    req: HttpRequest,
    app_id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Authenticated { app, params, body } = authenticate(&state, &req, Some(&app_id), payload).await?;
    let mut parsed: EventBody = parse_json(&body)?;
    // Parameters may also come in the query string (legacy form).
    if parsed.socket_id.is_none() {
        parsed.socket_id = params.get("socket_id").cloned();
    }
    if parsed.info.is_none() {
        parsed.info = params.get("info").cloned();
    }
    let event = validate(&app.config, parsed, false)?;
    publish(&state, &app, &event).await;
    let info = channel_info(&state, &app, &event).await;
    Ok(HttpResponse::Ok().json(match info {
        Some(channels) => serde_json::json!({ "channels": channels }),
        None => serde_json::json!({}),
    }))
}

pub async fn batch(
    state: web::Data<State>,
    req: HttpRequest,
    app_id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Authenticated { app, body, .. } = authenticate(&state, &req, Some(&app_id), payload).await?;
    let parsed: BatchBody = parse_json(&body)?;
    let batch = parsed.batch.ok_or_else(|| ApiError::bad_request("Missing 'batch': expected {\"batch\": [events]}"))?;
    let max = app.config.max_batch_size;
    if batch.len() > max {
        return Err(ApiError::bad_request(format!("Batch has {} events; the limit is {max}", batch.len())));
    }
    let mut events = Vec::with_capacity(batch.len());
    for (i, item) in batch.into_iter().enumerate() {
        if item.channels.is_some() {
            return Err(ApiError::bad_request(format!("batch[{i}]: batch events take a single 'channel', not 'channels'")));
        }
        let event = validate(&app.config, item, true).map_err(|e| ApiError { message: format!("batch[{i}]: {}", e.message), ..e })?;
        events.push(event);
    }
    for event in &events {
        publish(&state, &app, event).await;
    }
    let mut any_info = false;
    let mut results = Vec::with_capacity(events.len());
    for event in &events {
        let info = channel_info(&state, &app, event).await;
        any_info |= info.is_some();
        let entry = info.and_then(|mut m| m.remove(&event.channels[0])).unwrap_or_else(|| Value::Object(Map::new()));
        results.push(entry);
    }
    Ok(HttpResponse::Ok().json(if any_info { serde_json::json!({ "batch": results }) } else { serde_json::json!({}) }))
}

fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON of the expected shape: {e}")))
}

fn validate(config: &AppConfig, body: EventBody, single_channel: bool) -> Result<Event, ApiError> {
    let name = body.name.ok_or_else(|| ApiError::bad_request("Missing required field 'name'"))?;
    names::validate_event_name(&name, config.max_event_name_length).map_err(ApiError::bad_request)?;
    if name.starts_with("pusher:") || name.starts_with("pusher_internal:") {
        return Err(ApiError::bad_request("Event names starting with 'pusher:' or 'pusher_internal:' are reserved"));
    }
    let data = match body.data {
        Some(Value::String(s)) => s,
        // Lenient: a JSON value is published as its compact serialization.
        Some(other @ (Value::Object(_) | Value::Array(_) | Value::Number(_) | Value::Bool(_))) => other.to_string(),
        Some(Value::Null) | None => return Err(ApiError::bad_request("Missing required field 'data' (a string)")),
    };
    if data.len() > config.max_event_data_bytes {
        return Err(ApiError::too_large(format!(
            "The data content of this event exceeds the allowed maximum ({} bytes); it is {} bytes",
            config.max_event_data_bytes,
            data.len()
        )));
    }
    let channels = match (body.channel, body.channels) {
        (Some(c), None) => vec![c],
        (None, Some(cs)) if !single_channel => cs,
        (Some(_), Some(_)) => return Err(ApiError::bad_request("Give either 'channel' or 'channels', not both")),
        _ => return Err(ApiError::bad_request(if single_channel { "Missing required field 'channel'" } else { "Missing required field 'channels' (or 'channel')" })),
    };
    if channels.is_empty() {
        return Err(ApiError::bad_request("'channels' must name at least one channel"));
    }
    if channels.len() > config.max_channels_per_trigger {
        return Err(ApiError::bad_request(format!(
            "Too many channels: {} given, the limit is {}",
            channels.len(),
            config.max_channels_per_trigger
        )));
    }
    for channel in &channels {
        names::validate_channel_name(channel, config.max_channel_name_length).map_err(ApiError::bad_request)?;
    }
    if channels.len() > 1 && channels.iter().any(|c| ChannelType::of(c).kind == ChannelKind::PrivateEncrypted) {
        return Err(ApiError::bad_request("An event for an encrypted channel must be triggered on that channel alone"));
    }
    let except = match body.socket_id {
        None => None,
        Some(s) if SocketId::is_well_formed(&s) => SocketId::parse(&s),
        Some(s) => return Err(ApiError::bad_request(format!("Invalid socket_id '{s}': expected the form 1234.5678"))),
    };
    let mut info = Info::default();
    for attr in body.info.as_deref().unwrap_or("").split(',').map(str::trim).filter(|a| !a.is_empty()) {
        match attr {
            "user_count" => info.user_count = true,
            "subscription_count" => info.subscription_count = true,
            other => return Err(ApiError::bad_request(format!("Unknown info attribute '{other}': use user_count or subscription_count"))),
        }
    }
    let channels = if channels.len() == 1 {
        channels
    } else {
        let mut seen = std::collections::HashSet::new();
        channels.into_iter().filter(|c| seen.insert(c.clone())).collect()
    };
    Ok(Event { name, data, channels, except, info })
}

async fn publish(state: &State, app: &AppHub, event: &Event) {
    for channel in &event.channels {
        state.tap.emit(|| {
            TapEvent::new(&app.config.id, "api_event").channel(channel).event(&event.name).detail(format!("{} bytes", event.data.len()))
        });
        let frame = outbound::event(&event.name, Some(channel), &event.data, None);
        if ChannelType::of(channel).cache {
            state.adapter.store_cache(app, channel, &event.data, frame.clone()).await;
        }
        state.adapter.publish(app, channel, frame, event.except).await;
    }
}

/// The per-channel `info` answer, or `None` when no attribute was asked for.
async fn channel_info(state: &State, app: &AppHub, event: &Event) -> Option<Map<String, Value>> {
    if !event.info.user_count && !event.info.subscription_count {
        return None;
    }
    let mut out = Map::new();
    for channel in &event.channels {
        let stats = state.adapter.channel_stats(app, channel).await.unwrap_or_default();
        let presence = ChannelType::of(channel).is_presence();
        let mut entry = Map::new();
        if event.info.user_count && presence {
            entry.insert("user_count".into(), stats.user_count.unwrap_or(0).into());
        }
        if event.info.subscription_count {
            entry.insert("subscription_count".into(), stats.subscription_count.into());
        }
        out.insert(channel.clone(), Value::Object(entry));
    }
    Some(out)
}
