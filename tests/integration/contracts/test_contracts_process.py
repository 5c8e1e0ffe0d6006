"""An HTTP contract verified against the service under test run as a ProcessService."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from integration_kit.contracts import HttpContract, HttpInteraction, verify_http
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.services.process import HttpHealth, ProcessService, start_process

pytestmark = [pytest.mark.integration, pytest.mark.contract]

APP = str(Path(__file__).parent / "apps" / "orders_api.py")
CONTRACT = HttpContract(
    name="orders-api",
    version="1.0.0",
    interactions=[
        HttpInteraction(
            name="get order",
            method="GET",
            path="/orders/7",
            status=200,
            response_schema={
                "type": "object",
                "required": ["id", "status"],
                "properties": {"id": {"type": "integer"}, "status": {"enum": ["NEW", "PAID"]}},
            },
        ),
        HttpInteraction(name="unknown order", method="GET", path="/orders/8", status=404),
    ],
)


@pytest.mark.parametrize("buggy", [False, True], ids=["conforming", "buggy"])
def test_contract_against_the_service_under_test(buggy: bool) -> None:
    command = [sys.executable, APP, "{port}", *(["--buggy"] if buggy else [])]
    spec = ProcessService(name="orders-api", command=command, health=HttpHealth("/health"))
    running = start_process(spec, endpoints={}, timeout=30)
    try:
        report = verify_http(CONTRACT, running.url)
    finally:
        running.stop()
    if not buggy:
        report.raise_for_failures()
        return
    with raises_code(ErrorCode.CONTRACT_HTTP_MISMATCH) as caught:
        report.raise_for_failures()
    assert [f.path for f in caught[0].context["details"]] == ["$.id"]
