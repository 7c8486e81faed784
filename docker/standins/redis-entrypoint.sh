#!/bin/sh
# The official redis image's start, as far as compose relies on it: `redis-server ARGS` runs as `redis`,
# listening on every interface of the container with protected mode off (other containers connect).
set -eu
if [ "${1:-}" = redis-server ]; then
  chown redis:redis /data
  shift
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server --bind 0.0.0.0 --protected-mode no "$@"
fi
exec "$@"
