#!/usr/bin/env bash
# The operations files, checked by the programs that will read them:
#
# - every script in scripts/ and .ci/run passes shellcheck;
# - crontab.example and cron.d/cronlytics (without its user field) pass
#   `crontab -n`, the dry run of Debian's cron;
# - logrotate/cronlytics passes `logrotate -d` with a scratch state file and
#   prints no "error:" line (its exit code is 0 on some errors);
# - the timers in systemd/ and the services they start pass
#   `systemd-analyze verify`, ExecStart pointed at BIN_DIR; skipped with a
#   message where systemd is not installed.
#
#   scripts/check-ops.sh [BIN_DIR]      (default: target/release, as built by the demo)
#
# Needs shellcheck, cron and logrotate (apt-get install shellcheck cron
# logrotate). Exit code: 0 all passed, 1 a check failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=$(realpath -m -- "${1:-$root/target/release}")
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failed=0
fail() {
  echo "check-ops: $*" >&2
  failed=1
}
need() {
  command -v "$1" >/dev/null || { echo "check-ops: $1 is missing: apt-get install $2" >&2; exit 1; }
}
need shellcheck shellcheck
need crontab cron
need logrotate logrotate

echo "-- shellcheck scripts/*.sh .ci/run"
shellcheck scripts/*.sh .ci/run || fail "shellcheck found problems"

# Debian's crontab (vixie cron) has -n, a dry run; cronie's -n sets a cluster
# host instead, so make sure of which one this is.
echo "-- crontab -n crontab.example cron.d/cronlytics"
usage=$(crontab -h 2>&1 || true)
if [[ $usage != *"dry run"* ]]; then
  fail "this crontab has no dry run (-n): install Debian's cron package to check the crontab files"
else
  # A cron.d line has a user after the five time fields; a user crontab
  # has not. Dropping it leaves what crontab -n checks.
  sed -E '/^[[:space:]]*(#|$|[A-Za-z_][A-Za-z0-9_]*[[:space:]]*=)/!s/^(([^[:space:]]+[[:space:]]+){5})[^[:space:]]+[[:space:]]+/\1/' \
    cron.d/cronlytics >"$tmp/cron.d-as-crontab"
  for file in crontab.example "$tmp/cron.d-as-crontab"; do
    crontab -n "$file" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; fail "crontab -n rejects $file"; }
  done
fi

echo "-- logrotate -d logrotate/cronlytics"
conf=$tmp/logrotate.conf
if getent passwd cronlytics >/dev/null && getent group cronlytics >/dev/null; then
  cp logrotate/cronlytics "$conf"
else
  # logrotate rejects a su/create naming a user it cannot find.
  echo "   (no user cronlytics on this machine: checked with $(id -un):$(id -gn) in its place)"
  sed "s/ cronlytics cronlytics/ $(id -un) $(id -gn)/" logrotate/cronlytics >"$conf"
fi
chmod 0644 "$conf"
if ! logrotate -d -s "$tmp/logrotate.state" "$conf" >"$tmp/out" 2>&1 || grep -q 'error:' "$tmp/out"; then
  cat "$tmp/out" >&2
  fail "logrotate -d reports errors in logrotate/cronlytics"
fi

echo "-- systemd-analyze verify systemd/"
if ! command -v systemd-analyze >/dev/null; then
  echo "   skipped: systemd-analyze is not installed here (apt-get install systemd)"
elif [ ! -x "$bin_dir/aggregate" ]; then
  fail "no built jobs in $bin_dir for the services' ExecStart: run 'cargo build --release' or give BIN_DIR"
else
  cp -r systemd "$tmp/units"
  sed -i "s|/opt/cronlytics/target/release|$bin_dir|g" "$tmp/units/cronlytics@.service"
  # verify checks ExecStart only of the units it is given, not of a
  # timer's Unit=: name the instances too. Unknown keys are warnings with
  # exit code 0: any output fails.
  if ! (
    cd "$tmp/units"
    mapfile -t services < <(sed -n 's/^Unit=//p' ./*.timer | sort -u)
    systemd-analyze verify ./*.timer "${services[@]/#/./}"
  ) >"$tmp/out" 2>&1 || [ -s "$tmp/out" ]; then
    cat "$tmp/out" >&2
    fail "systemd-analyze verify complains about systemd/"
  fi
fi

[ "$failed" = 0 ] && echo "check-ops: all passed"
exit "$failed"
