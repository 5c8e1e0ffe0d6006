"""Masking credentials in text the kit prints: the one redaction function.

:func:`redact` replaces the password of every URL in a text (``scheme://user:PASSWORD@host``)
and every ``password=...`` parameter with ``***``. It does not rely on the URL being
well formed: the credentials of a URL are everything between ``://`` and the *last* ``@``
before the next URL, so a password holding ``@``, ``/``, ``?``, ``#``,
``:`` or spaces is masked whole. The user name (up to its first ``:``) stays readable.

Every :class:`~integration_kit.errors.IntegrationKitError` message goes through it, so an
error can carry a raw URL in its context and still never print a credential.
This module imports nothing of the kit (``errors.py`` imports it).
"""

from __future__ import annotations

import re

MASK = "***"

#: A URL starts with a scheme at the start of the text or after a separator (so a
#: password holding ``x://`` does not start a new URL).
_SCHEME = re.compile(r"(?:(?<=^)|(?<=[\s'\"`,;(\[<=|]))[A-Za-z][A-Za-z0-9+.\-]*://")
_PARAMETER = re.compile(r"(?i)\b(password|passwd|pwd|sslpassword)=([^&\s'\"]*)")


def _mask_userinfo(userinfo: str) -> str:
    user, colon, _ = userinfo.partition(":")
    if not colon:
        return userinfo  # a user name alone is no secret
    return f"{user}:{MASK}"


def _redact_urls(text: str) -> str:
    matches = list(_SCHEME.finditer(text))
    if not matches:
        return text
    out = [text[: matches[0].end()]]
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        segment = text[match.end() : end]
        at = segment.rfind("@")
        if at < 0:
            out.append(segment)
        else:
            out.append(_mask_userinfo(segment[:at]) + segment[at:])
        if index + 1 < len(matches):
            out.append(text[end : matches[index + 1].end()])
    return "".join(out)


def redact(text: str) -> str:
    """``text`` with the password of every URL and every ``password=`` value masked."""
    if "@" not in text and "=" not in text:
        return text
    return _PARAMETER.sub(rf"\1={MASK}", _redact_urls(text))


def redact_url(url: str) -> str:
    """One URL (the value of a URL setting) with its password masked, like :func:`redact`;
    without a scheme (``user:pw@host``), everything before the last ``@`` is masked."""
    if "@" in url and _SCHEME.search(url) is None:
        return f"{MASK}@{url.rpartition('@')[2]}"
    return redact(url)
