"""The kit's optional dependencies, checked against the ranges integration-kit declares.

The ranges live in one place, ``pyproject.toml``; this module reads them back from the
installed package's metadata (``Requires-Dist``), so a layer that needs a package can
fail at its entry with ``IK-DEP-MISSING`` or ``IK-DEP-UNSUPPORTED-VERSION`` naming the
package, the range and the extra to install, instead of an ImportError or a TypeError
deep inside a start::

    require("aiokafka", feature="the Kafka layer")

``python -m integration_kit.dependencies [EXTRA...]`` prints every declared dependency
of those extras with the installed version, and exits 1 if one is missing or outside
its range (provisioning uses it to check a venv against pyproject).
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import sys
from dataclasses import dataclass

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from integration_kit.errors import DependencyError, ErrorCode

DISTRIBUTION = "integration-kit"


@dataclass(frozen=True)
class Declared:
    """One ``Requires-Dist`` line of integration-kit: a requirement and the extra it is in."""

    requirement: Requirement
    extra: str | None

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    def installed(self) -> str | None:
        """The installed version, or None when the distribution is absent."""
        try:
            return metadata.version(self.requirement.name)
        except metadata.PackageNotFoundError:
            return None

    def satisfied_by(self, version: str) -> bool:
        return self.requirement.specifier.contains(version, prereleases=True)

    def text(self) -> str:
        return f"{self.requirement.name}{self.requirement.specifier}"


@functools.cache
def _extras() -> tuple[str, ...]:
    try:
        return tuple(metadata.metadata(DISTRIBUTION).get_all("Provides-Extra") or ())
    except metadata.PackageNotFoundError:
        return ()


def _extra_of(marker: Marker | None) -> str | None:
    """The extra a requirement's marker selects (``extra == "docker"``), None for core ones."""
    if marker is None or marker.evaluate({"extra": ""}):
        return None
    return next((extra for extra in _extras() if marker.evaluate({"extra": extra})), None)


@functools.cache
def declared() -> tuple[Declared, ...]:
    """Every dependency integration-kit declares, with its extra (None for the core ones)."""
    try:
        lines = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return ()
    result = []
    for line in lines:
        requirement = Requirement(line)
        extra = _extra_of(requirement.marker)
        if canonicalize_name(requirement.name) == DISTRIBUTION:
            continue  # self-references such as all = ["integration-kit[...]"]
        result.append(Declared(requirement, extra))
    return tuple(result)


def declaration(package: str) -> Declared | None:
    """The declaration of ``package`` (the first, core dependencies before extras)."""
    wanted = canonicalize_name(package)
    matches = [d for d in declared() if d.name == wanted]
    matches.sort(key=lambda d: d.extra is not None)
    return matches[0] if matches else None


@functools.cache
def require(package: str, *, feature: str) -> str:
    """The installed version of ``package``; a coded error if it is absent or out of range.

    Without integration-kit's metadata (running from a source tree that is not
    installed) only presence is checked.
    """
    found = declaration(package)
    requirement = found.text() if found else package
    extra = (found.extra if found else None) or "all"
    try:
        installed = metadata.version(package)
    except metadata.PackageNotFoundError as exc:
        raise DependencyError(
            ErrorCode.DEP_MISSING, feature=feature, package=package, requirement=requirement, extra=extra
        ) from exc
    if found is not None and not found.satisfied_by(installed):
        raise DependencyError(
            ErrorCode.DEP_UNSUPPORTED_VERSION,
            feature=feature,
            package=package,
            requirement=requirement,
            installed=installed,
        )
    return installed


def extras_closure(extras: list[str]) -> set[str]:
    """The extras named, plus those they pull in through ``integration-kit[...]`` entries."""
    wanted = set(extras)
    try:
        lines = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return wanted
    changed = True
    while changed:
        changed = False
        for line in lines:
            requirement = Requirement(line)
            if (
                canonicalize_name(requirement.name) == DISTRIBUTION
                and _extra_of(requirement.marker) in wanted
            ):
                new = set(requirement.extras) - wanted
                if new:
                    wanted |= new
                    changed = True
    return wanted


def report(extras: list[str]) -> tuple[list[str], bool]:
    """Lines ``name range installed`` for the core dependencies and those of ``extras``."""
    closure = extras_closure(extras)
    lines, ok = [], True
    for found in sorted(declared(), key=lambda d: d.name):
        if found.extra is not None and found.extra not in closure:
            continue
        installed = found.installed()
        good = installed is not None and found.satisfied_by(installed)
        ok = ok and good
        status = "ok" if good else ("MISSING" if installed is None else "OUT OF RANGE")
        lines.append(
            f"{found.requirement.name:<22} {found.requirement.specifier!s:<16} "
            f"{installed or '-':<12} {status}"
        )
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not declared():
        print(f"{DISTRIBUTION} is not installed; nothing to check", file=sys.stderr)
        return 1
    lines, ok = report(args)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
