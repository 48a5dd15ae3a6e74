//! The built-in sandbox provider: a stand-in for Yandex OAuth, served by the
//! same process under `/sandbox/…`, so the whole flow runs with no Yandex app
//! and no network. It behaves as Yandex does: an Allow/Deny page, 7-digit
//! single-use codes that live ten minutes, bound to the client, the redirect URI
//! and the PKCE challenge, Yandex-shaped token and error JSON, and a user-info
//! endpoint that says whose token it is (the account is the login hint, if any).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use oauth2::ClientSecret;
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokenbridge_shared::routes as paths;
use url::Url;

use crate::{AppState, notice::prefers_russian, params::Params};

const CODE_LIFETIME: Duration = Duration::from_secs(600);
const TOKEN_LIFETIME_SECS: u64 = 365 * 24 * 3600;
/// More outstanding codes or tokens than this means something is looping; refuse rather than grow.
const MAX_PENDING_CODES: usize = 100_000;
const MAX_TOKENS: usize = 100_000;
/// The pretend account when the sign-in names none.
const DEFAULT_LOGIN: &str = "sandbox-user";

/// The sandbox's one registered application, and the codes it has issued.
pub struct Sandbox {
    client_id: String,
    client_secret: ClientSecret,
    redirect_uri: String,
    grants: Mutex<HashMap<String, Grant>>,
    /// Issued access tokens and whose they are.
    tokens: Mutex<HashMap<String, Account>>,
    /// Issued refresh tokens and whose they are; each works once (they rotate).
    refresh_tokens: Mutex<HashMap<String, Account>>,
    /// Requests to the token endpoint, for tests that count refreshes.
    token_calls: std::sync::atomic::AtomicU64,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    login: String,
    expires: Instant,
}

#[derive(Clone)]
struct Account {
    login: String,
    client_id: String,
    expires: Instant,
}

impl Sandbox {
    /// The sandbox with one registered application: `client_id` and `client_secret`,
    /// whose Callback URI is `redirect_uri`.
    pub fn new(client_id: &str, client_secret: ClientSecret, redirect_uri: &Url) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret,
            redirect_uri: redirect_uri.to_string(),
            grants: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            token_calls: Default::default(),
        }
    }

    /// How many requests the token endpoint has answered.
    pub fn token_calls(&self) -> u64 {
        self.token_calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Makes every refresh token of `login` unusable, as when a person revokes access at Yandex.
    pub fn forget_refresh_tokens(&self, login: &str) {
        lock(&self.refresh_tokens).retain(|_, account| account.login != login);
    }

    /// A new access token and refresh token for `account`, or `None` when the sandbox holds too many.
    fn issue_tokens(&self, account: Account) -> Option<(String, String)> {
        let mut tokens = lock(&self.tokens);
        let mut refresh_tokens = lock(&self.refresh_tokens);
        if tokens.len() >= MAX_TOKENS || refresh_tokens.len() >= MAX_TOKENS {
            let now = Instant::now();
            tokens.retain(|_, account| account.expires > now);
            if tokens.len() >= MAX_TOKENS || refresh_tokens.len() >= MAX_TOKENS {
                return None;
            }
        }
        let access = format!("y0_SANDBOX{}", random_text(32));
        let refresh = format!("1:SANDBOX:{}", random_text(32));
        refresh_tokens.insert(refresh.clone(), account.clone());
        tokens.insert(access.clone(), account);
        Some((access, refresh))
    }

    fn account(&self, token: &str) -> Option<Account> {
        lock(&self.tokens)
            .get(token)
            .filter(|a| a.expires > Instant::now())
            .cloned()
    }

    fn issue_code(&self, request: &AuthorizeRequest) -> Option<String> {
        let mut grants = lock(&self.grants);
        let now = Instant::now();
        grants.retain(|_, grant| grant.expires > now);
        if grants.len() >= MAX_PENDING_CODES {
            return None;
        }
        let mut rng = rand::rng();
        let code = loop {
            let candidate = rng.random_range(1_000_000..=9_999_999u32).to_string();
            if !grants.contains_key(&candidate) {
                break candidate;
            }
        };
        grants.insert(
            code.clone(),
            Grant {
                client_id: request.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                challenge: request.challenge.clone(),
                login: request
                    .login_hint
                    .clone()
                    .unwrap_or_else(|| DEFAULT_LOGIN.to_owned()),
                expires: now + CODE_LIFETIME,
            },
        );
        Some(code)
    }

    /// Takes a code out: it is single-use, whatever the request's fate.
    fn redeem(&self, code: &str) -> Option<Grant> {
        lock(&self.grants).remove(code)
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            paths::SANDBOX_AUTHORIZE,
            get(authorize_page).post(authorize_decision),
        )
        .route(paths::SANDBOX_TOKEN, axum::routing::post(token))
        .route(paths::SANDBOX_USER_INFO, get(user_info))
        .route(paths::SANDBOX_REVOKE, axum::routing::post(revoke))
        .route(paths::SANDBOX_STYLE, get(style))
}

/// A checked authorize request.
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    challenge: Option<String>,
    scope: Option<String>,
    login_hint: Option<String>,
    force_confirm: bool,
}

/// How an authorize request fails: on our page (an unknown client or redirect
/// URI must never be redirected to), or back at the client with an OAuth error.
enum AuthorizeError {
    Page(String),
    Redirect {
        uri: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
}

impl IntoResponse for AuthorizeError {
    fn into_response(self) -> Response {
        match self {
            Self::Page(message) => (
                StatusCode::BAD_REQUEST,
                Html(page(
                    "Sandbox: this sign-in cannot go on",
                    &format!("<p class=\"error\">{}</p>", escape(&message)),
                    false,
                )),
            )
                .into_response(),
            Self::Redirect {
                uri,
                state,
                error,
                description,
            } => {
                let mut pairs = vec![
                    ("error", error.to_owned()),
                    ("error_description", description.to_owned()),
                ];
                if let Some(state) = state {
                    pairs.push(("state", state));
                }
                Redirect::to(&with_query(&uri, &pairs)).into_response()
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold plain data; a panic elsewhere cannot leave them half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn sandbox(state: &AppState) -> &Sandbox {
    // The routes are merged only when the sandbox exists.
    state
        .sandbox
        .as_ref()
        .unwrap_or_else(|| unreachable!("sandbox routes without a sandbox"))
}

fn check_authorize(sandbox: &Sandbox, params: &Params) -> Result<AuthorizeRequest, AuthorizeError> {
    let get = |name: &'static str| {
        params.get(name).map_err(|d| {
            AuthorizeError::Page(format!("The parameter {} is given more than once.", d.0))
        })
    };
    let client_id = get("client_id")?
        .ok_or_else(|| AuthorizeError::Page("The request has no client_id.".into()))?;
    if client_id != sandbox.client_id {
        return Err(AuthorizeError::Page(format!(
            "No application with client_id {client_id:?} is registered in the sandbox."
        )));
    }
    let redirect_uri = match get("redirect_uri")? {
        None => sandbox.redirect_uri.clone(),
        Some(uri) if uri == sandbox.redirect_uri => uri.to_owned(),
        Some(uri) => {
            return Err(AuthorizeError::Page(format!(
                "The redirect_uri {uri:?} is not this application's Callback URI ({}).",
                sandbox.redirect_uri
            )));
        }
    };
    let state = get("state")?.map(str::to_owned);
    let back = |error, description| AuthorizeError::Redirect {
        uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description,
    };
    if get("response_type")? != Some("code") {
        return Err(back(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let challenge = get("code_challenge")?;
    match (challenge, get("code_challenge_method")?) {
        (None, None) => {}
        (Some(challenge), Some("S256")) if is_pkce_value(challenge) => {}
        (Some(_), Some("S256")) => {
            return Err(back(
                "invalid_request",
                "code_challenge must be 43 to 128 URL-safe characters",
            ));
        }
        (Some(_), None | Some(_)) => {
            return Err(back(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        (None, Some(_)) => {
            return Err(back(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ));
        }
    }
    Ok(AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        challenge: challenge.map(str::to_owned),
        scope: get("scope")?.map(str::to_owned),
        login_hint: get("login_hint")?.map(str::to_owned),
        force_confirm: matches!(get("force_confirm")?, Some("yes" | "1" | "true")),
    })
}

fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The Allow / Deny page. Its form may lead on to the application's Callback URI, which
/// may be another origin (an application that uses this sandbox as its provider).
async fn authorize_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AuthorizeError> {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let request = check_authorize(sandbox(&state), &params)?;
    let ru = prefers_russian(&headers);
    let tr = |en: &'static str, ru_text: &'static str| if ru { ru_text } else { en };
    let hidden: String = params_to_keep(&params)
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            )
        })
        .collect();
    let mut details = String::new();
    if let Some(hint) = &request.login_hint {
        details.push_str(&format!(
            "<p>{} <strong>{}</strong></p>",
            tr("Account:", "Аккаунт:"),
            escape(hint)
        ));
    }
    details.push_str(&format!(
        "<p>{} <strong>{}</strong></p>",
        tr("Access requested:", "Запрошенный доступ:"),
        escape(request.scope.as_deref().unwrap_or(tr(
            "the application's default permissions",
            "права приложения по умолчанию"
        )))
    ));
    if request.force_confirm {
        details.push_str(tr(
            "<p>The application asked to confirm again (force_confirm).</p>",
            "<p>Приложение просит подтвердить доступ заново (force_confirm).</p>",
        ));
    }
    let body = format!(
        "<p>{asks}</p>{details}\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"allow\" autofocus>{allow}</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">{deny}</button></form>",
        asks = tr(
            "The application <strong>{client}</strong> asks for access to your (pretend) account.",
            "Приложение <strong>{client}</strong> запрашивает доступ к вашему (условному) аккаунту."
        )
        .replace("{client}", &escape(&request.client_id)),
        action = paths::SANDBOX_AUTHORIZE,
        allow = tr("Allow", "Разрешить"),
        deny = tr("Deny", "Отклонить"),
    );
    let mut response = Html(page(
        tr("Sandbox: allow access?", "Песочница: разрешить доступ?"),
        &body,
        ru,
    ))
    .into_response();
    let callback_origin = Url::parse(&sandbox(&state).redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let policy = crate::policy::CSP.replacen(
        "form-action 'self'",
        &format!("form-action 'self' {callback_origin}"),
        1,
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    Ok(response)
}

/// The parameters the page passes on to its form, in order, without the decision.
fn params_to_keep(params: &Params) -> impl Iterator<Item = (&str, &str)> {
    const KEPT: [&str; 9] = [
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
        "scope",
        "login_hint",
        "force_confirm",
    ];
    KEPT.into_iter()
        .filter_map(|name| params.get(name).ok().flatten().map(|value| (name, value)))
}

/// The person clicked Allow or Deny.
async fn authorize_decision(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Redirect, AuthorizeError> {
    let params = Params::parse(&body);
    let sandbox = sandbox(&state);
    let request = check_authorize(sandbox, &params)?;
    let decision = params.get("decision").ok().flatten();
    let back = |error, description| AuthorizeError::Redirect {
        uri: request.redirect_uri.clone(),
        state: request.state.clone(),
        error,
        description,
    };
    match decision {
        Some("allow") => {
            let code = sandbox.issue_code(&request).ok_or_else(|| {
                back(
                    "temporarily_unavailable",
                    "too many pending codes; try again later",
                )
            })?;
            let mut pairs = vec![("code", code)];
            if let Some(state) = &request.state {
                pairs.push(("state", state.clone()));
            }
            Ok(Redirect::to(&with_query(&request.redirect_uri, &pairs)))
        }
        Some("deny") => Err(back(
            "access_denied",
            if prefers_russian(&headers) {
                "Пользователь отказал в доступе"
            } else {
                "The user denied access"
            },
        )),
        _ => Err(AuthorizeError::Page("Choose Allow or Deny.".into())),
    }
}

/// The token endpoint, answering as Yandex's does.
async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let sandbox = sandbox(&state);
    sandbox
        .token_calls
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let (login, client_id) = match redeem(sandbox, &headers, &body) {
        Ok(issue) => issue,
        Err(error) => return error.into_response(),
    };
    let account = Account {
        login,
        client_id,
        expires: Instant::now() + Duration::from_secs(TOKEN_LIFETIME_SECS),
    };
    let Some((access_token, refresh_token)) = sandbox.issue_tokens(account) else {
        return TokenError::new(
            "temporarily_unavailable",
            "the sandbox holds too many tokens; restart tokenbridge",
        )
        .into_response();
    };
    let token = json!({
        "token_type": "bearer",
        "access_token": access_token,
        "expires_in": TOKEN_LIFETIME_SECS,
        "refresh_token": refresh_token,
    });
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(token),
    )
        .into_response()
}

/// Revokes an access token (Yandex's `POST /revoke_token`); the sandbox can always.
async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let sandbox = sandbox(&state);
    let params = Params::parse(&body);
    if let Err(error) = authenticate_client(sandbox, &headers, &params) {
        return error.into_response();
    }
    let Some(token) = params.get("access_token").ok().flatten() else {
        return TokenError::new("invalid_request", "access_token is missing").into_response();
    };
    match lock(&sandbox.tokens).remove(token) {
        Some(account) => {
            lock(&sandbox.refresh_tokens).retain(|_, a| a.login != account.login);
            Json(json!({ "status": "ok" })).into_response()
        }
        None => TokenError::new("invalid_token", "Unknown token").into_response(),
    }
}

/// Whose token this is, in the shape of `GET https://login.yandex.ru/info?format=json`.
async fn user_info(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("OAuth ")
                .or_else(|| v.strip_prefix("Bearer "))
        })
        .map(str::trim);
    let Some(account) = token.and_then(|t| sandbox(&state).account(t)) else {
        let error = json!({ "error": "invalid_token", "error_description": "Missing or unknown OAuth token" });
        return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
    };
    let digest = Sha256::digest(account.login.as_bytes());
    let id = digest[..8]
        .iter()
        .fold(0u64, |id, b| id << 8 | u64::from(*b))
        % 10_000_000_000;
    Json(json!({
        "id": id.to_string(),
        "login": account.login,
        "client_id": account.client_id,
        "default_email": format!("{}@sandbox.invalid", account.login),
    }))
    .into_response()
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}\
.badge{display:inline-block;background:#fde68a;color:#713f12;border-radius:4px;padding:.1rem .5rem;font-weight:600}\
button{font-size:1rem;padding:.6rem 1.4rem;border-radius:6px;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;cursor:pointer}\
button.secondary{background:#fff;color:#1d4ed8}button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}\
.error{color:#b91c1c}";

/// A Yandex-shaped token error.
struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
}

impl TokenError {
    fn new(error: &'static str, description: &'static str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description,
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response()
    }
}

/// Checks a token request and says whose token to issue: the login and the client id.
fn redeem(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, String), TokenError> {
    let params = Params::parse(body);
    let get = |name: &'static str| {
        params
            .get(name)
            .map_err(|_| TokenError::new("invalid_request", "a parameter is given more than once"))
    };
    let grant_type = get("grant_type")?
        .ok_or_else(|| TokenError::new("invalid_request", "grant_type is missing"))?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(TokenError::new(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ));
    }
    let client_id = authenticate_client(sandbox, headers, &params)?;

    if grant_type == "refresh_token" {
        let refresh = get("refresh_token")?
            .ok_or_else(|| TokenError::new("invalid_request", "refresh_token is missing"))?;
        // Refresh tokens rotate: each works once.
        let account = lock(&sandbox.refresh_tokens)
            .remove(refresh)
            .filter(|account| account.client_id == client_id)
            .ok_or_else(|| TokenError::new("invalid_grant", "Invalid refresh token"))?;
        return Ok((account.login, account.client_id));
    }

    let code = get("code")?.ok_or_else(|| TokenError::new("invalid_request", "code is missing"))?;
    let grant = sandbox
        .redeem(code)
        .ok_or_else(|| TokenError::new("bad_verification_code", "Invalid code"))?;
    if grant.client_id != client_id {
        return Err(TokenError::new("bad_verification_code", "Invalid code"));
    }
    if grant.expires <= Instant::now() {
        return Err(TokenError::new("invalid_grant", "Code has expired"));
    }
    if get("redirect_uri")?.is_some_and(|uri| uri != grant.redirect_uri) {
        return Err(TokenError::new(
            "invalid_grant",
            "redirect_uri does not match the one the code was issued for",
        ));
    }
    if let Some(challenge) = &grant.challenge {
        let verifier = get("code_verifier")?
            .ok_or_else(|| TokenError::new("invalid_request", "code_verifier is missing"))?;
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
            return Err(TokenError::new(
                "invalid_grant",
                "code_verifier does not match code_challenge",
            ));
        }
    }
    Ok((grant.login, grant.client_id))
}

/// The client's id, once its credentials (HTTP Basic or form body, not both) check out.
fn authenticate_client(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    params: &Params,
) -> Result<String, TokenError> {
    let get = |name: &'static str| {
        params
            .get(name)
            .map_err(|_| TokenError::new("invalid_request", "a parameter is given more than once"))
    };
    let basic = basic_credentials(headers)?;
    let body_credentials = match (get("client_id")?, get("client_secret")?) {
        (Some(id), secret) => Some((id.to_owned(), secret.map(str::to_owned))),
        (None, Some(_)) => {
            return Err(TokenError::new(
                "invalid_request",
                "client_secret without client_id",
            ));
        }
        (None, None) => None,
    };
    let (client_id, secret, status) = match (basic, body_credentials) {
        (Some(_), Some((_, Some(_)))) => {
            return Err(TokenError::new(
                "invalid_request",
                "client credentials are given twice",
            ));
        }
        (Some((id, secret)), _) => (id, Some(secret), StatusCode::UNAUTHORIZED),
        (None, Some((id, secret))) => (id, secret, StatusCode::BAD_REQUEST),
        (None, None) => return Err(TokenError::new("invalid_client", "Client not found")),
    };
    let secret_ok = secret.is_some_and(|s| {
        bool::from(
            s.as_bytes()
                .ct_eq(sandbox.client_secret.secret().as_bytes()),
        )
    });
    if client_id != sandbox.client_id || !secret_ok {
        return Err(TokenError {
            status,
            ..TokenError::new("invalid_client", "Wrong client secret")
        });
    }
    Ok(client_id)
}

/// `Authorization: Basic` credentials, form-urlencoded inside as RFC 6749 §2.3.1 says.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || TokenError {
        status: StatusCode::UNAUTHORIZED,
        ..TokenError::new("invalid_client", "Malformed Basic credentials")
    };
    let encoded = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or_else(bad)?;
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

fn random_text(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill(buffer.as_mut_slice());
    URL_SAFE_NO_PAD.encode(buffer)
}

fn with_query(uri: &str, pairs: &[(&str, String)]) -> String {
    match Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            url.to_string()
        }
        // The redirect URI was checked against the registered one, which is a valid URL.
        Err(_) => uri.to_owned(),
    }
}

fn escape(text: &str) -> String {
    html_escape::encode_double_quoted_attribute(text).into_owned()
}

/// A whole sandbox page, clearly labelled as the sandbox.
fn page(title: &str, body: &str, ru: bool) -> String {
    let (lang, badge, note) = if ru {
        (
            "ru",
            "Песочница",
            "Имитация Яндекс OAuth. Настоящий аккаунт не используется.",
        )
    } else {
        (
            "en",
            "Sandbox",
            "A stand-in for Yandex OAuth. No real account is involved.",
        )
    };
    format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"{style}\"></head>\
         <body><p><span class=\"badge\">{badge}</span> {note}</p>\
         <h1>{title}</h1>{body}</body></html>",
        title = escape(title),
        style = paths::SANDBOX_STYLE,
    )
}
