#!/usr/bin/env bash
# docs/report.png: the daily report page of generated data, as headless
# Chromium draws it (the README shows it).
#
#   scripts/screenshot-report.sh [OUT]      (default docs/report.png)
#
# Environment: WORKDIR (target/screenshot). Needs a Rust toolchain and
# chromium (apt-get install chromium). The data are 42 days of three sites
# with props, a signup and a pricing goal, a plan breakdown and a planted
# checkout break the guard flags.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/docs/report.png}
work=${WORKDIR:-$root/target/screenshot}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "screenshot-report: chromium is missing: apt-get install chromium" >&2; exit 2; }

echo "building release binaries..." >&2
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin=$root/target/release
rm -rf "$work"
mkdir -p "$work" "$(dirname "$out")"
cd "$work"
cat >cronlytics.toml <<'TOML'
[[breakdown]]
name = "plan"
property = "plan"

[[goal]]
name = "Signup"
event = "signup"

[[goal]]
name = "Pricing page"
path = "/pricing*"
TOML
now=2026-11-22T06:00:00Z
c=(--db analytics.db --artifacts artifacts --now "$now" -q)
"$bin/generate-events" "${c[@]}" --days 42 --events-per-day 3000 --sites shop,blog,saas --props \
  --incident 2026-11-19:checkout-break@shop --output events.ndjson
"$bin/ingest" "${c[@]}" events.ndjson
"$bin/backfill" "${c[@]}" --days 42
"$bin/cleanup-sessions" "${c[@]}"
"$bin/sampling-guard" "${c[@]}" --start 2026-10-25 --end 2026-11-21 >/dev/null || true
"$bin/snapshot" "${c[@]}"
"$bin/report" "${c[@]}" --site shop
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --host-resolver-rules='MAP * ~NOTFOUND' --user-data-dir="$work/chromium" \
  --window-size=900,1900 --screenshot="$out" "file://$work/artifacts/reports/2026-11-21.html" 2>/dev/null
echo "wrote $out" >&2
