#!/usr/bin/env bash
# A throw-away Docker engine for CI and local image builds (Debian's docker.io package).
#
#   docker/engine.sh start DATA_ROOT   start dockerd in the background with its images, layers and
#                                      build cache under DATA_ROOT; returns once `docker info` answers
#   docker/engine.sh stop              stop that dockerd by its PID and wait for it to exit
#
# It does not delete DATA_ROOT on stop: images outlive one step (build, then smoke test), and
# deleting the directory is the caller's decision (`rm -rf DATA_ROOT` after stop).
# ENGINE_STATE (default /run/launchpad-engine) holds the pidfile and the engine's log.
set -euo pipefail

STATE=${ENGINE_STATE:-/run/launchpad-engine}
DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
CLIENT=${DOCKER_CLIENT:-/usr/bin/docker}
PIDFILE=$STATE/dockerd.pid
SOCKET=$STATE/docker.sock

die() {
  echo "engine.sh: $*" >&2
  exit 1
}

case ${1:-} in
  start)
    [ $# -eq 2 ] || die "usage: engine.sh start DATA_ROOT"
    data_root=$2
    [ "$(id -u)" = 0 ] || die "dockerd needs root: run it as root (or with sudo)"
    [ -x "$DOCKERD" ] || die "$DOCKERD is missing: apt-get install -y docker.io"
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      die "an engine started by this script is already running (pid $(cat "$PIDFILE")); run 'engine.sh stop' first"
    fi
    mkdir -p "$STATE" "$data_root"
    # its own socket, exec root and pidfile: an engine already on /var/run/docker.sock is left alone
    "$DOCKERD" --data-root "$data_root" --exec-root "$STATE/exec" --pidfile "$STATE/dockerd.internal.pid" \
      --host "unix://$SOCKET" >"$STATE/dockerd.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 60); do
      if DOCKER_HOST="unix://$SOCKET" "$CLIENT" info >/dev/null 2>&1; then
        echo "engine.sh: dockerd running (pid $(cat "$PIDFILE")), data root $data_root"
        echo "engine.sh: export DOCKER_HOST=unix://$SOCKET"
        exit 0
      fi
      kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
      sleep 1
    done
    tail -n 20 "$STATE/dockerd.log" >&2 || true
    die "dockerd did not come up (its log: $STATE/dockerd.log)"
    ;;
  stop)
    [ -f "$PIDFILE" ] || die "no engine started by this script ($PIDFILE is missing)"
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      # dockerd stops its containers first (10 s each at most)
      for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
      done
      if kill -0 "$pid" 2>/dev/null; then
        echo "engine.sh: dockerd (pid $pid) did not stop within 60 s: killing it" >&2
        kill -KILL "$pid"
      fi
    fi
    rm -f "$PIDFILE"
    # dockerd leaves its default network namespace mounted under the exec root
    awk -v root="$STATE/exec/" 'index($5, root) == 1 { print $5 }' /proc/self/mountinfo | sort -r \
      | while read -r mount; do umount "$mount" || umount -l "$mount"; done
    rm -rf "$STATE/exec"
    echo "engine.sh: dockerd (pid $pid) stopped"
    ;;
  *)
    die "usage: engine.sh start DATA_ROOT | engine.sh stop"
    ;;
esac
