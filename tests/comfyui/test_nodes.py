"""The Launchpad nodes and the provisioning under them, run the way ComfyUI runs them.

The service lives on an event loop in its own thread (ComfyUI's server loop); the nodes are
called from the test's thread (ComfyUI's prompt worker). Downloads come from the fake Hub.
Only ComfyUI's own modules are stood in for (comfy.utils.ProgressBar and the interrupt check).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from apiclient import write_presets

from fakehub import FakeHub, random_bytes
from lp.launchpad import running as published
from lp.launchpad.config import Settings
from lp.launchpad.errors import DownloadError, NotFound
from lp.launchpad.provision import Provisioner
from lp.launchpad.service import LaunchpadService
from lp.nodes import DISPLAY_NAMES, NODE_CLASS_MAPPINGS, runtime, v1

MODEL = random_bytes(1_500_000)
PRESETS = """\
    schema: 1
    presets:
      - id: node-pair
        name: Node test pair
        category: image
        files:
          - folder: checkpoints
            name: nodes/model.safetensors
            hf: acme/nodes
            path: model.safetensors
          - folder: vae
            name: node-vae.safetensors
            hf: acme/nodes
            path: vae.safetensors
            size: 4000
      - id: node-newer
        name: Needs a newer ComfyUI
        category: image
        min_comfyui: 0.99.0
        files:
          - folder: vae
            name: node-newer-vae.safetensors
            hf: acme/nodes
            path: vae.safetensors
      - id: node-broken
        name: A file the Hub does not have
        category: image
        files:
          - folder: loras
            name: node-gone.safetensors
            hf: acme/nodes
            path: gone.safetensors
"""


@pytest.fixture
def running(workspace_dir: Path, fakehub: FakeHub, tmp_path: Path) -> Iterator[SimpleNamespace]:
    """The service started on a loop in another thread, as ComfyUI's server runs it."""
    write_presets(workspace_dir, PRESETS)
    fakehub.add_hf_file("acme/nodes", "model.safetensors", MODEL)
    fakehub.add_hf_file("acme/nodes", "vae.safetensors", random_bytes(4000))
    fakehub.behave("acme/nodes/model.safetensors", rate=1_500_000)  # about a second: progress on the way
    (tmp_path / "no-templates").mkdir()
    settings = Settings.from_env({}, workspace=workspace_dir, templates_dir=tmp_path / "no-templates",
                                 hf_endpoint=fakehub.url, free_space_margin=0, retry_backoff=0.02, retries=1)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="server-loop", daemon=True)
    thread.start()
    service = LaunchpadService(settings)
    asyncio.run_coroutine_threadsafe(service.start(), loop).result(30)
    try:
        yield SimpleNamespace(service=service, loop=loop, hub=fakehub, models=workspace_dir / "models",
                              provisioner=Provisioner(service, loop))
    finally:
        asyncio.run_coroutine_threadsafe(service.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def in_comfyui(running: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The service registered as ComfyUI's, plus stand-ins for comfy.utils and comfy.model_management."""
    monkeypatch.setattr(published, "_running", published.Running(running.service, running.loop))
    running.bars = []
    running.interrupt = threading.Event()

    class ProgressBar:  # comfy.utils.ProgressBar's contract: (total), update_absolute(value, total)
        def __init__(self, total: int) -> None:
            self.updates: list[tuple[int, int]] = []
            running.bars.append(self)

        def update_absolute(self, value: int, total: int | None = None) -> None:
            self.updates.append((value, total))

    class Interrupted(Exception):
        pass

    def throw_exception_if_processing_interrupted() -> None:
        if running.interrupt.is_set():
            raise Interrupted("Processing interrupted")

    comfy = types.ModuleType("comfy")
    utils = types.ModuleType("comfy.utils")
    utils.ProgressBar = ProgressBar  # type: ignore[attr-defined]
    management = types.ModuleType("comfy.model_management")
    management.throw_exception_if_processing_interrupted = throw_exception_if_processing_interrupted  # type: ignore[attr-defined]
    comfy.utils, comfy.model_management = utils, management  # type: ignore[attr-defined]
    for name, module in (("comfy", comfy), ("comfy.utils", utils), ("comfy.model_management", management)):
        monkeypatch.setitem(sys.modules, name, module)
    running.Interrupted = Interrupted
    return running


def on_loop(running: SimpleNamespace, coro):  # type: ignore[no-untyped-def]
    return asyncio.run_coroutine_threadsafe(coro, running.loop).result(30)


def snapshot(running: SimpleNamespace) -> dict:
    return on_loop(running, running.service.downloads_snapshot())


# --- the node classes ------------------------------------------------------------------------------


def test_node_classes_outside_comfyui_are_v1_and_prefixed() -> None:
    assert set(NODE_CLASS_MAPPINGS) == set(DISPLAY_NAMES) == {"LaunchpadModel", "LaunchpadEnsurePreset"}
    assert DISPLAY_NAMES == {"LaunchpadModel": "Launchpad Model", "LaunchpadEnsurePreset": "Launchpad Ensure Preset"}
    for cls in NODE_CLASS_MAPPINGS.values():
        assert cls.CATEGORY == "Launchpad" and callable(getattr(cls(), cls.FUNCTION))
    model = NODE_CLASS_MAPPINGS["LaunchpadModel"]
    assert model.RETURN_NAMES == ("name", "path")
    # ComfyUI checks a link with `not received_type != input_type`; a loader's input type is its file list
    name_type = model.RETURN_TYPES[0]
    assert (name_type != ["a.safetensors", "b.safetensors"]) is False
    assert (name_type != "COMBO") is False
    assert NODE_CLASS_MAPPINGS["LaunchpadEnsurePreset"].OUTPUT_NODE


def test_inputs_list_the_catalog_once_launchpad_runs(in_comfyui: SimpleNamespace) -> None:
    inputs = v1.LaunchpadModel.INPUT_TYPES()
    choices, options = inputs["required"]["model"]
    # a new node starts on a choice that names nothing, not on the first file of the list
    assert choices[0] == options["default"] == runtime.CHOOSE_MODEL
    assert choices[1:] == sorted(choices[1:])
    assert {"checkpoints/nodes/model.safetensors", "vae/node-vae.safetensors"} <= set(choices)
    presets = inputs["optional"]["preset"][0]
    # presets by name (the id in brackets keeps saved workflows working if a name changes)
    catalog = in_comfyui.service.catalogs.current().presets.values()
    assert presets[0] == runtime.ANY_PRESET
    assert presets[1:] == sorted((f"{p.name} ({p.id})" for p in catalog), key=str.casefold)
    assert {"A file the Hub does not have (node-broken)", "Node test pair (node-pair)"} <= set(presets)
    ensure, ensure_options = v1.LaunchpadEnsurePreset.INPUT_TYPES()["required"]["preset"]
    assert ensure == [runtime.CHOOSE_PRESET, *presets[1:]] and ensure_options["default"] == runtime.CHOOSE_PRESET


def test_inputs_name_nothing_before_launchpad_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(published, "_running", None)
    assert v1.LaunchpadModel.INPUT_TYPES()["required"]["model"][0] == [runtime.CHOOSE_MODEL]
    assert v1.LaunchpadModel.INPUT_TYPES()["optional"]["preset"][0] == [runtime.ANY_PRESET]
    assert v1.LaunchpadModel.VALIDATE_INPUTS("checkpoints/x.safetensors") is True  # checked again when it runs
    with pytest.raises(runtime.NotRunning, match="not running in this ComfyUI"):
        v1.LaunchpadModel().run("checkpoints/x.safetensors")


def test_validation_names_what_is_wrong(in_comfyui: SimpleNamespace) -> None:
    validate = v1.LaunchpadModel.VALIDATE_INPUTS
    assert validate("checkpoints/nodes/model.safetensors") is True
    assert validate("vae/node-vae.safetensors", "node-pair") is True
    assert validate("vae/node-vae.safetensors", "Node test pair (node-pair)") is True
    assert validate(runtime.CHOOSE_MODEL) == "choose a model file from the list"
    assert "does not name a model as folder/file" in validate("model.safetensors")  # type: ignore[operator]
    assert "no preset in the catalog lists checkpoints/other.safetensors" in validate("checkpoints/other.safetensors")  # type: ignore[operator]
    assert "preset node-broken has no file vae/node-vae.safetensors" in validate(  # type: ignore[operator]
        "vae/node-vae.safetensors", "A file the Hub does not have (node-broken)")
    ensure = v1.LaunchpadEnsurePreset.VALIDATE_INPUTS
    assert ensure("node-pair") is True and ensure("Node test pair (node-pair)") is True
    assert ensure("An old name (node-pair)") is True  # a saved workflow after the preset was renamed
    assert ensure(runtime.CHOOSE_PRESET) == "choose the preset to ensure"
    assert "no preset nope" in ensure("nope")  # type: ignore[operator]


# --- running them ----------------------------------------------------------------------------------


def test_model_node_downloads_a_missing_file_with_comfyuis_progress_bar(in_comfyui: SimpleNamespace) -> None:
    node = v1.LaunchpadModel()
    before = v1.LaunchpadModel.IS_CHANGED("checkpoints/nodes/model.safetensors")
    assert before == "missing"

    name, path = node.run("checkpoints/nodes/model.safetensors", runtime.ANY_PRESET)

    assert name == "nodes/model.safetensors"  # what ComfyUI's checkpoint list shows
    assert Path(path) == in_comfyui.models / "checkpoints" / "nodes" / "model.safetensors"
    assert Path(path).read_bytes() == MODEL
    [bar] = in_comfyui.bars
    assert bar.updates[-1] == (len(MODEL), len(MODEL))
    assert any(0 < done < len(MODEL) for done, _ in bar.updates)  # it moved on the way
    assert [d for d, _ in bar.updates] == sorted(d for d, _ in bar.updates)
    jobs = snapshot(in_comfyui)["jobs"]
    assert [(j["key"], j["preset_ids"], j["state"]) for j in jobs] == [
        ("checkpoints/nodes/model.safetensors", ["node:LaunchpadModel"], "done")]
    # ComfyUI runs it again when the file changed, and then it only looks
    assert v1.LaunchpadModel.IS_CHANGED("checkpoints/nodes/model.safetensors") != before
    asked = len(in_comfyui.hub.requests_for("acme/nodes/model.safetensors", None))
    assert node.run("checkpoints/nodes/model.safetensors")[0] == "nodes/model.safetensors"
    assert len(in_comfyui.hub.requests_for("acme/nodes/model.safetensors", None)) == asked


def test_model_node_with_a_preset_and_a_failure_that_says_why(in_comfyui: SimpleNamespace) -> None:
    name, path = v1.LaunchpadModel().run("vae/node-vae.safetensors", "node-pair")
    assert name == "node-vae.safetensors" and Path(path).stat().st_size == 4000
    with pytest.raises(NotFound, match=r"preset node-pair has no file loras/node-gone\.safetensors"):
        v1.LaunchpadModel().run("loras/node-gone.safetensors", "node-pair")
    with pytest.raises(DownloadError, match=r"could not install loras/node-gone\.safetensors: .*acme/nodes"):
        v1.LaunchpadModel().run("loras/node-gone.safetensors")
    assert not (in_comfyui.models / "loras" / "node-gone.safetensors").exists()


def test_ensure_preset_installs_every_file(in_comfyui: SimpleNamespace) -> None:
    (summary,) = v1.LaunchpadEnsurePreset().run("Node test pair (node-pair)")  # as the list offers it
    assert summary == "node-pair: 2 files ready (1.5 MB)"
    assert (in_comfyui.models / "checkpoints" / "nodes" / "model.safetensors").read_bytes() == MODEL
    progress = snapshot(in_comfyui)["presets"]["node-pair"]
    assert progress["state"] == "done"  # installed as the preset: its card in the panel shows it
    assert v1.LaunchpadEnsurePreset().run("node-pair") == (summary,)  # as workflows saved before say it


def test_ensure_preset_says_which_comfyui_a_preset_needs(in_comfyui: SimpleNamespace, monkeypatch) -> None:
    monkeypatch.setattr(in_comfyui.service.host, "versions", lambda: {"comfyui": "0.3.64"})
    (summary,) = v1.LaunchpadEnsurePreset().run("node-newer")
    assert summary.startswith("node-newer: 1 file ready")
    assert "need ComfyUI 0.99.0 or newer; this ComfyUI is 0.3.64" in summary
    assert "newer ComfyUI" in v1.LaunchpadEnsurePreset.INPUT_TYPES()["required"]["preset"][1]["tooltip"]
    (ok,) = v1.LaunchpadEnsurePreset().run("node-pair")  # no requirement: nothing said
    assert "ComfyUI" not in ok


def test_an_interrupted_prompt_stops_waiting_and_the_download_goes_on(in_comfyui: SimpleNamespace) -> None:
    in_comfyui.hub.behave("acme/nodes/model.safetensors", rate=300_000)
    bars = in_comfyui.bars

    def interrupt_once_it_moves() -> None:
        while not (bars and any(done for done, _ in bars[0].updates)):
            threading.Event().wait(0.02)
        in_comfyui.interrupt.set()

    threading.Thread(target=interrupt_once_it_moves, daemon=True).start()
    with pytest.raises(in_comfyui.Interrupted):
        v1.LaunchpadModel().run("checkpoints/nodes/model.safetensors")
    [job] = snapshot(in_comfyui)["jobs"]
    assert job["state"] == "downloading"  # visible in the sidebar, and cancelled there if the user wants
    assert on_loop(in_comfyui, in_comfyui.service.cancel_job(job["id"]))["state"] == "cancelled"


def test_provisioner_from_a_plain_thread(running: SimpleNamespace) -> None:
    seen: list[tuple[int, int | None]] = []
    path = running.provisioner.ensure_file("checkpoints/nodes/model.safetensors",
                                           progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == MODEL and seen[-1] == (len(MODEL), len(MODEL))
    paths = running.provisioner.ensure_preset("node-pair")
    assert [p.name for p in paths] == ["model.safetensors", "node-vae.safetensors"]
