"""Launchpad's logs: stdout plus <workspace>/logs/launchpad.log (rotated at midnight, 7 days kept), secrets redacted.

Which loggers: the package's modules log with ``logging.getLogger(__name__)``, and under
ComfyUI ``__name__`` starts with the pack's path-like module name, not ``launchpad``; the
ComfyUI entry logs as ``launchpad``. :func:`setup_logging` configures both: the literal
``launchpad`` logger and the package's top logger (:data:`PACKAGE_LOGGER`). Both stop
propagating, so ComfyUI's own root handler does not print every line twice.

Every record through our handlers passes :class:`RedactingFilter` first: bearer tokens,
``token=``-style query values, Hugging Face tokens and the configured secret values are
replaced by ``***`` in the message, its arguments and any traceback.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path

from .config import Settings

# the repository's top package, whatever name ComfyUI or pip gave it ("<path-like>", "comfyui_launchpad")
PACKAGE_LOGGER = __name__.rsplit(".", 2)[0]
LOGGER_NAMES = tuple(dict.fromkeys(("launchpad", PACKAGE_LOGGER)))
LOG_FILE = "launchpad.log"
KEEP_DAYS = 7
MIN_SECRET_LENGTH = 4  # shorter "secrets" would blank out ordinary words all over the log
MASK = "***"
FORMAT = "%(asctime)s %(levelname)s %(short_name)s: %(message)s"

_PATTERNS = (
    # Authorization headers and "Bearer <token>" anywhere
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|token)?\s*)[^\s\"',;]+"), r"\1" + MASK),
    (re.compile(r"(?i)(\bbearer\s+)[^\s\"',;]+"), r"\1" + MASK),
    # query strings and KEY=value: token=, hf_token=, access_token=, password=, api_key=, X-Amz-Signature=
    (
        re.compile(r"(?i)(\b[a-z0-9_.-]*(?:token|password|passwd|secret|api[_-]?key|signature|sig)=)[^&\s\"',;]+"),
        r"\1" + MASK,
    ),
    # Hugging Face user access tokens
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}\b"), "hf_" + MASK),
)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record before any handler formats it. Never drops a record."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, values))) if values else None

    def redact(self, text: str) -> str:
        if self._values is not None:
            text = self._values.sub(MASK, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as it always does
            return True
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            # format the traceback now so the text every handler prints is the redacted one
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class _Formatter(logging.Formatter):
    """Shows ``launchpad.events`` instead of ComfyUI's ``/path/to/custom_nodes/pack.launchpad.events``."""

    def format(self, record: logging.LogRecord) -> str:
        name = record.name
        prefix = PACKAGE_LOGGER + "."
        record.short_name = name[len(prefix) :] if name.startswith(prefix) and prefix != "launchpad." else name
        return super().format(record)


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """The secret values in ``settings`` that must never reach a log."""
    values = (settings.hf_token, settings.civitai_token, settings.access_password, settings.session_secret)
    return tuple(v for v in (*values, *settings.api_tokens) if v)


HANDLER_NAME = "launchpad"  # names our handlers, whichever copy of the package made them


def _ours(handler: logging.Handler) -> bool:
    return handler.get_name() == HANDLER_NAME


def reset_logging() -> None:
    """Remove and close our handlers and let the loggers propagate again (tests, reconfiguration)."""
    closed: set[int] = set()
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if _ours(h)]:
            logger.removeHandler(handler)
            if id(handler) not in closed:
                handler.close()
                closed.add(id(handler))
        logger.propagate = True


def _level(level: str) -> tuple[int, str | None]:
    value = logging.getLevelName(str(level).strip().upper())
    if isinstance(value, int):
        return value, None
    return logging.INFO, f"LOG_LEVEL={level!r} is not a level (DEBUG, INFO, WARNING, ERROR); using INFO"


def _file_handler(logs_dir: Path) -> TimedRotatingFileHandler:
    logs_dir.mkdir(parents=True, exist_ok=True)
    return TimedRotatingFileHandler(logs_dir / LOG_FILE, when="midnight", backupCount=KEEP_DAYS, encoding="utf-8")


def setup_logging(
    workspace_logs_dir: Path | None,
    level: str = "INFO",
    secrets: Iterable[str | None] = (),
) -> list[logging.Handler]:
    """Send our loggers to stdout and to ``<workspace_logs_dir>/launchpad.log``, secrets redacted.

    Idempotent: a second call replaces the handlers the first one added (so a new directory,
    level or secret takes effect) and adds no duplicates. ``workspace_logs_dir`` None, or a
    directory that cannot be written, means stdout only (the latter with one warning).
    ``secrets`` are values to mask, e.g. :func:`secrets_of(settings) <secrets_of>`.
    Returns the handlers now installed.
    """
    reset_logging()
    redactor = RedactingFilter(secrets)
    formatter = _Formatter(FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    problems: list[str] = []
    if workspace_logs_dir is not None:
        try:
            handlers.append(_file_handler(Path(workspace_logs_dir)))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            problems.append(f"cannot write logs to {workspace_logs_dir} ({reason}); logging to stdout only")
    number, level_problem = _level(level)
    if level_problem:
        problems.append(level_problem)
    for handler in handlers:
        handler.set_name(HANDLER_NAME)
        handler.addFilter(redactor)
        handler.setFormatter(formatter)
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        logger.setLevel(number)
        logger.propagate = False
        for handler in handlers:
            logger.addHandler(handler)
    for problem in problems:
        logging.getLogger(LOGGER_NAMES[0]).warning(problem)
    return handlers
