#!/usr/bin/env bash
# Installs what a fresh machine lacks to build tokenbridge, and skips whatever is
# already there at the right version:
#   - the wasm32 Rust target, trunk 0.21.14, wasm-bindgen-cli equal to Cargo.lock's
#     wasm-bindgen, and wasm-opt from binaryen 132 (npm, into .tools/; without npm, the
#     wasm-opt crate's binaryen 116, with cargo);
#   - a C and C++ compiler (Debian's build-essential) if there is none;
#   - brotli (Debian's), to precompress the page's files;
#   - with --browser: Debian's chromium and chromium-driver, for the tests.
# The other scripts source it (`. scripts/setup.sh`), which puts the tools on their PATH. By
# hand, source it in a subshell, `(. scripts/setup.sh && trunk serve)`: it turns on
# `set -euo pipefail`, which an interactive shell should not keep.
set -euo pipefail

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132.0.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
with_browser=false
[ "${1:-}" = "--browser" ] && with_browser=true

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
export PATH="$root/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true

if ! command -v cargo >/dev/null; then
  echo "Rust is not installed: see https://rustup.rs, then run this again." >&2
  exit 1
fi

# Debian's packages, with sudo when not root.
apt_install() {
  local sudo_if_needed=""
  [ "$(id -u)" -ne 0 ] && sudo_if_needed="sudo"
  $sudo_if_needed apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y -qq "$@" >/dev/null
}

# Cargo links with the C compiler, and SQLite, mimalloc and ring are built from C (without
# npm, binaryen from C++).
if ! { command -v cc && command -v c++; } >/dev/null; then
  if command -v apt-get >/dev/null; then
    say "installing a C and C++ compiler (Debian's build-essential)"
    apt_install build-essential
  else
    echo "A C and C++ compiler is needed (cc and c++: gcc or clang); install one, then run this again." >&2
    exit 1
  fi
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION\$"; then
  say "installing trunk $TRUNK_VERSION (about 8 minutes, once)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi

wasm_bindgen_version=$(grep -A1 '^name = "wasm-bindgen"$' "$root/Cargo.lock" | sed -n 's/^version = "\(.*\)"$/\1/p')
if ! wasm-bindgen --version 2>/dev/null | grep -q " $wasm_bindgen_version\$"; then
  say "installing wasm-bindgen-cli $wasm_bindgen_version (about 3 minutes, once)"
  # Not --locked: the registry lacks one of its locked dependency versions.
  cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
fi

# binaryen's version as wasm-opt prints it ("wasm-opt version 132 (…)"), or nothing.
wasm_opt_version() { wasm-opt --version 2>/dev/null | sed -n 's/^wasm-opt version \([0-9]*\).*/\1/p'; }
if [ "$(wasm_opt_version)" != 132 ]; then
  if command -v npm >/dev/null; then
    say "installing wasm-opt (binaryen $BINARYEN_VERSION) into .tools/"
    npm install --silent --no-audit --no-fund --prefix "$root/.tools" "binaryen@$BINARYEN_VERSION"
  elif [ "$(wasm_opt_version)" != 116 ]; then
    say "installing wasm-opt 0.116.1 with cargo (no npm here; about 8 minutes, once)"
    cargo install wasm-opt --version 0.116.1 --locked
  fi
fi
# The wasm-opt crate's is binaryen 116: trunk, which asks for 132 (Trunk.toml), is told to use it
# rather than to download one.
if [ "$(wasm_opt_version)" = 116 ]; then
  export TRUNK_TOOLS_WASM_OPT=version_116
fi

if ! command -v brotli >/dev/null && command -v apt-get >/dev/null; then
  say "installing brotli (the page's files are served precompressed)"
  apt_install brotli || echo "could not install brotli: the page is served with gzip only" >&2
fi

if $with_browser && ! { command -v chromium && command -v chromedriver; } >/dev/null; then
  say "installing Debian's chromium and chromium-driver"
  apt_install chromium chromium-driver
fi
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || echo /usr/bin/chromedriver)}"
