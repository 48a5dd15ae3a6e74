//! End to end: the backend in sandbox mode serving the trunk-built app, driven
//! in real headless Chromium through WebDriver (Debian's chromedriver).
//! Every response a browser receives is recorded, with the person whose browser
//! it was, and searched for what that browser must never see.
//! Every backend and browser keeps its files in a folder under the system's temp
//! dir that goes when the test ends, so a run leaves nothing in the repository.

// A failed step in a test should stop it where it failed.
#![allow(clippy::unwrap_used)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, header::CONTENT_SECURITY_POLICY},
    middleware::{self, Next},
    response::Response,
};
use fantoccini::{
    Client, ClientBuilder, Locator, elements::Element, wd::WebDriverCompatibleCommand,
};
use serde_json::json;
use tokenbridge::{
    AppState, app,
    config::{Config, ProviderArg, SANDBOX_CLIENT_ID, Settings},
};
use tokenbridge_shared::routes;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

const SECRET: &str = "e2e-client-secret-must-never-reach-the-browser";
/// The end of the user agent of a browser started for a named person.
const AGENT_TAG: &str = "tb-e2e/";

/// A fresh folder under the system's temp dir, removed with everything in it when dropped.
struct TempFolder(PathBuf);

impl TempFolder {
    fn new(what: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tb-e2e-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        // A folder of a killed earlier run with the same process id must not leak into this one.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One response as a browser received it: whose browser it was (its user agent),
/// its content type, and its status, headers and body as bytes.
#[derive(Clone)]
struct Sent {
    agent: String,
    content_type: String,
    bytes: Vec<u8>,
}

impl Sent {
    fn contains(&self, text: &str) -> bool {
        self.bytes
            .windows(text.len())
            .any(|window| window == text.as_bytes())
    }
}

/// Every response the servers sent to browsers.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Sent>>>);

impl Recorder {
    fn all(&self) -> Vec<Sent> {
        self.0.lock().unwrap().clone()
    }

    /// What the browser of `person` (see [`start_browser_as`]) received.
    fn received_by(&self, person: &str) -> Vec<Sent> {
        let tag = format!("{AGENT_TAG}{person}");
        self.all()
            .into_iter()
            .filter(|sent| sent.agent.ends_with(&tag))
            .collect()
    }
}

async fn record(State(recorder): State<Recorder>, request: Request, next: Next) -> Response {
    let agent = request
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    // The backend's own calls to a provider's endpoints are not a browser's.
    if agent.starts_with("tokenbridge/") {
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
        agent,
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

/// A tokenbridge serving the built app, with every response to a browser recorded.
/// It stops serving when dropped.
struct Backend {
    addr: SocketAddr,
    state: AppState,
    recorder: Recorder,
    settings: Settings,
    /// Its data folder (database, store key, cookie key), shared with a restarted backend.
    data: Arc<TempFolder>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<()>>,
}

impl Backend {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops serving: no new connection is taken, and the browser's open ones are closed.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = self.served.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), served)
            .await
            .expect("the backend stops within 10 s")
            .unwrap();
    }

    /// The same settings and data folder in a new server on the same address, as after a
    /// restart of the process.
    async fn restart(self) -> Backend {
        let (addr, settings, data, recorder) = (
            self.addr,
            self.settings.clone(),
            self.data.clone(),
            self.recorder.clone(),
        );
        self.stop().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(listener) => break listener,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("cannot bind {addr} again: {error}"),
            }
        };
        serve(listener, settings, data, recorder).await
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// The settings of a sandbox at `addr` with its data in `data`; every other setting is
/// the default, so the cookie and store keys are files there, as on a first run.
fn sandbox_settings(addr: SocketAddr, data: &TempFolder) -> Settings {
    Settings {
        public_url: Some(format!("http://{addr}")),
        client_secret: Some(SECRET.into()),
        data_dir: Some(data.path().to_owned()),
        dist: Some(dist()),
        ..Settings::default()
    }
}

async fn serve(
    listener: TcpListener,
    settings: Settings,
    data: Arc<TempFolder>,
    recorder: Recorder,
) -> Backend {
    serve_wrapped(listener, settings, data, recorder, |router| router).await
}

/// A sandbox at `listener` that plays the provider for the tokenbridge at `client_addr`:
/// its consent page sends the browser back there.
async fn serve_provider_for(
    client_addr: SocketAddr,
    listener: TcpListener,
    recorder: Recorder,
) -> Backend {
    let data = Arc::new(TempFolder::new("data"));
    let settings = Settings {
        public_url: Some(format!("http://{client_addr}")),
        ..sandbox_settings(listener.local_addr().unwrap(), &data)
    };
    let client_origin = format!("http://{client_addr}");
    serve_wrapped(listener, settings, data, recorder, |router| {
        router.layer(middleware::from_fn_with_state(
            client_origin,
            let_the_consent_form_return_to,
        ))
    })
    .await
}

/// A real provider's consent page lets its form send the browser on to the client's
/// Callback URI. The sandbox's page carries tokenbridge's own policy, whose
/// `form-action 'self'` Chromium applies to the redirect after the form too, which
/// stops a sandbox that plays the provider for another origin; so that origin is added.
async fn let_the_consent_form_return_to(
    State(client_origin): State<String>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let policy = response
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|policy| {
            policy.replace(
                "form-action 'self'",
                &format!("form-action 'self' {client_origin}"),
            )
        });
    if let Some(policy) = policy {
        response.headers_mut().insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&policy).unwrap(),
        );
    }
    response
}

async fn serve_wrapped(
    listener: TcpListener,
    settings: Settings,
    data: Arc<TempFolder>,
    recorder: Recorder,
    wrap: impl FnOnce(Router) -> Router,
) -> Backend {
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(Config::resolve(settings.clone()).unwrap(), addr)
        .await
        .unwrap();
    // Recorded outermost: exactly what the browser received.
    let router =
        wrap(app(state.clone())).layer(middleware::from_fn_with_state(recorder.clone(), record));
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Backend {
        addr,
        state,
        recorder,
        settings,
        data,
        stop: Some(stop),
        served: Some(served),
    }
}

/// A sandbox tokenbridge with a data folder of its own.
async fn spawn_backend() -> Backend {
    spawn_backend_with(|_| {}).await
}

/// A sandbox tokenbridge with a data folder of its own, and settings changed by `change`.
async fn spawn_backend_with(change: impl FnOnce(&mut Settings)) -> Backend {
    let listener = bind().await;
    let data = Arc::new(TempFolder::new("data"));
    let mut settings = sandbox_settings(listener.local_addr().unwrap(), &data);
    change(&mut settings);
    serve(listener, settings, data, Recorder::default()).await
}

/// Debian's chromedriver driving headless Chromium, stopped when dropped; its profile
/// lives in a temp folder that goes with it.
struct Browser {
    client: Client,
    driver: Child,
    /// True until the browser is closed through WebDriver.
    open: bool,
    _profile: TempFolder,
}

impl Browser {
    /// Closes the browser (the WebDriver session), as a person closes the window.
    async fn quit(mut self) {
        self.client.clone().close().await.unwrap();
        self.open = false;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium outlives a killed chromedriver (and writes on into its profile), so a
        // browser that a failed test left open is closed through WebDriver first.
        if self.open
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
            && runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        {
            let client = self.client.clone();
            tokio::task::block_in_place(|| {
                let _ =
                    runtime.block_on(tokio::time::timeout(Duration::from_secs(5), client.close()));
            });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn start_browser() -> Browser {
    launch_browser("en-US", "1200,900", None).await
}

/// A browser of its own for `person` (a profile of its own, so cookies of its own), whose
/// user agent names the person, so the recorder tells its responses from everyone else's.
async fn start_browser_as(person: &str) -> Browser {
    launch_browser("en-US", "1200,900", Some(person)).await
}

/// A browser whose language is `lang` (as a person's would be), with a window of `size`.
async fn start_browser_with(lang: &str, size: &str) -> Browser {
    launch_browser(lang, size, None).await
}

async fn launch_browser(lang: &str, size: &str, person: Option<&str>) -> Browser {
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
    let profile = TempFolder::new("profile");
    let mut options = json!({
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", format!("--window-size={}", if size.starts_with("phone:") { "500,1400" } else { size }),
            format!("--lang={lang}"), format!("--accept-lang={lang}"),
            format!("--user-data-dir={}", profile.path().display()),
        ]
    });
    if let Some(person) = person {
        options["args"].as_array_mut().unwrap().push(
            format!("--user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 {AGENT_TAG}{person}")
                .into(),
        );
    }
    options["prefs"] = json!({ "intl.accept_languages": lang });
    // A desktop window cannot be narrower than about 500 px; a phone is emulated instead.
    if let Some(width) = size.strip_prefix("phone:") {
        let width: u32 = width.parse().unwrap();
        options["mobileEmulation"] =
            json!({ "deviceMetrics": { "width": width, "height": 1400, "pixelRatio": 1.0 } });
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
    Browser {
        client,
        driver,
        open: true,
        _profile: profile,
    }
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

/// Waits until nothing matches `locator` any more: the page re-renders after a fetch.
async fn wait_until_gone(client: &Client, locator: Locator<'_>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.find(locator).await.is_ok() {
        assert!(Instant::now() < deadline, "{what} stays on the page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The logins of the rows the page shows under `css` (each row names its login in
/// `data-login`), sorted.
async fn logins_listed(client: &Client, css: &str) -> Vec<String> {
    let mut logins = Vec::new();
    for row in client.find_all(Locator::Css(css)).await.unwrap() {
        logins.push(row.attr("data-login").await.unwrap().unwrap_or_default());
    }
    logins.sort();
    logins
}

/// Opens the page, clicks its Connect link (there is one provider, so one link), suggesting
/// the account `login` under Options if given, then Allow on the provider's page, and
/// returns the access token the page shows once back.
async fn connect_through_the_page(
    client: &Client,
    backend: &Backend,
    login: Option<&str>,
) -> String {
    client.goto(&backend.url("/")).await.unwrap();
    let connect = client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::LinkText("Connect"))
        .await
        .unwrap();
    connect_with(client, connect, login).await.token
}

/// What a person saw while connecting: where the provider's consent page was, and the
/// access token the page showed once back.
struct Connected {
    /// The origin (scheme, host and port) of the page with Allow on it.
    consent_origin: String,
    token: String,
}

/// Clicks `connect` (a Connect link on the page), first typing `login` as the account to
/// suggest into the Options folded under that link, then Allow on the provider's page.
async fn connect_with(client: &Client, connect: Element, login: Option<&str>) -> Connected {
    if let Some(login) = login {
        let options = connect
            .find(Locator::XPath("following-sibling::details[1]"))
            .await
            .expect("the Connect link is followed by its Options");
        // This browser remembers Options left open at the last visit.
        if options.attr("open").await.unwrap().is_none() {
            options
                .find(Locator::XPath("summary[normalize-space()='Options']"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
        let label = options
            .find(Locator::XPath(
                ".//label[normalize-space()='Account (optional)']",
            ))
            .await
            .expect("the Options have an account field");
        let field_id = label.attr("for").await.unwrap().expect("a labelled field");
        let field = client.find(Locator::Id(&field_id)).await.unwrap();
        // The field keeps what this browser typed there last time.
        field.clear().await.unwrap();
        field.send_keys(login).await.unwrap();
    }
    connect.click().await.unwrap();
    let allow = client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath("//button[normalize-space()='Allow']"))
        .await
        .unwrap();
    let consent_origin = client
        .current_url()
        .await
        .unwrap()
        .origin()
        .ascii_serialization();
    if let Some(login) = login {
        assert!(
            client
                .find(Locator::XPath(&format!(
                    "//p[normalize-space()='Account: {login}']"
                )))
                .await
                .is_ok(),
            "the provider's page names the account {login:?} typed under Options"
        );
    }
    allow.click().await.unwrap();
    let token = text_of(client, Locator::Css("[data-testid=access-token]")).await;
    assert!(
        token.starts_with("y0_SANDBOX"),
        "the token card shows {token:?}"
    );
    Connected {
        consent_origin,
        token,
    }
}

/// The `Cookie` header that sends `cookies` back, as a person who copied them out of
/// their browser would send them.
fn cookie_header(cookies: &[fantoccini::cookies::Cookie<'static>]) -> String {
    cookies
        .iter()
        .map(|cookie| format!("{}={}", cookie.name(), cookie.value()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The JSON `/api/session` answers a plain HTTP client that sends `cookies`.
async fn session_with_cookies(backend: &Backend, cookies: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(backend.url(routes::SESSION))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_people_at_a_provider_without_user_info_never_receive_each_others_token() {
    // Arrange: one tokenbridge only plays the provider, through its sandbox, and sends the
    // browser back to the other: the app both people use, which knows the provider only
    // as a custom OAuth 2.0 server without a user-info endpoint.
    let (provider_listener, app_listener) = (bind().await, bind().await);
    let app_addr = app_listener.local_addr().unwrap();
    let recorder = Recorder::default();
    let provider = serve_provider_for(app_addr, provider_listener, recorder.clone()).await;
    let app_data = Arc::new(TempFolder::new("data"));
    let app_settings = Settings {
        provider: Some(ProviderArg::Custom),
        client_id: Some(SANDBOX_CLIENT_ID.into()),
        authorize_url: Some(provider.url(routes::SANDBOX_AUTHORIZE)),
        token_url: Some(provider.url(routes::SANDBOX_TOKEN)),
        ..sandbox_settings(app_addr, &app_data)
    };
    let app = serve(app_listener, app_settings, app_data, recorder.clone()).await;
    let alice = start_browser_as("alice").await;
    let bob = start_browser_as("bob").await;

    // Act: each connects in their own browser; Alice comes back after Bob did.
    let alices_token = connect_through_the_page(&alice.client, &app, None).await;
    let bobs_token = connect_through_the_page(&bob.client, &app, None).await;
    alice.client.refresh().await.unwrap();
    let alice_sees_later = text_of(&alice.client, Locator::Css("[data-testid=access-token]")).await;

    // Assert
    assert_ne!(alices_token, bobs_token);
    assert_eq!(
        alice_sees_later, alices_token,
        "Alice still sees her own token"
    );
    let alices_list = logins_listed(&alice.client, "[data-testid=connection]").await;
    let bobs_list = logins_listed(&bob.client, "[data-testid=connection]").await;
    assert_eq!(alices_list.len(), 1, "Alice's page lists {alices_list:?}");
    assert_eq!(bobs_list.len(), 1, "Bob's page lists {bobs_list:?}");
    assert_ne!(
        alices_list, bobs_list,
        "each sign-in is a connection of its own"
    );
    alice.quit().await;
    bob.quit().await;

    for (person, own, other) in [
        ("alice", &alices_token, &bobs_token),
        ("bob", &bobs_token, &alices_token),
    ] {
        let received = recorder.received_by(person);
        assert!(
            received.iter().any(|sent| sent.contains(own)),
            "{person}'s browser got their own token (so the recorder saw their session)"
        );
        for sent in &received {
            assert!(
                !sent.contains(other),
                "{person}'s browser received the other person's token in a {} response",
                sent.content_type
            );
            assert!(
                !sent.contains(SECRET),
                "{person}'s browser received the client secret"
            );
        }
    }
}

/// The accessible name Chromium computes for `element`: what a screen reader announces.
/// (WebDriver's Get Computed Label, which fantoccini has no call of its own for.)
async fn accessible_name(client: &Client, element: &Element) -> String {
    #[derive(Debug)]
    struct ComputedLabel(String);

    impl WebDriverCompatibleCommand for ComputedLabel {
        fn endpoint(
            &self,
            base_url: &url::Url,
            session_id: Option<&str>,
        ) -> Result<url::Url, url::ParseError> {
            base_url.join(&format!(
                "session/{}/element/{}/computedlabel",
                session_id.unwrap_or_default(),
                self.0
            ))
        }

        fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
            (Method::GET, None)
        }
    }

    let label = client
        .issue_cmd(ComputedLabel(element.element_id().to_string()))
        .await
        .unwrap();
    label.as_str().unwrap().to_owned()
}

/// The Connect link of the provider the page calls `provider`, once it is there.
async fn connect_link(client: &Client, provider: &str) -> Element {
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(&format!(
            "//a[normalize-space()='Connect'][@aria-label='Connect {provider}']"
        )))
        .await
        .unwrap_or_else(|_| panic!("the page has a link Connect {provider}"))
}

/// The login a sandbox's user info gives for `token`, or `None` when that sandbox did not
/// issue it: the call the page offers to show whose token it is.
async fn whose_token_at(sandbox: &Backend, token: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .get(sandbox.url(&format!("{}?format=json", routes::SANDBOX_USER_INFO)))
        .header("authorization", format!("OAuth {token}"))
        .send()
        .await
        .unwrap();
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        return None;
    }
    let info: serde_json::Value = response.error_for_status().unwrap().json().await.unwrap();
    Some(info["login"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_connects_at_two_providers_and_sees_each_connection_under_its_providers_name() {
    // Arrange: the app's providers file lists its own sandbox first, then a plain OAuth 2.0
    // server, "Ads platform", which another tokenbridge plays through its sandbox (sending
    // the browser back to the app). Both know the app by the same client secret.
    let (ads_listener, app_listener) = (bind().await, bind().await);
    let app_addr = app_listener.local_addr().unwrap();
    let recorder = Recorder::default();
    let ads = serve_provider_for(app_addr, ads_listener, recorder.clone()).await;
    let config = TempFolder::new("config");
    let providers_file = config.path().join("providers.toml");
    std::fs::write(
        &providers_file,
        format!(
            r#"[[provider]]
id = "sandbox"
kind = "sandbox"
name = "Sandbox"
client_secret = "{SECRET}"

[[provider]]
id = "ads"
kind = "oauth2"
name = "Ads platform"
authorize_url = "{authorize}"
token_url = "{token}"
userinfo_url = "{userinfo}?format=json"
client_id = "{SANDBOX_CLIENT_ID}"
client_secret = "{SECRET}"
"#,
            authorize = ads.url(routes::SANDBOX_AUTHORIZE),
            token = ads.url(routes::SANDBOX_TOKEN),
            userinfo = ads.url(routes::SANDBOX_USER_INFO),
        ),
    )
    .unwrap();
    let app_data = Arc::new(TempFolder::new("data"));
    let app_settings = Settings {
        config: Some(providers_file),
        ..sandbox_settings(app_addr, &app_data)
    };
    let app = serve(app_listener, app_settings, app_data, recorder.clone()).await;
    let browser = start_browser().await;
    let client = &browser.client;

    // Act: the person opens the page and connects at each provider in turn, as alice.
    client.goto(&app.url("/")).await.unwrap();
    let shown_providers = text_of(client, Locator::Css("header .provider")).await;
    let mut connect_names = Vec::new();
    for link in client
        .find_all(Locator::XPath("//a[normalize-space()='Connect']"))
        .await
        .unwrap()
    {
        connect_names.push(accessible_name(client, &link).await);
    }
    let at_sandbox =
        connect_with(client, connect_link(client, "Sandbox").await, Some("alice")).await;
    let at_ads = connect_with(
        client,
        connect_link(client, "Ads platform").await,
        Some("alice"),
    )
    .await;

    // Assert: two Connect links, named by their providers, in the file's order...
    assert!(
        shown_providers.starts_with("Providers: Sandbox, Ads platform"),
        "{shown_providers}"
    );
    assert_eq!(connect_names, ["Connect Sandbox", "Connect Ads platform"]);
    // ...each led to its own provider's consent page...
    assert_eq!(
        at_sandbox.consent_origin,
        app.url(""),
        "Connect Sandbox leads to the app's own sandbox"
    );
    assert_eq!(
        at_ads.consent_origin,
        ads.url(""),
        "Connect Ads platform leads to the Ads platform"
    );
    // ...and the page now lists a connection under each provider's name.
    assert_eq!(
        text_of(client, Locator::Css("#connections-title")).await,
        "Saved connections"
    );
    let mut groups = Vec::new();
    for group in client
        .find_all(Locator::Css("[data-testid=provider-group]"))
        .await
        .unwrap()
    {
        let name = group.find(Locator::Css("h3")).await.unwrap().text().await;
        let mut logins = Vec::new();
        for row in group
            .find_all(Locator::Css("[data-testid=connection]"))
            .await
            .unwrap()
        {
            logins.push(row.attr("data-login").await.unwrap().unwrap_or_default());
        }
        groups.push((name.unwrap(), logins));
    }
    assert_eq!(
        groups,
        [
            ("Sandbox".to_owned(), vec!["alice".to_owned()]),
            ("Ads platform".to_owned(), vec!["alice".to_owned()]),
        ]
    );
    assert_eq!(
        text_of(client, Locator::Css("[data-testid=access-token]")).await,
        at_ads.token,
        "the token card shows the newest connection's token"
    );
    browser.quit().await;

    let responses = recorder.all();
    for token in [&at_sandbox.token, &at_ads.token] {
        assert!(
            responses.iter().any(|sent| sent.contains(token)),
            "the recorder saw the browser receive {token}"
        );
    }
    for sent in &responses {
        assert!(
            !sent.contains(SECRET),
            "the browser received the client secret in a {} response",
            sent.content_type
        );
    }
    // Each connection holds a token of its own provider: each sandbox knows only its own.
    assert_ne!(at_sandbox.token, at_ads.token);
    assert_eq!(
        whose_token_at(&app, &at_sandbox.token).await.as_deref(),
        Some("alice")
    );
    assert_eq!(whose_token_at(&ads, &at_sandbox.token).await, None);
    assert_eq!(
        whose_token_at(&ads, &at_ads.token).await.as_deref(),
        Some("alice")
    );
    assert_eq!(whose_token_at(&app, &at_ads.token).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_with_default_settings_keeps_the_connection_on_the_page() {
    // Arrange: no cookie key is set, so it is made in the data folder on the first start.
    let backend = spawn_backend().await;
    let browser = start_browser().await;
    let client = &browser.client;
    let token = connect_through_the_page(client, &backend, Some("alice")).await;
    assert!(
        backend.data.path().join("cookie.key").is_file(),
        "the cookie key was written to the data folder"
    );

    // Act: a new server on the same address and data folder; the browser reloads the page.
    let _backend = backend.restart().await;
    client.refresh().await.unwrap();

    // Assert
    assert_eq!(
        text_of(client, Locator::Css("[data-testid=access-token]")).await,
        token,
        "the token card is still there after the restart"
    );
    assert_eq!(
        logins_listed(client, "[data-testid=connection]").await,
        ["alice"]
    );
    client
        .find(Locator::XPath("//button[normalize-space()='Sign out']"))
        .await
        .expect("still signed in after the restart");
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_sign_out_the_cookies_copied_before_it_get_no_token() {
    // Arrange: a sign-in, and a copy of every cookie the browser then holds.
    let backend = spawn_backend().await;
    let browser = start_browser().await;
    let client = &browser.client;
    let token = connect_through_the_page(client, &backend, None).await;
    let copied = client.get_all_cookies().await.unwrap();
    assert!(
        copied.iter().any(|cookie| cookie.name() == "tb_session"),
        "the browser holds a session cookie: {:?}",
        copied.iter().map(|c| c.name()).collect::<Vec<_>>()
    );
    let copied = cookie_header(&copied);
    let before = session_with_cookies(&backend, &copied).await;
    assert_eq!(
        before["token"]["access_token"], token,
        "the copied cookies open the session before sign-out"
    );

    // Act
    click_button(client, "Sign out").await;

    // Assert: the page is back at Connect...
    let notice = text_of(client, Locator::Css("[data-testid=notice]")).await;
    assert!(notice.starts_with("Signed out."), "{notice}");
    wait_until_gone(
        client,
        Locator::Css("[data-testid=access-token]"),
        "the token card",
    )
    .await;
    client.find(Locator::LinkText("Connect")).await.unwrap();
    assert!(
        client
            .find_all(Locator::XPath("//button[normalize-space()='Sign out']"))
            .await
            .unwrap()
            .is_empty(),
        "no Sign out once signed out"
    );
    let left = client.get_all_cookies().await.unwrap();
    assert!(
        !left.iter().any(|cookie| cookie.name() == "tb_session"),
        "the browser's session cookie is gone"
    );
    browser.quit().await;
    // ...and the copy opens nothing.
    let replayed = session_with_cookies(&backend, &copied).await;
    assert_eq!(replayed.get("token"), Some(&json!(null)), "{replayed}");
    assert_eq!(replayed.get("connections"), Some(&json!([])), "{replayed}");
    assert_eq!(replayed.get("signed_in"), Some(&json!(false)), "{replayed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_sees_everyones_connections_and_a_non_operator_only_their_own() {
    // Arrange: three people, each in their own browser; boss is an operator.
    let backend =
        spawn_backend_with(|settings| settings.operators = Some("sandbox:boss".into())).await;
    let alice = start_browser().await;
    connect_through_the_page(&alice.client, &backend, Some("alice")).await;
    let bob = start_browser().await;
    connect_through_the_page(&bob.client, &backend, Some("bob")).await;
    bob.quit().await;
    let boss = start_browser().await;

    // Act
    connect_through_the_page(&boss.client, &backend, Some("boss")).await;
    alice.client.refresh().await.unwrap();

    // Assert: the operator's page has every connection, with a button for each...
    let client = &boss.client;
    assert_eq!(
        text_of(client, Locator::Css("#all-connections-title")).await,
        "All connections"
    );
    assert_eq!(
        logins_listed(client, "[data-testid=operator-connection]").await,
        ["alice", "bob", "boss"]
    );
    for label in [
        "Refresh alice",
        "Disconnect alice",
        "Refresh bob",
        "Disconnect bob",
    ] {
        client
            .find(Locator::Css(&format!(
                "[data-testid=all-connections] button[aria-label='{label}']"
            )))
            .await
            .unwrap_or_else(|_| panic!("the operator has a button {label:?}"));
    }
    assert_eq!(
        logins_listed(client, "[data-testid=connection]").await,
        ["boss"],
        "the operator's own list is theirs"
    );
    boss.quit().await;
    // ...and Alice's has hers alone.
    let client = &alice.client;
    text_of(client, Locator::Css("[data-testid=access-token]")).await;
    assert_eq!(
        logins_listed(client, "[data-testid=connection]").await,
        ["alice"]
    );
    assert!(
        client
            .find_all(Locator::Css("[data-testid=all-connections]"))
            .await
            .unwrap()
            .is_empty(),
        "a non-operator has no All connections section"
    );
    assert!(!client.source().await.unwrap().contains("All connections"));
    alice.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_allow_and_see_the_token_without_the_secret_ever_reaching_the_browser() {
    let backend = spawn_backend().await;
    let browser = start_browser().await;
    let client = &browser.client;

    client.goto(&backend.url("/")).await.unwrap();
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

    let refresh_token = refresh_token_held(&backend.state).await;

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
    browser.quit().await;

    let responses = backend.recorder.all();
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
            assert!(
                !sent.contains(secret),
                "the {name} was sent to the browser in a {} response",
                sent.content_type
            );
        }
    }
}

/// The refresh token the server keeps for the connection just made.
async fn refresh_token_held(state: &AppState) -> String {
    // The lists leave refresh tokens sealed; one connection read by its id opens both.
    let listed = state.connections.all().await.unwrap();
    let connection = state
        .connections
        .find(&listed[0].id)
        .await
        .unwrap()
        .expect("the connection just made");
    let refresh_token = connection
        .refresh_token
        .as_ref()
        .expect("the sandbox issued a refresh token");
    assert!(refresh_token.secret().len() > 20);
    refresh_token.secret().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn deny_shows_why_and_a_way_to_start_again() {
    let backend = spawn_backend().await;
    let browser = start_browser().await;
    let client = &browser.client;

    client.goto(&backend.url("/")).await.unwrap();
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
    browser.quit().await;
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
    let backend = spawn_backend().await;
    let browser = start_browser_with(words.lang, size).await;
    let client = &browser.client;

    client.goto(&backend.url("/")).await.unwrap();
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
    browser.quit().await;
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
