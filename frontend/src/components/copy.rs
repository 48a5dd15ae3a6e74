//! A Copy button that says whether it worked.

use leptos::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::i18n::use_lang;

#[derive(Clone, Copy, PartialEq)]
enum Copied {
    Yes,
    Failed,
}

#[component]
pub fn CopyButton(#[prop(into)] text: Signal<String>) -> impl IntoView {
    let lang = use_lang();
    let (feedback, set_feedback) = signal(None::<Copied>);
    let copy = move |_| {
        let text = text.get_untracked();
        leptos::task::spawn_local(async move {
            let copied = if copy_to_clipboard(&text).await.is_ok() {
                Copied::Yes
            } else {
                Copied::Failed
            };
            set_feedback.set(Some(copied));
        });
    };
    let said = move || {
        feedback.get().map(|copied| match copied {
            Copied::Yes => lang.get().tr("Copied", "Скопировано"),
            Copied::Failed => lang.get().tr(
                "Copy failed — select the text and copy it by hand",
                "Не удалось скопировать — выделите текст и скопируйте вручную",
            ),
        })
    };
    view! {
        <button class="primary" on:click=copy>{move || lang.get().tr("Copy", "Копировать")}</button>
        <span class="feedback" role="status" aria-live="polite">{said}</span>
    }
}

async fn copy_to_clipboard(text: &str) -> Result<(), ()> {
    let clipboard = web_sys::window().ok_or(())?.navigator().clipboard();
    JsFuture::from(clipboard.write_text(text))
        .await
        .map(|_| ())
        .map_err(|_| ())
}
