"""The downloader against a misbehaving server: drops, stalls, 5xx, 429, no Range, wrong length,
bad hashes, error statuses, web pages instead of files, size limits, restarts."""

from __future__ import annotations

import hashlib
import json

import pytest
from downloads_helpers import eventually, make_harness, preset, settings_for

from fakehub import random_bytes

SEGMENTED = {"segments": 4, "segment_size": 256 * 1024, "min_segmented_size": 512 * 1024}


def url_file(url: str, name: str = "model.bin", **extra: object) -> dict:
    return {"folder": "checkpoints", "name": name, "url": url, **extra}


async def job_of(h, key: str = "checkpoints/model.bin") -> dict:
    return next(j for j in (await h.manager.snapshot())["jobs"] if j["key"] == key)


async def install_and_wait(h, *ids: str) -> None:
    await h.manager.install(list(ids) or ["P"])
    await h.manager.wait()


@pytest.mark.parametrize("layout", [{}, SEGMENTED], ids=["one-stream", "segmented"])
async def test_a_dropped_connection_resumes_where_it_stopped(downloads, fakehub, layout):
    data = random_bytes(3_000_000)
    url = fakehub.add_file("model.bin", data)
    fakehub.behave("model.bin", drop_after=200_000, drop_times=2)
    h = await downloads([preset("P", url_file(url, sha256=hashlib.sha256(data).hexdigest()))], **layout)

    await install_and_wait(h)

    assert (await job_of(h))["state"] == "done"
    assert h.path("checkpoints/model.bin").read_bytes() == data
    # nothing was fetched twice: the retries asked for the bytes after the drop, not the file again
    assert fakehub.bytes_sent("model.bin") == len(data) + 1  # + the one-byte probe
    resumed = [r.range for r in fakehub.requests_for("model.bin")[1:] if r.range and not r.range.startswith("bytes=0-")]
    assert resumed, "no request continued from the middle of the file"


async def test_a_stalled_connection_is_detected_and_retried(downloads, fakehub):
    data = random_bytes(1_000_000)
    url = fakehub.add_file("model.bin", data)
    fakehub.behave("model.bin", stall_after=300_000, stall_seconds=30)
    h = await downloads([preset("P", url_file(url, size=len(data)))], stall_timeout=0.5)

    await install_and_wait(h)

    assert h.path("checkpoints/model.bin").read_bytes() == data
    stalled, retried = fakehub.requests_for("model.bin")[1:]
    assert retried.range == f"bytes={stalled.bytes_sent}-{len(data) - 1}"


async def test_server_errors_are_retried_then_succeed(downloads, fakehub):
    data = random_bytes(500_000)
    url = fakehub.add_file("model.bin", data)
    fakehub.behave("model.bin", fail_first=3, fail_status=503)
    h = await downloads([preset("P", url_file(url))])

    await install_and_wait(h)

    assert (await job_of(h))["state"] == "done"
    assert [r.status for r in fakehub.requests_for("model.bin")][:3] == [503, 503, 503]


async def test_server_errors_beyond_the_retries_fail_the_job(downloads, fakehub):
    url = fakehub.add_file("model.bin", b"x" * 1000)
    fakehub.behave("model.bin", fail_first=10, fail_status=500)
    h = await downloads([preset("P", url_file(url))], retries=2)

    await install_and_wait(h)

    job = (await job_of(h))
    assert job["state"] == "failed" and job["error"]["code"] == "download_failed"
    assert "500" in job["error"]["message"]
    assert len(fakehub.requests_for("model.bin")) == 3


async def test_rate_limited_waits_as_asked_then_succeeds(downloads, fakehub):
    url = fakehub.add_file("model.bin", b"y" * 10_000)
    fakehub.behave("model.bin", fail_first=1, fail_status=429, retry_after=0)
    h = await downloads([preset("P", url_file(url))])
    await install_and_wait(h)
    assert (await job_of(h))["state"] == "done"


async def test_rate_limited_beyond_the_retries_says_when_to_retry(downloads, fakehub):
    url = fakehub.add_file("model.bin", b"y" * 10_000)
    fakehub.behave("model.bin", fail_first=5, fail_status=429, retry_after=0)
    h = await downloads([preset("P", url_file(url))], retries=0)
    await install_and_wait(h)
    error = (await job_of(h))["error"]
    assert error["code"] == "rate_limited" and "retry" in error["message"]


@pytest.mark.parametrize(
    ("status", "code"), [(401, "unauthorized"), (403, "unauthorized"), (404, "source_not_found")]
)
async def test_client_errors_fail_at_once_without_retrying(downloads, fakehub, status, code):
    url = fakehub.add_file("model.bin", b"z" * 100)
    fakehub.behave("model.bin", status=status)
    h = await downloads([preset("P", url_file(url))])

    await install_and_wait(h)

    job = (await job_of(h))
    assert job["state"] == "failed" and job["error"]["code"] == code
    assert str(status) in job["error"]["message"]
    assert len(fakehub.requests_for("model.bin")) == 1


async def test_a_server_that_ignores_range_gets_one_stream_and_a_stale_partial_is_dropped(downloads, fakehub):
    data = random_bytes(2_000_000)
    url = fakehub.add_file("model.bin", data)
    fakehub.behave("model.bin", ignore_range=True)
    h = await downloads([preset("P", url_file(url, size=len(data)))], **SEGMENTED)
    partial = h.path("checkpoints/model.bin").with_name("model.bin.part")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"garbage" * 1000)  # no sidecar: cannot be trusted

    await install_and_wait(h)

    assert h.path("checkpoints/model.bin").read_bytes() == data
    assert not partial.exists()


async def test_a_range_server_answering_200_midway_restarts_the_file_cleanly(downloads, fakehub):
    data = random_bytes(2_000_000)
    url = fakehub.add_file("model.bin", data)
    fakehub.behave("model.bin", drop_after=500_000)
    h = await downloads([preset("P", url_file(url, sha256=hashlib.sha256(data).hexdigest()))])
    fakehub_blob = fakehub.blobs["model.bin"]

    await h.manager.install(["P"])
    # after the drop the server "forgets" Range support: the retry gets the whole file with 200
    await eventually(lambda: fakehub.requests_for("model.bin")[1:], "the first GET")
    fakehub_blob.behaviour.ignore_range = True
    await h.manager.wait()

    assert (await job_of(h))["state"] == "done"
    assert h.path("checkpoints/model.bin").read_bytes() == data


async def test_wrong_length_against_the_catalog_size_fails_and_removes_the_partial(downloads, fakehub):
    data = random_bytes(400_000)
    url = fakehub.add_file("model.bin", data)
    fakehub.behave("model.bin", serve_size=300_000)
    h = await downloads([preset("P", url_file(url, size=len(data)))])

    await install_and_wait(h)

    job = (await job_of(h))
    assert job["state"] == "failed" and job["error"]["code"] == "integrity"
    assert "400000" in job["error"]["message"] and "300000" in job["error"]["message"]
    assert not list(h.workspace.models.rglob("*model.bin*"))


async def test_hash_mismatch_of_a_download_from_zero_fails_without_fetching_it_again(downloads, fakehub):
    data = random_bytes(300_000)
    url = fakehub.add_file("model.bin", data)
    h = await downloads([preset("P", url_file(url, sha256="0" * 64))])

    await install_and_wait(h)

    job = (await job_of(h))
    assert job["state"] == "failed" and job["error"]["code"] == "integrity"
    assert "sha256" in job["error"]["message"] and "twice" not in job["error"]["message"]
    assert job["error"]["details"]["actual_sha256"] == hashlib.sha256(data).hexdigest()
    # the same bytes would fail the same way: one full download (and the probe), never two
    assert fakehub.bytes_sent("model.bin") == len(data) + 1
    assert not list(h.workspace.models.rglob("*model.bin*"))


async def test_hash_mismatch_after_a_resume_tries_once_more_from_zero(downloads, fakehub):
    from lp.launchpad.downloads import resume

    data = random_bytes(300_000)
    url = fakehub.add_file("model.bin", data)
    # a partial left by an earlier run of the same download, whose kept bytes are corrupt
    h = await downloads([preset("P", url_file(url, sha256=hashlib.sha256(data).hexdigest()))])
    target = h.workspace.models / "checkpoints" / "model.bin"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(b"\0" * 100_000)
    state = resume.ResumeState(identity=f"sha256:{hashlib.sha256(data).hexdigest()}", size=len(data))
    state.add(0, 100_000)
    resume.save(partial, state.to_json())

    await install_and_wait(h)

    job = await job_of(h)
    assert job["state"] == "done", job["error"]
    assert target.read_bytes() == data
    # the rest after the resume, then the whole file once from zero (and the probe)
    assert fakehub.bytes_sent("model.bin") == (len(data) - 100_000) + len(data) + 1


async def test_a_web_page_instead_of_the_file_is_an_error_not_a_model(downloads, fakehub):
    url = fakehub.add_file("model.bin", b"x" * 100)
    fakehub.behave("model.bin", html=True)
    h = await downloads([preset("P", url_file(url))])
    await install_and_wait(h)
    job = (await job_of(h))
    assert job["state"] == "failed" and "web page" in job["error"]["message"]
    assert not h.path("checkpoints/model.bin").exists()


async def test_max_download_size_is_enforced(downloads, fakehub):
    url = fakehub.add_file("model.bin", b"x" * 5000)
    h = await downloads([preset("P", url_file(url))], max_download_size=4000)
    await install_and_wait(h)
    job = (await job_of(h))
    assert job["error"]["code"] == "too_large" and "MAX_DOWNLOAD_SIZE" in job["error"]["message"]
    assert fakehub.bytes_sent("model.bin") <= 1


async def test_free_space_must_cover_every_queued_byte_plus_the_margin(downloads, fakehub, workspace_dir):
    import shutil

    url = fakehub.add_file("model.bin", b"x" * 5000)
    free = shutil.disk_usage(workspace_dir).free
    h = await downloads([preset("P", url_file(url))], free_space_margin=free + 10**9)

    await install_and_wait(h)

    error = (await job_of(h))["error"]
    assert error["code"] == "insufficient_space"
    assert "free" in error["message"] and "DOWNLOAD_FREE_SPACE_MARGIN" in error["message"]
    assert error["details"]["missing"] >= 10**9
    assert fakehub.bytes_sent("model.bin") <= 1


@pytest.mark.parametrize("layout", [{}, SEGMENTED], ids=["one-stream", "segmented"])
async def test_close_keeps_the_partial_and_the_next_start_resumes_it(fakehub, workspace_dir, layout):
    data = random_bytes(3_000_000)
    url = fakehub.add_file("model.bin", data)
    fakehub.behave("model.bin", rate=1_000_000)
    presets = [preset("P", url_file(url, sha256=hashlib.sha256(data).hexdigest()))]
    first = make_harness(settings_for(workspace_dir, fakehub.url, **layout), presets)
    await first.manager.start()
    await first.manager.install(["P"])
    partial = first.path("checkpoints/model.bin").with_name("model.bin.part")
    sidecar = partial.with_name("model.bin.part.json")
    async def half_way() -> bool:
        return (await job_of(first))["bytes_done"] >= 500_000

    await eventually(half_way, "500 kB downloaded")
    await first.manager.close()
    assert partial.exists() and (await job_of(first))["state"] == "queued"
    kept = sum(end - start for start, end in json.loads(sidecar.read_text())["done"])
    assert kept >= 500_000
    sent_before = fakehub.bytes_sent("model.bin")
    fakehub.behave("model.bin")

    second = make_harness(settings_for(workspace_dir, fakehub.url, **layout), presets)
    await second.manager.start()  # no install: the journal brings the job back
    try:
        await second.manager.wait()
        job = (await job_of(second))
        assert job["state"] == "done" and job["id"] == (await job_of(first))["id"]
        assert second.path("checkpoints/model.bin").read_bytes() == data
        # only what the first run had not kept travels again (plus the 1-byte range probe)
        assert fakehub.bytes_sent("model.bin") - sent_before <= len(data) - kept + 1
    finally:
        await second.manager.close()


@pytest.fixture
def small_disk(workspace_dir):
    """A 4 MB tmpfs mounted where checkpoints are written (skipped where mounting is not allowed)."""
    import subprocess

    directory = workspace_dir / "models" / "checkpoints"
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(directory)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


async def test_a_disk_that_fills_up_mid_download_fails_the_job_and_frees_the_partial(downloads, fakehub, small_disk):
    data = random_bytes(3_000_000)
    url = fakehub.add_file("model.bin", data)
    fakehub.behave("model.bin", rate=1_000_000)
    h = await downloads([preset("P", url_file(url))])
    await h.manager.install(["P"])
    async def started() -> bool:
        return (await job_of(h))["state"] == "downloading"

    await eventually(started, "the download to start")
    with open(small_disk / "filler", "wb", buffering=0) as filler:  # someone else fills the disk meanwhile
        try:
            while True:
                filler.write(b"\0" * 65536)
        except OSError:
            pass

    await h.manager.wait()

    error = (await job_of(h))["error"]
    assert error["code"] == "insufficient_space" and "filled up" in error["message"]
    assert not (small_disk / "model.bin.part").exists()
    assert not (small_disk / "model.bin").exists()


async def test_a_network_failure_keeps_the_partial_file_but_a_changed_source_deletes_it(downloads, fakehub):
    """After the retries a dropped connection fails the job and keeps what arrived (the error says how
    much, and Retry resumes there). When the source's file then no longer matches the preset, the bytes
    on disk are of another file: that failure deletes them."""
    data = random_bytes(1_000_000)
    url = fakehub.add_file("model.bin", data)
    fakehub.behave("model.bin", drop_after=300_000)
    h = await downloads([preset("P", url_file(url, size=len(data)))], retries=1, retry_backoff=1.0)
    partial = h.path("checkpoints/model.bin").with_name("model.bin.part")

    await h.manager.install(["P"])
    await eventually(lambda: fakehub.bytes_sent("model.bin") >= 300_000, "the first 300 kB")
    fakehub.behave("model.bin", status=503)  # the retry a second later finds the server down
    await h.manager.wait()

    job = await job_of(h)
    assert job["state"] == "failed" and job["error"]["code"] == "download_failed"
    kept = job["error"]["details"]["partial_kept"]
    assert kept >= 300_000 and partial.stat().st_size >= kept  # on disk, where Retry resumes

    fakehub.add_file("model.bin", random_bytes(900_000))  # the source's file changed meanwhile
    fakehub.behave("model.bin")
    await h.manager.retry(job["id"])
    await h.manager.wait()

    job = await job_of(h)
    assert job["state"] == "failed" and job["error"]["code"] == "integrity"
    assert "the preset expects 1000000" in job["error"]["message"]
    assert "partial_kept" not in job["error"]["details"]
    assert not partial.exists() and not partial.with_name("model.bin.part.json").exists()
