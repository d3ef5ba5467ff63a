#!/usr/bin/env bash
# Throughput and memory of ingest and backfill, against plain SQL in the
# sqlite3 shell on the same store.
#
#   scripts/bench.sh [EVENTS_PER_DAY]        (default 1000000: 30M events)
#
# Environment: DAYS (30), SITES (shop,blog,saas), IDS=1 to give every event
# an id, WORKDIR (target/bench), KEEP=1 to keep the generated files,
# SKIP_SQL=1 to skip the sqlite3 comparison.
# Needs: a Rust toolchain, GNU time (/usr/bin/time), sqlite3 for the
# comparison. Prints one table; nothing is asserted.
set -euo pipefail

per_day=${1:-1000000}
days=${DAYS:-30}
sites=${SITES:-shop,blog,saas}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${WORKDIR:-$root/target/bench}
now=2026-11-22T06:00:00Z

# shellcheck source=/dev/null
. "$root/scripts/bench-prepare.sh"
secs=0 rss_mb=0 # what bench_run measured last
bench_prepare bench "$root" "$work" time
bin=$root/target/release

ids_flag=--no-ids
[ "${IDS:-0}" = 1 ] && ids_flag=

echo "generating $days days x $per_day events/day for $sites..." >&2
"$bin/generate-events" -q --now "$now" --days "$days" --events-per-day "$per_day" \
  --sites "$sites" $ids_flag --output events.ndjson


common=(--db bench.db --artifacts artifacts --now "$now" -q)
bench_run ingest "$bin/ingest" "${common[@]}" events.ndjson
ingest_secs=$secs ingest_rss=$rss_mb
events=$(sqlite3 bench.db "SELECT count(*) FROM events")
sqlite3 bench.db "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
# The key runs beside the file count with it.
keys_bytes=$(du -sb bench.db.keys 2>/dev/null | cut -f1)
db_bytes=$(($(stat -c %s bench.db) + ${keys_bytes:-0}))

# Warm the page cache so that both backfills read from memory.
cat bench.db >/dev/null
bench_run backfill "$bin/backfill" "${common[@]}" --days "$days"
backfill_secs=$secs backfill_rss=$rss_mb


sql_secs=
if [ "${SKIP_SQL:-0}" != 1 ]; then
  # The same rollup as plain SQL: GROUP BY with COUNT(DISTINCT) per site and
  # UTC day, and the three top-10 lists (top, below) with window functions.
  # top NAME KIND COLUMN: one top-10 list per site and UTC day, with a
  # window function, over the label in COLUMN of events of KIND.
  top() {
    cat <<SQL
CREATE TEMP TABLE $1 AS
SELECT * FROM (
  SELECT e.site_id, e.ts / 86400000 AS day, l.value AS item, count(*) AS n,
         row_number() OVER (PARTITION BY e.site_id, e.ts / 86400000
                            ORDER BY count(*) DESC, l.value) AS rn
  FROM events e JOIN labels l ON l.id = e.$3
  WHERE e.kind = $2 GROUP BY e.site_id, day, e.$3) WHERE rn <= 10;
SQL
  }
  {
    cat <<'SQL'
CREATE TEMP TABLE r AS
SELECT site_id, ts / 86400000 AS day,
       sum(kind = 0) AS pageviews, sum(kind = 1) AS custom_events, sum(kind = 2) AS orders,
       sum(CASE WHEN kind = 2 THEN coalesce(revenue_cents, 0) ELSE 0 END) AS revenue_cents,
       count(DISTINCT visitor_id) AS unique_visitors,
       count(DISTINCT session_id) AS unique_sessions,
       count(DISTINCT CASE WHEN kind = 2 THEN session_id END) AS converting_sessions
FROM events GROUP BY site_id, day;
SQL
    top top_pages 0 label_id
    top top_referrers 0 referrer_id
    top top_events 1 label_id
    cat <<'SQL'
-- Rows where plain SQL and cronlytics disagree (expected: 0).
SELECT count(*) FROM r JOIN daily_rollups d
  ON d.site_id = r.site_id AND d.date = date(r.day * 86400, 'unixepoch')
WHERE d.pageviews != r.pageviews OR d.custom_events != r.custom_events
   OR d.orders != r.orders OR d.revenue_cents != r.revenue_cents
   OR d.unique_visitors != r.unique_visitors OR d.unique_sessions != r.unique_sessions
   OR d.converting_sessions != r.converting_sessions;
SQL
  } >rollup.sql
  bench_run sqlite3 sqlite3 -cmd "PRAGMA cache_size = -262144" bench.db ".read rollup.sql"
  sql_secs=$secs sql_rss=$rss_mb
  mismatches=$(tail -n 1 sqlite3.out)
fi

echo
echo "cronlytics benchmark: $events events ($days days x $per_day/day, sites $sites, ids: ${IDS:-0}), $(nproc) cores"
printf '%-34s %10s %14s %12s\n' "step" "seconds" "events/s" "peak RSS MB"
printf '%-34s %10s %14s %12s\n' "ingest (NDJSON file)" "$ingest_secs" "$(bench_rate "$events" "$ingest_secs")" "$ingest_rss"
printf '%-34s %10s %14s %12s\n' "backfill $days days" "$backfill_secs" "$(bench_rate "$events" "$backfill_secs")" "$backfill_rss"
if [ -n "$sql_secs" ]; then
  printf '%-34s %10s %14s %12s\n' "sqlite3 shell, plain SQL rollup" "$sql_secs" "$(bench_rate "$events" "$sql_secs")" "$sql_rss"
  awk -v a="$sql_secs" -v b="$backfill_secs" 'BEGIN { if (b <= 0) b = 0.001; printf "backfill is %.1fx the sqlite3 shell\n", a / b }'
  echo "rollup rows where plain SQL and cronlytics disagree: ${mismatches:-?}"
fi
awk -v b="$db_bytes" -v n="$events" 'BEGIN { printf "store after ingest: %.1f MB, %.1f bytes per stored event (indexes and key runs included)\n", b / 1048576, b / n }'
# In production cleanup-sessions runs every 10 minutes: close every
# session (a "now" after the data), as it would have, and count the pages
# in use (plus the key runs).
"$bin/cleanup-sessions" --db bench.db --artifacts artifacts -q --now 2030-01-01T00:00:00Z
used=$(sqlite3 bench.db "SELECT (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM pragma_freelist_count)")
page=$(sqlite3 bench.db "PRAGMA page_size")
awk -v p="$used" -v s="$page" -v k="${keys_bytes:-0}" -v n="$events" 'BEGIN { b = p * s + k; printf "store with sessions closed (steady state): %.1f MB in use, %.1f bytes per stored event\n", b / 1048576, b / n }'
[ "${KEEP:-0}" = 1 ] || rm -f events.ndjson
