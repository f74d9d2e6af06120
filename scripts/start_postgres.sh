#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for kpiml's tests and print its URL (last line of stdout).
#
#   scripts/start_postgres.sh          install if needed, create the cluster, start, print the URL
#   scripts/start_postgres.sh stop     stop the server (the cluster stays on disk for next time)
#
# Idempotent: a second call finds the server running and prints the same URL. Works on a fresh
# Debian/Ubuntu CI machine (installs the `postgresql` package with apt-get, as root or via sudo)
# and on machines where the binaries already sit in /usr/lib/postgresql/*/bin but not on PATH.
# Settings: KPIML_PG_DIR (default /tmp/kpiml-pg) holds the cluster, the socket and the log;
# KPIML_PG_PORT (default 54329). The server listens on 127.0.0.1 only, with trust auth.
# initdb refuses to run as root, so when invoked as root the server runs as the `postgres` user.
set -euo pipefail

PG_DIR="$(realpath -m "${KPIML_PG_DIR:-/tmp/kpiml-pg}")"
PG_PORT="${KPIML_PG_PORT:-54329}"
PG_DB="kpiml_test"
DATA="$PG_DIR/data"
LOG="$PG_DIR/server.log"
URL="postgresql://postgres@127.0.0.1:$PG_PORT/$PG_DB"

log() { echo "start_postgres: $*" >&2; }
die() { log "error: $*"; exit 1; }

find_bindir() {
  # Debian keeps initdb/pg_ctl in /usr/lib/postgresql/<version>/bin, off the PATH.
  local found
  if found="$(command -v pg_ctl 2>/dev/null)" && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$found")"
    return 0
  fi
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$found" ] && [ -x "$found/initdb" ] && [ -x "$found/pg_ctl" ]; then
    echo "$found"
  fi
}

install_postgres() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "PostgreSQL is not installed and this user cannot install it (no sudo); install the 'postgresql' package"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is missing; install PostgreSQL (initdb, pg_ctl) yourself"
  log "installing PostgreSQL from Debian packages (apt-get)"
  "${sudo[@]}" apt-get update -q >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
}

as_owner() {
  # Run a command as the cluster owner: `postgres` when we are root, ourselves otherwise.
  if [ "$(id -u)" -eq 0 ]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

prepare_dir() {
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh postgres
    chown postgres: "$PG_DIR"
    chmod 700 "$PG_DIR"
  fi
  as_owner test -w "$PG_DIR" || die "$PG_DIR is not writable by the server's user (choose another KPIML_PG_DIR, e.g. under /tmp)"
}

init_cluster() {
  [ -f "$DATA/PG_VERSION" ] && return 0
  log "creating a cluster in $DATA"
  if ! as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C \
      >"$PG_DIR/initdb.log" 2>&1; then
    cat "$PG_DIR/initdb.log" >&2
    die "initdb failed (log above)"
  fi
}

running_port() {
  # The port of the running server, from line 4 of postmaster.pid; empty when not running.
  if as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    sed -n 4p "$DATA/postmaster.pid"
  fi
}

start_server() {
  local port
  port="$(running_port)"
  if [ -n "$port" ]; then
    [ "$port" = "$PG_PORT" ] || die "a server from $DATA already runs on port $port; run '$0 stop' first"
    log "already running on 127.0.0.1:$PG_PORT"
    return 0
  fi
  log "starting on 127.0.0.1:$PG_PORT (log: $LOG)"
  if ! as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR" start >&2 9>&-; then
    # (9>&-: the server must not inherit the lock, or it would hold it for its whole life)
    tail -n 30 "$LOG" >&2 || true
    die "the server did not start (is port $PG_PORT taken? set KPIML_PG_PORT)"
  fi
}

create_database() {
  local psql=("$BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres)
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != "1" ]; then
    log "creating database $PG_DB"
    "${psql[@]}" -c "CREATE DATABASE $PG_DB" >&2
  fi
}

stop_server() {
  if [ -z "$BIN" ] || [ ! -f "$DATA/PG_VERSION" ] || [ -z "$(running_port)" ]; then
    log "not running"
    return 0
  fi
  as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
}

main() {
  cd /  # the server's user may not be allowed into the caller's folder
  mkdir -p "$(dirname "$PG_DIR")"
  # Several test sessions may start the server at once; let one do it at a time.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$PG_DIR.lock"
    flock -w 300 9 || die "another start_postgres.sh holds $PG_DIR.lock"
  fi
  BIN="$(find_bindir)"
  case "${1:-start}" in
    stop) stop_server; return 0 ;;
    start) ;;
    *) die "unknown mode '$1' (use: start, stop)" ;;
  esac
  if [ -z "$BIN" ]; then
    install_postgres
    BIN="$(find_bindir)"
    [ -n "$BIN" ] || die "PostgreSQL was installed but initdb/pg_ctl were not found"
  fi
  prepare_dir
  init_cluster
  start_server
  create_database
  echo "$URL"
}

main "$@"
