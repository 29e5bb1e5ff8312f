"""Small pure pieces of the downloader: resume ranges, Retry-After, speed, the CLI's progress lines."""

from __future__ import annotations

import io
from pathlib import Path

from lp.launchpad.catalog.schema import ModelFile, UrlSource
from lp.launchpad.cli.install import Display
from lp.launchpad.downloads import Job, JobState, fetch
from lp.launchpad.downloads.progress import SpeedMeter, eta
from lp.launchpad.downloads.resume import ResumeState
from lp.launchpad.downloads.sources import parse_content_range


def test_resume_state_merges_ranges_and_names_the_gaps():
    state = ResumeState("sha256:x", 100)
    for start, end in [(50, 60), (0, 10), (10, 20), (55, 70), (90, 100)]:
        state.add(start, end)
    assert state.done == [[0, 20], [50, 70], [90, 100]]
    assert state.gaps() == [(20, 50), (70, 90)]
    assert state.bytes_done == 50 and state.prefix == 20 and not state.complete
    state.add(20, 90)
    assert state.complete and state.gaps() == []
    again = ResumeState.from_json(state.to_json())
    assert again is not None and again.done == [[0, 100]] and again.identity == "sha256:x"


def test_a_sidecar_that_claims_impossible_ranges_is_not_trusted():
    assert ResumeState.from_json('{"version": 1, "identity": "x", "size": 10, "done": [[0, 20]]}') is None
    assert ResumeState.from_json("not json") is None
    assert ResumeState.from_json('{"version": 99, "identity": "x", "size": 10, "done": []}') is None


def test_retry_after_reads_both_headers_and_backoff_honours_it():
    assert fetch.retry_after({"Retry-After": "7"}) == 7
    assert fetch.retry_after({"RateLimit": '"resolvers";r=0;t=42'}) == 42
    assert fetch.retry_after({}) is None
    assert fetch.backoff_delay(1, 1.0, hint=30) >= 30
    assert fetch.backoff_delay(20, 1.0) <= fetch.MAX_BACKOFF * 1.25


def test_content_range_parsing():
    assert parse_content_range("bytes 0-0/1234") == (0, 0, 1234)
    assert parse_content_range("bytes */1234") == (None, None, 1234)
    assert parse_content_range("bytes 5-9/*") == (5, 9, None)
    assert parse_content_range(None) == (None, None, None)


def test_speed_is_smoothed_and_eta_follows():
    meter = SpeedMeter(smoothing=1.0)
    meter.sample(0, now=0.0)
    assert meter.sample(1000, now=1.0) == 1000
    smoothed = meter.sample(1000, now=2.0)  # a second with nothing received
    assert 0 < smoothed < 1000
    assert eta(5000, 1000.0) == 5.0 and eta(None, 1000.0) is None and eta(100, 0.0) is None


def job(state: str, done: int = 0, **extra: object) -> dict:
    """A ``launchpad.download`` payload as the manager sends it (Job.to_dict)."""
    model = ModelFile("checkpoints", "m.bin", UrlSource("https://example.com/m.bin"), size=1000)
    made = Job(model, Path("/models/checkpoints/m.bin"), ["P"], id="j1", state=JobState(state), bytes_done=done,
               speed=100.0, eta=9.0)
    return {**made.to_dict(), **extra}


def test_display_draws_a_live_bar_on_a_terminal_and_plain_lines_in_a_log():
    tty = io.StringIO()
    display = Display(tty, tty=True)
    display("launchpad.download", job("downloading", 500))
    display("launchpad.download", job("done", 1000))
    out = tty.getvalue()
    assert "[############............]  50% checkpoints/m.bin  500 B / 1.0 KB  100 B/s  ETA 9s" in out
    assert "\x1b[1F" in out and "done    checkpoints/m.bin  1.0 KB" in out

    log = io.StringIO()
    display = Display(log, tty=False)
    display("launchpad.download", job("downloading", 100))
    display("launchpad.download", job("downloading", 200))  # within 10 s of the last line: not repeated
    display("launchpad.download", job("failed", 200, error={"code": "x", "message": "it broke"}))
    lines = log.getvalue().splitlines()
    assert lines == [
        " 10% checkpoints/m.bin  100 B / 1.0 KB  100 B/s  ETA 9s",
        "FAILED  checkpoints/m.bin: it broke",
    ]
    assert "\x1b" not in log.getvalue()
