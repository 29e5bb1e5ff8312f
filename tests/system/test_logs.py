"""Launchpad's log setup: stdout and a daily-rotated file, no duplicates, no secrets."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lp.launchpad import events
from lp.launchpad.config import Settings
from lp.launchpad.logs import LOG_FILE, PACKAGE_LOGGER, reset_logging, secrets_of, setup_logging

HF_TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345"
CIVITAI_TOKEN = "3f1c0ffee0ddba11deadbeefcafe4242"
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    reset_logging()
    yield
    reset_logging()  # give pytest's log capture back its propagation


def our_handlers() -> list[logging.Handler]:
    return [h for name in ("launchpad", PACKAGE_LOGGER) for h in logging.getLogger(name).handlers]


def test_stdout_and_file_get_package_and_entry_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "workspace" / "logs"  # created on demand
    setup_logging(logs, "INFO")
    events.log.info("from a core module: %s", "events")  # logging.getLogger(__name__) in the core
    logging.getLogger("launchpad").warning("from the ComfyUI entry")
    events.log.debug("below the level")

    written = (logs / LOG_FILE).read_text()
    printed = capsys.readouterr().out
    for text in (written, printed):
        assert "INFO launchpad.events: from a core module: events" in text
        assert "WARNING launchpad: from the ComfyUI entry" in text
        assert "below the level" not in text


def test_calling_twice_adds_no_duplicate_handlers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(tmp_path / "logs", "INFO")
    first = len(our_handlers())
    setup_logging(tmp_path / "logs", "DEBUG")
    assert len(our_handlers()) == first
    events.log.debug("once")
    assert capsys.readouterr().out.count("once") == 1
    assert (tmp_path / "logs" / LOG_FILE).read_text().count("once") == 1


def test_unwritable_log_dir_means_stdout_only_and_one_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "workspace"
    blocker.write_text("a file where the workspace directory should be")  # refuses mkdir, even for root
    handlers = setup_logging(blocker / "logs", "INFO")
    assert len(handlers) == 1
    events.log.info("still heard")
    out = capsys.readouterr().out
    assert out.count("cannot write logs to") == 1 and "logging to stdout only" in out
    assert "still heard" in out


def test_bad_level_falls_back_to_info_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(None, "LOUD")
    events.log.info("info shows")
    out = capsys.readouterr().out
    assert "LOG_LEVEL='LOUD' is not a level" in out and "info shows" in out


def test_rotation_at_midnight_keeps_seven_days(tmp_path: Path) -> None:
    [_, handler] = setup_logging(tmp_path, "INFO")
    assert (handler.when, handler.backupCount) == ("MIDNIGHT", 7)
    day = 86400
    start = int(time.time()) - 20 * day
    for n in range(10):
        # the handler's clock says midnight has passed: a day's log ends with this record
        handler.rolloverAt = start + n * day
        events.log.info("day %d", n)
    rotated = sorted(p.name for p in tmp_path.iterdir() if p.name != LOG_FILE)
    assert len(rotated) == 7  # ten days rolled over; the oldest three are gone
    assert all(name.startswith(LOG_FILE + ".") for name in rotated)
    expected = [time.strftime("%Y-%m-%d", time.localtime(start + n * day - day)) for n in range(3, 10)]
    assert rotated == [f"{LOG_FILE}.{date}" for date in expected]
    assert "day 9" in (tmp_path / LOG_FILE).read_text()  # the current file goes on
    assert "day 8" in (tmp_path / rotated[-1]).read_text()


def test_secrets_never_reach_stdout_or_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(hf_token=HF_TOKEN, civitai_token=CIVITAI_TOKEN, access_password=PASSWORD)
    setup_logging(tmp_path, "DEBUG", secrets=secrets_of(settings))
    log = events.log
    log.info("request headers: %s", {"Authorization": f"Bearer {HF_TOKEN}"})
    log.info("GET https://civitai.com/api/download/models/1?type=Model&token=%s -> 302", CIVITAI_TOKEN)
    log.info("redirected to https://cdn.example/f?X-Amz-Signature=abc123def&X-Amz-Expires=3600")
    log.info("env: HF_TOKEN=%s ACCESS_PASSWORD=%s", "hf_SomeOtherTokenNotConfigured12345", PASSWORD)
    log.info("an unknown bearer: Authorization: Bearer eyJhbGciOi.payload.sig")
    log.info("login with %r failed", PASSWORD)
    try:
        raise PermissionError(f"401 for token {CIVITAI_TOKEN}")
    except PermissionError:
        log.exception("download failed")

    for text in ((tmp_path / LOG_FILE).read_text(), capsys.readouterr().out):
        for secret in (HF_TOKEN, CIVITAI_TOKEN, PASSWORD, "hf_SomeOtherTokenNotConfigured12345", "abc123def", "eyJhbG"):
            assert secret not in text
        assert "token=***" in text and "X-Amz-Expires=3600" in text  # only the secret part goes
        assert "Bearer ***" in text
        assert "login with '***' failed" in text
        assert "PermissionError: 401 for token ***" in text  # tracebacks too
        assert "type=Model" in text


def test_ordinary_text_is_left_alone(tmp_path: Path) -> None:
    setup_logging(tmp_path, "INFO", secrets=["abc", None, ""])  # too short to mask safely
    events.log.info("hf_transfer and hf_xet are off; max_tokens=512; basic setup done for abc")
    text = (tmp_path / LOG_FILE).read_text()
    assert "hf_transfer and hf_xet are off; max_tokens=512; basic setup done for abc" in text
