//! Short pages tokenbridge answers itself, outside the app, in the browser's language:
//! a callback that belongs to no sign-in of this browser, too many sign-ins from one
//! address. Only fixed text goes in them, so there is nothing to escape.

use axum::{
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
};

/// Whether the browser asks for Russian first (`Accept-Language: ru…`).
pub fn prefers_russian(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("ru"))
}

/// One text in both languages.
pub struct Text {
    pub en: &'static str,
    pub ru: &'static str,
}

/// A page with `title` and `advice`, naming the error `code`, with a way back to the app.
pub fn page(status: StatusCode, ru: bool, title: Text, advice: Text, code: &str) -> Response {
    let pick = |text: &Text| if ru { text.ru } else { text.en };
    let (lang, back) = if ru {
        ("ru", "Вернуться в tokenbridge")
    } else {
        ("en", "Back to tokenbridge")
    };
    let title = pick(&title);
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><main><h1>{title}</h1><p>{advice}</p>\
         <p><code>{code}</code></p><p><a href=\"/\">{back}</a></p></main></body></html>",
        advice = pick(&advice),
    );
    (status, Html(html)).into_response()
}
