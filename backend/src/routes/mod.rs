//! The HTTP surface: each module owns its routes; this one merges them, adds
//! the JSON 404s under the API prefixes, the static app, and the layers every
//! request passes: tracing, security headers, panic catching, JSON errors and
//! the body limit.

mod api;
mod assets;
mod auth;
mod security;

use axum::{Router, extract::DefaultBodyLimit, middleware, routing::any};
use tokenbridge_shared::ErrorCode;
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};

use crate::{AppState, error::AppError, sandbox, telemetry};

/// No route of ours takes a body larger than this (the sandbox's forms are a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let mut router = Router::new().merge(auth::router()).merge(api::router());
    if state.sandbox.is_some() {
        router = router.merge(sandbox::router());
    }
    router
        // Unknown API paths are JSON 404s, not the app's index page.
        .route("/api/{*rest}", any(not_found))
        .route("/auth/{*rest}", any(not_found))
        .route("/sandbox/{*rest}", any(not_found))
        .merge(assets::router(&state.config.dist))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(security::json_errors))
        .layer(CatchPanicLayer::custom(security::panic_response))
        .layer(middleware::from_fn(security::headers))
        .layer(TraceLayer::new_for_http().make_span_with(telemetry::request_span))
        .with_state(state)
}

async fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound)
}

/// A query string or form body, decoded once, with duplicates detected.
/// Invalid UTF-8 is replaced rather than refused, so that a garbled parameter
/// fails on its value with a clear error instead of on the whole request.
pub(crate) struct Params(Vec<(String, String)>);

/// A parameter given more than once.
#[derive(Debug)]
pub(crate) struct Duplicate(pub &'static str);

impl Params {
    pub fn parse(raw: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The one value of `name`, if given; empty values count as absent.
    pub fn get(&self, name: &'static str) -> Result<Option<&str>, Duplicate> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => Err(Duplicate(name)),
            (Some(""), None) | (None, _) => Ok(None),
            (Some(value), None) => Ok(Some(value)),
        }
    }
}
