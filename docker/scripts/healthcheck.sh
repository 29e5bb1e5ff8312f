#!/usr/bin/env bash
# Docker HEALTHCHECK: healthy when ComfyUI answers Launchpad's health route. An unhealthy mark
# is information only; nothing restarts or kills the container because of it.
set -euo pipefail
exec curl -fsS --max-time 4 -o /dev/null "http://127.0.0.1:${COMFYUI_PORT:-8188}/launchpad/health"
