"""Topic configurations the mock Kafka validates like a Kafka 4.1 broker, and the ones it acts on.

``create_topics`` answers ``INVALID_CONFIG`` (40) for an unknown name or a value the broker
would refuse. The mock acts on ``cleanup.policy`` (a compacted topic refuses null keys),
``message.timestamp.type`` (``LogAppendTime`` stamps the broker's time) and
``max.message.bytes``; the other names are accepted and kept, with no effect a test could
observe in the time it runs (retention, segments, flushing, replication throttles).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["BROKER_MESSAGE_MAX_BYTES", "TOPIC_CONFIGS", "invalid_config"]

BROKER_MESSAGE_MAX_BYTES = 1048588
"""The broker's ``message.max.bytes`` default: the largest record batch a topic takes by default."""


def _int(low: int) -> Callable[[str], bool]:
    def valid(value: str) -> bool:
        try:
            return int(value) >= low
        except ValueError:
            return False

    return valid


def _float(low: float, high: float) -> Callable[[str], bool]:
    def valid(value: str) -> bool:
        try:
            return low <= float(value) <= high
        except ValueError:
            return False

    return valid


def _one_of(*choices: str) -> Callable[[str], bool]:
    return lambda value: value in choices


def _bool(value: str) -> bool:
    return value.lower() in ("true", "false")


def _policy(value: str) -> bool:
    parts = [part.strip() for part in value.split(",")]
    return bool(parts) and all(part in ("delete", "compact") for part in parts)


TOPIC_CONFIGS: dict[str, Callable[[str], bool]] = {
    "cleanup.policy": _policy,
    "compression.type": _one_of("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
    "compression.gzip.level": _int(-1),
    "compression.lz4.level": _int(1),
    "compression.zstd.level": _int(-131072),
    "delete.retention.ms": _int(0),
    "file.delete.delay.ms": _int(0),
    "flush.messages": _int(1),
    "flush.ms": _int(0),
    "follower.replication.throttled.replicas": lambda value: True,
    "index.interval.bytes": _int(0),
    "leader.replication.throttled.replicas": lambda value: True,
    "local.retention.bytes": _int(-2),
    "local.retention.ms": _int(-2),
    "max.compaction.lag.ms": _int(1),
    "max.message.bytes": _int(0),
    "message.timestamp.after.max.ms": _int(0),
    "message.timestamp.before.max.ms": _int(0),
    "message.timestamp.type": _one_of("CreateTime", "LogAppendTime"),
    "min.cleanable.dirty.ratio": _float(0.0, 1.0),
    "min.compaction.lag.ms": _int(0),
    "min.insync.replicas": _int(1),
    "preallocate": _bool,
    "remote.storage.enable": _bool,
    "retention.bytes": _int(-1),
    "retention.ms": _int(-1),
    "segment.bytes": _int(1048576),
    "segment.index.bytes": _int(4),
    "segment.jitter.ms": _int(0),
    "segment.ms": _int(1),
    "unclean.leader.election.enable": _bool,
}


def invalid_config(configs: dict[str, str]) -> str | None:
    """Why the broker would refuse ``configs`` (its message), or None when it would take them."""
    for name, value in configs.items():
        valid = TOPIC_CONFIGS.get(name)
        if valid is None:
            return f"Unknown topic config name: {name}"
        if value is None or not valid(str(value)):
            return f"Invalid value {value} for configuration {name}"
    return None
