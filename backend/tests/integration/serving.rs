//! The server as the internet meets it: slow clients are cut off, header bombs get
//! 4xx, and a shutdown lets a sign-in in flight finish.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use tokenbridge::config::{Config, ProviderArg, Settings};
use tokenbridge_shared::FlowOutcome;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::{
    Mock, MockServer,
    matchers::{method, path},
};

use crate::helpers::*;

/// The real server (`tokenbridge::serve_until`) on a port of its own, until `stop` is sent.
async fn serve(
    settings: Settings,
    header_read_timeout: Duration,
) -> (
    TestApp,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokenbridge::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::resolve(Settings {
        public_url: Some(format!("http://{addr}")),
        client_secret: Some(CLIENT_SECRET.into()),
        cookie_key: Some(STANDARD.encode([6u8; 64]).into()),
        store_key: Some(STANDARD.encode([6u8; 32]).into()),
        dist: Some(std::env::temp_dir().join("tokenbridge-no-dist")),
        database_url: settings
            .database_url
            .clone()
            .or_else(|| Some(scratch_database().into())),
        ..settings
    })
    .unwrap();
    config.header_read_timeout = header_read_timeout;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        tokenbridge::serve_until(config, listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let base = url::Url::parse(&format!("http://{addr}")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "the server started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A TestApp over the served address; its state is only for reading the outcome.
    let app = TestApp {
        base,
        browser: browser(),
        cookie_key: axum_extra::extract::cookie::Key::from(&[6u8; 64]),
        state: spawn_sandbox().await.state,
    };
    (app, stop, running)
}

#[tokio::test]
async fn a_client_that_sends_its_headers_too_slowly_is_cut_off() {
    let (app, _stop, _running) = serve(Settings::default(), Duration::from_millis(500)).await;
    let mut slow = tokio::net::TcpStream::connect(app.base.socket_addrs(|| None).unwrap()[0])
        .await
        .unwrap();
    slow.write_all(b"GET /api/session HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    // Never finishing its headers, it is closed (with a 408, or without a word).
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer)).await;

    assert!(read.is_ok(), "the connection was closed by the server");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn header_bombs_get_a_4xx() {
    let (app, _stop, _running) = serve(Settings::default(), Duration::from_secs(5)).await;
    let client = reqwest::Client::new();

    let huge = client
        .get(app.url("/api/session"))
        .header("x-bomb", "b".repeat(100 * 1024))
        .send()
        .await;
    let many = {
        let mut request = client.get(app.url("/api/session"));
        for n in 0..500 {
            request = request.header(format!("x-h{n}"), "v");
        }
        request.send().await
    };

    // Exactly as sent, without a client that might refuse to send it.
    {
        let mut raw = tokio::net::TcpStream::connect(app.base.socket_addrs(|| None).unwrap()[0])
            .await
            .unwrap();
        let request = format!(
            "GET /api/session HTTP/1.1\r\nHost: x\r\nx-bomb: {}\r\n\r\n",
            "b".repeat(100 * 1024)
        );
        let _ = raw.write_all(request.as_bytes()).await;
        let mut answer = vec![0u8; 200];
        let n = raw.read(&mut answer).await.unwrap_or(0);
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    }
    for (what, response) in [("a 100 KB header", huge), ("500 headers", many)] {
        match response {
            Ok(response) => assert!(
                response.status().is_client_error(),
                "{what}: {}",
                response.status()
            ),
            // hyper may close the connection before the client has sent it all.
            Err(error) => assert!(error.is_request() || error.is_connect(), "{what}: {error}"),
        }
    }
    assert_eq!(
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "the server is fine"
    );
}

#[tokio::test]
async fn a_shutdown_lets_a_sign_in_in_flight_finish() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            json_response(
                200,
                r#"{"access_token":"late-token","token_type":"bearer"}"#,
            )
            .set_delay(Duration::from_millis(800)),
        )
        .mount(&provider)
        .await;
    let (app, stop, running) = serve(
        played_by(&provider, ProviderArg::Custom, "app", None, None),
        Duration::from_secs(5),
    )
    .await;

    let authorize = app.login("").await;
    let state = query_param(&authorize, "state").unwrap();
    let callback = {
        let app = app.clone();
        tokio::spawn(async move {
            app.callback(&format!("{}auth/callback?code=1&state={state}", app.base))
                .await
        })
    };
    // Once the provider has the token request, the callback is in flight: stop then.
    for _ in 0..400 {
        let asked = provider
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| r.url.path() == "/token");
        if asked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stop.send(()).unwrap();

    let finished = callback.await.unwrap();
    assert_eq!(finished.status(), 303, "the callback in flight finished");
    let outcome = app
        .open_cookie(&set_cookies(&finished), "tb_outcome")
        .unwrap();
    assert_eq!(
        serde_json::from_str::<FlowOutcome>(&outcome).unwrap(),
        FlowOutcome::Connected
    );
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the server stopped once the sign-in finished")
        .unwrap();
}

/// A shutdown that comes while a refresh is under way, its script already gone, waits for
/// the refresh to be saved: the provider has spent the old refresh token, and the new one is
/// there when the server starts again.
#[tokio::test]
async fn a_shutdown_waits_for_a_refresh_whose_script_is_gone() {
    let provider = rotating_slowly(Duration::from_millis(1500)).await;
    let database = scratch_database();
    let settings = || Settings {
        api_key: Some(crate::connections::API_KEY.into()),
        database_url: Some(database.clone().into()),
        store_key: Some(STANDARD.encode([6u8; 32]).into()),
        ..played_by(&provider, ProviderArg::Custom, "app", Some("/info"), None)
    };
    let (app, stop, running) = serve(settings(), Duration::from_secs(5)).await;
    app.return_with_code("", "1").await;

    gives_up_while_refreshing(&app, &provider, "carol").await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the server stopped once the refresh was saved")
        .unwrap();
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&database)
        .await
        .unwrap();
    let refreshed: Option<i64> = sqlx::query_scalar("SELECT refreshed_at FROM connections")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(
        refreshed.is_some(),
        "the refresh was saved before the server stopped"
    );

    let again = spawn_app(settings(), |_| {}).await;
    let read = crate::connections::api_token(&again, "carol")
        .await
        .unwrap();
    assert_eq!(
        read.access_token, "at-2",
        "the new token is read, and no second refresh made"
    );
    assert_eq!(refreshes(&provider).await, 1);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let (app, _stop, _running) = serve(Settings::default(), Duration::from_millis(500)).await;
    let mut idle = tokio::net::TcpStream::connect(app.base.socket_addrs(|| None).unwrap()[0])
        .await
        .unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0u8; 1024];
    let n = idle.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));

    // Then silence: the server closes the connection rather than keep it forever.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest)).await;

    assert!(
        closed.is_ok(),
        "an idle connection was still open after 5 s"
    );
}
