#!/usr/bin/env bash
# The release server built with profile-guided optimisation (PGO): built once instrumented,
# trained by the benchmark's own load (sign-ins at concurrency 1, 8 and 64, scripts' token
# reads, the page's session reads, against the benchmark's stub provider), then built again
# with the profile that load wrote, so that the compiler lays out and inlines the paths those
# requests take. A sign-in costs about a sixth less CPU, a token read a fifth (README,
# *Where the time goes*).
#
# Prints the built binary's path on stdout (target/pgo/tokenbridge); says what it does on
# stderr. Trains when there is no profile yet, or when given --train (the benchmark does, to
# measure the code as it is); otherwise it builds with the profile it has, which still fits
# every function that has not changed since (a changed one is built as a plain release
# build would build it). Where rustup's llvm-tools cannot be added (no network), or the
# training fails, it says so and builds the plain release binary (target/release/tokenbridge).
#
# Usage: scripts/pgo.sh [--train]
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
plain() {
  say "$1: building tokenbridge without profile-guided optimisation (target/release)"
  cargo build --release -p tokenbridge >&2
  echo target/release/tokenbridge
  exit 0
}

data="$PWD/target/pgo-data"
profile="$data/tokenbridge.profdata"
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  say "adding rustup's llvm-tools (llvm-profdata merges the training's profile; once)"
  rustup component add llvm-tools >&2 || plain "cannot add rustup's llvm-tools"
fi

if [ "${1:-}" = "--train" ] || [ ! -f "$profile" ]; then
  raw="$data/raw"
  say "building tokenbridge instrumented (target/pgo-train)"
  RUSTFLAGS="-Cprofile-generate=$raw" cargo build --profile pgo-train -p tokenbridge >&2
  say "building the training load (tokenbridge-bench, target/release)"
  cargo build --release -p tokenbridge-bench >&2
  # Emptied after the build: the build scripts and proc-macros built instrumented wrote
  # profiles of their own there.
  rm -rf "$raw" && mkdir -p "$raw"
  say "training: the benchmark's sign-ins, token reads and session reads (about a minute)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/dist" && echo '<html></html>' > "$work/dist/index.html"
  # The benchmark stops each server with SIGTERM; the instrumented one writes its profile as
  # it exits. TMPDIR: the servers' data folders go into the work folder, removed with it.
  if ! TMPDIR="$work" TOKENBRIDGE_BIN=target/pgo-train/tokenbridge \
      BENCH_DIST="$work/dist" BENCH_REFERENCE_DIST="$work/dist" BENCH_LOADS=0 BENCH_RSS_FLOWS=0 \
      BENCH_FLOWS=1000 BENCH_READS=5000 BENCH_STORE_SIGNINS=100 BENCH_OUT="$work/results.json" \
      target/release/tokenbridge-bench >"$work/log" 2>&1; then
    tail -20 "$work/log" >&2
    plain "the training load failed (its log's end above)"
  fi
  compgen -G "$raw/*.profraw" >/dev/null || plain "the instrumented server wrote no profile"
  "$profdata" merge -o "$profile.new" "$raw"/*.profraw
  mv "$profile.new" "$profile"
fi

say "building tokenbridge with its profile (target/pgo)"
# rustc names the profile among each crate's inputs, so a new profile rebuilds them all. A
# profile older than a function is not warned about: that function is built as without one.
RUSTFLAGS="-Cprofile-use=$profile -Cllvm-args=-no-pgo-warn-mismatch" \
  cargo build --profile pgo -p tokenbridge >&2
echo target/pgo/tokenbridge
