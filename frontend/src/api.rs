//! Every HTTP call the app makes. A non-2xx answer becomes the shared
//! [`ApiError`]; a network failure becomes one too, with a message a person reads.

use gloo_net::http::{Request, Response};
use tokenbridge_shared::{
    ApiError, CSRF_HEADER, ConnectionSummary, ConnectionView, Disconnected, ErrorCode,
    ProviderKind, SessionView, routes,
};

pub async fn get_session() -> Result<SessionView, ApiError> {
    let response = Request::get(routes::SESSION)
        .send()
        .await
        .map_err(network)?;
    read_json(response).await
}

pub async fn logout() -> Result<(), ApiError> {
    let response = Request::post(routes::LOGOUT)
        .header(CSRF_HEADER, "1")
        .send()
        .await
        .map_err(network)?;
    if response.ok() {
        Ok(())
    } else {
        Err(read_error(response).await)
    }
}

/// Refreshes one of this browser's connections now.
pub async fn refresh_connection(id: &str) -> Result<ConnectionView, ApiError> {
    let url = format!("{}/{}/refresh", routes::CONNECTIONS, encode(id));
    let response = Request::post(&url)
        .header(CSRF_HEADER, "1")
        .send()
        .await
        .map_err(network)?;
    read_json(response).await
}

/// Revokes (where the provider can) and forgets one of this browser's connections.
pub async fn disconnect(id: &str) -> Result<Disconnected, ApiError> {
    let url = format!("{}/{}", routes::CONNECTIONS, encode(id));
    let response = Request::delete(&url)
        .header(CSRF_HEADER, "1")
        .send()
        .await
        .map_err(network)?;
    read_json(response).await
}

/// For an operator: refreshes anyone's connection now. The answer carries no token.
pub async fn operator_refresh(id: &str) -> Result<ConnectionSummary, ApiError> {
    let url = format!("{}/{}/refresh", routes::OPERATOR_CONNECTIONS, encode(id));
    let response = Request::post(&url)
        .header(CSRF_HEADER, "1")
        .send()
        .await
        .map_err(network)?;
    read_json(response).await
}

/// For an operator: revokes (where the provider can) and forgets anyone's connection.
pub async fn operator_disconnect(id: &str) -> Result<Disconnected, ApiError> {
    let url = format!("{}/{}", routes::OPERATOR_CONNECTIONS, encode(id));
    let response = Request::delete(&url)
        .header(CSRF_HEADER, "1")
        .send()
        .await
        .map_err(network)?;
    read_json(response).await
}

fn encode(text: &str) -> String {
    String::from(js_sys::encode_uri_component(text))
}

/// The Connect link for one configured provider (`provider_id` empty: the server's
/// first), with the person's options as that provider's kind takes them.
pub fn login_href(
    provider_id: &str,
    kind: ProviderKind,
    options: &crate::components::Options,
) -> String {
    let mut params = Vec::new();
    let mut add = |name: &str, value: &str| {
        let value = value.trim();
        if !value.is_empty() {
            params.push(format!("{name}={}", encode(value)));
        }
    };
    add("provider", provider_id);
    add("scope", &options.scope.join(" "));
    if kind.speaks_yandex() {
        add("optional_scope", &options.optional_scope.join(" "));
    }
    add("login_hint", &options.login_hint);
    if kind.speaks_yandex() {
        add("device_name", &options.device_name);
    }
    if options.ask_again {
        let (name, value) = if kind.speaks_yandex() {
            ("force_confirm", "yes")
        } else {
            ("prompt", "consent")
        };
        add(name, value);
    }
    if params.is_empty() {
        routes::LOGIN.to_owned()
    } else {
        format!("{}?{}", routes::LOGIN, params.join("&"))
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    if !response.ok() {
        return Err(read_error(response).await);
    }
    parse(response).await.map_err(|_| {
        ApiError::new(ErrorCode::Internal)
            .with_message("The server's answer could not be read. Reload the page.")
    })
}

/// JSON through the browser's own parser: smaller than carrying serde_json's in the wasm.
async fn parse<T: serde::de::DeserializeOwned>(response: Response) -> Result<T, ()> {
    let text = response.text().await.map_err(|_| ())?;
    crate::json::from_str(&text).map_err(|_| ())
}

async fn read_error(response: Response) -> ApiError {
    let status = response.status();
    parse::<ApiError>(response).await.unwrap_or_else(|_| {
        ApiError::new(ErrorCode::Internal).with_message(format!(
            "The server answered {status}. Reload the page or check the server log."
        ))
    })
}

fn network(_: gloo_net::Error) -> ApiError {
    ApiError::new(ErrorCode::Internal)
        .with_message("The tokenbridge server does not answer. Is it still running?")
}
