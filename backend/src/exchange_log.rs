//! The exchange log: the authorize request, the callback, and the token request
//! and response as tokenbridge saw them, for the page to show. Only fields on an
//! allow-list of protocol parameters show their values; every other field — the
//! client secret, the code, the verifier, both tokens, credentials in a header,
//! and whatever a provider adds — is masked here, before the log exists, so it
//! never leaves the server. A shown value in the provider's answer (an error's
//! description, say) that repeats something secret the request carried has it
//! taken out, whole or cut short ([`Secrets`], which the provider hands over:
//! [`Recorder::scrubbing`]). A log too large for its cookie keeps what fits ([`fitted`]).

use std::{
    borrow::Cow,
    sync::{Arc, Mutex, PoisonError},
};

use tokenbridge_shared::{ExchangeLog, LogEntry, LogField, LogStep};

/// Parameter and field names whose values are shown: protocol parameters that carry no
/// credential. Everything else is masked, so a field nobody thought of stays hidden.
const SHOWN: [&str; 20] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "optional_scope",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
    "force_confirm",
    "device_id",
    "device_name",
    "prompt",
    "grant_type",
    "token_type",
    "expires_in",
    "error",
    "error_description",
    "error_uri",
    "iss",
    "body",
];
/// Long values (a scope list, an error page) are cut to this.
const MAX_VALUE: usize = 300;
/// A step's URL is cut to this (the log must fit in a cookie).
const MAX_URL: usize = 512;

fn shown(name: &str) -> bool {
    SHOWN.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// The first `chars` characters of `text`, copied at once (not a character at a time).
fn cut(text: &str, chars: usize) -> String {
    // No more bytes than that is no more characters: nothing to count (most values).
    if text.len() <= chars {
        return text.to_owned();
    }
    let end = text
        .char_indices()
        .nth(chars)
        .map_or(text.len(), |(at, _)| at);
    text[..end].to_owned()
}

fn field(name: &str, value: &str) -> LogField {
    scrubbed_field(name, value, &Secrets::default())
}

/// [`field`], with `secrets` taken out of a shown value before it is cut (a secret across the
/// cut would leave its beginning).
fn scrubbed_field(name: &str, value: &str, secrets: &Secrets) -> LogField {
    let masked = !shown(name);
    LogField {
        name: cut(&secrets.scrub(name), 100),
        value: if masked {
            String::new()
        } else {
            cut(&secrets.scrub(value), MAX_VALUE)
        },
        masked,
    }
}

/// The shortest piece of a secret that goes wherever a shown value holds it: a provider that
/// cuts its echo of a request short (`code=4f0c1b2a…`), or begins it late, leaves a piece of
/// a secret, not the whole. A piece of one that is not ASCII may be as few as two characters.
const PIECE: usize = 8;

/// What must not come back in a shown value: a request's secrets, each also as URLs and forms
/// write it (`/` as `%2F` or `%2f`, or left as it is in a path; a space as `+` or `%20`). One
/// of [`PIECE`] bytes or more goes wherever any [`PIECE`] bytes of it stand, in either case,
/// so that an echo cut short (or in capitals) leaves nothing of it either. A shorter one goes
/// where it stands whole as a word of its own, with no letter or digit (of any script) beside
/// it (`_`, `-`, `%` and the like stand apart), so that a one-character code does not take
/// every such character with it.
#[derive(Default)]
pub struct Secrets {
    /// The secrets of [`PIECE`] bytes or more.
    long: Vec<String>,
    /// Where the pieces of `long` stand ([`PIECE`] bytes each); none without long secrets.
    pieces: Pieces,
    /// The shorter ones, longest first, so that one inside another goes whole.
    short: Vec<String>,
}

/// Where the long secrets' pieces stand, looked up by a piece of text (folded to small letters,
/// [`folded`]). First a bitmap of their hashes, with 64 to 128 bits for each piece (a sign-in's
/// verifier and client secret have about sixty, a 2 KB code two thousand more), so that about
/// one lookup in a hundred of a piece no secret holds goes further; then every piece in order,
/// with its place, made on the first such lookup: a binary search, however long the secrets.
#[derive(Default)]
struct Pieces {
    bits: Vec<u64>,
    /// How far a hash is shifted right to leave one bit's index.
    shift: u32,
    /// Each piece, folded, with the secret (its index) and the offset it stands at.
    places: std::cell::OnceCell<Vec<(u64, usize, usize)>>,
}

impl Pieces {
    fn of(secrets: &[String]) -> Self {
        let count: usize = secrets.iter().map(|s| s.len() + 1 - PIECE).sum();
        if count == 0 {
            return Self::default();
        }
        let bits = (count * 64).next_power_of_two();
        let mut pieces = Self {
            bits: vec![0; bits / 64],
            shift: 64 - bits.trailing_zeros(),
            places: std::cell::OnceCell::new(),
        };
        for piece in secrets.iter().flat_map(|s| s.as_bytes().windows(PIECE)) {
            let bit = pieces.bit(folded(piece));
            pieces.bits[bit / 64] |= 1 << (bit % 64);
        }
        pieces
    }

    /// The bit that stands for a `piece`.
    fn bit(&self, piece: u64) -> usize {
        // Fibonacci hashing: the product's top bits depend on every byte.
        (piece.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Which of `secrets` (the ones these pieces are of) holds `piece`, and where: the first
    /// place in order, if several do.
    fn place(&self, piece: u64, secrets: &[String]) -> Option<(usize, usize)> {
        if self.bits.is_empty() {
            return None;
        }
        let bit = self.bit(piece);
        if self.bits[bit / 64] & (1 << (bit % 64)) == 0 {
            return None;
        }
        let places = self.places.get_or_init(|| {
            let mut places: Vec<(u64, usize, usize)> = secrets
                .iter()
                .enumerate()
                .flat_map(|(index, secret)| {
                    let pieces = secret.as_bytes().windows(PIECE).enumerate();
                    pieces.map(move |(offset, piece)| (folded(piece), index, offset))
                })
                .collect();
            places.sort_unstable();
            places
        });
        let first = places.partition_point(|&(p, ..)| p < piece);
        match places.get(first) {
            Some(&(p, index, offset)) if p == piece => Some((index, offset)),
            _ => None,
        }
    }
}

/// `piece` ([`PIECE`] bytes) as one number, its ASCII capitals made small: two pieces that
/// differ only in case fold to the same.
fn folded(piece: &[u8]) -> u64 {
    let mut word = [0; PIECE];
    word.copy_from_slice(piece);
    lowercase(u64::from_le_bytes(word))
}

/// The eight bytes of `word` with their ASCII capitals made small, all at once (byte by byte,
/// each piece looked up would cost eight times as many instructions).
fn lowercase(word: u64) -> u64 {
    const EACH: u64 = u64::from_le_bytes([1; 8]);
    let low_seven = word & (0x7f * EACH);
    // The top bit of each byte: ASCII (clear in `word`), at least `A` (0x41 + 0x3f reaches
    // 0x80), not past `Z` (0x5a + 0x25 stays under 0x80); no sum carries into the next byte.
    let capital = !word & (low_seven + 0x3f * EACH) & !(low_seven + 0x25 * EACH) & (0x80 * EACH);
    word | (capital >> 2)
}

/// What RFC 3986 leaves as it is; everything else a URL writes as `%XX` (JavaScript's
/// `encodeURIComponent` leaves `!'()*` too: a secret rarely holds them).
const URL_WRITTEN: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// [`URL_WRITTEN`] with `/` left as it is, as a URL's path writes it (and Python's
/// `urllib.parse.quote`, unless told otherwise).
const PATH_WRITTEN: &percent_encoding::AsciiSet = &URL_WRITTEN.remove(b'/');

impl Secrets {
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Self {
        let mut all = Vec::new();
        for secret in secrets.into_iter() {
            let secret = secret.as_ref();
            if secret.is_empty() {
                continue;
            }
            // Letters, digits and `-._` both write as they are (most codes and verifiers).
            let as_it_is = |b: u8| b.is_ascii_alphanumeric() || b"-._".contains(&b);
            if !secret.bytes().all(as_it_is) {
                let in_a_form: String =
                    url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
                let [in_a_url, in_a_path] = [URL_WRITTEN, PATH_WRITTEN]
                    .map(|set| percent_encoding::utf8_percent_encode(secret, set).to_string());
                for written in [in_a_form, in_a_url, in_a_path] {
                    if written != secret {
                        // A long one is found in either case; a short one as written or with its
                        // hex in lower case.
                        if written.len() < PIECE {
                            all.push(lowercase_hex(&written));
                        }
                        all.push(written);
                    }
                }
            }
            all.push(secret.to_owned());
        }
        let (mut long, mut short): (Vec<String>, Vec<String>) =
            all.into_iter().partition(|secret| secret.len() >= PIECE);
        long.sort_unstable();
        long.dedup();
        short.sort_unstable_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        short.dedup();
        Self {
            pieces: Pieces::of(&long),
            long,
            short,
        }
    }

    /// `text` with every long secret, and every run of pieces of one (side by side or
    /// overlapping), replaced by `[redacted]`, widened to whole characters; then every short
    /// secret that stands alone.
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let scrubbed = self.without_pieces(text);
        self.short
            .iter()
            .fold(scrubbed, |text, secret| without_word(text, secret))
    }

    /// How many bytes at the start of `text` (at least [`PIECE`] of them) run along a long
    /// secret, with ASCII letters in either case (a provider that writes what it repeats in
    /// capitals, or `%2F` beside `%2f`), if its first [`PIECE`] are a piece of one. Where a
    /// piece stands in several places, the run is followed from one of them: should it stop
    /// short, the search goes on at the pieces that overlap its end, and finds the rest.
    fn run_at(&self, text: &[u8]) -> Option<usize> {
        let (index, offset) = self.pieces.place(folded(&text[..PIECE]), &self.long)?;
        let along = self.long[index].as_bytes()[offset..].iter().zip(text);
        Some(along.take_while(|(s, t)| s.eq_ignore_ascii_case(t)).count())
    }

    /// `text` with each run of the long secrets' pieces in it replaced, widened to whole
    /// characters. Each run is followed to its end along the secret it is in, and the search
    /// goes on from there, so that a long echo is read once.
    fn without_pieces<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.long.is_empty() {
            return Cow::Borrowed(text);
        }
        let bytes = text.as_bytes();
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut at = 0;
        while at + PIECE <= bytes.len() {
            let Some(length) = self.run_at(&bytes[at..]) else {
                at += 1;
                continue;
            };
            let (mut start, mut end) = (at, at + length);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            while !text.is_char_boundary(end) {
                end += 1;
            }
            match runs.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => runs.push((start, end)),
            }
            // The next piece not wholly inside this run.
            at += length + 1 - PIECE;
        }
        redacted(Cow::Borrowed(text), &runs)
    }
}

/// `text` with each of `runs` (byte ranges in order, apart, at characters) replaced by
/// `[redacted]`; as it was when there are none.
fn redacted<'t>(text: Cow<'t, str>, runs: &[(usize, usize)]) -> Cow<'t, str> {
    if runs.is_empty() {
        return text;
    }
    let mut scrubbed = String::with_capacity(text.len());
    let mut copied = 0;
    for &(start, end) in runs {
        scrubbed.push_str(&text[copied..start]);
        scrubbed.push_str("[redacted]");
        copied = end;
    }
    scrubbed.push_str(&text[copied..]);
    Cow::Owned(scrubbed)
}

/// `text` with `word` replaced wherever no letter or digit stands beside it, even where it
/// overlaps an occurrence that has one beside it (`ab-ab` in `xab-ab-ab`).
fn without_word<'t>(text: Cow<'t, str>, word: &str) -> Cow<'t, str> {
    let alone = |at: usize| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    };
    let first_char = word.chars().next().map_or(1, char::len_utf8);
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = position(text.as_bytes(), word.as_bytes(), from) {
        if alone(at) {
            found.push((at, at + word.len()));
            from = at + word.len();
        } else {
            from = at + first_char;
        }
    }
    redacted(text, &found)
}

/// Where `word` (not empty) first stands in `text` at or after `from`: its first byte looked
/// for, then the rest compared. Most texts scrubbed are a few words with no such byte, which
/// this passes over in a few instructions a byte; `str::find` first prepares a search of
/// several hundred. A match in a `str` of a `str`'s bytes starts and ends at characters.
fn position(text: &[u8], word: &[u8], from: usize) -> Option<usize> {
    let (first, rest) = word.split_first()?;
    let mut at = from;
    loop {
        let start = at + text.get(at..)?.iter().position(|b| b == first)?;
        if text[start + 1..].starts_with(rest) {
            return Some(start);
        }
        at = start + 1;
    }
}

/// A JSON field: a scalar as [`field`] shows it; an object or array as JSON whose
/// scalars are kept only under shown names (`"•"` otherwise), at any depth.
fn json_field(name: &str, value: &serde_json::Value, secrets: &Secrets) -> LogField {
    use serde_json::Value;
    // Strings and names are scrubbed before they are written out as JSON, which would escape a
    // secret's `"` or `\\` and so hide it from the scrub of the text.
    fn redact(name: &str, value: &Value, secrets: &Secrets) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (secrets.scrub(k).into_owned(), redact(k, v, secrets)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| redact(name, v, secrets)).collect())
            }
            Value::String(text) if shown(name) => Value::String(secrets.scrub(text).into_owned()),
            scalar if shown(name) => scalar.clone(),
            _ => Value::String("•".into()),
        }
    }
    match value {
        Value::Object(_) | Value::Array(_) => LogField {
            name: cut(&secrets.scrub(name), 100),
            value: cut(
                &secrets.scrub(&redact(name, value, secrets).to_string()),
                MAX_VALUE,
            ),
            masked: false,
        },
        Value::String(text) => scrubbed_field(name, text, secrets),
        other => scrubbed_field(name, &other.to_string(), secrets),
    }
}

/// The fields of a form body (`application/x-www-form-urlencoded`), split and decoded as
/// `form_urlencoded::parse` does. A masked field's value is never decoded or copied: the
/// code, the verifier and the client secret pass through here untouched.
fn form_fields(body: &[u8]) -> Vec<LogField> {
    fn decode(bytes: &[u8]) -> String {
        let plus_as_space: Vec<u8>;
        let bytes = if bytes.contains(&b'+') {
            plus_as_space = bytes
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            &plus_as_space[..]
        } else {
            bytes
        };
        percent_encoding::percent_decode(bytes)
            .decode_utf8_lossy()
            .into_owned()
    }
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            let name = decode(name);
            if shown(&name) {
                field(&name, &decode(value))
            } else {
                field(&name, "")
            }
        })
        .collect()
}

/// The top-level fields of a JSON object, or `None` when `body` is not one. A masked scalar
/// (a token, say) is never parsed into a value of its own; objects and arrays are, to show
/// what they hold under shown names.
///
/// So a masked scalar is not checked either: an answer that serde_json would refuse whole
/// for one (a lone surrogate escape such as `"\ud800"` in a token, a number such as `1e400`)
/// still shows its other fields, with that one masked. A value under a shown name that cannot
/// be read (the same escape or number, or nesting deeper than serde_json's limit) shows as
/// empty.
fn json_fields(body: &[u8], secrets: &Secrets) -> Option<Vec<LogField>> {
    use serde_json::value::RawValue;
    let map: std::collections::BTreeMap<String, &RawValue> = serde_json::from_slice(body).ok()?;
    Some(
        map.iter()
            .map(|(name, raw)| {
                let nested = raw.get().starts_with(['{', '[']);
                if !nested && !shown(name) {
                    return scrubbed_field(name, "", secrets);
                }
                match serde_json::from_str(raw.get()) {
                    Ok(value) => json_field(name, &value, secrets),
                    Err(_) => scrubbed_field(name, "", secrets),
                }
            })
            .collect(),
    )
}

/// A request the browser made to `url` (without its query) with the query `params`, as this
/// server has them already (read from the callback's query, or as the authorize URL was
/// written): its parameters become the fields, masked by name.
pub fn browser_request<'a>(
    step: LogStep,
    url: String,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> LogEntry {
    LogEntry {
        step,
        method: "GET".into(),
        url: cut(&url, MAX_URL),
        status: None,
        fields: params.into_iter().map(|(k, v)| field(k, v)).collect(),
    }
}

/// What the sender saw of one token-endpoint exchange.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Recorded>>);

#[derive(Default)]
struct Recorded {
    entries: Vec<LogEntry>,
    /// What the request carries that its answer must not show ([`Recorder::scrubbing`]).
    secrets: Secrets,
}

impl Recorder {
    fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What was recorded, taken out (a second call finds nothing more), and the request's
    /// secrets forgotten.
    pub fn take(&self) -> Vec<LogEntry> {
        let mut recorded = self.recorded();
        recorded.secrets = Secrets::default();
        std::mem::take(&mut recorded.entries)
    }

    /// The request about to be recorded carries `secrets` (the provider knows them: the code,
    /// the verifier, the client secret and how it is sent): its answer's shown values are
    /// scrubbed of them, until the log is taken.
    pub fn scrubbing(&self, secrets: Secrets) {
        self.recorded().secrets = secrets;
    }

    /// A form request to the token endpoint, with its Authorization header if any.
    pub fn request(&self, method: &str, url: &str, authorization: bool, body: &[u8]) {
        let mut fields = form_fields(body);
        if authorization {
            fields.insert(0, field("Authorization", ""));
        }
        // The URL the token request went to, as written from the provider's (parsed) URL; a
        // discovered one may be long, and the log must fit in its cookie.
        let url = cut(url.split(['?', '#']).next().unwrap_or_default(), MAX_URL);
        self.recorded().entries.push(LogEntry {
            step: LogStep::TokenRequest,
            method: method.into(),
            url,
            status: None,
            fields,
        });
    }

    /// The token endpoint's answer: the top-level fields of its JSON, or just its size.
    pub fn response(&self, status: u16, body: &[u8]) {
        let mut recorded = self.recorded();
        let fields = match json_fields(body, &recorded.secrets) {
            Some(fields) => fields,
            None => vec![field(
                "body",
                &format!("{} bytes, not a JSON object", body.len()),
            )],
        };
        recorded.entries.push(LogEntry {
            step: LogStep::TokenResponse,
            method: String::new(),
            url: String::new(),
            status: Some(status),
            fields,
        });
    }
}

/// The most bytes of an exchange log's JSON that its cookie holds: sealed and in base64 that
/// is about 4 KB, what a browser keeps of one cookie (name and value).
pub const MAX_LOG_JSON: usize = 3000;

/// `log`, whole if its JSON fits in `max` bytes; otherwise the fields that fit, kept in order
/// from the first step on, and in each step that lost some a last field saying how many. A
/// provider's answer of thousands of fields would otherwise make a cookie of megabytes, and a
/// browser refuses the whole answer that sets it.
pub fn fitted(log: ExchangeLog, max: usize) -> ExchangeLog {
    let mut entries = log.entries;
    let fields: Vec<Vec<LogField>> = entries
        .iter_mut()
        .map(|entry| std::mem::take(&mut entry.fields))
        .collect();
    // The steps without their fields, and room for one "not kept" field in each.
    let bare = json_len(&entries) + entries.len() * json_len(&not_kept(usize::MAX));
    let mut room = max.saturating_sub(bare);
    for (entry, fields) in entries.iter_mut().zip(fields) {
        let mut dropped = 0;
        for field in fields {
            // A field's JSON and the comma before it.
            let needs = json_len(&field) + 1;
            if dropped == 0 && needs <= room {
                room -= needs;
                entry.fields.push(field);
            } else {
                dropped += 1;
            }
        }
        if dropped > 0 {
            entry.fields.push(not_kept(dropped));
        }
    }
    ExchangeLog { entries }
}

/// The field that ends a step whose last `count` fields were not kept.
fn not_kept(count: usize) -> LogField {
    LogField {
        name: "…".into(),
        value: format!("{count} more fields, not kept: the log was too long for its cookie"),
        masked: false,
    }
}

/// `written` with the hex digits of its `%XX` escapes in lower case, as some encoders write them:
/// for a short secret, which is looked for as written (a long one's pieces are found in either
/// case).
fn lowercase_hex(written: &str) -> String {
    let mut after_percent = 0;
    written
        .chars()
        .map(|c| {
            if c == '%' {
                after_percent = 2;
                c
            } else if after_percent > 0 {
                after_percent -= 1;
                c.to_ascii_lowercase()
            } else {
                c
            }
        })
        .collect()
}

/// The length of a value's JSON, for [`fitted`].
fn json_len(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map_or(0, |json| json.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    #[test]
    fn secrets_are_masked_and_carry_no_value() {
        let recorder = Recorder::default();
        recorder.request("POST", "https://oauth.example/token", true, b"grant_type=authorization_code&code=1234567&code_verifier=v3r1f13r&client_id=app&client_secret=s3cr3t");
        recorder.response(
            200,
            br#"{"access_token":"y0_abc","refresh_token":"1:r","expires_in":3600}"#,
        );
        recorder.request(
            "POST",
            "https://oauth.example/token?tenant=t3n4nt",
            false,
            b"",
        );
        let entries = recorder.take();
        assert_eq!(entries[0].url, "https://oauth.example/token");
        assert_eq!(
            entries[2].url, "https://oauth.example/token",
            "without its query"
        );
        let text = serde_json::to_string(&entries).unwrap();
        for secret in ["1234567", "v3r1f13r", "s3cr3t", "y0_abc", "1:r", "t3n4nt"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("authorization_code")
                && text.contains("3600")
                && text.contains("\"client_id\"")
        );
    }

    /// A refusal that repeats what the request carried — the code, the verifier and the client
    /// secret as the form sent them or decoded, JSON's `\/` for a slash, the Basic credential or
    /// the password in it — shows none of it, in any field, at any depth.
    #[test]
    fn an_answer_that_repeats_the_requests_secrets_shows_none_of_them() {
        use base64::Engine as _;
        let form = b"grant_type=authorization_code&code=4%2Fc0de&code_verifier=v3r1f13r&client_secret=ab%2Fc%2Bd%3D";
        let credential = base64::engine::general_purpose::STANDARD.encode("app:s%2F3cr+t");
        let header = format!("Basic {credential}");
        let secrets = [
            "4/c0de",
            "4%2Fc0de",
            "4%2fc0de",
            "v3r1f13r",
            "ab/c+d=",
            "ab%2Fc%2Bd%3D",
            "ab%2fc%2bd%3d",
            credential.as_str(),
            "s/3cr t",
            "s%2F3cr+t",
            "s%2F3cr%20t",
            "s%2f3cr%20t",
        ];
        let echoed = [
            String::from_utf8_lossy(form).into_owned(),
            "code 4/c0de, secret ab/c+d=, password s/3cr t".into(),
            header.clone(),
            "s%2F3cr+t, as a URL s%2F3cr%20t or s%2f3cr%20t, ab%2fc%2bd%3d".into(),
        ]
        .join(" | ");
        let answer = serde_json::json!({
            "error": "invalid_grant",
            "error_description": echoed,
            "error_uri": "https://oauth.example/e?code=4%2fc0de",
            "extra": {"error": echoed, "ab/c+d=": {"error": "v3r1f13r"}},
            "ab/c+d=": "named by the secret",
        });
        // A slash written `\/`, as PHP's json_encode writes it.
        let body = answer.to_string().replace('/', "\\/");
        let recorder = Recorder::default();
        // What the provider knows the request carries: the code, the verifier, the client
        // secret (here one in the form and another in the Basic credential).
        recorder.scrubbing(Secrets::new([
            "4/c0de",
            "v3r1f13r",
            "ab/c+d=",
            "s/3cr t",
            credential.as_str(),
        ]));
        recorder.request("POST", "https://oauth.example/token", true, form);
        recorder.response(400, body.as_bytes());
        let entries = recorder.take();
        let text = serde_json::to_string(&entries).unwrap();
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let description = entries[1]
            .fields
            .iter()
            .find(|f| f.name == "error_description")
            .unwrap();
        assert!(
            description
                .value
                .starts_with("grant_type=authorization_code&code=[redacted]"),
            "what is not secret still shows: {}",
            description.value
        );
        assert!(text.contains("invalid_grant"));
    }

    /// A provider that cuts its echo short, or begins it late, leaves no piece of a secret
    /// either: any [`PIECE`] bytes of one go, widened to whole characters, and a run of them as
    /// one; text without a secret comes back as it was.
    #[test]
    fn an_echo_cut_short_leaves_no_piece_of_a_secret() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let secrets = Secrets::new([verifier, "client/secret+1=", "пароль-секрет"]);
        let echoed = format!(
            "code_verifier={}… client_secret=client%2Fsec… …{} and «роль-сек»",
            &verifier[..12],
            &verifier[30..],
        );
        assert_eq!(
            secrets.scrub(&echoed),
            "code_verifier=[redacted]… client_secret=[redacted]… …[redacted] and «[redacted]»"
        );
        let plain = "invalid_grant: the code has expired";
        assert!(matches!(secrets.scrub(plain), Cow::Borrowed(text) if text == plain));
        // Fewer bytes of one than a piece are left: they say next to nothing of the rest.
        assert_eq!(secrets.scrub("client/ is"), "client/ is");
        // In capitals, or with hex of both cases, as some encoders write it.
        let secrets = Secrets::new(["ab/cd/ef/gh/ij", verifier]);
        assert_eq!(
            secrets.scrub("AB%2fcd%2Fef%2fGH… DBJFTJEZ4C"),
            "[redacted]… [redacted]"
        );
        // With `/` left as it is and the rest encoded, as a URL's path writes it.
        let secrets = Secrets::new(["a/b+c/d e+f/g"]);
        assert_eq!(
            secrets.scrub("quoted: a/b%2Bc/d%20e%2Bf/g."),
            "quoted: [redacted]."
        );
        // A piece that stands in two places of a secret, followed from the wrong one, still
        // goes whole with what comes after it.
        let secrets = Secrets::new(["abcdefgh12abcdefgh34"]);
        assert_eq!(secrets.scrub("abcdefgh34!"), "[redacted]!");
        // A piece that ends inside a character takes the whole character.
        assert_eq!(Secrets::new(["abcdefgé"]).scrub("abcdefgè!"), "[redacted]!");
        // A code of two kilobytes echoed whole, cut short, and begun late.
        let code: String = (0..2048)
            .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
            .collect();
        let secrets = Secrets::new([code.as_str()]);
        let echoed = format!("{code} {}… …{}", &code[..100], &code[1500..]);
        assert_eq!(secrets.scrub(&echoed), "[redacted] [redacted]… …[redacted]");
    }

    /// Capitals made small eight bytes at a time, as byte by byte, and nothing else changed:
    /// every byte value in every place.
    #[test]
    fn eight_bytes_made_small_at_once_are_as_made_small_one_by_one() {
        for byte in 0..=u8::MAX {
            for place in 0..8 {
                let mut bytes = *b"aZ@[`{A\xff";
                bytes[place] = byte;
                assert_eq!(
                    lowercase(u64::from_le_bytes(bytes)).to_le_bytes(),
                    bytes.map(|b| b.to_ascii_lowercase()),
                    "{bytes:?}"
                );
            }
        }
    }

    /// A secret shorter than a piece (a code a person typed into their own callback, say) goes
    /// where it stands alone, not from inside words: a one-character code leaves the rest of
    /// the text readable.
    #[test]
    fn a_short_secret_goes_only_where_it_stands_alone() {
        let secrets = Secrets::new(["a", "42"]);
        assert_eq!(
            secrets.scrub("invalid_grant: code a (or 42) is not valid, 421"),
            "invalid_grant: code [redacted] (or [redacted]) is not valid, 421"
        );
        assert_eq!(secrets.scrub("code=a&x=42"), "code=[redacted]&x=[redacted]");
        // One beside a letter does not hide the next, which overlaps it.
        assert_eq!(Secrets::new(["ab-ab"]).scrub("xab-ab-ab"), "xab-[redacted]");
    }

    /// A log longer than its cookie can hold keeps its steps, and as many of their fields as
    /// fit, in order, each step that lost some saying how many.
    #[test]
    fn a_log_too_long_for_its_cookie_keeps_what_fits_and_says_what_it_left_out() {
        let recorder = Recorder::default();
        recorder.request(
            "POST",
            "https://oauth.example/token",
            false,
            b"grant_type=authorization_code&code=1",
        );
        let many: serde_json::Map<String, serde_json::Value> = (0..5000)
            .map(|i| (format!("x{i:04}"), serde_json::Value::from(i)))
            .collect();
        let mut answer = serde_json::json!({"access_token": "at", "expires_in": 3600});
        answer.as_object_mut().unwrap().extend(many);
        recorder.response(200, answer.to_string().as_bytes());
        let log = ExchangeLog {
            entries: recorder.take(),
        };
        let whole = serde_json::to_string(&log).unwrap().len();
        assert!(whole > 100_000, "{whole} bytes");

        let fitted = fitted(log, MAX_LOG_JSON);
        let json = serde_json::to_string(&fitted).unwrap();
        assert!(json.len() <= MAX_LOG_JSON, "{} bytes", json.len());
        let request = &fitted.entries[0].fields;
        assert_eq!(request.len(), 2, "the request is whole: {request:?}");
        let response = &fitted.entries[1].fields;
        let last = response.last().unwrap();
        let kept = response.len() - 1;
        assert!(kept > 10, "{kept} kept");
        assert_eq!(response[0].name, "access_token", "in order");
        assert_eq!(
            last.value,
            format!(
                "{} more fields, not kept: the log was too long for its cookie",
                5002 - kept
            )
        );
    }

    #[test]
    fn unknown_and_nested_fields_are_masked_by_default() {
        let recorder = Recorder::default();
        recorder.response(
            200,
            br#"{"access_token":"y0_abc","x_session_key":"sk-123","expires_in":3600,"token_type":"bearer","extra":{"nested_token":"nt-456","error":"none","deeper":[{"secret":"s-789"}]}}"#,
        );
        let entries = recorder.take();
        let text = serde_json::to_string(&entries).unwrap();
        for secret in ["y0_abc", "sk-123", "nt-456", "s-789"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let fields = &entries[0].fields;
        let of = |name: &str| fields.iter().find(|f| f.name == name).unwrap();
        assert!(of("x_session_key").masked, "an unknown field is masked");
        assert_eq!(of("expires_in").value, "3600");
        assert!(
            of("extra").value.contains("\"error\":\"none\""),
            "{}",
            of("extra").value
        );
    }

    /// The recorder reads forms and JSON as the `form_urlencoded` and `serde_json` crates do:
    /// the same fields, names and shown values, and a masked field's value never shown.
    #[test]
    fn forms_and_json_read_as_the_crates_read_them() {
        let forms: [&[u8]; 9] = [
            b"grant_type=authorization_code&code=1234567&redirect_uri=http%3A%2F%2Flocalhost%2Fcb",
            b"scope=a+b%20c&&code_verifier=v%2Bx+y&=empty&client_id",
            b"scope=%D0%B4%D0%B0&error_description=%FF%FEbad&Scope=x=y=z",
            b"&&&",
            b"",
            b"%67rant_type=refresh%5Ftoken&grant%5Ftype=b",
            b"error=%zz&error_uri=%&expires_in=%4",
            b"device_name=\xd0\x9f\xff&device_id=+",
            b"client_secret=s3cr3t&refresh_token=1:r&ok",
        ];
        for body in forms {
            let reference: Vec<LogField> = url::form_urlencoded::parse(body)
                .map(|(k, v)| field(&k, &v))
                .collect();
            assert_eq!(
                form_fields(body),
                reference,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let bodies = [
            r#"{"access_token":"y0_abc","token_type":"bearer","expires_in":3600,"scope":"a b"}"#,
            r#"{"error":"invalid_grant","error_description":"\u0414\"quoted\"","x":null}"#,
            r#"{"extra":{"nested_token":"nt","error":"none"},"list":[1,{"scope":"s"}],"expires_in":1.5}"#,
            r#"{"expires_in":"3600","expires_in":7200,"b":true}"#,
            " {\n \"extra\" :\t{ \"error\" : \"none\" } , \"list\":  [ {\"scope\":\"s\"} ] ,\"scope\" : \"a\" }\n",
            r#"[1,2]"#,
            r#""text""#,
            r#"{"truncated":"#,
            "",
        ];
        for body in bodies {
            let reference = match serde_json::from_str::<serde_json::Value>(body) {
                Ok(serde_json::Value::Object(map)) => Some(
                    map.iter()
                        .map(|(k, v)| json_field(k, v, &Secrets::default()))
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            };
            assert_eq!(
                json_fields(body.as_bytes(), &Secrets::default()),
                reference,
                "{body}"
            );
        }
        // Where the two readings part (see `json_fields`): a masked value serde_json refuses.
        let fields = json_fields(
            br#"{"access_token":"\ud800","expires_in":1e400,"scope":"a"}"#,
            &Secrets::default(),
        )
        .expect("read field by field");
        let of = |name: &str| fields.iter().find(|f| f.name == name).expect(name);
        assert!(of("access_token").masked && of("access_token").value.is_empty());
        assert_eq!(of("scope").value, "a");
        assert!(!of("expires_in").masked && of("expires_in").value.is_empty());
    }

    #[test]
    fn a_long_value_is_cut_at_a_character_not_inside_one() {
        let recorder = Recorder::default();
        let description = "Доступ запрещён. ".repeat(40);
        recorder.response(
            400,
            format!(r#"{{"error":"access_denied","error_description":"{description}"}}"#)
                .as_bytes(),
        );
        let entries = recorder.take();
        let shown = &entries[0]
            .fields
            .iter()
            .find(|f| f.name == "error_description")
            .unwrap()
            .value;
        assert_eq!(shown.chars().count(), MAX_VALUE);
        assert!(description.starts_with(shown.as_str()));
        assert_eq!(cut("short", 100), "short");
        let two_hundred = "é".repeat(200);
        assert_eq!(
            cut(&two_hundred, MAX_VALUE),
            two_hundred,
            "400 bytes, 200 characters"
        );
        assert_eq!(cut(&two_hundred, 150).chars().count(), 150);
    }

    #[test]
    fn the_callbacks_code_is_masked_but_its_error_is_shown_decoded() {
        let query = "code=7654321&state=x%2By&error_description=N%C3%A9+pas";
        let entry = browser_request(
            LogStep::Callback,
            "http://localhost/auth/callback".into(),
            Params::parse(query.as_bytes()).pairs(),
        );
        let text = serde_json::to_string(&entry).unwrap();
        for secret in ["7654321", "x+y", "x%2By"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let code = entry.fields.iter().find(|f| f.name == "code").unwrap();
        assert!(code.masked && code.value.is_empty());
        assert!(
            entry
                .fields
                .iter()
                .any(|f| f.name == "error_description" && f.value == "Né pas")
        );
    }
}
