"""The same test gets byte-identical data alone, in reversed order and under ``-n 2``."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

MODULE = """
import json, os, random
from pathlib import Path

import factory
from faker import Faker
from integration_kit.seeding import SeedFactory

class CustomerFactory(SeedFactory):
    id = factory.Sequence(lambda n: n + 1)
    name = factory.Faker("name")
    email = factory.LazyAttribute(lambda o: f"{o.name.split()[0].lower()}{o.id}@example.test")
    score = factory.fuzzy.FuzzyInteger(0, 10**9)

class VipFactory(CustomerFactory):
    tier = factory.Iterator(["gold", "silver"])

def dump(request, data):
    out = Path(os.environ["DUMP_DIR"]) / (request.node.nodeid.replace("/", "_").replace(":", "_") + ".json")
    out.write_text(json.dumps(data, sort_keys=True))

@factory.Faker.override_default_locale("en_US")
def build(request, n):
    return {"customers": CustomerFactory.build_batch(n), "vips": VipFactory.build_batch(2)}
"""

TESTS = "".join(
    f"""
def test_{i}(request):
    dump(request, build(request, {i % 3 + 1}))
"""
    for i in range(8)
)

REVERSE = """
def pytest_collection_modifyitems(items):
    items.reverse()
"""


def _run(pytester: pytest.Pytester, out: Path, *args: str) -> dict[str, str]:
    out.mkdir()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--no-ik-metrics", *args)
    assert result.ret == 0, result.stdout.str()
    return {path.name: path.read_text() for path in sorted(out.iterdir())}


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(
        test_data=MODULE.replace("import factory\n", "import factory\nimport factory.fuzzy\n") + TESTS
    )
    return pytester


@pytest.mark.slow  # four whole pytest runs, one under -n 2
def test_same_data_alone_reversed_and_under_xdist(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = project.path
    runs: dict[str, dict[str, str]] = {}
    for name, args in {
        "in order": (),
        "-n 2": ("-n", "2"),
        "seed 2": (),
    }.items():
        out = base / f"dump-{name.replace(' ', '_')}"
        monkeypatch.setenv("DUMP_DIR", str(out))
        seed = "2" if name == "seed 2" else "1234"
        runs[name] = _run(project, out, f"--ik-seed={seed}", *args)
    # reversed: a conftest plugin reverses the collected order
    project.makeconftest(REVERSE)
    out = base / "dump-reversed"
    monkeypatch.setenv("DUMP_DIR", str(out))
    runs["reversed"] = _run(project, out, "--ik-seed=1234")
    # alone: each test in a run of its own
    alone: dict[str, str] = {}
    for i in (0, 5, 7):
        out = base / f"dump-alone-{i}"
        monkeypatch.setenv("DUMP_DIR", str(out))
        alone.update(_run(project, out, "--ik-seed=1234", f"test_data.py::test_{i}"))
    reference = runs["in order"]
    assert len(reference) == 8
    assert runs["-n 2"] == reference
    assert runs["reversed"] == reference
    assert all(alone[name] == reference[name] for name in alone) and len(alone) == 3
    # the data depends on the seed and on the test, so equality above means something
    assert all(runs["seed 2"][name] != reference[name] for name in reference)
    assert len(set(reference.values())) == 8


def test_the_seed_is_in_the_header_and_in_a_failing_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fail="def test_fails():\n    assert False\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--no-ik-metrics", "--ik-seed=99")
    result.stdout.fnmatch_lines(
        [
            "*integration-kit: test data seed 99 (reproduce with --ik-seed=99)*",
            "*integration-kit seed*",
            "*reproduce: pytest --ik-seed=99 test_fail.py::test_fails*",
        ]
    )


def test_a_bad_seed_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    detached = pytester.runpytest("-p", "no:cacheprovider", "--no-ik-metrics", "--ik-seed", "3")
    assert detached.ret == pytest.ExitCode.USAGE_ERROR
    detached.stderr.fnmatch_lines(["*IK-METRICS-DETACHED-VALUE*--ik-seed*"])
    result = pytester.runpytest("-p", "no:cacheprovider", "--no-ik-metrics", "--ik-seed=-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*IK-SEED-INVALID-SEED*"])


def test_the_run_seed_is_recorded_in_the_run_history(pytester: pytest.Pytester) -> None:
    from integration_kit.metrics.history import History

    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    db = pytester.path / "history.sqlite"
    result = pytester.runpytest("-p", "no:cacheprovider", f"--ik-metrics-db={db}", "--ik-seed=77")
    assert result.ret == 0
    with History(db) as history:
        assert [run.data_seed for run in history.runs()] == [77]
