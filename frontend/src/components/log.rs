//! The exchange log, like the OAuth Playground's: each step of the last
//! sign-in, as tokenbridge saw it. Secrets arrive already masked; only the
//! person's own access token can be revealed, from the token this page holds.

use leptos::prelude::*;
use tokenbridge_shared::{ExchangeLog, LogStep};

use crate::i18n::{Lang, use_lang};

fn step_name(step: LogStep, lang: Lang) -> &'static str {
    match step {
        LogStep::AuthorizeRequest => lang.tr(
            "1. Authorization request (browser → provider)",
            "1. Запрос авторизации (браузер → провайдер)",
        ),
        LogStep::Callback => lang.tr(
            "2. Callback (provider → tokenbridge)",
            "2. Возврат (провайдер → tokenbridge)",
        ),
        LogStep::TokenRequest => lang.tr(
            "3. Token request (tokenbridge → provider)",
            "3. Запрос токена (tokenbridge → провайдер)",
        ),
        LogStep::TokenResponse => lang.tr("4. Token response", "4. Ответ с токеном"),
    }
}

#[component]
pub fn ExchangeLogPanel(log: ExchangeLog, access_token: Option<String>) -> impl IntoView {
    let lang = use_lang();
    let (revealed, set_revealed) = signal(false);
    view! {
        <details class="card log" data-testid="exchange-log">
            <summary><h2>{move || lang.get().tr("Exchange log", "Журнал обмена")}</h2></summary>
            <p class="hint">{move || lang.get().tr(
                "What was sent and received during the last sign-in. The client secret, the code, the verifier and the tokens are masked.",
                "Что отправлялось и приходило при последнем входе. Секрет приложения, код, verifier и токены скрыты.",
            )}</p>
            {log.entries.into_iter().map(|entry| {
                let step = entry.step;
                let line = match entry.status {
                    Some(status) => format!("HTTP {status}"),
                    None => format!("{} {}", entry.method, entry.url),
                };
                let token = access_token.clone();
                view! {
                    <section class="log-entry" data-step=format!("{step:?}")>
                        <h3>{move || step_name(step, lang.get())}</h3>
                        <p><code>{line}</code></p>
                        <dl>
                            {entry.fields.into_iter().map(|field| {
                                let revealable = field.masked && field.name == "access_token" && step == LogStep::TokenResponse && token.is_some();
                                let token = token.clone();
                                let name = field.name.clone();
                                view! {
                                    <dt>{name}</dt>
                                    <dd>
                                        {if field.masked {
                                            view! {
                                                <span class="masked" data-testid="masked">
                                                    {move || if revealable && revealed.get() {
                                                        token.clone().unwrap_or_default()
                                                    } else {
                                                        lang.get().tr("•••• masked", "•••• скрыто").to_owned()
                                                    }}
                                                </span>
                                                {revealable.then(|| view! {
                                                    " " <button class="secondary" on:click=move |_| set_revealed.update(|r| *r = !*r)>
                                                        {move || if revealed.get() { lang.get().tr("Hide", "Скрыть") } else { lang.get().tr("Reveal my access token", "Показать мой токен") }}
                                                    </button>
                                                })}
                                            }.into_any()
                                        } else {
                                            view! { <code>{field.value}</code> }.into_any()
                                        }}
                                    </dd>
                                }
                            }).collect_view()}
                        </dl>
                    </section>
                }
            }).collect_view()}
        </details>
    }
}
