"""Base classes: ``ServiceTestCase`` and the per-service mixins.

A test class declares what it needs; the plugin (``pytest_plugin.py``) starts the
services once per run and calls the hooks below. The base classes hold no logic
of their own: each mixin's hooks call into its layer (``integration_kit.kafka``,
``.postgres``, ``.redis``).

Hook protocol (cooperative: every override calls ``super()``):

- ``ik_requires``: class attribute, the service specs a mixin needs.
- ``ik_options``: class attribute, the mixin's class options as a table of
  :class:`~integration_kit.declarations.Option` (name, default, check); all of them are
  checked in one place when a test class is defined (``IK-USAGE-INVALID-DECLARATION``)
  and the hooks read the checked values with ``declared(type(self), name)``.
- ``await self.ik_setup_class(ctx)``: once per test class, before its first test.
  ``ctx`` is a :class:`ClassContext` kept by the plugin for the class; put class-wide
  state in ``ctx.state`` and cleanups in ``ctx.exit_stack`` (never on the class).
- ``await self.ik_setup(ctx)`` / ``await self.ik_teardown(ctx)``: around each test;
  set handles on ``self`` (``self.kafka``...).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from integration_kit._lazy import lazy_exports
from integration_kit.declarations import Option, declare
from integration_kit.services.base import Endpoint, ServiceSpec
from integration_kit.services.namespace import Namespace


class EndpointSource(Protocol):
    """What the hooks need from the session: the endpoint of a required service."""

    def endpoint(self, spec: ServiceSpec) -> Endpoint: ...


@dataclass
class ClassContext:
    """Per-class state handed to the hooks; lives as long as the class's tests."""

    services: EndpointSource
    namespace: Namespace
    owner: type
    state: dict[str, Any] = field(default_factory=dict)
    exit_stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    #: Endpoints the class's processes (``ProcessService``) see in place of the session's,
    #: by service key: ``PostgresTestCase`` puts its working database here, so the app
    #: under test connects to the database the tests restore.
    process_endpoints: dict[str, Endpoint] = field(default_factory=dict)
    #: Real topic names behind the processes' ``{kafka.topic:<name>}`` placeholders, by
    #: declared name: ``KafkaTestCase`` puts its class-scoped topics here.
    process_topics: dict[str, str] = field(default_factory=dict)
    #: The run's settings (None: :func:`~integration_kit.config.load_settings` when needed).
    settings: Settings | None = None

    def resolved_settings(self) -> Settings:
        """:attr:`settings`, loaded from the environment and pyproject once if not given."""
        if self.settings is None:
            from integration_kit.config import load_settings

            self.settings = load_settings()
        return self.settings

    def endpoint(self, kind: str) -> Endpoint:
        """Endpoint of the first required service of ``kind``."""
        for spec in service_specs(self.owner):
            if spec.kind == kind:
                return self.services.endpoint(spec)
        raise LookupError(f"{self.owner.__name__} does not require a {kind} service")


def service_specs(cls: type) -> list[ServiceSpec]:
    """All specs a class needs: ``services`` plus every mixin's ``ik_requires``, deduplicated."""
    specs: dict[str, ServiceSpec] = {}
    for klass in reversed(cls.__mro__):
        for spec in klass.__dict__.get("ik_requires", ()):
            specs.setdefault(spec.key, spec)
    for spec in getattr(cls, "services", ()):
        specs[spec.key] = spec
    return list(specs.values())


class ServiceTestCase:
    """Base of test classes that need real services.

    ``services = [PostgresService(), ProcessService(...)]`` declares them; the handles
    are reachable as attributes during each test. Tests are marked ``integration``.
    """

    services: ClassVar[Sequence[ServiceSpec]] = ()
    ik_requires: ClassVar[Sequence[ServiceSpec]] = ()
    ik_options: ClassVar[Sequence[Option]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declare(cls)  # every mixin's options, checked once, when the class is defined

    async def ik_setup_class(self, ctx: ClassContext) -> None:
        """Once per class, before its first test."""

    async def ik_setup(self, ctx: ClassContext) -> None:
        """Before each test."""

    async def ik_teardown(self, ctx: ClassContext) -> None:
        """After each test (also when it failed)."""


# The per-service mixins live in their layers, which import this module; re-export them
# lazily (PEP 562) so that importing a layer first does not create an import cycle.
_MIXINS = {
    "KafkaTestCase": "integration_kit.kafka.testcase",
    "PostgresTestCase": "integration_kit.postgres.testcase",
    "RedisTestCase": "integration_kit.redis.testcase",
}

if TYPE_CHECKING:
    from integration_kit.config import Settings
    from integration_kit.kafka.testcase import KafkaTestCase
    from integration_kit.postgres.testcase import PostgresTestCase
    from integration_kit.redis.testcase import RedisTestCase


__getattr__ = lazy_exports(__name__, _MIXINS)


__all__ = [
    "ClassContext",
    "EndpointSource",
    "KafkaTestCase",
    "PostgresTestCase",
    "RedisTestCase",
    "ServiceTestCase",
    "service_specs",
]
