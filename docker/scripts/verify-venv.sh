#!/usr/bin/env bash
# verify-venv.sh PYTHON TORCH TORCHVISION TORCHAUDIO CUDA
#
# Build time, last step of the venv: fail the image when its packages do not fit together.
# `uv pip check` finds unmet or conflicting requirements; the import finds what a resolver
# cannot see (a torchaudio built against another torch or CUDA imports with an OSError).
# The three versions are compared without a local label (+cu128 on the PyTorch index, none on
# PyPI), and torch must be built for CUDA major.minor.
set -euo pipefail

if [ $# -ne 5 ]; then
  echo "usage: verify-venv.sh PYTHON TORCH TORCHVISION TORCHAUDIO CUDA" >&2
  exit 2
fi
python=$1
UV_BIN=${UV_BIN:-uv}

"$UV_BIN" pip check --python "$python"
"$python" - "$2" "$3" "$4" "$5" <<'PY'
import sys

import torch
import torchaudio
import torchvision

want = dict(zip(("torch", "torchvision", "torchaudio", "cuda"), sys.argv[1:]))
have = {
    "torch": torch.__version__.split("+")[0],
    "torchvision": torchvision.__version__.split("+")[0],
    "torchaudio": torchaudio.__version__.split("+")[0],
    "cuda": torch.version.cuda or "none",
}
wrong = [f"{name} is {have[name]}, expected {want[name]}" for name in want if have[name] != want[name]]
if wrong:
    sys.exit("verify-venv: " + "; ".join(wrong))
print("verify-venv: " + ", ".join(f"{name} {version}" for name, version in have.items()))
PY
