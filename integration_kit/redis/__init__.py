"""Redis for tests: worker isolation, reset, snapshot/restore with TTLs, TTL assertions."""

from integration_kit.dependencies import require

require("redis", feature="the Redis layer (integration_kit.redis)")

from integration_kit.redis.assertions import assert_no_key, assert_ttl
from integration_kit.redis.client import open_client
from integration_kit.redis.kit import RedisKit
from integration_kit.redis.state import (
    RedisSnapshot,
    SnapshotEntry,
    build_snapshot,
    reset,
    restore,
    take_snapshot,
)
from integration_kit.redis.testcase import RedisTestCase

__all__ = [
    "RedisKit",
    "RedisSnapshot",
    "RedisTestCase",
    "SnapshotEntry",
    "assert_no_key",
    "assert_ttl",
    "build_snapshot",
    "open_client",
    "reset",
    "restore",
    "take_snapshot",
]
