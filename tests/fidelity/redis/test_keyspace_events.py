"""Keyspace notifications: none with Redis's default configuration, and no silent emulation of others.

A real Redis publishes keyspace events only when ``notify-keyspace-events`` enables them
(default ``""``); the mock never publishes them, and refuses to be configured for them
with ``IK-MOCK-REDIS-UNSUPPORTED`` (its events would not be Redis's: no active expiry,
other event names). The real side shows what the refusal protects against.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from integration_kit.errors import ErrorCode, MockError

if TYPE_CHECKING:
    from conftest import Side

pytestmark = pytest.mark.fidelity("pub/sub and keyspace events")


async def _messages(pubsub: Any, seconds: float) -> list[Any]:
    found = []
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None:
            found.append(message)
    return found


async def test_plain_pubsub_delivers_in_order(side: Side) -> None:
    pubsub = side.client.pubsub()
    channel = side.key("chan")
    await pubsub.subscribe(channel)
    assert await side.client.publish(channel, "one") == 1
    assert await side.client.publish(channel, "two") == 1
    assert await side.client.publish(side.key("nobody"), "x") == 0
    got = [m["data"] for m in await _messages(pubsub, 0.2)]
    assert got == ["one", "two"]
    await pubsub.aclose()


async def _no_events_by_default(side: Side) -> None:
    pubsub = side.client.pubsub()
    await pubsub.psubscribe(f"__key*__:{side.prefix}*")
    await side.client.set(side.key("k"), "v", px=50)
    await side.client.expire(side.key("k"), 1)
    await side.client.delete(side.key("k"))
    assert await _messages(pubsub, 0.2) == []
    await pubsub.aclose()


@pytest.mark.fidelity("pub/sub and keyspace events", unsupported="CONFIG SET notify-keyspace-events")
async def test_no_events_by_default_and_configuring_them_is_refused(side: Side) -> None:
    # one test, so that no other test of this suite runs while the real server publishes events
    if side.name == "real":
        config = await side.client.config_get("notify-keyspace-events")
        if config.get("notify-keyspace-events", ""):
            pytest.skip("this Redis publishes keyspace events already (notify-keyspace-events is set)")
    await _no_events_by_default(side)
    if side.name == "mock":
        with pytest.raises(MockError) as refused:
            await side.client.config_set("notify-keyspace-events", "KEA")
        assert refused.value.code is ErrorCode.MOCK_REDIS_UNSUPPORTED
        return
    before = (await side.client.config_get("notify-keyspace-events"))["notify-keyspace-events"]
    pubsub = side.client.pubsub()
    try:
        assert await side.client.config_set("notify-keyspace-events", "KEA")
        await pubsub.subscribe("__keyevent@10__:set", "__keyevent@10__:expire", "__keyevent@10__:expired")
        await side.client.set(side.key("k"), "v", px=50)
        await side.elapse(0.15)
        assert await side.client.get(side.key("k")) is None
        key = side.key("k")
        # the event channels carry every key of the database: other tests' keys are not ours
        events = [m["channel"].rsplit(":", 1)[1] for m in await _messages(pubsub, 0.3) if m["data"] == key]
        assert events == ["set", "expire", "expired"]
    finally:
        await side.client.config_set("notify-keyspace-events", before)
        await pubsub.aclose()
