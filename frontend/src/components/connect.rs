//! The Connect link and the request's options, each explained in a line: scope
//! and optional_scope as editable chips (preset from the server's configuration),
//! the account to suggest, a device name (so Yandex can revoke the token), and
//! "ask me again". The options are remembered in this browser; none is secret.

use leptos::{ev::KeyboardEvent, prelude::*};
use serde::{Deserialize, Serialize};
use tokenbridge_shared::ProviderKind;

use crate::{api::login_href, i18n::use_lang};

const STORAGE_KEY: &str = "tokenbridge.options";

/// What the person chose for their next sign-in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    pub scope: Vec<String>,
    pub optional_scope: Vec<String>,
    pub login_hint: String,
    pub device_name: String,
    pub force_confirm: bool,
}

impl Options {
    /// The remembered options, or the configured scope for a first visit.
    pub fn load(default_scope: Option<&str>) -> Self {
        let stored = storage()
            .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
            .and_then(|json| js_sys::JSON::parse(&json).ok())
            .and_then(|value| serde_wasm_bindgen::from_value::<Options>(value).ok());
        stored.unwrap_or_else(|| Options {
            scope: default_scope
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            ..Options::default()
        })
    }

    fn save(&self) {
        let json = serde_wasm_bindgen::to_value(self)
            .ok()
            .and_then(|v| js_sys::JSON::stringify(&v).ok());
        if let (Some(storage), Some(json)) = (storage(), json) {
            let _ = storage.set_item(STORAGE_KEY, &String::from(json));
        }
    }

    pub fn href(&self) -> String {
        login_href(self)
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

#[component]
pub fn ConnectPanel(
    provider: ProviderKind,
    default_scope: Option<String>,
    /// True when this browser already has a connection: the panel then offers another.
    #[prop(default = false)]
    another: bool,
) -> impl IntoView {
    let lang = use_lang();
    let options = RwSignal::new(Options::load(default_scope.as_deref()));
    Effect::new(move |_| options.with(Options::save));
    let scope = Signal::derive(move || options.with(|o| o.scope.clone()));
    let optional = Signal::derive(move || options.with(|o| o.optional_scope.clone()));
    let lead = move || {
        let (en, ru) = match provider {
            ProviderKind::Yandex => ("Yandex", "Яндекса"),
            ProviderKind::Custom => ("the provider", "провайдера"),
            ProviderKind::Sandbox => ("the sandbox", "песочницы"),
        };
        match lang.get() {
            crate::i18n::Lang::En => format!(
                "Connect sends you to {en}. Click Allow there and you come back here with a token."
            ),
            crate::i18n::Lang::Ru => format!(
                "«Подключить» откроет страницу {ru}. Нажмите там «Разрешить» — и вернётесь сюда с токеном."
            ),
        }
    };
    view! {
        <section class="card connect">
            <h2>{move || if another {
                lang.get().tr("Connect another account", "Подключить ещё один аккаунт")
            } else {
                lang.get().tr("Connect your account", "Подключите аккаунт")
            }}</h2>
            <p>{lead}</p>
            <ChipsField
                id="scope"
                label=Signal::derive(move || lang.get().tr("Access (scope)", "Доступ (scope)"))
                hint=Signal::derive(move || lang.get().tr(
                    "The permissions to ask for, such as direct:api. Empty means the app's default.",
                    "Какие права запросить, например direct:api. Пусто — как настроено в приложении.",
                ))
                values=scope
                on_change=Callback::new(move |values| options.update(|o| o.scope = values))
            />
            <ChipsField
                id="optional-scope"
                label=Signal::derive(move || lang.get().tr("Optional access (optional_scope)", "Необязательный доступ (optional_scope)"))
                hint=Signal::derive(move || lang.get().tr(
                    "Permissions the person may switch off on the consent page.",
                    "Права, которые пользователь может отключить на странице согласия.",
                ))
                values=optional
                on_change=Callback::new(move |values| options.update(|o| o.optional_scope = values))
            />
            <div class="field">
                <label for="login-hint">{move || lang.get().tr("Account (optional)", "Аккаунт (необязательно)")}</label>
                <input id="login-hint" type="text" autocomplete="username"
                    placeholder=move || lang.get().tr("login or email", "логин или почта")
                    prop:value=move || options.with(|o| o.login_hint.clone())
                    on:input=move |ev| options.update(|o| o.login_hint = event_target_value(&ev)) />
                <p class="hint">{move || lang.get().tr("Suggests which account to sign in with (login_hint).", "Подскажет, каким аккаунтом войти (login_hint).")}</p>
            </div>
            <div class="field">
                <label for="device-name">{move || lang.get().tr("Device name (optional)", "Имя устройства (необязательно)")}</label>
                <input id="device-name" type="text"
                    placeholder=move || lang.get().tr("e.g. reporting server", "например, сервер отчётов")
                    prop:value=move || options.with(|o| o.device_name.clone())
                    on:input=move |ev| options.update(|o| o.device_name = event_target_value(&ev)) />
                <p class="hint">{move || lang.get().tr(
                    "Yandex can revoke a token only if it was issued for a named device.",
                    "Яндекс может отозвать токен, только если он выдан для именованного устройства.",
                )}</p>
            </div>
            <div class="field checkbox">
                <input id="force-confirm" type="checkbox"
                    prop:checked=move || options.with(|o| o.force_confirm)
                    on:change=move |ev| options.update(|o| o.force_confirm = event_target_checked(&ev)) />
                <label for="force-confirm">{move || lang.get().tr(
                    "Ask me again, even if I allowed access before (force_confirm)",
                    "Спросить снова, даже если доступ уже разрешён (force_confirm)",
                )}</label>
            </div>
            <p class="hint">{move || lang.get().tr("These options are remembered in this browser; nothing secret is stored.", "Настройки запоминаются в этом браузере; секреты не сохраняются.")}</p>
            <a class="button primary" href=move || options.with(Options::href) data-testid="connect">{move || lang.get().tr("Connect", "Подключить")}</a>
        </section>
    }
}

/// An editable list of words: type one and press Enter (or space, or comma); × removes one;
/// Backspace in the empty box removes the last.
#[component]
fn ChipsField(
    id: &'static str,
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
        <div class="field chips" data-testid=id>
            <label for=id>{label}</label>
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
