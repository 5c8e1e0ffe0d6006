"""HTTP contracts verified against a real HTTP server (http.server in a thread on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from integration_kit.contracts import HttpContract, HttpInteraction, averify_http, verify_http
from integration_kit.contracts.cli import contracts
from integration_kit.errors import ContractError, ErrorCode, raises_code

pytestmark = [pytest.mark.integration, pytest.mark.contract]

ORDER = {
    "type": "object",
    "required": ["id", "status"],
    "properties": {"id": {"type": "integer"}, "status": {"enum": ["NEW", "PAID"]}},
}


class OrdersHandler(BaseHTTPRequestHandler):
    """A tiny orders API; ``server.buggy`` makes it send ids as strings."""

    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(
        self, status: int, body: Any, *, content_type: str = "application/json", **headers: str
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/orders/7":
            order_id: Any = "7" if self.server.buggy else 7
            self._send(200, {"id": order_id, "status": "NEW"})
        elif url.path == "/orders":
            query = parse_qs(url.query)
            tenant = self.headers.get("X-Tenant", "")
            self._send(200, {"status": query.get("status", [""])[0], "tenant": tenant, "orders": []})
        elif url.path == "/text":
            self._send(200, b"oops", content_type="text/plain")
        elif url.path == "/old":
            self._send(302, {}, Location="/orders/7")
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        payload = json.loads(self.rfile.read(length))
        if "sku" not in payload:
            self._send(422, {"error": "sku is required"})
            return
        self._send(201, {"id": 8, "status": "NEW"}, Location="/orders/8")


class Server(ThreadingHTTPServer):
    buggy = False

    def server_bind(self) -> None:  # skip HTTPServer's reverse DNS lookup (getfqdn): slow here
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]  # type: ignore[assignment]


@pytest.fixture
def server() -> Iterator[Any]:
    httpd = Server(("127.0.0.1", 0), OrdersHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def base_url(httpd: Any) -> str:
    host, port = httpd.server_address[:2]
    return f"http://{host}:{port}"


CONTRACT = HttpContract(
    name="orders-api",
    version="1.0.0",
    interactions=[
        HttpInteraction(name="get order", method="GET", path="/orders/7", status=200, response_schema=ORDER),
        HttpInteraction(
            name="create order",
            method="POST",
            path="/orders",
            status=201,
            request_body={"sku": "A1", "qty": 2},
            request_schema={"type": "object", "required": ["sku"]},
            response_schema=ORDER,
            response_headers={"Location": {"type": "string", "pattern": "^/orders/[0-9]+$"}},
        ),
        HttpInteraction(
            name="unknown order",
            method="GET",
            path="/orders/999",
            status=404,
            response_schema={"type": "object", "required": ["error"]},
        ),
        HttpInteraction(
            name="list by status",
            method="GET",
            path="/orders",
            query={"status": "NEW"},
            request_headers={"X-Tenant": "acme"},
            status=200,
            response_schema={
                "type": "object",
                "required": ["status", "tenant"],
                "properties": {"status": {"const": "NEW"}, "tenant": {"const": "acme"}},
            },
        ),
    ],
)


def test_a_conforming_service_passes_every_interaction(server: Any) -> None:
    report = verify_http(CONTRACT, base_url(server))
    assert report.ok, report.render()
    assert report.checked == ["get order", "create order", "unknown order", "list by status"]
    report.raise_for_failures()


def test_a_broken_service_fails_with_json_paths(server: Any) -> None:
    server.buggy = True
    report = verify_http(CONTRACT, base_url(server), only=["get order"])
    assert [(f.path, f.problem) for f in report.failures] == [("$.id", "'7' is not of type 'integer'")]
    with raises_code(ErrorCode.CONTRACT_HTTP_MISMATCH) as caught:
        report.raise_for_failures()
    assert "get order (GET /orders/7): $.id" in str(caught[0])
    assert isinstance(caught[0], AssertionError)


def test_status_headers_and_content_type_are_checked(server: Any) -> None:
    contract = HttpContract(
        name="odd",
        version="0.1.0",
        interactions=[
            HttpInteraction(name="wrong status", method="GET", path="/orders/999", status=200),
            HttpInteraction(name="text body", method="GET", path="/text", status=200, response_schema=ORDER),
            HttpInteraction(
                name="missing header", method="GET", path="/orders/7", status=200, response_headers=["ETag"]
            ),
            HttpInteraction(
                name="redirect seen", method="GET", path="/old", status=302, response_headers=["Location"]
            ),
            HttpInteraction(
                name="bad request", method="POST", path="/orders", status=201, request_body={"qty": 1}
            ),
        ],
    )
    report = verify_http(contract, base_url(server))
    found = [(f.interaction.split(" (")[0], f.path) for f in report.failures]
    assert found == [
        ("wrong status", "status"),
        ("text body", 'headers["content-type"]'),
        ("text body", "$"),
        ("missing header", 'headers["etag"]'),
        ("bad request", "status"),
    ]
    assert "is 422, expected 201" in str(report.failures[-1])


def test_an_unreachable_service_is_a_coded_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with raises_code(ErrorCode.CONTRACT_HTTP_UNREACHABLE) as caught:
        verify_http(CONTRACT, f"http://127.0.0.1:{port}", timeout=2)
    assert isinstance(caught[0], ContractError)
    assert f"127.0.0.1:{port}/orders/7" in caught[0].context["url"]


async def test_async_variant(server: Any) -> None:
    report = await averify_http(CONTRACT, base_url(server))
    assert report.ok, report.render()


@pytest.mark.parametrize(
    ("interaction", "fragment"),
    [
        ({"method": "FETCH"}, "method"),
        ({"path": "orders"}, "path"),
        ({"status": 99}, "status"),
        (
            {"request_body": {"qty": 1}, "request_schema": {"type": "object", "required": ["sku"]}},
            "request body",
        ),
        ({"response_schema": {"type": 5}}, "response schema"),
    ],
)
def test_invalid_http_definitions_are_refused(interaction: dict[str, Any], fragment: str) -> None:
    fields: dict[str, Any] = {"name": "x", "method": "GET", "path": "/x", "status": 200, **interaction}
    with raises_code(ErrorCode.CONTRACT_INVALID) as caught:
        HttpContract(name="api", version="1.0.0", interactions=[HttpInteraction(**fields)])
    assert fragment in str(caught[0])
    with raises_code(ErrorCode.CONTRACT_INVALID):
        HttpContract(name="api", version="1.0.0", interactions=[])


def test_json_form_round_trips_and_cli_verifies_live(server: Any, tmp_path: Path) -> None:
    again = HttpContract.from_dict(CONTRACT.to_dict())
    assert again.to_dict() == CONTRACT.to_dict()
    (tmp_path / "orders-api.json").write_text(json.dumps(CONTRACT.to_dict()))
    runner = CliRunner()
    result = runner.invoke(contracts, ["verify", str(tmp_path), "--base-url", base_url(server), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["checks"] == [
        {"kind": "http", "subject": "orders-api@1.0.0", "ok": True, "detail": "4 interaction(s)"}
    ]
    server.buggy = True
    result = runner.invoke(contracts, ["verify", str(tmp_path), "--base-url", base_url(server)])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "$.id" in result.output
