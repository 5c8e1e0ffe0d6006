"""Command families, the same command sequences on the mock and a real Redis, replies compared exactly.

Each scenario is a list of ``(command, reply)`` steps run in order on one side (``[mock]``:
MockRedisClient as Redis 7.0 on a virtual clock; ``[real]``: the run's Redis 7.0): the
reply the real server gives is the expected one, and the mock must give the same. In a
command ``<name>`` is a key of this test (``<a*>`` a pattern), ``<dump:name>`` the DUMP of
that key on the same side; ``@other CMD`` runs on a second connection, ``@elapse S`` lets S
seconds pass (the virtual clock jumps, the real side sleeps). Replies: errors as
``"!message"``, unordered replies (SMEMBERS, KEYS, SCAN...) sorted, key names without the
test's prefix.

``UNSUPPORTED`` lists what the mock refuses with ``IK-MOCK-REDIS-UNSUPPORTED`` instead of
answering differently: after the same setup, the mock must raise the coded error and the
real server must give the recorded reply (so the refusal is still needed).
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from typing import TYPE_CHECKING, Any

import pytest
import redis
from redis.exceptions import ResponseError
from redis_scenarios import EXACT, UNSUPPORTED  # type: ignore[import-not-found]

from integration_kit.errors import ErrorCode, MockError

if TYPE_CHECKING:
    from conftest import Side

# fakeredis runs Lua through lupa; without it the mock refuses scripting with a coded error
HAS_LUA = importlib.util.find_spec("lupa") is not None

UNORDERED = frozenset(
    ("SMEMBERS", "SINTER", "SUNION", "SDIFF", "HKEYS", "HVALS", "KEYS", "SRANDMEMBER", "SPOP")
)


def _normalize(value: Any, prefix: str) -> Any:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str):
        return value.replace(prefix, "")
    if isinstance(value, Exception):
        return "!" + _normalize(str(value), prefix)
    if isinstance(value, list | tuple):
        return [_normalize(item, prefix) for item in value]
    if isinstance(value, set):
        return sorted(_normalize(item, prefix) for item in value)
    if isinstance(value, dict):
        return {_normalize(k, prefix): _normalize(v, prefix) for k, v in value.items()}
    return value


async def _args(side: Side, line: str) -> list[Any]:
    args: list[Any] = []
    for word in shlex.split(line):
        dump = re.fullmatch(r"<dump:(\w+)>", word)
        if dump:
            assert side.raw is not None
            args.append(await side.raw.dump(side.key(dump.group(1))) or b"")
        else:
            args.append(re.sub(r"<([^>]+)>", lambda m: side.key(m.group(1)), word))
    return args


async def run_step(side: Side, line: str) -> Any:
    """Run one step on ``side``; the normalized reply (None for ``@elapse``)."""
    if line.startswith("@elapse "):
        await side.elapse(float(line.split()[1]))
        return None
    client = side.client
    if line.startswith("@other "):
        line, client = line[len("@other ") :], side.other  # type: ignore[assignment]
    args = await _args(side, line)
    name = str(args[0]).upper()
    try:
        reply = await client.execute_command(*args)
    except ResponseError as exc:
        return _normalize(exc, side.prefix)
    if name in UNORDERED and isinstance(reply, list | set):
        reply = sorted(reply)
    if name == "SCAN" and isinstance(reply, list | tuple):
        reply = [str(reply[0]), sorted(reply[1])]
    if name in ("SSCAN", "ZSCAN") and isinstance(reply, list | tuple):
        reply = [reply[0], sorted(reply[1])]
    return _normalize(reply, side.prefix)


# The replies were recorded through redis-py 6+, which pairs and parses WITHSCORES-style
# replies of execute_command; older releases (the lowest supported, 5.1) leave them flat
# and as strings. Both sides go through the same redis-py, so only the shape differs.
_FLAT_REPLIES = int(redis.__version__.split(".")[0]) < 6


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [item for part in value for item in _flat(part)]
    if isinstance(value, str):
        try:
            return [float(value)]
        except ValueError:
            return [value]
    return [float(value) if isinstance(value, int) and not isinstance(value, bool) else value]


def _matches(got: Any, expected: Any) -> bool:
    if isinstance(expected, tuple) and expected[:1] == ("prefix",):
        return isinstance(got, str) and got.startswith(expected[1])
    if got == expected:
        return True
    return _FLAT_REPLIES and isinstance(expected, list) and _flat(got) == _flat(expected)


def _needs_lua(category: str, side: Side) -> bool:
    return category == "scripting" and side.name == "mock" and not HAS_LUA


def _cases() -> list[Any]:
    return [
        pytest.param(category, name, steps, id=f"{category}-{name}", marks=pytest.mark.fidelity(category))
        for category, scenarios in EXACT.items()
        for name, steps in scenarios.items()
    ]


def _refusals() -> list[Any]:
    return [
        pytest.param(
            category,
            setup,
            command,
            reply,
            id=f"{category}-{name}",
            marks=pytest.mark.fidelity(category, unsupported=_feature(command)),
        )
        for category, name, setup, command, reply in UNSUPPORTED
    ]


def _feature(command: str) -> str:
    """The refused feature, as the fidelity table names it."""
    words = command.upper().split()
    if words[0] in ("ZLEXCOUNT", "ZREMRANGEBYLEX") or "BYLEX" in words:
        return "lex ranges over different scores"
    if words[0] == "INCRBYFLOAT":
        return "INCRBYFLOAT beyond the double range"
    if words[0] == "RESTORE":
        return "RESTORE IDLETIME/FREQ"
    return " ".join(words[:2]) if words[0] == "CONFIG" else words[0]


@pytest.mark.parametrize(("category", "name", "steps"), _cases())
async def test_commands(side: Side, category: str, name: str, steps: list[tuple[str, Any]]) -> None:
    if _needs_lua(category, side):
        # without lupa: the steps before the first script run, the script is refused
        for command, _ in steps:
            if command.split()[0].upper() in ("EVAL", "EVALSHA", "SCRIPT", "FCALL", "FUNCTION"):
                with pytest.raises(MockError) as refused:
                    await run_step(side, command)
                assert refused.value.code is ErrorCode.MOCK_REDIS_UNSUPPORTED
                return
            await run_step(side, command)
        raise AssertionError(f"scripting scenario {name} runs no script")
    for number, (command, expected) in enumerate(steps, 1):
        got = await run_step(side, command)
        if command.startswith("@elapse "):
            continue
        assert _matches(got, expected), f"step {number} {command!r}: {got!r} != {expected!r}"


@pytest.mark.parametrize(("category", "setup", "command", "reply"), _refusals())
async def test_refused_with_a_coded_error(
    side: Side, category: str, setup: list[str], command: str, reply: Any
) -> None:
    for line in setup:
        await run_step(side, line)
    if side.name == "real":
        assert await run_step(side, command) == reply
        return
    with pytest.raises(MockError) as refused:
        await run_step(side, command)
    assert refused.value.code is ErrorCode.MOCK_REDIS_UNSUPPORTED
