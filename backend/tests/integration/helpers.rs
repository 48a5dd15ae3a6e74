//! `spawn_app` and the steps of a sign-in, as a browser would take them.

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use axum_extra::extract::{PrivateCookieJar, cookie::Key};
use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::{StatusCode, header};
use tokenbridge::{
    AppState, app,
    config::{Config, Settings},
};
use tokenbridge_shared::{ErrorCode, FlowOutcome, SessionView};
use url::Url;

pub const CLIENT_SECRET: &str = "test-client-secret-0123456789";

#[derive(Clone)]
pub struct TestApp {
    pub base: Url,
    /// A browser: keeps cookies, does not follow redirects (each step is checked).
    pub browser: reqwest::Client,
    pub cookie_key: Key,
    /// The running app's state: its store and its sandbox.
    pub state: AppState,
}

/// Starts the app in sandbox mode.
pub async fn spawn_sandbox() -> TestApp {
    spawn_app(Settings::default(), |_| {}).await
}

/// Starts the app on 127.0.0.1:0 with `settings` (its public URL set to the bound address)
/// and `adjust` applied to the resolved configuration.
pub async fn spawn_app(mut settings: Settings, adjust: impl FnOnce(&mut Config)) -> TestApp {
    init_logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let key_bytes: Vec<u8> = match &settings.cookie_key {
        Some(given) => STANDARD.decode(given.expose()).unwrap(),
        None => (0..64u8)
            .map(|i| i.wrapping_mul(7).wrapping_add(addr.port() as u8))
            .collect(),
    };
    settings.public_url = Some(format!("http://{addr}"));
    // With a data folder and no key, the app makes (or reads) its key file, as by default.
    if settings.data_dir.is_none() || settings.cookie_key.is_some() {
        settings.cookie_key = Some(STANDARD.encode(&key_bytes).into());
    }
    settings
        .client_secret
        .get_or_insert_with(|| CLIENT_SECRET.into());
    settings
        .dist
        .get_or_insert_with(|| std::env::temp_dir().join("tokenbridge-no-dist"));
    settings.database_url.get_or_insert_with(|| {
        format!(
            "sqlite://{}",
            scratch_dir().join("tokenbridge.db").display()
        )
        .into()
    });
    settings
        .store_key
        .get_or_insert_with(|| STANDARD.encode([7u8; 32]).into());
    // Tests sign in far faster than a person; the limits' own tests turn them on.
    settings.signin_rate.get_or_insert(0);
    settings.api_rate.get_or_insert(0);
    let mut config = Config::resolve(settings).expect("test configuration is valid");
    adjust(&mut config);
    let state = AppState::new(config, addr).await.unwrap();
    let serving = state.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app(serving).into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    TestApp {
        base: Url::parse(&format!("http://{addr}")).unwrap(),
        browser: browser(),
        cookie_key: state.cookie_key.clone(),
        state,
    }
}

/// Settings for a provider of `kind` played by a wiremock server: its authorize and token
/// endpoints at /authorize and /token, and, where given, user info and revocation paths.
pub fn played_by(
    provider: &wiremock::MockServer,
    kind: tokenbridge::config::ProviderArg,
    client_id: &str,
    userinfo: Option<&str>,
    revoke: Option<&str>,
) -> Settings {
    let at = |path: &str| Some(format!("{}{path}", provider.uri()));
    Settings {
        provider: Some(kind),
        client_id: Some(client_id.into()),
        authorize_url: at("/authorize"),
        token_url: at("/token"),
        userinfo_url: userinfo.and_then(at),
        revoke_url: revoke.and_then(at),
        ..Settings::default()
    }
}

/// A trunk-like dist folder with these files in it.
pub fn dist_with(files: &[(&str, &str)]) -> std::path::PathBuf {
    let dist = scratch_dir();
    for (name, content) in files {
        std::fs::write(dist.join(name), content).unwrap();
    }
    dist
}

/// What a complete sign-in handled that must never show anywhere: the code and the verifier.
pub struct SignInSecrets {
    pub code: String,
    pub verifier: String,
    /// The callback's answer, with its cookies.
    pub finished: reqwest::Response,
}

impl TestApp {
    /// Login (with `query`) → Allow → callback, keeping what only the server should know.
    pub async fn sign_in_keeping_secrets(&self, query: &str) -> SignInSecrets {
        let login = self
            .browser
            .get(self.url(&format!("/auth/login{query}")))
            .send()
            .await
            .unwrap();
        let verifier = self.verifier(&login);
        let callback = self.decide(&location(&login), "allow").await;
        let code = query_param(&callback, "code").unwrap();
        let finished = self.callback(&callback).await;
        SignInSecrets {
            code,
            verifier,
            finished,
        }
    }
}

/// A new, empty folder for one test's files. Nothing removes it while the tests run (the app
/// and its database may outlive the test that made them), so the first call of a run removes
/// what earlier runs left: such folders of other processes, untouched for an hour.
pub fn scratch_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(|| remove_earlier_runs_folders("tokenbridge-test-"));
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("tokenbridge-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The URL of a SQLite file in a fresh [`scratch_dir`], for apps (or other processes) to share.
pub fn scratch_database() -> String {
    format!(
        "sqlite://{}",
        scratch_dir().join("tokenbridge.db").display()
    )
}

/// Removes the folders named `prefix…` in the temp dir that are not this process's and that
/// nothing has changed for an hour.
fn remove_earlier_runs_folders(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let own = format!("{prefix}{}-", std::process::id());
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let idle_an_hour = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|idle| idle > std::time::Duration::from_secs(3600));
        if name.starts_with(prefix) && !name.starts_with(&own) && idle_an_hour {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl TestApp {
    /// The same app, seen from another browser.
    pub fn other_browser(&self) -> TestApp {
        TestApp {
            browser: browser(),
            ..self.clone()
        }
    }

    /// How many requests the sandbox's token endpoint has answered.
    pub fn token_calls(&self) -> u64 {
        self.state
            .sandbox
            .as_ref()
            .expect("a sandbox")
            .token_calls()
    }

    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    /// GET /auth/login; returns the provider's authorize URL.
    pub async fn login(&self, query: &str) -> String {
        let response = self
            .browser
            .get(self.url(&format!("/auth/login{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login redirects");
        location(&response)
    }

    /// Clicks Allow or Deny on the sandbox page; returns the callback URL the sandbox sends back to.
    pub async fn decide(&self, authorize_url: &str, decision: &str) -> String {
        let page = self.browser.get(authorize_url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(
            html.contains(&format!("value=\"{decision}\"")),
            "the page offers {decision}"
        );
        let mut form: Vec<(String, String)> = Url::parse(authorize_url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        form.push(("decision".into(), decision.into()));
        let response = self
            .browser
            .post(self.url("/sandbox/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "the decision redirects back"
        );
        location(&response)
    }

    /// Follows the provider's redirect to the callback; returns where the callback sends the browser.
    pub async fn callback(&self, callback_url: &str) -> reqwest::Response {
        let response = self.browser.get(callback_url).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "the callback redirects home"
        );
        response
    }

    /// Follows a callback link that matches none of this browser's sign-ins: a page of its
    /// own answers, and no cookie is touched. Returns the code the page names.
    pub async fn refused_callback(&self, callback_url: &str) -> ErrorCode {
        let response = self.browser.get(callback_url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(
            set_cookies(&response).is_empty(),
            "an unmatched callback sets no cookie: {:?}",
            set_cookies(&response)
        );
        let html = response.text().await.unwrap();
        let code = html
            .split("<code>")
            .nth(1)
            .and_then(|rest| rest.split("</code>").next())
            .unwrap_or_else(|| panic!("the page names its code: {html}"));
        ErrorCode::parse(code).unwrap()
    }

    pub async fn session(&self) -> SessionView {
        let response = self
            .browser
            .get(self.url("/api/session"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Starts a sign-in and comes back as a provider would, with `code` and the sign-in's state.
    pub async fn return_with_code(&self, query: &str, code: &str) -> reqwest::Response {
        let authorize = self.login(query).await;
        let state = query_param(&authorize, "state").unwrap();
        self.callback(&format!(
            "{}auth/callback?code={code}&state={state}",
            self.base
        ))
        .await
    }

    /// Login → Allow → callback, and the session afterwards.
    pub async fn connect(&self) -> SessionView {
        let authorize = self.login("").await;
        let callback = self.decide(&authorize, "allow").await;
        self.callback(&callback).await;
        self.session().await
    }

    /// Login (as `login`, where the provider takes a hint) → Allow → callback, and the session afterwards.
    pub async fn connect_as(&self, login: &str) -> SessionView {
        let authorize = self.login(&format!("?login_hint={login}")).await;
        let callback = self.decide(&authorize, "allow").await;
        self.callback(&callback).await;
        let session = self.session().await;
        assert_eq!(session.outcome, Some(FlowOutcome::Connected));
        session
    }

    /// Clicks Sign out.
    pub async fn logout(&self) -> reqwest::Response {
        let response = self
            .browser
            .post(self.url("/auth/logout"))
            .header("x-tokenbridge", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        response
    }

    /// `GET /api/session` from a bare client that sends exactly `cookie` (copied cookies).
    pub async fn session_with_cookies(&self, cookie: &str) -> SessionView {
        let response = reqwest::Client::new()
            .get(self.url("/api/session"))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Clicks an operator's Refresh or Disconnect on any connection.
    pub async fn operator_call(&self, method: reqwest::Method, id: &str) -> reqwest::Response {
        let path = match method {
            reqwest::Method::POST => format!("/api/operator/connections/{id}/refresh"),
            _ => format!("/api/operator/connections/{id}"),
        };
        self.browser
            .request(method, self.url(&path))
            .header("x-tokenbridge", "1")
            .send()
            .await
            .unwrap()
    }

    /// Clicks Refresh on one of this browser's connections.
    pub async fn refresh(&self, id: &str) -> reqwest::Response {
        let url = self.url(&format!("/api/connections/{id}/refresh"));
        self.browser
            .post(url)
            .header("x-tokenbridge", "1")
            .send()
            .await
            .unwrap()
    }

    /// Clicks Disconnect on one of this browser's connections.
    pub async fn disconnect(&self, id: &str) -> reqwest::Response {
        let url = self.url(&format!("/api/connections/{id}"));
        self.browser
            .delete(url)
            .header("x-tokenbridge", "1")
            .send()
            .await
            .unwrap()
    }

    /// Decrypts one of this browser's sealed cookies, as only the server can.
    /// `name` may end with `*` to take the first cookie whose name starts with the rest.
    pub fn open_cookie(&self, set_cookie_values: &[String], name: &str) -> Option<String> {
        let mut headers = reqwest::header::HeaderMap::new();
        for value in set_cookie_values {
            let pair = value.split(';').next().unwrap();
            headers.append(header::COOKIE, pair.parse().unwrap());
        }
        let jar = PrivateCookieJar::from_headers(&headers, self.cookie_key.clone());
        let found = match name.strip_suffix('*') {
            Some(prefix) => jar.iter().find(|c| c.name().starts_with(prefix)),
            None => jar.get(name),
        };
        found.map(|c| c.value().to_owned())
    }

    /// The PKCE verifier sealed in the flow cookie that `login` set.
    pub fn verifier(&self, login: &reqwest::Response) -> String {
        let transaction = self
            .open_cookie(&set_cookies(login), "tb_flow_*")
            .expect("a flow cookie");
        let transaction: serde_json::Value = serde_json::from_str(&transaction).unwrap();
        transaction["verifier"].as_str().unwrap().to_owned()
    }
}

/// A `Cookie` header carrying what these `Set-Cookie` values set (removals left out):
/// a copy of the browser's cookies, as a thief or a backup would have it.
pub fn cookie_header(set_cookie_values: &[String]) -> String {
    set_cookie_values
        .iter()
        .filter(|v| !v.contains("Max-Age=0"))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

pub fn failed_with(session: &SessionView) -> ErrorCode {
    match &session.outcome {
        Some(FlowOutcome::Failed(error)) => error.code,
        other => panic!("expected a failed sign-in, got {other:?}"),
    }
}

/// Every log line of this test binary, at trace level, kept in memory.
pub fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(Default::default)
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log_buffer().lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
    });
}

/// The sandbox account a token belongs to, from its user-info endpoint.
pub async fn account_of(app: &TestApp, access_token: &str) -> String {
    let info: serde_json::Value = reqwest::Client::new()
        .get(app.url("/sandbox/info?format=json"))
        .header(header::AUTHORIZATION, format!("OAuth {access_token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    info["login"].as_str().unwrap_or_default().to_owned()
}

/// A provider's answer with a JSON body.
pub fn json_response(status: u16, body: &str) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(status)
        .set_body_raw(body.as_bytes().to_vec(), "application/json")
}

/// `provider`'s user info, at /info: the account 42, carol.
pub async fn answers_carol_at_info(provider: &wiremock::MockServer) {
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/info"))
        .respond_with(json_response(200, r#"{"id":"42","login":"carol"}"#))
        .mount(provider)
        .await;
}

/// `provider`'s token endpoint, given the code `2` (a second sign-in) and ahead of any other
/// answer: `token` (good for an hour), after `delay`; asked once, or the test fails.
pub async fn answers_code_2_after(provider: &wiremock::MockServer, token: &str, delay: Duration) {
    use wiremock::matchers::{body_string_contains, method, path};
    wiremock::Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("&code=2&"))
        .respond_with(
            json_response(
                200,
                &format!(r#"{{"access_token":"{token}","token_type":"bearer","expires_in":3600}}"#),
            )
            .set_delay(delay),
        )
        .with_priority(1)
        .expect(1)
        .mount(provider)
        .await;
}

/// Starts a new sign-in in `app`'s browser and spawns its callback with the code `2`; the handle
/// yields the callback's response.
pub async fn returning_with_code_2(app: &TestApp) -> tokio::task::JoinHandle<reqwest::Response> {
    let authorize = app.login("").await;
    let state = query_param(&authorize, "state").unwrap();
    let (app, url) = (
        app.clone(),
        app.url(&format!("/auth/callback?code=2&state={state}")),
    );
    tokio::spawn(async move { app.callback(url.as_str()).await })
}

/// Asserts that the browser of `app` is still signed in, and sees the connection `id` alone.
pub async fn still_signed_in_seeing(app: &TestApp, id: &str) {
    let session = app.session().await;
    assert_eq!(
        session
            .connections
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        [id],
        "the browser is still signed in, and sees the connection"
    );
}

/// Polls the store until the connection `id` holds `access_token` (a refresh or sign-in saved
/// after its request ended), for up to five seconds.
pub async fn saved_with(
    app: &TestApp,
    id: &str,
    access_token: &str,
) -> Option<tokenbridge::store::Connection> {
    for _ in 0..50 {
        let stored = app.state.connections.find(id).await.unwrap().unwrap();
        if stored.access_token.secret() == access_token {
            return Some(stored);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// `provider`'s revocation endpoint, at /revoke, which takes any token.
pub async fn revokes_anything(provider: &wiremock::MockServer) {
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/revoke"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(provider)
        .await;
}

/// The form field `name` of a request `provider` received, if it has one.
pub fn form_field(request: &wiremock::Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(&request.body)
        .find(|(field, _)| field == name)
        .map(|(_, value)| value.into_owned())
}

/// The tokens `provider`'s revocation endpoint (`/revoke`) was sent, in order.
pub async fn revoked_tokens(provider: &wiremock::MockServer) -> Vec<String> {
    let requests = provider.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter(|r| r.url.path() == "/revoke")
        .filter_map(|r| form_field(r, "token"))
        .collect()
}

/// `provider`'s token endpoint, given a code: `at-1`, expiring within the refresh margin, and
/// the refresh token `rt-1`.
pub async fn gives_at_1_and_rt_1_for_a_code(provider: &wiremock::MockServer) {
    use wiremock::matchers::{body_string_contains, method, path};
    wiremock::Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(json_response(200, r#"{"access_token":"at-1","token_type":"bearer","expires_in":60,"refresh_token":"rt-1"}"#))
        .mount(provider)
        .await;
}

/// `provider`'s token endpoint, given the code `2` (a second sign-in), ahead of any other
/// answer: `at-3` and `rt-3`, for the scope `read write`.
pub async fn gives_at_3_and_rt_3_for_code_2(provider: &wiremock::MockServer) {
    use wiremock::matchers::{body_string_contains, method, path};
    wiremock::Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("&code=2&"))
        .respond_with(json_response(200, r#"{"access_token":"at-3","token_type":"bearer","expires_in":3600,"refresh_token":"rt-3","scope":"read write"}"#))
        .with_priority(1)
        .mount(provider)
        .await;
}

/// A provider that rotates refresh tokens: a code gives `at-1` (expiring within the refresh
/// margin) and `rt-1`; `rt-1`, once and after `refresh_delay`, gives `at-2` and `rt-2`. Its
/// user info says `carol`.
pub async fn rotating_slowly(refresh_delay: Duration) -> wiremock::MockServer {
    use wiremock::{
        Mock,
        matchers::{body_string_contains, method, path},
    };
    let provider = wiremock::MockServer::start().await;
    gives_at_1_and_rt_1_for_a_code(&provider).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(
            json_response(
                200,
                r#"{"access_token":"at-2","token_type":"bearer","expires_in":3600,"refresh_token":"rt-2"}"#,
            )
            .set_delay(refresh_delay),
        )
        .expect(1)
        .mount(&provider)
        .await;
    answers_carol_at_info(&provider).await;
    provider
}

/// How many refresh-token grants `provider` was sent.
pub async fn refreshes(provider: &wiremock::MockServer) -> usize {
    provider
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("grant_type=refresh_token"))
        .count()
}

/// A script that reads `login`'s token, which refreshes it, and gives up (its request dropped,
/// its connection closed) once `provider` has the refresh request.
pub async fn gives_up_while_refreshing(
    app: &TestApp,
    provider: &wiremock::MockServer,
    login: &str,
) {
    let reading = {
        let url = app.url(&format!("/api/v1/connections/{login}/token"));
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(crate::connections::API_KEY)
                .send()
                .await
        })
    };
    for _ in 0..400 {
        if refreshes(provider).await > 0 {
            assert!(!reading.is_finished(), "the read waits for the provider");
            reading.abort();
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the provider was never asked to refresh");
}
