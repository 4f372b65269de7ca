#!/bin/bash
# Every Airflow container: first the secrets the project reads from its state folder
# (harness.stack.secrets: the admin password that run notes and `harness trigger` log in with, and
# the simple auth manager's passwords file), written from the environment (the generated .env);
# then the command: `init` (the metadata database migrated, as `harness up` does) or an Airflow
# component (api-server | scheduler | dag-processor | triggerer).
set -euo pipefail
: "${HARNESS_COMPOSE_AIRFLOW_ADMIN_PASSWORD:?}"
secrets=/opt/harness/.state/secrets
mkdir -p "$secrets"
chmod 700 "$secrets"
umask 077
user=${HARNESS_AIRFLOW_USER:-admin}
printf '%s' "$HARNESS_COMPOSE_AIRFLOW_ADMIN_PASSWORD" >"$secrets/airflow_admin_password"
printf '{"%s": "%s"}' "$user" "$HARNESS_COMPOSE_AIRFLOW_ADMIN_PASSWORD" \
  >"$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
printf '%s' "$AIRFLOW__CORE__FERNET_KEY" >"$secrets/airflow_fernet_key"
printf '%s' "$AIRFLOW__API__SECRET_KEY" >"$secrets/airflow_api_secret_key"
printf '%s' "$AIRFLOW__API_AUTH__JWT_SECRET" >"$secrets/airflow_jwt_secret"
umask 022
case "${1:-api-server}" in
  init)
    # a new container's first name lookups can fail for a moment on some hosts (podman's DNS
    # while many containers start): a few tries before giving up
    for try in 1 2 3 4 5; do
      airflow db migrate && exit 0
      echo "airflow db migrate failed (try $try of 5); again in 5 s" >&2
      sleep 5
    done
    exit 1 ;;
  api-server) shift || true; exec airflow api-server --host 0.0.0.0 --port 8080 --workers 1 "$@" ;;
  scheduler | dag-processor | triggerer) exec airflow "$@" ;;
  *) exec "$@" ;;
esac
