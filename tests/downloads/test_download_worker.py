"""The download manager's worker process: what crosses the pipe, a crash mid-download, a parent that
goes away, and the worker's log lines reaching the parent's log."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from apiclient import write_presets

from lp.launchpad.catalog.schema import HFSource, ModelFile
from lp.launchpad.config import Settings
from lp.launchpad.downloads.credentials import Credentials
from lp.launchpad.downloads.sources import Resolver
from lp.launchpad.downloads.worker import DownloadWorker, error_to_json, roots_from_json, roots_to_json
from lp.launchpad.errors import InvalidInput, NotFound, SourceUnauthorized, error_from_dict
from lp.launchpad.events import EventBus
from lp.launchpad.model_roots import ModelRoots
from lp.launchpad.service import LaunchpadService
from lp.launchpad.workspace import Workspace


def test_settings_and_roots_cross_the_pipe_unchanged(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"HF_TOKEN": "hf_secret", "PRESET_DOWNLOAD": "A,B", "ALLOWED_URL_HOSTS": "x.example"},
        workspace=tmp_path, templates_dir=tmp_path / "t",
    )
    assert Settings.from_json(json.loads(json.dumps(settings.to_json()))) == settings
    roots = ModelRoots({"checkpoints": (tmp_path / "a", tmp_path / "b"), "loras": ()})
    assert roots_from_json(roots_to_json(roots)) == roots


def service_settings(workspace: Path, tmp_path: Path, hub_url: str) -> Settings:
    no_templates = tmp_path / "no-templates"
    no_templates.mkdir(exist_ok=True)
    return replace(
        Settings.from_env({}, workspace=workspace, templates_dir=no_templates),
        hf_endpoint=hub_url, retry_backoff=0.02, free_space_margin=0,
    )


async def test_a_worker_that_dies_mid_download_is_restarted_and_the_job_resumes(
    workspace_dir: Path, tmp_path: Path, fakehub
) -> None:
    data = os.urandom(400_000)
    url = fakehub.add_file("resume.safetensors", data)
    fakehub.behave("resume.safetensors", rate=100_000)  # four seconds
    write_presets(workspace_dir, f"""\
        schema: 1
        presets:
          - id: resumable
            name: Resumable
            category: image
            files: [{{folder: loras, name: resume.safetensors, url: "{url}", size: {len(data)}}}]
        """)
    service = LaunchpadService(service_settings(workspace_dir, tmp_path, fakehub.url))
    await service.start()
    try:
        result = await service.install(["resumable"])
        job_id = result["jobs"][0]["id"]
        while (await service.downloads_snapshot())["jobs"][0]["bytes_done"] < 100_000:
            await asyncio.sleep(0.05)
        first_pid = service.downloads.pid
        os.kill(first_pid, signal.SIGKILL)
        fakehub.behave("resume.safetensors")  # full speed for the rest
        while service.downloads.pid == first_pid or service.downloads._proc.returncode is not None:
            await asyncio.sleep(0.05)
        for _ in range(200):  # the new worker answers once it has started
            try:
                await service.wait_downloads([job_id])
                break
            except Exception:
                await asyncio.sleep(0.05)
        (job,) = (await service.downloads_snapshot())["jobs"]
        assert job["state"] == "done"
        assert (workspace_dir / "models" / "loras" / "resume.safetensors").read_bytes() == data
        # it resumed: the second worker did not fetch the whole file again
        ranges = [r for r in fakehub.requests_for("resume.safetensors") if r.bytes_sent]
        assert len(ranges) >= 2 and sum(r.bytes_sent for r in ranges) < 2 * len(data)
    finally:
        await service.close()


async def test_worker_exits_when_the_parent_goes_away(workspace_dir: Path, tmp_path: Path, fakehub) -> None:
    Workspace(workspace_dir).ensure()
    worker = DownloadWorker(service_settings(workspace_dir, tmp_path, fakehub.url), EventBus(),
                            lambda: ModelRoots.for_workspace(Workspace(workspace_dir)))
    await worker.start()
    proc = worker._proc
    assert proc is not None and proc.stdin is not None
    worker._closing = True  # as if the parent were gone: nobody restarts it
    proc.stdin.close()  # what the child sees when its parent dies
    assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_worker_log_lines_reach_the_parent_log(
    workspace_dir: Path, tmp_path: Path, fakehub, caplog: pytest.LogCaptureFixture
) -> None:
    write_presets(workspace_dir, """\
        schema: 1
        presets:
          - id: missing-upstream
            name: Missing upstream
            category: image
            files: [{folder: loras, name: gone.safetensors, hf: acme/nothing, path: gone.safetensors}]
        """)
    service = LaunchpadService(service_settings(workspace_dir, tmp_path, fakehub.url))
    await service.start()
    try:
        with caplog.at_level(logging.WARNING):
            result = await service.install(["missing-upstream"])
            await service.wait_downloads([result["jobs"][0]["id"]])
            for _ in range(100):
                if "gone.safetensors" in caplog.text:
                    break
                await asyncio.sleep(0.05)
        assert "download of loras/gone.safetensors failed" in caplog.text
        (job,) = (await service.downloads_snapshot())["jobs"]
        assert job["state"] == "failed" and job["error"]["code"] == "source_not_found"
    finally:
        await service.close()


async def test_errors_raised_in_the_worker_arrive_as_their_own_class(
    workspace_dir: Path, tmp_path: Path, fakehub
) -> None:
    Workspace(workspace_dir).ensure()
    worker = DownloadWorker(service_settings(workspace_dir, tmp_path, fakehub.url), EventBus(),
                            lambda: ModelRoots.for_workspace(Workspace(workspace_dir)))
    await worker.start()
    try:
        with pytest.raises(NotFound) as unknown:
            await worker.cancel("no-such-job")
        assert unknown.value.code == "not_found" and unknown.value.details == {"job": "no-such-job"}
        with pytest.raises(InvalidInput) as bad_label:
            await worker.install_files([], "not a label")
        assert "kind:name" in bad_label.value.message
    finally:
        await worker.close()


async def test_a_gated_repo_error_crosses_the_pipe_with_its_class_code_and_details(
    workspace_dir: Path, tmp_path: Path, fakehub
) -> None:
    """What the Hub's gated-repo answer becomes, encoded by the worker and decoded by the parent
    exactly as a call's error is (error_to_json, a JSON line, error_from_dict)."""
    fakehub.add_hf_file("acme/gated", "model.safetensors", b"x" * 100, gated=True)
    settings = service_settings(workspace_dir, tmp_path, fakehub.url)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(SourceUnauthorized) as raised:
            await Resolver(settings, session, Credentials(settings)).resolve(
                ModelFile("loras", "model.safetensors", HFSource("acme/gated", "model.safetensors"))
            )
    line = json.dumps({"id": 1, "error": error_to_json(raised.value)}, default=str)
    arrived = error_from_dict(json.loads(line)["error"])
    assert type(arrived) is SourceUnauthorized and arrived.code == "unauthorized" and not arrived.retryable
    assert arrived.message == raised.value.message and "accept the license" in arrived.message
    assert arrived.details["license_url"] == "https://huggingface.co/acme/gated"
