#!/usr/bin/env bash
# Access-log ingest: lines per second end to end (read, parse, classify,
# sessionize, store) and peak memory, with GoAccess on the same file in the
# same run.
#
#   scripts/bench-logs.sh [LINES]        (default 10000000)
#
# Generates a combined log of about LINES lines (one site, 30 days, with
# bots, assets, errors and redirects, as generate-events --format access-log
# writes them), then times `ingest --site shop` on it into a fresh store,
# and `goaccess` (when installed) parsing the same file into a JSON report.
# Environment: WORKDIR (target/bench-logs), KEEP=1 to keep the files.
# Needs: GNU time, sqlite3; goaccess for the comparison. Prints figures;
# nothing is asserted.
set -euo pipefail

lines=${1:-10000000}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${WORKDIR:-$root/target/bench-logs}
now=2026-11-22T06:00:00Z

# shellcheck source=/dev/null
. "$root/scripts/bench-prepare.sh"
secs=0 rss_mb=0 # what bench_run measured last
bench_prepare bench-logs "$root" "$work" time
bin=$root/target/release

# About 2.6 log lines per generated event (assets, bots, noise).
per_day=$((lines * 10 / 26 / 30))
echo "generating a log of about $lines lines (30 days, $per_day events a day)..." >&2
"$bin/generate-events" -q --now "$now" --days 30 --events-per-day "$per_day" \
  --sites shop --format access-log --output access.log
n=$(wc -l <access.log)
mb=$(($(stat -c %s access.log) / 1000000))
cat access.log >/dev/null   # in the page cache, for both tools


bench_run ingest "$bin/ingest" --db bench.db --artifacts artifacts --now "$now" --site shop access.log
ingest_secs=$secs ingest_rss=$rss_mb
events=$(sqlite3 bench.db "SELECT count(*) FROM events")
summary=$(grep -o 'read access.log.*' ingest.log || true)

printf '\naccess log: %s lines, %s MB, one site, 30 days\n' "$n" "$mb"
printf '%-34s %9s %12s %10s\n' step seconds lines/s "peak RSS"
printf '%-34s %9s %12s %7s MB\n' "ingest ($events pageviews stored)" "$ingest_secs" "$(bench_rate "$n" "$ingest_secs")" "$ingest_rss"
if command -v goaccess >/dev/null; then
  bench_run goaccess goaccess access.log --log-format=COMBINED --no-progress -o report.json
  printf '%-34s %9s %12s %7s MB\n' "goaccess (JSON report)" "$secs" "$(bench_rate "$n" "$secs")" "$rss_mb"
  awk -v a="$secs" -v b="$ingest_secs" 'BEGIN { if (b <= 0) b = 0.001; printf "ingest is %.1fx GoAccess on the same file\n", a / b }'
else
  echo "goaccess is not installed (apt-get install goaccess): no comparison"
fi
echo "ingest: $summary"
[ "${KEEP:-0}" = 1 ] || rm -f access.log
