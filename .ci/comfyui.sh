#!/usr/bin/env bash
# Sets up a real ComfyUI (CPU) for the integration and browser suites, cached between runs:
#
#   .ci/comfyui.sh SOURCE_TARBALL DEST WHEELS_DIR
#
# DEST/ComfyUI is the source (unpacked again when the tarball changes), DEST/venv its Python.
# torch, torchvision and torchaudio come from WHEELS_DIR (the wheel cache the image build
# shares), pinned together: an unpinned torchaudio resolves to a build for another torch.
# uv unpacks each wheel once into UV_CACHE_DIR and hardlinks it into every venv, so a second
# ComfyUI costs seconds and almost no disk.
set -euo pipefail

source_tarball=${1:?ComfyUI source tarball}
dest=${2:?destination}
wheels=${3:?wheel directory}
repo=$(cd "$(dirname "$0")/.." && pwd)
: "${TORCH_VERSION:=2.9.1}" "${TORCHVISION_VERSION:=0.24.1}"
export UV_PYTHON_DOWNLOADS=never UV_NATIVE_TLS=1 UV_LINK_MODE=hardlink

mkdir -p "$dest"
digest=$(sha256sum "$source_tarball" | cut -d' ' -f1)
if [ "$(cat "$dest/source.sha256" 2>/dev/null)" != "$digest" ]; then
  rm -rf "$dest/ComfyUI" "$dest/venv"
  tar -xzf "$source_tarball" -C "$dest"
  echo "$digest" > "$dest/source.sha256"
fi
[ -f "$dest/ComfyUI/main.py" ] || { echo "no ComfyUI/main.py in $source_tarball" >&2; exit 1; }

python=$dest/venv/bin/python
[ -x "$python" ] || uv venv -q --python "${PYTHON:-python3.11}" "$dest/venv"
# the pinned trio from the shared wheel cache alone, then ComfyUI's requirements around it
uv pip install -q --python "$python" --no-index --find-links "$wheels" \
  "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" "torchaudio==$TORCH_VERSION"
# requests: ComfyUI 0.3.64 imports it without listing it (ComfyUI-Manager usually brings it);
# our own requirements: ComfyUI-Manager would install them for a user
# ComfyUI-Manager as the pip package where this ComfyUI names one (0.33 and on, --enable-manager)
manager=()
[ -f "$dest/ComfyUI/manager_requirements.txt" ] && manager=(-r "$dest/ComfyUI/manager_requirements.txt")
uv pip install -q --python "$python" -r "$dest/ComfyUI/requirements.txt" requests "${manager[@]}" \
  -r "$repo/requirements.txt"
uv pip check -q --python "$python" >/dev/null
"$python" -c 'import torch, torchvision, torchaudio'
echo "COMFYUI_DIR=$dest/ComfyUI COMFYUI_PYTHON=$python ($(cd "$dest/ComfyUI" && "$python" -c 'import comfyui_version; print(comfyui_version.__version__)'))"
