#!/usr/bin/env bash
# A throwaway PostgreSQL server for the PostgreSQL tests (tests/integration/test_postgres*.py).
#
#   scripts/postgres.sh run CMD...  `make test`: start a cluster of its own (a new temporary
#                                   directory, a free loopback port), run CMD with
#                                   QBO_TEST_POSTGRES_URL set to it, stop it and remove the directory
#                                   whatever CMD did (Ctrl-C too); exit with CMD's status. Runs CMD as
#                                   it is when QBO_TEST_POSTGRES_URL is already set (your own server)
#                                   or QBO_TEST_POSTGRES=0 (the PostgreSQL tests are then skipped).
#   scripts/postgres.sh [start]     the same cluster for manual use, one per checkout: start it (or
#                                   find it running) and print its URL, the only line on stdout:
#                                   postgresql+psycopg://qbo_test:PASSWORD@127.0.0.1:PORT/qbo_test
#   scripts/postgres.sh url         print that URL (exit 1 when it is not running)
#   scripts/postgres.sh stop        stop it and remove its directory (nothing running: no-op)
#
# Installs Debian's postgresql when /usr/lib/postgresql/*/bin/initdb is missing (apt-get, as
# scripts/browser-deps.sh does for chromium) and the psycopg driver into .venv when it does not import
# (pyproject lists it in the dev extras; this covers a venv made before). As root the server runs as
# the `postgres` user (initdb and postgres refuse root), otherwise as the caller; the Debian cluster `main` is neither used nor touched.
# Idempotent: `start` twice prints the same URL; a directory a killed run left behind is replaced.
# The manual cluster's directory: QBO_POSTGRES_DIR, else /tmp/qbo-toolkit-postgres-<uid>-<checkout hash>.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
HASH="$(pwd -P | cksum | cut -d' ' -f1)"
DIR="${QBO_POSTGRES_DIR:-/tmp/qbo-toolkit-postgres-$(id -u)-$HASH}"
LOCK="/tmp/.qbo-toolkit-postgres-$(id -u)-$HASH.lock"
MARK=".qbo-toolkit-postgres"  # a directory without it is never removed
ROLE=qbo_test
DB=qbo_test

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

pg_bin() { { find /usr/lib/postgresql -maxdepth 3 -path '*/bin/initdb' 2>/dev/null || true; } | sort -V | tail -n 1 | xargs -r dirname; }

install_postgres() {
    if [ -n "$(pg_bin)" ]; then return; fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    log "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y --no-install-recommends postgresql >&2; then
        $sudo apt-get update >&2
        $sudo apt-get install -y --no-install-recommends postgresql >&2
    fi
    [ -n "$(pg_bin)" ] || die "postgresql was installed but no /usr/lib/postgresql/*/bin/initdb was found"
}

install_driver() {
    [ -x "$PY" ] || return 0  # no venv yet: the tests cannot run anyway
    if "$PY" -c "import psycopg" 2>/dev/null; then return; fi
    log "installing the psycopg driver into $VENV"
    "$PY" -m pip install --quiet "psycopg[binary]" >&2 || "$PY" -m pip install --quiet psycopg >&2
    "$PY" -c "import psycopg" || die "psycopg does not import in $VENV"
}

if [ "$(id -u)" -eq 0 ]; then
    OWNER=postgres
    RUN=(runuser -u postgres --)
else
    OWNER="$(id -un)"
    RUN=()
fi

# run as the cluster's owner, from a directory it may enter
as_owner() { (cd "$DIR" && "${RUN[@]}" "$@"); }

# run with no descriptor open but 0-2: the server outlives this script and must hold neither the
# lock nor a pipe of whoever ran it (make, a CI runner waiting for its pipes to close)
detached() {
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd="${fd##*/}"
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        "$@"
    )
}

running() {
    [ -f "$DIR/$MARK" ] && [ -f "$DIR/port" ] && [ -f "$DIR/password" ] && [ -n "$(pg_bin)" ] \
        && as_owner "$(pg_bin)/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

url() { echo "postgresql+psycopg://$ROLE:$(cat "$DIR/password")@127.0.0.1:$(cat "$DIR/port")/$DB"; }

check_url() {  # the role logs in over TCP with its password
    PGPASSWORD="$(cat "$DIR/password")" PGCONNECT_TIMEOUT=10 "$(pg_bin)/psql" -X -q -At -h 127.0.0.1 \
        -p "$(cat "$DIR/port")" -U "$ROLE" -d "$DB" -c "SELECT 1" >/dev/null
}

remove_dir() {
    [ -e "$DIR" ] || return 0
    [ -f "$DIR/$MARK" ] && [ ! -L "$DIR" ] || die "$DIR is not a cluster made by this script; remove it or set QBO_POSTGRES_DIR"
    if [ -n "$(pg_bin)" ] && [ -f "$DIR/data/postmaster.pid" ]; then
        as_owner "$(pg_bin)/pg_ctl" -D "$DIR/data" -m immediate -w -t 60 stop >&2 || true
    fi
    rm -rf "$DIR"
}

free_port() {
    local py="$PY"
    [ -x "$py" ] || py=python3
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    install_postgres
    install_driver
    if running && check_url; then
        url
        return
    fi
    remove_dir  # a cluster left stopped or broken by an earlier run: start afresh
    local bin password port started=""
    bin="$(pg_bin)"
    id -u "$OWNER" >/dev/null 2>&1 || die "no user $OWNER to run the server as"
    mkdir -m 700 "$DIR"
    touch "$DIR/$MARK"
    password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    (umask 077 && echo "$password" > "$DIR/password")
    chown -R "$OWNER" "$DIR"
    log "initdb in $DIR ($("$bin/postgres" --version))"
    as_owner "$bin/initdb" -D "$DIR/data" -U postgres -E UTF8 --no-locale --auth-local=trust \
        --auth-host=scram-sha-256 > "$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    # throwaway data: no fsync; no parallel workers (containers often have a small /dev/shm)
    for _ in 1 2 3 4 5; do
        port="$(free_port)"
        if detached as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 120 -o "-p $port \
-c listen_addresses=127.0.0.1 -c unix_socket_directories=$DIR -c fsync=off -c synchronous_commit=off \
-c full_page_writes=off -c max_parallel_workers_per_gather=0" start >&2; then
            started=1
            break
        fi
        log "the server did not start on port $port; trying another"
    done
    if [ -z "$started" ]; then
        tail -n 30 "$DIR/server.log" >&2 || true
        die "the server did not start (log: $DIR/server.log)"
    fi
    echo "$port" > "$DIR/port"
    as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE $ROLE LOGIN PASSWORD '$password'" -c "CREATE DATABASE $DB OWNER $ROLE" >&2
    check_url || die "the role $ROLE cannot log in on 127.0.0.1:$port"
    log "running on 127.0.0.1:$port in $DIR"
    url
}

run() {
    [ $# -gt 0 ] || die "usage: scripts/postgres.sh run COMMAND [ARG...]"
    if [ -n "${QBO_TEST_POSTGRES_URL:-}" ]; then
        log "using QBO_TEST_POSTGRES_URL from the environment"
        "$@"
        return
    fi
    if [ "${QBO_TEST_POSTGRES:-1}" = 0 ]; then
        log "QBO_TEST_POSTGRES=0: no PostgreSQL server; its tests are skipped"
        "$@"
        return
    fi
    # a cluster of this run only: two runs at once never share (or stop) each other's
    DIR="$(mktemp -u /tmp/qbo-toolkit-postgres-run.XXXXXXXX)"
    trap remove_dir EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local url began=$SECONDS rc=0
    url="$(start)"
    log "PostgreSQL ready in $((SECONDS - began)) s"
    QBO_TEST_POSTGRES_URL="$url" "$@" || rc=$?
    return "$rc"
}

command="${1:-start}"
case "$command" in
    run) shift; run "$@" ;;
    start | url | stop)
        exec 9>"$LOCK"
        flock -w 600 9 || die "another postgres.sh of this checkout holds $LOCK"
        case "$command" in
            start) start; log "stop it with: scripts/postgres.sh stop" ;;
            url) running || die "no cluster is running in $DIR"; url ;;
            stop) remove_dir ;;
        esac
        ;;
    *) die "usage: scripts/postgres.sh [start|url|stop] | run COMMAND [ARG...]" ;;
esac
