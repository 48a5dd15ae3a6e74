//! Sessions on the server: who a browser is once it has completed a sign-in.
//! The browser's sealed cookie carries a 256-bit random id; the store keeps only
//! its hash, with idle and absolute expiry. Operators (`TOKENBRIDGE_OPERATORS`)
//! are the sessions that signed in as one of the listed provider logins.

use std::{sync::Arc, time::Duration};

use tokenbridge_shared::ProviderKind;

use crate::{
    clock::{stamped, unix_now},
    store::{Connection, NewSession, Pruned, SessionRow, Store, StoreError, key_of, random_hex},
};

/// A session is renewed (its idle expiry pushed back) at most this often, so that
/// reading the page does not write to the database on every request.
const RENEW_EVERY_SECS: i64 = 60;

/// The random id a session cookie carries. Debug is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId([redacted])")
    }
}

impl SessionId {
    /// 256 fresh random bits, in hex, after the time it is made (see [`key_of`]).
    pub fn random() -> Self {
        Self(stamped(&random_hex::<32>()))
    }

    /// An id read back from a sealed cookie.
    pub fn from_cookie(value: String) -> Self {
        Self(value)
    }

    pub fn secret(&self) -> &str {
        &self.0
    }

    fn hash(&self) -> String {
        key_of(&self.0)
    }
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The hash of its id: how the store knows it.
    pub hash: String,
}

/// Provider logins whose sessions see every connection: `login` (any provider) or `provider:login`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operators(Vec<(Option<String>, String)>);

impl Operators {
    /// From a comma- or space-separated list, as `TOKENBRIDGE_OPERATORS` gives it.
    pub fn parse(text: &str) -> Self {
        Self(
            text.split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(|entry| match entry.split_once(':') {
                    Some((provider, login)) => {
                        (Some(provider.trim().to_owned()), login.trim().to_owned())
                    }
                    None => (None, entry.to_owned()),
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `connection` (at a provider of `kind`) is an operator's account. A login
    /// counts only where the provider vouches for it: Yandex's logins (compared without
    /// regard to case), and the sandbox's only when tokenbridge serves this machine alone (on
    /// a public address anyone can type any login into it). At OpenID and plain OAuth 2.0
    /// providers people may choose their own username, email or name, so there the entry must
    /// be the account id (`sub` or `id`), compared exactly.
    pub fn includes(&self, connection: &Connection, kind: ProviderKind, local: bool) -> bool {
        self.0.iter().any(|(provider, entry)| {
            let here = provider
                .as_deref()
                .is_none_or(|p| p.eq_ignore_ascii_case(&connection.provider));
            here && match kind {
                ProviderKind::Yandex => entry.eq_ignore_ascii_case(&connection.login),
                ProviderKind::Sandbox => local && entry.eq_ignore_ascii_case(&connection.login),
                ProviderKind::Oidc | ProviderKind::Custom => *entry == connection.account_id,
            }
        })
    }
}

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// A session unused for this long ends.
    pub idle_secs: i64,
    /// A session ends this long after its sign-in, however much it is used.
    pub absolute_secs: i64,
}

#[derive(Clone)]
pub struct Sessions {
    store: Store,
    lifetimes: Lifetimes,
    operators: Operators,
    /// Whether the public URL is this machine (the sandbox's logins then count).
    local: bool,
}

impl Sessions {
    pub fn new(store: Store, lifetimes: Lifetimes, operators: Operators, local: bool) -> Self {
        Self {
            store,
            lifetimes,
            operators,
            local,
        }
    }

    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    /// The live session of `id`, renewed if its last renewal is over a minute old.
    /// An expired session reads as none (the pruning task removes it).
    pub async fn find(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let hash = id.hash();
        let Some(row) = self.store.session(&hash).await? else {
            return Ok(None);
        };
        self.live(hash, row).await
    }

    /// The live session of `id`, as [`Self::find`] finds it, and the connections of
    /// `providers` it sees: one query.
    pub async fn find_seeing(
        &self,
        id: &SessionId,
        providers: &[&str],
    ) -> Result<Option<(Session, Vec<Connection>)>, StoreError> {
        let hash = id.hash();
        let Some((row, seen)) = self.store.session_seeing(providers, &hash).await? else {
            return Ok(None);
        };
        Ok(self.live(hash, row).await?.map(|session| (session, seen)))
    }

    /// The session `row` of `hash`, unless it expired; renewed if due.
    async fn live(&self, hash: String, row: SessionRow) -> Result<Option<Session>, StoreError> {
        let now = unix_now();
        if now - row.seen_at >= self.lifetimes.idle_secs
            || now - row.created_at >= self.lifetimes.absolute_secs
        {
            return Ok(None);
        }
        if now - row.seen_at >= RENEW_EVERY_SECS {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(Some(Session { hash }))
    }

    /// What a completed sign-in needs to start a fresh session that inherits `current`'s sight.
    pub fn successor(&self, id: &SessionId, current: Option<&Session>) -> NewSession {
        NewSession {
            hash: id.hash(),
            replaces: current.map(|s| s.hash.clone()),
            browser_gone: Default::default(),
        }
    }

    /// Ends the session of `id`, live or not: a copy of its cookie opens nothing afterwards.
    pub async fn end(&self, id: &SessionId) -> Result<(), StoreError> {
        self.store.end_session(&id.hash()).await
    }

    /// Records a callback's state as spent, until its sign-in would have expired anyway;
    /// false when it was spent before (a replay, here or on another instance).
    pub async fn spend_state(&self, state: &str, expires_at: i64) -> Result<bool, StoreError> {
        self.store.spend_state(&key_of(state), expires_at).await
    }

    pub async fn state_spent(&self, state: &str) -> Result<bool, StoreError> {
        self.store.state_spent(&key_of(state)).await
    }

    /// Whether a session that sees `own` connections (those it signed in with) is an operator's.
    pub fn is_operator(
        &self,
        own: &[Connection],
        kind: impl Fn(&Connection) -> ProviderKind,
    ) -> bool {
        own.iter()
            .any(|c| self.operators.includes(c, kind(c), self.local))
    }

    /// Removes expired sessions and spent states that can no longer matter.
    pub async fn prune(&self) -> Result<Pruned, StoreError> {
        let now = unix_now();
        self.store
            .prune(
                now,
                now - self.lifetimes.idle_secs,
                now - self.lifetimes.absolute_secs,
            )
            .await
    }

    /// Prunes every `every` for as long as the process runs.
    pub fn spawn_pruning(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                match self.prune().await {
                    Ok(pruned) if pruned != Pruned::default() => tracing::info!(
                        sessions = pruned.sessions,
                        states = pruned.states,
                        "pruned expired sessions and spent states"
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "pruning failed; will try again"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_are_logins_optionally_of_one_provider() {
        let operators = Operators::parse("alice, yandex:Bob  sandbox:carol");
        assert_eq!(
            operators,
            Operators(vec![
                (None, "alice".into()),
                (Some("yandex".into()), "Bob".into()),
                (Some("sandbox".into()), "carol".into()),
            ])
        );
        assert!(Operators::parse(" , ").is_empty());
    }

    #[test]
    fn a_session_id_never_shows_in_debug_output() {
        let id = SessionId::random();
        // The time it was made, then 256 random bits in hex.
        assert_eq!(id.secret().len(), 1 + 12 + 64);
        assert!(!format!("{id:?}").contains(id.secret()));
    }
}
