//! `GET /api/cron/{oracle|trust-decay}` for external schedulers (a platform cron, a CI job):
//! `Authorization: Bearer $CRON_SECRET`, compared in constant time; 401 otherwise. Without a
//! configured secret the endpoints answer 404, so an unconfigured deployment exposes nothing.

use actix_web::{web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

use crate::error::{AppError, AppResult};
use crate::jobs::{self, Job, Trigger};
use crate::server::AppState;

/// Whether `header` is `Bearer <secret>`; the comparison does not stop at the first
/// differing byte.
pub fn bearer_matches(header: Option<&str>, secret: &str) -> bool {
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else { return false };
    token.as_bytes().ct_eq(secret.as_bytes()).into()
}

pub async fn run(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> AppResult<HttpResponse> {
    let Some(secret) = state.config.cron_secret.as_deref() else {
        return Err(AppError::NotFound("cron endpoints are disabled: set CRON_SECRET to enable them".into()));
    };
    let header = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    if !bearer_matches(header, secret) {
        return Ok(HttpResponse::Unauthorized().json(serde_json::json!({ "error": "expected Authorization: Bearer <CRON_SECRET>" })));
    }
    let job = Job::parse(&path).ok_or_else(|| AppError::NotFound(format!("no job '{path}'; jobs: oracle, trust-decay")))?;
    let report = jobs::run(&state, job, Trigger::Http, chrono::Utc::now()).await?;
    Ok(HttpResponse::Ok().json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_check() {
        assert!(bearer_matches(Some("Bearer s3cret-s3cret-s3cret"), "s3cret-s3cret-s3cret"));
        assert!(!bearer_matches(Some("Bearer s3cret-s3cret-s3creT"), "s3cret-s3cret-s3cret"));
        assert!(!bearer_matches(Some("bearer s3cret-s3cret-s3cret"), "s3cret-s3cret-s3cret"));
        assert!(!bearer_matches(Some("Bearer "), "s3cret-s3cret-s3cret"));
        assert!(!bearer_matches(Some("s3cret-s3cret-s3cret"), "s3cret-s3cret-s3cret"));
        assert!(!bearer_matches(None, "s3cret-s3cret-s3cret"));
    }
}
