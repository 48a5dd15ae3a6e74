//! For operators: every saved connection of every person as a table — provider,
//! login, where it stands, when its token was last renewed — with Refresh and
//! Disconnect for each row. The server sends no token here, so none is shown.

use std::time::Duration;

use leptos::prelude::*;
use tokenbridge_shared::{ConnectionStatus, ConnectionSummary, ProviderView};

use crate::{
    i18n::{Lang, use_lang},
    messages::provider_label_by_id,
    time::{expires_soon, local_date, now},
};

/// Where a connection stands, as an operator reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Fine,
    /// Within the same 24 hours as the token card's warning.
    ExpiresSoon,
    /// The provider refused the refresh token: only the person can sign in again.
    NeedsReconnecting,
    /// Its tokens cannot be opened with the server's store key.
    Unreadable,
}

impl Standing {
    fn of(status: ConnectionStatus, expires_at: Option<i64>, now: i64) -> Self {
        match status {
            ConnectionStatus::NeedsReconnect => Self::NeedsReconnecting,
            ConnectionStatus::Unreadable => Self::Unreadable,
            ConnectionStatus::Active if expires_soon(expires_at, now) => Self::ExpiresSoon,
            ConnectionStatus::Active => Self::Fine,
        }
    }

    fn text(self, lang: Lang) -> &'static str {
        match self {
            Self::Fine => lang.tr("Fine", "В порядке"),
            Self::ExpiresSoon => lang.tr("Expires soon", "Скоро истечёт"),
            Self::NeedsReconnecting => lang.tr("Needs reconnecting", "Нужно подключить заново"),
            Self::Unreadable => lang.tr(
                "Cannot be read (store key?)",
                "Не читается (ключ хранилища?)",
            ),
        }
    }
}

#[component]
pub fn OperatorPanel(
    connections: Vec<ConnectionSummary>,
    /// The configured providers, which name each row's provider.
    providers: Vec<ProviderView>,
    on_refresh: Callback<String>,
    on_disconnect: Callback<String>,
) -> impl IntoView {
    let lang = use_lang();
    // A row turns "Expires soon" while the page stays open; to the minute is close enough.
    let (clock, set_clock) = signal(now());
    if let Ok(handle) =
        set_interval_with_handle(move || set_clock.set(now()), Duration::from_secs(60))
    {
        on_cleanup(move || handle.clear());
    }
    let empty = connections.is_empty();
    let providers = StoredValue::new(providers);
    let rows = connections.into_iter().map(|connection| {
        let ConnectionSummary { id, provider, provider_id, login, status, expires_at, created_at, refreshed_at, .. } = connection;
        let standing = move || Standing::of(status, expires_at, clock.get());
        let warning = move || standing() != Standing::Fine;
        let renewed = refreshed_at.unwrap_or(created_at);
        let needs_reconnect = status == ConnectionStatus::NeedsReconnect;
        let refresh_label = {
            let login = login.clone();
            move || format!("{} {login}", lang.get().tr("Refresh", "Обновить"))
        };
        let disconnect_label = {
            let login = login.clone();
            move || format!("{} {login}", lang.get().tr("Disconnect", "Отключить"))
        };
        let id_for_disconnect = id.clone();
        let shown = login.clone();
        let provider_name = move || {
            providers.with_value(|all| provider_label_by_id(all, &provider_id, provider, lang.get()))
        };
        view! {
            <tr data-testid="operator-connection" data-login=login>
                <td data-testid="provider">{provider_name}</td>
                <td class="login">{shown}</td>
                <td data-testid="status" class:warning=warning>{move || standing().text(lang.get())}</td>
                <td data-testid="renewed">{move || local_date(renewed, lang.get())}</td>
                <td>
                    <span class="actions">
                        <button class="secondary" aria-label=refresh_label disabled=needs_reconnect
                            on:click=move |_| on_refresh.run(id.clone())>{move || lang.get().tr("Refresh", "Обновить")}</button>
                        <button class="secondary" aria-label=disconnect_label
                            on:click=move |_| on_disconnect.run(id_for_disconnect.clone())>{move || lang.get().tr("Disconnect", "Отключить")}</button>
                    </span>
                </td>
            </tr>
        }
    }).collect_view();
    view! {
        <section class="card all-connections" aria-labelledby="all-connections-title" data-testid="all-connections">
            <h2 id="all-connections-title">{move || lang.get().tr("All connections", "Все подключения")}</h2>
            <p class="hint">{move || lang.get().tr(
                "Every person's saved connections, shown to operators. Tokens never appear here.",
                "Сохранённые подключения всех пользователей, видны операторам. Токены здесь не показываются.",
            )}</p>
            {empty.then(|| view! {
                <p class="muted" data-testid="no-connections">{move || lang.get().tr("No one has saved a connection yet.", "Сохранённых подключений пока нет.")}</p>
            })}
            <div class="table-scroll" hidden=empty>
                <table>
                    <thead>
                        <tr>
                            <th scope="col">{move || lang.get().tr("Provider", "Провайдер")}</th>
                            <th scope="col">{move || lang.get().tr("Login", "Логин")}</th>
                            <th scope="col">{move || lang.get().tr("Status", "Состояние")}</th>
                            <th scope="col">{move || lang.get().tr("Last refreshed", "Последнее обновление")}</th>
                            <th scope="col">{move || lang.get().tr("Actions", "Действия")}</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}
