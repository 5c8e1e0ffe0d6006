#!/usr/bin/env bash
# Provision everything integration-kit's tests need on a fresh Debian 12 machine, as root.
# Idempotent: each step checks what is there and skips it; a warm run takes seconds.
#
#   scripts/provision.sh [STEP...]     steps: packages uv venv kafka local docker images versions (default: all)
#                                      versions: a second PostgreSQL and Kafka (see step_versions)
#
# Writes .integration-kit/env (sourced by scripts/run.sh) with the Kafka home, image tags and uv.
# The venv is installed from the lock, requirements/dev.txt (refresh it with scripts/lock.sh).
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${INTEGRATION_KIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/integration-kit}"
KAFKA_VERSION="${INTEGRATION_KIT_KAFKA_VERSION:-4.1.1}"
SLF4J_VERSION=1.7.36
UV_VERSION=0.13.9
SUITE=bookworm
APT_PACKAGES=(postgresql redis-server docker.io debootstrap maven chromium)
ROOTFS_PACKAGES=postgresql-15,redis-server,openjdk-17-jre-headless,procps
STATE="$ROOT/.integration-kit"
mkdir -p "$CACHE" "$STATE"

log() { printf '\033[1;34m[provision]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[provision] error:\033[0m %s\n' "$*" >&2; exit 1; }

step_packages() {
	local missing=()
	for pkg in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		log "packages: present"
		return
	fi
	log "packages: installing ${missing[*]}"
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

uv_home() { echo "$CACHE/uv-$UV_VERSION"; }

step_uv() {
	# uv resolves and installs the venvs (the lock, the newest and lowest passes); pinned.
	local home
	home="$(uv_home)"
	# `uv --version` prints "uv 0.13.9 (<target>)": compare the version word only.
	if [ -x "$home/bin/uv" ] && [ "$("$home/bin/uv" --version 2>/dev/null | awk '{print $2}')" = "$UV_VERSION" ]; then
		log "uv: $UV_VERSION present"
		return
	fi
	log "uv: installing uv $UV_VERSION into $home"
	rm -rf "$home"
	python3 -m venv "$home"
	"$home/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION" \
		|| die "pip could not install uv==$UV_VERSION"
}

export UV_PYTHON_DOWNLOADS=never UV_CACHE_DIR="$CACHE/uv-cache"
uv() { "$(uv_home)/bin/uv" "$@"; }

venv_stamp() {
	# The venv is current when it was installed from this lock, for this pyproject and Python.
	{ cat "$ROOT/requirements/dev.txt" "$ROOT/pyproject.toml"; python3 --version; } | sha256sum | cut -c1-16
}

step_venv() {
	local stamp="$ROOT/.venv/.integration-kit-stamp" want
	[ -x "$(uv_home)/bin/uv" ] || step_uv
	want="$(venv_stamp)"
	if [ -x "$ROOT/.venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		log "venv: up to date with requirements/dev.txt"
		return
	fi
	log "venv: installing requirements/dev.txt (locked, hashes checked) and the package"
	rm -f "$stamp"
	[ -x "$ROOT/.venv/bin/python" ] || python3 -m venv "$ROOT/.venv"
	uv pip sync -q --python "$ROOT/.venv/bin/python" --require-hashes "$ROOT/requirements/dev.txt" \
		|| die "could not install requirements/dev.txt"
	uv pip install -q --python "$ROOT/.venv/bin/python" --no-deps -e "$ROOT" || die "could not install the package"
	# The lock must satisfy every range pyproject declares (else it is stale: re-lock).
	"$ROOT/.venv/bin/python" -m integration_kit.dependencies dev >"$STATE/venv-check.txt" \
		|| { cat "$STATE/venv-check.txt" >&2; die "requirements/dev.txt does not satisfy pyproject.toml: run scripts/lock.sh"; }
	echo "$want" > "$stamp"
}

kafka_home() { echo "$CACHE/kafka-$KAFKA_VERSION"; }

step_kafka() {
	local home
	home="$(kafka_home)"
	if [ -f "$home/.complete" ]; then
		log "kafka: $home present"
		return
	fi
	log "kafka: assembling Apache Kafka $KAFKA_VERSION (KRaft) from Maven Central into $home"
	local work
	work="$(mktemp -d)"
	cat > "$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>integration-kit</groupId><artifactId>kafka-home</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>$SLF4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
	rm -rf "$home"
	mkdir -p "$home/libs"
	(cd "$work" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$home/libs") \
		>"$CACHE/maven.log" 2>&1 || { tail -20 "$CACHE/maven.log" >&2; die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION"; }
	rm -rf "$work"
	ls "$home/libs"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka jars missing in $home/libs"
	echo "$KAFKA_VERSION" > "$home/.complete"
}

step_local() {
	# Fill the local backend's caches (initialized data directory, formatted Kafka storage,
	# the JVM's class archive) so the first test run starts services as fast as later ones.
	log "local: preparing the local backend's caches"
	INTEGRATION_KIT_KAFKA_HOME="$(kafka_home)" "$ROOT/.venv/bin/python" -m integration_kit.services.backends.local prepare \
		>"$CACHE/local-prepare.log" 2>&1 || { tail -20 "$CACHE/local-prepare.log" >&2; die "local backend prepare failed"; }
}

docker_answers() { timeout 5 docker info >/dev/null 2>&1; }

step_docker() {
	if docker_answers; then
		log "docker: engine answers"
		return
	fi
	command -v dockerd >/dev/null || die "dockerd not installed (step packages installs docker.io)"
	log "docker: starting dockerd"
	nohup setsid dockerd >"$CACHE/dockerd.log" 2>&1 </dev/null &
	for _ in $(seq 1 60); do
		docker_answers && { log "docker: engine answers"; return; }
		sleep 0.5
	done
	tail -20 "$CACHE/dockerd.log" >&2
	die "dockerd did not answer within 30 s (log: $CACHE/dockerd.log)"
}

debian_mirror() {
	# The mirror apt already uses: deb822 sources first, then one-line sources.
	local mirror=""
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		mirror="$(awk -v suite="$SUITE" '
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite && uri !~ /security/) { print uri; exit } }
		' /etc/apt/sources.list.d/debian.sources)"
	fi
	if [ -z "$mirror" ]; then
		mirror="$(grep -hE "^deb [^ ]+ $SUITE( |$)" /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
			| grep -v security | awk '{print $2; exit}')"
	fi
	[ -n "$mirror" ] || die "no Debian mirror for $SUITE found in apt's configuration"
	echo "$mirror"
}

drop_rootfs() {
	# debootstrap may leave /proc or /sys mounted inside; never delete through a mount.
	local mount
	for mount in proc sys dev/pts dev; do
		mountpoint -q "$1/$mount" 2>/dev/null && umount -l "$1/$mount"
	done
	rm -rf --one-file-system "$1"
}

image_hash() {
	# Content hash of everything an image is built from.
	(cd "$ROOT/images" && find . -type f -print0 | sort -z | xargs -0 sha256sum
	 echo "$ROOTFS_PACKAGES $KAFKA_VERSION $SUITE") | sha256sum | cut -c1-12
}

image_current() { # tag hash
	[ "$(docker image inspect -f '{{ index .Config.Labels "integration-kit.build-hash" }}' "$1" 2>/dev/null)" = "$2" ]
}

step_images() {
	docker_answers || die "docker engine not answering (run the docker step first)"
	local hash base_tag
	hash="$(image_hash)"
	base_tag="integration-kit/debian-base:$(echo "$ROOTFS_PACKAGES $SUITE" | sha256sum | cut -c1-12)"
	if ! docker image inspect "$base_tag" >/dev/null 2>&1; then
		local tarball="$CACHE/rootfs-${base_tag##*:}.tar"
		if [ ! -s "$tarball" ]; then
			local dir mirror
			dir="$(mktemp -d)"
			mirror="$(debian_mirror)"
			log "images: debootstrap $SUITE with $ROOTFS_PACKAGES (a few minutes, once)"
			debootstrap --variant=minbase --include="$ROOTFS_PACKAGES" "$SUITE" "$dir" "$mirror" \
				>"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; drop_rootfs "$dir"; die "debootstrap failed"; }
			rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
			tar -C "$dir" --one-file-system -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
			drop_rootfs "$dir"
		fi
		log "images: importing base rootfs as $base_tag"
		docker import "$tarball" "$base_tag" >/dev/null
	fi
	local name tag context
	for name in postgres redis kafka; do
		case "$name" in
			postgres) tag="integration-kit/postgres:15" ;;
			redis) tag="integration-kit/redis:7" ;;
			kafka) tag="integration-kit/kafka:$KAFKA_VERSION" ;;
		esac
		if image_current "$tag" "$hash"; then
			log "images: $tag up to date"
			continue
		fi
		log "images: building $tag"
		context="$(mktemp -d)"
		cp -a "$ROOT/images/$name/." "$context/"
		if [ "$name" = kafka ]; then
			cp -a "$(kafka_home)/libs" "$context/libs"
		fi
		DOCKER_BUILDKIT=0 docker build -q --pull=false --build-arg "BASE=$base_tag" --label "integration-kit.build-hash=$hash" \
			-t "$tag" "$context" >"$CACHE/docker-build.log" 2>&1 || { rm -rf "$context"; die "docker build of $tag failed"; }
		rm -rf "$context"
	done
}

# --- second versions (issue 11): the kit's PostgreSQL and Kafka layers run against two
# versions of each. Separate steps so they merge cleanly with the main ones above.
EXTRA_KAFKA_VERSION="${INTEGRATION_KIT_EXTRA_KAFKA_VERSION:-3.9.1}"
EXTRA_PG_MAJOR=17
EXTRA_PG_SUITE=trixie # Debian 13: bookworm (12) has no postgresql-17 package nor a Redis >= 7.4
# Redis from Debian 13 too: hash-field TTLs (HEXPIRE...) need Redis 7.4+, and the mock's
# fidelity suite compares them with a real server (issue 14).
EXTRA_PG_ROOTFS_PACKAGES="postgresql-$EXTRA_PG_MAJOR,redis-server,procps"

step_kafka_extra() {
	# A second Kafka home, $CACHE/kafka-$EXTRA_KAFKA_VERSION, assembled like the first.
	(KAFKA_VERSION="$EXTRA_KAFKA_VERSION" step_kafka)
}

step_postgres_extra_local() {
	# The local backend finds /usr/lib/postgresql/<major>/bin by version; Debian 12 ships
	# only PostgreSQL 15, so a second local version exists only where apt offers one.
	if [ -d "/usr/lib/postgresql/$EXTRA_PG_MAJOR/bin" ]; then
		log "versions: local PostgreSQL $EXTRA_PG_MAJOR present"
	elif apt-cache policy "postgresql-$EXTRA_PG_MAJOR" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		log "versions: installing postgresql-$EXTRA_PG_MAJOR"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-$EXTRA_PG_MAJOR" >/dev/null
	else
		log "versions: apt offers no postgresql-$EXTRA_PG_MAJOR here: local PostgreSQL stays at $(ls /usr/lib/postgresql 2>/dev/null | tr '\n' ' ')"
	fi
}

extra_images_hash() {
	(cd "$ROOT/images" && find . -type f -print0 | sort -z | xargs -0 sha256sum
	 echo "$EXTRA_PG_ROOTFS_PACKAGES $EXTRA_PG_SUITE $ROOTFS_PACKAGES $SUITE $EXTRA_KAFKA_VERSION") | sha256sum | cut -c1-12
}

step_images_extra() {
	# integration-kit/postgres:17 and integration-kit/redis:<its major> from a Debian 13 rootfs (a second debootstrap suite, from
	# the mirror apt already uses) and integration-kit/kafka:$EXTRA_KAFKA_VERSION on the main base.
	docker_answers || die "docker engine not answering (run the docker step first)"
	local hash main_base pg_base tarball dir mirror tag context
	hash="$(extra_images_hash)"
	main_base="integration-kit/debian-base:$(echo "$ROOTFS_PACKAGES $SUITE" | sha256sum | cut -c1-12)"
	docker image inspect "$main_base" >/dev/null 2>&1 || die "no $main_base (run the images step first)"
	pg_base="integration-kit/debian-base:$(echo "$EXTRA_PG_ROOTFS_PACKAGES $EXTRA_PG_SUITE" | sha256sum | cut -c1-12)"
	if ! docker image inspect "$pg_base" >/dev/null 2>&1; then
		tarball="$CACHE/rootfs-${pg_base##*:}.tar"
		if [ ! -s "$tarball" ]; then
			dir="$(mktemp -d)"
			mirror="$(debian_mirror)" # bookworm's mirror serves every suite
			log "versions: debootstrap $EXTRA_PG_SUITE with $EXTRA_PG_ROOTFS_PACKAGES (a few minutes, once)"
			debootstrap --variant=minbase --include="$EXTRA_PG_ROOTFS_PACKAGES" "$EXTRA_PG_SUITE" "$dir" "$mirror" \
				>"$CACHE/debootstrap-$EXTRA_PG_SUITE.log" 2>&1 || {
				tail -20 "$CACHE/debootstrap-$EXTRA_PG_SUITE.log" >&2
				drop_rootfs "$dir"
				die "debootstrap $EXTRA_PG_SUITE failed"
			}
			rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
			tar -C "$dir" --one-file-system -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
			drop_rootfs "$dir"
		fi
		log "versions: importing $EXTRA_PG_SUITE rootfs as $pg_base"
		docker import "$tarball" "$pg_base" >/dev/null
	fi
	local redis_major
	# The Redis major of that suite (e.g. 8), read from its binary: the image is tagged by it.
	redis_major="$(docker run --rm --network none --entrypoint redis-server "$pg_base" --version \
		| sed -n 's/.* v=\([0-9][0-9]*\)\..*/\1/p')"
	[ -n "$redis_major" ] || die "no redis-server version in $pg_base"
	for tag in "integration-kit/postgres:$EXTRA_PG_MAJOR" "integration-kit/redis:$redis_major" "integration-kit/kafka:$EXTRA_KAFKA_VERSION"; do
		if image_current "$tag" "$hash"; then
			log "versions: $tag up to date"
			continue
		fi
		log "versions: building $tag"
		context="$(mktemp -d)"
		case "$tag" in
			*postgres*)
				cp -a "$ROOT/images/postgres/." "$context/"
				# The main image's Dockerfile, pointed at this major's binaries.
				sed -i "s#/usr/lib/postgresql/[0-9]*/bin#/usr/lib/postgresql/$EXTRA_PG_MAJOR/bin#" "$context/Dockerfile"
				grep -q "/usr/lib/postgresql/$EXTRA_PG_MAJOR/bin" "$context/Dockerfile" || die "images/postgres/Dockerfile names no bin directory"
				set -- --build-arg "BASE=$pg_base" ;;
			*redis*)
				cp -a "$ROOT/images/redis/." "$context/"
				set -- --build-arg "BASE=$pg_base" ;;
			*kafka*)
				cp -a "$ROOT/images/kafka/." "$context/"
				cp -a "$CACHE/kafka-$EXTRA_KAFKA_VERSION/libs" "$context/libs"
				set -- --build-arg "BASE=$main_base" ;;
		esac
		DOCKER_BUILDKIT=0 docker build -q --pull=false "$@" --label "integration-kit.build-hash=$hash" \
			-t "$tag" "$context" >"$CACHE/docker-build-extra.log" 2>&1 || { rm -rf "$context"; die "docker build of $tag failed"; }
		rm -rf "$context"
	done
}

step_versions() {
	step_kafka_extra
	step_postgres_extra_local
	step_images_extra
}

write_env() {
	cat > "$STATE/env" <<EOF
# Written by scripts/provision.sh: where the provisioned services live.
export INTEGRATION_KIT_KAFKA_HOME="$(kafka_home)"
export INTEGRATION_KIT_POSTGRES_IMAGE="integration-kit/postgres:15"
export INTEGRATION_KIT_REDIS_IMAGE="integration-kit/redis:7"
export INTEGRATION_KIT_KAFKA_IMAGE="integration-kit/kafka:$KAFKA_VERSION"
export TESTCONTAINERS_RYUK_DISABLED=true
export INTEGRATION_KIT_UV="$(uv_home)/bin/uv"
# The second versions (step_versions), for scripts/run.sh's pass on them (not exported).
SECOND_POSTGRES_IMAGE="integration-kit/postgres:$EXTRA_PG_MAJOR"
SECOND_KAFKA_IMAGE="integration-kit/kafka:$EXTRA_KAFKA_VERSION"
EOF
}

main() {
	[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts dockerd)"
	local steps=("$@")
	[ ${#steps[@]} -gt 0 ] || steps=(packages uv venv kafka local docker images versions)
	local step
	for step in "${steps[@]}"; do
		case "$step" in
			packages|uv|venv|kafka|local|docker|images|versions) "step_$step" ;;
			*) die "unknown step '$step' (packages uv venv kafka local docker images versions)" ;;
		esac
	done
	write_env
}

main "$@"
