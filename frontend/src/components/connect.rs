//! The Connect buttons, one for each configured provider, each followed by that
//! provider's request options folded under "Options", each explained in a line:
//! scope (preset from the provider's configuration) as editable chips, the account
//! to suggest, and "ask me again"; for a kind that speaks Yandex's dialect also
//! optional_scope and a device name (so Yandex can revoke the token). Each
//! provider's options, and whether its Options are open, are remembered in this
//! browser; none is secret.

use leptos::{ev::KeyboardEvent, prelude::*};
use serde::{Deserialize, Serialize};
use tokenbridge_shared::{ProviderKind, ProviderView};

use crate::{
    api::login_href,
    i18n::{Lang, use_lang},
    messages::provider_label,
};

const OPTIONS_KEY: &str = "tokenbridge.options";
const OPEN_KEY: &str = "tokenbridge.options-open";

/// What the person chose for their next sign-in at one provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    pub scope: Vec<String>,
    /// Sent only to a kind that speaks Yandex's dialect.
    pub optional_scope: Vec<String>,
    pub login_hint: String,
    /// Sent only to a kind that speaks Yandex's dialect.
    pub device_name: String,
    /// Ask for consent again: `force_confirm=yes` in Yandex's dialect, else `prompt=consent`.
    /// (Remembered as `force_confirm` before there were several dialects.)
    #[serde(alias = "force_confirm")]
    pub ask_again: bool,
}

impl Options {
    /// The options remembered for this provider, or its configured scope for a first visit.
    pub fn load(provider_id: &str, default_scope: Option<&str>) -> Self {
        let stored = storage()
            .and_then(|s| s.get_item(&key(OPTIONS_KEY, provider_id)).ok().flatten())
            .and_then(|json| crate::json::from_str::<Options>(&json).ok());
        stored.unwrap_or_else(|| Options {
            scope: default_scope
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            ..Options::default()
        })
    }

    fn save(&self, provider_id: &str) {
        if let (Some(storage), Some(json)) = (storage(), crate::json::to_string(self)) {
            let _ = storage.set_item(&key(OPTIONS_KEY, provider_id), &json);
        }
    }
}

/// One provider's key under `base`. An old server's only provider (no id) keeps the
/// key every provider shared before there were several.
fn key(base: &str, provider_id: &str) -> String {
    if provider_id.is_empty() {
        base.to_owned()
    } else {
        format!("{base}.{provider_id}")
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn remembered_open(provider_id: &str) -> bool {
    storage()
        .and_then(|s| s.get_item(&key(OPEN_KEY, provider_id)).ok().flatten())
        .is_some_and(|value| value == "true")
}

fn remember_open(provider_id: &str, open: bool) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(&key(OPEN_KEY, provider_id), &open.to_string());
    }
}

/// Where Connect sends the person, in a sentence.
fn lead(kind: Option<ProviderKind>, lang: Lang) -> String {
    let (en, ru) = match kind {
        Some(ProviderKind::Yandex) => ("Yandex", "Яндекса"),
        Some(ProviderKind::Custom) => ("the provider", "провайдера"),
        Some(ProviderKind::Oidc) => ("the OpenID provider", "OpenID-провайдера"),
        Some(ProviderKind::Sandbox) => ("the sandbox", "песочницы"),
        None => ("the provider you pick", "выбранного провайдера"),
    };
    match lang {
        Lang::En => format!(
            "Connect sends you to {en}. Click Allow there and you come back here with a token."
        ),
        Lang::Ru => format!(
            "«Подключить» откроет страницу {ru}. Нажмите там «Разрешить» — и вернётесь сюда с токеном."
        ),
    }
}

/// A Connect button for each provider, in order. A provider with an empty id stands for
/// an old server's only provider: its link names no provider and its button is just "Connect".
#[component]
pub fn ConnectPanel(
    providers: Vec<ProviderView>,
    /// True when this browser already has a connection: the panel then offers another.
    #[prop(default = false)]
    another: bool,
) -> impl IntoView {
    let lang = use_lang();
    let only = match providers.as_slice() {
        [only] => Some(only.kind),
        _ => None,
    };
    let several = providers.len() > 1;
    view! {
        <section class="card connect">
            <h2>{move || if another {
                lang.get().tr("Connect another account", "Подключить ещё один аккаунт")
            } else {
                lang.get().tr("Connect your account", "Подключите аккаунт")
            }}</h2>
            <p>{move || lead(only, lang.get())}</p>
            {providers.into_iter().enumerate().map(|(index, provider)| view! {
                <ProviderConnect provider=provider index=index titled=several />
            }).collect_view()}
        </section>
    }
}

/// One provider's Connect button, then its options folded away.
#[component]
fn ProviderConnect(
    provider: ProviderView,
    /// Its place in the list, which keeps its fields' ids apart from the others'.
    index: usize,
    /// Whether to head it with the provider's name (when there are several).
    titled: bool,
) -> impl IntoView {
    let lang = use_lang();
    let ProviderView {
        id,
        kind,
        name,
        default_scope,
    } = provider;
    let yandex = kind.speaks_yandex();
    let options = RwSignal::new(Options::load(&id, default_scope.as_deref()));
    // Remembered as first shown, and again at every change.
    options.with_untracked(|o| o.save(&id));
    let saved_as = StoredValue::new(id.clone());
    let edit = move |change: &mut dyn FnMut(&mut Options)| {
        options.update(|o| change(o));
        saved_as.with_value(|id| options.with_untracked(|o| o.save(id)));
    };
    let href = {
        let id = id.clone();
        move || options.with(|o| login_href(&id, kind, o))
    };
    let label = move || provider_label(kind, &name, lang.get());
    let accessible_name = {
        let named = !id.is_empty();
        let label = label.clone();
        move || named.then(|| format!("{} {}", lang.get().tr("Connect", "Подключить"), label()))
    };
    let open = remembered_open(&id);
    let on_toggle = {
        let id = id.clone();
        move |ev: leptos::ev::Event| {
            remember_open(
                &id,
                event_target::<web_sys::Element>(&ev).has_attribute("open"),
            );
        }
    };
    let field = move |name: &str| format!("{name}-{index}");
    let scope = Signal::derive(move || options.with(|o| o.scope.clone()));
    let optional = Signal::derive(move || options.with(|o| o.optional_scope.clone()));
    let (scope_hint_en, scope_hint_ru) = if yandex {
        (
            "The permissions to ask for, such as direct:api. Empty means the app's default.",
            "Какие права запросить, например direct:api. Пусто — как настроено в приложении.",
        )
    } else {
        (
            "The permissions to ask for. Empty means the app's default.",
            "Какие права запросить. Пусто — как настроено в приложении.",
        )
    };
    let ask_again_param = if yandex {
        "force_confirm"
    } else {
        "prompt=consent"
    };
    view! {
        <div class="provider-connect" data-testid="provider-connect" data-provider=id.clone()>
            {titled.then(|| view! { <h3>{label.clone()}</h3> })}
            <a class="button primary" href=href aria-label=accessible_name data-testid="connect">{move || lang.get().tr("Connect", "Подключить")}</a>
            <details class="options" data-testid="options" open=open on:toggle=on_toggle>
                <summary>{move || lang.get().tr("Options", "Параметры")}</summary>
                <ChipsField
                    id=field("scope")
                    testid="scope"
                    label=Signal::derive(move || lang.get().tr("Access (scope)", "Доступ (scope)"))
                    hint=Signal::derive(move || lang.get().tr(scope_hint_en, scope_hint_ru))
                    values=scope
                    on_change=Callback::new(move |values: Vec<String>| edit(&mut |o| o.scope = values.clone()))
                />
                {yandex.then(|| view! {
                    <ChipsField
                        id=field("optional-scope")
                        testid="optional-scope"
                        label=Signal::derive(move || lang.get().tr("Optional access (optional_scope)", "Необязательный доступ (optional_scope)"))
                        hint=Signal::derive(move || lang.get().tr(
                            "Permissions the person may switch off on the consent page.",
                            "Права, которые пользователь может отключить на странице согласия.",
                        ))
                        values=optional
                        on_change=Callback::new(move |values: Vec<String>| edit(&mut |o| o.optional_scope = values.clone()))
                    />
                })}
                <div class="field" data-testid="login-hint">
                    <label for=field("login-hint")>{move || lang.get().tr("Account (optional)", "Аккаунт (необязательно)")}</label>
                    <input id=field("login-hint") type="text" autocomplete="username"
                        placeholder=move || lang.get().tr("login or email", "логин или почта")
                        prop:value=move || options.with(|o| o.login_hint.clone())
                        on:input=move |ev| edit(&mut |o| o.login_hint = event_target_value(&ev)) />
                    <p class="hint">{move || lang.get().tr("Suggests which account to sign in with (login_hint).", "Подскажет, каким аккаунтом войти (login_hint).")}</p>
                </div>
                {yandex.then(|| view! {
                    <div class="field" data-testid="device-name">
                        <label for=field("device-name")>{move || lang.get().tr("Device name (optional)", "Имя устройства (необязательно)")}</label>
                        <input id=field("device-name") type="text"
                            placeholder=move || lang.get().tr("e.g. reporting server", "например, сервер отчётов")
                            prop:value=move || options.with(|o| o.device_name.clone())
                            on:input=move |ev| edit(&mut |o| o.device_name = event_target_value(&ev)) />
                        <p class="hint">{move || lang.get().tr(
                            "Yandex can revoke a token only if it was issued for a named device.",
                            "Яндекс может отозвать токен, только если он выдан для именованного устройства.",
                        )}</p>
                    </div>
                })}
                <div class="field checkbox" data-testid="ask-again">
                    <input id=field("ask-again") type="checkbox"
                        prop:checked=move || options.with(|o| o.ask_again)
                        on:change=move |ev| edit(&mut |o| o.ask_again = event_target_checked(&ev)) />
                    <label for=field("ask-again")>{move || format!("{} ({ask_again_param})", lang.get().tr(
                        "Ask me again, even if I allowed access before",
                        "Спросить снова, даже если доступ уже разрешён",
                    ))}</label>
                </div>
                <p class="hint">{move || lang.get().tr("These options are remembered in this browser; nothing secret is stored.", "Настройки запоминаются в этом браузере; секреты не сохраняются.")}</p>
            </details>
        </div>
    }
}

/// An editable list of words: type one and press Enter (or space, or comma); × removes one;
/// Backspace in the empty box removes the last.
#[component]
fn ChipsField(
    /// The text box's id.
    id: String,
    testid: &'static str,
    label: Signal<&'static str>,
    hint: Signal<&'static str>,
    values: Signal<Vec<String>>,
    on_change: Callback<Vec<String>>,
) -> impl IntoView {
    let lang = use_lang();
    let (draft, set_draft) = signal(String::new());
    let add = move |text: &str| {
        let mut list = values.get_untracked();
        for word in text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
        {
            if !list.iter().any(|v| v == word) {
                list.push(word.to_owned());
            }
        }
        on_change.run(list);
        set_draft.set(String::new());
    };
    let keydown = move |ev: KeyboardEvent| match ev.key().as_str() {
        "Enter" | " " | "," => {
            ev.prevent_default();
            add(&draft.get_untracked());
        }
        "Backspace" if draft.get_untracked().is_empty() => {
            let mut list = values.get_untracked();
            if list.pop().is_some() {
                on_change.run(list);
            }
        }
        _ => {}
    };
    view! {
        <div class="field chips" data-testid=testid>
            <label for=id.clone()>{label}</label>
            <ul class="chip-list">
                {move || values.get().into_iter().map(|value| {
                    let removed = value.clone();
                    let aria = move || format!("{} {}", lang.get().tr("Remove", "Убрать"), removed);
                    let shown = value.clone();
                    view! {
                        <li class="chip">
                            <span>{shown}</span>
                            <button type="button" class="chip-remove" aria-label=aria on:click=move |_| {
                                on_change.run(values.get_untracked().into_iter().filter(|v| *v != value).collect());
                            }>"×"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
            <input id=id type="text"
                placeholder=move || lang.get().tr("type, then Enter", "введите и нажмите Enter")
                prop:value=draft
                on:input=move |ev| set_draft.set(event_target_value(&ev))
                on:keydown=keydown
                on:blur=move |_| add(&draft.get_untracked()) />
            <p class="hint">{hint}</p>
        </div>
    }
}
