"""Failure analysis: failures grouped by kit error code (or exception type) and normalized
message across runs, infrastructure failures apart from test failures.

Each failing result carries ``failure_type`` (``IK-...`` when the error is a kit error,
else the exception's class name) and ``failure_message`` (the first line of the error
with numbers, addresses, temp paths and ids replaced by placeholders), so the same
failure in two runs (another port, another temp dir) falls in one group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from integration_kit.metrics.history import FAILING, History, StoredResult

#: Code prefixes of failures of the services, not of the code under test.
INFRA_PREFIXES = ("IK-SVC-", "IK-HEALTH-", "IK-DOCKER-", "IK-LOCAL-", "IK-EXTERNAL-")
INFRA_TYPES = frozenset({"ServiceError", "HealthCheckError"})
MESSAGE_LIMIT = 200

_CODE = re.compile(r"\[(IK(?:-[A-Z0-9]+)+)\]")
_TYPE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s|:$|$)")
_REPLACEMENTS = (
    (re.compile(r"0x[0-9a-fA-F]+"), "<addr>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"(/tmp|/var/tmp|/dev/shm)/\S*"), "<tmp>"),
    (re.compile(r"\b[0-9a-f]{12,}\b"), "<hex>"),
    (re.compile(r"\d+(\.\d+)?"), "N"),
    (re.compile(r"\s+"), " "),
)


def normalize(message: str) -> str:
    """The first line of ``message`` with run-specific values replaced, at most 200 chars."""
    line = next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
    for pattern, replacement in _REPLACEMENTS:
        line = pattern.sub(replacement, line)
    return line[:MESSAGE_LIMIT]


def identify(crash: str) -> tuple[str, str]:
    """``(failure_type, normalized message)`` of an error's crash line, such as
    ``"integration_kit.errors.KafkaError: [IK-KAFKA-TOPIC-NOT-READY] ..."``."""
    text = crash.strip()
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    code = _CODE.search(text)
    match = _TYPE.match(first)
    name = match.group(1).rsplit(".", 1)[-1] if match else ""
    type_name = name if name[:1].isupper() else None
    body = first.split(":", 1)[1] if type_name and ":" in first else ("" if type_name else first)
    if type_name is None and first.startswith("assert "):
        type_name = "AssertionError"
    if code:
        body = body.replace(code.group(0), "", 1)
        return code.group(1), normalize(body)
    return type_name or "Failure", normalize(body)


def failure_of(report: Any) -> tuple[str, str] | None:
    """The failure identity of a failed pytest report (``None`` without a crash line)."""
    longrepr = getattr(report, "longrepr", None)
    if longrepr is None:
        return None
    crash = getattr(longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if message is None:
        text = str(longrepr)
        lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
        message = lines[0][2:] if lines else text
    return identify(str(message))


def is_infrastructure(failure_type: str) -> bool:
    """Whether failures of this type are the services' (start-up, readiness), not the tests'."""
    return failure_type.startswith(INFRA_PREFIXES) or failure_type in INFRA_TYPES


@dataclass(frozen=True, kw_only=True)
class FailureGroup:
    """One kind of failure across runs."""

    failure_type: str
    message: str
    count: int
    runs: int
    first_run: int
    first_seen: float
    last_run: int
    last_seen: float
    tests: tuple[str, ...]
    infrastructure: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "failure_type": self.failure_type,
            "message": self.message,
            "count": self.count,
            "runs": self.runs,
            "first_run": self.first_run,
            "first_seen": self.first_seen,
            "last_run": self.last_run,
            "last_seen": self.last_seen,
            "tests": list(self.tests),
            "infrastructure": self.infrastructure,
        }


def group_failures(results: Iterable[StoredResult]) -> list[FailureGroup]:
    """Failures grouped by (type, normalized message); the most frequent first. Failures
    recorded without an identity (older histories) are grouped as ``unknown``."""
    groups: dict[tuple[str, str], list[StoredResult]] = {}
    for result in results:
        if result.outcome not in FAILING:
            continue
        key = (result.failure_type or "unknown", result.failure_message or "")
        groups.setdefault(key, []).append(result)
    found = []
    for (failure_type, message), members in groups.items():
        members.sort(key=lambda r: (r.run_id, r.nodeid))
        found.append(
            FailureGroup(
                failure_type=failure_type,
                message=message,
                count=len(members),
                runs=len({r.run_id for r in members}),
                first_run=members[0].run_id,
                first_seen=members[0].started_at,
                last_run=members[-1].run_id,
                last_seen=members[-1].started_at,
                tests=tuple(sorted({r.nodeid for r in members})),
                infrastructure=is_infrastructure(failure_type),
            )
        )
    return sorted(found, key=lambda g: (g.infrastructure, -g.count, -g.last_run, g.failure_type, g.message))


def failure_groups(history: History, *, window: int = 50) -> list[FailureGroup]:
    """Failure groups within the last ``window`` runs of ``history``."""
    return group_failures(history.results(last_runs=window))
