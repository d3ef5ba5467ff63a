#!/usr/bin/env bash
# The demo: every job, in the order cron runs them, on a fresh embedded store
# filled with 90 days of generated events for 3 sites, with one planted
# incident, and a fourth site read from its rotated access log. Each job's
# output goes to logs/<job>.log, as its crontab line would write it, and to
# the screen; a tour of what each job wrote follows.
# Run from anywhere:
#
#   bash scripts/demo.sh
#
# Environment: DEMO_DIR (target/demo), NOW (the real clock), TZ_NAME (UTC).
# The tour reads the artifacts with jq and the store with sqlite3: run as
# root on Debian, it installs them when missing; elsewhere the tour leaves
# out what needs them and says so. Exits 1 when a job's exit code is not the
# one the demo expects.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${DEMO_DIR:-$root/target/demo}
now=${NOW:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
zone=${TZ_NAME:-UTC}

have() { command -v "$1" >/dev/null 2>&1; }
missing=()
for tool in jq sqlite3; do have "$tool" || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "== installing ${missing[*]} for the tour"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
      echo "demo: could not install ${missing[*]}; the tour leaves out what needs them" >&2
  else
    echo "demo: ${missing[*]} not installed (apt-get install ${missing[*]}); the tour leaves out what needs them" >&2
  fi
fi
# jq -r and sqlite3 on the store, or a note when the tool is missing.
jqr() { if have jq; then jq -r "$@"; else echo "(needs jq)"; fi; }
sql() { if have sqlite3; then sqlite3 analytics.db "$1"; else echo "?"; fi; }

echo "== building cronlytics (release)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin=$root/target/release

rm -rf "$dir"
mkdir -p "$dir/logs"
cd "$dir"
export CRONLYTICS_DB=$dir/analytics.db
export CRONLYTICS_ARTIFACTS=$dir/artifacts
export CRONLYTICS_NOW=$now
export CRONLYTICS_TZ=$zone
export CRONLYTICS_TEXTFILE_DIR=$dir/textfile

yesterday=$(date -u -d "$(TZ=$zone date -d "$now" +%Y-%m-%d) -1 day" +%Y-%m-%d)
# The incident: the shop's checkout breaks 10 days before yesterday.
incident_day=$(date -u -d "$yesterday -10 days" +%Y-%m-%d)

steps=()
declare -A codes expected
# run LABEL EXPECTED CMD...: one job run as its cron line would, appending
# to logs/<job>.log; EXPECTED is the exit codes the demo accepts ("0 1").
run() {
  local label=$1 ok=$2
  shift 2
  echo
  echo "== $label"
  set +e
  "$@" 2>&1 | tee -a "logs/$(basename "$1").log"
  local code=${PIPESTATUS[0]}
  set -e
  steps+=("$label")
  codes[$label]=$code
  expected[$label]=$ok
  echo "-- exit code $code"
}

run "generate-events (checkout-break@shop on $incident_day)" 0 \
  "$bin/generate-events" --days 90 --events-per-day 20000 \
  --incident "$incident_day:checkout-break@shop" --late-fraction 0.001 --output events.ndjson
run ingest 0 "$bin/ingest" events.ndjson

# The web-log part: a fourth site, docs, whose traffic is only in its web
# server's access log (7 days, with crawlers, assets, errors and redirects),
# rotated by logrotate: the older days compressed, yesterday in
# access.log.1, today's in access.log. Its orders and signups come from
# [[logs.goal]] entries (generate-events logs an order as
# /checkout/thank-you?total=... and a custom event as /goal/<name>).
mkdir -p weblogs
cat >weblogs/cronlytics.toml <<'TOML'
[[logs.goal]]
path = "/checkout/thank-you*"
kind = "order"
revenue_param = "total"

[[logs.goal]]
path = "/goal/add_to_cart"
kind = "event"
name = "add_to_cart"
TOML
run "generate-events --format access-log (docs, 7 days)" 0 \
  "$bin/generate-events" --format access-log --sites docs --days 7 --events-per-day 4000 --output weblogs/docs.log
total=$(wc -l <weblogs/docs.log)
head -n $((total * 5 / 7)) weblogs/docs.log | gzip >weblogs/access.log.2.gz
sed -n "$((total * 5 / 7 + 1)),$((total * 6 / 7))p" weblogs/docs.log >weblogs/access.log.1
sed -n "$((total * 6 / 7 + 1)),$((total * 13 / 14))p" weblogs/docs.log >weblogs/access.log
logs=(--config weblogs/cronlytics.toml --site docs)
run "ingest (the access logs, first import)" 0 "$bin/ingest" "${logs[@]}" weblogs/access.log.2.gz weblogs/access.log.1 weblogs/access.log
# Ten minutes later the server has written more, then logrotate ran.
sed -n "$((total * 13 / 14 + 1)),${total}p" weblogs/docs.log >>weblogs/access.log
mv weblogs/access.log weblogs/access.log.1
: >weblogs/access.log
run "ingest weblogs/access.log (cron, after a rotation)" 0 "$bin/ingest" "${logs[@]}" weblogs/access.log
run "ingest weblogs/access.log (nothing new)" 0 "$bin/ingest" "${logs[@]}" weblogs/access.log
run "backfill --days 90" 0 "$bin/backfill" --days 90
run "aggregate (nightly: yesterday)" 0 "$bin/aggregate"
run cleanup-sessions 0 "$bin/cleanup-sessions"
# The planted incident must be caught: a warning (1) or a failure (2).
run "sampling-guard --date $incident_day (the incident)" "1 2" "$bin/sampling-guard" --date "$incident_day"
run "sampling-guard (yesterday)" "0 1" "$bin/sampling-guard"
run snapshot 0 "$bin/snapshot"
run "report (yesterday)" 0 "$bin/report"
# The week's and month's other days have no proof (the demo guards two
# days): the pages say so and exit 1.
run "report --period week" "0 1" "$bin/report" --period week
run "report --period month" "0 1" "$bin/report" --period month
run "export-metrics --days 7 --output-dir exports" 0 "$bin/export-metrics" --days 7 --output-dir exports
run "export-metrics --format json" 0 "$bin/export-metrics" -q --days 7 --format json --output exports/last-week.json
run trending 0 "$bin/trending"
# 90 days of events and the default 90-day cutoff leave nothing to delete:
# --days 60 shows what a run would remove.
run "retention --dry-run --days 60" 0 "$bin/retention" --dry-run --days 60
# A dry run leaves no run in the log, so the health check does not wait for
# a retention run here.
printf '[health.jobs.retention]\nenabled = false\n' >health.toml
run "health-check --format nagios" 0 "$bin/health-check" --config health.toml --format nagios

proof_of() {
  local file=artifacts/sampling-proofs/sampling-proof-${1//-/}.json
  printf '  %-52s %s\n' "$file" "$(jqr '"\(.status): \(.summary.passed) passed, \(.summary.warnings) warnings, \(.summary.failures) failures" + ([.anomalies[] | "; \(.site) \(.name) \(.status)"] | join(""))' "$file")"
}

echo
echo "== tour: what the jobs wrote, under $dir"
echo "logs/ (one per job, as the crontab lines append them):"
for log in logs/*.log; do
  printf '  %-52s %s\n' "$log" "$(grep -E '^[0-9]{4}-.*Z [a-z-]+ (info|warning|error):' "$log" | tail -n 1 | cut -d' ' -f2-)"
done
echo "the store:"
printf '  %-52s %s events, %s rollups, %s sessions (%s closed), %s job runs\n' "analytics.db ($(du -h analytics.db | cut -f1))" \
  "$(sql 'SELECT count(*) FROM events')" "$(sql 'SELECT count(*) FROM daily_rollups')" \
  "$(sql 'SELECT count(*) FROM sessions')" "$(sql 'SELECT count(*) FROM sessions WHERE ended_ts IS NOT NULL')" \
  "$(sql 'SELECT count(*) FROM job_runs')"
echo "sampling-guard's proofs:"
proof_of "$incident_day"
proof_of "$yesterday"
echo "snapshot, trending and export-metrics:"
snapshot=artifacts/snapshots/$yesterday.json
printf '  %-52s %s\n' "$snapshot" "$(jqr '.summary | "revenue \(.revenue), \(.orders) orders, \(.sessions) sessions, conversion \(.conversion_rate)"' "$snapshot")"
for file in artifacts/trending/*.json; do
  printf '  %-52s %s\n' "$file" "$(jqr '[.sites | to_entries[] | "\(.key): \(.value[0].item // "-") \(.value[0].score // "-")"] | join(", ")' "$file")"
done
printf '  %-52s %s rows\n' exports/metrics-*.csv "$(($(wc -l <exports/metrics-*.csv) - 1))" \
  exports/last-week.json "$(jqr length exports/last-week.json)"
echo "report's pages (open them in a browser):"
printf '  %s\n' artifacts/reports/*.html
echo "Prometheus textfiles (node_exporter):"
printf '  %s\n' textfile/*.prom
echo
echo "revenue per site over the last 7 days (jq on exports/last-week.json):"
jqr 'group_by(.site)[] | "  \(.[0].site): \(map(.revenue_cents) | add / 100) in \(length) days, \(map(.unique_sessions) | add) sessions"' exports/last-week.json
echo
echo "the docs site, from its access log alone, last 7 days:"
"$bin/export-metrics" -q --days 7 --site docs | sed 's/^/  /'
echo
echo "the shop on the incident day $incident_day (orders 0):"
"$bin/export-metrics" -q --start "$incident_day" --end "$incident_day" --site shop | sed 's/^/  /'

echo
echo "== exit codes"
bad=0
for label in "${steps[@]}"; do
  verdict="as expected"
  [[ " ${expected[$label]} " == *" ${codes[$label]} "* ]] || { verdict="UNEXPECTED"; bad=1; }
  printf '  %s  %-56s %s (%s)\n' "${codes[$label]}" "$label" "$verdict" "${expected[$label]// / or }"
done
if [ "$bad" = 1 ]; then
  echo "demo: a job exited with an unexpected code: see its log in $dir/logs" >&2
  exit 1
fi
echo "demo finished: artifacts under $dir"
