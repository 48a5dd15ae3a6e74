//! End to end: the backend in sandbox mode serving the trunk-built app, driven
//! in real headless Chromium through WebDriver (Debian's chromedriver).
//! Every response the browser receives is recorded and searched for the secret.

// A failed step in a test should stop it where it failed.
#![allow(clippy::unwrap_used)]

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use fantoccini::{Client, ClientBuilder, Locator};
use tokenbridge::{
    AppState, app,
    config::{Config, Settings},
};

const SECRET: &str = "e2e-client-secret-must-never-reach-the-browser";

/// One response as the browser received it: its content type, and its status,
/// headers and body as bytes.
#[derive(Clone)]
struct Sent {
    content_type: String,
    bytes: Vec<u8>,
}

/// Every response the server sent to the browser.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Sent>>>);

async fn record(State(recorder): State<Recorder>, request: Request, next: Next) -> Response {
    // The backend's own call to the sandbox's token endpoint is not the browser's.
    let from_backend = request
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|agent| agent.starts_with("tokenbridge/"));
    if from_backend {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut everything = format!("{:?} {:?}\n", parts.status, parts.headers).into_bytes();
    everything.extend_from_slice(&bytes);
    recorder.0.lock().unwrap().push(Sent {
        content_type,
        bytes: everything,
    });
    Response::from_parts(parts, Body::from(bytes))
}

fn dist() -> PathBuf {
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist");
    assert!(
        dist.join("index.html").is_file(),
        "the frontend is not built: run `trunk build --release` first (scripts/test.sh does)"
    );
    dist
}

async fn spawn_backend(recorder: Recorder) -> (SocketAddr, AppState) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = Settings {
        public_url: Some(format!("http://{addr}")),
        client_secret: Some(SECRET.into()),
        database_url: Some(format!(
            "sqlite://{}",
            std::env::temp_dir()
                .join(format!("tb-e2e-{}-{}.db", std::process::id(), addr.port()))
                .display()
        )),
        store_key: Some(STANDARD.encode([9u8; 32])),
        dist: Some(dist()),
        ..Settings::default()
    };
    let state = AppState::new(Config::resolve(settings).unwrap(), addr)
        .await
        .unwrap();
    let router = app(state.clone()).layer(middleware::from_fn_with_state(recorder, record));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, state)
}

/// Debian's chromedriver driving headless Chromium, stopped when dropped.
struct Browser {
    client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn start_browser() -> Browser {
    start_browser_with("en-US", "1200,900").await
}

/// A browser whose language is `lang` (as a person's would be), with a window of `size`.
async fn start_browser_with(lang: &str, size: &str) -> Browser {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver_path =
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let driver = Command::new(&driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {driver_path} (apt-get install chromium-driver): {e}")
        });
    let profile = std::env::temp_dir().join(format!("tb-e2e-{}-{port}", std::process::id()));
    let mut options = serde_json::json!({
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", format!("--window-size={}", if size.starts_with("phone:") { "500,1400" } else { size }),
            format!("--lang={lang}"), format!("--accept-lang={lang}"),
            format!("--user-data-dir={}", profile.display()),
        ]
    });
    options["prefs"] = serde_json::json!({ "intl.accept_languages": lang });
    // A desktop window cannot be narrower than about 500 px; a phone is emulated instead.
    if let Some(width) = size.strip_prefix("phone:") {
        let width: u32 = width.parse().unwrap();
        options["mobileEmulation"] = serde_json::json!({ "deviceMetrics": { "width": width, "height": 1400, "pixelRatio": 1.0 } });
    }
    if let Ok(binary) = std::env::var("CHROME_BIN") {
        options["binary"] = binary.into();
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);

    let deadline = Instant::now() + Duration::from_secs(20);
    let url = format!("http://127.0.0.1:{port}");
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => break client,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("chromedriver did not start a browser: {error}"),
        }
    };
    Browser { client, driver }
}

/// The text of the element, once it is there. The page re-renders after each fetch,
/// so an element found a moment ago may be replaced: then it is looked up again.
async fn text_of(client: &Client, locator: Locator<'_>) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let element = client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(locator)
            .await
            .unwrap();
        match element.text().await {
            Ok(text) => return text,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("cannot read {locator:?}: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_allow_and_see_the_token_without_the_secret_ever_reaching_the_browser() {
    let recorder = Recorder::default();
    let (addr, state) = spawn_backend(recorder.clone()).await;
    let browser = start_browser().await;
    let client = &browser.client;

    client.goto(&format!("http://{addr}/")).await.unwrap();
    assert_eq!(
        text_of(client, Locator::Css("[data-testid=sandbox-badge]")).await,
        "Sandbox"
    );
    let connect = client
        .wait()
        .for_element(Locator::LinkText("Connect"))
        .await
        .unwrap();
    connect.click().await.unwrap();

    let allow = client
        .wait()
        .for_element(Locator::XPath("//button[normalize-space()='Allow']"))
        .await
        .unwrap();
    assert!(
        client.source().await.unwrap().contains("Sandbox"),
        "the provider page is labelled as the sandbox"
    );
    allow.click().await.unwrap();

    let token = text_of(client, Locator::Css("[data-testid=access-token]")).await;
    assert!(
        token.starts_with("y0_SANDBOX") && token.len() > 40,
        "the token card shows {token:?}"
    );
    let url = client.current_url().await.unwrap();
    assert_eq!(url.path(), "/");
    assert_eq!(url.query(), None, "the address bar is clean");
    // Sandbox tokens live a year: 365 d at the very first tick, 364 d after it.
    let countdown = text_of(client, Locator::Css("[data-testid=countdown]")).await;
    assert!(
        countdown.starts_with("(in 365 d") || countdown.starts_with("(in 364 d"),
        "{countdown}"
    );

    let refresh_token = refresh_token_held(&state).await;

    // Disconnect revokes the token at the sandbox and takes the token card away.
    client
        .find(Locator::XPath("//button[normalize-space()='Disconnect']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = text_of(client, Locator::Css("[data-testid=notice]")).await;
    assert!(notice.contains("revoked"), "{notice}");
    // The page fetches the session again; the token card then goes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client
        .find(Locator::Css("[data-testid=access-token]"))
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "the token card stays after Disconnect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.clone().close().await.unwrap();

    let responses = recorder.0.lock().unwrap().clone();
    let kinds: Vec<&str> = responses
        .iter()
        .map(|sent| sent.content_type.as_str())
        .collect();
    for kind in [
        "text/html",
        "javascript",
        "application/wasm",
        "application/json",
        "text/css",
    ] {
        assert!(
            kinds.iter().any(|k| k.contains(kind)),
            "the browser received {kind}: {kinds:?}"
        );
    }
    for sent in &responses {
        for (name, secret) in [
            ("client secret", SECRET),
            ("refresh token", refresh_token.as_str()),
        ] {
            let found = sent
                .bytes
                .windows(secret.len())
                .any(|w| w == secret.as_bytes());
            assert!(
                !found,
                "the {name} was sent to the browser in a {} response",
                sent.content_type
            );
        }
    }
}

/// The refresh token the server keeps for the connection just made.
async fn refresh_token_held(state: &AppState) -> String {
    let connections = state.connections.store().all().await.unwrap();
    let refresh_token = connections[0]
        .refresh_token
        .as_ref()
        .expect("the sandbox issued a refresh token");
    assert!(refresh_token.secret().len() > 20);
    refresh_token.secret().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn deny_shows_why_and_a_way_to_start_again() {
    let (addr, _state) = spawn_backend(Recorder::default()).await;
    let browser = start_browser().await;
    let client = &browser.client;

    client.goto(&format!("http://{addr}/")).await.unwrap();
    client
        .wait()
        .for_element(Locator::LinkText("Connect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//button[normalize-space()='Deny']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    assert_eq!(
        text_of(client, Locator::Css("[data-testid=error] h2")).await,
        "You declined access at the sandbox"
    );
    client
        .find(Locator::LinkText("Start again"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//button[normalize-space()='Allow']"))
        .await
        .unwrap();
    client.clone().close().await.unwrap();
}

/// Saves what the person sees: always under target/screenshots, and into
/// docs/screenshots (which the README shows) when TOKENBRIDGE_UPDATE_SCREENSHOTS is set.
async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut folders = vec![root.join("target/screenshots")];
    if std::env::var_os("TOKENBRIDGE_UPDATE_SCREENSHOTS").is_some() {
        folders.push(root.join("docs/screenshots"));
    }
    for folder in folders {
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(format!("{name}.png")), &png).unwrap();
    }
}

/// The words a person reads in each language, for the same walk through the page.
struct Words {
    lang: &'static str,
    connect: &'static str,
    connect_another: &'static str,
    allow: &'static str,
    deny: &'static str,
    token_title: &'static str,
    declined: &'static str,
    start_again: &'static str,
}

const ENGLISH: Words = Words {
    lang: "en-US",
    connect: "Connect",
    connect_another: "Connect",
    allow: "Allow",
    deny: "Deny",
    token_title: "Your access token",
    declined: "You declined access at the sandbox",
    start_again: "Start again",
};

const RUSSIAN: Words = Words {
    lang: "ru-RU",
    connect: "Подключить",
    connect_another: "Подключить",
    allow: "Разрешить",
    deny: "Отклонить",
    token_title: "Ваш токен доступа",
    declined: "Вы отклонили доступ в песочнице",
    start_again: "Начать заново",
};

async fn click_button(client: &Client, label: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(&format!(
            "//button[normalize-space()='{label}']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn walk_through_in(words: &Words, size: &str, shots: &str) {
    let (addr, _state) = spawn_backend(Recorder::default()).await;
    let browser = start_browser_with(words.lang, size).await;
    let client = &browser.client;

    client.goto(&format!("http://{addr}/")).await.unwrap();
    let connect = client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::LinkText(words.connect))
        .await
        .unwrap();
    let html_lang = client
        .execute("return document.documentElement.lang", vec![])
        .await
        .unwrap();
    assert_eq!(
        html_lang.as_str(),
        Some(&words.lang[..2]),
        "the page follows the browser's language"
    );
    screenshot(client, &format!("{shots}-connect")).await;
    connect.click().await.unwrap();

    click_button(client, words.allow).await;
    assert_eq!(
        text_of(client, Locator::Css("#token-title")).await,
        words.token_title
    );
    assert!(
        text_of(client, Locator::Css("[data-testid=access-token]"))
            .await
            .starts_with("y0_SANDBOX")
    );
    screenshot(client, &format!("{shots}-token")).await;

    // Once more, and Deny this time.
    client
        .find(Locator::LinkText(words.connect_another))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_button(client, words.deny).await;
    assert_eq!(
        text_of(client, Locator::Css("[data-testid=error] h2")).await,
        words.declined
    );
    client
        .find(Locator::LinkText(words.start_again))
        .await
        .unwrap();
    screenshot(client, &format!("{shots}-error")).await;
    client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_who_reads_english_clicks_through() {
    walk_through_in(&ENGLISH, "1100,1500", "en").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_who_reads_russian_clicks_through() {
    walk_through_in(&RUSSIAN, "1100,1500", "ru").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_works_on_a_360_pixel_wide_phone() {
    walk_through_in(&RUSSIAN, "phone:360", "ru-phone").await;
}
