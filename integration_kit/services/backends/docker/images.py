"""Image references: their tag, and the version a tag names."""

from __future__ import annotations

from integration_kit.services.versions import is_version


def split_image(image: str) -> tuple[str, str]:
    """``registry:5000/name:tag`` -> (``registry:5000/name``, ``tag``); no tag -> ``latest``."""
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, "latest"
    return name, tag


def served_version(image: str) -> str | None:
    """The version an image's tag names (``integration-kit/postgres:17`` -> ``17``), if any."""
    tag = split_image(image)[1]
    return tag if is_version(tag) else None
