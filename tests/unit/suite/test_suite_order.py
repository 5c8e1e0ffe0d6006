"""order.py: the seeded shuffle is deterministic, keeps modules and classes together, and
an explicit order selects and orders."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from integration_kit.suite.order import apply_order, shuffle_items

pytestmark = pytest.mark.unit

NODEIDS = [
    f"tests/test_{m}.py::{c}test_{t}" for m in "abcd" for c in ("", "TestK::", "TestL::") for t in range(4)
]


def _runs(order: list[str], key: str) -> int:
    """How many contiguous runs of ``key`` values the order has."""
    return len(
        [
            k
            for k, _ in itertools.groupby(
                order, key=lambda n: n.rsplit("::", 1)[0] if key == "g" else n.split("::")[0]
            )
        ]
    )


def test_same_seed_same_order_other_seed_other_order() -> None:
    first = shuffle_items(NODEIDS, "1234")
    assert first == shuffle_items(list(NODEIDS), "1234")
    assert sorted(first) == sorted(NODEIDS) and first != NODEIDS
    assert shuffle_items(NODEIDS, "4321") != first


def test_modules_and_classes_stay_together() -> None:
    for seed in ("0", "1", "99"):
        order = shuffle_items(NODEIDS, seed)
        assert _runs(order, "m") == 4  # each module contiguous
        assert _runs(order, "g") == 12  # each class (and the module's functions) contiguous


def test_every_level_is_shuffled() -> None:
    orders = [shuffle_items(NODEIDS, str(seed)) for seed in range(20)]
    assert len({tuple(dict.fromkeys(n.split("::")[0] for n in o)) for o in orders}) > 1
    assert len({tuple(n for n in o if "TestK" in n and "test_a" in n) for o in orders}) > 1


@dataclass
class Item:
    nodeid: str


def test_apply_order_selects_and_orders() -> None:
    items = [Item(n) for n in ("t::a", "t::b", "t::c")]
    kept, dropped = apply_order(items, ["t::c", "t::a", "t::c", "t::zz"])
    assert [i.nodeid for i in kept] == ["t::c", "t::a"] and [i.nodeid for i in dropped] == ["t::b"]
