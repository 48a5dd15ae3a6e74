//! A stand-in provider that answers at once over HTTP/1.1 keep-alive: an
//! authorize endpoint that sends the browser straight back, a token endpoint
//! with Yandex-shaped JSON, and user info. It counts the TCP connections it accepts.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Redirect},
    routing::{get, post},
};
use serde_json::json;

#[derive(Clone, Default)]
pub struct Counters {
    pub connections: Arc<AtomicU64>,
    tokens: Arc<AtomicU64>,
}

impl Counters {
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A listener that counts the connections it accepts.
struct Counting {
    listener: tokio::net::TcpListener,
    accepted: Arc<AtomicU64>,
}

impl axum::serve::Listener for Counting {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok((stream, addr)) = self.listener.accept().await {
                self.accepted.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true);
                return (stream, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

pub async fn start() -> std::io::Result<(SocketAddr, Counters)> {
    let counters = Counters::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/info", get(info))
        .with_state(counters.clone());
    let counting = Counting {
        listener,
        accepted: counters.connections.clone(),
    };
    tokio::spawn(async move {
        let _ = axum::serve(counting, app).await;
    });
    Ok((addr, counters))
}

/// Allows at once: back to the callback with a code and the state.
async fn authorize(Query(params): Query<Vec<(String, String)>>) -> Redirect {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut back = reqwest::Url::parse(&get("redirect_uri"))
        .unwrap_or_else(|_| reqwest::Url::parse("http://127.0.0.1/").expect("a valid URL"));
    back.query_pairs_mut()
        .append_pair("code", "1234567")
        .append_pair("state", &get("state"));
    Redirect::to(back.as_str())
}

async fn token(State(counters): State<Counters>) -> impl IntoResponse {
    let n = counters.tokens.fetch_add(1, Ordering::SeqCst);
    Json(json!({
        "token_type": "bearer",
        "access_token": format!("bench-token-{n}"),
        "expires_in": 31_536_000,
        "refresh_token": format!("bench-refresh-{n}"),
    }))
}

/// Each token is its own account, so each flow makes its own connection.
async fn info(headers: HeaderMap) -> impl IntoResponse {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // Yandex's scheme, or the standard one a plain OAuth 2.0 provider is asked with.
        .and_then(|v| {
            v.strip_prefix("OAuth ")
                .or_else(|| v.strip_prefix("Bearer "))
        })
        .unwrap_or("unknown");
    let id = token.rsplit('-').next().unwrap_or("0").to_owned();
    Json(json!({ "id": id, "login": format!("user-{id}"), "client_id": "bench-client" }))
}
