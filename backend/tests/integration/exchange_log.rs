//! The exchange log the page shows: every step of the last sign-in, as
//! tokenbridge saw it, with nothing secret in it.

use tokenbridge::config::{ClientAuth, Settings};
use tokenbridge_shared::{LogStep, SessionView};

use crate::helpers::*;

fn steps(session: &SessionView) -> Vec<LogStep> {
    session
        .exchange_log
        .as_ref()
        .expect("a log")
        .entries
        .iter()
        .map(|e| e.step)
        .collect()
}

#[tokio::test]
async fn the_log_shows_each_step_with_the_secrets_masked() {
    let app = spawn_app(
        Settings {
            client_auth: Some(ClientAuth::Basic),
            ..Settings::default()
        },
        |_| {},
    )
    .await;
    let SignInSecrets {
        code,
        verifier,
        finished,
    } = app.sign_in_keeping_secrets("?scope=direct:api").await;
    let log_cookie = set_cookies(&finished)
        .into_iter()
        .find(|c| c.starts_with("tb_log="))
        .unwrap();
    assert!(
        log_cookie.len() < 4096,
        "the log fits in a cookie: {} bytes",
        log_cookie.len()
    );

    let session = app.session().await;

    assert_eq!(
        steps(&session),
        [
            LogStep::AuthorizeRequest,
            LogStep::Callback,
            LogStep::TokenRequest,
            LogStep::TokenResponse
        ]
    );
    let log = session.exchange_log.clone().unwrap();
    let field = |step: usize, name: &str| {
        log.entries[step]
            .fields
            .iter()
            .find(|f| f.name == name)
            .cloned()
    };
    assert_eq!(field(0, "scope").unwrap().value, "direct:api");
    assert_eq!(field(0, "code_challenge_method").unwrap().value, "S256");
    assert!(field(1, "code").unwrap().masked);
    assert_eq!(field(2, "grant_type").unwrap().value, "authorization_code");
    assert!(
        field(2, "Authorization").unwrap().masked,
        "Basic credentials are masked"
    );
    assert!(field(2, "code_verifier").unwrap().masked);
    assert_eq!(log.entries[3].status, Some(200));
    assert!(field(3, "access_token").unwrap().masked && field(3, "refresh_token").unwrap().masked);
    assert_eq!(field(3, "token_type").unwrap().value, "bearer");

    let text = serde_json::to_string(&log).unwrap();
    let token = session.token.unwrap().access_token;
    for (name, secret) in [
        ("code", code.as_str()),
        ("verifier", verifier.as_str()),
        ("secret", CLIENT_SECRET),
        ("token", token.as_str()),
    ] {
        assert!(!text.contains(secret), "the {name} is in the log");
    }
    assert!(
        log.entries
            .iter()
            .flat_map(|e| &e.fields)
            .filter(|f| f.masked)
            .all(|f| f.value.is_empty())
    );
}

#[tokio::test]
async fn a_refused_code_shows_the_providers_answer_in_the_log() {
    let app = spawn_sandbox().await;

    app.return_with_code("", "0000000").await;

    let session = app.session().await;
    let log = session.exchange_log.unwrap();
    let answer = log.entries.last().unwrap();
    assert_eq!(answer.step, LogStep::TokenResponse);
    assert_eq!(answer.status, Some(400));
    assert!(
        answer
            .fields
            .iter()
            .any(|f| f.name == "error" && f.value == "bad_verification_code")
    );
}
