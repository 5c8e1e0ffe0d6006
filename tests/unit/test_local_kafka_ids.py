"""The local backend's Kafka cluster ids: stable per cache key, valid, never option-like."""

from __future__ import annotations

import base64
import hashlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration_kit.services.backends.local.kafka import _cluster_id

pytestmark = pytest.mark.unit


def _is_kafka_uuid(text: str) -> bool:
    """What Kafka's ``Uuid.fromString`` accepts: 22 url-safe base64 characters, 16 bytes."""
    return len(text) == 22 and len(base64.urlsafe_b64decode(text + "==")) == 16


@given(st.text(min_size=1, max_size=200))
def test_every_id_is_a_kafka_uuid_that_no_tool_reads_as_an_option(key: str) -> None:
    cluster = _cluster_id(key)
    assert _is_kafka_uuid(cluster)
    assert not cluster.startswith("-")
    assert _cluster_id(key) == cluster  # stable: the cached data directory matches it


def test_a_key_whose_digest_starts_with_a_dash_gets_a_usable_id() -> None:
    # 1 key in 64 digests to a leading "-", which kafka-storage took for an option
    # ("argument --cluster-id/-t: expected one argument"): a fresh machine's cache path hit it.
    key = next(
        f"/tmp/cache-{n}"
        for n in itertools.count()
        if base64.urlsafe_b64encode(hashlib.md5(f"/tmp/cache-{n}".encode()).digest()).startswith(b"-")
    )
    assert _cluster_id(key).startswith("A") and _is_kafka_uuid(_cluster_id(key))
