//! The JSON API: what the page reads (`/api/session`), what a session does to the
//! connections it sees (`/api/connections/…`), what an operator does to any
//! (`/api/operator/connections/…`), and what scripts use with the API key (`/api/v1/…`).

use axum::{
    Json, Router,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, header},
    routing::{delete, get, post},
};
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;
use tokenbridge_shared::{
    ApiError, CSRF_HEADER, ConnectionSummary, ConnectionView, Disconnected, ErrorCode, FreshToken,
    SessionView, routes as paths,
};

use crate::{
    AppState,
    connections::{ConnectionError, token_view},
    error::AppError,
    jar::Jar,
    limits::{ClientIp, too_many},
    params::Params,
    sessions::Session,
    store::Connection,
    store::StoreError,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::SESSION, get(session))
        .route(paths::HEALTH, get(health))
        .route(paths::READY, get(ready))
        .route(
            &format!("{}/{{id}}/refresh", paths::CONNECTIONS),
            post(refresh),
        )
        .route(
            &format!("{}/{{id}}", paths::CONNECTIONS),
            delete(disconnect),
        )
        .route(
            &format!("{}/{{id}}/refresh", paths::OPERATOR_CONNECTIONS),
            post(operator_refresh),
        )
        .route(
            &format!("{}/{{id}}", paths::OPERATOR_CONNECTIONS),
            delete(operator_disconnect),
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

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        ConnectionError::from(error).into()
    }
}

/// The live session this browser's cookie names, if any.
async fn live_session(state: &AppState, jar: &Jar) -> Result<Option<Session>, AppError> {
    match state.cookies.session_id(jar) {
        Some(id) => Ok(state.sessions.find(&id).await?),
        None => Ok(None),
    }
}

/// The live session this browser's cookie names and the connections it sees: one query.
async fn session_seeing(
    state: &AppState,
    jar: &Jar,
) -> Result<Option<(Session, Vec<Connection>)>, AppError> {
    match state.cookies.session_id(jar) {
        Some(id) => Ok(state.connections.session(&state.sessions, &id).await?),
        None => Ok(None),
    }
}

/// What this browser's session sees, and how its last sign-in ended (reported once).
async fn session(
    State(state): State<AppState>,
    jar: Jar,
) -> Result<(Jar, Json<SessionView<Box<RawValue>>>), AppError> {
    let session = session_seeing(&state, &jar).await?;
    let signed_in = session.is_some();
    let connections = session.map(|(_, own)| own).unwrap_or_default();
    let operator = signed_in
        && state
            .sessions
            .is_operator(&connections, |c| state.connections.kind_of(c));
    let everyone = if operator {
        state.connections.all().await?
    } else {
        Vec::new()
    };
    // A cookie whose session ended (signed out, expired) is dropped.
    let jar = if !signed_in && state.cookies.session_id(&jar).is_some() {
        state.cookies.clear_session(jar)
    } else {
        jar
    };
    let (jar, outcome) = state.cookies.take_outcome(jar);
    let providers = state.connections.providers();
    let first = providers.first();
    let view = SessionView {
        provider: first.map_or(tokenbridge_shared::ProviderKind::Sandbox, |p| p.kind),
        default_scope: first.and_then(|p| p.scope().map(str::to_owned)),
        providers: providers.views(),
        token: connections
            .iter()
            .find(|c| c.status != crate::store::Status::Unreadable)
            .map(token_view),
        connections: connections
            .iter()
            .map(|c| state.connections.view(c))
            .collect(),
        outcome,
        exchange_log: state.cookies.log(&jar),
        signed_in,
        operator,
        all_connections: everyone
            .iter()
            .map(|c| state.connections.summary(c))
            .collect(),
    };
    Ok((jar, Json(view)))
}

/// A state-changing call must carry the header only the page's own script sends.
fn from_the_page(headers: &HeaderMap) -> Result<(), AppError> {
    if headers.contains_key(CSRF_HEADER) {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::CsrfRejected))
    }
}

/// The live session behind a state-changing call from the page.
async fn calling_session(
    state: &AppState,
    headers: &HeaderMap,
    jar: &Jar,
) -> Result<Session, AppError> {
    from_the_page(headers)?;
    live_session(state, jar)
        .await?
        .ok_or(AppError::new(ErrorCode::ConnectionNotFound))
}

/// A connection this browser's session sees, for a state-changing call from the page.
async fn owned(state: &AppState, headers: &HeaderMap, jar: &Jar, id: &str) -> Result<(), AppError> {
    let session = calling_session(state, headers, jar).await?;
    // Another person's connection is as absent as one that does not exist.
    if !state.connections.sees(&session, id).await? {
        return Err(AppError::new(ErrorCode::ConnectionNotFound));
    }
    Ok(())
}

/// The call comes from an operator's session; to anyone else these routes do not exist.
async fn operator(state: &AppState, headers: &HeaderMap, jar: &Jar) -> Result<(), AppError> {
    from_the_page(headers)?;
    let (_, own) = session_seeing(state, jar)
        .await?
        .ok_or(AppError::new(ErrorCode::ConnectionNotFound))?;
    if !state
        .sessions
        .is_operator(&own, |c| state.connections.kind_of(c))
    {
        return Err(AppError::new(ErrorCode::ConnectionNotFound));
    }
    Ok(())
}

async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: Jar,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, AppError> {
    owned(&state, &headers, &jar, &id).await?;
    let connection = state.connections.refresh(&id).await?;
    Ok(Json(state.connections.view(&connection)))
}

async fn disconnect(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: Jar,
    Path(id): Path<String>,
) -> Result<Json<Disconnected>, AppError> {
    owned(&state, &headers, &jar, &id).await?;
    Ok(Json(state.connections.disconnect(&id).await?))
}

/// An operator refreshes anyone's connection; the answer never carries the token.
async fn operator_refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: Jar,
    Path(id): Path<String>,
) -> Result<Json<ConnectionSummary>, AppError> {
    operator(&state, &headers, &jar).await?;
    let connection = state.connections.refresh(&id).await?;
    Ok(Json(state.connections.summary(&connection)))
}

async fn operator_disconnect(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: Jar,
    Path(id): Path<String>,
) -> Result<Json<Disconnected>, AppError> {
    operator(&state, &headers, &jar).await?;
    Ok(Json(state.connections.disconnect(&id).await?))
}

/// A scripts-API request that presented `Authorization: Bearer <TOKENBRIDGE_API_KEY>`.
/// A wrong key is refused with 401 and costs its address a tenth of its minute's budget;
/// past the budget the answer is 429 with `Retry-After`, whatever key comes next.
struct ScriptKey;

impl axum::extract::FromRequestParts<AppState> for ScriptKey {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let Some(key) = &state.config.api_key else {
            return Err(AppError::new(ErrorCode::ApiDisabled).into_response());
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if bool::from(presented.trim().as_bytes().ct_eq(key.secret().as_bytes())) {
            return Ok(Self);
        }
        let ip = parts
            .extensions
            .get::<ClientIp>()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0);
        match state.limits.api_failure(ip) {
            Ok(()) => Err(AppError::new(ErrorCode::Unauthorized).into_response()),
            Err(limited) => Err(too_many(limited, parts.uri.path(), &parts.headers)),
        }
    }
}

async fn list_for_script(
    _: ScriptKey,
    State(state): State<AppState>,
) -> Result<Json<Vec<ConnectionSummary>>, AppError> {
    let connections = state.connections.all().await?;
    Ok(Json(
        connections
            .iter()
            .map(|c| state.connections.summary(c))
            .collect(),
    ))
}

/// A fresh token for `login`; `?provider=ID` names the provider when the login is
/// connected at more than one.
async fn token_for_script(
    _: ScriptKey,
    State(state): State<AppState>,
    Path(login): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<FreshToken>, AppError> {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let provider = params.get("provider").map_err(|d| {
        AppError::with_message(
            ErrorCode::BadRequest,
            format!("The parameter {} is given more than once.", d.0),
        )
    })?;
    let connection = state.connections.fresh_by_login(&login, provider).await?;
    Ok(Json(FreshToken {
        login: connection.login,
        access_token: connection.access_token.into_secret(),
        token_type: connection.token_type,
        expires_at: connection.expires_at,
    }))
}

/// Readiness, for a load balancer: the store answers and every OpenID provider has been
/// discovered. 503 (with what is missing) otherwise; `/healthz` stays a liveness check.
async fn ready(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let store = match state.connections.ping().await {
        Ok(()) => None,
        Err(error) => {
            tracing::warn!(
                code = error.code.as_str(),
                "not ready: the store: {}",
                error.detail
            );
            Some("the store does not answer")
        }
    };
    let mut undiscovered = Vec::new();
    for provider in state.connections.providers().iter() {
        if !provider.is_ready().await {
            undiscovered.push(provider.id.clone());
        }
    }
    if store.is_none() && undiscovered.is_empty() {
        return Json(serde_json::json!({ "status": "ready" })).into_response();
    }
    let mut response = (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({
            "status": "not ready",
            "store": store.unwrap_or("ok"),
            "undiscovered_providers": undiscovered,
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    response
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
