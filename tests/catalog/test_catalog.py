"""The catalog: strict validation naming file/preset/field, the three merged sources, state on disk."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from lp.launchpad.catalog import load_catalog, templates
from lp.launchpad.catalog.loader import load_dir, parse_yaml
from lp.launchpad.catalog.schema import CivitaiSource, HFSource, UrlSource, source_from_url
from lp.launchpad.catalog.state import preset_state
from lp.launchpad.catalog.verified import VerifiedFiles
from lp.launchpad.errors import NotFound
from lp.launchpad.files import partial_path
from lp.launchpad.model_roots import ModelRoots
from lp.launchpad.workspace import Workspace

GOOD = """
schema: 1
presets:
  - id: MY_SDXL
    name: My SDXL
    category: image
    tags: [sdxl]
    min_vram_gb: 8
    files:
      - folder: checkpoints
        name: sd_xl_base_1.0.safetensors
        hf: stabilityai/stable-diffusion-xl-base-1.0
        path: sd_xl_base_1.0.safetensors
        size: 1000
        sha256: %s
      - folder: loras
        name: styles/pixel.safetensors
        civitai: 12345
      - folder: clip
        name: te.safetensors
        url: https://example.com/te.safetensors
""" % ("ab" * 32)


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def test_valid_preset_parses_every_source_kind(tmp_path: Path) -> None:
    parsed = parse_yaml(GOOD, "mine.yaml", "user")
    assert parsed.warnings == []
    (preset,) = parsed.presets
    assert preset.id == "MY_SDXL" and preset.category == "image" and preset.min_vram_gb == 8
    ckpt, lora, te = preset.files
    assert ckpt.source == HFSource("stabilityai/stable-diffusion-xl-base-1.0", "sd_xl_base_1.0.safetensors", "main")
    assert ckpt.sha256 == "ab" * 32 and ckpt.size == 1000
    assert lora.source == CivitaiSource(12345) and lora.key == "loras/styles/pixel.safetensors"
    assert te.folder == "text_encoders"  # the legacy name `clip` is ComfyUI's alias
    assert isinstance(te.source, UrlSource)
    assert preset.total_size is None  # two sizes unknown


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("folder: checkpoints", "folder: lora"), "files[0].folder", "not a ComfyUI model folder"),
        (("name: sd_xl_base_1.0.safetensors", "name: /etc/passwd"), "files[0].name", "absolute"),
        (("name: sd_xl_base_1.0.safetensors", "name: ../../x.safetensors"), "files[0].name", "'..'"),
        (("url: https://example.com/te.safetensors", "url: file:///etc/passwd"), "files[2].url", "http"),
        (("url: https://example.com/te.safetensors", "url: ftp://x/y"), "files[2].url", "http"),
        (("path: sd_xl_base_1.0.safetensors", "path: ../secret"), "files[0].path", "'..'"),
        (("sha256: " + "ab" * 32, "sha256: nothex"), "files[0].sha256", "64 hexadecimal"),
        (("size: 1000", "size: -1"), "files[0].size", "positive"),
        (("category: image", "category: Image Stuff"), "category", "lowercase"),
        (("tags: [sdxl]", "tagz: [sdxl]"), "tagz", "unknown field"),
        (("civitai: 12345", "civitai: 12345\n        url: https://x.y/z"), "files[1]", "exactly one source"),
        (("id: MY_SDXL", "id: bad id!"), "id", "letters, digits"),
    ],
)
def test_invalid_entries_name_file_preset_and_field(change: tuple[str, str], field: str, words: str) -> None:
    parsed = parse_yaml(GOOD.replace(*change, 1), "config/presets/mine.yaml", "user")
    assert parsed.presets == []
    (warning,) = parsed.warnings
    assert warning.file == "config/presets/mine.yaml"
    assert warning.field == field
    assert words in warning.message
    assert warning.preset in ("MY_SDXL", "bad id!")
    assert "config/presets/mine.yaml" in str(warning) and field in str(warning)


def test_malformed_yaml_is_reported_with_its_line() -> None:
    parsed = parse_yaml("schema: 1\npresets:\n  - id: X\n    files: [\n", "bad.yaml", "user")
    assert parsed.presets == []
    assert "not valid YAML at line" in parsed.warnings[0].message


def test_duplicate_ids_are_skipped_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD.replace("name: My SDXL", "name: Other"))
    parsed = load_dir(tmp_path, "curated")
    assert [p.name for p in parsed.presets] == ["My SDXL"]
    assert "duplicate id" in parsed.warnings[0].message and parsed.warnings[0].file.endswith("b.yaml")


def test_a_bad_entry_does_not_stop_the_rest(tmp_path: Path) -> None:
    second = GOOD.split("presets:\n")[1].replace("MY_SDXL", "OTHER").replace("folder: loras", "folder: nope")
    parsed = parse_yaml(GOOD + second, "x.yaml", "user")
    assert [p.id for p in parsed.presets] == ["MY_SDXL"]
    assert parsed.warnings[0].preset == "OTHER" and parsed.warnings[0].field == "files[1].folder"


def test_source_from_url() -> None:
    hf = source_from_url("https://huggingface.co/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files/vae/wan2.2_vae.safetensors")
    assert hf == HFSource("Comfy-Org/Wan_2.2_ComfyUI_Repackaged", "split_files/vae/wan2.2_vae.safetensors", "main")
    assert source_from_url("https://civitai.com/api/download/models/4242") == CivitaiSource(4242)
    blob = source_from_url("https://huggingface.co/org/repo/blob/main/x.bin")
    assert blob == HFSource("org/repo", "x.bin", "main")  # the page link means the file
    assert isinstance(source_from_url("https://huggingface.co/org/repo"), UrlSource)
    filtered = source_from_url("https://civitai.com/api/download/models/7?type=Model&fp=fp16&token=secret")
    assert filtered == CivitaiSource(7, "type=Model&fp=fp16") and "secret" not in filtered.url
    with pytest.raises(ValueError):
        source_from_url("javascript:alert(1)")


def test_user_presets_override_and_extend(tmp_path: Path) -> None:
    curated = write(tmp_path / "curated", "c.yaml", GOOD).parent
    user = write(tmp_path / "user", "u.yaml", GOOD.replace("name: My SDXL", "name: Mine")).parent
    catalog = load_catalog(user, curated_dir=curated, include_templates=False)
    assert catalog.get("MY_SDXL").name == "Mine" and catalog.get("MY_SDXL").origin == "user"
    with pytest.raises(NotFound, match="unknown preset 'NOPE'"):
        catalog.get("NOPE")


def test_search_and_category(tmp_path: Path) -> None:
    curated = write(tmp_path, "c.yaml", GOOD).parent
    catalog = load_catalog(None, curated_dir=curated, include_templates=False)
    assert [p.id for p in catalog.search(category="image", text="sdxl")] == ["MY_SDXL"]
    assert catalog.search(category="video") == []
    assert catalog.search(text="sdxl nothing") == []
    assert catalog.users_of("loras/styles/pixel.safetensors") == ["MY_SDXL"]


# --- template-derived presets -------------------------------------------------------------


@pytest.fixture(scope="module")
def installed_templates() -> Path:
    found = templates.find_templates_dir()
    if found is None:
        pytest.skip("no comfyui-workflow-templates package installed (the test extra installs it)")
    return found


def test_one_preset_per_template_with_models(installed_templates: Path) -> None:
    parsed = templates.load(installed_templates)
    with_models = 0
    for path in installed_templates.glob("*.json"):
        if path.stem.startswith("index"):
            continue
        workflow = json.loads(path.read_text())
        if any(e.get("url") for e in templates.iter_model_entries(workflow)):
            with_models += 1
    assert len(parsed.presets) == with_models - len({w.preset for w in parsed.warnings})
    assert len(parsed.presets) > 200  # the current package has about 260
    wan = next(p for p in parsed.presets if p.id == "video_wan2_2_5B_ti2v")
    assert wan.origin == "template" and wan.template == "video_wan2_2_5B_ti2v"
    assert {f.key for f in wan.files} == {
        "diffusion_models/wan2.2_ti2v_5B_fp16.safetensors",
        "text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
        "vae/wan2.2_vae.safetensors",
    }
    assert wan.category == "video" and wan.name != wan.id  # titled from index.json


def test_templates_in_subgraphs_are_found(installed_templates: Path) -> None:
    found = 0
    for path in installed_templates.glob("*.json"):
        workflow = json.loads(path.read_text())
        if not isinstance(workflow, dict) or not (workflow.get("definitions") or {}).get("subgraphs"):
            continue
        top = [n for n in workflow.get("nodes", []) if (n.get("properties") or {}).get("models")]
        if not top and list(templates.iter_model_entries(workflow)):
            found += 1
    assert found > 0  # some templates keep their loaders only inside subgraphs


def _fake_site(tmp_path: Path, package: str, source: Path, names: list[str]) -> Path:
    site = tmp_path / "site"
    target = site / package / "templates"
    target.mkdir(parents=True)
    (site / package / "__init__.py").write_text("")
    for name in names:
        shutil.copy(source / name, target / name)
    return site


@pytest.mark.parametrize("package", ["comfyui_workflow_templates", "comfyui_workflow_templates_json"])
def test_both_package_layouts_are_found(tmp_path: Path, installed_templates: Path, package: str) -> None:
    site = _fake_site(tmp_path, package, installed_templates, ["index.json", "video_wan2_2_5B_ti2v.json"])
    found = templates.find_templates_dir(search_path=[str(site)])
    assert found == site / package / "templates"
    catalog = load_catalog(None, curated_dir=tmp_path / "none", templates_dir=found)
    assert list(catalog.presets) == ["video_wan2_2_5B_ti2v"]


def test_newer_layout_wins_over_meta_package(tmp_path: Path, installed_templates: Path) -> None:
    site = _fake_site(tmp_path, "comfyui_workflow_templates_json", installed_templates, ["index.json"])
    (site / "comfyui_workflow_templates").mkdir()
    (site / "comfyui_workflow_templates" / "__init__.py").write_text("")  # the meta-package has no templates/
    expected = site / "comfyui_workflow_templates_json" / "templates"
    assert templates.find_templates_dir(search_path=[str(site)]) == expected
    assert templates.find_templates_dir(search_path=[str(tmp_path / "empty")]) is None


def test_broken_template_file_is_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "broken.json", "{not json")
    write(tmp_path, "evil.json", json.dumps({"nodes": [{"properties": {"models": [
        {"name": "../../x.safetensors", "url": "https://huggingface.co/a/b/resolve/main/x", "directory": "vae"}]}}]}))
    parsed = templates.load(tmp_path)
    assert parsed.presets == []
    messages = {w.file: w for w in parsed.warnings}
    assert "cannot read it" in messages["template broken.json"].message
    assert messages["template evil.json"].field == "models.name"


# --- installed state from the disk ----------------------------------------------------------


def test_state_comes_from_files_on_disk(workspace_dir: Path, tmp_path: Path) -> None:
    preset = parse_yaml(GOOD, "x.yaml", "user").presets[0]
    workspace = Workspace(workspace_dir)
    roots = ModelRoots.for_workspace(workspace)
    state, files = preset_state(preset, roots)
    assert state == "missing" and [f.state for f in files] == ["missing"] * 3
    ckpt = roots.target("checkpoints", "sd_xl_base_1.0.safetensors")
    assert ckpt == workspace_dir / "models" / "checkpoints" / "sd_xl_base_1.0.safetensors"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x" * 999)  # wrong size
    lora = roots.target("loras", "styles/pixel.safetensors")
    lora.parent.mkdir(parents=True)
    partial_path(lora).write_bytes(b"x" * 10)
    state, files = preset_state(preset, roots)
    assert [f.state for f in files] == ["wrong_size", "partial", "missing"] and state == "partial"
    ckpt.write_bytes(b"x" * 1000)
    lora.write_bytes(b"lora")
    te = workspace_dir / "models" / "clip" / "te.safetensors"  # found in the legacy directory too
    te.parent.mkdir(parents=True)
    te.write_bytes(b"te")
    state, files = preset_state(preset, roots)
    # right size, but the catalog states a sha256 and nothing says these bytes match it
    assert [f.state for f in files] == ["unverified", "installed", "installed"] and state == "partial"
    verified = VerifiedFiles(workspace.state)
    verified.record(ckpt, "cd" * 32)  # hashed to something else: still not the catalog's file
    assert preset_state(preset, roots, verified.load())[0] == "partial"
    verified.record(ckpt, "ab" * 32)
    state, files = preset_state(preset, roots, verified.load())
    assert state == "installed" and files[0].verified and files[2].path == str(te)
    ckpt.write_bytes(b"y" * 1000)  # replaced since it was checked: checked again
    os.utime(ckpt, (1, 1))
    assert preset_state(preset, roots, verified.load())[1][0].state == "unverified"
