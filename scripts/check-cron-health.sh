#!/bin/sh
# A thin wrapper around health-check for a cron line or a monitoring host
# (Nagios/Icinga command, Sensu check, Zabbix UserParameter). It finds the
# binary, passes every argument through and exits with its exit code:
# 0 ok, 1 warning, 2 critical.
#
#   scripts/check-cron-health.sh -q --format nagios --db /var/lib/cronlytics/analytics.db
#
# The binary is target/release/health-check of this checkout when built,
# else health-check on PATH, else $CRONLYTICS_HEALTH_CHECK when set.
set -u

here=$(cd "$(dirname "$0")" && pwd)
bin=${CRONLYTICS_HEALTH_CHECK:-}
if [ -z "$bin" ]; then
  if [ -x "$here/../target/release/health-check" ]; then
    bin=$here/../target/release/health-check
  elif command -v health-check >/dev/null 2>&1; then
    bin=$(command -v health-check)
  else
    echo "check-cron-health: no health-check binary: run 'cargo build --release' in $here/.. or put health-check on PATH" >&2
    exit 2
  fi
fi
exec "$bin" "$@"
