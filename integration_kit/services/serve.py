"""Run a command against services started for it: the external backend's test harness.

    python -m integration_kit.services.serve [--backend local] -- pytest -m integration

Starts PostgreSQL, Redis and Kafka with the given backend (default: local), runs the
command with ``INTEGRATION_KIT_BACKEND=external`` and the services' URLs in
``INTEGRATION_KIT_POSTGRES_URL``, ``INTEGRATION_KIT_REDIS_URL`` and
``INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS``, stops the services and exits with the
command's exit code. This is how CI runs the kit's suite on the external backend.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

from integration_kit.config import load_settings
from integration_kit.errors import IntegrationKitError
from integration_kit.services.base import Endpoint, KafkaService, PostgresService, RedisService


def environment(endpoints: Mapping[str, Endpoint]) -> dict[str, str]:
    """The settings that point the external backend at ``endpoints``."""
    env = {"INTEGRATION_KIT_BACKEND": "external"}
    if "postgres" in endpoints:
        env["INTEGRATION_KIT_POSTGRES_URL"] = endpoints["postgres"].dsn
    if "redis" in endpoints:
        env["INTEGRATION_KIT_REDIS_URL"] = endpoints["redis"].url
    if "kafka" in endpoints:
        env["INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS"] = endpoints["kafka"].bootstrap_servers
    return env


def run(command: Sequence[str], *, backend: str = "local") -> int:
    """Start the services, run ``command`` against them, stop them; return its exit code."""
    from integration_kit.services.session import ServiceSession

    settings = load_settings(backend=backend)
    with ServiceSession(settings) as session:
        started = session.ensure([PostgresService(), RedisService(), KafkaService()])
        env = {**os.environ, **environment({key: svc.endpoint for key, svc in started.items()})}
        for key, value in sorted(env.items()):
            if key.startswith("INTEGRATION_KIT_") and key not in os.environ:
                print(f"serve: {key}={value}", file=sys.stderr)
        return subprocess.call(list(command), env=env)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integration_kit.services.serve", description=__doc__)
    parser.add_argument("--backend", default="local", choices=("local", "docker"))
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run (after --)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    try:
        return run(command, backend=args.backend)
    except IntegrationKitError as exc:
        print(f"error: {exc.code.value}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
