//! The provider wing: every authorization server tokenbridge talks to is a
//! [`Provider`], which owns its endpoints and its dialect. The grant itself
//! (authorize URL with state and PKCE, code exchange, refresh) is RFC 6749 for
//! all of them, through the oauth2 crate over the one [`transport::Transport`];
//! the dialects differ in who the token belongs to, how it is revoked, and which
//! authorize options they take:
//! - [`yandex`]: Yandex OAuth (and the sandbox, which speaks it),
//! - [`standard`]: plain OAuth 2.0 (Bearer user info, RFC 7009 revocation),
//! - [`oidc`]: OpenID Connect by discovery, with the ID token verified.

pub mod oidc;
pub mod sandbox;
pub mod standard;
pub mod transport;
pub mod yandex;

use std::sync::Arc;

use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse as _, TokenUrl,
    basic::{
        BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
        BasicTokenType,
    },
};
use serde::{Deserialize, Serialize};
use tokenbridge_shared::{ErrorCode, ProviderKind, ProviderView, Revocation};
use url::Url;

use crate::{
    clock::{stamped, unix_now},
    config::{ClientAuth, ProviderSpec},
    exchange_log::{Recorder, Secrets},
};
use standard::Revocable;
use transport::{Transport, TransportError};

/// The token response: RFC 6749's fields, and an OpenID provider's `id_token`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Where a provider's grant, user info and revocation live.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorize: Url,
    pub token: Url,
    pub userinfo: Option<Url>,
    pub revoke: Option<Url>,
}

/// Options a person may give for one sign-in, on top of the configured ones. Each
/// dialect sends only those it understands.
#[derive(Debug, Default, Clone)]
pub struct AuthorizeOptions {
    pub scope: Option<String>,
    /// Yandex's optional_scope: permissions the person may switch off.
    pub optional_scope: Option<String>,
    /// Ask the person again even if they allowed it before (Yandex `force_confirm`,
    /// elsewhere `prompt=consent`).
    pub force_confirm: bool,
    pub login_hint: Option<String>,
    /// Names the device the token is for; Yandex revokes only tokens issued with a device.
    pub device_name: Option<String>,
}

/// A started sign-in: where to send the browser, and what to remember until it returns.
pub struct Authorization {
    pub url: Url,
    pub state: CsrfToken,
    pub verifier: PkceCodeVerifier,
    /// A fresh device id, when a device name was given to a provider that takes one.
    pub device_id: Option<String>,
    /// The nonce an OpenID provider must put in its ID token.
    pub nonce: Option<String>,
}

/// Who signed in, as a verified ID token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    /// `preferred_username`, `email` or `name`, the first the token carries.
    pub login: Option<String>,
}

/// A token as the provider issued it. Debug is redacted by oauth2's secret types.
#[derive(Debug)]
pub struct IssuedToken {
    pub access_token: AccessToken,
    pub token_type: String,
    pub expires_at: Option<i64>,
    pub obtained_at: i64,
    pub scope: Option<String>,
    pub refresh_token: Option<RefreshToken>,
    /// From a verified ID token, when an OpenID provider sent one.
    pub identity: Option<Identity>,
}

impl IssuedToken {
    /// Checks that a sign-in's token can be saved as it came: its `token_type` and `scope`
    /// are saved and shown, so they must be text the store can hold (PostgreSQL's cannot hold
    /// a NUL) and a person can read. (A refresh saves neither.)
    pub fn check_savable(&self) -> Result<(), ProviderError> {
        let token_type = &self.token_type;
        if token_type.is_empty() || token_type.len() > MAX_TOKEN_TYPE {
            return Err(ProviderError::malformed(format!(
                "the token_type is {} bytes long, not 1 to {MAX_TOKEN_TYPE}",
                token_type.len()
            )));
        }
        if !token_type.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ProviderError::malformed(
                "the token_type has a character that is not printable ASCII",
            ));
        }
        let scope = self.scope.as_deref();
        match scope.and_then(|scope| unsavable("scope", scope, MAX_ISSUED_SCOPE)) {
            Some(why) => Err(ProviderError::malformed(why)),
            None => Ok(()),
        }
    }
}

/// Why `text`, a provider's `what`, cannot be saved and shown as it came: more than `max`
/// bytes, or a control character in it (PostgreSQL's text cannot hold a NUL at all); `None`
/// when it can.
fn unsavable(what: &str, text: &str, max: usize) -> Option<String> {
    if text.len() > max {
        return Some(format!(
            "the {what} is {} bytes long, over {max}",
            text.len()
        ));
    }
    text.chars()
        .any(char::is_control)
        .then(|| format!("the {what} has a control character in it"))
}

/// Whose token it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub login: String,
}

impl Account {
    /// The most bytes an account's id or login may have. Both are saved and indexed, and
    /// PostgreSQL refuses an index entry of more than about 2.7 KB; logins are e-mail
    /// addresses at most (254), and OpenID's `sub` 255 ASCII characters.
    const MAX_LEN: usize = 512;

    /// The account as the provider named it, if its id and login are text the store can hold
    /// and a person can read: at most [`Self::MAX_LEN`] bytes, with no control character
    /// (PostgreSQL's text cannot hold a NUL at all).
    fn checked(self) -> Result<Self, ProviderError> {
        for (what, text) in [("account's id", &self.id), ("account's login", &self.login)] {
            if let Some(why) = unsavable(what, text, Self::MAX_LEN) {
                return Err(ProviderError::new(ErrorCode::UserInfoFailed, why));
            }
        }
        Ok(self)
    }
}

/// A failed call to a provider: the code a person sees, the provider's words, and what
/// the log gets (never a secret).
#[derive(Debug)]
pub struct ProviderError {
    pub code: ErrorCode,
    /// The provider's `error_description` (or its error code), with secrets scrubbed out.
    pub provider_message: Option<String>,
    /// For the log only; never sent.
    pub detail: String,
    /// The provider never answered: it could not be reached, or took too long. Said by the
    /// code, or for a failure shown under a code of its own by [`Self::unanswered_if`].
    unanswered: bool,
}

impl ProviderError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            provider_message: None,
            detail: detail.into(),
            unanswered: matches!(
                code,
                ErrorCode::ProviderTimeout | ErrorCode::ProviderUnreachable
            ),
        }
    }

    /// A refusal in the provider's own words: `words`, already scrubbed of secrets
    /// ([`scrub_all`]), shown as `provider_message`.
    pub(super) fn refused(code: ErrorCode, words: Option<String>, detail: String) -> Self {
        Self {
            provider_message: words,
            ..Self::new(code, detail)
        }
    }

    fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::ProviderMalformed, detail)
    }

    /// A transport failure, as the code a person sees.
    pub fn transport(error: &TransportError) -> Self {
        let code = match error {
            TransportError::Timeout => ErrorCode::ProviderTimeout,
            TransportError::Unreachable(_) => ErrorCode::ProviderUnreachable,
            TransportError::Redirect { .. } => ErrorCode::ProviderRedirect,
            TransportError::ServerError { .. } => ErrorCode::ProviderUnavailable,
            TransportError::Html { .. } => ErrorCode::ProviderHtml,
            TransportError::Body(_) => ErrorCode::ProviderMalformed,
            TransportError::TooLarge => ErrorCode::ProviderTooLarge,
        };
        Self::new(code, error.to_string())
    }

    /// This error, marked as unanswered when `error` is a timeout or an unreachable host (and
    /// as answered otherwise): for a transport failure shown under another code, such as the
    /// user info's `user_info_failed`.
    pub(super) fn unanswered_if(mut self, error: &TransportError) -> Self {
        self.unanswered = matches!(
            error,
            TransportError::Timeout | TransportError::Unreachable(_)
        );
        self
    }

    /// Whether the provider never answered: it could not be reached, or took too long.
    pub(crate) fn is_unanswered(&self) -> bool {
        self.unanswered
    }

    /// This error, with `other`'s detail for the log after its own (two revocations refused).
    fn and(mut self, other: ProviderError) -> Self {
        self.detail = format!("{}; {}", self.detail, other.detail);
        self
    }

    /// A token request's failure; `secrets` (what the request carried: the code or refresh
    /// token, the PKCE verifier, the client secret) are scrubbed from the provider's words.
    fn from_oauth(
        error: RequestTokenError<TransportError, BasicErrorResponse>,
        secrets: &Secrets,
    ) -> Self {
        match error {
            RequestTokenError::ServerResponse(response) => {
                // An extension error code is any string the provider likes: told apart as
                // sent, shown scrubbed.
                let code = match response.error().as_ref() {
                    "invalid_grant" | "bad_verification_code" => ErrorCode::CodeRejected,
                    "invalid_client" | "unauthorized_client" => ErrorCode::ClientRejected,
                    _ => ErrorCode::TokenRequestRejected,
                };
                let kind = scrubbed(response.error().as_ref(), secrets);
                let description = response
                    .error_description()
                    .cloned()
                    .unwrap_or_else(|| kind.clone());
                let description = scrubbed(&description, secrets);
                let detail = format!(
                    "the provider refused the token request: {}: {}",
                    kind.escape_debug(),
                    description.escape_debug()
                );
                Self::refused(code, Some(description), detail)
            }
            RequestTokenError::Request(transport) => Self::transport(&transport),
            // The body may hold a token, so only the shape of the failure is kept.
            RequestTokenError::Parse(error, body) => Self::malformed(format!(
                "the token response is not the expected JSON ({} bytes): {:?} error at line {} column {}, path {}",
                body.len(),
                error.inner().classify(),
                error.inner().line(),
                error.inner().column(),
                error.path(),
            )),
            RequestTokenError::Other(message) => Self::malformed(message),
        }
    }
}

/// The longest access token saved: JWTs run to a few kilobytes; beyond this it is not a token.
const MAX_TOKEN: usize = 16 * 1024;
/// The most bytes of a `token_type` ("bearer", "DPoP", "N_A"…).
const MAX_TOKEN_TYPE: usize = 64;
/// The longest scope a sign-in's token may come with: a few hundred bytes in practice (a
/// dozen of Google's URL-shaped scopes come to about 1 KB).
const MAX_ISSUED_SCOPE: usize = 16 * 1024;

/// HTTP Basic's credential for a client (RFC 6749 §2.3.1: the id and the secret form-encoded,
/// joined by a colon, in base64), as oauth2 writes it for a token request and
/// [`standard::revoke`] for a revocation.
fn basic_credential(client_id: &ClientId, client_secret: &ClientSecret) -> String {
    use base64::Engine as _;
    let form =
        |text: &str| -> String { url::form_urlencoded::byte_serialize(text.as_bytes()).collect() };
    let pair = [form(client_id.as_str()), form(client_secret.secret())].join(":");
    base64::engine::general_purpose::STANDARD.encode(pair)
}

/// Removes each of `secrets`, as given and as forms and URLs write it, with any piece of a long
/// one and a short one only where it stands alone (see [`Secrets`]), then cuts the text short:
/// in that order, since a secret across the cut would leave its beginning.
pub fn scrub_all(text: &str, secrets: &[&str]) -> String {
    scrubbed(text, &Secrets::new(secrets))
}

/// [`scrub_all`] with the secrets already listed.
fn scrubbed(text: &str, secrets: &Secrets) -> String {
    secrets.scrub(text).chars().take(500).collect()
}

/// How a provider speaks beyond RFC 6749's grant.
enum Dialect {
    Yandex(yandex::Yandex),
    Standard(standard::Standard),
    Oidc(oidc::Oidc),
}

/// One authorization server: its identity on this instance, its client registration,
/// its endpoints and its dialect.
pub struct Provider {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    client_id: ClientId,
    client_secret: ClientSecret,
    client_auth: ClientAuth,
    redirect_url: Url,
    scope: Option<String>,
    force_confirm: bool,
    transport: Transport,
    dialect: Dialect,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Why a provider could not be set up at start-up.
#[derive(Debug, thiserror::Error)]
#[error("provider {id:?}: {message}")]
pub struct SetupError {
    pub id: String,
    pub message: String,
}

impl Provider {
    /// Sets up the provider of `spec`. `local` are the endpoints of the sandbox this very
    /// server runs (used when the spec is the sandbox's). An OpenID provider is discovered
    /// now: a document that is wrong stops the start; one that cannot be fetched is fetched
    /// again at first use.
    pub async fn new(
        spec: &ProviderSpec,
        redirect_url: Url,
        transport: Transport,
        local: Option<Endpoints>,
    ) -> Result<Self, SetupError> {
        let setup = |message: String| SetupError {
            id: spec.id.clone(),
            message,
        };
        let given = |endpoint: &Option<Url>, name: &str| {
            endpoint
                .clone()
                .ok_or_else(|| setup(format!("the {name} endpoint is not set")))
        };
        let dialect = match spec.kind {
            ProviderKind::Sandbox => {
                let local = local.ok_or_else(|| setup("the sandbox runs in this server".into()))?;
                Dialect::Yandex(yandex::Yandex::new(Endpoints {
                    authorize: spec.endpoints.authorize.clone().unwrap_or(local.authorize),
                    token: spec.endpoints.token.clone().unwrap_or(local.token),
                    userinfo: spec.endpoints.userinfo.clone().or(local.userinfo),
                    revoke: spec.endpoints.revoke.clone().or(local.revoke),
                }))
            }
            ProviderKind::Yandex => Dialect::Yandex(yandex::Yandex::new(Endpoints {
                authorize: given(&spec.endpoints.authorize, "authorize")?,
                token: given(&spec.endpoints.token, "token")?,
                userinfo: spec.endpoints.userinfo.clone(),
                revoke: spec.endpoints.revoke.clone(),
            })),
            ProviderKind::Custom => Dialect::Standard(standard::Standard::new(
                Endpoints {
                    authorize: given(&spec.endpoints.authorize, "authorize")?,
                    token: given(&spec.endpoints.token, "token")?,
                    userinfo: spec.endpoints.userinfo.clone(),
                    revoke: spec.endpoints.revoke.clone(),
                },
                spec.account_fields.clone(),
            )),
            ProviderKind::Oidc => {
                let issuer = spec
                    .issuer
                    .clone()
                    .ok_or_else(|| setup("an OpenID provider needs its issuer".into()))?;
                Dialect::Oidc(
                    oidc::Oidc::start(issuer, transport.clone())
                        .await
                        .map_err(setup)?,
                )
            }
        };
        Ok(Self {
            id: spec.id.clone(),
            name: spec.name.clone(),
            kind: spec.kind,
            client_id: spec.client_id.clone(),
            client_secret: spec.client_secret.clone(),
            client_auth: spec.client_auth,
            redirect_url,
            scope: spec.scope.clone(),
            force_confirm: spec.force_confirm,
            transport,
            dialect,
        })
    }

    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The configured scope, if any.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Whether "ask again" is on unless the sign-in says otherwise.
    pub fn force_confirm(&self) -> bool {
        self.force_confirm
    }

    pub fn view(&self) -> ProviderView {
        ProviderView {
            id: self.id.clone(),
            kind: self.kind,
            name: self.name.clone(),
            default_scope: self.scope.clone(),
        }
    }

    /// Where the grant, user info and revocation live now (an OpenID provider's are
    /// discovered, and fetched again if they could not be).
    pub async fn endpoints(&self) -> Result<Endpoints, ProviderError> {
        match &self.dialect {
            Dialect::Yandex(yandex) => Ok(yandex.endpoints().clone()),
            Dialect::Standard(standard) => Ok(standard.endpoints().clone()),
            Dialect::Oidc(oidc) => oidc.endpoints().await,
        }
    }

    /// Whether the provider can be used now: an OpenID provider once discovered.
    pub async fn is_ready(&self) -> bool {
        match &self.dialect {
            Dialect::Oidc(oidc) => oidc.is_discovered().await || oidc.endpoints().await.is_ok(),
            _ => true,
        }
    }

    /// The issuer an OpenID provider names itself by, if it is one.
    pub fn issuer(&self) -> Option<&str> {
        match &self.dialect {
            Dialect::Oidc(oidc) => Some(oidc.issuer()),
            _ => None,
        }
    }

    fn client(&self, endpoints: &Endpoints) -> Client {
        oauth2::Client::new(self.client_id.clone())
            .set_client_secret(self.client_secret.clone())
            .set_auth_uri(AuthUrl::from_url(endpoints.authorize.clone()))
            .set_token_uri(TokenUrl::from_url(endpoints.token.clone()))
            .set_redirect_uri(RedirectUrl::from_url(self.redirect_url.clone()))
            .set_auth_type(match self.client_auth {
                ClientAuth::Post => AuthType::RequestBody,
                ClientAuth::Basic => AuthType::BasicAuth,
            })
    }

    /// A fresh state (256 random bits), PKCE S256 pair (and for OpenID a nonce), and the
    /// URL to send the browser to, with the options this provider's dialect takes.
    pub async fn authorize(
        &self,
        options: &AuthorizeOptions,
    ) -> Result<Authorization, ProviderError> {
        let endpoints = self.endpoints().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client(&endpoints);
        let mut request = client
            // Begins with the time it is made, so that spent states are stored in order.
            .authorize_url(|| CsrfToken::new(stamped(CsrfToken::new_random_len(32).secret())))
            .set_pkce_challenge(challenge);
        let scope = self.requested_scope(options.scope.as_deref());
        if let Some(scope) = &scope {
            request =
                request.add_scopes(scope.split_whitespace().map(|s| Scope::new(s.to_owned())));
        }
        if let Some(hint) = &options.login_hint {
            request = request.add_extra_param("login_hint", hint.clone());
        }
        let mut device_id = None;
        let mut nonce = None;
        if self.kind.speaks_yandex() {
            if let Some(optional) = &options.optional_scope {
                request = request.add_extra_param("optional_scope", optional.clone());
            }
            if options.force_confirm {
                request = request.add_extra_param("force_confirm", "yes");
            }
            if let Some(name) = &options.device_name {
                let id = CsrfToken::new_random_len(12).into_secret();
                request = request
                    .add_extra_param("device_id", id.clone())
                    .add_extra_param("device_name", name.clone());
                device_id = Some(id);
            }
        } else if options.force_confirm {
            request = request.add_extra_param("prompt", "consent");
        }
        if matches!(self.dialect, Dialect::Oidc(_)) {
            let value = CsrfToken::new_random_len(16).into_secret();
            request = request.add_extra_param("nonce", value.clone());
            nonce = Some(value);
        }
        let (url, state) = request.url();
        Ok(Authorization {
            url,
            state,
            verifier,
            device_id,
            nonce,
        })
    }

    /// The scope to ask for: the sign-in's, else the configured one; an OpenID provider
    /// always gets `openid` among them.
    fn requested_scope(&self, asked: Option<&str>) -> Option<String> {
        let scope = asked.map(str::to_owned).or_else(|| self.scope.clone());
        if matches!(self.dialect, Dialect::Oidc(_)) {
            let scope = scope.unwrap_or_default();
            if scope.split_whitespace().any(|s| s == "openid") {
                Some(scope)
            } else {
                Some(format!("openid {scope}").trim().to_owned())
            }
        } else {
            scope
        }
    }

    /// The authorize request of a sign-in as far as its flow cookie remembers it: the URL
    /// it went to, without its query, and the query's parameters — the protocol's, a short
    /// scope and the device (the cookie keeps no other options, so that it stays small
    /// whatever was asked; those are not shown). In the order and with the values of the
    /// URL [`Self::authorize`] wrote for it (the endpoint's own parameters, then oauth2's,
    /// then the device), put together without writing that URL again and reading it back
    /// (a test holds the two together).
    pub async fn authorize_request_of(
        &self,
        state: &str,
        verifier: &PkceCodeVerifier,
        scope: Option<&str>,
        device: Option<(&str, &str)>,
    ) -> Option<(String, Vec<(String, String)>)> {
        let endpoints = self.endpoints().await.ok()?;
        let url = &endpoints.authorize;
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(verifier);
        let mut params: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        let mut add = |name: &str, value: &str| params.push((name.to_owned(), value.to_owned()));
        add("response_type", "code");
        add("client_id", self.client_id.as_str());
        add("state", state);
        add("code_challenge", challenge.as_str());
        add("code_challenge_method", challenge.method().as_str());
        add("redirect_uri", self.redirect_url.as_str());
        if let Some(scope) = scope {
            let scope = scope.split_whitespace().collect::<Vec<_>>().join(" ");
            if !scope.is_empty() {
                add("scope", &scope);
            }
        }
        if let Some((id, name)) = device {
            add("device_id", id);
            add("device_name", name);
        }
        Some((url[..url::Position::AfterPath].to_owned(), params))
    }

    /// Checks the callback's `iss` (RFC 9207): it must name this provider's issuer when
    /// present, and be present when the provider promises it.
    pub async fn check_callback_issuer(&self, iss: Option<&str>) -> Result<(), ProviderError> {
        match &self.dialect {
            Dialect::Oidc(oidc) => oidc.check_callback_issuer(iss).await,
            // Other providers name no issuer tokenbridge knows (Yandex sends its own `iss`);
            // the routes still refuse one that names another configured provider.
            _ => Ok(()),
        }
    }

    /// Exchanges the code for a token; an OpenID provider's ID token is verified against
    /// `nonce`.
    pub async fn exchange(
        &self,
        code: AuthorizationCode,
        verifier: PkceCodeVerifier,
        requested_scope: Option<String>,
        nonce: Option<&str>,
        log: &Recorder,
    ) -> Result<IssuedToken, ProviderError> {
        let call = std::pin::pin!(self.exchange_call(code, verifier, requested_scope, nonce, log));
        crate::telemetry::calling("token_exchange", &self.id, call).await
    }

    /// What [`Self::exchange`] does; that names the call in the log lines written meanwhile.
    async fn exchange_call(
        &self,
        code: AuthorizationCode,
        verifier: PkceCodeVerifier,
        requested_scope: Option<String>,
        nonce: Option<&str>,
        log: &Recorder,
    ) -> Result<IssuedToken, ProviderError> {
        let endpoints = self.endpoints().await?;
        let sent = self.sent_secrets(&[code.secret(), verifier.secret()]);
        log.scrubbing(Secrets::new(&sent));
        let send = self.transport.sender(&endpoints.token, Some(log.clone()));
        let response = self
            .client(&endpoints)
            .exchange_code(code)
            .set_pkce_verifier(verifier)
            .request_async(&send)
            .await
            .map_err(|e| ProviderError::from_oauth(e, &Secrets::new(&sent)))?;
        let mut issued = issued(&response, requested_scope)?;
        if let Dialect::Oidc(oidc) = &self.dialect {
            // `openid` is always asked for, so an answer without an ID token skipped the
            // nonce and signature: it is not trusted.
            let Some(id_token) = &response.extra_fields().id_token else {
                return Err(ProviderError::new(
                    ErrorCode::IdTokenInvalid,
                    "the OpenID provider's token response has no id_token",
                ));
            };
            issued.identity = Some(
                oidc.verify(id_token, nonce, &self.client_id, &self.client_secret)
                    .await?,
            );
        }
        Ok(issued)
    }

    /// Trades a refresh token for a new access token (and perhaps a new refresh token).
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        scope: Option<String>,
    ) -> Result<IssuedToken, ProviderError> {
        let call = std::pin::pin!(self.refresh_call(refresh_token, scope));
        crate::telemetry::calling("token_refresh", &self.id, call).await
    }

    /// What [`Self::refresh`] does; that names the call in the log lines written meanwhile.
    async fn refresh_call(
        &self,
        refresh_token: &RefreshToken,
        scope: Option<String>,
    ) -> Result<IssuedToken, ProviderError> {
        let endpoints = self.endpoints().await?;
        let send = self.transport.sender(&endpoints.token, None);
        let response = self
            .client(&endpoints)
            .exchange_refresh_token(refresh_token)
            .request_async(&send)
            .await
            .map_err(|e| {
                ProviderError::from_oauth(
                    e,
                    &Secrets::new(self.sent_secrets(&[refresh_token.secret()])),
                )
            })?;
        issued(&response, scope)
    }

    /// What a token request carried that a refusal must not repeat: `sent` (the code and
    /// verifier, or the refresh token), the client secret, and with HTTP Basic the credential
    /// oauth2 writes from it (RFC 6749 §2.3.1: the id and the secret form-encoded, joined by a
    /// colon, in base64).
    fn sent_secrets(&self, sent: &[&String]) -> Vec<String> {
        let mut secrets: Vec<String> = sent.iter().map(|s| s.to_string()).collect();
        let secret = self.client_secret.secret();
        secrets.push(secret.clone());
        if self.client_auth == ClientAuth::Basic {
            secrets.push(basic_credential(&self.client_id, &self.client_secret));
        }
        secrets
    }

    /// Whose token this is, when the provider can say; `None` when it cannot (no user
    /// info, no ID token), and then each sign-in is a connection of its own.
    pub async fn account(&self, token: &IssuedToken) -> Result<Option<Account>, ProviderError> {
        let call = std::pin::pin!(self.account_call(token));
        let account = crate::telemetry::calling("user_info", &self.id, call).await?;
        account.map(Account::checked).transpose()
    }

    /// What [`Self::account`] does; that names the call in the log lines written meanwhile.
    async fn account_call(&self, token: &IssuedToken) -> Result<Option<Account>, ProviderError> {
        match &self.dialect {
            Dialect::Yandex(yandex) => {
                yandex
                    .account(&self.transport, &token.access_token, &self.client_id)
                    .await
            }
            Dialect::Standard(standard) => {
                standard.account(&self.transport, &token.access_token).await
            }
            Dialect::Oidc(oidc) => oidc.account(&self.transport, token).await,
        }
    }

    /// Revokes an access token, and the refresh token issued with it if given, where the
    /// provider can, and says what happened: [`Revoked::Yes`] only if every revocation asked
    /// for was done.
    ///
    /// Yandex's `revoke_token` takes only the access token. An RFC 7009 server is sent the
    /// refresh token first: it is the grant, which outlives the access token, and the RFC
    /// asks a server that revokes it to revoke the grant's access tokens too; revoking only
    /// the access token may leave it able to mint new ones. The access token goes next, for
    /// servers that do not.
    pub async fn revoke(
        &self,
        token: &AccessToken,
        refresh_token: Option<&RefreshToken>,
        device_id: Option<&str>,
    ) -> Revoked {
        let call = std::pin::pin!(self.revoke_call(token, refresh_token, device_id));
        crate::telemetry::calling("revoke", &self.id, call).await
    }

    /// What [`Self::revoke`] does; that names the call in the log lines written meanwhile.
    async fn revoke_call(
        &self,
        token: &AccessToken,
        refresh_token: Option<&RefreshToken>,
        device_id: Option<&str>,
    ) -> Revoked {
        let endpoints = match self.endpoints().await {
            Ok(endpoints) => endpoints,
            Err(error) => return Revoked::Failed(error),
        };
        let Some(url) = endpoints.revoke else {
            return Revoked::No(Revocation::NoEndpoint);
        };
        let result = match &self.dialect {
            Dialect::Yandex(_) => {
                // Yandex revokes only tokens issued for a device; the sandbox revokes any.
                if self.kind == ProviderKind::Yandex && device_id.is_none() {
                    return Revoked::No(Revocation::NotForThisToken);
                }
                yandex::revoke(
                    &self.transport,
                    &url,
                    token,
                    &self.client_id,
                    &self.client_secret,
                )
                .await
            }
            Dialect::Standard(_) | Dialect::Oidc(_) => {
                let revoke = |token| {
                    standard::revoke(
                        &self.transport,
                        &url,
                        token,
                        &self.client_id,
                        &self.client_secret,
                        self.client_auth,
                    )
                };
                let grant = match refresh_token {
                    Some(refresh) => revoke(Revocable::Refresh(refresh)).await,
                    None => Ok(()),
                };
                match grant {
                    // A provider that cannot be reached, or did not answer in time, is not
                    // asked again (a disconnect would wait twice as long for the same answer).
                    Err(error) if error.is_unanswered() => Err(error),
                    // The access token is revoked even when the refresh token was not.
                    grant => {
                        let access = revoke(Revocable::Access(token)).await;
                        match (grant, access) {
                            (Ok(()), access) => access,
                            (Err(grant), Ok(())) => Err(grant),
                            (Err(grant), Err(access)) => Err(grant.and(access)),
                        }
                    }
                }
            }
        };
        match result {
            Ok(()) => Revoked::Yes,
            Err(error) => Revoked::Failed(error),
        }
    }
}

/// What Disconnect's revocation did.
#[derive(Debug)]
pub enum Revoked {
    Yes,
    /// Not asked: this is why.
    No(Revocation),
    Failed(ProviderError),
}

fn issued(
    response: &TokenResponse,
    requested_scope: Option<String>,
) -> Result<IssuedToken, ProviderError> {
    let now = unix_now();
    let scope = response
        .scopes()
        .map(|scopes| {
            scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .or(requested_scope);
    let token = response.access_token().secret();
    if token.is_empty() || token.len() > MAX_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        // Its length only: the value may be a token after all.
        return Err(ProviderError::malformed(format!(
            "the access_token does not look like one ({} bytes; a token is 1 to {MAX_TOKEN} printable characters)",
            token.len()
        )));
    }
    Ok(IssuedToken {
        access_token: response.access_token().clone(),
        token_type: match response.token_type() {
            BasicTokenType::Bearer => "bearer".to_owned(),
            BasicTokenType::Mac => "mac".to_owned(),
            BasicTokenType::Extension(other) => other.clone(),
        },
        expires_at: response
            .expires_in()
            .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
        obtained_at: now,
        scope,
        refresh_token: response.refresh_token().cloned(),
        identity: None,
    })
}

/// Every configured provider, in the configuration's order; cheap to clone.
#[derive(Clone, Debug)]
pub struct Providers(Arc<[Arc<Provider>]>);

impl Providers {
    pub fn new(providers: Vec<Provider>) -> Self {
        Self(providers.into_iter().map(Arc::new).collect())
    }

    /// The first configured provider: the one a sign-in without `provider=` goes to.
    pub fn first(&self) -> Option<&Arc<Provider>> {
        self.0.first()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Provider>> {
        self.0.iter().find(|p| p.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.0.iter()
    }

    pub fn ids(&self) -> Vec<&str> {
        self.0.iter().map(|p| p.id.as_str()).collect()
    }

    /// Whether `iss` names the issuer of a configured provider other than `id`: an
    /// answer meant for another provider (a mix-up).
    pub fn names_another(&self, id: &str, iss: &str) -> bool {
        let iss = iss.trim_end_matches('/');
        self.0
            .iter()
            .filter(|p| p.id != id)
            .any(|p| p.issuer().is_some_and(|issuer| issuer == iss))
    }

    pub fn views(&self) -> Vec<ProviderView> {
        self.0.iter().map(|p| p.view()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AccountFields, SpecEndpoints};

    /// A Yandex-speaking provider whose authorize endpoint has a query of its own.
    async fn provider_with(scope: Option<&str>) -> Provider {
        let url = |text: &str| Some(Url::parse(text).unwrap());
        let spec = ProviderSpec {
            id: "yandex".into(),
            kind: ProviderKind::Yandex,
            name: "Yandex".into(),
            client_id: ClientId::new("app id".into()),
            client_secret: ClientSecret::new("s3cr3t".into()),
            client_auth: ClientAuth::Post,
            endpoints: SpecEndpoints {
                authorize: url("http://127.0.0.1:9/authorize?tenant=t+1&x=%2F"),
                token: url("http://127.0.0.1:9/token"),
                userinfo: None,
                revoke: None,
            },
            issuer: None,
            scope: scope.map(str::to_owned),
            force_confirm: false,
            account_fields: AccountFields::default(),
        };
        let transport = Transport::new(std::time::Duration::from_secs(1)).unwrap();
        let redirect = Url::parse("http://localhost:8080/auth/callback").unwrap();
        Provider::new(&spec, redirect, transport, None)
            .await
            .unwrap()
    }

    /// The exchange log's authorize request is the one the browser was sent to (less the
    /// options the flow cookie does not keep), for a scope asked for, the configured one,
    /// none, and with and without a device.
    #[tokio::test]
    async fn the_logged_authorize_request_is_the_url_the_browser_was_sent_to() {
        for (configured, asked, device_name) in [
            (None, Some("direct:api  login:info"), Some("my laptop")),
            (Some("login:email"), None, None),
            (None, None, Some("phone")),
            (None, None, None),
        ] {
            let provider = provider_with(configured).await;
            let options = AuthorizeOptions {
                scope: asked.map(str::to_owned),
                optional_scope: None,
                force_confirm: false,
                login_hint: None,
                device_name: device_name.map(str::to_owned),
            };
            let sent = provider.authorize(&options).await.unwrap();
            let scope = provider.requested_scope(asked);
            let device = sent.device_id.as_deref().zip(device_name);
            let (url, params) = provider
                .authorize_request_of(
                    sent.state.secret(),
                    &sent.verifier,
                    scope.as_deref(),
                    device,
                )
                .await
                .unwrap();
            assert_eq!(url, "http://127.0.0.1:9/authorize");
            let expected: Vec<(String, String)> = sent
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(params, expected, "{configured:?} {asked:?} {device_name:?}");
        }
    }

    /// A provider that could not be reached or did not answer in time is not asked again: a
    /// disconnect whose row changed meanwhile forgets it rather than wait for another
    /// revocation, and a sign-in's token is not handed back. Whether it answered follows the
    /// code a failure is shown under (OpenID discovery's too, built with `new`: from `c9163f7`
    /// to `98a04be` it counted as answered), or for a user info shown as `user_info_failed`,
    /// the transport failure behind it.
    #[test]
    fn a_provider_that_did_not_answer_is_told_from_one_that_did() {
        for code in [ErrorCode::ProviderTimeout, ErrorCode::ProviderUnreachable] {
            let discovery = ProviderError::new(code, "OpenID discovery failed");
            assert!(discovery.is_unanswered(), "{code:?}");
        }
        for code in [
            ErrorCode::TokenRequestRejected,
            ErrorCode::ProviderUnavailable,
            ErrorCode::ProviderMalformed,
            ErrorCode::UserInfoFailed,
        ] {
            assert!(
                !ProviderError::new(code, "refused").is_unanswered(),
                "{code:?}"
            );
        }
        let unreachable = TransportError::Unreachable("connection refused".into());
        assert!(ProviderError::transport(&TransportError::Timeout).is_unanswered());
        assert!(ProviderError::transport(&unreachable).is_unanswered());
        assert!(!ProviderError::transport(&TransportError::TooLarge).is_unanswered());
        let user_info = || ProviderError::new(ErrorCode::UserInfoFailed, "user info failed");
        assert!(user_info().unanswered_if(&unreachable).is_unanswered());
        assert!(
            user_info()
                .unanswered_if(&TransportError::Timeout)
                .is_unanswered()
        );
        let html = TransportError::Html {
            status: 502,
            length: 12,
        };
        assert!(!user_info().unanswered_if(&html).is_unanswered());
    }

    #[test]
    fn provider_text_loses_the_secret() {
        assert_eq!(
            scrub_all("code 1234567 is bad", &["1234567"]),
            "code [redacted] is bad"
        );
        // A secret across the 500th character leaves none of itself before the cut.
        let long = format!("{}secret-token", "x".repeat(495));
        let scrubbed = scrub_all(&long, &["secret-token"]);
        assert!(!scrubbed.contains("secre"), "{scrubbed}");
        assert_eq!(scrubbed.chars().count(), 500);
        // So does every one of several, whichever comes first in the list.
        let long = format!("token-1 {}client-secret", "x".repeat(487));
        let scrubbed = scrub_all(&long, &["token-1", "client-secret"]);
        assert!(
            !scrubbed.contains("client") && !scrubbed.contains("token-1"),
            "{scrubbed}"
        );
        // A secret inside a longer one does not leave the longer one's rest behind.
        assert_eq!(
            scrub_all("abc-abcdef", &["abc", "abcdef"]),
            "[redacted]-[redacted]"
        );
    }
}
