//! Trust decay: every week, users inactive for more than 30 days whose trust score is above
//! 500 lose min(days inactive − 30, 50) points, never going below 500. Each affected user
//! gets a `user:trust-changed` event and a `trust_score_changed` notification.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::cache::keys;
use crate::db::{self, DAY_MS};
use crate::notify::{self, NotificationType, Outbound};
use crate::realtime::Outgoing;
use crate::server::AppState;
use crate::{channels, events};

pub const INACTIVITY_DAYS: i64 = 30;
pub const FLOOR: i64 = 500;
pub const MAX_LOSS: i64 = 50;

/// The new score of a user with `score` who has been inactive `days_inactive` whole days,
/// or `None` when decay does not apply.
pub fn decayed_score(score: i64, days_inactive: i64) -> Option<i64> {
    if days_inactive <= INACTIVITY_DAYS || score <= FLOOR {
        return None;
    }
    let loss = (days_inactive - INACTIVITY_DAYS).min(MAX_LOSS);
    Some((score - loss).max(FLOOR))
}

pub async fn run(state: &AppState, at: DateTime<Utc>) -> sqlx::Result<Value> {
    let now = at.timestamp_millis();
    let candidates = db::users::inactive_since(&state.db.pool, now - INACTIVITY_DAYS * DAY_MS, FLOOR).await?;
    let mut changes = Vec::new();
    let mut tx = state.db.begin().await?;
    for user in candidates {
        let days = (now - user.last_active) / DAY_MS;
        if let Some(new) = decayed_score(user.trust_score, days) {
            db::users::change_trust(&mut tx, user.id, user.trust_score, new, "inactivity", now).await?;
            changes.push(json!({ "user_id": user.id, "name": user.name, "old_score": user.trust_score, "new_score": new, "days_inactive": days }));
        }
    }
    tx.commit().await?;

    let mut trust_events = Vec::with_capacity(changes.len());
    let mut notifications = Vec::with_capacity(changes.len());
    for change in &changes {
        let user_id = change["user_id"].as_i64().unwrap_or_default();
        let payload = json!({ "user_id": user_id, "old_score": change["old_score"], "new_score": change["new_score"], "reason": "inactivity" });
        trust_events.push(Outgoing::new(channels::user(user_id), events::USER_TRUST_CHANGED, &payload));
        notifications.push(Outbound { user_id, kind: NotificationType::TrustScoreChanged, data: payload });
        state.cache.delete(&keys::user_profile(user_id)).await;
    }
    if !changes.is_empty() {
        state.cache.delete(&keys::leaderboard("trust")).await;
    }
    state.realtime.publish_many(trust_events).await;
    notify::send_many(state, notifications).await?;
    Ok(json!({ "users_decayed": changes.len(), "changes": changes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_decay_within_thirty_days_or_at_the_floor() {
        assert_eq!(decayed_score(700, 0), None);
        assert_eq!(decayed_score(700, 30), None);
        assert_eq!(decayed_score(500, 90), None);
        assert_eq!(decayed_score(420, 90), None, "scores already under the floor are left alone");
    }

    #[test]
    fn loses_days_past_thirty_capped_at_fifty() {
        assert_eq!(decayed_score(700, 31), Some(699));
        assert_eq!(decayed_score(700, 45), Some(685));
        assert_eq!(decayed_score(700, 80), Some(650));
        assert_eq!(decayed_score(700, 81), Some(650), "capped at 50 points");
        assert_eq!(decayed_score(700, 365), Some(650));
    }

    #[test]
    fn never_below_the_floor() {
        assert_eq!(decayed_score(510, 80), Some(500));
        assert_eq!(decayed_score(501, 31), Some(500));
        assert_eq!(decayed_score(501, 200), Some(500));
    }
}
