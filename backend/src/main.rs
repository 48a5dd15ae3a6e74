//! The `tokenbridge` binary: read the configuration, start logging, then either
//! serve, or (`tokenbridge token <login>`) print a fresh token for a script.

use std::process::ExitCode;

use clap::Parser;
use tokenbridge::config::{Command, Config, Settings};

/// Exit codes a script can rely on (`tokenbridge token`).
mod exit {
    pub const CONFIG: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const NEEDS_RECONNECT: u8 = 4;
    pub const PROVIDER: u8 = 5;
    pub const AMBIGUOUS: u8 = 6;
}

/// mimalloc: a request allocates and frees a few hundred small blocks, which glibc's
/// allocator spent about a tenth of the server's CPU on (scripts/profile.sh). Asked for plain
/// blocks wherever they are aligned enough (see the `tokenbridge-alloc` crate).
#[global_allocator]
static ALLOCATOR: tokenbridge_alloc::Allocator = tokenbridge_alloc::Allocator;

/// What is wrong with `.env`, without the line dotenvy quotes (it may hold a secret): the line's
/// number, found in the file, and the character at fault.
fn dotenv_problem(error: &dotenvy::Error) -> String {
    let dotenvy::Error::LineParse(line, at) = error else {
        return error.to_string();
    };
    // dotenvy quotes the whole line, or for some errors only its value: a line is named only
    // when one of the file's is what it quoted.
    let quoted = line.trim_end_matches(['\r', '\n']);
    let number = std::fs::read_to_string(".env")
        .ok()
        .and_then(|text| text.lines().position(|l| l == quoted))
        .map(|at| at + 1);
    let which = match number {
        Some(n) => format!("line {n} cannot be read (at its character {})", at + 1),
        None => "a line cannot be read".to_owned(),
    };
    format!("{which}; put a value with spaces or quotes in quotes")
}

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; a broken one is reported once logging is up.
    let dotenv = dotenvy::dotenv();
    let settings = Settings::parse();
    // A script reads the token from stdout; logs go to stderr, and only warnings unless asked.
    tokenbridge::telemetry::init(if settings.command.is_some() {
        "warn"
    } else {
        "info"
    });
    warn_about_secret_flags();
    if let Err(error) = &dotenv
        && !error.not_found()
    {
        tracing::error!("cannot read .env: {}", dotenv_problem(error));
        return ExitCode::from(exit::CONFIG);
    }

    let command = settings.command.clone();
    let config = match Config::resolve(settings) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!("configuration: {error}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    match command {
        Some(Command::RotateStoreKey { new_key_file }) => {
            rotate_store_key(config, new_key_file.as_deref()).await
        }
        Some(Command::Token { login, provider }) => {
            print_token(config, &login, provider.as_deref()).await
        }
        None => serve(config).await,
    }
}

async fn serve(config: Config) -> ExitCode {
    let listener = match tokenbridge::server::bind(config.listen) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(listen = %config.listen, %error, "cannot listen (is another tokenbridge running? set TOKENBRIDGE_LISTEN)");
            return ExitCode::FAILURE;
        }
    };
    match tokenbridge::serve(config, listener).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "server stopped");
            ExitCode::FAILURE
        }
    }
}

/// `tokenbridge token <login> [--provider ID]`: the token on stdout, or a message on
/// stderr and an exit code.
async fn print_token(config: Config, login: &str, provider: Option<&str>) -> ExitCode {
    use tokenbridge_shared::ErrorCode;
    // The sandbox provider lives in the running server, at the configured address.
    let connections = match connections(&config).await {
        Ok(connections) => connections,
        Err(error) => {
            eprintln!("tokenbridge: {error}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    match connections.fresh_by_login(login, provider).await {
        Ok(connection) => {
            println!("{}", connection.access_token.secret());
            ExitCode::SUCCESS
        }
        Err(error) if error.code == ErrorCode::ConnectionNotFound => {
            eprintln!(
                "tokenbridge: no saved connection for {login:?}; connect it in the browser first"
            );
            ExitCode::from(exit::NOT_FOUND)
        }
        Err(error) => {
            eprintln!("tokenbridge: {}", error.code.message());
            ExitCode::from(match error.code {
                ErrorCode::NeedsReconnect | ErrorCode::NoRefreshToken => exit::NEEDS_RECONNECT,
                ErrorCode::AmbiguousLogin => exit::AMBIGUOUS,
                ErrorCode::UnknownProvider => exit::CONFIG,
                ErrorCode::Internal => 1,
                _ => exit::PROVIDER,
            })
        }
    }
}

async fn connections(
    config: &Config,
) -> Result<tokenbridge::connections::Connections, tokenbridge::StartError> {
    let store = tokenbridge::open_store(config).await?;
    let providers = tokenbridge::build_providers(config, config.listen).await?;
    Ok(tokenbridge::connections::Connections::new(
        store,
        providers,
        config.refresh_margin_secs,
    ))
}

/// A secret given as a flag is in the process list for every user of the machine to read.
fn warn_about_secret_flags() {
    for arg in std::env::args().skip(1) {
        for (flag, instead) in tokenbridge::config::SECRET_FLAGS {
            let given = arg == flag || arg.starts_with(&format!("{flag}="));
            // A database URL is a secret only when it carries a password.
            if given && (flag != "--database-url" || arg.contains('@')) {
                tracing::warn!(
                    "{flag} shows its value to every user of this machine (ps, /proc/*/cmdline); set {instead} instead"
                );
            }
        }
    }
}

/// `tokenbridge rotate-store-key`: every stored token re-sealed with a new key, then the
/// key file replaced (or the operator told which variable to change).
async fn rotate_store_key(config: Config, new_key_file: Option<&std::path::Path>) -> ExitCode {
    use tokenbridge::{config::StoreKeySource, store::StoreKey};
    let fail = |message: String| {
        eprintln!("tokenbridge: {message}");
        ExitCode::from(exit::CONFIG)
    };
    let new_key = match new_key_file {
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| StoreKey::from_base64(&text).map_err(|e| e.to_string()))
        {
            Ok(key) => key,
            Err(error) => return fail(format!("the new key file {}: {error}", path.display())),
        },
        None if matches!(config.store_key, StoreKeySource::Given(_)) => {
            return fail(
                "TOKENBRIDGE_STORE_KEY is set: make a new key (openssl rand -base64 32 > new.key), run tokenbridge rotate-store-key --new-key-file new.key, then set the variable to it".into(),
            );
        }
        None => StoreKey::random(),
    };
    // The new key is on disk before any row is sealed with it.
    let pending = match &config.store_key {
        StoreKeySource::File(path) if new_key_file.is_none() => {
            let pending = path.with_extension("key.new");
            if let Err(error) =
                tokenbridge::keyfile::write_new(&pending, new_key.to_base64().as_bytes())
            {
                return fail(format!("cannot write {}: {error}", pending.display()));
            }
            Some((pending, path.clone()))
        }
        _ => None,
    };
    let store = match tokenbridge::open_store(&config).await {
        Ok(store) => store,
        Err(error) => return fail(error.to_string()),
    };
    match store.rotate_key(&new_key).await {
        Ok(rotated) => {
            if let Some((pending, path)) = pending
                && let Err(error) = std::fs::rename(&pending, &path)
            {
                return fail(format!(
                    "the tokens are sealed with the new key in {}, but it could not replace {}: {error}; move it there by hand",
                    pending.display(),
                    path.display()
                ));
            }
            eprintln!(
                "tokenbridge: {} connection(s) re-sealed with the new store key{}",
                rotated.connections,
                if new_key_file.is_some() {
                    "; now point TOKENBRIDGE_STORE_KEY (or its _FILE) at it"
                } else {
                    ""
                }
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            if let Some((pending, _)) = pending {
                let _ = std::fs::remove_file(pending);
            }
            fail(format!("nothing was changed: {error}"))
        }
    }
}
