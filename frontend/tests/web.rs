//! The app's parts, mounted in headless Chromium and read back from the DOM.
#![cfg(target_arch = "wasm32")]
// A failed step in a test should stop it where it failed.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use leptos::prelude::*;
use tokenbridge_frontend::components::{ConnectPanel, ErrorView, TokenCard};
use tokenbridge_frontend::i18n::{Lang, LanguageSwitch};
use tokenbridge_frontend::time::remaining;
use tokenbridge_shared::{ApiError, ErrorCode, ProviderKind, ProviderView, TokenView};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{HtmlElement, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

/// A fresh element to mount into; removed by the returned guard's drop.
struct Stage(HtmlElement);

impl Stage {
    fn new() -> Self {
        let document = document();
        let element: HtmlElement = document.create_element("div").unwrap().unchecked_into();
        document.body().unwrap().append_child(&element).unwrap();
        Self(element)
    }

    fn find(&self, selector: &str) -> HtmlElement {
        self.0
            .query_selector(selector)
            .unwrap()
            .unwrap_or_else(|| panic!("no element matches {selector}: {}", self.0.inner_html()))
            .unchecked_into()
    }

    fn text(&self, selector: &str) -> String {
        self.find(selector).text_content().unwrap_or_default()
    }

    fn button(&self, label: &str) -> HtmlElement {
        self.maybe_button(label)
            .unwrap_or_else(|| panic!("no button {label:?}"))
    }

    fn maybe_button(&self, label: &str) -> Option<HtmlElement> {
        let buttons = self.0.query_selector_all("button").unwrap();
        (0..buttons.length())
            .filter_map(|i| buttons.item(i))
            .map(|node| node.unchecked_into::<HtmlElement>())
            .find(|b| b.text_content().as_deref() == Some(label))
    }

    fn has(&self, selector: &str) -> bool {
        self.0.query_selector(selector).unwrap().is_some()
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.0.remove();
    }
}

async fn settle() {
    leptos::task::tick().await;
    gloo_sleep(Duration::from_millis(20)).await;
    leptos::task::tick().await;
}

async fn gloo_sleep(duration: Duration) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                &resolve,
                duration.as_millis() as i32,
            )
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

fn now() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

fn sample_token() -> TokenView {
    TokenView {
        access_token: "y0_SANDBOXabcdefghijklmnopqrstuvwxyz0123456789".into(),
        token_type: "bearer".into(),
        expires_at: Some(now() + 2 * 86_400 + 3 * 3600 + 30),
        obtained_at: now(),
        scope: Some("direct:api".into()),
        has_refresh_token: true,
    }
}

#[wasm_bindgen_test]
async fn the_token_card_shows_the_whole_token_its_type_expiry_and_scope() {
    let stage = Stage::new();
    let token = sample_token();
    let shown = token.clone();
    let _app = leptos::mount::mount_to(stage.0.clone(), move || {
        view! { <TokenCard token=shown.clone() on_disconnect=Callback::new(|()| {}) /> }
    });
    settle().await;

    assert_eq!(stage.text("[data-testid=access-token]"), token.access_token);
    assert_eq!(stage.text("[data-testid=token-type]"), "bearer");
    assert_eq!(stage.text("[data-testid=scope]"), "direct:api");
    assert_eq!(stage.text("[data-testid=countdown]"), "(in 2 d 3 h 0 min)");
    let expires = stage.text("[data-testid=expires]");
    let year = js_sys::Date::new_0().get_full_year().to_string();
    assert!(
        expires.contains(&year)
            || expires.contains(&(year.parse::<i32>().unwrap() + 1).to_string()),
        "a date: {expires}"
    );
    assert!(
        stage
            .0
            .text_content()
            .unwrap()
            .contains("held by the server")
    );
}

#[wasm_bindgen_test]
async fn copy_says_what_happened_and_disconnect_calls_back() {
    let stage = Stage::new();
    let (disconnected, set_disconnected) = signal(false);
    let _app = leptos::mount::mount_to(stage.0.clone(), move || {
        view! { <TokenCard token=sample_token() on_disconnect=Callback::new(move |()| set_disconnected.set(true)) /> }
    });
    settle().await;
    assert_eq!(stage.text(".feedback"), "");

    stage.button("Copy").click();
    let mut feedback = String::new();
    for _ in 0..50 {
        settle().await;
        feedback = stage.text(".feedback");
        if !feedback.is_empty() {
            break;
        }
    }
    assert!(
        feedback == "Copied" || feedback.starts_with("Copy failed"),
        "feedback after Copy: {feedback:?}"
    );

    stage.button("Disconnect").click();
    settle().await;
    assert!(disconnected.get_untracked());
}

#[wasm_bindgen_test]
async fn a_token_without_expiry_says_so() {
    let stage = Stage::new();
    let token = TokenView {
        expires_at: None,
        scope: None,
        ..sample_token()
    };
    let _app = leptos::mount::mount_to(stage.0.clone(), move || {
        view! { <TokenCard token=token.clone() on_disconnect=Callback::new(|()| {}) /> }
    });
    settle().await;

    assert_eq!(
        stage.text("[data-testid=expires]"),
        "not stated by the provider"
    );
    assert_eq!(
        stage.text("[data-testid=scope]"),
        "the application's default"
    );
}

#[wasm_bindgen_test]
async fn declining_at_yandex_reads_as_such_with_a_way_to_start_again() {
    let stage = Stage::new();
    let _app = leptos::mount::mount_to(stage.0.clone(), || {
        view! { <ErrorView error=ApiError::new(ErrorCode::AccessDenied) provider=ProviderKind::Yandex /> }
    });
    settle().await;

    assert_eq!(
        stage.text("[data-testid=error] h2"),
        "You declined access at Yandex"
    );
    let again = stage.find("[data-testid=error] a");
    assert_eq!(again.text_content().as_deref(), Some("Start again"));
    assert_eq!(again.get_attribute("href").as_deref(), Some("/auth/login"));

    stage.button("Dismiss").click();
    settle().await;
    assert!(
        stage
            .0
            .query_selector("[data-testid=error]")
            .unwrap()
            .is_none()
    );
}

#[wasm_bindgen_test]
async fn every_error_code_has_its_own_words() {
    let mut seen = std::collections::HashSet::new();
    for code in ErrorCode::ALL {
        let stage = Stage::new();
        let _app = leptos::mount::mount_to(stage.0.clone(), move || {
            view! { <ErrorView error=ApiError::new(code) provider=ProviderKind::Sandbox /> }
        });
        settle().await;
        let words = format!(
            "{} / {}",
            stage.text("[data-testid=error] h2"),
            stage.text("[data-testid=error] p")
        );
        assert_eq!(
            stage
                .find("[data-testid=error]")
                .get_attribute("data-code")
                .as_deref(),
            Some(code.as_str())
        );
        assert!(
            seen.insert(words.clone()),
            "{code} repeats another code's words: {words}"
        );
    }
}

#[wasm_bindgen_test]
async fn the_providers_words_are_shown_as_text() {
    let stage = Stage::new();
    let error = ApiError::new(ErrorCode::AuthorizationFailed)
        .with_provider_message(Some("<b>bad</b> scope".into()));
    let _app = leptos::mount::mount_to(stage.0.clone(), move || {
        view! { <ErrorView error=error.clone() provider=ProviderKind::Custom /> }
    });
    settle().await;

    assert_eq!(stage.text(".provider-words q"), "<b>bad</b> scope");
    assert!(
        stage
            .0
            .query_selector(".provider-words b")
            .unwrap()
            .is_none()
    );
}

/// Forgets every provider's remembered options, and whether they were open.
fn forget_options() {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let keys: Vec<String> = (0..storage.length().unwrap())
        .filter_map(|i| storage.key(i).unwrap())
        .filter(|key| key.starts_with("tokenbridge.options"))
        .collect();
    for key in keys {
        storage.remove_item(&key).unwrap();
    }
}

fn provider(id: &str, kind: ProviderKind, name: &str, default_scope: Option<&str>) -> ProviderView {
    ProviderView {
        id: id.into(),
        kind,
        name: name.into(),
        default_scope: default_scope.map(str::to_owned),
    }
}

/// What an old server, which lists no providers, stands for: its only provider, unnamed.
fn only_provider(kind: ProviderKind, default_scope: Option<&str>) -> Vec<ProviderView> {
    vec![provider("", kind, "", default_scope)]
}

/// The name a screen reader gives the element: its label, else its text.
fn accessible_name(element: &HtmlElement) -> String {
    element
        .get_attribute("aria-label")
        .unwrap_or_else(|| element.text_content().unwrap_or_default())
}

fn all(root: &HtmlElement, selector: &str) -> Vec<HtmlElement> {
    let nodes = root.query_selector_all(selector).unwrap();
    (0..nodes.length())
        .filter_map(|i| nodes.item(i))
        .map(|node| node.unchecked_into())
        .collect()
}

fn type_into(input: &HtmlInputElement, text: &str) {
    input.set_value(text);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    input
        .dispatch_event(&web_sys::Event::new_with_event_init_dict("input", &init).unwrap())
        .unwrap();
}

fn press(input: &HtmlInputElement, key: &str) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key(key);
    init.set_bubbles(true);
    input
        .dispatch_event(
            &web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap(),
        )
        .unwrap();
}

#[wasm_bindgen_test]
async fn the_connect_link_carries_the_login_hint_and_ask_again() {
    forget_options();
    let stage = Stage::new();
    let _app = leptos::mount::mount_to(stage.0.clone(), || {
        view! { <ConnectPanel providers=only_provider(ProviderKind::Sandbox, None) /> }
    });
    settle().await;
    let link = || stage.find("[data-testid=connect]");
    assert_eq!(link().text_content().as_deref(), Some("Connect"));
    assert_eq!(
        link().get_attribute("aria-label"),
        None,
        "an old server's single button is just Connect"
    );
    assert_eq!(link().get_attribute("href").as_deref(), Some("/auth/login"));

    stage.find("[data-testid=options] summary").click();
    let input: HtmlInputElement = stage.find("#login-hint-0").unchecked_into();
    input.set_value("alice smith@x");
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    input
        .dispatch_event(&web_sys::Event::new_with_event_init_dict("input", &init).unwrap())
        .unwrap();
    stage.find("#ask-again-0").click();
    settle().await;

    assert_eq!(
        link().get_attribute("href").as_deref(),
        Some("/auth/login?login_hint=alice%20smith%40x&force_confirm=yes")
    );
    forget_options();
}

#[wasm_bindgen_test]
fn the_countdown_reads_naturally_in_both_languages() {
    assert_eq!(remaining(0, Lang::En), "expired");
    assert_eq!(remaining(-5, Lang::En), "expired");
    assert_eq!(remaining(3 * 3600 + 4 * 60 + 5, Lang::En), "in 03:04:05");
    assert_eq!(remaining(86_400 + 60, Lang::En), "in 1 d 0 h 1 min");
    assert_eq!(remaining(86_400 + 60, Lang::Ru), "через 1 д 0 ч 1 мин");
    assert_eq!(remaining(0, Lang::Ru), "истёк");
}

fn sample_connection(
    login: &str,
    status: tokenbridge_shared::ConnectionStatus,
) -> tokenbridge_shared::ConnectionView {
    tokenbridge_shared::ConnectionView {
        id: format!("id-{login}"),
        provider: ProviderKind::Sandbox,
        provider_id: "sandbox".into(),
        account_id: "1".into(),
        login: login.into(),
        status,
        token: sample_token(),
        device_name: Some("laptop".into()),
        created_at: now(),
        refreshed_at: None,
    }
}

#[wasm_bindgen_test]
async fn the_connection_list_shows_each_account_its_state_and_acts_on_it() {
    use tokenbridge_frontend::components::ConnectionList;
    use tokenbridge_shared::ConnectionStatus;
    let stage = Stage::new();
    let (refreshed, set_refreshed) = signal(None::<String>);
    let (disconnected, set_disconnected) = signal(None::<String>);
    let connections = vec![
        sample_connection("alice", ConnectionStatus::Active),
        sample_connection("bob", ConnectionStatus::NeedsReconnect),
    ];
    let _app = leptos::mount::mount_to(stage.0.clone(), move || {
        view! {
            <ConnectionList
                connections=connections.clone()
                providers=vec![provider("sandbox", ProviderKind::Sandbox, "Sandbox", None)]
                on_refresh=Callback::new(move |id| set_refreshed.set(Some(id)))
                on_disconnect=Callback::new(move |id| set_disconnected.set(Some(id)))
            />
        }
    });
    settle().await;

    let alice = stage.find("[data-login=alice]");
    assert!(alice.text_content().unwrap().contains("active"));
    assert!(alice.text_content().unwrap().contains("expires in 2 d 3 h"));
    let bob = stage.find("[data-login=bob]");
    assert!(bob.text_content().unwrap().contains("needs a new sign-in"));
    assert_eq!(
        stage
            .find("[data-login=bob] a")
            .get_attribute("href")
            .as_deref(),
        Some("/auth/login?provider=sandbox"),
        "again at the same provider"
    );

    let alice_buttons = alice.query_selector_all("button").unwrap();
    alice_buttons
        .item(0)
        .unwrap()
        .unchecked_into::<HtmlElement>()
        .click();
    alice_buttons
        .item(1)
        .unwrap()
        .unchecked_into::<HtmlElement>()
        .click();
    settle().await;
    assert_eq!(refreshed.get_untracked().as_deref(), Some("id-alice"));
    assert_eq!(disconnected.get_untracked().as_deref(), Some("id-alice"));
    let bob_refresh: web_sys::HtmlButtonElement = bob
        .query_selector("button")
        .unwrap()
        .unwrap()
        .unchecked_into();
    assert!(
        bob_refresh.disabled(),
        "a refused connection cannot be refreshed, only reconnected"
    );
}

#[wasm_bindgen_test]
async fn the_use_it_panel_gives_the_header_and_a_direct_api_call() {
    use tokenbridge_frontend::components::UsePanel;
    let stage = Stage::new();
    let _app = leptos::mount::mount_to(stage.0.clone(), || {
        view! { <UsePanel token="y0_TOKEN".to_owned() provider=ProviderKind::Sandbox /> }
    });
    settle().await;

    assert_eq!(
        stage.text("[data-testid=auth-header]"),
        "Authorization: Bearer y0_TOKEN"
    );
    let curl = stage.text("[data-testid=direct-curl]");
    assert!(
        curl.contains("https://api.direct.yandex.com/json/v5/campaigns")
            && curl.contains("Bearer y0_TOKEN"),
        "{curl}"
    );
    assert!(!curl.contains("Client-Login"));
    assert!(
        stage
            .text("[data-testid=sandbox-curl]")
            .contains("/sandbox/info?format=json")
    );

    let input: HtmlInputElement = stage.find("#client-login").unchecked_into();
    input.set_value("agency-client");
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    input
        .dispatch_event(&web_sys::Event::new_with_event_init_dict("input", &init).unwrap())
        .unwrap();
    settle().await;
    assert!(
        stage
            .text("[data-testid=direct-curl]")
            .contains("-H \"Client-Login: agency-client\"")
    );
}

#[wasm_bindgen_test]
async fn scope_chips_are_typed_removed_preset_and_remembered() {
    forget_options();
    let stage = Stage::new();
    let app = leptos::mount::mount_to(stage.0.clone(), || {
        view! { <ConnectPanel providers=only_provider(ProviderKind::Yandex, Some("direct:api")) /> }
    });
    settle().await;
    let link = || {
        stage
            .find("[data-testid=connect]")
            .get_attribute("href")
            .unwrap_or_default()
    };
    assert_eq!(
        link(),
        "/auth/login?scope=direct%3Aapi",
        "preset from the configuration"
    );

    let optional: HtmlInputElement = stage.find("#optional-scope-0").unchecked_into();
    type_into(&optional, "metrika:read");
    press(&optional, "Enter");
    settle().await;
    assert_eq!(
        link(),
        "/auth/login?scope=direct%3Aapi&optional_scope=metrika%3Aread"
    );
    assert_eq!(
        stage.text("[data-testid=optional-scope] .chip span"),
        "metrika:read"
    );

    stage.find("[data-testid=scope] .chip-remove").click();
    settle().await;
    assert_eq!(link(), "/auth/login?optional_scope=metrika%3Aread");
    drop(app);
    drop(stage);

    // A new visit finds the same options.
    let again = Stage::new();
    let _app = leptos::mount::mount_to(again.0.clone(), || {
        view! { <ConnectPanel providers=only_provider(ProviderKind::Yandex, Some("direct:api")) /> }
    });
    settle().await;
    assert_eq!(
        again
            .find("[data-testid=connect]")
            .get_attribute("href")
            .as_deref(),
        Some("/auth/login?optional_scope=metrika%3Aread")
    );
    forget_options();
}

#[wasm_bindgen_test]
async fn the_language_switch_turns_every_text_russian_and_is_remembered() {
    let stage = Stage::new();
    let lang = RwSignal::new(Lang::En);
    let _app = leptos::mount::mount_to(stage.0.clone(), move || {
        provide_context(lang);
        view! {
            <LanguageSwitch />
            <ErrorView error=ApiError::new(ErrorCode::AccessDenied) provider=ProviderKind::Yandex />
            <TokenCard token=sample_token() on_disconnect=Callback::new(|()| {}) />
        }
    });
    settle().await;
    assert_eq!(
        stage.text("[data-testid=error] h2"),
        "You declined access at Yandex"
    );

    stage.button("Русский").click();
    settle().await;

    assert_eq!(
        stage.text("[data-testid=error] h2"),
        "Вы отклонили доступ на стороне Яндекса"
    );
    assert_eq!(stage.text("[data-testid=error] a"), "Начать заново");
    assert_eq!(stage.text("#token-title"), "Ваш токен доступа");
    assert!(
        stage
            .text("[data-testid=countdown]")
            .starts_with("(через 2 д 3 ч")
    );
    stage.button("Копировать");
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    assert_eq!(
        storage.get_item("tokenbridge.lang").unwrap().as_deref(),
        Some("ru")
    );
    assert_eq!(
        document()
            .document_element()
            .unwrap()
            .get_attribute("lang")
            .as_deref(),
        Some("ru")
    );

    stage.button("English").click();
    settle().await;
    assert_eq!(stage.text("#token-title"), "Your access token");
    storage.remove_item("tokenbridge.lang").unwrap();
}

#[wasm_bindgen_test]
async fn every_error_code_has_its_own_words_in_russian_too() {
    let mut seen = std::collections::HashSet::new();
    for code in ErrorCode::ALL {
        let title = tokenbridge_frontend::messages::title(code, ProviderKind::Yandex, Lang::Ru);
        let advice = tokenbridge_frontend::messages::advice(code, ProviderKind::Yandex, Lang::Ru);
        assert!(
            title
                .chars()
                .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap())),
            "{code}: {title}"
        );
        assert!(
            advice
                .chars()
                .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap())),
            "{code}: {advice}"
        );
        assert!(
            seen.insert(format!("{title} / {advice}")),
            "{code} repeats another code's words"
        );
    }
}

#[wasm_bindgen_test]
async fn a_token_near_its_expiry_is_shown_as_a_warning() {
    let stage = Stage::new();
    let token = TokenView {
        expires_at: Some(now() + 3600),
        ..sample_token()
    };
    let _app = leptos::mount::mount_to(stage.0.clone(), move || {
        view! { <TokenCard token=token.clone() on_disconnect=Callback::new(|()| {}) /> }
    });
    settle().await;

    let countdown = stage.find("[data-testid=countdown]");
    assert!(countdown.class_list().contains("warning"));
    assert!(stage.text("[data-testid=expires]").contains("expires soon"));
}

#[wasm_bindgen_test]
async fn the_exchange_log_masks_secrets_and_reveals_only_the_persons_token() {
    use tokenbridge_frontend::components::ExchangeLogPanel;
    use tokenbridge_shared::{ExchangeLog, LogEntry, LogField, LogStep};
    let field = |name: &str, value: &str, masked: bool| LogField {
        name: name.into(),
        value: value.into(),
        masked,
    };
    let log = ExchangeLog {
        entries: vec![
            LogEntry {
                step: LogStep::Callback,
                method: "GET".into(),
                url: "http://localhost/auth/callback".into(),
                status: None,
                fields: vec![field("code", "", true), field("state", "abc", false)],
            },
            LogEntry {
                step: LogStep::TokenResponse,
                method: String::new(),
                url: String::new(),
                status: Some(200),
                fields: vec![
                    field("access_token", "", true),
                    field("refresh_token", "", true),
                    field("token_type", "bearer", false),
                ],
            },
        ],
    };
    let stage = Stage::new();
    let _app = leptos::mount::mount_to(stage.0.clone(), move || {
        view! { <ExchangeLogPanel log=log.clone() access_token=Some("y0_MINE".to_owned()) /> }
    });
    settle().await;

    let text = stage.0.text_content().unwrap();
    assert!(
        text.contains("2. Callback")
            && text.contains("HTTP 200")
            && text.contains("bearer")
            && text.contains("abc")
    );
    assert_eq!(
        stage
            .0
            .query_selector_all("[data-testid=masked]")
            .unwrap()
            .length(),
        3
    );
    assert!(!text.contains("y0_MINE"));

    stage.button("Reveal my access token").click();
    settle().await;
    let text = stage.0.text_content().unwrap();
    assert!(text.contains("y0_MINE"), "the person's own token is shown");
    assert!(
        text.matches("•••• masked").count() == 2,
        "the code and the refresh token stay masked"
    );
}

fn signed_out_view() -> tokenbridge_shared::SessionView {
    tokenbridge_shared::SessionView {
        provider: ProviderKind::Sandbox,
        default_scope: None,
        providers: Vec::new(),
        token: None,
        connections: Vec::new(),
        outcome: None,
        exchange_log: None,
        signed_in: false,
        operator: false,
        all_connections: Vec::new(),
    }
}

/// The whole page for `view`; every action it asks for lands in the returned signal.
fn mount_session(
    stage: &Stage,
    view: tokenbridge_shared::SessionView,
    sign_out_error: ReadSignal<Option<ApiError>>,
) -> (
    leptos::mount::UnmountHandle<impl Mountable>,
    ReadSignal<Vec<tokenbridge_frontend::Act>>,
) {
    use tokenbridge_frontend::Session;
    let (acts, set_acts) = signal(Vec::new());
    let app = leptos::mount::mount_to(stage.0.clone(), move || {
        view! {
            <Session
                view=view.clone()
                on_act=Callback::new(move |act| set_acts.update(|acts| acts.push(act)))
                sign_out_error=sign_out_error
            />
        }
    });
    (app, acts)
}

fn sample_summary(
    login: &str,
    status: tokenbridge_shared::ConnectionStatus,
    expires_in: i64,
) -> tokenbridge_shared::ConnectionSummary {
    tokenbridge_shared::ConnectionSummary {
        id: format!("id-{login}"),
        provider: ProviderKind::Yandex,
        provider_id: String::new(),
        account_id: format!("account-{login}"),
        login: login.into(),
        status,
        expires_at: Some(now() + expires_in),
        scope: Some("direct:api".into()),
        has_refresh_token: true,
        created_at: 1_700_000_000,
        refreshed_at: None,
    }
}

/// alice is fine, bob's token expires within the hour, carol's refresh token was refused.
fn operator_view() -> tokenbridge_shared::SessionView {
    use tokenbridge_shared::ConnectionStatus;
    tokenbridge_shared::SessionView {
        signed_in: true,
        operator: true,
        all_connections: vec![
            sample_summary("alice", ConnectionStatus::Active, 30 * 86_400),
            sample_summary("bob", ConnectionStatus::Active, 3600),
            tokenbridge_shared::ConnectionSummary {
                refreshed_at: Some(1_750_000_000),
                ..sample_summary("carol", ConnectionStatus::NeedsReconnect, 30 * 86_400)
            },
        ],
        ..signed_out_view()
    }
}

fn buttons_in(element: &HtmlElement) -> Vec<web_sys::HtmlButtonElement> {
    let buttons = element.query_selector_all("button").unwrap();
    (0..buttons.length())
        .filter_map(|i| buttons.item(i))
        .map(|node| node.unchecked_into())
        .collect()
}

#[wasm_bindgen_test]
async fn sign_out_is_offered_only_to_a_signed_in_browser_and_asks_to_sign_out() {
    use tokenbridge_frontend::Act;
    let (no_error, _) = signal(None::<ApiError>);

    let stage = Stage::new();
    let (app, acts) = mount_session(&stage, signed_out_view(), no_error);
    settle().await;
    assert!(stage.has("[data-testid=connect]"), "the Connect state");
    assert!(
        stage.maybe_button("Sign out").is_none(),
        "nothing to sign out of: {}",
        stage.0.inner_html()
    );
    drop(app);
    drop(stage);

    let stage = Stage::new();
    let view = tokenbridge_shared::SessionView {
        signed_in: true,
        ..signed_out_view()
    };
    let (_app, acts_signed_in) = mount_session(&stage, view, no_error);
    settle().await;
    let sign_out = stage.button("Sign out");
    assert_eq!(
        sign_out.get_attribute("aria-label"),
        None,
        "its text is its accessible name"
    );
    assert!(acts_signed_in.get_untracked().is_empty());
    sign_out.click();
    settle().await;
    assert_eq!(acts_signed_in.get_untracked(), vec![Act::SignOut]);
    assert!(acts.get_untracked().is_empty());
}

#[wasm_bindgen_test]
async fn a_failed_sign_out_is_shown_with_the_error_view() {
    let (sign_out_error, set_sign_out_error) = signal(None::<ApiError>);
    let stage = Stage::new();
    let view = tokenbridge_shared::SessionView {
        signed_in: true,
        ..signed_out_view()
    };
    let (_app, _acts) = mount_session(&stage, view, sign_out_error);
    settle().await;
    assert!(!stage.has("[data-testid=error]"));

    set_sign_out_error.set(Some(ApiError::new(ErrorCode::CsrfRejected)));
    settle().await;
    assert_eq!(
        stage
            .find("[data-testid=error]")
            .get_attribute("data-code")
            .as_deref(),
        Some("csrf_rejected")
    );
    assert_eq!(
        stage.text("[data-testid=error] h2"),
        "The request was refused"
    );
    stage.button("Sign out");
}

#[wasm_bindgen_test]
async fn the_operator_table_shows_every_login_where_it_stands_and_acts_on_it() {
    use tokenbridge_frontend::{Act, i18n::Lang, time::local_date};
    let (no_error, _) = signal(None::<ApiError>);
    let stage = Stage::new();
    let (_app, acts) = mount_session(&stage, operator_view(), no_error);
    settle().await;

    assert_eq!(stage.text("#all-connections-title"), "All connections");
    let rows = stage
        .0
        .query_selector_all("[data-testid=all-connections] tbody tr")
        .unwrap();
    assert_eq!(rows.length(), 3);
    for (login, status, renewed) in [
        ("alice", "Fine", 1_700_000_000),
        ("bob", "Expires soon", 1_700_000_000),
        ("carol", "Needs reconnecting", 1_750_000_000),
    ] {
        let row = format!("[data-testid=all-connections] tr[data-login={login}]");
        assert_eq!(stage.text(&format!("{row} .login")), login);
        assert_eq!(
            stage.text(&format!("{row} [data-testid=status]")),
            status,
            "{login}"
        );
        assert_eq!(
            stage.text(&format!("{row} [data-testid=renewed]")),
            local_date(renewed, Lang::En),
            "{login}: refreshed_at, else created_at"
        );
        assert!(
            stage
                .text(&row)
                .contains(ProviderKind::Yandex.display_name()),
            "{login}"
        );
    }
    assert!(
        !stage
            .find("tr[data-login=alice] [data-testid=status]")
            .class_list()
            .contains("warning")
    );
    assert!(
        stage
            .find("tr[data-login=bob] [data-testid=status]")
            .class_list()
            .contains("warning")
    );

    let alice = buttons_in(&stage.find("tr[data-login=alice]"));
    assert_eq!(
        alice
            .iter()
            .map(|b| b.get_attribute("aria-label").unwrap_or_default())
            .collect::<Vec<_>>(),
        ["Refresh alice", "Disconnect alice"]
    );
    alice[0].click();
    buttons_in(&stage.find("tr[data-login=bob]"))[1].click();
    settle().await;
    assert_eq!(
        acts.get_untracked(),
        vec![
            Act::OperatorRefresh("id-alice".into()),
            Act::OperatorDisconnect("id-bob".into()),
        ]
    );
    let carol = buttons_in(&stage.find("tr[data-login=carol]"));
    assert!(
        carol[0].disabled(),
        "a refused connection cannot be refreshed"
    );
    assert!(!carol[1].disabled(), "but it can be disconnected");
}

#[wasm_bindgen_test]
async fn a_person_who_is_not_an_operator_never_sees_all_connections() {
    let (no_error, _) = signal(None::<ApiError>);
    let stage = Stage::new();
    let view = tokenbridge_shared::SessionView {
        operator: false,
        ..operator_view()
    };
    let (_app, _acts) = mount_session(&stage, view, no_error);
    settle().await;

    stage.button("Sign out");
    assert!(!stage.has("[data-testid=all-connections]"));
    let text = stage.0.text_content().unwrap();
    assert!(
        !text.contains("All connections") && !text.contains("carol"),
        "{text}"
    );
}

#[wasm_bindgen_test]
async fn sign_out_and_the_operator_table_read_in_russian() {
    let (no_error, _) = signal(None::<ApiError>);
    let stage = Stage::new();
    let lang = RwSignal::new(Lang::Ru);
    let view = operator_view();
    let _app = leptos::mount::mount_to(stage.0.clone(), move || {
        provide_context(lang);
        view! {
            <tokenbridge_frontend::Session
                view=view.clone()
                on_act=Callback::new(|_| {})
                sign_out_error=no_error
            />
        }
    });
    settle().await;

    stage.button("Выйти");
    assert_eq!(stage.text("#all-connections-title"), "Все подключения");
    assert_eq!(
        stage.text("tr[data-login=alice] [data-testid=status]"),
        "В порядке"
    );
    assert_eq!(
        stage.text("tr[data-login=bob] [data-testid=status]"),
        "Скоро истечёт"
    );
    assert_eq!(
        stage.text("tr[data-login=carol] [data-testid=status]"),
        "Нужно подключить заново"
    );
    assert!(stage.text("thead").contains("Последнее обновление"));
    assert!(stage.text("tr[data-login=alice]").contains("Яндекс OAuth"));
}

/// An OpenID provider named by the configuration, then Yandex with its configured scope.
fn two_providers() -> Vec<ProviderView> {
    vec![
        provider("company", ProviderKind::Oidc, "Company login", None),
        provider("yandex", ProviderKind::Yandex, "Yandex", Some("direct:api")),
    ]
}

#[wasm_bindgen_test]
async fn each_provider_gets_its_own_connect_button_named_for_it_options_after_it() {
    forget_options();
    let (no_error, _) = signal(None::<ApiError>);
    let stage = Stage::new();
    let lang = RwSignal::new(Lang::En);
    let view = tokenbridge_shared::SessionView {
        provider: ProviderKind::Oidc,
        providers: two_providers(),
        ..signed_out_view()
    };
    let _app = leptos::mount::mount_to(stage.0.clone(), move || {
        provide_context(lang);
        view! {
            <tokenbridge_frontend::Session view=view.clone() on_act=Callback::new(|_| {}) sign_out_error=no_error />
        }
    });
    settle().await;

    let buttons = all(&stage.0, "[data-testid=connect]");
    assert_eq!(
        buttons.iter().map(accessible_name).collect::<Vec<_>>(),
        ["Connect Company login", "Connect Yandex"],
        "in the configuration's order"
    );
    assert_eq!(
        buttons
            .iter()
            .map(|b| b.get_attribute("href").unwrap_or_default())
            .collect::<Vec<_>>(),
        [
            "/auth/login?provider=company",
            "/auth/login?provider=yandex&scope=direct%3Aapi"
        ],
        "each to its provider, with its own configured scope"
    );
    for id in ["company", "yandex"] {
        assert!(
            stage.has(&format!(
                "[data-provider={id}] > a[data-testid=connect] + details[data-testid=options]"
            )),
            "{id}: Connect first, then its Options: {}",
            stage.0.inner_html()
        );
    }
    assert_eq!(stage.text(".provider strong"), "Company login, Yandex");

    lang.set(Lang::Ru);
    settle().await;
    assert_eq!(
        all(&stage.0, "[data-testid=connect]")
            .iter()
            .map(accessible_name)
            .collect::<Vec<_>>(),
        ["Подключить Company login", "Подключить Yandex"]
    );
    assert_eq!(stage.text("[data-provider=company] summary"), "Параметры");
}

#[wasm_bindgen_test]
async fn the_options_are_folded_away_at_first_and_stay_open_once_opened() {
    forget_options();
    let providers = vec![provider(
        "folding",
        ProviderKind::Yandex,
        "Yandex",
        Some("direct:api"),
    )];
    let shown = providers.clone();
    let stage = Stage::new();
    let app = leptos::mount::mount_to(stage.0.clone(), move || {
        view! { <ConnectPanel providers=shown.clone() /> }
    });
    settle().await;

    let options = stage.find("[data-testid=options]");
    assert!(!options.has_attribute("open"), "closed by default");
    assert_eq!(stage.text("[data-testid=options] > summary"), "Options");
    for field in [
        "scope",
        "optional-scope",
        "login-hint",
        "device-name",
        "ask-again",
    ] {
        assert!(
            stage.has(&format!(
                "[data-testid=options] [data-testid={field}] input"
            )),
            "{field} is under Options"
        );
    }
    assert!(
        !stage.has("[data-testid=options] [data-testid=connect]"),
        "Connect is not folded away"
    );

    stage.find("[data-testid=options] > summary").click();
    settle().await;
    assert!(stage.find("[data-testid=options]").has_attribute("open"));
    drop(app);
    drop(stage);

    // The next visit finds them open.
    let again = Stage::new();
    let app = leptos::mount::mount_to(again.0.clone(), move || {
        view! { <ConnectPanel providers=providers.clone() /> }
    });
    settle().await;
    assert!(
        again.find("[data-testid=options]").has_attribute("open"),
        "remembered open"
    );
    again.find("[data-testid=options] > summary").click();
    settle().await;
    drop(app);
    drop(again);

    // And closed again once closed.
    let third = Stage::new();
    let _app = leptos::mount::mount_to(third.0.clone(), move || {
        view! { <ConnectPanel providers=vec![provider("folding", ProviderKind::Yandex, "Yandex", None)] /> }
    });
    settle().await;
    assert!(!third.find("[data-testid=options]").has_attribute("open"));
    forget_options();
}

#[wasm_bindgen_test]
async fn an_openid_provider_offers_only_its_options_and_asks_again_with_prompt_consent() {
    forget_options();
    let stage = Stage::new();
    let _app = leptos::mount::mount_to(stage.0.clone(), || {
        view! {
            <ConnectPanel providers=vec![
                provider("company", ProviderKind::Oidc, "Company login", Some("openid email")),
                provider("sandbox", ProviderKind::Sandbox, "Sandbox", None),
            ] />
        }
    });
    settle().await;
    let company = "[data-provider=company]";
    let href = |block: &str| {
        stage
            .find(&format!("{block} [data-testid=connect]"))
            .get_attribute("href")
            .unwrap_or_default()
    };

    assert!(stage.has(&format!("{company} [data-testid=scope]")));
    assert!(stage.has(&format!("{company} [data-testid=login-hint]")));
    assert!(stage.has(&format!("{company} [data-testid=ask-again]")));
    assert!(
        !stage.has(&format!("{company} [data-testid=optional-scope]")),
        "no optional scope outside Yandex's dialect"
    );
    assert!(
        !stage.has(&format!("{company} [data-testid=device-name]")),
        "no device name outside Yandex's dialect"
    );
    assert!(stage.has("[data-provider=sandbox] [data-testid=optional-scope]"));
    assert!(stage.has("[data-provider=sandbox] [data-testid=device-name]"));
    assert!(
        stage
            .text(&format!("{company} [data-testid=ask-again] label"))
            .contains("prompt=consent")
    );

    stage.find(&format!("{company} summary")).click();
    let hint: HtmlInputElement = stage
        .find(&format!("{company} [data-testid=login-hint] input"))
        .unchecked_into();
    type_into(&hint, "bob@company.example");
    stage
        .find(&format!("{company} [data-testid=ask-again] input"))
        .click();
    stage
        .find("[data-provider=sandbox] [data-testid=ask-again] input")
        .click();
    settle().await;

    assert_eq!(
        href(company),
        "/auth/login?provider=company&scope=openid%20email&login_hint=bob%40company.example&prompt=consent"
    );
    assert_eq!(
        href("[data-provider=sandbox]"),
        "/auth/login?provider=sandbox&force_confirm=yes",
        "each provider keeps its own options, in its own dialect"
    );
    forget_options();
}

#[wasm_bindgen_test]
async fn saved_connections_are_grouped_under_their_providers_name() {
    use tokenbridge_frontend::components::ConnectionList;
    use tokenbridge_shared::{ConnectionStatus, ConnectionView};
    let at = |login: &str, kind: ProviderKind, provider_id: &str| ConnectionView {
        provider: kind,
        provider_id: provider_id.into(),
        ..sample_connection(login, ConnectionStatus::Active)
    };
    let connections = vec![
        at("alice", ProviderKind::Yandex, "yandex"),
        at("bob", ProviderKind::Oidc, "company"),
        at("carol", ProviderKind::Yandex, "yandex"),
        // Its provider is no longer configured.
        at("dave", ProviderKind::Custom, "retired"),
    ];
    let stage = Stage::new();
    let _app = leptos::mount::mount_to(stage.0.clone(), move || {
        view! {
            <ConnectionList
                connections=connections.clone()
                providers=two_providers()
                on_refresh=Callback::new(|_| {})
                on_disconnect=Callback::new(|_| {})
            />
        }
    });
    settle().await;

    let groups: Vec<(String, Vec<String>)> = all(&stage.0, "[data-testid=provider-group]")
        .iter()
        .map(|group| {
            let heading = group
                .query_selector("h3")
                .unwrap()
                .unwrap()
                .text_content()
                .unwrap_or_default();
            let logins = all(group, "[data-testid=connection]")
                .iter()
                .filter_map(|item| item.get_attribute("data-login"))
                .collect();
            (heading, logins)
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("Company login".to_owned(), vec!["bob".to_owned()]),
            (
                "Yandex".to_owned(),
                vec!["alice".to_owned(), "carol".to_owned()]
            ),
            ("OAuth 2.0 server".to_owned(), vec!["dave".to_owned()]),
        ],
        "in the providers' order, a retired provider's last under its kind's name"
    );
    let group = stage.find("[data-provider=company]");
    assert_eq!(
        group.get_attribute("aria-labelledby"),
        group
            .query_selector("h3")
            .unwrap()
            .unwrap()
            .get_attribute("id"),
        "each group is named by its heading"
    );
}

#[wasm_bindgen_test]
async fn the_operator_table_names_each_rows_configured_provider() {
    let (no_error, _) = signal(None::<ApiError>);
    let stage = Stage::new();
    let mut view = operator_view();
    view.providers = two_providers();
    view.all_connections[0].provider_id = "company".into();
    view.all_connections[0].provider = ProviderKind::Oidc;
    view.all_connections[1].provider_id = "yandex".into();
    let (_app, _acts) = mount_session(&stage, view, no_error);
    settle().await;

    assert_eq!(
        stage.text("tr[data-login=alice] [data-testid=provider]"),
        "Company login"
    );
    assert_eq!(
        stage.text("tr[data-login=bob] [data-testid=provider]"),
        "Yandex"
    );
    assert_eq!(
        stage.text("tr[data-login=carol] [data-testid=provider]"),
        ProviderKind::Yandex.display_name(),
        "no configured provider has its id: its kind's name"
    );
}
