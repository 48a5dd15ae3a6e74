//! The JSON API the app reads: the session view, and the health check.

use axum::{Json, Router, extract::State, routing::get};
use axum_extra::extract::PrivateCookieJar;
use tokenbridge_shared::{SessionView, routes as paths};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::SESSION, get(session))
        .route(paths::HEALTH, get(health))
}

/// What this browser holds, and how its last sign-in ended (reported once).
async fn session(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
) -> (PrivateCookieJar, Json<SessionView>) {
    let token = state.cookies.session(&jar).map(|t| t.view());
    let (jar, outcome) = state.cookies.take_outcome(jar);
    let view = SessionView {
        provider: state.config.provider,
        default_scope: state.config.scope.clone(),
        token,
        outcome,
    };
    (jar, Json(view))
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
