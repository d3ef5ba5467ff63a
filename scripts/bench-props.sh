#!/usr/bin/env bash
# What properties, breakdowns and goals cost: bench.sh's data ingested
# without props and with 2-3 props per event, then backfilled without a
# config and with three breakdowns and three goals.
#
#   scripts/bench-props.sh [EVENTS_PER_DAY]     (default 1000000: 30M events)
#
# Environment: DAYS (30), SITES (shop,blog,saas), WORKDIR
# (target/bench-props). Needs: a Rust toolchain, GNU time, sqlite3. Prints
# one table; nothing is asserted.
set -euo pipefail

per_day=${1:-1000000}
days=${DAYS:-30}
sites=${SITES:-shop,blog,saas}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${WORKDIR:-$root/target/bench-props}
now=2026-11-22T06:00:00Z

# shellcheck source=/dev/null
. "$root/scripts/bench-prepare.sh"
secs=0 rss_mb=0 # what bench_run measured last
bench_prepare bench-props "$root" "$work" time
bin=$root/target/release

cat >custom.toml <<'TOML'
[[breakdown]]
name = "plan"
property = "plan"
sums = ["items"]

[[breakdown]]
name = "campaign"
property = "campaign"

[[breakdown]]
name = "author"
property = "author"

[[goal]]
name = "Signup"
event = "signup"

[[goal]]
name = "Pricing"
path = "/pricing*"

[[goal]]
name = "Pro signup"
event = "signup"
props = { plan = "pro" }
TOML
: >plain.toml

slower() { awk -v a="$1" -v b="$2" 'BEGIN { if (a <= 0) a = 0.001; printf "%+.1f%%", (b - a) / a * 100 }'; }

for variant in plain props; do
  flag=
  [ "$variant" = props ] && flag=--props
  echo "generating $days days x $per_day events/day ($variant)..." >&2
  "$bin/generate-events" -q --now "$now" --days "$days" --events-per-day "$per_day" \
    --sites "$sites" --no-ids $flag --output "$variant.ndjson"
done

common() { echo --db "$1.db" --artifacts "artifacts-$1" --now "$now" -q; }
# shellcheck disable=SC2046
bench_run ingest-plain "$bin/ingest" $(common plain) --config plain.toml plain.ndjson
ip=$secs ipr=$rss_mb
# shellcheck disable=SC2046
bench_run ingest-props "$bin/ingest" $(common props) --config plain.toml props.ndjson
iq=$secs iqr=$rss_mb
events=$(sqlite3 props.db "SELECT count(*) FROM events")
bytes_plain=$(sqlite3 plain.db "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null; stat -c %s plain.db)
bytes_props=$(sqlite3 props.db "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null; stat -c %s props.db)

cat plain.db props.db >/dev/null
# shellcheck disable=SC2046
bench_run backfill-plain "$bin/backfill" $(common props) --config plain.toml --days "$days"
bp=$secs bpr=$rss_mb
# shellcheck disable=SC2046
bench_run backfill-custom "$bin/backfill" $(common props) --config custom.toml --days "$days"
bc=$secs bcr=$rss_mb
rows=$(sqlite3 props.db "SELECT (SELECT count(*) FROM breakdown_rollups) || ' breakdown rows, ' || (SELECT count(*) FROM goal_rollups) || ' goal rows'")

echo
echo "cronlytics props benchmark: $events events ($days days x $per_day/day, sites $sites), $(nproc) cores"
printf '%-46s %10s %14s %12s %10s\n' "step" "seconds" "events/s" "peak RSS MB" "vs plain"
printf '%-46s %10s %14s %12s %10s\n' "ingest, no props" "$ip" "$(bench_rate "$events" "$ip")" "$ipr" ""
printf '%-46s %10s %14s %12s %10s\n' "ingest, 2-3 props per event" "$iq" "$(bench_rate "$events" "$iq")" "$iqr" "$(slower "$ip" "$iq")"
printf '%-46s %10s %14s %12s %10s\n' "backfill $days days, no breakdowns or goals" "$bp" "$(bench_rate "$events" "$bp")" "$bpr" ""
printf '%-46s %10s %14s %12s %10s\n' "backfill $days days, 3 breakdowns + 3 goals" "$bc" "$(bench_rate "$events" "$bc")" "$bcr" "$(slower "$bp" "$bc")"
echo "backfill with breakdowns and goals wrote $rows"
awk -v a="$bytes_plain" -v b="$bytes_props" -v n="$events" 'BEGIN { printf "store: %.1f MB without props, %.1f MB with (%.1f more bytes per event)\n", a / 1048576, b / 1048576, (b - a) / n }'
rm -f plain.ndjson props.ndjson
