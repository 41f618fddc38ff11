//! The session cookie: `nexora_session = <user id>.<expiry>`, signed (HMAC-SHA256 through the
//! `cookie` crate's signed jar), HttpOnly and SameSite=Lax, so scripts cannot read it and other
//! sites cannot send it with a cross-site POST.

use actix_web::cookie::{time, Cookie, CookieJar, Key, SameSite};
use actix_web::{web, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;

use crate::db::{self, users::User};
use crate::error::AppError;
use crate::server::AppState;

pub const COOKIE_NAME: &str = "nexora_session";

/// Issues and checks session cookies.
pub struct Sessions {
    key: Key,
    /// Adds the `Secure` attribute; on for HTTPS deployments, off for http://localhost.
    secure: bool,
    lifetime_secs: i64,
}

impl Sessions {
    /// `secret` must be at least 32 bytes; `None` generates a random key, so sessions do not
    /// survive a restart.
    pub fn new(secret: Option<&str>, secure: bool, lifetime_secs: i64) -> Sessions {
        let key = match secret {
            Some(s) => Key::derive_from(s.as_bytes()),
            None => Key::generate(),
        };
        Sessions { key, secure, lifetime_secs }
    }

    pub fn issue(&self, user_id: i64, now_secs: i64) -> Cookie<'static> {
        let value = format!("{user_id}.{}", now_secs + self.lifetime_secs);
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key).add(self.base(value).max_age(time::Duration::seconds(self.lifetime_secs)).finish());
        jar.get(COOKIE_NAME).cloned().expect("the cookie was just added")
    }

    /// A cookie that makes the browser forget the session.
    pub fn clear(&self) -> Cookie<'static> {
        let mut cookie = self.base(String::new()).finish();
        cookie.make_removal();
        cookie
    }

    /// The user id in a valid, unexpired cookie.
    pub fn user_id(&self, req: &HttpRequest, now_secs: i64) -> Option<i64> {
        let raw = req.cookie(COOKIE_NAME)?;
        let mut jar = CookieJar::new();
        jar.add_original(raw);
        let verified = jar.signed(&self.key).get(COOKIE_NAME)?;
        let (id, expires) = verified.value().split_once('.')?;
        let expires: i64 = expires.parse().ok()?;
        (expires > now_secs).then(|| id.parse().ok()).flatten()
    }

    fn base(&self, value: String) -> actix_web::cookie::CookieBuilder<'static> {
        Cookie::build(COOKIE_NAME, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
    }
}

/// The logged-in user, loaded from the database on each request. Extracting it from a
/// request without a valid session fails with 401.
pub struct CurrentUser(pub User);

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<CurrentUser, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let now = db::now_ms();
        let user_id = state.as_ref().and_then(|s| s.sessions.user_id(req, now / 1000));
        Box::pin(async move {
            let (Some(state), Some(user_id)) = (state, user_id) else {
                return Err(AppError::Unauthorized);
            };
            let user = db::users::get(&state.db.pool, user_id).await?.ok_or(AppError::Unauthorized)?;
            db::users::touch(&state.db.pool, user.id, now).await?;
            Ok(CurrentUser(user))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn issued_cookie_round_trips_and_expires() {
        let sessions = Sessions::new(Some("a test secret that is at least thirty-two bytes"), false, 3600);
        let cookie = sessions.issue(42, 1_000);
        assert!(cookie.http_only().unwrap_or(false));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        let req = TestRequest::default().cookie(cookie.clone()).to_http_request();
        assert_eq!(sessions.user_id(&req, 1_000), Some(42));
        assert_eq!(sessions.user_id(&req, 1_000 + 3600), None, "expired");
        let other = Sessions::new(Some("another secret that is at least thirty-two bytes"), false, 3600);
        assert_eq!(other.user_id(&req, 1_000), None, "signed with another key");
    }

    #[test]
    fn tampered_cookie_is_refused() {
        let sessions = Sessions::new(Some("a test secret that is at least thirty-two bytes"), false, 3600);
        let cookie = sessions.issue(42, 1_000);
        let tampered = cookie.value().replacen("42.", "1.", 1);
        let req = TestRequest::default().cookie(Cookie::new(COOKIE_NAME, tampered)).to_http_request();
        assert_eq!(sessions.user_id(&req, 1_000), None);
        let forged = TestRequest::default().cookie(Cookie::new(COOKIE_NAME, "1.99999999999")).to_http_request();
        assert_eq!(sessions.user_id(&forged, 1_000), None);
    }
}
