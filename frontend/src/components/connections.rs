//! This browser's saved connections, under a heading for each provider: each
//! account with its expiry countdown and state, Refresh and Disconnect; and the
//! "Use it" panel for the newest one.

use std::time::Duration;

use leptos::prelude::*;
use tokenbridge_shared::{ConnectionStatus, ConnectionView, ProviderKind, ProviderView, routes};

use super::{CopyButton, Options};
use crate::{
    api::login_href,
    i18n::use_lang,
    messages::provider_label_by_id,
    time::{expires_soon, now, remaining},
};

/// `items` by provider id: the configured providers' groups in their order, then any
/// other id's in the order first seen. Each group keeps its items' order.
fn group_by_provider<T>(
    items: Vec<T>,
    providers: &[ProviderView],
    provider_id: impl Fn(&T) -> &str,
) -> Vec<(String, Vec<T>)> {
    // Seeded in the providers' order, so no sort is needed (one costs the page 2 KB).
    let mut groups: Vec<(String, Vec<T>)> = providers
        .iter()
        .map(|p| (p.id.clone(), Vec::new()))
        .collect();
    for item in items {
        match groups.iter_mut().find(|(id, _)| id == provider_id(&item)) {
            Some((_, group)) => group.push(item),
            None => groups.push((provider_id(&item).to_owned(), vec![item])),
        }
    }
    groups.retain(|(_, group)| !group.is_empty());
    groups
}

#[component]
pub fn ConnectionList(
    connections: Vec<ConnectionView>,
    /// The configured providers, which name the groups.
    providers: Vec<ProviderView>,
    on_refresh: Callback<String>,
    on_disconnect: Callback<String>,
) -> impl IntoView {
    let lang = use_lang();
    let (clock, set_clock) = signal(now());
    if let Ok(handle) =
        set_interval_with_handle(move || set_clock.set(now()), Duration::from_secs(1))
    {
        on_cleanup(move || handle.clear());
    }
    let groups = group_by_provider(connections, &providers, |c| &c.provider_id);
    let providers = StoredValue::new(providers);
    view! {
        <section class="card connections" aria-labelledby="connections-title">
            <h2 id="connections-title">{move || lang.get().tr("Saved connections", "Сохранённые подключения")}</h2>
            <p class="hint">
                {move || lang.get().tr(
                    "Kept on the server, encrypted. Scripts fetch fresh tokens with the API key or ",
                    "Хранятся на сервере в зашифрованном виде. Скрипты получают свежие токены по API-ключу или командой ",
                )}
                <code>"tokenbridge token <login>"</code> "."
            </p>
            {groups.into_iter().enumerate().map(|(index, (provider_id, connections))| {
                let kind = connections.first().map_or(ProviderKind::Custom, |c| c.provider);
                let heading = format!("provider-group-{index}");
                let labelled_by = heading.clone();
                let name = {
                    let provider_id = provider_id.clone();
                    move || providers.with_value(|all| provider_label_by_id(all, &provider_id, kind, lang.get()))
                };
                view! {
                    <section class="provider-group" data-testid="provider-group" data-provider=provider_id aria-labelledby=labelled_by>
                        <h3 id=heading>{name}</h3>
                        <ul class="connection-list">
                            {connections.into_iter().map(|connection| view! {
                                <ConnectionItem connection=connection clock=clock on_refresh=on_refresh on_disconnect=on_disconnect />
                            }).collect_view()}
                        </ul>
                    </section>
                }
            }).collect_view()}
        </section>
    }
}

#[component]
fn ConnectionItem(
    connection: ConnectionView,
    clock: ReadSignal<i64>,
    on_refresh: Callback<String>,
    on_disconnect: Callback<String>,
) -> impl IntoView {
    let lang = use_lang();
    let id = connection.id.clone();
    let id_for_disconnect = connection.id.clone();
    let expires_at = connection.token.expires_at;
    let needs_reconnect = connection.status == ConnectionStatus::NeedsReconnect;
    let soon = move || expires_soon(expires_at, clock.get());
    // Again at the same provider, not the server's first.
    let again = login_href(
        &connection.provider_id,
        connection.provider,
        &Options::default(),
    );
    view! {
        <li class="connection" data-testid="connection" data-login=connection.login.clone()>
            <strong class="login">{connection.login.clone()}</strong>
            {connection.device_name.clone().map(|name| view! { <span class="muted">" · " {name}</span> })}
            <span class="state" data-testid="connection-state">
                {move || if needs_reconnect {
                    view! {
                        <span class="warning">{lang.get().tr("needs a new sign-in", "нужно войти заново")}</span> " "
                        <a href=again.clone()>{lang.get().tr("Connect again", "Подключить заново")}</a>
                    }.into_any()
                } else {
                    view! { {lang.get().tr("active", "активно")} }.into_any()
                }}
            </span>
            <span class="countdown" class:warning=soon>
                {move || match expires_at {
                    Some(at) => format!("{} {}", lang.get().tr("expires", "истекает"), remaining(at - clock.get(), lang.get())),
                    None => lang.get().tr("no stated expiry", "срок не указан").to_owned(),
                }}
            </span>
            <span class="actions">
                <button class="secondary" disabled=needs_reconnect on:click=move |_| on_refresh.run(id.clone())>{move || lang.get().tr("Refresh", "Обновить")}</button>
                <button class="secondary" on:click=move |_| on_disconnect.run(id_for_disconnect.clone())>{move || lang.get().tr("Disconnect", "Отключить")}</button>
            </span>
        </li>
    }
}

/// The token ready to use: the header, and a curl call to the Yandex.Direct API v5.
#[component]
pub fn UsePanel(token: String, provider: ProviderKind) -> impl IntoView {
    let lang = use_lang();
    let (client_login, set_client_login) = signal(String::new());
    let header = format!("Authorization: Bearer {token}");
    let direct = {
        let token = token.clone();
        move || direct_curl(&token, &client_login.get(), lang.get().code())
    };
    let sandbox_call = (provider == ProviderKind::Sandbox).then(|| {
        let origin = web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_default();
        format!(
            "curl -H \"Authorization: OAuth {token}\" \"{origin}{}?format=json\"",
            routes::SANDBOX_USER_INFO
        )
    });
    view! {
        <section class="card use-it" aria-labelledby="use-title">
            <h2 id="use-title">{move || lang.get().tr("Use it", "Как использовать")}</h2>
            <h3>{move || lang.get().tr("The header", "Заголовок")}</h3>
            <pre class="snippet" data-testid="auth-header">{header.clone()}</pre>
            <p class="actions"><CopyButton text=Signal::derive(move || header.clone()) /></p>
            <h3>"Yandex.Direct API v5"</h3>
            <div class="field">
                <label for="client-login">{move || lang.get().tr("Client-Login (optional, for agency accounts)", "Client-Login (необязательно, для агентских аккаунтов)")}</label>
                <input id="client-login" type="text" prop:value=client_login on:input=move |ev| set_client_login.set(event_target_value(&ev)) />
            </div>
            <pre class="snippet" data-testid="direct-curl">{direct.clone()}</pre>
            <p class="actions"><CopyButton text=Signal::derive(direct) /></p>
            {sandbox_call.map(|call| {
                let shown = call.clone();
                view! {
                    <h3>{move || lang.get().tr("The sandbox's user info", "Данные пользователя песочницы")}</h3>
                    <p class="hint">{move || lang.get().tr(
                        "Sandbox tokens work only here; this call shows whose token it is.",
                        "Токены песочницы работают только здесь; этот запрос покажет, чей это токен.",
                    )}</p>
                    <pre class="snippet" data-testid="sandbox-curl">{shown}</pre>
                    <p class="actions"><CopyButton text=Signal::derive(move || call.clone()) /></p>
                }
            })}
        </section>
    }
}

/// A ready curl call listing the campaigns, as the Yandex.Direct API v5 documentation shows it.
pub fn direct_curl(token: &str, client_login: &str, language: &str) -> String {
    let mut call = format!(
        "curl -X POST https://api.direct.yandex.com/json/v5/campaigns \\\n  -H \"Authorization: Bearer {token}\" \\\n"
    );
    let client_login = client_login.trim();
    if !client_login.is_empty() {
        call.push_str(&format!("  -H \"Client-Login: {client_login}\" \\\n"));
    }
    call.push_str(&format!("  -H \"Accept-Language: {language}\" \\\n"));
    call.push_str(
        "  -H \"Content-Type: application/json; charset=utf-8\" \\\n  -d '{\"method\":\"get\",\"params\":{\"SelectionCriteria\":{},\"FieldNames\":[\"Id\",\"Name\"]}}'",
    );
    call
}
