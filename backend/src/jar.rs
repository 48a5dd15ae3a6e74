//! The request's cookies, sealed with the cookie key (AES-256-GCM, the `cookie`
//! crate's private format), opened only when asked for.
//!
//! axum-extra's `PrivateCookieJar` opens every cookie a request carries, seals each
//! again to keep it as the original, and opens it once more when it is read: three
//! AES-GCM passes per cookie per request. This jar keeps the originals as they came
//! and opens only the cookie a handler asks for, once. The cookies it writes are the
//! same bytes, so a browser's cookies stay valid across the change.

use std::{convert::Infallible, ops::Range, sync::Arc};

use aes_gcm::{Aes256Gcm, KeyInit};
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderValue, header, request::Parts},
    response::{IntoResponseParts, ResponseParts},
};
use cookie::{Cookie, Key, SameSite};

use crate::sealed;

/// The cookie key's cipher, made once. The cookie crate's private jar made it again for
/// every cookie it sealed or opened (the AES key schedule and the GHASH key, 1–2 k
/// instructions each time, six times a sign-in) and copied each cookie before opening it.
///
/// A cookie's value is sealed in the crate's private format (see [`crate::sealed`]), so that
/// cookies sealed by either open with the other: with the cookie's name as associated data
/// (a value moved to another cookie's name does not open), under the key's encryption half.
#[derive(Clone)]
pub struct CookieCipher(Arc<Aes256Gcm>);

impl From<&Key> for CookieCipher {
    fn from(key: &Key) -> Self {
        Self(Arc::new(Aes256Gcm::new(key.encryption().into())))
    }
}

impl CookieCipher {
    /// `value` sealed for the cookie `name`.
    fn seal(&self, name: &str, value: &str) -> String {
        sealed::seal(&self.0, value.as_bytes(), name.as_bytes())
    }

    /// The value the cookie `name` holds sealed in `sealed`, if it opens with this key.
    fn open(&self, name: &str, sealed: &str) -> Option<String> {
        String::from_utf8(sealed::open(&self.0, sealed, name.as_bytes())?).ok()
    }
}

/// The sealed cookies of one request, and what the response changes of them.
/// Return it from the handler, or the changes are lost.
///
/// The request's cookies are kept as places in its `Cookie` header, not parsed into cookies
/// of their own: the exchange log's is kilobytes long and comes with every page load, and
/// the cookie crate's parser and jar (a copy of each cookie, a hash set of their names) cost
/// a flow about 10 k instructions.
pub struct Jar {
    /// The request's `Cookie` headers as they came, joined by `; ` if there were several.
    header: String,
    /// Every cookie the request carried, in order: two of one name are both kept, so that
    /// one planted beside ours (by a sibling domain) cannot hide it.
    originals: Vec<Original>,
    /// What the response changes, in the order it changed it: a sealed cookie set, or a
    /// removal; at most one for a name.
    changes: Vec<Cookie<'static>>,
    cipher: CookieCipher,
}

/// One cookie of the request: where its name and value are in [`Jar::header`].
struct Original {
    name: Range<usize>,
    value: Value,
}

enum Value {
    /// Where the value is in the header (sealed base64, as written now).
    At(Range<usize>),
    /// A value an earlier version wrote percent-encoded, decoded.
    Decoded(String),
}

impl Jar {
    /// An empty jar (no cookie came), sealing with `cipher`.
    pub fn new(cipher: CookieCipher) -> Self {
        Self {
            header: String::new(),
            originals: Vec::new(),
            changes: Vec::new(),
            cipher,
        }
    }

    /// The jar of `headers`' cookies; their values are opened only when read. A pair
    /// without `=` or without a name is left out, as the cookie crate's parser leaves it.
    pub fn from_headers(headers: &axum::http::HeaderMap, cipher: CookieCipher) -> Self {
        let mut header = String::new();
        for value in headers.get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            if !header.is_empty() {
                header.push_str("; ");
            }
            header.push_str(value);
        }
        let mut originals = Vec::new();
        for pair in header.split(';') {
            let Some(equals) = pair.find('=') else {
                continue;
            };
            let (name, value) = (&pair[..equals], &pair[equals + 1..]);
            let (name, value) = (name.trim(), value.trim());
            // Our names are plain; a percent-encoded one (`%5F%5FHost-…`) is somebody
            // else's cookie posing as ours, and is ignored.
            if name.is_empty() || name.contains('%') {
                continue;
            }
            // Where a part of the header is in it (a slice's offset from the header's start).
            let place = |part: &str| {
                let from = part.as_ptr() as usize - header.as_ptr() as usize;
                from..from + part.len()
            };
            // Values earlier versions wrote percent-encoded are decoded; the rest (sealed
            // base64, as written now) is kept where it is, without a copy.
            let value = if value.contains('%') {
                match percent_encoding::percent_decode_str(value).decode_utf8() {
                    Ok(decoded) => Value::Decoded(decoded.into_owned()),
                    Err(_) => continue,
                }
            } else {
                Value::At(place(value))
            };
            originals.push(Original {
                name: place(name),
                value,
            });
        }
        Self {
            header,
            originals,
            changes: Vec::new(),
            cipher,
        }
    }

    fn name_of(&self, original: &Original) -> &str {
        &self.header[original.name.clone()]
    }

    fn value_of<'a>(&'a self, original: &'a Original) -> &'a str {
        match &original.value {
            Value::At(place) => &self.header[place.clone()],
            Value::Decoded(value) => value,
        }
    }

    /// The value of the cookie `name`, opened: the one this response sets, or else the first
    /// of that name the request carried that opens. `None` if none does (absent, removed,
    /// sealed with another key, or tampered with).
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some(changed) = self.changes.iter().find(|cookie| cookie.name() == name) {
            return self.cipher.open(name, changed.value());
        }
        self.originals
            .iter()
            .filter(|original| self.name_of(original) == name)
            .find_map(|original| self.cipher.open(name, self.value_of(original)))
    }

    /// The names of the request's cookies that start with `prefix`, whether they open or not.
    pub fn names_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.originals
            .iter()
            .map(|original| self.name_of(original))
            .filter(move |name| name.starts_with(prefix))
    }

    /// The names and opened values of the request's cookies whose names start with
    /// `prefix` (those that do not open are left out).
    pub fn opened_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, String)> + 'a {
        self.originals
            .iter()
            .map(|original| (self.name_of(original), original))
            .filter(move |(name, _)| name.starts_with(prefix))
            .filter_map(|(name, original)| {
                Some((name, self.cipher.open(name, self.value_of(original))?))
            })
    }

    /// Seals `cookie` and sets it in the response.
    #[must_use]
    pub fn set(mut self, mut cookie: Cookie<'static>) -> Self {
        let sealed = self.cipher.seal(cookie.name(), cookie.value());
        cookie.set_value(sealed);
        self.change(cookie);
        self
    }

    /// Removes the cookie of `cookie`'s name (its path and domain say which) in the response:
    /// a removal is sent if the request carried one of that name, and a cookie this response
    /// was to set is not set.
    #[must_use]
    pub fn remove(mut self, mut cookie: Cookie<'static>) -> Self {
        let name = cookie.name();
        if self.originals.iter().any(|o| self.name_of(o) == name) {
            cookie.make_removal();
            self.change(cookie);
        } else {
            self.changes.retain(|changed| changed.name() != name);
        }
        self
    }

    /// Sets `cookie` in the response, in place of any change to its name before.
    fn change(&mut self, cookie: Cookie<'static>) {
        match self
            .changes
            .iter_mut()
            .find(|changed| changed.name() == cookie.name())
        {
            Some(changed) => *changed = cookie,
            None => self.changes.push(cookie),
        }
    }
}

impl<S> FromRequestParts<S> for Jar
where
    S: Send + Sync,
    CookieCipher: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(
            &parts.headers,
            CookieCipher::from_ref(state),
        ))
    }
}

impl IntoResponseParts for Jar {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        // Written as they are: names are plain and sealed values base64, which a cookie may
        // hold unencoded. (Percent-encoding them cost a sign-in thousands of instructions;
        // `from_headers` still decodes what earlier versions encoded.)
        for cookie in &self.changes {
            if let Ok(value) = HeaderValue::from_str(&set_cookie(cookie)) {
                res.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        Ok(res)
    }
}

/// `cookie` as a `Set-Cookie` value: the bytes the cookie crate's `Display` writes, its
/// attributes in its order, put together without `write!` (which took 2–3 k instructions a
/// cookie, a sign-in writing seven) and with the HTTP date hyper writes instead of a
/// `time` format description for a removal's `Expires`.
fn set_cookie(cookie: &Cookie<'_>) -> String {
    let (name, value) = (cookie.name(), cookie.value());
    let mut out = String::with_capacity(name.len() + value.len() + 96);
    out.push_str(name);
    out.push('=');
    out.push_str(value);
    if cookie.http_only() == Some(true) {
        out.push_str("; HttpOnly");
    }
    if let Some(same_site) = cookie.same_site() {
        out.push_str(match same_site {
            SameSite::Strict => "; SameSite=Strict",
            SameSite::Lax => "; SameSite=Lax",
            SameSite::None => "; SameSite=None",
        });
    }
    let partitioned = cookie.partitioned() == Some(true);
    if partitioned {
        out.push_str("; Partitioned");
    }
    // As the crate does: a `SameSite=None` cookie is `Secure` unless told otherwise.
    if cookie.secure() == Some(true)
        || partitioned
        || cookie.secure().is_none() && cookie.same_site() == Some(SameSite::None)
    {
        out.push_str("; Secure");
    }
    if let Some(path) = cookie.path() {
        out.push_str("; Path=");
        out.push_str(path);
    }
    if let Some(domain) = cookie.domain() {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    if let Some(max_age) = cookie.max_age() {
        out.push_str("; Max-Age=");
        out.push_str(&max_age.whole_seconds().to_string());
    }
    if let Some(expires) = cookie.expires_datetime() {
        match http_date(expires) {
            Some(date) => {
                out.push_str("; Expires=");
                out.push_str(&date);
            }
            // A date an HTTP date cannot say (before 1970, past 9999): as the crate writes it.
            None => return cookie.to_string(),
        }
    }
    out
}

/// `time` as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), if it is one: from 1970 up to
/// the end of 9999 (UTC), where `httpdate` would panic.
fn http_date(time: time::OffsetDateTime) -> Option<String> {
    /// 10000-01-01T00:00:00Z.
    const YEAR_10000: i64 = 253_402_300_800;
    if !(0..YEAR_10000).contains(&time.unix_timestamp()) {
        return None;
    }
    Some(httpdate::fmt_http_date(std::time::SystemTime::from(time)))
}

impl axum::response::IntoResponse for Jar {
    fn into_response(self) -> axum::response::Response {
        (self, ()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use cookie::CookieJar;

    use super::*;

    /// A jar with no cookie, sealing with `key`.
    fn empty(key: &Key) -> Jar {
        Jar::new(key.into())
    }

    /// The jar of `headers`' cookies, opening with `key`.
    fn jar_of(headers: &HeaderMap, key: &Key) -> Jar {
        Jar::from_headers(headers, key.into())
    }

    fn sent(jar: Jar) -> Vec<String> {
        let response = axum::response::IntoResponse::into_response(jar);
        response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn cookie_header(set_cookies: &[String]) -> HeaderMap {
        let pairs: Vec<&str> = set_cookies
            .iter()
            .map(|c| c.split(';').next().unwrap())
            .collect();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, pairs.join("; ").parse().unwrap());
        headers
    }

    #[test]
    fn a_sealed_cookie_comes_back_opened_and_only_with_its_key() {
        let key = Key::generate();
        // An id long enough that a sealed value (random to the eye) never spells it by
        // chance, as it once spelled a three-letter one (one run in a few thousand).
        let plain = "{\"id\":\"session-id-in-the-clear\"}";
        let set = sent(empty(&key).set(Cookie::new("tb_session", plain)));
        assert_eq!(set.len(), 1);
        assert!(
            !set[0].contains("session-id-in-the-clear"),
            "the value is sealed: {}",
            set[0]
        );

        let back = jar_of(&cookie_header(&set), &key);
        assert_eq!(back.get("tb_session").unwrap(), plain);
        let other = jar_of(&cookie_header(&set), &Key::generate());
        assert!(other.get("tb_session").is_none());
    }

    #[test]
    fn the_response_sets_only_what_the_handler_changed() {
        let key = Key::generate();
        let set = sent(
            empty(&key)
                .set(Cookie::new("tb_flow_1", "one"))
                .set(Cookie::new("tb_flow_2", "two"))
                .set(Cookie::new("tb_log", "log")),
        );
        let jar = jar_of(&cookie_header(&set), &key);

        let mut flows: Vec<String> = jar
            .opened_with_prefix("tb_flow_")
            .map(|(_, value)| value)
            .collect();
        flows.sort();
        assert_eq!(flows, ["one", "two"]);

        let set = sent(jar.remove(Cookie::from("tb_flow_1")));
        assert_eq!(set.len(), 1, "only the removal is sent: {set:?}");
        assert!(set[0].starts_with("tb_flow_1=;"), "{}", set[0]);
    }

    /// The browser gets the same `Set-Cookie` bytes the cookie crate writes, for every
    /// attribute tokenbridge's cookies and removals carry and the ones they do not.
    #[test]
    fn set_cookie_headers_are_the_bytes_the_cookie_crate_writes() {
        use time::{Duration, OffsetDateTime};
        let base = || Cookie::build(("__Host-tb_log", "c2VhbGVk+/=")).path("/");
        let mut removal = Cookie::build(("tb_flow_0123456789abcdef", "x"))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .build();
        removal.make_removal();
        let cookies: Vec<Cookie<'static>> = vec![
            base()
                .http_only(true)
                .secure(true)
                .same_site(SameSite::Lax)
                .max_age(Duration::seconds(28_800))
                .build(),
            base()
                .http_only(true)
                .same_site(SameSite::Strict)
                .max_age(Duration::seconds(0))
                .build(),
            base().same_site(SameSite::None).build(),
            base().same_site(SameSite::None).secure(false).build(),
            base().partitioned(true).domain("example.org").build(),
            base().max_age(Duration::seconds(-5)).build(),
            removal,
            base()
                .expires(OffsetDateTime::UNIX_EPOCH - Duration::days(3))
                .build(),
            // 1970 in its own offset, 1969 in UTC.
            base()
                .expires(
                    (OffsetDateTime::UNIX_EPOCH - Duration::minutes(30))
                        .to_offset(time::UtcOffset::from_hms(1, 0, 0).unwrap()),
                )
                .build(),
            base()
                .expires(OffsetDateTime::UNIX_EPOCH + Duration::seconds(253_402_300_799))
                .build(),
            Cookie::new("bare", ""),
        ];
        for cookie in &cookies {
            assert_eq!(set_cookie(cookie), cookie.to_string());
        }
        assert!(set_cookie(&cookies[6]).contains("; Max-Age=0; Expires="));
    }

    #[test]
    fn a_cookie_an_earlier_version_wrote_percent_encoded_still_opens() {
        let key = Key::generate();
        // Long enough that the sealed base64 holds '+' or '/' (and it ends in '=' padding
        // often): earlier versions wrote those as %2B, %2F and %3D.
        let value = "{\"entries\":\"".to_owned() + &"é~?".repeat(200) + "\"}";
        let set = sent(empty(&key).set(Cookie::new("tb_log", value.clone())));
        let pair = set[0].split(';').next().unwrap();
        let encoded = pair
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replacen("=", "\u{0}", 1)
            .replace('=', "%3D")
            .replacen('\u{0}', "=", 1);
        assert!(encoded.contains('%'), "{encoded}");
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, encoded.parse().unwrap());
        assert_eq!(jar_of(&headers, &key).get("tb_log").unwrap(), value);
    }

    #[test]
    fn a_planted_cookie_of_the_same_name_does_not_hide_ours() {
        let key = Key::generate();
        let ours = sent(empty(&key).set(Cookie::new("tb_session", "mine")));
        let pair = ours[0].split(';').next().unwrap();
        for header in [
            format!("tb_session=planted; {pair}"),
            format!("{pair}; tb_session=planted"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, header.parse().unwrap());
            let jar = jar_of(&headers, &key);
            assert_eq!(jar.get("tb_session").unwrap(), "mine", "{header}");
        }

        // A percent-encoded name is not taken for ours.
        let encoded = pair.replacen("tb_session", "%74b_session", 1);
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, encoded.parse().unwrap());
        assert!(jar_of(&headers, &key).get("tb_session").is_none());
    }

    /// The request's cookies are the ones the cookie crate's parser reads from the same
    /// headers, in order, and several `Cookie` headers are read as one.
    #[test]
    fn request_cookies_are_read_as_the_cookie_crate_reads_them() {
        let key = Key::generate();
        let sealed = sent(empty(&key).set(Cookie::new("tb_session", "mine")));
        let pair = sealed[0].split(';').next().unwrap();
        let first = format!(" a=1;b = two ; ;novalue; =nameless;{pair};c==3");
        let second = "d=; e=\"quoted\" ;%66=encoded-name".to_owned();
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, first.parse().unwrap());
        headers.append(header::COOKIE, second.parse().unwrap());

        let jar = jar_of(&headers, &key);
        let ours: Vec<&str> = jar.names_with_prefix("").collect();
        let theirs: Vec<String> = Cookie::split_parse(format!("{first};{second}"))
            .filter_map(Result::ok)
            .map(|cookie| cookie.name().to_owned())
            .filter(|name| !name.contains('%'))
            .collect();
        assert_eq!(ours, theirs);
        assert_eq!(ours, ["a", "b", "tb_session", "c", "d", "e"]);
        assert_eq!(
            jar.get("tb_session").unwrap(),
            "mine",
            "a sealed value between others"
        );
    }

    /// A response sends one `Set-Cookie` a name: the last change to it. A removal goes out
    /// only for a cookie the request carried; one set and removed again is simply not sent.
    #[test]
    fn the_last_change_to_a_name_is_the_one_sent() {
        let key = Key::generate();
        let set = sent(empty(&key).set(Cookie::new("tb_log", "old")));
        let jar = jar_of(&cookie_header(&set), &key)
            .set(Cookie::new("tb_log", "new"))
            .set(Cookie::new("tb_outcome", "once"))
            .remove(Cookie::from("tb_outcome"))
            .remove(Cookie::from("tb_flow_absent"));
        assert_eq!(
            jar.get("tb_log").unwrap(),
            "new",
            "the response's own value"
        );
        let sent_now = sent(jar);
        assert_eq!(sent_now.len(), 1, "{sent_now:?}");
        assert!(sent_now[0].starts_with("tb_log="));

        let removed = sent(
            jar_of(&cookie_header(&set), &key)
                .set(Cookie::new("tb_log", "newer"))
                .remove(Cookie::from("tb_log")),
        );
        assert_eq!(removed.len(), 1, "{removed:?}");
        assert!(
            removed[0].starts_with("tb_log=;") && removed[0].contains("Max-Age=0"),
            "{}",
            removed[0]
        );
    }

    /// Each seal has a nonce of its own: the same value sealed twice for one name reads
    /// differently (a repeated nonce would undo AES-GCM), and both open.
    #[test]
    fn the_same_value_sealed_twice_is_two_different_seals() {
        let cipher = CookieCipher::from(&Key::generate());
        let (one, two) = (
            cipher.seal("tb_session", "same"),
            cipher.seal("tb_session", "same"),
        );
        assert_ne!(one, two);
        assert_ne!(one[..16], two[..16], "the nonce, first, differs");
        assert_eq!(cipher.open("tb_session", &one).unwrap(), "same");
        assert_eq!(cipher.open("tb_session", &two).unwrap(), "same");
        assert!(cipher.open("tb_session", "").is_none(), "an empty value");
    }

    /// Once the response removes a cookie, reading it finds nothing, though the request
    /// carried it; a value that does not percent-decode is skipped, not taken for ours.
    #[test]
    fn a_removed_cookie_reads_as_absent_and_a_broken_escape_hides_nothing() {
        let key = Key::generate();
        let set = sent(empty(&key).set(Cookie::new("tb_session", "mine")));
        let jar = jar_of(&cookie_header(&set), &key);
        assert_eq!(jar.get("tb_session").unwrap(), "mine");
        assert!(
            jar.remove(Cookie::from("tb_session"))
                .get("tb_session")
                .is_none()
        );

        let pair = set[0].split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("tb_session=%ff%fe; {pair}").parse().unwrap(),
        );
        assert_eq!(jar_of(&headers, &key).get("tb_session").unwrap(), "mine");
    }

    /// Cookies browsers hold from before this jar sealed them itself (the cookie crate's
    /// private jar did) still open, and the crate opens this jar's: the format is the same.
    #[test]
    fn cookies_sealed_by_the_cookie_crate_and_by_this_jar_open_with_each_other() {
        let key = Key::generate();
        let value = "{\"entries\":[\"é\"]}";

        let mut crates = CookieJar::new();
        crates.private_mut(&key).add(Cookie::new("tb_log", value));
        let theirs = crates.get("tb_log").unwrap().value().to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("tb_log={theirs}").parse().unwrap());
        assert_eq!(jar_of(&headers, &key).get("tb_log").unwrap(), value);

        let ours = sent(empty(&key).set(Cookie::new("tb_log", value)));
        let sealed = ours[0]
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("tb_log=")
            .unwrap();
        let mut crates = CookieJar::new();
        crates.add_original(Cookie::new("tb_log", sealed.to_owned()));
        assert_eq!(crates.private(&key).get("tb_log").unwrap().value(), value);
    }

    /// A sealed value opens only under its own name, and not once a byte of it changed.
    #[test]
    fn a_sealed_value_opens_only_under_its_name_and_untouched() {
        let key = Key::generate();
        let set = sent(empty(&key).set(Cookie::new("tb_session", "mine")));
        let sealed = set[0]
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("tb_session=")
            .unwrap();
        let cipher = CookieCipher::from(&key);
        assert_eq!(cipher.open("tb_session", sealed).unwrap(), "mine");
        assert!(
            cipher.open("tb_outcome", sealed).is_none(),
            "moved to another name"
        );
        let mut bytes = base64_simd::STANDARD.decode_to_vec(sealed).unwrap();
        for at in [0, 12, bytes.len() - 1] {
            bytes[at] ^= 1;
            assert!(
                cipher
                    .open(
                        "tb_session",
                        &base64_simd::STANDARD.encode_to_string(&bytes)
                    )
                    .is_none(),
                "byte {at}"
            );
            bytes[at] ^= 1;
        }
        assert!(
            cipher.open("tb_session", "bm9uY2U=").is_none(),
            "shorter than a nonce"
        );
        assert!(cipher.open("tb_session", "not base64!").is_none());
    }
}
