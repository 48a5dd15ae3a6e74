//! Yandex OAuth's dialect (the sandbox speaks it too): user info at
//! `login.yandex.ru/info` with `Authorization: OAuth <token>`, its `id`/`login`
//! fields and the `client_id` the token was issued to, and revocation at
//! `revoke_token` with `access_token=`, which works only for tokens issued for a
//! named device.

use oauth2::{AccessToken, ClientId, ClientSecret};
use tokenbridge_shared::ErrorCode;
use url::Url;

use super::{
    Account, Endpoints, ProviderError,
    standard::{answered, first_text, user_info},
    transport::Transport,
};

pub struct Yandex {
    endpoints: Endpoints,
}

impl Yandex {
    pub fn new(endpoints: Endpoints) -> Self {
        Self { endpoints }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Whose token it is, and that it was issued to `ours`; `None` without a user-info endpoint.
    pub async fn account(
        &self,
        transport: &Transport,
        token: &AccessToken,
        ours: &ClientId,
    ) -> Result<Option<Account>, ProviderError> {
        let Some(url) = &self.endpoints.userinfo else {
            return Ok(None);
        };
        let info = user_info(transport, url, ["OAuth ", token.secret()].concat()).await?;
        let id = first_text(&info, &["id"])
            .ok_or_else(|| ProviderError::new(ErrorCode::UserInfoFailed, "user info has no id"))?;
        if let Some(issued_to) = first_text(&info, &["client_id"])
            && issued_to != ours.as_str()
        {
            return Err(ProviderError::new(
                ErrorCode::ForeignToken,
                format!(
                    "user info names client id {}, not ours",
                    issued_to.escape_debug()
                ),
            ));
        }
        Ok(Some(Account {
            login: first_text(&info, &["login"]).unwrap_or_else(|| id.clone()),
            id,
        }))
    }
}

/// Yandex's `revoke_token`: the access token and the client's credentials in the form.
pub async fn revoke(
    transport: &Transport,
    url: &Url,
    token: &AccessToken,
    client_id: &ClientId,
    client_secret: &ClientSecret,
) -> Result<(), ProviderError> {
    let response = transport
        .post_form(
            url,
            &[
                ("access_token", token.secret().as_str()),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.secret().as_str()),
            ],
            None,
        )
        .await
        .map_err(|e| ProviderError::transport(&e))?;
    answered(response, &[token.secret(), client_secret.secret()])
}
