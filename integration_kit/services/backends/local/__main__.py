"""``python -m integration_kit.services.backends.local prepare``: fill the local caches."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from integration_kit.services.backends.local.backend import LocalBackend, _default_specs
from integration_kit.services.backends.local.binaries import KINDS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integration_kit.services.backends.local")
    parser.add_argument("command", choices=["prepare"])
    parser.add_argument("--kinds", default=",".join(KINDS), help="services to prepare (default: all)")
    args = parser.parse_args(argv)
    backend = LocalBackend()
    specs = _default_specs()
    kinds = [kind for kind in args.kinds.split(",") if kind]
    missing = [kind for kind in kinds if not backend.can_run(specs[kind])[0]]
    for kind in missing:
        print(f"{kind}: skipped: {backend.can_run(specs[kind])[1]}")
    for kind, done in backend.prepare([k for k in kinds if k not in missing]).items():
        print(f"{kind}: {done}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
