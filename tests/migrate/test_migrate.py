"""`launchpad migrate` on volumes laid out like the rsync images, RunPod's template and ai-dock.

Real trees of small files (tests/support/migrate_volumes.py), the real CLI (in process, and as a
subprocess that a test kills with SIGKILL halfway), real renames. What a person sees is what
is checked: the plan, where each file ends up, its inode (a move never copies), and the trees
after an undo.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from migrate_volumes import age, aidock_volume, rsync_volume, runpod_volume, snapshot, write

from conftest import cli_argv
from lp.launchpad import model_paths
from lp.launchpad.cli.main import main
from lp.launchpad.downloads.locks import VolumeLock
from lp.launchpad.model_roots import ModelRoots
from lp.launchpad.workspace import Workspace

OWN = ("config", ".launchpad")  # the workspace's bookkeeping: journals, the adopted record


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def migrate_json(capsys: pytest.CaptureFixture[str], ws: Path, *args: str) -> dict:
    code, out, err = run(capsys, "migrate", "--workspace", str(ws), "--json", *args)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def ws(workspace_dir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A workspace laid out by `launchpad paths`, as the image's first start leaves it."""
    assert run(capsys, "paths", "--workspace", str(workspace_dir), "--custom-nodes")[0] == 0
    return workspace_dir


VOLUMES = {"rsync": rsync_volume, "runpod-slim": runpod_volume, "ai-dock": aidock_volume}


# --- finding the layouts --------------------------------------------------------------------------


def test_each_known_layout_is_found_by_itself(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rsync_volume(ws)
    runpod_volume(ws)
    aidock_volume(ws)  # its ComfyUI is /workspace/ComfyUI too: the rsync tree above stands for it
    other = ws / "old-comfy" / "ComfyUI"
    write(other / "main.py", "")
    (other / "comfy").mkdir()
    write(ws / "old-comfy" / "models" / "loras" / "beside.safetensors", "a models/ beside an old ComfyUI")
    plan = migrate_json(capsys, ws)
    found = {s["layout"]: s for s in plan["sources"]}
    assert set(found) == {"rsync", "runpod-slim", "ai-dock", "comfyui"}
    assert found["rsync"]["root"] == str(ws / "ComfyUI")
    assert found["runpod-slim"]["root"] == str(ws / "runpod-slim" / "ComfyUI")
    assert found["ai-dock"]["models"] == str(ws / "storage" / "stable_diffusion" / "models")
    assert found["comfyui"]["models"] == str(ws / "old-comfy" / "models")


def test_the_plan_says_where_each_folder_goes_with_comfyuis_aliases(ws: Path, capsys) -> None:
    rsync_volume(ws)
    aidock_volume(ws)
    plan = migrate_json(capsys, ws)
    rows = {(row["name"], row["folder"]): row for s in plan["sources"] for row in s["folders"]}
    models = ws / "models"
    assert rows[("clip", "text_encoders")]["target"] == str(models / "text_encoders")
    assert rows[("unet", "diffusion_models")]["target"] == str(models / "diffusion_models")
    assert rows[("ckpt", "checkpoints")]["target"] == str(models / "checkpoints")  # ai-dock's own names
    assert rows[("esrgan", "upscale_models")]["target"] == str(models / "upscale_models")
    assert rows[("lora", "loras")]["files"] == 1 and rows[("lora", "loras")]["bytes"] == len("lora of ai-dock")
    assert rows[("reactor", None)]["target"] is None  # no ComfyUI folder of that name: left alone
    code, out, _ = run(capsys, "migrate", "--workspace", str(ws))
    assert code == 0
    assert "clip " in out and "-> models/text_encoders (text_encoders)" in out
    assert "reactor" in out and "left where it is" in out
    assert "ComfyUI-Manager" in out and "not carried" in out and "user/__manager" in out
    assert "ComfyUI-KJNodes" in out and "2 requirements" in out
    assert "Nothing was changed" in out


def test_without_an_old_layout_it_says_where_it_looked(ws: Path, capsys) -> None:
    code, _, err = run(capsys, "migrate", "--workspace", str(ws))
    assert code == 5
    assert "no old layout found" in err and "runpod-slim/ComfyUI" in err and "launchpad migrate /path" in err


def test_an_explicit_source_is_checked_and_used(ws: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "migrate", "--workspace", str(ws), str(tmp_path / "nowhere"))
    assert code == 2 and "is not a directory" in err
    code, _, err = run(capsys, "migrate", "--workspace", str(ws), str(ws / "models"))
    assert code == 2 and "already where Launchpad looks" in err
    old = tmp_path / "elsewhere" / "my-comfy"
    write(old / "models" / "vae" / "mine.safetensors", "a vae")
    plan = migrate_json(capsys, ws, str(old))
    (source,) = plan["sources"]
    assert source["root"] == str(old) and source["layout"] == "directory"
    assert plan["summary"]["move_files"] == 1


# --- dry run, move, undo ----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(VOLUMES))
def test_dry_run_changes_nothing_and_the_move_does_what_it_said(layout: str, ws: Path, capsys) -> None:
    old = VOLUMES[layout](ws)
    age(ws)
    before = snapshot(ws)
    plan = migrate_json(capsys, ws)
    assert snapshot(ws) == before  # the dry run touched nothing

    moved = migrate_json(capsys, ws, "--move")
    planned = [item for s in plan["sources"] for item in s["items"] if item["action"] == "move"]
    assert moved["moved"] == planned and not moved["kept"]
    for item in planned:  # renamed, not copied: the same inode under the new name
        rel = Path(item["source"]).relative_to(ws).as_posix()
        assert snapshot(ws)[Path(item["target"]).relative_to(ws).as_posix()] == before[rel]
        assert not os.path.lexists(item["source"])

    models = ws / "models"
    if layout == "ai-dock":
        assert (models / "checkpoints" / "aidock_sd15.safetensors").read_text() == "ckpt of ai-dock"
        assert (models / "upscale_models" / "RealESRGAN_x4.pth").read_text() == "esrgan of ai-dock"
        assert (models / "text_encoders" / "aidock_t5xxl.safetensors").is_file()
        assert (old / "stable_diffusion" / "models" / "reactor" / "aidock_inswapper.onnx").is_file()
        assert (ws / "ComfyUI" / "models" / "checkpoints" / "aidock_sd15.safetensors").is_symlink()  # left alone
    else:
        tag = layout.split("-")[0]
        assert (models / "text_encoders" / f"{tag}_clip_l.safetensors").read_text() == f"clip of {tag}"
        assert (models / "diffusion_models" / f"{tag}_flux.safetensors").read_text() == f"unet of {tag}"
        assert (models / "loras" / "sdxl" / f"{tag}_style.safetensors").is_file()
        assert (ws / "custom_nodes" / "ComfyUI-KJNodes" / "requirements.txt").is_file()
        assert not (ws / "custom_nodes" / "ComfyUI-Manager").exists()  # the image provides the Manager
        assert (old / "custom_nodes" / "ComfyUI-Manager" / "__init__.py").is_file()
        manager = ws / "user" / "__manager"
        assert (manager / "config.ini").read_text() == "[default]\nsecurity_level = normal\n"
        assert (manager / "snapshots" / "2024-01-01.json").is_file()
        assert (ws / "user" / "default" / "workflows" / f"{tag} portrait.json").is_file()
        assert (ws / "input" / f"{tag}_in.png").is_file() and (ws / "output" / f"{tag}_00001_.png").is_file()
        assert (old / "models" / "reactor" / "inswapper_128.onnx").is_file()

    undone = migrate_json(capsys, ws, "--undo")
    assert len(undone["put_back"]) == len(planned) and not undone["kept"]
    assert snapshot(ws, skip=OWN) == {k: v for k, v in before.items() if not k.startswith(OWN)}


def test_a_clash_is_reported_and_both_files_survive(ws: Path, capsys) -> None:
    old = rsync_volume(ws)
    ours = ws / "models" / "checkpoints"
    write(ours / "rsync_ckpt.safetensors", "checkpoint of RSYNC")  # same size, other bytes: the hash tells
    write(old / "models" / "loras" / "same.safetensors", "identical")
    write(ws / "models" / "loras" / "same.safetensors", "identical")
    write(ws / "models" / "text_encoders" / "rsync_clip_l.safetensors", "a longer, different clip")
    age(ws)
    plan = migrate_json(capsys, ws)
    items = {Path(i["source"]).name: i for s in plan["sources"] for i in s["items"]}
    assert items["rsync_ckpt.safetensors"]["action"] == "clash"
    assert "sha256 differs" in items["rsync_ckpt.safetensors"]["reason"]
    assert items["rsync_clip_l.safetensors"]["action"] == "clash"
    assert "different file is already there" in items["rsync_clip_l.safetensors"]["reason"]
    assert items["same.safetensors"]["action"] == "same"
    code, out, _ = run(capsys, "migrate", "--workspace", str(ws))
    assert code == 0
    assert "ComfyUI/models/checkpoints/rsync_ckpt.safetensors: a different file of the same size" in out

    migrate_json(capsys, ws, "--move")
    assert (ours / "rsync_ckpt.safetensors").read_text() == "checkpoint of RSYNC"
    assert (old / "models" / "checkpoints" / "rsync_ckpt.safetensors").read_text() == "checkpoint of rsync"
    assert (ws / "models" / "text_encoders" / "rsync_clip_l.safetensors").read_text() == "a longer, different clip"
    assert (old / "models" / "clip" / "rsync_clip_l.safetensors").read_text() == "clip of rsync"
    assert (old / "models" / "loras" / "same.safetensors").is_file()


def test_a_node_of_the_same_name_is_never_merged(ws: Path, capsys) -> None:
    old = rsync_volume(ws)
    age(ws)
    write(ws / "custom_nodes" / "ComfyUI-KJNodes" / "__init__.py", "# the workspace's own copy\n")
    plan = migrate_json(capsys, ws)
    (node,) = [n for n in plan["sources"][0]["custom_nodes"] if n["name"] == "ComfyUI-KJNodes"]
    assert node["action"] == "clash" and node["requirements"] == ["numpy", "kornia>=0.7"]
    migrate_json(capsys, ws, "--move")
    assert not (ws / "custom_nodes" / "ComfyUI-KJNodes" / "requirements.txt").exists()
    assert (old / "custom_nodes" / "ComfyUI-KJNodes" / "requirements.txt").is_file()


def test_a_recently_changed_tree_needs_force(ws: Path, capsys) -> None:
    rsync_volume(ws)  # just written: as if an old pod were still running
    before = snapshot(ws, skip=OWN)
    code, _, err = run(capsys, "migrate", "--workspace", str(ws), "--move")
    assert code == 1
    assert "pods of the old template must be stopped first" in err
    assert "changed" in err and "s ago" in err and "--force" in err
    assert snapshot(ws, skip=OWN) == before
    assert migrate_json(capsys, ws, "--move", "--force")["moved"]


def test_a_live_download_lock_on_the_volume_refuses_the_move(ws: Path, capsys) -> None:
    rsync_volume(ws)
    age(ws)
    lock = VolumeLock(ws / ".launchpad" / "locks", ws / "models" / "vae" / "x.safetensors", "vae/x.safetensors",
                      owner="this test", ttl=60)
    assert lock.try_acquire() is None
    before = snapshot(ws, skip=OWN)
    code, _, err = run(capsys, "migrate", "--workspace", str(ws), "--move", "--force")
    assert code == 1 and "the download of vae/x.safetensors" in err and "nothing was moved" in err
    assert snapshot(ws, skip=OWN) == before
    lock.release()
    assert migrate_json(capsys, ws, "--move")["moved"]


def test_a_move_across_file_systems_is_refused_and_copies_nothing(ws: Path, capsys) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK) or shm.stat().st_dev == ws.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's temp directory")
    old = shm / f"launchpad-test-{os.getpid()}"
    try:
        write(old / "models" / "checkpoints" / "elsewhere.safetensors", "on another disk")
        age(old)
        code, _, err = run(capsys, "migrate", "--workspace", str(ws), "--move", str(old))
        assert code == 1 and "another file system" in err and "--adopt" in err
        assert (old / "models" / "checkpoints" / "elsewhere.safetensors").is_file()
        assert not (ws / "models" / "checkpoints" / "elsewhere.safetensors").exists()
    finally:
        subprocess.run(["rm", "-rf", str(old)], check=True)


# --- kill -9 in the middle of a move ------------------------------------------------------------------

MANY = 5_000  # renames enough that a kill lands while they run (it lands within a few dozen)


def kill_when(proc: subprocess.Popen, first_moved: Path) -> None:
    """SIGKILL ``proc`` as soon as ``first_moved`` has arrived: the renames after it are under way."""
    deadline = time.monotonic() + 60
    while not first_moved.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the move ended before the kill"


def test_a_move_killed_halfway_resumes_and_undoes_cleanly(ws: Path) -> None:
    old = rsync_volume(ws)
    loras = old / "models" / "loras"
    for i in range(MANY):  # a folder the workspace has too: renamed file by file
        (loras / f"l{i:05d}.safetensors").write_bytes(b"lora %d" % i)
    age(ws)
    before = snapshot(ws)
    names = {f"l{i:05d}.safetensors" for i in range(MANY)}

    proc = subprocess.Popen(cli_argv("migrate", "--workspace", str(ws), "--move"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(proc, ws / "models" / "loras" / "l00000.safetensors")

    new = {p.name for p in (ws / "models" / "loras").glob("l*.safetensors")}
    left = {p.name for p in loras.glob("l*.safetensors")}
    assert 0 < len(new) < MANY, "the kill should land in the middle of the renames"
    assert new | left == names and not new & left  # every file in exactly one place
    for name in list(new)[:50]:  # and whole
        assert (ws / "models" / "loras" / name).read_bytes() == b"lora %d" % int(name[1:6])

    rerun = subprocess.run(cli_argv("migrate", "--workspace", str(ws), "--move"), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "continued the interrupted migration" in rerun.stdout
    assert {p.name for p in (ws / "models" / "loras").glob("l*.safetensors")} == names
    after = snapshot(ws)
    for name in names:  # the same inodes: nothing was copied
        assert after[f"models/loras/{name}"] == before[f"ComfyUI/models/loras/{name}"]

    undo = subprocess.run(cli_argv("migrate", "--workspace", str(ws), "--undo"), capture_output=True, text=True)
    assert undo.returncode == 0, undo.stderr
    assert snapshot(ws, skip=OWN) == {k: v for k, v in before.items() if not k.startswith(OWN)}


def test_an_interrupted_move_can_be_undone_without_finishing_it(ws: Path) -> None:
    old = rsync_volume(ws)
    for i in range(MANY):
        (old / "output" / f"o{i:05d}.png").write_bytes(b"%d" % i)
    age(ws)
    before = snapshot(ws)
    proc = subprocess.Popen(cli_argv("migrate", "--workspace", str(ws), "--move"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(proc, ws / "output" / "o00000.png")
    assert 0 < len(list((ws / "output").glob("o*.png"))) < MANY

    undo = subprocess.run(cli_argv("migrate", "--workspace", str(ws), "--undo"), capture_output=True, text=True)
    assert undo.returncode == 0, undo.stderr
    assert snapshot(ws, skip=OWN) == {k: v for k, v in before.items() if not k.startswith(OWN)}


# --- adopt ------------------------------------------------------------------------------------------


def test_adopt_leaves_the_files_and_adds_their_folders_after_the_workspace(ws: Path, capsys) -> None:
    old = rsync_volume(ws)
    before = snapshot(ws, skip=OWN)
    done = migrate_json(capsys, ws, "--adopt")
    assert snapshot(ws, skip=OWN) == before  # not one file moved
    (adoption,) = done["adopted"]
    assert adoption["folders"] == {
        "checkpoints": [str(old / "models" / "checkpoints")],
        "text_encoders": [str(old / "models" / "clip")],
        "loras": [str(old / "models" / "loras")],
        "diffusion_models": [str(old / "models" / "unet")],
    }
    text = Workspace(ws).extra_model_paths.read_text()
    assert model_paths.problems(text) == []  # ComfyUI loads it
    sections = yaml.safe_load(text)
    assert list(sections) == [model_paths.SECTION, f"adopted_{adoption['id']}"]  # the workspace first
    assert sections[model_paths.SECTION]["is_default"] is True
    assert "is_default" not in sections[f"adopted_{adoption['id']}"]
    assert sections[model_paths.SECTION]["custom_nodes"] == str(ws / "custom_nodes")  # kept from `paths`

    roots = ModelRoots.for_workspace(Workspace(ws))
    assert roots.dirs("text_encoders")[-1] == old / "models" / "clip"
    assert roots.dirs("text_encoders")[0] == ws / "models" / "text_encoders"  # downloads still go here
    flux = old / "models" / "unet" / "rsync_flux.safetensors"
    assert roots.find("diffusion_models", "rsync_flux.safetensors") == flux

    code, out, _ = run(capsys, "doctor", "--workspace", str(ws))
    assert code == 0 and "model folders adopted from" in out

    assert migrate_json(capsys, ws, "--adopt")["already"]  # twice is once
    undone = migrate_json(capsys, ws, "--undo")
    assert undone["unadopted"] == [adoption["id"]]
    assert list(yaml.safe_load(Workspace(ws).extra_model_paths.read_text())) == [model_paths.SECTION]


def test_an_adoption_ends_by_removing_its_one_entry(ws: Path, capsys) -> None:
    rsync_volume(ws)
    migrate_json(capsys, ws, "--adopt")
    record = ws / "config" / "adopted_model_dirs.json"
    data = json.loads(record.read_text())
    data["adopted"] = []
    record.write_text(json.dumps(data))
    assert run(capsys, "paths", "--workspace", str(ws), "--custom-nodes")[0] == 0
    assert list(yaml.safe_load(Workspace(ws).extra_model_paths.read_text())) == [model_paths.SECTION]


def test_a_move_after_an_adoption_replaces_it_and_undo_brings_it_back(ws: Path, capsys) -> None:
    rsync_volume(ws)
    age(ws)
    (adoption,) = migrate_json(capsys, ws, "--adopt")["adopted"]
    age(ws)
    moved = migrate_json(capsys, ws, "--move")
    assert moved["unadopted"] == [adoption["id"]]
    assert list(yaml.safe_load(Workspace(ws).extra_model_paths.read_text())) == [model_paths.SECTION]
    undone = migrate_json(capsys, ws, "--undo")
    assert undone["readopted"] == [adoption["id"]]
    assert f"adopted_{adoption['id']}" in yaml.safe_load(Workspace(ws).extra_model_paths.read_text())
    assert migrate_json(capsys, ws, "--undo")["unadopted"] == [adoption["id"]]  # then the adoption itself
    code, _, err = run(capsys, "migrate", "--workspace", str(ws), "--undo")
    assert code == 5 and "undone already" in err


# --- doctor and the API -------------------------------------------------------------------------------


def test_doctor_names_the_old_layout_and_the_command(ws: Path, capsys) -> None:
    code, out, _ = run(capsys, "doctor", "--workspace", str(ws))
    assert "no old layout waiting" in out
    runpod_volume(ws)
    code, out, _ = run(capsys, "doctor", "--workspace", str(ws))
    assert code == 0  # a warning: the volume is usable as it is
    assert "[warn] old_layout: found RunPod's ComfyUI template" in out
    assert f"launchpad migrate {ws / 'runpod-slim' / 'ComfyUI'}" in out


async def test_the_api_lists_the_old_trees_and_the_adopted_folders(ws: Path, capsys, aiohttp_client) -> None:
    from apiclient import Api

    from lp.launchpad.config import Settings
    from lp.launchpad.service import LaunchpadService
    from lp.server_routes.standalone import create_app

    old = rsync_volume(ws)
    migrate_json(capsys, ws, "--adopt")
    runpod_volume(ws)
    api = Api(await aiohttp_client(create_app(LaunchpadService(Settings.from_env({}, workspace=ws)))))
    status, body = await api.get("/launchpad/migrate")
    assert status == 200
    assert {(f["layout"], f["state"]) for f in body["found"]} == {("rsync", "adopted"), ("runpod-slim", "not migrated")}
    (adoption,) = body["adopted"]
    assert adoption["source"] == str(old) and adoption["move"] == f"launchpad migrate --move {old}"
    # what the Models view shows of them: a sentence and the command to copy, for each
    assert [note["command"] for note in body["notes"]] == [
        f"launchpad migrate --move {old}", f"launchpad migrate {ws / 'runpod-slim' / 'ComfyUI'}"]
    assert body["notes"][0]["text"].startswith(f"Adopted from {old}: ")
    assert body["notes"][1]["text"].startswith("Found ") and "it changes nothing" in body["notes"][1]["text"]
    status, models = await api.get("/launchpad/models?folder=diffusion_models")
    assert [m["path"] for m in models["models"]] == [str(old / "models" / "unet" / "rsync_flux.safetensors")]
