#!/usr/bin/env bash
# Where the server's CPU goes: runs the benchmark's release server under load (complete
# sign-ins, scripts' token reads, or the page's session reads) and records it with perf (call graphs from DWARF)
# for a few seconds at concurrency 1, then prints the hottest call chains.
# Usage: scripts/profile.sh flows|reads|sessions [seconds]   (needs perf: apt-get install linux-perf)
# Build first (scripts/bench.sh does, or: cargo build --release -p tokenbridge -p tokenbridge-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-reads}"
seconds="${2:-5}"
case "$kind" in
  flows) marker="==> flows at concurrency 1"; export BENCH_FLOWS=100000 BENCH_READS=10 ;;
  reads) marker="==> token reads at concurrency 1"; export BENCH_FLOWS=50 BENCH_READS=1000000 ;;
  sessions) marker="==> session reads at concurrency 8"; export BENCH_FLOWS=50 BENCH_READS=200000 ;;
  *) echo "usage: $0 flows|reads|sessions [seconds]" >&2; exit 2 ;;
esac
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
export BENCH_RSS_FLOWS=0 BENCH_LOADS=0 BENCH_OUT=/tmp/tokenbridge-profile-results.json
log=$(mktemp)
target/release/tokenbridge-bench 2>"$log" >/dev/null &
bench=$!
pid=""
# The benchmark's server is its child: stopped with it, or it would run on.
# So is its browser (chromedriver and Chromium, with a profile named after the benchmark's pid).
trap 'pkill -P $bench 2>/dev/null; kill $bench ${pid:-} 2>/dev/null; pkill -f "tokenbridge-bench-chrome-$bench" 2>/dev/null; rm -f "$log"' EXIT
until grep -q "$marker" "$log"; do
  kill -0 $bench 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.2
done
pid=$(grep "$marker" "$log" | sed 's/.*server pid \([0-9]*\).*/\1/')
sleep 1
perf record -q --call-graph dwarf,16384 -F 499 -p "$pid" -o /tmp/tokenbridge.perf.data -- sleep "$seconds" 2>/dev/null
perf report -i /tmp/tokenbridge.perf.data --no-children --percent-limit 1.5 --stdio 2>/dev/null | head -150
echo "(full data: perf report -i /tmp/tokenbridge.perf.data)"
