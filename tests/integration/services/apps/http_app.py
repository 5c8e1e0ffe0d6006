"""A small service under test: GET /health, GET /env/<NAME>, GET /redis (PINGs REDIS_URL)."""

from __future__ import annotations

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, "ok")
        elif self.path.startswith("/env/"):
            self._reply(200, os.environ.get(self.path[5:], ""))
        elif self.path == "/redis":
            import redis

            self._reply(200, str(redis.Redis.from_url(os.environ["REDIS_URL"]).ping()))
        elif self.path == "/fail":
            print("app: about to answer 500 for /fail", flush=True)
            self._reply(500, "failing on purpose")
        else:
            self._reply(404, "not found")

    def _reply(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        print("app:", format % args, flush=True)


if __name__ == "__main__":
    port = int(sys.argv[1])
    print(f"app: listening on {port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
