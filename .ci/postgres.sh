#!/usr/bin/env bash
# Start a PostgreSQL server for the warehouse tests and print how to reach it.
#
# Installs PostgreSQL from Debian's packages when it is missing, starts the distribution's
# cluster on 127.0.0.1, and creates a user and a database owned by it (each test makes its own
# schema inside). Everything it says goes to stderr; stdout carries one line,
#
#   export METASEARCH_TEST_POSTGRES_URL=postgresql+psycopg://...
#
# (and, when this script started the server, `export METASEARCH_TEST_PG_STARTED='15 main'`, so
# that the caller can stop it again) for `.ci/run` to source. Running it again is harmless:
# a running server and an existing user or database are reused. Needs root (or sudo).
set -euo pipefail
exec 3>&1 1>&2

PG_USER=${METASEARCH_PG_USER:-metasearch}
PG_PASSWORD=${METASEARCH_PG_PASSWORD:-metasearch}
PG_DB=${METASEARCH_PG_DB:-metasearch_test}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

# A client alone (psql, postgresql-common) is not enough: look for the server binary.
if ! command -v pg_lsclusters >/dev/null 2>&1 || ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q postgresql
fi

# The newest installed major version, and its cluster (Debian creates `main` on install).
version=$(ls -d /usr/lib/postgresql/*/bin/postgres | cut -d/ -f5 | sort -n | tail -1)
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
  as_root pg_createcluster "$version" main
fi
started=0
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' \
    | grep -q online; then
  # The server must inherit no pipe of ours (fd 3 is the caller's stdout, and a CI runner may
  # pass more): a daemon holding one open keeps whoever reads it waiting for end-of-file.
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec </dev/null
    as_root pg_ctlcluster "$version" main start -- -o "-c listen_addresses=127.0.0.1"
  )
  started=1
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p "$port"

psql_su() {
  as_root su postgres -c "psql -v ON_ERROR_STOP=1 -q -p $port $*"
}
if [[ -z $(psql_su "-tAc \"SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'\"") ]]; then
  psql_su "-c \"CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'\""
fi
if [[ -z $(psql_su "-tAc \"SELECT 1 FROM pg_database WHERE datname = '$PG_DB'\"") ]]; then
  psql_su "-c \"CREATE DATABASE $PG_DB OWNER $PG_USER\""
fi

echo "PostgreSQL $version listening on 127.0.0.1:$port, database $PG_DB, user $PG_USER"
if (( started )); then
  echo "export METASEARCH_TEST_PG_STARTED='$version main'" >&3
fi
echo "export METASEARCH_TEST_POSTGRES_URL=postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$port/$PG_DB" >&3
