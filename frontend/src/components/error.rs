//! A failed sign-in: what happened, what to do, and a way to start again.

use leptos::prelude::*;
use tokenbridge_shared::{ApiError, ProviderKind, routes};

use crate::{
    i18n::use_lang,
    messages::{advice, title},
};

#[component]
pub fn ErrorView(error: ApiError, provider: ProviderKind) -> impl IntoView {
    let lang = use_lang();
    let (shown, set_shown) = signal(true);
    let code = error.code;
    let words = error.provider_message.clone();
    view! {
        {move || shown.get().then(|| view! {
            <section class="card error" role="alert" data-testid="error" data-code=code.as_str()>
                <h2>{move || title(code, provider, lang.get())}</h2>
                <p>{move || advice(code, provider, lang.get())}</p>
                {words.clone().map(|words| view! {
                    <p class="provider-words">{move || lang.get().tr("The provider said: ", "Ответ провайдера: ")} <q>{words}</q></p>
                })}
                <p class="actions">
                    <a class="button primary" href=routes::LOGIN>{move || lang.get().tr("Start again", "Начать заново")}</a>
                    <button class="secondary" on:click=move |_| set_shown.set(false)>{move || lang.get().tr("Dismiss", "Скрыть")}</button>
                </p>
                <p class="muted">{move || lang.get().tr("Error code: ", "Код ошибки: ")} <code>{code.as_str()}</code></p>
            </section>
        })}
    }
}
