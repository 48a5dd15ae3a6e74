//! The wall clock, in the units the store and the cookies keep.

use crate::hex;

/// Now in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now in Unix nanoseconds: orders events that may fall in the same millisecond.
pub fn unix_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now in Unix milliseconds.
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The first character of an id that begins with the time it was made ([`stamped`]). Neither
/// hex (session ids made before) nor base64url (states) has it, and a URL's query keeps it as
/// it is.
const STAMPED: char = '.';

/// `random` as an id that begins with the time it is made: `.`, the time in Unix milliseconds
/// as 12 hex digits, then `random`. Session ids and sign-ins' states are made so, for the
/// store to keep their rows in the order they come (`store::key_of`).
pub fn stamped(random: &str) -> String {
    let mut id = String::with_capacity(1 + 12 + random.len());
    id.push(STAMPED);
    hex::push_number(&mut id, now_ms(), 12);
    id.push_str(random);
    id
}

/// Now in Unix milliseconds as 12 hex digits (until the year 10889), which sort as the times
/// do: how ids made in order begin ([`stamped`], `store::new_id`).
pub fn now_hex() -> String {
    let mut text = String::with_capacity(12);
    hex::push_number(&mut text, now_ms(), 12);
    text
}

/// The 12 hex digits of time an id [`stamped`] begins with; `None` for any other text.
pub fn stamp_of(id: &str) -> Option<&str> {
    id.strip_prefix(STAMPED)
        .and_then(|rest| rest.get(..12))
        .filter(|time| {
            time.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

fn now_ms() -> u64 {
    u64::try_from(unix_now_ms()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_id_begins_with_the_time_it_was_made() {
        let before = format!("{:012x}", now_ms());
        let id = stamped("rest");
        let after = format!("{:012x}", now_ms());
        let time = stamp_of(&id).expect("a stamped id carries its time");
        assert!((before.as_str()..=after.as_str()).contains(&time), "{id}");
        assert_eq!(id, format!(".{time}rest"));
    }
}
