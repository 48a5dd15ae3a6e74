//! Limits against floods: sign-ins and callbacks per address, and failed API keys
//! that cost more than good requests; 429 with Retry-After, as JSON for the API and
//! as a page for the browser.

use reqwest::{StatusCode, header};
use tokenbridge::config::Settings;
use tokenbridge_shared::{ApiError, ErrorCode};

use crate::connections::API_KEY;
use crate::helpers::*;

async fn api_list(app: &TestApp, key: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(app.url("/api/v1/connections"))
        .bearer_auth(key);
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_flood_of_sign_ins_from_one_address_gets_429_with_retry_after() {
    let app = spawn_app(
        Settings {
            signin_rate: Some(5),
            ..Settings::default()
        },
        |_| {},
    )
    .await;
    for _ in 0..5 {
        app.login("").await;
    }

    let flooded = app
        .browser
        .get(app.url("/auth/login"))
        .header(header::ACCEPT_LANGUAGE, "ru-RU")
        .send()
        .await
        .unwrap();

    assert_eq!(flooded.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = flooded.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let page = flooded.text().await.unwrap();
    assert!(page.contains("Слишком много попыток") && page.contains("rate_limited"));
    // A forged callback costs from the same budget, and never reaches the provider.
    let callback = app
        .browser
        .get(app.url("/auth/callback?state=x&code=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.token_calls(), 0);
    // The page itself still loads.
    assert_eq!(
        app.browser
            .get(app.url("/api/session"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_api_keys_run_out_the_budget_and_then_even_the_right_key_waits() {
    let app = spawn_app(
        Settings {
            api_key: Some(API_KEY.into()),
            api_rate: Some(100),
            ..Settings::default()
        },
        |_| {},
    )
    .await;
    // Good requests cost little: many pass.
    for _ in 0..20 {
        assert_eq!(api_list(&app, API_KEY, None).await.status(), StatusCode::OK);
    }

    let mut refused = 0;
    let mut limited = None;
    for _ in 0..20 {
        let response = api_list(&app, "wrong-key-0123456789", None).await;
        match response.status() {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited = Some(response);
                break;
            }
            other => panic!("{other}"),
        }
    }

    assert!(
        (5..=10).contains(&refused),
        "{refused} wrong keys before the limit"
    );
    let limited = limited.expect("the wrong keys were limited");
    assert!(limited.headers().contains_key(header::RETRY_AFTER));
    let error: ApiError = limited.json().await.unwrap();
    assert_eq!(error.code, ErrorCode::RateLimited);
    assert_eq!(
        api_list(&app, API_KEY, None).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a guesser cannot learn that the next key is right"
    );
}

/// Sends wrong keys as `client` until the answer is 429; how many it took.
async fn guess_until_limited(app: &TestApp, client: impl Fn(usize) -> String) -> usize {
    for n in 0..20 {
        let status = api_list(app, "wrong-key-0123456789", Some(&client(n)))
            .await
            .status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return n;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    panic!("twenty wrong keys and no limit");
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let limited = |proxies: Option<&str>| Settings {
        api_key: Some(API_KEY.into()),
        api_rate: Some(10),
        trusted_proxies: proxies.map(str::to_owned),
        ..Settings::default()
    };
    // Behind a trusted proxy, each client has its own budget.
    let proxied = spawn_app(limited(Some("127.0.0.1")), |_| {}).await;
    guess_until_limited(&proxied, |_| "198.51.100.1".into()).await;
    assert_eq!(
        api_list(&proxied, API_KEY, Some("198.51.100.2"))
            .await
            .status(),
        StatusCode::OK,
        "another client behind the proxy is not limited"
    );

    // Without one, the header is the client's own word and changes nothing.
    let direct = spawn_app(limited(None), |_| {}).await;
    guess_until_limited(&direct, |n| format!("198.51.100.{n}")).await;
    assert_eq!(
        api_list(&direct, API_KEY, Some("203.0.113.77"))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
