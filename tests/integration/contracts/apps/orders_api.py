"""A tiny orders API run as the service under test: ``python orders_api.py PORT [--buggy]``."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BUGGY = "--buggy" in sys.argv


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write("orders-api: " + format % args + "\n")

    def do_GET(self) -> None:
        if self.path == "/health":
            status, body = 200, {"ok": True}
        elif self.path == "/orders/7":
            status, body = 200, {"id": "7" if BUGGY else 7, "status": "NEW"}
        else:
            status, body = 404, {"error": "not found"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print(f"orders-api: listening on {sys.argv[1]}", flush=True)
    server.serve_forever()
