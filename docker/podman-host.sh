#!/usr/bin/env bash
# A host with podman and no Docker engine, made ready for docker-compose.yml (idempotent):
#
#   sudo bash docker/podman-host.sh            # then: export DOCKER_HOST=unix:///run/podman-harness.sock
#   sudo bash docker/podman-host.sh stop       # stop the API service and the healthcheck loop
#
# 1. Debian's podman (with netavark, aardvark-dns for DNS by service name, catatonit), docker-compose
#    (1.29, the Python one), iptables (netavark needs it), debootstrap and runc;
# 2. the image every Dockerfile starts FROM, debian:trixie, when missing: Debian's minimal base
#    (debootstrap --variant=minbase) from the mirror apt already uses, imported with podman;
# 3. podman's Docker-compatible API on unix:///run/podman-harness.sock (HARNESS_PODMAN_SOCKET),
#    which docker-compose drives through DOCKER_HOST;
# 4. a loop that runs the containers' healthchecks (podman leaves that to systemd timers; without
#    systemd no healthcheck would ever run, and `depends_on: condition: service_healthy` waits
#    on them).
#
# (The host's own CA certificates, which the builds trust, are copied to docker/extra-ca/ by
# docker/compose-env.py before every build, on any host.)
# Steps 1 and 3 are what any podman host needs. Some hosts (sandboxes, CI runners inside a
# container) also need the settings in sandbox_settings below; a normal Docker or podman host
# does not, and the script applies them only where their condition holds.
set -euo pipefail

SOCKET="${HARNESS_PODMAN_SOCKET:-/run/podman-harness.sock}"
RUN_DIR="${HARNESS_PODMAN_RUN_DIR:-/run/harness-podman}"
SUITE="${HARNESS_BASE_SUITE:-trixie}"
HEAVY=(nice -n 19 ionice -c 3)  # the machine may be busy measuring something else

log() { printf '[podman-host %(%H:%M:%S)T] %s\n' -1 "$*"; }

stop() {
  for name in api healthchecks; do
    if [ -f "$RUN_DIR/$name.pid" ]; then
      pid=$(cat "$RUN_DIR/$name.pid")
      if kill -0 "$pid" 2>/dev/null; then kill "$pid" && log "stopped $name (pid $pid)"; fi
      rm -f "$RUN_DIR/$name.pid"
    fi
  done
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "run as root (rootful podman)" >&2; exit 1; }
mkdir -p "$RUN_DIR"

# --- 1. packages ---------------------------------------------------------------------------
need=()
for cmd in podman docker-compose iptables debootstrap runc; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  "${HEAVY[@]}" apt-get update -qq
  # no recommends: rootful podman needs none of them (they bring dbus and a user session)
  DEBIAN_FRONTEND=noninteractive "${HEAVY[@]}" apt-get install -y -qq --no-install-recommends \
    podman docker-compose iptables debootstrap runc netavark aardvark-dns catatonit >/dev/null
fi

# --- netavark: Debian's podman 4.3 falls back to CNI, whose plugins it does not install ---------
network_conf=/etc/containers/containers.conf.d/40-harness-netavark.conf
if [ ! -f "$network_conf" ]; then
  mkdir -p "$(dirname "$network_conf")"
  printf '# Written by docker/podman-host.sh: netavark (+ aardvark-dns: DNS by service name)\n[network]\nnetwork_backend = "netavark"\n' >"$network_conf"
  log "network backend: netavark ($network_conf)"
fi

# --- settings a sandbox needs, a normal host does not ------------------------------------------
sandbox_settings() {
  local conf=/etc/containers/containers.conf.d/50-harness-sandbox.conf
  mkdir -p "$(dirname "$conf")"
  {
    echo "# Written by docker/podman-host.sh for a sandboxed host; not needed on a normal one."
    echo "[containers]"
    # the host holds no CAP_SYS_RESOURCE: podman's default ulimits (nofile 1048576) cannot be set
    echo 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]'
    echo "[engine]"
    # crun refuses this host's hybrid cgroup layout; runc runs on it
    echo 'runtime = "runc"'
  } >"$conf"
  log "sandbox settings in $conf (runc, ulimits within the host's limits)"
}
# not a pure cgroup v2 host (a hybrid layout mounts v2 at /sys/fs/cgroup/unified)
not_cgroup2() { ! [ -f /sys/fs/cgroup/cgroup.controllers ]; }
# CAP_SYS_RESOURCE is bit 24 of the effective capabilities
no_sys_resource() { local eff; eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status); (( ((16#$eff) >> 24 & 1) == 0 )); }
if not_cgroup2 || no_sys_resource || [ "${HARNESS_PODMAN_SANDBOX:-}" = 1 ]; then
  sandbox_settings
fi

# --- 2. the base image ---------------------------------------------------------------------
if ! podman image exists "debian:$SUITE"; then
  mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p; s/^deb \(\[[^]]*\] \)\{0,1\}\(http[^ ]*\) .*/\2/p' \
    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n 1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  root=$(mktemp -d /var/tmp/harness-debootstrap.XXXXXX)
  log "debootstrap --variant=minbase $SUITE from $mirror"
  started=$(date +%s)
  "${HEAVY[@]}" debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$RUN_DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$RUN_DIR/debootstrap.log"; exit 1; }
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -c . | "${HEAVY[@]}" podman import --quiet - "debian:$SUITE" >/dev/null
  podman tag "debian:$SUITE" "docker.io/library/debian:$SUITE"
  rm -rf "$root"
  log "debian:$SUITE imported ($(podman image inspect --format '{{.Size}}' "debian:$SUITE") bytes, $(( $(date +%s) - started )) s)"
fi

# --- 3. the Docker-compatible API ----------------------------------------------------------
alive() { [ -f "$RUN_DIR/$1.pid" ] && kill -0 "$(cat "$RUN_DIR/$1.pid")" 2>/dev/null; }
if ! alive api; then
  rm -f "$SOCKET"
  setsid podman system service --time=0 "unix://$SOCKET" >"$RUN_DIR/api.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/api.pid"
  for _ in $(seq 50); do [ -S "$SOCKET" ] && break; sleep 0.2; done
  [ -S "$SOCKET" ] || { cat "$RUN_DIR/api.log"; exit 1; }
  log "podman API on unix://$SOCKET (pid $(cat "$RUN_DIR/api.pid"))"
fi

# --- 4. the healthcheck loop ---------------------------------------------------------------
# Containers not yet healthy are checked every 3 s (a dependency waits on them), healthy ones
# every 30 s; a healthcheck's own interval and retries are not modelled.
if ! alive healthchecks; then
  setsid bash -c '
    round=0
    while :; do
      if [ $((round % 10)) = 0 ]; then filter=""; else filter="--filter health=starting --filter health=unhealthy"; fi
      for id in $(podman ps -q $filter 2>/dev/null); do
        podman healthcheck run "$id" >/dev/null 2>&1 || true
      done
      round=$((round + 1))
      sleep 3
    done' >/dev/null 2>&1 </dev/null &
  echo $! >"$RUN_DIR/healthchecks.pid"
  log "healthcheck loop running (pid $(cat "$RUN_DIR/healthchecks.pid"))"
fi

echo "export DOCKER_HOST=unix://$SOCKET"
