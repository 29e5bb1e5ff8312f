"""Shared-volume behaviour: locks between processes, the journal, uninstall, progress events."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from downloads_helpers import make_harness, preset, settings_for

from fakehub import random_bytes
from lp.launchpad.downloads.locks import VolumeLock, owner_id
from lp.launchpad.errors import Conflict


def url_file(url: str, name: str, folder: str = "checkpoints") -> dict:
    return {"folder": folder, "name": name, "url": url}


def write_lock(lock: VolumeLock, *, host: str, pid: int, age: float) -> None:
    lock.path.parent.mkdir(parents=True, exist_ok=True)
    lock.path.write_text(json.dumps({"owner": f"{host}:{pid}:x", "host": host, "pid": pid, "key": lock.key}))
    stamp = time.time() - age
    os.utime(lock.path, (stamp, stamp))


async def test_two_managers_on_one_volume_download_each_file_once(fakehub, workspace_dir):
    files = {f"m{i}.bin": random_bytes(1_000_000) for i in range(3)}
    entries = []
    for name, data in files.items():
        entries.append(url_file(fakehub.add_file(name, data), name))
        fakehub.behave(name, rate=2_000_000)
    presets = [preset("P", *entries)]
    one = make_harness(settings_for(workspace_dir, fakehub.url), presets)
    two = make_harness(settings_for(workspace_dir, fakehub.url), presets)
    await one.manager.start()
    await two.manager.start()
    try:
        await one.manager.install(["P"])
        await two.manager.install(["P"])
        await one.manager.wait()
        await two.manager.wait()
        for name, data in files.items():
            assert one.path(f"checkpoints/{name}").read_bytes() == data
            assert fakehub.bytes_sent(name) <= len(data) + 2  # one body, probes aside
        jobs = [*(await one.manager.snapshot())["jobs"], *(await two.manager.snapshot())["jobs"]]
        assert all(j["state"] == "done" for j in jobs)
        assert any(j["message"] == "downloaded by another process" for j in jobs)
        assert not list((workspace_dir / ".launchpad" / "locks").glob("*.lock"))
    finally:
        await one.manager.close()
        await two.manager.close()


async def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over_at_once(downloads, fakehub, workspace_dir):
    url = fakehub.add_file("m.bin", b"x" * 1000)
    h = await downloads([preset("P", url_file(url, "m.bin"))], lock_ttl=3600)
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(exited.stdout)
    write_lock(VolumeLock(workspace_dir / ".launchpad" / "locks", h.path("checkpoints/m.bin"), "checkpoints/m.bin",
                          "me", 3600), host=socket.gethostname(), pid=dead, age=0)

    await h.manager.install(["P"])
    await h.manager.wait()

    assert (await h.manager.snapshot())["jobs"][0]["state"] == "done"


async def test_a_live_lock_of_another_pod_makes_the_job_wait_until_its_heartbeat_stops(downloads, fakehub,
                                                                                       workspace_dir):
    url = fakehub.add_file("m.bin", b"x" * 1000)
    h = await downloads([preset("P", url_file(url, "m.bin"))], lock_ttl=1.0)
    lock = VolumeLock(workspace_dir / ".launchpad" / "locks", h.path("checkpoints/m.bin"), "checkpoints/m.bin",
                      "me", 1.0)
    write_lock(lock, host="other-pod", pid=4242, age=0)

    await h.manager.install(["P"])
    await h.manager.wait()

    waiting = [e for e in h.events_of("launchpad.download") if (e["message"] or "").startswith("waiting")]
    assert waiting and "other-pod" in waiting[0]["message"]
    assert (await h.manager.snapshot())["jobs"][0]["state"] == "done"
    assert fakehub.bytes_sent("m.bin") >= 1000


def test_volume_lock_basics(tmp_path):
    target = tmp_path / "models" / "a.bin"
    mine = VolumeLock(tmp_path / "locks", target, "checkpoints/a.bin", owner_id(), ttl=60)
    theirs = VolumeLock(tmp_path / "locks", target, "checkpoints/a.bin", owner_id(), ttl=60)
    assert mine.try_acquire() is None and mine.held
    holder = theirs.try_acquire()
    assert holder is not None and holder.pid == os.getpid() and "this machine" in holder.describe()
    before = mine.path.stat().st_mtime
    os.utime(mine.path, (before - 30, before - 30))
    mine.touch()
    assert mine.path.stat().st_mtime > before - 30
    mine.release()
    assert not mine.path.exists()
    assert theirs.try_acquire() is None


# --- journal -------------------------------------------------------------------------------


async def test_the_journal_survives_restarts_and_merges_processes(fakehub, workspace_dir):
    a_url, b_url = fakehub.add_file("a.bin", b"a" * 100), fakehub.add_file("b.bin", b"b" * 100)
    presets = [preset("A", url_file(a_url, "a.bin")), preset("B", url_file(b_url, "b.bin"))]
    one = make_harness(settings_for(workspace_dir, fakehub.url), presets)
    two = make_harness(settings_for(workspace_dir, fakehub.url), presets)
    await one.manager.start()
    await two.manager.start()
    await one.manager.install(["A"])
    await two.manager.install(["B"])
    await one.manager.wait()
    await two.manager.wait()
    await one.manager.close()
    await two.manager.close()

    journal = json.loads((workspace_dir / ".launchpad" / "downloads.json").read_text())
    assert set(journal["jobs"]) == {"checkpoints/a.bin", "checkpoints/b.bin"}
    assert set(journal["presets"]) == {"A", "B"}

    third = make_harness(settings_for(workspace_dir, fakehub.url), presets)
    await third.manager.start()
    try:
        snapshot = (await third.manager.snapshot())
        assert {j["key"]: j["state"] for j in snapshot["jobs"]} == {
            "checkpoints/a.bin": "done", "checkpoints/b.bin": "done"
        }
        assert snapshot["presets"]["A"]["state"] == "done"
    finally:
        await third.manager.close()


# --- uninstall ---------------------------------------------------------------------------------


async def test_uninstall_keeps_files_another_installed_preset_uses(downloads, fakehub):
    shared, own = fakehub.add_file("shared.bin", b"s" * 100), fakehub.add_file("own.bin", b"o" * 100)
    other = fakehub.add_file("other.bin", b"t" * 100)
    h = await downloads([
        preset("A", url_file(shared, "shared.bin"), url_file(own, "own.bin")),
        preset("B", url_file(shared, "shared.bin"), url_file(other, "other.bin")),
    ])
    await h.manager.install(["A", "B"])
    await h.manager.wait()

    result = await h.manager.uninstall("A")

    assert result["deleted"] == [str(h.path("checkpoints/own.bin"))]
    assert result["kept"] == [{"key": "checkpoints/shared.bin", "used_by": ["B"]}]
    assert h.path("checkpoints/shared.bin").exists() and not h.path("checkpoints/own.bin").exists()
    assert "A" not in (await h.manager.snapshot())["presets"]
    assert h.events_of("launchpad.preset", preset_id="A")[-1]["state"] == "removed"

    # B is no longer fully installed once other.bin goes: then nothing protects shared.bin from B's uninstall
    h.path("checkpoints/other.bin").unlink()
    result = await h.manager.uninstall("B")
    assert result["deleted"] == [str(h.path("checkpoints/shared.bin"))]


async def test_uninstall_is_refused_while_the_preset_downloads(downloads, fakehub):
    url = fakehub.add_file("slow.bin", random_bytes(2_000_000))
    fakehub.behave("slow.bin", rate=500_000)
    h = await downloads([preset("P", url_file(url, "slow.bin"))])
    await h.manager.install(["P"])
    with pytest.raises(Conflict):
        await h.manager.uninstall("P")
    await h.manager.cancel_preset("P")
    assert (await h.manager.uninstall("P")) == {"deleted": [], "kept": []}


# --- progress events ------------------------------------------------------------------------------


async def test_progress_events_are_throttled_and_carry_speed_and_eta(downloads, fakehub):
    data = random_bytes(3_000_000)
    url = fakehub.add_file("m.bin", data)
    fakehub.behave("m.bin", rate=2_000_000)
    h = await downloads([preset("P", url_file(url, "m.bin"))])
    started = time.monotonic()
    await h.manager.install(["P"])
    await h.manager.wait()
    elapsed = time.monotonic() - started

    events = h.events_of("launchpad.download")
    downloading = [e for e in events if e["state"] == "downloading"]
    assert len(events) <= 4 * elapsed + 8  # about 4 a second, plus the state changes
    assert any(e["speed"] and e["eta"] is not None and 0 < e["bytes_done"] < len(data) for e in downloading)
    assert events[-1]["state"] == "done" and events[-1]["bytes_done"] == len(data)
    presets = h.events_of("launchpad.preset", preset_id="P")
    assert any(p["state"] == "downloading" and p["speed"] for p in presets)
    assert presets[-1] == {**presets[-1], "state": "done", "files_done": 1, "bytes_done": len(data)}


async def test_uninstall_is_refused_while_another_process_downloads_a_file(downloads, fakehub, workspace_dir):
    url = fakehub.add_file("m.bin", b"x" * 10)
    h = await downloads([preset("P", url_file(url, "m.bin"))], lock_ttl=60)
    lock = VolumeLock(workspace_dir / ".launchpad" / "locks", h.path("checkpoints/m.bin"), "checkpoints/m.bin",
                      "me", 60)
    write_lock(lock, host="other-pod", pid=1, age=0)
    with pytest.raises(Conflict, match="other-pod"):
        await h.manager.uninstall("P")


async def test_uninstall_forgets_only_the_jobs_no_other_preset_shares(downloads, fakehub, workspace_dir):
    """A job that installed a file for two presets stays listed when one of them is uninstalled: the
    other preset's file and progress still come from it, also after a restart (the journal)."""
    shared, own = fakehub.add_file("shared.bin", b"s" * 100), fakehub.add_file("own.bin", b"o" * 100)
    other = fakehub.add_file("other.bin", b"t" * 100)
    h = await downloads([
        preset("A", url_file(shared, "shared.bin"), url_file(own, "own.bin")),
        preset("B", url_file(shared, "shared.bin"), url_file(other, "other.bin")),
    ])
    await h.manager.install(["A", "B"])
    await h.manager.wait()

    await h.manager.uninstall("A")

    snapshot = await h.manager.snapshot()
    jobs = {job["name"]: job for job in snapshot["jobs"]}
    assert set(jobs) == {"shared.bin", "other.bin"}  # A's own job is gone, the shared one stays
    assert jobs["shared.bin"]["state"] == "done" and "B" in jobs["shared.bin"]["preset_ids"]
    assert snapshot["presets"]["B"]["bytes_done"] == snapshot["presets"]["B"]["bytes_total"] == 200
    await h.manager.close()

    again = await downloads([preset("B", url_file(shared, "shared.bin"), url_file(other, "other.bin"))])
    assert {job["name"] for job in (await again.manager.snapshot())["jobs"]} == {"shared.bin", "other.bin"}
