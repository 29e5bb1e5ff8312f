"""What the Launchpad nodes do, shared by their V1 and V3 classes (v1.py, v3.py).

The nodes run in ComfyUI's prompt worker thread; the service runs on the server's loop, built
when the app started (launchpad/running.py has it, with its loop). Downloads go through
the service's download manager (one path for every install) via launchpad/provision.py, with
ComfyUI's own progress bar and interrupt check. ComfyUI modules are imported inside the
functions that need them, so this module imports without ComfyUI.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..launchpad import running
from ..launchpad.errors import InvalidInput, LaunchpadError

if TYPE_CHECKING:  # the rest is imported when a node runs: ComfyUI times our import
    from ..launchpad.provision import Progress, Provisioner
    from ..launchpad.service import LaunchpadService

log = logging.getLogger("launchpad.nodes")

CATEGORY = "Launchpad"
ANY_PRESET = "(any preset)"  # the preset input's first choice: look the file up in the whole catalog
# first choices that name nothing, so a new node starts empty rather than on whichever file or
# preset sorts first (a combo without a default takes its first option)
CHOOSE_MODEL = "(choose a model)"
CHOOSE_PRESET = "(choose a preset)"
# a preset is listed as "Name (id)": people read the name, the id keeps saved workflows working when
# a name changes; a bare id (what workflows saved before saved) still works
_LABELLED = re.compile(r"\(([A-Za-z0-9][A-Za-z0-9_.-]*)\)$")
MODEL_TOOLTIP = "A model file from Launchpad's catalog, as folder/file. Downloaded when the prompt runs if missing."
PRESET_TOOLTIP = "Take the file from this preset (its source). Leave on (any preset) to use any preset that lists it."
NAME_TOOLTIP = "The file name, as the loaders' lists show it: connect it to a loader's model input."
PATH_TOOLTIP = "The file's absolute path on this machine."
ENSURE_TOOLTIP = ("The preset to install. One whose workflows need a newer ComfyUI than this one still downloads, "
                  "and its result (or error) says which ComfyUI it needs.")
MODEL_DESCRIPTION = ("Names a model file from Launchpad's catalog and makes sure it is installed when the prompt "
                     "runs (downloading it with progress if missing), then gives its name to a loader.")
PRESET_DESCRIPTION = "Makes sure every file of a Launchpad preset is installed when the prompt runs."


class NotRunning(LaunchpadError):
    """The node runs in a ComfyUI where Launchpad's service did not start."""

    code = "not_running"


def _service() -> LaunchpadService | None:
    return running.service()


def _provisioner() -> Provisioner:
    from ..launchpad.provision import Provisioner

    published = running.current()
    if published is None:
        raise NotRunning("Launchpad is not running in this ComfyUI (it failed to start or has not started yet); "
                         "see ComfyUI's log for the reason")
    return Provisioner(published.service, published.loop)


def _preset(preset: str | None) -> str | None:
    """The preset id a choice names ("Name (id)" or a bare id); None for the first choices."""
    if not preset or preset in (ANY_PRESET, CHOOSE_PRESET):
        return None
    labelled = _LABELLED.search(preset)
    return labelled.group(1) if labelled else preset


def preset_label(preset_id: str, name: str) -> str:
    return f"{name} ({preset_id})"


# --- inputs ---------------------------------------------------------------------------------------


def model_choices() -> list[str]:
    """CHOOSE_MODEL, then every file of the catalog as folder/file (none until Launchpad has read it)."""
    service = _service()
    if service is None:
        return [CHOOSE_MODEL]
    catalog = service.catalogs.current()
    return [CHOOSE_MODEL, *sorted({f.key for preset in catalog.presets.values() for f in preset.files})]


def preset_choices(first: str = ANY_PRESET) -> list[str]:
    """``first``, then every preset as "Name (id)", by name."""
    service = _service()
    presets = service.catalogs.current().presets.values() if service is not None else []
    labels = sorted((preset_label(p.id, p.name) for p in presets), key=str.casefold)
    return [first, *labels]


def validate_model(model: str, preset: str | None = None) -> bool | str:
    """True, or what is wrong (ComfyUI shows it before the prompt runs). Our own check replaces
    ComfyUI's "value not in list": the catalog may have grown since the list was sent."""
    from ..launchpad.provision import find_file, split_key

    if model == CHOOSE_MODEL:
        return "choose a model file from the list"
    try:
        split_key(model)
        service = _service()
        if service is not None and service.is_ready:
            find_file(service.catalogs.current(), model, _preset(preset))
    except LaunchpadError as exc:
        return exc.message
    return True


def validate_preset(preset: str) -> bool | str:
    service = _service()
    preset_id = _preset(preset)
    if preset_id is None:
        return "choose the preset to ensure"
    if service is not None and service.is_ready and preset_id not in service.catalogs.current().presets:
        return f"no preset {preset_id} in the catalog; pick one from the list"
    return True


def fingerprint(model: str, preset: str | None = None) -> str:
    """Changes when the file appears, disappears or changes size, so ComfyUI runs the node again."""
    from ..launchpad.provision import split_key

    service = _service()
    try:
        folder, name = split_key(model)
    except LaunchpadError:
        return "invalid"
    found = service.roots.find(folder, name) if service is not None else None
    try:
        return f"{found}:{found.stat().st_size}" if found is not None else "missing"
    except OSError:
        return "missing"


# --- running ----------------------------------------------------------------------------------------


def _interrupt_check() -> Callable[[], None]:
    try:
        from comfy.model_management import throw_exception_if_processing_interrupted
    except ImportError:  # not inside ComfyUI
        return lambda: None
    return throw_exception_if_processing_interrupted


def _progress_bar() -> Progress:
    """ComfyUI's progress bar on the running node, fed with bytes once their total is known."""
    try:
        from comfy.utils import ProgressBar
    except ImportError:
        return lambda done, total: None
    bars: list = []

    def update(done: int, total: int | None) -> None:
        if not total:
            return
        if not bars:
            bars.append(ProgressBar(total))
        bars[0].update_absolute(done, total)

    return update


def run_model(model: str, preset: str | None = None) -> tuple[str, str]:
    """(file name for the loaders, absolute path), downloading the file first when missing."""
    from ..launchpad.provision import split_key

    _, name = split_key(model)
    path = _provisioner().ensure_file(model, _preset(preset), progress=_progress_bar(), check=_interrupt_check())
    return name, str(path)


def run_preset(preset: str) -> str:
    """A line about the installed preset, after installing whatever of it was missing."""
    from ..launchpad import humanize

    preset_id = _preset(preset)
    if preset_id is None:
        raise InvalidInput("choose the preset to ensure")
    note = comfyui_note(preset_id)
    try:
        paths = _provisioner().ensure_preset(preset_id, progress=_progress_bar(), check=_interrupt_check())
    except LaunchpadError as exc:
        if note:
            exc.message = f"{exc.message} (note: {note})"
            exc.args = (exc.message,)
        raise
    size = sum(p.stat().st_size for p in paths)
    line = f"{preset_id}: {len(paths)} file{'s' if len(paths) != 1 else ''} ready ({humanize.size(size)})"
    if note:
        log.warning("Launchpad Ensure Preset: %s %s", preset_id, note)
        line += f"; {note}"
    return line


def comfyui_note(preset: str) -> str | None:
    """What the preset's row says about the ComfyUI it needs, when this ComfyUI is older."""
    from ..launchpad.catalog.rows import comfyui_note as note
    from ..launchpad.catalog.rows import comfyui_ok

    service = _service()
    if service is None or preset not in service.catalogs.current():
        return None
    found = service.catalogs.current().get(preset)
    running = service.comfyui_version()
    return note(found, running) if comfyui_ok(found.min_comfyui, running) is False else None
