"""Clocks for the mocks: the system clock, and a virtual clock that moves only when told.

Both count in whole milliseconds, as Redis does (``mstime()``), so expiry compares
integers and ``clock.advance(0.1)`` after ``SET k v PX 100`` leaves the key alive with
``PTTL 0``, exactly like a real server at that instant::

    clock = VirtualClock()
    redis = MockRedisClient(clock=clock)
    await redis.set("k", "v", px=100)
    clock.advance(0.1)     # PTTL k -> 0 (alive: Redis expires when now > deadline)
    clock.advance(0.001)   # GET k -> None
"""

from __future__ import annotations

import math
import time
from typing import Protocol, runtime_checkable

from integration_kit.errors import ErrorCode, MockError


@runtime_checkable
class Clock(Protocol):
    """What the mocks read the time from."""

    def time_ms(self) -> int:
        """Unix time in whole milliseconds."""
        ...

    def time(self) -> float:
        """Unix time in seconds."""
        ...


class SystemClock:
    """The real time (the default of every mock)."""

    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def time(self) -> float:
        return self.time_ms() / 1000

    def __repr__(self) -> str:
        return "SystemClock()"


class VirtualClock:
    """A clock that stands still until :meth:`advance` moves it.

    ``start`` is the initial Unix time in seconds (default: the real time now, cut to
    whole milliseconds). Each clock is independent: mocks built on different clocks
    never see each other's time.
    """

    def __init__(self, start: float | None = None) -> None:
        if start is None:
            self._now_ms = time.time_ns() // 1_000_000
        else:
            self._now_ms = self._to_ms(start, what="start at", allow_negative=False)

    @staticmethod
    def _to_ms(seconds: float, *, what: str, allow_negative: bool = False) -> int:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise MockError(
                ErrorCode.MOCK_INVALID_OPERATION,
                mock="VirtualClock",
                operation=f"{what} {seconds!r}",
                cause="expected a finite number of seconds",
                fix="Pass an int or float, e.g. clock.advance(1.5).",
            )
        ms = round(seconds * 1000)
        if ms < 0 and not allow_negative:
            raise MockError(
                ErrorCode.MOCK_CLOCK_BACKWARDS,
                seconds=seconds,
            )
        return ms

    def time_ms(self) -> int:
        return self._now_ms

    def time(self) -> float:
        return self._now_ms / 1000

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (rounded to whole milliseconds).

        Keys whose deadline is now in the past are gone for the next command, as on
        a real server. Moving backwards raises ``IK-MOCK-CLOCK-BACKWARDS``.
        """
        self._now_ms += self._to_ms(seconds, what="advance by")

    def set_time(self, timestamp: float) -> None:
        """Jump forward to the absolute Unix time ``timestamp`` (seconds); never backwards."""
        target = self._to_ms(timestamp, what="jump to")
        if target < self._now_ms:
            raise MockError(ErrorCode.MOCK_CLOCK_BACKWARDS, seconds=(target - self._now_ms) / 1000)
        self._now_ms = target

    def __repr__(self) -> str:
        return f"VirtualClock(start={self.time()!r})"
