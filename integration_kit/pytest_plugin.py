"""The pytest plugin (entry point ``pytest11``): markers, options, fixtures, ServiceTestCase.

Kept light: nothing heavy is imported until a hook or fixture needs it.

- ``ik_session``: the run's :class:`~integration_kit.services.session.ServiceSession`,
  created when a test first needs a service, stopped at the end of the run.
- ``ik_postgres``, ``ik_redis``, ``ik_kafka``: the :class:`Endpoint` of each service,
  started only when some test requests it.
- Classes subclassing :class:`~integration_kit.testcase.ServiceTestCase` are collected
  as plain pytest classes, marked ``integration``; their async tests run in the session
  event loop; the plugin starts their ``services``, calls ``ik_setup_class`` once per
  class and ``ik_setup``/``ik_teardown`` around each test, and sets each service's
  handle as an attribute (``self.postgres``, ``self.app``...).
- A failing test's report shows what the session's processes (``ProcessService``)
  printed while it ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
from collections.abc import AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from integration_kit.options import cli_settings

# Plugins of the layers that bring their own options and fixtures.
pytest_plugins = [
    "integration_kit.contracts.plugin",
    "integration_kit.metrics.plugin",
    "integration_kit.seeding.plugin",
    "integration_kit.suite.plugin",
]

if TYPE_CHECKING:
    from integration_kit.run_summary import RunSummary, Startup
    from integration_kit.services.base import Endpoint, ServiceSpec
    from integration_kit.services.coordination import SharedServices
    from integration_kit.services.session import ServiceSession
    from integration_kit.testcase import ClassContext

_SESSION = pytest.StashKey["ServiceSession | None"]()
_SHARED: pytest.StashKey[SharedServices | None] = pytest.StashKey()
_LOG_OFFSETS = pytest.StashKey["dict[str, int]"]()
_STARTUPS: pytest.StashKey[list[Startup]] = pytest.StashKey()
_SUMMARY: pytest.StashKey[RunSummary] = pytest.StashKey()
_FAILED: pytest.StashKey[bool] = pytest.StashKey()
_KEPT: pytest.StashKey[list[str]] = pytest.StashKey()
REPORT_LINES = 200
#: How long the xdist controller waits at the end for its workers to exit.
WORKER_EXIT_S = 15.0

MARKERS = {
    "unit": "fast tests with no real services",
    "integration": "tests against real PostgreSQL, Redis or Kafka",
    "e2e": "end-to-end tests of a service under test with its real dependencies",
    "contract": "contract tests between services",
    "slow": "tests that take seconds; deselect with -m 'not slow'",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("integration_kit", "integration-kit")
    group.addoption(
        "--ik-backend",
        dest="ik_backend",
        default=None,
        choices=("auto", "docker", "local", "external"),
        help="how services are run (default: auto, or INTEGRATION_KIT_BACKEND)",
    )
    group.addoption(
        "--ik-reuse",
        dest="ik_reuse",
        action="store_const",
        const=True,
        default=None,
        help="keep services warm across runs and reuse them (never in CI; see docs/reuse.md)",
    )
    group.addoption(
        "--ik-keep-failed",
        dest="ik_keep_failed",
        action="store_const",
        const=True,
        default=None,
        help="keep a failing test's database, topics and Redis keys, and print how to inspect them",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    config.stash[_SESSION] = None
    _keep_classes_on_one_worker(config)
    if getattr(config, "workerinput", None) is not None:
        from integration_kit.services.interrupts import sigterm_as_interrupt

        sigterm_as_interrupt()  # the controller passes a SIGTERM on: tear down as on Ctrl-C
    from integration_kit.run_summary import RunSummary

    summary = config.stash[_SUMMARY] = RunSummary(configured_backend=_configured_backend(config))
    config.pluginmanager.register(_SummaryRecorder(summary), "integration_kit.run_summary")
    from integration_kit.services.warm import plugin as warm_plugin

    config.pluginmanager.register(warm_plugin.ReusePlugin(config), "integration_kit.reuse")


def _configured_backend(config: pytest.Config) -> str:
    """The configured backend; bad settings (an unknown ``INTEGRATION_KIT_*`` variable, a nan
    timeout...) stop the run here, before any test, as a usage error with their code."""
    from integration_kit.config import load_settings
    from integration_kit.errors import ConfigError

    try:
        settings = load_settings(cli=cli_settings(config), rootdir=config.rootpath)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc
    return str(settings.backend)


def pytest_report_header(config: pytest.Config) -> str:
    backend = config.stash[_SUMMARY].configured_backend
    how = " (external where a URL is set, else docker, else local)" if backend == "auto" else ""
    return f"integration-kit: backend {backend}{how}"


class _SummaryRecorder:
    """Collects outcomes by category and the start-ups (in the xdist controller too)."""

    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary
        #: ``--ik-keep-failed``: what was kept, with the commands to inspect it.
        self.kept: list[str] = []

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.kept:
            terminalreporter.section("integration-kit: kept for inspection")
            for line in self.kept:
                terminalreporter.write_line(line)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from integration_kit.run_summary import Startup

        rows = getattr(report, "ik_startup", None)
        if rows:
            self.summary.add_startups(Startup.from_json(row) for row in rows)
        self.kept.extend(getattr(report, "ik_kept", None) or [])
        if report.when == "call" or report.outcome != "passed":
            outcome = report.outcome if report.when == "call" else ("skipped" if report.skipped else "error")
            self.summary.add_outcome(report.nodeid, report.keywords, outcome)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    summary = config.stash.get(_SUMMARY, None)
    if summary is None or not summary.startups:
        return  # no service was started: the kit had nothing to report
    for line in summary.lines():
        terminalreporter.write_line(line)


def _dist_chosen(config: pytest.Config) -> bool:
    """Whether ``--dist`` (or ``-d``/``--dist=...``) was given on the command line or in addopts."""
    args = [*config.invocation_params.args, *config.getini("addopts")]
    return any(str(arg) == "--dist" or str(arg).startswith("--dist=") or str(arg) == "-d" for arg in args)


def _keep_classes_on_one_worker(config: pytest.Config) -> None:
    """pytest-xdist's default ``load`` distribution may split a class across workers,
    setting its class-scoped state (services' processes, topics, the snapshot) up twice
    and testing "the next test starts from the snapshot" less than the class intends.
    Without an explicit ``--dist``, use ``loadscope``: the tests of a class stay on one
    worker (and the test functions of a module)."""
    if getattr(config, "workerinput", None) is not None:
        return
    if getattr(config.option, "dist", "no") == "load" and not _dist_chosen(config):
        config.option.dist = "loadscope"


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None:  # normally stopped by the fixture already; stop() is idempotent
        session.stop()
    shared = config.stash.get(_SHARED, None)
    if shared is not None:  # the xdist controller, last one out: stops the run's services
        from integration_kit.services import coordination
        from integration_kit.services.interrupts import keep_stopping, wait_for_children

        try:
            with keep_stopping():  # an interrupt here must not leave the run's servers running
                # Interrupted, workers may still be tearing down: let them leave the run
                # first, so that this process is the last one out and stops the services.
                wait_for_children(timeout=WORKER_EXIT_S)
                coordination.controller_finish(shared)
        except KeyboardInterrupt as exc:
            # After the stop (or a second interrupt abandoning it): pytest has set its exit
            # status already; end as an interrupted run does, without a traceback.
            print(f"integration-kit: interrupted while stopping the run's services ({exc})", file=sys.stderr)
            raise SystemExit(pytest.ExitCode.INTERRUPTED) from None


# --- ServiceTestCase collection ----------------------------------------------------------


def _is_service_case(obj: object) -> bool:
    if not inspect.isclass(obj):
        return False
    from integration_kit.testcase import ServiceTestCase

    return issubclass(obj, ServiceTestCase) and obj is not ServiceTestCase


#: Markers naming a test category: each test belongs to one.
CATEGORIES = ("unit", "integration", "e2e", "contract")


def _category(node: pytest.Class) -> str | None:
    """The category a ServiceTestCase class gets: none when it (or its module) names one;
    ``e2e`` when it runs processes of its own (``ProcessService``), else ``integration``."""
    own = getattr(node.obj, "pytestmark", [])
    names = {mark.name for mark in (own if isinstance(own, list) else [own])}
    names.update(mark.name for mark in node.iter_markers())  # module, package and own
    if names & set(CATEGORIES):
        return None
    from integration_kit.testcase import service_specs

    return "e2e" if any(spec.kind == "process" for spec in service_specs(node.obj)) else "integration"


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    # trylast: the innermost wrapper, so pytest-asyncio's wrapper (outside) sees our marks.
    result = yield
    if result is None:
        return result
    nodes = result if isinstance(result, list) else [result]
    if _is_service_case(obj):
        for node in nodes:
            if isinstance(node, pytest.Class):
                # On the class node, so every test collected from it inherits them.
                category = _category(node)
                if category is not None:
                    node.add_marker(getattr(pytest.mark, category))
                node.add_marker(pytest.mark.usefixtures("_ik_case"))
    elif (
        isinstance(collector, pytest.Class)
        and inspect.iscoroutinefunction(obj)
        and _is_service_case(collector.obj)
    ):
        for node in nodes:
            if not isinstance(node, pytest.Function):
                continue
            marker = node.get_closest_marker("asyncio")
            if marker is None or not ({"loop_scope", "scope"} & set(marker.kwargs)):
                # The test shares the session loop with the kit's session-scoped async
                # fixtures and clients (in asyncio strict mode as well as auto); an
                # explicit loop_scope on the test wins.
                node.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)
    return result


# --- the session and endpoint fixtures ---------------------------------------------------


def make_session(config: pytest.Config) -> ServiceSession:
    """The run's session; in a pytest-xdist worker, one whose services the run shares."""
    from integration_kit.config import load_settings
    from integration_kit.services.session import ServiceSession

    settings = load_settings(cli=cli_settings(config), rootdir=config.rootpath)
    from integration_kit.services import coordination
    from integration_kit.services.warm import plugin as warm_plugin

    warm = warm_plugin.warm_backend(config, settings)
    if warm is not None:  # reuse on: every process (xdist worker) uses the warm set directly
        return ServiceSession(settings, backend=warm)
    run_id = coordination.current_run_id()
    if run_id is None:
        return ServiceSession(settings)
    shared = coordination.SharedServices(run_id, settings=settings)
    return ServiceSession(settings, backend=coordination.SharedBackend.for_run(settings, shared))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """In the xdist controller: fix the run id and hold the run's services until the end."""
    config = session.config
    if hasattr(config, "workerinput") or not config.pluginmanager.has_plugin("dsession"):
        return
    from integration_kit.config import load_settings
    from integration_kit.services import coordination
    from integration_kit.services.interrupts import sigterm_as_interrupt

    settings = load_settings(cli=cli_settings(config), rootdir=config.rootpath)
    config.stash[_SHARED] = coordination.controller_start(config, settings=settings)
    # SIGTERM (kill, a CI timeout) ends the run as Ctrl-C does: xdist shuts its workers
    # down, and the last one out (this process) stops the run's services.
    sigterm_as_interrupt(children=True)


#: The plugin's fixtures for the run's services, and the kind each one starts.
SERVICE_FIXTURES = {"ik_postgres": "postgres", "ik_redis": "redis", "ik_kafka": "kafka"}
_NEEDED: pytest.StashKey[list[ServiceSpec]] = pytest.StashKey()


def needed_services(items: list[pytest.Item]) -> list[ServiceSpec]:
    """The backend services the selected tests need: the service fixtures they request and
    the specs of their ServiceTestCase classes (processes' dependencies, not processes)."""
    from integration_kit.services.base import KafkaService, PostgresService, RedisService
    from integration_kit.services.process import ProcessService
    from integration_kit.services.session import identity
    from integration_kit.testcase import service_specs

    defaults = {"postgres": PostgresService, "redis": RedisService, "kafka": KafkaService}
    specs: dict[str, ServiceSpec] = {}
    for item in items:
        for name in getattr(item, "fixturenames", ()):
            if name in SERVICE_FIXTURES:
                spec = defaults[SERVICE_FIXTURES[name]]()
                specs.setdefault(identity(spec), spec)
        cls = getattr(item, "cls", None)
        if cls is not None and _is_service_case(cls):
            for spec in service_specs(cls):
                for dep in spec.dependencies() if isinstance(spec, ProcessService) else [spec]:
                    specs.setdefault(identity(dep), dep)
    return list(specs.values())


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_NEEDED] = needed_services(session.items)


@pytest.fixture(scope="session")
def ik_session(pytestconfig: pytest.Config) -> Iterator[ServiceSession]:
    """The run's ServiceSession: stops every service at the end.

    Created before the first test that needs a service; it then starts every service
    the selected tests need, in parallel (a service that cannot start is left to the
    tests that need it, which skip or fail with its error).
    """
    from integration_kit.errors import IntegrationKitError

    session = make_session(pytestconfig)
    pytestconfig.stash[_SESSION] = session
    with session:
        with contextlib.suppress(IntegrationKitError):
            needed: list[ServiceSpec] = pytestconfig.stash.get(_NEEDED, [])
            session.ensure(needed)
        yield session


def _endpoint(session: ServiceSession, kind: str) -> Endpoint:
    from integration_kit.errors import ErrorCode, ServiceError, has_code
    from integration_kit.services.base import KafkaService, PostgresService, RedisService

    spec = {"postgres": PostgresService, "redis": RedisService, "kafka": KafkaService}[kind]()
    try:
        return session.endpoint(spec)
    except ServiceError as exc:
        if has_code(exc, ErrorCode.SVC_NO_BACKEND):
            pytest.skip(f"no {kind} service: {exc.message}")
        raise


@pytest.fixture(scope="session")
def ik_postgres(ik_session: ServiceSession) -> Endpoint:
    """Endpoint of the run's PostgreSQL (started on first request)."""
    return _endpoint(ik_session, "postgres")


@pytest.fixture(scope="session")
def ik_redis(ik_session: ServiceSession) -> Endpoint:
    """Endpoint of the run's Redis (started on first request)."""
    return _endpoint(ik_session, "redis")


@pytest.fixture(scope="session")
def ik_kafka(ik_session: ServiceSession) -> Endpoint:
    """Endpoint of the run's Kafka (started on first request)."""
    return _endpoint(ik_session, "kafka")


# --- ServiceTestCase fixtures ------------------------------------------------------------


@pytest_asyncio.fixture(scope="class", loop_scope="session")
async def _ik_class(
    request: pytest.FixtureRequest, ik_session: ServiceSession
) -> AsyncIterator[ClassContext]:
    """Per class: start its services, then ``ik_setup_class`` once; cleanups at the end.

    The class's own processes (``ProcessService``) start last, after ``ik_setup_class``,
    so the app under test finds its topics created and its database migrated, as it
    would in production.
    """
    from integration_kit.errors import ErrorCode, ServiceError, has_code
    from integration_kit.services.interrupts import keep_stopping
    from integration_kit.services.namespace import Namespace
    from integration_kit.testcase import ClassContext, service_specs

    cls = request.cls
    assert cls is not None
    specs = service_specs(cls)
    processes = [spec for spec in specs if spec.kind == "process"]
    try:
        ik_session.ensure([spec for spec in specs if spec.kind != "process"])
    except ServiceError as exc:
        if has_code(exc, ErrorCode.SVC_NO_BACKEND):
            pytest.skip(f"{cls.__name__}: {exc.message}")
        raise
    kafka = next((spec for spec in specs if spec.kind == "kafka"), None)
    kafka_backend = getattr(ik_session.get(kafka), "backend_name", None) if kafka is not None else None
    namespace = Namespace.for_settings(ik_session.settings, kafka_backend=kafka_backend)
    ctx = ClassContext(services=ik_session, namespace=namespace, owner=cls, settings=ik_session.settings)
    async with ctx.exit_stack:
        await cls().ik_setup_class(ctx)
        # Pushed last, so run first at teardown: the class's own processes stop before its
        # topics are deleted and its database dropped (a consumer still running would
        # otherwise see its topics vanish, or re-create them).
        own = [spec for spec in processes if getattr(spec, "scope", "class") == "class"]
        if own:
            ctx.exit_stack.push_async_callback(asyncio.to_thread, ik_session.release, own)
        ik_session.ensure(processes, overrides=ctx.process_endpoints, topics=ctx.process_topics)
        yield ctx
        # The class's cleanups (its database, topics, Redis keys; on a shared server too)
        # finish even if Ctrl-C or SIGTERM comes meanwhile; a second signal abandons them.
        with keep_stopping():
            await ctx.exit_stack.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def _ik_case(
    request: pytest.FixtureRequest, _ik_class: ClassContext, ik_session: ServiceSession
) -> AsyncIterator[None]:
    """Per test: service handles as attributes, then ``ik_setup`` ... ``ik_teardown``."""
    instance = request.instance
    assert instance is not None
    for spec in getattr(type(instance), "services", ()):
        setattr(instance, spec.key, _handle(ik_session.get(spec)))
    await instance.ik_setup(_ik_class)
    try:
        yield
    finally:
        if request.node.stash.get(_FAILED, False) and ik_session.settings.keep_failed:
            from integration_kit.keep_failed import keep_test

            request.node.stash[_KEPT] = await keep_test(
                _ik_class, nodeid=request.node.nodeid, settings=ik_session.settings
            )
        await instance.ik_teardown(_ik_class)


def _handle(running: Any) -> Any:
    """What a test sees: a process's RunningProcess (url, logs...), else the Endpoint."""
    from integration_kit.services.process import RunningProcess

    return running if isinstance(running, RunningProcess) else running.endpoint


# --- process output in failing tests' reports --------------------------------------------


def _processes(item: pytest.Item) -> list[Any]:
    """The session's running processes this test may involve: its class's own, if it is a
    ServiceTestCase; else all of them (fixture users start them through ``ik_session``)."""
    session = item.config.stash.get(_SESSION, None)
    if session is None:
        return []
    from integration_kit.services.process import RunningProcess

    processes = [running for running in session.running() if isinstance(running, RunningProcess)]
    cls = getattr(item, "cls", None)
    if cls is not None and _is_service_case(cls):
        from integration_kit.services.identity import identity
        from integration_kit.testcase import service_specs

        own = {identity(spec) for spec in service_specs(cls)}
        processes = [proc for proc in processes if identity(proc.spec) in own]
    return processes


def _records(config: pytest.Config) -> dict[str, Any]:
    session = config.stash.get(_SESSION, None)
    return dict(session.records) if session is not None else {}


def _check_services(item: pytest.Item, failure: Exception | None = None) -> None:
    """Raise ``IK-SVC-DIED`` (from ``failure``, if the test failed) when a service the test
    needs has died: before its setup, and when it fails (its own connection was refused)."""
    __tracebackhide__ = True
    session = item.config.stash.get(_SESSION, None)
    if session is None:
        return
    from integration_kit.errors import ErrorCode, ServiceError, has_code

    if failure is not None and has_code(failure, ErrorCode.SVC_DIED):
        return
    from integration_kit.services.watch import CONNECTION_GRACE_S, connection_failure

    lost = failure is not None and connection_failure(failure)
    try:
        session.check_alive(needed_services([item]), grace=CONNECTION_GRACE_S if lost else 0.0)
    except ServiceError as died:
        if failure is None:
            raise
        raise died from failure


def _naming_deaths(item: pytest.Item) -> Generator[None, None, None]:
    """Around a test phase: a failure while a needed service is dead becomes IK-SVC-DIED."""
    __tracebackhide__ = True
    try:
        return (yield)
    except Exception as exc:
        _check_services(item, exc)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    __tracebackhide__ = True
    return (yield from _naming_deaths(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    __tracebackhide__ = True
    return (yield from _naming_deaths(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    item.stash[_LOG_OFFSETS] = {proc.spec.key: proc.log_size() for proc in _processes(item)}
    before = {key: id(record) for key, record in _records(item.config).items()}
    __tracebackhide__ = True
    try:
        _check_services(item)
        try:
            return (yield)
        except Exception as exc:
            _check_services(item, exc)
            raise
    finally:
        # Services and processes started during this setup: their own rows, not this test's.
        from integration_kit.run_summary import startups

        cls = getattr(item, "cls", None)
        scope = item.parent.nodeid if cls is not None and item.parent is not None else ""
        item.stash[_STARTUPS] = startups(_records(item.config), before, scope=scope)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "setup":
        report.ik_startup = [row.to_json() for row in item.stash.get(_STARTUPS, [])]
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    if report.when == "teardown" and item.stash.get(_KEPT, None):
        report.ik_kept = item.stash[_KEPT]  # a plain attribute: travels from xdist workers
    if report.failed:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for proc in _processes(item):
            text = proc.log_text(since=offsets.get(proc.spec.key, 0)).rstrip()
            lines = text.splitlines()[-REPORT_LINES:]
            report.sections.append(
                (
                    f"integration-kit: output of {proc.spec.key} ({report.when})",
                    "\n".join(lines) or "(no output)",
                )
            )
    return report
