#!/usr/bin/env bash
# Runs every test: formatting, lints, backend unit and integration tests,
# the browser tests (wasm-bindgen-test in headless Chromium), and the
# end-to-end tests (the backend serving the built app, driven through WebDriver).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh --browser

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# rustup's minimal profile has neither.
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    step "adding rustup's $component"
    rustup component add "$component"
  fi
done

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (backend, shared, end-to-end tests)"
cargo clippy --all-targets -- -D warnings
step "cargo clippy (frontend, wasm32)"
cargo clippy -p tokenbridge-frontend --target wasm32-unknown-unknown --all-targets -- -D warnings

step "trunk build --release (the app the end-to-end tests load)"
trunk build --release

step "backend, shared and end-to-end tests"
if [ -z "${TOKENBRIDGE_TEST_DATABASE_URL:-}" ]; then
  echo "note: TOKENBRIDGE_TEST_DATABASE_URL is not set, so the PostgreSQL tests will say SKIPPED (SQLite is tested always)" >&2
fi
cargo test

step "browser tests (wasm-bindgen-test, headless Chromium)"
cargo test -p tokenbridge-frontend --target wasm32-unknown-unknown
