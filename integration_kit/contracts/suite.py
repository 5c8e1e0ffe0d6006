"""Every check of a contracts registry at once (what ``integration-kit contracts verify`` runs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from integration_kit.contracts.compat import CompatibilityReport, check_versions
from integration_kit.contracts.consumers import ProviderReport, verify_provider
from integration_kit.contracts.http import HttpContract, HttpReport, verify_http
from integration_kit.contracts.message import MessageContract
from integration_kit.contracts.registry import ContractRegistry
from integration_kit.errors import ContractError, ErrorCode


@dataclass(frozen=True)
class Check:
    """One line of a :class:`RegistryReport`."""

    kind: str  # "versions", "consumers", "http", "orphan"
    subject: str
    ok: bool
    detail: str


@dataclass
class RegistryReport:
    """All checks of a registry; true when every one passed."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def render(self) -> str:
        lines = [f"{'ok  ' if c.ok else 'FAIL'} {c.kind:<9} {c.subject}: {c.detail}" for c in self.checks]
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        """Raise for the first kind of failure found, listing all failures of the registry."""
        failures = self.failures
        if not failures:
            return
        listed = "".join(f"\n    - [{c.kind}] {c.subject}: {c.detail}" for c in failures)
        first = failures[0].kind
        if first == "versions":
            raise ContractError(
                ErrorCode.CONTRACT_INCOMPATIBLE,
                subject="registry",
                mode="declared",
                problems=listed,
                details=failures,
            )
        if first == "http":
            raise ContractError(
                ErrorCode.CONTRACT_HTTP_MISMATCH,
                contract="registry",
                base_url="-",
                failures=listed,
                details=failures,
            )
        raise ContractError(
            ErrorCode.CONTRACT_PROVIDER_FAILED,
            provider="registry",
            count=len(failures),
            failures=listed,
            details=failures,
        )


def verify_registry(
    registry: ContractRegistry,
    *,
    mode: str | None = None,
    transitive: bool = False,
    base_url: str | None = None,
    timeout: float = 5.0,
) -> RegistryReport:
    """Check version compatibility (declared modes, or ``mode``), every consumer's
    expectations against the latest contract and its examples, expectations naming
    unknown contracts, and, with ``base_url``, every HTTP contract's latest version live."""
    report = RegistryReport()
    compat: list[CompatibilityReport] = check_versions(registry, mode=mode, transitive=transitive)
    for result in compat:
        detail = f"{result.mode} compatible" if result.compatible else result.render().split(": ", 1)[1]
        report.checks.append(Check("versions", f"{result.old} -> {result.new}", result.compatible, detail))
    names = set(registry.names())
    for expectation in registry.expectations:
        if expectation.contract not in names:
            report.checks.append(
                Check(
                    "orphan",
                    expectation.consumer,
                    False,
                    f"expects unknown contract {expectation.contract!r}",
                )
            )
    for contract in registry.latest():
        if isinstance(contract, MessageContract) and registry.expectations_for(contract.name):
            provider: ProviderReport = verify_provider(contract, registry.expectations_for(contract.name))
            detail = ", ".join(provider.consumers) if provider.ok else provider.render().split(": ", 1)[1]
            report.checks.append(Check("consumers", contract.ref, provider.ok, detail))
        if isinstance(contract, HttpContract) and base_url is not None:
            live: HttpReport = verify_http(contract, base_url, timeout=timeout)
            detail = f"{len(live.checked)} interaction(s)" if live.ok else live.render().split(": ", 1)[1]
            report.checks.append(Check("http", contract.ref, live.ok, detail))
    return report
