"""Numbers for people: sizes, speeds and durations, the same in the CLI and the API."""

from __future__ import annotations

_UNITS = ("B", "KB", "MB", "GB", "TB")


def size(value: float | None) -> str:
    """1536000000 -> '1.5 GB' (decimal units, as disks and model hubs count)."""
    if value is None:
        return "?"
    value = float(value)
    for unit in _UNITS:
        if abs(value) < 1000 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def count(number: int, noun: str, plural: str | None = None) -> str:
    """(1, 'preset') -> '1 preset'; (3, 'directory', 'directories') -> '3 directories'."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def speed(bytes_per_second: float | None) -> str:
    return "?" if bytes_per_second is None else f"{size(bytes_per_second)}/s"


def duration(seconds: float | None) -> str:
    """150 -> '2m 30s'; None -> '?'."""
    if seconds is None:
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
