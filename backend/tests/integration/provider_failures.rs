//! A `custom` provider played by wiremock: a good token endpoint, and each way
//! a real one fails. Each failure must end on the page with its own error code.

use std::time::Duration;

use reqwest::StatusCode;
use tokenbridge::config::{ClientAuth, ProviderArg, Settings};
use tokenbridge_shared::{ErrorCode, FlowOutcome, SessionView};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_string_contains, header_exists, method, path},
};

use crate::helpers::*;

async fn custom_provider(provider: &MockServer, auth: ClientAuth) -> TestApp {
    let settings = Settings {
        client_auth: Some(auth),
        provider_timeout_ms: Some(500),
        ..played_by(provider, ProviderArg::Custom, "custom-client", None, None)
    };
    spawn_app(settings, |_| {}).await
}

/// Starts a sign-in and comes back as the provider would, with `code`.
async fn sign_in(app: &TestApp, code: &str) -> SessionView {
    app.return_with_code("", code).await;
    app.session().await
}

/// Signs in with a code the provider will not honour and returns the error the page
/// shows, once the operator's log has a line saying why.
async fn sign_in_fails(app: &TestApp) -> ErrorCode {
    let code = failed_with(&sign_in(app, "1").await);
    let logs = logs();
    assert!(
        logs.lines()
            .any(|line| line.contains("token exchange failed") && line.contains(code.as_str())),
        "no log line tells the operator about {code}"
    );
    code
}

async fn token_endpoint_answers(response: ResponseTemplate) -> (MockServer, TestApp) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(response)
        .mount(&provider)
        .await;
    let app = custom_provider(&provider, ClientAuth::Post).await;
    (provider, app)
}

fn html(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        b"<!DOCTYPE html><html><body><h1>Something broke</h1></body></html>".to_vec(),
        "text/html; charset=utf-8",
    )
}

#[tokio::test]
async fn a_custom_provider_gets_the_code_verifier_and_credentials_in_the_body() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=4242424"))
        .and(body_string_contains("code_verifier="))
        .and(body_string_contains("client_id=custom-client"))
        .and(body_string_contains(format!("client_secret={CLIENT_SECRET}")))
        .and(body_string_contains("redirect_uri="))
        .respond_with(json_response(200, r#"{"access_token":"at-123","token_type":"Bearer","expires_in":3600,"scope":"read write"}"#))
        .expect(1)
        .mount(&provider)
        .await;
    let app = custom_provider(&provider, ClientAuth::Post).await;

    let session = sign_in(&app, "4242424").await;

    assert_eq!(session.outcome, Some(FlowOutcome::Connected));
    let token = session.token.unwrap();
    assert_eq!(token.access_token, "at-123");
    assert_eq!(token.scope.as_deref(), Some("read write"));
    assert!(!token.has_refresh_token);
}

#[tokio::test]
async fn basic_client_auth_sends_an_authorization_header_and_no_secret_in_the_body() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header_exists("authorization"))
        .respond_with(json_response(
            200,
            r#"{"access_token":"at-basic","token_type":"bearer"}"#,
        ))
        .expect(1)
        .mount(&provider)
        .await;
    let app = custom_provider(&provider, ClientAuth::Basic).await;

    let session = sign_in(&app, "1111111").await;

    assert_eq!(session.token.unwrap().access_token, "at-basic");
    let requests = provider.received_requests().await.unwrap();
    let body = String::from_utf8_lossy(&requests[0].body);
    assert!(!body.contains("client_secret"), "{body}");
}

#[tokio::test]
async fn an_oauth_error_json_is_code_rejected_with_the_providers_words() {
    let (_provider, app) = token_endpoint_answers(json_response(
        400,
        r#"{"error":"bad_verification_code","error_description":"Invalid code"}"#,
    ))
    .await;

    let session = sign_in(&app, "7777777").await;

    assert_eq!(failed_with(&session), ErrorCode::CodeRejected);
    let Some(FlowOutcome::Failed(error)) = session.outcome else {
        unreachable!()
    };
    assert_eq!(error.provider_message.as_deref(), Some("Invalid code"));
    assert!(session.token.is_none());
}

#[tokio::test]
async fn invalid_client_is_client_rejected() {
    let (_provider, app) = token_endpoint_answers(json_response(
        401,
        r#"{"error":"invalid_client","error_description":"Wrong client secret"}"#,
    ))
    .await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ClientRejected);
}

#[tokio::test]
async fn an_unknown_oauth_error_is_token_request_rejected() {
    let (_provider, app) =
        token_endpoint_answers(json_response(400, r#"{"error":"slow_down_please"}"#)).await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::TokenRequestRejected);
}

#[tokio::test]
async fn a_500_with_an_html_page_is_provider_unavailable() {
    let (_provider, app) = token_endpoint_answers(html(500)).await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ProviderUnavailable);
}

#[tokio::test]
async fn a_503_with_an_html_page_is_provider_unavailable() {
    let (_provider, app) = token_endpoint_answers(html(503)).await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ProviderUnavailable);
}

#[tokio::test]
async fn a_200_with_an_html_page_is_provider_html() {
    let (_provider, app) = token_endpoint_answers(html(200)).await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ProviderHtml);
}

#[tokio::test]
async fn malformed_json_is_provider_malformed() {
    let (_provider, app) = token_endpoint_answers(json_response(200, "{not json")).await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ProviderMalformed);
}

#[tokio::test]
async fn truncated_json_is_provider_malformed() {
    let (_provider, app) = token_endpoint_answers(json_response(
        200,
        r#"{"access_token":"at-trunc","token_ty"#,
    ))
    .await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ProviderMalformed);
    assert!(
        !logs().contains("at-trunc"),
        "a partial token never reaches the log"
    );
}

#[tokio::test]
async fn json_without_an_access_token_is_provider_malformed() {
    let (_provider, app) = token_endpoint_answers(json_response(
        200,
        r#"{"token_type":"bearer","expires_in":3600}"#,
    ))
    .await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ProviderMalformed);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/elsewhere", provider.uri())),
        )
        .mount(&provider)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(json_response(
            200,
            r#"{"access_token":"at-redirected","token_type":"bearer"}"#,
        ))
        .expect(0)
        .mount(&provider)
        .await;
    let app = custom_provider(&provider, ClientAuth::Post).await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ProviderRedirect);
}

#[tokio::test]
async fn a_provider_that_never_answers_is_provider_timeout() {
    let (_provider, app) = token_endpoint_answers(
        json_response(200, r#"{"access_token":"late","token_type":"bearer"}"#)
            .set_delay(Duration::from_secs(30)),
    )
    .await;

    let started = std::time::Instant::now();

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ProviderTimeout);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the callback gave up instead of waiting"
    );
}

#[tokio::test]
async fn a_refused_connection_is_provider_unreachable() {
    // A port that was free a moment ago and has nothing listening now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = Settings {
        provider: Some(ProviderArg::Custom),
        client_id: Some("custom-client".into()),
        authorize_url: Some(format!("http://127.0.0.1:{port}/authorize")),
        token_url: Some(format!("http://127.0.0.1:{port}/token")),
        ..Settings::default()
    };
    let app = spawn_app(settings, |_| {}).await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ProviderUnreachable);
}

#[tokio::test]
async fn provider_failures_answer_the_page_not_a_500() {
    let (_provider, app) = token_endpoint_answers(html(500)).await;
    let authorize = app.login("").await;
    let state = query_param(&authorize, "state").unwrap();

    let response = app
        .browser
        .get(format!("{}auth/callback?code=1&state={state}", app.base))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
}

#[tokio::test]
async fn a_provider_that_answers_slowly_past_the_timeout_is_provider_timeout() {
    // The test app waits 500 ms; this provider answers after a second.
    let (_provider, app) = token_endpoint_answers(
        json_response(200, r#"{"access_token":"slow","token_type":"bearer"}"#)
            .set_delay(Duration::from_millis(1200)),
    )
    .await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ProviderTimeout);
}

#[tokio::test]
async fn a_connection_reset_mid_body_is_provider_malformed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A provider that promises 500 bytes of JSON, sends a few, and hangs up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = vec![0u8; 8192];
            let _ = stream.read(&mut request).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"access_token\":\"at-cut")
                .await;
            let _ = stream.shutdown().await;
        }
    });
    let settings = Settings {
        provider: Some(ProviderArg::Custom),
        client_id: Some("custom-client".into()),
        authorize_url: Some(format!("http://127.0.0.1:{port}/authorize")),
        token_url: Some(format!("http://127.0.0.1:{port}/token")),
        ..Settings::default()
    };
    let app = spawn_app(settings, |_| {}).await;

    assert_eq!(sign_in_fails(&app).await, ErrorCode::ProviderMalformed);
    assert!(
        !logs().contains("at-cut"),
        "the partial token never reaches the log"
    );
}

/// A token endpoint on a raw socket that answers every request with `head` and then
/// `chunks` of `chunk_size` bytes of a never-ending JSON string (chunked when `chunked`).
async fn endless_token_endpoint(chunked: bool) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let _ = stream.read(&mut request).await;
                let head: &[u8] = if chunked {
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 52428800\r\n\r\n"
                };
                if stream.write_all(head).await.is_err() {
                    return;
                }
                let start = b"{\"access_token\":\"x\",\"token_type\":\"bearer\",\"pad\":\"";
                let pad = vec![b'a'; 64 * 1024];
                let mut first = true;
                // 50 MB, unless tokenbridge hangs up first.
                for _ in 0..800 {
                    let body: Vec<u8> = if first {
                        [&start[..], &pad[..]].concat()
                    } else {
                        pad.clone()
                    };
                    first = false;
                    let sent = if chunked {
                        let mut framed = format!("{:x}\r\n", body.len()).into_bytes();
                        framed.extend_from_slice(&body);
                        framed.extend_from_slice(b"\r\n");
                        stream.write_all(&framed).await
                    } else {
                        stream.write_all(&body).await
                    };
                    if sent.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_token_answer_too_large_to_be_one_ends_the_sign_in_and_saves_nothing() {
    for chunked in [false, true] {
        let port = endless_token_endpoint(chunked).await;
        let settings = Settings {
            provider: Some(ProviderArg::Custom),
            client_id: Some("custom-client".into()),
            authorize_url: Some(format!("http://127.0.0.1:{port}/authorize")),
            token_url: Some(format!("http://127.0.0.1:{port}/token")),
            ..Settings::default()
        };
        let app = spawn_app(settings, |_| {}).await;

        assert_eq!(
            sign_in_fails(&app).await,
            ErrorCode::ProviderTooLarge,
            "chunked: {chunked}"
        );
        assert!(app.session().await.connections.is_empty());
    }
}

#[tokio::test]
async fn an_access_token_that_does_not_look_like_one_is_not_saved() {
    for token in ["", "has space", "line\\nbreak", &"x".repeat(20_000)] {
        let body = format!(r#"{{"access_token":"{token}","token_type":"bearer"}}"#);
        let (_provider, app) = token_endpoint_answers(json_response(200, &body)).await;
        assert_eq!(
            sign_in_fails(&app).await,
            ErrorCode::ProviderMalformed,
            "{token:.20}"
        );
        assert!(app.session().await.connections.is_empty());
    }
}

/// A provider whose refusal repeats the request it was sent — the form with the code, the PKCE
/// verifier and the client secret, and the Authorization header — as its error and its
/// description, whole and with each value cut to its first 12 characters: none of them reaches
/// the page, the exchange log or the log, as sent (a client secret with `/+=` in it
/// form-encoded, or in HTTP Basic's credential) or decoded, whole or cut short.
#[tokio::test]
async fn a_refusal_that_echoes_the_request_shows_none_of_its_secrets() {
    use base64::Engine as _;
    let echo = |request: &wiremock::Request| {
        let sent = as_sent(request);
        let answer = serde_json::json!({
            "error": sent,
            // Cut short first, where the exchange log's 300 characters show it.
            "error_description": format!("cut short: {} | {sent}", cut_short(&sent)),
        });
        json_response(400, &answer.to_string())
    };
    /// The request as a provider that cuts each value it repeats to 12 characters writes it.
    fn cut_short(sent: &str) -> String {
        sent.split(['&', ' '])
            .map(|part| match part.split_once('=') {
                Some((name, value)) => format!("{name}={}…", cut(value)),
                None => format!("{}…", cut(part)),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
    fn cut(text: &str) -> &str {
        &text[..text.len().min(12)]
    }
    for auth in [ClientAuth::Post, ClientAuth::Basic] {
        let provider = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(echo)
            .mount(&provider)
            .await;
        let settings = Settings {
            client_secret: Some("echoed/client+secret=".into()),
            client_auth: Some(auth),
            ..played_by(&provider, ProviderArg::Custom, "custom-client", None, None)
        };
        let app = spawn_app(settings, |_| {}).await;

        let session = sign_in(&app, "echoed-code-4242").await;

        let Some(FlowOutcome::Failed(error)) = session.outcome else {
            panic!("the sign-in did not fail: {:?}", session.outcome)
        };
        let shown = error.provider_message.unwrap_or_default();
        let exchange_log = serde_json::to_string(&session.exchange_log).unwrap();
        let sent = provider.received_requests().await.unwrap_or_default();
        let verifier = sent
            .iter()
            .filter(|r| r.url.path() == "/token")
            .find_map(|r| form_field(r, "code_verifier"))
            .expect("the verifier was sent");
        let basic = base64::engine::general_purpose::STANDARD
            .encode("custom-client:echoed%2Fclient%2Bsecret%3D");
        assert!(shown.contains("[redacted]"), "{auth:?}: {shown}");
        assert!(
            exchange_log.contains("[redacted]"),
            "{auth:?}: {exchange_log}"
        );
        let logs = logs();
        let cut_short = [
            "echoed%2Fclient%2Bsecret%3D",
            "echoed-code-4242",
            verifier.as_str(),
        ]
        .map(cut);
        for secret in [
            "echoed/client+secret=",
            "echoed%2Fclient%2Bsecret%3D",
            &basic,
            "echoed-code-4242",
            verifier.as_str(),
        ]
        .into_iter()
        // The beginnings a provider's cut leaves of what the form carries (the Basic
        // credential's first 12 characters are the client id's).
        .chain(cut_short)
        {
            assert!(
                !shown.contains(secret),
                "{auth:?}: the page shows {secret}: {shown}"
            );
            assert!(
                !exchange_log.contains(secret),
                "{auth:?}: the exchange log shows {secret}: {exchange_log}"
            );
            assert!(
                !logs.contains(secret),
                "{auth:?}: a log line holds {secret}"
            );
        }
    }
}

/// A revocation endpoint whose refusal repeats the request — the token, and HTTP Basic's
/// credential, which is the client secret in base64 — leaves neither in the log line that
/// says the revocation failed.
#[tokio::test]
async fn a_revocation_refusal_that_echoes_the_request_logs_none_of_its_secrets() {
    use base64::Engine as _;
    let echo = |request: &wiremock::Request| {
        let answer = serde_json::json!({ "error_description": as_sent(request) });
        json_response(400, &answer.to_string())
    };
    let provider = MockServer::start().await;
    crate::helpers::gives_at_1_and_rt_1_for_a_code(&provider).await;
    crate::helpers::answers_carol_at_info(&provider).await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .respond_with(echo)
        .mount(&provider)
        .await;
    let settings = Settings {
        client_secret: Some("revoke/secret+1=".into()),
        client_auth: Some(ClientAuth::Basic),
        ..played_by(
            &provider,
            ProviderArg::Custom,
            "app",
            Some("/info"),
            Some("/revoke"),
        )
    };
    let app = spawn_app(settings, |_| {}).await;
    app.return_with_code("", "1").await;
    let id = app.session().await.connections[0].id.clone();

    let response = app.disconnect(&id).await;

    assert_eq!(response.status(), StatusCode::OK);
    let basic = base64::engine::general_purpose::STANDARD.encode("app:revoke%2Fsecret%2B1%3D");
    let sent = provider.received_requests().await.unwrap_or_default();
    assert!(
        sent.iter().any(|r| r.url.path() == "/revoke"
            && r.headers
                .get("authorization")
                .is_some_and(|v| v.as_bytes().ends_with(basic.as_bytes()))),
        "the revocation was sent with HTTP Basic"
    );
    let logs = logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("revocation failed") && l.contains("[redacted]")),
        "the failure is logged, scrubbed"
    );
    for secret in [
        basic.as_str(),
        "revoke/secret+1=",
        "revoke%2Fsecret%2B1%3D",
        "rt-1",
    ] {
        assert!(!logs.contains(secret), "a log line holds {secret}");
    }
}

/// A request's body and Authorization header, as a provider that repeats what it was sent
/// would put them in its answer.
fn as_sent(request: &wiremock::Request) -> String {
    let header = request
        .headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    format!("{} {header}", String::from_utf8_lossy(&request.body))
}

/// `provider`'s token endpoint answering `token` for a code, its user info (`info`, at /info),
/// and its revocation endpoint (at /revoke), which takes anything; the app it plays for, which
/// gives up on any of the provider's answers after half a second.
async fn signing_in_at(token: &str, info: ResponseTemplate) -> (MockServer, TestApp) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(json_response(200, token))
        .mount(&provider)
        .await;
    Mock::given(method("GET"))
        .and(path("/info"))
        .respond_with(info)
        .mount(&provider)
        .await;
    revokes_anything(&provider).await;
    let settings = Settings {
        provider_timeout_ms: Some(500),
        ..played_by(
            &provider,
            ProviderArg::Custom,
            "custom-client",
            Some("/info"),
            Some("/revoke"),
        )
    };
    let app = spawn_app(settings, |_| {}).await;
    (provider, app)
}

/// A token answer whose `token_type` or `scope` is not text a person can read (a NUL, a bell,
/// a type of 100 bytes) is the provider's fault, said so — not a failure of tokenbridge's own
/// (PostgreSQL would refuse to save a NUL), nor saved as it is; the token, which nobody will
/// hold, goes back to the provider.
#[tokio::test]
async fn a_token_answer_with_an_unsavable_type_or_scope_is_provider_malformed_and_handed_back() {
    let long_type = "x".repeat(100);
    for answer in [
        r#"{"access_token":"at-1","token_type":"bear\u0000er"}"#.to_owned(),
        format!(r#"{{"access_token":"at-1","token_type":"{long_type}"}}"#),
        r#"{"access_token":"at-1","token_type":"bearer","scope":"read\u0007"}"#.to_owned(),
    ] {
        let carol = json_response(200, r#"{"id":"42","login":"carol"}"#);
        let (provider, app) = signing_in_at(&answer, carol).await;

        let session = sign_in(&app, "1").await;

        assert_eq!(
            failed_with(&session),
            ErrorCode::ProviderMalformed,
            "{answer}"
        );
        assert!(session.connections.is_empty(), "nothing saved");
        assert_eq!(revoked_tokens(&provider).await, ["at-1"], "handed back");
    }
}

/// User info that names the account with text the store cannot hold or a person read (a NUL
/// in the login, an id of 600 bytes), or that fails outright, ends the sign-in as the user
/// info's failure; the token issued, which nobody will hold, goes back to the provider.
#[tokio::test]
async fn user_info_that_fails_or_names_an_unsavable_account_is_user_info_failed_and_handed_back() {
    let long_id = "7".repeat(600);
    for info in [
        json_response(200, r#"{"id":"42","login":"car\u0000ol"}"#),
        json_response(200, &format!(r#"{{"id":"{long_id}","login":"carol"}}"#)),
        html(500),
    ] {
        let (provider, app) = signing_in_at(
            r#"{"access_token":"at-1","token_type":"bearer","refresh_token":"rt-1"}"#,
            info,
        )
        .await;

        let session = sign_in(&app, "1").await;

        assert_eq!(failed_with(&session), ErrorCode::UserInfoFailed);
        assert!(session.connections.is_empty(), "nothing saved");
        assert_eq!(
            revoked_tokens(&provider).await,
            ["rt-1", "at-1"],
            "the tokens nobody holds were handed back"
        );
    }
}

/// User info that does not answer in time ends the sign-in as the user info's failure, and the
/// token is not sent back to a provider that is not answering: the person would wait another
/// timeout for nothing.
#[tokio::test]
async fn user_info_that_does_not_answer_is_not_asked_to_take_the_token_back() {
    let slow =
        json_response(200, r#"{"id":"42","login":"carol"}"#).set_delay(Duration::from_millis(3000));
    let (provider, app) =
        signing_in_at(r#"{"access_token":"at-1","token_type":"bearer"}"#, slow).await;

    let session = sign_in(&app, "1").await;

    assert_eq!(failed_with(&session), ErrorCode::UserInfoFailed);
    assert!(
        revoked_tokens(&provider).await.is_empty(),
        "the provider that did not answer was not asked again"
    );
}
