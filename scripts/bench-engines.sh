#!/usr/bin/env bash
# Rollup time of the same events on each engine: the embedded store,
# PostgreSQL and a local two-shard ClickHouse cluster (Distributed table),
# each backfilling the same 30 days. Prints figures; asserts nothing.
#
#   bash scripts/bench-engines.sh [EVENTS]     (default 10,000,000)
#
# Needs postgresql and clickhouse-server (Debian packages), curl and GNU
# time. The servers run in target/bench-engines and are stopped at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
events=${1:-10000000}
work=$root/target/bench-engines
# shellcheck source=/dev/null
. "$root/scripts/bench-prepare.sh"
for tool in curl psql; do
  command -v "$tool" >/dev/null || { echo "bench-engines: $tool is missing" >&2; exit 2; }
done
pg_bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort | tail -n 1)
[ -x "$pg_bin/initdb" ] || { echo "bench-engines: PostgreSQL is missing: apt-get install postgresql" >&2; exit 2; }
command -v clickhouse-server >/dev/null || { echo "bench-engines: ClickHouse is missing: apt-get install clickhouse-server" >&2; exit 2; }
bench_prepare bench-engines "$root" "$work" time
bin=$root/target/release
secs=0 rss_mb=0 # what bench_run measured last
days=30
start=2026-10-01
end=2026-10-30
now=2026-11-02T00:00:00Z
tz=America/New_York

echo "generating $events events over $days days..." >&2
"$bin/generate-events" --start $start --days $days --events-per-day $((events / days)) \
  --no-ids --tz $tz --output events.ndjson 2>/dev/null
n=$(wc -l <events.ndjson)
mb=$(($(stat -c %s events.ndjson) / 1000000))

# --- the embedded store
bench_run ingest "$bin/ingest" --db embedded.db --artifacts art --now $now events.ndjson
ingest_secs=$secs
bench_run embedded "$bin/backfill" --db embedded.db --artifacts art --now $now --tz $tz --start $start --end $end
embedded_secs=$secs embedded_rss=$rss_mb

# --- PostgreSQL: a throwaway cluster owned by the postgres user
runas=()
[ "$(id -u)" = 0 ] && runas=(runuser -u postgres --)
mkdir -p pg
[ "$(id -u)" = 0 ] && chown postgres:postgres pg
"${runas[@]}" "$pg_bin/initdb" -D "$work/pg/data" -U cronlytics -A trust --no-sync -E UTF8 --locale=C >pg/initdb.log
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${runas[@]}" "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w \
  -o "-k $work/pg -p $pg_port -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c shared_buffers=512MB -c max_wal_size=4GB" start >/dev/null
ch_dir=$work/ch
cleanup() {
  "${runas[@]}" "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
  bash "$root/tests/engines/clickhouse-cluster.sh" stop "$ch_dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql_do() { psql -X -q -v ON_ERROR_STOP=1 -h "$work/pg" -p "$pg_port" -U cronlytics -d postgres "$@"; }
echo "loading PostgreSQL..." >&2
# Seconds since a `date +%s.%N` reading, to a tenth.
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
load_start=$(date +%s.%N)
psql_do -c "CREATE UNLOGGED TABLE raw (doc jsonb)"
psql_do -c "\\copy raw FROM '$work/events.ndjson' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
psql_do -c "CREATE TABLE events AS SELECT (doc->>'ts')::timestamptz AS ts, doc->>'site' AS site,
  doc->>'kind' AS kind, doc->>'session' AS session, doc->>'visitor' AS visitor, doc->>'path' AS path,
  doc->>'referrer' AS referrer, doc->>'name' AS name, (doc->>'revenue_cents')::bigint AS revenue_cents FROM raw;
  DROP TABLE raw; CREATE INDEX ON events (ts)"
psql_do -c "VACUUM ANALYZE events"
pg_load=$(since "$load_start")
cat >pg.toml <<EOF
[source]
engine = "postgres"
url = "postgresql://cronlytics@${work//\//%2F}%2Fpg:$pg_port/postgres"
table = "events"
EOF
bench_run postgres "$bin/backfill" --config pg.toml --db pg.db --artifacts art --now $now --tz $tz --start $start --end $end
pg_secs=$secs pg_rss=$rss_mb

# --- ClickHouse: two shards on localhost behind a Distributed table
echo "starting ClickHouse and loading it..." >&2
http1='' http2=''
eval "$(bash "$root/tests/engines/clickhouse-cluster.sh" start "$ch_dir")"
ch() { curl -sS --fail-with-body "http://127.0.0.1:$http1/" --data-binary @-; }
for port in "$http1" "$http2"; do
  curl -sS --fail-with-body "http://127.0.0.1:$port/" --data-binary \
    "CREATE TABLE default.events_local (ts DateTime, site String, kind String, session String, visitor String, path Nullable(String), referrer Nullable(String), name Nullable(String), revenue_cents Nullable(Int64)) ENGINE = MergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (ts, site)"
done
echo "CREATE TABLE default.events AS default.events_local ENGINE = Distributed(cronlytics, default, events_local, cityHash64(session))" | ch
echo "CREATE TABLE default.staging (ts String, site String, kind String, session String, visitor String, path Nullable(String), referrer Nullable(String), name Nullable(String), revenue_cents Nullable(Int64)) ENGINE = Log" | ch
load_start=$(date +%s.%N)
curl -sS --fail-with-body -X POST -T events.ndjson \
  "http://127.0.0.1:$http1/?query=INSERT%20INTO%20default.staging%20FORMAT%20JSONEachRow&input_format_skip_unknown_fields=1"
echo "INSERT INTO default.events SELECT toDateTime(replaceOne(substring(ts, 1, 19), 'T', ' '), 'UTC'), site, kind, session, visitor, path, referrer, name, revenue_cents FROM default.staging" |
  curl -sS --fail-with-body "http://127.0.0.1:$http1/?insert_distributed_sync=1" --data-binary @-
echo "DROP TABLE default.staging" | ch
ch_load=$(since "$load_start")
ch_rows=$(echo "SELECT count() FROM default.events" | ch)
cat >ch.toml <<EOF
[source]
engine = "clickhouse"
url = "http://127.0.0.1:$http1/?database=default"
table = "events"
EOF
bench_run clickhouse "$bin/backfill" --config ch.toml --db ch.db --artifacts art --now $now --tz $tz --start $start --end $end
ch_secs=$secs ch_rss=$rss_mb

# The three stores hold the same rollups.
for db in embedded pg ch; do
  "$bin/export-metrics" --db $db.db --artifacts art --now $now --format csv --start $start --end $end >$db.csv
done
for db in pg ch; do
  cmp -s embedded.csv $db.csv || { echo "bench-engines: the rollups of $db.db differ from the embedded store's" >&2; exit 1; }
done

echo
echo "bench-engines: $n events ($mb MB NDJSON, 3 sites, $days days), backfill of the $days days in $tz, 2 cores"
printf '%-34s %10s %12s %10s\n' engine "rollup s" "events/s" "job RSS"
printf '%-34s %10s %12s %9sM\n' "embedded store (SQLite)" "$embedded_secs" "$(bench_rate "$n" "$embedded_secs")" "$embedded_rss"
printf '%-34s %10s %12s %9sM\n' "PostgreSQL 15 (one server)" "$pg_secs" "$(bench_rate "$n" "$pg_secs")" "$pg_rss"
printf '%-34s %10s %12s %9sM\n' "ClickHouse 18.16 (2 shards)" "$ch_secs" "$(bench_rate "$n" "$ch_secs")" "$ch_rss"
echo "loading: ingest ${ingest_secs} s, PostgreSQL COPY + index ${pg_load} s, ClickHouse insert ${ch_load} s ($ch_rows rows)"
echo "the three stores' rollups are identical (export-metrics CSV compared)"
