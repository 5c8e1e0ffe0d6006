"""What ``version=`` on a spec means: a release prefix (``"15"``, ``"4"``, ``"3.9"``).

``version_matches("4", "4.1.1")`` and ``version_matches("15", "15.18")`` hold;
``version_matches("4", "14.2")`` does not. Backends choose by it (an image tag, a
binary directory, a Kafka home) and check external servers with it.
"""

from __future__ import annotations

import re


def version_matches(requested: str, actual: str) -> bool:
    """Whether ``actual`` is a release of ``requested``: the requested dotted components
    are a prefix of the actual ones."""
    wanted = [part for part in str(requested).strip().split(".") if part]
    found = str(actual).strip().split(".")
    return bool(wanted) and found[: len(wanted)] == wanted


def is_version(text: str) -> bool:
    """Whether ``text`` looks like a version (``15``, ``4.1.1``; not ``latest``)."""
    return re.fullmatch(r"\d+(\.\d+)*", text.strip()) is not None


def version_key(text: str) -> tuple[int, ...]:
    """Sort key of a version-like string (``kafka-4.1.1`` -> ``(4, 1, 1)``)."""
    return tuple(int(d) for d in re.findall(r"\d+", text))


def major(version: str) -> str:
    """The first component (``15.18`` -> ``15``)."""
    return str(version).strip().split(".")[0]
