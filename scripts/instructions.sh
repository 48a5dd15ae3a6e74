#!/usr/bin/env bash
# User-space instructions per operation, counted by callgrind: repeatable within a few per
# cent whatever else the machine does (CPU time per operation moves ±25 % with its load), so
# it tells whether a change to the code made a flow or a token read cheaper. The kernel's
# share (TCP over loopback, wake-ups, page writes) is not counted: the benchmark's CPU is.
# Runs the benchmark's release server under valgrind and counts the flows at concurrency 1
# (login, callback with exchange and save, session read) and the token reads at concurrency 1,
# the request threads' instructions apart from the SQLite checkpoint thread's.
# Usage: scripts/instructions.sh [path to a tokenbridge binary]   (default target/release/tokenbridge)
# Knobs: FLOWS (150), READS (3000), KEEP=1 keeps the callgrind files (one per thread) for callgrind_annotate. Build first: cargo build --release -p tokenbridge -p tokenbridge-bench
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "${1:-target/release/tokenbridge}")
flows="${FLOWS:-150}"
reads="${READS:-3000}"
command -v callgrind_control >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
. scripts/bench-driver.sh
pid=""
trap 'kill ${pid:-} 2>/dev/null || true; stop_bench' EXIT
cat > "$bench_work/server" <<EOS
#!/bin/sh
exec valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes --callgrind-out-file=$bench_work/out "$binary" "\$@"
EOS
chmod +x "$bench_work/server"
# The server under valgrind is the benchmark's child.
start_bench "$bench_work/server" "$flows" "$reads"
count() { # marker to start at, marker to stop at, name of the dump
  wait_for "$1"
  pid=$(server_pid "$1")
  callgrind_control -i on "$pid" >/dev/null 2>&1
  callgrind_control -z "$pid" >/dev/null 2>&1
  wait_for "$2"
  callgrind_control -d "$3" "$pid" >/dev/null 2>&1
  callgrind_control -i off "$pid" >/dev/null 2>&1
}
count "==> flows at concurrency 1" "==> flows at concurrency 8" flows
count "==> token reads at concurrency 1" "==> token reads at concurrency 8" reads
pkill -P "$bench" 2>/dev/null || true
kill "$bench" "$pid" 2>/dev/null || true
wait "$bench" 2>/dev/null || true
# callgrind writes its last dump as the server exits.
while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
# One file per thread and dump (--separate-threads). The SQLite checkpoint thread's share is
# counted apart: whether a checkpoint lands inside the counted window or just outside it moved
# single runs by ±6 %, where the request threads' count repeats within about 2 %.
declare -A work checkpoints
for dump in "$bench_work"/out.*; do
  name=$(grep -m1 "^desc: Trigger" "$dump" | sed 's/.*dump //')
  total=$(grep -m1 "^summary:" "$dump" | awk '{print $2}')
  [ -n "$name" ] && [ -n "$total" ] || continue
  # The checkpoint thread's own frames sit below the point where counting starts; it is the
  # thread that copies the log (walCheckpoint) and never runs the runtime's tasks.
  if grep -q "walCheckpoint" "$dump" && ! grep -q "tokio::runtime" "$dump"; then
    checkpoints[$name]=$(( ${checkpoints[$name]:-0} + total ))
  else
    work[$name]=$(( ${work[$name]:-0} + total ))
  fi
  if [ -n "${KEEP:-}" ]; then
    kept="callgrind.$name.$(basename "$dump" | sed 's/^out\.//').out"
    cp "$dump" "$kept"
    echo "  kept $kept (callgrind_annotate --inclusive=yes $kept)"
  fi
done
for name in flows reads; do
  case "$name" in
    flows) count=$flows what="flow" ;;
    reads) count=$reads what="token read" ;;
  esac
  echo "user-space instructions per $what: $(( ${work[$name]:-0} / count )) ($count at concurrency 1), and $(( ${checkpoints[$name]:-0} / count )) on the checkpoint thread"
done
