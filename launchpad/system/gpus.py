"""NVIDIA GPUs through NVML (the ``pynvml`` module of nvidia-ml-py), never raising.

NVML is the driver's own monitoring library: it answers in microseconds, needs no CUDA
context and does not touch torch, so reading it cannot slow a running prompt. A CPU pod, a
machine without the driver or an install without nvidia-ml-py gets an empty device list
and a short reason instead of an error. NVML lists every GPU the driver sees, whatever
CUDA_VISIBLE_DEVICES says.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

_LOAD = object()  # "import pynvml" (the default); None means "not installed"


@dataclass(frozen=True)
class GpuDevice:
    """One GPU's figures; a figure the card does not report (NVML: not supported) is None."""

    index: int
    name: str
    uuid: str | None
    utilization: float | None  # percent of time a kernel ran over the last sample period
    memory_used: int | None  # bytes of VRAM
    memory_total: int | None
    memory_percent: float | None
    temperature: float | None  # degrees Celsius
    power_draw: float | None  # watts
    power_limit: float | None  # watts (the enforced limit)


@dataclass(frozen=True)
class GpuReport:
    devices: tuple[GpuDevice, ...] = ()
    reason: str | None = None  # why ``devices`` is empty, for people
    driver_version: str | None = None
    cuda_driver_version: str | None = None  # the newest CUDA the driver supports, e.g. "12.4"
    errors: tuple[str, ...] = field(default=())  # devices that failed to answer at all


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _cuda_version(value: object) -> str | None:
    # NVML encodes CUDA 12.4 as 12040
    return f"{value // 1000}.{value % 1000 // 10}" if isinstance(value, int) and value > 0 else None


class NvmlGpus:
    """Reads every GPU NVML sees. Thread-safe; initialises NVML once, on first use."""

    def __init__(self, nvml: Any = _LOAD) -> None:
        self._nvml = nvml
        self._lock = threading.Lock()
        self._ready = False
        self._failure: str | None = None

    def _start(self) -> str | None:
        """Load and initialise NVML once; the reason it is unusable, or None."""
        with self._lock:
            if self._ready or self._failure:
                return self._failure
            if self._nvml is _LOAD:
                try:
                    self._nvml = importlib.import_module("pynvml")
                except Exception:
                    self._nvml = None
            if self._nvml is None:
                self._failure = "nvidia-ml-py is not installed, so GPUs cannot be read"
                return self._failure
            try:
                self._nvml.nvmlInit()
            except Exception as exc:
                # the driver will not appear while we run: remember, do not retry every sample
                self._failure = f"no NVIDIA driver found ({_text(exc) or type(exc).__name__})"
                return self._failure
            self._ready = True
            return None

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:  # NVMLError_NotSupported and friends: one missing figure, not a failure
            return None

    def _device(self, index: int) -> GpuDevice:
        nvml = self._nvml
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        rates = self._call(nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = self._call(nvml.nvmlDeviceGetMemoryInfo, handle)
        temperature = self._call(nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
        draw = self._call(nvml.nvmlDeviceGetPowerUsage, handle)
        limit = self._call(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        name = self._call(nvml.nvmlDeviceGetName, handle)
        uuid = self._call(nvml.nvmlDeviceGetUUID, handle)
        used = int(memory.used) if memory is not None else None
        total = int(memory.total) if memory is not None else None
        return GpuDevice(
            index=index,
            name=_text(name) if name is not None else f"GPU {index}",
            uuid=_text(uuid) if uuid is not None else None,
            utilization=float(rates.gpu) if rates is not None else None,
            memory_used=used,
            memory_total=total,
            memory_percent=round(100.0 * used / total, 1) if used is not None and total else None,
            temperature=float(temperature) if temperature is not None else None,
            power_draw=round(draw / 1000.0, 1) if draw is not None else None,  # NVML answers milliwatts
            power_limit=round(limit / 1000.0, 1) if limit is not None else None,
        )

    def read(self) -> GpuReport:
        """Every GPU's figures now; an empty report with a reason when there are none."""
        failure = self._start()
        if failure:
            return GpuReport(reason=failure)
        nvml = self._nvml
        driver = self._call(nvml.nvmlSystemGetDriverVersion)
        cuda = _cuda_version(self._call(nvml.nvmlSystemGetCudaDriverVersion))
        count = self._call(nvml.nvmlDeviceGetCount)
        if count is None:
            return GpuReport(reason="NVML did not answer how many GPUs there are", driver_version=_text(driver))
        devices, errors = [], []
        for index in range(count):
            try:
                devices.append(self._device(index))
            except Exception as exc:  # a GPU that fell off the bus must not hide the others
                errors.append(f"GPU {index}: {_text(exc) or type(exc).__name__}")
        reason = None if devices else ("; ".join(errors) or "no NVIDIA GPU found")
        return GpuReport(
            devices=tuple(devices),
            reason=reason,
            driver_version=_text(driver) if driver is not None else None,
            cuda_driver_version=cuda,
            errors=tuple(errors),
        )

    def close(self) -> None:
        with self._lock:
            if self._ready:
                self._call(self._nvml.nvmlShutdown)
                self._ready = False
