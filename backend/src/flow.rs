//! What a browser carries between requests, sealed (AES-256-GCM) in HttpOnly
//! cookies: each sign-in in progress (one cookie per sign-in, so that two tabs
//! never break each other), the states already used, this browser's identity
//! (which saved connections it may see), and the outcome the page reports once.

use axum_extra::extract::{
    PrivateCookieJar,
    cookie::{Cookie, SameSite},
};
use oauth2::PkceCodeVerifier;
use rand::Rng;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::Duration;
use tokenbridge_shared::{ErrorCode, ExchangeLog, FlowOutcome, LogEntry};

use crate::oauth::{unix_now, unix_now_ns};

/// A flow cookie outlives its sealed expiry so that a late return reads "expired", not "missing".
const FLOW_COOKIE_GRACE_SECS: i64 = 600;
/// Sign-ins in progress at once in one browser; starting another drops the oldest.
const MAX_FLOWS: usize = 4;
/// Used states remembered, to tell a replayed callback from one never started.
const MAX_USED: usize = 8;
const OUTCOME_LIFETIME_SECS: i64 = 300;
/// A browser is known for a working day after its last visit.
const SESSION_LIFETIME_SECS: i64 = 8 * 3600;

const FLOW: &str = "tb_flow_";
const USED: &str = "tb_used";
const SESSION: &str = "tb_session";
const OUTCOME: &str = "tb_outcome";
const LOG: &str = "tb_log";

/// A sign-in in progress.
#[derive(Serialize, Deserialize)]
pub struct Transaction {
    pub state: String,
    pub verifier: PkceCodeVerifier,
    /// Unix nanoseconds; orders the sign-ins of one browser.
    pub started_ns: i64,
    pub expires_at: i64,
    pub scope: Option<String>,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    /// The authorize request as the log shows it (secrets already masked).
    pub authorize_log: Option<LogEntry>,
}

/// What a sign-in must remember until the provider sends the browser back.
pub struct NewFlow {
    pub state: String,
    pub verifier: PkceCodeVerifier,
    pub scope: Option<String>,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub authorize_log: LogEntry,
}

/// Who this browser is, as far as saved connections go.
#[derive(Serialize, Deserialize)]
struct Browser {
    id: String,
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

    fn prefix(&self) -> &'static str {
        if self.secure { "__Host-" } else { "" }
    }

    fn name(&self, base: &str) -> String {
        format!("{}{base}", self.prefix())
    }

    fn cookie(
        &self,
        name: String,
        value: String,
        max_age: i64,
        same_site: SameSite,
    ) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(same_site)
            .max_age(Duration::seconds(max_age))
            .build()
    }

    /// A cookie that removes `name`, with the same attributes as the one it removes.
    fn removal(&self, name: String) -> Cookie<'static> {
        self.cookie(name, String::new(), 0, SameSite::Lax)
    }

    fn read<T: DeserializeOwned>(&self, jar: &PrivateCookieJar, name: &str) -> Option<T> {
        // A cookie sealed with another key, or tampered with, does not decrypt and reads as absent.
        jar.get(name)
            .and_then(|cookie| serde_json::from_str(cookie.value()).ok())
    }

    fn write<T: Serialize>(
        &self,
        jar: PrivateCookieJar,
        name: String,
        value: &T,
        max_age: i64,
        same_site: SameSite,
    ) -> PrivateCookieJar {
        match serde_json::to_string(value) {
            Ok(json) => jar.add(self.cookie(name, json, max_age, same_site)),
            // Our own types always serialize; if one ever did not, the cookie is simply not set.
            Err(error) => {
                tracing::error!(%error, "could not serialize a cookie");
                jar
            }
        }
    }

    /// The name of the flow cookie of `state`: a prefix of its hash, so the state itself is not in it.
    fn flow_name(&self, state: &str) -> String {
        format!("{}{FLOW}{}", self.prefix(), &state_hash(state)[..16])
    }

    /// The sign-ins in progress in this browser: cookie name and start time.
    fn flows(&self, jar: &PrivateCookieJar) -> Vec<(String, i64)> {
        let prefix = self.name(FLOW);
        jar.iter()
            .filter(|cookie| cookie.name().starts_with(&prefix))
            .map(|cookie| {
                let started =
                    serde_json::from_str::<Transaction>(cookie.value()).map_or(0, |t| t.started_ns);
                (cookie.name().to_owned(), started)
            })
            .collect()
    }

    pub fn start_flow(&self, mut jar: PrivateCookieJar, flow: NewFlow) -> PrivateCookieJar {
        let mut flows = self.flows(&jar);
        flows.sort_by_key(|(_, started)| *started);
        let excess = (flows.len() + 1).saturating_sub(MAX_FLOWS);
        for (name, _) in flows.into_iter().take(excess) {
            jar = jar.remove(self.removal(name));
        }
        let name = self.flow_name(&flow.state);
        let transaction = Transaction {
            state: flow.state,
            verifier: flow.verifier,
            started_ns: unix_now_ns(),
            expires_at: unix_now() + self.flow_lifetime,
            scope: flow.scope,
            device_id: flow.device_id,
            device_name: flow.device_name,
            authorize_log: Some(flow.authorize_log),
        };
        // Lax: the cookie must come back on the top-level redirect from the provider.
        self.write(
            jar,
            name,
            &transaction,
            self.flow_lifetime + FLOW_COOKIE_GRACE_SECS,
            SameSite::Lax,
        )
    }

    /// Takes the sign-in of `state` out of the jar and checks it. Its cookie is cleared
    /// whatever the outcome, and a used state is remembered so that a replayed callback
    /// is told apart from a sign-in that was never started (or started in another browser).
    pub fn finish_flow(
        &self,
        jar: PrivateCookieJar,
        state: Option<&str>,
    ) -> (PrivateCookieJar, Result<Transaction, ErrorCode>) {
        let others_in_progress = !self.flows(&jar).is_empty();
        let Some(state) = state.filter(|s| !s.is_empty()) else {
            let code = if others_in_progress {
                ErrorCode::InvalidCallback
            } else {
                ErrorCode::StateMissing
            };
            return (jar, Err(code));
        };
        let name = self.flow_name(state);
        let transaction: Option<Transaction> = self.read(&jar, &name);
        let mut used: Vec<String> = self.read(&jar, &self.name(USED)).unwrap_or_default();
        let hash = state_hash(state);

        let Some(transaction) = transaction else {
            let code = if used
                .iter()
                .any(|u| bool::from(u.as_bytes().ct_eq(hash.as_bytes())))
            {
                ErrorCode::StateReplayed
            } else if others_in_progress {
                ErrorCode::StateMismatch
            } else {
                ErrorCode::StateMissing
            };
            return (jar, Err(code));
        };
        let jar = jar.remove(self.removal(name));
        // The cookie was found by a hash of the state; the whole state must still match.
        if !bool::from(transaction.state.as_bytes().ct_eq(state.as_bytes())) {
            return (jar, Err(ErrorCode::StateMismatch));
        }
        if unix_now() >= transaction.expires_at {
            return (jar, Err(ErrorCode::StateExpired));
        }
        used.push(hash);
        let skip = used.len().saturating_sub(MAX_USED);
        used.drain(..skip);
        let jar = self.write(
            jar,
            self.name(USED),
            &used,
            self.flow_lifetime + FLOW_COOKIE_GRACE_SECS,
            SameSite::Lax,
        );
        (jar, Ok(transaction))
    }

    /// This browser's id, if it has one.
    pub fn browser(&self, jar: &PrivateCookieJar) -> Option<String> {
        self.read::<Browser>(jar, &self.name(SESSION)).map(|b| b.id)
    }

    /// This browser's id, made now if it has none; the cookie's lifetime starts again.
    pub fn ensure_browser(&self, jar: PrivateCookieJar) -> (PrivateCookieJar, String) {
        let id = self.browser(&jar).unwrap_or_else(|| {
            let bytes: [u8; 16] = rand::rng().random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        });
        // Strict: no other site can make the browser send it.
        let jar = self.write(
            jar,
            self.name(SESSION),
            &Browser { id: id.clone() },
            SESSION_LIFETIME_SECS,
            SameSite::Strict,
        );
        (jar, id)
    }

    pub fn clear_session(&self, jar: PrivateCookieJar) -> PrivateCookieJar {
        jar.remove(self.removal(self.name(SESSION)))
    }

    pub fn set_outcome(&self, jar: PrivateCookieJar, outcome: &FlowOutcome) -> PrivateCookieJar {
        self.write(
            jar,
            self.name(OUTCOME),
            outcome,
            OUTCOME_LIFETIME_SECS,
            SameSite::Lax,
        )
    }

    /// Keeps the last sign-in's exchange log (secrets masked) for the page, as long as the browser's identity.
    pub fn set_log(&self, jar: PrivateCookieJar, log: &ExchangeLog) -> PrivateCookieJar {
        self.write(
            jar,
            self.name(LOG),
            log,
            SESSION_LIFETIME_SECS,
            SameSite::Lax,
        )
    }

    pub fn log(&self, jar: &PrivateCookieJar) -> Option<ExchangeLog> {
        self.read(jar, &self.name(LOG))
    }

    /// The outcome of the last sign-in, read once.
    pub fn take_outcome(&self, jar: PrivateCookieJar) -> (PrivateCookieJar, Option<FlowOutcome>) {
        let name = self.name(OUTCOME);
        if jar.get(&name).is_none() {
            return (jar, None);
        }
        let outcome = self.read(&jar, &name);
        (jar.remove(self.removal(name)), outcome)
    }
}

fn state_hash(state: &str) -> String {
    Sha256::digest(state.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
