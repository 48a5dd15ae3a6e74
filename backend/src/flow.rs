//! What a browser carries between requests, sealed (AES-256-GCM) in HttpOnly
//! cookies: the sign-in in progress, the marker of a finished one, the token
//! this browser obtained, and the outcome the page reports once.

use axum_extra::extract::{
    PrivateCookieJar,
    cookie::{Cookie, SameSite},
};
use oauth2::{AccessToken, PkceCodeVerifier, RefreshToken};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::Duration;
use tokenbridge_shared::{ErrorCode, FlowOutcome, TokenView};

use crate::oauth::unix_now;

/// The flow cookie outlives its sealed expiry so a late return reads "expired", not "missing".
const FLOW_COOKIE_GRACE_SECS: i64 = 600;
const OUTCOME_LIFETIME_SECS: i64 = 300;

/// A sign-in in progress.
#[derive(Serialize, Deserialize)]
pub struct Transaction {
    pub state: String,
    pub verifier: PkceCodeVerifier,
    pub expires_at: i64,
    pub scope: Option<String>,
}

/// The token this browser obtained. Its Debug is redacted by oauth2's secret types.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredToken {
    pub access_token: AccessToken,
    pub token_type: String,
    pub expires_at: Option<i64>,
    pub obtained_at: i64,
    pub scope: Option<String>,
    pub refresh_token: Option<RefreshToken>,
}

impl StoredToken {
    /// What the page may see: everything but the refresh token.
    pub fn view(&self) -> TokenView {
        TokenView {
            access_token: self.access_token.secret().clone(),
            token_type: self.token_type.clone(),
            expires_at: self.expires_at,
            obtained_at: self.obtained_at,
            scope: self.scope.clone(),
            has_refresh_token: self.refresh_token.is_some(),
        }
    }
}

/// Cookie names and attributes; `Secure` with the `__Host-` prefix when served over https.
#[derive(Debug, Clone)]
pub struct Cookies {
    secure: bool,
    flow_lifetime: i64,
}

impl Cookies {
    pub fn new(secure: bool, flow_lifetime: i64) -> Self {
        Self {
            secure,
            flow_lifetime,
        }
    }

    fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    fn cookie(
        &self,
        base: &str,
        value: String,
        max_age: Option<i64>,
        same_site: SameSite,
    ) -> Cookie<'static> {
        let mut cookie = Cookie::build((self.name(base), value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(same_site)
            .build();
        if let Some(seconds) = max_age {
            cookie.set_max_age(Duration::seconds(seconds));
        }
        cookie
    }

    /// A cookie to remove `base`; it carries the same attributes as the one it removes.
    fn removal(&self, base: &str) -> Cookie<'static> {
        self.cookie(base, String::new(), None, SameSite::Lax)
    }

    fn read<T: DeserializeOwned>(&self, jar: &PrivateCookieJar, base: &str) -> Option<T> {
        // A cookie sealed with another key, or tampered with, does not decrypt and reads as absent.
        jar.get(&self.name(base))
            .and_then(|cookie| serde_json::from_str(cookie.value()).ok())
    }

    fn write<T: Serialize>(
        &self,
        jar: PrivateCookieJar,
        base: &str,
        value: &T,
        max_age: Option<i64>,
        same_site: SameSite,
    ) -> PrivateCookieJar {
        match serde_json::to_string(value) {
            Ok(json) => jar.add(self.cookie(base, json, max_age, same_site)),
            // Our own types always serialize; if one ever did not, the cookie is simply not set.
            Err(error) => {
                tracing::error!(%error, cookie = base, "could not serialize a cookie");
                jar
            }
        }
    }

    pub fn start_flow(
        &self,
        jar: PrivateCookieJar,
        state: String,
        verifier: PkceCodeVerifier,
        scope: Option<String>,
    ) -> PrivateCookieJar {
        let transaction = Transaction {
            state,
            verifier,
            expires_at: unix_now() + self.flow_lifetime,
            scope,
        };
        // Lax: the cookie must come back on the top-level redirect from the provider.
        self.write(
            jar,
            "tb_flow",
            &transaction,
            Some(self.flow_lifetime + FLOW_COOKIE_GRACE_SECS),
            SameSite::Lax,
        )
    }

    /// Takes the sign-in in progress out of the jar, checking the returned `state` against it.
    /// The transaction cookie is cleared whatever the outcome, and a used state is remembered
    /// so that a replayed callback is told apart from one that was never started.
    pub fn finish_flow(
        &self,
        jar: PrivateCookieJar,
        state: Option<&str>,
    ) -> (PrivateCookieJar, Result<Transaction, ErrorCode>) {
        let transaction: Option<Transaction> = self.read(&jar, "tb_flow");
        let used: Option<String> = self.read(&jar, "tb_flow_used");
        let jar = jar.remove(self.removal("tb_flow"));
        let presented = state.unwrap_or_default();

        let Some(transaction) = transaction else {
            let replayed = !presented.is_empty()
                && used.is_some_and(|hash| {
                    bool::from(hash.as_bytes().ct_eq(state_hash(presented).as_bytes()))
                });
            let code = if replayed {
                ErrorCode::StateReplayed
            } else {
                ErrorCode::StateMissing
            };
            return (jar, Err(code));
        };
        if presented.is_empty() {
            return (jar, Err(ErrorCode::InvalidCallback));
        }
        if !bool::from(transaction.state.as_bytes().ct_eq(presented.as_bytes())) {
            return (jar, Err(ErrorCode::StateMismatch));
        }
        if unix_now() >= transaction.expires_at {
            return (jar, Err(ErrorCode::StateExpired));
        }
        let jar = self.write(
            jar,
            "tb_flow_used",
            &state_hash(presented),
            Some(self.flow_lifetime + FLOW_COOKIE_GRACE_SECS),
            SameSite::Lax,
        );
        (jar, Ok(transaction))
    }

    pub fn session(&self, jar: &PrivateCookieJar) -> Option<StoredToken> {
        self.read(jar, "tb_session")
    }

    pub fn set_session(&self, jar: PrivateCookieJar, token: &StoredToken) -> PrivateCookieJar {
        // Strict: no other site can make the browser send the token's cookie.
        let max_age = token
            .expires_at
            .map(|at| (at - unix_now()).clamp(60, 400 * 24 * 3600));
        self.write(jar, "tb_session", token, max_age, SameSite::Strict)
    }

    pub fn clear_session(&self, jar: PrivateCookieJar) -> PrivateCookieJar {
        jar.remove(self.removal("tb_session"))
    }

    pub fn set_outcome(&self, jar: PrivateCookieJar, outcome: &FlowOutcome) -> PrivateCookieJar {
        self.write(
            jar,
            "tb_outcome",
            outcome,
            Some(OUTCOME_LIFETIME_SECS),
            SameSite::Lax,
        )
    }

    /// The outcome of the last sign-in, read once.
    pub fn take_outcome(&self, jar: PrivateCookieJar) -> (PrivateCookieJar, Option<FlowOutcome>) {
        let outcome = self.read(&jar, "tb_outcome");
        if outcome.is_none() && jar.get(&self.name("tb_outcome")).is_none() {
            return (jar, None);
        }
        (jar.remove(self.removal("tb_outcome")), outcome)
    }
}

fn state_hash(state: &str) -> String {
    Sha256::digest(state.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
