//! The browser side of the flow: `/auth/login` starts a sign-in, the provider
//! sends the browser back to `/auth/callback`, and `/auth/logout` forgets the
//! token. Every outcome of the callback ends on `/` with a clean URL; the app
//! reads what happened from `/api/session`.

use std::sync::Arc;

use axum::{
    Router,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use oauth2::AuthorizationCode;
use tokenbridge_shared::{
    ApiError, CSRF_HEADER, ErrorCode, ExchangeLog, FlowOutcome, LogStep, routes as paths,
};

use crate::params::{Duplicate, Params};
use crate::{
    AppState,
    connections::Device,
    error::AppError,
    exchange_log::{Recorder, browser_request},
    flow::{FlowMatch, NewFlow, Transaction, same_state, unmatched_code},
    jar::Jar,
    notice::{self, Text},
    provider::{AuthorizeOptions, Provider},
    sessions::SessionId,
    under_way::Detached,
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

/// Starts a sign-in at `?provider=ID` (the first provider without one): seals a fresh
/// state and PKCE verifier in the flow cookie and sends the browser to the provider.
async fn login(
    State(state): State<AppState>,
    jar: Jar,
    RawQuery(query): RawQuery,
) -> Result<(Jar, Redirect), AppError> {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let chosen = params.get("provider").map_err(duplicate)?;
    let provider = state.connections.provider(chosen)?.clone();
    let options = login_options(&provider, &params)?;
    let authorization = match provider.authorize(&options).await {
        Ok(authorization) => authorization,
        // The provider cannot be asked (an OpenID provider not yet discovered): the page says so.
        Err(error) => {
            tracing::warn!(provider = %provider.id, code = error.code.as_str(), "cannot start a sign-in: {}", error.detail);
            let outcome = FlowOutcome::Failed(ApiError::new(error.code));
            return Ok((state.cookies.set_outcome(jar, &outcome), Redirect::to("/")));
        }
    };
    tracing::info!(provider = %provider.id, "sign-in started");
    let flow = NewFlow {
        state: authorization.state.into_secret(),
        verifier: authorization.verifier,
        provider: provider.id.clone(),
        nonce: authorization.nonce,
        scope: options.scope,
        device_id: authorization.device_id,
        device_name: options.device_name,
    };
    let jar = state.cookies.start_flow(jar, flow);
    Ok((jar, Redirect::to(authorization.url.as_str())))
}

fn duplicate(d: Duplicate) -> AppError {
    AppError::with_message(
        ErrorCode::BadRequest,
        format!("The parameter {} is given more than once.", d.0),
    )
}

fn login_options(provider: &Provider, params: &Params) -> Result<AuthorizeOptions, AppError> {
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
    // OpenID and plain OAuth 2.0 say "ask again" as prompt=consent.
    let force_confirm = match params.get("prompt").map_err(duplicate)? {
        Some("consent") if force_confirm.is_none() => Some("yes"),
        _ => force_confirm,
    };
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
    // Sent to the provider, and the scope and device name saved with the connection: no
    // control characters (PostgreSQL's text cannot even hold a NUL), but the whitespace
    // between a scope's words.
    for (value, parameter, whitespace_allowed) in [
        (&scope, "scope", true),
        (&optional_scope, "optional_scope", true),
        (&login_hint, "login_hint", false),
        (&device_name, "device_name", false),
    ] {
        if value.as_deref().is_some_and(|v| {
            v.chars()
                .any(|c| c.is_control() && !(whitespace_allowed && c.is_whitespace()))
        }) {
            let but = if whitespace_allowed {
                " other than spaces, tabs and line breaks"
            } else {
                " (such as a NUL, a tab or a line break)"
            };
            return Err(AppError::with_message(
                ErrorCode::BadRequest,
                format!("The parameter {parameter} may not contain control characters{but}."),
            ));
        }
    }
    let force_confirm = match force_confirm {
        None => provider.force_confirm(),
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
            .or_else(|| provider.scope().map(str::to_owned)),
        optional_scope: optional_scope
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty()),
        force_confirm,
        login_hint: login_hint.filter(|h| !h.is_empty()),
        device_name,
    })
}

/// Where the provider sends the browser back. A callback that matches one of this
/// browser's sign-ins spends its state, exchanges the code, saves the connection, starts
/// a fresh session, and goes home, where the page reads the outcome. One that matches
/// none (a forged link, a replay, another browser's sign-in) gets a page of its own and
/// changes nothing this browser holds.
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: Jar,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or_default().as_bytes());
    // A duplicated state is as untrustworthy as a missing one.
    let Some(state_param) = params.get("state").ok().flatten() else {
        let code = if state.cookies.any_flow(&jar) {
            ErrorCode::InvalidCallback
        } else {
            ErrorCode::StateMissing
        };
        return unmatched(code, &headers);
    };
    let (jar, found) = state.cookies.take_flow(jar, state_param);
    let transaction = match found {
        FlowMatch::Matched(transaction) => transaction,
        FlowMatch::Unmatched { others_in_progress } => {
            let spent = state
                .sessions
                .state_spent(state_param)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "cannot ask the store whether a state was spent");
                    false
                });
            return unmatched(unmatched_code(spent, others_in_progress), &headers);
        }
    };

    let device = transaction
        .device_id
        .as_deref()
        .zip(transaction.device_name.as_deref());
    let provider = state
        .connections
        .provider(Some(&transaction.provider))
        .ok()
        .cloned();
    let mut entries = Vec::new();
    if let Some(provider) = &provider
        && let Some((url, params)) = provider
            .authorize_request_of(
                &transaction.state,
                &transaction.verifier,
                transaction.scope.as_deref(),
                device,
            )
            .await
    {
        let params = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        entries.push(browser_request(LogStep::AuthorizeRequest, url, params));
    }
    let recorder = Recorder::default();
    let result = match &provider {
        Some(provider) => {
            complete(
                &state,
                provider,
                &jar,
                &params,
                state_param,
                transaction,
                &recorder,
            )
            .await
        }
        None => {
            tracing::warn!("sign-in failed: its provider is no longer configured");
            Err(ApiError::new(ErrorCode::UnknownProvider))
        }
    };
    entries.push(browser_request(
        LogStep::Callback,
        state.config.redirect_url().into(),
        params.pairs(),
    ));
    entries.extend(recorder.take());
    let mut jar = state.cookies.set_log(jar, ExchangeLog { entries });
    let outcome = match result {
        Ok(session) => {
            jar =
                state
                    .cookies
                    .set_session(jar, &session, state.sessions.lifetimes().absolute_secs);
            FlowOutcome::Connected
        }
        Err(error) => FlowOutcome::Failed(error),
    };
    let jar = state.cookies.set_outcome(jar, &outcome);
    (jar, Redirect::to("/")).into_response()
}

/// The answer to a callback that matches none of this browser's sign-ins: a page that
/// says so, in the browser's language, and no cookie touched.
fn unmatched(code: ErrorCode, headers: &HeaderMap) -> Response {
    tracing::warn!(
        code = code.as_str(),
        "sign-in failed: the callback does not match a sign-in of this browser"
    );
    let advice = match code {
        ErrorCode::StateReplayed => Text {
            en: code.message(),
            ru: "Эта ссылка входа уже использована. Начните вход заново.",
        },
        ErrorCode::StateMismatch => Text {
            en: code.message(),
            ru: "Ссылка не относится ко входу, начатому в этом браузере. Завершите вход в той вкладке, где его начали, или начните заново.",
        },
        _ => Text {
            en: code.message(),
            ru: "Вход не был начат в этом браузере (или уже завершён). Начните его кнопкой «Подключить».",
        },
    };
    notice::page(
        StatusCode::BAD_REQUEST,
        notice::prefers_russian(headers),
        Text {
            en: "This sign-in can't be finished here",
            ru: "Этот вход нельзя завершить здесь",
        },
        advice,
        code.as_str(),
    )
}

/// Checks this browser's sign-in against the callback and exchanges its code; the token
/// exchange goes into `recorder`. The new session's id on success.
async fn complete(
    state: &AppState,
    provider: &Arc<Provider>,
    jar: &Jar,
    params: &Params,
    state_param: &str,
    transaction: Transaction,
    recorder: &Recorder,
) -> Result<SessionId, ApiError> {
    let fail = |code: ErrorCode, detail: &str| {
        tracing::warn!(code = code.as_str(), "sign-in failed: {detail}");
        ApiError::new(code)
    };
    // The cookie was found by a hash of the state; the whole state must still match.
    if !same_state(&transaction, state_param) {
        return Err(fail(
            ErrorCode::StateMismatch,
            "the state differs from the sign-in's",
        ));
    }
    if transaction.expired() {
        return Err(fail(ErrorCode::StateExpired, "the sign-in expired"));
    }
    // Spent once, everywhere: a copy of this browser's cookies replayed on another
    // instance, or after a restart, finds the state spent.
    match state
        .sessions
        .spend_state(state_param, transaction.expires_at())
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err(fail(ErrorCode::StateReplayed, "the state was spent before")),
        Err(error) => {
            tracing::warn!(%error, "cannot record the spent state");
            return Err(ApiError::new(if error.is_unavailable() {
                ErrorCode::StoreUnavailable
            } else {
                ErrorCode::Internal
            }));
        }
    }

    let (Ok(error), Ok(description), Ok(code), Ok(iss)) = (
        params.get("error"),
        params.get("error_description"),
        params.get("code"),
        params.get("iss"),
    ) else {
        return Err(fail(
            ErrorCode::InvalidCallback,
            "a callback parameter is duplicated",
        ));
    };
    // Mix-up defence (RFC 9207): the answer must come from the sign-in's own provider.
    if let Some(iss) = iss
        && state
            .connections
            .providers()
            .names_another(&provider.id, iss)
    {
        return Err(fail(
            ErrorCode::IssuerMismatch,
            "the callback names the issuer of another configured provider",
        ));
    }
    provider.check_callback_issuer(iss).await.map_err(|error| {
        tracing::warn!(
            code = error.code.as_str(),
            "sign-in failed: {}",
            error.detail
        );
        ApiError::new(error.code)
    })?;
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
            "the provider ended the sign-in: {}",
            words.escape_debug()
        );
        return Err(ApiError::new(code).with_provider_message(Some(words)));
    }
    let Some(code) = code else {
        return Err(fail(ErrorCode::InvalidCallback, "the callback has no code"));
    };
    if code.len() > MAX_CODE {
        return Err(fail(
            ErrorCode::InvalidCallback,
            "the callback's code is too long",
        ));
    }

    // Once the code has gone to the provider, it is spent: the token the provider issues for
    // it is saved even if this request goes meanwhile (the page closed, the browser gave up,
    // the request's own timeout), so that no one's token stays valid unheld. Scripts then
    // find the connection, and a new sign-in to the same account finds it too.
    let current = state.cookies.session_id(jar);
    let code = AuthorizationCode::new(code.to_owned());
    let (app, provider, recorder) = (state.clone(), provider.clone(), recorder.clone());
    state
        .connections
        .finished_even_if_dropped(move |detached| {
            exchange_and_connect(
                app,
                provider,
                code,
                transaction,
                current,
                recorder,
                detached,
            )
        })
        .await
}

/// Exchanges a sign-in's `code` at `provider`, recording it in `recorder`, and saves the
/// connection under a new session, to which the browser's `current` session's sight moves;
/// the new session's id. Once `detached` (the request gone, so that the new session's cookie
/// will never reach the browser), the browser's session is left as it is rather than ended.
async fn exchange_and_connect(
    state: AppState,
    provider: Arc<Provider>,
    code: AuthorizationCode,
    transaction: Transaction,
    current: Option<SessionId>,
    recorder: Recorder,
    detached: Detached,
) -> Result<SessionId, ApiError> {
    let token = provider
        .exchange(
            code,
            transaction.verifier,
            transaction.scope,
            transaction.nonce.as_deref(),
            &recorder,
        )
        .await
        .map_err(|error| {
            tracing::warn!(
                code = error.code.as_str(),
                "token exchange failed: {}",
                error.detail
            );
            ApiError::new(error.code).with_provider_message(error.provider_message)
        })?;

    // Every sign-in gets a fresh session id (no fixation); what the browser's live
    // session saw moves to it.
    let current = match current {
        Some(id) => state.sessions.find(&id).await.unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read the browser's session; starting afresh");
            None
        }),
        None => None,
    };
    let id = SessionId::random();
    let session = state.sessions.successor(&id, current.as_ref());
    let device = Device {
        id: transaction.device_id,
        name: transaction.device_name,
    };
    match state
        .connections
        .connect(&provider, token, session, device, &detached)
        .await
    {
        Ok(connection) => {
            tracing::info!(
                provider = %provider.id,
                connection = %connection.id,
                expires_at = connection.expires_at,
                refresh_token = connection.holds_refresh_token,
                "sign-in completed"
            );
            Ok(id)
        }
        Err(error) => {
            tracing::warn!(
                code = error.code.as_str(),
                "the token was not saved: {}",
                error.detail
            );
            Err(ApiError::new(error.code).with_provider_message(error.provider_message))
        }
    }
}

/// Signs out: the session ends on the server, and every tokenbridge cookie is cleared.
/// Needs the app's anti-forgery header.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: Jar,
) -> Result<(Jar, StatusCode), AppError> {
    if !headers.contains_key(CSRF_HEADER) {
        return Err(AppError::new(ErrorCode::CsrfRejected));
    }
    if let Some(id) = state.cookies.session_id(&jar) {
        // Said in the log by the conversion, as every store failure of the API is.
        state.sessions.end(&id).await.map_err(AppError::from)?;
    }
    tracing::info!("signed out");
    Ok((state.cookies.clear_all(jar), StatusCode::NO_CONTENT))
}
