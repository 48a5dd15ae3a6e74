//! Every HTTP call the app makes. A non-2xx answer becomes the shared
//! [`ApiError`]; a network failure becomes one too, with a message a person reads.

use gloo_net::http::{Request, Response};
use tokenbridge_shared::{
    ApiError, CSRF_HEADER, ConnectionSummary, ConnectionView, Disconnected, ErrorCode,
    ProviderKind, SessionView, routes,
};

pub async fn get_session() -> Result<SessionView, ApiError> {
    decode(&fetch(Method::Get, routes::SESSION).await?)
}

pub async fn logout() -> Result<(), ApiError> {
    fetch(Method::Post, routes::LOGOUT).await.map(drop)
}

/// Refreshes one of this browser's connections now.
pub async fn refresh_connection(id: &str) -> Result<ConnectionView, ApiError> {
    let url = format!("{}/{}/refresh", routes::CONNECTIONS, encode(id));
    decode(&fetch(Method::Post, &url).await?)
}

/// Revokes (where the provider can) and forgets one of this browser's connections.
pub async fn disconnect(id: &str) -> Result<Disconnected, ApiError> {
    let url = format!("{}/{}", routes::CONNECTIONS, encode(id));
    decode(&fetch(Method::Delete, &url).await?)
}

/// For an operator: refreshes anyone's connection now. The answer carries no token.
pub async fn operator_refresh(id: &str) -> Result<ConnectionSummary, ApiError> {
    let url = format!("{}/{}/refresh", routes::OPERATOR_CONNECTIONS, encode(id));
    decode(&fetch(Method::Post, &url).await?)
}

/// For an operator: revokes (where the provider can) and forgets anyone's connection.
pub async fn operator_disconnect(id: &str) -> Result<Disconnected, ApiError> {
    let url = format!("{}/{}", routes::OPERATOR_CONNECTIONS, encode(id));
    decode(&fetch(Method::Delete, &url).await?)
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Delete,
}

/// The one place the app awaits the network: sends the request (a state-changing one
/// with the anti-forgery header) and answers the body of a 2xx reply, or the error.
async fn fetch(method: Method, url: &str) -> Result<String, ApiError> {
    let request = match method {
        Method::Get => return read(Request::get(url).send().await).await,
        Method::Post => Request::post(url),
        Method::Delete => Request::delete(url),
    };
    read(request.header(CSRF_HEADER, "1").send().await).await
}

async fn read(sent: Result<Response, gloo_net::Error>) -> Result<String, ApiError> {
    let response = sent.map_err(network)?;
    let text = response.text().await;
    if response.ok() {
        return text.map_err(|_| unreadable());
    }
    let status = response.status();
    Err(text
        .ok()
        .and_then(|text| crate::json::from_str::<ApiError>(&text).ok())
        .unwrap_or_else(|| {
            ApiError::new(ErrorCode::Internal).with_message(format!(
                "The server answered {status}. Reload the page or check the server log."
            ))
        }))
}

/// JSON through the browser's own parser: smaller than carrying serde_json's in the wasm.
fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    crate::json::from_str(text).map_err(|_| unreadable())
}

fn unreadable() -> ApiError {
    ApiError::new(ErrorCode::Internal)
        .with_message("The server's answer could not be read. Reload the page.")
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

fn network(_: gloo_net::Error) -> ApiError {
    ApiError::new(ErrorCode::Internal)
        .with_message("The tokenbridge server does not answer. Is it still running?")
}
