"""The ``contracts`` click group: verify a directory, compare two schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from integration_kit.contracts.cli import contracts

pytestmark = [pytest.mark.unit, pytest.mark.contract]

V1 = {
    "name": "order-created",
    "version": "1.0.0",
    "value": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
}
V2 = {**V1, "version": "1.1.0", "value": {**V1["value"], "properties": {"id": {"type": "string"}}}}


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(contracts, list(args))


def test_verify_a_valid_directory(tmp_path: Path) -> None:
    write(tmp_path / "v1.json", V1)
    write(tmp_path / "v1_1.json", {**V1, "version": "1.1.0"})
    write(
        tmp_path / "billing.json",
        {"kind": "consumer", "consumer": "billing", "contract": "order-created", "fields": {"id": "integer"}},
    )
    result = run("verify", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "2 contract version(s) of 1 contract(s), 1 consumer expectation(s)" in result.output
    assert "all checks passed" in result.output
    data = json.loads(run("verify", str(tmp_path), "--json").output)
    assert data["ok"] is True
    assert data["contracts"] == ["order-created@1.0.0", "order-created@1.1.0"]
    assert [c["kind"] for c in data["checks"]] == ["versions", "consumers"]


def test_verify_reports_incompatible_versions_and_broken_consumers(tmp_path: Path) -> None:
    write(tmp_path / "v1.json", V1)
    write(tmp_path / "v2.json", V2)
    write(
        tmp_path / "billing.json",
        {"kind": "consumer", "consumer": "billing", "contract": "order-created", "fields": {"id": "integer"}},
    )
    result = run("verify", str(tmp_path), "--json")
    assert result.exit_code == 1
    checks = json.loads(result.output)["checks"]
    assert [(c["kind"], c["ok"]) for c in checks] == [("versions", False), ("consumers", False)]
    assert "type changed from integer to string" in checks[0]["detail"]
    assert run("verify", str(tmp_path), "--mode", "forward").exit_code == 1


def test_verify_exits_2_on_invalid_definitions(tmp_path: Path) -> None:
    write(tmp_path / "bad.json", {**V1, "version": "one"})
    result = run("verify", str(tmp_path))
    assert result.exit_code == 2
    assert "IK-CONTRACT-INVALID" in result.output


def test_verify_of_an_empty_directory(tmp_path: Path) -> None:
    result = run("verify", str(tmp_path))
    assert result.exit_code == 0 and "all valid" in result.output


def test_compat_of_contracts_and_plain_schemas(tmp_path: Path) -> None:
    old, new = write(tmp_path / "old.json", V1), write(tmp_path / "new.json", V2)
    result = run("compat", str(old), str(new))
    assert result.exit_code == 1
    assert "order-created@1.0.0 -> order-created@1.1.0 (backward): 1 problem(s)" in result.output
    assert "$.id: type changed" in result.output
    assert run("compat", str(old), str(old), "--mode", "full").exit_code == 0
    schema = write(tmp_path / "schema.json", {**V1["value"], "properties": {"id": {"type": "number"}}})
    result = run("compat", str(old), str(schema), "--mode", "full", "--json")
    data = json.loads(result.output)
    assert result.exit_code == 1 and data["compatible"] is False
    assert [(p["path"], p["direction"]) for p in data["problems"]] == [("$.id", "forward")]
    assert run("compat", str(old), str(schema), "--mode", "backward").exit_code == 0


def test_compat_refuses_invalid_inputs(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", V1)
    bad = write(tmp_path / "bad.json", {"type": "nope"})
    assert run("compat", str(old), str(bad)).exit_code == 2
    (tmp_path / "garbage.json").write_text("{")
    assert run("compat", str(old), str(tmp_path / "garbage.json")).exit_code == 2
    assert run("compat", str(old), str(old), "--mode", "sideways").exit_code == 2
