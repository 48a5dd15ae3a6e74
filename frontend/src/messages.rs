//! What each error code means to a person, and what they can do next.

use tokenbridge_shared::{ErrorCode, ProviderKind};

/// A short title for the error.
pub fn title(code: ErrorCode, provider: ProviderKind) -> String {
    let at = provider_name(provider);
    let the = capitalized(at);
    match code {
        ErrorCode::AccessDenied => format!("You declined access at {at}"),
        ErrorCode::AuthorizationFailed => format!("{the} could not complete the sign-in"),
        ErrorCode::StateMissing | ErrorCode::StateMismatch => {
            "This sign-in does not belong to this browser".to_owned()
        }
        ErrorCode::StateExpired => "This sign-in expired".to_owned(),
        ErrorCode::StateReplayed => "This sign-in link was already used".to_owned(),
        ErrorCode::InvalidCallback => format!("{the} sent the browser back without a code"),
        ErrorCode::CodeRejected => format!("{the} refused the sign-in code"),
        ErrorCode::ClientRejected => format!("{the} refused this application"),
        ErrorCode::TokenRequestRejected => format!("{the} refused to issue a token"),
        ErrorCode::ProviderUnavailable => format!("{the} is having trouble"),
        ErrorCode::ProviderHtml => format!("{the} answered with a web page"),
        ErrorCode::ProviderMalformed => format!("{the} sent an incomplete answer"),
        ErrorCode::ProviderRedirect => format!("{the} answered with a redirect"),
        ErrorCode::ProviderTimeout => format!("{the} did not answer in time"),
        ErrorCode::ProviderUnreachable => format!("{the} could not be reached"),
        ErrorCode::BadRequest => "The request was malformed".to_owned(),
        ErrorCode::CsrfRejected => "The request was refused".to_owned(),
        ErrorCode::NotFound => "Not found".to_owned(),
        ErrorCode::MethodNotAllowed => "Method not allowed".to_owned(),
        ErrorCode::PayloadTooLarge => "The request was too large".to_owned(),
        ErrorCode::UserInfoFailed => format!("{the} would not say whose token this is"),
        ErrorCode::ForeignToken => "This token belongs to another application".to_owned(),
        ErrorCode::ConnectionNotFound => "No such connection".to_owned(),
        ErrorCode::NeedsReconnect => "This connection needs a new sign-in".to_owned(),
        ErrorCode::NoRefreshToken => "This connection cannot be refreshed".to_owned(),
        ErrorCode::ApiDisabled => "The scripts API is off".to_owned(),
        ErrorCode::Unauthorized => "The API key is missing or wrong".to_owned(),
        ErrorCode::Internal => "Something went wrong in tokenbridge".to_owned(),
    }
}

/// What happened and what to do, in a sentence or two.
pub fn advice(code: ErrorCode, provider: ProviderKind) -> String {
    let at = provider_name(provider);
    match code {
        ErrorCode::AccessDenied => "Nothing was shared. Connect again whenever you like, and click Allow.".to_owned(),
        ErrorCode::StateMissing => "This sign-in expired or was started in another browser — start again.".to_owned(),
        ErrorCode::StateMismatch => "The answer that came back belongs to a different sign-in (perhaps from another tab) — start again.".to_owned(),
        ErrorCode::StateExpired => "More than ten minutes passed between Connect and Allow — start again.".to_owned(),
        ErrorCode::StateReplayed => "Each sign-in works once. Your earlier token, if any, is unchanged; start a new sign-in for a fresh one.".to_owned(),
        ErrorCode::CodeRejected => format!("The code from {at} expired or was already used — start again."),
        ErrorCode::ClientRejected => "The client id or secret configured on the server is wrong. Check TOKENBRIDGE_CLIENT_ID and TOKENBRIDGE_CLIENT_SECRET, then start again.".to_owned(),
        ErrorCode::ProviderUnavailable | ErrorCode::ProviderMalformed | ErrorCode::ProviderTimeout => "Wait a minute and start again.".to_owned(),
        ErrorCode::ProviderHtml | ErrorCode::ProviderRedirect => "The token URL configured on the server may be wrong. Check TOKENBRIDGE_TOKEN_URL, then start again.".to_owned(),
        ErrorCode::ProviderUnreachable => "Check the server's network and TOKENBRIDGE_TOKEN_URL, then start again.".to_owned(),
        other => other.message().to_owned(),
    }
}

/// The provider's name in the middle of a sentence.
pub fn provider_name(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Yandex => "Yandex",
        ProviderKind::Custom => "the provider",
        ProviderKind::Sandbox => "the sandbox",
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
