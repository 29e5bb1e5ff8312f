"""/launchpad/metrics content: valid Prometheus text that says what the snapshot and reading say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lp.launchpad import __version__
from lp.launchpad.metrics import render_metrics
from lp.launchpad.system import SystemReader

parser = pytest.importorskip("prometheus_client.parser")

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{({_LABEL}(?:,{_LABEL})*)?\}})? (\S+)$")

GIB = 2**30


def strict_parse(text: str) -> dict[str, tuple[str, list[tuple[dict[str, str], float]]]]:
    """Our own strict reading of format 0.0.4: HELP then TYPE before a family's samples, once each."""
    assert text.endswith("\n")
    families: dict[str, tuple[str, list]] = {}
    current = None
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert re.fullmatch(_NAME, name) and name not in families, line
            type_line = lines[number + 1].split(" ")
            assert type_line[:3] == ["#", "TYPE", name] and type_line[3] in {"gauge", "counter"}, line
            assert type_line[3] != "counter" or name.endswith("_total"), line
            current = name
            families[name] = (type_line[3], [])
        elif line.startswith("# TYPE "):
            assert line.split(" ")[2] == current
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            assert match.group(1) == current, f"{line!r} outside its family"
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            families[current][1].append((labels, float(match.group(3))))
    return families


def value(families: dict, metric: str, /, **labels: str) -> float:
    for sample_labels, sample_value in families[metric][1]:
        if all(sample_labels.get(k) == v for k, v in labels.items()):
            return sample_value
    raise AssertionError(f"no {metric} sample with {labels}")


SNAPSHOT = {
    "jobs": [
        {"id": "a", "state": "done", "bytes_done": 5 * GIB, "bytes_total": 5 * GIB},
        {"id": "b", "state": "downloading", "bytes_done": GIB, "bytes_total": 4 * GIB},
        {"id": "c", "state": "queued", "bytes_done": 0, "bytes_total": 2 * GIB},
        {"id": "d", "state": "queued", "bytes_done": 0, "bytes_total": None},
        {"id": "e", "state": "failed", "bytes_done": 100, "bytes_total": 1000, "error": "HTTP 403"},
    ],
    "presets": {"FLUX_DEV": {"state": "downloading"}, "SDXL": {"state": "done"}},
}


def a_reading(tmp_path: Path) -> dict:
    reader = SystemReader({"workspace": tmp_path, "output": tmp_path / "output"})
    reading = reader.read()
    reader.close()
    # the GPU part as a machine with one card reports it (CI has none)
    reading["gpu"] = {
        "devices": [
            {
                "index": 0,
                "name": 'NVIDIA "H100" 80GB\\HBM3',  # quotes and a backslash must be escaped in labels
                "utilization": 87.0,
                "memory_used": 20 * GIB,
                "memory_total": 80 * GIB,
                "temperature": 61.0,
                "power_draw": 312.5,
                "power_limit": None,  # unknown figures are left out, not reported as 0
            }
        ],
        "reason": None,
    }
    return reading


def test_metrics_parse_and_report_downloads_counters_and_system(tmp_path: Path) -> None:
    reading = a_reading(tmp_path)
    text = render_metrics(SNAPSHOT, bytes_downloaded_total=7 * GIB, download_failures_total=2, system=reading)

    # the reference parser accepts it
    parsed = {family.name: family for family in parser.text_string_to_metric_families(text)}
    assert parsed["launchpad_downloaded_bytes"].type == "counter"
    assert parsed["launchpad_gpu_utilization_percent"].samples[0].labels["name"] == 'NVIDIA "H100" 80GB\\HBM3'

    families = strict_parse(text)
    assert value(families, "launchpad_info", version=__version__) == 1
    assert value(families, "launchpad_download_jobs", state="queued") == 2
    assert value(families, "launchpad_download_jobs", state="downloading") == 1
    assert value(families, "launchpad_download_jobs", state="verifying") == 0  # every state, even at 0
    assert value(families, "launchpad_download_jobs", state="failed") == 1
    assert value(families, "launchpad_download_queue_depth") == 2
    assert value(families, "launchpad_download_bytes_done") == 6 * GIB + 100
    assert value(families, "launchpad_download_bytes_remaining") == 3 * GIB + 2 * GIB
    assert value(families, "launchpad_presets_installing", state="downloading") == 1
    assert value(families, "launchpad_downloaded_bytes_total") == 7 * GIB
    assert value(families, "launchpad_download_failures_total") == 2

    assert value(families, "launchpad_gpus") == 1
    assert value(families, "launchpad_gpu_utilization_percent", gpu="0") == 87.0
    assert value(families, "launchpad_gpu_memory_total_bytes", gpu="0") == 80 * GIB
    assert "launchpad_gpu_power_limit_watts" not in families
    memory = reading["memory"]
    assert value(families, "launchpad_memory_total_bytes", source=memory["source"]) == memory["total"]
    workspace = next(d for d in reading["disks"] if d["name"] == "workspace")
    assert value(families, "launchpad_disk_free_bytes", name="workspace", path=str(tmp_path)) == workspace["free"]
    assert value(families, "launchpad_disk_total_bytes", name="output") == workspace["total"]
    assert 0 <= value(families, "launchpad_cpu_percent") <= 100


def test_metrics_without_anything_to_report_still_parse() -> None:
    text = render_metrics()
    assert list(strict_parse(text)) == ["launchpad_info"]
    assert [f.name for f in parser.text_string_to_metric_families(text)] == ["launchpad_info"]

    # an empty snapshot on a machine without a GPU: zeros where zero is true
    families = strict_parse(render_metrics({"jobs": []}, system={"gpu": {"devices": [], "reason": "no driver"}}))
    assert value(families, "launchpad_download_queue_depth") == 0
    assert value(families, "launchpad_gpus") == 0
    assert "launchpad_gpu_utilization_percent" not in families
