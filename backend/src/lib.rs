//! tokenbridge's backend: a Backend-for-Frontend that runs the OAuth 2.0
//! authorization-code flow (with state and PKCE) for the browser app, holds
//! the client secret, and serves the app itself. `main.rs` only reads the
//! configuration and calls [`serve`]; tests build the same [`app`].

pub mod clock;
pub mod config;
pub mod connections;
pub mod error;
pub mod exchange_log;
pub mod flow;
pub mod hex;
pub mod jar;
pub mod keyfile;
pub mod limits;
pub mod notice;
pub mod params;
pub mod policy;
pub mod provider;
pub mod routes;
pub mod sealed;
pub mod server;
pub mod sessions;
pub mod store;
pub mod telemetry;
pub mod under_way;

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, extract::FromRef};
use cookie::Key;
use tokenbridge_shared::{ProviderKind, routes as paths};
use tokio::net::TcpListener;
use url::Url;

use crate::{
    config::{Config, ConfigError, StoreKeySource},
    connections::Connections,
    flow::Cookies,
    provider::{
        Endpoints, Provider, Providers, SetupError, sandbox::Sandbox, transport::Transport,
    },
    sessions::{Lifetimes, Sessions},
    store::{Store, StoreError, StoreKey},
};

/// Everything a handler may need, shared by all requests.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub cookies: Cookies,
    /// The key that seals cookies, from the configuration or its file.
    pub cookie_key: Key,
    /// Its cipher, made once (see [`jar::CookieCipher`]).
    pub cookie_cipher: jar::CookieCipher,
    pub connections: Connections,
    pub sessions: Arc<Sessions>,
    pub limits: limits::Limits,
    /// The built-in provider's server side, present when a sandbox provider is configured.
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
    #[error("{0}")]
    Provider(#[from] SetupError),
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<AppState> for jar::CookieCipher {
    fn from_ref(state: &AppState) -> jar::CookieCipher {
        state.cookie_cipher.clone()
    }
}

impl AppState {
    /// Builds the state for a server bound at `local_addr` (the sandbox's token
    /// endpoint is this very server, reached over loopback).
    pub async fn new(config: Config, local_addr: SocketAddr) -> Result<Self, StartError> {
        let cookie_key = config.cookie_key.load()?;
        let store = open_store(&config).await?;
        let providers = build_providers(&config, local_addr).await?;
        let connections = Connections::new(store.clone(), providers, config.refresh_margin_secs);
        let sessions = Arc::new(Sessions::new(
            store,
            Lifetimes {
                idle_secs: config.session_idle_secs,
                absolute_secs: config.session_absolute_secs,
            },
            config.operators.clone(),
            config::is_loopback(&config.public_url),
        ));
        let sandbox = config
            .providers
            .iter()
            .find(|spec| spec.kind == ProviderKind::Sandbox)
            .map(|spec| {
                Sandbox::new(
                    spec.client_id.as_str(),
                    spec.client_secret.clone(),
                    &config.redirect_url(),
                )
            });
        let cookies = Cookies::new(config.secure_cookies(), config.flow_lifetime_secs);
        let limits = limits::Limits::new(&config.limits);
        Ok(Self(Arc::new(Inner {
            config,
            cookies,
            cookie_cipher: jar::CookieCipher::from(&cookie_key),
            cookie_key,
            connections,
            sessions,
            limits,
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

/// Every configured provider, set up (OpenID providers discovered); the sandbox's
/// endpoints are those of the tokenbridge at `local_addr`.
pub async fn build_providers(
    config: &Config,
    local_addr: SocketAddr,
) -> Result<Providers, StartError> {
    let transport = Transport::new(config.provider_timeout)?;
    let local = Endpoints {
        authorize: config::join(&config.public_url, paths::SANDBOX_AUTHORIZE),
        token: loopback_url(local_addr, paths::SANDBOX_TOKEN),
        userinfo: Some(loopback_url(local_addr, paths::SANDBOX_USER_INFO)),
        revoke: Some(loopback_url(local_addr, paths::SANDBOX_REVOKE)),
    };
    let mut providers = Vec::new();
    for spec in &config.providers {
        let local = (spec.kind == ProviderKind::Sandbox).then(|| local.clone());
        providers.push(Provider::new(spec, config.redirect_url(), transport.clone(), local).await?);
    }
    Ok(Providers::new(providers))
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

/// The whole application — API, auth routes, sandbox, and the static app — as a `Router`,
/// to embed in another. [`serve`] serves the same service without the router around it.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn serve(config: Config, listener: TcpListener) -> std::io::Result<()> {
    serve_until(config, listener, shutdown_signal()).await
}

/// Serves until `shutdown` completes; requests in flight then finish.
pub async fn serve_until(
    config: Config,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let local_addr = listener.local_addr()?;
    let state = AppState::new(config, local_addr)
        .await
        .map_err(std::io::Error::other)?;
    announce(&state, local_addr);
    let pruning = state
        .sessions
        .clone()
        .spawn_pruning(state.config.prune_every);
    let limits = state.clone();
    let forgetting = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            limits.limits.forget_idle();
        }
    });
    let header_read_timeout = state.config.header_read_timeout;
    let served = server::serve(
        listener,
        routes::service(state.clone()),
        header_read_timeout,
        shutdown,
    )
    .await;
    // A sign-in or refresh whose caller went before it ended still saves what the provider
    // issued: up to three provider calls (discovery, the token request, user info), then a
    // save, which a refresh tries for up to about half a minute while the store is away.
    state
        .connections
        .finish_work_under_way(
            state.config.provider_timeout * 3 + std::time::Duration::from_secs(30),
        )
        .await;
    pruning.abort();
    forgetting.abort();
    served
}

/// The start-up lines a person needs: where to open, what to register. Never a secret.
fn announce(state: &AppState, local_addr: SocketAddr) {
    let config = &state.config;
    tracing::info!(
        listen = %local_addr,
        "tokenbridge is running: open {}",
        config.public_url
    );
    if let Some(file) = &config.providers_file {
        tracing::info!(file = %file.display(), "providers listed in the file");
    }
    for provider in state.connections.providers().iter() {
        match provider.kind {
            ProviderKind::Sandbox => tracing::info!(
                provider = %provider.id,
                "provider {:?}: the built-in SANDBOX (no real tokens). Set TOKENBRIDGE_CLIENT_ID and TOKENBRIDGE_CLIENT_SECRET to use Yandex.",
                provider.name
            ),
            kind => tracing::info!(
                provider = %provider.id,
                kind = kind.as_str(),
                client_id = provider.client_id().as_str(),
                issuer = provider.issuer().unwrap_or("-"),
                "provider {:?}",
                provider.name
            ),
        }
    }
    tracing::info!(
        "the Callback URI to register with every provider: {}",
        config.redirect_url()
    );
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
