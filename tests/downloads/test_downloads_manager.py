"""The download manager end to end against the fake Hub: jobs, events, snapshot, cancel, retry."""

from __future__ import annotations

import hashlib

import pytest
from downloads_helpers import eventually, preset

from fakehub import random_bytes
from lp.launchpad.errors import Conflict, InvalidInput, NotFound


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
    snapshot = (await h.manager.snapshot())
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


async def test_a_presets_eta_is_never_shorter_than_a_running_files(downloads, fakehub):
    # a fast big file and a slow small one: all bytes left over the total speed would promise the
    # preset sooner than its slow file can finish ("9s left" beside a file's "19s left")
    fakehub.add_hf_file("acme/model", "weights/fast.safetensors", random_bytes(3_000_000))
    fakehub.add_hf_file("acme/model", "weights/slow.safetensors", random_bytes(600_000))
    fakehub.behave("acme/model/weights/fast.safetensors", rate=3_000_000)
    fakehub.behave("acme/model/weights/slow.safetensors", rate=200_000)
    h = await downloads([preset("P", hf_file("fast.safetensors"), hf_file("slow.safetensors"))])
    await h.manager.install(["P"])
    await h.manager.wait()

    latest: dict[str, dict] = {}  # job id -> its last event so far
    compared = shorter_without_the_rule = 0
    for kind, data in h.events:
        if kind == "launchpad.download":
            latest[data["id"]] = data
            continue
        if kind != "launchpad.preset" or data["eta"] is None:
            continue
        running = [j["eta"] for j in latest.values() if j["state"] == "downloading" and j["eta"] is not None]
        if not running:
            continue
        compared += 1
        assert data["eta"] >= max(running), (data, running)
        left = data["bytes_total"] - data["bytes_done"]
        shorter_without_the_rule += left / data["speed"] < max(running)
    assert compared >= 3 and shorter_without_the_rule >= 1, (compared, shorter_without_the_rule)


async def test_unknown_preset_queues_nothing(downloads, fakehub):
    fakehub.add_hf_file("acme/model", "weights/a.safetensors", b"a" * 10)
    h = await downloads([preset("P", hf_file("a.safetensors"))])
    with pytest.raises(NotFound):
        await h.manager.install(["P", "NOPE"])
    assert (await h.manager.snapshot())["jobs"] == []


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
    assert (await h.manager.snapshot())["presets"]["P"]["state"] == "cancelled"
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
    assert (await h.manager.snapshot())["jobs"][0]["attempts"] == 2


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
    jobs = {j["key"]: j for j in (await h.manager.snapshot())["jobs"]}
    assert jobs["checkpoints/shared.safetensors"]["preset_ids"] == ["B"]
    assert jobs["checkpoints/shared.safetensors"]["state"] != "cancelled"


# --- files outside presets (a workflow's models, a node's file) ------------------------------------


def model_file(name: str, **extra: object):
    from lp.launchpad.catalog.schema import parse_file

    return parse_file(hf_file(name, **extra), "files[0]")


async def test_install_files_takes_the_preset_path_under_a_group_label(downloads, fakehub):
    data, slow = random_bytes(2_000_000), random_bytes(2_000_000)
    fakehub.add_hf_file("acme/model", "weights/wf.safetensors", data)
    fakehub.add_hf_file("acme/model", "weights/later.safetensors", slow)
    fakehub.behave("acme/model/weights/wf.safetensors", rate=2_000_000)
    h = await downloads([])
    present = h.path("vae/here.safetensors")
    present.parent.mkdir(parents=True, exist_ok=True)
    present.write_bytes(b"v" * 10)

    result = await h.manager.install_files(
        [model_file("wf.safetensors"), model_file("here.safetensors", folder="vae"), model_file("wf.safetensors")],
        "workflow:my_flow",
    )
    assert [j["key"] for j in result["jobs"]] == ["checkpoints/wf.safetensors"]
    assert result["jobs"][0]["preset_ids"] == ["workflow:my_flow"]
    assert result["skipped"] == ["vae/here.safetensors"]
    # a second request of the same group while the first still downloads: both count in its progress
    second = await h.manager.install_files([model_file("later.safetensors")], "workflow:my_flow")
    assert [j["key"] for j in second["jobs"]] == ["checkpoints/later.safetensors"]
    assert (await h.manager.snapshot())["presets"]["workflow:my_flow"]["files_total"] == 2

    await h.manager.wait()
    assert h.path("checkpoints/wf.safetensors").read_bytes() == data
    assert h.path("checkpoints/later.safetensors").read_bytes() == slow
    seen = [d["state"] for d in h.events_of("launchpad.download", key="checkpoints/wf.safetensors")]
    assert seen[0] == "queued" and "downloading" in seen and seen[-1] == "done"
    final = h.events_of("launchpad.preset", preset_id="workflow:my_flow")[-1]
    assert final["state"] == "done" and final["files_done"] == final["files_total"] == 2
    assert final["bytes_done"] == final["bytes_total"] == len(data) + len(slow)


async def test_install_files_joins_a_running_preset_job_and_checks_its_label(downloads, fakehub):
    data = random_bytes(2_000_000)
    fakehub.add_hf_file("acme/model", "weights/shared.safetensors", data)
    fakehub.behave("acme/model/weights/shared.safetensors", rate=2_000_000)
    h = await downloads([preset("P", hf_file("shared.safetensors"))])
    first = await h.manager.install(["P"])

    joined = await h.manager.install_files([model_file("shared.safetensors")], "node:launchpad-model")

    assert joined["jobs"][0]["id"] == first["jobs"][0]["id"]
    assert joined["jobs"][0]["preset_ids"] == ["P", "node:launchpad-model"]
    for bad in ("P", "workflow:", "workflow:a/b", "Workflow:x"):
        with pytest.raises(InvalidInput):
            await h.manager.install_files([model_file("shared.safetensors")], bad)
    with pytest.raises(InvalidInput):
        await h.manager.install_files([], "workflow:x")
    await h.manager.wait()
    assert len(fakehub.requests_for("acme/model/weights/shared.safetensors")) <= 2  # one download for both
    assert h.events_of("launchpad.preset", preset_id="node:launchpad-model")[-1]["state"] == "done"


async def test_sizes_ask_each_source_once_and_never_fail(downloads, fakehub):
    fakehub.add_hf_file("acme/model", "weights/big.safetensors", random_bytes(1_234_567))
    h = await downloads([])
    files = [model_file("big.safetensors"), model_file("gone.safetensors"), model_file("known.safetensors", size=42)]

    sizes = await h.manager.sizes(files)

    assert sizes == {"checkpoints/big.safetensors": 1_234_567, "checkpoints/gone.safetensors": None,
                     "checkpoints/known.safetensors": 42}
    asked = len(fakehub.requests_for("acme/model/weights/big.safetensors", method=None))
    assert asked >= 1
    assert await h.manager.sizes(files) == sizes  # remembered: the sources are not asked again
    assert len(fakehub.requests_for("acme/model/weights/big.safetensors", method=None)) == asked
    assert (await h.manager.snapshot())["jobs"] == []  # sizing downloads nothing
