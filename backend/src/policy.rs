//! The Content-Security-Policy every answer carries unless it sets a stricter or more
//! specific one: the app's index page adds its inline loader's hash, the sandbox's
//! consent page lets its form lead on to the application's Callback URI.

/// The policy for everything but those two pages.
pub const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
