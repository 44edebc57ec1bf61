#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The one test command: installs what is missing, builds (warnings are errors) plainly
# and with ASan+UBSan, starts the real stack (PostgreSQL, Redis, Kafka on loopback), runs
# the unit tests of both builds against it, checks formatting, validates the event and
# catalogue schemas, and runs the integration tests against the built daemons.
# Ends with "N passed, N failed" over every test and check it ran.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BADGEFLOW_BUILD_DIR:-$top/build}
asan_build=${BADGEFLOW_ASAN_BUILD_DIR:-$top/build-asan}
stack_dir=${BADGEFLOW_STACK_DIR:-$(mktemp -d /tmp/badgeflow-test-stack.XXXXXX)}
logs=$(mktemp -d /tmp/badgeflow-test-logs.XXXXXX)
py=/usr/bin/python3
passed=0
failed=0
failed_steps=()

say() { printf '\n==> %s\n' "$*"; }

# Add the counts a step's log reports (ctest and pytest summaries); a step that runs
# no test runner counts as one check.
count_results() {
    local log=$1 ok=$2 p f
    # grep finds nothing in most logs: under errexit and pipefail that must not end the run
    set +e
    p=$(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\2 \1/p' "$log" |
        awk '{p += $1 - $2} END {print p + 0}')
    f=$(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of.*/\1/p' "$log" |
        awk '{f += $1} END {print f + 0}')
    local pp pf
    pp=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$log" |
        grep -oE '[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
    pf=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)|[0-9]+ error' "$log" |
        grep -oE '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}')
    p=$((p + pp))
    f=$((f + pf))
    if [ $((p + f)) -eq 0 ]; then
        if [ "$ok" = yes ]; then p=1; else f=1; fi
    elif [ "$ok" = no ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    set -e
}

# Run one named step with its output shown and kept; never stop the run on its failure.
run_step() {
    local name=$1 log ok=yes t0=$SECONDS
    shift
    say "$name"
    log="$logs/$(echo "$name" | tr -c 'a-zA-Z0-9' '_').log"
    if ! "$@" 2>&1 | tee "$log"; then
        ok=no
        failed_steps+=("$name")
    fi
    count_results "$log" "$ok"
    printf '    %s: %s (%ds)\n' "$([ $ok = yes ] && echo ok || echo FAILED)" "$name" \
        $((SECONDS - t0))
}

configure_and_build() {
    local dir=$1
    shift
    cmake -S "$top" -B "$dir" -G Ninja -DBF_WERROR=ON "$@" >/dev/null && ninja -C "$dir"
}

unit_tests() {
    ctest --test-dir "$1" --output-on-failure -j2
}

format_check() {
    local files
    mapfile -t files < <(git -C "$top" ls-files '*.c' '*.h')
    [ "${#files[@]}" -eq 0 ] && return 0
    (cd "$top" && clang-format --dry-run -Werror "${files[@]}")
}

# The analyzer and bugprone checks of .clang-tidy over every C file of the tree.
tidy_check() {
    local files
    mapfile -t files < <(git -C "$top" ls-files 'common/*.c' 'services/*.c' 'tools/*.c')
    printf '%s\n' "${files[@]}" | (cd "$top" && xargs -P2 -n8 clang-tidy -p "$build" --quiet \
        --extra-arg=-Wno-unknown-warning-option)
}

start_stack() {
    chmod 755 "$stack_dir" # PostgreSQL runs as the postgres user, who must enter it
    BADGEFLOW_STACK_DIR=$stack_dir "$top/deploy/local/stack.sh" start
}

# The stack's addresses for the unit tests' server parts. In the main shell: a step runs in
# a pipeline (a subshell), where exports would not outlive it.
export_stack_env() {
    [ -f "$stack_dir/stack.env" ] || return 0
    set -a
    # shellcheck disable=SC1091
    . "$stack_dir/stack.env"
    set +a
}

stop_stack() {
    BADGEFLOW_STACK_DIR=$stack_dir "$top/deploy/local/stack.sh" stop >/dev/null 2>&1 || true
}

pytest_run() {
    BADGEFLOW_BUILD_DIR=$build BADGEFLOW_STACK_ENV=$stack_dir/stack.env \
        "$py" -m pytest -q -p no:cacheprovider "$@"
}

main() {
    say "install packages and the Kafka broker jars"
    "$top/deploy/local/install.sh"
    trap stop_stack EXIT

    run_step "build (-Werror)" configure_and_build "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
    run_step "build with ASan+UBSan" configure_and_build "$asan_build" \
        -DCMAKE_BUILD_TYPE=Debug -DBF_SANITIZE=ON
    run_step "start PostgreSQL, Redis and Kafka on loopback" start_stack
    export_stack_env
    run_step "unit tests" unit_tests "$build"
    run_step "unit tests under ASan+UBSan" unit_tests "$asan_build"
    run_step "clang-format" format_check
    run_step "clang-tidy (analyzer, bugprone)" tidy_check
    run_step "event and catalogue schemas" pytest_run "$top/tests/schemas"
    run_step "deploy manifests (compose, Kubernetes, systemd)" pytest_run "$top/tests/deploy"
    run_step "integration tests (real PostgreSQL, Redis, Kafka)" pytest_run \
        "$top/tests/integration"

    echo
    if [ "${#failed_steps[@]}" -gt 0 ]; then
        printf 'failed steps:\n'
        printf '  - %s\n' "${failed_steps[@]}"
    fi
    echo "logs: $logs"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "${#failed_steps[@]}" -eq 0 ]
}

main "$@"
