"""Every setting Launchpad reads from the environment, read once, typed, in one place.

Nothing else in the project calls ``os.environ``: callers build a :class:`Settings`
with :meth:`Settings.from_env` and pass it down.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import InvalidSetting

DEFAULT_WORKSPACE = "/workspace"
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
DEFAULT_CIVITAI_ENDPOINT = "https://civitai.com"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)?\s*$", re.IGNORECASE)
_PREFIXES = "KMGT"


def parse_size(text: str, name: str = "size") -> int:
    """Parse ``"100GB"``, ``"20 GiB"``, ``"512M"`` or a plain byte count into bytes."""
    match = _SIZE.match(text)
    if not match:
        raise InvalidSetting(f"{name}={text!r} is not a size; write it like 100GB, 512MiB or 1048576")
    number, unit = float(match.group(1)), (match.group(2) or "").upper()
    prefix = unit[:1] if unit[:1] in _PREFIXES else ""
    base = 1024 if "I" in unit else 1000
    factor = base ** (_PREFIXES.index(prefix) + 1) if prefix else 1
    return int(number * factor)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidSetting(f"{name}={raw!r} must be a whole number") from None
    if value < minimum:
        raise InvalidSetting(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidSetting(f"{name}={raw!r} must be a number") from None
    if value <= 0:
        raise InvalidSetting(f"{name}={value} must be greater than 0")
    return value


def _list(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Launchpad's configuration. Field docs name the environment variable."""

    workspace: Path = Path(DEFAULT_WORKSPACE)  # WORKSPACE_ROOT
    workspace_configured: bool = False  # True when WORKSPACE_ROOT was given (else hosts pick a default)
    comfyui_port: int = 8188  # COMFYUI_PORT
    # ComfyUI's SQLite assets database, one per ComfyUI process, on local disk (None: ~/.local/state)
    comfyui_database_dir: Path | None = None  # COMFYUI_DATABASE_DIR
    log_level: str = "INFO"  # LOG_LEVEL
    # downloads
    max_download_size: int = 100 * 10**9  # MAX_DOWNLOAD_SIZE
    concurrent_downloads: int = 3  # CONCURRENT_DOWNLOADS
    segments: int = 8  # DOWNLOAD_SEGMENTS: parallel ranged connections per file
    segment_size: int = 32 * 2**20  # DOWNLOAD_SEGMENT_SIZE: bytes a segment asks for at a time
    min_segmented_size: int = 64 * 2**20  # DOWNLOAD_SEGMENTED_FROM: smaller files use one stream
    stall_timeout: float = 60.0  # DOWNLOAD_STALL_TIMEOUT: seconds without a byte before retrying
    retries: int = 5  # DOWNLOAD_RETRIES
    retry_backoff: float = 1.0  # DOWNLOAD_RETRY_BACKOFF: seconds before the first retry, doubling after
    free_space_margin: int = 2 * 10**9  # DOWNLOAD_FREE_SPACE_MARGIN
    lock_ttl: float = 60.0  # DOWNLOAD_LOCK_TTL: a volume lock without heartbeat expires after this
    preset_download: tuple[str, ...] = ()  # PRESET_DOWNLOAD=ID1,ID2
    # sources (tokens are secrets: never logged, never returned by the API)
    hf_token: str | None = field(default=None, repr=False)  # HF_TOKEN
    civitai_token: str | None = field(default=None, repr=False)  # CIVITAI_TOKEN
    hf_endpoint: str = DEFAULT_HF_ENDPOINT  # HF_ENDPOINT
    civitai_endpoint: str = DEFAULT_CIVITAI_ENDPOINT  # CIVITAI_ENDPOINT
    templates_dir: Path | None = None  # LAUNCHPAD_TEMPLATES_DIR: overrides the templates package lookup
    # custom URL installs are off unless switched on, and then only to these hosts
    allow_custom_urls: bool = False  # ALLOW_CUSTOM_URLS
    allowed_url_hosts: tuple[str, ...] = ("huggingface.co", "civitai.com")  # ALLOWED_URL_HOSTS
    # security
    enable_auth: bool = False  # ENABLE_AUTH
    access_password: str | None = field(default=None, repr=False)  # ACCESS_PASSWORD
    api_tokens: tuple[str, ...] = field(default=(), repr=False)  # LAUNCHPAD_API_TOKENS
    session_secret: str | None = field(default=None, repr=False)  # LAUNCHPAD_SESSION_SECRET
    session_ttl: float = 7 * 24 * 3600.0  # LAUNCHPAD_SESSION_TTL: seconds a login lasts
    # origins (scheme://host[:port]) trusted for mutating requests besides the request's own
    allowed_origins: tuple[str, ...] = ()  # LAUNCHPAD_ALLOWED_ORIGINS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``env`` (default: the process environment); ``overrides`` win."""
        env = os.environ if env is None else env
        hf_token = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None
        max_size = env.get("MAX_DOWNLOAD_SIZE")
        margin = env.get("DOWNLOAD_FREE_SPACE_MARGIN")
        segment_size = env.get("DOWNLOAD_SEGMENT_SIZE")
        segmented_from = env.get("DOWNLOAD_SEGMENTED_FROM")
        templates = env.get("LAUNCHPAD_TEMPLATES_DIR")
        database_dir = env.get("COMFYUI_DATABASE_DIR")
        settings = cls(
            workspace=Path(env.get("WORKSPACE_ROOT") or DEFAULT_WORKSPACE),
            workspace_configured=bool(env.get("WORKSPACE_ROOT")),
            comfyui_port=_int(env, "COMFYUI_PORT", 8188),
            comfyui_database_dir=Path(database_dir) if database_dir else None,
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            max_download_size=parse_size(max_size, "MAX_DOWNLOAD_SIZE") if max_size else cls.max_download_size,
            concurrent_downloads=_int(env, "CONCURRENT_DOWNLOADS", 3),
            segments=_int(env, "DOWNLOAD_SEGMENTS", cls.segments),
            segment_size=parse_size(segment_size, "DOWNLOAD_SEGMENT_SIZE") if segment_size else cls.segment_size,
            min_segmented_size=(
                parse_size(segmented_from, "DOWNLOAD_SEGMENTED_FROM") if segmented_from else cls.min_segmented_size
            ),
            stall_timeout=_float(env, "DOWNLOAD_STALL_TIMEOUT", cls.stall_timeout),
            retries=_int(env, "DOWNLOAD_RETRIES", cls.retries, minimum=0),
            retry_backoff=_float(env, "DOWNLOAD_RETRY_BACKOFF", cls.retry_backoff),
            free_space_margin=parse_size(margin, "DOWNLOAD_FREE_SPACE_MARGIN") if margin else cls.free_space_margin,
            lock_ttl=_float(env, "DOWNLOAD_LOCK_TTL", cls.lock_ttl),
            preset_download=_list(env.get("PRESET_DOWNLOAD")),
            hf_token=hf_token,
            civitai_token=env.get("CIVITAI_TOKEN") or None,
            hf_endpoint=(env.get("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT).rstrip("/"),
            civitai_endpoint=(env.get("CIVITAI_ENDPOINT") or DEFAULT_CIVITAI_ENDPOINT).rstrip("/"),
            templates_dir=Path(templates) if templates else None,
            allow_custom_urls=_flag(env.get("ALLOW_CUSTOM_URLS")),
            allowed_url_hosts=_list(env.get("ALLOWED_URL_HOSTS")) or cls.allowed_url_hosts,
            enable_auth=_flag(env.get("ENABLE_AUTH")),
            access_password=env.get("ACCESS_PASSWORD") or None,
            api_tokens=_list(env.get("LAUNCHPAD_API_TOKENS")),
            session_secret=env.get("LAUNCHPAD_SESSION_SECRET") or None,
            session_ttl=_float(env, "LAUNCHPAD_SESSION_TTL", cls.session_ttl),
            allowed_origins=tuple(o.rstrip("/").lower() for o in _list(env.get("LAUNCHPAD_ALLOWED_ORIGINS"))),
        )
        return replace(settings, **overrides) if overrides else settings
