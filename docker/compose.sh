#!/usr/bin/env bash
# `docker compose` (v2) or `docker-compose` (v1.29), whichever the host has, from the repository
# root; on a host with podman and no Docker engine, through podman's API socket
# (docker/podman-host.sh) when DOCKER_HOST is not set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
podman_socket="${HARNESS_PODMAN_SOCKET:-/run/podman-harness.sock}"
if [ -z "${DOCKER_HOST:-}" ] && [ ! -S /var/run/docker.sock ] && [ -S "$podman_socket" ]; then
  export DOCKER_HOST="unix://$podman_socket"
fi
if docker compose version >/dev/null 2>&1; then
  exec docker compose "$@"
elif command -v docker-compose >/dev/null 2>&1; then
  exec docker-compose "$@"
fi
echo "neither 'docker compose' nor 'docker-compose' found (on a podman host: docker/podman-host.sh)" >&2
exit 127
