//! OpenID Connect: the issuer alone finds the endpoints (`/.well-known/openid-configuration`,
//! else RFC 8414's `/.well-known/oauth-authorization-server`); user info with
//! `Authorization: Bearer`, `sub` naming the account; the ID token verified with the
//! openidconnect crate (signature against the provider's JWKS, `iss`, `aud`, `exp`,
//! and the nonce tokenbridge sent); the callback's `iss` checked (RFC 9207).
//! A discovery that fails for want of an answer is tried again at the next use.

use std::sync::Arc;

use oauth2::{ClientId, ClientSecret};
use openidconnect::{
    IssuerUrl, Nonce,
    core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm},
};
use serde::Deserialize;
use tokenbridge_shared::ErrorCode;
use tokio::sync::RwLock;
use url::Url;

use super::{
    Account, Endpoints, Identity, IssuedToken, ProviderError,
    standard::{first_text, user_info},
    transport::{Transport, TransportError},
};

/// The signature algorithms an ID token may use: the asymmetric ones, checked against the
/// provider's published keys (never `none`, never a MAC with the client secret).
const SIGNATURES: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// What discovery says, as far as tokenbridge uses it.
#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: Url,
    token_endpoint: Url,
    #[serde(default)]
    userinfo_endpoint: Option<Url>,
    #[serde(default)]
    revocation_endpoint: Option<Url>,
    #[serde(default)]
    jwks_uri: Option<Url>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// A discovered provider: its metadata and signing keys.
struct Discovered {
    metadata: Metadata,
    keys: CoreJsonWebKeySet,
}

pub struct Oidc {
    issuer: String,
    issuer_url: Url,
    transport: Transport,
    discovered: RwLock<Option<Arc<Discovered>>>,
}

/// Why discovery failed: the provider could not be asked (try again later), or its
/// answer is wrong (a configuration to fix).
enum DiscoveryError {
    Unreachable(String),
    Wrong(String),
}

impl Oidc {
    /// Discovers the provider at `issuer`. A wrong document is an error; an unreachable
    /// provider is logged, and discovered at first use instead.
    pub async fn start(issuer: Url, transport: Transport) -> Result<Self, String> {
        let oidc = Self {
            issuer: issuer.as_str().trim_end_matches('/').to_owned(),
            issuer_url: issuer,
            transport,
            discovered: RwLock::new(None),
        };
        match oidc.discover().await {
            Ok(discovered) => {
                *oidc.discovered.write().await = Some(Arc::new(discovered));
                Ok(oidc)
            }
            Err(DiscoveryError::Wrong(message)) => Err(message),
            Err(DiscoveryError::Unreachable(message)) => {
                tracing::warn!(
                    issuer = %oidc.issuer,
                    "OpenID discovery failed ({message}); it will be tried again when someone signs in"
                );
                Ok(oidc)
            }
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether discovery has succeeded.
    pub async fn is_discovered(&self) -> bool {
        self.discovered.read().await.is_some()
    }

    async fn current(&self) -> Result<Arc<Discovered>, ProviderError> {
        if let Some(discovered) = self.discovered.read().await.clone() {
            return Ok(discovered);
        }
        self.rediscover().await
    }

    /// Fetches metadata and keys again, replacing what was held.
    async fn rediscover(&self) -> Result<Arc<Discovered>, ProviderError> {
        match self.discover().await {
            Ok(discovered) => {
                let discovered = Arc::new(discovered);
                *self.discovered.write().await = Some(discovered.clone());
                Ok(discovered)
            }
            Err(DiscoveryError::Unreachable(message) | DiscoveryError::Wrong(message)) => {
                Err(ProviderError::new(
                    ErrorCode::ProviderUnreachable,
                    format!("OpenID discovery of {} failed: {message}", self.issuer),
                ))
            }
        }
    }

    pub async fn endpoints(&self) -> Result<Endpoints, ProviderError> {
        let discovered = self.current().await?;
        let metadata = &discovered.metadata;
        Ok(Endpoints {
            authorize: metadata.authorization_endpoint.clone(),
            token: metadata.token_endpoint.clone(),
            userinfo: metadata.userinfo_endpoint.clone(),
            revoke: metadata.revocation_endpoint.clone(),
        })
    }

    /// The well-known documents to try, in order: OpenID's (appended to the issuer's path),
    /// then RFC 8414's (inserted before it).
    fn well_known(&self) -> [Url; 2] {
        let path = self.issuer_url.path().trim_end_matches('/');
        let mut openid = self.issuer_url.clone();
        openid.set_path(&format!("{path}/.well-known/openid-configuration"));
        let mut oauth = self.issuer_url.clone();
        oauth.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
        [openid, oauth]
    }

    async fn discover(&self) -> Result<Discovered, DiscoveryError> {
        let mut last = String::new();
        let mut metadata = None;
        for url in self.well_known() {
            match self.transport.get(&url, None).await {
                Ok(response) if response.status().is_success() => {
                    let found: Metadata = serde_json::from_slice(response.body()).map_err(|e| {
                        DiscoveryError::Wrong(format!("{url} is not a discovery document: {e}"))
                    })?;
                    metadata = Some(found);
                    break;
                }
                Ok(response) => last = format!("{url} answered {}", response.status()),
                Err(error @ (TransportError::Html { .. } | TransportError::Redirect { .. })) => {
                    last = format!("{url}: {error}");
                }
                Err(error) => return Err(DiscoveryError::Unreachable(error.to_string())),
            }
        }
        let metadata = metadata.ok_or_else(|| {
            DiscoveryError::Wrong(format!(
                "no discovery document at the issuer ({last}); check the issuer URL"
            ))
        })?;
        if metadata.issuer.trim_end_matches('/') != self.issuer {
            return Err(DiscoveryError::Wrong(format!(
                "the discovery document names issuer {:?}, not {:?}",
                metadata.issuer, self.issuer
            )));
        }
        let keys = match &metadata.jwks_uri {
            Some(url) => self.fetch_keys(url).await?,
            None => CoreJsonWebKeySet::new(Vec::new()),
        };
        Ok(Discovered { metadata, keys })
    }

    async fn fetch_keys(&self, url: &Url) -> Result<CoreJsonWebKeySet, DiscoveryError> {
        let response = self
            .transport
            .get(url, None)
            .await
            .map_err(|e| DiscoveryError::Unreachable(format!("the JWKS: {e}")))?;
        if !response.status().is_success() {
            return Err(DiscoveryError::Unreachable(format!(
                "the JWKS answered {}",
                response.status()
            )));
        }
        serde_json::from_slice(response.body())
            .map_err(|e| DiscoveryError::Wrong(format!("the JWKS at {url} is not a key set: {e}")))
    }

    /// RFC 9207: the callback's `iss` must be this issuer when present, and present when
    /// the provider says it sends it.
    pub async fn check_callback_issuer(&self, iss: Option<&str>) -> Result<(), ProviderError> {
        let discovered = self.current().await?;
        match iss {
            Some(iss) if iss.trim_end_matches('/') == self.issuer => Ok(()),
            Some(other) => Err(ProviderError::new(
                ErrorCode::IssuerMismatch,
                format!(
                    "the callback names issuer {}, not {}",
                    other.chars().take(200).collect::<String>().escape_debug(),
                    self.issuer
                ),
            )),
            None if discovered
                .metadata
                .authorization_response_iss_parameter_supported =>
            {
                Err(ProviderError::new(
                    ErrorCode::IssuerMismatch,
                    "the provider promises iss on its callbacks, and this one has none",
                ))
            }
            None => Ok(()),
        }
    }

    /// Verifies the ID token: signature against the provider's keys (fetched again once if
    /// none matches, for a provider that rotated them), issuer, audience, expiry and nonce.
    pub async fn verify(
        &self,
        id_token: &str,
        nonce: Option<&str>,
        client_id: &ClientId,
        client_secret: &ClientSecret,
    ) -> Result<Identity, ProviderError> {
        let invalid = |detail: String| ProviderError::new(ErrorCode::IdTokenInvalid, detail);
        let token: CoreIdToken = id_token
            .parse()
            .map_err(|e| invalid(format!("the ID token is not a JWT: {e}")))?;
        let Some(nonce) = nonce else {
            return Err(invalid("no nonce was sent for this sign-in".into()));
        };
        // Exactly as the provider names itself (some end it with a slash): the ID token's
        // `iss` must match it to the byte.
        let discovered = self.current().await?;
        let issuer = IssuerUrl::new(discovered.metadata.issuer.clone())
            .map_err(|e| invalid(format!("the issuer is not a URL: {e}")))?;
        let check = |keys: CoreJsonWebKeySet| {
            let verifier = CoreIdTokenVerifier::new_confidential_client(
                client_id.clone(),
                client_secret.clone(),
                issuer.clone(),
                keys,
            )
            .set_allowed_algs(SIGNATURES);
            token
                .claims(&verifier, &Nonce::new(nonce.to_owned()))
                .map(|claims| Identity {
                    subject: claims.subject().as_str().to_owned(),
                    login: claims
                        .preferred_username()
                        .map(|u| u.as_str().to_owned())
                        .or_else(|| claims.email().map(|e| e.as_str().to_owned()))
                        .or_else(|| {
                            claims
                                .name()
                                .and_then(|n| n.get(None))
                                .map(|n| n.as_str().to_owned())
                        }),
                })
        };
        match check(discovered.keys.clone()) {
            Ok(identity) => Ok(identity),
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(first)) => {
                // Perhaps the provider rotated its keys since they were fetched.
                let again = self.rediscover().await?;
                check(again.keys.clone()).map_err(|e| {
                    invalid(format!(
                        "the ID token's signature does not verify ({first}; after fetching the keys again: {e})"
                    ))
                })
            }
            Err(error) => Err(invalid(format!("the ID token is refused: {error}"))),
        }
    }

    /// Whose token it is: user info (Bearer) when the provider has it, its `sub` matching
    /// the ID token's; else the ID token alone; `None` when there is neither.
    pub async fn account(
        &self,
        transport: &Transport,
        token: &IssuedToken,
    ) -> Result<Option<Account>, ProviderError> {
        let discovered = self.current().await?;
        let identity = token.identity.as_ref();
        let Some(url) = &discovered.metadata.userinfo_endpoint else {
            return Ok(identity.map(|identity| Account {
                id: identity.subject.clone(),
                login: identity
                    .login
                    .clone()
                    .unwrap_or_else(|| identity.subject.clone()),
            }));
        };
        let info = user_info(
            transport,
            url,
            format!("Bearer {}", token.access_token.secret()),
        )
        .await?;
        let subject = first_text(&info, &["sub"])
            .ok_or_else(|| ProviderError::new(ErrorCode::UserInfoFailed, "user info has no sub"))?;
        if let Some(identity) = identity
            && identity.subject != subject
        {
            return Err(ProviderError::new(
                ErrorCode::UserInfoFailed,
                "user info names another subject than the ID token",
            ));
        }
        let login = first_text(&info, &["preferred_username", "email", "name"])
            .or_else(|| identity.and_then(|i| i.login.clone()))
            .unwrap_or_else(|| subject.clone());
        Ok(Some(Account { id: subject, login }))
    }
}
