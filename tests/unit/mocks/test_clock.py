"""VirtualClock and SystemClock."""

from __future__ import annotations

import time

import pytest

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.mocks import Clock, SystemClock, VirtualClock

pytestmark = pytest.mark.unit


def test_virtual_clock_stands_still_until_advanced() -> None:
    clock = VirtualClock(start=1000.0)
    assert clock.time_ms() == 1_000_000
    assert clock.time() == 1000.0
    clock.advance(1.5)
    assert clock.time_ms() == 1_001_500
    clock.advance(0)
    assert clock.time_ms() == 1_001_500


def test_virtual_clock_counts_whole_milliseconds() -> None:
    clock = VirtualClock(start=0.0)
    for _ in range(10):
        clock.advance(0.1)
    assert clock.time_ms() == 1000  # no float drift
    clock.advance(0.0004)
    assert clock.time_ms() == 1000
    clock.advance(0.0006)
    assert clock.time_ms() == 1001


def test_virtual_clock_defaults_to_now() -> None:
    before = time.time_ns() // 1_000_000
    clock = VirtualClock()
    after = time.time_ns() // 1_000_000
    assert before <= clock.time_ms() <= after


def test_set_time_jumps_forward_only() -> None:
    clock = VirtualClock(start=10.0)
    clock.set_time(20.25)
    assert clock.time_ms() == 20_250
    with raises_code(ErrorCode.MOCK_CLOCK_BACKWARDS):
        clock.set_time(20.0)
    assert clock.time_ms() == 20_250


def test_virtual_clock_never_goes_back() -> None:
    clock = VirtualClock(start=10.0)
    with raises_code(ErrorCode.MOCK_CLOCK_BACKWARDS) as caught:
        clock.advance(-1)
    assert caught[0].context["seconds"] == -1
    with raises_code(ErrorCode.MOCK_CLOCK_BACKWARDS):
        VirtualClock(start=-5)
    assert clock.time() == 10.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1", None, True])
def test_virtual_clock_rejects_non_numbers(bad: object) -> None:
    clock = VirtualClock(start=10.0)
    with raises_code(ErrorCode.MOCK_INVALID_OPERATION):
        clock.advance(bad)  # type: ignore[arg-type]


def test_system_clock_follows_real_time() -> None:
    clock = SystemClock()
    before = time.time_ns() // 1_000_000
    now = clock.time_ms()
    after = time.time_ns() // 1_000_000
    assert before <= now <= after
    assert isinstance(clock, Clock)
    assert isinstance(VirtualClock(), Clock)
