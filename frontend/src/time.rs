//! Time as the page shows it: the browser's clock, a local date, a countdown.

use crate::i18n::Lang;

/// A token closer than this to its expiry is shown as a warning.
pub const SOON_SECS: i64 = 24 * 3600;

/// Whether a token that expires at `expires_at` is to be shown as a warning at `now`
/// (an expired one is too; one without a stated expiry never is).
pub fn expires_soon(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_some_and(|at| at - now < SOON_SECS)
}

/// Now, in Unix seconds, by the browser's clock.
pub fn now() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// A Unix time as a local date and time, in the page's language.
pub fn local_date(unix_seconds: i64, lang: Lang) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
        unix_seconds as f64 * 1000.0,
    ));
    String::from(date.to_locale_string(lang.code(), &wasm_bindgen::JsValue::UNDEFINED))
}

/// "in 364 d 23 h 5 min" / "через 364 д 23 ч 5 мин", "in 05:04:03", or "expired".
pub fn remaining(seconds: i64, lang: Lang) -> String {
    if seconds <= 0 {
        return lang.tr("expired", "истёк").to_owned();
    }
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, minutes, secs) = (rest / 3600, rest % 3600 / 60, rest % 60);
    match (lang, days > 0) {
        (Lang::En, true) => format!("in {days} d {hours} h {minutes} min"),
        (Lang::Ru, true) => format!("через {days} д {hours} ч {minutes} мин"),
        (Lang::En, false) => format!("in {hours:02}:{minutes:02}:{secs:02}"),
        (Lang::Ru, false) => format!("через {hours:02}:{minutes:02}:{secs:02}"),
    }
}
