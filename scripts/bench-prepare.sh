#!/usr/bin/env bash
# Sourced by the benchmark scripts: check the tools they need, build the
# release binaries and start from an empty work directory (bench_prepare);
# time one command (bench_run) and print a rate (bench_rate).
#
#   bench_prepare NAME ROOT WORK [time]
#
# NAME prefixes the error messages, ROOT is the project, WORK the directory
# to empty and enter; "time" also requires GNU time. Every benchmark needs
# the sqlite3 shell.
bench_prepare() {
  local name=$1 root=$2 work=$3 need_time=${4:-}
  bench_name=$name
  if [ "$need_time" = time ] && [ ! -x /usr/bin/time ]; then
    echo "$name: GNU time is missing: apt-get install time" >&2
    exit 2
  fi
  command -v sqlite3 >/dev/null || { echo "$name: the sqlite3 shell is missing: apt-get install sqlite3" >&2; exit 2; }
  echo "building release binaries..." >&2
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  rm -rf "$work"
  mkdir -p "$work"
  cd "$work" || exit 2
}

# bench_run [--warn-ok] NAME CMD...: run CMD with its stdout in NAME.out and
# stderr in NAME.log, timed by GNU time; sets secs and rss_mb. A failure
# prints the log and exits; with --warn-ok exit 1 (done with warnings)
# counts as done.
# shellcheck disable=SC2034  # secs and rss_mb are for the sourcing script
bench_run() {
  local warn_ok=0
  if [ "$1" = --warn-ok ]; then
    warn_ok=1
    shift
  fi
  local name=$1 rc=0
  shift
  /usr/bin/time -f "%e %M" -o "$name.time" "$@" >"$name.out" 2>"$name.log" || rc=$?
  if [ "$rc" != 0 ] && ! { [ "$warn_ok" = 1 ] && [ "$rc" = 1 ]; }; then
    echo "$bench_name: $name failed:" >&2
    cat "$name.log" >&2
    exit 1
  fi
  read -r secs rss_kb <"$name.time"
  rss_mb=$((rss_kb / 1024))
}

# bench_rate N SECONDS: N per second, as an integer.
bench_rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.001; printf "%.0f", n / s }'; }
