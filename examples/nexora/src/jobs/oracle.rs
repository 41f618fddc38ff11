//! The oracle monitor: daily anomaly detection over the last 7 days. The rules are simple
//! and public on purpose, so a flagged user can be told exactly why:
//!
//! | rule                 | fires when                                                     | risk (0–100)          |
//! |----------------------|----------------------------------------------------------------|-----------------------|
//! | `message_burst`      | ≥ 20 messages in the last 24 h and ≥ 3× the user's daily mean over the 6 days before (a mean under 5 counts as 5) | 10 × ratio |
//! | `dispute_rate`       | party (not arbiter) to ≥ 2 disputes opened in the window        | 30 × disputes         |
//! | `sharp_trust_change` | net trust change of ≥ 100 points either way in the window      | \|change\| ÷ 2        |
//!
//! Risk is capped at 100. Level: under 25 Low, under 50 Medium, under 75 High, else Critical.
//! When any anomaly is Critical, every admin (trust score above 800) gets a
//! `platform_announcement` notification with the count.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

use crate::db::{self, DAY_MS};
use crate::notify::{self, NotificationType, Outbound};
use crate::server::AppState;

pub const WINDOW_DAYS: i64 = 7;
pub const BURST_MIN_MESSAGES: i64 = 20;
pub const BURST_MIN_RATIO: f64 = 3.0;
pub const BURST_MIN_BASELINE: f64 = 5.0;
pub const DISPUTE_MIN_COUNT: i64 = 2;
pub const TRUST_MIN_CHANGE: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Level {
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn of(risk: u8) -> Level {
        match risk {
            0..=24 => Level::Low,
            25..=49 => Level::Medium,
            50..=74 => Level::High,
            _ => Level::Critical,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    MessageBurst,
    DisputeRate,
    SharpTrustChange,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    pub user_id: i64,
    pub rule: Rule,
    pub risk: u8,
    pub level: Level,
    pub detail: String,
}

/// One user's activity in the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    pub user_id: i64,
    /// Messages per day, oldest first; index 6 is the last 24 hours.
    pub daily_messages: [i64; WINDOW_DAYS as usize],
    pub disputes: i64,
    pub trust_change: i64,
}

fn anomaly(user_id: i64, rule: Rule, risk: f64, detail: String) -> Anomaly {
    let risk = risk.round().clamp(0.0, 100.0) as u8;
    Anomaly { user_id, rule, risk, level: Level::of(risk), detail }
}

pub fn message_burst(a: &Activity) -> Option<Anomaly> {
    let (earlier, last) = a.daily_messages.split_at(WINDOW_DAYS as usize - 1);
    let recent = last[0];
    let mean = earlier.iter().sum::<i64>() as f64 / earlier.len() as f64;
    let ratio = recent as f64 / mean.max(BURST_MIN_BASELINE);
    (recent >= BURST_MIN_MESSAGES && ratio >= BURST_MIN_RATIO).then(|| {
        anomaly(a.user_id, Rule::MessageBurst, 10.0 * ratio, format!("{recent} messages in 24 h against a daily mean of {mean:.1} ({ratio:.1}x)"))
    })
}

pub fn dispute_rate(a: &Activity) -> Option<Anomaly> {
    (a.disputes >= DISPUTE_MIN_COUNT)
        .then(|| anomaly(a.user_id, Rule::DisputeRate, 30.0 * a.disputes as f64, format!("party to {} disputes in {WINDOW_DAYS} days", a.disputes)))
}

pub fn sharp_trust_change(a: &Activity) -> Option<Anomaly> {
    (a.trust_change.abs() >= TRUST_MIN_CHANGE).then(|| {
        anomaly(a.user_id, Rule::SharpTrustChange, a.trust_change.abs() as f64 / 2.0, format!("trust changed by {:+} in {WINDOW_DAYS} days", a.trust_change))
    })
}

pub fn detect(a: &Activity) -> Vec<Anomaly> {
    [message_burst(a), dispute_rate(a), sharp_trust_change(a)].into_iter().flatten().collect()
}

/// Gathers each active user's window from the database.
async fn activities(state: &AppState, now: i64) -> sqlx::Result<Vec<Activity>> {
    let since = now - WINDOW_DAYS * DAY_MS;
    let mut by_user: BTreeMap<i64, Activity> = BTreeMap::new();
    for (sender, created) in db::messages::senders_between(&state.db.pool, since, now).await? {
        let days_ago = ((now - created) / DAY_MS).clamp(0, WINDOW_DAYS - 1);
        slot(&mut by_user, sender).daily_messages[(WINDOW_DAYS - 1 - days_ago) as usize] += 1;
    }
    for (user, count) in db::conversations::dispute_counts_since(&state.db.pool, since).await? {
        slot(&mut by_user, user).disputes = count;
    }
    for (user, delta) in db::users::trust_deltas_since(&state.db.pool, since).await? {
        slot(&mut by_user, user).trust_change = delta;
    }
    Ok(by_user.into_values().collect())
}

fn slot(by_user: &mut BTreeMap<i64, Activity>, user_id: i64) -> &mut Activity {
    by_user.entry(user_id).or_insert_with(|| Activity { user_id, ..Activity::default() })
}

pub async fn run(state: &AppState, at: DateTime<Utc>) -> sqlx::Result<Value> {
    let activity = activities(state, at.timestamp_millis()).await?;
    let anomalies: Vec<Anomaly> = activity.iter().flat_map(detect).collect();
    let critical = anomalies.iter().filter(|a| a.level == Level::Critical).count();
    let mut admins_notified = 0;
    if critical > 0 {
        let data = json!({
            "title": format!("Oracle: {critical} critical anomal{}", if critical == 1 { "y" } else { "ies" }),
            "message": format!("The oracle monitor found {critical} critical anomalies in the last {WINDOW_DAYS} days ({} in total). See the oracle job run for details.", anomalies.len()),
            "critical_count": critical,
        });
        let admins = db::users::admins(&state.db.pool).await?;
        admins_notified = admins.len();
        let items = admins.into_iter().map(|admin| Outbound { user_id: admin.id, kind: NotificationType::PlatformAnnouncement, data: data.clone() }).collect();
        notify::send_many(state, items).await?;
    }
    Ok(json!({
        "window_days": WINDOW_DAYS,
        "users_scanned": activity.len(),
        "anomalies": anomalies,
        "critical_count": critical,
        "admins_notified": admins_notified,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(daily: [i64; 7], disputes: i64, trust_change: i64) -> Activity {
        Activity { user_id: 1, daily_messages: daily, disputes, trust_change }
    }

    #[test]
    fn levels() {
        assert_eq!(Level::of(0), Level::Low);
        assert_eq!(Level::of(24), Level::Low);
        assert_eq!(Level::of(25), Level::Medium);
        assert_eq!(Level::of(50), Level::High);
        assert_eq!(Level::of(74), Level::High);
        assert_eq!(Level::of(75), Level::Critical);
        assert_eq!(Level::of(100), Level::Critical);
    }

    #[test]
    fn message_burst_against_own_baseline() {
        assert_eq!(message_burst(&activity([10, 10, 10, 10, 10, 10, 25], 0, 0)), None, "2.5x is not a burst");
        let a = message_burst(&activity([10, 10, 10, 10, 10, 10, 40], 0, 0)).expect("4x is a burst");
        assert_eq!((a.rule, a.risk, a.level), (Rule::MessageBurst, 40, Level::Medium));
        let a = message_burst(&activity([0, 0, 0, 0, 0, 0, 80], 0, 0)).expect("a quiet user's 80 messages");
        assert_eq!((a.risk, a.level), (100, Level::Critical), "ratio 16 against the floor of 5 → capped at 100");
        assert_eq!(message_burst(&activity([0, 0, 0, 0, 0, 0, 19], 0, 0)), None, "under 20 messages never fires");
        let a = message_burst(&activity([0, 0, 0, 0, 0, 0, 20], 0, 0)).expect("20 against the floor is 4x");
        assert_eq!(a.risk, 40);
    }

    #[test]
    fn dispute_rate() {
        assert_eq!(super::dispute_rate(&activity([0; 7], 1, 0)), None);
        let a = super::dispute_rate(&activity([0; 7], 2, 0)).unwrap();
        assert_eq!((a.risk, a.level), (60, Level::High));
        let a = super::dispute_rate(&activity([0; 7], 3, 0)).unwrap();
        assert_eq!((a.risk, a.level), (90, Level::Critical));
        assert_eq!(super::dispute_rate(&activity([0; 7], 9, 0)).unwrap().risk, 100);
    }

    #[test]
    fn sharp_trust_change_either_way() {
        assert_eq!(sharp_trust_change(&activity([0; 7], 0, 99)), None);
        assert_eq!(sharp_trust_change(&activity([0; 7], 0, -50)), None, "a full week of decay is not sharp");
        let a = sharp_trust_change(&activity([0; 7], 0, -150)).unwrap();
        assert_eq!((a.risk, a.level), (75, Level::Critical));
        let a = sharp_trust_change(&activity([0; 7], 0, 100)).unwrap();
        assert_eq!((a.risk, a.level), (50, Level::High));
    }

    #[test]
    fn detect_collects_every_rule() {
        let all = detect(&activity([0, 0, 0, 0, 0, 0, 100], 3, 300));
        let rules: Vec<Rule> = all.iter().map(|a| a.rule).collect();
        assert_eq!(rules, vec![Rule::MessageBurst, Rule::DisputeRate, Rule::SharpTrustChange]);
        assert!(detect(&activity([3, 4, 5, 2, 6, 4, 5], 0, -20)).is_empty());
    }
}
