"""Every registered backend implements the whole ``Backend`` protocol the session uses."""

from __future__ import annotations

import inspect
from typing import get_type_hints

import pytest

from integration_kit.config import load_settings
from integration_kit.services import backends
from integration_kit.services.base import Backend, BackendService
from integration_kit.services.coordination import SharedBackend, SharedServices
from integration_kit.services.ownership import Owner
from integration_kit.services.selection import AutoBackend

pytestmark = pytest.mark.unit

SETTINGS = load_settings(environ={}, pyproject=None)
PROTOCOL_METHODS = sorted(
    name for name, member in vars(Backend).items() if inspect.isfunction(member) and not name.startswith("_")
)


def _signature(obj: object, name: str) -> list[tuple[str, object]]:
    params = inspect.signature(getattr(obj, name)).parameters.values()
    return [(p.name, p.kind) for p in params if p.name != "self"]


def _implementations(tmp_path_factory: pytest.TempPathFactory) -> list[object]:
    owner = Owner.current()
    found: list[object] = [backends.create_backend(name, SETTINGS, owner=owner) for name in backends.REGISTRY]
    found.append(AutoBackend(SETTINGS, owner=owner))
    runtime = tmp_path_factory.mktemp("runtime")
    shared = SharedServices("protocol-test", settings=SETTINGS.replace(runtime_dir=runtime))
    found.append(SharedBackend(backends.create_backend("local", SETTINGS, owner=owner), shared))
    return found


def test_protocol_lists_what_the_session_needs() -> None:
    assert PROTOCOL_METHODS == [
        "available",
        "can_run",
        "close",
        "handle_alive",
        "reap",
        "start",
        "stop_handle",
    ]
    assert set(get_type_hints(Backend)) >= {"name", "owner"}


def test_every_backend_implements_the_whole_protocol(tmp_path_factory: pytest.TempPathFactory) -> None:
    for backend in _implementations(tmp_path_factory):
        assert isinstance(backend, Backend), type(backend).__name__
        for method in PROTOCOL_METHODS:
            expected = _signature(Backend, method)
            assert _signature(backend, method) == expected, (type(backend).__name__, method)
        assert isinstance(backend.owner, Owner)  # type: ignore[attr-defined]


def test_registry_names_match_the_backends_own_names() -> None:
    for name in backends.REGISTRY:
        assert backends.backend_class(name).name == name


def test_unknown_backend_name_is_a_coded_error() -> None:
    from integration_kit.errors import ErrorCode, raises_code

    with raises_code(ErrorCode.SVC_UNKNOWN_BACKEND) as caught:
        backends.backend_class("podman")
    assert "docker" in caught[0].hint


def test_backend_services_name_their_backend_and_detach() -> None:
    members = {name for name, _ in inspect.getmembers(BackendService)}
    assert {"detach", "stop", "log_tail", "started_here"} <= members
    assert set(get_type_hints(BackendService)) >= {"spec", "endpoint", "backend_name"}
