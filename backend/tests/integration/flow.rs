//! The whole sign-in against the sandbox, and every way its state can go wrong.

use reqwest::StatusCode;
use tokenbridge::config::{ClientAuth, Settings};
use tokenbridge_shared::{ApiError, ErrorCode, FlowOutcome, ProviderKind};

use crate::helpers::*;

#[tokio::test]
async fn connect_then_allow_shows_the_token_in_the_session() {
    let app = spawn_sandbox().await;

    let before = app.session().await;
    assert_eq!(before.provider, ProviderKind::Sandbox);
    assert!(before.token.is_none() && before.outcome.is_none());

    let session = app.connect().await;

    assert_eq!(session.outcome, Some(FlowOutcome::Connected));
    let token = session.token.expect("a token after Allow");
    assert!(
        token.access_token.starts_with("y0_SANDBOX"),
        "{}",
        token.access_token
    );
    assert_eq!(token.token_type, "bearer");
    assert!(token.has_refresh_token);
    let lifetime = token.expires_at.unwrap() - token.obtained_at;
    assert_eq!(lifetime, 365 * 24 * 3600);
}

#[tokio::test]
async fn the_outcome_is_reported_once_and_the_token_stays() {
    let app = spawn_sandbox().await;
    app.connect().await;

    let again = app.session().await;

    assert_eq!(again.outcome, None);
    assert!(again.token.is_some());
}

#[tokio::test]
async fn the_callback_goes_home_to_a_clean_url() {
    let app = spawn_sandbox().await;
    let authorize = app.login("").await;
    let callback = app.decide(&authorize, "allow").await;

    let response = app.callback(&callback).await;

    assert_eq!(location(&response), "/");
    for cookie in set_cookies(&response) {
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(
            !cookie.contains("y0_SANDBOX"),
            "the token is sealed: {cookie}"
        );
    }
}

#[tokio::test]
async fn login_sends_the_browser_to_authorize_with_state_and_pkce() {
    let app = spawn_sandbox().await;

    let response = app
        .browser
        .get(app.url("/auth/login"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let flow_cookie = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("tb_flow_"))
        .expect("a flow cookie");
    assert!(
        flow_cookie.contains("HttpOnly") && flow_cookie.contains("SameSite=Lax"),
        "{flow_cookie}"
    );
    let url = location(&response);
    assert!(
        url.starts_with(&format!("{}sandbox/authorize?", app.base)),
        "{url}"
    );
    assert_eq!(query_param(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query_param(&url, "client_id").as_deref(),
        Some("tokenbridge-sandbox")
    );
    assert_eq!(
        query_param(&url, "redirect_uri").unwrap(),
        format!("{}auth/callback", app.base)
    );
    assert_eq!(
        query_param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(query_param(&url, "code_challenge").unwrap().len(), 43);
    // The time it was made (`.` and 12 hex digits), then 32 random bytes in base64url: 256
    // bits of state.
    let state = query_param(&url, "state").unwrap();
    assert_eq!(state.len(), 1 + 12 + 43, "{state}");
    assert!(state.starts_with('.'), "{state}");
    assert_eq!(query_param(&url, "scope"), None);
    assert_eq!(query_param(&url, "force_confirm"), None);
}

#[tokio::test]
async fn two_logins_get_different_states() {
    let app = spawn_sandbox().await;
    let first = query_param(&app.login("").await, "state");
    let second = query_param(&app.login("").await, "state");
    assert_ne!(first, second);
}

#[tokio::test]
async fn login_passes_scope_force_confirm_and_login_hint() {
    let app = spawn_sandbox().await;

    let url = app
        .login("?scope=direct:api%20metrika:read&optional_scope=metrika:write&force_confirm=yes&login_hint=alice")
        .await;

    assert_eq!(
        query_param(&url, "scope").as_deref(),
        Some("direct:api metrika:read")
    );
    assert_eq!(query_param(&url, "force_confirm").as_deref(), Some("yes"));
    assert_eq!(query_param(&url, "login_hint").as_deref(), Some("alice"));
    assert_eq!(
        query_param(&url, "optional_scope").as_deref(),
        Some("metrika:write")
    );
    let page = app
        .browser
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("alice") && page.contains("direct:api metrika:read"),
        "{page}"
    );
}

#[tokio::test]
async fn configured_scope_and_force_confirm_are_requested_by_default() {
    let settings = Settings {
        scope: Some("direct:api".into()),
        force_confirm: Some(true),
        ..Settings::default()
    };
    let app = spawn_app(settings, |_| {}).await;

    let url = app.login("").await;

    assert_eq!(query_param(&url, "scope").as_deref(), Some("direct:api"));
    assert_eq!(query_param(&url, "force_confirm").as_deref(), Some("yes"));
    assert_eq!(
        app.session().await.default_scope.as_deref(),
        Some("direct:api")
    );
}

#[tokio::test]
async fn a_bad_login_parameter_is_a_clear_400() {
    let app = spawn_sandbox().await;

    for query in [
        "?force_confirm=maybe",
        "?scope=a&scope=b",
        &format!("?login_hint={}", "x".repeat(300)),
    ] {
        let response = app
            .browser
            .get(app.url(&format!("/auth/login{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let error: ApiError = response.json().await.unwrap();
        assert_eq!(error.code, ErrorCode::BadRequest);
    }
}

#[tokio::test]
async fn deny_ends_with_access_denied_and_no_token() {
    let app = spawn_sandbox().await;
    let authorize = app.login("").await;
    let callback = app.decide(&authorize, "deny").await;
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("access_denied")
    );

    app.callback(&callback).await;
    let session = app.session().await;

    assert_eq!(failed_with(&session), ErrorCode::AccessDenied);
    assert!(session.token.is_none());
}

#[tokio::test]
async fn a_callback_without_a_sign_in_in_this_browser_is_state_missing() {
    let app = spawn_sandbox().await;
    let authorize = app.login("").await;
    let callback = app.decide(&authorize, "allow").await;

    // Another browser, with none of the first one's cookies, follows the link.
    let other = TestApp {
        browser: browser(),
        ..app.clone()
    };
    assert_eq!(
        other.refused_callback(&callback).await,
        ErrorCode::StateMissing
    );
    let session = other.session().await;
    assert!(session.token.is_none() && session.outcome.is_none());

    // The link did not spend the sign-in: its own browser still completes it.
    app.callback(&callback).await;
    assert_eq!(app.session().await.outcome, Some(FlowOutcome::Connected));
}

#[tokio::test]
async fn a_forged_link_to_the_callback_does_not_rewrite_the_page() {
    let app = spawn_sandbox().await;
    app.connect().await;
    let before = app.session().await;

    let forged = app.url("/auth/callback?error=access_denied&error_description=Your+tokenbridge+was+hacked%2C+call+us");
    assert_eq!(
        app.refused_callback(forged.as_str()).await,
        ErrorCode::StateMissing
    );

    let after = app.session().await;
    assert_eq!(after.outcome, None, "no outcome was written");
    assert_eq!(
        after.exchange_log, before.exchange_log,
        "the log is the sign-in's"
    );
    assert_eq!(after.token, before.token);
}

#[tokio::test]
async fn a_callback_with_a_foreign_state_is_state_mismatch_and_changes_nothing() {
    let app = spawn_sandbox().await;
    let authorize = app.login("").await;
    let callback = app.decide(&authorize, "allow").await;
    let state = query_param(&callback, "state").unwrap();
    let forged = callback.replace(&state, &"A".repeat(state.len()));

    assert_eq!(
        app.refused_callback(&forged).await,
        ErrorCode::StateMismatch
    );
    let session = app.session().await;
    assert!(session.token.is_none() && session.outcome.is_none());

    // The genuine sign-in, still in progress, is not disturbed by the forgery.
    app.callback(&callback).await;
    assert_eq!(app.session().await.outcome, Some(FlowOutcome::Connected));
}

#[tokio::test]
async fn two_tabs_signing_in_at_once_both_succeed_in_either_order() {
    let app = spawn_sandbox().await;
    let first_tab = app.login("?login_hint=first").await;
    let second_tab = app.login("?login_hint=second").await;

    let second_callback = app.decide(&second_tab, "allow").await;
    let first_callback = app.decide(&first_tab, "allow").await;
    app.callback(&second_callback).await;
    assert_eq!(app.session().await.outcome, Some(FlowOutcome::Connected));
    app.callback(&first_callback).await;
    let session = app.session().await;

    assert_eq!(session.outcome, Some(FlowOutcome::Connected));
    assert_eq!(
        account_of(&app, &session.token.unwrap().access_token).await,
        "first"
    );
}

#[tokio::test]
async fn a_fifth_sign_in_at_once_drops_the_oldest() {
    let app = spawn_sandbox().await;
    let mut tabs = Vec::new();
    for _ in 0..5 {
        tabs.push(app.login("").await);
    }
    let oldest = app.decide(&tabs[0], "allow").await;
    let newest = app.decide(&tabs[4], "allow").await;

    assert_eq!(
        app.refused_callback(&oldest).await,
        ErrorCode::StateMismatch
    );
    app.callback(&newest).await;
    assert_eq!(app.session().await.outcome, Some(FlowOutcome::Connected));
}

#[tokio::test]
async fn a_replayed_callback_is_state_replayed() {
    let app = spawn_sandbox().await;
    let authorize = app.login("").await;
    let callback = app.decide(&authorize, "allow").await;
    app.callback(&callback).await;
    let first = app.session().await;
    assert_eq!(first.outcome, Some(FlowOutcome::Connected));

    assert_eq!(
        app.refused_callback(&callback).await,
        ErrorCode::StateReplayed
    );
    let second = app.session().await;
    assert_eq!(second.token, first.token, "the earlier token is kept");

    // Another browser replaying the link finds the state spent too: the store remembers.
    let other = TestApp {
        browser: browser(),
        ..app.clone()
    };
    assert_eq!(
        other.refused_callback(&callback).await,
        ErrorCode::StateReplayed
    );
}

#[tokio::test]
async fn a_sign_in_older_than_its_lifetime_is_state_expired() {
    let app = spawn_app(Settings::default(), |config| config.flow_lifetime_secs = 1).await;
    let authorize = app.login("").await;
    let callback = app.decide(&authorize, "allow").await;

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    app.callback(&callback).await;

    let session = app.session().await;
    assert_eq!(failed_with(&session), ErrorCode::StateExpired);
    assert!(session.token.is_none());
}

#[tokio::test]
async fn a_callback_without_a_code_is_invalid_callback() {
    let app = spawn_sandbox().await;
    let authorize = app.login("").await;
    let state = query_param(&authorize, "state").unwrap();

    app.callback(&format!("{}auth/callback?state={state}", app.base))
        .await;

    assert_eq!(
        failed_with(&app.session().await),
        ErrorCode::InvalidCallback
    );
}

#[tokio::test]
async fn a_callback_with_extra_parameters_such_as_iss_still_works() {
    let app = spawn_sandbox().await;
    let authorize = app.login("").await;
    let callback = app.decide(&authorize, "allow").await;

    app.callback(&format!(
        "{callback}&iss=https%3A%2F%2Foauth.yandex.com&cid=42"
    ))
    .await;

    assert_eq!(app.session().await.outcome, Some(FlowOutcome::Connected));
}

#[tokio::test]
async fn http_basic_client_authentication_works_too() {
    let settings = Settings {
        client_auth: Some(ClientAuth::Basic),
        ..Settings::default()
    };
    let app = spawn_app(settings, |_| {}).await;

    let session = app.connect().await;

    assert_eq!(session.outcome, Some(FlowOutcome::Connected));
}

#[tokio::test]
async fn logout_forgets_the_token_but_only_with_the_app_header() {
    let app = spawn_sandbox().await;
    app.connect().await;

    let forged = app
        .browser
        .post(app.url("/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let error: ApiError = forged.json().await.unwrap();
    assert_eq!(error.code, ErrorCode::CsrfRejected);
    assert!(app.session().await.token.is_some());

    let response = app
        .browser
        .post(app.url("/auth/logout"))
        .header("x-tokenbridge", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(app.session().await.token.is_none());
}

#[tokio::test]
async fn a_second_browser_sees_none_of_the_first_ones_token() {
    let app = spawn_sandbox().await;
    app.connect().await;

    let other = TestApp {
        browser: browser(),
        ..app
    };

    assert!(other.session().await.token.is_none());
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s_and_health_answers() {
    let app = spawn_sandbox().await;

    let response = app
        .browser
        .get(app.url("/api/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let error: ApiError = response.json().await.unwrap();
    assert_eq!(error.code, ErrorCode::NotFound);

    let health = app.browser.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_app_is_served_with_a_fallback_to_index_html() {
    let dist = dist_with(&[
        ("index.html", "<!doctype html><title>tokenbridge</title>"),
        ("app.js", "console.log(1)"),
    ]);
    let app = spawn_app(
        Settings {
            dist: Some(dist),
            ..Settings::default()
        },
        |_| {},
    )
    .await;

    let deep_link = app.browser.get(app.url("/some/page")).send().await.unwrap();
    assert_eq!(deep_link.status(), StatusCode::OK);
    assert!(
        deep_link
            .text()
            .await
            .unwrap()
            .contains("<title>tokenbridge</title>")
    );
    let js = app.browser.get(app.url("/app.js")).send().await.unwrap();
    assert_eq!(js.text().await.unwrap(), "console.log(1)");
}
