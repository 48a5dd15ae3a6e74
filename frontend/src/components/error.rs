//! A failed sign-in: what happened, what to do, and a way to start again.

use leptos::prelude::*;
use tokenbridge_shared::{ApiError, ProviderKind, routes};

use crate::messages::{advice, title};

#[component]
pub fn ErrorView(error: ApiError, provider: ProviderKind) -> impl IntoView {
    let (shown, set_shown) = signal(true);
    let code = error.code;
    view! {
        <Show when=move || shown.get()>
            <section class="card error" role="alert" data-testid="error" data-code=code.as_str()>
                <h2>{title(code, provider)}</h2>
                <p>{advice(code, provider)}</p>
                {error.provider_message.clone().map(|words| view! {
                    <p class="provider-words">"The provider said: " <q>{words}</q></p>
                })}
                <p class="actions">
                    <a class="button primary" href=routes::LOGIN>"Start again"</a>
                    <button class="secondary" on:click=move |_| set_shown.set(false)>"Dismiss"</button>
                </p>
                <p class="muted">"Error code: " <code>{code.as_str()}</code></p>
            </section>
        </Show>
    }
}
