"""Every setting Launchpad reads from the environment, read once, typed, in one place.

Nothing else in the project calls ``os.environ``: callers build a :class:`Settings`
with :meth:`Settings.from_env` and pass it down.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from .errors import InvalidSetting

DEFAULT_WORKSPACE = "/workspace"
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
DEFAULT_CIVITAI_ENDPOINT = "https://civitai.com"
# ComfyUI-Manager's model list as its default channel publishes it (read, never copied: GPL-3.0)
DEFAULT_MANAGER_MODEL_LIST = "https://raw.githubusercontent.com/Comfy-Org/ComfyUI-Manager/main/model-list.json"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)?\s*$", re.IGNORECASE)
_PREFIXES = "KMGT"
_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$")
_ORIGIN = re.compile(r"^https?://[^/?#@\s]+$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DAY = 24 * 3600.0
KIB, GIB, TB = 2**10, 2**30, 10**12


def parse_size(text: str, name: str = "size", minimum: int = 0, maximum: int = 10**15) -> int:
    """Parse ``"100GB"``, ``"20 GiB"``, ``"512M"`` or a plain byte count into bytes."""
    match = _SIZE.match(text)
    if not match:
        raise InvalidSetting(f"{name}={text!r} is not a size; write it like 100GB, 512MiB or 1048576")
    number, unit = float(match.group(1)), (match.group(2) or "").upper()
    prefix = unit[:1] if unit[:1] in _PREFIXES else ""
    base = 1024 if "I" in unit else 1000
    factor = base ** (_PREFIXES.index(prefix) + 1) if prefix else 1
    if not math.isfinite(number * factor) or not minimum <= number * factor <= maximum:
        raise InvalidSetting(f"{name}={text!r} is out of range: use {minimum} to {maximum} bytes")
    return int(number * factor)


def _raw(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, or None when it is unset or blank (blank means "use the default")."""
    raw = env.get(name)
    return None if raw is None or raw.strip() == "" else raw


def _switch(env: Mapping[str, str], name: str) -> bool | None:
    """A boolean: True, False, or None when unset; anything else is refused, never read as off."""
    raw = _raw(env, name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise InvalidSetting(
        f"{name}={raw[:40]!r} is not understood; use 1, true, yes or on to switch it on, "
        "0, false, no or off (or leave it unset) to switch it off"
    )


def _flag(env: Mapping[str, str], name: str) -> bool:
    return bool(_switch(env, name))


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1, maximum: int = 1_000_000) -> int:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidSetting(f"{name}={raw[:40]!r} must be a whole number from {minimum} to {maximum}") from None
    if not minimum <= value <= maximum:
        raise InvalidSetting(f"{name}={raw[:40]!r} is out of range: use a whole number from {minimum} to {maximum}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float) -> float:
    """A duration in seconds: finite, within [minimum, maximum] (nan and inf are refused)."""
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise InvalidSetting(f"{name}={raw[:40]!r} must be a number of seconds from {minimum:g} to {maximum:g}")
    return value


def _size(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = _raw(env, name)
    return default if raw is None else parse_size(raw, name, minimum, maximum)


def _items(env: Mapping[str, str], name: str, example: str, *, secret: bool = False) -> tuple[str, ...] | None:
    """A comma-separated list, or None when unset; an empty entry (``a,,b`` or ``,,,``) is refused."""
    raw = _raw(env, name)
    if raw is None:
        return None
    parts = tuple(part.strip() for part in raw.split(","))
    if any(not part for part in parts):
        shown = "" if secret else f"={raw[:80]!r}"  # a secret's value never goes into a message
        raise InvalidSetting(
            f"{name}{shown} has an empty entry; separate values with single commas, e.g. {example}"
        )
    return parts


def _hosts(env: Mapping[str, str], name: str, example: str, *, wildcards: bool = False) -> tuple[str, ...] | None:
    items = _items(env, name, example)
    if items is None:
        return None
    hosts = []
    for item in items:
        host = item.lower()
        bare = host[2:] if wildcards and host.startswith("*.") else host.lstrip(".")
        if (wildcards and host == "*") or _HOST_NAME.match(bare.rstrip(".")) or is_ip_literal(bare.strip("[]")):
            hosts.append(host)
            continue
        raise InvalidSetting(f"{name} entry {item[:80]!r} is not a host name; write names like {example}")
    return tuple(hosts)


def is_ip_literal(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (no brackets), not a name."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _networks(env: Mapping[str, str], name: str, example: str) -> tuple[str, ...]:
    """Addresses or networks (CIDR), kept as their canonical text (settings travel as JSON)."""
    items = _items(env, name, example) or ()
    networks = []
    for item in items:
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise InvalidSetting(
                f"{name} entry {item[:80]!r} is not an address or network; write e.g. {example}"
            ) from None
    return tuple(networks)


def _endpoint(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _raw(env, name)
    if raw is None:
        return default
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise InvalidSetting(f"{name}={raw[:80]!r} must be an http(s) URL like {default}")
    return raw.strip().rstrip("/")


def _origins(env: Mapping[str, str]) -> tuple[str, ...]:
    name = "LAUNCHPAD_ALLOWED_ORIGINS"
    origins = tuple(o.rstrip("/").lower() for o in _items(env, name, "https://my.example.com") or ())
    for origin in origins:
        if origin != "*" and not _ORIGIN.match(origin):
            raise InvalidSetting(
                f"{name} entry {origin[:80]!r} must be an origin like https://my.example.com[:port], or *"
            )
    return origins


def _log_level(env: Mapping[str, str]) -> str:
    level = (_raw(env, "LOG_LEVEL") or "INFO").strip().upper()
    if level not in LOG_LEVELS:
        raise InvalidSetting(f"LOG_LEVEL={level[:40]!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
    return level


PASSWORD_VAR, TOKENS_VAR = "ACCESS_PASSWORD", "LAUNCHPAD_API_TOKENS"


def _auth(env: Mapping[str, str]) -> bool:
    """Whether the login is on. A credential without ENABLE_AUTH turns it on (a password is never
    ignored); ENABLE_AUTH switched off explicitly while a credential is set is a contradiction we
    refuse to guess about."""
    switch = _switch(env, "ENABLE_AUTH")
    credentials = [name for name in (PASSWORD_VAR, TOKENS_VAR) if _raw(env, name) is not None]
    if switch is False and credentials:
        raise InvalidSetting(
            f"ENABLE_AUTH={env.get('ENABLE_AUTH', '')[:40]!r} switches the login off, but {' and '.join(credentials)} "
            "is set. Set ENABLE_AUTH=1 to require the login, or remove the credential to run without one."
        )
    return bool(switch) or bool(credentials)


def auth_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for a login, for deciding to fail closed. Never raises: an
    ENABLE_AUTH that cannot be parsed, or any set credential, counts as asked for."""
    env = os.environ if env is None else env
    try:
        return _auth(env)
    except InvalidSetting:
        return True


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
    size_lookup: bool = True  # LAUNCHPAD_SIZE_LOOKUP=0: never ask the sources for sizes in the background
    # LAUNCHPAD_MODEL_LOOKUP=0: never ask Civitai or the Hub where a workflow's unknown model is (caches still count)
    model_lookup: bool = True
    manager_model_list_url: str = DEFAULT_MANAGER_MODEL_LIST  # MANAGER_MODEL_LIST_URL: what `--refresh` fetches
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
    # host names requests may address besides loopback names, IP literals and the pod proxy's
    # (DNS rebinding); "*" allows any
    allowed_hosts: tuple[str, ...] = ()  # ALLOWED_HOSTS
    # proxies (addresses or networks) whose X-Forwarded-For is believed for login throttling
    trusted_proxies: tuple[str, ...] = ()  # TRUSTED_PROXIES
    # networks a client-given download may connect to although they are not public
    private_url_networks: tuple[str, ...] = ()  # ALLOW_PRIVATE_URL_ADDRESSES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``env`` (default: the process environment); ``overrides`` win."""
        env = os.environ if env is None else env
        hf_token = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None
        templates = _raw(env, "LAUNCHPAD_TEMPLATES_DIR")
        database_dir = _raw(env, "COMFYUI_DATABASE_DIR")
        tokens = _items(env, TOKENS_VAR, "token1,token2", secret=True) or ()
        url_hosts = _hosts(env, "ALLOWED_URL_HOSTS", "huggingface.co,civitai.com")
        settings = cls(
            workspace=Path(env.get("WORKSPACE_ROOT") or DEFAULT_WORKSPACE),
            workspace_configured=bool(env.get("WORKSPACE_ROOT")),
            comfyui_port=_int(env, "COMFYUI_PORT", 8188, maximum=65535),
            comfyui_database_dir=Path(database_dir) if database_dir else None,
            log_level=_log_level(env),
            max_download_size=_size(env, "MAX_DOWNLOAD_SIZE", cls.max_download_size, 1, 10**15),
            concurrent_downloads=_int(env, "CONCURRENT_DOWNLOADS", 3, maximum=32),
            segments=_int(env, "DOWNLOAD_SEGMENTS", cls.segments, maximum=64),
            segment_size=_size(env, "DOWNLOAD_SEGMENT_SIZE", cls.segment_size, 64 * KIB, 4 * GIB),
            min_segmented_size=_size(env, "DOWNLOAD_SEGMENTED_FROM", cls.min_segmented_size, 0, 10**15),
            stall_timeout=_seconds(env, "DOWNLOAD_STALL_TIMEOUT", cls.stall_timeout, 1, 3600),
            retries=_int(env, "DOWNLOAD_RETRIES", cls.retries, minimum=0, maximum=100),
            retry_backoff=_seconds(env, "DOWNLOAD_RETRY_BACKOFF", cls.retry_backoff, 0.01, 600),
            free_space_margin=_size(env, "DOWNLOAD_FREE_SPACE_MARGIN", cls.free_space_margin, 0, 100 * TB),
            lock_ttl=_seconds(env, "DOWNLOAD_LOCK_TTL", cls.lock_ttl, 5, DAY),
            preset_download=_items(env, "PRESET_DOWNLOAD", "FLUX1_DEV,SDXL_BASE") or (),
            hf_token=hf_token,
            civitai_token=env.get("CIVITAI_TOKEN") or None,
            hf_endpoint=_endpoint(env, "HF_ENDPOINT", DEFAULT_HF_ENDPOINT),
            civitai_endpoint=_endpoint(env, "CIVITAI_ENDPOINT", DEFAULT_CIVITAI_ENDPOINT),
            templates_dir=Path(templates) if templates else None,
            size_lookup=_switch(env, "LAUNCHPAD_SIZE_LOOKUP") is not False,
            model_lookup=_switch(env, "LAUNCHPAD_MODEL_LOOKUP") is not False,
            manager_model_list_url=_endpoint(env, "MANAGER_MODEL_LIST_URL", DEFAULT_MANAGER_MODEL_LIST),
            allow_custom_urls=_flag(env, "ALLOW_CUSTOM_URLS"),
            allowed_url_hosts=url_hosts if url_hosts is not None else cls.allowed_url_hosts,
            enable_auth=_auth(env),
            access_password=env.get(PASSWORD_VAR) or None,
            api_tokens=tokens,
            session_secret=env.get("LAUNCHPAD_SESSION_SECRET") or None,
            session_ttl=_seconds(env, "LAUNCHPAD_SESSION_TTL", cls.session_ttl, 60, 366 * DAY),
            allowed_origins=_origins(env),
            allowed_hosts=_hosts(env, "ALLOWED_HOSTS", "comfy.example.com,.example.org", wildcards=True) or (),
            trusted_proxies=_networks(env, "TRUSTED_PROXIES", "10.0.0.0/8,100.64.0.0/10"),
            private_url_networks=_networks(env, "ALLOW_PRIVATE_URL_ADDRESSES", "192.168.1.20,10.0.0.0/8"),
        )
        return replace(settings, **overrides) if overrides else settings


DEFAULT_LOCAL_WORKSPACE = "/var/lib/launchpad/workspace"


def _command(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    """A command line (split like a shell would); refused when it does not split."""
    raw = _raw(env, name) or default
    try:
        parts = tuple(shlex.split(raw))
    except ValueError as exc:
        raise InvalidSetting(f"{name}={raw[:80]!r} cannot be split into words ({exc}); check its quotes") from None
    if not parts and name != "COMFYUI_ARGS":
        raise InvalidSetting(f"{name} is empty; name a program, e.g. {default}")
    return parts


@dataclass(frozen=True)
class ServerlessSettings:
    """What the RunPod Serverless worker reads besides :class:`Settings` (docs/serverless.md)."""

    settings: Settings = field(default_factory=Settings)
    # models locks to provision at cold start, in order; relative paths are on the models volume.
    # The same variable the `lock` work reads into Settings (docs/lockfile.md).
    models_locks: tuple[Path, ...] = ()  # MODELS_LOCK=config/models.lock.json[,...]
    comfyui_dir: Path = Path("/opt/ComfyUI")  # COMFYUI_DIR
    comfyui_python: Path = Path("/opt/venv/bin/python")  # COMFYUI_PYTHON
    comfyui_args: tuple[str, ...] = ()  # COMFYUI_ARGS: more ComfyUI flags, e.g. "--cpu"
    comfyui_start_timeout: float = 600.0  # COMFYUI_START_TIMEOUT: seconds until ComfyUI must answer
    launchpad_cli: tuple[str, ...] = ("launchpad",)  # LAUNCHPAD_BIN: the CLI that provisions
    local_workspace: Path = Path(DEFAULT_LOCAL_WORKSPACE)  # LOCAL_WORKSPACE: outputs, inputs, state
    refresh_worker: bool = False  # REFRESH_WORKER: a fresh worker after every job
    comfy_org_api_key: str | None = field(default=None, repr=False)  # COMFY_ORG_API_KEY (API nodes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerlessSettings:
        env = os.environ if env is None else env
        locks = _items(env, "MODELS_LOCK", "config/models.lock.json") or ()
        return cls(
            settings=Settings.from_env(env),
            models_locks=tuple(Path(lock) for lock in locks),
            comfyui_dir=Path(_raw(env, "COMFYUI_DIR") or cls.comfyui_dir),
            comfyui_python=Path(_raw(env, "COMFYUI_PYTHON") or cls.comfyui_python),
            comfyui_args=_command(env, "COMFYUI_ARGS", ""),
            comfyui_start_timeout=_seconds(env, "COMFYUI_START_TIMEOUT", cls.comfyui_start_timeout, 5, DAY),
            launchpad_cli=_command(env, "LAUNCHPAD_BIN", "launchpad"),
            local_workspace=Path(_raw(env, "LOCAL_WORKSPACE") or DEFAULT_LOCAL_WORKSPACE),
            refresh_worker=_flag(env, "REFRESH_WORKER"),
            comfy_org_api_key=_raw(env, "COMFY_ORG_API_KEY"),
        )
