"""The curated catalog in presets/: it loads cleanly, covers the families, and invents nothing.

Every Hugging Face file a curated preset names must appear, with the same folder and file name,
in the model list of an official ComfyUI workflow template, and every template a preset says it
serves must exist and need no file the preset lacks. The official templates are read from the
installed comfyui-workflow-templates package (the test extra installs it).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lp.launchpad import model_folders
from lp.launchpad.catalog import loader, templates
from lp.launchpad.catalog.schema import HFSource, ParsedFile, Preset, source_from_url

FAMILIES = ("image", "video", "audio", "upscale")
UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")


@pytest.fixture(scope="module")
def curated() -> ParsedFile:
    return loader.load_dir(loader.CURATED_DIR, "curated")


@pytest.fixture(scope="module")
def presets(curated: ParsedFile) -> dict[str, Preset]:
    return {preset.id: preset for preset in curated.presets}


@dataclass
class Official:
    """What the installed official templates say about model files."""

    directory: Path
    # (repo, path, revision) -> {(folder, file name)} that templates give for that source
    names: dict[tuple[str, str, str], set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    # (repo, path, revision) -> sha256, where a template states one
    sha256: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # template name -> the "folder/name" keys of the files it loads
    templates: dict[str, set[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def official() -> Official:
    directory = templates.find_templates_dir()
    if directory is None:
        pytest.skip(
            "no official ComfyUI templates package is installed (comfyui-workflow-templates-json, or the older "
            "comfyui-workflow-templates); `pip install -e '.[test]'` installs it"
        )
    found = Official(directory)
    for path in sorted(directory.glob("*.json")):
        if path.stem.startswith("index"):
            continue
        keys: set[str] = set()
        for entry in templates.iter_model_entries(json.loads(path.read_text(encoding="utf-8"))):
            folder = model_folders.canonical(str(entry.get("directory")))
            name, url = entry.get("name"), entry.get("url")
            if folder is None or not isinstance(name, str) or not isinstance(url, str):
                continue  # the template loader skips these too, with a warning
            keys.add(f"{folder}/{name}")
            try:
                source = source_from_url(url)
            except ValueError:
                continue
            if isinstance(source, HFSource):
                where = (source.repo, source.path, source.revision)
                found.names[where].add((folder, name))
                digest = entry.get("hash")
                if isinstance(digest, str) and str(entry.get("hash_type", "")).lower() == "sha256":
                    found.sha256[where] = digest.lower()
        found.templates[path.stem] = keys
    assert found.templates, f"no template JSON in {directory}"
    return found


# --- the catalog on its own ----------------------------------------------------------------


def test_curated_files_load_without_warnings(curated: ParsedFile) -> None:
    assert sorted(loader.CURATED_DIR.glob("*.yaml")), "presets/*.yaml is missing"
    assert [str(w) for w in curated.warnings] == []


def test_at_least_15_presets_across_image_video_audio_and_upscale(presets: dict[str, Preset]) -> None:
    assert len(presets) >= 15
    per_family = Counter(preset.category for preset in presets.values())
    thin = {family: per_family[family] for family in FAMILIES if per_family[family] < 2}
    assert not thin, f"families with fewer than two presets: {thin} (all: {dict(per_family)})"


def test_the_seeds_wan_22_5b_tiv2_has_exactly_its_three_files(presets: dict[str, Preset]) -> None:
    preset = presets["WAN_22_5B_TIV2"]
    assert preset.category == "video"
    assert "video_wan2_2_5B_ti2v" in preset.workflows
    files = {(f.folder, f.name, f.source) for f in preset.files}
    assert files == {
        (
            "diffusion_models",
            "wan2.2_ti2v_5B_fp16.safetensors",
            HFSource(
                "Comfy-Org/Wan_2.2_ComfyUI_Repackaged", "split_files/diffusion_models/wan2.2_ti2v_5B_fp16.safetensors"
            ),
        ),
        (
            "text_encoders",
            "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
            HFSource(
                "Comfy-Org/Wan_2.1_ComfyUI_repackaged",
                "split_files/text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
            ),
        ),
        (
            "vae",
            "wan2.2_vae.safetensors",
            HFSource("Comfy-Org/Wan_2.2_ComfyUI_Repackaged", "split_files/vae/wan2.2_vae.safetensors"),
        ),
    }


def test_each_preset_says_what_a_person_needs_to_choose(presets: dict[str, Preset]) -> None:
    problems = []
    for preset in presets.values():
        if not UPPER_SNAKE.match(preset.id):
            problems.append(f"{preset.id}: id is not UPPER_SNAKE like WAN_22_5B_TIV2")
        if len(preset.description) < 60:
            problems.append(f"{preset.id}: description too short to choose by")
        if not preset.tags:
            problems.append(f"{preset.id}: no tags")
        if preset.min_vram_gb is None or not 1 <= preset.min_vram_gb <= 80:
            problems.append(f"{preset.id}: min_vram_gb {preset.min_vram_gb!r} is not a plausible estimate")
        if not preset.workflows:
            problems.append(f"{preset.id}: names no official template it serves")
    assert not problems, "\n".join(problems)


def test_a_file_shared_by_presets_has_one_source_and_one_sha256(presets: dict[str, Preset]) -> None:
    # Presets that share a file share it on disk, so they must agree on where it comes from.
    seen: dict[str, tuple[str, object, str | None]] = {}
    problems = []
    for preset in presets.values():
        for model_file in preset.files:
            mine = (preset.id, model_file.source, model_file.sha256)
            first = seen.setdefault(model_file.key, mine)
            if first[1:] != mine[1:]:
                problems.append(f"{model_file.key}: {first[0]} says {first[1:]}, {preset.id} says {mine[1:]}")
    assert not problems, "\n".join(problems)


# --- cross-checked against the official templates ------------------------------------------


def test_every_curated_file_is_in_an_official_templates_model_list(
    presets: dict[str, Preset], official: Official
) -> None:
    problems = []
    for preset in presets.values():
        for model_file in preset.files:
            where = f"{preset.id} {model_file.key}"
            source = model_file.source
            if not isinstance(source, HFSource):
                problems.append(f"{where}: curated files come from Hugging Face so they can be checked; got {source}")
                continue
            origin = (source.repo, source.path, source.revision)
            named = official.names.get(origin)
            if not named:
                problems.append(f"{where}: {source.url} is in no official template")
            elif (model_file.folder, model_file.name) not in named:
                problems.append(f"{where}: templates save {source.url} as {sorted(named)}")
            stated = official.sha256.get(origin)
            if model_file.sha256 != stated:
                problems.append(f"{where}: sha256 {model_file.sha256} but the templates state {stated}")
    assert not problems, f"checked against {official.directory}:\n" + "\n".join(problems)


def test_every_workflow_is_an_official_template_the_preset_serves(
    presets: dict[str, Preset], official: Official
) -> None:
    problems = []
    for preset in presets.values():
        keys = {model_file.key for model_file in preset.files}
        for name in preset.workflows:
            needed = official.templates.get(name)
            if needed is None:
                problems.append(f"{preset.id}: no official template named {name!r}")
            elif not needed <= keys:
                problems.append(f"{preset.id}: {name} also needs {sorted(needed - keys)}")
    assert not problems, f"checked against {official.directory}:\n" + "\n".join(problems)


def test_curated_presets_keep_their_ids_next_to_the_template_presets(
    presets: dict[str, Preset], official: Official
) -> None:
    # Template-derived presets load after curated ones and win on equal ids; none may shadow ours.
    # A template preset with the same files as another preset is folded into it, its id an alias.
    catalog = loader.load_catalog(None, templates_dir=official.directory)
    assert {p.id for p in catalog.presets.values() if p.origin == "curated"} == set(presets)
    derived = {p.id for p in templates.load(official.directory).presets}
    listed = {p.id for p in catalog.presets.values() if p.origin == "template"}
    assert listed | set(catalog.aliases) == derived and not listed & set(catalog.aliases)
    for alias, target in catalog.aliases.items():
        assert alias in catalog.get(target).workflows


def test_each_preset_states_the_comfyui_its_templates_need(presets: dict[str, Preset], official: Official) -> None:
    # committed so that a ComfyUI whose templates package is older (0.3.64 ships one without
    # minComfyUIVersion) still says what a preset needs; the loader takes the highest of both
    index = templates.read_index(official.directory)
    problems = []
    for preset in presets.values():
        needed = [index[w].min_comfyui for w in preset.workflows if w in index and index[w].min_comfyui]
        expected = max(needed, key=templates.version_key) if needed else None
        if preset.min_comfyui != expected:
            problems.append(f"{preset.id}: min_comfyui {preset.min_comfyui!r}, its templates need {expected!r}")
    assert not problems, "\n".join(problems)


def test_every_curated_file_has_a_size_in_step_with_the_templates(
    presets: dict[str, Preset], official: Official, capsys: pytest.CaptureFixture[str]
) -> None:
    from lp.launchpad.cli.main import main

    assert all(f.size or f.estimated_size for p in presets.values() for f in p.files)
    # what `launchpad catalog sizes --offline` would write is what is there (exit 1 and a list otherwise:
    # run `launchpad catalog sizes --write` after updating the pinned templates package)
    code = main(["catalog", "sizes", "--offline", "--dir", str(loader.CURATED_DIR)])
    out, _ = capsys.readouterr()
    assert code == 0, "\n".join(line for line in out.splitlines() if line.startswith("*"))
