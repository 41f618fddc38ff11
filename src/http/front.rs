//! The two publishing endpoints, answered in front of actix-web's `App`.
//!
//! Nearly all HTTP API traffic is `POST /apps/{app_id}/events` and `/batch_events`. Through
//! actix-web each such request also paid for an `HttpRequest`, the middleware chain, a regex
//! walk of the route table, a method guard and the extractors: for a batch fanned out to ten
//! sockets that was about a tenth of herald's CPU (docs/benchmarks.md, "unicast"). This
//! service reads those two routes off actix-http's request itself and hands every other
//! request, unchanged, to the `App`.

use actix_http::body::{BoxBody, MessageBody};
use actix_http::{Method, Request, Response};
use actix_service::{fn_factory, fn_service, Service, ServiceFactory};
use actix_web::dev::ServiceResponse;
use actix_web::{HttpResponse, ResponseError};
use std::rc::Rc;
use std::time::Instant;

use super::auth::{ApiRequest, BodyStream};
use super::events;
use crate::metrics::PUBLISHING_ROUTES;
use crate::state::State;

/// The two publishing routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publishing {
    Events,
    BatchEvents,
}

impl Publishing {
    /// The route pattern, as the metrics label it (see `api_route`).
    fn pattern(self) -> &'static str {
        match self {
            Publishing::Events => PUBLISHING_ROUTES[0],
            Publishing::BatchEvents => PUBLISHING_ROUTES[1],
        }
    }
}

/// The publishing route and the (still encoded) app id of a path, if it is one.
pub fn publishing_route(path: &str) -> Option<(Publishing, &str)> {
    let (app_id, rest) = path.strip_prefix("/apps/")?.split_once('/')?;
    let route = match rest {
        "events" => Publishing::Events,
        "batch_events" => Publishing::BatchEvents,
        _ => return None,
    };
    (!app_id.is_empty()).then_some((route, app_id))
}

/// Wraps the actix-web `App`'s factory so each worker answers the publishing routes first.
pub fn publishing_first<F, B>(
    state: State,
    app: F,
) -> impl ServiceFactory<Request, Config = (), Response = Response<BoxBody>, Error = actix_web::Error, InitError = ()>
where
    F: ServiceFactory<Request, Config = (), Response = ServiceResponse<B>, Error = actix_web::Error, InitError = ()> + 'static,
    B: MessageBody + 'static,
{
    let app = Rc::new(app);
    fn_factory(move || {
        let state = state.clone();
        let app_service = app.new_service(());
        async move {
            let app_service = Rc::new(app_service.await?);
            Ok::<_, ()>(fn_service(move |req: Request| {
                let (state, app_service) = (state.clone(), app_service.clone());
                async move { serve(&state, &*app_service, req).await }
            }))
        }
    })
}

async fn serve<S, B>(state: &State, app: &S, mut req: Request) -> Result<Response<BoxBody>, actix_web::Error>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    // A shutdown waits for the request to be answered.
    let _request = state.request_started();
    // Decided as the request arrives: `/ready`'s answer depends on the shutdown too, and a
    // shutdown beginning in between must not make it say 200 and close the connection.
    let closing = state.is_shutting_down();
    let route = if req.method() == Method::POST { publishing_route(req.path()).map(|(route, _)| route) } else { None };
    let mut response = match route {
        None => Response::from(app.call(req).await?).map_into_boxed_body(),
        Some(route) => {
            let payload = req.take_payload();
            let (_, encoded_app_id) = publishing_route(req.path()).expect("matched above");
            let head = ApiRequest { method: req.method().as_str(), path: req.path(), query: req.uri().query().unwrap_or("") };
            Response::from(answer(state, route, head, encoded_app_id, payload).await)
        }
    };
    // While shutting down, the client is told to take its next request elsewhere.
    if closing {
        response.head_mut().set_connection_type(actix_http::ConnectionType::Close);
    }
    Ok(response)
}

/// Answers a publishing request and counts it in the metrics. Shared with herald's own
/// HTTP/1.1 reader (`listener/`), which takes these requests before actix-http on plain TCP.
pub async fn answer(state: &State, route: Publishing, head: ApiRequest<'_>, encoded_app_id: &str, payload: impl BodyStream) -> HttpResponse {
    let started = Instant::now();
    // As actix-web's `Path` extractor would: the segment percent-decoded.
    let app_id = percent_encoding::percent_decode_str(encoded_app_id).decode_utf8_lossy();
    let result = match route {
        Publishing::Events => events::trigger(state, head, &app_id, payload).await,
        Publishing::BatchEvents => events::batch(state, head, &app_id, payload).await,
    };
    let response = result.unwrap_or_else(|e| e.error_response());
    super::record_api_request(state, &app_id, route.pattern(), response.status(), started);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_publishing_paths_match() {
        assert_eq!(publishing_route("/apps/1/events"), Some((Publishing::Events, "1")));
        assert_eq!(publishing_route("/apps/my%20app/batch_events"), Some((Publishing::BatchEvents, "my%20app")));
        for other in ["/apps//events", "/apps/1/events/", "/apps/1/channels", "/apps/1/x/events", "/app/1/events", "/apps/1"] {
            assert_eq!(publishing_route(other), None, "{other}");
        }
        assert_eq!(Publishing::Events.pattern(), super::super::api_route("/apps/1/events").unwrap());
        assert_eq!(Publishing::BatchEvents.pattern(), super::super::api_route("/apps/1/batch_events").unwrap());
    }
}
