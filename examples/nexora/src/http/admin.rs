//! Health, the admin status view, disputes and announcements.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::auth::CurrentUser;
use crate::db::{self, users::User};
use crate::error::{AppError, AppResult};
use crate::notify::{self, NotificationType, Outbound};
use crate::server::AppState;
use crate::{channels, events};

pub async fn health(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let users = db::users::count(&state.db.pool).await?;
    Ok(HttpResponse::Ok().json(json!({
        "ok": true,
        "database": format!("{:?}", state.db.backend).to_lowercase(),
        "users": users,
        "publish": state.realtime.stats(),
    })))
}

fn require_admin(user: &User) -> AppResult<()> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden("admins only (trust score above 800)".into()))
    }
}

/// Cache and publish counters and the latest job runs.
pub async fn status(state: web::Data<AppState>, CurrentUser(user): CurrentUser) -> AppResult<HttpResponse> {
    require_admin(&user)?;
    let runs = db::job_runs::recent(&state.db.pool, 20).await?;
    Ok(HttpResponse::Ok().json(json!({
        "cache": state.cache.stats().await,
        "publish": state.realtime.stats(),
        "job_runs": runs,
    })))
}

#[derive(Deserialize)]
pub struct RaiseDispute {
    title: String,
    #[serde(default)]
    reason: String,
    respondent_id: i64,
}

/// Opens a dispute between the caller and a respondent, with the first admin who is neither
/// as arbiter. Parties get `dispute_raised`, the arbiter `tribunal_vote_needed`, sent as
/// one batch.
pub async fn raise_dispute(state: web::Data<AppState>, CurrentUser(user): CurrentUser, body: web::Json<RaiseDispute>) -> AppResult<HttpResponse> {
    let title = body.title.trim();
    if title.is_empty() || body.respondent_id == user.id {
        return Err(AppError::BadRequest("a dispute needs a title and a respondent other than yourself".into()));
    }
    let respondent = db::users::get(&state.db.pool, body.respondent_id).await?.ok_or_else(|| AppError::NotFound("no such respondent".into()))?;
    let arbiter = db::users::admins(&state.db.pool).await?.into_iter().find(|a| a.id != user.id && a.id != respondent.id);
    let mut parties = vec![(user.id, "claimant"), (respondent.id, "respondent")];
    if let Some(a) = &arbiter {
        parties.push((a.id, "arbiter"));
    }
    let now = db::now_ms();
    let mut tx = state.db.begin().await?;
    let id = db::conversations::create_dispute(&mut tx, title, &body.reason, user.id, &parties, now).await?;
    tx.commit().await?;
    let dispute = db::conversations::dispute(&state.db.pool, id).await?;
    state.realtime.publish(&channels::dispute(id), events::DISPUTE_RAISED, &dispute, None).await;
    let data = json!({ "dispute_id": id, "dispute_title": title, "raised_by_name": user.name });
    let mut items = vec![Outbound { user_id: respondent.id, kind: NotificationType::DisputeRaised, data: data.clone() }];
    if let Some(a) = arbiter {
        items.push(Outbound { user_id: a.id, kind: NotificationType::TribunalVoteNeeded, data });
    }
    notify::send_many(&state, items).await?;
    Ok(HttpResponse::Created().json(json!({ "dispute": dispute })))
}

#[derive(Deserialize)]
pub struct Resolve {
    resolution: String,
}

/// Resolves an open dispute (its arbiter or any admin); publishes `dispute:resolved`.
pub async fn resolve_dispute(state: web::Data<AppState>, CurrentUser(user): CurrentUser, path: web::Path<i64>, body: web::Json<Resolve>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let parties = db::conversations::parties(&state.db.pool, id).await?;
    let is_arbiter = parties.iter().any(|(party, role)| *party == user.id && role == "arbiter");
    if !is_arbiter && !user.is_admin() {
        return Err(AppError::Forbidden("only the arbiter or an admin can resolve a dispute".into()));
    }
    if !db::conversations::resolve_dispute(&state.db.pool, id, body.resolution.trim(), db::now_ms()).await? {
        return Err(AppError::NotFound(format!("no open dispute {id}")));
    }
    let dispute = db::conversations::dispute(&state.db.pool, id).await?;
    state.realtime.publish(&channels::dispute(id), events::DISPUTE_RESOLVED, &dispute, None).await;
    Ok(HttpResponse::Ok().json(json!({ "dispute": dispute })))
}

#[derive(Deserialize)]
pub struct Announcement {
    title: String,
    message: String,
}

/// Stores a `platform_announcement` for every user (their bell history), then publishes it
/// once on `platform-global` instead of once per user.
pub async fn announce(state: web::Data<AppState>, CurrentUser(user): CurrentUser, body: web::Json<Announcement>) -> AppResult<HttpResponse> {
    require_admin(&user)?;
    let data = json!({ "title": body.title.trim(), "message": body.message.trim(), "from": user.name });
    let rendered = NotificationType::PlatformAnnouncement.render(&data);
    let everyone = db::users::list(&state.db.pool).await?;
    let now = db::now_ms();
    let mut tx = state.db.begin().await?;
    for recipient in &everyone {
        let new = db::notifications::NewNotification {
            user_id: recipient.id,
            kind: NotificationType::PlatformAnnouncement.as_str(),
            title: &rendered.title,
            message: &rendered.message,
            icon: &rendered.icon,
            data: &data,
        };
        db::notifications::insert(&mut tx, &new, now).await?;
    }
    tx.commit().await?;
    let payload = json!({
        "notification": { "type": NotificationType::PlatformAnnouncement.as_str(), "title": rendered.title, "message": rendered.message, "icon": rendered.icon, "data": data, "created_at": now },
        "unread_delta": 1,
    });
    let delivered = state.realtime.publish(channels::GLOBAL, events::NOTIFICATION_NEW, &payload, None).await;
    Ok(HttpResponse::Created().json(json!({ "recipients": everyone.len(), "delivered": delivered })))
}
