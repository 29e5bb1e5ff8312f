"""A shared workflow with no download links and the sources that know its models, for the
resolver's tests (API, CLI, browser): a repository the catalog uses on the fake Hub (its listing
holds more than the preset names), a ComfyUI-Manager model list written here in the Manager's
format, and a fake Civitai that knows one file only by its sha256."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fakehub import FakeHub, random_bytes, sha256_of

KNOWN_REPO = "acme/known-repackaged"
MANAGER_VAE = "manager-vae.safetensors"
HUB_LORA = "wan-extra-style.safetensors"
CIVITAI_LORA = "papercut.safetensors"
CIVITAI_VERSION = 5150
SURE = (f"vae/{MANAGER_VAE}", f"loras/{HUB_LORA}", f"loras/{CIVITAI_LORA}")  # what one click installs
PRESETS = {"schema": 1, "presets": [{
    "id": "known-base", "name": "A preset whose repository holds more than it lists", "category": "image",
    "files": [{"folder": "checkpoints", "name": "known-base.safetensors", "hf": KNOWN_REPO,
               "path": "split_files/checkpoints/known-base.safetensors"}]}]}


def manager_list(entries: list[dict]) -> str:
    """A model list in ComfyUI-Manager's format (the fields its model-list.json entries have)."""
    models = [{"name": e["filename"], "type": e["type"], "base": "SDXL", "save_path": e["save_path"],
               "description": "written by the test", "reference": "https://example.org", "filename": e["filename"],
               "url": e["url"], "size": e["size"]} for e in entries]
    return json.dumps({"models": models}, indent=1)


MANAGER_ENTRIES = [
    {"filename": MANAGER_VAE, "type": "VAE", "save_path": "vae/SDXL", "size": "70KB",
     "url": "https://huggingface.co/acme/manager-models/resolve/main/vae/sdxl-vae.safetensors"},
    {"filename": "elsewhere.safetensors", "type": "VAE", "save_path": "default", "size": "1KB",
     "url": "https://github.com/acme/vae/raw/main/elsewhere.safetensors"},
    {"filename": HUB_LORA, "type": "lora", "save_path": "loras/wan", "size": "60KB",  # the Hub's file, elsewhere
     "url": f"https://huggingface.co/acme/manager-models/resolve/main/loras/{HUB_LORA}"},
]


def shared_workflow(civitai_sha256: str) -> dict:
    """As someone shares it: loaders with chosen names, no links; one LoRA known by its hash, one
    checkpoint only by a name in another case, one VAE only on a host downloads may not use."""
    return {"last_node_id": 5, "last_link_id": 0, "version": 0.4, "links": [], "groups": [], "config": {},
            "extra": {}, "nodes": [
        _node(1, "VAELoader", [MANAGER_VAE], "VAE"),
        _node(2, "LoraLoader", [HUB_LORA, 1.0, 1.0], "MODEL"),
        {**_node(3, "LoraLoader", [CIVITAI_LORA, 0.8, 0.8], "MODEL"),
         "properties": {"models": [{"name": CIVITAI_LORA, "directory": "loras", "hash": civitai_sha256.upper(),
                                    "hash_type": "SHA256"}]}},
        _node(4, "CheckpointLoaderSimple", ["Known-Base.safetensors"], "MODEL"),
        _node(5, "VAELoader", ["elsewhere.safetensors"], "VAE"),
    ]}


def _node(node_id: int, kind: str, widgets: list, output: str) -> dict:
    return {"id": node_id, "type": kind, "pos": [node_id * 320, 0], "size": [300, 100], "flags": {},
            "order": node_id - 1, "mode": 0, "inputs": [], "outputs": [{"name": output, "type": output, "links": None}],
            "properties": {}, "widgets_values": widgets}


@dataclass
class Sources:
    served: dict[str, bytes]  # key as the workflow names it -> the bytes its source serves
    sha256: str  # of the file only Civitai knows

    @property
    def workflow(self) -> dict:
        return shared_workflow(self.sha256)


def stage(hub: FakeHub, workspace: Path, rate: int | None = None, refreshed: bool = False) -> Sources:
    """Put the sources in place: files on ``hub``, the user preset and the Manager's list in ``workspace``:
    in a legacy ComfyUI-Manager clone under custom_nodes/, or (``refreshed``) where `launchpad workflow
    --refresh` keeps its copy (inside ComfyUI the custom_nodes/ of the workspace is not ComfyUI's)."""
    served = {
        "checkpoints/Known-Base.safetensors": random_bytes(90_000),
        f"vae/{MANAGER_VAE}": random_bytes(70_000),
        f"loras/{HUB_LORA}": random_bytes(60_000),
        f"loras/{CIVITAI_LORA}": random_bytes(50_000),
    }
    blobs = {
        f"{KNOWN_REPO}/split_files/checkpoints/known-base.safetensors": served["checkpoints/Known-Base.safetensors"],
        f"{KNOWN_REPO}/split_files/loras/{HUB_LORA}": served[f"loras/{HUB_LORA}"],
        "acme/manager-models/vae/sdxl-vae.safetensors": served[f"vae/{MANAGER_VAE}"],
    }
    for blob, data in blobs.items():
        org, repo, path = blob.split("/", 2)
        hub.add_hf_file(f"{org}/{repo}", path, data)
    hub.add_civitai(CIVITAI_VERSION, served[f"loras/{CIVITAI_LORA}"], "PaperCut_v2.safetensors",
                    require_token=False, model_name="Paper Cut", model_type="LORA")
    if rate:
        for blob in [*blobs, f"civitai-{CIVITAI_VERSION}"]:
            hub.behave(blob, rate=rate)
    presets = workspace / "config" / "presets"
    presets.mkdir(parents=True, exist_ok=True)
    (presets / "known.yaml").write_text(json.dumps(PRESETS), encoding="utf-8")
    where = workspace / ".launchpad" / "resolve" / "manager-model-list.json" if refreshed else (
        workspace / "custom_nodes" / "ComfyUI-Manager" / "model-list.json")
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text(manager_list(MANAGER_ENTRIES), encoding="utf-8")
    return Sources(served, sha256_of(served[f"loras/{CIVITAI_LORA}"]))
