//! Configuration: the command-line flags (each also an environment variable),
//! and their resolution into one validated [`Config`] with messages that say
//! exactly what to fix.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use base64::Engine as _;
use clap::{Parser, Subcommand, ValueEnum};
use cookie::Key;
use tokenbridge_shared::routes;
use url::Url;

use crate::{
    limits::{LimitSettings, Network},
    sessions::Operators,
    store::StoreKey,
};

mod providers;

pub use providers::{AccountFields, ProviderSpec, SpecEndpoints};

pub const YANDEX_AUTHORIZE_URL: &str = "https://oauth.yandex.com/authorize";
pub const YANDEX_TOKEN_URL: &str = "https://oauth.yandex.com/token";
pub const YANDEX_USER_INFO_URL: &str = "https://login.yandex.ru/info?format=json";
pub const YANDEX_REVOKE_URL: &str = "https://oauth.yandex.com/revoke_token";
const DEFAULT_DATA_DIR: &str = "data";
const DEFAULT_REFRESH_MARGIN_SECS: i64 = 300;
pub const SANDBOX_CLIENT_ID: &str = "tokenbridge-sandbox";
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_PROVIDER_TIMEOUT_MS: u64 = 10_000;
/// A person clicking Connect never meets these; a flood does.
const DEFAULT_SIGNIN_RATE: u32 = 60;
const DEFAULT_API_RATE: u32 = 6000;
/// Read when it exists in the working folder and TOKENBRIDGE_CONFIG names no other.
const DEFAULT_PROVIDERS_FILE: &str = "tokenbridge.toml";
const DEFAULT_SESSION_IDLE_DAYS: u32 = 30;
const DEFAULT_SESSION_MAX_DAYS: u32 = 90;
const DAY_SECS: i64 = 24 * 3600;

/// What the person sets: flags, environment variables, or `.env`.
/// Every field is optional here; [`Config::resolve`] applies defaults and checks.
#[derive(Debug, Default, Clone, Parser)]
#[command(
    name = "tokenbridge",
    version,
    about = "Get an OAuth 2.0 access token (Yandex OAuth by default) through your browser; the client secret stays on this server.",
    after_help = "With no client id set, tokenbridge runs its built-in sandbox provider. Variables may also come from a .env file."
)]
pub struct Settings {
    /// Authorization server: yandex, oidc, oauth2 (or custom), or sandbox [default: yandex when a client id is set, else sandbox]
    #[arg(long, env = "TOKENBRIDGE_PROVIDER", value_enum)]
    pub provider: Option<ProviderArg>,

    /// The registered application's client id
    #[arg(long, env = "TOKENBRIDGE_CLIENT_ID")]
    pub client_id: Option<String>,

    /// The registered application's client secret
    #[arg(long, env = "TOKENBRIDGE_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<Secret>,

    /// A file holding the client secret (instead of TOKENBRIDGE_CLIENT_SECRET)
    #[arg(long, env = "TOKENBRIDGE_CLIENT_SECRET_FILE")]
    pub client_secret_file: Option<PathBuf>,

    /// A TOML file listing several providers, one [[provider]] table each [default: tokenbridge.toml, when it exists]
    #[arg(long, env = "TOKENBRIDGE_CONFIG")]
    pub config: Option<PathBuf>,

    /// An OpenID provider's issuer: its endpoints are discovered from it (for oidc)
    #[arg(long, env = "TOKENBRIDGE_ISSUER")]
    pub issuer: Option<String>,

    /// The user-info field that names the account, for oauth2 [default: sub, else id]
    #[arg(long, env = "TOKENBRIDGE_USERINFO_ID_FIELD")]
    pub userinfo_id_field: Option<String>,

    /// The user-info field shown as the login, for oauth2 [default: preferred_username, login, email or name]
    #[arg(long, env = "TOKENBRIDGE_USERINFO_LOGIN_FIELD")]
    pub userinfo_login_field: Option<String>,

    /// Override the provider's authorize endpoint (required for custom)
    #[arg(long, env = "TOKENBRIDGE_AUTHORIZE_URL")]
    pub authorize_url: Option<String>,

    /// Override the provider's token endpoint (required for custom)
    #[arg(long, env = "TOKENBRIDGE_TOKEN_URL")]
    pub token_url: Option<String>,

    /// How the client authenticates at the token endpoint: post (form body) or basic [default: post]
    #[arg(long, env = "TOKENBRIDGE_CLIENT_AUTH", value_enum)]
    pub client_auth: Option<ClientAuth>,

    /// Requested scope, space-separated (optional)
    #[arg(long, env = "TOKENBRIDGE_SCOPE")]
    pub scope: Option<String>,

    /// Always ask the person to confirm access, even if they allowed it before (Yandex force_confirm)
    #[arg(long, env = "TOKENBRIDGE_FORCE_CONFIRM")]
    pub force_confirm: Option<bool>,

    /// The external base URL; the Callback URI to register is <PUBLIC_URL>/auth/callback [default: http://localhost:<the listen port>]
    #[arg(long, env = "TOKENBRIDGE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "TOKENBRIDGE_LISTEN")]
    pub listen: Option<String>,

    /// Key for sealed cookies: 64 bytes, base64 [default: <DATA_DIR>/cookie.key, created on first run]
    #[arg(long, env = "TOKENBRIDGE_COOKIE_KEY", hide_env_values = true)]
    pub cookie_key: Option<Secret>,

    /// A file holding the cookie key (instead of TOKENBRIDGE_COOKIE_KEY)
    #[arg(long, env = "TOKENBRIDGE_COOKIE_KEY_FILE")]
    pub cookie_key_file: Option<PathBuf>,

    /// The trunk-built frontend folder [default: dist]
    #[arg(long, env = "TOKENBRIDGE_DIST")]
    pub dist: Option<PathBuf>,

    /// How long to wait for each request to the provider (token, user info, discovery, revocation), in milliseconds [default: 10000]
    #[arg(long, env = "TOKENBRIDGE_PROVIDER_TIMEOUT_MS")]
    pub provider_timeout_ms: Option<u64>,

    /// Where saved connections live: sqlite://… or postgres://… [default: sqlite://<DATA_DIR>/tokenbridge.db]
    #[arg(long, env = "TOKENBRIDGE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// Folder for the SQLite database, the store key file and the cookie key file [default: data]
    #[arg(long, env = "TOKENBRIDGE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Key that encrypts tokens at rest: 32 bytes, base64 [default: <DATA_DIR>/store.key, created on first run]
    #[arg(long, env = "TOKENBRIDGE_STORE_KEY", hide_env_values = true)]
    pub store_key: Option<Secret>,

    /// A file holding the store key (instead of TOKENBRIDGE_STORE_KEY)
    #[arg(long, env = "TOKENBRIDGE_STORE_KEY_FILE")]
    pub store_key_file: Option<PathBuf>,

    /// Bearer key for the scripts API under /api/v1 [default: the API is off]
    #[arg(long, env = "TOKENBRIDGE_API_KEY", hide_env_values = true)]
    pub api_key: Option<Secret>,

    /// A file holding the API key (instead of TOKENBRIDGE_API_KEY)
    #[arg(long, env = "TOKENBRIDGE_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,

    /// Refresh a token when it expires within this many seconds [default: 300]
    #[arg(long, env = "TOKENBRIDGE_REFRESH_MARGIN_SECS")]
    pub refresh_margin_secs: Option<i64>,

    /// The provider's user-info endpoint [default: Yandex's; none for custom]
    #[arg(long, env = "TOKENBRIDGE_USERINFO_URL")]
    pub userinfo_url: Option<String>,

    /// The provider's revocation endpoint [default: Yandex's; none for custom]
    #[arg(long, env = "TOKENBRIDGE_REVOKE_URL")]
    pub revoke_url: Option<String>,

    /// Provider logins whose sessions see every connection, comma-separated; `provider:login` names one provider's [default: none]
    #[arg(long, env = "TOKENBRIDGE_OPERATORS")]
    pub operators: Option<String>,

    /// A session unused for this many days ends [default: 30]
    #[arg(long, env = "TOKENBRIDGE_SESSION_IDLE_DAYS")]
    pub session_idle_days: Option<u32>,

    /// A session ends this many days after its sign-in, however much it is used [default: 90]
    #[arg(long, env = "TOKENBRIDGE_SESSION_MAX_DAYS")]
    pub session_max_days: Option<u32>,

    /// Sign-in steps (starting one, or a callback) a minute from one address; 0 turns the limit off [default: 60]
    #[arg(long, env = "TOKENBRIDGE_SIGNIN_RATE")]
    pub signin_rate: Option<u32>,

    /// Scripts-API requests a minute from one address (a wrong key costs a tenth of it); 0 turns the limit off [default: 6000]
    #[arg(long, env = "TOKENBRIDGE_API_RATE")]
    pub api_rate: Option<u32>,

    /// Proxies whose X-Forwarded-For names the client: addresses or networks, comma-separated [default: none]
    #[arg(long, env = "TOKENBRIDGE_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Re-seal every stored token with a new store key, in one transaction. Stop every
    /// tokenbridge using this database first. With the key in <DATA_DIR>/store.key, a new
    /// key is made and replaces the file; with TOKENBRIDGE_STORE_KEY, give the new key in
    /// a file (openssl rand -base64 32 > new.key) and set the variable to it afterwards.
    RotateStoreKey {
        /// A file holding the new key (32 bytes, base64) [default: made now]
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
    /// Print a fresh access token of a saved connection, for scripts:
    /// curl -H "Authorization: Bearer $(tokenbridge token alice)" …
    Token {
        /// The account's login, as the connections list shows it
        login: String,
        /// The provider's id, when the login is connected at more than one
        #[arg(long)]
        provider: Option<String>,
    },
}

/// A secret as a flag, a variable or a file gives it: `Debug` never shows it, and it is
/// read only through [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

/// The flags that carry a secret, and the variable to use instead: a flag's value is
/// visible to every user of the machine in the process list.
pub const SECRET_FLAGS: [(&str, &str); 5] = [
    ("--client-secret", "TOKENBRIDGE_CLIENT_SECRET_FILE"),
    ("--cookie-key", "TOKENBRIDGE_COOKIE_KEY_FILE"),
    ("--store-key", "TOKENBRIDGE_STORE_KEY_FILE"),
    ("--api-key", "TOKENBRIDGE_API_KEY_FILE"),
    ("--database-url", "TOKENBRIDGE_DATABASE_URL"),
];

/// Where the key that seals stored tokens comes from.
#[derive(Debug, Clone)]
pub enum StoreKeySource {
    Given(StoreKey),
    /// Read, or created with mode 0600 on first use.
    File(PathBuf),
}

/// Where the key that seals cookies comes from.
#[derive(Clone)]
pub enum CookieKeySource {
    Given(Key),
    /// Read, or created with mode 0600 on first use, so that a restart keeps every session.
    File(PathBuf),
}

impl std::fmt::Debug for CookieKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Given(_) => f.write_str("Given([redacted])"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl CookieKeySource {
    /// The key itself, reading or making its file if need be.
    pub fn load(&self) -> Result<Key, ConfigError> {
        match self {
            Self::Given(key) => Ok(key.clone()),
            Self::File(path) => {
                let text =
                    crate::keyfile::read_or_create(path, 64, "cookie key").map_err(|source| {
                        ConfigError::CookieKeyFile {
                            path: path.clone(),
                            source,
                        }
                    })?;
                parse_cookie_key(&text)
            }
        }
    }
}

/// The scripts API's bearer key. Debug is redacted.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    Yandex,
    /// Plain OAuth 2.0; a synonym of oauth2.
    Custom,
    Oauth2,
    Oidc,
    Sandbox,
}

impl ProviderArg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yandex => "yandex",
            Self::Custom => "custom",
            Self::Oauth2 => "oauth2",
            Self::Oidc => "oidc",
            Self::Sandbox => "sandbox",
        }
    }
}

/// Where the client id and secret go in the token request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ClientAuth {
    /// In the form body, as Yandex's own example does.
    #[default]
    Post,
    /// In an HTTP Basic `Authorization` header.
    Basic,
}

/// The validated configuration the server runs with.
pub struct Config {
    /// Every provider, in order: the first is the one a sign-in without `provider=` goes to.
    pub providers: Vec<ProviderSpec>,
    /// Where the providers came from, when a file listed them.
    pub providers_file: Option<PathBuf>,
    /// The external origin, without a trailing slash.
    pub public_url: Url,
    pub listen: SocketAddr,
    pub cookie_key: CookieKeySource,
    pub dist: PathBuf,
    pub provider_timeout: Duration,
    pub database_url: String,
    pub store_key: StoreKeySource,
    pub api_key: Option<ApiKey>,
    pub refresh_margin_secs: i64,
    /// How long a sign-in may take, in seconds: ten minutes, as long as Yandex's codes live.
    /// Not a setting; tests shorten it.
    pub flow_lifetime_secs: i64,
    pub operators: Operators,
    /// A session unused for this long ends.
    pub session_idle_secs: i64,
    /// A session ends this long after its sign-in.
    pub session_absolute_secs: i64,
    /// How often expired sessions and spent states are removed. Not a setting; tests shorten it.
    pub prune_every: Duration,
    pub limits: LimitSettings,
    /// How long a client may take to send a request's headers (and an idle keep-alive
    /// connection stays open): ten seconds. Not a setting; tests shorten it.
    pub header_read_timeout: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("providers", &self.providers)
            .field("public_url", &self.public_url.as_str())
            .field("listen", &self.listen)
            .field("cookie_key", &self.cookie_key)
            .finish_non_exhaustive()
    }
}

/// What is wrong with the configuration, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "TOKENBRIDGE_CLIENT_ID is not set. Register an app (for Yandex: https://oauth.yandex.com/client/new), set TOKENBRIDGE_CLIENT_ID and TOKENBRIDGE_CLIENT_SECRET, or leave TOKENBRIDGE_PROVIDER unset to run the sandbox."
    )]
    MissingClientId,
    #[error(
        "the client secret is not set. Set TOKENBRIDGE_CLIENT_SECRET (or TOKENBRIDGE_CLIENT_SECRET_FILE) to the app's Client secret."
    )]
    MissingSecret,
    #[error(
        "both TOKENBRIDGE_CLIENT_SECRET and TOKENBRIDGE_CLIENT_SECRET_FILE are set. Keep one of them."
    )]
    TwoSecrets,
    #[error("cannot read the secret file {path}: {source}")]
    UnreadableSecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret file {path} is empty. Put the secret in it.")]
    EmptySecretFile { path: PathBuf },
    #[error(
        "TOKENBRIDGE_PROVIDER=custom needs TOKENBRIDGE_AUTHORIZE_URL and TOKENBRIDGE_TOKEN_URL (missing: {missing})."
    )]
    CustomWithoutUrls { missing: &'static str },
    #[error("{variable} is not a valid http(s) URL ({value:?}): {reason}")]
    BadUrl {
        variable: &'static str,
        value: String,
        reason: String,
    },
    #[error("TOKENBRIDGE_LISTEN is not an address like 127.0.0.1:8080 ({value:?}): {reason}")]
    BadListen { value: String, reason: String },
    #[error(
        "TOKENBRIDGE_CLIENT_ID is not set and TOKENBRIDGE_PUBLIC_URL ({public_url}) is not this machine, so tokenbridge will not serve its sandbox (a fake consent page) there. Set TOKENBRIDGE_CLIENT_ID and TOKENBRIDGE_CLIENT_SECRET for your provider, or set TOKENBRIDGE_PROVIDER=sandbox if a public sandbox is really what you want."
    )]
    SandboxOnPublicUrl { public_url: String },
    #[error("the cookie key file {path}: {source}")]
    CookieKeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "TOKENBRIDGE_SESSION_IDLE_DAYS and TOKENBRIDGE_SESSION_MAX_DAYS must be between 1 and 3650, and the idle time at most the maximum (idle {idle}, maximum {max})."
    )]
    BadSessionDays { idle: u32, max: u32 },
    #[error(
        "TOKENBRIDGE_COOKIE_KEY must be at least 64 bytes, base64-encoded (for example: openssl rand -base64 64): {reason}"
    )]
    BadCookieKey { reason: String },
    #[error("TOKENBRIDGE_PROVIDER_TIMEOUT_MS must be between 1 and 300000, not {0}.")]
    BadTimeout(u64),
    #[error("TOKENBRIDGE_DATABASE_URL must start with sqlite: or postgres:// ({0:?}).")]
    BadDatabaseUrl(String),
    #[error("{0}")]
    BadStoreKey(String),
    #[error(
        "TOKENBRIDGE_API_KEY is too short: use at least 16 characters (for example: openssl rand -hex 24)."
    )]
    ShortApiKey,
    #[error("TOKENBRIDGE_REFRESH_MARGIN_SECS must be between 0 and 40000000, not {0}.")]
    BadRefreshMargin(i64),
    #[error("{what}: the OpenID provider's endpoints are found from its issuer URL.")]
    OidcWithoutIssuer { what: String },
    #[error("both {variable} and {variable}_FILE are set. Keep one of them.")]
    BothGiven { variable: &'static str },
    #[error(
        "TOKENBRIDGE_TRUSTED_PROXIES: {0:?} is not an address or a network (like 10.0.0.1 or 10.0.0.0/8)."
    )]
    BadTrustedProxy(String),
    #[error("the providers file {path} (TOKENBRIDGE_CONFIG): {message}")]
    ProvidersFile { path: PathBuf, message: String },
}

impl Config {
    /// Applies defaults and checks everything, reading the secret file if one is named.
    pub fn resolve(settings: Settings) -> Result<Self, ConfigError> {
        let listen_text = settings.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen_text
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError::BadListen {
                value: listen_text.to_owned(),
                reason: e.to_string(),
            })?;
        let public_url = parse_public_url(settings.public_url.as_deref(), listen.port())?;
        let providers_file = settings.config.clone().or_else(|| {
            let default = PathBuf::from(DEFAULT_PROVIDERS_FILE);
            default.is_file().then_some(default)
        });
        let providers = match &providers_file {
            Some(path) => providers::from_file(path, &public_url)?,
            None => vec![providers::from_settings(&settings, &public_url)?],
        };
        let timeout_ms = settings
            .provider_timeout_ms
            .unwrap_or(DEFAULT_PROVIDER_TIMEOUT_MS);
        if !(1..=300_000).contains(&timeout_ms) {
            return Err(ConfigError::BadTimeout(timeout_ms));
        }

        let data_dir = settings
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = settings
            .database_url
            .as_ref()
            .map(|u| u.expose().trim().to_owned())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("tokenbridge.db").display()));
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            return Err(ConfigError::BadDatabaseUrl(without_password(&database_url)));
        }
        let cookie_key = settings.cookie_key.as_ref();
        let cookie_key = secret_of(
            cookie_key,
            settings.cookie_key_file.as_deref(),
            "TOKENBRIDGE_COOKIE_KEY",
        )?;
        let cookie_key = match cookie_key.as_deref().filter(|k| !k.trim().is_empty()) {
            Some(text) => CookieKeySource::Given(parse_cookie_key(text)?),
            None => CookieKeySource::File(data_dir.join("cookie.key")),
        };
        let idle_days = settings
            .session_idle_days
            .unwrap_or(DEFAULT_SESSION_IDLE_DAYS);
        let max_days = settings
            .session_max_days
            .unwrap_or(DEFAULT_SESSION_MAX_DAYS);
        if !(1..=3650).contains(&idle_days)
            || !(1..=3650).contains(&max_days)
            || idle_days > max_days
        {
            return Err(ConfigError::BadSessionDays {
                idle: idle_days,
                max: max_days,
            });
        }
        let store_key = secret_of(
            settings.store_key.as_ref(),
            settings.store_key_file.as_deref(),
            "TOKENBRIDGE_STORE_KEY",
        )?;
        let store_key = match store_key.as_deref().filter(|k| !k.trim().is_empty()) {
            Some(text) => StoreKeySource::Given(
                StoreKey::from_base64(text).map_err(|e| ConfigError::BadStoreKey(e.to_string()))?,
            ),
            None => StoreKeySource::File(data_dir.join("store.key")),
        };
        let api_key = secret_of(
            settings.api_key.as_ref(),
            settings.api_key_file.as_deref(),
            "TOKENBRIDGE_API_KEY",
        )?;
        let api_key = match api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            Some(key) if key.len() < 16 => return Err(ConfigError::ShortApiKey),
            Some(key) => Some(ApiKey(key.to_owned())),
            None => None,
        };
        let refresh_margin_secs = settings
            .refresh_margin_secs
            .unwrap_or(DEFAULT_REFRESH_MARGIN_SECS);
        if !(0..=40_000_000).contains(&refresh_margin_secs) {
            return Err(ConfigError::BadRefreshMargin(refresh_margin_secs));
        }
        Ok(Self {
            providers,
            providers_file,
            public_url,
            listen,
            cookie_key,
            dist: settings.dist.unwrap_or_else(|| PathBuf::from("dist")),
            provider_timeout: Duration::from_millis(timeout_ms),
            flow_lifetime_secs: 600,
            database_url,
            store_key,
            api_key,
            refresh_margin_secs,
            operators: Operators::parse(settings.operators.as_deref().unwrap_or_default()),
            session_idle_secs: i64::from(idle_days) * DAY_SECS,
            session_absolute_secs: i64::from(max_days) * DAY_SECS,
            prune_every: Duration::from_secs(3600),
            header_read_timeout: Duration::from_secs(10),
            limits: LimitSettings {
                sign_ins_per_minute: settings.signin_rate.unwrap_or(DEFAULT_SIGNIN_RATE),
                api_per_minute: settings.api_rate.unwrap_or(DEFAULT_API_RATE),
                trusted_proxies: settings
                    .trusted_proxies
                    .as_deref()
                    .unwrap_or_default()
                    .split([',', ' '])
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| {
                        Network::parse(p).ok_or_else(|| ConfigError::BadTrustedProxy(p.to_owned()))
                    })
                    .collect::<Result<_, _>>()?,
            },
        })
    }

    /// The Callback URI to register with the provider.
    pub fn redirect_url(&self) -> Url {
        join(&self.public_url, routes::CALLBACK)
    }

    /// Cookies are `Secure` (and `__Host-`-prefixed) when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// A secret given inline or in a file (not both); `variable` names it in the error.
fn secret_of(
    inline: Option<&Secret>,
    file: Option<&std::path::Path>,
    variable: &'static str,
) -> Result<Option<String>, ConfigError> {
    let inline = inline.map(|s| s.expose().trim()).filter(|s| !s.is_empty());
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::BothGiven { variable }),
        (Some(secret), None) => Ok(Some(secret.to_owned())),
        (None, Some(path)) => read_secret_file(path).map(Some),
        (None, None) => Ok(None),
    }
}

/// A database URL as it may be shown: its password replaced.
pub fn without_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(not a URL)".to_owned(),
    }
}

fn read_secret(settings: &Settings) -> Result<Option<String>, ConfigError> {
    let inline = settings
        .client_secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .filter(|s| !s.trim().is_empty());
    match (inline, &settings.client_secret_file) {
        (Some(_), Some(_)) => Err(ConfigError::TwoSecrets),
        (Some(secret), None) => Ok(Some(secret.trim().to_owned())),
        (None, Some(path)) => read_secret_file(path).map(Some),
        (None, None) => Ok(None),
    }
}

/// A secret from a file, trimmed; an empty file is an error.
fn read_secret_file(path: &std::path::Path) -> Result<String, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::UnreadableSecretFile {
            path: path.to_owned(),
            source,
        })?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(ConfigError::EmptySecretFile {
            path: path.to_owned(),
        });
    }
    Ok(secret.to_owned())
}

fn random_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The public URL as given, or else this machine at the port tokenbridge listens on (so that
/// moving the port alone keeps the sign-in working: the Callback URI moves with it).
fn parse_public_url(value: Option<&str>, listen_port: u16) -> Result<Url, ConfigError> {
    let default = format!("http://localhost:{listen_port}");
    let text = value.unwrap_or(&default);
    let bad = |reason: &str| ConfigError::BadUrl {
        variable: "TOKENBRIDGE_PUBLIC_URL",
        value: text.to_owned(),
        reason: reason.to_owned(),
    };
    let url = parse_http_url("TOKENBRIDGE_PUBLIC_URL", text)?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "give only the scheme, host and port, like http://localhost:8080",
        ));
    }
    Ok(url)
}

fn parse_optional_url(
    variable: &'static str,
    value: Option<&str>,
) -> Result<Option<Url>, ConfigError> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| parse_http_url(variable, v.trim()))
        .transpose()
}

fn parse_http_url(variable: &'static str, text: &str) -> Result<Url, ConfigError> {
    let bad = |reason: String| ConfigError::BadUrl {
        variable,
        value: text.to_owned(),
        reason,
    };
    let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "the scheme must be http or https, not {}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host".to_owned()));
    }
    Ok(url)
}

/// Whether `url` names this machine: localhost or a loopback address.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            domain.eq_ignore_ascii_case("localhost") || domain.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn parse_cookie_key(text: &str) -> Result<Key, ConfigError> {
    let bytes =
        crate::keyfile::decode(text).map_err(|reason| ConfigError::BadCookieKey { reason })?;
    Key::try_from(bytes.as_slice()).map_err(|_| ConfigError::BadCookieKey {
        reason: format!("it decodes to {} bytes", bytes.len()),
    })
}

/// `base` with its path replaced by `path`.
pub fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(path);
    url
}

fn fixed_url(text: &str) -> Url {
    // The constants above are valid URLs; a failure here is a programming error caught by tests.
    Url::parse(text).unwrap_or_else(|e| panic!("built-in URL {text} is invalid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use tokenbridge_shared::ProviderKind;

    fn resolve(settings: Settings) -> Result<Config, String> {
        Config::resolve(settings).map_err(|e| e.to_string())
    }

    #[test]
    fn no_client_id_means_the_sandbox() {
        let config = resolve(Settings::default()).unwrap();
        assert_eq!(config.providers[0].kind, ProviderKind::Sandbox);
        assert_eq!(config.providers[0].client_id.as_str(), SANDBOX_CLIENT_ID);
        assert_eq!(
            config.providers[0]
                .endpoints
                .authorize
                .as_ref()
                .unwrap()
                .as_str(),
            "http://localhost:8080/sandbox/authorize"
        );
        assert_eq!(
            config.redirect_url().as_str(),
            "http://localhost:8080/auth/callback"
        );
        assert!(
            matches!(config.cookie_key, CookieKeySource::File(ref path) if path.ends_with("cookie.key"))
        );
    }

    #[test]
    fn moving_the_listen_port_alone_moves_the_callback_uri_with_it() {
        let config = resolve(Settings {
            listen: Some("0.0.0.0:9000".into()),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(config.public_url.as_str(), "http://localhost:9000/");
        assert_eq!(
            config.redirect_url().as_str(),
            "http://localhost:9000/auth/callback"
        );
        let given = resolve(Settings {
            listen: Some("0.0.0.0:9000".into()),
            public_url: Some("http://localhost:8443".into()),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(
            given.redirect_url().as_str(),
            "http://localhost:8443/auth/callback",
            "a public URL that is given wins"
        );
    }

    #[test]
    fn the_sandbox_by_default_serves_only_this_machine() {
        for local in [
            "http://127.0.0.1:9000",
            "http://[::1]:8080",
            "http://localhost",
        ] {
            let config = resolve(Settings {
                public_url: Some(local.into()),
                ..Settings::default()
            })
            .unwrap();
            assert_eq!(config.providers[0].kind, ProviderKind::Sandbox, "{local}");
        }
        let err = resolve(Settings {
            public_url: Some("https://tokens.example.com".into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(
            err.contains("TOKENBRIDGE_CLIENT_ID") && err.contains("TOKENBRIDGE_PROVIDER"),
            "{err}"
        );
        let chosen = resolve(Settings {
            provider: Some(ProviderArg::Sandbox),
            public_url: Some("https://tokens.example.com".into()),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(chosen.providers[0].kind, ProviderKind::Sandbox);
    }

    #[test]
    fn the_cookie_key_file_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("tb-cookie-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let source = CookieKeySource::File(dir.join("cookie.key"));
        let first = source.load().unwrap();
        let again = source.load().unwrap();
        assert_eq!(
            first.master(),
            again.master(),
            "a restart reads the same key"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("cookie.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn session_lifetimes_default_to_30_and_90_days_and_are_checked() {
        let config = resolve(Settings::default()).unwrap();
        assert_eq!(config.session_idle_secs, 30 * DAY_SECS);
        assert_eq!(config.session_absolute_secs, 90 * DAY_SECS);
        let err = resolve(Settings {
            session_idle_days: Some(100),
            session_max_days: Some(10),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(err.contains("TOKENBRIDGE_SESSION_IDLE_DAYS"), "{err}");
    }

    #[test]
    fn a_client_id_means_yandex_with_its_endpoints() {
        let config = resolve(Settings {
            client_id: Some("abc".into()),
            client_secret: Some("s3cret".into()),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(config.providers[0].kind, ProviderKind::Yandex);
        assert_eq!(
            config.providers[0]
                .endpoints
                .token
                .clone()
                .unwrap()
                .as_str(),
            YANDEX_TOKEN_URL
        );
    }

    #[test]
    fn yandex_without_a_secret_says_which_variable_to_set() {
        let err = resolve(Settings {
            client_id: Some("abc".into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(err.contains("TOKENBRIDGE_CLIENT_SECRET"), "{err}");
    }

    #[test]
    fn custom_without_a_token_url_names_it() {
        let err = resolve(Settings {
            provider: Some(ProviderArg::Custom),
            client_id: Some("abc".into()),
            client_secret: Some("s".into()),
            authorize_url: Some("https://idp.example/authorize".into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(err.contains("missing: TOKENBRIDGE_TOKEN_URL"), "{err}");
    }

    #[test]
    fn a_bad_url_is_named_with_its_value() {
        let err = resolve(Settings {
            token_url: Some("ftp://x".into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(
            err.contains("TOKENBRIDGE_TOKEN_URL") && err.contains("ftp"),
            "{err}"
        );
        let err = resolve(Settings {
            public_url: Some("localhost:8080".into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(err.contains("TOKENBRIDGE_PUBLIC_URL"), "{err}");
    }

    #[test]
    fn an_unreadable_secret_file_is_named() {
        let err = resolve(Settings {
            client_id: Some("abc".into()),
            client_secret_file: Some("/nonexistent/secret".into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(err.contains("/nonexistent/secret"), "{err}");
    }

    #[test]
    fn the_secret_file_is_read_and_trimmed() {
        let path = std::env::temp_dir().join(format!("tb-secret-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").unwrap();
        let config = resolve(Settings {
            client_id: Some("abc".into()),
            client_secret_file: Some(path.clone()),
            ..Settings::default()
        })
        .unwrap();
        std::fs::remove_file(path).unwrap();
        assert_eq!(config.providers[0].client_secret.secret(), "from-file");
    }

    /// A key that is not base64 is refused with where it goes wrong, never the character at
    /// fault (base64's own message shows it, one of the key's).
    #[test]
    fn a_cookie_key_that_is_not_base64_says_where_without_showing_it() {
        let err = resolve(Settings {
            cookie_key: Some(format!("{}!{}", "A".repeat(40), "B".repeat(47)).into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(
            err.contains("not base64") && err.contains("offset 40"),
            "{err}"
        );
        assert!(!err.contains('!') && !err.contains("33"), "{err}");
    }

    #[test]
    fn a_short_cookie_key_is_refused() {
        let err = resolve(Settings {
            cookie_key: Some(STANDARD.encode([0u8; 32]).into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(err.contains("32 bytes"), "{err}");
    }

    #[test]
    fn settings_and_their_debug_output_never_show_a_secret() {
        let settings = Settings {
            client_secret: Some("s3cret-value".into()),
            api_key: Some("api-key-value-0123456789".into()),
            database_url: Some("postgres://app:db-password@127.0.0.1/tb".into()),
            cookie_key: Some("cookie-key-value".into()),
            ..Settings::default()
        };
        let debug = format!("{settings:?}");
        for secret in [
            "s3cret-value",
            "api-key-value",
            "db-password",
            "cookie-key-value",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        let err = resolve(Settings {
            database_url: Some("mysql://app:db-password@127.0.0.1/tb".into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(!err.contains("db-password") && err.contains("***"), "{err}");
    }

    #[test]
    fn keys_may_come_from_files_but_not_from_a_file_and_a_variable() {
        let dir = std::env::temp_dir().join(format!("tb-key-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let api = dir.join("api");
        std::fs::write(&api, "from-a-file-0123456789\n").unwrap();
        let config = resolve(Settings {
            api_key_file: Some(api.clone()),
            store_key_file: Some({
                let path = dir.join("store");
                std::fs::write(&path, STANDARD.encode([2u8; 32])).unwrap();
                path
            }),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(config.api_key.unwrap().secret(), "from-a-file-0123456789");
        assert!(matches!(config.store_key, StoreKeySource::Given(_)));
        let err = resolve(Settings {
            api_key: Some("inline-key-0123456789".into()),
            api_key_file: Some(api),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(err.contains("TOKENBRIDGE_API_KEY_FILE"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let config = resolve(Settings {
            client_id: Some("abc".into()),
            client_secret: Some("s3cret-value".into()),
            ..Settings::default()
        })
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret-value"), "{debug}");
        assert!(debug.contains("redacted"), "{debug}");
    }
}
