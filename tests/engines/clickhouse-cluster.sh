#!/usr/bin/env bash
# A throwaway two-shard ClickHouse cluster on localhost for the engine tests
# and the benchmark.
#
#   clickhouse-cluster.sh start DIR [OWNER_PID]
#       Starts two clickhouse-server processes (shard 1 and shard 2), each
#       with its own config, data, tmp and log dirs under DIR/shard1 and
#       DIR/shard2, listening on 127.0.0.1 only, on free ports. Both know the
#       cluster `cronlytics` (two shards, one replica each, native ports), the
#       user `default` (no password) and `cronlytics` (password s3cret-pass).
#       Waits until both answer `SELECT 1` over HTTP, then prints
#         http1=PORT
#         http2=PORT
#         tcp1=PORT
#         tcp2=PORT
#       and returns; the servers keep running (pid files DIR/shard?/pid).
#       With OWNER_PID, a watchdog stops both servers once that process is
#       gone (so a killed test run leaves nothing behind).
#   clickhouse-cluster.sh stop DIR
#       Stops both servers (SIGTERM, then SIGKILL after 20 s) and waits for
#       them to exit.
#
# Environment: CLICKHOUSE_SERVER (the server binary, default
# clickhouse-server from PATH or /usr/sbin), CLICKHOUSE_CLUSTER_TZ (the
# servers' time zone, default UTC), CLICKHOUSE_CLUSTER_TIMEOUT (seconds to
# wait for the servers, default 60).
#
# ClickHouse 18.16 runs as root without complaint; nothing here needs a
# dedicated user. No ZooKeeper: run DDL on each shard (ON CLUSTER fails).

set -euo pipefail

usage() {
    echo "usage: $0 start DIR [OWNER_PID] | stop DIR" >&2
    exit 2
}

die() {
    echo "clickhouse-cluster: $*" >&2
    exit 1
}

server_bin() {
    if [[ -n "${CLICKHOUSE_SERVER:-}" ]]; then
        echo "$CLICKHOUSE_SERVER"
    elif command -v clickhouse-server >/dev/null 2>&1; then
        command -v clickhouse-server
    elif [[ -x /usr/sbin/clickhouse-server ]]; then
        echo /usr/sbin/clickhouse-server
    else
        die "no clickhouse-server (install Debian's clickhouse-server or set CLICKHOUSE_SERVER)"
    fi
}

# Prints N ports that were free a moment ago (all bound at once, so distinct).
free_ports() {
    local n=$1
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$n" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
    else
        local ports=() p
        while ((${#ports[@]} < n)); do
            p=$((20000 + RANDOM % 30000))
            [[ " ${ports[*]} " == *" $p "* ]] && continue
            # A refused connection means nobody listens there.
            if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                ports+=("$p")
            fi
        done
        echo "${ports[*]}"
    fi
}

# write_config SHARD_DIR HTTP TCP TCP1 TCP2
write_config() {
    local d=$1 http=$2 tcp=$3 tcp1=$4 tcp2=$5
    mkdir -p "$d/data" "$d/tmp" "$d/log" "$d/user_files" "$d/format_schemas"
    cat >"$d/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>$d/log/server.log</log>
        <errorlog>$d/log/server.err.log</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <path>$d/data/</path>
    <tmp_path>$d/tmp/</tmp_path>
    <user_files_path>$d/user_files/</user_files_path>
    <format_schema_path>$d/format_schemas/</format_schema_path>
    <users_config>$d/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>${CLICKHOUSE_CLUSTER_TZ:-UTC}</timezone>
    <mark_cache_size>67108864</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <keep_alive_timeout>10</keep_alive_timeout>
    <remote_servers>
        <cronlytics>
            <shard>
                <replica>
                    <host>127.0.0.1</host>
                    <port>$tcp1</port>
                </replica>
            </shard>
            <shard>
                <replica>
                    <host>127.0.0.1</host>
                    <port>$tcp2</port>
                </replica>
            </shard>
        </cronlytics>
    </remote_servers>
</yandex>
EOF
    cat >"$d/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <background_pool_size>4</background_pool_size>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <cronlytics>
            <password>s3cret-pass</password>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </cronlytics>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

alive() {
    [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null
}

# The pid in a pid file if that process is one of our servers (checked by
# its command line, so a stale pid file never kills a stranger; TRUST=1
# skips the check for the processes this very run has just started).
server_pid() {
    local f=$1 pid
    [[ -f "$f" ]] || return 1
    pid=$(<"$f")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    if [[ "${TRUST:-0}" != 1 ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--config-file=$(dirname "$f")/config.xml" || return 1
    fi
    echo "$pid"
}

log_tail() {
    local d=$1
    echo "---- $d/log/server.err.log (tail) ----" >&2
    tail -n 30 "$d/log/server.err.log" >&2 2>/dev/null || true
    echo "---- $d/log/stdout.log (tail) ----" >&2
    tail -n 10 "$d/log/stdout.log" >&2 2>/dev/null || true
}

stop_cluster() {
    local dir=$1 pids=() pid i
    for i in 1 2; do
        if pid=$(server_pid "$dir/shard$i/pid"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$dir/shard$i/pid"
    done
    for ((i = 0; i < 200; i++)); do
        local left=()
        for pid in ${pids[@]+"${pids[@]}"}; do
            alive "$pid" && left+=("$pid")
        done
        ((${#left[@]} == 0)) && return 0
        sleep 0.1
    done
    for pid in ${pids[@]+"${pids[@]}"}; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in ${pids[@]+"${pids[@]}"}; do
        while alive "$pid"; do sleep 0.1; done
    done
}

# One attempt: 0 when both answer, 3 when a port was taken (retry), else 1.
try_start() {
    local dir=$1 bin=$2 timeout=$3 ports http1 http2 tcp1 tcp2 i d pid
    ports=$(free_ports 4)
    read -r http1 http2 tcp1 tcp2 <<<"$ports"
    write_config "$dir/shard1" "$http1" "$tcp1" "$tcp1" "$tcp2"
    write_config "$dir/shard2" "$http2" "$tcp2" "$tcp1" "$tcp2"
    for i in 1 2; do
        d="$dir/shard$i"
        : >"$d/log/server.err.log"
        (cd "$d" && exec "$bin" --config-file="$d/config.xml" </dev/null >"$d/log/stdout.log" 2>&1) &
        echo $! >"$d/pid"
    done
    local deadline=$((SECONDS + timeout)) ready
    while :; do
        ready=0
        for i in 1 2; do
            d="$dir/shard$i"
            pid=$(<"$d/pid")
            if ! alive "$pid"; then
                if grep -q -i -E 'address already in use' "$d/log/server.err.log" "$d/log/stdout.log" 2>/dev/null; then
                    TRUST=1 stop_cluster "$dir"
                    return 3
                fi
                echo "clickhouse-cluster: shard $i (pid $pid) exited during start" >&2
                log_tail "$d"
                TRUST=1 stop_cluster "$dir"
                return 1
            fi
        done
        for port in "$http1" "$http2"; do
            if [[ "$(curl -s -m 2 "http://127.0.0.1:$port/?query=SELECT%201" 2>/dev/null)" == "1" ]]; then
                ready=$((ready + 1))
            fi
        done
        ((ready == 2)) && break
        if ((SECONDS >= deadline)); then
            echo "clickhouse-cluster: the servers did not answer SELECT 1 within ${timeout}s" >&2
            log_tail "$dir/shard1"
            log_tail "$dir/shard2"
            TRUST=1 stop_cluster "$dir"
            return 1
        fi
        sleep 0.1
    done
    printf 'http1=%s\nhttp2=%s\ntcp1=%s\ntcp2=%s\n' "$http1" "$http2" "$tcp1" "$tcp2"
}

start_cluster() {
    local dir=$1 owner=${2:-} bin timeout attempt rc
    bin=$(server_bin)
    timeout=${CLICKHOUSE_CLUSTER_TIMEOUT:-60}
    command -v curl >/dev/null 2>&1 || die "curl is needed"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    for i in 1 2; do
        if server_pid "$dir/shard$i/pid" >/dev/null; then
            die "a server already runs in $dir/shard$i (stop it first)"
        fi
    done
    for attempt in 1 2 3; do
        rc=0
        try_start "$dir" "$bin" "$timeout" || rc=$?
        if ((rc == 0)); then
            if [[ -n "$owner" ]]; then
                # Stop the servers once the owner is gone.
                # shellcheck disable=SC2016 # expanded by the inner bash
                setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" stop "$3"' \
                    watchdog "$owner" "$(cd "$(dirname "$0")" && pwd -P)/$(basename "$0")" "$dir" \
                    </dev/null >/dev/null 2>&1 &
            fi
            return 0
        fi
        ((rc == 3)) || exit 1
        echo "clickhouse-cluster: a port was taken, retrying (attempt $attempt)" >&2
    done
    die "no free ports after 3 attempts"
}

(($# >= 2)) || usage
case "$1" in
start)
    (($# <= 3)) || usage
    [[ -z "${3:-}" || "$3" =~ ^[0-9]+$ ]] || usage
    start_cluster "$2" "${3:-}"
    ;;
stop)
    (($# == 2)) || usage
    [[ -d "$2" ]] || exit 0
    stop_cluster "$(cd "$2" && pwd -P)"
    ;;
*) usage ;;
esac
