#!/usr/bin/env bash
# What properties, breakdowns and goals cost: bench.sh's data ingested
# without props and with 2-3 props per event, then backfilled without a
# config and with three breakdowns and three goals.
#
#   scripts/bench-props.sh [EVENTS_PER_DAY]     (default 1000000: 30M events)
#
# Environment: DAYS (30), SITES (shop,blog,saas), WORKDIR
# (target/bench-props), RUNS (3: each step runs this many times, the plain
# and the props runs alternated, each ingest into a fresh store; the table
# gives the median time and the largest peak RSS, and every run's time is
# listed under it: this machine's speed drifts by 5-10% within minutes).
# Needs: a Rust toolchain, GNU time, sqlite3. Prints one table; nothing is
# asserted.
set -euo pipefail

per_day=${1:-1000000}
days=${DAYS:-30}
runs=${RUNS:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench-props: RUNS must be a positive number of runs, not '$runs'" >&2; exit 2; }
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
# Per step, the seconds of each run and the largest peak RSS.
declare -A times rss
record() {
  times[$1]="${times[$1]:-}$secs "
  [ "$rss_mb" -gt "${rss[$1]:-0}" ] && rss[$1]=$rss_mb
  return 0
}
median() { tr ' ' '\n' <<<"${times[$1]}" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for run in $(seq "$runs"); do
  for variant in plain props; do
    rm -rf "$variant.db" "$variant.db-wal" "$variant.db-shm" "$variant.db.keys" "artifacts-$variant"
    echo "ingest $variant, run $run of $runs..." >&2
    # shellcheck disable=SC2046
    bench_run "ingest-$variant" "$bin/ingest" $(common "$variant") --config plain.toml "$variant.ndjson"
    record "ingest-$variant"
  done
done
events=$(sqlite3 props.db "SELECT count(*) FROM events")
bytes_plain=$(sqlite3 plain.db "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null; stat -c %s plain.db)
bytes_props=$(sqlite3 props.db "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null; stat -c %s props.db)

cat plain.db props.db >/dev/null
for run in $(seq "$runs"); do
  for config in plain custom; do
    echo "backfill, $config config, run $run of $runs..." >&2
    # shellcheck disable=SC2046
    bench_run "backfill-$config" "$bin/backfill" $(common props) --config "$config.toml" --days "$days"
    record "backfill-$config"
  done
done
ip=$(median ingest-plain) iq=$(median ingest-props) bp=$(median backfill-plain) bc=$(median backfill-custom)
ipr=${rss[ingest-plain]} iqr=${rss[ingest-props]} bpr=${rss[backfill-plain]} bcr=${rss[backfill-custom]}
rows=$(sqlite3 props.db "SELECT (SELECT count(*) FROM breakdown_rollups) || ' breakdown rows, ' || (SELECT count(*) FROM goal_rollups) || ' goal rows'")

echo
echo "cronlytics props benchmark: $events events ($days days x $per_day/day, sites $sites), $(nproc) cores, median of $runs runs"
printf '%-46s %10s %14s %12s %10s\n' "step" "seconds" "events/s" "peak RSS MB" "vs plain"
printf '%-46s %10s %14s %12s %10s\n' "ingest, no props" "$ip" "$(bench_rate "$events" "$ip")" "$ipr" ""
printf '%-46s %10s %14s %12s %10s\n' "ingest, 2-3 props per event" "$iq" "$(bench_rate "$events" "$iq")" "$iqr" "$(slower "$ip" "$iq")"
printf '%-46s %10s %14s %12s %10s\n' "backfill $days days, no breakdowns or goals" "$bp" "$(bench_rate "$events" "$bp")" "$bpr" ""
printf '%-46s %10s %14s %12s %10s\n' "backfill $days days, 3 breakdowns + 3 goals" "$bc" "$(bench_rate "$events" "$bc")" "$bcr" "$(slower "$bp" "$bc")"
echo "backfill with breakdowns and goals wrote $rows"
for step in ingest-plain ingest-props backfill-plain backfill-custom; do
  echo "$step, each run (s): ${times[$step]}"
done
awk -v a="$bytes_plain" -v b="$bytes_props" -v n="$events" 'BEGIN { printf "store: %.1f MB without props, %.1f MB with (%.1f more bytes per event)\n", a / 1048576, b / 1048576, (b - a) / n }'
rm -f plain.ndjson props.ndjson
