//! Several providers in one instance, from a TOML file: one Connect per provider,
//! one callback URL for all, each sign-in handled by its own provider, the
//! scripts API naming the provider when a login is at two, and the dialects of
//! a plain OAuth 2.0 provider (Bearer user info with its own fields, RFC 7009).

use reqwest::StatusCode;
use tokenbridge::config::{ProviderArg, Settings};
use tokenbridge_shared::{ApiError, ErrorCode, FlowOutcome, FreshToken, ProviderKind};
use wiremock::{
    Mock, MockServer,
    matchers::{method, path},
};

use crate::connections::API_KEY;
use crate::helpers::*;
use crate::oidc::{CLIENT_ID, OidcProvider};

/// A providers file in a scratch folder.
fn providers_file(text: &str) -> std::path::PathBuf {
    let path = scratch_dir().join("tokenbridge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A plain OAuth 2.0 provider that issues `token` and says the account is `login`.
async fn plain_provider(token: &str, login: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(json_response(
            200,
            &format!(r#"{{"access_token":"{token}","token_type":"bearer","expires_in":3600}}"#),
        ))
        .mount(&server)
        .await;
    Mock::given(path("/me"))
        .respond_with(json_response(
            200,
            &format!(r#"{{"user_id":"u-{login}","handle":"{login}"}}"#),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .respond_with(json_response(200, "{}"))
        .mount(&server)
        .await;
    server
}

fn plain_table(id: &str, server: &MockServer) -> String {
    let base = server.uri();
    format!(
        r#"
[[provider]]
id = "{id}"
kind = "oauth2"
name = "Ads platform {id}"
client_id = "app-{id}"
client_secret = "secret-{id}"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
userinfo_url = "{base}/me"
revoke_url = "{base}/revoke"
account_id_field = "user_id"
login_field = "handle"
"#
    )
}

async fn api_token(app: &TestApp, login: &str, query: &str) -> (StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/connections/{login}/token{query}")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn two_providers_from_the_file_each_sign_in_with_their_own() {
    let ads = plain_provider("ads-token", "alice").await;
    let file = providers_file(&format!(
        r#"
[[provider]]
id = "sandbox"
kind = "sandbox"
name = "Sandbox"
{}"#,
        plain_table("ads", &ads)
    ));
    let app = spawn_app(
        Settings {
            config: Some(file),
            api_key: Some(API_KEY.into()),
            ..Settings::default()
        },
        |_| {},
    )
    .await;

    let session = app.session().await;
    let listed: Vec<(&str, ProviderKind, &str)> = session
        .providers
        .iter()
        .map(|p| (p.id.as_str(), p.kind, p.name.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("sandbox", ProviderKind::Sandbox, "Sandbox"),
            ("ads", ProviderKind::Custom, "Ads platform ads")
        ]
    );

    // The sandbox, the first provider, without naming it.
    app.connect_as("alice").await;
    // The other by its id; it answers on the same callback URL.
    let authorize = app.login("?provider=ads").await;
    assert!(authorize.starts_with(&format!("{}/authorize?", ads.uri())));
    assert_eq!(
        query_param(&authorize, "redirect_uri").unwrap(),
        format!("{}auth/callback", app.base)
    );
    assert_eq!(query_param(&authorize, "client_id").unwrap(), "app-ads");
    let state = query_param(&authorize, "state").unwrap();
    app.callback(&format!("{}auth/callback?code=1&state={state}", app.base))
        .await;

    let session = app.session().await;
    assert_eq!(session.outcome, Some(FlowOutcome::Connected));
    let mut seen: Vec<(String, String, String)> = session
        .connections
        .iter()
        .map(|c| (c.provider_id.clone(), c.login.clone(), c.account_id.clone()))
        .collect();
    seen.sort();
    assert_eq!(seen[0], ("ads".into(), "alice".into(), "u-alice".into()));
    assert_eq!(seen[1].0, "sandbox");
    let me = ads
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/me")
        .unwrap();
    let bearer = me
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(bearer, "Bearer ads-token", "standard user info uses Bearer");

    // alice is at both providers: a script must say which.
    let (status, body) = api_token(&app, "alice", "").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let error: ApiError = serde_json::from_value(body).unwrap();
    assert_eq!(error.code, ErrorCode::AmbiguousLogin);
    let (status, body) = api_token(&app, "alice", "?provider=ads").await;
    assert_eq!(status, StatusCode::OK);
    let fresh: FreshToken = serde_json::from_value(body).unwrap();
    assert_eq!(fresh.access_token, "ads-token");
    let (status, _) = api_token(&app, "alice", "?provider=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Disconnect at the plain provider revokes by RFC 7009.
    let id = &session
        .connections
        .iter()
        .find(|c| c.provider_id == "ads")
        .unwrap()
        .id;
    assert!(app.disconnect(id).await.status().is_success());
    let revoke = ads
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/revoke")
        .expect("revoked");
    let body = String::from_utf8(revoke.body).unwrap();
    assert!(
        body.contains("token=ads-token") && !body.contains("access_token="),
        "{body}"
    );
}

#[tokio::test]
async fn a_callback_naming_another_providers_issuer_is_a_mix_up() {
    let honest = OidcProvider::start(serde_json::json!({})).await;
    let attacker = OidcProvider::start(serde_json::json!({})).await;
    let table = |id: &str, provider: &OidcProvider| {
        format!(
            "[[provider]]\nid = \"{id}\"\nkind = \"oidc\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"s\"\n",
            provider.issuer()
        )
    };
    let file = providers_file(&format!(
        "{}\n{}",
        table("honest", &honest),
        table("attacker", &attacker)
    ));
    let app = spawn_app(
        Settings {
            config: Some(file),
            ..Settings::default()
        },
        |_| {},
    )
    .await;

    // The sign-in goes to the honest provider; the answer names the attacker's issuer.
    let authorize = app.login("?provider=honest").await;
    let state = query_param(&authorize, "state").unwrap();
    let iss =
        url::form_urlencoded::byte_serialize(attacker.issuer().as_bytes()).collect::<String>();
    app.callback(&format!(
        "{}auth/callback?code=1&state={state}&iss={iss}",
        app.base
    ))
    .await;

    assert_eq!(failed_with(&app.session().await), ErrorCode::IssuerMismatch);
    assert!(
        honest
            .server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.url.path() != "/token")
            && attacker
                .server
                .received_requests()
                .await
                .unwrap()
                .iter()
                .all(|r| r.url.path() != "/token"),
        "no code was sent anywhere"
    );
}

#[tokio::test]
async fn the_providers_file_is_checked_with_messages_that_say_what_to_fix() {
    let cases = [
        ("", "lists no provider"),
        (
            "[[provider]]\nid = \"Bad Id\"\nkind = \"sandbox\"\n",
            "id must be",
        ),
        (
            "[[provider]]\nid = \"x\"\nkind = \"saml\"\n",
            "kind \"saml\"",
        ),
        (
            "[[provider]]\nid = \"x\"\nkind = \"oidc\"\nclient_id = \"a\"\nclient_secret = \"b\"\n",
            "needs issuer",
        ),
        (
            "[[provider]]\nid = \"x\"\nkind = \"oauth2\"\nclient_id = \"a\"\nclient_secret = \"b\"\ntoken_url = \"https://t.example/token\"\n",
            "needs authorize_url",
        ),
        (
            "[[provider]]\nid = \"x\"\nkind = \"yandex\"\nclient_secret = \"b\"\n",
            "client_id is not set",
        ),
        (
            "[[provider]]\nid = \"x\"\nkind = \"sandbox\"\n[[provider]]\nid = \"x\"\nkind = \"sandbox\"\n",
            "used twice",
        ),
        (
            "[[provider]]\nid = \"x\"\nkind = \"sandbox\"\ncolour = \"blue\"\n",
            "unknown field",
        ),
    ];
    // The toml crate's own message quotes the line at fault, which may hold a secret: the
    // message names the line and leaves it out.
    let secret_lines = [
        (
            "[[provider]]\nid = \"x\"\nkind = \"oauth2\"\nclient-secret = \"s3cr3t-1\"\n",
            "line 4, column 1: unknown field `client-secret`",
            "s3cr3t-1",
        ),
        (
            "[[provider]]\nid = \"x\"\nclient_secret = \"s3cr3t-2\\q\"\n",
            "line 3",
            "s3cr3t-2",
        ),
        (
            "[[provider]]\nid = \"x\"\nkind = \"oauth2\"\nclient_secret = 8472619305\n",
            "line 4, column 17: invalid type: expected a string",
            "8472619305",
        ),
    ];
    for (text, expected, secret) in secret_lines {
        let error = tokenbridge::config::Config::resolve(Settings {
            config: Some(providers_file(text)),
            ..Settings::default()
        })
        .err()
        .unwrap_or_else(|| panic!("{text:?} is refused"))
        .to_string();
        assert!(error.contains(expected), "{text:?}: {error}");
        assert!(!error.contains(secret), "{text:?}: {error}");
    }
    for (text, expected) in cases {
        let file = providers_file(text);
        let error = tokenbridge::config::Config::resolve(Settings {
            config: Some(file.clone()),
            ..Settings::default()
        })
        .err()
        .unwrap_or_else(|| panic!("{text:?} is refused"))
        .to_string();
        assert!(
            error.contains(expected) && error.contains(&file.display().to_string()),
            "{text:?}: {error}"
        );
    }
}

#[tokio::test]
async fn every_variable_of_a_single_custom_provider_still_works() {
    let server = plain_provider("custom-token", "quinn").await;
    let app = spawn_app(
        Settings {
            userinfo_id_field: Some("user_id".into()),
            userinfo_login_field: Some("handle".into()),
            ..played_by(&server, ProviderArg::Custom, "app", Some("/me"), None)
        },
        |_| {},
    )
    .await;

    app.return_with_code("", "1").await;

    let session = app.session().await;
    assert_eq!(
        session.providers[0].id, "custom",
        "the id is the name it was chosen by"
    );
    assert_eq!(session.connections[0].login, "quinn");
    assert_eq!(session.connections[0].provider_id, "custom");
}

#[tokio::test]
async fn two_accounts_with_one_login_at_one_provider_are_never_confused() {
    // A provider whose logins people choose: two accounts both call themselves "alice".
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(json_response(
            200,
            r#"{"access_token":"first-alice","token_type":"bearer"}"#,
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(json_response(
            200,
            r#"{"access_token":"second-alice","token_type":"bearer"}"#,
        ))
        .mount(&server)
        .await;
    Mock::given(path("/me"))
        .and(wiremock::matchers::header(
            "authorization",
            "Bearer first-alice",
        ))
        .respond_with(json_response(
            200,
            r#"{"sub":"1","preferred_username":"alice"}"#,
        ))
        .mount(&server)
        .await;
    Mock::given(path("/me"))
        .and(wiremock::matchers::header(
            "authorization",
            "Bearer second-alice",
        ))
        .respond_with(json_response(
            200,
            r#"{"sub":"2","preferred_username":"alice"}"#,
        ))
        .mount(&server)
        .await;
    let app = spawn_app(
        Settings {
            api_key: Some(API_KEY.into()),
            ..played_by(&server, ProviderArg::Oauth2, "app", Some("/me"), None)
        },
        |_| {},
    )
    .await;
    app.return_with_code("", "1").await;
    app.other_browser().return_with_code("", "2").await;

    let (status, body) = api_token(&app, "alice", "").await;

    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let error: ApiError = serde_json::from_value(body).unwrap();
    assert_eq!(error.code, ErrorCode::AmbiguousLogin);
}
