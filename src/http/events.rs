//! `POST /apps/{id}/events` and `POST /apps/{id}/batch_events`.

use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;

use super::auth::{authenticate, ApiRequest, Authenticated, BodyStream};
use super::error::ApiError;
use super::limits::spend;
use crate::hub::budget::BudgetKind;
use crate::config::AppConfig;
use crate::hub::AppHub;
use crate::protocol::channel::{ChannelKind, ChannelType};
use crate::protocol::socket_id::SocketId;
use crate::protocol::json_string::{JsonString, Text};
use crate::protocol::{names, outbound};
use crate::state::State;
use crate::tap::TapEvent;

/// One event as the libraries send it. `channel` (PHP, batch) or `channels` (the others).
/// Fields borrow from the body; `data` stays the JSON literal the library sent.
#[derive(Deserialize)]
struct EventBody<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    channel: Option<Text<'a>>,
    #[serde(borrow)]
    channels: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    socket_id: Option<Text<'a>>,
    #[serde(borrow)]
    info: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow)]
    batch: Option<Vec<EventBody<'a>>>,
}

/// A validated event, ready to publish.
struct Event<'a> {
    name: Cow<'a, str>,
    data: JsonString<'a>,
    channels: Vec<Cow<'a, str>>,
    except: Option<SocketId>,
    info: Info,
}

#[derive(Default, Clone, Copy)]
struct Info {
    user_count: bool,
    subscription_count: bool,
}

impl Info {
    fn any(self) -> bool {
        self.user_count || self.subscription_count
    }
}

/// `POST /apps/{app_id}/events`.
pub async fn trigger(state: &State, req: ApiRequest<'_>, app_id: &str, payload: impl BodyStream) -> Result<HttpResponse, ApiError> {
    let Authenticated { app, params, body } = authenticate(state, req, Some(app_id), payload).await?;
    let mut parsed: EventBody = parse_json(&body)?;
    // Parameters may also come in the query string (legacy form).
    if parsed.socket_id.is_none() {
        parsed.socket_id = params.get("socket_id").map(|s| Text(Cow::Borrowed(s.as_ref())));
    }
    if parsed.info.is_none() {
        parsed.info = params.get("info").map(|s| Text(Cow::Borrowed(s.as_ref())));
    }
    let event = validate(&app.config(), parsed, false)?;
    spend(state, &app, BudgetKind::BackendEvents, event.channels.len()).await?;
    publish(state, &app, &event).await;
    let info = channel_info(state, &app, &event).await;
    Ok(match info {
        Some(channels) => HttpResponse::Ok().json(serde_json::json!({ "channels": channels })),
        None => empty_object(),
    })
}

/// `POST /apps/{app_id}/batch_events`.
pub async fn batch(state: &State, req: ApiRequest<'_>, app_id: &str, payload: impl BodyStream) -> Result<HttpResponse, ApiError> {
    let Authenticated { app, body, .. } = authenticate(state, req, Some(app_id), payload).await?;
    let parsed: BatchBody = parse_json(&body)?;
    let batch = parsed.batch.ok_or_else(|| ApiError::bad_request("Missing 'batch': expected {\"batch\": [events]}"))?;
    let max = app.config().max_batch_size;
    if batch.len() > max {
        return Err(ApiError::bad_request(format!("Batch has {} events; the limit is {max}", batch.len())));
    }
    let mut events = Vec::with_capacity(batch.len());
    for (i, item) in batch.into_iter().enumerate() {
        if item.channels.is_some() {
            return Err(ApiError::bad_request(format!("batch[{i}]: batch events take a single 'channel', not 'channels'")));
        }
        let event = validate(&app.config(), item, true).map_err(|e| ApiError { message: format!("batch[{i}]: {}", e.message), ..e })?;
        events.push(event);
    }
    // Every batch event has one channel.
    spend(state, &app, BudgetKind::BackendEvents, events.len()).await?;
    for event in &events {
        publish(state, &app, event).await;
    }
    if events.iter().all(|e| !e.info.any()) {
        return Ok(empty_object());
    }
    let mut any_info = false;
    let mut results = Vec::with_capacity(events.len());
    for event in &events {
        let info = channel_info(state, &app, event).await;
        any_info |= info.is_some();
        let entry = info.and_then(|mut m| m.remove(event.channels[0].as_ref())).unwrap_or_else(|| Value::Object(Map::new()));
        results.push(entry);
    }
    Ok(if any_info { HttpResponse::Ok().json(serde_json::json!({ "batch": results })) } else { empty_object() })
}

/// `{}`, what a trigger without `info` answers.
fn empty_object() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body("{}")
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    // One UTF-8 check for the whole body; the parser then skips it for every string.
    let text = std::str::from_utf8(body).map_err(|e| ApiError::bad_request(format!("Request body is not UTF-8: {e}")))?;
    serde_json::from_str(text).map_err(|e| {
        // serde would describe a top-level array by herald's struct ("expected struct
        // EventBody with 6 elements"): what the client must change is the outer shape.
        let not_an_object = e.classify() == serde_json::error::Category::Data && !text.trim_start().starts_with('{');
        ApiError::bad_request(if not_an_object {
            "Request body must be a JSON object".to_string()
        } else {
            format!("Request body is not valid JSON of the expected shape: {e}")
        })
    })
}

fn validate<'a>(config: &AppConfig, body: EventBody<'a>, single_channel: bool) -> Result<Event<'a>, ApiError> {
    let name = body.name.ok_or_else(|| ApiError::bad_request("Missing required field 'name'"))?.into_cow();
    names::validate_event_name(&name, config.max_event_name_length).map_err(ApiError::bad_request)?;
    if name.starts_with("pusher:") || name.starts_with("pusher_internal:") {
        return Err(ApiError::bad_request("Event names starting with 'pusher:' or 'pusher_internal:' are reserved"));
    }
    let data = match body.data {
        None => return Err(ApiError::bad_request("Missing required field 'data' (a string)")),
        Some(raw) => match JsonString::from_raw(raw) {
            Some(literal) => literal,
            None if raw.get() == "null" => return Err(ApiError::bad_request("Missing required field 'data' (a string)")),
            // Lenient: any other JSON value is published as its compact serialization.
            None => {
                let value: Value = serde_json::from_str(raw.get()).map_err(|e| ApiError::bad_request(format!("Invalid 'data': {e}")))?;
                JsonString::encode(&value.to_string())
            }
        },
    };
    if let Err(len) = data.decoded_len_within(config.max_event_data_bytes) {
        return Err(ApiError::too_large(format!(
            "The data content of this event exceeds the allowed maximum ({} bytes); it is {len} bytes",
            config.max_event_data_bytes
        )));
    }
    let channels: Vec<Cow<'a, str>> = match (body.channel, body.channels) {
        (Some(c), None) => vec![c.into_cow()],
        (None, Some(cs)) if !single_channel => cs.into_iter().map(Text::into_cow).collect(),
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
    let except = match body.socket_id.as_ref().map(Text::as_str) {
        None => None,
        Some(s) if SocketId::is_well_formed(s) => SocketId::parse(s),
        Some(s) => return Err(ApiError::bad_request(format!("Invalid socket_id '{s}': expected the form 1234.5678"))),
    };
    let mut info = Info::default();
    for attr in body.info.as_ref().map_or("", Text::as_str).split(',').map(str::trim).filter(|a| !a.is_empty()) {
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

async fn publish(state: &State, app: &AppHub, event: &Event<'_>) {
    for channel in &event.channels {
        state.tap.emit(|| {
            TapEvent::new(app.id(), "api_event")
                .channel(channel.as_ref())
                .event(event.name.as_ref())
                .detail(format!("{} bytes", event.data.decoded_len()))
        });
        let frame = outbound::channel_event(&event.name, channel, &event.data);
        if ChannelType::of(channel).cache {
            state.adapter.store_cache(app, channel, &event.data.decode(), frame.clone()).await;
        }
        state.adapter.publish(app, channel, frame, event.except).await;
    }
}

/// The per-channel `info` answer, or `None` when no attribute was asked for.
async fn channel_info(state: &State, app: &AppHub, event: &Event<'_>) -> Option<Map<String, Value>> {
    if !event.info.any() {
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
        out.insert(channel.to_string(), Value::Object(entry));
    }
    Some(out)
}
