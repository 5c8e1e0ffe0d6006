"""Which fakeredis releases :class:`~integration_kit.mocks.MockRedisClient` works with, checked up front.

The mock reaches into fakeredis at a few seams (the time it reads, the deadline a database
stores, the socket class a connection builds, and command methods by their Redis names).
Those are internals, so the supported range is pinned to the releases the kit is tested
with, and an installed fakeredis outside it fails on import of
``integration_kit.mocks.redis`` and on construction with ``IK-MOCK-FAKEREDIS-UNSUPPORTED``
naming the range, never with a ``TypeError`` deep inside a command. Inside the range each
seam is still probed, so an untested patch release that moved one fails the same way.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from typing import Any

from integration_kit.errors import ErrorCode, MockError

__all__ = ["FAKEREDIS_BELOW", "FAKEREDIS_MIN", "SUPPORTED_FAKEREDIS", "check_fakeredis", "installed_version"]

FAKEREDIS_MIN: tuple[int, int] = (2, 40)
"""The oldest fakeredis minor release the mock is tested with (tests/fidelity/redis on 2.40.0)."""
FAKEREDIS_BELOW: tuple[int, int] = (2, 42)
"""The first fakeredis minor release the mock is *not* tested with (2.41.0 is the newest tested)."""
SUPPORTED_FAKEREDIS = f">={FAKEREDIS_MIN[0]}.{FAKEREDIS_MIN[1]},<{FAKEREDIS_BELOW[0]}.{FAKEREDIS_BELOW[1]}"
"""The range as a pip specifier (what pyproject's ``mocks`` extra declares)."""

# Each seam: module, attribute path. A missing one means the release moved an internal the mock uses.
_SEAMS: tuple[tuple[str, str], ...] = (
    ("fakeredis._helpers", "current_time"),
    ("fakeredis._helpers", "SimpleError"),
    ("fakeredis._core", "FakeServer"),
    ("fakeredis._core._database", "Database.schedule_expiry"),
    ("fakeredis._socket", "FakeSocket._run_command"),
    ("fakeredis._socket", "FakeSocket._name_to_func"),
    ("fakeredis._socket", "AsyncFakeSocket"),
    ("fakeredis._clients._sync", "FakeRedisConnection._connect"),
    ("fakeredis._clients._async", "FakeAsyncRedisConnection._connect"),
    ("fakeredis._commands", "SUPPORTED_COMMANDS"),
)
# Redis command -> the method name fakeredis dispatches it to; the mock overrides these methods.
COMMAND_METHODS: dict[str, str] = {
    "set": "set_",
    "setex": "setex",
    "psetex": "psetex",
    "getex": "getex",
    "expire": "expire",
    "pexpire": "pexpire",
    "expireat": "expireat",
    "pexpireat": "pexpireat",
    "ttl": "ttl",
    "pttl": "pttl",
    "expiretime": "expiretime",
    "pexpiretime": "pexpiretime",
    "httl": "httl",
    "hpttl": "hpttl",
    "hexpiretime": "hexpiretime",
    "hpexpiretime": "hpexpiretime",
    "time": "time",
}

_checked: dict[str, str | None] = {}  # installed version -> None (fine) or the cause of refusal


def installed_version() -> str | None:
    """The installed fakeredis's version string, or None when it is not installed."""
    try:
        return importlib.metadata.version("fakeredis")
    except importlib.metadata.PackageNotFoundError:
        return None


def _parse(version: str) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", version)
    return None if match is None else (int(match.group(1)), int(match.group(2)))


def _missing_seam() -> str | None:
    for module_name, path in _SEAMS:
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            return f"module {module_name} cannot be imported ({exc})"
        for part in path.split("."):
            target = getattr(target, part, None)
            if target is None:
                return f"{module_name}.{path} does not exist"
    sockets: Any = importlib.import_module("fakeredis._socket")
    built = (("fakeredis._clients._sync", "FakeSocket"), ("fakeredis._clients._async", "AsyncFakeSocket"))
    for module_name, name in built:
        if getattr(importlib.import_module(module_name), name, None) is not getattr(sockets, name):
            return f"{module_name} does not build fakeredis._socket.{name} (the class the mock extends)"
    commands: Any = importlib.import_module("fakeredis._commands").SUPPORTED_COMMANDS
    for name, method in COMMAND_METHODS.items():
        sig = commands.get(name)
        if sig is None or getattr(sig, "func_name", None) != method:
            return f"command {name.upper()} is not dispatched to method {method!r}"
    return None


def _cause(version: str | None) -> str | None:
    if version is None:
        return "fakeredis is not installed"
    parsed = _parse(version)
    if parsed is None:
        return f"cannot read the version {version!r}"
    if not FAKEREDIS_MIN <= parsed < FAKEREDIS_BELOW:
        return "the mock overrides fakeredis internals and is tested only with this range"
    return _missing_seam()


def check_fakeredis() -> None:
    """Raise ``IK-MOCK-FAKEREDIS-UNSUPPORTED`` unless the installed fakeredis is supported.

    The answer is cached per installed version, so calling it on every construction is cheap.
    """
    version = installed_version()
    key = str(version)
    if key not in _checked:
        _checked[key] = _cause(version)
    cause = _checked[key]
    if cause is not None:
        raise MockError(
            ErrorCode.MOCK_FAKEREDIS_UNSUPPORTED,
            supported=SUPPORTED_FAKEREDIS,
            found="none" if version is None else version,
            cause=cause,
        )
