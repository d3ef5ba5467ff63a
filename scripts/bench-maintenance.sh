#!/usr/bin/env bash
# Timings of the maintenance jobs on a generated store: cleanup-sessions
# over about a million open sessions, retention of the oldest days, and
# trending over a week of events.
#
#   scripts/bench-maintenance.sh [EVENTS_PER_DAY]      (default 40000)
#
# Environment: DAYS (120; about 4 events per session, so the default makes
# ~1.2M sessions), KEEP_DAYS (90, retention --days), WORKDIR
# (target/bench-maintenance). Needs a Rust toolchain, GNU time and the
# sqlite3 shell. Prints one table; nothing is asserted.
set -euo pipefail

per_day=${1:-40000}
days=${DAYS:-120}
keep_days=${KEEP_DAYS:-90}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${WORKDIR:-$root/target/bench-maintenance}
now=2026-11-22T06:00:00Z
later=2026-11-22T07:00:00Z

# shellcheck source=/dev/null
. "$root/scripts/bench-prepare.sh"
bench_prepare bench "$root" "$work" time
bin=$root/target/release

# run NAME CMD...: time a command; sets secs, rss_mb and summary (its last
# stderr line).
run() {
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$name.time" "$@" >"$name.out" 2>"$name.log" || {
    local rc=$?
    [ "$rc" = 1 ] || { echo "bench: $name failed:" >&2; cat "$name.log" >&2; exit 1; }
  }
  read -r secs rss_kb <"$name.time"
  rss_mb=$((rss_kb / 1024))
  summary=$(grep -v '^Command exited' "$name.log" | tail -n 1 | sed 's/^[^ ]* [^ ]* [a-z]*: //')
}

common=(--db bench.db --artifacts artifacts --now "$now")
echo "generating $days days x $per_day events/day..." >&2
"$bin/generate-events" -q --now "$now" --days "$days" --events-per-day "$per_day" \
  --no-ids --output events.ndjson
echo "ingesting and rolling up..." >&2
"$bin/ingest" -q "${common[@]}" events.ndjson
"$bin/backfill" -q "${common[@]}" --days "$days"
rm -f events.ndjson
events=$(sqlite3 bench.db "SELECT count(*) FROM events")
open=$(sqlite3 bench.db "SELECT count(*) FROM sessions WHERE ended_ts IS NULL")
sqlite3 bench.db "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cat bench.db >/dev/null

rows=()
row() { rows+=("$(printf '%-44s %9s %12s  %s' "$1" "$secs" "$rss_mb" "$summary")"); }

run cleanup "$bin/cleanup-sessions" "${common[@]}"
row "cleanup-sessions, $open open sessions"
run cleanup2 "$bin/cleanup-sessions" "${common[@]}"
row "cleanup-sessions again (nothing to close)"

run trending "$bin/trending" "${common[@]}"
row "trending, first run (every score new)"
run trending2 "$bin/trending" --db bench.db --artifacts artifacts --now "$later"
row "trending an hour later (threshold)"

run dryrun "$bin/retention" "${common[@]}" --days "$keep_days" --dry-run
row "retention --dry-run"
run retention "$bin/retention" "${common[@]}" --days "$keep_days"
batches=$(grep -o 'in [0-9,]* batches' retention.log | tr -dc 0-9)
row "retention --days $keep_days (defaults)"
run retention0 "$bin/retention" "${common[@]}" --days $((keep_days - 30)) --pause-ms 0
row "retention --days $((keep_days - 30)) --pause-ms 0"

echo
echo "cronlytics maintenance benchmark: $events events ($days days x $per_day/day), $(nproc) cores"
printf '%-44s %9s %12s  %s\n' "step" "seconds" "peak RSS MB" "summary"
printf '%s\n' "${rows[@]}"
awk -v b="${batches:-0}" -v d="$keep_days" \
  'BEGIN { printf "retention --days %s paused %.1f s of that (%d batches x 50 ms)\n", d, b * 0.05, b }'
