"""Real workflow files for tests: official templates from the installed templates packages, and
a fake Hub that serves the models they link to (same repo, path and revision, made-up bytes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fakehub import FakeHub, random_bytes
from lp.launchpad.catalog import templates
from lp.launchpad.catalog.schema import CivitaiSource, HFSource, source_from_url

# In both template packages the project meets: v0.3.64's 0.1.95 and the pinned json package.
WAN_TEMPLATE = "video_wan2_2_5B_ti2v"  # three Hugging Face models: diffusion model, text encoder, VAE
WAN_PRESET = "WAN_22_5B_TIV2"  # the curated preset with the same files, which the template's preset folds into

# Recent templates link only to Hugging Face; older ones (like 0.1.95's "lora") linked to
# Civitai. A workflow as the frontend saves such a one: the links on the loaders' properties.
CIVITAI_WORKFLOW = {
    "nodes": [
        {"id": 4, "type": "CheckpointLoaderSimple", "mode": 0, "widgets_values": ["dreamshaper_8.safetensors"],
         "properties": {"models": [{"name": "dreamshaper_8.safetensors", "directory": "checkpoints",
                                    "url": "https://civitai.com/api/download/models/128713?type=Model&fp=fp16"}]}},
        {"id": 10, "type": "LoraLoader", "mode": 0, "widgets_values": ["MoXinV1.safetensors", 0.8, 1],
         "properties": {"models": [{"name": "MoXinV1.safetensors", "directory": "loras",
                                    "url": "https://civitai.com/api/download/models/14856?type=Model"}]}},
    ],
    "links": [],
}


def templates_dir() -> Path | None:
    return templates.find_templates_dir()


def load_template(name: str, directory: Path | None = None) -> dict:
    directory = directory or templates_dir()
    assert directory is not None, "no comfyui-workflow-templates package installed"
    return json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))


def declared(workflow: dict) -> dict[str, dict]:
    """``folder/name`` -> the model entry, for every model the workflow declares with a link."""
    return {f"{e['directory']}/{e['name']}": e for e in templates.iter_model_entries(workflow) if e.get("url")}


def serve_models(hub: FakeHub, workflow: dict, size: int = 200_000, rate: int | None = None) -> dict[str, bytes]:
    """Put every model ``workflow`` links to on ``hub`` (at ``rate`` bytes/s when given); ``folder/name`` ->
    the bytes served."""
    served: dict[str, bytes] = {}
    for key, entry in declared(workflow).items():
        data = random_bytes(size + len(served))  # distinct sizes: a mix-up shows
        source = source_from_url(entry["url"])
        if isinstance(source, HFSource):
            hub.add_hf_file(source.repo, source.path, data, revision=source.revision)
            blob = f"{source.repo}/{source.path}"
        elif isinstance(source, CivitaiSource):
            hub.add_civitai(source.version, data, entry["name"], require_token=False)
            blob = f"civitai-{source.version}"
        else:
            raise AssertionError(f"{key}: {entry['url']} is neither Hugging Face nor Civitai")
        if rate:
            hub.behave(blob, rate=rate)
        served[key] = data
    return served


def vouch_for(workspace: Path, workflow: dict, served: dict[str, bytes]) -> Path:
    """A user preset in ``workspace`` stating the sha256 of the made-up bytes ``served`` for the
    workflow's files. The curated catalog pins the real sha256 of some of them (the Wan text
    encoder), which the fake Hub's bytes cannot match; a user's own word on a file goes first
    (catalog/loader.py), so these bytes pass the checks. Re-read when written: no restart needed."""
    entries = declared(workflow)
    lines = ["schema: 1", "presets:", "  - id: FAKE_HUB_FILES", "    name: What the fake Hub serves",
             "    category: image", "    files:"]
    for key, data in served.items():
        folder, name = key.split("/", 1)
        lines += [f"      - folder: {folder}", f"        name: {json.dumps(name)}",
                  f"        url: {json.dumps(entries[key]['url'])}",
                  f"        sha256: {hashlib.sha256(data).hexdigest()}"]
    path = workspace / "config" / "presets" / "fake-hub-files.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
