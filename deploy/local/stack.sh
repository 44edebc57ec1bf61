#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The real local stack: PostgreSQL 15, Redis and Kafka 3.9.1 (KRaft, combined mode) on
# 127.0.0.1, on free ports, in a scratch directory; writes their addresses to stack.env.
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 start|stop|status|env|start-component NAME|stop-component NAME
  NAME is postgres, redis or kafka.

  start            start all three (fresh data); already up: nothing to do;
                   half-started: stop everything and start again
  stop             stop all three (data and logs stay until the next start)
  status           one line per server; exit 0 if all are up, 3 otherwise
  env              print \$BADGEFLOW_STACK_DIR/stack.env
  stop-component   stop one server
  start-component  start one server again on the same port and data

environment:
  BADGEFLOW_STACK_DIR       scratch directory (default /tmp/badgeflow-stack)
  BADGEFLOW_STACK_PG_PORT, BADGEFLOW_STACK_REDIS_PORT, BADGEFLOW_STACK_KAFKA_PORT,
  BADGEFLOW_STACK_KAFKA_CONTROLLER_PORT
                            fixed ports (default: free ports chosen at start)
  BADGEFLOW_STACK_KAFKA_TIMEOUT
                            seconds to wait for the Kafka broker (default 90)
  BADGEFLOW_CACHE           where install.sh put the Kafka jars
                            (default \$HOME/.cache/badgeflow)
  BADGEFLOW_STACK_SKIP_PORT_CHECK=1
                            skip the free-port check before starting (tests use it
                            to exercise the clean-up of a start that fails midway)
EOF
}

DIR=$(realpath -m -- "${BADGEFLOW_STACK_DIR:-/tmp/badgeflow-stack}")
CACHE=${BADGEFLOW_CACHE:-$HOME/.cache/badgeflow}
KAFKA_VERSION=3.9.1
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs
KAFKA_STAMP=$CACHE/kafka-$KAFKA_VERSION/libs.complete
KAFKA_TIMEOUT=${BADGEFLOW_STACK_KAFKA_TIMEOUT:-90}
PG_BIN=/usr/lib/postgresql/15/bin
PG_SYSUSER=postgres
PY=/usr/bin/python3
JAVA=${JAVA:-java}
HOST=127.0.0.1
ENV_FILE=$DIR/stack.env
PORTS_FILE=$DIR/ports.env
COMPONENTS="postgres redis kafka"

STARTING=0     # 1 while this run is starting servers: a failure stops them again
STARTED=""     # the servers this run started, in order

say() { printf 'stack: %s\n' "$*"; }
warn() { printf 'stack: %s\n' "$*" >&2; }
die() {
    printf 'stack: error: %s\n' "$*" >&2
    exit 1
}

# The last lines of a log, indented, on stderr.
show_log() {
    if [ -s "$1" ]; then
        warn "last lines of $1:"
        tail -n "${2:-15}" "$1" | sed 's/^/  | /' >&2
    fi
}

# --- helpers in Python (Debian's, which has confluent_kafka) -------------------------

PYHELP='
import base64, os, socket, sys, uuid

def free_ports(n, exclude):
    held, out = [], []
    while len(out) < n:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        held.append(s)
        port = s.getsockname()[1]
        if str(port) not in exclude:
            out.append(port)
    print(" ".join(map(str, out)))

def port_free(port):
    # SO_REUSEADDR as the servers set it: a socket in TIME_WAIT is no conflict.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return 0
    except OSError:
        return 1
    finally:
        s.close()

def procs(d):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % pid) as f:
                comm = f.read().strip()
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0")]
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if comm == "postgres" and d + "/pg/data" in argv:
            print("postgres", pid)
        elif comm.startswith("redis-server") and cwd == d + "/redis/data":
            print("redis", pid)
        elif comm == "java" and d + "/kafka/server.properties" in argv:
            print("kafka", pid)

def kafka_ready(brokers, timeout):
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": brokers, "log_level": 0})
    try:
        md = admin.list_topics(timeout=float(timeout))
    except Exception:
        return 1
    return 0 if md.brokers else 1

def cluster_id():
    while True:
        s = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not s.startswith("-"):
            print(s)
            return 0

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "free-ports":
    free_ports(int(args[0]), args[1:])
elif cmd == "port-free":
    sys.exit(port_free(int(args[0])))
elif cmd == "procs":
    procs(args[0])
elif cmd == "kafka-ready":
    sys.exit(kafka_ready(args[0], args[1]))
elif cmd == "cluster-id":
    sys.exit(cluster_id())
else:
    sys.exit("unknown helper " + cmd)
'

py() { "$PY" -c "$PYHELP" "$@"; }

# --- processes -----------------------------------------------------------------------

# The pid of server $1 of this scratch dir, found in /proc (pid files can be stale).
server_pid() {
    py procs "$DIR" | awk -v n="$1" '$1 == n && !seen { print $2; seen = 1 }'
}

# Waits up to $2 seconds for pid $1 to exit; false if it is still there.
wait_gone() {
    local _
    for _ in $(seq 1 $(($2 * 5))); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.2
    done
    ! kill -0 "$1" 2>/dev/null
}

# Sends SIGTERM to pid $1, waits $2 seconds, then SIGKILL.
term_then_kill() {
    kill -TERM "$1" 2>/dev/null || return 0
    wait_gone "$1" "$2" && return 0
    warn "$3 (pid $1) ignored SIGTERM for $2 s; sending SIGKILL"
    kill -KILL "$1" 2>/dev/null || true
    wait_gone "$1" 10 || warn "$3 (pid $1) is still there after SIGKILL"
}

# Runs a command as the PostgreSQL system user (initdb refuses root), from / so the
# user can read its working directory, its output to file $1; fd 9 (our lock) is not
# passed on. The redirections live inside the subshell on purpose: a redirection on a
# function call would also hold while a deferred signal trap runs, and swallow the
# clean-up messages of on_exit.
as_pg() {
    local out=$1
    shift
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && exec runuser -u "$PG_SYSUSER" -- "$@" </dev/null >>"$out" 2>&1 9>&-)
    else
        (cd / && exec "$@" </dev/null >>"$out" 2>&1 9>&-)
    fi
}

# --- ports ---------------------------------------------------------------------------

# Reads KEY from ports.env (written by start: plain KEY=digits lines).
saved_port() {
    [ -f "$PORTS_FILE" ] || return 1
    sed -n "s/^$1=\([0-9][0-9]*\)\$/\1/p" "$PORTS_FILE" | head -n 1 | grep .
}

load_ports() {
    PG_PORT=$(saved_port PG_PORT) && REDIS_PORT=$(saved_port REDIS_PORT) &&
        KAFKA_PORT=$(saved_port KAFKA_PORT) &&
        KAFKA_CONTROLLER_PORT=$(saved_port KAFKA_CONTROLLER_PORT)
}

check_port_value() {
    case $2 in
    '' | *[!0-9]*) die "$1: port '$2' is not a number" ;;
    esac
    if [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then
        die "$1: port $2 is out of range"
    fi
}

# Picks the four ports: the BADGEFLOW_STACK_*_PORT given, free ones for the rest.
choose_ports() {
    local given free name port
    given="${BADGEFLOW_STACK_PG_PORT:-} ${BADGEFLOW_STACK_REDIS_PORT:-}"
    given="$given ${BADGEFLOW_STACK_KAFKA_PORT:-} ${BADGEFLOW_STACK_KAFKA_CONTROLLER_PORT:-}"
    # shellcheck disable=SC2086 # word splitting wanted: the list of given ports
    read -r -a free <<<"$(py free-ports 4 $given)"
    PG_PORT=${BADGEFLOW_STACK_PG_PORT:-${free[0]}}
    REDIS_PORT=${BADGEFLOW_STACK_REDIS_PORT:-${free[1]}}
    KAFKA_PORT=${BADGEFLOW_STACK_KAFKA_PORT:-${free[2]}}
    KAFKA_CONTROLLER_PORT=${BADGEFLOW_STACK_KAFKA_CONTROLLER_PORT:-${free[3]}}
    for name in postgres:$PG_PORT redis:$REDIS_PORT kafka:$KAFKA_PORT \
        kafka-controller:$KAFKA_CONTROLLER_PORT; do
        check_port_value "${name%%:*}" "${name#*:}"
    done
    [ "$(printf '%s\n' "$PG_PORT" "$REDIS_PORT" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" |
        sort -u | wc -l)" -eq 4 ] || die "the four ports must differ: postgres $PG_PORT," \
        "redis $REDIS_PORT, kafka $KAFKA_PORT, kafka controller $KAFKA_CONTROLLER_PORT"
    [ "${BADGEFLOW_STACK_SKIP_PORT_CHECK:-0}" = 1 ] && return 0
    for name in postgres:$PG_PORT redis:$REDIS_PORT kafka:$KAFKA_PORT \
        kafka-controller:$KAFKA_CONTROLLER_PORT; do
        port=${name#*:}
        py port-free "$port" ||
            die "${name%%:*}: port $port on $HOST is already in use; nothing was started"
    done
}

write_ports() {
    printf 'PG_PORT=%s\nREDIS_PORT=%s\nKAFKA_PORT=%s\nKAFKA_CONTROLLER_PORT=%s\n' \
        "$PG_PORT" "$REDIS_PORT" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" >"$PORTS_FILE"
}

# --- PostgreSQL ----------------------------------------------------------------------

PG_DATA=$DIR/pg/data
PG_LOG=$DIR/pg/postgres.log

pg_answers() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t 3 >/dev/null 2>&1; }

pg_init() {
    mkdir -p "$DIR/pg/run"
    [ "$(id -u)" -ne 0 ] || chown -R "$PG_SYSUSER:" "$DIR/pg"
    say "postgres: initdb $PG_DATA"
    as_pg "$DIR/pg/initdb.log" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust \
        -E UTF8 --locale=C --no-sync ||
        { show_log "$DIR/pg/initdb.log"; die "postgres: initdb failed"; }
    cat >>"$PG_DATA/postgresql.conf" <<EOF

# badgeflow local stack (deploy/local/stack.sh): loopback only, speed over durability
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$DIR/pg/run'
max_connections = 200
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
timezone = 'UTC'
log_timezone = 'UTC'
EOF
}

pg_create_role() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U postgres \
        -d postgres -c 'CREATE ROLE badgeflow LOGIN SUPERUSER' \
        -c 'CREATE DATABASE badgeflow OWNER badgeflow' >>"$PG_LOG" 2>&1 ||
        { show_log "$PG_LOG"; die "postgres: could not create role and database badgeflow"; }
    say "postgres: role and database badgeflow created"
}

start_postgres() {
    local fresh=0
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        pg_init
        fresh=1
    fi
    say "postgres: starting on $HOST:$PG_PORT"
    STARTED="$STARTED postgres"
    if ! as_pg /dev/null "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -s start; then
        show_log "$PG_LOG"
        die "postgres failed to start on $HOST:$PG_PORT$(port_hint "$PG_LOG")"
    fi
    pg_answers || die "postgres started but does not answer on $HOST:$PG_PORT"
    [ "$fresh" -eq 0 ] || pg_create_role
    say "postgres: up on $HOST:$PG_PORT"
}

stop_postgres() {
    local pid
    pid=$(server_pid postgres)
    if [ -n "$pid" ]; then
        say "postgres: stopping (pid $pid)"
        as_pg /dev/null "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 -s stop ||
            warn "postgres: pg_ctl stop failed"
        term_then_kill "$pid" 10 postgres
    fi
    # postmaster.pid is removed by a clean shutdown; after a kill, remove it here.
    [ -n "$(server_pid postgres)" ] || rm -f "$PG_DATA/postmaster.pid"
}

# --- Redis ---------------------------------------------------------------------------

REDIS_CONF=$DIR/redis/redis.conf
REDIS_PIDFILE=$DIR/redis/redis.pid
REDIS_LOG=$DIR/redis/redis.log

redis_answers() {
    [ "$(timeout 5 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

redis_init() {
    mkdir -p "$DIR/redis/data"
    cat >"$REDIS_CONF" <<EOF
# badgeflow local stack (deploy/local/stack.sh)
bind $HOST
port $REDIS_PORT
protected-mode yes
daemonize no
pidfile $REDIS_PIDFILE
logfile $REDIS_LOG
dir $DIR/redis/data
appendonly no
save ""
EOF
}

start_redis() {
    local pid _
    [ -f "$REDIS_CONF" ] || redis_init
    say "redis: starting on $HOST:$REDIS_PORT"
    STARTED="$STARTED redis"
    setsid redis-server "$REDIS_CONF" </dev/null >>"$REDIS_LOG" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$REDIS_PIDFILE"
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log "$REDIS_LOG"
            die "redis failed to start on $HOST:$REDIS_PORT$(port_hint "$REDIS_LOG")"
        fi
        redis_answers && [ "$(server_pid redis)" = "$pid" ] && break
        sleep 0.2
    done
    redis_answers || { show_log "$REDIS_LOG"; die "redis does not answer on $HOST:$REDIS_PORT"; }
    say "redis: up on $HOST:$REDIS_PORT"
}

stop_redis() {
    local pid
    pid=$(server_pid redis)
    if [ -n "$pid" ]; then
        say "redis: stopping (pid $pid)"
        term_then_kill "$pid" 20 redis
    fi
    rm -f "$REDIS_PIDFILE"
}

# --- Kafka ---------------------------------------------------------------------------

KAFKA_PROPS=$DIR/kafka/server.properties
KAFKA_LOG4J=$DIR/kafka/log4j.properties
KAFKA_PIDFILE=$DIR/kafka/kafka.pid
KAFKA_LOG=$DIR/kafka/kafka.log

# (not through py: see as_pg on redirections of function calls)
kafka_answers() { "$PY" -c "$PYHELP" kafka-ready "$HOST:$KAFKA_PORT" "${1:-3}" 2>/dev/null; }

kafka_config() {
    cat >"$KAFKA_PROPS" <<EOF
# badgeflow local stack (deploy/local/stack.sh): one node, KRaft combined mode
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DIR/kafka/data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=4
EOF
    cat >"$KAFKA_LOG4J" <<'EOF'
# badgeflow local stack: everything to stdout, which stack.sh sends to kafka.log
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.org.apache.zookeeper=WARN
EOF
}

# The JVM command line for a Kafka main class: "${KAFKA_JVM[@]}" CLASS ARGS...
kafka_jvm() {
    KAFKA_JVM=("$JAVA" -Xmx512m -Xms128m -XX:+UseG1GC -Djava.awt.headless=true
        -Djava.net.preferIPv4Stack=true
        -Dlog4j.configuration="file:$KAFKA_LOG4J" -cp "$KAFKA_LIBS/*")
}

kafka_format() {
    local id
    id=$(py cluster-id)
    say "kafka: formatting $DIR/kafka/data (cluster id $id)"
    kafka_jvm
    "${KAFKA_JVM[@]}" kafka.tools.StorageTool format -t "$id" -c "$KAFKA_PROPS" \
        </dev/null >"$DIR/kafka/format.log" 2>&1 9>&- ||
        { show_log "$DIR/kafka/format.log"; die "kafka: StorageTool format failed"; }
}

# Starts the broker in the background; kafka_wait waits for it.
launch_kafka() {
    if [ ! -f "$KAFKA_PROPS" ]; then
        mkdir -p "$DIR/kafka/data"
        kafka_config
        kafka_format
    fi
    say "kafka: starting on $HOST:$KAFKA_PORT (controller $HOST:$KAFKA_CONTROLLER_PORT)"
    STARTED="$STARTED kafka"
    kafka_jvm
    setsid "${KAFKA_JVM[@]}" kafka.Kafka "$KAFKA_PROPS" </dev/null >>"$KAFKA_LOG" 2>&1 9>&- &
    echo "$!" >"$KAFKA_PIDFILE"
}

kafka_wait() {
    local pid deadline
    pid=$(cat "$KAFKA_PIDFILE")
    deadline=$((SECONDS + KAFKA_TIMEOUT))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log "$KAFKA_LOG" 25
            die "kafka failed to start on $HOST:$KAFKA_PORT (controller $HOST:$KAFKA_CONTROLLER_PORT)$(port_hint "$KAFKA_LOG")"
        fi
        kafka_answers 3 && { say "kafka: up on $HOST:$KAFKA_PORT"; return 0; }
        sleep 0.5
    done
    show_log "$KAFKA_LOG" 25
    die "kafka does not answer on $HOST:$KAFKA_PORT after $KAFKA_TIMEOUT s"
}

start_kafka() {
    launch_kafka
    kafka_wait
}

stop_kafka() {
    local pid
    pid=$(server_pid kafka)
    if [ -n "$pid" ]; then
        say "kafka: stopping (pid $pid)"
        term_then_kill "$pid" 60 kafka
    fi
    rm -f "$KAFKA_PIDFILE"
}

# --- the stack -----------------------------------------------------------------------

# ": address already in use" when the server's log says so.
port_hint() {
    if grep -qiE 'address already in use|could not bind|failed to bind' "$1" 2>/dev/null; then
        printf ': address already in use'
    fi
}

is_up() {
    [ -n "$(server_pid "$1")" ] || return 1
    case $1 in
    postgres) pg_answers ;;
    redis) redis_answers ;;
    kafka) kafka_answers 5 ;;
    esac
}

stop_component() {
    case $1 in
    postgres) stop_postgres ;;
    redis) stop_redis ;;
    kafka) stop_kafka ;;
    esac
}

stop_all() {
    local c
    for c in kafka redis postgres; do
        stop_component "$c"
    done
}

# On a failed start: stop what this run started, leave no pid file or env file.
on_exit() {
    local rc=$? c
    set +e
    if [ "$rc" -ne 0 ] && [ "$STARTING" -eq 1 ]; then
        warn "start failed; stopping what this run started:${STARTED:- nothing}"
        for c in kafka redis postgres; do
            case " $STARTED " in *" $c "*) stop_component "$c" >&2 ;; esac
        done
        rm -f "$ENV_FILE"
    fi
    exit "$rc"
}

# A shell-safe KEY=value line: plain when the value needs no quotes.
env_line() {
    case $2 in
    *[!A-Za-z0-9_./:@,+=-]* | '') printf "%s='%s'\n" "$1" "$(printf '%s' "$2" | sed "s/'/'\\\\''/g")" ;;
    *) printf '%s=%s\n' "$1" "$2" ;;
    esac
}

write_env() {
    {
        echo "# badgeflow local stack, written by deploy/local/stack.sh; shell KEY=value lines"
        env_line BADGEFLOW_STACK_DIR "$DIR"
        env_line BADGEFLOW_STACK_PG_PORT "$PG_PORT"
        env_line BADGEFLOW_STACK_REDIS_PORT "$REDIS_PORT"
        env_line BADGEFLOW_STACK_KAFKA_PORT "$KAFKA_PORT"
        env_line BADGEFLOW_STACK_KAFKA_CONTROLLER_PORT "$KAFKA_CONTROLLER_PORT"
        env_line BADGEFLOW_STACK_PG_SOCKET_DIR "$DIR/pg/run"
        env_line BADGEFLOW_STACK_PG_ADMIN_CONNINFO \
            "host=$HOST port=$PG_PORT dbname=postgres user=postgres"
        env_line BADGEFLOW_KAFKA_BROKERS "$HOST:$KAFKA_PORT"
        env_line BADGEFLOW_POSTGRES_CONNINFO \
            "host=$HOST port=$PG_PORT dbname=badgeflow user=badgeflow"
        env_line BADGEFLOW_REDIS_HOST "$HOST"
        env_line BADGEFLOW_REDIS_PORT "$REDIS_PORT"
    } >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

check_dir() {
    case $DIR in
    *[!A-Za-z0-9_./-]*) die "BADGEFLOW_STACK_DIR ($DIR) may hold only letters, digits and _ . / -" ;;
    / | /tmp | /root | /home) die "BADGEFLOW_STACK_DIR must not be $DIR itself" ;;
    esac
}

# Takes the lock of the scratch dir for the rest of this run; creates the dir if $1=create.
lock_dir() {
    if [ "${1:-}" = create ]; then
        mkdir -p "$DIR"
    elif [ ! -d "$DIR" ]; then
        return 1
    fi
    exec 9>>"$DIR/.lock"
    flock -w 300 9 || die "another stack.sh is busy with $DIR (lock $DIR/.lock)"
}

preflight() {
    local tool
    [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 is not installed ($PG_BIN); run deploy/local/install.sh"
    for tool in redis-server redis-cli "$JAVA" "$PY" flock setsid timeout; do
        command -v "$tool" >/dev/null || die "$tool not found; run deploy/local/install.sh"
    done
    [ -f "$KAFKA_STAMP" ] ||
        die "no Kafka $KAFKA_VERSION jars in $KAFKA_LIBS; run deploy/local/install.sh"
    "$PY" -c 'import confluent_kafka' 2>/dev/null ||
        die "$PY has no confluent_kafka (python3-confluent-kafka); run deploy/local/install.sh"
    if [ "$(id -u)" -eq 0 ]; then
        id "$PG_SYSUSER" >/dev/null 2>&1 || die "no system user $PG_SYSUSER (package postgresql)"
        runuser -u "$PG_SYSUSER" -- test -x "$DIR" -a -r "$DIR" ||
            die "user $PG_SYSUSER cannot enter $DIR: make it and its parents world-searchable"
    fi
}

all_up() {
    local c
    load_ports || return 1
    [ -f "$ENV_FILE" ] || return 1
    for c in $COMPONENTS; do
        is_up "$c" || return 1
    done
}

any_running() { [ -n "$(py procs "$DIR")" ]; }

# A running stack asked for on other ports than it has: refuse rather than hand out
# addresses the caller did not ask for.
check_requested_ports() {
    local want have name var
    for name in PG REDIS KAFKA KAFKA_CONTROLLER; do
        var=BADGEFLOW_STACK_${name}_PORT
        want=${!var:-}
        var=${name}_PORT
        have=${!var}
        if [ -n "$want" ] && [ "$want" != "$have" ]; then
            die "the stack in $DIR already runs with port $have, not" \
                "BADGEFLOW_STACK_${name}_PORT=$want; run '$0 stop' first to change ports"
        fi
    done
}

cmd_start() {
    local t0=$SECONDS
    check_dir
    lock_dir create
    if all_up; then
        check_requested_ports
        say "already running in $DIR (postgres $PG_PORT, redis $REDIS_PORT, kafka $KAFKA_PORT)"
        say "env: $ENV_FILE"
        return 0
    fi
    if any_running; then
        say "half-started stack in $DIR: stopping it to start again cleanly"
        stop_all
    fi
    preflight
    choose_ports
    STARTING=1
    rm -rf "$DIR/pg" "$DIR/redis" "$DIR/kafka" "$ENV_FILE" "$PORTS_FILE"
    mkdir -p "$DIR/kafka" "$DIR/redis"
    write_ports
    launch_kafka # the slowest: it boots while PostgreSQL and Redis start
    start_postgres
    start_redis
    kafka_wait
    write_env
    STARTING=0
    say "up in $((SECONDS - t0)) s; env: $ENV_FILE"
}

cmd_stop() {
    check_dir
    if ! lock_dir; then
        say "nothing to stop ($DIR does not exist)"
        return 0
    fi
    if any_running; then
        stop_all
        say "stopped"
    else
        # Still clear pid files a killed server may have left.
        stop_all >/dev/null
        say "nothing running in $DIR"
    fi
    rm -f "$ENV_FILE"
}

cmd_status() {
    local c pid port rc=0
    check_dir
    load_ports || true
    for c in $COMPONENTS; do
        case $c in
        postgres) port=${PG_PORT:-} ;;
        redis) port=${REDIS_PORT:-} ;;
        kafka) port=${KAFKA_PORT:-} ;;
        esac
        pid=$(server_pid "$c")
        if [ -n "$pid" ] && [ -n "$port" ] && is_up "$c"; then
            printf '%-8s up    %s:%s pid %s\n' "$c" "$HOST" "$port" "$pid"
        elif [ -n "$pid" ]; then
            printf '%-8s down  (pid %s does not answer on %s:%s)\n' "$c" "$pid" "$HOST" "${port:-?}"
            rc=3
        else
            printf '%-8s down\n' "$c"
            rc=3
        fi
    done
    return "$rc"
}

cmd_env() {
    check_dir
    [ -f "$ENV_FILE" ] || die "no $ENV_FILE: the stack is not running (run: $0 start)"
    cat "$ENV_FILE"
}

cmd_stop_component() {
    check_dir
    if ! lock_dir; then
        say "$1: nothing to stop ($DIR does not exist)"
        return 0
    fi
    if [ -z "$(server_pid "$1")" ]; then
        stop_component "$1" >/dev/null # clears a stale pid file
        say "$1: not running"
        return 0
    fi
    stop_component "$1"
    say "$1: stopped"
}

cmd_start_component() {
    check_dir
    lock_dir || die "no stack in $DIR (run: $0 start)"
    load_ports || die "no ports recorded in $PORTS_FILE (run: $0 start)"
    if is_up "$1"; then
        say "$1: already up"
        return 0
    fi
    [ -z "$(server_pid "$1")" ] || stop_component "$1"
    case $1 in
    postgres) [ -f "$PG_DATA/PG_VERSION" ] ;;
    redis) [ -f "$REDIS_CONF" ] ;;
    kafka) [ -f "$KAFKA_PROPS" ] ;;
    esac || die "$1 has no data in $DIR (run: $0 start)"
    preflight
    if [ "${BADGEFLOW_STACK_SKIP_PORT_CHECK:-0}" != 1 ]; then
        case $1 in
        postgres) py port-free "$PG_PORT" || die "postgres: port $PG_PORT on $HOST is already in use" ;;
        redis) py port-free "$REDIS_PORT" || die "redis: port $REDIS_PORT on $HOST is already in use" ;;
        kafka) py port-free "$KAFKA_PORT" || die "kafka: port $KAFKA_PORT on $HOST is already in use" ;;
        esac
    fi
    STARTING=1
    case $1 in
    postgres) start_postgres ;;
    redis) start_redis ;;
    kafka) start_kafka ;;
    esac
    STARTING=0
    if [ ! -f "$ENV_FILE" ] && all_up_no_env; then write_env; fi
}

all_up_no_env() {
    local c
    for c in $COMPONENTS; do is_up "$c" || return 1; done
}

component_arg() {
    case ${1:-} in
    postgres | redis | kafka) ;;
    '') die "a component name is needed: postgres, redis or kafka" ;;
    *) die "unknown component '$1': postgres, redis or kafka" ;;
    esac
}

main() {
    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    stop-component) component_arg "${2:-}" && cmd_stop_component "$2" ;;
    start-component) component_arg "${2:-}" && cmd_start_component "$2" ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
