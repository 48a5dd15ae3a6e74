//! Plain OAuth 2.0 (RFC 6749) by URLs: user info with `Authorization: Bearer`, the
//! account named by configurable fields, and revocation by RFC 7009.

use oauth2::{AccessToken, ClientId, ClientSecret, RefreshToken};
use tokenbridge_shared::ErrorCode;
use url::Url;

use super::{Account, Endpoints, ProviderError, basic_credential, scrub_all, transport::Transport};
use crate::config::{AccountFields, ClientAuth};

/// Field names tried, in order, for the account's id and for the login shown.
const ID_FIELDS: [&str; 2] = ["sub", "id"];
const LOGIN_FIELDS: [&str; 4] = ["preferred_username", "login", "email", "name"];

pub struct Standard {
    endpoints: Endpoints,
    fields: AccountFields,
}

impl Standard {
    pub fn new(endpoints: Endpoints, fields: AccountFields) -> Self {
        Self { endpoints, fields }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Whose token it is, from user info; `None` without a user-info endpoint.
    pub async fn account(
        &self,
        transport: &Transport,
        token: &AccessToken,
    ) -> Result<Option<Account>, ProviderError> {
        let Some(url) = &self.endpoints.userinfo else {
            return Ok(None);
        };
        let info = user_info(transport, url, ["Bearer ", token.secret()].concat()).await?;
        let ids: Vec<&str> = match &self.fields.id {
            Some(field) => vec![field.as_str()],
            None => ID_FIELDS.to_vec(),
        };
        let logins: Vec<&str> = match &self.fields.login {
            Some(field) => vec![field.as_str()],
            None => LOGIN_FIELDS.to_vec(),
        };
        let id = first_text(&info, &ids).ok_or_else(|| {
            ProviderError::new(
                ErrorCode::UserInfoFailed,
                format!("user info has none of the id fields {ids:?}"),
            )
        })?;
        Ok(Some(Account {
            login: first_text(&info, &logins).unwrap_or_else(|| id.clone()),
            id,
        }))
    }
}

/// The user-info document at `url`, asked with `authorization`.
pub(super) async fn user_info(
    transport: &Transport,
    url: &Url,
    authorization: String,
) -> Result<serde_json::Value, ProviderError> {
    let failed = |detail: String| ProviderError::new(ErrorCode::UserInfoFailed, detail);
    let response = transport
        .get(url, Some(authorization))
        .await
        .map_err(|e| failed(format!("user info request failed: {e}")).unanswered_if(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(failed(format!("user info answered {status}")));
    }
    let info: serde_json::Value = serde_json::from_slice(response.body())
        .map_err(|e| failed(format!("user info is not JSON: {:?}", e.classify())))?;
    if !info.is_object() {
        return Err(failed("user info is not a JSON object".into()));
    }
    Ok(info)
}

/// The first of `fields` that the document has as a non-empty string or a number.
pub(super) fn first_text(info: &serde_json::Value, fields: &[&str]) -> Option<String> {
    fields.iter().find_map(|field| match &info[*field] {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// RFC 7009: `token` and `token_type_hint`, with the client authenticated as configured. An
/// error's detail (for the log) names which token it was.
pub async fn revoke(
    transport: &Transport,
    url: &Url,
    token: Revocable<'_>,
    client_id: &ClientId,
    client_secret: &ClientSecret,
    client_auth: ClientAuth,
) -> Result<(), ProviderError> {
    let mut form = vec![("token", token.secret()), ("token_type_hint", token.hint())];
    let credential = match client_auth {
        ClientAuth::Basic => Some(basic_credential(client_id, client_secret)),
        ClientAuth::Post => {
            form.push(("client_id", client_id.as_str()));
            form.push(("client_secret", client_secret.secret().as_str()));
            None
        }
    };
    let authorization = credential.as_ref().map(|c| format!("Basic {c}"));
    let secrets = [
        token.secret(),
        client_secret.secret(),
        credential.as_deref().unwrap_or_default(),
    ];
    let answer = match transport.post_form(url, &form, authorization).await {
        Ok(response) if no_longer_valid(&response) => {
            let answer = serde_json::from_slice::<serde_json::Value>(response.body())
                .ok()
                .and_then(|v| v["error_description"].as_str().map(str::to_owned))
                .unwrap_or_default();
            tracing::info!(
                token = token.hint(),
                "the provider answered invalid_token, taken as no longer valid: {}",
                scrub_all(&answer, &secrets).escape_debug()
            );
            Ok(())
        }
        Ok(response) => answered(response, &secrets),
        Err(error) => Err(ProviderError::transport(&error)),
    };
    answer.map_err(|mut error| {
        error.detail = format!("{}: {}", token.hint(), error.detail);
        error
    })
}

/// Whether the provider refused the revocation because the token is no longer valid (already
/// revoked, with its grant say, or expired): RFC 7009 answers 200 for that, and some servers
/// (Google's among them) 400 `invalid_token`. Either way the token can no longer be used.
fn no_longer_valid(response: &oauth2::http::Response<Vec<u8>>) -> bool {
    response.status() == oauth2::http::StatusCode::BAD_REQUEST
        && serde_json::from_slice::<serde_json::Value>(response.body())
            .is_ok_and(|answer| answer["error"] == "invalid_token")
}

/// A token RFC 7009 revokes, and so the `token_type_hint` sent with it.
#[derive(Clone, Copy)]
pub enum Revocable<'a> {
    Access(&'a AccessToken),
    Refresh(&'a RefreshToken),
}

impl Revocable<'_> {
    fn secret(&self) -> &str {
        match self {
            Self::Access(token) => token.secret(),
            Self::Refresh(token) => token.secret(),
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            Self::Access(_) => "access_token",
            Self::Refresh(_) => "refresh_token",
        }
    }
}

/// A revocation's answer: 2xx is done; otherwise the provider's words, scrubbed.
pub(super) fn answered(
    response: oauth2::http::Response<Vec<u8>>,
    secrets: &[&str],
) -> Result<(), ProviderError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let words = serde_json::from_slice::<serde_json::Value>(response.body())
        .ok()
        .and_then(|v| {
            v["error_description"]
                .as_str()
                .or(v["error"].as_str())
                .map(|s| scrub_all(s, secrets))
        });
    let detail = format!(
        "revocation answered {status}: {}",
        words.clone().unwrap_or_default().escape_debug()
    );
    Err(ProviderError::refused(
        ErrorCode::TokenRequestRejected,
        words,
        detail,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_is_the_first_field_present() {
        let info = serde_json::json!({"sub": "", "id": 42, "email": "a@example.com", "name": "A"});
        assert_eq!(first_text(&info, &ID_FIELDS).as_deref(), Some("42"));
        assert_eq!(
            first_text(&info, &LOGIN_FIELDS).as_deref(),
            Some("a@example.com")
        );
        assert_eq!(first_text(&info, &["missing"]), None);
    }
}
