//! tokenbridge's backend: a Backend-for-Frontend that runs the OAuth 2.0
//! authorization-code flow (with state and PKCE) for the browser app, holds
//! the client secret, and serves the app itself. `main.rs` only reads the
//! configuration and calls [`serve`]; tests build the same [`app`].

pub mod config;
pub mod connections;
pub mod error;
pub mod exchange_log;
pub mod flow;
pub mod keyfile;
pub mod oauth;
pub mod routes;
pub mod sandbox;
pub mod sessions;
pub mod store;
pub mod telemetry;

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, extract::FromRef};
use axum_extra::extract::cookie::Key;
use tokenbridge_shared::{ProviderKind, routes as paths};
use tokio::net::TcpListener;
use url::Url;

use crate::{
    config::{Config, ConfigError, StoreKeySource},
    connections::Connections,
    flow::Cookies,
    oauth::OAuthClient,
    sandbox::Sandbox,
    sessions::{Lifetimes, Sessions},
    store::{Store, StoreError, StoreKey},
};

/// Everything a handler may need, shared by all requests.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub oauth: OAuthClient,
    pub cookies: Cookies,
    /// The key that seals cookies, from the configuration or its file.
    pub cookie_key: Key,
    pub connections: Connections,
    pub sessions: Arc<Sessions>,
    /// The built-in provider, present when `provider = sandbox`.
    pub sandbox: Option<Sandbox>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("cannot open the connection store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(#[from] ConfigError),
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Key {
        state.cookie_key.clone()
    }
}

impl AppState {
    /// Builds the state for a server bound at `local_addr` (the sandbox's token
    /// endpoint is this very server, reached over loopback).
    pub async fn new(config: Config, local_addr: SocketAddr) -> Result<Self, StartError> {
        let cookie_key = config.cookie_key.load()?;
        let store = open_store(&config).await?;
        let (oauth, connections) = provider_parts(&config, local_addr, store.clone())?;
        let sessions = Arc::new(Sessions::new(
            store,
            Lifetimes {
                idle_secs: config.session_idle_secs,
                absolute_secs: config.session_absolute_secs,
            },
            config.operators.clone(),
        ));
        let sandbox = (config.provider == ProviderKind::Sandbox).then(|| Sandbox::new(&config));
        let cookies = Cookies::new(config.secure_cookies(), config.flow_lifetime_secs);
        Ok(Self(Arc::new(Inner {
            config,
            oauth,
            cookies,
            cookie_key,
            connections,
            sessions,
            sandbox,
        })))
    }
}

/// Opens the configured store, with its key from the configuration or its file.
pub async fn open_store(config: &Config) -> Result<Store, StartError> {
    let key = match &config.store_key {
        StoreKeySource::Given(key) => key.clone(),
        StoreKeySource::File(path) => StoreKey::from_file(path)?,
    };
    Ok(Store::open(&config.database_url, &key).await?)
}

/// The OAuth client and the connections service of `config` over `store`; the sandbox's
/// endpoints are those of the tokenbridge at `local_addr`.
pub fn provider_parts(
    config: &Config,
    local_addr: SocketAddr,
    store: Store,
) -> Result<(OAuthClient, Connections), StartError> {
    let sandbox = config.provider == ProviderKind::Sandbox;
    let local = |path| sandbox.then(|| loopback_url(local_addr, path));
    let token_url = config
        .token_url
        .clone()
        .unwrap_or_else(|| loopback_url(local_addr, paths::SANDBOX_TOKEN));
    let oauth = OAuthClient::new(config, token_url)?;
    let connections = Connections::new(
        store,
        config.provider,
        config
            .userinfo_url
            .clone()
            .or_else(|| local(paths::SANDBOX_USER_INFO)),
        config
            .revoke_url
            .clone()
            .or_else(|| local(paths::SANDBOX_REVOKE)),
        config.refresh_margin_secs,
    );
    Ok((oauth, connections))
}

fn loopback_url(local_addr: SocketAddr, path: &str) -> Url {
    let ip = if local_addr.ip().is_unspecified() {
        match local_addr {
            SocketAddr::V4(_) => std::net::IpAddr::from([127, 0, 0, 1]),
            SocketAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        }
    } else {
        local_addr.ip()
    };
    let base = SocketAddr::new(ip, local_addr.port());
    // A socket address always makes a valid URL.
    Url::parse(&format!("http://{base}{path}")).unwrap_or_else(|e| panic!("loopback URL: {e}"))
}

/// The whole application: API, auth routes, sandbox, and the static app.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn serve(config: Config, listener: TcpListener) -> std::io::Result<()> {
    let local_addr = listener.local_addr()?;
    let state = AppState::new(config, local_addr)
        .await
        .map_err(std::io::Error::other)?;
    announce(&state, local_addr);
    let pruning = state
        .sessions
        .clone()
        .spawn_pruning(state.config.prune_every);
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    pruning.abort();
    served
}

/// The start-up lines a person needs: where to open, what to register. Never the secret.
fn announce(state: &AppState, local_addr: SocketAddr) {
    let config = &state.config;
    tracing::info!(
        provider = config.provider.as_str(),
        listen = %local_addr,
        "tokenbridge is running: open {}",
        config.public_url
    );
    match config.provider {
        ProviderKind::Sandbox => tracing::info!(
            "provider: the built-in SANDBOX (no real tokens). Set TOKENBRIDGE_CLIENT_ID and TOKENBRIDGE_CLIENT_SECRET to use Yandex."
        ),
        _ => tracing::info!(
            client_id = config.client_id.as_str(),
            authorize_url = %config.authorize_url,
            "register this Callback URI with the provider: {}",
            config.redirect_url()
        ),
    }
    if !config.operators.is_empty() {
        tracing::info!("operators' sessions see every connection (TOKENBRIDGE_OPERATORS)");
    }
    if !config.dist.join("index.html").is_file() {
        tracing::warn!(
            dist = %config.dist.display(),
            "the frontend is not built: run `trunk build --release` (the README's run command does it)"
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
