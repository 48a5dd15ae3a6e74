//! The trunk-built app, served from `dist/`, with the SPA fallback to
//! index.html. The index page's Content-Security-Policy allows exactly the
//! inline loader script trunk writes into it, by hash, and nothing else inline.
//! Files are sent precompressed (brotli or gzip, written at build time) when the
//! browser accepts it; those whose names carry trunk's content hash are cached
//! for a year, everything else is revalidated.

use std::path::{Path, PathBuf};

use axum::{
    Router,
    extract::Request,
    handler::HandlerWithoutStateExt,
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};
use tower_http::services::ServeDir;

use super::security::CSP;
use crate::AppState;

/// `/` and `/index.html` explicitly, every other path from `dist/` or, failing that, the index.
pub fn router(dist: &Path) -> Router<AppState> {
    let index_file = dist.join("index.html");
    let index = {
        let index_file = index_file.clone();
        move || index_page(index_file.clone())
    };
    let files = ServeDir::new(dist)
        .append_index_html_on_directories(false)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(index.clone().into_service());
    Router::new()
        .route("/", get(index.clone()))
        .route("/index.html", get(index))
        .fallback_service(files)
        .layer(middleware::from_fn(cache_control))
        .layer(middleware::from_fn(no_such_file))
}

/// A year for files named by their content, revalidation for everything else.
/// The file service fails with a 500 on paths the file system refuses (a name too long,
/// say): no such file is here, so it is a 404. (503, "the page is not built", stays.)
async fn no_such_file(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        return crate::error::AppError::new(tokenbridge_shared::ErrorCode::NotFound)
            .into_response();
    }
    response
}

async fn cache_control(request: Request, next: Next) -> Response {
    let immutable = is_content_hashed(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() && !response.headers().contains_key(header::CACHE_CONTROL) {
        let policy = if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

/// Trunk names files `name-<16 hex digits>[_bg].ext`.
fn is_content_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or_default();
    let stem = file.split('.').next().unwrap_or_default();
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn index_page(path: PathBuf) -> Response {
    let html = match tokio::fs::read_to_string(&path).await {
        Ok(html) => html,
        Err(error) => {
            tracing::error!(path = %path.display(), %error, "cannot read the app's index.html");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Html("<!doctype html><title>tokenbridge</title><p>The tokenbridge page is not built yet. \
                      Run <code>scripts/run.sh</code> (or <code>trunk build --release</code>) and reload.</p>"),
            )
                .into_response();
        }
    };
    let policy = policy_with_inline_scripts(&html);
    let mut response = Html(html).into_response();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    // Always revalidated, so a new build is picked up; the hashed files it names can be cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The base policy, with `'sha256-…'` for each inline `<script>` of `html`.
fn policy_with_inline_scripts(html: &str) -> String {
    let hashes: Vec<String> = inline_scripts(html)
        .map(|script| {
            format!(
                "'sha256-{}'",
                STANDARD.encode(Sha256::digest(script.as_bytes()))
            )
        })
        .collect();
    if hashes.is_empty() {
        return CSP.to_owned();
    }
    CSP.replacen(
        "script-src 'self'",
        &format!("script-src 'self' {}", hashes.join(" ")),
        1,
    )
}

/// The contents of the `<script>` elements that have no `src`.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (tag, after) = rest.split_once('>')?;
        let (content, _) = after.split_once("</script>")?;
        (!tag.contains("src=")).then_some(content)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunks_hashed_names_are_recognised() {
        assert!(is_content_hashed(
            "/tokenbridge-frontend-4b115cc7dcad2b1f_bg.wasm"
        ));
        assert!(is_content_hashed("/style-8112956dba757850.css"));
        assert!(!is_content_hashed("/index.html"));
        assert!(!is_content_hashed("/favicon.ico"));
        assert!(!is_content_hashed("/my-file.js"));
    }

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let html = "<script type=\"module\">init()</script><script src=\"/a.js\"></script>";
        assert_eq!(inline_scripts(html).collect::<Vec<_>>(), ["init()"]);
        let policy = policy_with_inline_scripts(html);
        let expected = STANDARD.encode(Sha256::digest(b"init()"));
        assert!(
            policy.contains(&format!(
                "script-src 'self' 'sha256-{expected}' 'wasm-unsafe-eval'"
            )),
            "{policy}"
        );
    }
}
