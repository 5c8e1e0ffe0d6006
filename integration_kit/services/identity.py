"""One spec identity: how a session tells specs apart, and which it starts for a request."""

from __future__ import annotations

from collections.abc import Sequence

from integration_kit.services.base import ServiceSpec
from integration_kit.services.process import ProcessService


def identity(spec: ServiceSpec) -> str:
    """A spec's identity in a session: its :attr:`~ServiceSpec.key` (one service per name;
    a different spec under a taken name is ``IK-USAGE-SPEC-CONFLICT``). Processes are
    told apart by their whole declaration (test classes may each start their own)."""
    return repr(spec) if isinstance(spec, ProcessService) else spec.key


def expand(specs: Sequence[ServiceSpec]) -> tuple[list[ServiceSpec], list[ProcessService]]:
    """Backend specs (dependencies of processes included) and process specs, deduplicated."""
    backend_specs: dict[str, ServiceSpec] = {}
    processes: dict[str, ProcessService] = {}

    def visit(spec: ServiceSpec) -> None:
        if isinstance(spec, ProcessService):
            for dep in spec.dependencies():
                visit(dep)
            processes.setdefault(identity(spec), spec)
        else:
            backend_specs.setdefault(identity(spec), spec)

    for spec in specs:
        visit(spec)
    return list(backend_specs.values()), list(processes.values())
