//! Backend integration tests, one binary: the real app on port 0, driven by a
//! cookie-keeping HTTP client, against the built-in sandbox provider or a
//! wiremock server standing in for a failing one.

// A failed step in a test should stop it where it failed.
#![allow(clippy::unwrap_used)]

mod binary;
mod connections;
mod durability;
mod exchange_log;
mod flow;
mod helpers;
mod hostile;
mod leaks;
mod limits;
mod load;
mod oidc;
mod outage;
mod postgres;
mod provider_failures;
mod providers;
mod sandbox;
mod security;
mod serving;
mod sessions;
