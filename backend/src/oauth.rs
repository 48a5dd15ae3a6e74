//! The OAuth client: builds the authorize URL and exchanges a code for a token
//! over the process's one HTTP client, turning every way a provider can fail
//! into one [`ExchangeError`] with a shared error code.

use std::time::Duration;

use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
    basic::{BasicClient, BasicErrorResponse},
    http,
};
use tokenbridge_shared::ErrorCode;
use url::Url;

use crate::config::{ClientAuth, Config};
use crate::exchange_log::Recorder;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Options a person may give for one sign-in, on top of the configured ones.
#[derive(Debug, Default, Clone)]
pub struct AuthorizeOptions {
    pub scope: Option<String>,
    /// Yandex's optional_scope: permissions the person may switch off.
    pub optional_scope: Option<String>,
    pub force_confirm: bool,
    pub login_hint: Option<String>,
    /// Names the device the token is for; Yandex revokes only tokens issued with a device.
    pub device_name: Option<String>,
}

/// A started sign-in: where to send the browser, and what to remember until it returns.
pub struct Authorization {
    pub url: Url,
    pub state: CsrfToken,
    pub verifier: PkceCodeVerifier,
    /// A fresh device id, when a device name was given.
    pub device_id: Option<String>,
}

/// A token as the provider issued it. Debug is redacted by oauth2's secret types.
#[derive(Debug)]
pub struct IssuedToken {
    pub access_token: AccessToken,
    pub token_type: String,
    pub expires_at: Option<i64>,
    pub obtained_at: i64,
    pub scope: Option<String>,
    pub refresh_token: Option<RefreshToken>,
}

/// Whose token it is, from the provider's user info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub login: String,
    /// The application the token was issued to, when the provider says.
    pub client_id: Option<String>,
}

pub struct OAuthClient {
    client: Client,
    http: reqwest::Client,
    client_id: ClientId,
    client_secret: ClientSecret,
}

impl OAuthClient {
    pub fn new(config: &Config, token_url: Url) -> Result<Self, reqwest::Error> {
        let client = BasicClient::new(config.client_id.clone())
            .set_client_secret(config.client_secret.clone())
            .set_auth_uri(AuthUrl::from_url(config.authorize_url.clone()))
            .set_token_uri(TokenUrl::from_url(token_url))
            .set_redirect_uri(RedirectUrl::from_url(config.redirect_url()))
            .set_auth_type(match config.client_auth {
                ClientAuth::Post => AuthType::RequestBody,
                ClientAuth::Basic => AuthType::BasicAuth,
            });
        Ok(Self {
            client,
            http: http_client(config.provider_timeout)?,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
        })
    }

    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// A fresh state (256 random bits) and PKCE S256 pair, and the URL to send the browser to.
    pub fn authorize(&self, options: &AuthorizeOptions) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(|| CsrfToken::new_random_len(32))
            .set_pkce_challenge(challenge);
        if let Some(scope) = &options.scope {
            request =
                request.add_scopes(scope.split_whitespace().map(|s| Scope::new(s.to_owned())));
        }
        if let Some(optional) = &options.optional_scope {
            request = request.add_extra_param("optional_scope", optional.clone());
        }
        if options.force_confirm {
            request = request.add_extra_param("force_confirm", "yes");
        }
        if let Some(hint) = &options.login_hint {
            request = request.add_extra_param("login_hint", hint.clone());
        }
        let device_id = options
            .device_name
            .as_ref()
            .map(|_| CsrfToken::new_random_len(12).into_secret());
        if let (Some(id), Some(name)) = (&device_id, &options.device_name) {
            request = request
                .add_extra_param("device_id", id.clone())
                .add_extra_param("device_name", name.clone());
        }
        let (url, state) = request.url();
        Authorization {
            url,
            state,
            device_id,
            verifier,
        }
    }

    /// The authorize request of a sign-in as far as its flow cookie remembers it: the
    /// protocol parameters, a short scope and the device (the cookie keeps no other
    /// options, so that it stays small whatever was asked; those are not shown).
    pub fn authorize_url_of(
        &self,
        state: &str,
        verifier: &PkceCodeVerifier,
        scope: Option<&str>,
        device: Option<(&str, &str)>,
    ) -> Url {
        let state = state.to_owned();
        let mut request = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(verifier));
        if let Some(scope) = scope {
            request =
                request.add_scopes(scope.split_whitespace().map(|s| Scope::new(s.to_owned())));
        }
        if let Some((id, name)) = device {
            request = request
                .add_extra_param("device_id", id.to_owned())
                .add_extra_param("device_name", name.to_owned());
        }
        request.url().0
    }

    /// Exchanges the code for a token.
    #[tracing::instrument(name = "token_exchange", skip_all)]
    pub async fn exchange(
        &self,
        code: AuthorizationCode,
        verifier: PkceCodeVerifier,
        requested_scope: Option<String>,
        log: &Recorder,
    ) -> Result<IssuedToken, ExchangeError> {
        let code_text = code.secret().clone();
        let send = self.sender(Some(log.clone()));
        let response = self
            .client
            .exchange_code(code)
            .set_pkce_verifier(verifier)
            .request_async(&send)
            .await
            .map_err(|e| ExchangeError::from_oauth(e, &code_text))?;
        issued(&response, requested_scope)
    }

    /// Trades a refresh token for a new access token (and perhaps a new refresh token).
    #[tracing::instrument(name = "token_refresh", skip_all)]
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        scope: Option<String>,
    ) -> Result<IssuedToken, ExchangeError> {
        let send = self.sender(None);
        let response = self
            .client
            .exchange_refresh_token(refresh_token)
            .request_async(&send)
            .await
            .map_err(|e| ExchangeError::from_oauth(e, refresh_token.secret()))?;
        issued(&response, scope)
    }

    /// Asks the provider whose token this is (Yandex: `Authorization: OAuth <token>`).
    #[tracing::instrument(name = "user_info", skip_all)]
    pub async fn user_info(
        &self,
        url: &Url,
        token: &AccessToken,
    ) -> Result<Account, ExchangeError> {
        let failed = |detail: String| ExchangeError {
            code: ErrorCode::UserInfoFailed,
            provider_message: None,
            detail,
        };
        let response = self
            .http
            .get(url.as_str())
            .header(
                http::header::AUTHORIZATION,
                format!("OAuth {}", token.secret()),
            )
            .send()
            .await
            .map_err(|e| failed(format!("user info request failed: {}", describe(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("user info answered {status}")));
        }
        let info: serde_json::Value = response
            .json()
            .await
            .map_err(|e| failed(format!("user info is not JSON: {}", describe(&e))))?;
        let text = |key: &str| match &info[key] {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let id = text("id").ok_or_else(|| failed("user info has no id".into()))?;
        Ok(Account {
            login: text("login").unwrap_or_else(|| id.clone()),
            client_id: text("client_id"),
            id,
        })
    }

    /// Revokes an access token (Yandex: `POST /revoke_token`, only for tokens issued with a device_id).
    #[tracing::instrument(name = "revoke", skip_all)]
    pub async fn revoke(&self, url: &Url, token: &AccessToken) -> Result<(), ExchangeError> {
        let failed = |detail: String| ExchangeError {
            code: ErrorCode::TokenRequestRejected,
            provider_message: None,
            detail,
        };
        let response = self
            .http
            .post(url.as_str())
            .form(&[
                ("access_token", token.secret().as_str()),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.secret().as_str()),
            ])
            .send()
            .await
            .map_err(|e| failed(format!("revocation request failed: {}", describe(&e))))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let words = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| {
                v["error_description"]
                    .as_str()
                    .or(v["error"].as_str())
                    .map(|s| scrub(s, token.secret()))
            });
        Err(ExchangeError {
            provider_message: words.clone(),
            ..failed(format!(
                "revocation answered {status}: {}",
                words.unwrap_or_default()
            ))
        })
    }

    /// A send function for oauth2, recording into `log` if given. An owned client in each
    /// future keeps it `Send`.
    fn sender(
        &self,
        log: Option<Recorder>,
    ) -> impl Fn(http::Request<Vec<u8>>) -> SendFuture + use<> {
        let http = self.http.clone();
        move |request| {
            let (http, log) = (http.clone(), log.clone());
            Box::pin(async move { send(&http, request, log.as_ref()).await })
        }
    }
}

fn issued(
    response: &oauth2::basic::BasicTokenResponse,
    requested_scope: Option<String>,
) -> Result<IssuedToken, ExchangeError> {
    let now = unix_now();
    let scope = response
        .scopes()
        .map(|scopes| {
            scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .or(requested_scope);
    if response.access_token().secret().is_empty() {
        return Err(ExchangeError::malformed(
            "the token response has an empty access_token",
        ));
    }
    Ok(IssuedToken {
        access_token: response.access_token().clone(),
        token_type: token_type_name(response.token_type()),
        expires_at: response
            .expires_in()
            .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
        obtained_at: now,
        scope,
        refresh_token: response.refresh_token().cloned(),
    })
}

fn token_type_name(kind: &oauth2::basic::BasicTokenType) -> String {
    match kind {
        oauth2::basic::BasicTokenType::Bearer => "bearer".to_owned(),
        oauth2::basic::BasicTokenType::Mac => "mac".to_owned(),
        oauth2::basic::BasicTokenType::Extension(other) => other.clone(),
    }
}

/// Now in Unix nanoseconds: orders events that may fall in the same millisecond.
pub fn unix_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The process's one HTTP client for talking to providers: bounded in time, never redirected.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tokenbridge/", env!("CARGO_PKG_VERSION")))
        .build()
}

type SendFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send>,
>;

/// Why a token request failed, as the transport saw it. oauth2 parses only what passes here.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("the token endpoint did not answer within the timeout")]
    Timeout,
    #[error("the token endpoint could not be reached: {0}")]
    Unreachable(String),
    #[error("the token endpoint answered {status} with a redirect, which is not followed")]
    Redirect { status: u16 },
    #[error("the token endpoint answered {status} (server error, {content_type}, {length} bytes)")]
    ServerError {
        status: u16,
        content_type: String,
        length: usize,
    },
    #[error("the token endpoint answered {status} with an HTML page ({length} bytes)")]
    Html { status: u16, length: usize },
    #[error("the token endpoint's answer broke off: {0}")]
    Body(String),
}

/// Sends one request and sorts out the answers oauth2 would lump together.
async fn send(
    http: &reqwest::Client,
    request: http::Request<Vec<u8>>,
    log: Option<&Recorder>,
) -> Result<http::Response<Vec<u8>>, TransportError> {
    let (parts, body) = request.into_parts();
    if let Some(log) = log {
        let authorization = parts.headers.contains_key(http::header::AUTHORIZATION);
        log.request(
            parts.method.as_str(),
            &parts.uri.to_string(),
            authorization,
            &body,
        );
    }
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                TransportError::Timeout
            } else {
                // Without the URL's query (there is none here, but stay safe) and without a body.
                TransportError::Unreachable(describe(&e))
            }
        })?;
    let status = response.status();
    if status.is_redirection() {
        return Err(TransportError::Redirect {
            status: status.as_u16(),
        });
    }
    let headers = response.headers().clone();
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type")
        .to_owned();
    let body = response.bytes().await.map_err(|e| {
        if e.is_timeout() {
            TransportError::Timeout
        } else {
            TransportError::Body(describe(&e))
        }
    })?;
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
    if let Some(value) = headers.get(http::header::CONTENT_TYPE) {
        builder = builder.header(http::header::CONTENT_TYPE, value);
    }
    builder
        .body(body.to_vec())
        .map_err(|e| TransportError::Body(e.to_string()))
}

/// A reqwest error's chain of causes, which name hosts and OS errors but never bodies.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.without_url_ref_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

trait WithoutUrl {
    fn without_url_ref_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref_string(&self) -> String {
        let kind = if self.is_connect() {
            "connection failed"
        } else if self.is_body() || self.is_decode() {
            "reading the body failed"
        } else if self.is_request() {
            "sending the request failed"
        } else {
            "request failed"
        };
        match self.url() {
            Some(url) => format!(
                "{kind} ({}://{}{})",
                url.scheme(),
                url.authority(),
                url.path()
            ),
            None => kind.to_owned(),
        }
    }
}

fn looks_like_html(content_type: &str, body: &[u8]) -> bool {
    let content_type = content_type.to_ascii_lowercase();
    if content_type.contains("html") {
        return true;
    }
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    !content_type.contains("json") && body[start..].starts_with(b"<")
}

/// A failed exchange: the code the person sees, the provider's words, and what the operator needs.
#[derive(Debug)]
pub struct ExchangeError {
    pub code: ErrorCode,
    /// The provider's `error_description` (or its error code), with the code itself scrubbed out.
    pub provider_message: Option<String>,
    /// For the log only; never sent.
    pub detail: String,
}

impl ExchangeError {
    fn malformed(detail: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::ProviderMalformed,
            provider_message: None,
            detail: detail.into(),
        }
    }

    fn from_oauth(
        error: RequestTokenError<TransportError, BasicErrorResponse>,
        code: &str,
    ) -> Self {
        match error {
            RequestTokenError::ServerResponse(response) => {
                let kind = response.error().as_ref().to_owned();
                let code_kind = match kind.as_str() {
                    "invalid_grant" | "bad_verification_code" => ErrorCode::CodeRejected,
                    "invalid_client" | "unauthorized_client" => ErrorCode::ClientRejected,
                    _ => ErrorCode::TokenRequestRejected,
                };
                let description = response
                    .error_description()
                    .cloned()
                    .unwrap_or_else(|| kind.clone());
                let description = scrub(&description, code);
                Self {
                    code: code_kind,
                    detail: format!(
                        "the provider refused the token request: {kind}: {description}"
                    ),
                    provider_message: Some(description),
                }
            }
            RequestTokenError::Request(transport) => {
                let code = match &transport {
                    TransportError::Timeout => ErrorCode::ProviderTimeout,
                    TransportError::Unreachable(_) => ErrorCode::ProviderUnreachable,
                    TransportError::Redirect { .. } => ErrorCode::ProviderRedirect,
                    TransportError::ServerError { .. } => ErrorCode::ProviderUnavailable,
                    TransportError::Html { .. } => ErrorCode::ProviderHtml,
                    TransportError::Body(_) => ErrorCode::ProviderMalformed,
                };
                Self {
                    code,
                    provider_message: None,
                    detail: transport.to_string(),
                }
            }
            // The body may hold a token, so only the shape of the failure is kept.
            RequestTokenError::Parse(error, body) => Self::malformed(format!(
                "the token response is not the expected JSON ({} bytes): {:?} error at line {} column {}, path {}",
                body.len(),
                error.inner().classify(),
                error.inner().line(),
                error.inner().column(),
                error.path(),
            )),
            RequestTokenError::Other(message) => Self::malformed(message),
        }
    }
}

/// Removes every occurrence of `secret` from provider text.
fn scrub(text: &str, secret: &str) -> String {
    let text: String = text.chars().take(500).collect();
    if secret.is_empty() {
        text
    } else {
        text.replace(secret, "[redacted]")
    }
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
    }

    #[test]
    fn provider_text_loses_the_code() {
        assert_eq!(
            scrub("code 1234567 is bad", "1234567"),
            "code [redacted] is bad"
        );
    }
}
