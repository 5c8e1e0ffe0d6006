"""The parsers of the metrics and suite layers' own settings.

``config.py`` merges :data:`PARSERS` into the kit's one :class:`~integration_kit.config.Settings`,
so each is read like any other setting: keyword, CLI, ``INTEGRATION_KIT_<NAME>``,
``[tool.integration_kit]`` (docs/configuration.md lists them all)::

    notify          ["webhook:https://...", "command:notify-team --channel ci"]  (default: none)
    shuffle         "off" (default), "random", or an integer seed
    lint_folders    {"fidelity": "integration"}: extra test folders and their category
    shard           "I/K": run only shard I of K (default: all tests)
    shard_by        "test" (default), "class" or "module": what stays in one shard

Settings of generic types (``leak_check``, ``quarantine_file``, ``shard_window``...) use
config.py's parsers. This module imports nothing heavy: config.py reads it on every load.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_QUARANTINE_FILE = Path("quarantine.json")
NOTIFY_KINDS = ("webhook", "command")
CATEGORIES = ("unit", "integration", "e2e", "contract")


def parse_notify(raw: Any) -> tuple[str, ...]:
    """A list of ``webhook:URL`` / ``command:CMD`` targets (a JSON list or ``;``-separated
    text from the environment)."""
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            raw = json.loads(text)
        else:
            raw = [part for part in (p.strip() for p in text.split(";")) if part]
    if not isinstance(raw, list | tuple):
        raise ValueError(raw)
    targets = []
    for item in raw:
        if not isinstance(item, str):
            raise ValueError(item)
        kind, sep, value = item.strip().partition(":")
        if not sep or kind not in NOTIFY_KINDS or not value.strip():
            raise ValueError(item)
        if kind == "webhook" and not value.startswith(("http://", "https://")):
            raise ValueError(item)
        targets.append(f"{kind}:{value.strip()}")
    return tuple(targets)


def parse_shuffle(raw: Any) -> str:
    """``off``, ``random`` or a non-negative integer seed, as text."""
    if isinstance(raw, bool):
        return "random" if raw else "off"
    if isinstance(raw, int):
        if raw < 0:
            raise ValueError(raw)
        return str(raw)
    text = str(raw).strip().lower()
    if text in {"off", "false", "no", ""}:
        return "off"
    if text in {"random", "true", "on", "yes"}:
        return "random"
    if text.isdigit():
        return str(int(text))
    raise ValueError(raw)


def parse_lint_folders(raw: Any) -> tuple[tuple[str, str], ...]:
    """``{folder: category}`` (a table, or JSON text from the environment)."""
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not isinstance(raw, dict):
        raise ValueError(raw)
    pairs = []
    for folder, category in raw.items():
        if not isinstance(folder, str) or "/" in folder or category not in CATEGORIES:
            raise ValueError(raw)
        pairs.append((folder, category))
    return tuple(sorted(pairs))


SHARD_BY = ("test", "class", "module")


def parse_shard(raw: Any) -> str | None:
    """``"I/K"`` with ``1 <= I <= K`` (the ``--ik-shard`` value), or None for "all tests"."""
    if raw is None or not str(raw).strip():
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(raw))
    if match is None or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(raw)
    return f"{int(match[1])}/{int(match[2])}"


def parse_shard_by(raw: Any) -> str:
    text = str(raw).strip().lower()
    if text not in SHARD_BY:
        raise ValueError(raw)
    return text


#: name -> (parser, what is expected, default)
PARSERS: dict[str, tuple[Callable[[Any], Any], str, Any]] = {
    "notify": (parse_notify, 'a list of "webhook:http(s)://..." or "command:..." targets', ()),
    "shuffle": (parse_shuffle, '"off", "random" or an integer seed >= 0', "off"),
    "lint_folders": (parse_lint_folders, "a table of folder = " + " | ".join(CATEGORIES), ()),
    "shard": (parse_shard, '"I/K" with 1 <= I <= K', None),
    "shard_by": (parse_shard_by, " | ".join(SHARD_BY), "test"),
}
