"""Kafka's default partitioner, as aiokafka's ``DefaultPartitioner`` computes it.

Keyed records go to ``murmur2(key_bytes) & 0x7fffffff % len(partitions)`` (aiokafka's own
``murmur2``, the Java client's hash); records without a key go to a random available
partition, drawn from the cluster's seeded generator so runs are reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from aiokafka.partitioner import murmur2

__all__ = ["SeededPartitioner", "partition_for_key"]

_CACHE_LIMIT = 65536


def partition_for_key(key: bytes, num_partitions: int) -> int:
    """The partition (of ``0..num_partitions-1``) a real producer picks for ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


class SeededPartitioner:
    """A drop-in for aiokafka's default partitioner with a seeded choice for null keys.

    Called like aiokafka's: ``partitioner(key_bytes, all_partitions, available)``.
    Hashes are cached per key, which makes repeated keys cheap.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.hashes: dict[bytes, int] = {}

    def hash(self, key: bytes) -> int:
        """``murmur2(key) & 0x7fffffff``, cached."""
        h = self.hashes.get(key)
        if h is None:
            if len(self.hashes) >= _CACHE_LIMIT:
                self.hashes.clear()
            h = self.hashes[key] = murmur2(key) & 0x7FFFFFFF
        return h

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return self._rng.choice(available or all_partitions)
        return all_partitions[self.hash(key) % len(all_partitions)]
