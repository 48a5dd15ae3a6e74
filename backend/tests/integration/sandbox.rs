//! The sandbox provider on its own: it must answer exactly as Yandex does.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// A code issued by the sandbox for this app, and the PKCE verifier it is bound to.
async fn issued_code(app: &TestApp) -> (String, String) {
    let response = app
        .browser
        .get(app.url("/auth/login"))
        .send()
        .await
        .unwrap();
    let verifier = app.verifier(&response);
    let callback = app.decide(&location(&response), "allow").await;
    let code = query_param(&callback, "code").unwrap();
    (code, verifier)
}

async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = app
        .browser
        .post(app.url("/sandbox/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn good_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", verifier),
        ("client_id", "tokenbridge-sandbox"),
        ("client_secret", CLIENT_SECRET),
    ]
}

#[tokio::test]
async fn codes_are_seven_digits_and_the_token_is_yandex_shaped() {
    let app = spawn_sandbox().await;
    let (code, verifier) = issued_code(&app).await;
    assert!(
        code.len() == 7 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );

    let (status, body) = token_request(&app, &good_form(&code, &verifier)).await;

    assert_eq!(status, StatusCode::OK);
    let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    assert_eq!(body["token_type"], "bearer");
}

#[tokio::test]
async fn a_code_works_once() {
    let app = spawn_sandbox().await;
    let (code, verifier) = issued_code(&app).await;
    token_request(&app, &good_form(&code, &verifier)).await;

    let (status, body) = token_request(&app, &good_form(&code, &verifier)).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_verification_code");
}

#[tokio::test]
async fn a_wrong_verifier_is_invalid_grant_and_burns_the_code() {
    let app = spawn_sandbox().await;
    let (code, verifier) = issued_code(&app).await;
    let wrong = "x".repeat(43);

    let (status, body) = token_request(&app, &good_form(&code, &wrong)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let (_, body) = token_request(&app, &good_form(&code, &verifier)).await;
    assert_eq!(body["error"], "bad_verification_code");
}

#[tokio::test]
async fn a_wrong_secret_is_invalid_client() {
    let app = spawn_sandbox().await;
    let (code, verifier) = issued_code(&app).await;
    let mut form = good_form(&code, &verifier);
    form[4] = ("client_secret", "not-the-secret");

    let (status, body) = token_request(&app, &form).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn a_code_for_another_redirect_uri_is_invalid_grant() {
    let app = spawn_sandbox().await;
    let (code, verifier) = issued_code(&app).await;
    let mut form = good_form(&code, &verifier);
    form.push(("redirect_uri", "http://evil.example/cb"));

    let (_, body) = token_request(&app, &form).await;

    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn grant_types_are_checked() {
    let app = spawn_sandbox().await;

    let (_, body) = token_request(
        &app,
        &[
            ("grant_type", "password"),
            ("client_id", "tokenbridge-sandbox"),
        ],
    )
    .await;
    assert_eq!(body["error"], "unsupported_grant_type");

    let (_, body) = token_request(&app, &[("code", "1234567")]).await;
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn an_unknown_client_or_redirect_uri_gets_a_page_not_a_redirect() {
    let app = spawn_sandbox().await;
    let authorize = app.login("").await;

    for (from, to) in [
        ("client_id=tokenbridge-sandbox", "client_id=someone-else"),
        (
            "redirect_uri=http",
            "redirect_uri=http%3A%2F%2Fevil.example%2Fcb&x=http",
        ),
    ] {
        let url = authorize.replacen(from, to, 1);
        let response = app.browser.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        assert!(response.headers().get("location").is_none());
        assert!(response.text().await.unwrap().contains("Sandbox"));
    }
}

#[tokio::test]
async fn the_page_escapes_what_it_shows() {
    let app = spawn_sandbox().await;
    let authorize = app
        .login("?login_hint=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await;

    let page = app
        .browser
        .get(&authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)"), "{page}");
}
