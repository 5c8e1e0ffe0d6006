"""Helpers of the Redis layer tests (a module of its own: conftest modules are not importable)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from integration_kit.services.base import Endpoint
from integration_kit.services.namespace import Namespace


def redis_endpoint() -> Endpoint:
    url = os.environ.get("INTEGRATION_KIT_REDIS_URL")
    if not url:
        pytest.skip("real Redis: set INTEGRATION_KIT_REDIS_URL=redis://host:port")
    parts = urlsplit(url)
    return Endpoint(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        user=parts.username,
        password=parts.password,
        database=parts.path.lstrip("/") or None,
    )


def layer_namespace() -> Namespace:
    return Namespace(f"gw{10 + Namespace.current().index}")
