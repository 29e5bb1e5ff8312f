"""Reading YAML and JSON a user or client wrote, however deep or odd, without a crash.

PyYAML's composer and everything that walks a parsed document recurse once per level, so a
tiny file nested a few hundred levels deep ends in RecursionError wherever it is touched (the
catalog, every route that reads it, the CLI). Both readers here refuse such a document with a
:class:`DocumentError` saying what is wrong, before anything recursive sees it:

- YAML is first read as a stream of events (PyYAML's parser is a loop, not a recursion), which
  tells the nesting depth and the number of aliases; only then is it composed;
- JSON is parsed (RecursionError there is caught) and its depth measured without recursion.

Nothing a person writes by hand needs more than :data:`MAX_DEPTH` levels (a ComfyUI workflow
needs about ten).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

MAX_DEPTH = 64
MAX_ALIASES = 1000  # anchors re-used more often than this are a "billion laughs", not a catalog


class DocumentError(ValueError):
    """A document that cannot be used; ``str()`` says why, for a warning or a 400."""


def _too_deep() -> DocumentError:
    return DocumentError(f"nested more than {MAX_DEPTH} levels deep")


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` for untrusted text; DocumentError (with line and column) instead of a crash."""
    import yaml  # not with the routes: ComfyUI times our import, and JSON bodies need no YAML

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = aliases = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    line = f" at line {mark.line + 1}" if mark is not None else ""
                    raise DocumentError(f"nested more than {MAX_DEPTH} levels deep{line}")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise DocumentError(f"uses more than {MAX_ALIASES} aliases (*name)")
        return yaml.load(text, Loader=loader)  # a safe loader: plain data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentError(f"not valid YAML{where}: {problem}") from None
    except RecursionError:  # a deep stack already: still a refusal, never a crash
        raise _too_deep() from None


def depth_within(data: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and dicts in ``data`` nest at most ``limit`` levels (measured without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


def load_json(raw: str | bytes) -> Any:
    """``json.loads`` for an untrusted body; DocumentError instead of RecursionError or a deep result."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DocumentError(f"not valid JSON: {exc}") from None
    if not depth_within(data):
        raise _too_deep()
    return data
