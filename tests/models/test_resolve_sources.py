"""The resolver's sources one by one, on real files: ComfyUI-Manager's own model list where the
package is installed (and one written here in its format), the catalog, and how sure each match is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, missing
from lp.launchpad.catalog import load_catalog
from lp.launchpad.catalog.schema import HFSource, UrlSource
from lp.launchpad.resolve import manager_list
from lp.launchpad.resolve.candidates import EXACT, HASH, NAME, Candidate, Wanted, judged
from lp.launchpad.resolve.catalog_files import CatalogIndex
from lp.launchpad.resolve.chain import best_first
from lp.launchpad.resolve.hub_listings import HubIndex

CACHE = Path(os.environ.get("LAUNCHPAD_TEST_CACHE") or Path.home() / ".cache" / "comfyui-launchpad-tests")
HOSTS = ("huggingface.co", "civitai.com")


def manager_site() -> Path:
    """A directory holding an installed ``comfyui_manager`` package: ComfyUI's Python's (0.33 has it),
    else the comfyui-manager wheel from PyPI unpacked once into the test cache."""
    python = os.environ.get("COMFYUI_PYTHON")
    if python and Path(python).exists():
        probe = ("import importlib.util as u; s = u.find_spec('comfyui_manager'); "
                 "print(s.submodule_search_locations[0] if s else '')")
        found = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60).stdout.strip()
        if found:
            return Path(found).parent
    site = CACHE / "comfyui-manager"
    if (site / "comfyui_manager" / manager_list.FILENAME).is_file():
        return site
    with tempfile.TemporaryDirectory() as download:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", download,
                               "comfyui-manager"], capture_output=True, text=True, timeout=600)
        wheels = list(Path(download).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            missing("comfyui", f"no comfyui_manager package to read: {done.stderr[-300:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(site)
    return site


def test_the_managers_own_list_is_read_where_the_package_is_installed(tmp_path: Path) -> None:
    site = manager_site()
    paths = manager_list.locate(tmp_path, [], search_path=[str(site)])
    assert paths == [site / "comfyui_manager" / "model-list.json"]
    entries = manager_list.ManagerList().load(paths)
    raw = json.loads(paths[0].read_text())["models"]
    assert len(raw) > 400 and entries.count > 0.8 * len(raw)  # repositories and node folders are left out
    wan = entries.candidates(Wanted("diffusion_models", "wan2.2_ti2v_5B_fp16.safetensors"))
    assert [(c.origin, c.certainty) for c in wan] == [("manager", EXACT)]
    assert isinstance(wan[0].source, HFSource) and wan[0].source.repo == "Comfy-Org/Wan_2.2_ComfyUI_Repackaged"
    assert wan[0].size and not wan[0].size_exact and wan[0].found_as.startswith("diffusion_models/")
    # its default save path: the folder of the type (TAESD -> vae_approx), a GitHub link the policy refuses
    taesd = entries.candidates(Wanted("vae_approx", "taef1_decoder.pth"))
    assert taesd and isinstance(taesd[0].source, UrlSource) and "github.com" in taesd[0].source.url
    assert best_first(taesd, HOSTS)[0].origin == "manager"
    # nothing of it is in this repository (GPL-3.0): only read where it is installed
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [name for name in tracked if name.endswith("model-list.json")]


def test_a_list_in_the_managers_format(tmp_path: Path) -> None:
    def item(filename: str, save_path: str, url: str, size: str = "1.5MB", kind: str = "lora") -> dict:
        return {"name": filename, "type": kind, "base": "SD1.5", "save_path": save_path, "description": "",
                "reference": "", "filename": filename, "url": url, "size": size}

    hub = "https://huggingface.co/acme/models/resolve/main/"
    models = [
        item("pytorch_lora_weights.safetensors", "loras/SD1.5/lcm", hub + "lcm15.safetensors", "134.6MB"),
        item("pytorch_lora_weights.safetensors", "loras/SDXL/lcm", hub + "lcmxl.safetensors", "393.9MB"),
        item("4x-Sharp.pth", "default", hub + "4x-Sharp.pth", "67.0MB", kind="upscale"),
        item("<huggingface>", "LLM", "acme/whole-repo"),  # a repository, not a file
        item("node.pth", "custom_nodes/some-node/models", hub + "node.pth"),  # a node's own folder
        item("../escape.pth", "loras", hub + "escape.pth"),
    ]
    clone = tmp_path / "custom_nodes" / "ComfyUI-Manager"
    clone.mkdir(parents=True)
    (clone / "model-list.json").write_text(json.dumps({"models": models}))
    found = manager_list.locate(tmp_path / "state", [tmp_path / "custom_nodes"], search_path=[])
    entries = manager_list.ManagerList().load(found)
    assert found == [clone / "model-list.json"] and entries.count == 3

    upscale = entries.candidates(Wanted("upscale_models", "4x-Sharp.pth"))
    assert [(c.certainty, c.size, c.found_as) for c in upscale] == [(EXACT, 67_000_000, None)]
    # a generic name two entries share: which one is the user's call, unless the workflow names the subfolder
    generic = best_first(entries.candidates(Wanted("loras", "pytorch_lora_weights.safetensors")), HOSTS)
    assert [c.certainty for c in generic] == [NAME, NAME]
    pinned = best_first(entries.candidates(Wanted("loras", "SDXL/lcm/pytorch_lora_weights.safetensors")), HOSTS)
    assert [(c.certainty, c.source.path) for c in pinned] == [(EXACT, "lcmxl.safetensors"),  # type: ignore[union-attr]
                                                              (NAME, "lcm15.safetensors")]
    assert entries.candidates(Wanted("checkpoints", "4x-Sharp.pth"))[0].certainty == NAME  # another folder

    # a refreshed copy comes first; a file that is no model list is refused and nothing is written
    state = tmp_path / "state"
    with pytest.raises(ValueError, match="not a ComfyUI-Manager model list"):
        manager_list.save_refreshed(state, b'{"custom_nodes": []}')
    assert not (state / "resolve").exists()
    assert manager_list.save_refreshed(state, json.dumps({"models": models[:1]}).encode()) == 1
    assert manager_list.locate(state, [tmp_path / "custom_nodes"], search_path=[])[0].name == "manager-model-list.json"


def test_a_hash_decides_over_a_name(tmp_path: Path) -> None:
    catalog = load_catalog(tmp_path)
    pinned = next(f for f in catalog.files().values() if f.sha256 and isinstance(f.source, HFSource))
    index = CatalogIndex(catalog)
    same = Wanted(pinned.folder, pinned.name, pinned.sha256, "sha256")
    assert [c.certainty for c in (judged(same, c) for c in index.candidates(same))] == [HASH]
    other = Wanted(pinned.folder, pinned.name, "0" * 64, "sha256")  # the same name, other bytes
    assert [judged(other, c).certainty for c in index.candidates(other)] == [NAME]
    renamed = Wanted("checkpoints", "my-own-name.safetensors", pinned.sha256, "sha256")  # found by its hash
    found = [judged(renamed, c) for c in index.candidates(renamed)]
    assert [(c.certainty, c.found_as) for c in found] == [(HASH, pinned.key)]
    assert found[0].model_file(renamed).key == "checkpoints/my-own-name.safetensors"  # saved as the loader wants


def test_hub_listings_match_by_file_name_and_folder() -> None:
    index = HubIndex({"acme/repack@main": {"at": 1, "files": [
        ["split_files/loras/style.safetensors", 10, "a" * 64],
        ["split_files/vae/style-vae.safetensors", 20, None],
    ]}, "acme/other@main": {"at": 1, "files": [["style.safetensors", 11, "b" * 64]]}, "acme/gated@main": {
        "at": 1, "files": None}})
    assert index.repos == 2
    lora = best_first(index.candidates(Wanted("loras", "style.safetensors")), HOSTS)
    # two files of that name with different bytes: neither is sure
    assert sorted((c.certainty, c.where) for c in lora) == [(NAME, "acme/other"), (NAME, "acme/repack")]
    vae = index.candidates(Wanted("loras", "style-vae.safetensors"))  # its path says it is a VAE
    assert [c.certainty for c in vae] == [NAME]
    sure = index.candidates(Wanted("vae", "style-vae.safetensors"))
    assert [(c.certainty, c.size, c.size_exact) for c in sure] == [(EXACT, 20, True)]


def test_best_first_prefers_sure_then_allowed_then_trusted() -> None:
    wanted = Wanted("vae", "v.safetensors")
    elsewhere = Candidate("manager", EXACT, UrlSource("https://example.org/v.safetensors"))
    listed = Candidate("huggingface", EXACT, HFSource("acme/r", "v.safetensors"))
    preset = Candidate("catalog", EXACT, HFSource("acme/r", "v.safetensors"), presets=("P",))
    similar = Candidate("catalog", NAME, HFSource("acme/s", "V.safetensors"))
    ranked = best_first([judged(wanted, c) for c in (similar, elsewhere, listed, preset)], HOSTS)
    assert [(c.origin, c.certainty) for c in ranked] == [("catalog", EXACT), ("manager", EXACT), ("catalog", NAME)]
    assert ranked[0].presets == ("P",)  # one candidate per link: the catalog's, the listing folded in
