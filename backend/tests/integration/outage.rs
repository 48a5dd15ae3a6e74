//! The store goes away and comes back: PostgreSQL behind a proxy that the test cuts
//! and restores. Reads answer 503 `store_unavailable` with Retry-After while it is
//! away, `/readyz` says so while `/healthz` stays up, a sign-in whose token could not
//! be saved hands the token back to the provider, and everything committed before is
//! there again afterwards. (Skipped, and said so, without TOKENBRIDGE_TEST_DATABASE_URL.)

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use reqwest::StatusCode;
use tokenbridge::config::{ProviderArg, Settings};
use tokenbridge_shared::{ApiError, ErrorCode};
use tokio::{net::TcpListener, sync::Mutex, task::JoinHandle};
use wiremock::{
    Mock, MockServer,
    matchers::{method, path},
};

use crate::connections::API_KEY;
use crate::helpers::*;
use crate::postgres::TestDatabase;

/// A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones
/// closed at once) and restored.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (is_down, all) = (down.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if is_down.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let upstream = upstream.clone();
                all.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self { port, down, links }
    }

    async fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// A provider that issues `token` after a second (time to cut the store mid-exchange) and
/// revokes whatever it is asked to.
async fn slow_provider(token: &str) -> MockServer {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            json_response(
                200,
                &format!(r#"{{"access_token":"{token}","token_type":"bearer"}}"#),
            )
            .set_delay(Duration::from_millis(1000)),
        )
        .mount(&provider)
        .await;
    revokes_anything(&provider).await;
    provider
}

/// Whether the provider was asked to revoke `token`.
async fn handed_back(provider: &MockServer, token: &str) -> bool {
    provider
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .any(|r| r.url.path() == "/revoke" && String::from_utf8_lossy(&r.body).contains(token))
}

async fn token_requests(provider: &MockServer) -> usize {
    provider
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/token")
        .count()
}

/// Waits until the provider has a token request beyond the `before` it had: the sign-in's
/// state is spent by then, and its answer is on the way (the token endpoint answers slowly).
async fn exchanging(provider: &MockServer, before: usize) {
    for _ in 0..400 {
        if token_requests(provider).await > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the provider was never asked for the token");
}

#[tokio::test]
async fn a_database_that_goes_away_is_a_503_and_everything_is_back_when_it_returns() {
    let Some(database) = TestDatabase::create("store_outage").await else {
        return;
    };
    let url = reqwest::Url::parse(&database.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(upstream).await;
    let mut proxied = url.clone();
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(proxy.port)).unwrap();

    let provider = slow_provider("at-outage").await;
    let app = spawn_app(
        Settings {
            database_url: Some(proxied.to_string().into()),
            api_key: Some(API_KEY.into()),
            ..played_by(&provider, ProviderArg::Custom, "app", None, Some("/revoke"))
        },
        |_| {},
    )
    .await;
    app.return_with_code("", "1").await;
    let saved = app.session().await.connections[0].login.clone();
    let read = |app: &TestApp| {
        let app = app.clone();
        let saved = saved.clone();
        async move {
            reqwest::Client::new()
                .get(app.url(&format!("/api/v1/connections/{saved}/token")))
                .bearer_auth(API_KEY)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(read(&app).await.status(), StatusCode::OK);
    assert_eq!(
        app.browser
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // A sign-in whose token arrives while the store is away.
    let before = token_requests(&provider).await;
    let authorize = app.login("").await;
    let state = query_param(&authorize, "state").unwrap();
    let finishing = {
        let app = app.clone();
        tokio::spawn(async move {
            app.callback(&format!("{}auth/callback?code=2&state={state}", app.base))
                .await;
            app.session().await
        })
    };
    exchanging(&provider, before).await;
    proxy.cut().await;

    let away = read(&app).await;
    assert_eq!(away.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(away.headers().contains_key(reqwest::header::RETRY_AFTER));
    let error: ApiError = away.json().await.unwrap();
    assert_eq!(error.code, ErrorCode::StoreUnavailable);
    assert_eq!(
        app.browser
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.browser
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "the process itself is alive"
    );
    // The page's own read of the outcome may meet the outage too; the revocation is what matters.
    let _ = finishing.await;
    assert!(
        handed_back(&provider, "at-outage").await,
        "the token that could not be saved was handed back"
    );

    proxy.restore();
    let mut back = read(&app).await;
    for _ in 0..20 {
        if back.status() == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        back = read(&app).await;
    }
    assert_eq!(back.status(), StatusCode::OK, "it recovers by itself");
}

/// A sign-in whose code is being exchanged (the provider answers `token` after a second)
/// when another process takes the SQLite file's write lock and keeps it: the app, the
/// provider, the callback still finishing, and the connection that holds the lock.
async fn callback_during_a_foreign_lock(
    token: &str,
) -> (
    TestApp,
    MockServer,
    JoinHandle<reqwest::Response>,
    sqlx::SqliteConnection,
) {
    let dir = scratch_dir();
    let database = format!("sqlite://{}", dir.join("tokenbridge.db").display());
    let provider = slow_provider(token).await;
    let app = spawn_app(
        Settings {
            database_url: Some(database.clone().into()),
            ..played_by(&provider, ProviderArg::Custom, "app", None, Some("/revoke"))
        },
        |_| {},
    )
    .await;
    let before = token_requests(&provider).await;
    let authorize = app.login("").await;
    let state = query_param(&authorize, "state").unwrap();
    let finishing = {
        let app = app.clone();
        tokio::spawn(async move {
            app.callback(&format!("{}auth/callback?code=1&state={state}", app.base))
                .await
        })
    };
    exchanging(&provider, before).await;
    let other = holding_the_write_lock(&database).await;
    (app, provider, finishing, other)
}

/// A connection of another process's that holds `database`'s write lock until it rolls back.
async fn holding_the_write_lock(database: &str) -> sqlx::SqliteConnection {
    let mut other = <sqlx::SqliteConnection as sqlx::Connection>::connect(database)
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();
    other
}

#[tokio::test]
async fn sqlite_locked_by_another_writer_is_a_503_and_the_token_goes_back() {
    let (app, provider, finishing, mut other) = callback_during_a_foreign_lock("at-locked").await;

    let finished = finishing.await.unwrap();
    let outcome = app
        .open_cookie(&set_cookies(&finished), "tb_outcome")
        .unwrap();
    assert!(
        outcome.contains("store_unavailable"),
        "the page says the store was away: {outcome}"
    );
    assert!(
        handed_back(&provider, "at-locked").await,
        "the token that could not be saved was handed back"
    );

    // The lock goes; the next sign-in is saved.
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    app.return_with_code("", "2").await;
    assert_eq!(
        app.session().await.outcome,
        Some(tokenbridge_shared::FlowOutcome::Connected)
    );
}

/// Another process that holds the write lock for a moment (the `tokenbridge token` command
/// saving a refresh) delays a sign-in's save; the sign-in completes once the lock goes.
#[tokio::test]
async fn sqlite_locked_for_a_moment_delays_a_sign_in_which_is_then_saved() {
    let (app, provider, finishing, mut other) = callback_during_a_foreign_lock("at-moment").await;
    // The exchange answers within its delay; the lock outlasts it a little.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    let finished = finishing.await.unwrap();
    let outcome = app
        .open_cookie(&set_cookies(&finished), "tb_outcome")
        .unwrap();
    assert_eq!(
        outcome, r#"{"result":"connected"}"#,
        "the sign-in was saved"
    );
    assert!(
        !handed_back(&provider, "at-moment").await,
        "the token was kept, not handed back"
    );
    assert_eq!(
        app.session().await.token.unwrap().access_token,
        "at-moment",
        "the page shows the saved token"
    );
}

/// A browser signed in before that goes while its next sign-in's save waits for another
/// process's lock (the page closed, the browser gave up) keeps the session it had: the new
/// session that would have replaced it never reaches it. The token is saved all the same.
#[tokio::test]
async fn a_browser_that_goes_while_its_sign_in_waits_for_the_store_stays_signed_in() {
    let provider = MockServer::start().await;
    gives_at_1_and_rt_1_for_a_code(&provider).await;
    // The second sign-in's answer comes after a moment, by when the other process has the lock
    // (its state spent before).
    answers_code_2_after(&provider, "at-3", Duration::from_millis(500)).await;
    answers_carol_at_info(&provider).await;
    let database = scratch_database();
    let app = spawn_app(
        Settings {
            database_url: Some(database.clone().into()),
            ..crate::connections::custom_app_settings(&provider, None)
        },
        |_| {},
    )
    .await;
    app.return_with_code("", "1").await;
    let id = app.session().await.connections[0].id.clone();

    let before = token_requests(&provider).await;
    let returning = returning_with_code_2(&app).await;
    exchanging(&provider, before).await;
    let mut other = holding_the_write_lock(&database).await;
    let asked_whose = || async {
        let requests = provider.received_requests().await.unwrap_or_default();
        requests.iter().filter(|r| r.url.path() == "/info").count()
    };
    for _ in 0..400 {
        if asked_whose().await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        asked_whose().await,
        2,
        "the second sign-in asked whose token it is"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !returning.is_finished(),
        "the save waits for the other process's lock"
    );
    returning.abort();
    // The server drops the request's work once it reads the closed connection; only then may
    // the save go on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    assert!(
        saved_with(&app, &id, "at-3").await.is_some(),
        "the token issued for the code was saved"
    );
    still_signed_in_seeing(&app, &id).await;
}

/// Alice signed in (the scripts API on), another process holding the write lock of the
/// app's SQLite file, and then her Refresh click under way: the app, her connection, the other
/// process's connection (`ROLLBACK` lets the lock go), the sandbox's token calls before the
/// click, and the click.
async fn refresh_clicked_while_locked() -> (
    TestApp,
    tokenbridge_shared::ConnectionView,
    sqlx::SqliteConnection,
    u64,
    JoinHandle<reqwest::Response>,
) {
    let database = scratch_database();
    let app = spawn_app(
        Settings {
            api_key: Some(API_KEY.into()),
            database_url: Some(database.clone().into()),
            ..Settings::default()
        },
        |_| {},
    )
    .await;
    let signed_in = app.connect_as("alice").await;
    let connection = signed_in.connections[0].clone();
    let other = holding_the_write_lock(&database).await;
    let calls = app.token_calls();
    let clicking = {
        let app = app.clone();
        let id = connection.id.clone();
        tokio::spawn(async move { app.refresh(&id).await })
    };
    (app, connection, other, calls, clicking)
}

/// After a refresh: the page shows a token other than `before`, and alice's script reads the same.
async fn page_and_script_see_a_token_other_than(app: &TestApp, before: &str) {
    let shown = app.session().await.token.unwrap().access_token;
    assert_ne!(shown, before, "the page shows the new token");
    let read = crate::connections::api_token(app, "alice").await.unwrap();
    assert_eq!(read.access_token, shown, "a script reads the saved token");
}

/// Another process that holds the write lock for a moment (the `tokenbridge token` command
/// saving a refresh of its own) delays a Refresh click's save: the save, which finds the file
/// busy on this process's own connection, waits for it through sqlx, and the new token is
/// kept — the page and a script's read both get it.
#[tokio::test]
async fn sqlite_locked_for_a_moment_delays_a_refresh_whose_token_is_then_saved() {
    let (app, connection, mut other, _, clicking) = refresh_clicked_while_locked().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !clicking.is_finished(),
        "the save waits for the other writer"
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let clicked = clicking.await.unwrap();
    assert_eq!(clicked.status(), StatusCode::OK);

    page_and_script_see_a_token_other_than(&app, &connection.token.access_token).await;
}

/// Another process that holds the write lock longer than a save waits for it (sqlx's five
/// seconds) while a Refresh click saves: the save is tried again until the lock goes, and the
/// provider's new tokens are kept — its new refresh token may be the only one that still works.
#[tokio::test]
async fn sqlite_locked_past_a_saves_wait_still_keeps_the_refreshed_token() {
    let (app, connection, mut other, calls, clicking) = refresh_clicked_while_locked().await;
    // The sandbox answers at once, and the save begins: six seconds from then is past the
    // first try's five, and into the second's.
    for _ in 0..400 {
        if app.token_calls() > calls {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        app.token_calls() > calls,
        "the provider was asked to refresh"
    );
    tokio::time::sleep(Duration::from_millis(6000)).await;
    assert!(!clicking.is_finished(), "the save is still being tried");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let clicked = clicking.await.unwrap();
    assert_eq!(clicked.status(), StatusCode::OK, "the click succeeds");
    page_and_script_see_a_token_other_than(&app, &connection.token.access_token).await;
}

/// Another process that holds the write lock past every try at saving a Refresh click's answer
/// (about half a minute): the click fails as the store being unavailable, but the provider's
/// answer is kept, sealed, and the next click saves it once the lock is gone — without asking
/// the provider again with the refresh token the first click spent (the sandbox's work once,
/// as a rotating provider's do: asking with it again would be refused, and the connection would
/// need a new sign-in).
#[tokio::test]
async fn sqlite_locked_past_every_save_keeps_the_refreshed_token_for_the_next_click() {
    let (app, connection, mut other, calls, clicking) = refresh_clicked_while_locked().await;
    let clicked = clicking.await.unwrap();
    // The kept answer's own saver first tries five seconds after the click failed, a moment
    // before this.
    let failed = std::time::Instant::now();
    assert_eq!(clicked.status(), StatusCode::SERVICE_UNAVAILABLE);
    let error: ApiError = clicked.json().await.unwrap();
    assert_eq!(error.code, ErrorCode::StoreUnavailable);
    assert_eq!(app.token_calls(), calls + 1, "the provider refreshed once");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    let again = app.refresh(&connection.id).await;
    assert_eq!(again.status(), StatusCode::OK, "the next click succeeds");
    if failed.elapsed() < Duration::from_millis(2500) {
        assert_eq!(
            app.token_calls(),
            calls + 1,
            "with the answer kept, not another refresh"
        );
    } else {
        // A machine slow enough for the saver to come first: it saved the kept answer, and
        // the click refreshed with the refresh token that answer brought, which the sandbox
        // (rotating its refresh tokens) took, as the click's success says.
        eprintln!("the kept answer's saver may have come before the click");
        assert!(
            (calls + 1..=calls + 2).contains(&app.token_calls()),
            "at most one refresh more, by the click"
        );
    }
    page_and_script_see_a_token_other_than(&app, &connection.token.access_token).await;
}

/// A refresh's answer the store could not take, kept until the lock went, may have expired
/// by then: the read that saves it does not hand out that dead token as if another caller had
/// just refreshed it, but refreshes again with the refresh token the kept answer brought.
#[tokio::test]
async fn a_kept_refresh_answer_that_expired_meanwhile_is_refreshed_again() {
    use wiremock::matchers::body_string_contains;
    let provider = MockServer::start().await;
    crate::helpers::gives_at_1_and_rt_1_for_a_code(&provider).await;
    for (refresh_token, answer) in [
        (
            "rt-1",
            r#"{"access_token":"at-2","token_type":"bearer","expires_in":1,"refresh_token":"rt-2"}"#,
        ),
        (
            "rt-2",
            r#"{"access_token":"at-3","token_type":"bearer","expires_in":3600,"refresh_token":"rt-3"}"#,
        ),
    ] {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains(format!(
                "refresh_token={refresh_token}"
            )))
            .respond_with(json_response(200, answer))
            .expect(1)
            .mount(&provider)
            .await;
    }
    crate::helpers::answers_carol_at_info(&provider).await;
    let database = scratch_database();
    let app = spawn_app(
        Settings {
            api_key: Some(API_KEY.into()),
            database_url: Some(database.clone().into()),
            ..played_by(&provider, ProviderArg::Custom, "app", Some("/info"), None)
        },
        |_| {},
    )
    .await;
    app.return_with_code("", "1").await;
    let mut other = holding_the_write_lock(&database).await;

    // at-1 expires within the margin: this read refreshes it, and the store cannot take at-2
    // (good for one second) for as long as every try at saving it lasts.
    let (status, error) = crate::connections::api_token(&app, "carol")
        .await
        .unwrap_err();
    assert_eq!(
        (status, error.code),
        (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::StoreUnavailable)
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    let read = crate::connections::api_token(&app, "carol").await.unwrap();
    assert_eq!(
        read.access_token, "at-3",
        "at-2, saved now but expired, is refreshed with the rt-2 it came with"
    );
}

/// A Refresh click's answer the store could not take, kept, is saved by itself once the lock
/// is gone — no one has to click again, and the provider is not asked again.
#[tokio::test]
async fn a_kept_refresh_answer_is_saved_by_itself_once_the_store_answers() {
    let (app, connection, mut other, calls, clicking) = refresh_clicked_while_locked().await;
    assert_eq!(
        clicking.await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    let before = &connection.token.access_token;
    let mut waited = Duration::ZERO;
    while app.session().await.token.unwrap().access_token == *before {
        assert!(
            waited < Duration::from_secs(20),
            "the kept answer was not saved"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        waited += Duration::from_millis(250);
    }
    page_and_script_see_a_token_other_than(&app, before).await;
    assert_eq!(app.token_calls(), calls + 1, "the provider refreshed once");
}

/// A refresh's answer the store could not take, kept, whose connection another process
/// disconnects meanwhile: no one holds its tokens, so they go back to the provider (the
/// rotated refresh token and the access token) rather than staying valid.
#[tokio::test]
async fn a_kept_refresh_answer_whose_connection_went_meanwhile_is_revoked() {
    let (provider, _app, mut other) = carols_refresh_kept().await;
    // The other process disconnects carol (its own revocation aside) and lets the lock go.
    sqlx::query("DELETE FROM session_connections")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("DELETE FROM connections")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();

    assert_eq!(revoked_within_20_s(&provider, 2).await, ["rt-2", "at-2"]);
}

/// A rotating provider ([`crate::helpers::rotating_slowly`], answering at once) that revokes,
/// an app on a SQLite file where carol signed in (`at-1`, expiring within the margin), and her
/// script's read that refreshed it while another process held the write lock past every try at
/// saving: `at-2` and `rt-2` kept. The other process's connection still holds the lock.
async fn carols_refresh_kept() -> (MockServer, TestApp, sqlx::SqliteConnection) {
    let provider = crate::helpers::rotating_slowly(Duration::ZERO).await;
    revokes_anything(&provider).await;
    let database = scratch_database();
    let app = spawn_app(
        Settings {
            api_key: Some(API_KEY.into()),
            database_url: Some(database.clone().into()),
            ..played_by(
                &provider,
                ProviderArg::Custom,
                "app",
                Some("/info"),
                Some("/revoke"),
            )
        },
        |_| {},
    )
    .await;
    app.return_with_code("", "1").await;
    let other = holding_the_write_lock(&database).await;
    let (status, _) = crate::connections::api_token(&app, "carol")
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    (provider, app, other)
}

/// The tokens `provider`'s `/revoke` was sent, in order, once there are `count` of them
/// (waiting up to 20 s).
async fn revoked_within_20_s(provider: &MockServer, count: usize) -> Vec<String> {
    let mut waited = Duration::ZERO;
    while revoked_tokens(provider).await.len() < count && waited < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        waited += Duration::from_millis(250);
    }
    revoked_tokens(provider).await
}

/// A kept refresh answer of a connection that a new sign-in saved afresh meanwhile, and that
/// is then disconnected at once: the disconnect revokes what the row holds, and then, with the
/// account held by no one, the kept answer's tokens too.
#[tokio::test]
async fn a_disconnect_revokes_a_kept_answer_a_sign_in_saved_over() {
    let (provider, app, mut other) = carols_refresh_kept().await;
    crate::helpers::gives_at_3_and_rt_3_for_code_2(&provider).await;
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    app.return_with_code("", "2").await;
    let id = app.session().await.connections[0].id.clone();

    assert_eq!(app.disconnect(&id).await.status(), StatusCode::OK);

    assert_eq!(
        revoked_within_20_s(&provider, 4).await,
        ["rt-3", "at-3", "rt-2", "at-2"],
        "what the row held, and then what was kept"
    );
}
