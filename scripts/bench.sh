#!/usr/bin/env bash
# The benchmark, on any machine: sets up what is missing, builds tokenbridge
# (release), its page and the bare reference page the same way, then runs
# bench/ and prints the table (and writes bench/results.json).
# Knobs: BENCH_FLOWS (per concurrency level, default 1000), BENCH_READS (token reads per level, 5000), BENCH_RSS_FLOWS (10000), BENCH_LOADS (20), BENCH_STORE_SIGNINS (the store alone's sign-ins, 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh --browser

echo "==> building the page and the reference page (trunk build --release)" >&2
trunk build --release
(cd bench/reference && trunk build --release)
echo "==> building tokenbridge and the benchmark (release)" >&2
cargo build --release -p tokenbridge -p tokenbridge-bench
exec target/release/tokenbridge-bench
