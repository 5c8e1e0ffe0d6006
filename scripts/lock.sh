#!/usr/bin/env bash
# Refresh requirements/dev.txt, the lock of the kit's development and CI environment.
#
#   scripts/lock.sh              re-resolve after a change to pyproject.toml, keeping every pin
#                                that still fits (only what must move, moves)
#   scripts/lock.sh --upgrade    move every package to its newest release within the ranges
#   scripts/lock.sh --upgrade-package NAME   move one package
#
# uv (pinned by scripts/provision.sh) resolves it for every platform (--universal) with the
# hashes of every file, so `uv pip sync --require-hashes` installs exactly this set, and the
# lock names no index: it installs from whichever index the machine is configured for.
# The next scripts/provision.sh (or scripts/run.sh) rebuilds .venv from the new lock.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/provision.sh uv >/dev/null
# shellcheck disable=SC1091
source .integration-kit/env
"$INTEGRATION_KIT_UV" pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	--generate-hashes --no-emit-index-url --custom-compile-command "scripts/lock.sh" \
	-o requirements/dev.txt "$@"
echo "scripts/lock.sh: requirements/dev.txt written; commit it with the pyproject change" >&2
