//! A Copy button that says whether it worked.

use leptos::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[component]
pub fn CopyButton(
    #[prop(into)] text: Signal<String>,
    #[prop(default = "Copy")] label: &'static str,
) -> impl IntoView {
    let (feedback, set_feedback) = signal(None::<&'static str>);
    let copy = move |_| {
        let text = text.get_untracked();
        leptos::task::spawn_local(async move {
            let said = match copy_to_clipboard(&text).await {
                Ok(()) => "Copied",
                Err(()) => "Copy failed — select the text and copy it by hand",
            };
            set_feedback.set(Some(said));
        });
    };
    view! {
        <button class="primary" on:click=copy>{label}</button>
        <span class="feedback" role="status" aria-live="polite">{move || feedback.get()}</span>
    }
}

async fn copy_to_clipboard(text: &str) -> Result<(), ()> {
    let clipboard = web_sys::window().ok_or(())?.navigator().clipboard();
    JsFuture::from(clipboard.write_text(text))
        .await
        .map(|_| ())
        .map_err(|_| ())
}
