#!/usr/bin/env bash
# User-space instructions per operation, counted by callgrind: repeatable within about a per
# cent whatever else the machine does (CPU time per operation moves ±25 % with its load), so
# it tells whether a change to the code made a flow or a token read cheaper. The kernel's
# share (TCP over loopback, wake-ups, page writes) is not counted: the benchmark's CPU is.
# Runs the benchmark's release server under valgrind and counts the flows at concurrency 1
# (login, callback with exchange and save, session read) and the token reads at concurrency 1,
# the request threads' instructions apart from the SQLite checkpoint thread's, the page's session
# reads at concurrency 8, and from those a sign-in's (a flow less a session read), and a
# person's Refresh clicks at concurrency 1. Counting starts
# while the server is idle, in the pause the benchmark makes after each warm-up, so every
# flow and read of the level is counted and nothing else. Under valgrind the program sees no
# SHA extensions (CPUID), so sha2 hashes in software, which it does not do on a CPU that has
# them: each count says how many of its instructions are that software SHA-256.
# Usage: scripts/instructions.sh [path to a tokenbridge binary]   (default target/pgo/tokenbridge, the
# build scripts/run.sh runs; target/release/tokenbridge is the same code without profile-guided optimisation)
# Knobs: FLOWS (150), READS (3000), REFRESHES (Refresh clicks, 300), FLOOR=1 counts the floor's flows and reads as well
# (target/release/tokenbridge-floor, under valgrind too: its three times as many flows a level
# make the run a minute longer), KEEP=1 keeps the callgrind files (one per thread) for
# callgrind_annotate. Build first: scripts/pgo.sh and cargo build --release -p tokenbridge-bench
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "${1:-target/pgo/tokenbridge}")
flows="${FLOWS:-150}"
reads="${READS:-3000}"
export BENCH_REFRESHES="${REFRESHES:-300}"
command -v callgrind_control >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
. scripts/bench-driver.sh
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; stop_bench' EXIT
# A server under valgrind, as the benchmark's child: its wrapper's path, for the binary given.
under_valgrind() { # name, binary
  cat > "$bench_work/$1" <<EOS
#!/bin/sh
exec valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes --callgrind-out-file=$bench_work/$1.out "$2" "\$@"
EOS
  chmod +x "$bench_work/$1"
  echo "$bench_work/$1"
}
server=$(under_valgrind server "$binary")
if [ -n "${FLOOR:-}" ]; then
  export BENCH_FLOOR_BIN
  BENCH_FLOOR_BIN=$(under_valgrind floor "$(realpath target/release/tokenbridge-floor)")
fi
# Long enough for callgrind_control to reach an idle server (valgrind takes its commands when
# a thread next runs: the checkpoint thread wakes every half second).
export BENCH_PAUSE_MS=3000
start_bench "$server" "$flows" "$reads"
begin() { # the line after which the server is idle (naming its pid), the line that must not come before counting starts
  wait_for "$1"
  local pid
  pid=$(server_pid "$1")
  [[ " ${pids[*]} " == *" $pid "* ]] || pids+=("$pid")
  callgrind_control -i on "$pid" >/dev/null 2>&1
  callgrind_control -z "$pid" >/dev/null 2>&1
  if grep -q "$2" "$bench_log"; then
    echo "the operations began before counting started; try again" >&2
    exit 1
  fi
}
end() { # the line to stop at, the line that names the server's pid, name of the dump
  wait_for "$1"
  local pid
  pid=$(server_pid "$2")
  callgrind_control -d "$3" "$pid" >/dev/null 2>&1
  # The dump is what counts. After the last one the benchmark may finish and stop the server
  # while this waits for an answer it will never get (on a machine where the store alone ran
  # in 0.3 s, it waited forever), so it is given a few seconds, not more.
  timeout 5 callgrind_control -i off "$pid" >/dev/null 2>&1 || true
}
# tokenbridge's flows at 1 run between its warm-up and the floor's flows at 1, the floor's
# between those and tokenbridge's at 8; the floor is idle while tokenbridge's reads run.
begin "==> warmed up" "==> flows at concurrency 1 "
[ -n "${FLOOR:-}" ] && begin "==> the floor warmed up" "==> the floor: flows at concurrency 1 "
end "==> the floor: flows at concurrency 1 " "==> warmed up" flows
[ -n "${FLOOR:-}" ] && end "==> flows at concurrency 8 " "==> the floor warmed up" floor-flows
begin "==> token reads warmed up" "==> token reads at concurrency 1 "
[ -n "${FLOOR:-}" ] && begin "==> the floor warmed up" "==> the floor: token reads at concurrency 1 "
end "==> the floor: token reads at concurrency 1 " "==> warmed up" reads
[ -n "${FLOOR:-}" ] && end "==> token reads at concurrency 8 " "==> the floor warmed up" floor-reads
# The page's session read alone (at concurrency 8, as the benchmark reads it), so that a
# sign-in's count (login and callback) is a flow's less it, as the benchmark's CPU is.
begin "==> session reads warmed up" "==> session reads counted"
end "==> refreshes at concurrency 1" "==> warmed up" sessions
# A person's Refresh click, at concurrency 1: a path none of the budgets' requests takes.
begin "==> refreshes warmed up" "==> refreshes counted"
end "==> the store alone" "==> warmed up" refreshes
pkill -P "$bench" 2>/dev/null || true
kill "$bench" "${pids[@]}" 2>/dev/null || true
wait "$bench" 2>/dev/null || true
# callgrind writes its last dump as each server exits. A server whose benchmark stopped
# first is left to the machine's first process, which may never reap it: a zombie has exited.
for pid in "${pids[@]}"; do
  while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" | cut -c1)" != Z ]; do sleep 0.1; done
done
# One file per thread and dump (--separate-threads). The SQLite checkpoint thread's share is
# counted apart: whether a checkpoint lands inside the counted window or just outside it moved
# single runs by ±6 %, where the request threads' count repeats within about half a per cent.
declare -A work checkpoints sha
for dump in "$bench_work"/server.out.* "$bench_work"/floor.out.*; do
  [ -f "$dump" ] || continue
  name=$(grep -m1 "^desc: Trigger" "$dump" | sed 's/.*dump //')
  total=$(grep -m1 "^summary:" "$dump" | awk '{print $2}')
  [ -n "$name" ] && [ -n "$total" ] || continue
  # The checkpoint thread's own frames sit below the point where counting starts; it is the
  # thread that copies the log (walCheckpoint) and never runs the runtime's tasks.
  if grep -q "walCheckpoint" "$dump" && ! grep -q "tokio::runtime" "$dump"; then
    checkpoints[$name]=$(( ${checkpoints[$name]:-0} + total ))
  else
    work[$name]=$(( ${work[$name]:-0} + total ))
    # valgrind hides the CPU's SHA extensions from the program (CPUID says none), so sha2 runs
    # SHA-256 in software here: its instructions are counted apart (see the note printed below).
    sha[$name]=$(( ${sha[$name]:-0} + $(callgrind_annotate "$dump" 2>/dev/null | awk '/sha2::sha256::compress/ { gsub(",", "", $1); s += $1 } END { print s + 0 }') ))
  fi
  if [ -n "${KEEP:-}" ]; then
    kept="callgrind.$name.$(basename "$dump" | sed 's/^[a-z]*\.out\.//').out"
    cp "$dump" "$kept"
    echo "  kept $kept (callgrind_annotate --inclusive=yes $kept)"
  fi
done
# The floor runs more flows a level than tokenbridge; its line says how many.
floor_flows=$(grep "==> the floor: flows at concurrency 1 " "$bench_log" | sed 's/.*(\([0-9]*\) flows.*/\1/')
for name in flows reads sessions refreshes; do
  case "$name" in
    flows) count=$flows what="flow" floor_count=$floor_flows level=1 ;;
    reads) count=$reads what="token read" floor_count=$reads level=1 ;;
    sessions) count=$reads what="session read" floor_count="" level=8 ;;
    refreshes) count=$BENCH_REFRESHES what="Refresh click" floor_count="" level=1 ;;
  esac
  echo "user-space instructions per $what: $(( ${work[$name]:-0} / count )) ($count at concurrency $level), and $(( ${checkpoints[$name]:-0} / count )) on the checkpoint thread"
  [ "${sha[$name]:-0}" -gt 0 ] && echo "  of them SHA-256 in software: $(( ${sha[$name]} / count ))"
  if [ -n "${FLOOR:-}" ] && [ -n "$floor_count" ]; then
    floor=$(( ${work[floor-$name]:-0} / floor_count ))
    echo "  the floor's: $floor ($floor_count at concurrency 1); tokenbridge's above it: $(( ${work[$name]:-0} / count - floor ))"
  fi
done
echo "user-space instructions per sign-in (login and callback: a flow less a session read): $(( ${work[flows]:-0} / flows - ${work[sessions]:-0} / reads ))"
echo "  of them SHA-256 in software: $(( ${sha[flows]:-0} / flows - ${sha[sessions]:-0} / reads ))"
if grep -qw sha_ni /proc/cpuinfo; then
  echo "(SHA-256 in software: valgrind hides this CPU's SHA extensions, which sha2 uses outside it, so those instructions are not what the server runs; compare builds by the counts with them or without them, not one of each)"
fi
# Found by the name of sha2's own round function: the build with profile-guided optimisation
# (target/pgo) inlines some or all of those rounds into their callers, where they go uncounted.
echo "(SHA-256's share is whole in the plain release build only: the optimised one inlines its rounds, partly or wholly)"
