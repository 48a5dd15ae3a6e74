//! The exchange log: the authorize request, the callback, and the token request
//! and response as tokenbridge saw them, for the page to show. Every secret —
//! the client secret, the code, the verifier, both tokens, credentials in a
//! header — is masked here, before the log exists, so it never leaves the server.

use std::sync::{Arc, Mutex, PoisonError};

use tokenbridge_shared::{LogEntry, LogField, LogStep};
use url::Url;

/// Parameter and field names whose values are never logged.
const SECRET_NAMES: [&str; 7] = [
    "client_secret",
    "code",
    "code_verifier",
    "access_token",
    "refresh_token",
    "authorization",
    "id_token",
];
/// Long values (a scope list, an error page) are cut to this.
const MAX_VALUE: usize = 300;

fn field(name: &str, value: &str) -> LogField {
    let masked = SECRET_NAMES.contains(&name.to_ascii_lowercase().as_str());
    LogField {
        name: name.chars().take(100).collect(),
        value: if masked {
            String::new()
        } else {
            value.chars().take(MAX_VALUE).collect()
        },
        masked,
    }
}

fn without_query(url: &Url) -> String {
    let mut bare = url.clone();
    bare.set_query(None);
    bare.set_fragment(None);
    bare.to_string()
}

/// A request the browser makes: its URL's query becomes the fields.
pub fn browser_request(step: LogStep, url: &Url) -> LogEntry {
    LogEntry {
        step,
        method: "GET".into(),
        url: without_query(url),
        status: None,
        fields: url.query_pairs().map(|(k, v)| field(&k, &v)).collect(),
    }
}

/// What the sender saw of one token-endpoint exchange.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<LogEntry>>>);

impl Recorder {
    fn push(&self, entry: LogEntry) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    pub fn entries(&self) -> Vec<LogEntry> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A form request to the token endpoint, with its Authorization header if any.
    pub fn request(&self, method: &str, url: &str, authorization: bool, body: &[u8]) {
        let mut fields: Vec<LogField> = url::form_urlencoded::parse(body)
            .map(|(k, v)| field(&k, &v))
            .collect();
        if authorization {
            fields.insert(0, field("Authorization", ""));
        }
        let url = Url::parse(url)
            .map(|u| without_query(&u))
            .unwrap_or_default();
        self.push(LogEntry {
            step: LogStep::TokenRequest,
            method: method.into(),
            url,
            status: None,
            fields,
        });
    }

    /// The token endpoint's answer: the top-level fields of its JSON, or just its size.
    pub fn response(&self, status: u16, body: &[u8]) {
        let fields = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => map
                .iter()
                .map(|(k, v)| field(k, &v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect(),
            _ => vec![field(
                "body",
                &format!("{} bytes, not a JSON object", body.len()),
            )],
        };
        self.push(LogEntry {
            step: LogStep::TokenResponse,
            method: String::new(),
            url: String::new(),
            status: Some(status),
            fields,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_carry_no_value() {
        let recorder = Recorder::default();
        recorder.request("POST", "https://oauth.example/token", true, b"grant_type=authorization_code&code=1234567&code_verifier=v3r1f13r&client_id=app&client_secret=s3cr3t");
        recorder.response(
            200,
            br#"{"access_token":"y0_abc","refresh_token":"1:r","expires_in":3600}"#,
        );
        let text = serde_json::to_string(&recorder.entries()).unwrap();
        for secret in ["1234567", "v3r1f13r", "s3cr3t", "y0_abc", "1:r"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("authorization_code")
                && text.contains("3600")
                && text.contains("\"client_id\"")
        );
    }

    #[test]
    fn the_callbacks_code_is_masked_but_its_error_is_shown() {
        let url = Url::parse(
            "http://localhost/auth/callback?code=7654321&state=xyz&error_description=Nope",
        )
        .unwrap();
        let entry = browser_request(LogStep::Callback, &url);
        assert_eq!(entry.url, "http://localhost/auth/callback");
        let code = entry.fields.iter().find(|f| f.name == "code").unwrap();
        assert!(code.masked && code.value.is_empty());
        assert!(
            entry
                .fields
                .iter()
                .any(|f| f.name == "error_description" && f.value == "Nope")
        );
    }
}
