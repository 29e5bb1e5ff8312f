"""Launchpad's ComfyUI nodes: "Launchpad Model" and "Launchpad Ensure Preset" (category Launchpad).

Inside a ComfyUI that has the V3 node API (``comfy_api.latest``, already imported by ComfyUI's
own nodes before custom nodes load) the V3 classes are exported; elsewhere, in older ComfyUI
and without ComfyUI, the V1 ones. Either way they go into ``NODE_CLASS_MAPPINGS``, which
ComfyUI reads first (docs/comfyui-facts.md, Exports). Importing this never imports ComfyUI or torch.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("launchpad.nodes")

DISPLAY_NAMES = {"LaunchpadModel": "Launchpad Model", "LaunchpadEnsurePreset": "Launchpad Ensure Preset"}


def _classes() -> dict[str, type]:
    if "comfy_api.latest" in sys.modules:  # never import it ourselves: it pulls in torch
        try:
            from .v3 import build

            return build()
        except Exception:  # a V3 API that changed shape must not cost the nodes
            log.exception("Launchpad's V3 nodes could not be built; using the V1 ones")
    from .v1 import NODES

    return dict(NODES)


NODE_CLASS_MAPPINGS: dict[str, type] = _classes()
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = dict(DISPLAY_NAMES)
