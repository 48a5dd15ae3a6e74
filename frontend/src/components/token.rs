//! The token card: the full access token with Copy, its type, expiry (a date
//! and a live countdown), scope, and Disconnect.

use std::time::Duration;

use leptos::prelude::*;
use tokenbridge_shared::TokenView;
use wasm_bindgen_futures::JsFuture;

use crate::time::{local_date, now, remaining};

#[component]
pub fn TokenCard(token: TokenView, on_disconnect: Callback<()>) -> impl IntoView {
    let (clock, set_clock) = signal(now());
    if let Ok(handle) =
        set_interval_with_handle(move || set_clock.set(now()), Duration::from_secs(1))
    {
        on_cleanup(move || handle.clear());
    }
    let (copy_feedback, set_copy_feedback) = signal(None::<&'static str>);
    let access_token = token.access_token.clone();
    let copy = move |_| {
        let text = access_token.clone();
        leptos::task::spawn_local(async move {
            let feedback = match copy_to_clipboard(&text).await {
                Ok(()) => "Copied",
                Err(()) => "Copy failed — select the token and copy it by hand",
            };
            set_copy_feedback.set(Some(feedback));
        });
    };
    let expires_at = token.expires_at;
    let countdown = move || expires_at.map(|at| remaining(at - clock.get()));

    view! {
        <section class="card token" aria-labelledby="token-title">
            <h2 id="token-title">"Your access token"</h2>
            <div class="token-box">
                <code class="token-value" data-testid="access-token">{token.access_token.clone()}</code>
                <button class="primary" on:click=copy>"Copy"</button>
                <span class="feedback" role="status" aria-live="polite">{move || copy_feedback.get()}</span>
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

async fn copy_to_clipboard(text: &str) -> Result<(), ()> {
    let clipboard = web_sys::window().ok_or(())?.navigator().clipboard();
    JsFuture::from(clipboard.write_text(text))
        .await
        .map(|_| ())
        .map_err(|_| ())
}
