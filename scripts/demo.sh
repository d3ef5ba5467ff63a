#!/usr/bin/env bash
# The demo: the real jobs, in the order cron runs them, on a fresh embedded
# store filled with generated events. Run from anywhere:
#
#   bash scripts/demo.sh
#
# Environment: DEMO_DIR (target/demo), NOW (the real clock), TZ_NAME (UTC).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${DEMO_DIR:-$root/target/demo}
now=${NOW:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
zone=${TZ_NAME:-UTC}

echo "== building cronlytics (release)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin=$root/target/release

rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
export CRONLYTICS_DB=$dir/analytics.db
export CRONLYTICS_ARTIFACTS=$dir/artifacts
export CRONLYTICS_NOW=$now
export CRONLYTICS_TZ=$zone
export CRONLYTICS_TEXTFILE_DIR=$dir/textfile

# An incident: the shop's checkout breaks 10 days before yesterday.
incident_day=$(date -u -d "${now%%T*} -11 days" +%Y-%m-%d)

declare -A codes
step() {
  local name=$1
  shift
  echo
  echo "== $name"
  set +e
  "$@"
  local code=$?
  set -e
  codes[$name]=$code
  echo "-- exit code $code"
}

step generate-events "$bin/generate-events" --days 90 --events-per-day 20000 \
  --incident "$incident_day:checkout-break@shop" --late-fraction 0.001 --output events.ndjson
step ingest "$bin/ingest" events.ndjson
step backfill "$bin/backfill" --days 90
step aggregate "$bin/aggregate"
step export-metrics "$bin/export-metrics" --days 7 --output-dir exports
step export-json sh -c "'$bin/export-metrics' -q --days 7 --format json > exports/last-week.json"

echo
echo "== tour"
echo "store:      $CRONLYTICS_DB ($(du -h "$CRONLYTICS_DB" | cut -f1))"
echo "exports:    $(ls exports | tr '\n' ' ')"
echo "metrics:    $(ls textfile | tr '\n' ' ')"
echo
echo "revenue per site over the last 7 days (export-metrics --format json | jq):"
jq -r 'group_by(.site)[] | "  \(.[0].site): \(map(.revenue_cents) | add / 100) in \(length) days, \(map(.unique_sessions) | add) sessions"' exports/last-week.json
echo
echo "the incident day $incident_day for the shop (orders should be 0):"
"$bin/export-metrics" -q --start "$incident_day" --end "$incident_day" --site shop | sed 's/^/  /'
echo
echo "job-run log:"
sqlite3 -column -header "$CRONLYTICS_DB" \
  "SELECT job, status, exit_code, records, attempts, message FROM job_runs ORDER BY id" | sed 's/^/  /'
echo
for name in "${!codes[@]}"; do
  if [ "${codes[$name]}" -ge 2 ]; then
    echo "demo: $name exited ${codes[$name]}" >&2
    exit 1
  fi
done
echo "demo finished: artifacts under $dir"
