//! Which providers this instance serves: one from the environment variables (as
//! always), or several from a TOML file (`TOKENBRIDGE_CONFIG`, by default
//! `tokenbridge.toml` in the working folder when it exists), one `[[provider]]`
//! table each.

use std::path::{Path, PathBuf};

use oauth2::{ClientId, ClientSecret};
use serde::Deserialize;
use tokenbridge_shared::{ProviderKind, routes};
use url::Url;

use super::{
    ClientAuth, ConfigError, ProviderArg, SANDBOX_CLIENT_ID, Settings, YANDEX_AUTHORIZE_URL,
    YANDEX_REVOKE_URL, YANDEX_TOKEN_URL, YANDEX_USER_INFO_URL, fixed_url, is_loopback, join,
    parse_http_url, parse_optional_url, random_secret, read_secret_file,
};

/// The user-info fields that name an account, when a plain OAuth 2.0 provider uses others
/// than the usual (`sub`/`id`, then `preferred_username`/`login`/`email`/`name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFields {
    pub id: Option<String>,
    pub login: Option<String>,
}

/// Endpoints given in the configuration; `None` where the kind knows them or finds them.
#[derive(Debug, Clone, Default)]
pub struct SpecEndpoints {
    pub authorize: Option<Url>,
    pub token: Option<Url>,
    pub userinfo: Option<Url>,
    pub revoke: Option<Url>,
}

/// One provider as configured.
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    /// Used in URLs, the API and the store: `[a-z0-9_-]`, at most 32 characters.
    pub id: String,
    pub kind: ProviderKind,
    /// Shown on the page.
    pub name: String,
    pub client_id: ClientId,
    /// Debug is redacted by oauth2's secret type.
    pub client_secret: ClientSecret,
    pub client_auth: ClientAuth,
    pub endpoints: SpecEndpoints,
    /// An OpenID provider's issuer.
    pub issuer: Option<Url>,
    pub scope: Option<String>,
    pub force_confirm: bool,
    pub account_fields: AccountFields,
}

/// The one provider the environment variables describe, as before several were possible.
pub fn from_settings(settings: &Settings, public_url: &Url) -> Result<ProviderSpec, ConfigError> {
    let kind = match settings.provider {
        Some(ProviderArg::Yandex) => ProviderKind::Yandex,
        Some(ProviderArg::Custom | ProviderArg::Oauth2) => ProviderKind::Custom,
        Some(ProviderArg::Oidc) => ProviderKind::Oidc,
        Some(ProviderArg::Sandbox) => ProviderKind::Sandbox,
        None if settings.client_id.is_some() => ProviderKind::Yandex,
        None => ProviderKind::Sandbox,
    };
    // Chosen by default (no client id), the sandbox only serves this machine: a failed
    // secret injection must not put a fake consent page on a real address.
    if settings.provider.is_none() && kind == ProviderKind::Sandbox && !is_loopback(public_url) {
        return Err(ConfigError::SandboxOnPublicUrl {
            public_url: public_url.as_str().trim_end_matches('/').to_owned(),
        });
    }
    // The id keeps the name the provider was chosen by, so that connections saved before
    // several providers were possible (`custom`, `yandex`, `sandbox`) stay theirs.
    let id = match settings.provider {
        Some(arg) => arg.as_str(),
        None => kind.as_str(),
    }
    .to_owned();

    let secret = super::read_secret(settings)?;
    let (client_id, client_secret) = match kind {
        ProviderKind::Sandbox => (
            settings
                .client_id
                .clone()
                .unwrap_or_else(|| SANDBOX_CLIENT_ID.to_owned()),
            secret.unwrap_or_else(random_secret),
        ),
        _ => (
            settings
                .client_id
                .clone()
                .filter(|id| !id.trim().is_empty())
                .ok_or(ConfigError::MissingClientId)?,
            secret.ok_or(ConfigError::MissingSecret)?,
        ),
    };

    let given = SpecEndpoints {
        authorize: parse_optional_url(
            "TOKENBRIDGE_AUTHORIZE_URL",
            settings.authorize_url.as_deref(),
        )?,
        token: parse_optional_url("TOKENBRIDGE_TOKEN_URL", settings.token_url.as_deref())?,
        userinfo: parse_optional_url("TOKENBRIDGE_USERINFO_URL", settings.userinfo_url.as_deref())?,
        revoke: parse_optional_url("TOKENBRIDGE_REVOKE_URL", settings.revoke_url.as_deref())?,
    };
    let issuer = parse_optional_url("TOKENBRIDGE_ISSUER", settings.issuer.as_deref())?;
    warn_if_not_used(
        kind,
        &id,
        &given,
        [
            "TOKENBRIDGE_AUTHORIZE_URL",
            "TOKENBRIDGE_TOKEN_URL",
            "TOKENBRIDGE_USERINFO_URL",
            "TOKENBRIDGE_REVOKE_URL",
        ],
    );
    let endpoints = endpoints_of(kind, given, public_url).map_err(|missing| {
        ConfigError::CustomWithoutUrls {
            missing: match missing {
                Missing::Authorize => "TOKENBRIDGE_AUTHORIZE_URL",
                Missing::Token => "TOKENBRIDGE_TOKEN_URL",
                Missing::Both => "both",
            },
        }
    })?;
    if kind == ProviderKind::Oidc && issuer.is_none() {
        return Err(ConfigError::OidcWithoutIssuer {
            what: "TOKENBRIDGE_PROVIDER=oidc needs TOKENBRIDGE_ISSUER".into(),
        });
    }
    Ok(ProviderSpec {
        id,
        kind,
        name: kind.display_name().to_owned(),
        client_id: ClientId::new(client_id),
        client_secret: ClientSecret::new(client_secret),
        client_auth: settings.client_auth.unwrap_or_default(),
        endpoints,
        issuer,
        scope: normal_scope(settings.scope.as_deref()),
        force_confirm: settings.force_confirm.unwrap_or(false),
        account_fields: AccountFields {
            id: settings
                .userinfo_id_field
                .clone()
                .filter(|f| !f.trim().is_empty()),
            login: settings
                .userinfo_login_field
                .clone()
                .filter(|f| !f.trim().is_empty()),
        },
    })
}

enum Missing {
    Authorize,
    Token,
    Both,
}

/// An OpenID provider's endpoints are discovered from its issuer: endpoint URLs given for it
/// (`names`, in the order authorize, token, user info, revocation) are not used, and the log
/// says so at start-up rather than leave a person wondering why a URL they set did nothing.
fn warn_if_not_used(kind: ProviderKind, id: &str, given: &SpecEndpoints, names: [&str; 4]) {
    if kind != ProviderKind::Oidc {
        return;
    }
    let set: Vec<&str> = [
        &given.authorize,
        &given.token,
        &given.userinfo,
        &given.revoke,
    ]
    .into_iter()
    .zip(names)
    .filter_map(|(url, name)| url.as_ref().map(|_| name))
    .collect();
    if !set.is_empty() {
        tracing::warn!(
            provider = id,
            "{} not used: an OpenID provider's endpoints are discovered from its issuer",
            set.join(", ")
        );
    }
}

/// The endpoints a kind uses: Yandex's own unless overridden; the sandbox's on this
/// server; a plain provider's as given (both grant endpoints required); an OpenID
/// provider's as discovered (overrides ignored).
fn endpoints_of(
    kind: ProviderKind,
    given: SpecEndpoints,
    public_url: &Url,
) -> Result<SpecEndpoints, Missing> {
    Ok(match kind {
        ProviderKind::Yandex => SpecEndpoints {
            authorize: Some(
                given
                    .authorize
                    .unwrap_or_else(|| fixed_url(YANDEX_AUTHORIZE_URL)),
            ),
            token: Some(given.token.unwrap_or_else(|| fixed_url(YANDEX_TOKEN_URL))),
            userinfo: Some(
                given
                    .userinfo
                    .unwrap_or_else(|| fixed_url(YANDEX_USER_INFO_URL)),
            ),
            revoke: Some(given.revoke.unwrap_or_else(|| fixed_url(YANDEX_REVOKE_URL))),
        },
        ProviderKind::Custom => match (&given.authorize, &given.token) {
            (Some(_), Some(_)) => given,
            (None, Some(_)) => return Err(Missing::Authorize),
            (Some(_), None) => return Err(Missing::Token),
            (None, None) => return Err(Missing::Both),
        },
        ProviderKind::Sandbox => SpecEndpoints {
            authorize: Some(
                given
                    .authorize
                    .unwrap_or_else(|| join(public_url, routes::SANDBOX_AUTHORIZE)),
            ),
            ..given
        },
        ProviderKind::Oidc => SpecEndpoints::default(),
    })
}

fn normal_scope(scope: Option<&str>) -> Option<String> {
    scope
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
}

/// The providers file: `[[provider]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "provider")]
    providers: Vec<FileProvider>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProvider {
    id: String,
    kind: String,
    name: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_file: Option<PathBuf>,
    issuer: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    userinfo_url: Option<String>,
    revoke_url: Option<String>,
    scope: Option<String>,
    client_auth: Option<String>,
    force_confirm: Option<bool>,
    account_id_field: Option<String>,
    login_field: Option<String>,
}

/// What is wrong with the providers file, and where: the toml crate's message, without the
/// line it quotes (a client secret, say).
fn toml_problem(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end_matches('\n');
    // serde's "invalid type: integer `123`, expected a string" quotes the value given.
    let message = match message.split_once(", expected") {
        Some((given, expected)) if given.starts_with("invalid") => {
            let what = given.split(':').next().unwrap_or(given);
            format!("{what}: expected{expected}")
        }
        _ => message.to_owned(),
    };
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// The providers listed in the TOML file at `path`.
pub fn from_file(path: &Path, public_url: &Url) -> Result<Vec<ProviderSpec>, ConfigError> {
    let wrong = |message: String| ConfigError::ProvidersFile {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| wrong(e.to_string()))?;
    let file: File = toml::from_str(&text).map_err(|e| wrong(toml_problem(&text, &e)))?;
    if file.providers.is_empty() {
        return Err(wrong(
            "it lists no provider; add a [[provider]] table with id and kind".into(),
        ));
    }
    let mut specs: Vec<ProviderSpec> = Vec::new();
    for entry in file.providers {
        let spec = file_provider(entry, public_url).map_err(&wrong)?;
        if specs.iter().any(|s| s.id == spec.id) {
            return Err(wrong(format!("the id {:?} is used twice", spec.id)));
        }
        if spec.kind == ProviderKind::Sandbox
            && specs.iter().any(|s| s.kind == ProviderKind::Sandbox)
        {
            return Err(wrong("only one sandbox provider can run".into()));
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn file_provider(entry: FileProvider, public_url: &Url) -> Result<ProviderSpec, String> {
    let id = entry.id.trim().to_owned();
    let at = |message: String| format!("provider {id:?}: {message}");
    if id.is_empty()
        || id.len() > 32
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(at(
            "id must be 1 to 32 characters of a-z, 0-9, - and _ (it is used in URLs)".into(),
        ));
    }
    let kind = match entry.kind.as_str() {
        "yandex" => ProviderKind::Yandex,
        "oauth2" | "custom" => ProviderKind::Custom,
        "oidc" => ProviderKind::Oidc,
        "sandbox" => ProviderKind::Sandbox,
        other => {
            return Err(at(format!(
                "kind {other:?} is not one of yandex, oidc, oauth2, sandbox"
            )));
        }
    };
    let url = |name: &'static str, value: &Option<String>| {
        value
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .map(|v| parse_http_url(name, v.trim()))
            .transpose()
            .map_err(|e| at(e.to_string()))
    };
    let given = SpecEndpoints {
        authorize: url("authorize_url", &entry.authorize_url)?,
        token: url("token_url", &entry.token_url)?,
        userinfo: url("userinfo_url", &entry.userinfo_url)?,
        revoke: url("revoke_url", &entry.revoke_url)?,
    };
    let issuer = url("issuer", &entry.issuer)?;
    if kind == ProviderKind::Oidc && issuer.is_none() {
        return Err(at("kind oidc needs issuer".into()));
    }
    warn_if_not_used(
        kind,
        &id,
        &given,
        ["authorize_url", "token_url", "userinfo_url", "revoke_url"],
    );
    let endpoints = endpoints_of(kind, given, public_url).map_err(|missing| {
        at(match missing {
            Missing::Authorize => "kind oauth2 needs authorize_url".into(),
            Missing::Token => "kind oauth2 needs token_url".into(),
            Missing::Both => "kind oauth2 needs authorize_url and token_url".into(),
        })
    })?;
    let secret = match (
        entry.client_secret.filter(|s| !s.trim().is_empty()),
        entry.client_secret_file,
    ) {
        (Some(_), Some(_)) => {
            return Err(at(
                "both client_secret and client_secret_file are set; keep one".into(),
            ));
        }
        (Some(secret), None) => Some(secret.trim().to_owned()),
        (None, Some(path)) => Some(read_secret_file(&path).map_err(|e| at(e.to_string()))?),
        (None, None) => None,
    };
    let (client_id, client_secret) = match kind {
        ProviderKind::Sandbox => (
            entry
                .client_id
                .unwrap_or_else(|| SANDBOX_CLIENT_ID.to_owned()),
            secret.unwrap_or_else(random_secret),
        ),
        _ => (
            entry
                .client_id
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| at("client_id is not set".into()))?,
            secret.ok_or_else(|| at("client_secret (or client_secret_file) is not set".into()))?,
        ),
    };
    let client_auth = match entry.client_auth.as_deref() {
        None | Some("post") => ClientAuth::Post,
        Some("basic") => ClientAuth::Basic,
        Some(other) => return Err(at(format!("client_auth {other:?} is not post or basic"))),
    };
    Ok(ProviderSpec {
        name: entry
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| kind.display_name().to_owned()),
        id,
        kind,
        client_id: ClientId::new(client_id),
        client_secret: ClientSecret::new(client_secret),
        client_auth,
        endpoints,
        issuer,
        scope: normal_scope(entry.scope.as_deref()),
        force_confirm: entry.force_confirm.unwrap_or(false),
        account_fields: AccountFields {
            id: entry.account_id_field,
            login: entry.login_field,
        },
    })
}
