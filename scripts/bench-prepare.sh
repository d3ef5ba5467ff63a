#!/usr/bin/env bash
# Sourced by the benchmark scripts (bench.sh, bench-maintenance.sh,
# bench-health.sh): check the tools they need, build the release binaries
# and start from an empty work directory.
#
#   bench_prepare NAME ROOT WORK [time]
#
# NAME prefixes the error messages, ROOT is the project, WORK the directory
# to empty and enter; "time" also requires GNU time. Every benchmark needs
# the sqlite3 shell.
bench_prepare() {
  local name=$1 root=$2 work=$3 need_time=${4:-}
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
