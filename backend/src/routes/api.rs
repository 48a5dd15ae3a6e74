//! The JSON API: what the page reads (`/api/session`), what it does to this
//! browser's connections (`/api/connections/…`), and what scripts use with the
//! API key (`/api/v1/…`).

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, header},
    routing::{delete, get, post},
};
use axum_extra::extract::PrivateCookieJar;
use subtle::ConstantTimeEq;
use tokenbridge_shared::{
    ApiError, CSRF_HEADER, ConnectionSummary, ConnectionView, Disconnected, ErrorCode, FreshToken,
    SessionView, routes as paths,
};

use crate::{
    AppState,
    connections::{ConnectionError, connection_view, summary, token_view},
    error::AppError,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::SESSION, get(session))
        .route(paths::HEALTH, get(health))
        .route(
            &format!("{}/{{id}}/refresh", paths::CONNECTIONS),
            post(refresh),
        )
        .route(
            &format!("{}/{{id}}", paths::CONNECTIONS),
            delete(disconnect),
        )
        .route(paths::API_CONNECTIONS, get(list_for_script))
        .route(
            &format!("{}/{{login}}/token", paths::API_CONNECTIONS),
            get(token_for_script),
        )
}

impl From<ConnectionError> for AppError {
    fn from(error: ConnectionError) -> Self {
        tracing::warn!(code = error.code.as_str(), "{}", error.detail);
        AppError(ApiError::new(error.code).with_provider_message(error.provider_message))
    }
}

/// What this browser holds, and how its last sign-in ended (reported once).
async fn session(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
) -> Result<(PrivateCookieJar, Json<SessionView>), AppError> {
    let connections = match state.cookies.browser(&jar) {
        Some(browser) => state
            .connections
            .store()
            .of_browser(&browser)
            .await
            .map_err(ConnectionError::from)?,
        None => Vec::new(),
    };
    let (jar, outcome) = state.cookies.take_outcome(jar);
    let view = SessionView {
        provider: state.config.provider,
        default_scope: state.config.scope.clone(),
        token: connections.first().map(token_view),
        connections: connections
            .iter()
            .map(|c| connection_view(c, state.config.provider))
            .collect(),
        outcome,
        exchange_log: state.cookies.log(&jar),
    };
    Ok((jar, Json(view)))
}

/// A connection of this browser, for a state-changing call from the page.
async fn owned(
    state: &AppState,
    headers: &HeaderMap,
    jar: &PrivateCookieJar,
    id: &str,
) -> Result<(), AppError> {
    if !headers.contains_key(CSRF_HEADER) {
        return Err(AppError::new(ErrorCode::CsrfRejected));
    }
    let browser = state
        .cookies
        .browser(jar)
        .ok_or(AppError::new(ErrorCode::ConnectionNotFound))?;
    // Another browser's connection is as absent as one that does not exist.
    if !state
        .connections
        .store()
        .is_owner(id, &browser)
        .await
        .map_err(ConnectionError::from)?
    {
        return Err(AppError::new(ErrorCode::ConnectionNotFound));
    }
    Ok(())
}

async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: PrivateCookieJar,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, AppError> {
    owned(&state, &headers, &jar, &id).await?;
    let connection = state.connections.refresh(&state.oauth, &id).await?;
    Ok(Json(connection_view(&connection, state.config.provider)))
}

async fn disconnect(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: PrivateCookieJar,
    Path(id): Path<String>,
) -> Result<Json<Disconnected>, AppError> {
    owned(&state, &headers, &jar, &id).await?;
    Ok(Json(state.connections.disconnect(&state.oauth, &id).await?))
}

/// Scripts present `Authorization: Bearer <TOKENBRIDGE_API_KEY>`.
fn authorize_script(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(key) = &state.config.api_key else {
        return Err(AppError::new(ErrorCode::ApiDisabled));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(presented.trim().as_bytes().ct_eq(key.secret().as_bytes())) {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::Unauthorized))
    }
}

async fn list_for_script(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<ConnectionSummary>>, AppError> {
    authorize_script(&state, &headers)?;
    let connections = state
        .connections
        .store()
        .all()
        .await
        .map_err(ConnectionError::from)?;
    Ok(Json(
        connections
            .iter()
            .map(|c| summary(c, state.config.provider))
            .collect(),
    ))
}

async fn token_for_script(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(login): Path<String>,
) -> Result<Json<FreshToken>, AppError> {
    authorize_script(&state, &headers)?;
    let connection = state
        .connections
        .fresh_by_login(&state.oauth, &login)
        .await?;
    Ok(Json(FreshToken {
        login: connection.login.clone(),
        access_token: connection.access_token.secret().clone(),
        token_type: connection.token_type.clone(),
        expires_at: connection.expires_at,
    }))
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
