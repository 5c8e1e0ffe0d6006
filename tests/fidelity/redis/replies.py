"""What the Redis fidelity scenarios share: an error reply's text, a TTL that never lapses."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest
from redis.exceptions import ResponseError

LONG = 100  # seconds: a TTL that never lapses during a test


async def error_reply(awaitable: Awaitable[object]) -> str:
    """The text of the error reply ``awaitable`` must raise (redis-py drops the ``ERR ``)."""
    with pytest.raises(ResponseError) as caught:
        await awaitable
    return str(caught.value)
