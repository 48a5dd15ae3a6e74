//! The browser side of the flow: `/auth/login` starts a sign-in, the provider
//! sends the browser back to `/auth/callback`, and `/auth/logout` forgets the
//! token. Every outcome of the callback ends on `/` with a clean URL; the app
//! reads what happened from `/api/session`.

use axum::{
    Router,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::Redirect,
    routing::{get, post},
};
use axum_extra::extract::PrivateCookieJar;
use oauth2::AuthorizationCode;
use tokenbridge_shared::{
    ApiError, CSRF_HEADER, ErrorCode, ExchangeLog, FlowOutcome, LogEntry, LogStep, routes as paths,
};

use super::Params;
use crate::{
    AppState,
    connections::Device,
    error::AppError,
    exchange_log::{Recorder, browser_request},
    flow::NewFlow,
    oauth::AuthorizeOptions,
};

const MAX_LOGIN_HINT: usize = 256;
const MAX_SCOPE: usize = 2048;
/// Yandex's codes are 7 digits, other providers' a few hundred characters at most.
const MAX_CODE: usize = 2048;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::LOGIN, get(login))
        .route(paths::CALLBACK, get(callback))
        .route(paths::LOGOUT, post(logout))
}

/// Starts a sign-in: seals a fresh state and PKCE verifier in the flow cookie
/// and sends the browser to the provider.
async fn login(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    RawQuery(query): RawQuery,
) -> Result<(PrivateCookieJar, Redirect), AppError> {
    let options = login_options(&state, &Params::parse(query.unwrap_or_default().as_bytes()))?;
    let authorization = state.oauth.authorize(&options);
    tracing::info!(provider = state.config.provider.as_str(), "sign-in started");
    let flow = NewFlow {
        authorize_log: browser_request(LogStep::AuthorizeRequest, &authorization.url),
        state: authorization.state.into_secret(),
        verifier: authorization.verifier,
        scope: options.scope,
        device_id: authorization.device_id,
        device_name: options.device_name,
    };
    let jar = state.cookies.start_flow(jar, flow);
    Ok((jar, Redirect::to(authorization.url.as_str())))
}

fn login_options(state: &AppState, params: &Params) -> Result<AuthorizeOptions, AppError> {
    let duplicate = |d: super::Duplicate| {
        AppError::with_message(
            ErrorCode::BadRequest,
            format!("The parameter {} is given more than once.", d.0),
        )
    };
    let scope = params.get("scope").map_err(duplicate)?.map(str::to_owned);
    let optional_scope = params
        .get("optional_scope")
        .map_err(duplicate)?
        .map(str::to_owned);
    if optional_scope.as_ref().is_some_and(|s| s.len() > MAX_SCOPE) {
        return Err(AppError::with_message(
            ErrorCode::BadRequest,
            "The optional scope is too long.",
        ));
    }
    let login_hint = params
        .get("login_hint")
        .map_err(duplicate)?
        .map(str::trim)
        .map(str::to_owned);
    let force_confirm = params.get("force_confirm").map_err(duplicate)?;
    let device_name = params
        .get("device_name")
        .map_err(duplicate)?
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if device_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > 100)
    {
        return Err(AppError::with_message(
            ErrorCode::BadRequest,
            "The device name is too long (100 characters at most).",
        ));
    }
    if scope.as_ref().is_some_and(|s| s.len() > MAX_SCOPE) {
        return Err(AppError::with_message(
            ErrorCode::BadRequest,
            "The scope is too long.",
        ));
    }
    if login_hint
        .as_ref()
        .is_some_and(|h| h.len() > MAX_LOGIN_HINT)
    {
        return Err(AppError::with_message(
            ErrorCode::BadRequest,
            "The login hint is too long.",
        ));
    }
    let force_confirm = match force_confirm {
        None => state.config.force_confirm,
        Some("1" | "yes" | "true" | "on") => true,
        Some("0" | "no" | "false" | "off") => false,
        Some(_) => {
            return Err(AppError::with_message(
                ErrorCode::BadRequest,
                "force_confirm must be yes or no.",
            ));
        }
    };
    Ok(AuthorizeOptions {
        scope: scope
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty())
            .or_else(|| state.config.scope.clone()),
        optional_scope: optional_scope
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty()),
        force_confirm,
        login_hint: login_hint.filter(|h| !h.is_empty()),
        device_name,
    })
}

/// Where the provider sends the browser back. Checks the state, exchanges the
/// code, keeps the token in this browser's sealed session cookie, and goes home.
async fn callback(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    RawQuery(query): RawQuery,
) -> (PrivateCookieJar, Redirect) {
    let params = Params::parse(query.as_deref().unwrap_or_default().as_bytes());
    let recorder = Recorder::default();
    let mut entries = Vec::new();
    let (jar, result) = complete(&state, jar, &params, &recorder, &mut entries).await;
    let mut callback_url = state.config.redirect_url();
    callback_url.set_query(query.as_deref());
    entries.push(browser_request(LogStep::Callback, &callback_url));
    entries.extend(recorder.entries());
    let jar = state.cookies.set_log(jar, &ExchangeLog { entries });
    let outcome = match result {
        Ok(()) => FlowOutcome::Connected,
        Err(error) => FlowOutcome::Failed(error),
    };
    let jar = state.cookies.set_outcome(jar, &outcome);
    (jar, Redirect::to("/"))
}

/// Checks the callback and exchanges its code; the authorize request goes into `log`
/// when this browser's sign-in is found, and the token exchange into `recorder`.
async fn complete(
    state: &AppState,
    jar: PrivateCookieJar,
    params: &Params,
    recorder: &Recorder,
    log: &mut Vec<LogEntry>,
) -> (PrivateCookieJar, Result<(), ApiError>) {
    let fail = |code: ErrorCode, detail: &str| {
        tracing::warn!(code = code.as_str(), "sign-in failed: {detail}");
        ApiError::new(code)
    };
    // A duplicated parameter is as untrustworthy as a missing one.
    let state_param = params.get("state").ok().flatten();
    let (jar, transaction) = state.cookies.finish_flow(jar, state_param);
    let transaction = match transaction {
        Ok(transaction) => {
            log.extend(transaction.authorize_log.clone());
            transaction
        }
        Err(code) => {
            return (
                jar,
                Err(fail(
                    code,
                    "the callback does not match a sign-in of this browser",
                )),
            );
        }
    };

    let (Ok(error), Ok(description), Ok(code)) = (
        params.get("error"),
        params.get("error_description"),
        params.get("code"),
    ) else {
        return (
            jar,
            Err(fail(
                ErrorCode::InvalidCallback,
                "a callback parameter is duplicated",
            )),
        );
    };
    if let Some(error) = error {
        let code = if error == "access_denied" {
            ErrorCode::AccessDenied
        } else {
            ErrorCode::AuthorizationFailed
        };
        let words: String = description.unwrap_or(error).chars().take(500).collect();
        tracing::warn!(
            code = code.as_str(),
            provider_error = error,
            "the provider ended the sign-in: {words}"
        );
        return (
            jar,
            Err(ApiError::new(code).with_provider_message(Some(words))),
        );
    }
    let Some(code) = code else {
        return (
            jar,
            Err(fail(ErrorCode::InvalidCallback, "the callback has no code")),
        );
    };
    if code.len() > MAX_CODE {
        return (
            jar,
            Err(fail(
                ErrorCode::InvalidCallback,
                "the callback's code is too long",
            )),
        );
    }

    match state
        .oauth
        .exchange(
            AuthorizationCode::new(code.to_owned()),
            transaction.verifier,
            transaction.scope,
            recorder,
        )
        .await
    {
        Ok(token) => {
            let (jar, browser) = state.cookies.ensure_browser(jar);
            let device = Device {
                id: transaction.device_id,
                name: transaction.device_name,
            };
            match state
                .connections
                .connect(&state.oauth, token, &browser, device)
                .await
            {
                Ok(connection) => {
                    tracing::info!(
                        provider = state.config.provider.as_str(),
                        connection = %connection.id,
                        expires_at = connection.expires_at,
                        refresh_token = connection.refresh_token.is_some(),
                        "sign-in completed"
                    );
                    (jar, Ok(()))
                }
                Err(error) => {
                    tracing::warn!(
                        code = error.code.as_str(),
                        "the token was not saved: {}",
                        error.detail
                    );
                    (
                        jar,
                        Err(ApiError::new(error.code).with_provider_message(error.provider_message)),
                    )
                }
            }
        }
        Err(error) => {
            tracing::warn!(
                code = error.code.as_str(),
                "token exchange failed: {}",
                error.detail
            );
            (
                jar,
                Err(ApiError::new(error.code).with_provider_message(error.provider_message)),
            )
        }
    }
}

/// Forgets the token in this browser. Needs the app's anti-forgery header.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: PrivateCookieJar,
) -> Result<(PrivateCookieJar, StatusCode), AppError> {
    if !headers.contains_key(CSRF_HEADER) {
        return Err(AppError::new(ErrorCode::CsrfRejected));
    }
    tracing::info!("signed out");
    Ok((state.cookies.clear_session(jar), StatusCode::NO_CONTENT))
}
