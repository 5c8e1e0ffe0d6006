"""namespace.py: per-worker names, the 63-byte limit, no suffix growth."""

from __future__ import annotations

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
