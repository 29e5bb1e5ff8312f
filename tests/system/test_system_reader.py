"""System readings: container memory limits from real cgroup v1/v2 file layouts, disks, GPUs, versions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from lp.launchpad import __version__
from lp.launchpad.events import json_safe
from lp.launchpad.system import NvmlGpus, SystemReader, read_cpu_limit, read_memory, read_mounts
from lp.launchpad.system.disks import NETWORK_NOTE, disk_usage
from lp.launchpad.workspace import Workspace

GIB = 2**30
HOST_RAM_KB = 64 * GIB // 1024  # the host these fake containers run on has 64 GiB
V1_NO_LIMIT = 9223372036854771712  # what cgroup v1 writes when no limit is set


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def proc(tmp_path: Path, cgroup: str, **extra: str) -> Path:
    meminfo = f"MemTotal:       {HOST_RAM_KB} kB\nMemFree:        1000 kB\nMemAvailable:   {HOST_RAM_KB // 2} kB\n"
    return write(tmp_path / "proc", {"meminfo": meminfo, "self/cgroup": cgroup, **extra})


def test_cgroup_v2_limit_is_the_total_and_page_cache_is_not_used(tmp_path: Path) -> None:
    # Docker on a v2 host with a private cgroup namespace: our cgroup is the mount itself
    cgroup = write(
        tmp_path / "cgroup",
        {
            "cgroup.controllers": "cpuset cpu io memory pids\n",
            "memory.max": f"{8 * GIB}\n",
            "memory.current": f"{3 * GIB}\n",
            "memory.stat": f"anon {2 * GIB}\nfile {GIB}\ninactive_file {GIB // 2}\nactive_file {GIB // 2}\n",
            "cpu.max": "400000 100000\n",
        },
    )
    memory = read_memory(proc(tmp_path, "0::/\n"), cgroup)
    assert memory.source == "cgroup-v2"
    assert memory.total == 8 * GIB
    assert memory.used == 3 * GIB - GIB // 2
    assert memory.available == 8 * GIB - memory.used
    assert memory.percent == pytest.approx(31.2, abs=0.1)
    assert memory.host_total == 64 * GIB
    assert read_cpu_limit(tmp_path / "proc", cgroup) == 4.0


def test_cgroup_v2_limit_set_on_a_parent_of_our_cgroup(tmp_path: Path) -> None:
    # host cgroup namespace: our path is nested and only the pod's parent cgroup has a limit
    cgroup = write(
        tmp_path / "cgroup",
        {
            "cgroup.controllers": "memory\n",
            "kubepods/pod1/memory.max": f"{16 * GIB}\n",
            "kubepods/pod1/memory.current": f"{4 * GIB}\n",
            "kubepods/pod1/memory.stat": "inactive_file 0\n",
            "kubepods/pod1/ctr/memory.max": "max\n",
            "kubepods/pod1/ctr/memory.current": f"{GIB}\n",
        },
    )
    memory = read_memory(proc(tmp_path, "0::/kubepods/pod1/ctr\n"), cgroup)
    assert (memory.source, memory.total, memory.used) == ("cgroup-v2", 16 * GIB, 4 * GIB)


def test_cgroup_v1_limit_is_the_total(tmp_path: Path) -> None:
    cgroup = write(
        tmp_path / "cgroup",
        {
            "memory/memory.limit_in_bytes": f"{12 * GIB}\n",
            "memory/memory.usage_in_bytes": f"{5 * GIB}\n",
            "memory/memory.stat": (
                f"cache {2 * GIB}\nrss {3 * GIB}\ninactive_file {GIB}\n"
                f"hierarchical_memory_limit {12 * GIB}\ntotal_inactive_file {GIB}\n"
            ),
            "cpu/cpu.cfs_quota_us": "150000\n",
            "cpu/cpu.cfs_period_us": "100000\n",
        },
    )
    # Docker on a v1 host: /proc/self/cgroup names a path that does not exist under the mount
    cgroups = "12:memory:/docker/0123abcd\n4:cpu,cpuacct:/docker/0123abcd\n1:name=systemd:/docker/0123abcd\n"
    memory = read_memory(proc(tmp_path, cgroups), cgroup)
    assert (memory.source, memory.total, memory.used) == ("cgroup-v1", 12 * GIB, 4 * GIB)
    assert memory.percent == pytest.approx(33.3, abs=0.1)
    assert read_cpu_limit(tmp_path / "proc", cgroup) == 1.5


def test_no_limit_reports_the_hosts_memory(tmp_path: Path) -> None:
    v1 = write(
        tmp_path / "v1",
        {
            "memory/memory.limit_in_bytes": f"{V1_NO_LIMIT}\n",
            "memory/memory.usage_in_bytes": f"{GIB}\n",
            "memory/memory.stat": f"hierarchical_memory_limit {V1_NO_LIMIT}\n",
            "cpu/cpu.cfs_quota_us": "-1\n",
            "cpu/cpu.cfs_period_us": "100000\n",
        },
    )
    v2 = write(
        tmp_path / "v2",
        {
            "cgroup.controllers": "memory\n",
            "memory.max": "max\n",
            "memory.current": f"{GIB}\n",
            "cpu.max": "max 100000",
        },
    )
    # a "limit" above the machine's RAM limits nothing either
    v2_huge = write(
        tmp_path / "v2huge",
        {"cgroup.controllers": "memory\n", "memory.max": f"{128 * GIB}\n", "memory.current": f"{GIB}\n"},
    )
    proc_root = proc(tmp_path, "0::/\n")
    for cgroup in (v1, v2, v2_huge, tmp_path / "no-cgroup-fs"):
        memory = read_memory(proc_root, cgroup)
        assert memory.source == "host", cgroup
        assert memory.total == 64 * GIB
        assert memory.used == 32 * GIB  # MemTotal - MemAvailable
        assert memory.percent == 50.0
        assert read_cpu_limit(proc_root, cgroup) is None


def test_reading_is_plain_json_with_every_part(tmp_path: Path, workspace_dir: Path) -> None:
    workspace = Workspace(workspace_dir)
    workspace.models.mkdir()
    reader = SystemReader.for_workspace(workspace, extra_versions={"comfyui": "0.3.64"})
    reading = reader.read(extra_versions={"comfyui_frontend": "1.28.0"})
    reader.close()

    assert json_safe(reading) == reading  # already plain JSON, nothing for the event guard to fix
    json.dumps(reading, allow_nan=False)
    cpu = reading["cpu"]
    assert 0.0 <= cpu["percent"] <= 100.0
    assert len(cpu["per_core"]) == cpu["count"] >= 1
    assert all(0.0 <= value <= 100.0 for value in cpu["per_core"])
    memory = reading["memory"]
    assert memory["source"] in {"host", "cgroup-v1", "cgroup-v2"}
    assert 0 < memory["used"] <= memory["total"]
    assert {disk["name"]: disk["exists"] for disk in reading["disks"]} == {
        "workspace": True,
        "models": True,
        "output": False,  # not created yet: figures for where it would be created
    }
    for disk in reading["disks"]:
        assert disk["total"] > 0 and disk["free"] >= 0
    assert reading["versions"]["launchpad"] == __version__
    assert reading["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert reading["versions"]["comfyui"] == "0.3.64"
    assert reading["versions"]["comfyui_frontend"] == "1.28.0"
    # the System view's line, in the order people read it, the others after
    assert reading["versions_line"].startswith(
        f"ComfyUI 0.3.64 · frontend 1.28.0 · Launchpad {__version__} · Python {reading['versions']['python']}")
    assert isinstance(reading["gpu"]["devices"], list)
    if not reading["gpu"]["devices"]:
        assert reading["gpu"]["reason"]


def test_reading_uses_the_injected_container_roots(tmp_path: Path) -> None:
    cgroup = write(
        tmp_path / "cgroup",
        {"cgroup.controllers": "memory\n", "memory.max": f"{2 * GIB}\n", "memory.current": f"{GIB}\n"},
    )
    reader = SystemReader(proc_root=proc(tmp_path, "0::/\n", loadavg="0.50 0.25 0.10 1/100 42\n"), cgroup_root=cgroup)
    reading = reader.read()
    assert reading["memory"]["source"] == "cgroup-v2"
    assert reading["memory"]["total"] == 2 * GIB
    assert reading["cpu"]["load_average"] == [0.5, 0.25, 0.1]


def test_torch_versions_only_when_torch_is_already_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = SystemReader()
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    versions = reader.read()["versions"]
    assert "torch" not in versions and "cuda" not in versions
    assert "torch" not in sys.modules  # reading never imports it
    # what ComfyUI has loaded by the time anyone asks
    monkeypatch.setitem(
        sys.modules, "torch", SimpleNamespace(__version__="2.8.0+cu128", version=SimpleNamespace(cuda="12.8"))
    )
    versions = reader.read()["versions"]
    assert (versions["torch"], versions["cuda"]) == ("2.8.0+cu128", "12.8")


def test_no_gpu_is_an_empty_list_and_a_reason() -> None:
    missing = NvmlGpus(nvml=None).read()  # nvidia-ml-py not installed
    assert missing.devices == () and "nvidia-ml-py" in (missing.reason or "")
    real = NvmlGpus().read()  # the real pynvml: on a machine without the driver it says so
    if not real.devices:
        assert real.reason


class _NotSupported(Exception):
    pass


class FakeNvml:
    """NVML as a driver with two GPUs answers: the hardware boundary, which CI does not have."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self) -> None:
        self.initialised = 0

    def nvmlInit(self) -> None:
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.initialised -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return "570.124.06"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12080

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3" if handle == 0 else b"NVIDIA A40"

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return f"GPU-{handle}"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=87, memory=40)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(used=20 * GIB, total=80 * GIB, free=60 * GIB)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 61

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        if handle == 1:
            raise _NotSupported("Not Supported")
        return 312_456  # milliwatts

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return 700_000


def test_gpu_figures_in_bytes_percent_celsius_and_watts() -> None:
    nvml = FakeNvml()
    gpus = NvmlGpus(nvml=nvml)
    report = gpus.read()
    gpus.read()
    assert nvml.initialised == 1  # once, not per reading
    assert (report.driver_version, report.cuda_driver_version, report.reason) == ("570.124.06", "12.8", None)
    first, second = report.devices
    assert (first.index, first.name, first.utilization) == (0, "NVIDIA H100 80GB HBM3", 87.0)
    assert (first.memory_used, first.memory_total, first.memory_percent) == (20 * GIB, 80 * GIB, 25.0)
    assert (first.temperature, first.power_draw, first.power_limit) == (61.0, 312.5, 700.0)
    # a figure the card does not report is None; the rest of that card still shows
    assert (second.name, second.power_draw, second.power_limit) == ("NVIDIA A40", None, 700.0)
    gpus.close()
    assert nvml.initialised == 0


def test_network_volume_disks_carry_a_note(tmp_path: Path) -> None:
    volume = tmp_path / "runpod volume"
    volume.mkdir()
    escaped = str(volume).replace(" ", "\\040")
    mountinfo = (
        "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
        f"90 22 0:50 / {escaped} rw,relatime shared:40 - fuse.mfs mfs#eu-ro-1:9421 rw,user_id=0\n"
    )
    mounts = read_mounts(write(tmp_path / "proc", {"self/mountinfo": mountinfo}))
    assert [m.fstype for m in mounts] == ["ext4", "fuse.mfs"]
    on_volume = disk_usage("models", volume / "models", mounts)
    assert (on_volume.filesystem, on_volume.mount_point, on_volume.exists) == ("fuse.mfs", str(volume), False)
    assert on_volume.network and on_volume.note == NETWORK_NOTE
    local = disk_usage("output", tmp_path, mounts)
    assert (local.filesystem, local.network, local.note) == ("ext4", False, None)


@pytest.mark.parametrize("cgroup", ["", "garbage\n", "0::/\n"])
def test_unreadable_or_odd_files_never_raise(tmp_path: Path, cgroup: str) -> None:
    cgroup_root = write(
        tmp_path / "cgroup",
        {"cgroup.controllers": "memory\n", "memory.max": "not a number\n", "cpu.max": "what\n"},
    )
    proc_root = write(tmp_path / "proc", {"self/cgroup": cgroup, "meminfo": "nonsense\n", "loadavg": "x\n"})
    reading = SystemReader(proc_root=proc_root, cgroup_root=cgroup_root).read()
    assert reading["memory"]["source"] in {"host", "unknown"}  # psutil's figures without /proc/meminfo
    assert reading["cpu"]["limit"] is None
