"""sharding.py: every test in exactly one shard, balanced by duration, deterministic."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.metrics.history import History, ResultRecord, RunRecord
from integration_kit.metrics.sharding import (
    ShardSpec,
    group_key,
    parse_shard,
    plan_shards,
    planning_durations,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "spec"), [("1/3", ShardSpec(1, 3)), (" 3 / 3 ", ShardSpec(3, 3))])
def test_parse_shard(text: str, spec: ShardSpec) -> None:
    assert parse_shard(text) == spec
    assert str(spec) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "2", "1/3/4", ""])
def test_invalid_shard_is_a_coded_error(text: str) -> None:
    with raises_code(ErrorCode.METRICS_INVALID_SHARD) as caught:
        parse_shard(text)
    assert caught[0].context["spec"] == text


def test_every_test_lands_in_exactly_one_shard() -> None:
    nodeids = [f"tests/test_{m}.py::test_{i}" for m in range(7) for i in range(13)]
    durations = {n: (hash(n) % 100) / 10 for n in nodeids[::2]}
    for count in (1, 2, 3, 5, 100):
        plan = plan_shards(nodeids, durations, count)
        seen = [n for shard in plan.shards for n in shard.nodeids]
        assert sorted(seen) == sorted(nodeids)
        assert len(plan.shards) == count


def test_known_durations_are_balanced() -> None:
    durations = {f"t::d{i}": float(d) for i, d in enumerate([8, 7, 6, 5, 4, 3, 2, 2, 1, 1, 1])}
    plan = plan_shards(list(durations), durations, 3)
    assert [s.expected for s in plan.shards] == [
        pytest.approx(14.0),
        pytest.approx(13.0),
        pytest.approx(13.0),
    ]
    assert plan.imbalance == pytest.approx(14 / (40 / 3))
    assert plan.shard(1).known == len(plan.shard(1).nodeids)


def test_unknown_tests_weigh_the_median_of_known_ones() -> None:
    durations = {"t::a": 1.0, "t::b": 3.0, "t::c": 10.0}
    plan = plan_shards(["t::a", "t::b", "t::c", "t::new"], durations, 2)
    assert plan.fallback == 3.0
    shard_of_new = next(s for s in plan.shards if "t::new" in s.nodeids)
    assert shard_of_new.known == len(shard_of_new.nodeids) - 1


def test_without_history_tests_are_split_by_count() -> None:
    plan = plan_shards([f"t::x{i}" for i in range(10)], {}, 3)
    assert sorted(len(s.nodeids) for s in plan.shards) == [3, 3, 4]
    assert plan.fallback == 1.0


def test_plan_is_deterministic_and_keeps_collection_order() -> None:
    nodeids = [f"t.py::test_{i}" for i in range(50)]
    durations = {n: (i % 7) * 0.3 for i, n in enumerate(nodeids)}
    plan = plan_shards(nodeids, durations, 4)
    shuffled = nodeids[:]
    random.Random(1).shuffle(shuffled)
    again = plan_shards(shuffled, dict(reversed(list(durations.items()))), 4)
    assert [set(s.nodeids) for s in plan.shards] == [set(s.nodeids) for s in again.shards]
    assert plan.fingerprint != again.fingerprint or plan.shards == again.shards
    for shard in plan.shards:
        assert list(shard.nodeids) == [n for n in nodeids if n in shard.nodeids]


def test_group_by_class_and_module_keeps_them_together() -> None:
    nodeids = [
        "a.py::TestOne::test_1",
        "a.py::TestOne::test_2",
        "a.py::test_free",
        "b.py::TestTwo::test_1",
        "b.py::TestTwo::test_2",
        "b.py::test_free",
    ]
    assert group_key("a.py::TestOne::test_1", "class") == "a.py::TestOne"
    assert group_key("a.py::test_free", "class") == "a.py::test_free"
    assert group_key("a.py::TestOne::test_1", "module") == "a.py"
    for by, groups in (("class", ["a.py::TestOne", "b.py::TestTwo"]), ("module", ["a.py", "b.py"])):
        plan = plan_shards(nodeids, {}, 3, by=by)
        for group in groups:
            owners = {s.index for s in plan.shards for n in s.nodeids if group_key(n, by) == group}
            assert len(owners) == 1, (by, group, owners)


def test_bad_arguments() -> None:
    with raises_code(ErrorCode.METRICS_INVALID_SHARD):
        plan_shards(["t::a"], {}, 0)
    with pytest.raises(ValueError, match="by must be"):
        plan_shards(["t::a"], {}, 1, by="package")


def test_to_dict() -> None:
    data = plan_shards(["t::a", "t::b"], {"t::a": 1.0}, 2).to_dict()
    assert data["count"] == 2 and len(data["shards"]) == 2 and data["fingerprint"]
    assert sum(s["tests"] for s in data["shards"]) == 2


def test_planning_ignores_shards_of_the_same_round(tmp_path: Path) -> None:
    def run(shard: str | None, commit: str | None, seconds: float) -> None:
        history.record(
            RunRecord(started_at=1.0, finished_at=2.0, shard=shard, git_commit=commit),
            [ResultRecord(nodeid="t::a", outcome="passed", call=seconds)],
        )

    with History(tmp_path / "h.sqlite") as history:
        run(None, "c1", 1.0)
        run("1/3", "c0", 2.0)  # an earlier round on other code: used
        run("1/3", "c1", 50.0)  # this round: ignored
        run("2/2", "c1", 3.0)  # another K: used
        assert planning_durations(history, count=3, git_commit="c1") == {"t::a": 2.0}
        assert planning_durations(history, count=3, git_commit="c1", window=1) == {"t::a": 3.0}
        assert planning_durations(history, count=2, git_commit="c1") == {"t::a": 2.0}
        # without git, every run sharded in K counts as this round
        assert planning_durations(history, count=3) == {"t::a": 2.0}
        assert planning_durations(history, count=3, window=2)["t::a"] == 2.0
