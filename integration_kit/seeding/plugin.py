"""pytest plugin of the seeding layer: ``--ik-seed`` and one seed context per test.

- The run seed is ``--ik-seed=N``, else the ``seed`` setting (``INTEGRATION_KIT_SEED``,
  ``[tool.integration_kit] seed``), else a new random one; under pytest-xdist the
  controller hands its seed to every worker. The header shows it.
- Every test runs in a :class:`~integration_kit.seeding.context.SeedContext` named by its
  node id: factory_boy's and Faker's random state and the kit factories' sequences
  depend only on (run seed, node id), not on the order, the worker or what ran before.
- A failing test's report says the seed and how to reproduce the run.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import pytest

_RUN_SEED = pytest.StashKey[int]()
_EXIT = pytest.StashKey[contextlib.ExitStack]()
SEED_SECTION = "integration-kit seed"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("integration_kit", "integration-kit")
    group.addoption(
        "--ik-seed",
        dest="ik_seed",
        default=None,
        metavar="N",
        help="--ik-seed=N: run seed of test data (default: the seed setting, else random; in the header)",
    )


def _resolve_seed(config: pytest.Config) -> int:
    from integration_kit.errors import ConfigError, IntegrationKitError
    from integration_kit.seeding.context import check_seed

    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "ik_seed" in workerinput:
        return int(workerinput["ik_seed"])
    option = config.getoption("ik_seed")
    try:
        if option is not None:
            return check_seed(option, "--ik-seed")
        from integration_kit.config import load_settings

        try:
            setting = load_settings(rootdir=config.rootpath).seed
        except ConfigError as exc:
            if exc.context.get("key") == "seed":
                raise
            setting = None  # another layer's setting is bad; that layer reports it
    except IntegrationKitError as exc:
        raise pytest.UsageError(str(exc)) from exc
    if setting is None:
        from integration_kit.services.warm.plugin import reuse_seed

        setting = reuse_seed(config)  # reuse on: the project's fixed seed, so seeded snapshots stay valid
    return setting if setting is not None else secrets.randbelow(2**32)


class _XdistSeed:
    """In the xdist controller: give every worker the run seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["ik_seed"] = self.seed


def pytest_configure(config: pytest.Config) -> None:
    from integration_kit.metrics.plugin import reject_detached_values

    reject_detached_values(config, ("--ik-seed",))  # like every value option of the kit
    seed = _resolve_seed(config)
    config.stash[_RUN_SEED] = seed
    if config.pluginmanager.has_plugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_XdistSeed(seed), "integration_kit.seeding.xdist")


def run_seed(config: pytest.Config) -> int:
    """The run seed of this pytest run."""
    return config.stash[_RUN_SEED]


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.stash[_RUN_SEED]
    return f"integration-kit: test data seed {seed} (reproduce with --ik-seed={seed})"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    from integration_kit.seeding.context import SeedContext, activate

    stack = contextlib.ExitStack()
    stack.enter_context(activate(SeedContext(run_seed=item.config.stash[_RUN_SEED], name=item.nodeid)))
    item.stash[_EXIT] = stack
    return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    try:
        return (yield)
    finally:
        stack = item.stash.get(_EXIT, None)
        if stack is not None:
            del item.stash[_EXIT]
            stack.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        from integration_kit.seeding.context import derive_seed

        seed = item.config.stash[_RUN_SEED]
        report.sections.append(
            (
                SEED_SECTION,
                f"run seed {seed}; this test's data seed {derive_seed(seed, item.nodeid)}\n"
                f"reproduce: pytest --ik-seed={seed} {item.nodeid}",
            )
        )
    return report
