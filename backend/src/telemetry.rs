//! Logging: to stderr, `RUST_LOG` filters (default `info`), and request spans that name
//! the method and path only — a query string can carry a code or a state.

use axum::http::Request;
use tracing::Span;
use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by `RUST_LOG` or else `default` (a level such as "info").
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

/// The span of one request: method and path, never the query.
pub fn request_span<B>(request: &Request<B>) -> Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}
