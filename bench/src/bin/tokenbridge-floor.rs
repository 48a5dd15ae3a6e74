//! The floor the benchmark measures tokenbridge against: a server built from the same
//! parts (tokio's multi-threaded runtime, hyper's HTTP/1 connections as tokenbridge
//! serves them, axum's router, one reqwest client, mimalloc) that answers the same
//! requests with the same network pattern and nothing else — no state, no PKCE, no
//! sealed cookies, no store, no exchange log:
//! - `GET /auth/login`: a 303 to the provider's authorize URL, with a cookie;
//! - `GET /auth/callback`: the token POST and the user info GET to the provider, then a
//!   303 home with a cookie;
//! - `GET /api/session` and `GET /api/v1/connections/{login}/token`: a token as JSON.
//!
//! Its CPU per operation is what those exchanges cost on this machine with these
//! crates; tokenbridge's CPU less the floor's is what tokenbridge's own work costs.
//! Usage: `tokenbridge-floor LISTEN_ADDR PROVIDER_ADDR` (the benchmark starts it).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, RawQuery, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
struct Floor {
    http: reqwest::Client,
    provider: SocketAddr,
    base: String,
    flows: Arc<AtomicU64>,
}

/// As long as a PKCE verifier tokenbridge sends.
const CODE_VERIFIER: &str = "floor-verifier-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

/// About the size of tokenbridge's sealed cookies of a sign-in and a session (not of its
/// exchange log, which is tokenbridge's own work).
const COOKIE_VALUE: &str = "floorAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn see_other(location: &str, cookie: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{cookie}={COOKIE_VALUE}; HttpOnly; SameSite=Lax; Path=/; Max-Age=600"
    )) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn login(State(floor): State<Floor>) -> Response {
    let n = floor.flows.fetch_add(1, Ordering::Relaxed);
    let location = format!(
        "http://{}/authorize?response_type=code&client_id=bench-client&redirect_uri={}/auth/callback&state=floor-{n}",
        floor.provider, floor.base
    );
    see_other(&location, "floor_flow")
}

async fn callback(State(floor): State<Floor>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let code = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("code="))
        .unwrap_or_default();
    let token: Value = match floor
        .http
        .post(format!("http://{}/token", floor.provider))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &format!("{}/auth/callback", floor.base)),
            ("code_verifier", CODE_VERIFIER),
            ("client_id", "bench-client"),
            ("client_secret", "bench-secret-not-a-real-one"),
        ])
        .send()
        .await
    {
        Ok(response) => response.json().await.unwrap_or_default(),
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let access = token["access_token"].as_str().unwrap_or_default();
    let info: Value = match floor
        .http
        .get(format!("http://{}/info", floor.provider))
        .header(header::AUTHORIZATION, format!("Bearer {access}"))
        .send()
        .await
    {
        Ok(response) => response.json().await.unwrap_or_default(),
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    if info["id"].is_null() {
        return StatusCode::BAD_GATEWAY.into_response();
    }
    see_other("/", "floor_session")
}

fn token() -> Json<Value> {
    Json(json!({
        "token": {
            "access_token": "floor-token-0123456789abcdef0123456789abcdef",
            "token_type": "bearer",
            "expires_at": 2_000_000_000,
        }
    }))
}

async fn session() -> Json<Value> {
    token()
}

async fn read(Path(_login): Path<String>) -> Json<Value> {
    token()
}

async fn list() -> Json<Value> {
    Json(json!([{ "login": "floor" }]))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(Ok(listen)), Some(Ok(provider))) = (
        args.next().map(|a| a.parse::<SocketAddr>()),
        args.next().map(|a| a.parse::<SocketAddr>()),
    ) else {
        eprintln!("usage: tokenbridge-floor LISTEN_ADDR PROVIDER_ADDR");
        return std::process::ExitCode::FAILURE;
    };
    let http = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            eprintln!("tokenbridge-floor: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let floor = Floor {
        http,
        provider,
        base: format!("http://{listen}"),
        flows: Arc::default(),
    };
    let router = Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/api/session", get(session))
        .route("/api/v1/connections", get(list))
        .route("/api/v1/connections/{login}/token", get(read))
        .with_state(floor);
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("tokenbridge-floor: cannot listen on {listen}: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Connections served as tokenbridge's server.rs serves them.
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    // Stopped by SIGTERM, as the benchmark stops its servers, it returns from `main`: a build
    // instrumented for profile-guided optimisation writes its profile as it exits.
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        eprintln!("tokenbridge-floor: cannot listen for SIGTERM");
        return std::process::ExitCode::FAILURE;
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = terminate.recv() => return std::process::ExitCode::SUCCESS,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors, say: wait a moment rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}
