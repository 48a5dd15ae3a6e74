#!/usr/bin/env bash
# The release server built with profile-guided optimisation (PGO): built once instrumented,
# trained by the benchmark's own load (sign-ins at concurrency 1, 8 and 64, scripts' token
# reads, cached and not, the page's session reads and Refresh clicks, against the benchmark's
# stub provider, in folders of their own: no `.env` or `tokenbridge.toml` of this checkout is
# read), then built again with the
# profile that load wrote, so that the compiler lays out and inlines the paths those requests
# take. On the machine it was measured on, a sign-in and a token read cost about a sixth less
# CPU (README, *Where the time goes*).
#
# Prints the built binary's path on stdout (target/pgo/tokenbridge); says what it does on
# stderr. Trains when there is no profile yet, when the profile was recorded by another
# rustc, or when given --train (the benchmark does, to measure the code as it is); otherwise
# it builds with the profile it has, which still fits every function that has not changed
# since (a changed one is built as a plain release build would build it).
#
# Where it cannot (rustup's llvm-tools cannot be added, say with no network, or the training
# or a build with the profile fails), it says so and builds the plain release binary instead,
# printing target/release/tokenbridge. A training that failed is not tried again on every run:
# only when rustc changes or when given --train.
#
# The flags go through CARGO_ENCODED_RUSTFLAGS (a checkout path may hold spaces), so flags of
# your own in RUSTFLAGS do not reach these two builds.
#
# Usage: scripts/pgo.sh [--train]
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

data="$PWD/target/pgo-data"
profile="$data/tokenbridge.profdata"
# The rustc that recorded the profile, or whose training failed; a profile is read by the LLVM
# that wrote it.
recorded="$data/rustc"
failed="$data/failed"
rustc_now=$(rustc -vV)
mkdir -p "$data"

plain() {
  say "$1: building tokenbridge without profile-guided optimisation (target/release)"
  # So that nothing measures an older optimised build in its place.
  rm -f target/pgo/tokenbridge
  cargo build --release -p tokenbridge >&2
  echo target/release/tokenbridge
  exit 0
}

train() {
  local host profdata raw
  host=$(rustc -vV | sed -n 's/^host: //p')
  profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
  if [ ! -x "$profdata" ]; then
    say "adding rustup's llvm-tools (llvm-profdata merges the training's profile; once)"
    rustup component add llvm-tools >&2 || return 1
  fi
  raw="$data/raw"
  say "building tokenbridge instrumented (target/pgo-train)"
  CARGO_ENCODED_RUSTFLAGS="-Cprofile-generate=$raw" \
    cargo build --profile pgo-train -p tokenbridge >&2 || return 1
  say "building the training load (tokenbridge-bench, target/release)"
  cargo build --release -p tokenbridge-bench >&2 || return 1
  # Emptied after the build: the build scripts and proc-macros built instrumented wrote
  # profiles of their own there.
  rm -rf "$raw" && mkdir -p "$raw"
  say "training: the benchmark's sign-ins, token reads, session reads and Refresh clicks (seconds)"
  # The benchmark's load as the measuring scripts start it (bench-driver.sh: no page, no
  # browser, the servers' folders in a work folder removed after). It stops its servers with
  # SIGTERM; the instrumented one the load runs against writes its profile as it exits.
  . scripts/bench-driver.sh
  start_bench target/pgo-train/tokenbridge 1000 5000
  if ! wait "$bench"; then
    tail -20 "$bench_log" >&2
    stop_bench
    say "the training load failed (its log's end above)"
    return 1
  fi
  stop_bench
  if ! compgen -G "$raw/*.profraw" >/dev/null; then
    say "the instrumented server wrote no profile"
    return 1
  fi
  "$profdata" merge -o "$profile.new" "$raw"/*.profraw >&2 || return 1
  mv "$profile.new" "$profile"
  echo "$rustc_now" > "$recorded"
  rm -f "$failed"
}

same_rustc() { [ -f "$1" ] && [ "$(cat "$1")" = "$rustc_now" ]; }

if [ "${1:-}" = "--train" ] || ! { [ -f "$profile" ] && same_rustc "$recorded"; }; then
  if [ "${1:-}" != "--train" ] && same_rustc "$failed"; then
    plain "the training failed before with this rustc (scripts/pgo.sh --train tries again)"
  fi
  if ! train; then
    echo "$rustc_now" > "$failed"
    plain "cannot train"
  fi
fi

say "building tokenbridge with its profile (target/pgo)"
# rustc names the profile among each crate's inputs, so a new profile rebuilds them all. A
# profile older than a function is not warned about: that function is built as without one.
CARGO_ENCODED_RUSTFLAGS="-Cprofile-use=$profile"$'\x1f'"-Cllvm-args=-no-pgo-warn-mismatch" \
  cargo build --profile pgo -p tokenbridge >&2 \
  || plain "the build with the profile failed (scripts/pgo.sh --train records it again)"
echo target/pgo/tokenbridge
