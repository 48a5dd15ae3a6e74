//! Hostile input, table-driven: every route that takes input, fed what an
//! attacker or a broken client sends. Each case names the status and error
//! code it must get; none may get a 5xx, a panic, a stack trace, or its input
//! echoed unescaped into HTML.

use std::{
    io::{Read, Write},
    net::TcpStream,
};

use reqwest::{Method, header};
use serde_json::Value;
use tokenbridge::config::Settings;
use tokenbridge_shared::{ErrorCode, FlowOutcome};

use crate::connections::API_KEY;
use crate::helpers::*;

const XSS: &str = "<script>alert('tb-xss')</script>";
const XSS_Q: &str = "%3Cscript%3Ealert('tb-xss')%3C%2Fscript%3E";

/// What a case must get back.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Our JSON error body with this status and code.
    Api(u16, ErrorCode),
    /// A Yandex-shaped error from the sandbox: status and `error`.
    Yandex(u16, &'static str),
    /// The callback: 303 to `/`, and this outcome sealed for the page.
    Outcome(ErrorCode),
    /// A callback that matches none of this browser's sign-ins: an HTML 400 naming
    /// this code, and no cookie set (nothing forged reaches the page).
    Refused(ErrorCode),
    /// A redirect (login to the provider, or the sandbox back to the callback).
    Redirect(u16),
    /// An HTML page with this status.
    Html(u16),
    /// A plain success with this status.
    Status(u16),
}

/// What the browser brings to the request.
#[derive(Debug, Clone, Copy)]
enum Prep {
    /// A new browser with no cookies.
    Fresh,
    /// A browser that has started a sign-in and clicked Allow: `{state}` and `{code}` are its own.
    Flow,
    /// The flow's cookie with one byte of its sealed value changed.
    TamperedFlow,
    /// A flow cookie sealed by another tokenbridge (another key).
    ForeignKeyFlow,
    /// A connected browser's session cookie (of the sandbox's account `hostile`).
    Session,
    /// A connected browser's session cookie, tampered with.
    TamperedSession,
    /// A session cookie sealed by another tokenbridge.
    ForeignKeySession,
}

struct Case {
    name: &'static str,
    method: Method,
    target: String,
    prep: Prep,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    expect: Expect,
}

fn case(
    name: &'static str,
    method: Method,
    target: impl Into<String>,
    prep: Prep,
    expect: Expect,
) -> Case {
    Case {
        name,
        method,
        target: target.into(),
        prep,
        headers: Vec::new(),
        body: None,
        expect,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }
    fn form(self, body: impl Into<Vec<u8>>) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

fn big(n: usize) -> String {
    "x".repeat(n)
}

fn nested_json(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn cases() -> Vec<Case> {
    use Expect::*;
    use Prep::*;
    let get = Method::GET;
    let post = Method::POST;
    let k100 = 100 * 1024;
    // Past 64 KB a request line is refused by the HTTP layer (414) before any handler sees it.
    let k50 = 50 * 1024;
    let good_token_form =
        "grant_type=authorization_code&client_id=tokenbridge-sandbox&client_secret=".to_owned()
            + CLIENT_SECRET;
    vec![
        // /auth/login
        case("login with nothing", get.clone(), "/auth/login", Fresh, Redirect(303)),
        case("login with empty values", get.clone(), "/auth/login?scope=&login_hint=&force_confirm=", Fresh, Redirect(303)),
        case("login with unknown parameters", get.clone(), "/auth/login?foo=bar&iss=x", Fresh, Redirect(303)),
        case("login with a duplicated scope", get.clone(), "/auth/login?scope=a&scope=b", Fresh, Api(400, ErrorCode::BadRequest)),
        case("login with a duplicated login_hint", get.clone(), "/auth/login?login_hint=a&login_hint=b", Fresh, Api(400, ErrorCode::BadRequest)),
        case("login with a duplicated force_confirm", get.clone(), "/auth/login?force_confirm=yes&force_confirm=no", Fresh, Api(400, ErrorCode::BadRequest)),
        case("login with force_confirm=maybe", get.clone(), "/auth/login?force_confirm=maybe", Fresh, Api(400, ErrorCode::BadRequest)),
        case("login with a 100 KB login_hint", get.clone(), format!("/auth/login?login_hint={}", big(k100)), Fresh, Status(414)),
        case("login with a 50 KB login_hint", get.clone(), format!("/auth/login?login_hint={}", big(k50)), Fresh, Api(400, ErrorCode::BadRequest)),
        case("login with a 100 KB scope", get.clone(), format!("/auth/login?scope={}", big(k100)), Fresh, Status(414)),
        case("login with a 50 KB scope", get.clone(), format!("/auth/login?scope={}", big(k50)), Fresh, Api(400, ErrorCode::BadRequest)),
        case("login with 50 KB of other parameters", get.clone(), format!("/auth/login?junk={}", big(k50)), Fresh, Redirect(303)),
        case("login with a non-UTF-8 login_hint", get.clone(), "/auth/login?login_hint=%FF%FE%FD", Fresh, Redirect(303)),
        case("login with script in login_hint", get.clone(), format!("/auth/login?login_hint={XSS_Q}"), Fresh, Redirect(303)),
        case("login with a NUL in device_name", get.clone(), "/auth/login?device_name=%00x", Fresh, Api(400, ErrorCode::BadRequest)),
        case("login with a control character in the scope", get.clone(), "/auth/login?scope=read%01", Fresh, Api(400, ErrorCode::BadRequest)),
        case("login with a NUL in optional_scope", get.clone(), "/auth/login?optional_scope=a%00b", Fresh, Api(400, ErrorCode::BadRequest)),
        case("login with a NUL in login_hint", get.clone(), "/auth/login?login_hint=pat%00", Fresh, Api(400, ErrorCode::BadRequest)),
        case("login with a tab and a newline in the scope", get.clone(), "/auth/login?scope=read%09write%0A", Fresh, Redirect(303)),
        case("login with a tab in the device name", get.clone(), "/auth/login?device_name=my%09laptop", Fresh, Api(400, ErrorCode::BadRequest)),
        case("login by POST", post.clone(), "/auth/login", Fresh, Api(405, ErrorCode::MethodNotAllowed)),
        case("login by PUT", Method::PUT, "/auth/login", Fresh, Api(405, ErrorCode::MethodNotAllowed)),
        case("login by DELETE", Method::DELETE, "/auth/login", Fresh, Api(405, ErrorCode::MethodNotAllowed)),
        // /auth/callback
        case("callback with nothing", get.clone(), "/auth/callback", Fresh, Refused(ErrorCode::StateMissing)),
        case("callback with a state but no sign-in", get.clone(), "/auth/callback?state=abc&code=1234567", Fresh, Refused(ErrorCode::StateMissing)),
        case("callback with 100 KB of junk", get.clone(), format!("/auth/callback?junk={}", big(k100)), Fresh, Status(414)),
        case("callback with 50 KB of junk and no sign-in", get.clone(), format!("/auth/callback?junk={}", big(k50)), Fresh, Refused(ErrorCode::StateMissing)),
        case("callback with a short state", get.clone(), "/auth/callback?state=abc&code={code}", Flow, Refused(ErrorCode::StateMismatch)),
        case("callback with a state of the wrong alphabet", get.clone(), "/auth/callback?state=%21%21%21%21%24%24%24%24%25%25%25&code={code}", Flow, Refused(ErrorCode::StateMismatch)),
        case("callback with a 50 KB state", get.clone(), format!("/auth/callback?state={}&code={{code}}", big(k50)), Flow, Refused(ErrorCode::StateMismatch)),
        case("callback with a non-UTF-8 state", get.clone(), "/auth/callback?state=%FF%FE&code={code}", Flow, Refused(ErrorCode::StateMismatch)),
        case("callback with an empty state", get.clone(), "/auth/callback?state=&code={code}", Flow, Refused(ErrorCode::InvalidCallback)),
        case("callback with the state twice", get.clone(), "/auth/callback?state={state}&state={state}&code={code}", Flow, Refused(ErrorCode::InvalidCallback)),
        case("callback with the code twice", get.clone(), "/auth/callback?state={state}&code={code}&code={code}", Flow, Outcome(ErrorCode::InvalidCallback)),
        case("callback with no code", get.clone(), "/auth/callback?state={state}", Flow, Outcome(ErrorCode::InvalidCallback)),
        case("callback with a 100 KB code", get.clone(), format!("/auth/callback?state={{state}}&code={}", big(k100)), Flow, Status(414)),
        case("callback with a 50 KB code", get.clone(), format!("/auth/callback?state={{state}}&code={}", big(k50)), Flow, Outcome(ErrorCode::InvalidCallback)),
        case("callback with a made-up code", get.clone(), "/auth/callback?state={state}&code=0000000", Flow, Outcome(ErrorCode::CodeRejected)),
        case("callback with a non-UTF-8 code", get.clone(), "/auth/callback?state={state}&code=%FF%FE", Flow, Outcome(ErrorCode::CodeRejected)),
        case("callback with access_denied", get.clone(), "/auth/callback?state={state}&error=access_denied", Flow, Outcome(ErrorCode::AccessDenied)),
        case("callback with a script as the error", get.clone(), format!("/auth/callback?state={{state}}&error={XSS_Q}&error_description={XSS_Q}"), Flow, Outcome(ErrorCode::AuthorizationFailed)),
        case("callback with a 50 KB error_description", get.clone(), format!("/auth/callback?state={{state}}&error=invalid_scope&error_description={}", big(k50)), Flow, Outcome(ErrorCode::AuthorizationFailed)),
        case("callback with the error twice", get.clone(), "/auth/callback?state={state}&error=a&error=b", Flow, Outcome(ErrorCode::InvalidCallback)),
        case("callback with a tampered flow cookie", get.clone(), "/auth/callback?state={state}&code={code}", TamperedFlow, Refused(ErrorCode::StateMissing)),
        case("callback with a flow cookie sealed by another key", get.clone(), "/auth/callback?state={state}&code={code}", ForeignKeyFlow, Refused(ErrorCode::StateMissing)),
        case("callback by POST", post.clone(), "/auth/callback?state={state}&code={code}", Flow, Api(405, ErrorCode::MethodNotAllowed)),
        // /auth/logout
        case("logout without the app header", post.clone(), "/auth/logout", Fresh, Api(403, ErrorCode::CsrfRejected)),
        case("logout as a cross-site form", post.clone(), "/auth/logout", Fresh, Api(403, ErrorCode::CsrfRejected))
            .header("origin", "https://evil.example").form("a=b"),
        case("logout with malformed JSON", post.clone(), "/auth/logout", Fresh, Status(204))
            .header("x-tokenbridge", "1").header("content-type", "application/json").body("{\"a\":"),
        case("logout with deeply nested JSON", post.clone(), "/auth/logout", Fresh, Status(204))
            .header("x-tokenbridge", "1").header("content-type", "application/json").body(nested_json(10_000)),
        case("logout with JSON of the wrong type", post.clone(), "/auth/logout", Fresh, Status(204))
            .header("x-tokenbridge", "1").header("content-type", "application/json").body("[1,2,3]"),
        case("logout by GET", get.clone(), "/auth/logout", Fresh, Api(405, ErrorCode::MethodNotAllowed)),
        case("an unknown auth route", get.clone(), "/auth/nothing", Fresh, Api(404, ErrorCode::NotFound)),
        // /api/*
        case("session with junk parameters", get.clone(), format!("/api/session?x={XSS_Q}"), Fresh, Status(200)),
        case("session with a tampered session cookie", get.clone(), "/api/session", TamperedSession, Status(200)),
        case("session with a session cookie sealed by another key", get.clone(), "/api/session", ForeignKeySession, Status(200)),
        case("session with a garbage cookie", get.clone(), "/api/session", Fresh, Status(200))
            .header("cookie", "tb_session=%%%; tb_flow_0000=garbage; =; ;;; tb_outcome={}"),
        case("session by POST with huge JSON", post.clone(), "/api/session", Fresh, Api(405, ErrorCode::MethodNotAllowed))
            .header("content-type", "application/json").body(big(k100)),
        case("session by DELETE", Method::DELETE, "/api/session", Fresh, Api(405, ErrorCode::MethodNotAllowed)),
        case("an unknown API route", get.clone(), "/api/nothing", Fresh, Api(404, ErrorCode::NotFound)),
        case("refresh of a connection named with a NUL", post.clone(), "/api/connections/%00/refresh", Session, Api(404, ErrorCode::ConnectionNotFound))
            .header("x-tokenbridge", "1"),
        case("disconnect of a connection named with a NUL", Method::DELETE, "/api/connections/a%00b", Session, Api(404, ErrorCode::ConnectionNotFound))
            .header("x-tokenbridge", "1"),
        case("refresh of a connection named with 50 KB", post.clone(), format!("/api/connections/{}/refresh", big(k50)), Session, Api(404, ErrorCode::ConnectionNotFound))
            .header("x-tokenbridge", "1"),
        case("a script's token for a login with a NUL", get.clone(), "/api/v1/connections/%00/token", Fresh, Api(404, ErrorCode::ConnectionNotFound))
            .header("authorization", format!("Bearer {API_KEY}")),
        case("a script's token for a login of 50 KB", get.clone(), format!("/api/v1/connections/{}/token", big(k50)), Fresh, Api(404, ErrorCode::ConnectionNotFound))
            .header("authorization", format!("Bearer {API_KEY}")),
        case("the scripts' list by POST with JSON", post.clone(), "/api/v1/connections", Fresh, Api(405, ErrorCode::MethodNotAllowed))
            .header("content-type", "application/json").body(nested_json(100)),
        case("an unknown API route by POST with JSON", post.clone(), "/api/v2/things", Fresh, Api(404, ErrorCode::NotFound))
            .header("content-type", "application/json").body(nested_json(100)),
        case("health by POST", post.clone(), "/healthz", Fresh, Api(405, ErrorCode::MethodNotAllowed)),
        // /sandbox/authorize
        case("sandbox page with nothing", get.clone(), "/sandbox/authorize", Fresh, Html(400)),
        case("sandbox page for an unknown client", get.clone(), format!("/sandbox/authorize?client_id={XSS_Q}&response_type=code"), Fresh, Html(400)),
        case("sandbox page with client_id twice", get.clone(), "/sandbox/authorize?client_id=tokenbridge-sandbox&client_id=x", Fresh, Html(400)),
        case("sandbox page for a foreign redirect_uri", get.clone(), format!("/sandbox/authorize?client_id=tokenbridge-sandbox&response_type=code&redirect_uri={XSS_Q}"), Fresh, Html(400)),
        case("sandbox page with response_type=token", get.clone(), "/sandbox/authorize?client_id=tokenbridge-sandbox&response_type=token", Fresh, Redirect(303)),
        case("sandbox page with PKCE plain", get.clone(), format!("/sandbox/authorize?client_id=tokenbridge-sandbox&response_type=code&code_challenge={}&code_challenge_method=plain", big(43)), Fresh, Redirect(303)),
        case("sandbox page with a short challenge", get.clone(), "/sandbox/authorize?client_id=tokenbridge-sandbox&response_type=code&code_challenge=abc&code_challenge_method=S256", Fresh, Redirect(303)),
        case("sandbox page with script in login_hint", get.clone(), format!("/sandbox/authorize?client_id=tokenbridge-sandbox&response_type=code&login_hint={XSS_Q}&scope={XSS_Q}"), Fresh, Html(200)),
        case("sandbox page with a 100 KB login_hint", get.clone(), format!("/sandbox/authorize?client_id=tokenbridge-sandbox&response_type=code&login_hint={}", big(k100)), Fresh, Status(414)),
        case("sandbox page with a 50 KB login_hint", get.clone(), format!("/sandbox/authorize?client_id=tokenbridge-sandbox&response_type=code&login_hint={}", big(k50)), Fresh, Html(200)),
        case("sandbox decision that is neither", post.clone(), "/sandbox/authorize", Fresh, Html(400))
            .form("client_id=tokenbridge-sandbox&response_type=code&decision=maybe"),
        case("sandbox decision with no body", post.clone(), "/sandbox/authorize", Fresh, Html(400)),
        case("sandbox decision of 100 KB", post.clone(), "/sandbox/authorize", Fresh, Api(413, ErrorCode::PayloadTooLarge))
            .form(format!("client_id=tokenbridge-sandbox&x={}", big(k100))),
        case("sandbox page by PUT", Method::PUT, "/sandbox/authorize", Fresh, Api(405, ErrorCode::MethodNotAllowed)),
        // /sandbox/token
        case("token request with nothing", post.clone(), "/sandbox/token", Fresh, Yandex(400, "invalid_request")),
        case("token request for a password grant", post.clone(), "/sandbox/token", Fresh, Yandex(400, "unsupported_grant_type"))
            .form("grant_type=password&username=a&password=b"),
        case("token request with grant_type twice", post.clone(), "/sandbox/token", Fresh, Yandex(400, "invalid_request"))
            .form("grant_type=authorization_code&grant_type=refresh_token"),
        case("token request without a code", post.clone(), "/sandbox/token", Fresh, Yandex(400, "invalid_request"))
            .form(good_token_form.clone()),
        case("token request with a made-up code", post.clone(), "/sandbox/token", Fresh, Yandex(400, "bad_verification_code"))
            .form(good_token_form.clone() + "&code=0000000"),
        case("token request for another client", post.clone(), "/sandbox/token", Fresh, Yandex(400, "invalid_client"))
            .form("grant_type=authorization_code&client_id=another-app&client_secret=x&code=1234567"),
        case("token request with a code for another redirect URI", post.clone(), "/sandbox/token", Flow, Yandex(400, "invalid_grant"))
            .form(good_token_form.clone() + "&code={code}&code_verifier={verifier}&redirect_uri=http%3A%2F%2Fevil.example%2Fcb"),
        case("token request with a malformed Basic header", post.clone(), "/sandbox/token", Fresh, Yandex(401, "invalid_client"))
            .header("authorization", "Basic %%%").form("grant_type=authorization_code&code=1"),
        case("token request with credentials twice", post.clone(), "/sandbox/token", Fresh, Yandex(400, "invalid_request"))
            .header("authorization", "Basic dG9rZW5icmlkZ2Utc2FuZGJveDp4").form(good_token_form.clone() + "&code=1"),
        case("token request as JSON", post.clone(), "/sandbox/token", Fresh, Yandex(400, "invalid_request"))
            .header("content-type", "application/json").body("{\"grant_type\":\"authorization_code\"}"),
        case("token request of 100 KB", post.clone(), "/sandbox/token", Fresh, Api(413, ErrorCode::PayloadTooLarge))
            .form(format!("grant_type=authorization_code&code={}", big(k100))),
        case("token request that is not UTF-8", post.clone(), "/sandbox/token", Fresh, Yandex(400, "invalid_request"))
            .form(vec![0xff, 0xfe, b'=', 0xfd]),
        case("token request by GET", get.clone(), "/sandbox/token", Fresh, Api(405, ErrorCode::MethodNotAllowed)),
        case("user info without a token", get.clone(), "/sandbox/info?format=json", Fresh, Yandex(401, "invalid_token")),
        case("user info with a made-up token", get.clone(), "/sandbox/info?format=json", Fresh, Yandex(401, "invalid_token"))
            .header("authorization", format!("OAuth {}", big(5000))),
        case("an unknown sandbox route", get.clone(), "/sandbox/nothing", Fresh, Api(404, ErrorCode::NotFound)),
        // the app's files
        case("the app by POST", post.clone(), "/", Fresh, Api(405, ErrorCode::MethodNotAllowed)),
    ]
}

/// Everything a case learned from preparing its browser.
struct Prepared {
    browser: reqwest::Client,
    state: String,
    code: String,
    verifier: String,
    cookie: Option<String>,
}

async fn prepare(app: &TestApp, other: &TestApp, prep: Prep) -> Prepared {
    let mut prepared = Prepared {
        browser: browser(),
        state: String::new(),
        code: String::new(),
        verifier: String::new(),
        cookie: None,
    };
    let sealer = match prep {
        Prep::Fresh => return prepared,
        Prep::ForeignKeyFlow | Prep::ForeignKeySession => other,
        _ => app,
    };
    let as_browser = TestApp {
        browser: prepared.browser.clone(),
        ..app.clone()
    };
    let login = prepared
        .browser
        .get(app.url("/auth/login"))
        .send()
        .await
        .unwrap();
    prepared.verifier = as_browser.verifier(&login);
    let flow_cookie = set_cookies(&login)
        .into_iter()
        .find(|c| c.starts_with("tb_flow_"))
        .unwrap();
    let authorize = location(&login);
    prepared.state = query_param(&authorize, "state").unwrap();
    let callback = as_browser.decide(&authorize, "allow").await;
    prepared.code = query_param(&callback, "code").unwrap();

    match prep {
        Prep::TamperedFlow => prepared.cookie = Some(tamper(&flow_cookie)),
        Prep::ForeignKeyFlow => {
            // The same cookie, as the other tokenbridge would have sealed it.
            let foreign = other
                .browser
                .get(other.url("/auth/login"))
                .send()
                .await
                .unwrap();
            let foreign_cookie = set_cookies(&foreign)
                .into_iter()
                .find(|c| c.starts_with("tb_flow_"))
                .unwrap();
            let name = flow_cookie.split('=').next().unwrap();
            let value = foreign_cookie
                .split(';')
                .next()
                .unwrap()
                .split_once('=')
                .unwrap()
                .1;
            prepared.cookie = Some(format!("{name}={value}"));
        }
        Prep::Session | Prep::TamperedSession | Prep::ForeignKeySession => {
            let connected = if matches!(prep, Prep::ForeignKeySession) {
                other
            } else {
                sealer
            };
            let as_connected = connected.other_browser();
            let session_browser = as_connected.browser.clone();
            let authorize = as_connected.login("?login_hint=hostile").await;
            let callback = as_connected.decide(&authorize, "allow").await;
            let response = session_browser.get(&callback).send().await.unwrap();
            let session = set_cookies(&response)
                .into_iter()
                .find(|c| c.starts_with("tb_session="))
                .unwrap();
            let pair = session.split(';').next().unwrap().to_owned();
            prepared.cookie = Some(if matches!(prep, Prep::TamperedSession) {
                tamper(&pair)
            } else {
                pair
            });
        }
        Prep::Fresh | Prep::Flow => {}
    }
    if prepared.cookie.is_some() {
        // These cases send only the cookie they were given.
        prepared.browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
    }
    prepared
}

/// The cookie `name=value` with one character of its sealed value changed.
fn tamper(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap();
    let (name, value) = pair.split_once('=').unwrap();
    let mut bytes = value.as_bytes().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    format!("{name}={}", String::from_utf8(bytes).unwrap())
}

fn fill(text: &str, prepared: &Prepared) -> String {
    text.replace("{state}", &prepared.state)
        .replace("{code}", &prepared.code)
        .replace("{verifier}", &prepared.verifier)
}

#[tokio::test]
async fn hostile_input_gets_clear_errors_and_breaks_nothing() {
    let app = spawn_app(hostile_settings(), |_| {}).await;
    every_case_on(&app).await;
}

/// The same cases on PostgreSQL, which refuses text that SQLite takes (a NUL) and would answer
/// a query that binds it with an error.
#[tokio::test]
async fn hostile_input_gets_clear_errors_and_breaks_nothing_on_postgresql() {
    let Some(database) = crate::postgres::TestDatabase::create("hostile_input").await else {
        return;
    };
    let app = spawn_app(
        Settings {
            database_url: Some(database.url.clone().into()),
            ..hostile_settings()
        },
        |_| {},
    )
    .await;
    every_case_on(&app).await;
}

/// The sandbox, with the scripts API on.
fn hostile_settings() -> Settings {
    Settings {
        api_key: Some(API_KEY.into()),
        ..Settings::default()
    }
}

/// Sends every case to `app` (a sandbox), and fails with the list of those that got another
/// answer than theirs.
async fn every_case_on(app: &TestApp) {
    let other = spawn_app(Settings::default(), |_| {}).await;
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();

    for case in cases {
        let prepared = prepare(app, &other, case.prep).await;
        let url = format!(
            "{}{}",
            app.base.as_str().trim_end_matches('/'),
            fill(&case.target, &prepared)
        );
        let url = if url.len() > 60_000 {
            app.base.to_string()
        } else {
            url
        };
        let mut request = prepared.browser.request(case.method.clone(), &url);
        for (name, value) in &case.headers {
            request = request.header(*name, value.as_str());
        }
        if let Some(cookie) = &prepared.cookie {
            request = request.header(header::COOKIE, cookie.as_str());
        }
        if let Some(body) = &case.body {
            let body = match std::str::from_utf8(body) {
                Ok(text) => fill(text, &prepared).into_bytes(),
                Err(_) => body.clone(),
            };
            request = request.body(body);
        }
        let target = fill(&case.target, &prepared);
        if target.len() > 60_000 {
            // Too long for an http::Uri; sent as raw bytes, as an attacker would.
            let (status, raw) = raw_request(app, &format!("{} {target}", case.method)).await;
            if !matches!(case.expect, Expect::Status(want) if want == status)
                || raw.contains("panicked")
            {
                failures.push(format!(
                    "{}: expected {:?}, got {status}",
                    case.name, case.expect
                ));
            }
            continue;
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                failures.push(format!(
                    "{}: the request failed: {}",
                    case.name,
                    error.without_url()
                ));
                continue;
            }
        };
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let cookies = set_cookies(&response);
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap_or_default();

        let mut problems = Vec::new();
        if status >= 500 {
            problems.push(format!("a {status}"));
        }
        for trace in ["panicked", "backtrace", "RUST_BACKTRACE", "src/"] {
            if body.contains(trace) {
                problems.push(format!("the body contains {trace:?}"));
            }
        }
        if content_type.contains("html") && body.contains(XSS) {
            problems.push("the input is echoed unescaped into HTML".into());
        }
        match case.expect {
            Expect::Api(want, code) => {
                let got = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["code"].as_str().map(str::to_owned));
                if status != want || got.as_deref() != Some(code.as_str()) {
                    problems.push(format!(
                        "expected {want} {code}, got {status} {got:?} ({content_type})"
                    ));
                }
            }
            Expect::Yandex(want, error) => {
                let got = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned));
                if status != want || got.as_deref() != Some(error) {
                    problems.push(format!("expected {want} {error}, got {status} {got:?}"));
                }
            }
            Expect::Outcome(code) => {
                let outcome = app
                    .open_cookie(&cookies, "tb_outcome")
                    .and_then(|json| serde_json::from_str::<FlowOutcome>(&json).ok());
                let got = match &outcome {
                    Some(FlowOutcome::Failed(error)) => Some(error.code),
                    _ => None,
                };
                if status != 303 || location.as_deref() != Some("/") || got != Some(code) {
                    problems.push(format!("expected 303 to / with {code}, got {status} to {location:?} with {outcome:?}"));
                }
                if let Some(FlowOutcome::Failed(error)) = &outcome
                    && error
                        .provider_message
                        .as_ref()
                        .is_some_and(|m| m.chars().count() > 500)
                {
                    problems.push("the provider's words were not cut short".into());
                }
            }
            Expect::Refused(code) => {
                let named = format!("<code>{}</code>", code.as_str());
                if status != 400 || !content_type.starts_with("text/html") || !body.contains(&named)
                {
                    problems.push(format!(
                        "expected an HTML 400 naming {code}, got {status} {content_type}"
                    ));
                }
                if !cookies.is_empty() {
                    problems.push(format!("an unmatched callback set cookies: {cookies:?}"));
                }
            }
            Expect::Redirect(want) => {
                if status != want || location.is_none() {
                    problems.push(format!("expected a {want} redirect, got {status}"));
                }
            }
            Expect::Html(want) => {
                if status != want || !content_type.starts_with("text/html") {
                    problems.push(format!(
                        "expected an HTML {want}, got {status} {content_type}"
                    ));
                }
            }
            Expect::Status(want) => {
                if status != want {
                    problems.push(format!("expected {want}, got {status}"));
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Sends `METHOD target` exactly as written (an HTTP client would normalise `..`
/// or refuse an over-long target) and returns the status and the whole answer.
async fn raw_request(app: &TestApp, request_line: &str) -> (u16, String) {
    let address = format!(
        "{}:{}",
        app.base.host_str().unwrap(),
        app.base.port().unwrap()
    );
    let request =
        format!("{request_line} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        // The server may close while the request is still being written; what it said is what counts.
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn path_traversal_never_leaves_the_app_folder() {
    // The app's folder, and a file beside it that no path may reach.
    let scratch = scratch_dir();
    let dist = scratch.join("app");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>the app</title>",
    )
    .unwrap();
    let outside = "tb-outside";
    std::fs::write(scratch.join(outside), "SECRET-OUTSIDE").unwrap();
    let app = spawn_app(
        Settings {
            dist: Some(dist),
            ..Settings::default()
        },
        |_| {},
    )
    .await;

    for target in [
        "/../../../../etc/passwd".to_owned(),
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd".to_owned(),
        "/..%2f..%2f..%2fetc%2fpasswd".to_owned(),
        "/%252e%252e/etc/passwd".to_owned(),
        "/..\\..\\etc\\passwd".to_owned(),
        format!("/../{outside}"),
        format!("/%2e%2e/{outside}"),
        format!("/..%2f{outside}"),
        "/./././index.html".to_owned(),
        "//etc/passwd".to_owned(),
    ] {
        let (status, response) = raw_request(&app, &format!("GET {target}")).await;
        assert!(status < 500 && status != 0, "{target}: {status}");
        assert!(
            !response.contains("root:x:0:0") && !response.contains("SECRET-OUTSIDE"),
            "{target} escaped: {response}"
        );
    }
}

#[tokio::test]
async fn any_path_gets_the_app_or_a_404_never_a_5xx_and_its_log_line_is_short() {
    let dist = dist_with(&[("index.html", "<!doctype html><title>app</title>")]);
    let app = spawn_app(
        Settings {
            dist: Some(dist),
            ..Settings::default()
        },
        |_| {},
    )
    .await;
    let name = "n".repeat(300);
    let huge = "h".repeat(5000);
    for path in [
        format!("/{name}"),
        format!("/{name}.js"),
        format!("/assets/{huge}.wasm"),
        format!("/{name}/{name}"),
        format!("/api/{name}"),
    ] {
        let response = app.browser.get(app.url(&path)).send().await.unwrap();
        let status = response.status().as_u16();
        assert!(
            status == 200 || status == 404,
            "{} characters: {status}",
            path.len()
        );
    }
    assert!(
        !logs().contains(&huge),
        "the 5,000-character name is not logged whole"
    );
}
