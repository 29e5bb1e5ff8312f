"""Which models a workflow needs, which are on disk, and where the missing ones can come from.

A workflow arrives in ComfyUI's UI format (``nodes`` with ``widgets_values`` and, on loaders
saved by recent frontends, ``properties.models`` entries with name, url, directory and maybe a
hash; the same entries may sit in the workflow's top-level ``models``) or in the API format
(``{node_id: {"class_type", "inputs"}}``). Where a missing model can come from is the resolver
chain's answer (launchpad/resolve/): every candidate with its origin and certainty, best first.
The best one is chosen; it installs when it is sure (same hash, or the same file name in a source
that knows the file) and its link passes the URL policy, and a name match only when the user
chooses it. A model no source knows is reported as unknown, with the loader node that wants it.

Launchpad's own "Launchpad Model" node names a catalog file (``folder/name``) and counts like a
loader. A loader whose model input is linked (fed by such a node) names no file itself.
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import humanize, model_folders
from .catalog import Catalog, ModelFile
from .catalog.rows import comfyui_need, comfyui_ok
from .catalog.templates import workflow_stem
from .errors import InvalidInput, NotFound
from .files import unsafe_reason
from .model_roots import ModelRoots
from .resolve.candidates import Candidate, Wanted, link_problem
from .resolve.catalog_files import CatalogIndex
from .resolve.chain import Known, best_first
from .resolve.hub_listings import HubIndex
from .resolve.manager_list import ManagerList
from .resolve.workflow_links import candidates as link_candidates
from .resolve.workflow_links import hash_of

# Core loader nodes: their model inputs in widget order (the first widgets of each loader).
LOADERS: dict[str, tuple[tuple[str, str], ...]] = {
    "CheckpointLoaderSimple": (("ckpt_name", "checkpoints"),),
    "CheckpointLoader": (("config_name", "configs"), ("ckpt_name", "checkpoints")),
    "ImageOnlyCheckpointLoader": (("ckpt_name", "checkpoints"),),
    "unCLIPCheckpointLoader": (("ckpt_name", "checkpoints"),),
    "VAELoader": (("vae_name", "vae"),),
    "LoraLoader": (("lora_name", "loras"),),
    "LoraLoaderModelOnly": (("lora_name", "loras"),),
    "UNETLoader": (("unet_name", "diffusion_models"),),
    "CLIPLoader": (("clip_name", "text_encoders"),),
    "DualCLIPLoader": (("clip_name1", "text_encoders"), ("clip_name2", "text_encoders")),
    "TripleCLIPLoader": tuple((f"clip_name{i}", "text_encoders") for i in (1, 2, 3)),
    "QuadrupleCLIPLoader": tuple((f"clip_name{i}", "text_encoders") for i in (1, 2, 3, 4)),
    "CLIPVisionLoader": (("clip_name", "clip_vision"),),
    "ControlNetLoader": (("control_net_name", "controlnet"),),
    "DiffControlNetLoader": (("control_net_name", "controlnet"),),
    "UpscaleModelLoader": (("model_name", "upscale_models"),),
    "LatentUpscaleModelLoader": (("model_name", "latent_upscale_models"),),
    "StyleModelLoader": (("style_model_name", "style_models"),),
    "GLIGENLoader": (("gligen_name", "gligen"),),
    "HypernetworkLoader": (("hypernetwork_name", "hypernetworks"),),
    "PhotoMakerLoader": (("photomaker_model_name", "photomaker"),),
    "ModelPatchLoader": (("name", "model_patches"),),
    "AudioEncoderLoader": (("audio_encoder_name", "audio_encoders"),),
    "LTXVAudioVAELoader": (("ckpt_name", "checkpoints"),),
    "LTXAVTextEncoderLoader": (("text_encoder", "text_encoders"), ("ckpt_name", "checkpoints")),
    "FrameInterpolationModelLoader": (("model_name", "frame_interpolation"),),
    "OpticalFlowLoader": (("model_name", "optical_flow"),),
    "IPAdapterModelLoader": (("ipadapter_file", "ipadapter"),),
}
# Launchpad's nodes that name a catalog file: the input holding "folder/name"
LAUNCHPAD_NODES: dict[str, str] = {"LaunchpadModel": "model"}
MUTED_MODES = {2, 4}  # never / bypass: the node does not run until the user turns it back on


@dataclass
class NeededModel:
    folder: str
    name: str
    nodes: list[dict[str, object]] = field(default_factory=list)  # loader nodes that want it
    file: ModelFile | None = None  # what to download: the chosen candidate, when it is a sure one
    origin: str | None = None  # where the chosen candidate came from (resolve.candidates.ORIGINS)
    presets: list[str] = field(default_factory=list)  # catalog presets that list this file
    state: str = "missing"  # present | missing | unknown
    path: str | None = None
    installable: bool = False  # a sure candidate whose link passes the URL policy
    reason: str = ""  # why it cannot be installed (as it stands), when it cannot
    size: int | None = None  # bytes on disk when present, else what the source or catalog says
    size_estimated: bool = False  # ``size`` is an estimate (catalog/sizes.py, a rounded list entry)
    wanted: Wanted | None = None  # folder, name and the workflow's hash for it
    candidates: list[Candidate] = field(default_factory=list)  # every source's answer, best first
    choice: Candidate | None = None  # the candidate ``file`` comes from (or would, once confirmed)
    problems: dict[str, str | None] = field(default_factory=dict)  # candidate id -> why its link is refused
    entries: list[dict] = field(default_factory=list)  # the workflow's own metadata entries for it

    @property
    def key(self) -> str:
        return f"{self.folder}/{self.name}"

    @property
    def optional(self) -> bool:
        """Only muted or bypassed nodes want it: the workflow runs without it as it stands."""
        return bool(self.nodes) and all(node.get("muted") for node in self.nodes)

    @property
    def confirm(self) -> bool:
        """Missing, and its best candidate is only a name match the user may accept."""
        choice = self.choice
        return self.state == "missing" and choice is not None and not choice.confident and not self.problems.get(
            choice.id)

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "folder": self.folder,
            "name": self.name,
            "state": self.state,
            "path": self.path,
            "nodes": self.nodes,
            "optional": self.optional,
            "origin": self.origin,
            "presets": self.presets,
            "source": self.choice.source.to_dict() if self.choice else None,
            "size": self.size,
            "size_estimated": self.size_estimated,
            "installable": self.installable,
            "reason": self.reason,
            "hash": self.wanted.hash if self.wanted else None,
            "certainty": self.choice.certainty if self.choice else None,
            "confirm": self.confirm,
            "choice": self.choice.id if self.choice else None,
            "candidates": [c.to_dict(self.problems.get(c.id)) for c in self.candidates],
        }


def _graphs(workflow: dict) -> Iterator[dict]:
    yield workflow
    definitions = workflow.get("definitions")
    if isinstance(definitions, dict):
        for graph in definitions.get("subgraphs") or []:
            if isinstance(graph, dict):
                yield graph


def _model_value(value: object) -> str | None:
    return value if isinstance(value, str) and value and unsafe_reason(value.replace("\\", "/")) is None else None


def _split_key(value: object) -> tuple[str, str] | None:
    """``"folder/name"`` as a Launchpad node names a file -> (canonical folder, name)."""
    if not isinstance(value, str) or "/" not in value:
        return None
    folder, name = value.split("/", 1)
    folder = model_folders.canonical(folder) or ""
    name = _model_value(name) or ""
    return (folder, name) if folder and name else None


def _linked_widgets(node: dict) -> set[str]:
    """Names of the widgets whose value comes through a link (the saved value is stale)."""
    linked = set()
    for slot in node.get("inputs") or []:
        widget = slot.get("widget") if isinstance(slot, dict) else None
        if isinstance(widget, dict) and slot.get("link") is not None:
            linked.add(str(widget.get("name")))
    return linked


def _metadata(entries: object) -> Iterator[tuple[str, str, dict]]:
    """(folder, name, entry) for each usable ``{name, directory, url, hash, ...}`` model entry."""
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            folder = model_folders.canonical(str(entry.get("directory") or ""))
            name = _model_value(entry.get("name"))
            if folder and name:
                yield folder, name, entry


def _from_ui(workflow: dict) -> Iterator[tuple[str, str, dict | None, dict | None]]:
    """(folder, name, node, metadata entry or None) for every model a UI-format graph names; the
    workflow's top-level ``models`` come with no node."""
    for folder, name, entry in _metadata(workflow.get("models")):
        yield folder, name, None, entry
    for graph in _graphs(workflow):
        for node in graph.get("nodes") or []:
            if not isinstance(node, dict):
                continue
            ref = {"id": node.get("id"), "type": node.get("type"), "muted": node.get("mode") in MUTED_MODES}
            properties = node.get("properties")
            if not isinstance(properties, dict):
                properties = {}
            named = set()
            for folder, name, entry in _metadata(properties.get("models")):
                named.add(name)
                yield folder, name, ref, entry
            widgets = node.get("widgets_values")
            if not isinstance(widgets, list):
                continue
            if node.get("type") in LAUNCHPAD_NODES and widgets:
                key = _split_key(widgets[0])
                if key:
                    yield *key, ref, None
                continue
            linked = _linked_widgets(node)
            for (input_name, folder), value in zip(LOADERS.get(str(node.get("type")), ()), widgets, strict=False):
                chosen = _model_value(value)  # extra widgets are options
                if chosen and chosen not in named and input_name not in linked:
                    yield folder, chosen, ref, None


def _from_api(prompt: dict) -> Iterator[tuple[str, str, dict | None, dict | None]]:
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        kind = str(node.get("class_type"))
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            inputs = {}
        ref = {"id": node_id, "type": kind, "muted": False}
        if kind in LAUNCHPAD_NODES:
            key = _split_key(inputs.get(LAUNCHPAD_NODES[kind]))
            if key:
                yield *key, ref, None
            continue
        for input_name, folder in LOADERS.get(kind, ()):
            name = _model_value(inputs.get(input_name))  # a link ([node, slot]) names no file
            if name:
                yield folder, name, ref, None


def named_models(workflow: object) -> Iterator[tuple[str, str, dict | None, dict | None]]:
    """(folder, name, node, metadata entry or None) for every model file ``workflow`` names, in
    the UI or the API format; InvalidInput when it is neither."""
    if not isinstance(workflow, dict):
        raise InvalidInput("a workflow must be a JSON object (UI format with `nodes`, or API format)")
    if isinstance(workflow.get("nodes"), list):
        return _from_ui(workflow)
    if workflow and all(isinstance(v, dict) and "class_type" in v for v in workflow.values()):
        return _from_api(workflow)
    raise InvalidInput("not a ComfyUI workflow: expected `nodes` (UI format) or nodes with `class_type` (API format)")


def analyze(
    workflow: object, catalog: Catalog, roots: ModelRoots, allowed_hosts: Sequence[str], known: Known | None = None
) -> list[NeededModel]:
    """Every model ``workflow`` needs, with its state on disk and every candidate source of a missing
    one (``known``: what the resolver's sources on this machine say; the catalog alone without it)."""
    found = named_models(workflow)
    if known is None:
        known = Known(CatalogIndex(catalog), ManagerList(), HubIndex({}), {}, [])

    needed: dict[str, NeededModel] = {}
    for folder, name, node, entry in found:
        name = name.replace("\\", "/")
        model = needed.setdefault(f"{folder}/{name}", NeededModel(folder, name))
        if node is not None and node not in model.nodes:
            model.nodes.append(node)
        if entry is not None:
            model.entries.append(entry)

    for model in needed.values():
        digest, kind = hash_of(model.entries)
        model.wanted = Wanted(model.folder, model.name, digest, kind)
        links, link_issue = link_candidates(model.entries)
        model.candidates = best_first(known.candidates(model.wanted, links), allowed_hosts)
        model.problems = {c.id: link_problem(c.source.url, allowed_hosts) for c in model.candidates}
        listed = known.catalog.get(model.key)
        model.presets = sorted(listed.presets) if listed else []
        if model.candidates:
            choose(model, model.candidates[0])
        if model.size is None and catalog.figures.get(model.key) is not None:  # the catalog's estimate
            figure = catalog.figures[model.key]
            model.size, model.size_estimated = figure.bytes, figure.estimated
        found_path = roots.find(model.folder, model.name)
        if found_path is not None:
            model.state, model.path, model.installable, model.reason = "present", str(found_path), False, ""
            with contextlib.suppress(OSError):  # vanished meanwhile: its size stays unknown
                model.size, model.size_estimated = found_path.stat().st_size, False
        elif model.choice is None:
            model.state = "unknown"
            model.reason = link_issue or _nobody_knows(model.wanted)
            if model.nodes:
                model.reason += "; wanted by " + ", ".join(f"{node['type']} #{node['id']}" for node in model.nodes)
    return sorted(needed.values(), key=lambda m: (m.state != "missing", m.state, m.key))


def choose(model: NeededModel, candidate: Candidate, *, confirmed: bool = False) -> None:
    """Make ``candidate`` the model's source. A name match is installable only ``confirmed`` (the
    user chose it); any candidate only when its link passes the URL policy."""
    assert model.wanted is not None
    problem = model.problems.get(candidate.id)
    model.choice, model.origin, model.state = candidate, candidate.origin, "missing"
    model.file = candidate.model_file(model.wanted) if candidate.confident or confirmed else None
    model.installable = problem is None and model.file is not None
    model.size, model.size_estimated = candidate.size, candidate.size is not None and not candidate.size_exact
    if problem:
        model.reason = problem
    elif model.file is None:
        model.reason = "only the name matches: installed once you choose it"
    else:
        model.reason = ""


def _nobody_knows(wanted: Wanted) -> str:
    asked = "the workflow, the catalog, ComfyUI-Manager's model list and the known Hugging Face repositories"
    if wanted.hash:
        asked += ", nor Civitai by its hash"
    return f"no download link: {asked} know no file of this name"


@dataclass
class InstallPlan:
    """What installing a workflow's models does with each one it was asked about."""

    todo: list[ModelFile]  # missing and installable: queued
    present: list[str]  # keys already on disk
    refused: list[dict[str, object]]  # missing but not installable, with the reason


def plan_install(
    models: Sequence[NeededModel], keys: Sequence[str] | None, optional: bool,
    choices: Mapping[str, str] | None = None,
) -> InstallPlan:
    """The analysed ``models`` an install takes: those named in ``keys`` or ``choices``, else every one
    except the models of muted or bypassed nodes (unless ``optional``). ``choices`` (model key ->
    candidate id) takes another of the candidates the analysis found, a name match included: the
    user chose it. NotFound names keys the workflow lacks, or a candidate it does not have."""
    by_key = {model.key: model for model in models}
    named = [*(keys or ()), *(choices or {})]
    strangers = [key for key in named if key not in by_key]
    if strangers:  # names a model that is not in this workflow: nothing to find
        raise NotFound(f"the workflow does not need {', '.join(strangers[:5])}", details={"keys": strangers})
    for key, candidate_id in (choices or {}).items():
        model = by_key[key]
        picked = next((c for c in model.candidates if c.id == candidate_id), None)
        if picked is None:
            raise NotFound(f"no source {candidate_id!r} was found for {key}; analyse the workflow again",
                           details={"key": key, "choice": candidate_id})
        if model.state != "present":
            choose(model, picked, confirmed=True)
    if named:
        chosen = [by_key[key] for key in dict.fromkeys(named)]
    else:
        chosen = [m for m in models if optional or not m.optional]
    return InstallPlan(
        todo=[m.file for m in chosen if m.state == "missing" and m.installable and m.file is not None],
        present=[m.key for m in chosen if m.state == "present"],
        refused=[{"key": m.key, "state": m.state, "reason": m.reason}
                 for m in chosen if m.state != "present" and not m.installable],
    )


def summarize(
    models: Sequence[NeededModel], name: str | None = None, needs: str | None = None, running: str | None = None,
) -> dict[str, Any]:
    """Counts by state, the bytes an install of every installable missing model would take, the ComfyUI
    the workflow needs (``needs``, when known) against the ``running`` one, and what the Workflow view
    says of them: its headline, the Install button's label and the command for another pod."""
    counts = {state: sum(m.state == state for m in models) for state in ("present", "missing", "unknown")}
    todo = [m for m in models if m.state == "missing" and m.installable]
    summary: dict[str, Any] = {
        "needed": len(models),
        **counts,
        "optional": sum(m.optional for m in models),
        "installable": len(todo),
        "to_confirm": sum(m.confirm for m in models),
        "bytes_present": sum(m.size or 0 for m in models if m.state == "present"),
        "bytes_missing": sum(m.size or 0 for m in todo),
        "sizes_unknown": sum(m.size is None for m in todo),
        "sizes_estimated": sum(m.size is not None and m.size_estimated for m in todo),
        "min_comfyui": needs,
        "comfyui_ok": comfyui_ok(needs, running) if needs else None,
        "comfyui_need": comfyui_need(needs, running),
    }
    headline = " · ".join([humanize.count(len(models), "model"), *(f"{n} {state}" for state, n in counts.items())])
    stem = workflow_stem(name) or "workflow"
    return {
        **summary,
        "headline": f"{name or 'This workflow'}: {headline}",
        "install_label": _install_label(summary),
        "command": shlex.join(["launchpad", "workflow", f"{stem}.json", "--install"]),
    }


def _install_label(summary: Mapping[str, Any]) -> str:
    """"Install 2 missing (~1.2 GB)": "~" for an estimate; an unknown size is never counted as 0."""
    count, unknown = summary["installable"], summary["sizes_unknown"]
    total = ("~" if summary["sizes_estimated"] else "") + humanize.size(summary["bytes_missing"])
    if unknown == count:
        return f"Install {count} missing (size unknown)"
    if unknown:
        return f"Install {count} missing ({total} + {unknown} of unknown size)"
    return f"Install {count} missing ({total})"


def group_label(name: str | None) -> str:
    """The download group for a workflow's files: ``workflow:<name>`` with a safe, short name."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", workflow_stem(name)).strip("_.-")[:64]
    return f"workflow:{slug or 'untitled'}"
