"""Backoff policies and waiting: ``wait_until`` for conditions, ``eventually`` for assertions.

Both poll with exponential backoff and full jitter under a hard deadline, and on timeout
raise :class:`~integration_kit.errors.WaitTimeoutError` (``IK-WAIT-TIMEOUT``) carrying the
last exception or the last value seen.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from integration_kit.errors import ErrorCode, UsageError, WaitTimeoutError

T = TypeVar("T")

_UNSET: Any = object()


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Exponential backoff: ``initial * factor**n`` capped at ``maximum``, with jitter.

    ``jitter`` is the share of each delay that is randomized: 0 gives exact delays,
    1 gives "full jitter" (uniform in ``[0, delay]``).
    """

    initial: float = 0.005
    factor: float = 2.0
    maximum: float = 0.5
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial:
            raise ValueError("Backoff needs 0 < initial <= maximum")
        if self.factor < 1:
            raise ValueError("Backoff factor must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff jitter must be within [0, 1]")

    def base_delay(self, attempt: int) -> float:
        """The un-jittered delay before retry number ``attempt`` (0-based)."""
        return min(self.maximum, self.initial * self.factor**attempt)

    def delay(self, attempt: int) -> float:
        """The delay before retry ``attempt``: within ``[base*(1-jitter), base]``."""
        base = self.base_delay(attempt)
        return base * (1 - self.jitter * self.rng.random())

    @classmethod
    def fixed(cls, interval: float) -> Backoff:
        """The same delay every time (for polls whose cost is known, e.g. a pid file)."""
        return cls(initial=interval, factor=1.0, maximum=interval, jitter=0.0)

    def delays(self) -> Iterator[float]:
        """Endless sequence of jittered delays."""
        attempt = 0
        while True:
            yield self.delay(attempt)
            attempt += 1


DEFAULT_BACKOFF = Backoff()


@dataclass
class _Outcome:
    attempts: int = 0
    last_value: Any = _UNSET
    last_exc: BaseException | None = None

    def describe(self) -> str:
        if self.last_exc is not None:
            return f"{type(self.last_exc).__name__}: {self.last_exc}"
        if self.last_value is _UNSET:
            return "never evaluated"
        return f"returned {self.last_value!r}"


def _timeout_error(what: str, timeout: float, outcome: _Outcome) -> WaitTimeoutError:
    return WaitTimeoutError(
        ErrorCode.WAIT_TIMEOUT,
        what=what,
        timeout=timeout,
        attempts=outcome.attempts,
        last=outcome.describe(),
        last_value=None if outcome.last_value is _UNSET else outcome.last_value,
    )


def _accepts(value: Any, equals: Any) -> bool:
    return bool(value) if equals is _UNSET else value == equals


def check_timeout(timeout: float, what: str) -> float:
    """``timeout`` if it is a finite number >= 0, else ``IK-USAGE-INVALID-TIMEOUT`` (a nan
    deadline never comes: a poll with one would wait forever)."""
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout < 0
    ):
        raise UsageError(ErrorCode.USAGE_INVALID_TIMEOUT, timeout=timeout, what=what)
    return timeout


def _describe(fn: Callable[..., Any], equals: Any) -> str:
    name = getattr(fn, "__qualname__", repr(fn))
    return name if equals is _UNSET else f"{name} == {equals!r}"


def wait_until_sync(
    condition: Callable[[], T],
    *,
    timeout: float = 10.0,
    equals: Any = _UNSET,
    backoff: Backoff = DEFAULT_BACKOFF,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    what: str | None = None,
    deadline: float | None = None,
) -> T:
    """Poll ``condition()`` until it returns a truthy value (or ``equals``); return it.

    The kit's one synchronous poll/retry loop. Exceptions listed in ``retry_on`` count as
    "not yet"; the last one is chained to the :class:`WaitTimeoutError` raised when
    ``timeout`` seconds pass (or at ``deadline``, a ``time.monotonic()`` value, if given).
    """
    if deadline is None:
        deadline = time.monotonic() + check_timeout(timeout, what or _describe(condition, equals))
    else:
        if not math.isfinite(deadline):
            check_timeout(deadline, what or _describe(condition, equals))
        timeout = max(deadline - time.monotonic(), 0.0)  # a deadline already passed: one attempt
    outcome = _Outcome()
    for delay in backoff.delays():
        outcome.attempts += 1
        try:
            value = condition()
        except retry_on as exc:
            outcome.last_exc = exc
        else:
            outcome.last_exc = None
            outcome.last_value = value
            if _accepts(value, equals):
                return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(delay, remaining))
    raise _timeout_error(what or _describe(condition, equals), timeout, outcome) from outcome.last_exc


async def wait_until(
    condition: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 10.0,
    equals: Any = _UNSET,
    backoff: Backoff = DEFAULT_BACKOFF,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    what: str | None = None,
) -> T:
    """Async :func:`wait_until_sync`: ``condition`` may be sync or return an awaitable.

    A single slow evaluation is cancelled at the deadline, so the deadline holds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + check_timeout(timeout, what or _describe(condition, equals))
    outcome = _Outcome()
    for delay in backoff.delays():
        outcome.attempts += 1
        try:
            result = condition()
            if inspect.isawaitable(result):
                remaining = max(deadline - loop.time(), 0.001)
                result = await asyncio.wait_for(_as_coroutine(result), remaining)
        except TimeoutError as exc:
            outcome.last_exc = exc
            if loop.time() >= deadline:
                break
        except retry_on as exc:
            outcome.last_exc = exc
        else:
            outcome.last_exc = None
            outcome.last_value = result
            if _accepts(result, equals):
                return result  # type: ignore[return-value]
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
    raise _timeout_error(what or _describe(condition, equals), timeout, outcome) from outcome.last_exc


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def eventually(
    check: Callable[[], Any],
    *,
    timeout: float = 10.0,
    equals: Any = _UNSET,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Any:
    """Retry an assertion until it holds.

    ``check`` may assert (``AssertionError`` means "not yet"), return a value compared
    with ``equals``, or return an awaitable. Without ``equals`` a check that returns
    without raising passes, whatever it returns (``None`` included)::

        await eventually(lambda: db.fetchval("select count(*) from orders"), equals=1)
    """

    async def attempt() -> Any:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if equals is not _UNSET and result != equals:
            raise AssertionError(f"got {result!r}, expected {equals!r}")
        return _Passed(result)

    passed: _Passed = await wait_until(
        attempt,
        timeout=timeout,
        backoff=backoff,
        what=_describe(check, equals),
    )
    return passed.value


@dataclass(frozen=True)
class _Passed:
    value: Any

    def __bool__(self) -> bool:
        return True
