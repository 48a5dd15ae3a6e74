//! The token card: the full access token with Copy, its type, expiry (a date
//! and a live countdown), scope, and Disconnect.

use std::time::Duration;

use leptos::prelude::*;
use tokenbridge_shared::TokenView;

use super::CopyButton;
use crate::time::{local_date, now, remaining};

#[component]
pub fn TokenCard(token: TokenView, on_disconnect: Callback<()>) -> impl IntoView {
    let (clock, set_clock) = signal(now());
    if let Ok(handle) =
        set_interval_with_handle(move || set_clock.set(now()), Duration::from_secs(1))
    {
        on_cleanup(move || handle.clear());
    }
    let access_token = token.access_token.clone();
    let expires_at = token.expires_at;
    let countdown = move || expires_at.map(|at| remaining(at - clock.get()));

    view! {
        <section class="card token" aria-labelledby="token-title">
            <h2 id="token-title">"Your access token"</h2>
            <div class="token-box">
                <code class="token-value" data-testid="access-token">{token.access_token.clone()}</code>
                <CopyButton text=Signal::derive(move || access_token.clone()) />
            </div>
            <dl class="facts">
                <dt>"Type"</dt>
                <dd data-testid="token-type">{token.token_type.clone()}</dd>
                <dt>"Expires"</dt>
                <dd data-testid="expires">
                    {match expires_at {
                        Some(at) => view! {
                            {local_date(at)} " " <span class="countdown" data-testid="countdown">"(" {countdown} ")"</span>
                        }.into_any(),
                        None => view! { "not stated by the provider" }.into_any(),
                    }}
                </dd>
                <dt>"Scope"</dt>
                <dd data-testid="scope">{token.scope.clone().unwrap_or_else(|| "the application's default".to_owned())}</dd>
                <dt>"Refresh token"</dt>
                <dd>{if token.has_refresh_token { "held by the server (never shown)" } else { "none" }}</dd>
            </dl>
            <p class="hint">"Use it as the header " <code>"Authorization: Bearer <token>"</code> "."</p>
            <button class="secondary" on:click=move |_| on_disconnect.run(())>"Disconnect"</button>
        </section>
    }
}
