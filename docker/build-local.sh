#!/usr/bin/env bash
# docker/build-local.sh [VARIANT]   (default: minimal; minimal, standard, full or serverless)
#
# Build the RunPod image on a machine that reaches only the package registries (PyPI, Debian):
# no CUDA base image, no ghcr.io, no GitHub, no PyTorch index. The same docker/Dockerfile as the
# release, with build arguments only: a debootstrapped Debian bookworm as base, its python3
# (3.11), uv and torch from PyPI (torch 2.9.1 there is the CUDA 12.8 build), ComfyUI from a
# release tarball, and no custom-node bundles (they are cloned from GitHub). The image tag is
# the last line on stdout; everything else goes to stderr. serverless is built as the release
# builds it: the minimal image's arguments and the target runtime-serverless, so after a minimal
# build on the same engine only the worker's layers are new.
#
# Needs a running Docker engine (docker/engine.sh start DATA_ROOT starts one), Debian's client
# /usr/bin/docker (BuildKit built in), debootstrap and about 35 GB free under the engine's data
# root. Environment:
#   WHEELS_DIR         a directory of torch/torchvision/torchaudio wheels and their dependencies
#                      (pip download, cp311 manylinux x86_64): served to the build on a loopback
#                      port (WHEELS_PORT, default 38517) and used instead of PyPI, so CI does not
#                      download them twice
#   COMFYUI_TARBALL    default ../shared/comfyui/ComfyUI-0.33.0.tar.gz (relative to the repository)
#   IMAGE_TAG          default comfyui-launchpad:<variant>-local
#   LOCAL_BASE_IMAGE   default local/debian:bookworm; made when missing (REBUILD_BASE=1: always)
#   DEBOOTSTRAP_ROOT   where the base is debootstrapped (default /var/tmp/lp-debootstrap-$$);
#                      deleted once it is imported
#   DEBIAN_MIRROR      default: the mirror in /etc/apt/sources.list*
#   MIN_FREE_GB        default 35
#   DOCKER             default /usr/bin/docker
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
VARIANT=${1:-minimal}
DOCKER=${DOCKER:-/usr/bin/docker}
COMFYUI_TARBALL=${COMFYUI_TARBALL:-$ROOT/../shared/comfyui/ComfyUI-0.33.0.tar.gz}
COMFYUI_VERSION=${COMFYUI_VERSION:-v0.33.0}
TORCH_VERSION=${TORCH_VERSION:-2.9.1}
TORCHVISION_VERSION=${TORCHVISION_VERSION:-0.24.1}
TORCHAUDIO_VERSION=${TORCHAUDIO_VERSION:-2.9.1}
IMAGE_TAG=${IMAGE_TAG:-comfyui-launchpad:$VARIANT-local}
LOCAL_BASE_IMAGE=${LOCAL_BASE_IMAGE:-local/debian:bookworm}
DEBOOTSTRAP_ROOT=${DEBOOTSTRAP_ROOT:-/var/tmp/lp-debootstrap-$$}
MIN_FREE_GB=${MIN_FREE_GB:-35}
WHEELS_DIR=${WHEELS_DIR:-}
export DOCKER_BUILDKIT=1

say() { printf 'build-local: %s\n' "$*" >&2; }
die() {
  printf 'build-local: ERROR: %s\n' "$*" >&2
  exit 1
}

SERVER_PID="" MADE_ROOT=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "$MADE_ROOT" ]; then rm -rf "$MADE_ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- what is needed, checked before anything is built ------------------------------------------
BASE_VARIANT=$VARIANT TARGET=()
case $VARIANT in
  minimal | standard | full) ;;
  serverless) BASE_VARIANT=minimal TARGET=(--target runtime-serverless) ;;
  dev) die "the dev variant downloads code-server from GitHub and cannot be built offline; build minimal, standard, full or serverless" ;;
  *) die "unknown variant '$VARIANT' (minimal, standard, full, serverless)" ;;
esac
[ -x "$DOCKER" ] || die "$DOCKER is missing: apt-get install -y docker.io (Debian's client has BuildKit built in)"
if ! info=$("$DOCKER" version --format '{{.Server.Version}}' 2>&1); then
  die "no Docker engine is reachable (${info##*$'\n'}).
  Start one:   docker/engine.sh start /var/tmp/lp-docker-data
  then:        export DOCKER_HOST=unix:///run/launchpad-engine/docker.sock   (as it prints)
  and stop it when done: docker/engine.sh stop && rm -rf /var/tmp/lp-docker-data"
fi
data_root=$("$DOCKER" info --format '{{.DockerRootDir}}' 2>/dev/null || true)
if [ -n "$data_root" ] && [ -d "$data_root" ]; then
  free_gb=$(($(df -Pk "$data_root" | awk 'NR == 2 { print $4 }') / 1024 / 1024))
  if [ "$free_gb" -lt "$MIN_FREE_GB" ]; then
    die "only ${free_gb} GB free under the engine's data root $data_root; the build needs about ${MIN_FREE_GB} GB while it runs (the minimal image is 9.3 GB, its build cache another 18 GB). Free space or start the engine on a bigger disk (MIN_FREE_GB to override)"
  fi
else
  say "the engine's data root $data_root is not visible here (a remote engine?): disk space not checked"
fi
[ -f "$COMFYUI_TARBALL" ] || die "the ComfyUI source $COMFYUI_TARBALL is missing: set COMFYUI_TARBALL to a ComfyUI ${COMFYUI_VERSION#v} release tarball"
if [ -n "$WHEELS_DIR" ]; then
  [ -d "$WHEELS_DIR" ] || die "WHEELS_DIR=$WHEELS_DIR is not a directory"
  for wheel in "torch-$TORCH_VERSION-" "torchvision-$TORCHVISION_VERSION-" "torchaudio-$TORCHAUDIO_VERSION-"; do
    compgen -G "$WHEELS_DIR/${wheel}cp311-*.whl" >/dev/null \
      || die "WHEELS_DIR=$WHEELS_DIR has no ${wheel}cp311 wheel: pip download torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION torchaudio==$TORCHAUDIO_VERSION -d $WHEELS_DIR (with Python 3.11), or unset WHEELS_DIR to download from PyPI"
  done
fi

# --- the local base: Debian bookworm, debootstrapped -------------------------------------------
debian_mirror() {
  local file uri
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    uri=$(awk '$1 == "deb" && $0 ~ / bookworm / { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' "$file")
    if [ -n "$uri" ]; then printf '%s' "$uri" && return; fi
  done
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    uri=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' "$file")
    if [ -n "$uri" ]; then printf '%s' "$uri" && return; fi
  done
  printf 'http://deb.debian.org/debian'
}

host_ca_bundle() { # the host's CA bundle: the registries' certificates are trusted by it
  local file
  for file in "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    if [ -n "$file" ] && [ -f "$file" ]; then printf '%s' "$file" && return; fi
  done
  return 1
}

if [ "${REBUILD_BASE:-0}" = 1 ] || ! "$DOCKER" image inspect "$LOCAL_BASE_IMAGE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || die "debootstrap is missing (it makes the local base image): apt-get install -y debootstrap"
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  ca=$(host_ca_bundle) || die "no CA bundle on this host (/etc/ssl/certs/ca-certificates.crt): apt-get install -y ca-certificates"
  mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
  [ ! -e "$DEBOOTSTRAP_ROOT" ] || die "DEBOOTSTRAP_ROOT=$DEBOOTSTRAP_ROOT already exists; remove it or choose another"
  MADE_ROOT=$DEBOOTSTRAP_ROOT
  say "making $LOCAL_BASE_IMAGE: debootstrap bookworm from $mirror into $DEBOOTSTRAP_ROOT"
  debootstrap --variant=minbase bookworm "$DEBOOTSTRAP_ROOT" "$mirror" >&2
  # A bare image trusts no certificate; the host's bundle (with any local CA) goes to a path
  # that update-ca-certificates never rewrites, and every client is pointed at it.
  mkdir -p "$DEBOOTSTRAP_ROOT/usr/local/share/launchpad"
  cp "$ca" "$DEBOOTSTRAP_ROOT/usr/local/share/launchpad/host-ca-bundle.pem"
  bundle=/usr/local/share/launchpad/host-ca-bundle.pem
  rm -rf "$DEBOOTSTRAP_ROOT"/var/cache/apt/archives/*.deb "$DEBOOTSTRAP_ROOT"/var/lib/apt/lists/*
  tar -C "$DEBOOTSTRAP_ROOT" -c . | "$DOCKER" import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change "ENV SSL_CERT_FILE=$bundle" \
    --change "ENV PIP_CERT=$bundle" \
    --change "ENV REQUESTS_CA_BUNDLE=$bundle" \
    --change "ENV UV_NATIVE_TLS=1" \
    --change "CMD [\"/bin/bash\"]" \
    - "$LOCAL_BASE_IMAGE" >/dev/null
  rm -rf "$DEBOOTSTRAP_ROOT"
  MADE_ROOT=""
  say "made $LOCAL_BASE_IMAGE"
else
  say "using the existing $LOCAL_BASE_IMAGE (REBUILD_BASE=1 to make it again)"
fi

# --- the inputs from outside the repository ------------------------------------------------------
# The tarball goes into an ignored folder of the build context (7 MB); the wheels (GBs) are
# served over loopback, which the build reaches with --network host.
mkdir -p "$ROOT/docker/.local"
cp "$COMFYUI_TARBALL" "$ROOT/docker/.local/ComfyUI.tar.gz"

find_links=""
if [ -n "$WHEELS_DIR" ]; then
  # a fixed port keeps the build argument, and so the cached torch layer, the same between builds
  port=${WHEELS_PORT:-38517}
  if ! python3 -c "import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" "$port" 2>/dev/null; then
    say "port $port is taken: serving the wheels on another port (the torch layer is rebuilt)"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
  python3 -m http.server --bind 127.0.0.1 --directory "$WHEELS_DIR" "$port" >/dev/null 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 50); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/', timeout=1)" 2>/dev/null; then
      find_links="http://127.0.0.1:$port/"
      break
    fi
    sleep 0.1
  done
  [ -n "$find_links" ] || die "could not serve WHEELS_DIR on 127.0.0.1:$port"
  say "torch wheels from $WHEELS_DIR (served at $find_links)"
else
  say "torch from PyPI (set WHEELS_DIR to a pip download directory to reuse one)"
fi

# --- the build ----------------------------------------------------------------------------------------
git_sha=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
started=$(date +%s)
say "building $IMAGE_TAG (variant $VARIANT, no custom-node bundles: they need GitHub)"
"$DOCKER" build --network host --progress plain \
  -f "$ROOT/docker/Dockerfile" "${TARGET[@]}" \
  --build-arg VARIANT="$BASE_VARIANT" \
  --build-arg BASE_SOURCE=local \
  --build-arg LOCAL_BASE_IMAGE="$LOCAL_BASE_IMAGE" \
  --build-arg UV_SOURCE=pypi \
  --build-arg PYTHON_SOURCE=system \
  --build-arg PYTHON_VERSION=3.11 \
  --build-arg TORCH_SOURCE=pypi \
  --build-arg TORCH_VERSION="$TORCH_VERSION" \
  --build-arg TORCHVISION_VERSION="$TORCHVISION_VERSION" \
  --build-arg TORCHAUDIO_VERSION="$TORCHAUDIO_VERSION" \
  --build-arg TORCH_FIND_LINKS="$find_links" \
  --build-arg COMFYUI_SOURCE=tarball \
  --build-arg COMFYUI_TARBALL=docker/.local/ComfyUI.tar.gz \
  --build-arg COMFYUI_VERSION="$COMFYUI_VERSION" \
  --build-arg BUNDLES=none \
  --build-arg IMAGE_VERSION=local \
  --build-arg GIT_SHA="$git_sha" \
  --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$IMAGE_TAG" "$ROOT" >&2 \
  || die "the image build failed (its output is above)"
say "built $IMAGE_TAG in $(($(date +%s) - started)) s"
printf '%s\n' "$IMAGE_TAG"
