"""Helpers of the Redis layer tests (a module of its own: conftest modules are not importable)."""

from __future__ import annotations

from integration_kit.services.namespace import Namespace


def layer_namespace() -> Namespace:
    return Namespace(f"gw{10 + Namespace.current().index}")
