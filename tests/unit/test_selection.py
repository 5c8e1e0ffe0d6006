"""Backend selection: explicit names, auto's order, and IK-SVC-NO-BACKEND."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration_kit.config import load_settings
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.services.backends.external import ExternalBackend
from integration_kit.services.backends.local import LocalBackend
from integration_kit.services.base import PostgresService, RedisService
from integration_kit.services.selection import AutoBackend, get_backend, select_backend

pytestmark = pytest.mark.unit


@pytest.fixture
def no_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")


def test_explicit_backends() -> None:
    assert isinstance(select_backend(load_settings(backend="local", environ={})), LocalBackend)
    assert isinstance(select_backend(load_settings(backend="external", environ={})), ExternalBackend)


def test_unknown_backend_name() -> None:
    with raises_code(ErrorCode.SVC_UNKNOWN_BACKEND):
        get_backend("podman", load_settings(environ={}))


def test_auto_without_spec_chooses_per_service() -> None:
    assert isinstance(select_backend(load_settings(environ={})), AutoBackend)


def test_auto_prefers_external_where_a_url_is_set(no_docker: None) -> None:
    settings = load_settings(environ={}, redis_url="redis://127.0.0.1:6379/0")
    assert isinstance(select_backend(settings, RedisService()), ExternalBackend)


def test_auto_falls_back_to_local_when_docker_does_not_answer(no_docker: None) -> None:
    settings = load_settings(environ={})
    if not LocalBackend(settings).can_run(PostgresService())[0]:
        pytest.skip("PostgreSQL binaries are not installed here")
    assert isinstance(select_backend(settings, PostgresService()), LocalBackend)


def test_no_backend_lists_what_was_tried_and_how_to_fix(
    no_docker: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server anywhere on PATH
    settings = load_settings(environ={})
    if LocalBackend(settings).can_run(RedisService())[0]:
        pytest.skip("redis-server is installed in a well-known directory outside PATH")
    with raises_code(ErrorCode.SVC_NO_BACKEND) as caught:
        select_backend(settings, RedisService())
    tried = caught[0].context["tried"]
    assert "external:" in tried and "INTEGRATION_KIT_REDIS_URL" in tried
    assert "docker:" in tried and "no-docker.sock" in tried
    assert "local:" in tried and "redis-server" in tried
    assert "INTEGRATION_KIT_REDIS_URL" in caught[0].hint and "Docker" in caught[0].hint
