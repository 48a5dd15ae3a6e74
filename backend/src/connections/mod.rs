//! Saved connections as a service: it owns the providers and the store behind
//! them. Connect after a sign-in (asking the provider whose token it is), hand
//! out fresh tokens (one refresh at a time per connection, however many callers
//! ask), and disconnect (revoking first where the provider can). Every store
//! query is scoped to the configured providers.

use std::sync::Arc;

use tokenbridge_shared::{
    ConnectionStatus, ConnectionSummary, ConnectionView, Disconnected, ErrorCode, ProviderKind,
    Revocation, TokenView,
};

mod refreshing;

use refreshing::{Kept, Refreshing, Turn};

use crate::{
    clock::unix_now,
    provider::{Account, IssuedToken, Provider, ProviderError, Providers, Revoked},
    sessions::{Session, SessionId, Sessions},
    store::{
        Connection, NewConnection, NewSession, SealedRefresh, Status, Store, StoreError, random_hex,
    },
    under_way::{Detached, UnderWay},
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
            code: if error.is_unavailable() {
                ErrorCode::StoreUnavailable
            } else {
                ErrorCode::Internal
            },
            provider_message: None,
            detail: error.to_string(),
        }
    }
}

impl From<ProviderError> for ConnectionError {
    fn from(error: ProviderError) -> Self {
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
    providers: Providers,
    refresh_margin_secs: i64,
    /// One lock per connection being refreshed, so that concurrent callers share one refresh.
    refreshing: Arc<Refreshing>,
    /// The sign-ins and refreshes that go on if their callers go, for a shutdown to wait for.
    under_way: Arc<UnderWay>,
}

impl Connections {
    pub fn new(store: Store, providers: Providers, refresh_margin_secs: i64) -> Self {
        Self {
            store,
            providers,
            refresh_margin_secs,
            refreshing: Default::default(),
            under_way: Default::default(),
        }
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The provider `id`, or the first one when no id is given.
    pub fn provider(&self, id: Option<&str>) -> Result<&Arc<Provider>, ConnectionError> {
        match id {
            Some(id) => self.providers.get(id).ok_or_else(|| {
                ConnectionError::new(
                    ErrorCode::UnknownProvider,
                    format!(
                        "no provider {:?} is configured",
                        id.escape_debug().to_string()
                    ),
                )
            }),
            None => self.providers.first().ok_or_else(|| {
                ConnectionError::new(ErrorCode::UnknownProvider, "no provider is configured")
            }),
        }
    }

    /// The provider a stored connection belongs to.
    fn provider_of(&self, connection: &Connection) -> Result<&Arc<Provider>, ConnectionError> {
        self.providers.get(&connection.provider).ok_or_else(|| {
            ConnectionError::new(
                ErrorCode::ConnectionNotFound,
                "the connection's provider is no longer configured",
            )
        })
    }

    fn scope(&self) -> Vec<&str> {
        self.providers.ids()
    }

    /// Saves the token of a finished sign-in at `provider`, after the provider says whose it
    /// is, and starts `session`, which sees it. Once the sign-in's request has gone
    /// (`detached`), the session it would replace is left as it is: the new one's cookie will
    /// never reach the browser.
    pub async fn connect(
        &self,
        provider: &Provider,
        token: IssuedToken,
        mut session: NewSession,
        device: Device,
        detached: &Detached,
    ) -> Result<Connection, ConnectionError> {
        let whose = async {
            token.check_savable()?;
            provider.account(&token).await
        };
        let account = match whose.await {
            Ok(Some(account)) => account,
            // Without user info nobody can say whose token it is, so no two sign-ins may
            // share an account: each gets a connection of its own, seen by its session alone.
            Ok(None) => {
                let id = format!("signin-{}", random_hex::<16>());
                Account {
                    login: id.clone(),
                    id,
                }
            }
            // Not saved (a token or account the store could not hold, or user info that
            // failed), so handed back — unless the provider did not answer at all, when asking
            // again would only keep the person waiting for another timeout.
            Err(error) => {
                if error.is_unanswered() {
                    tracing::warn!(
                        provider = %provider.id,
                        "whose token it is could not be learned, and the provider did not answer, so the token was not handed back: it stays valid until it expires"
                    );
                } else {
                    let why = "whose token it is could not be learned, or the token could not be saved as it came";
                    let refresh = token.refresh_token.as_ref();
                    hand_back(
                        provider,
                        &token.access_token,
                        refresh,
                        device.id.as_deref(),
                        why,
                    )
                    .await;
                }
                return Err(error.into());
            }
        };
        // Read as the save's statements are built: a browser gone by then, even while the
        // save waited for the store, keeps the session it had.
        session.browser_gone = detached.clone();
        // Kept to hand them back if they cannot be saved.
        let (issued, issued_refresh) = (token.access_token.clone(), token.refresh_token.clone());
        let device_id = device.id.clone();
        let saved = self
            .store
            .save_sign_in(
                NewConnection {
                    provider: provider.id.clone(),
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
                &session,
            )
            .await;
        match saved {
            Ok(connection) => {
                if detached.is_detached() {
                    tracing::info!(
                        provider = %provider.id,
                        connection = %connection.id,
                        "the browser went before its sign-in was answered: the connection is saved for scripts and later sign-ins, and the browser keeps the session it had (unless it went after the save had replaced its session)"
                    );
                }
                Ok(connection)
            }
            Err(error) => {
                let why = format!("the token could not be saved: {error}");
                let refresh = issued_refresh.as_ref();
                hand_back(provider, &issued, refresh, device_id.as_deref(), &why).await;
                Err(error.into())
            }
        }
    }

    /// Whether the store answers.
    pub async fn ping(&self) -> Result<(), ConnectionError> {
        Ok(self.store.ping().await?)
    }

    /// The live session of `id` and the connections it sees (those of the accounts it signed
    /// in with), most recently refreshed or created first.
    pub async fn session(
        &self,
        sessions: &Sessions,
        id: &SessionId,
    ) -> Result<Option<(Session, Vec<Connection>)>, ConnectionError> {
        Ok(sessions.find_seeing(id, &self.scope()).await?)
    }

    /// Whether `session` sees the connection `id`.
    pub async fn sees(&self, session: &Session, id: &str) -> Result<bool, ConnectionError> {
        Ok(self
            .store
            .session_sees(&self.scope(), &session.hash, id)
            .await?)
    }

    /// Every connection, newest first: for operators and scripts.
    pub async fn all(&self) -> Result<Vec<Connection>, ConnectionError> {
        Ok(self.store.all(&self.scope()).await?)
    }

    /// The connection `id` as stored (tokens opened), whatever its status.
    pub async fn find(&self, id: &str) -> Result<Option<Connection>, ConnectionError> {
        Ok(self.store.get(&self.scope(), id).await?)
    }

    /// The connection with a token that is good for at least the refresh margin,
    /// refreshing it first if need be.
    pub async fn fresh(&self, id: &str) -> Result<Connection, ConnectionError> {
        let connection = self.get(id).await?;
        self.made_fresh(connection).await
    }

    /// `connection` (just read), refreshed first if it expires within the margin.
    async fn made_fresh(&self, connection: Connection) -> Result<Connection, ConnectionError> {
        Self::usable(&connection)?;
        if !self.expiring(&connection) {
            return Ok(connection);
        }
        // Done if another caller refreshed while this one waited, even if the
        // new token is itself within the margin.
        let seen = connection.touched_ns;
        self.refresh_once(connection, move |c| {
            c.touched_ns != seen || !self.expiring(c)
        })
        .await
    }

    /// The connection whose account login is `login` (at `provider`, if given), fresh as
    /// [`Self::fresh`] makes it. A login connected at two providers needs the provider named.
    pub async fn fresh_by_login(
        &self,
        login: &str,
        provider: Option<&str>,
    ) -> Result<Connection, ConnectionError> {
        let scope = match provider {
            Some(id) => vec![self.provider(Some(id))?.id.as_str()],
            None => self.scope(),
        };
        let found = self.store.by_login(&scope, login).await?;
        // Two accounts may share a login (at two providers, or at one whose logins people
        // choose): a script must never get the wrong one's token.
        if found.len() > 1 {
            let providers: Vec<&str> = found.iter().map(|c| c.provider.as_str()).collect();
            return Err(ConnectionError::new(
                ErrorCode::AmbiguousLogin,
                format!(
                    "{login:?} names {} connections, at {providers:?}",
                    found.len()
                ),
            ));
        }
        let found = found.into_iter().next().ok_or_else(|| {
            ConnectionError::new(
                ErrorCode::ConnectionNotFound,
                format!("no saved connection for {login:?}"),
            )
        })?;
        // The row just read serves as it is when fresh: one query and one open per read.
        self.made_fresh(found).await
    }

    /// Refreshes now, unless another caller refreshed while this one waited.
    pub async fn refresh(&self, id: &str) -> Result<Connection, ConnectionError> {
        let connection = self.get(id).await?;
        let seen = connection.touched_ns;
        self.refresh_once(connection, move |c| c.touched_ns != seen)
            .await
    }

    async fn get(&self, id: &str) -> Result<Connection, ConnectionError> {
        let connection = self.find(id).await?.ok_or_else(|| {
            ConnectionError::new(ErrorCode::ConnectionNotFound, "no such connection")
        })?;
        Self::usable(&connection)?;
        Ok(connection)
    }

    /// A connection whose token can be handed out or refreshed.
    fn usable(connection: &Connection) -> Result<(), ConnectionError> {
        match connection.status {
            Status::NeedsReconnect => Err(ConnectionError::new(
                ErrorCode::NeedsReconnect,
                "the refresh token was refused before",
            )),
            Status::Unreadable => Err(ConnectionError::new(
                ErrorCode::ConnectionUnreadable,
                "its tokens cannot be opened with this store key",
            )),
            Status::Active => Ok(()),
        }
    }

    fn expired(connection: &Connection) -> bool {
        connection.expires_at.is_some_and(|at| at < unix_now())
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
        connection: Connection,
        done: impl Fn(&Connection) -> bool,
    ) -> Result<Connection, ConnectionError> {
        let turn = self.refreshing.turn(&connection.id).await;
        self.saved_kept(&turn).await?;
        let current = self.get(&connection.id).await?;
        // A token already expired is never the work done: a refresh's answer the store could
        // not take before, saved only now, may be long past.
        if done(&current) && !Self::expired(&current) {
            return Ok(current);
        }
        let provider = self.provider_of(&current)?.clone();
        let id = current.id.clone();
        // Once the refresh token has gone to the provider it may be spent: a provider that
        // rotates refresh tokens answers with a new one and forgets the old. So the call and
        // the save of its answer hold this turn, and go on in a task of their own if this
        // request is dropped (a script that stops waiting, a page that closes, the request's
        // own timeout); a caller queued behind them finds the answer saved, and a shutdown
        // waits for them (`Connections::finish_work_under_way`).
        let store = self.store.clone();
        self.finished_even_if_dropped(|_| Self::refresh_and_save(store, provider, current, turn))
            .await?;
        self.get(&id).await
    }

    /// Asks `provider` for new tokens for `current` and saves them, holding the connection's
    /// lock (`turn`) until the save is done (see [`Self::refresh_once`]).
    async fn refresh_and_save(
        store: Store,
        provider: Arc<Provider>,
        current: Connection,
        turn: Turn,
    ) -> Result<(), ConnectionError> {
        let refresh_token = current.refresh_token.as_ref().ok_or_else(|| {
            ConnectionError::new(ErrorCode::NoRefreshToken, "no refresh token is held")
        })?;
        match provider.refresh(refresh_token, current.scope.clone()).await {
            Ok(issued) => {
                let saved = match turn.save(&store, &current, &issued).await {
                    Ok(saved) => saved,
                    Err(error) => {
                        // Kept: saved by a task of its own once the store answers, if no turn
                        // of the connection's has saved it before then.
                        let refreshing = turn.refreshing();
                        if refreshing.start_saver(&current.id) {
                            tokio::spawn(Self::save_kept_by_itself(
                                store.clone(),
                                provider.clone(),
                                refreshing,
                                current.id.clone(),
                            ));
                        }
                        return Err(error.into());
                    }
                };
                if saved {
                    tracing::info!(connection = %current.id, rotated = issued.refresh_token.is_some(), "token refreshed");
                } else {
                    // Boxed: rare, and a revocation's state would otherwise grow every
                    // refresh's, which is copied as it moves.
                    Box::pin(Self::changed_meanwhile(
                        &store, &provider, &current, &issued,
                    ))
                    .await?;
                }
                Ok(())
            }
            Err(error) if error.code == ErrorCode::CodeRejected => {
                let marked = store
                    .set_status_if_untouched(
                        &current.provider,
                        &current.id,
                        Status::NeedsReconnect,
                        current.touched_ns,
                    )
                    .await?;
                if !marked {
                    // Another process (the `tokenbridge token` command, another instance)
                    // refreshed it meanwhile, with the refresh token this one sent: what it
                    // saved is the connection now.
                    tracing::info!(connection = %current.id, "the refresh token was refused, but the connection was refreshed elsewhere meanwhile");
                    return Ok(());
                }
                tracing::warn!(connection = %current.id, "the refresh token was refused; the connection needs a new sign-in: {}", error.detail);
                Err(ConnectionError {
                    code: ErrorCode::NeedsReconnect,
                    ..error.into()
                })
            }
            Err(error) => {
                tracing::warn!(connection = %current.id, code = error.code.as_str(), "refresh failed: {}", error.detail);
                Err(error.into())
            }
        }
    }

    /// Saves the refresh answer kept for `turn`'s connection, if one is, and hands back to the
    /// provider what it holds when it was not saved and no connection holds the account any more.
    /// The answer it drops is handed back too, for a disconnect to revoke once the row is gone.
    async fn saved_kept(&self, turn: &Turn) -> Result<Option<SealedRefresh>, ConnectionError> {
        let Kept::Dropped(sealed) = turn.save_kept(&self.store).await? else {
            return Ok(None);
        };
        self.revoke_if_unheld(&sealed).await;
        Ok(Some(sealed))
    }

    /// [`Self::revoke_unheld`] at the answer's own provider.
    async fn revoke_if_unheld(&self, sealed: &SealedRefresh) {
        if let Some(provider) = self.providers.get(&sealed.provider) {
            Self::revoke_unheld(&self.store, provider, sealed).await;
        }
    }

    /// A refresh's answer the store could not take, kept for the connection's next turn, saved
    /// by itself once the store answers again: tried after 5 s, then twice as long each time
    /// up to five minutes, until it is saved or no longer kept (a turn saved it first). A
    /// shutdown before then loses it, and says so.
    async fn save_kept_by_itself(
        store: Store,
        provider: Arc<Provider>,
        refreshing: Arc<Refreshing>,
        id: String,
    ) {
        let mut wait = std::time::Duration::from_secs(5);
        loop {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_secs(300));
            let turn = refreshing.turn(&id).await;
            let dropped = match turn.save_kept(&store).await {
                Ok(Kept::Dropped(sealed)) => Some(sealed),
                Ok(Kept::Nothing | Kept::Saved) => None,
                Err(error) if error.is_unavailable() => continue,
                // Dropped, and said so.
                Err(_) => None,
            };
            refreshing.saver_done(&id);
            drop(turn);
            if let Some(sealed) = dropped {
                Self::revoke_unheld(&store, &provider, &sealed).await;
            }
            return;
        }
    }

    /// Revokes the tokens of a kept refresh answer that was not saved, if the account has no
    /// connection any more (disconnected meanwhile, here or on another instance): no one would
    /// hold them, and they would stay valid. See [`Self::changed_meanwhile`]. A failure is only
    /// logged: the answer is no longer kept either way.
    async fn revoke_unheld(store: &Store, provider: &Provider, sealed: &SealedRefresh) {
        let Some((access, refresh)) = store.open_refresh(sealed) else {
            return;
        };
        let device_id = sealed.device_id.as_deref();
        let unheld = Self::revoke_unless_held(
            store,
            provider,
            &sealed.account_id,
            &access,
            refresh.as_ref(),
            device_id,
        );
        match unheld.await {
            Ok(None) => {}
            Ok(Some(revoked)) => tracing::info!(
                connection = %sealed.id,
                revoked,
                "the connection was disconnected while a refresh's answer was kept; its tokens went back to the provider"
            ),
            Err(error) => {
                tracing::warn!(connection = %sealed.id, %error, "a kept refresh answer's tokens could not be checked for revocation");
            }
        }
    }

    /// Revokes `access` (and `refresh`) at `provider` unless a connection holds `account_id`
    /// there: `None` if one does, else whether the provider revoked them.
    async fn revoke_unless_held(
        store: &Store,
        provider: &Provider,
        account_id: &str,
        access: &oauth2::AccessToken,
        refresh: Option<&oauth2::RefreshToken>,
        device_id: Option<&str>,
    ) -> Result<Option<bool>, StoreError> {
        if store.holds_account(&provider.id, account_id).await? {
            return Ok(None);
        }
        let revoked = provider.revoke(access, refresh, device_id).await;
        Ok(Some(matches!(revoked, Revoked::Yes)))
    }

    /// `work`, finished even if its caller goes (see [`crate::under_way`]): the sign-ins and
    /// refreshes whose provider has spent what it was sent.
    pub fn finished_even_if_dropped<W, F>(&self, work: W) -> impl Future<Output = F::Output> + Send
    where
        W: FnOnce(Detached) -> F,
        F: Future<Output: Send> + Send + 'static,
    {
        self.under_way.finish(work)
    }

    /// After a refresh of `current` whose answer, `issued`, was not saved because the row had
    /// changed since it was read (a sign-in saved new tokens, another process refreshed or
    /// disconnected it, or an earlier try of this save went through unseen): the row as it is
    /// now stays. With the account's connection gone, what the refresh brought (the access
    /// token, and the refresh token if the provider rotated it) would stay valid with no one
    /// holding it, so it goes back to the provider. (Where the account's row holds other
    /// tokens, even under a new id after a disconnect and a new sign-in, they are not revoked:
    /// a provider may hand a new sign-in the very token a refresh brought, and revoking it would
    /// take the newer one away.)
    async fn changed_meanwhile(
        store: &Store,
        provider: &Provider,
        current: &Connection,
        issued: &IssuedToken,
    ) -> Result<(), ConnectionError> {
        // A refresh token the provider did not rotate is the one the connection held, which
        // its disconnect revoked.
        let rotated = issued.refresh_token.as_ref().filter(|new| {
            current
                .refresh_token
                .as_ref()
                .is_none_or(|held| held.secret() != new.secret())
        });
        let device_id = current.device_id.as_deref();
        let unheld = Self::revoke_unless_held(
            store,
            provider,
            &current.account_id,
            &issued.access_token,
            rotated,
            device_id,
        );
        match unheld.await? {
            None => {
                tracing::info!(connection = %current.id, "the connection was saved afresh while it was refreshed; that stays")
            }
            Some(revoked) => tracing::info!(
                connection = %current.id,
                revoked,
                "the connection was disconnected elsewhere while it was refreshed; the refreshed token went back to the provider"
            ),
        }
        Ok(())
    }

    /// Waits, for up to `within`, for the sign-ins and refreshes under way to be saved, whose
    /// callers may have gone (see [`Self::finished_even_if_dropped`]): a shutdown calls it
    /// once the server has stopped taking requests.
    pub async fn finish_work_under_way(&self, within: std::time::Duration) {
        self.under_way.all_finished(within).await;
        // One last try at each refresh answer still kept: the store may have come back since
        // its task last tried (up to five minutes ago).
        let last_try = async {
            for id in self.refreshing.kept_ids() {
                let turn = self.refreshing.turn(&id).await;
                // Saved, or revoked if no one holds its account; a store still away keeps it.
                let _ = self.saved_kept(&turn).await;
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), last_try).await;
        self.refreshing.warn_of_unsaved();
    }

    /// Revokes the token where the provider can, then forgets the connection.
    pub async fn disconnect(&self, id: &str) -> Result<Disconnected, ConnectionError> {
        // After a refresh under way is saved (or one the store could not take before): the
        // token revoked is then the newest, and a refresh asked for meanwhile finds the
        // connection gone.
        let turn = self.refreshing.turn(id).await;
        // Not saved because the row changed (a sign-in saved it afresh): its tokens are
        // revoked once the row is gone, below, if no one holds the account then.
        let dropped = self.saved_kept(&turn).await?;
        let mut connection = self.find(id).await?.ok_or_else(|| {
            ConnectionError::new(ErrorCode::ConnectionNotFound, "no such connection")
        })?;
        let provider = self.provider_of(&connection)?;
        let mut revoked = Self::revoke_held(provider, &connection).await;
        // Forgotten only as it was revoked. A refresh on another instance may have saved new
        // tokens meanwhile (this instance's turn does not hold that one back): those go back
        // to the provider too, rather than being forgotten still valid — unless the provider
        // did not answer, or the row has been saved afresh after three rounds, when it is
        // forgotten as it is and the person told that not every token was taken back.
        let mut rounds = 1;
        while !self
            .store
            .delete_unchanged(&connection.provider, id, connection.touched_ns)
            .await?
        {
            let Some(newer) = self.find(id).await? else {
                break; // disconnected elsewhere meanwhile
            };
            let unanswered = matches!(&revoked, Revoked::Failed(error) if error.is_unanswered());
            if unanswered || rounds == 3 {
                tracing::warn!(connection = %id, "the connection was saved afresh while it was disconnected, and is forgotten with its newest tokens not revoked");
                self.store.delete(&newer.provider, id).await?;
                if matches!(revoked, Revoked::Yes) {
                    revoked = Revoked::Failed(ProviderError::new(
                        ErrorCode::TokenRequestRejected,
                        "the connection kept being saved afresh while it was disconnected",
                    ));
                }
                break;
            }
            tracing::info!(connection = %id, "the connection was saved afresh while it was disconnected; its new tokens are revoked too");
            let again = Self::revoke_held(provider, &newer).await;
            match (&revoked, again) {
                (Revoked::Yes, again) => revoked = again,
                (_, Revoked::Failed(error)) => {
                    tracing::warn!(connection = %id, "revocation failed: {}", error.detail);
                }
                _ => {}
            }
            connection = newer;
            rounds += 1;
        }
        let outcome = match revoked {
            Revoked::Yes => Disconnected {
                revoked: true,
                revocation: Revocation::Revoked,
                message: "The provider revoked the token, and tokenbridge forgot the connection.".into(),
            },
            Revoked::Failed(error) => {
                tracing::warn!(connection = %id, "revocation failed: {}", error.detail);
                Disconnected {
                    revoked: false,
                    revocation: Revocation::Failed,
                    message: "The provider did not take back every token (those left stay valid until they expire); tokenbridge forgot the connection.".into(),
                }
            }
            Revoked::No(Revocation::NotForThisToken) => Disconnected {
                revoked: false,
                revocation: Revocation::NotForThisToken,
                message: "Yandex revokes only tokens issued with a device name; this one stays valid until it expires. tokenbridge forgot the connection.".into(),
            },
            Revoked::No(other) => Disconnected {
                revoked: false,
                revocation: other,
                message: "This provider has no revocation endpoint configured; the token stays valid until it expires. tokenbridge forgot the connection.".into(),
            },
        };
        if let Some(sealed) = dropped {
            self.revoke_if_unheld(&sealed).await;
        }
        tracing::info!(connection = %id, revoked = outcome.revoked, "disconnected");
        Ok(outcome)
    }

    /// Revokes what `connection` holds, where its provider can.
    async fn revoke_held(provider: &Provider, connection: &Connection) -> Revoked {
        provider
            .revoke(
                &connection.access_token,
                connection.refresh_token.as_ref(),
                connection.device_id.as_deref(),
            )
            .await
    }

    /// The kind of the provider a connection belongs to (what the page shows).
    pub fn kind_of(&self, connection: &Connection) -> ProviderKind {
        self.providers
            .get(&connection.provider)
            .map_or(ProviderKind::Custom, |p| p.kind)
    }

    pub fn view(&self, connection: &Connection) -> ConnectionView {
        ConnectionView {
            id: connection.id.clone(),
            provider: self.kind_of(connection),
            provider_id: connection.provider.clone(),
            account_id: connection.account_id.clone(),
            login: connection.login.clone(),
            status: status_view(connection.status),
            token: token_view(connection),
            device_name: connection.device_name.clone(),
            created_at: connection.created_at,
            refreshed_at: connection.refreshed_at,
        }
    }

    pub fn summary(&self, connection: &Connection) -> ConnectionSummary {
        ConnectionSummary {
            id: connection.id.clone(),
            provider: self.kind_of(connection),
            provider_id: connection.provider.clone(),
            account_id: connection.account_id.clone(),
            login: connection.login.clone(),
            status: status_view(connection.status),
            expires_at: connection.expires_at,
            scope: connection.scope.clone(),
            has_refresh_token: connection.holds_refresh_token,
            created_at: connection.created_at,
            refreshed_at: connection.refreshed_at,
        }
    }
}

pub fn status_view(status: Status) -> ConnectionStatus {
    match status {
        Status::Active => ConnectionStatus::Active,
        Status::NeedsReconnect => ConnectionStatus::NeedsReconnect,
        Status::Unreadable => ConnectionStatus::Unreadable,
    }
}

pub fn token_view(connection: &Connection) -> TokenView {
    TokenView {
        access_token: connection.access_token.secret().clone(),
        token_type: connection.token_type.clone(),
        expires_at: connection.expires_at,
        obtained_at: connection.refreshed_at.unwrap_or(connection.created_at),
        scope: connection.scope.clone(),
        has_refresh_token: connection.holds_refresh_token,
    }
}

/// Asks `provider` to revoke a sign-in's tokens that will not be saved — a token nobody holds
/// should not stay valid — and says in the log `why`, and whether it did.
async fn hand_back(
    provider: &Provider,
    access: &oauth2::AccessToken,
    refresh: Option<&oauth2::RefreshToken>,
    device_id: Option<&str>,
    why: &str,
) {
    let revoked = provider.revoke(access, refresh, device_id).await;
    tracing::warn!(
        provider = %provider.id,
        revoked = matches!(revoked, Revoked::Yes),
        "{why}, so the provider was asked to take the token back"
    );
}
