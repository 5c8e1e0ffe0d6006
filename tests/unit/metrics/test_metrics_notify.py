"""notify.py: webhooks against a real local HTTP server, commands, and failures that never raise."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from integration_kit.metrics.notify import describe_target, post_webhook, reasons, send

pytestmark = pytest.mark.unit


class Hook:
    """A local webhook receiver: answers with the queued statuses (then 200), keeps the bodies."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.bodies: list[dict[str, object]] = []
        self.headers: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                hook.headers.append(self.headers["Content-Type"])
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/SECRET-TOKEN"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = Hook()
    yield server
    server.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SUMMARY = {
    "event": "integration-kit.run",
    "run_id": 7,
    "counts": {"failed": 1},
    "failures": [{"nodeid": "t::x"}],
}


def test_webhook_gets_one_json_post(hook: Hook) -> None:
    (delivery,) = send([f"webhook:{hook.url}"], SUMMARY)
    assert delivery.ok and delivery.detail == "HTTP 200" and delivery.attempts == 1
    assert hook.bodies == [SUMMARY] and hook.headers == ["application/json"]
    assert "SECRET-TOKEN" not in delivery.line() and "127.0.0.1" in delivery.line()


def test_webhook_retries_5xx_but_not_4xx(hook: Hook) -> None:
    waits: list[float] = []
    hook.statuses = [503, 502]
    assert post_webhook(hook.url, b"{}", sleep=waits.append) == (True, "HTTP 200", 3)
    assert waits == [0.5, 1.0] and len(hook.bodies) == 3
    hook.statuses = [404]
    assert post_webhook(hook.url, b"{}", sleep=waits.append) == (False, "HTTP 404", 1)


def test_an_unreachable_webhook_fails_after_its_attempts_without_raising() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/x"
    (delivery,) = send([f"webhook:{url}"], SUMMARY, attempts=2, backoff=0.0)
    assert not delivery.ok and delivery.attempts == 2
    assert "ConnectionRefusedError" in delivery.detail and "after 2 attempts" in delivery.detail


def test_command_gets_the_json_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    script = f"import sys, pathlib; pathlib.Path({str(out)!r}).write_bytes(sys.stdin.buffer.read())"
    failing = f"{sys.executable} -c 'import sys; print(\"no route\", file=sys.stderr); sys.exit(3)'"
    ok, bad, missing = send(
        [f"command:{sys.executable} -c {script!r}", f"command:{failing}", "command:/nonexistent/notifier"],
        SUMMARY,
    )
    assert ok.ok and json.loads(out.read_text()) == SUMMARY
    assert not bad.ok and bad.detail == "exit status 3 no route"
    assert not missing.ok and "FileNotFoundError" in missing.detail
    assert ok.target == f"command {sys.executable}"


def test_targets_are_printed_without_secrets() -> None:
    assert describe_target("webhook:https://user:pw@hooks.example.invalid:8443/services/T/B/XYZ?token=1") == (
        "webhook https://hooks.example.invalid:8443/..."
    )


def test_reasons_to_notify() -> None:
    assert reasons({"counts": {"failed": 0, "error": 0}}) == []
    assert reasons(SUMMARY) == ["failures"]
    assert reasons({"new_flaky": [1], "regressions": [1], "coverage": {"drops": [1]}}) == [
        "new flaky tests",
        "duration regressions",
        "coverage drop",
    ]
