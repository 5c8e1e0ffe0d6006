"""Loading a contracts directory into a registry; lookups; the registry-wide checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from integration_kit.contracts import (
    ContractRegistry,
    HttpContract,
    MessageContract,
    definition_from_dict,
    load_contracts,
    load_file,
    verify_registry,
)
from integration_kit.errors import ErrorCode, raises_code

pytestmark = [pytest.mark.unit, pytest.mark.contract]

VALUE = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}


def message(version: str, value: dict[str, Any] = VALUE, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "message",
        "name": "order-created",
        "version": version,
        "topic": "orders",
        "value": value,
        **extra,
    }


HTTP = {
    "kind": "http",
    "name": "orders-api",
    "version": "1.0.0",
    "interactions": [
        {"name": "get", "request": {"method": "get", "path": "/orders/1"}, "response": {"status": 200}},
    ],
}
CONSUMER = {
    "kind": "consumer",
    "consumer": "billing",
    "contract": "order-created",
    "fields": {"id": "integer"},
}


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_loads_json_and_python_files_recursively(tmp_path: Path) -> None:
    write(tmp_path / "orders" / "v1.json", message("1.0.0"))
    write(tmp_path / "orders" / "v1_1.json", [message("1.1.0"), CONSUMER])
    write(tmp_path / "http.json", HTTP)
    write(
        tmp_path / "more.py",
        "from integration_kit.contracts import MessageContract\n"
        "CONTRACTS = [\n"
        "    {'name': 'order-created', 'version': '1.10.0', 'topic': 'orders',\n"
        "     'value': {'type': 'object'}},\n"
        "    MessageContract(name='payment', version='0.1.0', value={'type': 'object'}),\n"
        "]\n",
    )
    write(tmp_path / "_drafts" / "x.json", {"broken": True})
    write(tmp_path / ".hidden.json", {"broken": True})
    write(tmp_path / "README.md", "not a contract")
    registry = load_contracts(tmp_path)
    assert registry.names() == ["order-created", "orders-api", "payment"]
    assert [c.version for c in registry.versions("order-created")] == ["1.0.0", "1.1.0", "1.10.0"]
    assert registry.get("order-created").version == "1.10.0"
    assert registry.get("order-created", "1.1.0").source.endswith("v1_1.json[0]")
    assert isinstance(registry.http("orders-api"), HttpContract)
    assert isinstance(registry.message("payment"), MessageContract)
    assert [e.consumer for e in registry.expectations_for("order-created")] == ["billing"]
    assert len(registry) == 5 and len(list(registry)) == 5
    assert [c.ref for c in registry.for_topic("gw0.orders")] == ["order-created@1.10.0"]


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.json", message("1.0.0"))
    write(tmp_path / "b.json", message("1.0.0+other"))
    with raises_code(ErrorCode.CONTRACT_DUPLICATE) as caught:
        load_contracts(tmp_path)
    assert "a.json" in caught[0].context["sources"] and "b.json" in caught[0].context["sources"]


def test_unknown_names_and_versions_are_not_found() -> None:
    registry = ContractRegistry([definition_from_dict(message("1.0.0")), definition_from_dict(HTTP)])
    with raises_code(ErrorCode.CONTRACT_NOT_FOUND) as caught:
        registry.get("payments")
    assert "order-created (1.0.0)" in caught[0].context["known"]
    with raises_code(ErrorCode.CONTRACT_NOT_FOUND):
        registry.get("order-created", "2.0.0")
    with raises_code(ErrorCode.CONTRACT_NOT_FOUND):
        registry.http("order-created")
    with raises_code(ErrorCode.CONTRACT_NOT_FOUND):
        registry.message("orders-api")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.json", "{not json"),
        ("kind.json", json.dumps({"kind": "grpc", "name": "x", "version": "1.0.0"})),
        ("scalar.json", json.dumps([1])),
        ("nolist.py", "CONTRACTS = None\n"),
        ("raises.py", "raise RuntimeError('boom')\n"),
        ("semver.json", json.dumps(message("v1"))),
    ],
)
def test_invalid_files_are_refused_with_their_source(tmp_path: Path, name: str, content: str) -> None:
    path = write(tmp_path / name, content)
    with raises_code(ErrorCode.CONTRACT_INVALID) as caught:
        load_contracts(tmp_path)
    assert str(path) in str(caught[0])


def test_other_invalid_inputs(tmp_path: Path) -> None:
    with raises_code(ErrorCode.CONTRACT_INVALID):
        load_contracts(tmp_path / "missing")
    with raises_code(ErrorCode.CONTRACT_INVALID):
        load_file(write(tmp_path / "c.yaml", "name: x"))
    with raises_code(ErrorCode.CONTRACT_INVALID):
        ContractRegistry().add("order-created")  # type: ignore[arg-type]
    registry = ContractRegistry([definition_from_dict(message("1.0.0"))])
    with raises_code(ErrorCode.CONTRACT_INVALID):
        registry.add(definition_from_dict({**HTTP, "name": "order-created", "version": "2.0.0"}))


def test_verify_registry_runs_every_check() -> None:
    broken = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
    registry = ContractRegistry(
        [
            definition_from_dict(message("1.0.0")),
            definition_from_dict(message("1.1.0", VALUE, examples=[{"value": {"id": 1}}])),
            definition_from_dict(CONSUMER),
            definition_from_dict({**CONSUMER, "consumer": "ghost", "contract": "nothing"}),
        ]
    )
    report = verify_registry(registry)
    assert [(c.kind, c.ok) for c in report.checks] == [
        ("versions", True),
        ("orphan", False),
        ("consumers", True),
    ]
    with raises_code(ErrorCode.CONTRACT_PROVIDER_FAILED):
        report.raise_for_failures()
    registry.add(definition_from_dict(message("1.2.0", broken)))
    report = verify_registry(registry)
    assert [(c.kind, c.ok) for c in report.checks] == [
        ("versions", True),
        ("versions", False),
        ("orphan", False),
        ("consumers", False),
    ]
    assert "FAIL versions" in report.render()
    with raises_code(ErrorCode.CONTRACT_INCOMPATIBLE):
        report.raise_for_failures()


def test_public_api_is_sorted_and_importable() -> None:
    import integration_kit.contracts as contracts

    assert contracts.__all__ == sorted(contracts.__all__)
    for name in contracts.__all__:
        assert getattr(contracts, name) is not None, name
