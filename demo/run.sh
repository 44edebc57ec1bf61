#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo: installs what is missing, builds, starts the real stack (PostgreSQL, Redis,
# Kafka on loopback), applies the migrations, creates the topics, loads the catalogue and
# shows it. Stops the stack on exit unless --keep is given.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BADGEFLOW_BUILD_DIR:-$top/build}
export BADGEFLOW_STACK_DIR=${BADGEFLOW_STACK_DIR:-/tmp/badgeflow-demo}
keep=false

usage() {
    echo "usage: demo/run.sh [--keep]"
    echo "  --keep   leave the stack running afterwards (stop: deploy/local/stack.sh stop)"
}

for arg in "$@"; do
    case $arg in
    --keep) keep=true ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

stop_stack() {
    if ! $keep; then
        say "stopping the stack (use --keep to leave it running)"
        "$top/deploy/local/stack.sh" stop
    fi
}

say "installing what is missing (Debian packages, Kafka 3.9.1 jars)"
"$top/deploy/local/install.sh"

say "building"
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build"

say "starting PostgreSQL, Redis and Kafka on loopback ($BADGEFLOW_STACK_DIR)"
"$top/deploy/local/stack.sh" start
trap stop_stack EXIT
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
"$cli" catalogue show

say "where to look next"
cat <<EOT
  stack addresses:   $BADGEFLOW_STACK_DIR/stack.env
  tail a topic:      $cli tail submissions
  database:          psql "\$BADGEFLOW_POSTGRES_CONNINFO"
EOT
