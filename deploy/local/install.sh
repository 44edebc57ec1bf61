#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages badgeflow needs (only the missing ones) and fetches the
# Apache Kafka broker jars from Maven Central into a cache directory. Safe to run twice.
#
# Environment:
#   BADGEFLOW_CACHE  cache root (default: $HOME/.cache/badgeflow); the jars land in
#                    $BADGEFLOW_CACHE/kafka-3.9.1/libs
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PACKAGES_FILE=$HERE/packages.txt
KAFKA_POM=$HERE/kafka-pom.xml
KAFKA_VERSION=3.9.1
CACHE=${BADGEFLOW_CACHE:-$HOME/.cache/badgeflow}
KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
KAFKA_LIBS=$KAFKA_HOME/libs
KAFKA_STAMP=$KAFKA_HOME/libs.complete
# Classes stack.sh runs; the download is only accepted when both are on the classpath.
KAFKA_CLASSES="kafka/Kafka.class kafka/tools/StorageTool.class"

say() { printf 'install: %s\n' "$*"; }
die() {
    printf 'install: error: %s\n' "$*" >&2
    exit 1
}

# --- Debian packages -----------------------------------------------------------------

# Package names of packages.txt, comments and blanks stripped.
wanted_packages() {
    sed -e 's/#.*//' -e 's/[[:space:]]//g' "$PACKAGES_FILE" | grep -v '^$'
}

# Names provided by installed packages (virtual packages), one per line.
provided_names() {
    dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null |
        awk -F'|' '$1 ~ /^ii/ && $2 != "" { print $2 }' |
        tr ',' '\n' | sed -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' | sort -u
}

# True when $1 is installed, or provided by an installed package.
is_installed() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true)
    case $status in ii*) return 0 ;; esac
    grep -qxF -- "$1" <<<"$PROVIDED"
}

# Runs an apt-get command as root, waiting (up to ~10 min) while another process
# holds the dpkg/apt locks.
apt_run() {
    local try out rc
    for try in $(seq 1 60); do
        rc=0
        out=$(DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=120 \
            -o Dpkg::Use-Pty=0 "$@" 2>&1) || rc=$?
        if [ "$rc" -eq 0 ]; then
            return 0
        fi
        if grep -qiE 'could not get lock|unable to acquire|is another process using it' \
            <<<"$out"; then
            say "apt is locked by another process; waiting (try $try)"
            sleep 10
            continue
        fi
        printf '%s\n' "$out" | tail -n 25 >&2
        return "$rc"
    done
    die "apt-get $*: the dpkg lock stayed held for too long"
}

install_packages() {
    local missing=() pkg
    command -v dpkg-query >/dev/null || die "dpkg-query not found: this script needs Debian 12"
    [ -r "$PACKAGES_FILE" ] || die "cannot read $PACKAGES_FILE"
    PROVIDED=$(provided_names)
    while read -r pkg; do
        is_installed "$pkg" || missing+=("$pkg")
    done < <(wanted_packages)
    if [ "${#missing[@]}" -eq 0 ]; then
        say "packages: all $(wanted_packages | wc -l) present"
        return 0
    fi
    say "packages: missing ${missing[*]}"
    SUDO=
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "not root and no sudo: cannot install ${missing[*]}"
        SUDO=sudo
    fi
    say "apt-get update"
    apt_run update -q || die "apt-get update failed"
    say "apt-get install ${missing[*]}"
    apt_run install -y -q --no-install-recommends "${missing[@]}" ||
        die "apt-get install failed for: ${missing[*]}"
    PROVIDED=$(provided_names)
    for pkg in "${missing[@]}"; do
        is_installed "$pkg" || die "package $pkg is still not installed after apt-get install"
    done
    say "packages: installed ${#missing[@]}"
}

# --- Kafka broker jars ---------------------------------------------------------------

pom_digest() { sha256sum "$KAFKA_POM" | cut -d' ' -f1; }

# True when the cache holds a complete download made from the current pom.
kafka_cached() {
    [ -f "$KAFKA_STAMP" ] && [ -d "$KAFKA_LIBS" ] &&
        grep -qx "pom_sha256=$(pom_digest)" "$KAFKA_STAMP"
}

# The jar in $1 that holds class file $2 (a path like kafka/Kafka.class), or nothing.
jar_with_class() {
    local jar
    for jar in "$1"/*.jar; do
        # unzip -Z1 JAR NAME lists NAME only if present (no grep -q: SIGPIPE + pipefail).
        if unzip -Z1 "$jar" "$2" >/dev/null 2>&1; then
            printf '%s\n' "${jar##*/}"
            return 0
        fi
    done
    return 1
}

# Checks a freshly downloaded libs dir: the classes, the slf4j binding, and a real
# JVM run of StorageTool so every runtime dependency is known to resolve.
check_kafka_libs() {
    local dir=$1 cls jar api='' binding='' f
    for cls in $KAFKA_CLASSES; do
        jar=$(jar_with_class "$dir" "$cls") || die "class ${cls%.class} is in no jar of $dir"
        say "kafka jars: ${cls%.class} in $jar"
    done
    for f in "$dir"/slf4j-api-*.jar "$dir"/slf4j-reload4j-*.jar; do
        [ -e "$f" ] || continue
        case ${f##*/} in
        slf4j-api-*.jar) api=${f##*/slf4j-api-} api=${api%.jar} ;;
        slf4j-reload4j-*.jar) binding=${f##*/slf4j-reload4j-} binding=${binding%.jar} ;;
        esac
    done
    [ -n "$api" ] || die "no slf4j-api jar in $dir"
    [ "$api" = "$binding" ] ||
        die "slf4j-reload4j '$binding' does not match Kafka's slf4j-api '$api' (fix kafka-pom.xml)"
    say "kafka jars: slf4j-api $api with slf4j-reload4j $binding"
    java -cp "$dir/*" kafka.tools.StorageTool random-uuid >/dev/null 2>"$KAFKA_HOME/check.log" ||
        die "kafka.tools.StorageTool does not run from $dir (see $KAFKA_HOME/check.log)"
    say "kafka jars: kafka.tools.StorageTool runs"
}

fetch_kafka() {
    local work tmp count
    if kafka_cached; then
        say "kafka $KAFKA_VERSION jars: cached in $KAFKA_LIBS ($(find "$KAFKA_LIBS" -maxdepth 1 -name '*.jar' | wc -l) jars)"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (package maven)"
    command -v java >/dev/null || die "java not found (package default-jre-headless)"
    command -v unzip >/dev/null || die "unzip not found (package unzip)"
    mkdir -p "$KAFKA_HOME"
    work=$KAFKA_HOME/work
    tmp=$KAFKA_HOME/libs.tmp
    rm -rf "$work" "$tmp"
    mkdir -p "$work"
    # Run Maven in the cache, not in the tree, so nothing (target/) lands in the repo.
    cp "$KAFKA_POM" "$work/pom.xml"
    say "kafka $KAFKA_VERSION jars: fetching from Maven Central (log: $KAFKA_HOME/mvn.log)"
    if ! (cd "$work" && mvn -B -q -f pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp") >"$KAFKA_HOME/mvn.log" 2>&1; then
        tail -n 30 "$KAFKA_HOME/mvn.log" >&2
        die "mvn dependency:copy-dependencies failed (full log: $KAFKA_HOME/mvn.log)"
    fi
    count=$(find "$tmp" -maxdepth 1 -name '*.jar' | wc -l)
    [ "$count" -gt 0 ] || die "mvn copied no jars into $tmp"
    say "kafka jars: $count jars downloaded"
    check_kafka_libs "$tmp"
    rm -rf "$KAFKA_LIBS" "$work"
    mv "$tmp" "$KAFKA_LIBS"
    {
        echo "kafka_version=$KAFKA_VERSION"
        echo "pom_sha256=$(pom_digest)"
        echo "jars=$count"
        echo "fetched=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$KAFKA_STAMP.tmp"
    mv "$KAFKA_STAMP.tmp" "$KAFKA_STAMP"
    say "kafka $KAFKA_VERSION jars: ready in $KAFKA_LIBS"
}

# Test-only tools from PyPI, pinned, in a venv of Debian's Python under the cache: the
# Ralph LRS, a real Learning Record Store the analytics tests forward statements to.
RALPH_VENV=$CACHE/ralph-venv
RALPH_PINS="ralph-malph[lrs]==5.1.0 requests==2.32.3"

install_test_tools() {
    local stamp=$RALPH_VENV/.badgeflow-pins
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$RALPH_PINS" ]; then
        say "ralph LRS: cached in $RALPH_VENV"
        return 0
    fi
    say "ralph LRS: installing $RALPH_PINS into $RALPH_VENV"
    rm -rf "$RALPH_VENV"
    /usr/bin/python3 -m venv "$RALPH_VENV" || die "cannot create the venv $RALPH_VENV"
    # shellcheck disable=SC2086
    "$RALPH_VENV/bin/pip" install --quiet --disable-pip-version-check $RALPH_PINS ||
        die "pip could not install $RALPH_PINS"
    echo "$RALPH_PINS" >"$stamp"
}

main() {
    [ "$#" -eq 0 ] || die "usage: $0 (no arguments; see the header for BADGEFLOW_CACHE)"
    install_packages
    fetch_kafka
    install_test_tools
    say "done"
}

main "$@"
