"""Which models a workflow needs: real template workflows and hand-written ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lp.launchpad.catalog import load_catalog, templates
from lp.launchpad.errors import InvalidInput
from lp.launchpad.model_roots import ModelRoots
from lp.launchpad.workflow_models import analyze, group_label, summarize
from lp.launchpad.workspace import Workspace

HOSTS = ("huggingface.co", "civitai.com")

CURATED = """
schema: 1
presets:
  - id: SD15
    name: SD 1.5
    category: image
    files:
      - folder: checkpoints
        name: v1-5-pruned-emaonly-fp16.safetensors
        hf: Comfy-Org/stable-diffusion-v1-5-archive
        path: v1-5-pruned-emaonly-fp16.safetensors
        size: 2132696762
  - id: ELSEWHERE
    name: A file from a host that is not allowed
    category: image
    files:
      - folder: loras
        name: style.safetensors
        url: https://files.example.com/style.safetensors
"""


@pytest.fixture(scope="module")
def templates_dir() -> Path:
    found = templates.find_templates_dir()
    if found is None:
        pytest.skip("no comfyui-workflow-templates package installed (the test extra installs it)")
    return found


@pytest.fixture
def catalog(tmp_path: Path, templates_dir: Path):
    curated = tmp_path / "curated"
    curated.mkdir()
    (curated / "c.yaml").write_text(CURATED)
    return load_catalog(None, curated_dir=curated, templates_dir=templates_dir)


@pytest.fixture
def roots(workspace_dir: Path) -> ModelRoots:
    return ModelRoots.for_workspace(Workspace(workspace_dir))


def test_every_template_declared_model_is_found_and_resolved(templates_dir: Path, catalog, roots) -> None:
    checked = 0
    for path in sorted(templates_dir.glob("*.json")):
        if path.stem.startswith("index"):
            continue
        workflow = json.loads(path.read_text())
        declared = {
            (e["directory"], e["name"]) for e in templates.iter_model_entries(workflow) if e.get("url")
        }
        if not declared or not isinstance(workflow.get("nodes"), list):
            continue
        found = {(m.folder, m.name): m for m in analyze(workflow, catalog, roots, HOSTS)}
        for directory, name in declared:
            model = found[(directory, name)]
            assert model.state == "missing" and model.origin == "workflow", (path.name, name)
            assert model.installable and model.file is not None
            # the preset serving this template (its own, or the one it was folded into) lists it too
            assert catalog.get(path.stem).id in model.presets
        checked += 1
    assert checked > 200


def test_ui_workflow_without_metadata_resolves_through_the_catalog(catalog, roots, workspace_dir: Path) -> None:
    workflow = {
        "nodes": [
            {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["v1-5-pruned-emaonly-fp16.safetensors"]},
            {"id": 5, "type": "LoraLoader", "widgets_values": ["style.safetensors", 1.0, 1.0]},
            {"id": 6, "type": "VAELoader", "widgets_values": ["mystery_vae.safetensors"]},
            {"id": 7, "type": "DualCLIPLoader", "widgets_values": ["clip_l.safetensors", "t5.safetensors", "flux"]},
            {"id": 8, "type": "VAELoader", "widgets_values": ["bypassed.safetensors"], "mode": 4},
            {"id": 9, "type": "KSampler", "widgets_values": [1, "fixed", 20]},
        ]
    }
    (workspace_dir / "models" / "text_encoders").mkdir(parents=True)
    (workspace_dir / "models" / "text_encoders" / "clip_l.safetensors").write_bytes(b"x")
    result = {m.key: m for m in analyze(workflow, catalog, roots, HOSTS)}
    assert set(result) == {
        "checkpoints/v1-5-pruned-emaonly-fp16.safetensors",
        "loras/style.safetensors",
        "vae/mystery_vae.safetensors",
        "text_encoders/clip_l.safetensors",
        "text_encoders/t5.safetensors",
        "vae/bypassed.safetensors",
    }
    assert result["vae/bypassed.safetensors"].optional
    assert not result["vae/mystery_vae.safetensors"].optional
    sd = result["checkpoints/v1-5-pruned-emaonly-fp16.safetensors"]
    assert sd.state == "missing" and sd.installable and "SD15" in sd.presets and sd.file.size == 2132696762
    assert sd.origin == "catalog"
    style = result["loras/style.safetensors"]
    assert style.state == "missing" and not style.installable and "files.example.com" in style.reason
    mystery = result["vae/mystery_vae.safetensors"]
    assert mystery.state == "unknown" and mystery.nodes == [{"id": 6, "type": "VAELoader", "muted": False}]
    assert result["text_encoders/clip_l.safetensors"].state == "present"
    assert result["text_encoders/t5.safetensors"].state == "unknown"


def test_api_format_prompt(catalog, roots) -> None:
    prompt = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 1}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly-fp16.safetensors"}},
        "10": {"class_type": "UNETLoader", "inputs": {"unet_name": "wan2.2_ti2v_5B_fp16.safetensors"}},
    }
    result = {m.key: m for m in analyze(prompt, catalog, roots, HOSTS)}
    assert result["checkpoints/v1-5-pruned-emaonly-fp16.safetensors"].nodes == [
        {"id": "4", "type": "CheckpointLoaderSimple", "muted": False}
    ]
    wan = result["diffusion_models/wan2.2_ti2v_5B_fp16.safetensors"]
    assert wan.origin == "template" and wan.installable  # only template-derived presets list it


@pytest.mark.parametrize("bad", [[], "x", {"foo": 1}, {"nodes": "no"}])
def test_not_a_workflow_is_a_clear_error(bad: object, catalog, roots) -> None:
    with pytest.raises(InvalidInput):
        analyze(bad, catalog, roots, HOSTS)


def test_traversal_in_a_workflow_is_ignored(catalog, roots) -> None:
    workflow = {"nodes": [
        {"id": 1, "type": "VAELoader", "widgets_values": ["../../etc/passwd"]},
        {"id": 2, "type": "VAELoader", "properties": {"models": [
            {"name": "/abs.safetensors", "url": "https://huggingface.co/a/b/resolve/main/x", "directory": "vae"}]}},
    ]}
    assert analyze(workflow, catalog, roots, HOSTS) == []


def test_linked_loader_inputs_and_launchpad_nodes(catalog, roots, workspace_dir: Path) -> None:
    """A loader fed by a Launchpad Model node names no file itself; the Launchpad node names its own."""
    workflow = {"nodes": [
        {"id": 1, "type": "LaunchpadModel", "widgets_values": ["checkpoints/v1-5-pruned-emaonly-fp16.safetensors", ""]},
        {"id": 2, "type": "CheckpointLoaderSimple", "widgets_values": ["stale-choice.safetensors"],
         "inputs": [{"name": "ckpt_name", "type": "COMBO", "widget": {"name": "ckpt_name"}, "link": 7}]},
        {"id": 3, "type": "VAELoader", "widgets_values": ["vae-here.safetensors"],
         "inputs": [{"name": "vae_name", "type": "COMBO", "widget": {"name": "vae_name"}, "link": None}]},
        {"id": 4, "type": "LaunchpadModel", "widgets_values": ["not-a-folder/x.safetensors", ""]},
    ]}
    (workspace_dir / "models" / "vae").mkdir(parents=True)
    (workspace_dir / "models" / "vae" / "vae-here.safetensors").write_bytes(b"v" * 321)
    result = {m.key: m for m in analyze(workflow, catalog, roots, HOSTS)}
    assert set(result) == {"checkpoints/v1-5-pruned-emaonly-fp16.safetensors", "vae/vae-here.safetensors"}
    sd = result["checkpoints/v1-5-pruned-emaonly-fp16.safetensors"]
    assert sd.nodes == [{"id": 1, "type": "LaunchpadModel", "muted": False}] and sd.installable
    assert result["vae/vae-here.safetensors"].size == 321  # present: its size on disk

    prompt = {
        "1": {"class_type": "LaunchpadModel", "inputs": {"model": "checkpoints/v1-5-pruned-emaonly-fp16.safetensors"}},
        "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ["1", 0]}},
    }
    keys = [m.key for m in analyze(prompt, catalog, roots, HOSTS)]
    assert keys == ["checkpoints/v1-5-pruned-emaonly-fp16.safetensors"]


def test_summary_counts_and_sizes(catalog, roots, workspace_dir: Path) -> None:
    workflow = {"nodes": [
        {"id": 1, "type": "CheckpointLoaderSimple", "widgets_values": ["v1-5-pruned-emaonly-fp16.safetensors"]},
        {"id": 2, "type": "VAELoader", "widgets_values": ["mystery.safetensors"]},
        {"id": 3, "type": "LoraLoader", "widgets_values": ["style.safetensors", 1, 1], "mode": 2},
        {"id": 4, "type": "VAELoader", "widgets_values": ["vae-here.safetensors"]},
    ]}
    (workspace_dir / "models" / "vae").mkdir(parents=True)
    (workspace_dir / "models" / "vae" / "vae-here.safetensors").write_bytes(b"v" * 100)
    summary = summarize(analyze(workflow, catalog, roots, HOSTS))
    assert summary == {"needed": 4, "present": 1, "missing": 2, "unknown": 1, "optional": 1, "installable": 1,
                       "to_confirm": 0, "bytes_present": 100, "bytes_missing": 2132696762, "sizes_unknown": 0,
                       "sizes_estimated": 0, "min_comfyui": None, "comfyui_ok": None, "comfyui_need": None,
                       "headline": "This workflow: 4 models · 1 present · 2 missing · 1 unknown",
                       "install_label": "Install 1 missing (2.1 GB)",
                       "command": "launchpad workflow workflow.json --install"}
    # the unknown one says which node wants it
    unknown = next(m for m in analyze(workflow, catalog, roots, HOSTS) if m.state == "unknown")
    assert unknown.reason.endswith("; wanted by VAELoader #2")


@pytest.mark.parametrize(("name", "label"), [
    ("My flow.json", "workflow:My_flow"),
    ("video_wan2_2_5B_ti2v", "workflow:video_wan2_2_5B_ti2v"),
    ("../../etc/passwd", "workflow:etc_passwd"),
    ("", "workflow:untitled"),
    (None, "workflow:untitled"),
    ("日本語", "workflow:untitled"),
])
def test_group_label(name: str | None, label: str) -> None:
    assert group_label(name) == label


@pytest.mark.parametrize(("name", "command"), [
    ("shared-workflow.json", "launchpad workflow shared-workflow.json --install"),
    ("My flow's", "launchpad workflow 'My flow'\"'\"'s.json' --install"),  # quoted only where a shell needs it
    (None, "launchpad workflow workflow.json --install"),
])
def test_the_command_for_another_pod_is_safe_to_paste(name: str | None, command: str) -> None:
    assert summarize([], name)["command"] == command
