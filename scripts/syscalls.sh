#!/usr/bin/env bash
# System calls per flow, counted by strace: the kernel's side of a sign-in (SQLite's page
# writes, page reads and file locks, the loopback's sends and receives), which
# scripts/instructions.sh, counting user space only, does not see. The counts repeat from run
# to run where CPU time does not, so two builds compare by them.
# Runs the benchmark's release server, attaches `strace -c` across its flows at one concurrency
# (login, callback with exchange and save, session read; the server is idle just before and
# after them), and prints each call per flow.
# Usage: scripts/syscalls.sh [path to a tokenbridge binary]   (default target/pgo/tokenbridge, the build
# scripts/run.sh runs)
# Knobs: FLOWS (1000), LEVEL (the concurrency: 1, 8 or 64; 8), FILES=1 (instead of the count of
# every call: SQLite's reads and writes by file — frames and pages written to the write-ahead
# log, pages the checkpoints copy into the database file, pages read — from each call's file and size).
# Build first: scripts/pgo.sh and cargo build --release -p tokenbridge-bench
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "${1:-target/pgo/tokenbridge}")
flows="${FLOWS:-1000}"
level="${LEVEL:-8}"
# The benchmark runs tokenbridge's flows at 1, 8 and 64, each followed by the floor's at the
# same level; the server is idle after the warm-up (the benchmark pauses there when asked)
# and while the floor runs.
case "$level" in
  1) idle="==> warmed up"; export BENCH_PAUSE_MS=1000 ;; # the line names tokenbridge's pid
  8) idle="==> the floor: flows at concurrency 1" ;;
  64) idle="==> the floor: flows at concurrency 8" ;;
  *) echo "LEVEL is 1, 8 or 64, not $level" >&2; exit 1 ;;
esac
command -v strace >/dev/null || { echo "strace is not installed (apt-get install strace)" >&2; exit 1; }
. scripts/bench-driver.sh
tracer=""
trap 'kill ${tracer:-} 2>/dev/null || true; stop_bench' EXIT
start_bench "$binary" "$flows" 10
# Attached while the server is idle, so that every one of its flows at the level is counted;
# detached when the floor's begin.
wait_for "$idle"
pid=$(server_pid "==> warmed up")
# -f / -ff: every thread of the server (the runtime's workers, the checkpoint thread, sqlx's).
if [ -n "${FILES:-}" ]; then
  # -y names each call's file; only SQLite's reads and writes are traced; -ff writes each
  # thread's calls to a file of its own, so that no call is split across two lines.
  strace -ff -y -e trace=pwrite64,pread64 -p "$pid" -o "$bench_work/calls" 2>"$bench_work/strace.err" &
else
  strace -f -c -p "$pid" -o "$bench_work/counts" 2>"$bench_work/strace.err" &
fi
tracer=$!
until grep -q "attached" "$bench_work/strace.err" 2>/dev/null; do
  kill -0 "$tracer" 2>/dev/null || { echo "strace could not attach to the server:" >&2; cat "$bench_work/strace.err" >&2; exit 1; }
  sleep 0.01
done
if grep -q "==> flows at concurrency $level " "$bench_log"; then
  echo "the flows at concurrency $level began before strace was attached; try again" >&2
  exit 1
fi
wait_for "==> the floor: flows at concurrency $level "
kill -INT "$tracer"
wait "$tracer" 2>/dev/null || true
tracer=""
if [ -n "${FILES:-}" ]; then
  echo "SQLite's page reads and writes per flow, $flows flows at concurrency $level ($binary):"
  # A line (one file per thread): pwrite64(5</path/tokenbridge.db-wal>, "..."..., 4096, 123) = 4096
  # SQLite writes a log frame as its 24-byte header, then its page.
  awk -v flows="$flows" '
    /pwrite64\(|pread64\(/ {
      call = ($0 ~ /pwrite64\(/) ? "pwrite" : "pread"
      file = $0; sub(/^[^<]*</, "", file); sub(/>.*/, "", file)
      kind = file ~ /-wal$/ ? "log" : file ~ /-shm$/ ? "log index" : file ~ /\.db$/ ? "database" : "other"
      size = $0; sub(/, [0-9]+\) *= *-?[0-9]+.*$/, "", size); sub(/.*, /, "", size)
      if (call == "pwrite" && kind == "log" && size == 24) frames++
      key = call " " kind
      n[key]++
    }
    END {
      printf "  %-40s %8.2f\n", "frames written to the log", frames / flows
      for (key in n) printf "  %-40s %8.2f\n", key " (calls)", n[key] / flows
    }' "$bench_work"/calls.*
  exit 0
fi
echo "system calls per flow, $flows flows at concurrency $level ($binary):"
# strace -c's table: % time, seconds, usecs/call, calls, [errors,] syscall.
awk -v flows="$flows" '$1 ~ /^[0-9.]+$/ && NF >= 5 {
    name = $NF; calls = $4
    if (name == "total") { total = calls; next }
    printf "  %-16s %8.2f\n", name, calls / flows
  }
  END { if (total) printf "  %-16s %8.2f\n", "all", total / flows }' "$bench_work/counts"
