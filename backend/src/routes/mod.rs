//! The HTTP surface: each module owns its routes; this one merges them, adds
//! the JSON 404s under the API prefixes, the static app, and the layers every
//! request passes: tracing, security headers, panic catching, JSON errors and
//! the body limit.

mod api;
mod assets;
mod auth;
mod security;

use std::convert::Infallible;

use axum::{Router, extract::DefaultBodyLimit, response::IntoResponse, routing::any};
use tokenbridge_shared::ErrorCode;
use tower::{ServiceBuilder, ServiceExt, util::BoxCloneSyncService};
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer};

use crate::{AppState, error::AppError, provider::sandbox, telemetry};

/// No route of ours takes a body larger than this (the sandbox's forms are a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// The whole application as one service, the routes inside the layers: what the server
/// serves.
pub type App = BoxCloneSyncService<axum::extract::Request, axum::response::Response, Infallible>;

/// The application as a [`Router`], for embedding it in another (the end-to-end tests wrap
/// it to record what the browser receives): [`service`] behind a fallback. The server serves
/// `service` itself: a router's fallback matches a catch-all route and stores its parameter at
/// every request, 2,000 instructions of a token read's 37,000.
pub fn router(state: AppState) -> Router {
    Router::new().fallback_service(service(state))
}

/// The routes inside the layers every request passes, as one service.
pub fn service(state: AppState) -> App {
    let mut routes = Router::new().merge(auth::router()).merge(api::router());
    if state.sandbox.is_some() {
        routes = routes.merge(sandbox::router());
    }
    let routes = routes
        // Unknown API paths are JSON 404s, not the app's index page.
        .route("/api/{*rest}", any(not_found))
        .route("/auth/{*rest}", any(not_found))
        .route("/sandbox/{*rest}", any(not_found))
        .merge(assets::router(&state.config.dist))
        .with_state(state.clone());
    // The layers wrap the routes once, outermost first. (`Router::layer` wraps every
    // route on its own, and each request then cloned the whole boxed stack of its route,
    // twice over through the middlewares: a sixth of a token read's instructions.)
    let layered = ServiceBuilder::new()
        .layer(telemetry::RequestContext)
        // A whole request ends within this (408 past it): longer than the worst case of
        // its provider calls (discovery, the token request, user info).
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.config.provider_timeout * 3 + std::time::Duration::from_secs(10),
        ))
        .layer(security::Guard::layer(state))
        .layer(CatchPanicLayer::custom(security::panic_response))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .service(routes)
        .map_response(IntoResponse::into_response);
    BoxCloneSyncService::new(layered)
}

async fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound)
}
