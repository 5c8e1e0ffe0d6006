"""Split a test suite into K shards of about equal duration.

Durations are each test's median over recent runs in the history; a test with no history
weighs the median of the known ones (1 second when nothing is known, so an empty history
splits by count). Tests are grouped (``by="test"``, ``"class"`` or ``"module"``: keeping a
class or module together keeps its class- or module-scoped fixtures in one shard), then
assigned greedily, longest first, to the shard with the least expected time (LPT). The
plan depends only on the test ids and the durations: every CI job that sees the same
history and collects the same tests computes the same plan, and every test lands in
exactly one shard.
"""

from __future__ import annotations

import hashlib
import heapq
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integration_kit.errors import ErrorCode, MetricsError

if TYPE_CHECKING:
    from integration_kit.metrics.history import History

GROUPINGS = ("test", "class", "module")
UNKNOWN_FALLBACK = 1.0
MIN_WEIGHT = 0.001
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> ShardSpec:
    """Parse ``"i/K"`` (``1 <= i <= K``); anything else raises ``IK-METRICS-INVALID-SHARD``."""
    match = _SPEC.fullmatch(text)
    if match is None:
        raise MetricsError(ErrorCode.METRICS_INVALID_SHARD, spec=text)
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count:
        raise MetricsError(ErrorCode.METRICS_INVALID_SHARD, spec=text)
    return ShardSpec(index, count)


def group_key(nodeid: str, by: str) -> str:
    """The unit that stays in one shard: the test, its class, or its module."""
    if by == "test":
        return nodeid
    parts = nodeid.split("::")
    if by == "module":
        return parts[0]
    return "::".join(parts[:2]) if len(parts) > 2 else nodeid


@dataclass(frozen=True, kw_only=True)
class Shard:
    """One shard: its tests (in the order given to the planner) and expected seconds."""

    index: int
    nodeids: tuple[str, ...]
    expected: float
    known: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tests": len(self.nodeids),
            "expected_seconds": round(self.expected, 3),
            "known": self.known,
            "nodeids": list(self.nodeids),
        }


@dataclass(frozen=True, kw_only=True)
class ShardPlan:
    """K shards covering every test exactly once."""

    shards: tuple[Shard, ...]
    by: str
    fallback: float

    @property
    def fingerprint(self) -> str:
        """A short hash of the assignment: equal in every job that computed the same plan."""
        text = "\n".join(f"{s.index}:{n}" for s in self.shards for n in s.nodeids)
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:10]

    @property
    def imbalance(self) -> float:
        """Longest expected shard over the mean (1.0 is perfect)."""
        times = [s.expected for s in self.shards]
        mean = sum(times) / len(times)
        return max(times) / mean if mean else 1.0

    def shard(self, index: int) -> Shard:
        return self.shards[index - 1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": len(self.shards),
            "by": self.by,
            "fallback_seconds": round(self.fallback, 3),
            "fingerprint": self.fingerprint,
            "imbalance": round(self.imbalance, 4),
            "shards": [s.to_dict() for s in self.shards],
        }


def plan_shards(
    nodeids: Sequence[str],
    durations: Mapping[str, float],
    count: int,
    *,
    by: str = "test",
) -> ShardPlan:
    """Split ``nodeids`` into ``count`` shards balanced by ``durations`` (greedy LPT)."""
    if count < 1:
        raise MetricsError(ErrorCode.METRICS_INVALID_SHARD, spec=f"?/{count}")
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {GROUPINGS}, got {by!r}")
    unique = list(dict.fromkeys(nodeids))
    known = [durations[n] for n in unique if n in durations]
    fallback = statistics.median(known) if known else UNKNOWN_FALLBACK
    weights: dict[str, float] = {}
    for nodeid in unique:
        key = group_key(nodeid, by)
        weights[key] = weights.get(key, 0.0) + max(durations.get(nodeid, fallback), MIN_WEIGHT)
    order = sorted(weights, key=lambda key: (-weights[key], key))
    heap = [(0.0, 0, index) for index in range(count)]
    assigned: dict[str, int] = {}
    loads = [0.0] * count
    for key in order:
        load, size, index = heapq.heappop(heap)
        assigned[key] = index
        loads[index] = load + weights[key]
        heapq.heappush(heap, (loads[index], size + 1, index))
    members: list[list[str]] = [[] for _ in range(count)]
    for nodeid in unique:
        members[assigned[group_key(nodeid, by)]].append(nodeid)
    shards = tuple(
        Shard(
            index=index + 1,
            nodeids=tuple(ids),
            expected=sum(max(durations.get(n, fallback), MIN_WEIGHT) for n in ids),
            known=sum(n in durations for n in ids),
        )
        for index, ids in enumerate(members)
    )
    return ShardPlan(shards=shards, by=by, fallback=fallback)


def planning_durations(
    history: History,
    *,
    count: int,
    window: int = 10,
    git_commit: str | None = None,
    git_dirty: str | None = None,
) -> dict[str, float]:
    """Median duration per test over the last ``window`` runs that are not shards of
    ``count`` on this code (``git_commit`` plus ``git_dirty``; without git, no sharded run
    of ``count`` counts)."""
    from integration_kit.metrics.trends import median_durations

    suffix = f"/{count}"

    def same_round(run: Any) -> bool:
        if run.shard is None or not run.shard.endswith(suffix):
            return False
        if git_commit is None or run.git_commit is None:
            return True
        return bool(run.git_commit == git_commit and run.git_dirty == git_dirty)

    usable = [run.id for run in history.runs() if not same_round(run)][-window:]
    return median_durations(history.results(run_ids=usable))
