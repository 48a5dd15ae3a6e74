//! The tokenbridge browser app: shows the provider, the Connect link, the
//! token card after a sign-in, and a clear message for every failure. It never
//! sees a code, a state, a verifier or the client secret — only the token the
//! backend hands it through `/api/session`.

pub mod api;
pub mod components;
pub mod messages;
pub mod time;

use leptos::prelude::*;
use tokenbridge_shared::{ApiError, FlowOutcome, ProviderKind, SessionView};

use crate::components::{ConnectPanel, ErrorView, TokenCard};

#[component]
pub fn App() -> impl IntoView {
    let session = LocalResource::new(api::get_session);
    let disconnect = Callback::new(move |()| {
        leptos::task::spawn_local(async move {
            // A failed logout leaves the token shown; the refetch tells the truth either way.
            if let Err(error) = api::logout().await {
                leptos::logging::warn!("logout failed: {}", error.message);
            }
            session.refetch();
        });
    });

    view! {
        <main class="page">
            {move || match session.get() {
                None => view! { <Header provider=None /><p class="loading" role="status"><span class="spinner"></span>"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! {
                    <Header provider=None />
                    <UnreachableServer error=error retry=Callback::new(move |()| session.refetch()) />
                }.into_any(),
                Some(Ok(view)) => view! { <Session view=view on_disconnect=disconnect /> }.into_any(),
            }}
        </main>
    }
}

#[component]
fn Session(view: SessionView, on_disconnect: Callback<()>) -> impl IntoView {
    let provider = view.provider;
    let connected_now = matches!(view.outcome, Some(FlowOutcome::Connected));
    let failure = match view.outcome {
        Some(FlowOutcome::Failed(error)) => Some(error),
        _ => None,
    };
    view! {
        <Header provider=Some(provider) />
        {failure.map(|error| view! { <ErrorView error=error provider=provider /> })}
        {match view.token {
            Some(token) => view! {
                {connected_now.then(|| view! { <p class="notice" role="status">"Connected. Here is your access token."</p> })}
                <TokenCard token=token on_disconnect=on_disconnect />
            }.into_any(),
            None => view! { <ConnectPanel provider=provider default_scope=view.default_scope /> }.into_any(),
        }}
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
