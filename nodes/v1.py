"""The nodes in ComfyUI's classic (V1) node API: ``INPUT_TYPES``, ``RETURN_TYPES``, ``FUNCTION``.

Used where ComfyUI has no ``comfy_api.latest`` (older ComfyUI) and outside ComfyUI; every
ComfyUI still loads V1 nodes (docs/comfyui-facts.md, Nodes). The work is in runtime.py.
"""

from __future__ import annotations

from typing import Any

from . import runtime


class AnyType(str):
    """A socket type every input accepts: ComfyUI checks a link with ``!=`` (docs/comfyui-facts.md, Nodes).

    The model name must reach loaders' COMBO inputs, whose type is their list of files, a list
    that does not hold the file until this node has downloaded it.
    """

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


ANY = AnyType("*")


class LaunchpadModel:
    DESCRIPTION = runtime.MODEL_DESCRIPTION
    CATEGORY = runtime.CATEGORY
    RETURN_TYPES = (ANY, "STRING")
    RETURN_NAMES = ("name", "path")
    OUTPUT_TOOLTIPS = (runtime.NAME_TOOLTIP, runtime.PATH_TOOLTIP)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"model": (runtime.model_choices(), {"default": runtime.CHOOSE_MODEL,
                                                             "tooltip": runtime.MODEL_TOOLTIP})},
            "optional": {"preset": (runtime.preset_choices(), {"default": runtime.ANY_PRESET,
                                                              "tooltip": runtime.PRESET_TOOLTIP})},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, model: str, preset: str = runtime.ANY_PRESET) -> bool | str:
        return runtime.validate_model(model, preset)

    @classmethod
    def IS_CHANGED(cls, model: str, preset: str = runtime.ANY_PRESET) -> str:
        return runtime.fingerprint(model, preset)

    def run(self, model: str, preset: str = runtime.ANY_PRESET) -> tuple[str, str]:
        return runtime.run_model(model, preset)


class LaunchpadEnsurePreset:
    DESCRIPTION = runtime.PRESET_DESCRIPTION
    CATEGORY = runtime.CATEGORY
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("summary",)
    FUNCTION = "run"
    OUTPUT_NODE = True  # it has work to do even when nothing is connected to it

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        choices = runtime.preset_choices(first=runtime.CHOOSE_PRESET)
        options = {"default": runtime.CHOOSE_PRESET, "tooltip": runtime.ENSURE_TOOLTIP}
        return {"required": {"preset": (choices, options)}}

    @classmethod
    def VALIDATE_INPUTS(cls, preset: str) -> bool | str:
        return runtime.validate_preset(preset)

    def run(self, preset: str) -> tuple[str]:
        return (runtime.run_preset(preset),)


NODES: dict[str, type] = {"LaunchpadModel": LaunchpadModel, "LaunchpadEnsurePreset": LaunchpadEnsurePreset}
