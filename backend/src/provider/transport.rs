//! The one HTTP client tokenbridge talks to providers with, and the classification
//! of everything a provider can answer: refused, silent, slow, a redirect, a 5xx,
//! an HTML page, a body that breaks off or never ends. oauth2 and the dialects
//! parse only what passes here.

use std::time::Duration;

use oauth2::http;

use crate::exchange_log::Recorder;

/// At most this much is read of any provider answer, counted while it streams in.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Why a request to a provider failed, as the transport saw it.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("the provider did not answer within the timeout")]
    Timeout,
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider answered {status} with a redirect, which is not followed")]
    Redirect { status: u16 },
    #[error("the provider answered {status} (server error, {content_type}, {length} bytes)")]
    ServerError {
        status: u16,
        content_type: String,
        length: usize,
    },
    #[error("the provider answered {status} with an HTML page ({length} bytes)")]
    Html { status: u16, length: usize },
    #[error("the provider's answer broke off: {0}")]
    Body(String),
    #[error("the provider's answer is larger than {MAX_ANSWER_BYTES} bytes; the rest was not read")]
    TooLarge,
}

/// The process's one HTTP client for providers: bounded in time and size, never redirected.
#[derive(Clone)]
pub struct Transport {
    http: reqwest::Client,
}

/// A send function's future, as oauth2's async client wants it.
pub type SendFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send>,
>;

impl Transport {
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tokenbridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http })
    }

    /// A send function for oauth2 requests to `endpoint` (the provider's token endpoint),
    /// recording into `log` if given. An owned client in each future keeps it `Send`.
    pub fn sender(
        &self,
        endpoint: &url::Url,
        log: Option<Recorder>,
    ) -> impl Fn(http::Request<Vec<u8>>) -> SendFuture + use<> {
        let (transport, endpoint) = (self.clone(), endpoint.clone());
        move |request| {
            let (transport, endpoint, log) = (transport.clone(), endpoint.clone(), log.clone());
            Box::pin(async move { transport.send(request, &endpoint, log.as_ref()).await })
        }
    }

    /// Sends one request (as oauth2 builds it) and sorts out the answers oauth2 would lump
    /// together. A 4xx with JSON passes through for the caller to read the provider's error.
    /// A request to `endpoint` goes to reqwest with the endpoint's parsed URL: written out as
    /// text, reqwest would parse it again (5–6 k instructions).
    pub async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        endpoint: &url::Url,
        log: Option<&Recorder>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let (parts, body) = request.into_parts();
        let record = |url: &str| {
            if let Some(log) = log {
                let authorization = parts.headers.contains_key(http::header::AUTHORIZATION);
                log.request(parts.method.as_str(), url, authorization, &body);
            }
        };
        let builder = if parts.uri == endpoint.as_str() {
            record(endpoint.as_str());
            self.http.request(parts.method.clone(), endpoint.clone())
        } else {
            let url = parts.uri.to_string();
            record(&url);
            self.http.request(parts.method.clone(), url)
        };
        let request = builder.headers(parts.headers).body(body);
        self.answer(request, log).await
    }

    /// Sends `request` and reads, sorts out and (into `log`, if given) records its answer.
    async fn answer(
        &self,
        request: reqwest::RequestBuilder,
        log: Option<&Recorder>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let mut response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                TransportError::Timeout
            } else {
                TransportError::Unreachable(describe(&e))
            }
        })?;
        let status = response.status();
        if status.is_redirection() {
            return Err(TransportError::Redirect {
                status: status.as_u16(),
            });
        }
        let content_type_header = response.headers().get(http::header::CONTENT_TYPE).cloned();
        let content_type = content_type_header
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type")
            .to_owned();
        if response
            .content_length()
            .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
        {
            return Err(TransportError::TooLarge);
        }
        // Counted chunk by chunk: a chunked answer has no length to check in advance.
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                        return Err(TransportError::TooLarge);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(TransportError::Timeout),
                Err(e) => return Err(TransportError::Body(describe(&e))),
            }
        }
        if let Some(log) = log {
            log.response(status.as_u16(), &body);
        }
        if status.is_server_error() {
            return Err(TransportError::ServerError {
                status: status.as_u16(),
                content_type,
                length: body.len(),
            });
        }
        if looks_like_html(&content_type, &body) {
            return Err(TransportError::Html {
                status: status.as_u16(),
                length: body.len(),
            });
        }
        let mut builder = http::Response::builder().status(status);
        if let Some(value) = content_type_header {
            builder = builder.header(http::header::CONTENT_TYPE, value);
        }
        builder
            .body(body)
            .map_err(|e| TransportError::Body(e.to_string()))
    }

    /// `GET url` with `authorization` as the Authorization header, if given. The `Url` goes
    /// to reqwest as it is: written out as text, reqwest would parse it again (twice, with
    /// the `http::Uri` a built request needs).
    pub async fn get(
        &self,
        url: &url::Url,
        authorization: Option<String>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let mut request = self
            .http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json");
        if let Some(value) = authorization {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        self.answer(request, None).await
    }

    /// `POST url` with a form body, and `authorization` as the Authorization header if given.
    pub async fn post_form(
        &self,
        url: &url::Url,
        form: &[(&str, &str)],
        authorization: Option<String>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .http
            .post(url.clone())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json");
        if let Some(value) = authorization {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        self.answer(request.body(body), None).await
    }
}

/// A reqwest error's chain of causes, which name hosts and OS errors but never bodies
/// or queries.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "reading the body failed"
    } else if error.is_request() {
        "sending the request failed"
    } else {
        "request failed"
    };
    let mut text = match error.url() {
        Some(url) => format!(
            "{kind} ({}://{}{})",
            url.scheme(),
            url.authority(),
            url.path()
        ),
        None => kind.to_owned(),
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn looks_like_html(content_type: &str, body: &[u8]) -> bool {
    // Case-insensitive, without a lowercased copy of the header.
    let names = |word: &str| {
        content_type
            .as_bytes()
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
    };
    if names("html") {
        return true;
    }
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    body[start..].starts_with(b"<") && !names("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_recognised_by_content_type_or_by_its_first_byte() {
        assert!(looks_like_html("text/html; charset=utf-8", b"{}"));
        assert!(looks_like_html("text/plain", b"  \n<!doctype html>"));
        assert!(!looks_like_html("application/json", b"{\"a\":1}"));
        assert!(!looks_like_html("no content type", b""));
        assert!(looks_like_html("TEXT/HTML", b"{}"), "whatever its case");
        assert!(!looks_like_html("Application/JSON", b"<not html>"));
    }
}
