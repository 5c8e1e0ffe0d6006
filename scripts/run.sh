#!/usr/bin/env bash
# The two README commands. Both provision what they need first (idempotent).
#
#   scripts/run.sh demo     run the demo: the example order service tested through the kit
#   scripts/run.sh tests    run the whole test suite (what CI runs)
#
# Extra arguments go to pytest. pytest's "no tests collected" (exit 5) is a failure here.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

command="${1:-}"
shift || true
case "$command" in
	demo|tests) ;;
	*) echo "usage: scripts/run.sh demo|tests [pytest args...]" >&2; exit 2 ;;
esac

bash scripts/provision.sh
# shellcheck disable=SC1091
source .integration-kit/env

pytest_args=()
if [ "$command" = demo ]; then
	pytest_args=(-v tests/e2e/order_service)
fi

set +e
.venv/bin/python -m pytest "${pytest_args[@]}" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
	echo "scripts/run.sh: pytest collected no tests; that is a failure" >&2
	exit 1
fi
exit "$status"
