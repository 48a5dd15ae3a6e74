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
        tracing::error!(%error, "cannot read .env");
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
