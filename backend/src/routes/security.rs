//! What every response carries for the browser's protection, and the rule
//! that API errors are always our JSON, even when axum or a layer produced them.

use axum::{
    Json,
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue, Response, StatusCode, header},
    middleware::Next,
    response::IntoResponse,
};
use tokenbridge_shared::{ApiError, ErrorCode};

/// The policy for everything but the app's index page, which adds the hashes
/// of trunk's inline loader script (see `assets`).
pub const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers every response gets, unless a handler set its own policy.
pub async fn headers(request: Request, next: Next) -> Response<Body> {
    let no_store = is_api(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    set_default(headers, header::CONTENT_SECURITY_POLICY, CSP);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if no_store {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn set_default(headers: &mut HeaderMap, name: header::HeaderName, value: &'static str) {
    headers
        .entry(name)
        .or_insert(HeaderValue::from_static(value));
}

/// Paths whose answers are data about this browser and must never be cached.
fn is_api(path: &str) -> bool {
    ["/api/", "/auth/", "/sandbox/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// Turns an error answered in plain text or with no body type at all — axum's
/// rejections (405, 413, 415, …) and the static files' bare statuses — into
/// the shared JSON error body. Our own JSON and HTML answers pass unchanged.
pub async fn json_errors(request: Request, next: Next) -> Response<Body> {
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        s if s.is_client_error() => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    };
    let mut replacement = (status, Json(ApiError::new(code))).into_response();
    // Keep what the original said about allowed methods.
    if let Some(allow) = response.headers().get(header::ALLOW) {
        replacement
            .headers_mut()
            .insert(header::ALLOW, allow.clone());
    }
    replacement
}

/// A panic in a handler becomes our 500 JSON; the panic's text goes to the log only.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(detail, "a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(ApiError::new(ErrorCode::Internal)),
    )
        .into_response()
}
