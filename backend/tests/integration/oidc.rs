//! An OpenID Connect provider played by wiremock: discovery, its signing keys (an
//! Ed25519 key made for each test), an ID token signed for each sign-in, user info
//! and RFC 7009 revocation. Every way an ID token can be wrong is refused with its
//! own error, and nothing is saved.

use base64::{Engine, engine::general_purpose::STANDARD};
use openidconnect::{
    Audience, EndUserUsername, IssuerUrl, JsonWebKeyId, Nonce, PrivateSigningKey, StandardClaims,
    SubjectIdentifier,
    core::{
        CoreEdDsaPrivateSigningKey, CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet,
        CoreJwsSigningAlgorithm,
    },
};
use rand::Rng;
use reqwest::StatusCode;
use tokenbridge::config::{ProviderArg, Settings};
use tokenbridge_shared::{ErrorCode, FlowOutcome};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_string_contains, method, path},
};

use crate::helpers::*;

pub const CLIENT_ID: &str = "tokenbridge-oidc-test";

/// An Ed25519 key in PKCS#8 PEM, from 32 random bytes.
fn signing_key(kid: &str) -> CoreEdDsaPrivateSigningKey {
    let seed: [u8; 32] = rand::rng().random();
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der)
    );
    CoreEdDsaPrivateSigningKey::from_ed25519_pem(&pem, Some(JsonWebKeyId::new(kid.into()))).unwrap()
}

/// What an ID token claims; each test changes what it is about.
#[derive(Clone)]
pub struct Claims {
    pub issuer: String,
    pub audience: String,
    pub subject: String,
    pub nonce: Option<String>,
    /// Seconds from now.
    pub expires_in: i64,
}

pub struct OidcProvider {
    pub server: MockServer,
    key: CoreEdDsaPrivateSigningKey,
}

impl OidcProvider {
    /// A provider whose discovery answers at the OpenID well-known path, with `extra` in it.
    pub async fn start(extra: serde_json::Value) -> Self {
        let provider = Self::bare().await;
        provider
            .serve_discovery("/.well-known/openid-configuration", extra)
            .await;
        provider
    }

    /// A provider with keys, user info and revocation, but no discovery document yet.
    pub async fn bare() -> Self {
        let server = MockServer::start().await;
        let key = signing_key("key-1");
        let jwks = CoreJsonWebKeySet::new(vec![key.as_verification_key()]);
        Mock::given(path("/jwks"))
            .respond_with(json_response(200, &serde_json::to_string(&jwks).unwrap()))
            .mount(&server)
            .await;
        Mock::given(path("/userinfo"))
            .respond_with(json_response(
                200,
                r#"{"sub":"sub-alice","preferred_username":"alice","email":"alice@example.com"}"#,
            ))
            .mount(&server)
            .await;
        revokes_anything(&server).await;
        Self { server, key }
    }

    pub fn issuer(&self) -> String {
        self.server.uri()
    }

    pub async fn serve_discovery(&self, at: &str, extra: serde_json::Value) {
        let base = self.issuer();
        let mut document = serde_json::json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "userinfo_endpoint": format!("{base}/userinfo"),
            "revocation_endpoint": format!("{base}/revoke"),
            "jwks_uri": format!("{base}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
        });
        if let (Some(document), Some(extra)) = (document.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                document.insert(k.clone(), v.clone());
            }
        }
        Mock::given(path(at))
            .respond_with(json_response(200, &document.to_string()))
            .mount(&self.server)
            .await;
    }

    /// Claims of a good ID token for the sign-in whose authorize URL is `authorize`.
    pub fn good_claims(&self, authorize: &str) -> Claims {
        Claims {
            issuer: self.issuer(),
            audience: CLIENT_ID.into(),
            subject: "sub-alice".into(),
            nonce: query_param(authorize, "nonce"),
            expires_in: 600,
        }
    }

    pub fn id_token(&self, claims: &Claims, key: Option<&CoreEdDsaPrivateSigningKey>) -> String {
        let now = chrono::Utc::now();
        let mut built = CoreIdTokenClaims::new(
            IssuerUrl::new(claims.issuer.clone()).unwrap(),
            vec![Audience::new(claims.audience.clone())],
            now + chrono::Duration::seconds(claims.expires_in),
            now - chrono::Duration::seconds(5),
            StandardClaims::new(SubjectIdentifier::new(claims.subject.clone()))
                .set_preferred_username(Some(EndUserUsername::new("alice".into()))),
            Default::default(),
        );
        if let Some(nonce) = &claims.nonce {
            built = built.set_nonce(Some(Nonce::new(nonce.clone())));
        }
        CoreIdToken::new(
            built,
            key.unwrap_or(&self.key),
            CoreJwsSigningAlgorithm::EdDsa,
            None,
            None,
        )
        .unwrap()
        .to_string()
    }

    /// The token endpoint answers the exchange of `code` with `id_token`.
    pub async fn issue(&self, code: &str, id_token: &str) {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains(format!("code={code}&")))
            .respond_with(json_response(
                200,
                &serde_json::json!({
                    "access_token": "oidc-access-token",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "refresh_token": "oidc-refresh-token",
                    "id_token": id_token,
                })
                .to_string(),
            ))
            .up_to_n_times(1)
            .mount(&self.server)
            .await;
    }

    pub fn settings(&self) -> Settings {
        Settings {
            provider: Some(ProviderArg::Oidc),
            client_id: Some(CLIENT_ID.into()),
            issuer: Some(self.issuer()),
            ..Settings::default()
        }
    }
}

/// Login → the provider's answer with an ID token made from `claims(authorize URL)` →
/// callback (with `extra` on it), and how the sign-in ended.
async fn sign_in_with(
    app: &TestApp,
    provider: &OidcProvider,
    claims: impl FnOnce(&str) -> Claims,
    key: Option<&CoreEdDsaPrivateSigningKey>,
    extra: &str,
) -> Option<FlowOutcome> {
    let authorize = app.login("").await;
    let id_token = provider.id_token(&claims(&authorize), key);
    let code = format!("c0de{}", rand::rng().random::<u32>());
    provider.issue(&code, &id_token).await;
    let state = query_param(&authorize, "state").unwrap();
    app.callback(&format!(
        "{}auth/callback?code={code}&state={state}{extra}",
        app.base
    ))
    .await;
    app.session().await.outcome
}

fn refused_with(code: ErrorCode) -> Option<FlowOutcome> {
    Some(FlowOutcome::Failed(tokenbridge_shared::ApiError::new(code)))
}

#[tokio::test]
async fn an_openid_provider_found_by_its_issuer_signs_a_person_in() {
    let provider = OidcProvider::start(serde_json::json!({})).await;
    let app = spawn_app(provider.settings(), |_| {}).await;

    let authorize = app.login("").await;
    assert!(authorize.starts_with(&format!("{}/authorize?", provider.issuer())));
    assert!(
        query_param(&authorize, "scope").is_some_and(|s| s.split(' ').any(|s| s == "openid")),
        "openid is asked for: {authorize}"
    );
    assert!(query_param(&authorize, "nonce").is_some_and(|n| n.len() >= 16));
    let id_token = provider.id_token(&provider.good_claims(&authorize), None);
    provider.issue("c0de", &id_token).await;
    let state = query_param(&authorize, "state").unwrap();
    let iss =
        url::form_urlencoded::byte_serialize(provider.issuer().as_bytes()).collect::<String>();
    app.callback(&format!(
        "{}auth/callback?code=c0de&state={state}&iss={iss}",
        app.base
    ))
    .await;

    let session = app.session().await;
    assert_eq!(session.outcome, Some(FlowOutcome::Connected));
    let connection = &session.connections[0];
    assert_eq!(connection.login, "alice", "preferred_username is the login");
    assert_eq!(connection.account_id, "sub-alice", "sub is the account");
    assert_eq!(connection.token.access_token, "oidc-access-token");
    let userinfo = provider
        .server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/userinfo")
        .expect("user info was asked");
    assert_eq!(
        userinfo.headers.get("authorization").unwrap(),
        "Bearer oidc-access-token"
    );
}

/// An app on `provider` with one connection made by a sign-in, and the connection's id.
async fn connected_at(provider: &OidcProvider) -> (TestApp, String) {
    let app = spawn_app(provider.settings(), |_| {}).await;
    let outcome = sign_in_with(&app, provider, |a| provider.good_claims(a), None, "").await;
    assert_eq!(outcome, Some(FlowOutcome::Connected));
    let id = app.session().await.connections[0].id.clone();
    (app, id)
}

/// The revocation requests `provider` was sent, in order: each form's `token` and
/// `token_type_hint`, and whether the client authenticated.
async fn revocations(provider: &OidcProvider) -> Vec<(String, String, bool)> {
    let requests = provider
        .server
        .received_requests()
        .await
        .unwrap_or_default();
    requests
        .iter()
        .filter(|r| r.url.path() == "/revoke")
        .map(|r| {
            let field = |name: &str| form_field(r, name).unwrap_or_default();
            let authenticated =
                !field("client_id").is_empty() || r.headers.contains_key("authorization");
            (field("token"), field("token_type_hint"), authenticated)
        })
        .collect()
}

/// Disconnect takes back the grant, not only the access token: RFC 7009 lets a server that is
/// sent the access token leave the refresh token valid, able to mint new access tokens.
#[tokio::test]
async fn disconnect_revokes_the_refresh_and_access_tokens_by_rfc_7009() {
    let provider = OidcProvider::start(serde_json::json!({})).await;
    let (app, id) = connected_at(&provider).await;

    let response = app.disconnect(&id).await;

    assert_eq!(response.status(), StatusCode::OK);
    let revoked: tokenbridge_shared::Disconnected = response.json().await.unwrap();
    assert!(revoked.revoked, "{}", revoked.message);
    assert_eq!(
        revocations(&provider).await,
        [
            ("oidc-refresh-token".into(), "refresh_token".into(), true),
            ("oidc-access-token".into(), "access_token".into(), true),
        ]
    );
    assert!(app.session().await.connections.is_empty());
}

/// A provider that takes back the grant with its refresh token, and then answers the access
/// token's revocation `400 invalid_token`, as Google does (RFC 7009 answers 200 for a token
/// no longer valid): the token is revoked, and the person is told so.
#[tokio::test]
async fn an_access_token_gone_with_its_grant_counts_as_revoked() {
    let provider = OidcProvider::start(serde_json::json!({})).await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .and(body_string_contains("token_type_hint=access_token"))
        .respond_with(json_response(
            400,
            r#"{"error":"invalid_token","error_description":"Token expired or revoked"}"#,
        ))
        .with_priority(1)
        .mount(&provider.server)
        .await;
    let (app, id) = connected_at(&provider).await;

    let disconnected: tokenbridge_shared::Disconnected =
        app.disconnect(&id).await.json().await.unwrap();

    assert!(disconnected.revoked, "{}", disconnected.message);
    assert_eq!(revocations(&provider).await.len(), 2);
}

/// A provider that will not revoke the refresh token (RFC 7009's `unsupported_token_type`):
/// the access token is revoked all the same, the connection is forgotten, and the person is
/// told that the provider did not revoke what it holds.
/// Endpoint URLs set for an OpenID provider (left in `.env` from a plain OAuth 2.0 set-up, say)
/// are not used — its endpoints are discovered — and the start-up log says so.
#[tokio::test]
async fn endpoint_urls_set_for_an_openid_provider_are_said_to_be_unused() {
    let provider = OidcProvider::start(serde_json::json!({})).await;
    let app = spawn_app(
        Settings {
            token_url: Some("http://127.0.0.1:9/not-this-token".into()),
            revoke_url: Some("http://127.0.0.1:9/not-this-revoke".into()),
            ..provider.settings()
        },
        |_| {},
    )
    .await;

    let outcome = sign_in_with(&app, &provider, |a| provider.good_claims(a), None, "").await;

    assert_eq!(outcome, Some(FlowOutcome::Connected), "through discovery");
    assert!(
        logs().lines().any(|line| line.contains(
            "TOKENBRIDGE_TOKEN_URL, TOKENBRIDGE_REVOKE_URL not used: an OpenID provider's endpoints are discovered"
        )),
        "the log says what is not used"
    );
}

#[tokio::test]
async fn a_refresh_token_the_provider_will_not_revoke_is_said_so() {
    let provider = OidcProvider::start(serde_json::json!({})).await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .and(body_string_contains("token_type_hint=refresh_token"))
        .respond_with(json_response(400, r#"{"error":"unsupported_token_type"}"#))
        .with_priority(1)
        .mount(&provider.server)
        .await;
    let (app, id) = connected_at(&provider).await;

    let response = app.disconnect(&id).await;

    assert_eq!(response.status(), StatusCode::OK);
    let disconnected: tokenbridge_shared::Disconnected = response.json().await.unwrap();
    assert!(!disconnected.revoked, "{}", disconnected.message);
    assert_eq!(
        disconnected.revocation,
        tokenbridge_shared::Revocation::Failed
    );
    let asked: Vec<String> = revocations(&provider)
        .await
        .into_iter()
        .map(|(token, _, _)| token)
        .collect();
    assert_eq!(asked, ["oidc-refresh-token", "oidc-access-token"]);
    assert!(app.session().await.connections.is_empty());
}

#[tokio::test]
async fn every_wrong_id_token_is_refused_and_nothing_is_saved() {
    let provider = OidcProvider::start(serde_json::json!({})).await;
    let app = spawn_app(provider.settings(), |_| {}).await;
    let stranger = signing_key("key-1");
    type Spoil = Box<dyn Fn(&mut Claims)>;
    let cases: Vec<(&str, Spoil, bool)> = vec![
        ("a signature by another key", Box::new(|_| {}), true),
        (
            "another audience",
            Box::new(|c| c.audience = "someone-else".into()),
            false,
        ),
        (
            "another issuer",
            Box::new(|c| c.issuer = "https://evil.example".into()),
            false,
        ),
        ("an expired token", Box::new(|c| c.expires_in = -120), false),
        (
            "another nonce",
            Box::new(|c| c.nonce = Some("not-the-one-sent".into())),
            false,
        ),
        ("no nonce", Box::new(|c| c.nonce = None), false),
    ];
    for (case, spoil, foreign_key) in cases {
        let outcome = sign_in_with(
            &app,
            &provider,
            |authorize| {
                let mut claims = provider.good_claims(authorize);
                spoil(&mut claims);
                claims
            },
            foreign_key.then_some(&stranger),
            "",
        )
        .await;
        assert_eq!(outcome, refused_with(ErrorCode::IdTokenInvalid), "{case}");
    }
    assert!(app.session().await.connections.is_empty());
    assert!(!logs().contains("oidc-access-token"), "no token in the log");
}

#[tokio::test]
async fn a_callback_naming_another_issuer_is_refused() {
    let provider = OidcProvider::start(serde_json::json!({})).await;
    let app = spawn_app(provider.settings(), |_| {}).await;

    let outcome = sign_in_with(
        &app,
        &provider,
        |a| provider.good_claims(a),
        None,
        "&iss=https%3A%2F%2Fevil.example",
    )
    .await;

    assert_eq!(outcome, refused_with(ErrorCode::IssuerMismatch));
    assert!(app.session().await.connections.is_empty());
}

#[tokio::test]
async fn a_provider_that_promises_iss_must_send_it() {
    let provider = OidcProvider::start(serde_json::json!({
        "authorization_response_iss_parameter_supported": true
    }))
    .await;
    let app = spawn_app(provider.settings(), |_| {}).await;

    let without = sign_in_with(&app, &provider, |a| provider.good_claims(a), None, "").await;
    assert_eq!(without, refused_with(ErrorCode::IssuerMismatch));

    let iss =
        url::form_urlencoded::byte_serialize(provider.issuer().as_bytes()).collect::<String>();
    let with = sign_in_with(
        &app,
        &provider,
        |a| provider.good_claims(a),
        None,
        &format!("&iss={iss}"),
    )
    .await;
    assert_eq!(with, Some(FlowOutcome::Connected));
}

#[tokio::test]
async fn rfc_8414_metadata_is_found_when_there_is_no_openid_document() {
    let provider = OidcProvider::bare().await;
    provider
        .serve_discovery(
            "/.well-known/oauth-authorization-server",
            serde_json::json!({}),
        )
        .await;
    let app = spawn_app(provider.settings(), |_| {}).await;

    let outcome = sign_in_with(&app, &provider, |a| provider.good_claims(a), None, "").await;

    assert_eq!(outcome, Some(FlowOutcome::Connected));
}

#[tokio::test]
async fn discovery_down_at_start_up_is_tried_again_when_someone_signs_in() {
    let provider = OidcProvider::bare().await;
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&provider.server)
        .await;
    let app = spawn_app(provider.settings(), |_| {}).await;

    // Still down: the page says the provider cannot be reached.
    let login = app
        .browser
        .get(app.url("/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&login), "/");
    assert_eq!(
        app.session().await.outcome,
        refused_with(ErrorCode::ProviderUnreachable)
    );

    // Back: the next sign-in discovers it and goes through.
    provider
        .serve_discovery("/.well-known/openid-configuration", serde_json::json!({}))
        .await;
    let outcome = sign_in_with(&app, &provider, |a| provider.good_claims(a), None, "").await;
    assert_eq!(outcome, Some(FlowOutcome::Connected));
}

#[tokio::test]
async fn an_issuer_with_no_discovery_document_stops_the_start_with_a_clear_error() {
    let provider = OidcProvider::bare().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = tokenbridge::config::Config::resolve(Settings {
        client_secret: Some(CLIENT_SECRET.into()),
        public_url: Some(format!("http://{addr}")),
        cookie_key: Some(STANDARD.encode([1u8; 64]).into()),
        store_key: Some(STANDARD.encode([1u8; 32]).into()),
        database_url: Some(
            format!(
                "sqlite://{}",
                scratch_dir().join("tokenbridge.db").display()
            )
            .into(),
        ),
        ..provider.settings()
    })
    .unwrap();

    let error = tokenbridge::AppState::new(config, addr)
        .await
        .err()
        .expect("the start is refused")
        .to_string();

    assert!(
        error.contains("no discovery document") && error.contains("oidc"),
        "{error}"
    );
}

#[tokio::test]
async fn an_answer_without_an_id_token_is_not_trusted() {
    let provider = OidcProvider::start(serde_json::json!({})).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(json_response(
            200,
            r#"{"access_token":"no-id-token","token_type":"Bearer","expires_in":3600}"#,
        ))
        .mount(&provider.server)
        .await;
    let app = spawn_app(provider.settings(), |_| {}).await;

    app.return_with_code("", "1").await;

    assert_eq!(
        app.session().await.outcome,
        refused_with(ErrorCode::IdTokenInvalid)
    );
    assert!(app.session().await.connections.is_empty());
}

#[tokio::test]
async fn at_an_openid_provider_an_operator_is_named_by_account_id_not_by_a_chosen_name() {
    let provider = OidcProvider::start(serde_json::json!({})).await;
    let by_name = spawn_app(
        Settings {
            operators: Some("alice".into()),
            ..provider.settings()
        },
        |_| {},
    )
    .await;
    let outcome = sign_in_with(&by_name, &provider, |a| provider.good_claims(a), None, "").await;
    assert_eq!(outcome, Some(FlowOutcome::Connected));
    assert!(
        !by_name.session().await.operator,
        "preferred_username alice is a name anyone may choose"
    );

    let by_sub = spawn_app(
        Settings {
            operators: Some("oidc:sub-alice".into()),
            ..provider.settings()
        },
        |_| {},
    )
    .await;
    sign_in_with(&by_sub, &provider, |a| provider.good_claims(a), None, "").await;
    assert!(by_sub.session().await.operator);
}

#[tokio::test]
async fn an_issuer_that_ends_with_a_slash_is_matched_as_the_provider_names_it() {
    let provider = OidcProvider::bare().await;
    let named = format!("{}/", provider.issuer());
    provider
        .serve_discovery(
            "/.well-known/openid-configuration",
            serde_json::json!({ "issuer": named }),
        )
        .await;
    let app = spawn_app(
        Settings {
            issuer: Some(named.clone()),
            ..provider.settings()
        },
        |_| {},
    )
    .await;

    let outcome = sign_in_with(
        &app,
        &provider,
        |a| Claims {
            issuer: named.clone(),
            ..provider.good_claims(a)
        },
        None,
        "",
    )
    .await;

    assert_eq!(outcome, Some(FlowOutcome::Connected));
}
