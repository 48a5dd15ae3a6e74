//! The exchange log the page shows: every step of the last sign-in, as
//! tokenbridge saw it, with nothing secret in it.

use tokenbridge::config::{ClientAuth, ProviderArg, Settings};
use tokenbridge_shared::{ExchangeLog, FlowOutcome, LogStep, SessionView};

use crate::helpers::*;

fn steps(session: &SessionView) -> Vec<LogStep> {
    steps_of(session.exchange_log.as_ref().expect("a log"))
}

fn steps_of(log: &ExchangeLog) -> Vec<LogStep> {
    log.entries.iter().map(|e| e.step).collect()
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

/// A provider whose token answer has thousands of fields (here 5,000 extra ones) still signs
/// the person in: the exchange log's cookie keeps what fits — a browser refuses a whole answer
/// whose headers run to megabytes — and the page's log says how many fields it left out.
#[tokio::test]
async fn a_token_answer_of_thousands_of_fields_keeps_a_log_that_fits_its_cookie() {
    use wiremock::{
        Mock, MockServer,
        matchers::{method, path},
    };
    let mut answer = serde_json::json!({
        "access_token": "at-1", "token_type": "bearer", "expires_in": 3600,
    });
    answer
        .as_object_mut()
        .unwrap()
        .extend((0..5000).map(|i| (format!("x{i:04}"), serde_json::Value::from(i))));
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(json_response(200, &answer.to_string()))
        .mount(&provider)
        .await;
    let app = spawn_app(
        played_by(&provider, ProviderArg::Custom, "app", None, None),
        |_| {},
    )
    .await;

    let finished = app.return_with_code("", "1").await;

    let log_cookie = set_cookies(&finished)
        .into_iter()
        .find(|c| c.starts_with("tb_log="))
        .expect("a log cookie");
    let value = log_cookie.split(';').next().unwrap_or_default();
    assert!(
        value.len() < 4096,
        "the log fits in a cookie: {} bytes",
        value.len()
    );
    let session = app.session().await;
    assert_eq!(session.outcome, Some(FlowOutcome::Connected));
    assert_eq!(session.token.unwrap().access_token, "at-1");
    let log = session.exchange_log.expect("a log");
    assert_eq!(
        steps_of(&log),
        [
            LogStep::AuthorizeRequest,
            LogStep::Callback,
            LogStep::TokenRequest,
            LogStep::TokenResponse
        ]
    );
    let response = &log.entries[3].fields;
    assert_eq!(
        response[0].name, "access_token",
        "the first fields kept, in order"
    );
    let last = response.last().unwrap();
    assert!(
        last.value
            .ends_with("more fields, not kept: the log was too long for its cookie"),
        "{last:?}"
    );
}
