"""Isolation strategies, one module each; ``STRATEGIES`` maps names to classes."""

from __future__ import annotations

from typing import Any

from integration_kit.errors import ErrorCode, PostgresError
from integration_kit.postgres.strategies.base import Strategy
from integration_kit.postgres.strategies.swap import SwapStrategy
from integration_kit.postgres.strategies.template import TemplateStrategy
from integration_kit.postgres.strategies.transaction import TransactionStrategy
from integration_kit.postgres.strategies.truncate import TruncateStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (TransactionStrategy, SwapStrategy, TemplateStrategy, TruncateStrategy)
}


def strategy_class(name: Any) -> type[Strategy]:
    """The strategy class called ``name``; ``IK-PG-UNKNOWN-STRATEGY`` otherwise."""
    cls = STRATEGIES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise PostgresError(ErrorCode.PG_UNKNOWN_STRATEGY, strategy=name, known=", ".join(STRATEGIES))
    return cls


__all__ = [
    "STRATEGIES",
    "Strategy",
    "SwapStrategy",
    "TemplateStrategy",
    "TransactionStrategy",
    "TruncateStrategy",
    "strategy_class",
]
