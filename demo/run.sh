#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo: installs what is missing, builds, starts the real stack (PostgreSQL, Redis,
# Kafka on loopback), applies the migrations, creates the topics, loads the catalogue, then
# hands over to demo/driver.py: a state agency with two districts, a pilot, a dozen assessors,
# all seven daemons, two dozen submissions with real media scored by scripted assessors
# through the gateway, and the report (journeys, decisions, credentials, pilot metrics,
# webhooks, where to look next). Stops the daemons and the stack on exit unless --keep.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BADGEFLOW_BUILD_DIR:-$top/build}
export BADGEFLOW_STACK_DIR=${BADGEFLOW_STACK_DIR:-/tmp/badgeflow-demo}
keep=false

usage() {
    echo "usage: demo/run.sh [--keep]"
    echo "  --keep   leave the daemons and the stack running afterwards"
    echo "           (stop: kill \$(cat $BADGEFLOW_STACK_DIR/work/pids/*.pid); deploy/local/stack.sh stop)"
}

for arg in "$@"; do
    case $arg in
    --keep) keep=true ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

work=$BADGEFLOW_STACK_DIR/work

# The driver stops its daemons itself; this catches any it left behind (it was killed),
# by the pids it wrote, never by name.
stop_daemons() {
    local pidfile
    for pidfile in "$work"/pids/*.pid; do
        [ -e "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

stop_all() {
    if ! $keep; then
        stop_daemons
        say "stopping the stack (use --keep to leave it running)"
        "$top/deploy/local/stack.sh" stop
    fi
}

run_driver() {
    local args=(--stack-env "$BADGEFLOW_STACK_DIR/stack.env" --build "$build" --work "$work")
    $keep && args+=(--keep)
    rm -rf "$work"
    /usr/bin/python3 "$top/demo/driver.py" "${args[@]}"
}

say "installing what is missing (Debian packages, Kafka 3.9.1 jars)"
"$top/deploy/local/install.sh"

say "building"
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build"

say "starting PostgreSQL, Redis and Kafka on loopback ($BADGEFLOW_STACK_DIR)"
"$top/deploy/local/stack.sh" start
trap stop_all EXIT
set -a
# shellcheck disable=SC1091
. "$BADGEFLOW_STACK_DIR/stack.env"
set +a

cli="$build/tools/cli/badgeflow"
say "applying database migrations"
"$cli" migrate
say "creating topics"
"$cli" topics create
say "loading the catalogue from config/catalogue/"
"$cli" catalogue load "$top/config/catalogue"
say "the catalogue"
{ "$cli" catalogue show || true; } | head -40
echo "  ... (all of it: $cli catalogue show)"

run_driver
