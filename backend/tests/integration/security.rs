//! What every response tells the browser to protect the person: the headers,
//! and the attributes of every cookie.

use reqwest::{StatusCode, header};
use tokenbridge::config::Settings;

use crate::helpers::*;

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> String {
    response
        .headers()
        .get(&name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_response_carries_the_protective_headers() {
    let dist = dist_with(&[
        ("index.html", "<!doctype html><title>app</title>"),
        ("app.css", "body{}"),
    ]);
    let app = spawn_app(
        Settings {
            dist: Some(dist),
            ..Settings::default()
        },
        |_| {},
    )
    .await;
    let authorize = app.login("").await;

    for url in [
        app.url("/").to_string(),
        app.url("/app.css").to_string(),
        app.url("/deep/link").to_string(),
        app.url("/api/session").to_string(),
        app.url("/api/nothing").to_string(),
        app.url("/auth/login").to_string(),
        app.url("/auth/callback").to_string(),
        app.url("/healthz").to_string(),
        authorize,
        app.url("/sandbox/token").to_string(),
    ] {
        let response = app.browser.get(&url).send().await.unwrap();
        let csp = header_of(&response, header::CONTENT_SECURITY_POLICY);
        assert!(
            csp.contains("script-src 'self'") && csp.contains("'wasm-unsafe-eval'"),
            "{url}: {csp}"
        );
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
            "{url}: {csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"),
            "{url}: {csp}"
        );
        assert_eq!(
            header_of(&response, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff",
            "{url}"
        );
        assert_eq!(
            header_of(&response, header::REFERRER_POLICY),
            "no-referrer",
            "{url}"
        );
        let path = reqwest::Url::parse(&url).unwrap().path().to_owned();
        if ["/api/", "/auth/", "/sandbox/"]
            .iter()
            .any(|p| path.starts_with(p))
        {
            assert_eq!(
                header_of(&response, header::CACHE_CONTROL),
                "no-store",
                "{url}"
            );
        }
    }
}

#[tokio::test]
async fn the_index_page_allows_exactly_its_own_inline_loader() {
    let loader = "import init from '/app.js'; await init();";
    let page = format!("<!doctype html><script type=\"module\">{loader}</script>");
    let dist = dist_with(&[("index.html", &page)]);
    let app = spawn_app(
        Settings {
            dist: Some(dist),
            ..Settings::default()
        },
        |_| {},
    )
    .await;

    let response = app.browser.get(app.url("/")).send().await.unwrap();

    use base64::Engine;
    use sha2::Digest;
    let hash =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(loader.as_bytes()));
    let csp = header_of(&response, header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
    assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-cache");
}

#[tokio::test]
async fn cookies_over_https_are_secure_and_host_prefixed() {
    let app = spawn_app(Settings::default(), |config| {
        config.public_url = "https://tokenbridge.example".parse().unwrap();
    })
    .await;

    let response = app
        .browser
        .get(app.url("/auth/login"))
        .send()
        .await
        .unwrap();

    let cookie = set_cookies(&response)
        .into_iter()
        .next()
        .expect("a flow cookie");
    assert!(cookie.starts_with("__Host-tb_flow_"), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[tokio::test]
async fn every_cookie_is_http_only_short_lived_and_the_session_comes_back_from_the_provider() {
    let app = spawn_sandbox().await;
    let login = app
        .browser
        .get(app.url("/auth/login"))
        .send()
        .await
        .unwrap();
    let callback = app.decide(&location(&login), "allow").await;
    let finish = app.callback(&callback).await;

    let mut cookies = set_cookies(&login);
    cookies.extend(set_cookies(&finish));
    assert!(
        cookies.len() >= 4,
        "flow, its removal, session, log, outcome: {cookies:?}"
    );
    for cookie in &cookies {
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("Path=/"),
            "{cookie}"
        );
        assert!(
            !cookie.contains("Secure"),
            "no Secure over plain http: {cookie}"
        );
        let max_age: i64 = cookie
            .split("; ")
            .find_map(|a| a.strip_prefix("Max-Age="))
            .expect("a Max-Age")
            .parse()
            .unwrap();
        // The session cookie lives as long as its session may (90 days by default);
        // the server ends it sooner on sign-out or when idle.
        let limit = if cookie.starts_with("tb_session=") {
            90 * 24 * 3600
        } else {
            8 * 3600
        };
        assert!(max_age <= limit, "{cookie}");
    }
    let session = cookies
        .iter()
        .find(|c| c.starts_with("tb_session="))
        .unwrap();
    // Lax: the provider's redirect to the callback must carry it (to end the old session);
    // state-changing calls need the app's own header besides.
    assert!(session.contains("SameSite=Lax"), "{session}");
    let flow = cookies
        .iter()
        .find(|c| c.starts_with("tb_flow_") && !c.contains("Max-Age=0"))
        .unwrap();
    assert!(
        flow.contains("SameSite=Lax"),
        "it must survive the redirect back: {flow}"
    );
}

#[tokio::test]
async fn page_files_go_out_precompressed_and_hashed_ones_are_cached_for_a_year() {
    let dist = scratch_dir();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>app</title>").unwrap();
    std::fs::write(dist.join("app-0123456789abcdef.js"), "console.log('plain')").unwrap();
    std::fs::write(dist.join("app-0123456789abcdef.js.br"), "BROTLI-BYTES").unwrap();
    std::fs::write(dist.join("app-0123456789abcdef.js.gz"), "GZIP-BYTES").unwrap();
    std::fs::write(dist.join("robots.txt"), "User-agent: *").unwrap();
    let app = spawn_app(
        Settings {
            dist: Some(dist),
            ..Settings::default()
        },
        |_| {},
    )
    .await;
    let get = |path: &str, encoding: Option<&str>| {
        let mut request = app.browser.get(app.url(path));
        if let Some(encoding) = encoding {
            request = request.header(header::ACCEPT_ENCODING, encoding);
        }
        request.send()
    };

    let brotli = get("/app-0123456789abcdef.js", Some("gzip, br"))
        .await
        .unwrap();
    assert_eq!(header_of(&brotli, header::CONTENT_ENCODING), "br");
    assert_eq!(
        header_of(&brotli, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(brotli.text().await.unwrap(), "BROTLI-BYTES");

    let gzip = get("/app-0123456789abcdef.js", Some("gzip")).await.unwrap();
    assert_eq!(header_of(&gzip, header::CONTENT_ENCODING), "gzip");
    assert_eq!(gzip.text().await.unwrap(), "GZIP-BYTES");

    let plain = get("/app-0123456789abcdef.js", None).await.unwrap();
    assert_eq!(header_of(&plain, header::CONTENT_ENCODING), "");
    assert_eq!(plain.text().await.unwrap(), "console.log('plain')");

    let unhashed = get("/robots.txt", None).await.unwrap();
    assert_eq!(header_of(&unhashed, header::CACHE_CONTROL), "no-cache");
    let index = get("/", Some("br")).await.unwrap();
    assert_eq!(header_of(&index, header::CACHE_CONTROL), "no-cache");
}

#[tokio::test]
async fn a_request_for_another_host_is_refused_and_loopback_is_not() {
    let app = spawn_sandbox().await;
    let send = |host: &'static str| {
        let app = app.clone();
        async move {
            reqwest::Client::new()
                .get(app.url("/api/session"))
                .header(header::HOST, host)
                .send()
                .await
                .unwrap()
        }
    };

    let rebound = send("evil.example").await;
    assert_eq!(rebound.status(), StatusCode::MISDIRECTED_REQUEST);
    assert!(
        rebound
            .headers()
            .contains_key(header::CONTENT_SECURITY_POLICY)
    );
    for host in ["localhost:8080", "127.0.0.1", "[::1]:9"] {
        assert_eq!(send(host).await.status(), StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn over_https_every_answer_asks_the_browser_to_stay_on_https() {
    let app = spawn_app(Settings::default(), |config| {
        config.public_url = url::Url::parse("https://localhost:8443").unwrap();
    })
    .await;

    let response = app.browser.get(app.url("/healthz")).send().await.unwrap();

    assert_eq!(
        response.headers()[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
    let plain = spawn_sandbox().await;
    let response = plain
        .browser
        .get(plain.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert!(
        !response
            .headers()
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    );
}
