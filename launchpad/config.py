"""Every setting Launchpad reads from the environment, read once, typed, in one place.

Nothing else in the project calls ``os.environ``: callers build a :class:`Settings`
with :meth:`Settings.from_env` and pass it down. Each field names its variable once, in its
:func:`setting` (with the reader that parses and checks it); messages elsewhere in this
module get the name back from :func:`env_name`.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import shlex
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
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


def is_ip_literal(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (no brackets), not a name."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --- readers: how one variable's text becomes a field's value ---------------------------------------

# (environment, variable name, the field's default) -> the value; raises InvalidSetting
Reader = Callable[[Mapping[str, str], str, Any], Any]


def text(env: Mapping[str, str], name: str, default: Any) -> Any:
    """Any non-empty text (a token, a password): taken as it is."""
    return env.get(name) or default


def flag(env: Mapping[str, str], name: str, default: Any) -> Any:
    switch = _switch(env, name)
    return default if switch is None else switch


def path(env: Mapping[str, str], name: str, default: Any) -> Any:
    raw = _raw(env, name)
    return Path(raw) if raw is not None else default


def integer(minimum: int = 1, maximum: int = 1_000_000) -> Reader:
    def read(env: Mapping[str, str], name: str, default: Any) -> Any:
        raw = _raw(env, name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidSetting(f"{name}={raw[:40]!r} must be a whole number from {minimum} to {maximum}") from None
        if not minimum <= value <= maximum:
            raise InvalidSetting(
                f"{name}={raw[:40]!r} is out of range: use a whole number from {minimum} to {maximum}"
            )
        return value

    return read


def seconds(minimum: float, maximum: float) -> Reader:
    """A duration in seconds: finite, within [minimum, maximum] (nan and inf are refused)."""

    def read(env: Mapping[str, str], name: str, default: Any) -> Any:
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

    return read


def size(minimum: int, maximum: int) -> Reader:
    def read(env: Mapping[str, str], name: str, default: Any) -> Any:
        raw = _raw(env, name)
        return default if raw is None else parse_size(raw, name, minimum, maximum)

    return read


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


def items(example: str, *, secret: bool = False) -> Reader:
    def read(env: Mapping[str, str], name: str, default: Any) -> Any:
        found = _items(env, name, example, secret=secret)
        return default if found is None else found

    return read


def hosts(example: str, *, wildcards: bool = False) -> Reader:
    def read(env: Mapping[str, str], name: str, default: Any) -> Any:
        found = _items(env, name, example)
        if found is None:
            return default
        names = []
        for item in found:
            host = item.lower()
            bare = host[2:] if wildcards and host.startswith("*.") else host.lstrip(".")
            if (wildcards and host == "*") or _HOST_NAME.match(bare.rstrip(".")) or is_ip_literal(bare.strip("[]")):
                names.append(host)
                continue
            raise InvalidSetting(f"{name} entry {item[:80]!r} is not a host name; write names like {example}")
        return tuple(names)

    return read


def networks(example: str) -> Reader:
    """Addresses or networks (CIDR), kept as their canonical text (settings travel as JSON)."""

    def read(env: Mapping[str, str], name: str, default: Any) -> Any:
        found = []
        for item in _items(env, name, example) or ():
            try:
                found.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise InvalidSetting(
                    f"{name} entry {item[:80]!r} is not an address or network; write e.g. {example}"
                ) from None
        return tuple(found) if found else default

    return read


def endpoint(env: Mapping[str, str], name: str, default: Any) -> Any:
    raw = _raw(env, name)
    if raw is None:
        return default
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise InvalidSetting(f"{name}={raw[:80]!r} must be an http(s) URL like {default}")
    return raw.strip().rstrip("/")


def origins(env: Mapping[str, str], name: str, default: Any) -> Any:
    found = tuple(o.rstrip("/").lower() for o in _items(env, name, "https://my.example.com") or ())
    for origin in found:
        if origin != "*" and not _ORIGIN.match(origin):
            raise InvalidSetting(
                f"{name} entry {origin[:80]!r} must be an origin like https://my.example.com[:port], or *"
            )
    return found or default


def log_level(env: Mapping[str, str], name: str, default: Any) -> Any:
    level = (_raw(env, name) or default).strip().upper()
    if level not in LOG_LEVELS:
        raise InvalidSetting(f"{name}={level[:40]!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
    return level


def paths(example: str) -> Reader:
    """A comma-separated list of paths."""
    read_items = items(example)

    def read(env: Mapping[str, str], name: str, default: Any) -> Any:
        found = read_items(env, name, None)
        return default if found is None else tuple(Path(item) for item in found)

    return read


def command(default_text: str) -> Reader:
    """A command line (split like a shell would); refused when it does not split, or (with a
    default to name) when it is empty."""

    def read(env: Mapping[str, str], name: str, default: Any) -> Any:
        raw = _raw(env, name) or default_text
        try:
            parts = tuple(shlex.split(raw))
        except ValueError as exc:
            raise InvalidSetting(f"{name}={raw[:80]!r} cannot be split into words ({exc}); check its quotes") from None
        if not parts and default_text:
            raise InvalidSetting(f"{name} is empty; name a program, e.g. {default_text}")
        return parts

    return read


def _optional_text(env: Mapping[str, str], name: str, default: Any) -> Any:
    return _raw(env, name) or default


def setting(
    name: str, default: Any, read: Reader, *, secret: bool = False, aliases: tuple[str, ...] = ()
) -> Any:
    """A Settings field read from the environment variable ``name`` (or, unset, its ``aliases``)."""
    return field(default=default, repr=not secret, metadata={"env": (name, *aliases), "read": read})


def env_name(field_name: str) -> str:
    """The environment variable of a Settings field, for messages that tell people what to set."""
    return str(_FIELDS[field_name].metadata["env"][0])


def _read(item: Field[Any], env: Mapping[str, str]) -> Any:
    names, read = item.metadata["env"], item.metadata["read"]
    for name in names:  # the first one set wins
        if _raw(env, name) is not None:
            return read(env, name, item.default)
    return read(env, names[0], item.default)


def _auth(env: Mapping[str, str]) -> bool:
    """Whether the login is on. A credential without the switch turns it on (a password is never
    ignored); the switch turned off explicitly while a credential is set is a contradiction we
    refuse to guess about."""
    switch_name = env_name("enable_auth")
    switch = _switch(env, switch_name)
    credentials = [name for name in (env_name("access_password"), env_name("api_tokens")) if _raw(env, name)]
    if switch is False and credentials:
        raise InvalidSetting(
            f"{switch_name}={env.get(switch_name, '')[:40]!r} switches the login off, but "
            f"{' and '.join(credentials)} is set. Set {switch_name}=1 to require the login, or remove the "
            "credential to run without one."
        )
    return bool(switch) or bool(credentials)


def auth_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for a login, for deciding to fail closed. Never raises: an
    switch that cannot be parsed, or any set credential, counts as asked for."""
    env = os.environ if env is None else env
    try:
        return _auth(env)
    except InvalidSetting:
        return True


def _enable_auth(env: Mapping[str, str], name: str, default: Any) -> Any:
    return _auth(env)


@dataclass(frozen=True)
class Settings:
    """Launchpad's configuration: each field names the environment variable it is read from."""

    workspace: Path = setting("WORKSPACE_ROOT", Path(DEFAULT_WORKSPACE), path)
    workspace_configured: bool = False  # True when the workspace's variable was set (else hosts pick a default)
    comfyui_port: int = setting("COMFYUI_PORT", 8188, integer(maximum=65535))
    # ComfyUI's SQLite assets database, one per ComfyUI process, on local disk (None: ~/.local/state)
    comfyui_database_dir: Path | None = setting("COMFYUI_DATABASE_DIR", None, path)
    log_level: str = setting("LOG_LEVEL", "INFO", log_level)
    # downloads
    max_download_size: int = setting("MAX_DOWNLOAD_SIZE", 100 * 10**9, size(1, 10**15))
    concurrent_downloads: int = setting("CONCURRENT_DOWNLOADS", 3, integer(maximum=32))
    # parallel ranged connections per file, and bytes a segment asks for at a time
    segments: int = setting("DOWNLOAD_SEGMENTS", 8, integer(maximum=64))
    segment_size: int = setting("DOWNLOAD_SEGMENT_SIZE", 32 * 2**20, size(64 * KIB, 4 * GIB))
    min_segmented_size: int = setting("DOWNLOAD_SEGMENTED_FROM", 64 * 2**20, size(0, 10**15))  # smaller: one stream
    stall_timeout: float = setting("DOWNLOAD_STALL_TIMEOUT", 60.0, seconds(1, 3600))  # without a byte: retry
    retries: int = setting("DOWNLOAD_RETRIES", 5, integer(minimum=0, maximum=100))
    retry_backoff: float = setting("DOWNLOAD_RETRY_BACKOFF", 1.0, seconds(0.01, 600))  # first retry; doubles
    free_space_margin: int = setting("DOWNLOAD_FREE_SPACE_MARGIN", 2 * 10**9, size(0, 100 * TB))
    lock_ttl: float = setting("DOWNLOAD_LOCK_TTL", 60.0, seconds(5, DAY))  # a lock without heartbeat expires
    preset_download: tuple[str, ...] = setting("PRESET_DOWNLOAD", (), items("FLUX1_DEV,SDXL_BASE"))
    # models locks this pod serves (named in its lease on the volume; docs/lockfile.md); a relative
    # path is on the workspace (the serverless worker: on its models volume)
    models_locks: tuple[Path, ...] = setting("MODELS_LOCK", (), paths("config/models.lock.json"))
    pod_id: str | None = setting("RUNPOD_POD_ID", None, _optional_text)  # names this pod in its lease (else the host)
    # sources (tokens are secrets: never logged, never returned by the API)
    hf_token: str | None = setting("HF_TOKEN", None, text, secret=True, aliases=("HUGGING_FACE_HUB_TOKEN",))
    civitai_token: str | None = setting("CIVITAI_TOKEN", None, text, secret=True)
    hf_endpoint: str = setting("HF_ENDPOINT", DEFAULT_HF_ENDPOINT, endpoint)
    civitai_endpoint: str = setting("CIVITAI_ENDPOINT", DEFAULT_CIVITAI_ENDPOINT, endpoint)
    templates_dir: Path | None = setting("LAUNCHPAD_TEMPLATES_DIR", None, path)  # overrides the package lookup
    # off: never ask the sources for sizes in the background
    size_lookup: bool = setting("LAUNCHPAD_SIZE_LOOKUP", True, flag)
    # off: never ask Civitai or the Hub where a workflow's model is (what they said before still counts)
    model_lookup: bool = setting("LAUNCHPAD_MODEL_LOOKUP", True, flag)
    # what `launchpad workflow FILE --refresh` fetches
    manager_model_list_url: str = setting("MANAGER_MODEL_LIST_URL", DEFAULT_MANAGER_MODEL_LIST, endpoint)
    # custom URL installs are off unless switched on, and then only to these hosts
    allow_custom_urls: bool = setting("ALLOW_CUSTOM_URLS", False, flag)
    allowed_url_hosts: tuple[str, ...] = setting(
        "ALLOWED_URL_HOSTS", ("huggingface.co", "civitai.com"), hosts("huggingface.co,civitai.com")
    )
    # security
    enable_auth: bool = setting("ENABLE_AUTH", False, _enable_auth)  # also on when a credential is set
    access_password: str | None = setting("ACCESS_PASSWORD", None, text, secret=True)
    api_tokens: tuple[str, ...] = setting("LAUNCHPAD_API_TOKENS", (), items("token1,token2", secret=True), secret=True)
    session_secret: str | None = setting("LAUNCHPAD_SESSION_SECRET", None, text, secret=True)
    session_ttl: float = setting("LAUNCHPAD_SESSION_TTL", 7 * DAY, seconds(60, 366 * DAY))  # how long a login lasts
    # origins (scheme://host[:port]) trusted for mutating requests besides the request's own
    allowed_origins: tuple[str, ...] = setting("LAUNCHPAD_ALLOWED_ORIGINS", (), origins)
    # host names requests may address besides loopback names, IP literals and the pod proxy's
    # (DNS rebinding); "*" allows any
    allowed_hosts: tuple[str, ...] = setting(
        "ALLOWED_HOSTS", (), hosts("comfy.example.com,.example.org", wildcards=True)
    )
    # proxies (addresses or networks) whose X-Forwarded-For is believed for login throttling
    trusted_proxies: tuple[str, ...] = setting("TRUSTED_PROXIES", (), networks("10.0.0.0/8,100.64.0.0/10"))
    # networks a client-given download may connect to although they are not public
    private_url_networks: tuple[str, ...] = setting(
        "ALLOW_PRIVATE_URL_ADDRESSES", (), networks("192.168.1.20,10.0.0.0/8")
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``env`` (default: the process environment); ``overrides`` win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {item.name: _read(item, env) for item in fields(cls) if "env" in item.metadata}
        values["workspace_configured"] = _raw(env, env_name("workspace")) is not None
        settings = cls(**values)
        return replace(settings, **overrides) if overrides else settings

    def to_json(self) -> dict[str, object]:
        """Every field as plain JSON, secrets included: for a child process's stdin, never a log."""
        return {item.name: _plain(getattr(self, item.name)) for item in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Settings:
        """The settings :meth:`to_json` wrote; a field it lacks keeps its default."""
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {
            item.name: _typed(hints[item.name], data[item.name]) for item in fields(cls) if item.name in data
        }
        return cls(**values)


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    return [_plain(item) for item in value] if isinstance(value, tuple) else value


def _typed(hint: object, value: object) -> object:
    """``value`` from JSON as the field's type (``hint``): paths and tuples come back as such."""
    if value is None:
        return None
    if isinstance(hint, types.UnionType):  # X | None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if hint is Path:
        return Path(str(value))
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        item_hint = typing.get_args(hint)[0] if typing.get_args(hint) else object
        return tuple(_typed(item_hint, item) for item in value)
    return value


_FIELDS = {item.name: item for item in fields(Settings)}

DEFAULT_LOCAL_WORKSPACE = "/var/lib/launchpad/workspace"


@dataclass(frozen=True)
class ServerlessSettings:
    """What the RunPod Serverless worker reads besides :class:`Settings` (docs/serverless.md)."""

    settings: Settings = field(default_factory=Settings)
    comfyui_dir: Path = setting("COMFYUI_DIR", Path("/opt/ComfyUI"), path)
    comfyui_python: Path = setting("COMFYUI_PYTHON", Path("/opt/venv/bin/python"), path)
    comfyui_args: tuple[str, ...] = setting("COMFYUI_ARGS", (), command(""))  # more ComfyUI flags, e.g. "--cpu"
    # seconds until ComfyUI must answer
    comfyui_start_timeout: float = setting("COMFYUI_START_TIMEOUT", 600.0, seconds(5, DAY))
    launchpad_cli: tuple[str, ...] = setting("LAUNCHPAD_BIN", ("launchpad",), command("launchpad"))  # provisions
    # outputs, inputs, state
    local_workspace: Path = setting("LOCAL_WORKSPACE", Path(DEFAULT_LOCAL_WORKSPACE), path)
    refresh_worker: bool = setting("REFRESH_WORKER", False, flag)  # a fresh worker after every job
    comfy_org_api_key: str | None = setting("COMFY_ORG_API_KEY", None, _optional_text, secret=True)  # API nodes

    @property
    def models_locks(self) -> tuple[Path, ...]:
        """The locks to provision at cold start, in order (MODELS_LOCK; relative: on the models volume)."""
        return self.settings.models_locks

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerlessSettings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {item.name: _read(item, env) for item in fields(cls) if "env" in item.metadata}
        return cls(settings=Settings.from_env(env), **values)
