"""Seeded, reproducible fault injection for the mock Kafka cluster.

Every decision is a pure function of ``(seed, fault kind, place)``, where the place is
the n-th record sent to a partition, the n-th commit of a group or the n-th start of a
client of a kind. The same seed therefore puts the same faults in the same places, no
matter how the event loop interleaves unrelated tasks.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiokafka.errors import (
    CommitFailedError,
    KafkaConnectionError,
    NodeNotReadyError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)

from integration_kit.errors import ErrorCode, MockError

__all__ = ["ChaosEvent", "KafkaChaos"]

_RATES = (
    "drop",
    "duplicate",
    "reorder",
    "delay",
    "send_errors",
    "commit_errors",
    "connect_errors",
)
_SEND_ERRORS: tuple[type[Exception], ...] = (RequestTimedOutError, NotLeaderForPartitionError)
_CONNECT_ERRORS: tuple[type[Exception], ...] = (KafkaConnectionError, NodeNotReadyError)


class ChaosEvent(NamedTuple):
    """One injected fault: its kind and where it happened.

    ``where`` is ``(topic, partition, n)`` for record faults (the n-th record sent to
    that partition, counting from 0), ``(group_id, n)`` for commits and
    ``(client_kind, n)`` for connection errors.
    """

    kind: str
    where: tuple[Any, ...]
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class KafkaChaos:
    """What faults to inject, and how often (each rate is a share in ``[0, 1]``).

    - ``drop``: the record is acknowledged to the producer but never reaches a consumer
      (its offset stays a gap, as after an unclean leader election).
    - ``duplicate``: the record is written twice (a producer retry after a lost ack).
    - ``reorder``: the record is held back and written after 1..``reorder_window`` later
      records of the same partition (retries with several requests in flight); a flush,
      ``stop()`` or ``send_and_wait`` of the held record releases it.
    - ``delay``: the send takes ``delay_s`` seconds longer.
    - ``send_errors``: ``send`` raises one of ``send_error_types`` and writes nothing.
    - ``commit_errors``: ``commit`` raises :class:`aiokafka.errors.CommitFailedError`
      (as during a rebalance) and stores nothing.
    - ``connect_errors``: ``start()`` raises one of ``connect_error_types``.

    ``topics`` limits record faults to those topics (``None``: every topic).
    """

    seed: int = 0
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_window: int = 4
    delay: float = 0.0
    delay_s: float = 0.01
    send_errors: float = 0.0
    send_error_types: tuple[type[Exception], ...] = _SEND_ERRORS
    commit_errors: float = 0.0
    connect_errors: float = 0.0
    connect_error_types: tuple[type[Exception], ...] = _CONNECT_ERRORS
    topics: frozenset[str] | None = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            _invalid("seed", self.seed, "an int")
        for name in _RATES:
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or math.isnan(value)
                or not 0.0 <= value <= 1.0
            ):
                _invalid(name, value, "a share between 0.0 and 1.0")
        if not isinstance(self.reorder_window, int) or self.reorder_window < 1:
            _invalid("reorder_window", self.reorder_window, "an int >= 1")
        if not isinstance(self.delay_s, int | float) or self.delay_s < 0:
            _invalid("delay_s", self.delay_s, "seconds >= 0")
        for name in ("send_error_types", "connect_error_types"):
            types = getattr(self, name)
            if not types or not all(isinstance(t, type) and issubclass(t, Exception) for t in types):
                _invalid(name, types, "a non-empty tuple of exception classes")
        if self.topics is not None:
            if isinstance(self.topics, str) or not isinstance(self.topics, Iterable):
                _invalid("topics", self.topics, "a set of topic names or None")
            object.__setattr__(self, "topics", frozenset(self.topics))

    def roll(self, kind: str, *where: Any) -> float:
        """A number in ``[0, 1)`` fixed by the seed, the fault kind and the place."""
        digest = hashlib.blake2b(repr((self.seed, kind, where)).encode(), digest_size=8).digest()
        return struct.unpack(">Q", digest)[0] / 2.0**64


def _invalid(name: str, value: Any, expected: str) -> None:
    raise MockError(ErrorCode.MOCK_KAFKA_INVALID_CHAOS, name=name, value=value, expected=expected)


class RecordFaults(NamedTuple):
    """What happens to one record on its way into a partition."""

    error: Exception | None = None
    delay_s: float = 0.0
    drop: bool = False
    duplicate: bool = False
    hold: int = 0


_NO_FAULTS = RecordFaults()


class ChaosEngine:
    """Applies a :class:`KafkaChaos` to a cluster and records what it did."""

    def __init__(self, config: KafkaChaos | None) -> None:
        self.config = config
        self.events: list[ChaosEvent] = []
        self._counters: Counter[tuple[Any, ...]] = Counter()

    def _next(self, *key: Any) -> int:
        n = self._counters[key]
        self._counters[key] = n + 1
        return n

    def record_faults(self, topic: str, partition: int) -> RecordFaults:
        """Faults for the next record sent to ``topic``/``partition``."""
        cfg = self.config
        if cfg is None or (cfg.topics is not None and topic not in cfg.topics):
            return _NO_FAULTS
        n = self._next("record", topic, partition)
        where = (topic, partition, n)
        if cfg.send_errors and cfg.roll("send_error", *where) < cfg.send_errors:
            types = cfg.send_error_types
            error_type = types[int(cfg.roll("send_error_type", *where) * len(types))]
            self.events.append(ChaosEvent("send_error", where, error_type.__name__))
            return RecordFaults(error=error_type(f"chaos: injected {error_type.__name__} at {where}"))
        delay_s = 0.0
        if cfg.delay and cfg.roll("delay", *where) < cfg.delay:
            delay_s = cfg.delay_s
            self.events.append(ChaosEvent("delay", where, f"{delay_s}s"))
        if cfg.drop and cfg.roll("drop", *where) < cfg.drop:
            self.events.append(ChaosEvent("drop", where))
            return RecordFaults(delay_s=delay_s, drop=True)
        duplicate = bool(cfg.duplicate and cfg.roll("duplicate", *where) < cfg.duplicate)
        if duplicate:
            self.events.append(ChaosEvent("duplicate", where))
        hold = 0
        if cfg.reorder and cfg.roll("reorder", *where) < cfg.reorder:
            hold = 1 + int(cfg.roll("reorder_distance", *where) * cfg.reorder_window)
            self.events.append(ChaosEvent("reorder", where, f"after {hold} later records"))
        if not (delay_s or duplicate or hold):
            return _NO_FAULTS
        return RecordFaults(delay_s=delay_s, duplicate=duplicate, hold=hold)

    def commit_error(self, group_id: str) -> Exception | None:
        """The error the next commit of ``group_id`` fails with, if any."""
        cfg = self.config
        if cfg is None or not cfg.commit_errors:
            return None
        where = (group_id, self._next("commit", group_id))
        if cfg.roll("commit_error", *where) < cfg.commit_errors:
            self.events.append(ChaosEvent("commit_error", where, "CommitFailedError"))
            return CommitFailedError(f"chaos: injected during a rebalance at {where}")
        return None

    def connect_error(self, client_kind: str) -> Exception | None:
        """The error the next ``start()`` of a ``client_kind`` fails with, if any."""
        cfg = self.config
        if cfg is None or not cfg.connect_errors:
            return None
        where = (client_kind, self._next("connect", client_kind))
        if cfg.roll("connect_error", *where) < cfg.connect_errors:
            types = cfg.connect_error_types
            error_type = types[int(cfg.roll("connect_error_type", *where) * len(types))]
            self.events.append(ChaosEvent("connect_error", where, error_type.__name__))
            return error_type(f"chaos: injected {error_type.__name__} at {where}")
        return None
