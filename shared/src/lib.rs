//! What crosses the wire between the tokenbridge backend and the browser app:
//! the session view, the error codes with their default messages, and the
//! route paths. No secret and no network call lives here; it builds for wasm.

use serde::{Deserialize, Serialize};

/// The paths both sides agree on.
pub mod routes {
    pub const LOGIN: &str = "/auth/login";
    pub const CALLBACK: &str = "/auth/callback";
    pub const LOGOUT: &str = "/auth/logout";
    pub const SESSION: &str = "/api/session";
    pub const HEALTH: &str = "/healthz";
    /// 200 when the store answers and every OpenID provider is discovered, else 503.
    pub const READY: &str = "/readyz";
    pub const SANDBOX_AUTHORIZE: &str = "/sandbox/authorize";
    pub const SANDBOX_TOKEN: &str = "/sandbox/token";
    pub const SANDBOX_USER_INFO: &str = "/sandbox/info";
    pub const SANDBOX_REVOKE: &str = "/sandbox/revoke_token";
    /// This browser's connections: `POST {CONNECTIONS}/{id}/refresh`, `DELETE {CONNECTIONS}/{id}`.
    pub const CONNECTIONS: &str = "/api/connections";
    /// For scripts, with `Authorization: Bearer <TOKENBRIDGE_API_KEY>`:
    /// `GET {API_CONNECTIONS}` and `GET {API_CONNECTIONS}/{login}/token`.
    pub const API_CONNECTIONS: &str = "/api/v1/connections";
    /// For operators' sessions, every connection: `POST {OPERATOR_CONNECTIONS}/{id}/refresh`
    /// (answers a [`super::ConnectionSummary`], never the token) and `DELETE {OPERATOR_CONNECTIONS}/{id}`.
    pub const OPERATOR_CONNECTIONS: &str = "/api/operator/connections";
    pub const SANDBOX_STYLE: &str = "/sandbox/style.css";
}

/// The header a state-changing API call must carry; a cross-site form cannot set it.
pub const CSRF_HEADER: &str = "x-tokenbridge";

/// Which dialect an authorization server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Yandex OAuth: its user info, `client_id` check, device revocation and options.
    Yandex,
    /// Plain RFC 6749 by URLs (`oauth2`; `custom` is accepted as a synonym).
    #[serde(rename = "oauth2", alias = "custom")]
    Custom,
    /// OpenID Connect by discovery.
    Oidc,
    /// The built-in stand-in for Yandex OAuth.
    Sandbox,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yandex => "yandex",
            Self::Custom => "oauth2",
            Self::Oidc => "oidc",
            Self::Sandbox => "sandbox",
        }
    }

    /// The name a person sees when the configuration gives none.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Yandex => "Yandex OAuth",
            Self::Custom => "OAuth 2.0 server",
            Self::Oidc => "OpenID Connect provider",
            Self::Sandbox => "Sandbox (a stand-in for Yandex OAuth)",
        }
    }

    /// Whether sign-ins at this kind take Yandex's options (`optional_scope`, a device name,
    /// `force_confirm`); the others take `prompt=consent` for "ask again" instead.
    pub fn speaks_yandex(self) -> bool {
        matches!(self, Self::Yandex | Self::Sandbox)
    }
}

/// One configured provider, as the page lists it: one Connect button each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderView {
    /// Used in URLs and the API: `/auth/login?provider={id}`.
    pub id: String,
    pub kind: ProviderKind,
    /// The name the page shows.
    pub name: String,
    /// The scope requested by configuration, if any.
    pub default_scope: Option<String>,
}

/// What `GET /api/session` answers: everything the page shows. `Log` is the exchange
/// log as each side holds it: the page reads an [`ExchangeLog`]; the server passes the
/// JSON of its sealed log cookie through unread (it wrote that JSON from an
/// `ExchangeLog`, and the cookie's seal says nobody else did).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "Log: Deserialize<'de>"))]
pub struct SessionView<Log = ExchangeLog> {
    /// The first configured provider's kind (see `providers` for all of them).
    pub provider: ProviderKind,
    /// The scope requested by the first provider's configuration, if any.
    pub default_scope: Option<String>,
    /// Every configured provider, in the configuration's order.
    #[serde(default)]
    pub providers: Vec<ProviderView>,
    /// The token of this browser's most recent connection, if it has one.
    pub token: Option<TokenView>,
    /// Every connection this browser made, most recent first.
    #[serde(default)]
    pub connections: Vec<ConnectionView>,
    /// How the last sign-in ended, reported once, right after the callback.
    pub outcome: Option<FlowOutcome>,
    /// What was sent and received during this browser's last sign-in, secrets masked.
    #[serde(default)]
    pub exchange_log: Option<Log>,
    /// True when this browser has a live session on the server (it completed a sign-in
    /// and has not signed out since): the page offers Sign out.
    #[serde(default)]
    pub signed_in: bool,
    /// True when the session signed in as one of `TOKENBRIDGE_OPERATORS`.
    #[serde(default)]
    pub operator: bool,
    /// For an operator: every saved connection of every person, without tokens. Empty otherwise.
    #[serde(default)]
    pub all_connections: Vec<ConnectionSummary>,
}

/// The last sign-in as tokenbridge saw it, like the OAuth Playground's log.
///
/// The server keeps it in a sealed cookie as JSON and hands that JSON to the page as it
/// is: a change here that JSON written before it would not read as must also rename the
/// cookie (`LOG` in `backend/src/flow.rs`), so that browsers drop the old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeLog {
    pub entries: Vec<LogEntry>,
}

/// An entry and its fields leave out what is empty (a response's method and URL, a
/// request's status, a masked field's value, `masked: false`): the log travels in a cookie
/// on every page load, and those were a quarter of its bytes. Absent reads as empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub step: LogStep,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// Without its query: the query's parameters are in `fields`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// The response's status, for a response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<LogField>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStep {
    /// The browser sent to the provider.
    AuthorizeRequest,
    /// The provider sent the browser back.
    Callback,
    /// tokenbridge's request to the token endpoint.
    TokenRequest,
    /// The token endpoint's answer.
    TokenResponse,
}

/// One parameter, header or JSON field. A masked one carries no value at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogField {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub masked: bool,
}

/// The token as the person may see it. The refresh token itself never leaves the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub access_token: String,
    pub token_type: String,
    /// Unix time, in seconds, when the access token expires (if the provider said).
    pub expires_at: Option<i64>,
    /// Unix time, in seconds, when the token was received.
    pub obtained_at: i64,
    pub scope: Option<String>,
    pub has_refresh_token: bool,
}

/// Where a saved connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    /// The provider refused the refresh token: sign in again.
    NeedsReconnect,
    /// Its tokens cannot be opened with this server's store key (was the key changed?).
    Unreadable,
}

/// A saved connection as the browser that made it sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    pub id: String,
    pub provider: ProviderKind,
    /// The configured provider's id (see [`ProviderView`]).
    #[serde(default)]
    pub provider_id: String,
    pub account_id: String,
    pub login: String,
    pub status: ConnectionStatus,
    pub token: TokenView,
    pub device_name: Option<String>,
    pub created_at: i64,
    pub refreshed_at: Option<i64>,
}

/// A saved connection as a script lists it: no token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionSummary {
    pub id: String,
    pub provider: ProviderKind,
    /// The configured provider's id (see [`ProviderView`]).
    #[serde(default)]
    pub provider_id: String,
    pub account_id: String,
    pub login: String,
    pub status: ConnectionStatus,
    pub expires_at: Option<i64>,
    pub scope: Option<String>,
    pub has_refresh_token: bool,
    pub created_at: i64,
    pub refreshed_at: Option<i64>,
}

/// A fresh access token for a script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshToken {
    pub login: String,
    pub access_token: String,
    pub token_type: String,
    pub expires_at: Option<i64>,
}

/// What Disconnect did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnected {
    /// True when the provider revoked the token before tokenbridge forgot it.
    pub revoked: bool,
    pub revocation: Revocation,
    pub message: String,
}

/// Whether the provider revoked a token on Disconnect, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    Revoked,
    /// Yandex revokes only tokens issued for a named device.
    NotForThisToken,
    /// The provider was asked and refused or failed.
    Failed,
    /// No revocation endpoint is configured.
    NoEndpoint,
}

/// How a sign-in ended: `{"result":"connected"}`, or `{"result":"failed"}` with the
/// error's fields beside the tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", try_from = "OutcomeFields")]
pub enum FlowOutcome {
    Connected,
    Failed(ApiError),
}

/// What [`FlowOutcome`] is read as: the same JSON as its derived (internally tagged)
/// form, read as a plain struct. Serde reads an internally tagged enum through a buffer
/// of any JSON value, which costs the page's wasm several kilobytes.
#[derive(Deserialize)]
struct OutcomeFields {
    result: OutcomeResult,
    code: Option<ErrorCode>,
    message: Option<String>,
    provider_message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum OutcomeResult {
    Connected,
    Failed,
}

impl TryFrom<OutcomeFields> for FlowOutcome {
    type Error = &'static str;

    fn try_from(fields: OutcomeFields) -> Result<Self, Self::Error> {
        match fields {
            OutcomeFields {
                result: OutcomeResult::Connected,
                ..
            } => Ok(Self::Connected),
            OutcomeFields {
                result: OutcomeResult::Failed,
                code: Some(code),
                message: Some(message),
                provider_message,
            } => Ok(Self::Failed(ApiError {
                code,
                message,
                provider_message,
            })),
            _ => Err("a failed outcome lacks its error's code or message"),
        }
    }
}

/// The one error body every route answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The provider's own words (`error_description`), when it gave any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: code.message().to_owned(),
            provider_message: None,
        }
    }

    /// The same error with a more specific message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn with_provider_message(mut self, message: Option<String>) -> Self {
        self.provider_message = message;
        self
    }
}

/// Every way a sign-in or an API call can fail, each with its own message. On the wire as its
/// name, [`ErrorCode::as_str`] (see the `Serialize` and `Deserialize` impls below).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The person clicked Deny at the provider.
    AccessDenied,
    /// The provider sent the person back with an error other than access_denied.
    AuthorizationFailed,
    /// The callback came without a sign-in in progress in this browser.
    StateMissing,
    /// The callback's `state` belongs to another sign-in.
    StateMismatch,
    /// The sign-in was started more than ten minutes ago.
    StateExpired,
    /// The callback was already used once.
    StateReplayed,
    /// The callback lacked `code` or `state`.
    InvalidCallback,
    /// The provider refused the code (used, expired, or for another app).
    CodeRejected,
    /// The provider refused our client id or secret.
    ClientRejected,
    /// The provider refused the token request for another reason.
    TokenRequestRejected,
    /// The provider answered with a server error (5xx).
    ProviderUnavailable,
    /// The provider answered with a web page instead of JSON.
    ProviderHtml,
    /// The provider's JSON was malformed, truncated or lacked a token.
    ProviderMalformed,
    /// The provider answered with a redirect, which tokenbridge does not follow.
    ProviderRedirect,
    /// The provider did not answer in time.
    ProviderTimeout,
    /// The provider could not be reached.
    ProviderUnreachable,
    /// The request itself was malformed.
    BadRequest,
    /// A state-changing request lacked the anti-forgery header.
    CsrfRejected,
    /// No such page or route.
    NotFound,
    /// The route exists, but not for this method.
    MethodNotAllowed,
    /// The request body is larger than tokenbridge accepts.
    PayloadTooLarge,
    /// The provider's user info would not say whose token this is.
    UserInfoFailed,
    /// The token was issued to another application (user info names another client id).
    ForeignToken,
    /// No such connection, or not one this browser (or key) may use.
    ConnectionNotFound,
    /// The OpenID provider's id_token failed verification (signature, issuer, audience,
    /// expiry or nonce).
    IdTokenInvalid,
    /// The callback's `iss` names another issuer than the sign-in's provider (a mix-up),
    /// or is missing where the provider promises it.
    IssuerMismatch,
    /// The same login is connected at two providers; name one (`?provider=ID`).
    AmbiguousLogin,
    /// No provider with that id is configured.
    UnknownProvider,
    /// Too many requests from this address; try again after the `Retry-After` seconds.
    RateLimited,
    /// The provider's answer was larger than tokenbridge reads (256 KB).
    ProviderTooLarge,
    /// The database cannot be reached right now; try again shortly.
    StoreUnavailable,
    /// The connection's tokens cannot be opened with this server's store key.
    ConnectionUnreadable,
    /// The connection's refresh token was refused; sign in again.
    NeedsReconnect,
    /// The connection has no refresh token, so it cannot be refreshed.
    NoRefreshToken,
    /// The scripts API is off because no API key is configured.
    ApiDisabled,
    /// The API key is missing or wrong.
    Unauthorized,
    /// Something failed inside tokenbridge.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 37] = [
        Self::AccessDenied,
        Self::AuthorizationFailed,
        Self::StateMissing,
        Self::StateMismatch,
        Self::StateExpired,
        Self::StateReplayed,
        Self::InvalidCallback,
        Self::CodeRejected,
        Self::ClientRejected,
        Self::TokenRequestRejected,
        Self::ProviderUnavailable,
        Self::ProviderHtml,
        Self::ProviderMalformed,
        Self::ProviderRedirect,
        Self::ProviderTimeout,
        Self::ProviderUnreachable,
        Self::BadRequest,
        Self::CsrfRejected,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::UserInfoFailed,
        Self::ForeignToken,
        Self::ConnectionNotFound,
        Self::IdTokenInvalid,
        Self::IssuerMismatch,
        Self::AmbiguousLogin,
        Self::UnknownProvider,
        Self::RateLimited,
        Self::ProviderTooLarge,
        Self::StoreUnavailable,
        Self::ConnectionUnreadable,
        Self::NeedsReconnect,
        Self::NoRefreshToken,
        Self::ApiDisabled,
        Self::Unauthorized,
        Self::Internal,
    ];

    /// The wire name, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::AuthorizationFailed => "authorization_failed",
            Self::StateMissing => "state_missing",
            Self::StateMismatch => "state_mismatch",
            Self::StateExpired => "state_expired",
            Self::StateReplayed => "state_replayed",
            Self::InvalidCallback => "invalid_callback",
            Self::CodeRejected => "code_rejected",
            Self::ClientRejected => "client_rejected",
            Self::TokenRequestRejected => "token_request_rejected",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::ProviderHtml => "provider_html",
            Self::ProviderMalformed => "provider_malformed",
            Self::ProviderRedirect => "provider_redirect",
            Self::ProviderTimeout => "provider_timeout",
            Self::ProviderUnreachable => "provider_unreachable",
            Self::BadRequest => "bad_request",
            Self::CsrfRejected => "csrf_rejected",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UserInfoFailed => "user_info_failed",
            Self::ForeignToken => "foreign_token",
            Self::ConnectionNotFound => "connection_not_found",
            Self::IdTokenInvalid => "id_token_invalid",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::AmbiguousLogin => "ambiguous_login",
            Self::UnknownProvider => "unknown_provider",
            Self::RateLimited => "rate_limited",
            Self::ProviderTooLarge => "provider_too_large",
            Self::StoreUnavailable => "store_unavailable",
            Self::ConnectionUnreadable => "connection_unreadable",
            Self::NeedsReconnect => "needs_reconnect",
            Self::NoRefreshToken => "no_refresh_token",
            Self::ApiDisabled => "api_disabled",
            Self::Unauthorized => "unauthorized",
            Self::Internal => "internal",
        }
    }

    /// What a person reads, and what they can do about it.
    pub fn message(self) -> &'static str {
        match self {
            Self::AccessDenied => {
                "You declined access at the provider. Nothing was shared; connect again whenever you like."
            }
            Self::AuthorizationFailed => {
                "The provider could not complete the sign-in. Check the details below and start again."
            }
            Self::StateMissing => {
                "This sign-in expired or was started in another browser — start again."
            }
            Self::StateMismatch => {
                "This sign-in does not belong to the one this browser started — start again."
            }
            Self::StateExpired => {
                "This sign-in took longer than ten minutes and expired — start again."
            }
            Self::StateReplayed => {
                "This sign-in link was already used. Start a new sign-in to get a fresh token."
            }
            Self::InvalidCallback => {
                "The provider sent the browser back without a code. Start again."
            }
            Self::CodeRejected => {
                "The provider refused the sign-in code (it expired or was already used) — start again."
            }
            Self::ClientRejected => {
                "The provider refused this application's client id or secret. Check TOKENBRIDGE_CLIENT_ID and TOKENBRIDGE_CLIENT_SECRET."
            }
            Self::TokenRequestRejected => {
                "The provider refused to issue a token. Check the details below and start again."
            }
            Self::ProviderUnavailable => {
                "The provider is having trouble right now (server error). Try again in a minute."
            }
            Self::ProviderHtml => {
                "The provider answered with a web page instead of a token. Check the token URL, then try again."
            }
            Self::ProviderMalformed => {
                "The provider's answer was incomplete or garbled. Try again in a minute."
            }
            Self::ProviderRedirect => {
                "The provider answered with a redirect instead of a token. Check the token URL, then try again."
            }
            Self::ProviderTimeout => "The provider did not answer in time. Try again in a minute.",
            Self::ProviderUnreachable => {
                "The provider could not be reached. Check the network and the token URL, then try again."
            }
            Self::BadRequest => "The request was malformed.",
            Self::CsrfRejected => {
                "This request did not come from the tokenbridge page and was refused."
            }
            Self::NotFound => "There is nothing here.",
            Self::MethodNotAllowed => "This address does not accept that method.",
            Self::PayloadTooLarge => "The request is too large.",
            Self::UserInfoFailed => {
                "The provider would not say whose token this is, so it was not saved. Try again in a minute."
            }
            Self::ForeignToken => {
                "This token was issued to another application, so tokenbridge refused it. Sign in through this tokenbridge."
            }
            Self::ConnectionNotFound => "There is no such connection here.",
            Self::IdTokenInvalid => {
                "The provider's ID token did not pass verification (signature, issuer, audience, expiry or nonce), so tokenbridge did not trust it. Try again; if it persists, check the provider's configuration."
            }
            Self::IssuerMismatch => {
                "The answer came back naming another provider than the one the sign-in went to, so tokenbridge refused it. Start again from tokenbridge."
            }
            Self::AmbiguousLogin => {
                "That login is connected at more than one provider; say which one with ?provider=ID (or --provider ID)."
            }
            Self::UnknownProvider => "No provider with that id is configured here.",
            Self::RateLimited => {
                "Too many requests from your address in a short time. Wait a little (the Retry-After header says how long) and try again."
            }
            Self::ProviderTooLarge => {
                "The provider's answer was far larger than any token response, so tokenbridge stopped reading it and saved nothing. Try again; if it persists, the provider is misbehaving."
            }
            Self::StoreUnavailable => {
                "tokenbridge cannot reach its database right now. Nothing was lost; try again in a few seconds."
            }
            Self::ConnectionUnreadable => {
                "This connection's tokens cannot be opened with the server's store key (was TOKENBRIDGE_STORE_KEY changed?). Connect the account again, or restore the key."
            }
            Self::NeedsReconnect => {
                "The provider no longer accepts this connection's refresh token. Connect the account again."
            }
            Self::NoRefreshToken => {
                "The provider gave no refresh token for this connection, so it cannot be refreshed. Connect again when it expires."
            }
            Self::ApiDisabled => {
                "The scripts API is off: set TOKENBRIDGE_API_KEY on the server to turn it on."
            }
            Self::Unauthorized => {
                "Send the API key as Authorization: Bearer <TOKENBRIDGE_API_KEY>."
            }
            Self::Internal => {
                "Something went wrong inside tokenbridge. Try again; the server log has the details."
            }
        }
    }

    /// The HTTP status a route answers with when it fails this way.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest | Self::InvalidCallback => 400,
            Self::CsrfRejected => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge => 413,
            Self::ConnectionNotFound | Self::UnknownProvider => 404,
            Self::AmbiguousLogin => 409,
            Self::RateLimited => 429,
            Self::ProviderTooLarge => 502,
            Self::StoreUnavailable => 503,
            Self::ConnectionUnreadable => 500,
            Self::IdTokenInvalid | Self::IssuerMismatch => 400,
            Self::ApiDisabled => 403,
            Self::Unauthorized => 401,
            Self::NeedsReconnect | Self::NoRefreshToken => 409,
            Self::UserInfoFailed => 502,
            Self::Internal => 500,
            Self::ProviderUnavailable
            | Self::ProviderHtml
            | Self::ProviderMalformed
            | Self::ProviderRedirect
            | Self::ProviderUnreachable => 502,
            Self::ProviderTimeout => 504,
            _ => 400,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == s)
    }
}

/// The wire name from [`ErrorCode::as_str`], the one table of names in both directions. serde's
/// derive kept names of its own beside it (as text and as bytes, matched variant by variant),
/// 0.27 KB of the page's wasm (0.16 KB brotli).
impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = ErrorCode;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an error code")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<ErrorCode, E> {
                ErrorCode::parse(name)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(name), &self))
            }
        }
        deserializer.deserialize_str(Name)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server hands its log cookie's JSON to the page unread, and a browser keeps that
    /// cookie for hours: JSON written by earlier versions must keep reading (this sample is
    /// the form before empty values were left out). If this fails because the log's types
    /// changed, rename the cookie (`LOG` in backend/src/flow.rs) and then update this sample.
    #[test]
    fn an_exchange_log_written_today_still_reads() {
        let written = r#"{"entries":[
            {"step":"authorize_request","method":"GET","url":"https://oauth.yandex.com/authorize","status":null,
             "fields":[{"name":"client_id","value":"abc","masked":false},{"name":"state","value":"","masked":true}]},
            {"step":"callback","method":"GET","url":"http://localhost:8080/auth/callback","status":null,"fields":[]},
            {"step":"token_request","method":"POST","url":"https://oauth.yandex.com/token","status":null,"fields":[]},
            {"step":"token_response","method":"","url":"","status":200,
             "fields":[{"name":"expires_in","value":"31536000","masked":false}]}]}"#;
        let log: ExchangeLog = serde_json::from_str(written).unwrap();
        assert_eq!(log.entries.len(), 4);
        assert_eq!(log.entries[3].step, LogStep::TokenResponse);
        assert_eq!(log.entries[3].status, Some(200));
        assert!(log.entries[0].fields[1].masked);
    }

    /// What is empty is left out of the log's JSON, and reads back as it was.
    #[test]
    fn an_exchange_log_leaves_out_what_is_empty() {
        let log = ExchangeLog {
            entries: vec![
                LogEntry {
                    step: LogStep::TokenRequest,
                    method: "POST".into(),
                    url: "https://oauth.yandex.com/token".into(),
                    status: None,
                    fields: vec![
                        LogField {
                            name: "grant_type".into(),
                            value: "authorization_code".into(),
                            masked: false,
                        },
                        LogField {
                            name: "code".into(),
                            value: String::new(),
                            masked: true,
                        },
                    ],
                },
                LogEntry {
                    step: LogStep::TokenResponse,
                    method: String::new(),
                    url: String::new(),
                    status: Some(400),
                    fields: Vec::new(),
                },
            ],
        };
        let json = serde_json::to_string(&log).unwrap();
        assert_eq!(
            json,
            r#"{"entries":[{"step":"token_request","method":"POST","url":"https://oauth.yandex.com/token","fields":[{"name":"grant_type","value":"authorization_code"},{"name":"code","masked":true}]},{"step":"token_response","status":400}]}"#
        );
        assert_eq!(serde_json::from_str::<ExchangeLog>(&json).unwrap(), log);
    }

    #[test]
    fn every_error_code_round_trips_through_its_wire_name() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        let unknown = serde_json::from_str::<ErrorCode>("\"no_such_code\"").unwrap_err();
        assert!(unknown.to_string().contains("no_such_code"), "{unknown}");
    }

    /// The wire names are the variants' names in snake case, as serde's derive wrote them before
    /// the impls took them from `as_str`: pages and scripts of earlier versions read them.
    #[test]
    fn every_error_code_keeps_its_snake_case_wire_name() {
        for code in ErrorCode::ALL {
            let mut snake = String::new();
            for (i, c) in format!("{code:?}").chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            assert_eq!(code.as_str(), snake);
        }
    }

    #[test]
    fn every_error_code_has_its_own_message() {
        let mut messages: Vec<_> = ErrorCode::ALL.iter().map(|c| c.message()).collect();
        messages.sort_unstable();
        messages.dedup();
        assert_eq!(messages.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn a_failed_outcome_serializes_with_its_code() {
        let outcome = FlowOutcome::Failed(ApiError::new(ErrorCode::AccessDenied));
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["result"], "failed");
        assert_eq!(json["code"], "access_denied");
    }

    #[test]
    fn an_outcome_reads_back_as_it_was_written() {
        for outcome in [
            FlowOutcome::Connected,
            FlowOutcome::Failed(ApiError::new(ErrorCode::CodeRejected)),
            FlowOutcome::Failed(
                ApiError::new(ErrorCode::TokenRequestRejected)
                    .with_provider_message(Some("invalid_scope".into())),
            ),
        ] {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(serde_json::from_str::<FlowOutcome>(&json).unwrap(), outcome);
        }
        assert_eq!(
            serde_json::to_string(&FlowOutcome::Connected).unwrap(),
            r#"{"result":"connected"}"#
        );
    }

    #[test]
    fn an_outcome_of_another_shape_is_refused() {
        for json in [
            r#"{"result":"failed","message":"no code"}"#,
            r#"{"result":"failed","code":"internal"}"#,
            r#"{"result":"failed","code":"no_such_code","message":"m"}"#,
            r#"{"result":"maybe"}"#,
            r#"{"code":"internal","message":"m"}"#,
        ] {
            assert!(serde_json::from_str::<FlowOutcome>(json).is_err(), "{json}");
        }
    }
}
