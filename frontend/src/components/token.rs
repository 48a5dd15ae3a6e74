//! The token card: the full access token with Copy, its type, expiry (a date
//! and a live countdown that turns into a warning near the end), scope, and Disconnect.

use std::time::Duration;

use leptos::prelude::*;
use tokenbridge_shared::TokenView;

use super::CopyButton;
use crate::{
    i18n::use_lang,
    time::{expires_soon, local_date, now, remaining},
};

#[component]
pub fn TokenCard(token: TokenView, on_disconnect: Callback<()>) -> impl IntoView {
    let lang = use_lang();
    let (clock, set_clock) = signal(now());
    if let Ok(handle) =
        set_interval_with_handle(move || set_clock.set(now()), Duration::from_secs(1))
    {
        on_cleanup(move || handle.clear());
    }
    let access_token = token.access_token.clone();
    let expires_at = token.expires_at;
    let left = move || expires_at.map(|at| at - clock.get());
    let soon = move || expires_soon(expires_at, clock.get());
    let countdown = move || left().map(|s| remaining(s, lang.get()));
    let scope = token.scope.clone();
    let has_refresh_token = token.has_refresh_token;

    view! {
        <section class="card token" aria-labelledby="token-title">
            <h2 id="token-title">{move || lang.get().tr("Your access token", "Ваш токен доступа")}</h2>
            <div class="token-box">
                <code class="token-value" data-testid="access-token">{token.access_token.clone()}</code>
                <CopyButton text=Signal::derive(move || access_token.clone()) />
            </div>
            <dl class="facts">
                <dt>{move || lang.get().tr("Type", "Тип")}</dt>
                <dd data-testid="token-type">{token.token_type.clone()}</dd>
                <dt>{move || lang.get().tr("Expires", "Истекает")}</dt>
                <dd data-testid="expires">
                    {match expires_at {
                        Some(at) => view! {
                            {move || local_date(at, lang.get())} " "
                            <span class="countdown" class:warning=soon data-testid="countdown">"(" {countdown} ")"</span>
                            {move || soon().then(|| view! {
                                <span class="warning" role="status">{lang.get().tr(" — expires soon: connect again to get a new token", " — скоро истечёт: подключитесь заново, чтобы получить новый токен")}</span>
                            })}
                        }.into_any(),
                        None => view! { {move || lang.get().tr("not stated by the provider", "провайдер не сообщил")} }.into_any(),
                    }}
                </dd>
                <dt>{move || lang.get().tr("Scope", "Права")}</dt>
                <dd data-testid="scope">{move || scope.clone().unwrap_or_else(|| lang.get().tr("the application's default", "как настроено в приложении").to_owned())}</dd>
                <dt>{move || lang.get().tr("Refresh token", "Refresh-токен")}</dt>
                <dd>{move || if has_refresh_token {
                    lang.get().tr("held by the server (never shown)", "хранится на сервере (не показывается)")
                } else {
                    lang.get().tr("none", "нет")
                }}</dd>
            </dl>
            <button class="secondary" on:click=move |_| on_disconnect.run(())>{move || lang.get().tr("Disconnect", "Отключить")}</button>
        </section>
    }
}
