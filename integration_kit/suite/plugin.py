"""pytest plugin of the suite layer: shuffled and explicit test order, leak checks, lint.

Options (group ``integration_kit``)::

    --ik-shuffle[=SEED]      run modules, classes and tests in a seeded random order
                             (default: the ``shuffle`` setting, off); the seed is printed
                             and recorded in the run history
    --ik-run-order=FILE      run only the node ids listed in FILE, in that order (used by
                             ``integration-kit tests pollution``)
    --ik-find-polluter=NODEID   bisect to the test after which NODEID fails, then exit
    --ik-leaks / --no-ik-leaks  warn about state each test leaves behind (``leak_check``)
    --ik-gc-freeze / --no-ik-gc-freeze  freeze the heap after collection (``gc_freeze``, on)
    --ik-lint-tests          lint the test tree and list the findings in the summary

Nothing heavy is imported until a hook needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from integration_kit.suite.order import SEED

_BEFORE: pytest.StashKey[Any] = pytest.StashKey()
_LEAKS: pytest.StashKey[bool] = pytest.StashKey()
VALUE_OPTIONS = ("--ik-run-order", "--ik-find-polluter")
OPTIONAL_VALUE_OPTIONS = ("--ik-shuffle",)


def _seed_text(text: str) -> str:
    from integration_kit.metrics.settings import parse_shuffle

    try:
        value = parse_shuffle(text)
    except ValueError:
        raise pytest.UsageError(
            f"--ik-shuffle takes an integer seed >= 0 or 'random', got {text!r} "
            "(write --ik-shuffle=SEED; a test path right after --ik-shuffle is read as its value)"
        ) from None
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("integration_kit", "integration-kit")
    group.addoption(
        "--ik-shuffle",
        dest="ik_shuffle",
        nargs="?",
        const="random",
        default=None,
        metavar="SEED",
        help="run in a seeded random order: --ik-shuffle (new seed) or --ik-shuffle=SEED",
    )
    group.addoption(
        "--ik-run-order",
        dest="ik_run_order",
        default=None,
        metavar="FILE",
        help="run only the node ids in FILE (one a line), in that order: --ik-run-order=FILE",
    )
    group.addoption(
        "--ik-find-polluter",
        dest="ik_find_polluter",
        default=None,
        metavar="NODEID",
        help="bisect the tests that ran before NODEID in the run history to the one after which it "
        "fails, then exit: --ik-find-polluter=NODEID (like integration-kit tests pollution)",
    )
    group.addoption(
        "--ik-leaks",
        dest="ik_leaks",
        action="store_true",
        default=None,
        help="warn about threads, processes, sockets, env vars and files a test leaves behind",
    )
    group.addoption("--no-ik-leaks", dest="ik_leaks", action="store_false", help="no leak checks")
    group.addoption(
        "--ik-gc-freeze",
        dest="ik_gc_freeze",
        action="store_true",
        default=None,
        help="collect tests with automatic garbage collection paused, then freeze what is alive "
        "out of its reach (default: the gc_freeze setting, on)",
    )
    group.addoption(
        "--no-ik-gc-freeze", dest="ik_gc_freeze", action="store_false", help="leave the heap as it is"
    )
    group.addoption(
        "--ik-lint-tests",
        dest="ik_lint_tests",
        action="store_true",
        default=False,
        help="lint the test tree (integration-kit lint-tests) and list the findings in the summary",
    )


def pytest_configure(config: pytest.Config) -> None:
    from integration_kit.config import Settings, load_settings
    from integration_kit.errors import ConfigError
    from integration_kit.metrics.plugin import reject_detached_values
    from integration_kit.suite.order import new_seed

    reject_detached_values(config, VALUE_OPTIONS, OPTIONAL_VALUE_OPTIONS)
    option = config.option
    settings = Settings()
    try:
        settings = load_settings(rootdir=config.rootpath)
    except ConfigError as exc:
        if exc.context.get("key") in {"shuffle", "leak_check", "lint_folders", "gc_freeze"}:
            raise pytest.UsageError(str(exc)) from exc
    config.stash[_LEAKS] = settings.leak_check if option.ik_leaks is None else option.ik_leaks
    if settings.gc_freeze if option.ik_gc_freeze is None else option.ik_gc_freeze:
        from integration_kit.suite.heap import FrozenHeap

        config.pluginmanager.register(FrozenHeap(), "integration_kit.frozen_heap")
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # an xdist worker orders its collection like the controller
        seed = workerinput.get("ik_shuffle_seed")
        if seed is not None:
            config.stash[SEED] = seed
        return
    shuffle = settings.shuffle if option.ik_shuffle is None else _seed_text(option.ik_shuffle)
    if option.ik_run_order is not None and shuffle != "off":
        if option.ik_shuffle is not None:
            raise pytest.UsageError("--ik-run-order and --ik-shuffle cannot be combined")
        shuffle = "off"  # an explicit order wins over the shuffle setting
    if shuffle != "off":
        config.stash[SEED] = new_seed() if shuffle == "random" else shuffle


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: every worker shuffles with the controller's seed."""
    seed = node.config.stash.get(SEED, None)
    if seed is not None:
        node.workerinput["ik_shuffle_seed"] = seed


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """``--ik-find-polluter``: run the bisection instead of the tests, then exit."""
    config = session.config
    target = config.option.ik_find_polluter
    if target is None or hasattr(config, "workerinput"):
        return
    from integration_kit.errors import IntegrationKitError
    from integration_kit.metrics.history import History, resolve_db_path
    from integration_kit.suite.pollution import find_polluter, pytest_runner, recorded_predecessors

    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)

    from integration_kit.config import load_settings

    # the run history the metrics layer writes: --ik-metrics-db, else the metrics_db setting
    settings = load_settings(cli={"metrics_db": config.option.ik_metrics_db}, rootdir=config.rootpath)
    path = resolve_db_path(config.rootpath, settings.metrics_db)
    option = f"--ik-find-polluter={target}"
    extra = [
        a for a in map(str, config.invocation_params.args) if a != option and not a.startswith("--ik-shuffle")
    ]
    extra = [a for a in extra if "::" not in a and not (config.invocation_params.dir / a).exists()]
    try:
        with History(path, create=False) as history:
            run_id, before = recorded_predecessors(history, target)
        say(f"integration-kit: bisecting the {len(before)} test(s) that ran before {target} in run #{run_id}")
        runner = pytest_runner(
            config.rootpath,
            extra_args=extra,
            on_run=lambda n, order, outcome: say(
                f"  run {n}: {len(order) - 1} earlier test(s), then it: {outcome}"
            ),
        )
        result = find_polluter(target, before, runner)
    except IntegrationKitError as exc:
        pytest.exit(str(exc), returncode=1)
    pytest.exit(f"polluter of {target}: {result.polluter} ({result.runs} runs)", returncode=0)


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = config.stash.get(SEED, None)
    if seed is None:
        return None
    return f"integration-kit shuffle: seed {seed} (repeat this order with --ik-shuffle={seed})"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the selected tests: ``--ik-run-order`` or ``--ik-shuffle``."""
    order_file = config.option.ik_run_order
    if order_file is not None:
        from integration_kit.suite.order import apply_order, read_order

        path = Path(order_file)
        try:
            order = read_order(path if path.is_absolute() else config.invocation_params.dir / path)
        except OSError as exc:
            raise pytest.UsageError(f"--ik-run-order={order_file}: {exc}") from exc
        kept, deselected = apply_order(items, order)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        items[:] = kept
        return
    seed = config.stash.get(SEED, None)
    if seed is not None:
        from integration_kit.suite.order import shuffle_items

        items[:] = shuffle_items(items, seed)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    if item.config.stash.get(_LEAKS, False):
        from integration_kit.suite.leaks import StateSnapshot

        item.stash[_BEFORE] = StateSnapshot.take(item.config.rootpath)
    return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    result = yield
    before = item.stash.get(_BEFORE, None)
    if before is not None:
        from integration_kit.suite.leaks import LeakWarning, StateSnapshot, leaked_state

        del item.stash[_BEFORE]
        problems = leaked_state(before, StateSnapshot.take(item.config.rootpath))
        if problems:
            item.warn(LeakWarning(f"{item.nodeid} leaked state: " + "; ".join(problems)))
    return result


def _lint_roots(config: pytest.Config) -> list[Path]:
    roots = []
    for arg in config.args:
        path = Path(arg.split("::", 1)[0])
        path = path if path.is_absolute() else config.invocation_params.dir / path
        if path.is_dir():
            roots.append(path)
    if roots:
        return roots
    tests = config.rootpath / "tests"
    return [tests if tests.is_dir() else config.rootpath]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not config.option.ik_lint_tests:
        return
    from integration_kit.errors import IntegrationKitError
    from integration_kit.suite.lint import lint_tests

    findings = []
    try:
        for root in _lint_roots(config):
            findings.extend(lint_tests(root, project_root=config.rootpath))
    except IntegrationKitError as exc:
        terminalreporter.write_line(f"integration-kit lint-tests: {exc}", red=True)
        return
    terminalreporter.section("integration-kit lint-tests", sep="-", yellow=bool(findings), green=not findings)
    for finding in findings:
        terminalreporter.write_line(finding.text(config.rootpath))
    terminalreporter.write_line(f"{len(findings)} finding(s)" if findings else "no findings")
