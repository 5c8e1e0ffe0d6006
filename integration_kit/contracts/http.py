"""HTTP contracts: request/response pairs verified against a live service.

::

    contract = HttpContract(name="orders-api", version="1.0.0", interactions=[
        HttpInteraction(name="get order", method="GET", path="/orders/7", status=200,
                        response_schema={"type": "object", "required": ["id"]}),
    ])
    verify_http(contract, "http://127.0.0.1:8080").raise_for_failures()

The service under test usually runs as a ``ProcessService``; pass its base URL.
Requests use the standard library (no redirects are followed, so a 3xx is seen as such).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message as _Headers
from typing import Any

from integration_kit.contracts.message import _check_fields, check_mode
from integration_kit.contracts.schema import Schema, Version, check_schema, header_path, violations
from integration_kit.errors import ContractDefinitionError, ContractError, ErrorCode

METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


@dataclass(frozen=True, eq=False)
class HttpInteraction:
    """One request and the response the contract promises for it.

    ``request_body`` is the JSON sent (checked against ``request_schema`` when the
    contract is built); ``response_schema`` the JSON Schema of the response body;
    ``response_headers`` the required response headers (names, or ``name -> schema``).
    """

    name: str
    method: str
    path: str
    status: int
    request_body: Any = None
    request_schema: Schema | None = None
    request_headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    response_schema: Schema | None = None
    response_headers: Mapping[str, Schema] | Sequence[str] = field(default_factory=dict)

    def check(self, source: str) -> None:
        where = f"{source} interaction {self.name!r}"
        if self.method.upper() not in METHODS:
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID,
                source=where,
                cause=f"method {self.method!r} not in {list(METHODS)}",
            )
        object.__setattr__(self, "method", self.method.upper())
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID, source=where, cause=f"path {self.path!r} must start with '/'"
            )
        if not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID,
                source=where,
                cause=f"status {self.status!r} is not an HTTP status",
            )
        if self.request_schema is not None:
            check_schema(self.request_schema, source=f"{where} request schema")
            found = violations(self.request_schema, self.request_body, root="request")
            if found:
                raise ContractDefinitionError(
                    ErrorCode.CONTRACT_INVALID,
                    source=where,
                    cause="request body breaks the request schema: " + "; ".join(map(str, found)),
                )
        if self.response_schema is not None:
            check_schema(self.response_schema, source=f"{where} response schema")
        headers = self.response_headers
        normalized = dict(headers) if isinstance(headers, Mapping) else {name: {} for name in headers}
        for name, schema in normalized.items():
            check_schema(schema, source=f"{where} response header {name!r}")
        object.__setattr__(self, "response_headers", {k.lower(): v for k, v in normalized.items()})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str) -> HttpInteraction:
        _check_fields(
            data, {"name", "request", "response"}, required={"name", "request", "response"}, source=source
        )
        request, response = data["request"], data["response"]
        _check_fields(
            request,
            {"method", "path", "body", "schema", "headers", "query"},
            required={"method", "path"},
            source=f"{source} request",
        )
        _check_fields(
            response, {"status", "schema", "headers"}, required={"status"}, source=f"{source} response"
        )
        return cls(
            name=data["name"],
            method=request["method"],
            path=request["path"],
            status=response["status"],
            request_body=request.get("body"),
            request_schema=request.get("schema"),
            request_headers=dict(request.get("headers") or {}),
            query=dict(request.get("query") or {}),
            response_schema=response.get("schema"),
            response_headers=response.get("headers") or {},
        )

    def to_dict(self) -> dict[str, Any]:
        request: dict[str, Any] = {"method": self.method, "path": self.path}
        for key, value in (("body", self.request_body), ("schema", self.request_schema)):
            if value is not None:
                request[key] = value
        if self.request_headers:
            request["headers"] = dict(self.request_headers)
        if self.query:
            request["query"] = dict(self.query)
        response: dict[str, Any] = {"status": self.status}
        if self.response_schema is not None:
            response["schema"] = self.response_schema
        if self.response_headers:
            response["headers"] = dict(self.response_headers)  # type: ignore[arg-type]
        return {"name": self.name, "request": request, "response": response}


@dataclass(frozen=True, eq=False)
class HttpContract:
    """A named, versioned set of HTTP interactions a service promises."""

    name: str
    version: str
    interactions: Sequence[HttpInteraction]
    compatibility: str = "backward"
    description: str = ""
    source: str = "<python>"

    def __post_init__(self) -> None:
        where = f"{self.source} ({self.name!r} {self.version})"
        if not self.name:
            raise ContractDefinitionError(ErrorCode.CONTRACT_INVALID, source=where, cause="name is empty")
        Version.parse(self.version, source=where)
        check_mode(self.compatibility)
        interactions = tuple(self.interactions)
        if not interactions:
            raise ContractDefinitionError(ErrorCode.CONTRACT_INVALID, source=where, cause="no interactions")
        names = [i.name for i in interactions]
        if len(set(names)) != len(names):
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID, source=where, cause=f"interaction names repeat: {names}"
            )
        for interaction in interactions:
            interaction.check(where)
        object.__setattr__(self, "interactions", interactions)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def semver(self) -> Version:
        return Version.parse(self.version)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> HttpContract:
        allowed = {"kind", "name", "version", "interactions", "compatibility", "description"}
        _check_fields(data, allowed, required={"name", "version", "interactions"}, source=source)
        raw = data["interactions"]
        if not isinstance(raw, list):
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID, source=source, cause="interactions: a list"
            )
        interactions = [
            HttpInteraction.from_dict(i, source=f"{source} interactions[{n}]") for n, i in enumerate(raw)
        ]
        fields = {k: v for k, v in data.items() if k not in ("kind", "interactions")}
        return cls(**fields, interactions=interactions, source=source)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": "http", "name": self.name, "version": self.version}
        data["compatibility"] = self.compatibility
        if self.description:
            data["description"] = self.description
        data["interactions"] = [i.to_dict() for i in self.interactions]
        return data


@dataclass(frozen=True)
class HttpFailure:
    """One way the live service broke an interaction."""

    interaction: str
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.interaction}: {self.path}: {self.problem}"


@dataclass
class HttpReport:
    """Outcome of :func:`verify_http`; true when every interaction held."""

    contract: str
    base_url: str
    checked: list[str] = field(default_factory=list)
    failures: list[HttpFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __bool__(self) -> bool:
        return self.ok

    def render(self) -> str:
        head = f"{self.contract} against {self.base_url}, {len(self.checked)} interaction(s)"
        if self.ok:
            return f"{head}: all hold"
        return f"{head}: {len(self.failures)} failure(s)" + "".join(f"\n    - {f}" for f in self.failures)

    def raise_for_failures(self) -> None:
        """``IK-CONTRACT-HTTP-MISMATCH`` listing every failure, if there is any."""
        if self.failures:
            raise ContractError(
                ErrorCode.CONTRACT_HTTP_MISMATCH,
                contract=self.contract,
                base_url=self.base_url,
                failures="".join(f"\n    - {f}" for f in self.failures),
                details=list(self.failures),
            )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def verify_http(
    contract: HttpContract,
    base_url: str,
    *,
    timeout: float = 5.0,
    headers: Mapping[str, str] | None = None,
    only: Iterable[str] | None = None,
) -> HttpReport:
    """Send each interaction's request to ``base_url`` and check the response.

    Checks the status, the required response headers, and the body against the
    response schema (a JSON content type is required then). ``headers`` are added to
    every request (e.g. auth); ``only`` limits the run to the named interactions.
    Returns the report; ``IK-CONTRACT-HTTP-UNREACHABLE`` if the service cannot be reached.
    """
    report = HttpReport(contract.ref, base_url.rstrip("/"))
    wanted = set(only) if only is not None else None
    for interaction in contract.interactions:
        if wanted is not None and interaction.name not in wanted:
            continue
        report.checked.append(interaction.name)
        report.failures += _run(interaction, report.base_url, timeout, headers or {})
    return report


async def averify_http(
    contract: HttpContract,
    base_url: str,
    *,
    timeout: float = 5.0,
    headers: Mapping[str, str] | None = None,
    only: Iterable[str] | None = None,
) -> HttpReport:
    """:func:`verify_http` in a worker thread, for async tests."""
    return await asyncio.to_thread(
        verify_http, contract, base_url, timeout=timeout, headers=headers, only=only
    )


def _run(
    interaction: HttpInteraction, base_url: str, timeout: float, extra: Mapping[str, str]
) -> list[HttpFailure]:
    url = base_url + interaction.path
    if interaction.query:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(interaction.query)
    data = None
    request_headers = {"Accept": "application/json", **extra, **interaction.request_headers}
    if interaction.request_body is not None:
        data = json.dumps(interaction.request_body).encode()
        request_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=interaction.method, headers=request_headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, response_headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, response_headers, body = exc.code, exc.headers, exc.read()
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise ContractError(ErrorCode.CONTRACT_HTTP_UNREACHABLE, url=url, cause=repr(cause)) from exc
    return _check_response(interaction, status, response_headers, body)


def _check_response(
    interaction: HttpInteraction, status: int, headers: _Headers, body: bytes
) -> list[HttpFailure]:
    name = f"{interaction.name} ({interaction.method} {interaction.path})"
    failures = []
    if status != interaction.status:
        snippet = body[:200].decode("utf-8", "replace")
        failures.append(
            HttpFailure(name, "status", f"is {status}, expected {interaction.status} (body: {snippet})")
        )
        return failures
    for header, schema in interaction.response_headers.items():  # type: ignore[union-attr]
        where = header_path(header)
        value = headers.get(header)
        if value is None:
            failures.append(HttpFailure(name, where, "required header is missing"))
        else:
            failures += [HttpFailure(name, v.path, v.message) for v in violations(schema, value, root=where)]
    if interaction.response_schema is None:
        return failures
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        failures.append(HttpFailure(name, header_path("content-type"), f"is {content_type!r}, expected JSON"))
    try:
        document = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError) as exc:
        failures.append(HttpFailure(name, "$", f"body is not JSON: {exc}"))
        return failures
    failures += [
        HttpFailure(name, v.path, v.message) for v in violations(interaction.response_schema, document)
    ]
    return failures
