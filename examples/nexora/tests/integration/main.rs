//! Integration tests: a real herald process, nexora in-process, HTTP from outside, against
//! SQLite always and PostgreSQL when reachable. Live delivery to pusher-js clients is tested
//! by tests/js (Node and the browser).

mod harness;

use herald::protocol::token;
use serde_json::{json, Value};

use harness::{read, Herald, Nexora, TestDb, CRON_SECRET};
use nexora::db;

const SECRET: &str = "herald-dev-secret";

/// Runs `scenario` once per available database, each on a fresh nexora.
macro_rules! on_every_database {
    ($herald_url:expr, |$nexora:ident| $body:block) => {
        for test_db in TestDb::all().await {
            eprintln!("-- on {}", test_db.label);
            let $nexora = Nexora::start(&test_db, $herald_url).await;
            $body
            $nexora.stop().await;
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_authorization() {
    let herald = Herald::start().await;
    on_every_database!(&herald.url, |nexora| {
        let auth = nexora.api("/api/realtime/auth");
        let anonymous = nexora.anonymous();
        let (status, _) = read(anonymous.post(&auth).form(&[("socket_id", "1.2"), ("channel_name", "private-user-1")]).send().await.unwrap()).await;
        assert_eq!(status, 401, "no session");

        let bob = nexora.login("bob").await;
        let bob_id = nexora.user_id("bob").await;
        let alice_id = nexora.user_id("alice").await;
        let form = |channel: &str| vec![("socket_id".to_string(), "123.456".to_string()), ("channel_name".to_string(), channel.to_string())];

        let (status, body) = read(bob.post(&auth).form(&form(&format!("private-user-{bob_id}"))).send().await.unwrap()).await;
        assert_eq!(status, 200);
        let expected = token::sign(SECRET, token::channel_string_to_sign("123.456", &format!("private-user-{bob_id}"), None).as_bytes());
        assert_eq!(body["auth"], format!("herald-dev-key:{expected}"));
        assert!(body.get("channel_data").is_none());

        let (status, body) = read(bob.post(&auth).form(&form("presence-guild-1")).send().await.unwrap()).await;
        assert_eq!(status, 200, "bob is a Rustaceans member");
        let channel_data: Value = serde_json::from_str(body["channel_data"].as_str().unwrap()).unwrap();
        assert_eq!(channel_data, json!({ "user_id": bob_id.to_string(), "user_info": { "name": "bob" } }));
        let expected = token::sign(SECRET, token::channel_string_to_sign("123.456", "presence-guild-1", body["channel_data"].as_str()).as_bytes());
        assert_eq!(body["auth"], format!("herald-dev-key:{expected}"));

        let (status, body) = read(bob.post(&auth).json(&json!({ "socket_id": "123.456", "channel_name": "presence-guild-1" })).send().await.unwrap()).await;
        assert_eq!((status, body["channel_data"].is_string()), (200, true), "JSON bodies are accepted too");

        let (low, high) = (alice_id.min(bob_id), alice_id.max(bob_id));
        for (channel, want) in [
            ("presence-guild-2".to_string(), 403),
            (format!("private-user-{alice_id}"), 403),
            (format!("private-dm-{low}-{high}"), 200),
            (format!("private-dm-{high}-{low}"), 403),
            ("private-dispute-1".to_string(), 200),
            ("platform-global".to_string(), 403),
            ("private-something-else".to_string(), 403),
        ] {
            let (status, _) = read(bob.post(&auth).form(&form(&channel)).send().await.unwrap()).await;
            assert_eq!(status, want, "{channel}");
        }
        let erin = nexora.login("erin").await;
        let (status, _) = read(erin.post(&auth).form(&form("presence-guild-1")).send().await.unwrap()).await;
        assert_eq!(status, 403, "erin is in no guild");
        let (status, _) = read(erin.post(&auth).form(&form("private-dispute-1")).send().await.unwrap()).await;
        assert_eq!(status, 403, "erin is no party to the dispute");

        let (status, _) = read(bob.post(&auth).form(&[("socket_id", "nope"), ("channel_name", "presence-guild-1")]).send().await.unwrap()).await;
        assert_eq!(status, 400, "malformed socket id");

        let user_auth = nexora.api("/api/realtime/user-auth");
        let (status, _) = read(anonymous.post(&user_auth).form(&[("socket_id", "1.2")]).send().await.unwrap()).await;
        assert_eq!(status, 401);
        let (status, body) = read(bob.post(&user_auth).form(&[("socket_id", "123.456")]).send().await.unwrap()).await;
        assert_eq!(status, 200);
        let user_data = body["user_data"].as_str().unwrap();
        assert_eq!(serde_json::from_str::<Value>(user_data).unwrap(), json!({ "id": bob_id.to_string(), "user_info": { "name": "bob" } }));
        let expected = token::sign(SECRET, token::user_string_to_sign("123.456", user_data).as_bytes());
        assert_eq!(body["auth"], format!("herald-dev-key:{expected}"));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sessions_and_cookies() {
    let herald = Herald::start().await;
    on_every_database!(&herald.url, |nexora| {
        let client = nexora.anonymous();
        let (status, _) = read(client.post(nexora.api("/api/login")).json(&json!({ "name": "bob", "password": "wrong" })).send().await.unwrap()).await;
        assert_eq!(status, 401);
        let (status, _) = read(client.post(nexora.api("/api/login")).json(&json!({ "name": "nobody", "password": "x" })).send().await.unwrap()).await;
        assert_eq!(status, 401);

        let response = client.post(nexora.api("/api/login")).json(&json!({ "name": "bob", "password": harness::PASSWORD })).send().await.unwrap();
        let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
        assert!(cookie.starts_with("nexora_session="), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
        let (status, me) = read(client.get(nexora.api("/api/me")).send().await.unwrap()).await;
        assert_eq!((status, me["user"]["name"].as_str()), (200, Some("bob")));
        assert!(me["user"].get("password_hash").is_none());

        let value = cookie.split(';').next().unwrap().trim_start_matches("nexora_session=");
        let forged = value.replacen(&nexora.user_id("bob").await.to_string(), &nexora.user_id("alice").await.to_string(), 1);
        let raw = reqwest::Client::new();
        let (status, _) = read(raw.get(nexora.api("/api/me")).header("cookie", format!("nexora_session={forged}")).send().await.unwrap()).await;
        assert_eq!(status, 401, "a cookie whose user id was changed fails its signature");

        let (status, _) = read(client.post(nexora.api("/api/logout")).send().await.unwrap()).await;
        assert_eq!(status, 200);
        let (status, _) = read(client.get(nexora.api("/api/me")).send().await.unwrap()).await;
        assert_eq!(status, 401, "logged out");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_send_edit_delete_and_history() {
    let herald = Herald::start().await;
    on_every_database!(&herald.url, |nexora| {
        let bob = nexora.login("bob").await;
        let carol = nexora.login("carol").await;
        let erin = nexora.login("erin").await;

        let (status, body) = read(bob.post(nexora.api("/api/guilds/1/messages")).json(&json!({ "content": "  hello guild  " })).send().await.unwrap()).await;
        assert_eq!(status, 201);
        assert_eq!((body["delivered"].as_bool(), body["message"]["content"].as_str(), body["message"]["channel"].as_str()), (Some(true), Some("hello guild"), Some("presence-guild-1")));
        let id = body["message"]["id"].as_i64().unwrap();

        let (status, _) = read(erin.post(nexora.api("/api/guilds/1/messages")).json(&json!({ "content": "let me in" })).send().await.unwrap()).await;
        assert_eq!(status, 403, "non-members cannot post");
        let (status, _) = read(erin.get(nexora.api("/api/guilds/1/messages")).send().await.unwrap()).await;
        assert_eq!(status, 403, "nor read");
        let (status, _) = read(bob.post(nexora.api("/api/guilds/1/messages")).json(&json!({ "content": "   " })).send().await.unwrap()).await;
        assert_eq!(status, 400, "empty content");
        let (status, _) = read(bob.post(nexora.api("/api/guilds/99/messages")).json(&json!({ "content": "x" })).send().await.unwrap()).await;
        assert_eq!(status, 404);

        let (status, _) = read(carol.patch(nexora.api(&format!("/api/messages/{id}"))).json(&json!({ "content": "not mine" })).send().await.unwrap()).await;
        assert_eq!(status, 403, "only the sender edits");
        let (status, body) = read(bob.patch(nexora.api(&format!("/api/messages/{id}"))).json(&json!({ "content": "hello, guild" })).send().await.unwrap()).await;
        assert_eq!((status, body["message"]["content"].as_str()), (200, Some("hello, guild")));
        assert!(body["message"]["edited_at"].is_i64());
        let (status, body) = read(bob.delete(nexora.api(&format!("/api/messages/{id}"))).send().await.unwrap()).await;
        assert_eq!((status, body["message"]["deleted"].as_bool(), body["message"]["content"].as_str()), (200, Some(true), Some("")));
        let (status, _) = read(bob.delete(nexora.api(&format!("/api/messages/{id}"))).send().await.unwrap()).await;
        assert_eq!(status, 404, "already deleted");

        // Pagination: the seed has 2 Rustaceans messages, plus the deleted one, plus 7 more.
        for i in 0..7 {
            let (status, _) = read(carol.post(nexora.api("/api/guilds/1/messages")).json(&json!({ "content": format!("m{i}") })).send().await.unwrap()).await;
            assert_eq!(status, 201);
        }
        let (_, page) = read(bob.get(nexora.api("/api/guilds/1/messages?limit=4")).send().await.unwrap()).await;
        let contents: Vec<&str> = page["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
        assert_eq!(contents, ["m3", "m4", "m5", "m6"], "newest page, oldest first");
        let before = page["next_before"].as_i64().unwrap();
        let (_, page) = read(bob.get(nexora.api(&format!("/api/guilds/1/messages?limit=4&before={before}"))).send().await.unwrap()).await;
        let messages = page["messages"].as_array().unwrap();
        assert_eq!(messages.iter().map(|m| m["content"].as_str().unwrap()).collect::<Vec<_>>(), ["", "m0", "m1", "m2"]);
        assert_eq!(messages[0]["deleted"], true, "history keeps a tombstone");
        let before = page["next_before"].as_i64().unwrap();
        let (_, page) = read(bob.get(nexora.api(&format!("/api/guilds/1/messages?limit=4&before={before}"))).send().await.unwrap()).await;
        assert_eq!(page["messages"].as_array().unwrap().len(), 2);
        assert!(page["next_before"].is_null(), "start of the conversation");
        let after = messages[3]["id"].as_i64().unwrap();
        let (_, page) = read(bob.get(nexora.api(&format!("/api/guilds/1/messages?after={after}"))).send().await.unwrap()).await;
        assert_eq!(page["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect::<Vec<_>>(), ["m3", "m4", "m5", "m6"], "catch-up after a known id");

        // DMs: the conversation is created on first use and the recipient is notified.
        let alice_id = nexora.user_id("alice").await;
        let bob_id = nexora.user_id("bob").await;
        let (status, body) = read(bob.post(nexora.api(&format!("/api/dms/{alice_id}/messages"))).json(&json!({ "content": "hi alice" })).send().await.unwrap()).await;
        assert_eq!(status, 201);
        assert_eq!(body["message"]["channel"], format!("private-dm-{}-{}", alice_id.min(bob_id), alice_id.max(bob_id)));
        let alice = nexora.login("alice").await;
        let (_, page) = read(alice.get(nexora.api(&format!("/api/dms/{bob_id}/messages"))).send().await.unwrap()).await;
        assert_eq!(page["messages"][0]["content"], "hi alice", "both sides see one conversation");
        let (_, list) = read(alice.get(nexora.api("/api/notifications")).send().await.unwrap()).await;
        assert_eq!(list["notifications"][0]["type"], "message_received");
        assert_eq!(list["notifications"][0]["title"], "New message from bob");
        let (status, _) = read(bob.post(nexora.api(&format!("/api/dms/{bob_id}/messages"))).json(&json!({ "content": "me" })).send().await.unwrap()).await;
        assert_eq!(status, 400, "no DM with yourself");

        let (status, body) = read(bob.post(nexora.api("/api/guilds/1/typing")).json(&json!({ "typing": true })).send().await.unwrap()).await;
        assert_eq!((status, body["delivered"].as_bool()), (200, Some(true)));
        let (status, _) = read(erin.post(nexora.api("/api/guilds/1/typing")).json(&json!({ "typing": true })).send().await.unwrap()).await;
        assert_eq!(status, 403);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_read_and_unread() {
    let herald = Herald::start().await;
    on_every_database!(&herald.url, |nexora| {
        let bob = nexora.login("bob").await;
        let alice = nexora.login("alice").await;
        let bob_id = nexora.user_id("bob").await;
        for i in 0..3 {
            read(alice.post(nexora.api(&format!("/api/dms/{bob_id}/messages"))).json(&json!({ "content": format!("ping {i}") })).send().await.unwrap()).await;
        }
        let (_, count) = read(bob.get(nexora.api("/api/notifications/unread-count")).send().await.unwrap()).await;
        assert_eq!(count["unread_count"], 4, "one seeded + three DMs");
        let (_, list) = read(bob.get(nexora.api("/api/notifications?limit=2")).send().await.unwrap()).await;
        let items = list["notifications"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["message"], "ping 2", "newest first");
        let first = items[0]["id"].as_i64().unwrap();
        let (_, older) = read(bob.get(nexora.api(&format!("/api/notifications?limit=2&before={}", list["next_before"]))).send().await.unwrap()).await;
        assert_eq!(older["notifications"][0]["message"], "ping 0");

        let (status, body) = read(bob.post(nexora.api(&format!("/api/notifications/{first}/read"))).send().await.unwrap()).await;
        assert_eq!((status, body["unread_count"].as_i64()), (200, Some(3)));
        let (status, _) = read(alice.post(nexora.api(&format!("/api/notifications/{first}/read"))).send().await.unwrap()).await;
        assert_eq!(status, 404, "not alice's notification");
        let (status, body) = read(bob.post(nexora.api("/api/notifications/read-all")).send().await.unwrap()).await;
        assert_eq!((status, body["marked"].as_i64()), (200, Some(3)));
        let (_, count) = read(bob.get(nexora.api("/api/notifications/unread-count")).send().await.unwrap()).await;
        assert_eq!(count["unread_count"], 0);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_decay_runs_once_per_period() {
    let herald = Herald::start().await;
    on_every_database!(&herald.url, |nexora| {
        let http = reqwest::Client::new();
        let cron = nexora.api("/api/cron/trust-decay");
        let (status, _) = read(http.get(&cron).send().await.unwrap()).await;
        assert_eq!(status, 401, "no bearer");
        let (status, _) = read(http.get(&cron).bearer_auth("wrong-secret-wrong-secret").send().await.unwrap()).await;
        assert_eq!(status, 401, "wrong bearer");

        let (status, report) = read(http.get(&cron).bearer_auth(CRON_SECRET).send().await.unwrap()).await;
        assert_eq!((status, report["applied"].as_bool()), (200, Some(true)));
        let changes = report["run"]["result"]["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "only dave is inactive over 30 days: {report}");
        assert_eq!((changes[0]["name"].as_str(), changes[0]["old_score"].as_i64(), changes[0]["new_score"].as_i64()), (Some("dave"), Some(640), Some(610)), "60 days inactive: −30");

        let (status, again) = read(http.get(&cron).bearer_auth(CRON_SECRET).send().await.unwrap()).await;
        assert_eq!((status, again["applied"].as_bool()), (200, Some(false)), "same week: not applied twice");
        let dave = db::users::get(&nexora.state.db.pool, nexora.user_id("dave").await).await.unwrap().unwrap();
        assert_eq!(dave.trust_score, 610);
        let from_cli = nexora::jobs::run(&nexora.state, nexora::jobs::Job::TrustDecay, nexora::jobs::Trigger::Cli, chrono::Utc::now()).await.unwrap();
        assert!(!from_cli.applied, "the CLI sees the same period record");

        let next_week = chrono::Utc::now() + chrono::Duration::days(7);
        let later = nexora::jobs::run(&nexora.state, nexora::jobs::Job::TrustDecay, nexora::jobs::Trigger::Cli, next_week).await.unwrap();
        assert!(later.applied);
        assert_eq!(later.run.result.as_ref().unwrap()["changes"][0]["new_score"], 573, "67 days inactive next week: −37");

        let notes = db::notifications::list(&nexora.state.db.pool, dave.id, None, 10).await.unwrap();
        assert_eq!(notes.iter().filter(|n| n.kind == "trust_score_changed").count(), 2);
        assert_eq!(notes[0].message, "Your trust score went from 610 to 573 (inactivity).");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_flags_critical_anomalies_to_admins() {
    let herald = Herald::start().await;
    on_every_database!(&herald.url, |nexora| {
        let http = reqwest::Client::new();
        let (status, quiet) = read(http.get(nexora.api("/api/cron/oracle")).bearer_auth(CRON_SECRET).send().await.unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(quiet["run"]["result"]["critical_count"], 0, "the seed is calm: {quiet}");

        // A sharp trust drop (−200 → risk 100, Critical) for carol, then tomorrow's run.
        let carol = nexora.user_id("carol").await;
        let mut conn = nexora.state.db.conn().await.unwrap();
        db::users::change_trust(&mut conn, carol, 720, 520, "penalty", db::now_ms()).await.unwrap();
        drop(conn);
        let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
        let report = nexora::jobs::run(&nexora.state, nexora::jobs::Job::Oracle, nexora::jobs::Trigger::Cli, tomorrow).await.unwrap();
        let result = report.run.result.unwrap();
        assert_eq!(result["critical_count"], 1, "{result}");
        assert_eq!(result["anomalies"][0]["rule"], "sharp_trust_change");
        assert_eq!(result["anomalies"][0]["level"], "Critical");
        assert_eq!(result["admins_notified"], 1, "alice is the only user above 800");
        let alice = nexora.user_id("alice").await;
        let notes = db::notifications::list(&nexora.state.db.pool, alice, None, 5).await.unwrap();
        assert_eq!((notes[0].kind.as_str(), notes[0].title.as_str()), ("platform_announcement", "Oracle: 1 critical anomaly"));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_keeps_the_data() {
    // A herald that is not there: nothing listens on this URL.
    let dead = format!("http://127.0.0.1:{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    on_every_database!(&dead, |nexora| {
        let bob = nexora.login("bob").await;
        let (status, body) = read(bob.post(nexora.api("/api/guilds/1/messages")).json(&json!({ "content": "stored anyway" })).send().await.unwrap()).await;
        assert_eq!((status, body["delivered"].as_bool()), (201, Some(false)));
        let (_, page) = read(bob.get(nexora.api("/api/guilds/1/messages")).send().await.unwrap()).await;
        assert_eq!(page["messages"].as_array().unwrap().last().unwrap()["content"], "stored anyway");
        let alice_id = nexora.user_id("alice").await;
        let (status, _) = read(bob.post(nexora.api(&format!("/api/dms/{alice_id}/messages"))).json(&json!({ "content": "hello?" })).send().await.unwrap()).await;
        assert_eq!(status, 201);
        let unread = db::notifications::unread_count(&nexora.state.db.pool, alice_id).await.unwrap();
        assert_eq!(unread, 2, "the seeded one and the DM notification, stored though not delivered");
        let stats = nexora.state.realtime.stats();
        assert!(stats.failed >= 3, "failures are counted: {stats:?}");
        let (_, health) = read(reqwest::get(nexora.api("/api/health")).await.unwrap()).await;
        assert!(health["publish"]["failed"].as_u64().unwrap() >= 3);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_reads_and_admin_status() {
    let herald = Herald::start().await;
    on_every_database!(&herald.url, |nexora| {
        let alice = nexora.login("alice").await;
        let bob = nexora.login("bob").await;
        let (_, first) = read(bob.get(nexora.api("/api/leaderboard/trust")).send().await.unwrap()).await;
        assert_eq!(first["entries"][0]["name"], "alice");
        let (_, second) = read(bob.get(nexora.api("/api/leaderboard/trust")).send().await.unwrap()).await;
        assert_eq!(first["computed_at"], second["computed_at"], "served from the cache");
        let (status, _) = read(bob.get(nexora.api("/api/leaderboard/nope")).send().await.unwrap()).await;
        assert_eq!(status, 404);
        let (status, profile) = read(bob.get(nexora.api("/api/guilds/1")).send().await.unwrap()).await;
        assert_eq!((status, profile["member_count"].as_i64()), (200, Some(3)));
        let (status, _) = read(bob.get(nexora.api("/api/insights")).send().await.unwrap()).await;
        assert_eq!(status, 200);
        assert!(nexora.state.cache.has("leaderboard:trust").await);
        assert!(nexora.state.cache.has(&format!("ai:insights:{}", nexora.user_id("bob").await)).await);

        let (status, _) = read(bob.get(nexora.api("/api/admin/status")).send().await.unwrap()).await;
        assert_eq!(status, 403, "bob is not an admin");
        let (status, body) = read(alice.get(nexora.api("/api/admin/status")).send().await.unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(body["cache"]["valid"], body["cache"]["total"]);
        assert!(body["cache"]["total"].as_u64().unwrap() >= 3);

        // Joining a guild invalidates its cached profile.
        let erin = nexora.login("erin").await;
        let (status, joined) = read(erin.post(nexora.api("/api/guilds/1/join")).send().await.unwrap()).await;
        assert_eq!((status, joined["joined"].as_bool()), (200, Some(true)));
        let (_, profile) = read(bob.get(nexora.api("/api/guilds/1")).send().await.unwrap()).await;
        assert_eq!(profile["member_count"], 4);
    });
}
