"""The one list of model folder names Launchpad knows, and where each lives in the workspace.

ComfyUI looks models up by folder name (``folder_paths``). A folder may span several
directories; the *last* one listed is where Launchpad downloads, because ComfyUI's loader
reverses the lines of a multi-line value when ``is_default`` is set, so the last line ends
up first, as the folder's default (docs/comfyui-facts.md, Extra model paths).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelFolder:
    name: str  # the folder name ComfyUI (or the custom node) looks up
    dirs: tuple[str, ...]  # directories under <workspace>/models, preferred last
    used_by: str = "ComfyUI"

    @property
    def target_dir(self) -> str:
        """The directory under <workspace>/models where downloads for this folder go."""
        return self.dirs[-1]


def _core(name: str, *dirs: str) -> ModelFolder:
    return ModelFolder(name, dirs or (name,))


def _node(name: str, used_by: str, *dirs: str) -> ModelFolder:
    return ModelFolder(name, dirs or (name,), used_by)


MODEL_FOLDERS: tuple[ModelFolder, ...] = (
    # ComfyUI v0.3.64 (folder_paths.folder_names_and_paths)
    _core("checkpoints"),
    _core("configs"),
    _core("loras"),
    _core("vae"),
    _core("text_encoders", "clip", "text_encoders"),
    _core("diffusion_models", "unet", "diffusion_models"),
    _core("clip_vision"),
    _core("style_models"),
    _core("embeddings"),
    _core("diffusers"),
    _core("vae_approx"),
    _core("controlnet", "t2i_adapter", "controlnet"),
    _core("gligen"),
    _core("upscale_models"),
    _core("hypernetworks"),
    _core("photomaker"),
    _core("classifiers"),
    _core("model_patches"),
    _core("audio_encoders"),
    # added by ComfyUI in 2026
    _core("latent_upscale_models"),
    _core("background_removal"),
    _core("frame_interpolation"),
    _core("geometry_estimation"),
    _core("optical_flow"),
    _core("detection"),
    # popular custom nodes that look up their own folder names
    _node("ipadapter", "ComfyUI_IPAdapter_plus"),
    _node("insightface", "ComfyUI_IPAdapter_plus, ComfyUI_InstantID"),
    _node("instantid", "ComfyUI_InstantID"),
    _node("pulid", "PuLID_ComfyUI"),
    _node("sams", "ComfyUI-Impact-Pack"),
    _node("mmdets", "ComfyUI-Impact-Pack"),
    _node("ultralytics", "ComfyUI-Impact-Subpack"),
    _node("ultralytics_bbox", "ComfyUI-Impact-Subpack", "ultralytics/bbox"),
    _node("ultralytics_segm", "ComfyUI-Impact-Subpack", "ultralytics/segm"),
    _node("animatediff_models", "ComfyUI-AnimateDiff-Evolved"),
    _node("animatediff_motion_lora", "ComfyUI-AnimateDiff-Evolved"),
    _node("facerestore_models", "facerestore_cf"),
    _node("facedetection", "facerestore_cf"),
    _node("LLM", "ComfyUI-Florence2 and other LLM nodes"),
    _node("onnx", "ONNX-based nodes"),
)

BY_NAME: dict[str, ModelFolder] = {folder.name: folder for folder in MODEL_FOLDERS}

# Names ComfyUI itself maps to another folder (folder_paths.map_legacy), plus the directory
# names users and catalogs commonly write instead of the folder name.
ALIASES: dict[str, str] = {
    "clip": "text_encoders",
    "unet": "diffusion_models",
    "t2i_adapter": "controlnet",
}

FOLDER_NAMES: tuple[str, ...] = tuple(BY_NAME)


def canonical(name: str) -> str | None:
    """The folder name ``name`` stands for, or None when it is not a known folder."""
    name = ALIASES.get(name, name)
    return name if name in BY_NAME else None


def get(name: str) -> ModelFolder:
    """The folder for ``name`` (aliases accepted); KeyError when unknown."""
    folder = canonical(name)
    if folder is None:
        raise KeyError(name)
    return BY_NAME[folder]
