//! Saved connections as a service: connect after a sign-in (checking whose
//! token it is and for which app), hand out fresh tokens (one refresh at a time
//! per connection, however many callers ask), and disconnect (revoking first
//! where the provider can).

use std::{collections::HashMap, sync::Arc};

use tokenbridge_shared::{
    ConnectionStatus, ConnectionSummary, ConnectionView, Disconnected, ErrorCode, ProviderKind,
    Revocation, TokenView,
};
use url::Url;

use crate::{
    oauth::{ExchangeError, IssuedToken, OAuthClient, unix_now},
    sessions::Session,
    store::{Connection, NewConnection, NewSession, Status, Store, StoreError},
};

/// Why a connection operation failed: the code a person or script sees, and what the log gets.
#[derive(Debug)]
pub struct ConnectionError {
    pub code: ErrorCode,
    pub provider_message: Option<String>,
    pub detail: String,
}

impl From<StoreError> for ConnectionError {
    fn from(error: StoreError) -> Self {
        Self {
            code: ErrorCode::Internal,
            provider_message: None,
            detail: error.to_string(),
        }
    }
}

impl From<ExchangeError> for ConnectionError {
    fn from(error: ExchangeError) -> Self {
        Self {
            code: error.code,
            provider_message: error.provider_message,
            detail: error.detail,
        }
    }
}

impl ConnectionError {
    fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            provider_message: None,
            detail: detail.into(),
        }
    }
}

/// Options of a sign-in that the connection keeps.
#[derive(Debug, Default, Clone)]
pub struct Device {
    pub id: Option<String>,
    pub name: Option<String>,
}

pub struct Connections {
    store: Store,
    provider: ProviderKind,
    userinfo_url: Option<Url>,
    revoke_url: Option<Url>,
    refresh_margin_secs: i64,
    /// One lock per connection being refreshed, so that concurrent callers share one refresh.
    refreshing: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Connections {
    pub fn new(
        store: Store,
        provider: ProviderKind,
        userinfo_url: Option<Url>,
        revoke_url: Option<Url>,
        refresh_margin_secs: i64,
    ) -> Self {
        Self {
            store,
            provider,
            userinfo_url,
            revoke_url,
            refresh_margin_secs,
            refreshing: Default::default(),
        }
    }

    fn provider(&self) -> &'static str {
        self.provider.as_str()
    }

    /// Saves the token of a finished sign-in, after the provider says whose it is and that
    /// it was issued to this application, and starts `session`, which sees it.
    pub async fn connect(
        &self,
        oauth: &OAuthClient,
        token: IssuedToken,
        session: &NewSession,
        device: Device,
    ) -> Result<Connection, ConnectionError> {
        let account = match &self.userinfo_url {
            Some(url) => {
                let account = oauth.user_info(url, &token.access_token).await?;
                if let Some(issued_to) = &account.client_id
                    && issued_to != oauth.client_id().as_str()
                {
                    return Err(ConnectionError::new(
                        ErrorCode::ForeignToken,
                        format!("user info names client id {issued_to}, not ours"),
                    ));
                }
                account
            }
            // Without user info nobody can say whose token it is, so no two sign-ins may
            // share an account: each gets a connection of its own, seen by its session alone.
            None => {
                let bytes: [u8; 6] = rand::Rng::random(&mut rand::rng());
                let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let id = format!("signin-{id}");
                crate::oauth::Account {
                    login: id.clone(),
                    id,
                    client_id: None,
                }
            }
        };
        let connection = self
            .store
            .save_sign_in(
                NewConnection {
                    provider: self.provider.as_str().to_owned(),
                    account_id: account.id,
                    login: account.login,
                    access_token: token.access_token,
                    refresh_token: token.refresh_token,
                    token_type: token.token_type,
                    expires_at: token.expires_at,
                    scope: token.scope,
                    device_id: device.id,
                    device_name: device.name,
                },
                session,
            )
            .await?;
        Ok(connection)
    }

    /// The connection with a token that is good for at least the refresh margin,
    /// refreshing it first if need be.
    pub async fn fresh(
        &self,
        oauth: &OAuthClient,
        id: &str,
    ) -> Result<Connection, ConnectionError> {
        let connection = self.get(id).await?;
        if !self.expiring(&connection) {
            return Ok(connection);
        }
        // Done if another caller refreshed while this one waited, even if the
        // new token is itself within the margin.
        let seen = connection.touched_ns;
        self.refresh_once(oauth, connection, move |c| {
            c.touched_ns != seen || !self.expiring(c)
        })
        .await
    }

    /// The connection whose account login is `login`, fresh as [`Self::fresh`] makes it.
    pub async fn fresh_by_login(
        &self,
        oauth: &OAuthClient,
        login: &str,
    ) -> Result<Connection, ConnectionError> {
        let found = self
            .store
            .by_login(self.provider(), login)
            .await?
            .ok_or_else(|| {
                ConnectionError::new(
                    ErrorCode::ConnectionNotFound,
                    format!("no saved connection for {login:?}"),
                )
            })?;
        self.fresh(oauth, &found.id).await
    }

    /// Refreshes now, unless another caller refreshed while this one waited.
    pub async fn refresh(
        &self,
        oauth: &OAuthClient,
        id: &str,
    ) -> Result<Connection, ConnectionError> {
        let connection = self.get(id).await?;
        let seen = connection.touched_ns;
        self.refresh_once(oauth, connection, move |c| c.touched_ns != seen)
            .await
    }

    /// The connections `session` sees (those of the accounts it signed in with), most recent first.
    pub async fn of_session(&self, session: &Session) -> Result<Vec<Connection>, ConnectionError> {
        Ok(self
            .store
            .of_session(self.provider(), &session.hash)
            .await?)
    }

    /// Whether `session` sees the connection `id`.
    pub async fn sees(&self, session: &Session, id: &str) -> Result<bool, ConnectionError> {
        Ok(self
            .store
            .session_sees(self.provider(), &session.hash, id)
            .await?)
    }

    /// Every connection, newest first: for operators and scripts.
    pub async fn all(&self) -> Result<Vec<Connection>, ConnectionError> {
        Ok(self.store.all(self.provider()).await?)
    }

    /// The connection `id` as stored (tokens opened), whatever its status.
    pub async fn find(&self, id: &str) -> Result<Option<Connection>, ConnectionError> {
        Ok(self.store.get(self.provider(), id).await?)
    }

    async fn get(&self, id: &str) -> Result<Connection, ConnectionError> {
        let connection = self.store.get(self.provider(), id).await?.ok_or_else(|| {
            ConnectionError::new(ErrorCode::ConnectionNotFound, "no such connection")
        })?;
        if connection.status == Status::NeedsReconnect {
            return Err(ConnectionError::new(
                ErrorCode::NeedsReconnect,
                "the refresh token was refused before",
            ));
        }
        Ok(connection)
    }

    fn expiring(&self, connection: &Connection) -> bool {
        connection
            .expires_at
            .is_some_and(|at| at - unix_now() <= self.refresh_margin_secs)
    }

    /// Refreshes `connection` holding its lock; `done` says whether a caller that
    /// waited for the lock finds the work already done.
    async fn refresh_once(
        &self,
        oauth: &OAuthClient,
        connection: Connection,
        done: impl Fn(&Connection) -> bool,
    ) -> Result<Connection, ConnectionError> {
        let lock = {
            let mut locks = self
                .refreshing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(connection.id.clone()).or_default().clone()
        };
        let guard = lock.lock().await;
        let result = async {
            let current = self.get(&connection.id).await?;
            if done(&current) {
                return Ok(current);
            }
            let refresh_token = current
                .refresh_token
                .as_ref()
                .ok_or_else(|| ConnectionError::new(ErrorCode::NoRefreshToken, "no refresh token is held"))?;
            match oauth.refresh(refresh_token, current.scope.clone()).await {
                Ok(issued) => {
                    // Providers that do not rotate send no refresh token: keep the one held.
                    self.store
                        .save_refresh(&current, &issued.access_token, issued.refresh_token.as_ref(), issued.expires_at)
                        .await?;
                    tracing::info!(connection = %current.id, rotated = issued.refresh_token.is_some(), "token refreshed");
                    self.get(&current.id).await
                }
                Err(error) if error.code == ErrorCode::CodeRejected => {
                    self.store.set_status(self.provider(), &current.id, Status::NeedsReconnect).await?;
                    tracing::warn!(connection = %current.id, "the refresh token was refused; the connection needs a new sign-in: {}", error.detail);
                    Err(ConnectionError { code: ErrorCode::NeedsReconnect, ..error.into() })
                }
                Err(error) => {
                    tracing::warn!(connection = %current.id, code = error.code.as_str(), "refresh failed: {}", error.detail);
                    Err(error.into())
                }
            }
        }
        .await;
        drop(guard);
        let mut locks = self
            .refreshing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if Arc::strong_count(&lock) == 2 {
            locks.remove(&connection.id);
        }
        result
    }

    /// Revokes the token where the provider can, then forgets the connection.
    pub async fn disconnect(
        &self,
        oauth: &OAuthClient,
        id: &str,
    ) -> Result<Disconnected, ConnectionError> {
        let connection = self.store.get(self.provider(), id).await?.ok_or_else(|| {
            ConnectionError::new(ErrorCode::ConnectionNotFound, "no such connection")
        })?;
        let revocable = match self.provider {
            // Yandex revokes only tokens issued with a device_id.
            ProviderKind::Yandex => connection.device_id.is_some(),
            ProviderKind::Sandbox | ProviderKind::Custom => true,
        };
        let outcome = match (&self.revoke_url, revocable) {
            (Some(url), true) => match oauth.revoke(url, &connection.access_token).await {
                Ok(()) => Disconnected { revoked: true, revocation: Revocation::Revoked, message: "The provider revoked the token, and tokenbridge forgot the connection.".into() },
                Err(error) => {
                    tracing::warn!(connection = %id, "revocation failed: {}", error.detail);
                    Disconnected {
                        revoked: false,
                        revocation: Revocation::Failed,
                        message: "The provider did not revoke the token (it stays valid until it expires); tokenbridge forgot the connection.".into(),
                    }
                }
            },
            (Some(_), false) => Disconnected {
                revoked: false,
                revocation: Revocation::NotForThisToken,
                message: "Yandex revokes only tokens issued with a device name; this one stays valid until it expires. tokenbridge forgot the connection.".into(),
            },
            (None, _) => Disconnected {
                revoked: false,
                revocation: Revocation::NoEndpoint,
                message: "This provider has no revocation endpoint configured; the token stays valid until it expires. tokenbridge forgot the connection.".into(),
            },
        };
        self.store.delete(self.provider(), id).await?;
        tracing::info!(connection = %id, revoked = outcome.revoked, "disconnected");
        Ok(outcome)
    }
}

pub fn status_view(status: Status) -> ConnectionStatus {
    match status {
        Status::Active => ConnectionStatus::Active,
        Status::NeedsReconnect => ConnectionStatus::NeedsReconnect,
    }
}

pub fn token_view(connection: &Connection) -> TokenView {
    TokenView {
        access_token: connection.access_token.secret().clone(),
        token_type: connection.token_type.clone(),
        expires_at: connection.expires_at,
        obtained_at: connection.refreshed_at.unwrap_or(connection.created_at),
        scope: connection.scope.clone(),
        has_refresh_token: connection.refresh_token.is_some(),
    }
}

pub fn connection_view(connection: &Connection, provider: ProviderKind) -> ConnectionView {
    ConnectionView {
        id: connection.id.clone(),
        provider,
        account_id: connection.account_id.clone(),
        login: connection.login.clone(),
        status: status_view(connection.status),
        token: token_view(connection),
        device_name: connection.device_name.clone(),
        created_at: connection.created_at,
        refreshed_at: connection.refreshed_at,
    }
}

pub fn summary(connection: &Connection, provider: ProviderKind) -> ConnectionSummary {
    ConnectionSummary {
        id: connection.id.clone(),
        provider,
        account_id: connection.account_id.clone(),
        login: connection.login.clone(),
        status: status_view(connection.status),
        expires_at: connection.expires_at,
        scope: connection.scope.clone(),
        has_refresh_token: connection.refresh_token.is_some(),
        created_at: connection.created_at,
        refreshed_at: connection.refreshed_at,
    }
}
