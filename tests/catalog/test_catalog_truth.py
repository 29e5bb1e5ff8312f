"""The catalog tells the truth before anyone clicks: sizes and VRAM for every preset (exact, or marked
as estimates), one preset per set of files, the ComfyUI each needs, and where presets come from.

Against the pinned official templates package (the test extra), the real curated YAML, a real
standalone app, the `launchpad` CLI and the fake Hub for the sources' answers.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from apiclient import Api

from conftest import cli_argv
from fakehub import FakeHub, random_bytes, write_presets
from lp.launchpad.catalog import load_catalog, sizes, templates
from lp.launchpad.catalog.loader import CURATED_DIR, load_dir
from lp.launchpad.catalog.schema import parse_preset
from lp.launchpad.catalog.size_cache import SizeCache
from lp.launchpad.cli.main import main
from lp.launchpad.config import Settings
from lp.launchpad.service import Host, LaunchpadService
from lp.server_routes.standalone import create_app

GB = 10**9


@pytest.fixture(scope="module")
def template_dir() -> Path:
    found = templates.find_templates_dir()
    if found is None:
        pytest.skip("no comfyui-workflow-templates package installed (the test extra installs it)")
    return found


async def start_app(aiohttp_client, settings: Settings, host: Host | None = None) -> SimpleNamespace:
    """The standalone app on a started service (the app closes the service when the test ends)."""
    service = LaunchpadService(settings, host)
    client = await aiohttp_client(create_app(service))
    await service.ready()
    return SimpleNamespace(service=service, api=Api(client))


# --- done when: offline, every preset shows a size and a VRAM figure ---------------------------------


async def test_offline_every_curated_and_template_preset_has_a_size_and_vram_in_the_api(
    aiohttp_client, workspace_dir: Path, template_dir: Path
) -> None:
    # no source reachable: the background size questions fail, and are remembered as unanswered
    settings = Settings.from_env({}, workspace=workspace_dir, templates_dir=template_dir,
                                 hf_endpoint="http://127.0.0.1:9", civitai_endpoint="http://127.0.0.1:9")
    app = await start_app(aiohttp_client, settings, Host(ask_sizes=True))
    assert app.service._sizing is not None
    assert await app.service._sizing == 0
    status, body = await app.api.get("/launchpad/presets")

    assert status == 200 and body["total"] > 150
    assert Counter(row["origin"] for row in body["presets"]).keys() == {"curated", "template"}
    for row in body["presets"]:
        assert isinstance(row["size"], int) and row["size"] > 0, row["id"]
        assert row["size_estimated"] is True  # nothing exact is known offline, and it says so
        assert row["total_size"] is None
        assert isinstance(row["vram_gb"], (int, float)) and row["vram_gb"] >= 1, row["id"]
        assert row["vram_estimated"] is (row["min_vram_gb"] is None)
    curated = {row["id"]: row for row in body["presets"] if row["origin"] == "curated"}
    assert curated["WAN_22_5B_TIV2"]["vram_gb"] == 8 and not curated["WAN_22_5B_TIV2"]["vram_estimated"]
    # the estimate is the templates index's own total for the same three files (18.15 GB; real: 18.15 GB)
    assert abs(curated["WAN_22_5B_TIV2"]["size"] - 18.15 * GB) < 0.05 * GB
    answers = SizeCache(workspace_dir / ".launchpad").load()
    assert answers and all(a.size is None for a in answers.values())  # asked once, not again at every start

    _, detail = await app.api.get("/launchpad/presets/WAN_22_5B_TIV2")
    assert all(f["expected_size"] and f["size_estimated"] and f["size"] is None for f in detail["files"])
    assert {f["size_basis"] for f in detail["files"]} <= {"listed", "templates", "share", "folder"}


def test_offline_every_preset_has_a_size_and_vram_in_the_cli(
    capsys: pytest.CaptureFixture[str], workspace_dir: Path, template_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAUNCHPAD_TEMPLATES_DIR", str(template_dir))
    assert main(["presets", "--workspace", str(workspace_dir), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["presets"]
    assert len(rows) > 150
    assert all(row["size"] and row["vram_gb"] for row in rows)

    assert main(["presets", "--workspace", str(workspace_dir)]) == 0
    out, err = capsys.readouterr()
    header, *lines = out.splitlines()
    assert header.split() == ["ID", "CATEGORY", "SIZE", "VRAM", "COMFYUI", "STATE", "NAME"]
    assert len(lines) == len(rows)
    for line in lines:
        figures = line[header.index("CATEGORY") + 8:header.index("COMFYUI")]
        assert "?" not in figures and figures.split()[0].startswith("~"), line  # every size shown, estimates marked
    assert "~: estimated" in err

    assert main(["presets", "show", "LTX_23_22B_FP8", "--workspace", str(workspace_dir)]) == 0
    out = capsys.readouterr().out
    assert "  total size: ~47.2 GB (estimated: 5 files of 5 without an exact size), VRAM: 32 GB" in out
    assert "  ComfyUI: its workflows need ComfyUI 0.16.4 or newer" in out  # standalone: says what it needs


# --- done when: no two presets list the same set of files --------------------------------------------


async def test_no_two_presets_list_the_same_files(aiohttp_client, workspace_dir: Path, template_dir: Path) -> None:
    app = await start_app(aiohttp_client, Settings.from_env({}, workspace=workspace_dir, templates_dir=template_dir))
    catalog = await app.service.catalog()
    sets = Counter(frozenset(f.key for f in p.files) for p in catalog.presets.values())
    assert max(sets.values()) == 1
    _, body = await app.api.get("/launchpad/presets")
    names = [row["name"] for row in body["presets"]]
    assert not [n for n in names if n.endswith(")") and "(2)" in n]  # no stray copies of templates
    assert "workflow" not in body["categories"]
    # the template the curated Wan 2.2 5B serves folds into it: one card, listing it, and the old id still works
    wan = next(row for row in body["presets"] if row["id"] == "WAN_22_5B_TIV2")
    assert "video_wan2_2_5B_ti2v" in wan["workflows"]
    assert "video_wan2_2_5B_ti2v" not in {row["id"] for row in body["presets"]}
    status, folded = await app.api.get("/launchpad/presets/video_wan2_2_5B_ti2v")
    assert status == 200 and folded["id"] == "WAN_22_5B_TIV2"


def _template(directory: Path, name: str, files: list[tuple[str, str]]) -> None:
    nodes = [{"id": i, "type": "Loader", "properties": {"models": [
        {"name": file, "directory": folder, "url": f"https://huggingface.co/acme/{name}/resolve/main/{file}"}
    ]}} for i, (folder, file) in enumerate(files)]
    (directory / f"{name}.json").write_text(json.dumps({"nodes": nodes}))


def test_presets_with_the_same_files_fold_into_the_curated_one_or_the_most_used(tmp_path: Path) -> None:
    site = tmp_path / "templates"
    site.mkdir()
    shared = [("checkpoints", "same.safetensors")]
    _template(site, "rarely_used", shared)
    _template(site, "often_used", shared)
    _template(site, "curated_one", [("checkpoints", "mine.safetensors")])
    _template(site, "curated_two", [("checkpoints", "mine.safetensors")])
    _template(site, "stray (2)", shared)  # a file the index does not list is no template ComfyUI offers
    index = [{"type": "image", "templates": [
        {"name": "rarely_used", "title": "Rare", "mediaType": "image", "usage": 3, "size": 2.0},
        {"name": "often_used", "title": "Often", "mediaType": "image", "usage": 300, "size": 2.0},
        {"name": "curated_one", "title": "One", "mediaType": "image", "usage": 10, "minComfyUIVersion": "0.3.50"},
        {"name": "curated_two", "title": "Two", "mediaType": "image", "usage": 20, "minComfyUIVersion": "0.4.1"},
    ]}]
    (site / "index.json").write_text(json.dumps(index))
    curated = tmp_path / "curated"
    curated.mkdir()
    (curated / "mine.yaml").write_text(
        "schema: 1\npresets:\n  - id: MINE\n    name: Mine\n    category: image\n    workflows: [curated_one]\n"
        "    files:\n      - folder: checkpoints\n        name: mine.safetensors\n"
        "        url: https://huggingface.co/acme/curated_one/resolve/main/mine.safetensors\n"
    )

    catalog = load_catalog(None, curated_dir=curated, templates_dir=site)

    assert sorted(catalog.presets) == ["MINE", "often_used"]
    often = catalog.presets["often_used"]
    assert often.name == "Often" and often.workflows == ("often_used", "rarely_used") and often.usage == 303
    mine = catalog.presets["MINE"]
    assert mine.workflows == ("curated_one", "curated_two") and mine.usage == 30
    assert mine.min_comfyui == "0.4.1"  # the highest of the templates it serves
    assert catalog.get("rarely_used") is often and catalog.get("curated_two") is mine
    assert catalog.sources["templates"]["folded"] == 3
    # the ComfyUI a workflow needs, by its name: the index's figure, else what every preset listing it says
    assert catalog.comfyui_for("curated_one") == "0.3.50" and catalog.comfyui_for("curated_two.json") == "0.4.1"
    assert catalog.comfyui_for("rarely_used") is None  # neither the index nor its preset says
    assert catalog.comfyui_for("nobodys") is None and catalog.comfyui_for(None) is None


# --- done when: a preset needing a newer ComfyUI says so on 0.3.64 -----------------------------------


async def test_a_preset_needing_a_newer_comfyui_says_so_on_0_3_64(
    aiohttp_client, workspace_dir: Path, template_dir: Path, fakehub: FakeHub
) -> None:
    # the versions ComfyUI's host reports (server_routes/comfy.py reads comfyui_version.__version__)
    settings = Settings.from_env({}, workspace=workspace_dir, templates_dir=template_dir, hf_endpoint=fakehub.url)
    host = Host(mode="comfyui", versions=lambda: {"comfyui": "0.3.64"})
    app = await start_app(aiohttp_client, settings, host)

    _, body = await app.api.get("/launchpad/presets")
    rows = {row["id"]: row for row in body["presets"]}
    assert body["comfyui_version"] == "0.3.64"
    assert rows["LTX_23_22B_FP8"]["min_comfyui"] == "0.16.4" and rows["LTX_23_22B_FP8"]["comfyui_ok"] is False
    assert rows["WAN_22_5B_TIV2"]["min_comfyui"] == "0.3.46" and rows["WAN_22_5B_TIV2"]["comfyui_ok"] is True
    assert rows["SDXL_TURBO"]["min_comfyui"] is None and rows["SDXL_TURBO"]["comfyui_ok"] is True
    newer = [r for r in rows.values() if r["comfyui_ok"] is False]
    assert len(newer) > 50  # most templates of this package need more than 0.3.64

    _, detail = await app.api.get("/launchpad/presets/LTX_23_22B_FP8")
    assert detail["comfyui_note"] == (
        "its workflows need ComfyUI 0.16.4 or newer; this ComfyUI is 0.3.64: update ComfyUI before running them "
        "(the files download either way)"
    )
    status, queued = await app.api.post("/launchpad/presets/install", {"presets": ["LTX_23_22B_FP8"]})
    assert status == 202 and queued["warnings"] == [f"LTX_23_22B_FP8: {detail['comfyui_note']}"]
    await app.service.cancel_preset("LTX_23_22B_FP8")
    status, fine = await app.api.post("/launchpad/presets/install", {"presets": ["SDXL_TURBO"]})
    assert fine["warnings"] == []
    assert rows["LTX_23_22B_FP8"]["comfyui_need"] == "needs ComfyUI 0.16.4+, this is 0.3.64"
    assert rows["WAN_22_5B_TIV2"]["comfyui_need"] is None

    # the Workflow view of one of its templates, opened by name, says the same
    template = rows["LTX_23_22B_FP8"]["workflows"][0]
    _, analysis = await app.api.post("/launchpad/workflow/models", {"workflow": {"nodes": []}, "name": template})
    summary = analysis["summary"]
    assert summary["min_comfyui"] == "0.16.4" and summary["comfyui_ok"] is False
    assert summary["comfyui_need"] == "needs ComfyUI 0.16.4+, this is 0.3.64"
    assert summary["headline"] == f"{template}: 0 models · 0 present · 0 missing · 0 unknown"
    _, other = await app.api.post("/launchpad/workflow/models", {"workflow": {"nodes": []}, "name": "mine.json"})
    assert other["summary"]["min_comfyui"] is None and other["summary"]["comfyui_need"] is None


async def test_standalone_the_requirement_is_shown_without_a_verdict(
    aiohttp_client, workspace_dir: Path, template_dir: Path
) -> None:
    app = await start_app(aiohttp_client, Settings.from_env({}, workspace=workspace_dir, templates_dir=template_dir))
    _, detail = await app.api.get("/launchpad/presets/LTX_23_22B_FP8")
    assert detail["comfyui_ok"] is None and detail["comfyui_version"] is None
    assert detail["comfyui_note"] == "its workflows need ComfyUI 0.16.4 or newer"
    assert detail["comfyui_need"] == "needs ComfyUI 0.16.4+"


# --- sorting and where presets come from -------------------------------------------------------------


async def test_presets_sort_by_popularity_and_say_where_they_come_from(
    aiohttp_client, workspace_dir: Path, template_dir: Path
) -> None:
    write_presets(workspace_dir, {"MY_ONE": [{"folder": "loras", "name": "mine.safetensors",
                                              "url": "https://example.com/mine.safetensors"}]}, name="mine.yaml")
    app = await start_app(aiohttp_client, Settings.from_env({}, workspace=workspace_dir, templates_dir=template_dir))

    _, body = await app.api.get("/launchpad/presets?sort=popularity")
    usage = [row["usage"] or 0 for row in body["presets"]]
    assert usage == sorted(usage, reverse=True) and usage[0] > 10_000
    _, by_size = await app.api.get("/launchpad/presets?sort=size&category=upscale")
    assert [r["size"] for r in by_size["presets"]] == sorted(r["size"] for r in by_size["presets"])
    status, error = await app.api.get("/launchpad/presets?sort=random")
    assert status == 400 and "popularity" in error["error"]["message"]

    package = templates.package_of(template_dir)
    assert package == ("comfyui-workflow-templates-json", "0.1.123")  # pinned in pyproject's test extra
    sources = body["sources"]
    assert sources["templates"]["package"] == package[0] and sources["templates"]["version"] == package[1]
    assert sources["curated"] == {"dir": str(CURATED_DIR), "presets": 35}
    assert sources["user"]["files"] == [str(workspace_dir / "config" / "presets" / "mine.yaml")]
    assert sources["user"]["presets"] == 1
    assert body["sources_line"] == ("Presets: 35 curated · " f"{sources['templates']['presets']} from "
                                    "comfyui-workflow-templates-json 0.1.123 · yours: mine.yaml")


def test_the_cli_says_where_presets_come_from(
    capsys: pytest.CaptureFixture[str], workspace_dir: Path, template_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAUNCHPAD_TEMPLATES_DIR", str(template_dir))
    assert main(["presets", "--workspace", str(workspace_dir), "--sort", "popularity", "--category", "video"]) == 0
    out, err = capsys.readouterr()
    assert "catalog: 35 curated; " in err and "from the templates of comfyui-workflow-templates-json 0.1.123" in err
    assert main(["presets", "--workspace", str(workspace_dir), "--category", "video", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["presets"]
    most_used = max(rows, key=lambda row: row["usage"] or 0)["id"]
    assert out.splitlines()[1].split()[0] == most_used


# --- the sources' answers replace the estimates -----------------------------------------------------


USER = {
    "BIG": [
        {"folder": "checkpoints", "name": "big.safetensors", "hf": "acme/one", "path": "big.safetensors"},
        {"folder": "vae", "name": "big_vae.safetensors", "hf": "acme/one", "path": "vae/big_vae.safetensors"},
        {"folder": "loras", "name": "big_lora.safetensors", "hf": "acme/two", "path": "lora.safetensors"},
    ],
}


async def test_unknown_sizes_are_asked_once_per_repository_and_replace_estimates(
    aiohttp_client, workspace_dir: Path, tmp_path: Path, fakehub: FakeHub
) -> None:
    data = {"big": random_bytes(300_000), "vae": random_bytes(20_000), "lora": random_bytes(7_000)}
    fakehub.add_hf_file("acme/one", "big.safetensors", data["big"])
    fakehub.add_hf_file("acme/one", "vae/big_vae.safetensors", data["vae"], lfs=False)
    fakehub.add_hf_file("acme/two", "lora.safetensors", data["lora"])
    write_presets(workspace_dir, USER)
    (tmp_path / "no-templates").mkdir()
    settings = Settings.from_env({}, workspace=workspace_dir, templates_dir=tmp_path / "no-templates",
                                 hf_endpoint=fakehub.url, civitai_endpoint=fakehub.url)
    app = await start_app(aiohttp_client, settings, Host(ask_sizes=True))
    assert await app.service._sizing == 3  # the user's three files (the fake Hub has no curated repository)
    calls = fakehub.paths_info_calls()
    # one request per repository (curated files are asked too, in their own repositories' requests)
    assert Counter(r.path.split("/paths-info/")[0] for r in calls)["/api/models/acme/one"] == 1
    assert Counter(r.path.split("/paths-info/")[0] for r in calls)["/api/models/acme/two"] == 1
    assert fakehub.bytes_sent("acme/one/big.safetensors") == 0  # sizes, not bytes

    _, detail = await app.api.get("/launchpad/presets/BIG")
    assert detail["size"] == sum(map(len, data.values())) and detail["size_estimated"] is False
    assert {f["size_basis"] for f in detail["files"]} == {"source"}

    again = await start_app(aiohttp_client, settings, Host(ask_sizes=True))  # the next start asks no one
    await again.service._sizing if again.service._sizing else None
    assert len(fakehub.paths_info_calls()) == len(calls)
    _, detail = await again.api.get("/launchpad/presets/BIG")
    assert detail["size_estimated"] is False


# --- the maintainer command -------------------------------------------------------------------------


def test_catalog_sizes_write_takes_exact_sizes_from_the_hub_and_keeps_the_yaml_readable(
    tmp_path: Path, fakehub: FakeHub, template_dir: Path
) -> None:
    import subprocess

    presets = tmp_path / "presets"
    shutil.copytree(CURATED_DIR, presets)
    turbo = load_dir(presets, "curated").presets
    sdxl = next(f for p in turbo if p.id == "SDXL_TURBO" for f in p.files)
    data = random_bytes(123_456)
    fakehub.add_hf_file(sdxl.source.repo, sdxl.source.path, data)
    before = (presets / "image.yaml").read_text()
    env = {"HF_ENDPOINT": fakehub.url, "LAUNCHPAD_TEMPLATES_DIR": str(template_dir), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path), "HF_HUB_DISABLE_TELEMETRY": "1"}

    proc = subprocess.run(cli_argv("catalog", "sizes", "--dir", str(presets), "--json"), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # a dry run that would change something says so
    assert json.loads(proc.stdout)["files"][sdxl.key] == {"field": "size", "bytes": len(data)}
    assert (presets / "image.yaml").read_text() == before

    proc = subprocess.run(cli_argv("catalog", "sizes", "--dir", str(presets), "--write"), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    after = (presets / "image.yaml").read_text()
    assert [line for line in after.splitlines() if line.lstrip().startswith("#")] == [
        line for line in before.splitlines() if line.lstrip().startswith("#")]  # comments kept
    written = {f.key: f for p in load_dir(presets, "curated").presets for f in p.files}
    assert written[sdxl.key].size == len(data) and written[sdxl.key].estimated_size is None
    assert all(f.size or f.estimated_size for f in written.values())
    proc = subprocess.run(cli_argv("catalog", "sizes", "--dir", str(presets)), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "0 of" in proc.stderr  # in step now


# --- the rules, on their own ------------------------------------------------------------------------


def _file(folder: str, name: str, **extra: object):
    preset = parse_preset({"id": "X", "name": "x", "category": "image", "files": [
        {"folder": folder, "name": name, "url": f"https://example.com/{name}", **extra}]}, origin="user",
        source_file="t")
    return preset.files[0]


def test_sizes_follow_from_template_totals_by_peeling_then_sharing() -> None:
    a, b, c = _file("checkpoints", "a.st"), _file("vae", "b.st"), _file("text_encoders", "c.st")
    d, e = _file("loras", "d.st"), _file("upscale_models", "e.st")
    totals = [
        sizes.Total("only_b", frozenset({b.key}), 300 * 2**20),
        sizes.Total("a_and_b", frozenset({a.key, b.key}), 7000 * 2**20),
        sizes.Total("stale", frozenset({b.key, e.key}), 100 * 2**20),  # less than b alone: not used for e
        sizes.Total("c_and_d", frozenset({c.key, d.key}), 5300 * 2**20),
    ]
    figures = sizes.solve([a, b, c, d, e], totals, exact={})
    assert figures[b.key] == sizes.Figure(300 * 2**20, "templates")
    assert figures[a.key] == sizes.Figure(6700 * 2**20, "templates")  # a_and_b minus b
    # c and d share their template's total in proportion to their folders' typical sizes (5 GB : 1/3 GB)
    assert figures[c.key].basis == figures[d.key].basis == "share"
    assert figures[c.key].bytes + figures[d.key].bytes == pytest.approx(5300 * 2**20, rel=1e-6)
    assert figures[c.key].bytes == pytest.approx(15 * figures[d.key].bytes, rel=0.01)
    assert figures[e.key].basis == "folder" and figures[e.key].estimated
    # an exact size from the source replaces the estimate and moves the others
    exact = sizes.solve([a, b, c, d, e], totals, exact={b.key: 250 * 2**20})
    assert exact[b.key] == sizes.Figure(250 * 2**20, "source") and not exact[b.key].estimated
    assert exact[a.key].bytes == 6750 * 2**20


def test_vram_estimate_rule() -> None:
    model, lora, te, vae = (_file("diffusion_models", "m.st"), _file("loras", "l.st"),
                            _file("text_encoders", "t.st"), _file("vae", "v.st"))
    figures = {model.key: sizes.Figure(10 * GB, "source"), lora.key: sizes.Figure(GB // 2, "source"),
               te.key: sizes.Figure(9 * GB, "source"), vae.key: sizes.Figure(GB // 4, "source")}
    # (10 + 0.5) GB x 1.2 + 1 GB = 13.6 -> 14; the text encoder and VAE are not counted
    assert sizes.vram_estimate_gb([model, lora, te, vae], figures) == 14
    assert sizes.vram_estimate_gb([vae], figures) == 2  # no diffusion model: the largest file
    assert sizes.vram_estimate_gb([model, _file("vae", "unknown.st")], figures) is None
