"""waiting.py: backoff growth, jitter bounds, deadlines, last exception carried."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from integration_kit.errors import ErrorCode, WaitTimeoutError, raises_code
from integration_kit.waiting import Backoff, eventually, wait_until, wait_until_sync

pytestmark = pytest.mark.unit


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.01, factor=2, maximum=0.1, jitter=0)
    assert [backoff.delay(n) for n in range(6)] == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.1, 0.1])


def test_jitter_stays_within_bounds() -> None:
    backoff = Backoff(initial=0.1, factor=1, maximum=0.1, jitter=0.5, rng=random.Random(7))
    delays = [backoff.delay(0) for _ in range(2000)]
    assert min(delays) >= 0.05
    assert max(delays) <= 0.1
    assert max(delays) - min(delays) > 0.04, "jitter must actually spread the delays"


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0}, {"initial": 1, "maximum": 0.5}, {"factor": 0.5}, {"jitter": 1.5}],
)
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_wait_until_sync_returns_the_first_truthy_value() -> None:
    values = iter([0, None, "", 42])
    assert wait_until_sync(lambda: next(values), timeout=2) == 42


def test_wait_until_sync_honours_deadline_and_carries_last_exception() -> None:
    def boom() -> None:
        raise ConnectionRefusedError("nobody home")

    started = time.monotonic()
    with raises_code(ErrorCode.WAIT_TIMEOUT) as caught:
        wait_until_sync(boom, timeout=0.3)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.0
    error = caught[0]
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert "nobody home" in error.context["last"]
    assert error.context["attempts"] > 3


async def test_wait_until_accepts_coroutines_and_equals() -> None:
    counter = {"n": 0}

    async def bump() -> int:
        counter["n"] += 1
        return counter["n"]

    assert await wait_until(bump, equals=5, timeout=2) == 5


async def test_wait_until_cancels_a_hanging_probe_at_the_deadline() -> None:
    async def hang() -> bool:
        await asyncio.sleep(30)
        return True

    started = time.monotonic()
    with pytest.raises(WaitTimeoutError):
        await wait_until(hang, timeout=0.2)
    assert time.monotonic() - started < 1.0


async def test_eventually_retries_assertions_until_they_hold() -> None:
    state = {"calls": 0}

    def check() -> None:
        state["calls"] += 1
        assert state["calls"] >= 3

    await eventually(check, timeout=2)
    assert state["calls"] == 3


async def test_eventually_reports_the_last_assertion() -> None:
    with raises_code(ErrorCode.WAIT_TIMEOUT) as caught:
        await eventually(lambda: 1, equals=2, timeout=0.1)
    assert "got 1, expected 2" in caught[0].context["last"]
