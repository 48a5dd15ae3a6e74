//! The tokenbridge browser app: shows the providers, a Connect link for each, the
//! token card and "Use it" panel after a sign-in, this browser's saved
//! connections, Sign out, every connection for an operator, and a clear
//! message for every failure. It never
//! sees a code, a state, a verifier or the client secret — only the token the
//! backend hands it through `/api/session`.

pub mod api;
pub mod components;
pub mod i18n;
pub mod json;
pub mod messages;
pub mod time;

use leptos::prelude::*;
use tokenbridge_shared::{
    ApiError, FlowOutcome, ProviderKind, ProviderView, Revocation, SessionView,
};

use crate::{
    components::{
        ConnectPanel, ConnectionList, ErrorView, ExchangeLogPanel, OperatorPanel, TokenCard,
        UsePanel,
    },
    i18n::{Lang, LanguageSwitch, use_lang},
};

#[component]
pub fn App() -> impl IntoView {
    let lang = RwSignal::new(Lang::detect());
    lang.get_untracked().remember();
    provide_context(lang);
    // None until the server first answers; a reload keeps the last answer on the page
    // until the next one arrives.
    let session = RwSignal::new(None::<Result<SessionView, ApiError>>);
    let reload = move || {
        leptos::task::spawn_local(async move { session.set(Some(api::get_session().await)) })
    };
    reload();
    // What the last action on a connection did, said once at the top.
    let (notice, set_notice) = signal(None::<Notice>);
    // A failed Sign out, shown as an error under the header until the next action.
    let (sign_out_error, set_sign_out_error) = signal(None::<ApiError>);
    let on_act = Callback::new(move |act: Act| {
        set_sign_out_error.set(None);
        leptos::task::spawn_local(async move {
            let signing_out = act == Act::SignOut;
            match act.perform().await {
                Err(error) if signing_out => {
                    // Still signed in: the page as it is stays true.
                    set_sign_out_error.set(Some(error));
                    return;
                }
                said => set_notice.set(Some(said.unwrap_or_else(Notice::Failed))),
            }
            session.set(Some(api::get_session().await));
        });
    });

    view! {
        <main class="page">
            {move || match session.get() {
                None => view! {
                    <Header providers=Vec::new() />
                    <p class="loading" role="status"><span class="spinner"></span>{move || lang.get().tr("Loading…", "Загрузка…")}</p>
                }.into_any(),
                Some(Err(error)) => view! {
                    <Header providers=Vec::new() />
                    <UnreachableServer error=error retry=Callback::new(move |()| reload()) />
                }.into_any(),
                Some(Ok(view)) => view! {
                    {move || notice.get().map(|notice| view! { <p class="notice" role="status" data-testid="notice">{move || notice.text(lang.get())}</p> })}
                    <Session view=view on_act=on_act sign_out_error=sign_out_error />
                }.into_any(),
            }}
        </main>
    }
}

/// What a person can do on the page once it has loaded; each ends by reloading the session view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Refresh one of this browser's connections (by id).
    Refresh(String),
    /// Disconnect one of this browser's connections (by id).
    Disconnect(String),
    /// An operator refreshes anyone's connection (by id).
    OperatorRefresh(String),
    /// An operator disconnects anyone's connection (by id).
    OperatorDisconnect(String),
    /// End this browser's session on the server.
    SignOut,
}

impl Act {
    async fn perform(self) -> Result<Notice, ApiError> {
        match self {
            Self::Refresh(id) => api::refresh_connection(&id)
                .await
                .map(|c| Notice::Refreshed(c.login)),
            Self::Disconnect(id) => api::disconnect(&id)
                .await
                .map(|done| Notice::Disconnected(done.revocation)),
            Self::OperatorRefresh(id) => api::operator_refresh(&id)
                .await
                .map(|c| Notice::Refreshed(c.login)),
            Self::OperatorDisconnect(id) => api::operator_disconnect(&id)
                .await
                .map(|done| Notice::Disconnected(done.revocation)),
            Self::SignOut => api::logout().await.map(|()| Notice::SignedOut),
        }
    }
}

/// What the last action did, in either language.
#[derive(Clone)]
enum Notice {
    Refreshed(String),
    Disconnected(Revocation),
    SignedOut,
    Failed(ApiError),
}

impl Notice {
    fn text(&self, lang: Lang) -> String {
        match self {
            Self::Refreshed(login) => match lang {
                Lang::En => format!("Refreshed the token of {login}."),
                Lang::Ru => format!("Токен {login} обновлён."),
            },
            Self::Disconnected(revocation) => lang
                .tr(
                    match revocation {
                        Revocation::Revoked => "The provider revoked the token, and tokenbridge forgot the connection.",
                        Revocation::NotForThisToken => "Disconnected. Yandex revokes only tokens issued for a named device, so this one stays valid until it expires.",
                        Revocation::Failed => "Disconnected, but the provider did not take back every token: those left stay valid until they expire.",
                        Revocation::NoEndpoint => "Disconnected. This provider has no revocation endpoint, so the token stays valid until it expires.",
                    },
                    match revocation {
                        Revocation::Revoked => "Провайдер отозвал токен, и tokenbridge забыл подключение.",
                        Revocation::NotForThisToken => "Подключение удалено. Яндекс отзывает только токены, выданные для именованного устройства, поэтому этот действует до конца срока.",
                        Revocation::Failed => "Подключение удалено, но провайдер отозвал не все токены: оставшиеся действуют, пока не истекут.",
                        Revocation::NoEndpoint => "Подключение удалено. У провайдера нет адреса для отзыва, поэтому токен действует до конца срока.",
                    },
                )
                .to_owned(),
            Self::SignedOut => lang
                .tr(
                    "Signed out. Saved connections stay on the server for scripts; sign in again to manage them.",
                    "Вы вышли. Сохранённые подключения остаются на сервере для скриптов; чтобы управлять ими, войдите снова.",
                )
                .to_owned(),
            Self::Failed(error) => format!("{} {}", messages::title(error.code, ProviderKind::Custom, lang), messages::advice(error.code, ProviderKind::Custom, lang)),
        }
    }
}

/// The page for a loaded session view. Every action goes to `on_act`; a failed
/// Sign out comes back through `sign_out_error`.
#[component]
pub fn Session(
    view: SessionView,
    on_act: Callback<Act>,
    #[prop(into)] sign_out_error: Signal<Option<ApiError>>,
) -> impl IntoView {
    let lang = use_lang();
    let provider = view.provider;
    let providers = configured_providers(&view);
    let connected_now = matches!(view.outcome, Some(FlowOutcome::Connected));
    let failure = match view.outcome {
        Some(FlowOutcome::Failed(error)) => Some(error),
        _ => None,
    };
    let newest = view.connections.first().map(|c| c.id.clone());
    // The token is the newest connection's, so its provider may be any of them.
    let token_provider = view.connections.first().map_or(provider, |c| c.provider);
    let has_connections = !view.connections.is_empty();
    let log = view.exchange_log.clone();
    let current_token = view.token.as_ref().map(|t| t.access_token.clone());
    let on_refresh = Callback::new(move |id| on_act.run(Act::Refresh(id)));
    let on_disconnect = Callback::new(move |id| on_act.run(Act::Disconnect(id)));
    let sign_out = view
        .signed_in
        .then(|| Callback::new(move |()| on_act.run(Act::SignOut)));
    let all_connections = view.operator.then_some(view.all_connections);
    view! {
        <Header providers=providers.clone() sign_out=sign_out />
        {move || sign_out_error.get().map(|error| view! { <ErrorView error=error provider=provider /> })}
        {failure.map(|error| view! { <ErrorView error=error provider=provider /> })}
        {view.token.map(|token| {
            let newest = newest.clone().unwrap_or_default();
            let access_token = token.access_token.clone();
            view! {
                {connected_now.then(|| view! { <p class="notice" role="status">{move || lang.get().tr("Connected. Here is your access token.", "Готово. Вот ваш токен доступа.")}</p> })}
                <TokenCard token=token on_disconnect=Callback::new(move |()| on_disconnect.run(newest.clone())) />
                <UsePanel token=access_token provider=token_provider />
            }
        })}
        {has_connections.then(|| view! {
            <ConnectionList connections=view.connections.clone() providers=providers.clone() on_refresh=on_refresh on_disconnect=on_disconnect />
        })}
        {all_connections.map(|connections| view! {
            <OperatorPanel
                connections=connections
                providers=providers.clone()
                on_refresh=Callback::new(move |id| on_act.run(Act::OperatorRefresh(id)))
                on_disconnect=Callback::new(move |id| on_act.run(Act::OperatorDisconnect(id)))
            />
        })}
        <ConnectPanel providers=providers another=has_connections />
        {log.map(|log| view! { <ExchangeLogPanel log=log access_token=current_token.clone() /> })}
    }
}

/// The configured providers; an old server lists none, and then its only provider
/// stands alone, without an id or a name of its own.
fn configured_providers(view: &SessionView) -> Vec<ProviderView> {
    if !view.providers.is_empty() {
        return view.providers.clone();
    }
    vec![ProviderView {
        id: String::new(),
        kind: view.provider,
        name: String::new(),
        default_scope: view.default_scope.clone(),
    }]
}

/// The title, the language switch, Sign out when `sign_out` is given, and the providers.
#[component]
fn Header(
    providers: Vec<ProviderView>,
    #[prop(optional_no_strip)] sign_out: Option<Callback<()>>,
) -> impl IntoView {
    let lang = use_lang();
    let several = providers.len() > 1;
    let sandbox = providers.iter().any(|p| p.kind == ProviderKind::Sandbox);
    let listed = (!providers.is_empty()).then_some(move || {
        providers
            .iter()
            .map(|p| messages::provider_label(p.kind, &p.name, lang.get()))
            .collect::<Vec<_>>()
            .join(", ")
    });
    view! {
        <header class="top">
            <div class="title-row">
                <h1>"tokenbridge"</h1>
                <div class="title-actions">
                    {sign_out.map(|sign_out| view! {
                        <button class="secondary" on:click=move |_| sign_out.run(())>{move || lang.get().tr("Sign out", "Выйти")}</button>
                    })}
                    <LanguageSwitch />
                </div>
            </div>
            <p class="tagline">{move || lang.get().tr(
                "Get an OAuth access token in your browser. The client secret stays on the server.",
                "Получите OAuth-токен доступа прямо в браузере. Секрет приложения остаётся на сервере.",
            )}</p>
            {listed.map(|names| view! {
                <p class="provider">
                    {move || if several {
                        lang.get().tr("Providers: ", "Провайдеры: ")
                    } else {
                        lang.get().tr("Provider: ", "Провайдер: ")
                    }} <strong>{names}</strong>
                    {sandbox.then(|| view! {
                        <span class="badge" data-testid="sandbox-badge" title=move || lang.get().tr("Tokens from the sandbox work only with the sandbox", "Токены песочницы работают только с песочницей")>
                            {move || lang.get().tr("Sandbox", "Песочница")}
                        </span>
                    })}
                </p>
            })}
        </header>
    }
}

#[component]
fn UnreachableServer(error: ApiError, retry: Callback<()>) -> impl IntoView {
    let lang = use_lang();
    view! {
        <section class="card error" role="alert">
            <h2>{move || lang.get().tr("Cannot reach the tokenbridge server", "Нет связи с сервером tokenbridge")}</h2>
            <p>{move || lang.get().tr(
                "The page could not load what this browser holds. Is the server still running?",
                "Странице не удалось загрузить данные этого браузера. Сервер всё ещё работает?",
            )}</p>
            <p class="muted">{error.message}</p>
            <button on:click=move |_| retry.run(())>{move || lang.get().tr("Try again", "Повторить")}</button>
        </section>
    }
}
