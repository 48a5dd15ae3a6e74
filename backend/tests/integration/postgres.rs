//! The same store on PostgreSQL, for several instances sharing one database.
//! The server's URL comes from TOKENBRIDGE_TEST_DATABASE_URL (.ci/run sets it);
//! without it these tests say they were skipped.

use base64::{Engine, engine::general_purpose::STANDARD};
use rand::Rng;
use sqlx::{Connection, Executor, PgConnection, Row};
use tokenbridge::config::{ProviderArg, Settings};
use tokenbridge_shared::{ConnectionSummary, FlowOutcome};
use wiremock::{
    Mock, MockServer,
    matchers::{method, path},
};

use crate::connections::API_KEY;
use crate::helpers::*;

/// A fresh, empty database on the test server, dropped when this is dropped.
pub(crate) struct TestDatabase {
    admin_url: String,
    name: String,
    pub(crate) url: String,
}

impl TestDatabase {
    pub(crate) async fn create(test: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var("TOKENBRIDGE_TEST_DATABASE_URL") else {
            // Straight to stderr, past the test harness's capture, so a skip is always seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: set TOKENBRIDGE_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run the PostgreSQL tests"
            );
            return None;
        };
        let name = format!("tokenbridge_test_{}", rand::rng().random::<u32>());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("the test PostgreSQL server answers");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let mut url = reqwest::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        Some(Self {
            admin_url,
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Dropped from a plain thread: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}

async fn pg_sandbox(database: &TestDatabase) -> TestApp {
    let settings = Settings {
        database_url: Some(database.url.clone().into()),
        api_key: Some(API_KEY.into()),
        ..Settings::default()
    };
    spawn_app(settings, |_| {}).await
}

#[tokio::test]
async fn postgres_keeps_connections_updates_them_and_seals_their_tokens() {
    let Some(database) = TestDatabase::create("postgres_keeps_connections").await else {
        return;
    };
    let app = pg_sandbox(&database).await;

    for _ in 0..2 {
        let authorize = app.login("?login_hint=pat").await;
        let callback = app.decide(&authorize, "allow").await;
        app.callback(&callback).await;
    }
    let session = app.session().await;

    assert_eq!(session.outcome, Some(FlowOutcome::Connected));
    assert_eq!(
        session.connections.len(),
        1,
        "the same account twice is one connection"
    );
    let token = session.connections[0].token.access_token.clone();
    let restarted = pg_sandbox(&database).await;
    let listed: Vec<ConnectionSummary> = reqwest::Client::new()
        .get(restarted.url("/api/v1/connections"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].login, "pat");

    let mut db = PgConnection::connect(&database.url).await.unwrap();
    let row = db
        .fetch_one("SELECT access_token, refresh_token FROM connections")
        .await
        .unwrap();
    let (access, refresh): (String, String) = (row.get(0), row.get(1));
    assert!(
        !access.contains(&token) && !refresh.starts_with("1:SANDBOX"),
        "tokens are sealed at rest"
    );
}

#[tokio::test]
async fn two_instances_on_one_database_serve_one_persons_flow_and_connections() {
    let Some(database) = TestDatabase::create("two_instances").await else {
        return;
    };
    let provider = MockServer::start().await;
    Mock::given(method("POST")).and(path("/token")).respond_with(json_response(200, r#"{"access_token":"shared-at","token_type":"bearer","expires_in":3600,"refresh_token":"shared-rt"}"#))
    .mount(&provider)
    .await;
    Mock::given(path("/info"))
        .respond_with(json_response(200, r#"{"id":"77","login":"quinn"}"#))
        .mount(&provider)
        .await;
    revokes_anything(&provider).await;
    let instance = || Settings {
        database_url: Some(database.url.clone().into()),
        cookie_key: Some(STANDARD.encode([5u8; 64]).into()),
        api_key: Some(API_KEY.into()),
        ..played_by(
            &provider,
            ProviderArg::Custom,
            "shared-client",
            Some("/info"),
            Some("/revoke"),
        )
    };
    let a = spawn_app(instance(), |_| {}).await;
    let b = TestApp {
        browser: a.browser.clone(),
        ..spawn_app(instance(), |_| {}).await
    };

    // The sign-in starts on A, and the provider's redirect lands on B.
    let authorize = a.login("").await;
    let state = query_param(&authorize, "state").unwrap();
    b.callback(&format!("{}auth/callback?code=1&state={state}", b.base))
        .await;

    let on_b = b.session().await;
    assert_eq!(on_b.outcome, Some(FlowOutcome::Connected));
    let on_a = a.session().await;
    assert_eq!(
        on_a.connections.len(),
        1,
        "A sees what B saved for this browser"
    );
    assert_eq!(on_a.connections[0].token.access_token, "shared-at");

    // Disconnecting on A is seen on B.
    let id = &on_a.connections[0].id;
    let response = a.disconnect(id).await;
    assert!(response.status().is_success());
    assert!(b.session().await.connections.is_empty());
}

/// Instance B answers scripts' token reads from memory; when instance A refreshes or
/// disconnects the connection, B hears of it through PostgreSQL and stops serving the old
/// token (the only wait is the notification's trip, well under a second).
#[tokio::test]
async fn a_token_read_on_one_instance_follows_a_refresh_and_a_disconnect_on_another() {
    let Some(database) = TestDatabase::create("token_read_follows_another_instance").await else {
        return;
    };
    let instance = || Settings {
        database_url: Some(database.url.clone().into()),
        cookie_key: Some(STANDARD.encode([6u8; 64]).into()),
        api_key: Some(API_KEY.into()),
        ..Settings::default()
    };
    let a = spawn_app(instance(), |_| {}).await;
    let b = spawn_app(instance(), |_| {}).await;
    let authorize = a.login("?login_hint=robin").await;
    let callback = a.decide(&authorize, "allow").await;
    a.callback(&callback).await;
    let made = a.session().await.connections.remove(0);
    let read_on_b = || async {
        let response = reqwest::Client::new()
            .get(b.url("/api/v1/connections/robin/token"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        (status, body["access_token"].as_str().map(str::to_owned))
    };
    let until = |wanted: reqwest::StatusCode, token: Option<String>| {
        let read_on_b = &read_on_b;
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                let seen = read_on_b().await;
                if seen == (wanted, token.clone()) || std::time::Instant::now() > deadline {
                    return seen;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    let old = Some(made.token.access_token.clone());
    assert_eq!(read_on_b().await, (reqwest::StatusCode::OK, old.clone()));
    assert_eq!(read_on_b().await, (reqwest::StatusCode::OK, old.clone()));

    let refreshed: tokenbridge_shared::ConnectionView =
        a.refresh(&made.id).await.json().await.unwrap();
    let new = Some(refreshed.token.access_token);
    assert_ne!(new, old);
    assert_eq!(
        until(reqwest::StatusCode::OK, new.clone()).await,
        (reqwest::StatusCode::OK, new),
        "B serves the token A refreshed"
    );

    assert!(a.disconnect(&made.id).await.status().is_success());
    assert_eq!(
        until(reqwest::StatusCode::NOT_FOUND, None).await,
        (reqwest::StatusCode::NOT_FOUND, None),
        "B forgets what A disconnected"
    );
}

/// A disconnect on PostgreSQL forgets a connection only as it revoked it: a refresh another
/// instance saved meanwhile is revoked as well (the conditional delete, on PostgreSQL's SQL).
#[tokio::test]
async fn a_refresh_saved_elsewhere_during_a_disconnect_is_revoked_too_on_postgresql() {
    let Some(database) = TestDatabase::create("refresh_elsewhere_during_a_disconnect").await else {
        return;
    };
    let provider = crate::connections::rotating_with_slow_revocations().await;
    let settings = crate::connections::custom_app_settings(&provider, Some("/revoke"));
    let instance = || Settings {
        database_url: Some(database.url.clone().into()),
        cookie_key: Some(STANDARD.encode([8u8; 64]).into()),
        ..settings.clone()
    };
    crate::connections::a_refresh_saved_elsewhere_during_a_disconnect_is_revoked(
        &provider, instance,
    )
    .await;
}
