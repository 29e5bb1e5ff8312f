"""How big a catalog file is before anyone downloads it, and how much VRAM a preset wants.

Exact figures come from the catalog (``size:``, checked against every download) or from the
sources themselves (asked once in the background and kept in the workspace state, see
``size_cache.py``). Everything else is an estimate, and says so. The estimates come from the
official templates index, which gives each template the total size of its models, rounded
(to 0.01 GiB in the newer indexes, sometimes coarser or stale), but no per-file sizes:

1. *peel*: a template whose files all have a figure but one gives that one the rest of its
   total (smallest templates first, repeated until nothing changes; a rest that is not
   positive means the total is stale and is not used);
2. *share*: a template's rest is split over its files that still have no figure, in
   proportion to a typical size for their folder (the median of the figures found so far
   once a folder has three, else :data:`TYPICAL`); a file takes its share from the template
   with the fewest such files;
3. *folder*: a file that no template total covers gets that typical size.

:func:`vram_estimate_gb` is the documented rule for a preset that states no ``min_vram_gb``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .schema import ModelFile

EXACT_BASES = ("catalog", "source")
MIN_FILE = 2**20  # a rest below this is noise of the rounded totals, not a model file
GB = 10**9
# typical file sizes per folder, for splitting a total and for files no total covers
TYPICAL: dict[str, int] = {
    "checkpoints": 7 * GB, "diffusion_models": 12 * GB, "diffusers": 12 * GB, "text_encoders": 5 * GB,
    "vae": GB // 3, "loras": GB // 3, "controlnet": 3 * GB // 2, "clip_vision": GB, "model_patches": GB,
    "audio_encoders": GB, "latent_upscale_models": GB // 2, "upscale_models": GB // 15,
    "style_models": GB // 10, "frame_interpolation": GB // 10, "background_removal": GB // 2,
    "geometry_estimation": GB // 2, "optical_flow": GB // 10, "detection": GB // 5,
}
DEFAULT_TYPICAL = GB // 2
DATA_ENOUGH = 3  # figures in a folder before their median replaces the typical size

# folders whose weights stay on the GPU while sampling (text encoders and VAEs run one at a time
# before and after, and ComfyUI moves them off the GPU when the diffusion model needs the room)
RESIDENT = ("checkpoints", "diffusion_models", "diffusers")
# loaded next to the resident model and patched into it, or run alongside it
ALONGSIDE = ("loras", "controlnet", "model_patches", "ipadapter", "style_models", "gligen", "hypernetworks",
             "photomaker", "animatediff_models", "animatediff_motion_lora", "instantid", "pulid")
VRAM_OVERHEAD = 1.2  # activations, latents and CUDA's own share grow with the weights
VRAM_BASE_GB = 1.0


@dataclass(frozen=True)
class Figure:
    """A file's size in bytes and where the number comes from.

    ``basis``: ``catalog`` (the preset's ``size``), ``source`` (what the Hub or Civitai said),
    ``listed`` (the preset's ``estimated_size``), ``templates`` (peeled from a template's total),
    ``share`` (a share of a template's total), ``folder`` (the folder's median).
    """

    bytes: int
    basis: str

    @property
    def estimated(self) -> bool:
        return self.basis not in EXACT_BASES


@dataclass(frozen=True)
class Total:
    """A template's files (by key) and the total size the templates index gives them."""

    name: str
    keys: frozenset[str]
    size: int


def solve(files: Iterable[ModelFile], totals: Sequence[Total], exact: Mapping[str, int]) -> dict[str, Figure]:
    """A figure for every file key that can have one; see the module docstring for the rule."""
    figures: dict[str, Figure] = {}
    folders: dict[str, str] = {}
    for model_file in files:
        folders.setdefault(model_file.key, model_file.folder)
        if model_file.size is not None:
            figures[model_file.key] = Figure(model_file.size, "catalog")
        elif model_file.key in exact and model_file.key not in figures:
            figures[model_file.key] = Figure(exact[model_file.key], "source")
        elif model_file.estimated_size is not None and model_file.key not in figures:
            figures[model_file.key] = Figure(model_file.estimated_size, "listed")
    ordered = sorted((t for t in totals if t.size > 0), key=lambda t: (len(t.keys), t.name))
    _peel(ordered, figures)
    typical = _typical(figures, folders)
    _share(ordered, figures, folders, typical)
    for key, folder in folders.items():
        if key not in figures:
            figures[key] = Figure(typical.get(folder, DEFAULT_TYPICAL), "folder")
    return figures


def _peel(totals: Sequence[Total], figures: dict[str, Figure]) -> None:
    changed = True
    while changed:
        changed = False
        for total in totals:
            missing = [key for key in total.keys if key not in figures]
            if len(missing) != 1:
                continue
            rest = total.size - sum(figures[key].bytes for key in total.keys if key in figures)
            if rest >= MIN_FILE:
                figures[missing[0]] = Figure(rest, "templates")
                changed = True


def _share(
    totals: Sequence[Total], figures: dict[str, Figure], folders: Mapping[str, str], typical: Mapping[str, int]
) -> None:
    shares: dict[str, Figure] = {}
    for total in sorted(totals, key=lambda t: (sum(k not in figures for k in t.keys), t.name)):
        missing = sorted(key for key in total.keys if key not in figures)
        rest = total.size - sum(figures[key].bytes for key in total.keys if key in figures)
        if not missing or rest < MIN_FILE * len(missing):
            continue
        weights = {key: typical.get(folders.get(key, ""), DEFAULT_TYPICAL) for key in missing}
        scale = rest / sum(weights.values())
        for key in missing:
            shares.setdefault(key, Figure(max(MIN_FILE, round(weights[key] * scale)), "share"))
    figures.update(shares)


def _typical(figures: Mapping[str, Figure], folders: Mapping[str, str]) -> dict[str, int]:
    by_folder: dict[str, list[int]] = {}
    for key, figure in figures.items():
        if key in folders:
            by_folder.setdefault(folders[key], []).append(figure.bytes)
    typical = dict(TYPICAL)
    for folder, found in by_folder.items():
        if len(found) >= DATA_ENOUGH:
            typical[folder] = round(statistics.median(found))
    return typical


def total(files: Sequence[ModelFile], figures: Mapping[str, Figure]) -> tuple[int | None, bool]:
    """(bytes, estimated) for a preset's files: None while some file has no figure at all."""
    found = [figures.get(f.key) for f in files]
    if any(figure is None for figure in found):
        return None, True
    return sum(f.bytes for f in found if f), any(f.estimated for f in found if f)


def vram_estimate_gb(files: Sequence[ModelFile], figures: Mapping[str, Figure]) -> float | None:
    """VRAM in GB a preset's workflows want, estimated from its files' sizes.

    The largest file ComfyUI keeps on the GPU while sampling (a checkpoint or diffusion
    model; the largest file when there is none) plus what is loaded alongside it (LoRAs,
    ControlNets, model patches, IP-Adapters), times 1.2, plus 1 GB, rounded up to a whole GB.
    Text encoders and VAEs are left out: they run before and after sampling and ComfyUI
    offloads them. None when a file that counts has no figure.
    """
    sized = [(f.folder, figures[f.key].bytes) for f in files if f.key in figures]
    if len(sized) != len(files) or not sized:
        return None
    resident = [size for folder, size in sized if folder in RESIDENT]
    main = max(resident) if resident else max(size for _, size in sized)
    alongside = sum(size for folder, size in sized if folder in ALONGSIDE)
    return float(math.ceil((main + alongside) * VRAM_OVERHEAD / 1e9 + VRAM_BASE_GB))
