# The benchmark as the load for the measuring scripts (instructions.sh, syscalls.sh,
# profile.sh): sourced by them, not run. start_bench runs target/release/tokenbridge-bench in
# the background against a server binary, with no page and no browser; wait_for waits for a
# line of its log; server_pid reads the pid such a line names; stop_bench stops the benchmark
# and its server (its child, which would otherwise run on) and removes the work folder.
# Scripts keep their own files in $bench_work.

bench_work=$(mktemp -d)
bench_log="$bench_work/log"
bench=""

start_bench() { # server binary, flows per level, token reads per level
  mkdir -p "$bench_work/dist" && echo '<html></html>' > "$bench_work/dist/index.html"
  # TMPDIR: the servers' data folders go into the work folder, removed with it (the benchmark,
  # stopped by a signal, cannot remove them itself).
  TMPDIR="$bench_work" TOKENBRIDGE_BIN="$1" BENCH_DIST="$bench_work/dist" BENCH_REFERENCE_DIST="$bench_work/dist" \
    BENCH_LOADS=0 BENCH_RSS_FLOWS=0 BENCH_FLOWS="$2" BENCH_READS="$3" \
    BENCH_OUT="$bench_work/results.json" \
    target/release/tokenbridge-bench >"$bench_log" 2>&1 &
  bench=$!
}

wait_for() { # a line of the benchmark's log, e.g. "==> flows at concurrency 8"
  until grep -q "$1" "$bench_log" 2>/dev/null; do
    kill -0 "$bench" 2>/dev/null || { cat "$bench_log" >&2; exit 1; }
    sleep 0.01
  done
}

server_pid() { # the line that names it, e.g. "==> flows at concurrency 1"
  grep "$1" "$bench_log" | sed 's/.*server pid \([0-9]*\).*/\1/'
}

stop_bench() {
  if [ -n "$bench" ]; then
    pkill -P "$bench" 2>/dev/null || true
    kill "$bench" 2>/dev/null || true
  fi
  rm -rf "$bench_work"
}
