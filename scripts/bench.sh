#!/usr/bin/env bash
# The benchmark, on any machine: sets up what is missing, builds tokenbridge as
# scripts/run.sh does (scripts/pgo.sh: release, with profile-guided optimisation, its
# profile trained afresh), its page and the bare reference page, then runs bench/ and
# prints the table (and writes bench/results.json).
# Knobs: BENCH_FLOWS (per concurrency level, default 1000), BENCH_READS (token reads per level, 5000), BENCH_REFRESHES (Refresh clicks at concurrency 1, 1000), BENCH_RSS_FLOWS (10000), BENCH_LOADS (20), BENCH_STORE_SIGNINS (the store alone's sign-ins, 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh --browser

echo "==> building the page and the reference page (trunk build --release)" >&2
trunk build --release
(cd bench/reference && trunk build --release)
echo "==> building tokenbridge as scripts/run.sh does (with profile-guided optimisation, trained afresh) and the benchmark" >&2
binary=$(scripts/pgo.sh --train)
cargo build --release -p tokenbridge-bench
TOKENBRIDGE_BIN="$binary" exec target/release/tokenbridge-bench
