"""Test order: a seeded shuffle at module, class and test level, and an explicit order.

``shuffle_items(items, seed)`` permutes the modules, then the classes of each module (the
module's plain functions count as one group), then the tests of each class, each level
with its own ``random.Random`` seeded from the seed and the group's id: the same seed and
the same selection give the same order on every machine and in every xdist worker. The
run's seed is stored in the run history (``runs.seed``) and printed in the header.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

SEED: pytest.StashKey[str] = pytest.StashKey()
T = TypeVar("T")


def _group_keys(nodeid: str) -> tuple[str, str]:
    parts = nodeid.split("::")
    return parts[0], "::".join(parts[:-1]) if len(parts) > 2 else parts[0] + "::"


def _shuffled(values: list[T], seed: str, key: str) -> list[T]:
    random.Random(f"{seed}\0{key}").shuffle(values)
    return values


def shuffle_items(items: Sequence[T], seed: str, *, nodeid: Any = None) -> list[T]:
    """``items`` (pytest items, or node ids) in the seeded order of ``seed``."""
    key_of = nodeid or (lambda item: item if isinstance(item, str) else item.nodeid)
    modules: dict[str, dict[str, list[T]]] = {}
    for item in items:
        module, group = _group_keys(key_of(item))
        modules.setdefault(module, {}).setdefault(group, []).append(item)
    ordered: list[T] = []
    for module in _shuffled(list(modules), seed, ""):
        groups = modules[module]
        for group in _shuffled(list(groups), seed, module):
            ordered.extend(_shuffled(list(groups[group]), seed, group))
    return ordered


def new_seed() -> str:
    """A fresh random seed (as text, like a given one)."""
    return str(random.SystemRandom().randrange(2**32))


def read_order(path: Path) -> list[str]:
    """Node ids, one a line (blank lines and ``#`` comments ignored)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def apply_order(items: list[Any], order: Sequence[str]) -> tuple[list[Any], list[Any]]:
    """``(kept in the order given, deselected)``: the items named in ``order``, in that order."""
    rank = {nodeid: i for i, nodeid in enumerate(dict.fromkeys(order))}
    kept = sorted((item for item in items if item.nodeid in rank), key=lambda item: rank[item.nodeid])
    return kept, [item for item in items if item.nodeid not in rank]


def recorded_seed(config: pytest.Config) -> str | None:
    """The shuffle seed of this run, ``None`` when it runs in collection order."""
    return config.stash.get(SEED, None)
