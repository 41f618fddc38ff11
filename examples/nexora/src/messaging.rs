//! Guild, DM and dispute messages: send, edit, delete, history and typing. Every write is
//! saved first and published second, on the conversation's channel.

use serde::Serialize;
use serde_json::json;

use crate::access;
use crate::channels::AppChannel;
use crate::db::{self, messages::MessageRow, users::User};
use crate::error::{AppError, AppResult};
use crate::events;
use crate::notify::{self, NotificationType, Outbound};
use crate::server::AppState;

/// Longest message accepted, in characters (herald caps event data at 10 KiB by default).
pub const MAX_MESSAGE_CHARS: usize = 2000;
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 100;

/// A conversation as addressed by the API: `/api/guilds/{id}`, `/api/dms/{other user}`,
/// `/api/disputes/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Guild(i64),
    Dm { with: i64 },
    Dispute(i64),
}

/// A conversation the current user may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Conversation {
    /// `guild`, `dm` or `dispute`, as stored in `messages.conversation_kind`.
    pub kind: &'static str,
    /// Guild id, direct conversation id or dispute id.
    pub id: i64,
    #[serde(skip)]
    pub channel: AppChannel,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub id: i64,
    pub conversation: Conversation,
    pub channel: String,
    pub sender: SenderView,
    pub content: String,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SenderView {
    pub id: i64,
    pub name: String,
}

impl MessageView {
    fn new(row: MessageRow, conversation: Conversation) -> MessageView {
        MessageView {
            id: row.id,
            conversation,
            channel: conversation.channel.name(),
            sender: SenderView { id: row.sender_id, name: row.sender_name },
            content: row.content,
            created_at: row.created_at,
            edited_at: row.edited_at,
            deleted: row.deleted_at.is_some(),
        }
    }
}

/// Resolves a target for `user`: 404 when it does not exist, 403 when the user may not use it.
pub async fn open(state: &AppState, user: &User, target: Target) -> AppResult<Conversation> {
    let conversation = match target {
        Target::Guild(id) => {
            db::guilds::get(&state.db.pool, id).await?.ok_or_else(|| AppError::NotFound(format!("no guild {id}")))?;
            Conversation { kind: "guild", id, channel: AppChannel::Guild(id) }
        }
        Target::Dispute(id) => {
            db::conversations::dispute(&state.db.pool, id).await?.ok_or_else(|| AppError::NotFound(format!("no dispute {id}")))?;
            Conversation { kind: "dispute", id, channel: AppChannel::Dispute(id) }
        }
        Target::Dm { with } => {
            if with == user.id {
                return Err(AppError::BadRequest("a direct conversation needs another user".into()));
            }
            db::users::get(&state.db.pool, with).await?.ok_or_else(|| AppError::NotFound(format!("no user {with}")))?;
            let dm = db::conversations::dm_between(&state.db, user.id, with, db::now_ms()).await?;
            Conversation { kind: "dm", id: dm.id, channel: AppChannel::Dm { low: dm.user_a, high: dm.user_b } }
        }
    };
    ensure_member(state, user, &conversation).await?;
    Ok(conversation)
}

async fn ensure_member(state: &AppState, user: &User, conversation: &Conversation) -> AppResult<()> {
    if access::may_join(&state.db, user.id, &conversation.channel).await? {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("{} is not a member of this {}", user.name, conversation.kind)))
    }
}

/// The conversation a stored message belongs to.
async fn of_message(state: &AppState, row: &MessageRow) -> AppResult<Conversation> {
    let id = row.conversation_id;
    Ok(match row.conversation_kind.as_str() {
        "guild" => Conversation { kind: "guild", id, channel: AppChannel::Guild(id) },
        "dispute" => Conversation { kind: "dispute", id, channel: AppChannel::Dispute(id) },
        "dm" => {
            let dm = db::conversations::dm_by_id(&state.db.pool, id).await?.ok_or_else(|| AppError::Internal(format!("message {} has no conversation", row.id)))?;
            Conversation { kind: "dm", id, channel: AppChannel::Dm { low: dm.user_a, high: dm.user_b } }
        }
        other => return Err(AppError::Internal(format!("unknown conversation kind '{other}'"))),
    })
}

fn checked_content(content: &str) -> AppResult<&str> {
    let content = content.trim();
    if content.is_empty() {
        return Err(AppError::BadRequest("content must not be empty".into()));
    }
    if content.chars().count() > MAX_MESSAGE_CHARS {
        return Err(AppError::BadRequest(format!("content is longer than {MAX_MESSAGE_CHARS} characters")));
    }
    Ok(content)
}

/// Saves, publishes `message:new`, and for DMs notifies the recipient. Returns the message
/// and whether herald accepted the event.
pub async fn send(state: &AppState, user: &User, conversation: Conversation, content: &str, except: Option<&str>) -> AppResult<(MessageView, bool)> {
    let content = checked_content(content)?;
    let row = db::messages::insert(&state.db, conversation.kind, conversation.id, user.id, content, db::now_ms()).await?;
    let view = MessageView::new(row, conversation);
    let delivered = state.realtime.publish(&view.channel, events::MESSAGE_NEW, &view, except).await;
    if let AppChannel::Dm { low, high } = conversation.channel {
        let recipient = if user.id == low { high } else { low };
        let preview: String = content.chars().take(80).collect();
        let data = json!({ "sender_id": user.id, "sender_name": user.name, "preview": preview, "message_id": view.id });
        if let Err(e) = notify::send(state, Outbound { user_id: recipient, kind: NotificationType::MessageReceived, data }).await {
            tracing::error!(error = %e, "storing the message_received notification failed; the message itself is saved");
        }
    }
    Ok((view, delivered))
}

/// Loads a message the user sent and may still see.
async fn own_message(state: &AppState, user: &User, message_id: i64) -> AppResult<(MessageRow, Conversation)> {
    let row = db::messages::get(&state.db.pool, message_id).await?.ok_or_else(|| AppError::NotFound(format!("no message {message_id}")))?;
    let conversation = of_message(state, &row).await?;
    ensure_member(state, user, &conversation).await?;
    if row.sender_id != user.id {
        return Err(AppError::Forbidden("only the sender can change a message".into()));
    }
    if row.deleted_at.is_some() {
        return Err(AppError::NotFound(format!("message {message_id} was deleted")));
    }
    Ok((row, conversation))
}

pub async fn edit(state: &AppState, user: &User, message_id: i64, content: &str, except: Option<&str>) -> AppResult<(MessageView, bool)> {
    let content = checked_content(content)?;
    let (_, conversation) = own_message(state, user, message_id).await?;
    let row = db::messages::edit(&state.db, message_id, content, db::now_ms()).await?.ok_or_else(|| AppError::NotFound(format!("no message {message_id}")))?;
    let view = MessageView::new(row, conversation);
    let delivered = state.realtime.publish(&view.channel, events::MESSAGE_EDIT, &view, except).await;
    Ok((view, delivered))
}

pub async fn delete(state: &AppState, user: &User, message_id: i64, except: Option<&str>) -> AppResult<(MessageView, bool)> {
    let (_, conversation) = own_message(state, user, message_id).await?;
    let row = db::messages::delete(&state.db, message_id, db::now_ms()).await?.ok_or_else(|| AppError::NotFound(format!("no message {message_id}")))?;
    let view = MessageView::new(row, conversation);
    let delivered = state.realtime.publish(&view.channel, events::MESSAGE_DELETE, &view, except).await;
    Ok((view, delivered))
}

#[derive(Debug, Serialize)]
pub struct HistoryPage {
    pub conversation: Conversation,
    pub channel: String,
    pub messages: Vec<MessageView>,
    /// Pass as `before` to get the previous page; `None` at the start of the conversation.
    pub next_before: Option<i64>,
}

pub async fn history(state: &AppState, conversation: Conversation, before: Option<i64>, after: Option<i64>, limit: Option<i64>) -> AppResult<HistoryPage> {
    let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let rows = db::messages::page(&state.db.pool, conversation.kind, conversation.id, before, after, limit).await?;
    let full = rows.len() as i64 == limit;
    let next_before = if after.is_none() && full { rows.first().map(|r| r.id) } else { None };
    Ok(HistoryPage {
        conversation,
        channel: conversation.channel.name(),
        messages: rows.into_iter().map(|r| MessageView::new(r, conversation)).collect(),
        next_before,
    })
}

/// Server-side typing indicator, for clients that cannot send client events.
pub async fn typing(state: &AppState, user: &User, conversation: Conversation, typing: bool, except: Option<&str>) -> bool {
    let event = if typing { events::TYPING_START } else { events::TYPING_STOP };
    let payload = json!({ "user_id": user.id.to_string(), "name": user.name, "conversation": conversation });
    state.realtime.publish(&conversation.channel.name(), event, &payload, except).await
}
