#!/usr/bin/env bash
# The image's entrypoint (tini runs it as PID 1's only child).
#
# Phases, each timed on stdout and in <workspace>/logs/startup.log:
#   volume        is the workspace there, writable, roomy? If not: a loud warning and a local
#                 fallback on the container disk, never a dead container
#   paths         `launchpad paths`: layout + config/extra_model_paths.yaml, then the ComfyUI flags
#   downloads     PRESET_DOWNLOAD installs in the background (logs/downloads.log); never waited for
#   services      sshd with PUBLIC_KEY; code-server and JupyterLab (dev variant) only with a password
#   custom-nodes  requirements of custom nodes on the volume, installed into the image's venv only
#                 when they changed since this container last installed them
#   comfyui       ComfyUI with the generated flags; output to stdout and logs/comfyui.log (rotated)
# Then it supervises: ComfyUI being slow to come up is never a reason to stop; a ComfyUI that
# exits is restarted (unless it keeps crashing at once); SIGTERM stops everything cleanly.
#
# Everything is configurable through the environment (production defaults below), which is
# how the tests run it outside Docker against a stand-in ComfyUI.

set -uo pipefail # no -e: a failing optional phase must never keep ComfyUI from starting

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# --- configuration --------------------------------------------------------------------------
WORKSPACE_ROOT=${WORKSPACE_ROOT:-/workspace}
LOCAL_WORKSPACE=${LOCAL_WORKSPACE:-/var/lib/launchpad/workspace}
VENV=${VENV:-/opt/venv}
COMFYUI_DIR=${COMFYUI_DIR:-/opt/ComfyUI}
COMFYUI_PYTHON=${COMFYUI_PYTHON:-$VENV/bin/python}
COMFYUI_CMD=${COMFYUI_CMD:-} # replaces "$COMFYUI_PYTHON $COMFYUI_DIR/main.py"
COMFYUI_PORT=${COMFYUI_PORT:-8188}
COMFYUI_LISTEN=${COMFYUI_LISTEN:-0.0.0.0}
COMFYUI_ARGS=${COMFYUI_ARGS:-}                     # extra flags, e.g. "--lowvram"
COMFYUI_CORS_ORIGIN=${COMFYUI_CORS_ORIGIN:-auto}   # auto | off | an origin | *
COMFYUI_MANAGER=${COMFYUI_MANAGER:-auto}           # auto (the package, where ComfyUI has it) | off
COMFYUI_RESTART=${COMFYUI_RESTART:-on}             # on | off
COMFYUI_RESTART_DELAY=${COMFYUI_RESTART_DELAY:-5}  # seconds
COMFYUI_MAX_QUICK_EXITS=${COMFYUI_MAX_QUICK_EXITS:-5}
COMFYUI_QUICK_EXIT_SECONDS=${COMFYUI_QUICK_EXIT_SECONDS:-30}
LAUNCHPAD_BIN=${LAUNCHPAD_BIN:-launchpad}
LAUNCHPAD_PYTHON=${LAUNCHPAD_PYTHON:-$VENV/bin/python}
UV_BIN=${UV_BIN:-uv}
CUSTOM_NODE_REQUIREMENTS=${CUSTOM_NODE_REQUIREMENTS:-on}
CUSTOM_NODES_STATE=${CUSTOM_NODES_STATE:-$VENV/.launchpad-custom-nodes.sha256}
LAUNCHPAD_CONSTRAINTS=${LAUNCHPAD_CONSTRAINTS:-/opt/launchpad/constraints.txt}
SSHD_BIN=${SSHD_BIN:-/usr/sbin/sshd}
SSH_PORT=${SSH_PORT:-22}
SSH_DIR=${SSH_DIR:-${HOME:-/root}/.ssh}
SSH_HOST_KEY_PREFIX=${SSH_HOST_KEY_PREFIX:-} # host keys in <prefix>/etc/ssh
CODE_SERVER_PORT=${CODE_SERVER_PORT:-8080}
JUPYTER_PORT=${JUPYTER_PORT:-8888}
STOP_TIMEOUT=${STOP_TIMEOUT:-8} # docker stop waits 10 s before SIGKILL
STARTUP_LOG_MAX_BYTES=${STARTUP_LOG_MAX_BYTES:-1000000}
LAUNCHPAD_VARIANT=${LAUNCHPAD_VARIANT:-unknown}

# --- clock and log ------------------------------------------------------------------------
now_us() { printf -v "$1" '%s' "${EPOCHREALTIME//[!0-9]/}"; }
now_us T0
STARTUP_LOG=""    # set once the workspace is known; lines before that wait in PENDING
PENDING=()

seconds_since() { # seconds_since VAR START_US -> "1.234"
  local now
  now_us now
  local delta=$((now - $2))
  printf -v "$1" '%d.%03d' $((delta / 1000000)) $((delta % 1000000 / 1000))
}

log() {
  local t line
  seconds_since t "$T0"
  line="[launchpad +${t}s] $*"
  printf '%s\n' "$line"
  if [ -n "$STARTUP_LOG" ]; then
    printf '%s\n' "$line" >>"$STARTUP_LOG" 2>/dev/null || true
  else
    PENDING+=("$line")
  fi
}

banner() { # a warning nobody scrolls past
  local rule='!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
  log "$rule"
  local line
  for line in "$@"; do log "!! $line"; done
  log "$rule"
}

PHASE="" PHASE_T=0
phase() { PHASE=$1; now_us PHASE_T; }
phase_done() { # phase_done SUMMARY
  local took
  seconds_since took "$PHASE_T"
  log "phase ${PHASE}: $* (took ${took} s)"
}

open_startup_log() { # open_startup_log DIR: start writing startup.log there, flush what waited
  local file="$1/startup.log" size
  if ! mkdir -p "$1" 2>/dev/null; then return 1; fi
  size=$(stat -c %s "$file" 2>/dev/null || echo 0)
  if [ "$size" -gt "$STARTUP_LOG_MAX_BYTES" ]; then mv -f "$file" "$file.1" 2>/dev/null; fi
  { printf '\n=== container start %s ===\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$file"; } 2>/dev/null || return 1
  STARTUP_LOG=$file
  if [ "${#PENDING[@]}" -gt 0 ]; then printf '%s\n' "${PENDING[@]}" >>"$STARTUP_LOG"; fi
  PENDING=()
}

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/launchpad.XXXXXX")

# --- children and shutdown ------------------------------------------------------------------
CURRENT_PID="" # a foreground step, run in the background so a signal is handled at once
COMFY_PID="" TEE_PID="" HEALTH_PID="" DL_PID="" SSHD_PID="" CODE_PID="" JUPYTER_PID="" IDLE_PID=""

# step OUTFILE CMD...: run CMD with its output in OUTFILE, interruptibly; returns its status
step() {
  local out=$1
  shift
  "$@" >"$out" 2>&1 </dev/null &
  CURRENT_PID=$!
  wait "$CURRENT_PID"
  local rc=$?
  CURRENT_PID=""
  return "$rc"
}

log_file() { # log_file FILE PREFIX: log each line of FILE
  local line
  while IFS= read -r line || [ -n "$line" ]; do log "$2$line"; done <"$1"
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

shutdown() {
  trap '' TERM INT
  local signal=$1 started pid deadline now
  now_us started
  log "received SIG${signal}: stopping ComfyUI and the services"
  local pids=("$CURRENT_PID" "$HEALTH_PID" "$IDLE_PID" "$DL_PID" "$SSHD_PID" "$CODE_PID" "$JUPYTER_PID" "$COMFY_PID")
  for pid in "${pids[@]}"; do
    if alive "$pid"; then kill -TERM "$pid" 2>/dev/null; fi
  done
  deadline=$((started + STOP_TIMEOUT * 1000000))
  while :; do
    local running=0
    for pid in "${pids[@]}"; do
      if alive "$pid"; then running=1; fi
    done
    now_us now
    if [ "$running" = 0 ] || [ "$now" -ge "$deadline" ]; then break; fi
    sleep 0.05
  done
  for pid in "${pids[@]}"; do
    if alive "$pid"; then
      log "pid $pid did not stop within ${STOP_TIMEOUT} s: killing it"
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  # the log copier ends by itself once ComfyUI's output closes; give it a moment to drain
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    alive "$TEE_PID" || break
    sleep 0.1
  done
  if alive "$TEE_PID"; then kill -KILL "$TEE_PID" 2>/dev/null; fi
  wait 2>/dev/null
  local took
  seconds_since took "$started"
  log "stopped cleanly in ${took} s"
  rm -rf "$RUN_DIR"
  exit 0
}
trap 'shutdown TERM' TERM
trap 'shutdown INT' INT

# --- phase: volume ----------------------------------------------------------------------------
is_mount_point() {
  if command -v mountpoint >/dev/null 2>&1; then
    mountpoint -q "$1"
  else
    awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo 2>/dev/null
  fi
}

log "ComfyUI-Launchpad start-up (image variant $LAUNCHPAD_VARIANT), workspace $WORKSPACE_ROOT"

# --- settings: one that cannot be read (a mistyped ENABLE_AUTH) must never leave the pod open ----
step "$RUN_DIR/settings.out" "$LAUNCHPAD_BIN" check-settings
if [ $? -eq 2 ]; then
  log_file "$RUN_DIR/settings.out" "  "
  banner "A setting is invalid (above), so NOTHING is started: not ComfyUI, not sshd, not Jupyter or code-server." \
    "Fix that environment variable in the pod's settings and restart the pod."
  while :; do sleep 1; done # stay up so the log can be read; SIGTERM stops it
fi
WS="" VOLUME_STATE=""
phase volume
if [ ! -d "$WORKSPACE_ROOT" ]; then
  banner "No network volume: $WORKSPACE_ROOT does not exist." \
    "Using $LOCAL_WORKSPACE on the container disk instead. Models, outputs and settings" \
    "there are LOST when the pod is stopped or deleted." \
    "Fix: attach a network volume with mount path $WORKSPACE_ROOT (RunPod: template > Volume Mount Path)."
  VOLUME_STATE="missing"
else
  step "$RUN_DIR/doctor.out" "$LAUNCHPAD_BIN" doctor --workspace "$WORKSPACE_ROOT"
  rc=$?
  log_file "$RUN_DIR/doctor.out" "  "
  if [ "$rc" -eq 0 ]; then
    WS=$WORKSPACE_ROOT
    VOLUME_STATE="ok"
    if ! is_mount_point "$WS"; then
      banner "$WS is not a mount point: no network volume is attached there." \
        "Everything is written to the container disk and is LOST when the pod is deleted." \
        "Fix: attach a network volume with mount path $WS."
      VOLUME_STATE="not a mount point"
    fi
  else
    banner "The workspace $WORKSPACE_ROOT cannot be used (launchpad doctor exit $rc: read-only or broken volume)." \
      "Using $LOCAL_WORKSPACE on the container disk instead. Models, outputs and settings" \
      "there are LOST when the pod is stopped or deleted. See the doctor report above for the fix."
    VOLUME_STATE="unusable"
  fi
fi
if [ -z "$WS" ]; then
  if mkdir -p "$LOCAL_WORKSPACE" 2>/dev/null; then
    WS=$LOCAL_WORKSPACE
    VOLUME_STATE="$VOLUME_STATE, local fallback $WS"
  else
    banner "The local fallback $LOCAL_WORKSPACE cannot be created either." \
      "ComfyUI starts with its own default directories inside the image."
    VOLUME_STATE="$VOLUME_STATE, no workspace"
  fi
fi
if [ -n "$WS" ]; then
  export WORKSPACE_ROOT=$WS # ComfyUI's Launchpad and the download command use the same one
  open_startup_log "$WS/logs" || log "warning: cannot write $WS/logs/startup.log"
fi
phase_done "workspace ${WS:-none} (${VOLUME_STATE})"

# --- phase: paths -----------------------------------------------------------------------------
# ComfyUI-Manager as the package that ComfyUI 0.33 and on load with --enable-manager, where this
# ComfyUI has the flag and its venv the package; its settings live in the user directory on the
# volume, where `paths --manager` makes its network_mode follow ENABLE_AUTH
MANAGER_ARGS=()
if [ "$COMFYUI_MANAGER" != off ] && grep -q -- '"--enable-manager"' "$COMFYUI_DIR/comfy/cli_args.py" 2>/dev/null &&
  "$COMFYUI_PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("comfyui_manager") is None)' 2>/dev/null; then
  MANAGER_ARGS=(--enable-manager)
fi
WS_ARGS=()
phase paths
if [ -n "$WS" ]; then
  if step "$RUN_DIR/paths.out" "$LAUNCHPAD_BIN" paths --workspace "$WS" --custom-nodes ${MANAGER_ARGS:+--manager}; then
    log_file "$RUN_DIR/paths.out" "  "
    if step "$RUN_DIR/args.out" "$LAUNCHPAD_BIN" comfy-args --workspace "$WS" --lines; then
      mapfile -t WS_ARGS <"$RUN_DIR/args.out"
      phase_done "config written, ${#WS_ARGS[@]} ComfyUI arguments"
    else
      log_file "$RUN_DIR/args.out" "  "
      banner "launchpad comfy-args failed: ComfyUI starts without the workspace flags."
      phase_done "failed"
    fi
  else
    log_file "$RUN_DIR/paths.out" "  "
    banner "launchpad paths failed: ComfyUI starts without the workspace flags (models on the volume are not seen)."
    phase_done "failed"
  fi
else
  phase_done "skipped: no workspace"
fi
LOGS=${WS:+$WS/logs}
LOGS=${LOGS:-$RUN_DIR}

# --- phase: downloads -------------------------------------------------------------------------
phase downloads
if [ -z "${PRESET_DOWNLOAD:-}" ]; then
  phase_done "nothing to install (PRESET_DOWNLOAD is empty)"
elif [ -z "$WS" ]; then
  phase_done "skipped: no workspace to download into"
else
  {
    printf '\n=== %s: launchpad install --from-env (PRESET_DOWNLOAD=%s) ===\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PRESET_DOWNLOAD"
  } >>"$LOGS/downloads.log" 2>/dev/null
  "$LAUNCHPAD_BIN" install --from-env --workspace "$WS" >>"$LOGS/downloads.log" 2>&1 </dev/null &
  DL_PID=$!
  phase_done "installing ${PRESET_DOWNLOAD} in the background (pid $DL_PID), progress in $LOGS/downloads.log"
fi

# --- phase: services --------------------------------------------------------------------------
start_sshd() {
  if [ -z "${PUBLIC_KEY:-}" ]; then
    log "  sshd: not started (set PUBLIC_KEY to your SSH public key to enable it)"
    return
  fi
  if [ ! -x "$SSHD_BIN" ]; then
    log "  sshd: not started: $SSHD_BIN is not installed"
    return
  fi
  mkdir -p "$SSH_DIR" && chmod 700 "$SSH_DIR"
  local keys="$SSH_DIR/authorized_keys" key added=0
  touch "$keys" && chmod 600 "$keys"
  while IFS= read -r key; do
    [ -n "$key" ] || continue
    if ! grep -qxF -- "$key" "$keys"; then
      printf '%s\n' "$key" >>"$keys"
      added=$((added + 1))
    fi
  done <<<"$PUBLIC_KEY"
  # host keys are made per container, never baked into the image (every pod would share them)
  local keydir="$SSH_HOST_KEY_PREFIX/etc/ssh"
  if ! compgen -G "$keydir/ssh_host_*_key" >/dev/null; then
    mkdir -p "$keydir"
    if [ -n "$SSH_HOST_KEY_PREFIX" ]; then
      ssh-keygen -A -f "$SSH_HOST_KEY_PREFIX" >/dev/null 2>&1
    else
      ssh-keygen -A >/dev/null 2>&1
    fi || log "  sshd: warning: could not generate host keys"
  fi
  mkdir -p /run/sshd 2>/dev/null || true
  "$SSHD_BIN" -D -e -p "$SSH_PORT" >>"$LOGS/sshd.log" 2>&1 </dev/null &
  SSHD_PID=$!
  log "  sshd: started on port $SSH_PORT (pid $SSHD_PID), $added new key(s) in $keys"
}

start_code_server() {
  if ! command -v code-server >/dev/null 2>&1; then
    log "  code-server: not in this image (dev variant only)"
    return
  fi
  local password=${CODE_SERVER_PASSWORD:-${ACCESS_PASSWORD:-}}
  if [ -z "$password" ]; then
    log "  code-server: NOT started: it needs a password. Set ACCESS_PASSWORD (or CODE_SERVER_PASSWORD)."
    return
  fi
  # the password goes through the environment, never the command line (visible in ps)
  PASSWORD=$password code-server --bind-addr "0.0.0.0:$CODE_SERVER_PORT" --auth password \
    --disable-telemetry --disable-update-check "$WS" >>"$LOGS/code-server.log" 2>&1 </dev/null &
  CODE_PID=$!
  log "  code-server: started on port $CODE_SERVER_PORT (pid $CODE_PID), password login"
}

start_jupyter() {
  if ! command -v jupyter >/dev/null 2>&1; then
    log "  jupyterlab: not in this image (dev variant only)"
    return
  fi
  local password=${JUPYTER_PASSWORD:-${ACCESS_PASSWORD:-}}
  if [ -z "$password" ]; then
    log "  jupyterlab: NOT started: it needs a password. Set ACCESS_PASSWORD (or JUPYTER_PASSWORD)."
    return
  fi
  # RunPod's proxy serves it from another origin, hence allow_origin; the token is the password
  JUPYTER_TOKEN=$password jupyter lab --ip=0.0.0.0 --port="$JUPYTER_PORT" --no-browser --allow-root \
    --ServerApp.root_dir="${WS:-/}" --ServerApp.allow_origin='*' --ServerApp.allow_remote_access=True \
    >>"$LOGS/jupyter.log" 2>&1 </dev/null &
  JUPYTER_PID=$!
  log "  jupyterlab: started on port $JUPYTER_PORT (pid $JUPYTER_PID), log in with the password as token"
}

phase services
start_sshd
start_code_server
start_jupyter
# ComfyUI and its custom nodes need none of these secrets
unset PUBLIC_KEY CODE_SERVER_PASSWORD JUPYTER_PASSWORD
state_of() { if [ -n "$1" ]; then printf 'running'; else printf 'off'; fi; }
phase_done "sshd $(state_of "$SSHD_PID"), code-server $(state_of "$CODE_PID"), jupyterlab $(state_of "$JUPYTER_PID")"

# --- phase: custom-nodes ----------------------------------------------------------------------
# Custom nodes installed at run time live in <workspace>/custom_nodes and come back with the
# volume; their Python packages went into the venv of a container that is gone. So each node's
# requirements.txt is installed again, but only when its hash is not in the state file, which
# lives in the venv itself: a new container (fresh venv from the image) reinstalls, a restart
# of the same one does not.
install_requirements() { # install_requirements NODE_DIR LOGFILE
  local dir=$1 logfile=$2 constraint=()
  if [ -f "$LAUNCHPAD_CONSTRAINTS" ]; then constraint=(--constraint "$LAUNCHPAD_CONSTRAINTS"); fi
  local pip=("$UV_BIN" pip install --python "$VENV/bin/python" "${constraint[@]}")
  # env -C, not a ( cd ) subshell: a signal must reach the trap while pip runs
  step "$RUN_DIR/pip.out" env -C "$dir" "${pip[@]}" -r requirements.txt
  local rc=$?
  cat "$RUN_DIR/pip.out" >>"$logfile" 2>/dev/null
  [ "$rc" -eq 0 ] && return 0
  # like ComfyUI-Manager: one bad line must not keep the others out
  log "  ${dir##*/}: installing requirements.txt as a whole failed, trying line by line"
  local line failed=0
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line%"${line##*[![:space:]]}"}"
    case $line in "" | -*) continue ;; esac
    if ! step "$RUN_DIR/pip.out" env -C "$dir" "${pip[@]}" "$line"; then
      failed=$((failed + 1))
      log "  ${dir##*/}: could not install '$line' (see $logfile)"
    fi
    cat "$RUN_DIR/pip.out" >>"$logfile" 2>/dev/null
  done <"$dir/requirements.txt"
  [ "$failed" -eq 0 ]
}

phase custom-nodes
NODES_DIR=${WS:+$WS/custom_nodes}
if [ -z "$NODES_DIR" ] || [ ! -d "$NODES_DIR" ]; then
  phase_done "no custom_nodes folder on the workspace"
elif [ "$CUSTOM_NODE_REQUIREMENTS" = off ]; then
  phase_done "requirements not checked (CUSTOM_NODE_REQUIREMENTS=off)"
else
  requirement_files=()
  for dir in "$NODES_DIR"/*/; do
    name=${dir%/}
    name=${name##*/}
    case $name in .* | __pycache__ | *.disabled) continue ;; esac
    if [ -f "$dir/requirements.txt" ]; then requirement_files+=("${dir%/}/requirements.txt"); fi
  done
  if [ "${#requirement_files[@]}" -eq 0 ]; then
    phase_done "no custom node on the workspace has a requirements.txt"
  else
    declare -A known=()
    if [ -f "$CUSTOM_NODES_STATE" ]; then
      while read -r hash name; do [ -n "$name" ] && known[$name]=$hash; done <"$CUSTOM_NODES_STATE"
    fi
    declare -A current=()
    while read -r hash file; do
      name=${file%/requirements.txt}
      current[${name##*/}]=$hash
    done < <(sha256sum -- "${requirement_files[@]}")
    changed=0 failed=0
    for name in "${!current[@]}"; do
      [ "${known[$name]:-}" = "${current[$name]}" ] && continue
      changed=$((changed + 1))
      log "  $name: requirements.txt is new or changed, installing into $VENV"
      if install_requirements "$NODES_DIR/$name" "$LOGS/custom-nodes.log"; then
        known[$name]=${current[$name]}
      else
        failed=$((failed + 1))
        unset "known[$name]" # tried again at the next start
      fi
    done
    if [ "$changed" -gt 0 ]; then
      mkdir -p "$(dirname "$CUSTOM_NODES_STATE")" 2>/dev/null
      : >"$CUSTOM_NODES_STATE.tmp"
      for name in "${!known[@]}"; do
        [ -n "${current[$name]:-}" ] && printf '%s %s\n' "${known[$name]}" "$name" >>"$CUSTOM_NODES_STATE.tmp"
      done
      mv -f "$CUSTOM_NODES_STATE.tmp" "$CUSTOM_NODES_STATE"
    fi
    if [ "$failed" -gt 0 ]; then
      banner "$failed custom node(s) on the volume have requirements that did not install;" \
        "they may show (IMPORT FAILED) in ComfyUI. Details: $LOGS/custom-nodes.log"
    fi
    phase_done "${#current[@]} with requirements, $changed installed ($failed failed), $((${#current[@]} - changed)) unchanged"
  fi
fi

# --- phase: comfyui ---------------------------------------------------------------------------
if [ -n "$COMFYUI_CMD" ]; then
  read -r -a COMFY_CMD <<<"$COMFYUI_CMD"
else
  COMFY_CMD=("$COMFYUI_PYTHON" "$COMFYUI_DIR/main.py")
fi
COMFY_CMD+=(--listen "$COMFYUI_LISTEN" --port "$COMFYUI_PORT" --disable-auto-launch "${WS_ARGS[@]}" "${MANAGER_ARGS[@]}")

# RunPod's proxy (https://<pod>-<port>.proxy.runpod.net) may hand ComfyUI a Host header that
# is not the page's origin; ComfyUI's default origin check then answers 403 to the browser
# (POST /prompt, the WebSocket, our own routes). --enable-cors-header replaces that check;
# naming the proxy's own origin (not "*") keeps other sites from reading the responses.
case $COMFYUI_CORS_ORIGIN in
  auto)
    if [ -n "${RUNPOD_POD_ID:-}" ]; then
      CORS_ORIGIN="https://${RUNPOD_POD_ID}-${COMFYUI_PORT}.proxy.runpod.net"
    else
      CORS_ORIGIN=""
    fi
    ;;
  off | none | "") CORS_ORIGIN="" ;;
  *) CORS_ORIGIN=$COMFYUI_CORS_ORIGIN ;;
esac
if [ -n "$CORS_ORIGIN" ]; then COMFY_CMD+=(--enable-cors-header "$CORS_ORIGIN"); fi
if [ -n "$COMFYUI_ARGS" ]; then
  read -r -a extra <<<"$COMFYUI_ARGS"
  COMFY_CMD+=("${extra[@]}")
fi
export PYTHONUNBUFFERED=1 # ComfyUI's output reaches the log as it happens

HEALTH_HOST=127.0.0.1
case $COMFYUI_LISTEN in 0.0.0.0 | "::" | *,*) ;; *) HEALTH_HOST=$COMFYUI_LISTEN ;; esac

probe() { # probe: the HTTP status of GET /launchpad/health, or nothing
  local fd status=""
  { exec {fd}<>"/dev/tcp/$HEALTH_HOST/$COMFYUI_PORT"; } 2>/dev/null || return 1
  { printf 'GET /launchpad/health HTTP/1.0\r\nHost: %s:%s\r\n\r\n' "$HEALTH_HOST" "$COMFYUI_PORT" >&"$fd"; } 2>/dev/null
  IFS=' ' read -r -t 5 _ status _ <&"$fd"
  while IFS= read -r -t 5 _ <&"$fd"; do :; done # read to the end: the server closes, not us
  exec {fd}>&-
  printf '%s' "$status"
}

watch_health() { # logs when ComfyUI answers; never gives up and never stops anything
  local started=$1 waited=0 status next_note=60
  while :; do
    status=$(probe)
    if [ "$status" = 200 ]; then
      log "ComfyUI is ready: /launchpad/health answers on port $COMFYUI_PORT"
      return 0
    elif [ "$status" = 404 ]; then
      log "ComfyUI answers on port $COMFYUI_PORT but /launchpad/health is missing: Launchpad did not load (look for IMPORT FAILED in $LOGS/comfyui.log)"
      return 0
    fi
    sleep 1
    waited=$((waited + 1))
    if [ "$waited" -ge "$next_note" ]; then
      log "ComfyUI is still starting after ${waited} s (large custom node sets take a while; this is not an error)"
      next_note=$((next_note * 2))
    fi
  done
}

COMFY_STARTED=0
start_comfyui() {
  local fifo="$RUN_DIR/comfyui.fifo"
  rm -f "$fifo" && mkfifo "$fifo"
  "$LAUNCHPAD_PYTHON" "$HERE/logtee.py" "$LOGS/comfyui.log" <"$fifo" &
  TEE_PID=$!
  if [ -d "$COMFYUI_DIR" ]; then cd "$COMFYUI_DIR" || true; fi
  now_us COMFY_STARTED
  "${COMFY_CMD[@]}" >"$fifo" 2>&1 </dev/null &
  COMFY_PID=$!
  if alive "$HEALTH_PID"; then kill "$HEALTH_PID" 2>/dev/null; fi
  watch_health "$COMFY_STARTED" &
  HEALTH_PID=$!
}

phase comfyui
start_comfyui
log "ComfyUI command: ${COMFY_CMD[*]}"
phase_done "started (pid $COMFY_PID) on port $COMFYUI_PORT${CORS_ORIGIN:+, CORS origin $CORS_ORIGIN}; output in $LOGS/comfyui.log"
log "start-up done; ComfyUI keeps loading in its own time (the health check waits for it)"

# --- supervise --------------------------------------------------------------------------------
quick_exits=0
on_comfy_exit() {
  local rc=$1 ran
  seconds_since ran "$COMFY_STARTED"
  COMFY_PID=""
  if alive "$HEALTH_PID"; then kill "$HEALTH_PID" 2>/dev/null; fi
  HEALTH_PID=""
  log "ComfyUI exited with status $rc after ${ran} s (its output: $LOGS/comfyui.log)"
  if [ "${ran%.*}" -lt "$COMFYUI_QUICK_EXIT_SECONDS" ]; then
    quick_exits=$((quick_exits + 1))
  else
    quick_exits=0
  fi
  if [ "$COMFYUI_RESTART" != on ]; then
    banner "ComfyUI is not running (COMFYUI_RESTART=$COMFYUI_RESTART)." \
      "The container stays up so you can connect and read $LOGS/comfyui.log."
    return
  fi
  if [ "$quick_exits" -ge "$COMFYUI_MAX_QUICK_EXITS" ]; then
    banner "ComfyUI exited $quick_exits times in a row within ${COMFYUI_QUICK_EXIT_SECONDS} s of starting; not restarting it." \
      "The container stays up so you can connect (SSH, Jupyter) and read $LOGS/comfyui.log." \
      "Restart the pod to try again."
    return
  fi
  log "restarting ComfyUI in ${COMFYUI_RESTART_DELAY} s"
  sleep "$COMFYUI_RESTART_DELAY" &
  CURRENT_PID=$!
  wait "$CURRENT_PID"
  CURRENT_PID=""
  start_comfyui
  log "ComfyUI restarted (pid $COMFY_PID)"
}

while :; do
  done_pid=""
  wait -n -p done_pid
  rc=$?
  done_pid=${done_pid:-} # bash leaves it unset when there was nothing to wait for
  if [ -z "$done_pid" ]; then
    # nothing left to wait for (ComfyUI given up, no services): idle until stopped
    sleep infinity &
    IDLE_PID=$!
    continue
  fi
  case $done_pid in
    "$COMFY_PID") on_comfy_exit "$rc" ;;
    "$DL_PID")
      DL_PID=""
      if [ "$rc" -eq 0 ]; then
        log "preset downloads finished (PRESET_DOWNLOAD=${PRESET_DOWNLOAD})"
      else
        log "preset downloads ended with status $rc: see $LOGS/downloads.log (they resume from the dashboard or the next start)"
      fi
      ;;
    "$SSHD_PID") log "sshd exited with status $rc (see $LOGS/sshd.log)" && SSHD_PID="" ;;
    "$CODE_PID") log "code-server exited with status $rc (see $LOGS/code-server.log)" && CODE_PID="" ;;
    "$JUPYTER_PID") log "jupyterlab exited with status $rc (see $LOGS/jupyter.log)" && JUPYTER_PID="" ;;
    "$HEALTH_PID") HEALTH_PID="" ;;
    "$TEE_PID") TEE_PID="" ;;
    *) ;;
  esac
done
