//! The Connect link and its options: a login hint and "ask me again".

use leptos::prelude::*;
use tokenbridge_shared::ProviderKind;

use crate::{api::login_href, messages::provider_name};

#[component]
pub fn ConnectPanel(
    provider: ProviderKind,
    default_scope: Option<String>,
    /// True when this browser already has a connection: the panel then offers another.
    #[prop(default = false)]
    another: bool,
) -> impl IntoView {
    let (login_hint, set_login_hint) = signal(String::new());
    let (force_confirm, set_force_confirm) = signal(false);
    let (device_name, set_device_name) = signal(String::new());
    let href = move || login_href(&login_hint.get(), force_confirm.get(), &device_name.get());
    let at = provider_name(provider);
    view! {
        <section class="card connect">
            <h2>{if another { "Connect another account" } else { "Connect your account" }}</h2>
            <p>{format!("Connect sends you to {at}. Click Allow there and you come back here with a token.")}</p>
            {default_scope.map(|scope| view! { <p class="muted">"Requested access: " <code>{scope}</code></p> })}
            <div class="field">
                <label for="login-hint">"Account (optional)"</label>
                <input id="login-hint" type="text" autocomplete="username" placeholder="login or email"
                    prop:value=login_hint
                    on:input=move |ev| set_login_hint.set(event_target_value(&ev)) />
                <p class="hint">"Suggests which account to sign in with."</p>
            </div>
            <div class="field">
                <label for="device-name">"Device name (optional)"</label>
                <input id="device-name" type="text" placeholder="e.g. reporting server"
                    prop:value=device_name
                    on:input=move |ev| set_device_name.set(event_target_value(&ev)) />
                <p class="hint">"Yandex can revoke a token only if it was issued for a named device."</p>
            </div>
            <div class="field checkbox">
                <input id="force-confirm" type="checkbox"
                    prop:checked=force_confirm
                    on:change=move |ev| set_force_confirm.set(event_target_checked(&ev)) />
                <label for="force-confirm">"Ask me again, even if I allowed access before"</label>
            </div>
            <a class="button primary" href=href data-testid="connect">"Connect"</a>
        </section>
    }
}
