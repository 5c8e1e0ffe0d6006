#!/usr/bin/env bash
# Both ends of the dependency ranges: the kit's tests in venvs resolved, now, to the newest
# release of every dependency and to the lowest version pyproject.toml declares.
#
#   scripts/ranges.sh [newest|lowest]...    (default: both; scripts/run.sh tests runs both)
#
# Users get the newest versions the day they install, and a project with older pins gets the
# floors, so a failure at either end fails the run. Each venv is built afresh from a fresh
# resolution (uv --resolution highest / lowest-direct) and prints what it installed.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
source .integration-kit/env
export UV_PYTHON_DOWNLOADS=never UV_CACHE_DIR="${INTEGRATION_KIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/integration-kit}/uv-cache"
uv() { "$INTEGRATION_KIT_UV" "$@"; }

# What runs at both ends: the unit tests (the mocks' among them), the Redis and Kafka fidelity
# suites against the real servers (local backend), the protocol health checks of every service
# (asyncpg, redis-py, aiokafka), and the docker backend's own tests (testcontainers and
# docker-py); tests marked slow (whole pytest sessions, the JVM class cache) run in the locked
# passes only. The newest pass also type-checks the package against the newest releases.
TESTS=(tests/unit tests/fidelity tests/integration/foundation tests/integration/backends/docker/test_docker_backend.py
	-m "not slow")

pass() { # mode
	local mode="$1" resolution extras venv deselect
	case "$mode" in
		# newest: with mypy (typing against the newest releases); ruff's rules are the lock's.
		newest) resolution=highest; extras=(--extra all --extra test --extra lint)
			deselect=(--deselect tests/unit/test_code_quality.py::test_ruff_is_clean
				--deselect tests/unit/test_code_quality.py::test_ruff_format_is_clean) ;;
		lowest) resolution=lowest-direct; extras=(--extra all --extra test); deselect=() ;;
		*) echo "scripts/ranges.sh: unknown pass '$mode' (newest, lowest)" >&2; return 2 ;;
	esac
	venv="$ROOT/.integration-kit/venvs/$mode"
	printf '\n\033[1;34m== %s versions ==\033[0m\n' "$mode"
	uv venv -q --clear --python python3 "$venv"
	uv pip compile -q pyproject.toml "${extras[@]}" --resolution "$resolution" --python-version 3.11 \
		--no-header --no-annotate -o "$venv/requirements.txt"
	uv pip sync -q --python "$venv/bin/python" "$venv/requirements.txt"
	uv pip install -q --python "$venv/bin/python" --no-deps -e "$ROOT"
	# Every declared range, with what this pass installed (the floors, for lowest).
	"$venv/bin/python" -m integration_kit.dependencies all test
	local status=0
	INTEGRATION_KIT_BACKEND=local "$venv/bin/python" -m pytest -q -p no:cacheprovider "${TESTS[@]}" "${deselect[@]}" \
		|| status=$?
	if [ "$mode" = newest ]; then
		(cd "$ROOT" && "$venv/bin/mypy" integration_kit) || status=1
	fi
	if [ "$status" -eq 5 ]; then
		echo "scripts/ranges.sh: $mode pass collected no tests; that is a failure" >&2
		status=1
	fi
	return "$status"
}

modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(newest lowest)
failed=()
for mode in "${modes[@]}"; do
	started=$(date +%s)
	pass "$mode" || failed+=("$mode")
	echo "scripts/ranges.sh: $mode pass took $(( $(date +%s) - started )) s"
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "scripts/ranges.sh: failed: ${failed[*]} versions" >&2
	exit 1
fi
