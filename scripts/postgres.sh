#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store's PostgreSQL tests: starts it (initializing it the
# first time, installing Debian's postgresql package if its binaries are missing) and prints its
# URL, postgres://hone@127.0.0.1:PORT/hone, on stdout; everything else goes to stderr. Safe to
# run again: a running server is left alone, a stopped one (the machine restarted) is started.
#   scripts/postgres.sh        start it, print the URL
#   scripts/postgres.sh stop   stop it (the data stays)
#   scripts/postgres.sh clean  start it, drop the test databases earlier runs left (each test
#                              makes its own and never drops it; those of a test process still
#                              running are kept), print the URL
# HONE_PG_DIR (default /var/tmp/hone-pg) holds the data (data/), the socket (run/) and the log
# (postgres.log); HONE_PG_PORT (default 54329) is the TCP port, on 127.0.0.1 only. Trust
# authentication, for the socket and 127.0.0.1 only: a test server, never a real one.
set -euo pipefail

dir="${HONE_PG_DIR:-/var/tmp/hone-pg}"
port="${HONE_PG_PORT:-54329}"
data="$dir/data"
run="$dir/run"
log="$dir/postgres.log"
url="postgres://hone@127.0.0.1:$port/hone"
action="${1:-start}"
case "$action" in
    start | stop | clean) ;;
    *)
        echo "usage: $0 [start|stop|clean]" >&2
        exit 2
        ;;
esac

sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"

# The server binaries: on PATH, else where Debian puts them (not on PATH), newest version first.
find_bindir() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    local candidate
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
            echo "$candidate"
            return
        fi
    done
}
bindir="$(find_bindir)"
if [ -z "$bindir" ]; then
    [ "$action" = stop ] && exit 0 # nothing installed, so nothing runs
    echo "postgres: installing Debian's postgresql package with apt" >&2
    $sudo_cmd apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends postgresql >&2
    bindir="$(find_bindir)"
    if [ -z "$bindir" ]; then
        echo "postgres: the postgresql package installed no initdb/pg_ctl" >&2
        exit 1
    fi
fi
psql="$bindir/psql"
[ -x "$psql" ] || psql="psql"

# PostgreSQL refuses to run as root: as root, the server's files belong to the `postgres` system
# user (the package creates it) and its commands run as that user.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    if ! id -u postgres >/dev/null 2>&1; then
        echo "postgres: creating the postgres system user" >&2
        useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    as_pg=(runuser -u postgres --)
fi
pg_ctl() { "${as_pg[@]}" "$bindir/pg_ctl" "$@"; }
running() { [ -f "$data/PG_VERSION" ] && pg_ctl -D "$data" status >/dev/null 2>&1; }

if [ "$action" = stop ]; then
    if running; then
        pg_ctl -D "$data" -w -m fast stop >&2
    fi
    exit 0
fi

mkdir -p "$dir"
# One caller at a time: tests started together must not initialize the same folder twice.
# (The server must not inherit the lock's descriptor, or it holds the lock as long as it runs.)
exec 9>"$dir/.lock"
flock 9

mkdir -p "$run"
if [ "${#as_pg[@]}" -gt 0 ]; then
    chown -R postgres: "$dir"
    if ! "${as_pg[@]}" test -w "$dir"; then
        echo "postgres: the postgres user cannot write $dir (a folder above it is closed to it); set HONE_PG_DIR" >&2
        exit 1
    fi
fi
chmod 700 "$run"

if [ ! -f "$data/PG_VERSION" ]; then
    # A half-made data folder (an earlier initdb was killed) is of no use: start again.
    rm -rf "$data"
    echo "postgres: initializing $data" >&2
    # The bootstrap superuser is `hone`. No locale: text compares and sorts by its bytes, as in
    # SQLite.
    "${as_pg[@]}" "$bindir/initdb" -D "$data" -U hone -E UTF8 --no-locale --auth=trust >&2
    # Trust, for the socket and 127.0.0.1 only.
    printf '%s\n' \
        'local  all  all                trust' \
        'host   all  all  127.0.0.1/32  trust' >"$data/pg_hba.conf"
    echo "include_if_exists = 'hone.conf'" >>"$data/postgresql.conf"
    [ "${#as_pg[@]}" -eq 0 ] || chown postgres: "$data/pg_hba.conf"
fi

if ! running; then
    # Where it listens, written at every start so that another HONE_PG_PORT takes effect.
    printf '%s\n' \
        "port = $port" \
        "listen_addresses = '127.0.0.1'" \
        "unix_socket_directories = '$run'" \
        "max_connections = 200" >"$data/hone.conf"
    [ "${#as_pg[@]}" -eq 0 ] || chown postgres: "$data/hone.conf" "$run"
    echo "postgres: starting the server on $data (log: $log)" >&2
    touch "$log"
    [ "${#as_pg[@]}" -eq 0 ] || chown postgres: "$log"
    pg_ctl -D "$data" -l "$log" -w -t 60 start >&2 9>&-
fi

# The database `hone` (the role is the bootstrap superuser).
query() { "$psql" -X -q -v ON_ERROR_STOP=1 -h "$run" -p "$port" -U hone -d postgres -Atc "$1"; }
if [ -z "$(query "SELECT 1 FROM pg_database WHERE datname = 'hone'")" ]; then
    query "CREATE DATABASE hone" >&2
fi
if [ "$action" = clean ]; then
    dropped=0
    tests="$(query "SELECT datname FROM pg_database WHERE datname ~ '^hone_[a-z]+_test_[0-9_]+$'")"
    for db in $tests; do
        # The number after `test_` is the test process's id: while it runs, its database stays
        # (and one a client is connected to is refused anyway).
        pid="${db#hone_*_test_}"
        pid="${pid%%_*}"
        [ -d "/proc/$pid" ] && continue
        if query "DROP DATABASE \"$db\"" >/dev/null 2>&1; then dropped=$((dropped + 1)); fi
    done
    echo "postgres: dropped $dropped test databases of earlier runs" >&2
fi

echo "$url"
