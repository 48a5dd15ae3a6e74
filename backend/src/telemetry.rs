//! Logging: to stderr, `RUST_LOG` filters (default `info`), and request spans that name
//! the method and path only — a query string can carry a code or a state. Colours only on a
//! terminal: a file, a pipe, the journal or `docker logs` get plain text.

use std::io::IsTerminal;

use axum::http::Request;
use tracing::Span;
use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by `RUST_LOG` or else `default` (a level such as "info").
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

/// Whether log lines are coloured: on a terminal, unless `NO_COLOR` is set to anything but
/// empty (no-color.org). Written to a file or a pipe, colour codes are bytes nobody reads, and
/// writing a request span's fields with them cost a token read 1.7–3.0 k instructions more.
fn colours(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

/// The layer that gives each request its span ([`request_span`]): the handler's log lines
/// carry the method and path. It replaces tower-http's `TraceLayer`, which cost a token read
/// 1–2 k instructions more for a response classifier, two clock reads and a wrapper around
/// every response body that entered the span at each frame. Of what that layer logged, the
/// line for a server error (at `error`) the guard (`routes::security::Guard`) writes now; its
/// two `debug` lines a request are gone.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestSpans;

impl<S> tower::Layer<S> for RequestSpans {
    type Service = Spanned<S>;

    fn layer(&self, inner: S) -> Spanned<S> {
        Spanned(inner)
    }
}

/// A service whose calls run in their request's span (see [`RequestSpans`]).
#[derive(Clone, Debug)]
pub struct Spanned<S>(S);

impl<S, B> tower::Service<Request<B>> for Spanned<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tracing::instrument::Instrumented<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        use tracing::Instrument;
        let span = request_span(&request);
        let future = span.in_scope(|| self.0.call(request));
        future.instrument(span)
    }
}

/// Paths are logged cut to this many characters: a 64 KB path is one line, not 64 KB.
const MAX_LOGGED_PATH: usize = 200;

/// The span of one request: method and path (cut short), never the query.
fn request_span<B>(request: &Request<B>) -> Span {
    tracing::info_span!("request", method = %request.method(), path = %short_path(request.uri().path()))
}

fn short_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.char_indices().nth(MAX_LOGGED_PATH) {
        Some((cut, _)) => format!("{}… ({} bytes)", &path[..cut], path.len()).into(),
        None => path.into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        use super::colours;
        assert!(colours(true, None));
        assert!(colours(true, Some("".into())), "an empty NO_COLOR is unset");
        assert!(!colours(true, Some("1".into())));
        assert!(!colours(false, None));
    }

    #[test]
    fn a_long_path_is_logged_cut_short() {
        let long = "/".to_owned() + &"é".repeat(5000);
        let logged = super::short_path(&long);
        assert!(logged.chars().count() < 230, "{logged}");
        assert!(logged.ends_with("(10001 bytes)"));
        assert_eq!(super::short_path("/api/session"), "/api/session");
    }
}
