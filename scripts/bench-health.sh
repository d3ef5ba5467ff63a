#!/usr/bin/env bash
# How long health-check takes on a store with a year of history: 365 days
# of rollups for 3 sites (from generated events at a small volume) and a
# year of run log (ingest and trending hourly, cleanup-sessions every 15
# minutes, the daily and weekly jobs), with yesterday's proof and snapshot
# written by the real sampling-guard and snapshot.
#
#   scripts/bench-health.sh [RUNS]        (default 21)
#
# Environment: EVENTS_PER_DAY (300), WORKDIR (target/bench-health).
# Needs: a Rust toolchain, sqlite3. Prints the median, fastest and slowest
# wall time of RUNS runs of health-check; nothing is asserted (the goal is
# under 100 ms).
set -euo pipefail

runs=${1:-21}
per_day=${EVENTS_PER_DAY:-300}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${WORKDIR:-$root/target/bench-health}
now=2026-11-22T06:00:00Z

# shellcheck source=/dev/null
. "$root/scripts/bench-prepare.sh"
bench_prepare bench-health "$root" "$work"
bin=${CARGO_TARGET_DIR:-$root/target}/release

export CRONLYTICS_DB=$work/bench.db CRONLYTICS_ARTIFACTS=$work/artifacts CRONLYTICS_NOW=$now

echo "building a store with a year of history..." >&2
"$bin/generate-events" -q --days 365 --events-per-day "$per_day" --output events.ndjson
"$bin/ingest" -q events.ndjson
"$bin/backfill" -q --days 365
"$bin/aggregate" -q
"$bin/snapshot" -q
"$bin/export-metrics" -q --days 7 --output-dir exports

# A year of run log ending now: every interval of each job, one success.
now_ms=$(($(date -d "$now" +%s) * 1000))
sqlite3 bench.db <<SQL
WITH RECURSIVE
  jobs(job, every_ms) AS (VALUES
    ('ingest', 3600000), ('trending', 3600000), ('cleanup-sessions', 900000),
    ('aggregate', 86400000), ('sampling-guard', 86400000), ('snapshot', 86400000),
    ('export-metrics', 604800000), ('retention', 604800000)),
  runs(job, every_ms, at) AS (
    SELECT job, every_ms, $now_ms - 365 * 86400000 FROM jobs
    UNION ALL SELECT job, every_ms, at + every_ms FROM runs WHERE at + every_ms <= $now_ms - 60000)
INSERT INTO job_runs (job, started_at, ended_at, duration_ms, status, exit_code,
                      records, errors, attempts, message)
SELECT job, at, at + 1500, 1500, 'success', 0, 100, 0, 1, 'bench' FROM runs;
SQL
"$bin/sampling-guard" -q || true   # a warn or fail proof is fine here
sqlite3 bench.db "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null

rollups=$(sqlite3 bench.db "SELECT count(*) FROM daily_rollups")
job_runs=$(sqlite3 bench.db "SELECT count(*) FROM job_runs")
size=$(du -h bench.db | cut -f1)
# The first run does the quick_check that the next day's runs rely on.
"$bin/health-check" -q || true

# timing ARGS...: run health-check RUNS times; prints median, fastest, slowest.
timing() {
  local times=() sorted start end
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$bin/health-check" -q --format nagios "$@" >/dev/null 2>&1 || true
    end=$(date +%s%N)
    times+=($(((end - start) / 1000)))
  done
  mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
  echo "median $(ms "${sorted[$((runs / 2))]}") ms, fastest $(ms "${sorted[0]}") ms," \
    "slowest $(ms "${sorted[$((runs - 1))]}") ms"
}
ms() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }
printf '[health]\nquick_check_every_hours = 0\n' >quick-check-every-run.toml

echo
echo "store: $size, $rollups rollup rows, $job_runs job runs; $runs runs each (goal: under 100 ms)"
echo "health-check (quick_check passed earlier):  $(timing)"
echo "health-check, quick_check on every run:     $(timing --config quick-check-every-run.toml)"
