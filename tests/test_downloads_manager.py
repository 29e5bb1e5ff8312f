"""The download manager end to end against the fake Hub: jobs, events, snapshot, cancel, retry."""

from __future__ import annotations

import hashlib

import pytest
from downloads_helpers import eventually, preset

from fakehub import random_bytes
from lp.launchpad.errors import Conflict, NotFound


def hf_file(name: str, repo: str = "acme/model", folder: str = "checkpoints", **extra: object) -> dict:
    return {"folder": folder, "name": name, "hf": repo, "path": f"weights/{name}", **extra}


async def test_install_from_the_hub_publishes_verified_files_with_events(downloads, fakehub):
    first, second = random_bytes(3_000_000), random_bytes(1_500_000)
    sha_first = fakehub.add_hf_file("acme/model", "weights/a.safetensors", first)
    fakehub.add_hf_file("acme/model", "weights/b.safetensors", second, lfs=False)
    h = await downloads([preset("P", hf_file("a.safetensors"), hf_file("b.safetensors", folder="vae"))])

    result = await h.manager.install(["P"])

    assert [j["key"] for j in result["jobs"]] == ["checkpoints/a.safetensors", "vae/b.safetensors"]
    assert result["skipped"] == []
    await h.manager.wait()
    assert h.path("checkpoints/a.safetensors").read_bytes() == first
    assert h.path("vae/b.safetensors").read_bytes() == second
    assert not list(h.workspace.models.rglob("*.part*"))
    snapshot = h.manager.snapshot()
    states = {j["key"]: j for j in snapshot["jobs"]}
    job = states["checkpoints/a.safetensors"]
    assert job["state"] == "done" and job["bytes_done"] == job["bytes_total"] == len(first)
    assert job["source"]["kind"] == "hf" and job["path"] == str(h.path("checkpoints/a.safetensors"))
    assert set(job) >= {"id", "key", "folder", "name", "preset_ids", "source", "state", "bytes_done", "bytes_total",
                        "speed", "eta", "error", "path", "attempts", "created_at", "updated_at"}
    aggregate = snapshot["presets"]["P"]
    assert aggregate == {**aggregate, "state": "done", "files_total": 2, "files_done": 2, "files_failed": 0,
                         "bytes_done": len(first) + len(second), "bytes_total": len(first) + len(second)}
    # every state a job went through was published, the final one last
    seen = [d["state"] for d in h.events_of("launchpad.download", key="checkpoints/a.safetensors")]
    assert seen[0] == "queued" and seen[-1] == "done"
    assert {"resolving", "downloading", "verifying"} <= set(seen)
    assert h.events_of("launchpad.preset", preset_id="P")[-1]["state"] == "done"
    assert hashlib.sha256(h.path("checkpoints/a.safetensors").read_bytes()).hexdigest() == sha_first


async def test_present_files_are_skipped_and_a_shared_file_joins_the_running_job(downloads, fakehub):
    data = random_bytes(2_000_000)
    fakehub.add_hf_file("acme/model", "weights/shared.safetensors", data)
    fakehub.add_hf_file("acme/model", "weights/own.safetensors", b"x" * 1000)
    fakehub.behave("acme/model/weights/shared.safetensors", rate=2_000_000)
    shared = hf_file("shared.safetensors", size=len(data))
    h = await downloads([preset("A", shared), preset("B", shared, hf_file("own.safetensors"))])

    first = await h.manager.install(["A"])
    second = await h.manager.install(["B"])

    assert first["jobs"][0]["id"] == second["jobs"][0]["id"]
    assert second["jobs"][0]["preset_ids"] == ["A", "B"]
    await h.manager.wait()
    assert len(fakehub.requests_for("acme/model/weights/shared.safetensors")) <= 2  # probe + one body
    again = await h.manager.install(["A", "B"])
    assert again == {"jobs": [], "skipped": ["checkpoints/shared.safetensors", "checkpoints/own.safetensors"]}


async def test_unknown_preset_queues_nothing(downloads, fakehub):
    fakehub.add_hf_file("acme/model", "weights/a.safetensors", b"a" * 10)
    h = await downloads([preset("P", hf_file("a.safetensors"))])
    with pytest.raises(NotFound):
        await h.manager.install(["P", "NOPE"])
    assert h.manager.snapshot()["jobs"] == []


async def test_cancel_deletes_the_partial_and_retry_downloads_again(downloads, fakehub):
    data = random_bytes(4_000_000)
    fakehub.add_hf_file("acme/model", "weights/slow.safetensors", data)
    fakehub.behave("acme/model/weights/slow.safetensors", rate=1_000_000)
    h = await downloads([preset("P", hf_file("slow.safetensors"))])
    job_id = (await h.manager.install(["P"]))["jobs"][0]["id"]
    partial = h.path("checkpoints/slow.safetensors").with_name("slow.safetensors.part")
    await eventually(lambda: h.events_of("launchpad.download", id=job_id, state="downloading") and partial.exists(),
                     "the download to start")

    cancelled = await h.manager.cancel(job_id)

    assert cancelled["state"] == "cancelled"
    assert not partial.exists() and not partial.with_name(partial.name + ".json").exists()
    assert h.manager.snapshot()["presets"]["P"]["state"] == "cancelled"
    with pytest.raises(Conflict):
        await h.manager.cancel(job_id)
    with pytest.raises(NotFound):
        await h.manager.retry("no-such-job")

    fakehub.behave("acme/model/weights/slow.safetensors")
    retried = await h.manager.retry(job_id)
    assert retried["state"] == "queued"
    with pytest.raises(Conflict):
        await h.manager.retry(job_id)
    await h.manager.wait([job_id])
    assert h.path("checkpoints/slow.safetensors").read_bytes() == data
    assert h.manager.snapshot()["jobs"][0]["attempts"] == 2


async def test_cancel_preset_leaves_files_another_preset_still_wants(downloads, fakehub):
    shared, own = random_bytes(3_000_000), random_bytes(3_000_000)
    fakehub.add_hf_file("acme/model", "weights/shared.safetensors", shared)
    fakehub.add_hf_file("acme/model", "weights/own.safetensors", own)
    for name in ("shared", "own"):
        fakehub.behave(f"acme/model/weights/{name}.safetensors", rate=500_000)
    h = await downloads([
        preset("A", hf_file("shared.safetensors"), hf_file("own.safetensors")),
        preset("B", hf_file("shared.safetensors")),
    ])
    await h.manager.install(["A", "B"])

    cancelled = await h.manager.cancel_preset("A")

    assert [j["key"] for j in cancelled] == ["checkpoints/own.safetensors"]
    jobs = {j["key"]: j for j in h.manager.snapshot()["jobs"]}
    assert jobs["checkpoints/shared.safetensors"]["preset_ids"] == ["B"]
    assert jobs["checkpoints/shared.safetensors"]["state"] != "cancelled"
