#!/usr/bin/env bash
# How long report takes: a 90-day page (the month's) and a daily page with
# 90 days of charts, over 10 sites with 92 days of rollups, proofs and a
# snapshot.
#
#   scripts/bench-report.sh [EVENTS_PER_DAY]     (default 20000, all sites)
#
# Environment: WORKDIR (target/bench-report). Needs a Rust toolchain, GNU
# time and sqlite3. Prints one table; nothing is asserted.
set -euo pipefail

per_day=${1:-20000}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${WORKDIR:-$root/target/bench-report}
now=2026-11-22T06:00:00Z
sites=s01,s02,s03,s04,s05,s06,s07,s08,s09,s10

# shellcheck source=/dev/null
. "$root/scripts/bench-prepare.sh"
secs=0 rss_mb=0 # what bench_run measured last
bench_prepare bench-report "$root" "$work" time
bin=$root/target/release
c=(--db bench.db --artifacts artifacts --now "$now" -q)

echo "preparing 92 days of $sites ($per_day events/day)..." >&2
"$bin/generate-events" "${c[@]}" --days 92 --events-per-day "$per_day" --sites "$sites" --no-ids --output events.ndjson
"$bin/ingest" "${c[@]}" events.ndjson
"$bin/backfill" "${c[@]}" --days 92
"$bin/sampling-guard" "${c[@]}" --start 2026-08-23 --end 2026-11-21 >/dev/null || true
"$bin/snapshot" "${c[@]}"


echo
echo "cronlytics report benchmark: 10 sites, 92 days of rollups ($(sqlite3 bench.db 'SELECT count(*) FROM events') events), $(nproc) cores"
printf '%-52s %8s %12s %10s\n' "page" "seconds" "peak RSS MB" "size KB"
for spec in "day:--days 90" "week:--period week --days 90" "month:--period month"; do
  name=${spec%%:*}
  # shellcheck disable=SC2086
  bench_run --warn-ok "$name" "$bin/report" "${c[@]}" ${spec#*:}
  size=$(($(stat -c %s artifacts/reports/latest.html) / 1024))
  printf '%-52s %8s %12s %10s\n' "report ${spec#*:} (11 scopes, 90 days)" "$secs" "$rss_mb" "$size"
done
rm -f events.ndjson
