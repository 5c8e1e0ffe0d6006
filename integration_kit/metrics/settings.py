"""The suite-health settings (metrics and suite layers), declared in one place.

``config.py`` merges :data:`PARSERS` into the kit's settings, so each is read like any
other setting: keyword, CLI, ``INTEGRATION_KIT_<NAME>``, ``[tool.integration_kit]``::

    notify          ["webhook:https://...", "command:notify-team --channel ci"]  (default: none)
    quarantine_file path of the committed quarantine list (default: quarantine.json)
    shuffle         "off" (default), "random", or an integer seed
    leak_check      true or false (default): warn about state a test leaves behind
    lint_folders    {"fidelity": "integration"}: extra test folders and their category

This module imports nothing heavy: ``config.py`` reads it on every settings load.
"""

from __future__ import annotations

import json
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


def _parse_path(raw: Any) -> Path:
    text = str(raw).strip()
    if not text:
        raise ValueError(raw)
    return Path(text).expanduser()


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


#: name -> (parser, what is expected, default)
PARSERS: dict[str, tuple[Callable[[Any], Any], str, Any]] = {
    "notify": (parse_notify, 'a list of "webhook:http(s)://..." or "command:..." targets', ()),
    "quarantine_file": (
        _parse_path,
        "a file path (relative paths are under the rootdir)",
        DEFAULT_QUARANTINE_FILE,
    ),
    "shuffle": (parse_shuffle, '"off", "random" or an integer seed >= 0', "off"),
    "leak_check": (_parse_bool, "true or false", False),
    "lint_folders": (parse_lint_folders, "a table of folder = " + " | ".join(CATEGORIES), ()),
}
