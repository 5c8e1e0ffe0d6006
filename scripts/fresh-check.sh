#!/usr/bin/env bash
# The fresh-machine check: the README's test command in a fresh clone of the current commit,
# with an empty cache directory, an empty Maven repository, no pip cache and a new venv, so a
# green run cannot hide a missing install step or a stale venv.
#
#   scripts/fresh-check.sh [pytest args...]     (extra arguments go to scripts/run.sh tests)
#
# Run it before you stop whenever you touched dependencies, provisioning or CI (docs/testing.md).
# What it keeps from this machine: Debian packages and the docker engine's images (both are
# content-checked by provisioning; a changed images/ directory is rebuilt). It removes its
# clone and caches afterwards, also when interrupted.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
commit="$(git -C "$ROOT" rev-parse HEAD)"
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]; then
	echo "fresh-check: uncommitted changes are not part of the check (it tests commit ${commit:0:12})" >&2
fi
work="$(mktemp -d /tmp/ik-fresh-check.XXXXXX)"
cleanup() {
	local mount
	# debootstrap may leave mounts inside the cache; never delete through one.
	while read -r mount; do umount -l "$mount" 2>/dev/null || true; done \
		< <(awk -v w="$work" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r)
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

git clone -q --no-hardlinks "$ROOT" "$work/repo"
git -C "$work/repo" checkout -q --detach "$commit"
mkdir -p "$work/cache" "$work/m2"
echo "fresh-check: commit ${commit:0:12} in $work/repo, cache $work/cache" >&2
started=$(date +%s)
status=0
(
	cd "$work/repo"
	export INTEGRATION_KIT_CACHE_DIR="$work/cache" PIP_NO_CACHE_DIR=1 MAVEN_OPTS="-Dmaven.repo.local=$work/m2"
	bash scripts/run.sh tests "$@"
) || status=$?
echo "fresh-check: $([ "$status" -eq 0 ] && echo green || echo "RED (exit $status)") in $(( $(date +%s) - started )) s" >&2
exit "$status"
