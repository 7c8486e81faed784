#!/bin/sh
# Runs INSIDE the debootstrapped root filesystem (chroot) of the offline base, never on a host: see
# docker/build.sh. Makes it like Debian's slim image and the official node image's user.
set -eu
[ -f /debian-setup.sh ] || { echo "debian-setup.sh: run only inside the base's chroot" >&2; exit 1; }

rm -f /etc/apt/sources.list
printf '%s\n' \
  'Types: deb' \
  "URIs: ${DEBIAN_MIRROR}" \
  "Suites: ${DEBIAN_SUITE} ${DEBIAN_SUITE}-updates" \
  'Components: main' \
  'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
  '' \
  'Types: deb' \
  'URIs: http://deb.debian.org/debian-security' \
  "Suites: ${DEBIAN_SUITE}-security" \
  'Components: main' \
  'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
  >/etc/apt/sources.list.d/debian.sources

# No docs, man pages or translations from later installs; no .deb cache.
printf '%s\n' \
  'path-exclude /usr/share/doc/*' \
  'path-include /usr/share/doc/*/copyright' \
  'path-exclude /usr/share/man/*' \
  'path-exclude /usr/share/info/*' \
  'path-exclude /usr/share/locale/*' \
  'path-include /usr/share/locale/locale.alias' \
  >/etc/dpkg/dpkg.cfg.d/docker
printf '%s\n' \
  'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
  'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
  'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' \
  >/etc/apt/apt.conf.d/docker-clean
rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/* /var/cache/apt/archives/*.deb /var/lib/apt/lists/*
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

groupadd --gid 1000 node
useradd --uid 1000 --gid node --shell /bin/bash --create-home node
