#!/usr/bin/env bash
# Where the server's CPU goes: runs the benchmark's release server under load (complete
# sign-ins, scripts' token reads, the page's session reads, or Refresh clicks) and records it with perf (call graphs from DWARF)
# for a few seconds (flows, token reads and Refresh clicks at concurrency 1, session reads at 8), then prints the hottest call chains.
# Usage: scripts/profile.sh flows|reads|sessions|refreshes [seconds]   (needs perf: apt-get install linux-perf)
# The server is the build scripts/run.sh runs (target/pgo/tokenbridge, or BINARY=path for another).
# Build first (scripts/bench.sh does, or: scripts/pgo.sh and cargo build --release -p tokenbridge-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-reads}"
seconds="${2:-5}"
case "$kind" in
  flows) marker="==> flows at concurrency 1"; flows=100000 reads=10 ;;
  reads) marker="==> token reads at concurrency 1"; flows=50 reads=1000000 ;;
  sessions) marker="==> session reads at concurrency 8"; flows=50 reads=200000 ;;
  refreshes) marker="==> refreshes counted"; flows=50 reads=100; export BENCH_REFRESHES=100000 ;;
  *) echo "usage: $0 flows|reads|sessions|refreshes [seconds]" >&2; exit 2 ;;
esac
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
. scripts/bench-driver.sh
trap stop_bench EXIT
start_bench "${BINARY:-target/pgo/tokenbridge}" "$flows" "$reads"
wait_for "$marker"
pid=$(server_pid "$marker")
sleep 1
perf record -q --call-graph dwarf,16384 -F 499 -p "$pid" -o /tmp/tokenbridge.perf.data -- sleep "$seconds" 2>/dev/null
perf report -i /tmp/tokenbridge.perf.data --no-children --percent-limit 1.5 --stdio 2>/dev/null | head -150
echo "(full data: perf report -i /tmp/tokenbridge.perf.data)"
