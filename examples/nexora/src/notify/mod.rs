//! Notifications: fill the template, store, then publish `notification:new` on the user's
//! `private-user-{id}` channel. Many at once go out as batch triggers.

pub mod templates;

use serde_json::{json, Value};

use crate::db::notifications::{self, NewNotification, Notification};
use crate::db::{self};
use crate::realtime::Outgoing;
use crate::server::AppState;
use crate::{channels, events};
pub use templates::NotificationType;

/// A notification to send: who, which type, and the data its template is filled from.
pub struct Outbound {
    pub user_id: i64,
    pub kind: NotificationType,
    pub data: Value,
}

pub async fn send(state: &AppState, item: Outbound) -> sqlx::Result<Notification> {
    let mut stored = send_many(state, vec![item]).await?;
    Ok(stored.remove(0))
}

/// Stores every notification in one transaction, then publishes them (batched when more
/// than one). Publishing failures are logged by [`crate::realtime`]; the rows stay.
pub async fn send_many(state: &AppState, items: Vec<Outbound>) -> sqlx::Result<Vec<Notification>> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let now = db::now_ms();
    let mut tx = state.db.begin().await?;
    let mut stored = Vec::with_capacity(items.len());
    for item in &items {
        let rendered = item.kind.render(&item.data);
        let new = NewNotification {
            user_id: item.user_id,
            kind: item.kind.as_str(),
            title: &rendered.title,
            message: &rendered.message,
            icon: &rendered.icon,
            data: &item.data,
        };
        stored.push(notifications::insert(&mut tx, &new, now).await?);
    }
    tx.commit().await?;

    let mut outgoing = Vec::with_capacity(stored.len());
    for n in &stored {
        let unread = notifications::unread_count(&state.db.pool, n.user_id).await?;
        outgoing.push(Outgoing::new(channels::user(n.user_id), events::NOTIFICATION_NEW, &json!({ "notification": n, "unread_count": unread })));
    }
    if let [single] = outgoing.as_slice() {
        state.realtime.publish_prepared(single, None).await;
    } else {
        state.realtime.publish_many(outgoing).await;
    }
    Ok(stored)
}

/// Marks one notification read and tells the user's other tabs. Returns the unread count,
/// or `None` when the notification is not the user's.
pub async fn mark_read(state: &AppState, user_id: i64, id: i64, except: Option<&str>) -> sqlx::Result<Option<i64>> {
    if !notifications::exists(&state.db.pool, user_id, id).await? {
        return Ok(None);
    }
    notifications::mark_read(&state.db.pool, user_id, id, db::now_ms()).await?;
    let unread = notifications::unread_count(&state.db.pool, user_id).await?;
    let payload = json!({ "ids": [id], "all": false, "unread_count": unread });
    state.realtime.publish(&channels::user(user_id), events::NOTIFICATION_READ, &payload, except).await;
    Ok(Some(unread))
}

pub async fn mark_all_read(state: &AppState, user_id: i64, except: Option<&str>) -> sqlx::Result<u64> {
    let changed = notifications::mark_all_read(&state.db.pool, user_id, db::now_ms()).await?;
    let payload = json!({ "ids": [], "all": true, "unread_count": 0 });
    state.realtime.publish(&channels::user(user_id), events::NOTIFICATION_READ, &payload, except).await;
    Ok(changed)
}
