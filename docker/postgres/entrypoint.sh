#!/bin/bash
# First start (an empty data volume): initdb with the superuser's password, password (scram)
# logins over TCP, and the roles and databases of harness/stack/prepare.py's ensure_databases:
# `harness` and `airflow`, each owned by its own role. Every start: the server on every
# interface of the container (the compose file decides what the host sees).
# Passwords come from the environment (the generated .env, `make compose-env`), never a file in git.
set -euo pipefail
: "${POSTGRES_PASSWORD:?}" "${HARNESS_DB_PASSWORD:?}" "${AIRFLOW_DB_PASSWORD:?}"
bin=/usr/lib/postgresql/$PG_MAJOR/bin
data=/var/lib/postgresql/data
if [ ! -s "$data/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  "$bin/initdb" -D "$data" -U postgres --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --no-locale >/dev/null
  rm -f "$pwfile"
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$data/pg_hba.conf"
  # a server on the socket only while the roles are made (the healthcheck sees no TCP yet)
  "$bin/pg_ctl" -D "$data" -o "-c listen_addresses='' -k /tmp" -w -s start
  "$bin/psql" -v ON_ERROR_STOP=1 -q -h /tmp -U postgres -d postgres \
    --set=harness_pw="$HARNESS_DB_PASSWORD" --set=airflow_pw="$AIRFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE harness LOGIN PASSWORD :'harness_pw';
CREATE DATABASE harness OWNER harness;
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE DATABASE airflow OWNER airflow;
SQL
  "$bin/pg_ctl" -D "$data" -m fast -w -s stop
  echo "initialised $data: databases harness and airflow"
fi
exec "$bin/postgres" -D "$data" -k /tmp -c listen_addresses='*' -c max_connections=200 \
  -c shared_buffers=128MB -c synchronous_commit=on -c log_min_messages=warning
