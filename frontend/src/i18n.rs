//! Russian and English. The language comes from the browser's (Russian for any
//! `ru…`, else English) until the person picks one with the switch, which this
//! browser remembers. Components read it from context, so a switch re-renders
//! every text at once; without a provider (in a test) it is English.

use leptos::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

const STORAGE_KEY: &str = "tokenbridge.lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Ru => "ru",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        match code.get(..2)?.to_ascii_lowercase().as_str() {
            "ru" => Some(Self::Ru),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The remembered choice, else the browser's language.
    pub fn detect() -> Self {
        let window = web_sys::window();
        let stored = window
            .as_ref()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
            .and_then(|code| Self::parse(&code));
        let browser = window
            .and_then(|w| w.navigator().language())
            .and_then(|code| Self::parse(&code));
        stored.or(browser).unwrap_or(Self::En)
    }

    /// Remembers the choice and marks the document's language for screen readers.
    pub fn remember(self) {
        if let Some(window) = web_sys::window() {
            if let Ok(Some(storage)) = window.local_storage() {
                let _ = storage.set_item(STORAGE_KEY, self.code());
            }
            if let Some(root) = window.document().and_then(|d| d.document_element()) {
                let _ = root.set_attribute("lang", self.code());
            }
        }
    }

    /// The text in this language.
    pub fn tr<'a>(self, en: &'a str, ru: &'a str) -> &'a str {
        match self {
            Self::En => en,
            Self::Ru => ru,
        }
    }
}

/// The page's language, for components: the provided one, or English.
pub fn use_lang() -> Signal<Lang> {
    use_context::<RwSignal<Lang>>().map_or_else(|| Signal::stored(Lang::En), Signal::from)
}

/// The language switch: two buttons, the current one pressed.
#[component]
pub fn LanguageSwitch() -> impl IntoView {
    let lang = use_context::<RwSignal<Lang>>().unwrap_or_else(|| RwSignal::new(Lang::En));
    let choose = move |choice: Lang| {
        lang.set(choice);
        choice.remember();
    };
    view! {
        <div class="lang-switch" role="group" aria-label="Language / Язык">
            <button class="secondary" lang="en" aria-pressed=move || (lang.get() == Lang::En).to_string() on:click=move |_| choose(Lang::En)>"English"</button>
            <button class="secondary" lang="ru" aria-pressed=move || (lang.get() == Lang::Ru).to_string() on:click=move |_| choose(Lang::Ru)>"Русский"</button>
        </div>
    }
}
