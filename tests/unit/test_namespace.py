"""namespace.py: per-worker names, the 63-byte limit, no suffix growth."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration_kit.services.namespace import Namespace

pytestmark = pytest.mark.unit


def test_outside_xdist_names_are_unchanged() -> None:
    ns = Namespace("main")
    assert ns.database("orders") == "orders"
    assert ns.topic("orders") == "orders"


def test_worker_suffix_and_no_double_suffix() -> None:
    ns = Namespace("gw3")
    assert ns.database("orders") == "orders_gw3"
    assert ns.database("orders_gw3") == "orders_gw3"
    assert ns.topic("orders") == "gw3.orders"
    assert ns.topic("gw3.orders") == "gw3.orders"
    assert ns.redis_db == 4


def test_long_names_fit_63_bytes_and_stay_distinct() -> None:
    ns = Namespace("gw12")
    first = ns.database("a" * 80 + "x")
    second = ns.database("a" * 80 + "y")
    assert len(first.encode()) <= 63 and len(second.encode()) <= 63
    assert first != second
    assert first.endswith("_gw12")


def test_multibyte_names_fit() -> None:
    name = Namespace("gw1").database("ü" * 60)
    assert len(name.encode()) <= 63


def test_current_reads_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw5")
    assert Namespace.current().worker == "gw5"
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert Namespace.current().worker == "main"


# --- the run's Kafka topic prefix and the declared Redis databases -------------------------

import dataclasses  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from integration_kit.config import load_settings  # noqa: E402
from integration_kit.errors import ErrorCode, raises_code  # noqa: E402
from integration_kit.kafka.topics import check_topic_name  # noqa: E402
from integration_kit.services import namespace as namespace_module  # noqa: E402
from integration_kit.services.namespace import (  # noqa: E402
    describe_databases,
    parse_redis_databases,
    run_token,
)


def _blank(tmp_path: Path) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.integration_kit]\n")
    return path


def test_the_external_backend_prefixes_every_topic_with_the_run_and_worker(tmp_path: Path) -> None:
    settings = load_settings(pyproject=_blank(tmp_path), environ={})
    external = Namespace.for_settings(settings, kafka_backend="external", worker="gw1")
    assert external.topic_prefix == f"ik.{run_token()}.gw1."
    assert external.topic("orders") == f"ik.{run_token()}.gw1.orders"
    assert external.topic(external.topic("orders")) == external.topic("orders")  # no double prefix
    check_topic_name(external.topic("orders"))
    # local and docker keep today's names
    for backend in ("local", "docker", None):
        ns = Namespace.for_settings(settings, kafka_backend=backend, worker="gw1")
        assert ns.topic("orders") == "gw1.orders"
        assert Namespace.for_settings(settings, kafka_backend=backend, worker="main").topic("o") == "o"


def test_a_configured_prefix_applies_on_every_backend(tmp_path: Path) -> None:
    settings = load_settings(
        pyproject=_blank(tmp_path), environ={"INTEGRATION_KIT_KAFKA_TOPIC_PREFIX": "t-{worker}-{run}."}
    )
    for backend in ("local", "external"):
        ns = Namespace.for_settings(settings, kafka_backend=backend, worker="main")
        assert ns.topic("orders") == f"t-main-{run_token()}.orders"


@pytest.mark.parametrize(
    "value", ["ik.{worker}.", "ik.{run}.", "ik {run}.{worker}.", "ik.{run}.{worker}.{x}", "ik/{run}{worker}"]
)
def test_a_prefix_without_run_and_worker_or_with_illegal_characters_is_refused(
    tmp_path: Path, value: str
) -> None:
    with raises_code(ErrorCode.CONFIG_INVALID_VALUE) as caught:
        load_settings(pyproject=_blank(tmp_path), environ={"INTEGRATION_KIT_KAFKA_TOPIC_PREFIX": value})
    assert "kafka_topic_prefix" in caught[0].message


def test_redis_databases_syntax() -> None:
    assert parse_redis_databases("1-8") == tuple(range(1, 9))
    assert parse_redis_databases("1,3,5-7") == (1, 3, 5, 6, 7)
    assert parse_redis_databases(" 7 , 2-3,2 ") == (2, 3, 7)
    assert parse_redis_databases([4, 0]) == (0, 4)


@pytest.mark.parametrize("value", ["", "8-1", "1,,2", "-1", "1-", "a", "1;2", "70000", "1-65536", "1.5"])
def test_bad_redis_databases_are_a_coded_error(tmp_path: Path, value: str) -> None:
    with raises_code(ErrorCode.CONFIG_INVALID_VALUE) as caught:
        load_settings(pyproject=_blank(tmp_path), environ={"INTEGRATION_KIT_REDIS_DATABASES": value})
    assert "redis_databases" in caught[0].message


@given(st.sets(st.integers(min_value=0, max_value=300), min_size=1))
def test_redis_databases_round_trip_through_their_description(indexes: set[int]) -> None:
    declared = tuple(sorted(indexes))
    assert parse_redis_databases(describe_databases(declared)) == declared


def test_workers_pick_the_declared_databases_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    declared = parse_redis_databases("3,5-6")
    assert [Namespace(w, redis_databases=declared).redis_db for w in ("main", "gw0", "gw1", "gw2")] == [
        3,
        3,
        5,
        6,
    ]
    with raises_code(ErrorCode.REDIS_DATABASES_EXHAUSTED) as caught:
        _ = Namespace("gw3", redis_databases=declared).redis_db
    assert "redis_databases" in caught[0].message and "3,5-6" in caught[0].message
    assert "INTEGRATION_KIT_REDIS_DATABASES" in (caught[0].hint or "")


def test_more_workers_than_databases_fails_in_every_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    ns = dataclasses.replace(Namespace.current(), redis_databases=(1, 2))
    with raises_code(ErrorCode.REDIS_DATABASES_EXHAUSTED) as caught:
        _ = ns.redis_db
    assert "3 worker(s)" in caught[0].message
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    assert ns.redis_db == 1
    assert namespace_module.worker_count() == 2
