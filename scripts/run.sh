#!/usr/bin/env bash
# The two README commands. Both provision what they need first (idempotent).
#
#   scripts/run.sh demo     run the demo: the example order service tested through the kit
#   scripts/run.sh tests    run the whole test suite (what CI runs)
#
# `tests` without arguments runs everything on the default backend (auto: docker here),
# then the service-level suites again on the local and the external backend, then the
# PostgreSQL and Kafka layers on the docker images of their second versions, all in the
# venv installed from the lock (requirements/dev.txt), then scripts/ranges.sh: a short pass
# in venvs resolved to the newest and to the lowest declared versions. Extra
# arguments go to pytest and run only the first pass. pytest's "no tests collected"
# (exit 5) is a failure here.
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

# The layers' suites that must pass on every backend (issue: same tests, any backend).
SERVICE_LEVEL=(tests/integration/foundation tests/integration/kafka tests/integration/postgres
	tests/integration/redis tests/integration/seeding tests/e2e/order_service)

# The layers that also run on the second PostgreSQL and Kafka (issue 11: versions mean something).
SECOND_VERSION_LAYERS=(tests/integration/postgres tests/integration/kafka tests/integration/seeding)

run_pytest() {
	local status=0
	.venv/bin/python -m pytest "$@" || status=$?
	if [ "$status" -eq 5 ]; then
		echo "scripts/run.sh: pytest collected no tests; that is a failure" >&2
		status=1
	fi
	return "$status"
}

banner() { printf '\n\033[1;34m== %s ==\033[0m\n' "$*"; }

if [ "$command" = demo ]; then
	run_pytest -n 2 examples/orders "$@"
	exit
fi

failed=()
banner "whole suite (backend: ${INTEGRATION_KIT_BACKEND:-auto})"
run_pytest "$@" || failed+=("whole suite")
if [ $# -eq 0 ]; then
	banner "service-level suites on the local backend"
	INTEGRATION_KIT_BACKEND=local run_pytest "${SERVICE_LEVEL[@]}" || failed+=("local backend")
	banner "service-level suites on the external backend (services started by the local backend)"
	INTEGRATION_KIT_BACKEND=external .venv/bin/python -m integration_kit.services.serve --backend local -- \
		.venv/bin/python -m pytest "${SERVICE_LEVEL[@]}" tests/integration/backends/external/test_external.py \
		|| failed+=("external backend")
	banner "PostgreSQL and Kafka layers on their second versions ($SECOND_POSTGRES_IMAGE, $SECOND_KAFKA_IMAGE)"
	INTEGRATION_KIT_BACKEND=docker INTEGRATION_KIT_POSTGRES_IMAGE="$SECOND_POSTGRES_IMAGE" \
		INTEGRATION_KIT_KAFKA_IMAGE="$SECOND_KAFKA_IMAGE" run_pytest "${SECOND_VERSION_LAYERS[@]}" \
		|| failed+=("second versions")
	banner "both ends of the dependency ranges: newest and lowest versions"
	bash scripts/ranges.sh newest lowest || failed+=("dependency ranges")
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "scripts/run.sh: failed: ${failed[*]}" >&2
	exit 1
fi
