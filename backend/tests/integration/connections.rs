//! Saved connections: kept across restarts, encrypted at rest, refreshed once
//! however many callers ask, marked when the provider refuses, revoked on
//! disconnect, and handed to scripts by the API — only to whom they belong.

use std::time::Duration;

use sqlx::Connection;

use reqwest::StatusCode;
use serde_json::Value;
use tokenbridge::config::{ProviderArg, Settings};
use tokenbridge_shared::{
    ApiError, ConnectionStatus, ConnectionSummary, ConnectionView, Disconnected, ErrorCode,
    FlowOutcome, FreshToken,
};
use wiremock::{
    Mock, MockServer,
    matchers::{body_string_contains, method, path},
};

use crate::helpers::*;

pub const API_KEY: &str = "test-api-key-0123456789abcdef";

/// A sandbox app with the scripts API on, its database in `dir`.
async fn app_with_api(dir: &std::path::Path, margin: Option<i64>) -> TestApp {
    let settings = Settings {
        api_key: Some(API_KEY.into()),
        database_url: Some(format!("sqlite://{}", dir.join("tokenbridge.db").display()).into()),
        refresh_margin_secs: margin,
        ..Settings::default()
    };
    spawn_app(settings, |_| {}).await
}

async fn connect_as(app: &TestApp, login: &str) -> ConnectionView {
    let authorize = app.login(&format!("?login_hint={login}")).await;
    let callback = app.decide(&authorize, "allow").await;
    app.callback(&callback).await;
    let session = app.session().await;
    assert_eq!(session.outcome, Some(FlowOutcome::Connected));
    session
        .connections
        .into_iter()
        .find(|c| c.login == login)
        .expect("the new connection is listed")
}

async fn api_list(app: &TestApp) -> Vec<ConnectionSummary> {
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/connections"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub async fn api_token(app: &TestApp, login: &str) -> Result<FreshToken, (StatusCode, ApiError)> {
    let response = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/connections/{login}/token")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status.is_success() {
        Ok(response.json().await.unwrap())
    } else {
        Err((status, response.json().await.unwrap()))
    }
}

#[tokio::test]
async fn a_connection_is_saved_and_survives_a_restart() {
    let dir = scratch_dir();
    let app = app_with_api(&dir, None).await;
    let made = connect_as(&app, "alice").await;
    assert_eq!(made.status, ConnectionStatus::Active);
    assert!(made.token.has_refresh_token);

    // A new server on the same database and key.
    let restarted = app_with_api(&dir, None).await;
    let listed = api_list(&restarted).await;

    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].login, "alice");
    assert_eq!(
        api_token(&restarted, "alice").await.unwrap().access_token,
        made.token.access_token
    );
}

#[tokio::test]
async fn connecting_the_same_account_again_updates_it() {
    let dir = scratch_dir();
    let app = app_with_api(&dir, None).await;
    let first = connect_as(&app, "alice").await;

    let second = connect_as(&app, "alice").await;
    connect_as(&app, "bob").await;

    assert_eq!(first.id, second.id);
    assert_ne!(first.token.access_token, second.token.access_token);
    let listed = api_list(&app).await;
    assert_eq!(listed.iter().filter(|c| c.login == "alice").count(), 1);
    assert_eq!(listed.len(), 2);
    // The page shows the most recent connection's token first.
    assert_eq!(
        app.session().await.token.unwrap().access_token,
        app.session().await.connections[0].token.access_token
    );
}

#[tokio::test]
async fn neither_token_is_in_the_database_files() {
    let dir = scratch_dir();
    let app = app_with_api(&dir, None).await;
    let made = connect_as(&app, "alice").await;
    let stored = app.state.connections.find(&made.id).await.unwrap().unwrap();
    let refresh = stored.refresh_token.unwrap().secret().clone();

    let mut searched = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        searched += bytes.len();
        for (name, secret) in [
            ("access token", &made.token.access_token),
            ("refresh token", &refresh),
        ] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the {name} is in the database"
            );
        }
        // The account is there in the clear, so the search did look at the right bytes.
    }
    assert!(searched > 0);
    let all: Vec<u8> = std::fs::read_dir(&dir)
        .unwrap()
        .flat_map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        all.windows(5).any(|w| w == b"alice"),
        "the login is stored in the clear"
    );
}

#[tokio::test]
async fn many_parallel_callers_cause_one_refresh() {
    let dir = scratch_dir();
    let app = app_with_api(&dir, None).await;
    let made = connect_as(&app, "alice").await;
    // The token now expires within the margin (300 s); the refreshed one will not.
    let mut db = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}",
        dir.join("tokenbridge.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE connections SET expires_at = $1")
        .bind(now() + 60)
        .execute(&mut db)
        .await
        .unwrap();
    let before = app.token_calls();

    let callers: Vec<_> = (0..25)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { api_token(&app, "alice").await })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for caller in callers {
        tokens.insert(caller.await.unwrap().unwrap().access_token);
    }

    assert_eq!(app.token_calls() - before, 1, "one refresh for 25 callers");
    assert_eq!(tokens.len(), 1, "all callers got the refreshed token");
    assert!(!tokens.contains(&made.token.access_token));
}

#[tokio::test]
async fn a_rotated_refresh_token_is_stored() {
    let app = app_with_api(&scratch_dir(), None).await;
    let made = connect_as(&app, "alice").await;
    let store = &app.state.connections;
    let before = store
        .find(&made.id)
        .await
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap()
        .secret()
        .clone();

    let response = app.refresh(&made.id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed: ConnectionView = response.json().await.unwrap();

    let after = store
        .find(&made.id)
        .await
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap()
        .secret()
        .clone();
    assert_ne!(before, after, "the sandbox rotates refresh tokens");
    assert_ne!(refreshed.token.access_token, made.token.access_token);
    assert!(refreshed.refreshed_at.is_some());
}

/// An app with the scripts API on whose provider, a custom one, `provider` plays (its user
/// info at /info, its revocation at `revoke`).
pub(crate) fn custom_app_settings(provider: &MockServer, revoke: Option<&str>) -> Settings {
    Settings {
        api_key: Some(API_KEY.into()),
        ..played_by(
            provider,
            ProviderArg::Custom,
            "custom-client",
            Some("/info"),
            revoke,
        )
    }
}

/// The settings of apps like [`custom_app_settings`]'s that share one SQLite file, as two
/// processes (instances, or the server and the `tokenbridge` command) do.
fn sharing_one_file(provider: &MockServer, revoke: Option<&str>) -> impl Fn() -> Settings {
    let database = scratch_database();
    let settings = custom_app_settings(provider, revoke);
    move || Settings {
        database_url: Some(database.clone().into()),
        ..settings.clone()
    }
}

/// Such an app ([`custom_app_settings`]) with carol signed in there with the code `1`.
async fn carol_signed_in_at(provider: &MockServer, revoke: Option<&str>) -> TestApp {
    let app = spawn_app(custom_app_settings(provider, revoke), |_| {}).await;
    app.return_with_code("", "1").await;
    app
}

#[tokio::test]
async fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(json_response(200, r#"{"access_token":"at-1","token_type":"bearer","expires_in":60,"refresh_token":"rt-original"}"#))
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-original"))
        .respond_with(json_response(
            200,
            r#"{"access_token":"at-2","token_type":"bearer","expires_in":3600}"#,
        ))
        .expect(1)
        .mount(&provider)
        .await;
    answers_carol_at_info(&provider).await;
    let app = carol_signed_in_at(&provider, None).await;

    // It expires within the margin (300 s), so the script's request refreshes it.
    let fresh = api_token(&app, "carol").await.unwrap();

    assert_eq!(fresh.access_token, "at-2");
    let id = api_list(&app).await[0].id.clone();
    let stored = app.state.connections.find(&id).await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.unwrap().secret(), "rt-original");
}

/// A script that gives up while the refresh its read started is under way (its own timeout,
/// shorter than the provider's answer) loses nothing: the provider has already spent the old
/// refresh token and issued a new one, and that answer is saved all the same. The next read
/// gets the new token without another refresh, and the connection holds the new refresh token.
#[tokio::test]
async fn a_refresh_whose_script_gives_up_midway_is_still_saved() {
    let provider = rotating_slowly(Duration::from_millis(800)).await;
    let app = carol_signed_in_at(&provider, None).await;
    let id = api_list(&app).await[0].id.clone();

    // It expires within the margin (300 s), so this read refreshes it; the script stops
    // waiting once the provider has the refresh token, long before it answers.
    gives_up_while_refreshing(&app, &provider, "carol").await;

    let stored = saved_with(&app, &id, "at-2")
        .await
        .expect("the refresh the script gave up on was saved");
    assert_eq!(
        stored.refresh_token.unwrap().secret(),
        "rt-2",
        "with the provider's new refresh token"
    );
    let fresh = api_token(&app, "carol").await.unwrap();
    assert_eq!(fresh.access_token, "at-2", "the next read gets it");
    assert_eq!(refreshes(&provider).await, 1, "with no second refresh");
}

/// A disconnect that comes while a refresh is under way waits for it, and revokes the tokens
/// the refresh brought: the ones that would otherwise stay valid with no one holding them.
#[tokio::test]
async fn a_disconnect_during_a_refresh_revokes_the_refreshed_token() {
    let provider = rotating_slowly_and_revoking().await;
    let app = carol_signed_in_at(&provider, Some("/revoke")).await;
    let id = app.session().await.connections[0].id.clone();

    let reading = {
        let app = app.clone();
        tokio::spawn(async move { api_token(&app, "carol").await })
    };
    while refreshes(&provider).await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let disconnected = app.disconnect(&id).await;

    assert_eq!(disconnected.status(), StatusCode::OK);
    assert_eq!(
        revoked_tokens(&provider).await,
        ["rt-2", "at-2"],
        "the tokens the refresh brought (rt-2, at-2) revoked, not the ones they replaced"
    );
    assert_eq!(
        reading.await.unwrap().unwrap().access_token,
        "at-2",
        "the read that refreshed got its token"
    );
    assert!(app.state.connections.find(&id).await.unwrap().is_none());
}

/// A provider that rotates refresh tokens, answering a refresh after 800 ms
/// ([`rotating_slowly`]), and revokes at `/revoke`.
async fn rotating_slowly_and_revoking() -> MockServer {
    let provider = rotating_slowly(Duration::from_millis(800)).await;
    revokes_anything(&provider).await;
    provider
}

/// Two apps made with `settings` (sharing one database), where carol has signed in on both
/// (each sees the same connection), and that connection's id.
async fn carol_on_two_instances(settings: impl Fn() -> Settings) -> (TestApp, TestApp, String) {
    let (here, elsewhere) = (
        spawn_app(settings(), |_| {}).await,
        spawn_app(settings(), |_| {}).await,
    );
    here.return_with_code("", "1").await;
    elsewhere.return_with_code("", "1").await;
    let id = here.session().await.connections[0].id.clone();
    (here, elsewhere, id)
}

/// A refresh saved by another instance while this one disconnects the connection (its
/// revocations are slow to answer): the tokens that refresh saved are revoked too, and the
/// connection is gone everywhere, rather than forgotten with valid tokens. (On PostgreSQL:
/// `postgres::a_refresh_saved_elsewhere_during_a_disconnect_is_revoked_too_on_postgresql`.)
#[tokio::test]
async fn a_refresh_saved_elsewhere_during_a_disconnect_is_revoked_too() {
    let provider = rotating_with_slow_revocations().await;
    let settings = sharing_one_file(&provider, Some("/revoke"));
    a_refresh_saved_elsewhere_during_a_disconnect_is_revoked(&provider, settings).await;
}

/// A provider that rotates refresh tokens ([`rotating_slowly`], answering a refresh at once),
/// and answers revocations at `/revoke` after half a second.
pub(crate) async fn rotating_with_slow_revocations() -> MockServer {
    let provider = rotating_slowly(Duration::ZERO).await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_delay(Duration::from_millis(500)))
        .mount(&provider)
        .await;
    provider
}

/// The test of [`a_refresh_saved_elsewhere_during_a_disconnect_is_revoked_too`], for two apps
/// made with `settings` (one database, [`custom_app_settings`] with `/revoke`) and `provider`
/// from [`rotating_with_slow_revocations`].
pub(crate) async fn a_refresh_saved_elsewhere_during_a_disconnect_is_revoked(
    provider: &MockServer,
    settings: impl Fn() -> Settings,
) {
    let (here, elsewhere, id) = carol_on_two_instances(settings).await;

    let disconnecting = {
        let (here, id) = (here.clone(), id.clone());
        tokio::spawn(async move { here.disconnect(&id).await.status() })
    };
    while revoked_tokens(provider).await.is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // While the provider takes its time over rt-1, a script on the other instance refreshes.
    let refreshed = api_token(&elsewhere, "carol").await.unwrap();
    assert_eq!(refreshed.access_token, "at-2");

    assert_eq!(disconnecting.await.unwrap(), StatusCode::OK);
    assert_eq!(
        revoked_tokens(provider).await,
        ["rt-1", "at-1", "rt-2", "at-2"],
        "what the disconnect found, and then what the refresh saved meanwhile"
    );
    assert!(here.state.connections.find(&id).await.unwrap().is_none());
    assert!(api_token(&elsewhere, "carol").await.is_err());
}

/// A person who signs in again while a script's read is refreshing the connection (to grant
/// another scope, say) keeps what that sign-in brought: the refresh's answer, which comes
/// later, is not saved over it, and the read hands out the sign-in's token.
#[tokio::test]
async fn a_sign_in_during_a_refresh_keeps_its_own_tokens() {
    let provider = rotating_slowly(Duration::from_millis(800)).await;
    gives_at_3_and_rt_3_for_code_2(&provider).await;
    let app = carol_signed_in_at(&provider, None).await;
    let id = api_list(&app).await[0].id.clone();

    let reading = {
        let app = app.clone();
        tokio::spawn(async move { api_token(&app, "carol").await })
    };
    while refreshes(&provider).await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.return_with_code("", "2").await;
    assert_eq!(app.session().await.outcome, Some(FlowOutcome::Connected));
    let read = reading.await.unwrap().unwrap();

    let stored = app.state.connections.find(&id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.access_token.secret().as_str(),
            stored.refresh_token.as_ref().map(|rt| rt.secret().as_str()),
            stored.scope.as_deref()
        ),
        ("at-3", Some("rt-3"), Some("read write")),
        "the sign-in's tokens and scope stay"
    );
    assert_eq!(
        read.access_token, "at-3",
        "the read hands out what is saved"
    );
}

/// A connection disconnected on another instance while this one refreshes it: the tokens the
/// refresh brought, the rotated refresh token too, go back to the provider (they would stay
/// valid with no one holding them), and
/// the read that refreshed finds the connection gone.
#[tokio::test]
async fn a_refresh_of_a_connection_disconnected_elsewhere_revokes_what_it_brought() {
    let provider = rotating_slowly_and_revoking().await;
    let (here, elsewhere, id) =
        carol_on_two_instances(sharing_one_file(&provider, Some("/revoke"))).await;

    let reading_here = {
        let here = here.clone();
        tokio::spawn(async move { api_token(&here, "carol").await })
    };
    while refreshes(&provider).await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(elsewhere.disconnect(&id).await.status(), StatusCode::OK);

    let (status, error) = reading_here.await.unwrap().unwrap_err();
    assert_eq!(
        (status, error.code),
        (StatusCode::NOT_FOUND, ErrorCode::ConnectionNotFound)
    );
    assert_eq!(
        revoked_tokens(&provider).await,
        ["rt-1", "at-1", "rt-2", "at-2"],
        "the disconnect revoked the tokens it found, and the refresh those it brought, \
         its rotated refresh token too"
    );
    assert!(here.state.connections.find(&id).await.unwrap().is_none());
}

/// A browser that goes while its sign-in's code is being exchanged (the page closed, the
/// browser gave up) loses nothing: the provider has spent the code and issued a token, and that
/// token is saved all the same, where scripts read it; and the browser, signed in before, stays
/// signed in (the new session that would have replaced its own never reaches it).
#[tokio::test]
async fn a_sign_in_whose_browser_goes_during_the_exchange_is_saved_and_the_browser_stays_signed_in()
{
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("&code=1&"))
        .respond_with(json_response(
            200,
            r#"{"access_token":"at-1","token_type":"bearer","expires_in":3600}"#,
        ))
        .mount(&provider)
        .await;
    answers_code_2_after(&provider, "at-2", Duration::from_millis(800)).await;
    answers_carol_at_info(&provider).await;
    let app = carol_signed_in_at(&provider, None).await;
    let id = app.session().await.connections[0].id.clone();

    let returning = returning_with_code_2(&app).await;
    while !provider
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .any(|r| String::from_utf8_lossy(&r.body).contains("&code=2&"))
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !returning.is_finished(),
        "the callback waits for the provider"
    );
    returning.abort();

    assert!(
        saved_with(&app, &id, "at-2").await.is_some(),
        "the token issued for the code was saved"
    );
    assert_eq!(api_token(&app, "carol").await.unwrap().access_token, "at-2");
    still_signed_in_seeing(&app, &id).await;
}

/// Two processes on one store refresh the same connection at once, with the same refresh
/// token: the provider refuses one of them (here the first to ask, answering it last) and
/// refreshes the other. The refused one finds the connection refreshed meanwhile and hands out
/// that token: the connection is not marked as needing a new sign-in.
#[tokio::test]
async fn a_refresh_refused_because_another_process_refreshed_first_takes_its_token() {
    let provider = MockServer::start().await;
    gives_at_1_and_rt_1_for_a_code(&provider).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(
            json_response(400, r#"{"error":"invalid_grant"}"#)
                .set_delay(Duration::from_millis(1000)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(json_response(200, r#"{"access_token":"at-2","token_type":"bearer","expires_in":3600,"refresh_token":"rt-2"}"#))
        .with_priority(2)
        .mount(&provider)
        .await;
    answers_carol_at_info(&provider).await;
    let settings = sharing_one_file(&provider, None);
    let here = spawn_app(settings(), |_| {}).await;
    here.return_with_code("", "1").await;
    let elsewhere = spawn_app(settings(), |_| {}).await;

    let reading_here = {
        let here = here.clone();
        tokio::spawn(async move { api_token(&here, "carol").await })
    };
    while refreshes(&provider).await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let read_elsewhere = api_token(&elsewhere, "carol").await.unwrap();
    let read_here = reading_here.await.unwrap();

    assert_eq!(read_elsewhere.access_token, "at-2");
    assert_eq!(
        read_here.map(|token| token.access_token),
        Ok("at-2".to_owned()),
        "the refused refresh hands out the one made elsewhere"
    );
    let id = api_list(&here).await[0].id.clone();
    let stored = here.state.connections.find(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        tokenbridge::store::Status::Active,
        "not marked"
    );
    assert_eq!(refreshes(&provider).await, 2);
}

#[tokio::test]
async fn a_refused_refresh_token_marks_the_connection_and_is_not_retried() {
    let app = app_with_api(&scratch_dir(), Some(40_000_000)).await;
    let made = connect_as(&app, "alice").await;
    app.state
        .sandbox
        .as_ref()
        .unwrap()
        .forget_refresh_tokens("alice");

    let (status, error) = api_token(&app, "alice").await.unwrap_err();
    assert_eq!(
        (status, error.code),
        (StatusCode::CONFLICT, ErrorCode::NeedsReconnect)
    );
    let calls = app.token_calls();

    let (_, again) = api_token(&app, "alice").await.unwrap_err();
    assert_eq!(again.code, ErrorCode::NeedsReconnect);
    assert_eq!(app.token_calls(), calls, "no second try at the provider");
    let session = app.session().await;
    let shown = session
        .connections
        .iter()
        .find(|c| c.id == made.id)
        .unwrap();
    assert_eq!(
        shown.status,
        ConnectionStatus::NeedsReconnect,
        "the page shows it"
    );

    // Connecting again mends it.
    let mended = connect_as(&app, "alice").await;
    assert_eq!(mended.status, ConnectionStatus::Active);
}

#[tokio::test]
async fn disconnect_revokes_at_the_sandbox_and_forgets_the_connection() {
    let app = app_with_api(&scratch_dir(), None).await;
    let made = connect_as(&app, "alice").await;

    let response = app.disconnect(&made.id).await;

    assert_eq!(response.status(), StatusCode::OK);
    let outcome: Disconnected = response.json().await.unwrap();
    assert!(outcome.revoked, "{}", outcome.message);
    assert!(api_list(&app).await.is_empty());
    assert!(app.session().await.connections.is_empty());
    assert_eq!(
        account_of(&app, &made.token.access_token).await,
        "",
        "the sandbox no longer knows the token"
    );
}

#[tokio::test]
async fn yandex_revokes_only_tokens_issued_for_a_device() {
    let provider = MockServer::start().await;
    Mock::given(method("POST")).and(path("/token")).respond_with(json_response(200, r#"{"access_token":"y0_abc","token_type":"bearer","expires_in":31536000,"refresh_token":"1:r"}"#))
    .mount(&provider)
    .await;
    Mock::given(path("/info"))
        .respond_with(json_response(
            200,
            r#"{"id":"1","login":"dave","client_id":"yandex-app"}"#,
        ))
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/revoke_token"))
        .and(body_string_contains("access_token=y0_abc"))
        .respond_with(json_response(200, r#"{"status":"ok"}"#))
        .expect(1)
        .mount(&provider)
        .await;
    let settings = played_by(
        &provider,
        ProviderArg::Yandex,
        "yandex-app",
        Some("/info"),
        Some("/revoke_token"),
    );
    let app = spawn_app(settings, |_| {}).await;

    for (device, revoked) in [("", false), ("&device_name=Office%20laptop", true)] {
        let authorize = app.login(&format!("?login_hint=dave{device}")).await;
        assert_eq!(
            query_param(&authorize, "device_id").is_some(),
            revoked,
            "{authorize}"
        );
        let state = query_param(&authorize, "state").unwrap();
        app.callback(&format!("{}auth/callback?code=1&state={state}", app.base))
            .await;
        let connection = app.session().await.connections.remove(0);
        assert_eq!(connection.device_name.is_some(), revoked);

        let outcome: Disconnected = app.disconnect(&connection.id).await.json().await.unwrap();

        assert_eq!(outcome.revoked, revoked, "{}", outcome.message);
        assert!(app.session().await.connections.is_empty());
    }
}

#[tokio::test]
async fn a_token_issued_to_another_app_is_refused() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(json_response(
            200,
            r#"{"access_token":"y0_foreign","token_type":"bearer"}"#,
        ))
        .mount(&provider)
        .await;
    Mock::given(path("/info"))
        .respond_with(json_response(
            200,
            r#"{"id":"9","login":"eve","client_id":"somebody-elses-app"}"#,
        ))
        .mount(&provider)
        .await;
    let settings = Settings {
        api_key: Some(API_KEY.into()),
        ..played_by(
            &provider,
            ProviderArg::Yandex,
            "yandex-app",
            Some("/info"),
            None,
        )
    };
    let app = spawn_app(settings, |_| {}).await;

    app.return_with_code("", "1").await;

    let session = app.session().await;
    assert_eq!(failed_with(&session), ErrorCode::ForeignToken);
    assert!(session.token.is_none());
    assert!(api_list(&app).await.is_empty());
}

#[tokio::test]
async fn a_second_browser_can_neither_see_nor_touch_the_first_ones_connections() {
    let app = app_with_api(&scratch_dir(), None).await;
    let made = connect_as(&app, "alice").await;
    let other = app.other_browser();
    // The other browser has its own connection, so it has a browser id too.
    connect_as(&other, "mallory").await;

    let seen = other.session().await;
    assert!(seen.connections.iter().all(|c| c.login == "mallory"));
    let body = other
        .browser
        .get(other.url("/api/session"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!body.contains(&made.token.access_token));

    for request in [
        other
            .browser
            .post(other.url(&format!("/api/connections/{}/refresh", made.id))),
        other
            .browser
            .delete(other.url(&format!("/api/connections/{}", made.id))),
    ] {
        let response = request.header("x-tokenbridge", "1").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        api_list(&app).await.len(),
        2,
        "alice's connection is untouched"
    );
}

#[tokio::test]
async fn the_scripts_api_needs_its_key_and_lists_no_tokens() {
    let off = spawn_sandbox().await;
    let response = reqwest::Client::new()
        .get(off.url("/api/v1/connections"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let error: ApiError = response.json().await.unwrap();
    assert_eq!(error.code, ErrorCode::ApiDisabled);
    assert!(error.message.contains("TOKENBRIDGE_API_KEY"));

    let app = app_with_api(&scratch_dir(), None).await;
    let made = connect_as(&app, "alice").await;
    for key in [None, Some("wrong-key-0123456789abcdef")] {
        let mut request = reqwest::Client::new().get(app.url("/api/v1/connections"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let body = reqwest::Client::new()
        .get(app.url("/api/v1/connections"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed[0]["login"], "alice");
    assert!(
        !body.contains(&made.token.access_token),
        "the list carries no token"
    );

    let (status, error) = api_token(&app, "nobody").await.unwrap_err();
    assert_eq!(
        (status, error.code),
        (StatusCode::NOT_FOUND, ErrorCode::ConnectionNotFound)
    );
}

/// Runs the real binary's `token` command against the app's database.
fn cli(app_dir: &std::path::Path, app: &TestApp, login: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tokenbridge"))
        .args(["token", login])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "TOKENBRIDGE_DATABASE_URL",
            format!("sqlite://{}", app_dir.join("tokenbridge.db").display()),
        )
        .env(
            "TOKENBRIDGE_STORE_KEY",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]),
        )
        .env("TOKENBRIDGE_CLIENT_SECRET", CLIENT_SECRET)
        .env(
            "TOKENBRIDGE_LISTEN",
            format!(
                "{}:{}",
                app.base.host_str().unwrap(),
                app.base.port().unwrap()
            ),
        )
        .env("TOKENBRIDGE_REFRESH_MARGIN_SECS", "40000000")
        .current_dir(app_dir)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_token_command_prints_a_fresh_token_with_exit_codes_a_script_can_use() {
    let dir = scratch_dir();
    let app = app_with_api(&dir, None).await;
    let made = connect_as(&app, "alice").await;

    let output = tokio::task::spawn_blocking({
        let (dir, app) = (dir.clone(), app.clone());
        move || cli(&dir, &app, "alice")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    let token = printed.trim_end();
    assert!(token.starts_with("y0_SANDBOX"), "{printed:?}");
    assert_ne!(
        token, made.token.access_token,
        "within the margin, so refreshed first"
    );
    assert_eq!(printed.lines().count(), 1, "only the token on stdout");

    let missing = tokio::task::spawn_blocking({
        let (dir, app) = (dir.clone(), app.clone());
        move || cli(&dir, &app, "nobody")
    })
    .await
    .unwrap();
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no saved connection"));
    assert!(missing.stdout.is_empty());

    app.state
        .sandbox
        .as_ref()
        .unwrap()
        .forget_refresh_tokens("alice");
    let refused = tokio::task::spawn_blocking(move || cli(&dir, &app, "alice"))
        .await
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[tokio::test]
async fn the_sandbox_user_info_names_the_account_and_the_app() {
    let app = spawn_sandbox().await;
    let made = connect_as(&app, "zoe").await;
    let info: Value = reqwest::Client::new()
        .get(app.url("/sandbox/info?format=json"))
        .header(
            "authorization",
            format!("OAuth {}", made.token.access_token),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["login"], "zoe");
    assert_eq!(info["client_id"], "tokenbridge-sandbox");
    assert!(
        info["id"]
            .as_str()
            .is_some_and(|id| id.bytes().all(|b| b.is_ascii_digit()))
    );
    let _ = Duration::ZERO;
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_row_that_cannot_be_opened_is_reported_and_hides_none_of_the_others() {
    let dir = scratch_dir();
    let app = app_with_api(&dir, None).await;
    let alice = connect_as(&app, "alice").await;
    connect_as(&app, "bob").await;
    connect_as(&app, "carol").await;
    // Bob's token as another key (or a damaged disk) would leave it; Carol's not even base64.
    let pool = sqlx::AnyPool::connect(&format!(
        "sqlite://{}",
        dir.join("tokenbridge.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE connections SET access_token = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' WHERE login = 'bob'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE connections SET access_token = 'not base64!' WHERE login = 'carol'")
        .execute(&pool)
        .await
        .unwrap();

    let listed = api_list(&app).await;
    let status_of = |login: &str| listed.iter().find(|c| c.login == login).unwrap().status;
    assert_eq!(status_of("alice"), ConnectionStatus::Active);
    assert_eq!(status_of("bob"), ConnectionStatus::Unreadable);
    assert_eq!(status_of("carol"), ConnectionStatus::Unreadable);
    assert_eq!(
        api_token(&app, "alice").await.unwrap().access_token,
        alice.token.access_token
    );
    let (status, error) = api_token(&app, "bob").await.unwrap_err();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error.code, ErrorCode::ConnectionUnreadable);
    let (_, error) = api_token(&app, "carol").await.unwrap_err();
    assert_eq!(error.code, ErrorCode::ConnectionUnreadable);
    let page = app.session().await;
    assert_eq!(page.connections.len(), 3, "the page lists all three");
    assert_eq!(page.token.unwrap().access_token, alice.token.access_token);
    assert!(logs().contains("a stored token cannot be opened"));
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir();
    let app = app_with_api(&dir, None).await;
    connect_as(&app, "alice").await;

    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("tokenbridge.db") {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
            seen += 1;
        }
    }
    assert!(seen >= 2, "the database and its write-ahead log");
}

/// Runs the real binary with `args` against the app's database, sealed with `store_key`.
fn run_with_key(
    app_dir: &std::path::Path,
    args: &[&str],
    store_key: [u8; 32],
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tokenbridge"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "TOKENBRIDGE_DATABASE_URL",
            format!("sqlite://{}", app_dir.join("tokenbridge.db").display()),
        )
        .env(
            "TOKENBRIDGE_STORE_KEY",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, store_key),
        )
        .current_dir(app_dir)
        .output()
        .unwrap()
}

#[tokio::test]
async fn rotate_store_key_reseals_every_token_so_only_the_new_key_opens_them() {
    let dir = scratch_dir();
    let app = app_with_api(&dir, None).await;
    let alice = connect_as(&app, "alice").await;
    connect_as(&app, "bob").await;
    let new_key = [8u8; 32];
    std::fs::write(
        dir.join("new.key"),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, new_key),
    )
    .unwrap();

    let rotated = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            run_with_key(
                &dir,
                &["rotate-store-key", "--new-key-file", "new.key"],
                [7u8; 32],
            )
        }
    })
    .await
    .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(String::from_utf8_lossy(&rotated.stderr).contains("2 connection(s) re-sealed"));

    let (with_new, with_old) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            (
                run_with_key(&dir, &["token", "alice"], new_key),
                run_with_key(&dir, &["token", "alice"], [7u8; 32]),
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8(with_new.stdout).unwrap().trim_end(),
        alice.token.access_token,
        "{}",
        String::from_utf8_lossy(&with_new.stderr)
    );
    assert!(
        !with_old.status.success(),
        "the old key opens nothing any more"
    );
}

/// Scripts' token reads are answered from memory until something writes, so the answer
/// must follow every write at once: a refresh on the page, a refresh by another process
/// on the same database file (the token command), and a disconnect.
#[tokio::test]
async fn a_scripts_token_read_follows_every_write_at_once() {
    let dir = scratch_dir();
    let app = app_with_api(&dir, None).await;
    let made = connect_as(&app, "alice").await;
    let read = || async { api_token(&app, "alice").await.map(|t| t.access_token) };
    assert_eq!(read().await.unwrap(), made.token.access_token);
    assert_eq!(
        read().await.unwrap(),
        made.token.access_token,
        "a second read, from memory, is the same"
    );

    let refreshed: ConnectionView = app.refresh(&made.id).await.json().await.unwrap();
    assert_ne!(refreshed.token.access_token, made.token.access_token);
    assert_eq!(read().await.unwrap(), refreshed.token.access_token);

    // The token command refreshes (its margin is beyond the token's life) in a process of
    // its own, writing the same file.
    let output = tokio::task::spawn_blocking({
        let (dir, app) = (dir.clone(), app.clone());
        move || cli(&dir, &app, "alice")
    })
    .await
    .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let by_command = printed.trim_end();
    assert_ne!(by_command, refreshed.token.access_token);
    assert_eq!(read().await.unwrap(), by_command);

    assert!(app.disconnect(&made.id).await.status().is_success());
    let (status, error) = read().await.unwrap_err();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error.code, ErrorCode::ConnectionNotFound);
}
