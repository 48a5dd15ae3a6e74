//! The `tokenbridge` binary: read the configuration, start logging, bind, serve.

use std::process::ExitCode;

use clap::Parser;
use tokenbridge::config::{Config, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; a broken one is reported once logging is up.
    let dotenv = dotenvy::dotenv();
    tokenbridge::telemetry::init();
    if let Err(error) = &dotenv
        && !error.not_found()
    {
        tracing::error!(%error, "cannot read .env");
        return ExitCode::FAILURE;
    }

    let config = match Config::resolve(Settings::parse()) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!("configuration: {error}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
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
