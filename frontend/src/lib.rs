//! The tokenbridge browser app: shows the provider, the Connect link, the
//! token card and "Use it" panel after a sign-in, this browser's saved
//! connections, and a clear message for every failure. It never
//! sees a code, a state, a verifier or the client secret — only the token the
//! backend hands it through `/api/session`.

pub mod api;
pub mod components;
pub mod messages;
pub mod time;

use leptos::prelude::*;
use tokenbridge_shared::{ApiError, FlowOutcome, ProviderKind, SessionView};

use crate::components::{ConnectPanel, ConnectionList, ErrorView, TokenCard, UsePanel};

#[component]
pub fn App() -> impl IntoView {
    let session = LocalResource::new(api::get_session);
    // What the last action on a connection did, said once at the top.
    let (notice, set_notice) = signal(None::<String>);
    let act = move |id: String, disconnecting: bool| {
        leptos::task::spawn_local(async move {
            let said = if disconnecting {
                api::disconnect(&id).await.map(|done| done.message)
            } else {
                api::refresh_connection(&id)
                    .await
                    .map(|c| format!("Refreshed the token of {}.", c.login))
            };
            set_notice.set(Some(said.unwrap_or_else(|error| error.message)));
            session.refetch();
        });
    };
    let on_refresh = Callback::new(move |id: String| act(id, false));
    let on_disconnect = Callback::new(move |id: String| act(id, true));

    view! {
        <main class="page">
            {move || match session.get() {
                None => view! { <Header provider=None /><p class="loading" role="status"><span class="spinner"></span>"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! {
                    <Header provider=None />
                    <UnreachableServer error=error retry=Callback::new(move |()| session.refetch()) />
                }.into_any(),
                Some(Ok(view)) => view! {
                    {move || notice.get().map(|text| view! { <p class="notice" role="status" data-testid="notice">{text}</p> })}
                    <Session view=view on_refresh=on_refresh on_disconnect=on_disconnect />
                }.into_any(),
            }}
        </main>
    }
}

#[component]
fn Session(
    view: SessionView,
    on_refresh: Callback<String>,
    on_disconnect: Callback<String>,
) -> impl IntoView {
    let provider = view.provider;
    let connected_now = matches!(view.outcome, Some(FlowOutcome::Connected));
    let failure = match view.outcome {
        Some(FlowOutcome::Failed(error)) => Some(error),
        _ => None,
    };
    let newest = view.connections.first().map(|c| c.id.clone());
    let has_connections = !view.connections.is_empty();
    view! {
        <Header provider=Some(provider) />
        {failure.map(|error| view! { <ErrorView error=error provider=provider /> })}
        {view.token.map(|token| {
            let newest = newest.clone().unwrap_or_default();
            let access_token = token.access_token.clone();
            view! {
                {connected_now.then(|| view! { <p class="notice" role="status">"Connected. Here is your access token."</p> })}
                <TokenCard token=token on_disconnect=Callback::new(move |()| on_disconnect.run(newest.clone())) />
                <UsePanel token=access_token provider=provider />
            }
        })}
        {has_connections.then(|| view! {
            <ConnectionList connections=view.connections.clone() on_refresh=on_refresh on_disconnect=on_disconnect />
        })}
        <ConnectPanel provider=provider default_scope=view.default_scope another=has_connections />
    }
}

#[component]
fn Header(provider: Option<ProviderKind>) -> impl IntoView {
    view! {
        <header class="top">
            <h1>"tokenbridge"</h1>
            <p class="tagline">"Get an OAuth access token in your browser. The client secret stays on the server."</p>
            {provider.map(|p| view! {
                <p class="provider">
                    "Provider: " <strong>{p.display_name()}</strong>
                    {(p == ProviderKind::Sandbox).then(|| view! {
                        <span class="badge" data-testid="sandbox-badge" title="Tokens from the sandbox work only with the sandbox">"Sandbox"</span>
                    })}
                </p>
            })}
        </header>
    }
}

#[component]
fn UnreachableServer(error: ApiError, retry: Callback<()>) -> impl IntoView {
    view! {
        <section class="card error" role="alert">
            <h2>"Cannot reach the tokenbridge server"</h2>
            <p>{error.message}</p>
            <button on:click=move |_| retry.run(())>"Try again"</button>
        </section>
    }
}
