#!/bin/bash
# Entry point following the official redis image: flags or a .conf file are passed to
# redis-server; the server runs as the redis user without persistence unless configured.
set -Eeuo pipefail
if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = 'redis-server' ]; then
	shift
	chown redis:redis /data
	exec setpriv --reuid=redis --regid=redis --init-groups \
		redis-server --bind '0.0.0.0 ::' --protected-mode no --save '' --appendonly no \
		--daemonize no --logfile '' "$@"
fi
exec "$@"
