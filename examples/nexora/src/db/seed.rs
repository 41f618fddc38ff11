//! `nexora seed`: demo users, guilds, a dispute, messages and notifications. It does nothing
//! when the database already has users, so it is safe to run on every start.
//!
//! | user  | trust | role   | guilds                    | notes                              |
//! |-------|-------|--------|---------------------------|------------------------------------|
//! | alice | 900   | admin  | Rustaceans                | admin (trust > 800), dispute arbiter |
//! | bob   | 650   | hunter | Rustaceans                | dispute claimant                   |
//! | carol | 720   | poster | Rustaceans, Night Owls    |                                    |
//! | dave  | 640   | hunter | Night Owls                | inactive 60 days: trust decay applies |
//! | erin  | 480   | hunter | none                      | outside every guild                |
//!
//! Every demo user's password is [`DEMO_PASSWORD`].

use futures_util::future::join_all;
use serde_json::json;

use super::{conversations, guilds, users, Db, DAY_MS};
use crate::auth::password;
use crate::db::notifications::{self, NewNotification};
use crate::notify::NotificationType;

pub const DEMO_PASSWORD: &str = "nexora-demo";

/// Seeds an empty database; returns whether it did.
pub async fn seed(db: &Db, now: i64) -> sqlx::Result<bool> {
    if users::count(&db.pool).await? > 0 {
        return Ok(false);
    }
    let people = [("alice", "admin", 900, 0), ("bob", "hunter", 650, 0), ("carol", "poster", 720, 0), ("dave", "hunter", 640, 60), ("erin", "hunter", 480, 0)];
    let hashes = join_all(people.iter().map(|_| password::hash_async(DEMO_PASSWORD.to_string()))).await;

    let mut tx = db.begin().await?;
    let mut ids = Vec::new();
    for ((name, role, trust, idle_days), hash) in people.iter().zip(&hashes) {
        let user = users::NewUser { name, password_hash: hash, role, trust_score: *trust, last_active: now - idle_days * DAY_MS };
        ids.push(users::create(&mut *tx, &user, now).await?);
    }
    let [alice, bob, carol, dave, erin] = ids[..] else { unreachable!("five users were created") };

    let rustaceans = guilds::create(&mut *tx, "Rustaceans", "Systems work, reviewed by crabs.", now).await?;
    let owls = guilds::create(&mut *tx, "Night Owls", "Bounties done while the world sleeps.", now).await?;
    for (guild, user, role) in [(rustaceans, alice, "leader"), (rustaceans, bob, "member"), (rustaceans, carol, "officer"), (owls, carol, "leader"), (owls, dave, "member")] {
        guilds::add_member(&mut *tx, guild, user, role, now).await?;
    }

    let dispute = conversations::create_dispute(
        &mut tx,
        "Logo redesign deliverable",
        "The delivered files do not match the brief.",
        bob,
        &[(bob, "claimant"), (dave, "respondent"), (alice, "arbiter")],
        now - DAY_MS,
    )
    .await?;

    let samples = [
        ("guild", rustaceans, alice, "Welcome to the Rustaceans guild chat!"),
        ("guild", rustaceans, carol, "Reviewing the parser bounty tonight."),
        ("guild", owls, dave, "Anyone up for the 2am deploy?"),
        ("dispute", dispute, bob, "I have attached the original brief."),
    ];
    for (i, (kind, conversation, sender, text)) in samples.iter().enumerate() {
        sqlx::query("INSERT INTO messages (conversation_kind, conversation_id, sender_id, content, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(*kind)
            .bind(*conversation)
            .bind(*sender)
            .bind(*text)
            .bind(now - DAY_MS + i as i64 * 60_000)
            .execute(&mut *tx)
            .await?;
    }

    let welcome = [
        (alice, NotificationType::TribunalVoteNeeded, json!({ "dispute_id": dispute, "dispute_title": "Logo redesign deliverable" })),
        (bob, NotificationType::BountyMatched, json!({ "bounty_title": "Fix the login bug", "match_score": 92 })),
        (erin, NotificationType::GuildInvite, json!({ "inviter_name": "carol", "guild_name": "Night Owls" })),
    ];
    for (user_id, kind, data) in &welcome {
        let rendered = kind.render(data);
        let new = NewNotification { user_id: *user_id, kind: kind.as_str(), title: &rendered.title, message: &rendered.message, icon: &rendered.icon, data };
        notifications::insert(&mut tx, &new, now - DAY_MS).await?;
    }
    tx.commit().await?;
    Ok(true)
}
