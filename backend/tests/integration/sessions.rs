//! Who sees which token: sessions on the server, each person's own connections,
//! operators who see all, and states spent once everywhere. Each test runs on
//! SQLite and, when TOKENBRIDGE_TEST_DATABASE_URL names a server, on PostgreSQL.

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::{Method, StatusCode};
use sqlx::{AnyPool, Row};
use tokenbridge::config::{ProviderArg, Settings};
use tokenbridge_shared::{ConnectionSummary, ErrorCode, FlowOutcome};
use wiremock::{
    Mock, MockServer,
    matchers::{method, path},
};

use crate::connections::API_KEY;
use crate::helpers::*;
use crate::postgres::TestDatabase;

/// One database to run a test on.
struct Db {
    name: &'static str,
    url: String,
    /// Keeps a PostgreSQL test database alive for the test.
    _postgres: Option<TestDatabase>,
}

impl Db {
    fn settings(&self) -> Settings {
        Settings {
            database_url: Some(self.url.clone().into()),
            ..Settings::default()
        }
    }

    async fn count(&self, table: &str) -> i64 {
        let pool = AnyPool::connect(&self.url).await.unwrap();
        let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        row.try_get::<i64, _>("n").unwrap()
    }
}

/// SQLite always; PostgreSQL too when the test server is named (else it says SKIPPED).
async fn databases(test: &str) -> Vec<Db> {
    let mut all = vec![Db {
        name: "SQLite",
        url: format!(
            "sqlite://{}",
            scratch_dir().join("tokenbridge.db").display()
        ),
        _postgres: None,
    }];
    if let Some(database) = TestDatabase::create(test).await {
        all.push(Db {
            name: "PostgreSQL",
            url: database.url.clone(),
            _postgres: Some(database),
        });
    }
    all
}

/// A provider with no user-info endpoint, played by wiremock: every code gets `token`.
async fn provider_without_user_info() -> MockServer {
    MockServer::start().await
}

async fn issue_next(provider: &MockServer, token: &str) {
    provider.reset().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(json_response(
            200,
            &format!(
                r#"{{"access_token":"{token}","token_type":"bearer","expires_in":3600,"refresh_token":"rt-{token}"}}"#
            ),
        ))
        .mount(provider)
        .await;
}

/// Like [`issue_next`], with user info that names the provider's account 42 `login`.
async fn issue_next_as(provider: &MockServer, token: &str, login: &str) {
    issue_next(provider, token).await;
    Mock::given(method("GET"))
        .and(path("/info"))
        .respond_with(json_response(
            200,
            &format!(r#"{{"id":"42","login":"{login}"}}"#),
        ))
        .mount(provider)
        .await;
}

#[tokio::test]
async fn two_people_without_user_info_never_see_or_touch_each_others_token() {
    for db in databases("two_people_without_user_info").await {
        let provider = provider_without_user_info().await;
        let settings = Settings {
            database_url: Some(db.url.clone().into()),
            ..played_by(&provider, ProviderArg::Custom, "app", None, None)
        };
        let alice = spawn_app(settings, |_| {}).await;
        let bob = alice.other_browser();

        issue_next(&provider, "alice-token").await;
        alice.return_with_code("", "1").await;
        issue_next(&provider, "bob-token").await;
        bob.return_with_code("", "2").await;

        let seen_by_alice = alice.session().await;
        let seen_by_bob = bob.session().await;
        assert_eq!(
            seen_by_alice.token.unwrap().access_token,
            "alice-token",
            "{}",
            db.name
        );
        assert_eq!(seen_by_bob.token.unwrap().access_token, "bob-token");
        assert_eq!(seen_by_alice.connections.len(), 1, "{}", db.name);
        assert_eq!(seen_by_bob.connections.len(), 1);
        assert_ne!(
            seen_by_alice.connections[0].login, seen_by_bob.connections[0].login,
            "each sign-in is its own connection"
        );

        let bobs = &seen_by_bob.connections[0].id;
        assert_eq!(alice.refresh(bobs).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(alice.disconnect(bobs).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            alice.operator_call(Method::DELETE, bobs).await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            bob.session().await.token.unwrap().access_token,
            "bob-token",
            "Bob's connection is untouched"
        );

        // Alice signing in again gets a second connection of her own, never Bob's.
        issue_next(&provider, "alice-again").await;
        alice.return_with_code("", "3").await;
        let tokens: Vec<String> = alice
            .session()
            .await
            .connections
            .into_iter()
            .map(|c| c.token.access_token)
            .collect();
        assert_eq!(tokens, ["alice-again", "alice-token"], "{}", db.name);
    }
}

#[tokio::test]
async fn an_account_whose_login_changed_keeps_its_connection_under_the_new_login() {
    for db in databases("an_account_whose_login_changed").await {
        let provider = MockServer::start().await;
        issue_next_as(&provider, "first-token", "carol").await;
        let settings = Settings {
            database_url: Some(db.url.clone().into()),
            api_key: Some(API_KEY.into()),
            ..played_by(&provider, ProviderArg::Custom, "app", Some("/info"), None)
        };
        let app = spawn_app(settings, |_| {}).await;
        // A script's token read by login, which the in-memory rows answer.
        let token_of = |login: &str| {
            reqwest::Client::new()
                .get(app.url(&format!("/api/v1/connections/{login}/token")))
                .bearer_auth(API_KEY)
                .send()
        };
        app.return_with_code("", "1").await;
        let before = app.session().await.connections;
        assert_eq!(before[0].login, "carol", "{}", db.name);
        assert_eq!(token_of("carol").await.unwrap().status(), StatusCode::OK);

        // The provider's account 42 is called something else now; signing in again says so.
        issue_next_as(&provider, "second-token", "carol.new").await;
        app.return_with_code("", "2").await;
        let session = app.session().await;
        assert_eq!(session.connections.len(), 1, "{}: one account", db.name);
        assert_eq!(session.connections[0].id, before[0].id, "{}", db.name);
        assert_eq!(session.connections[0].login, "carol.new", "{}", db.name);
        assert_eq!(session.token.unwrap().access_token, "second-token");
        let renamed = token_of("carol.new").await.unwrap();
        assert_eq!(renamed.status(), StatusCode::OK, "{}", db.name);
        let renamed: serde_json::Value = renamed.json().await.unwrap();
        assert_eq!(renamed["access_token"], "second-token");
        assert_eq!(
            token_of("carol").await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{}: the old login names nothing now",
            db.name
        );

        // And the same sign-in once more leaves it so (no rename when nothing changed).
        issue_next_as(&provider, "third-token", "carol.new").await;
        app.return_with_code("", "3").await;
        let session = app.session().await;
        assert_eq!(session.connections[0].login, "carol.new", "{}", db.name);
        assert_eq!(session.token.unwrap().access_token, "third-token");
    }
}

#[tokio::test]
async fn a_restart_with_default_settings_keeps_the_connection_on_the_page() {
    for db in databases("a_restart_keeps_the_session").await {
        let data = scratch_dir();
        let settings = || Settings {
            data_dir: Some(data.clone()),
            ..db.settings()
        };
        let first = spawn_app(settings(), |_| {}).await;
        first.connect_as("alice").await;

        // A new process on the same data folder; the browser keeps its cookies.
        let restarted = TestApp {
            browser: first.browser.clone(),
            ..spawn_app(settings(), |_| {}).await
        };
        let session = restarted.session().await;

        assert!(session.signed_in, "{}", db.name);
        assert_eq!(session.connections.len(), 1);
        assert_eq!(session.connections[0].login, "alice");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.join("cookie.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "the cookie key file is the owner's alone");
        }
    }
}

#[tokio::test]
async fn after_sign_out_the_cookies_copied_before_it_get_no_token() {
    for db in databases("after_sign_out").await {
        let app = spawn_app(db.settings(), |_| {}).await;
        let SignInSecrets { finished, .. } = app.sign_in_keeping_secrets("").await;
        let copied = cookie_header(&set_cookies(&finished));
        assert!(
            app.session_with_cookies(&copied).await.token.is_some(),
            "the copy works before sign-out"
        );
        assert_eq!(db.count("sessions").await, 1);

        let signed_out = app.logout().await;

        let cleared = set_cookies(&signed_out);
        for name in ["tb_session=", "tb_log=", "tb_outcome="] {
            assert!(
                cleared
                    .iter()
                    .any(|c| c.starts_with(name) && c.contains("Max-Age=0")),
                "{name} is cleared: {cleared:?}"
            );
        }
        let replayed = app.session_with_cookies(&copied).await;
        assert!(replayed.token.is_none(), "{}", db.name);
        assert!(replayed.connections.is_empty() && !replayed.signed_in);
        let own = app.session().await;
        assert!(own.token.is_none() && !own.signed_in);
        assert_eq!(db.count("sessions").await, 0, "the row is gone");
        assert_eq!(db.count("session_connections").await, 0);
        assert_eq!(
            db.count("connections").await,
            1,
            "the connection stays for scripts"
        );
    }
}

#[tokio::test]
async fn every_sign_in_issues_a_fresh_session_that_keeps_what_the_old_one_saw() {
    for db in databases("fresh_session_per_sign_in").await {
        let app = spawn_app(db.settings(), |_| {}).await;
        let first = app.sign_in_keeping_secrets("?login_hint=alice").await;
        let before = cookie_header(&set_cookies(&first.finished));
        let second = app.sign_in_keeping_secrets("?login_hint=bob").await;
        let after = cookie_header(&set_cookies(&second.finished));
        let session_of = |cookies: &str| {
            cookies
                .split("; ")
                .find(|c| c.starts_with("tb_session="))
                .map(str::to_owned)
        };
        assert_ne!(session_of(&before), session_of(&after), "a new session id");

        let session = app.session().await;
        let mut logins: Vec<String> = session.connections.into_iter().map(|c| c.login).collect();
        logins.sort();
        assert_eq!(logins, ["alice", "bob"], "{}", db.name);
        assert!(
            app.session_with_cookies(&before).await.token.is_none(),
            "the old session id opens nothing"
        );
        assert_eq!(db.count("sessions").await, 1, "the old row went");
    }
}

#[tokio::test]
async fn the_same_account_in_a_second_browser_is_seen_in_both() {
    for db in databases("same_account_two_browsers").await {
        let laptop = spawn_app(db.settings(), |_| {}).await;
        let phone = laptop.other_browser();
        let stranger = laptop.other_browser();

        laptop.connect_as("alice").await;
        phone.connect_as("alice").await;
        stranger.connect_as("mallory").await;

        for browser in [&laptop, &phone] {
            let session = browser.session().await;
            let logins: Vec<&str> = session
                .connections
                .iter()
                .map(|c| c.login.as_str())
                .collect();
            assert_eq!(logins, ["alice"], "{}", db.name);
        }
        let logins: Vec<String> = stranger
            .session()
            .await
            .connections
            .into_iter()
            .map(|c| c.login)
            .collect();
        assert_eq!(logins, ["mallory"]);
    }
}

#[tokio::test]
async fn operators_see_every_connection_and_everyone_else_only_their_own() {
    for db in databases("operators").await {
        let settings = Settings {
            operators: Some("sandbox:boss, someone-else".into()),
            ..db.settings()
        };
        let alice = spawn_app(settings, |_| {}).await;
        let bob = alice.other_browser();
        let boss = alice.other_browser();
        let alices_token = alice.connect_as("alice").await.token.unwrap().access_token;
        bob.connect_as("bob").await;
        boss.connect_as("boss").await;

        let raw = boss
            .browser
            .get(boss.url("/api/session"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !raw.contains(&alices_token),
            "an operator sees connections, not other people's tokens"
        );
        let seen = boss.session().await;
        assert!(seen.operator, "{}", db.name);
        let mut everyone: Vec<String> = seen
            .all_connections
            .iter()
            .map(|c| c.login.clone())
            .collect();
        everyone.sort();
        assert_eq!(everyone, ["alice", "bob", "boss"]);
        assert_eq!(
            seen.connections.len(),
            1,
            "the operator's own token card is theirs"
        );

        let for_alice = alice.session().await;
        assert!(!for_alice.operator && for_alice.all_connections.is_empty());

        let alices = seen
            .all_connections
            .iter()
            .find(|c| c.login == "alice")
            .unwrap();
        let bobs = seen
            .all_connections
            .iter()
            .find(|c| c.login == "bob")
            .unwrap();
        let refreshed = boss.operator_call(Method::POST, &alices.id).await;
        assert_eq!(refreshed.status(), StatusCode::OK);
        let refreshed = refreshed.text().await.unwrap();
        let summary: ConnectionSummary = serde_json::from_str(&refreshed).unwrap();
        assert!(summary.refreshed_at.is_some());
        let new_token = alice.session().await.token.unwrap().access_token;
        assert!(
            !refreshed.contains(&new_token),
            "the refresh answer has no token"
        );

        assert_eq!(
            boss.operator_call(Method::DELETE, &bobs.id).await.status(),
            StatusCode::OK
        );
        assert!(bob.session().await.connections.is_empty());
        assert_eq!(
            alice.operator_call(Method::POST, &alices.id).await.status(),
            StatusCode::NOT_FOUND,
            "not an operator"
        );
    }
}

#[tokio::test]
async fn a_spent_state_is_refused_on_another_instance_sharing_the_store() {
    for db in databases("spent_state_everywhere").await {
        let shared = || Settings {
            cookie_key: Some(STANDARD.encode([9u8; 64]).into()),
            ..db.settings()
        };
        let one = spawn_app(shared(), |_| {}).await;
        let two = spawn_app(shared(), |_| {}).await;

        let login = one
            .browser
            .get(one.url("/auth/login"))
            .send()
            .await
            .unwrap();
        let copied = cookie_header(&set_cookies(&login));
        let callback = one.decide(&location(&login), "allow").await;
        one.callback(&callback).await;
        assert_eq!(one.session().await.outcome, Some(FlowOutcome::Connected));

        // The same callback, with a copy of the flow cookie, on the other instance.
        let query = callback.split_once('?').unwrap().1;
        let replay = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(two.url(&format!("/auth/callback?{query}")))
            .header(reqwest::header::COOKIE, &copied)
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), StatusCode::SEE_OTHER);
        let outcome = two
            .open_cookie(&set_cookies(&replay), "tb_outcome")
            .expect("an outcome for the browser that holds the sign-in");
        let outcome: FlowOutcome = serde_json::from_str(&outcome).unwrap();
        assert_eq!(
            outcome,
            FlowOutcome::Failed(tokenbridge_shared::ApiError::new(ErrorCode::StateReplayed)),
            "{}",
            db.name
        );
        assert!(
            two.open_cookie(&set_cookies(&replay), "tb_session")
                .is_none(),
            "no session for a replay"
        );
    }
}

#[tokio::test]
async fn expired_sessions_and_spent_states_are_pruned_by_the_periodic_task() {
    for db in databases("pruning").await {
        let app = spawn_app(db.settings(), |config| config.session_idle_secs = 1).await;
        app.connect_as("alice").await;
        app.state
            .sessions
            .spend_state("an-old-state", tokenbridge::clock::unix_now() - 10)
            .await
            .unwrap();
        assert_eq!(db.count("sessions").await, 1);
        assert_eq!(db.count("spent_states").await, 2);

        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert!(!app.session().await.signed_in, "an idle session has ended");
        let pruning = app
            .state
            .sessions
            .clone()
            .spawn_pruning(std::time::Duration::from_millis(50));
        let mut waited = 0;
        while db.count("sessions").await > 0 && waited < 100 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            waited += 1;
        }
        pruning.abort();

        assert_eq!(db.count("sessions").await, 0, "{}", db.name);
        assert_eq!(db.count("session_connections").await, 0);
        assert_eq!(
            db.count("spent_states").await,
            1,
            "the expired state went; the live sign-in's stays until it expires"
        );
        assert_eq!(db.count("connections").await, 1, "connections are kept");
    }
}

#[tokio::test]
async fn one_providers_connections_are_invisible_to_another_on_the_same_store() {
    for db in databases("scoped_by_provider").await {
        let sandbox = spawn_app(db.settings(), |_| {}).await;
        sandbox.connect_as("alice").await;
        let provider = MockServer::start().await;
        let custom = spawn_app(
            Settings {
                database_url: Some(db.url.clone().into()),
                api_key: Some(API_KEY.into()),
                ..played_by(&provider, ProviderArg::Custom, "app", None, None)
            },
            |_| {},
        )
        .await;

        let listed: Vec<ConnectionSummary> = reqwest::Client::new()
            .get(custom.url("/api/v1/connections"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(listed.is_empty(), "{}: {listed:?}", db.name);
        let token = reqwest::Client::new()
            .get(custom.url("/api/v1/connections/alice/token"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_visitor_costs_no_row_and_reading_the_page_renews_at_most_once_a_minute() {
    for db in databases("renewal").await {
        let app = spawn_app(db.settings(), |_| {}).await;
        let visitor = app.other_browser();
        visitor.session().await;
        visitor.login("").await;
        assert_eq!(db.count("sessions").await, 0, "{}", db.name);

        app.connect_as("alice").await;
        let seen_at = || async {
            let pool = AnyPool::connect(&db.url).await.unwrap();
            let row = sqlx::query("SELECT seen_at FROM sessions")
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            row.try_get::<i64, _>("seen_at").unwrap()
        };
        let first = seen_at().await;
        for _ in 0..5 {
            app.session().await;
        }
        assert_eq!(seen_at().await, first, "no write within the minute");

        let pool = AnyPool::connect(&db.url).await.unwrap();
        sqlx::query("UPDATE sessions SET seen_at = seen_at - 120")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        app.session().await;
        assert!(
            seen_at().await >= first,
            "a minute on, using the page renews it"
        );
    }
}

/// The session tables as the versions before the rebuild without rowids left every SQLite
/// file: plain tables, with the sessions' indexes by time, whose dropping (a later
/// migration) has not run yet.
fn as_written_before_the_rebuild(file: &std::path::Path) {
    let db = rusqlite::Connection::open(file).unwrap();
    db.execute_batch(
        "PRAGMA foreign_keys = OFF;
         BEGIN;
         DELETE FROM _sqlx_migrations WHERE version = 20261205000001;
         CREATE TABLE old_spent_states (state_hash TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
         INSERT INTO old_spent_states SELECT state_hash, expires_at FROM spent_states;
         DROP TABLE spent_states;
         ALTER TABLE old_spent_states RENAME TO spent_states;
         CREATE TABLE old_sessions (id_hash TEXT PRIMARY KEY, created_at BIGINT NOT NULL, seen_at BIGINT NOT NULL);
         INSERT INTO old_sessions SELECT id_hash, created_at, seen_at FROM sessions;
         DROP TABLE sessions;
         ALTER TABLE old_sessions RENAME TO sessions;
         CREATE INDEX sessions_by_seen ON sessions (seen_at);
         CREATE INDEX sessions_by_created ON sessions (created_at);
         CREATE TABLE old_session_connections (
             session_hash TEXT NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
             connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
             PRIMARY KEY (session_hash, connection_id));
         INSERT INTO old_session_connections SELECT session_hash, connection_id FROM session_connections;
         DROP TABLE session_connections;
         ALTER TABLE old_session_connections RENAME TO session_connections;
         CREATE INDEX session_connections_by_connection ON session_connections (connection_id);
         COMMIT;",
    )
    .unwrap();
}

/// How many of the three session tables of `file` are stored without rowids.
fn keyed_tables(file: &std::path::Path) -> usize {
    let db = rusqlite::Connection::open(file).unwrap();
    let mut statement = db
        .prepare(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND sql LIKE '%WITHOUT ROWID' \
             AND name IN ('spent_states', 'sessions', 'session_connections')",
        )
        .unwrap();
    statement.query_row([], |row| row.get(0)).unwrap()
}

#[tokio::test]
async fn an_upgrade_rebuilds_the_sqlite_session_tables_and_keeps_every_session_and_spent_state() {
    let data = scratch_dir();
    let file = data.join("tokenbridge.db");
    let settings = || Settings {
        data_dir: Some(data.clone()),
        database_url: Some(format!("sqlite://{}", file.display()).into()),
        ..Settings::default()
    };
    let before = spawn_app(settings(), |_| {}).await;
    assert_eq!(keyed_tables(&file), 3, "a new database has them so at once");
    // A sign-in whose flow cookie is kept, to replay its callback later.
    let login = before
        .browser
        .get(before.url("/auth/login"))
        .send()
        .await
        .unwrap();
    let copied = cookie_header(&set_cookies(&login));
    let callback = before.decide(&location(&login), "allow").await;
    before.callback(&callback).await;
    let login = before.session().await.connections[0].login.clone();
    as_written_before_the_rebuild(&file);
    assert_eq!(keyed_tables(&file), 0);

    // The upgraded server starts on that file; the browser keeps its cookies.
    let after = TestApp {
        browser: before.browser.clone(),
        ..spawn_app(settings(), |_| {}).await
    };
    assert_eq!(keyed_tables(&file), 3, "rebuilt at start-up");
    let session = after.session().await;
    assert!(session.signed_in, "the session survived the rebuild");
    assert_eq!(session.connections.len(), 1);
    assert_eq!(session.connections[0].login, login);
    let query = callback.split_once('?').unwrap().1;
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(after.url(&format!("/auth/callback?{query}")))
        .header(reqwest::header::COOKIE, &copied)
        .send()
        .await
        .unwrap();
    let outcome = after
        .open_cookie(&set_cookies(&replay), "tb_outcome")
        .expect("an outcome for the replayed callback");
    assert_eq!(
        serde_json::from_str::<FlowOutcome>(&outcome).unwrap(),
        FlowOutcome::Failed(tokenbridge_shared::ApiError::new(ErrorCode::StateReplayed)),
        "the state spent before the rebuild is still spent"
    );

    // The rebuilt tables keep their foreign keys and the index the cascade reads; the
    // sessions' indexes by time are gone, by the migration that dropped them.
    let rebuilt = rusqlite::Connection::open(&file).unwrap();
    let cascades: i64 = rebuilt
        .query_row(
            "SELECT count(*) FROM pragma_foreign_key_list('session_connections') \
             WHERE on_delete = 'CASCADE'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(cascades, 2, "both of session_connections' keys cascade");
    let indexes: Vec<String> = rebuilt
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN \
             ('spent_states', 'sessions', 'session_connections') \
             AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(indexes, ["session_connections_by_connection"]);

    // Sign-out still ends the session and what it saw.
    after.logout().await;
    let db = Db {
        name: "SQLite",
        url: format!("sqlite://{}", file.display()),
        _postgres: None,
    };
    assert_eq!(db.count("sessions").await, 0);
    assert_eq!(db.count("session_connections").await, 0);
    assert_eq!(db.count("spent_states").await, 1);
}
