//! What every response carries for the browser's protection, and the rule
//! that API errors are always our JSON, even when axum or a layer produced them.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    Json,
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue, Response, StatusCode, header},
    response::IntoResponse,
};
use tokenbridge_shared::{ApiError, ErrorCode};

use crate::AppState;

pub use crate::policy::CSP;

/// Every request's guard and every answer's dress, as one layer: a request for a foreign
/// host is refused, the client's address is found and its rate limits applied
/// ([`crate::limits::admit`]), an error in plain text becomes our JSON, the security headers
/// are set, and a server error is logged. Written as a service rather than two `from_fn`
/// middlewares, each of which cloned and boxed the rest of the stack and boxed two futures at
/// every request.
#[derive(Clone)]
pub struct Guard<S> {
    state: AppState,
    inner: S,
}

impl<S> Guard<S> {
    pub fn layer(state: AppState) -> impl tower::Layer<S, Service = Self> + Clone {
        tower::layer::layer_fn(move |inner| Self {
            state: state.clone(),
            inner,
        })
    }
}

impl<S, B> tower::Service<Request> for Guard<S>
where
    S: tower::Service<Request, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let no_store = is_api(request.uri().path());
        if let Some(refusal) = foreign_host(&self.state, &request) {
            return Box::pin(std::future::ready(Ok(dressed(refusal, no_store))));
        }
        let https = self.state.config.public_url.scheme() == "https";
        let started = std::time::Instant::now();
        let finish = move |response: Response<Body>| {
            // What went wrong is logged where it happened; this line says that a person got
            // an error of the server's (its `request{…}:` names which request: see
            // `telemetry::RequestContext`).
            if response.status().is_server_error() {
                tracing::error!(
                    status = response.status().as_u16(),
                    latency_ms = started.elapsed().as_millis(),
                    "response failed"
                );
            }
            let mut response = as_json(response);
            if https {
                response.headers_mut().insert(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static("max-age=31536000"),
                );
            }
            Ok(dressed(response, no_store))
        };
        // Inside the panic catcher, as it was when it was a layer of its own below it.
        let admitted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::limits::admit(&self.state, &mut request)
        }));
        match admitted {
            Ok(None) => {}
            Ok(Some(refusal)) => return Box::pin(std::future::ready(finish(refusal))),
            Err(panic) => return Box::pin(std::future::ready(finish(panic_response(panic)))),
        }
        // The clone that was made ready is the one called (tower's rule for services).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move {
            let Ok(response) = inner.call(request).await;
            finish(response.map(Body::new))
        })
    }
}

/// The headers every response gets, unless a handler set its own policy.
fn dressed(mut response: Response<Body>, no_store: bool) -> Response<Body> {
    let headers = response.headers_mut();
    // Room for them at once: the map would otherwise grow (and rehash) on the way.
    headers.reserve(6);
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
fn as_json(response: Response<Body>) -> Response<Body> {
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

/// Requests for another host than the public URL's (or this machine's) are refused: a
/// DNS name rebound to a localhost instance must not reach it. Over https, every answer
/// tells the browser to stay on https (HSTS, in [`Guard`]). The refusal, if refused.
fn foreign_host(state: &AppState, request: &Request) -> Option<Response<Body>> {
    let public = &state.config.public_url;
    let given = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|host| host_name(host).to_ascii_lowercase());
    let allowed = match &given {
        Some(name) => {
            public
                .host_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(name))
                || is_loopback_name(name)
        }
        None => false,
    };
    if !allowed {
        tracing::warn!(
            host = %given.as_deref().unwrap_or("-").chars().take(100).collect::<String>(),
            "refused a request for another host"
        );
        let message = format!(
            "This tokenbridge answers for {} only.",
            public.host_str().unwrap_or("its public URL")
        );
        let mut response = (
            StatusCode::MISDIRECTED_REQUEST,
            Json(ApiError::new(ErrorCode::BadRequest).with_message(message)),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Some(response);
    }
    None
}

/// The host part of a `Host` header: without its port, and without an IPv6 address's brackets.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    })
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_ports() {
        assert_eq!(host_name("tokens.example.com:8443"), "tokens.example.com");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert!(is_loopback_name("127.0.0.5") && is_loopback_name("::1"));
        assert!(!is_loopback_name("evil.example"));
    }
}
