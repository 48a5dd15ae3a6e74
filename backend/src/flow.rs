//! What a browser carries between requests, sealed (AES-256-GCM) in HttpOnly
//! cookies: each sign-in in progress (one cookie per sign-in, so that two tabs
//! never break each other; only what the callback needs), the id of its session
//! on the server, and the outcome and exchange log of its last sign-in.

use cookie::{Cookie, SameSite};
use oauth2::PkceCodeVerifier;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;
use time::Duration;
use tokenbridge_shared::{ErrorCode, ExchangeLog, FlowOutcome};

use crate::{clock::unix_now_ms, exchange_log, jar::Jar, sessions::SessionId, store::hash_id};

/// A flow cookie outlives its sealed expiry so that a late return reads "expired", not "missing".
const FLOW_COOKIE_GRACE_SECS: i64 = 600;
/// A requested scope up to this long is remembered for the connection (when the provider
/// does not say what it granted, as Yandex does not); a longer one is not, so that the
/// cookie stays far below 4 KB whatever is asked.
pub const MAX_REMEMBERED_SCOPE: usize = 256;
/// Sign-ins in progress at once in one browser; starting another drops the oldest.
const MAX_FLOWS: usize = 4;
const OUTCOME_LIFETIME_SECS: i64 = 300;
/// The exchange log is kept for a working day.
const LOG_LIFETIME_SECS: i64 = 8 * 3600;

const FLOW: &str = "tb_flow_";
/// Earlier versions remembered used states in the browser; the store does now.
const LEGACY_USED: &str = "tb_used";
const SESSION: &str = "tb_session";
const OUTCOME: &str = "tb_outcome";
const LOG: &str = "tb_log";

/// A sign-in in progress: only what the callback needs, so the cookie stays small
/// whatever the person asked for.
#[derive(Serialize, Deserialize)]
pub struct Transaction {
    pub state: String,
    pub verifier: PkceCodeVerifier,
    /// The provider the sign-in went to.
    pub provider: String,
    /// Unix milliseconds: fine enough to order the sign-ins of one browser.
    pub expires_ms: i64,
    /// The nonce an OpenID provider's ID token must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The scope asked for, if short (see [`MAX_REMEMBERED_SCOPE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The device the token is for (Yandex revokes only such tokens); its name is at most 100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
}

/// What a sign-in must remember until the provider sends the browser back.
pub struct NewFlow {
    pub state: String,
    pub verifier: PkceCodeVerifier,
    pub provider: String,
    pub nonce: Option<String>,
    pub scope: Option<String>,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
}

/// How a callback's state relates to this browser's sign-ins.
pub enum FlowMatch {
    /// One of this browser's sign-ins, taken out of the jar.
    Matched(Transaction),
    /// None of them: a forged or replayed link, or a sign-in started in another browser.
    Unmatched { others_in_progress: bool },
}

/// The session cookie's sealed value.
#[derive(Serialize, Deserialize)]
struct SessionCookie {
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
        [self.prefix(), base].concat()
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

    fn read<T: DeserializeOwned>(&self, jar: &Jar, name: &str) -> Option<T> {
        // A cookie sealed with another key, or tampered with, does not decrypt and reads as absent.
        jar.get(name)
            .and_then(|value| serde_json::from_str(&value).ok())
    }

    fn write<T: Serialize>(
        &self,
        jar: Jar,
        name: String,
        value: &T,
        max_age: i64,
        same_site: SameSite,
    ) -> Jar {
        match serde_json::to_string(value) {
            Ok(json) => jar.set(self.cookie(name, json, max_age, same_site)),
            // Our own types always serialize; if one ever did not, the cookie is simply not set.
            Err(error) => {
                tracing::error!(%error, "could not serialize a cookie");
                jar
            }
        }
    }

    /// The name of the flow cookie of `state`: a prefix of its hash, so the state itself is not in it.
    fn flow_name(&self, state: &str) -> String {
        [self.prefix(), FLOW, &hash_id(state)[..16]].concat()
    }

    /// The sign-ins in progress in this browser: cookie name and expiry.
    fn flows(&self, jar: &Jar) -> Vec<(String, i64)> {
        let prefix = self.name(FLOW);
        jar.opened_with_prefix(&prefix)
            .map(|(name, value)| {
                let expires =
                    serde_json::from_str::<Transaction>(&value).map_or(0, |t| t.expires_ms);
                (name.to_owned(), expires)
            })
            .collect()
    }

    pub fn start_flow(&self, mut jar: Jar, flow: NewFlow) -> Jar {
        let mut flows = self.flows(&jar);
        flows.sort_by_key(|(_, expires)| *expires);
        let excess = (flows.len() + 1).saturating_sub(MAX_FLOWS);
        for (name, _) in flows.into_iter().take(excess) {
            jar = jar.remove(self.removal(name));
        }
        let name = self.flow_name(&flow.state);
        let transaction = Transaction {
            state: flow.state,
            verifier: flow.verifier,
            provider: flow.provider,
            expires_ms: unix_now_ms() + self.flow_lifetime * 1000,
            nonce: flow.nonce,
            scope: flow.scope.filter(|s| s.len() <= MAX_REMEMBERED_SCOPE),
            device_id: flow.device_id,
            device_name: flow.device_name,
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

    /// Takes the sign-in of `state` out of the jar, if this browser started it. Its cookie
    /// is cleared whatever happens next; the caller checks the state, expiry and spending.
    pub fn take_flow(&self, jar: Jar, state: &str) -> (Jar, FlowMatch) {
        let name = self.flow_name(state);
        match self.read::<Transaction>(&jar, &name) {
            Some(transaction) => (
                jar.remove(self.removal(name)),
                FlowMatch::Matched(transaction),
            ),
            None => {
                let others_in_progress = !self.flows(&jar).is_empty();
                (jar, FlowMatch::Unmatched { others_in_progress })
            }
        }
    }

    /// Whether any sign-in is in progress in this browser.
    pub fn any_flow(&self, jar: &Jar) -> bool {
        !self.flows(jar).is_empty()
    }

    /// The session id this browser carries, if any (live or not: the store decides).
    pub fn session_id(&self, jar: &Jar) -> Option<SessionId> {
        self.read::<SessionCookie>(jar, &self.name(SESSION))
            .map(|c| SessionId::from_cookie(c.id))
    }

    /// Gives the browser `id`, for as long as a session can live.
    pub fn set_session(&self, jar: Jar, id: &SessionId, max_age_secs: i64) -> Jar {
        // Lax, not Strict: it must come along on the provider's redirect to the callback, so
        // that a sign-in can end the browser's previous session and carry over what it saw.
        // Every state-changing call also needs the app's own header (`x-tokenbridge`), which
        // no other site can send.
        self.write(
            jar,
            self.name(SESSION),
            &SessionCookie {
                id: id.secret().to_owned(),
            },
            max_age_secs,
            SameSite::Lax,
        )
    }

    pub fn clear_session(&self, jar: Jar) -> Jar {
        jar.remove(self.removal(self.name(SESSION)))
    }

    /// Removes every tokenbridge cookie: session, outcome, log and sign-ins in progress.
    pub fn clear_all(&self, mut jar: Jar) -> Jar {
        // Those that no longer open (sealed with an earlier key) go too.
        let prefix = self.name(FLOW);
        let flows: Vec<String> = jar.names_with_prefix(&prefix).map(str::to_owned).collect();
        for name in flows {
            jar = jar.remove(self.removal(name));
        }
        for base in [SESSION, OUTCOME, LOG, LEGACY_USED] {
            jar = jar.remove(self.removal(self.name(base)));
        }
        jar
    }

    pub fn set_outcome(&self, jar: Jar, outcome: &FlowOutcome) -> Jar {
        self.write(
            jar,
            self.name(OUTCOME),
            outcome,
            OUTCOME_LIFETIME_SECS,
            SameSite::Lax,
        )
    }

    /// Keeps the last sign-in's exchange log (secrets masked) for the page: what of it fits in
    /// a cookie ([`exchange_log::fitted`]).
    pub fn set_log(&self, jar: Jar, log: ExchangeLog) -> Jar {
        let json = match serde_json::to_string(&log) {
            Ok(json) if json.len() > exchange_log::MAX_LOG_JSON => {
                serde_json::to_string(&exchange_log::fitted(log, exchange_log::MAX_LOG_JSON))
            }
            json => json,
        };
        match json {
            Ok(json) => {
                jar.set(self.cookie(self.name(LOG), json, LOG_LIFETIME_SECS, SameSite::Lax))
            }
            Err(error) => {
                tracing::error!(%error, "could not serialize the exchange log");
                jar
            }
        }
    }

    /// The last sign-in's exchange log as the JSON this server sealed, for the page: passed
    /// on without reading it into an `ExchangeLog` and writing it out again (that was a
    /// quarter of the page's session read).
    pub fn log(&self, jar: &Jar) -> Option<Box<RawValue>> {
        RawValue::from_string(jar.get(&self.name(LOG))?).ok()
    }

    /// The outcome of the last sign-in, read once.
    pub fn take_outcome(&self, jar: Jar) -> (Jar, Option<FlowOutcome>) {
        let name = self.name(OUTCOME);
        let Some(value) = jar.get(&name) else {
            return (jar, None);
        };
        let outcome = serde_json::from_str(&value).ok();
        (jar.remove(self.removal(name)), outcome)
    }
}

/// Whether the transaction's state is exactly `state` (its cookie was found by a hash prefix).
impl Transaction {
    /// When the sign-in expires, in Unix seconds (rounded up).
    pub fn expires_at(&self) -> i64 {
        (self.expires_ms + 999) / 1000
    }

    pub fn expired(&self) -> bool {
        unix_now_ms() >= self.expires_ms
    }
}

pub fn same_state(transaction: &Transaction, state: &str) -> bool {
    bool::from(transaction.state.as_bytes().ct_eq(state.as_bytes()))
}

/// The code a callback that matches none of this browser's sign-ins ends with,
/// once the store has said whether its state was spent.
pub fn unmatched_code(spent: bool, others_in_progress: bool) -> ErrorCode {
    if spent {
        ErrorCode::StateReplayed
    } else if others_in_progress {
        ErrorCode::StateMismatch
    } else {
        ErrorCode::StateMissing
    }
}
