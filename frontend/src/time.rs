//! Time as the page shows it: the browser's clock, a local date, a countdown.

/// Now, in Unix seconds, by the browser's clock.
pub fn now() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// A Unix time as a local date and time, in the browser's language.
pub fn local_date(unix_seconds: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
        unix_seconds as f64 * 1000.0,
    ));
    String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

/// "in 364 d 23 h", "in 05:04:03", or "expired".
pub fn remaining(seconds: i64) -> String {
    if seconds <= 0 {
        return "expired".to_owned();
    }
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, minutes, secs) = (rest / 3600, rest % 3600 / 60, rest % 60);
    if days > 0 {
        format!("in {days} d {hours} h {minutes} min")
    } else {
        format!("in {hours:02}:{minutes:02}:{secs:02}")
    }
}
