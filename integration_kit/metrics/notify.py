"""Notifications: one JSON summary of a run sent to each ``notify`` target.

A run notifies when it has failures, new flaky tests, duration regressions or a coverage
drop. Targets (setting ``notify``):

* ``webhook:https://...``: an HTTP POST of the JSON (``Content-Type: application/json``)
  with a timeout, retried on connection errors and 5xx answers with backoff;
* ``command:CMD ARGS``: the command (split like a shell would, run without one) gets the
  JSON on stdin; a non-zero exit is a failure.

A failing notifier never fails the run: each outcome is returned as a line for the
terminal, with the URL reduced to its scheme, host and port (paths often hold tokens).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

WEBHOOK_TIMEOUT = 5.0
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF = 0.5
COMMAND_TIMEOUT = 30.0
FAILURES_LISTED = 50


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """How sending to one target went."""

    target: str
    ok: bool
    detail: str
    attempts: int = 1

    def line(self) -> str:
        state = "sent" if self.ok else "FAILED"
        return f"integration-kit notify: {self.target} {state} ({self.detail})"


def describe_target(target: str) -> str:
    """A target as it may be printed: no URL path, query or credentials; a command's program."""
    kind, _, value = target.partition(":")
    if kind == "webhook":
        parts = urlsplit(value)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
        return f"webhook {parts.scheme}://{host}{port}/..."
    try:
        program = shlex.split(value)[0]
    except (ValueError, IndexError):
        program = "?"
    return f"command {program}"


def reasons(summary: dict[str, Any]) -> list[str]:
    """Why a run with this summary notifies (empty: it does not)."""
    found = []
    if summary.get("counts", {}).get("failed", 0) or summary.get("counts", {}).get("error", 0):
        found.append("failures")
    if summary.get("new_flaky"):
        found.append("new flaky tests")
    if summary.get("regressions"):
        found.append("duration regressions")
    if summary.get("coverage", {}).get("drops"):
        found.append("coverage drop")
    return found


def post_webhook(
    url: str,
    body: bytes,
    *,
    timeout: float = WEBHOOK_TIMEOUT,
    attempts: int = WEBHOOK_ATTEMPTS,
    backoff: float = WEBHOOK_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, str, int]:
    """POST ``body`` as JSON; ``(ok, detail, attempts made)``. Retries connection errors,
    timeouts and 5xx; a 4xx answer is final."""
    detail = "not sent"
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "integration-kit"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return True, f"HTTP {response.status}", attempt
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code}"
            if exc.code < 500:
                return False, detail, attempt
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            detail = f"{type(reason).__name__}: {reason}"
        if attempt < attempts:
            sleep(backoff * 2 ** (attempt - 1))
    return False, f"{detail} after {attempts} attempts", attempts


def run_command(command: str, body: bytes, *, timeout: float = COMMAND_TIMEOUT) -> tuple[bool, str]:
    """Run ``command`` with ``body`` on stdin; ``(ok, detail)``."""
    try:
        argv = shlex.split(command)
        done = subprocess.run(argv, input=body, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:g}s"
    except (OSError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return False, f"exit status {done.returncode} {tail[0][:200]}".rstrip()
    return True, "exit status 0"


def send(targets: Sequence[str], summary: dict[str, Any], **webhook_options: Any) -> list[Delivery]:
    """Send ``summary`` to every target; never raises for a target's failure."""
    body = json.dumps(summary, sort_keys=True).encode()
    deliveries = []
    for target in targets:
        kind, _, value = target.partition(":")
        shown = describe_target(target)
        try:
            if kind == "webhook":
                ok, detail, attempts = post_webhook(value, body, **webhook_options)
                deliveries.append(Delivery(target=shown, ok=ok, detail=detail, attempts=attempts))
            else:
                ok, detail = run_command(value, body)
                deliveries.append(Delivery(target=shown, ok=ok, detail=detail))
        except Exception as exc:  # a notifier must never fail the run; the text may hold the URL
            deliveries.append(Delivery(target=shown, ok=False, detail=type(exc).__name__))
    return deliveries
