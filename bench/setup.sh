#!/bin/bash
# What bench/dmesg-info.mjs and bench/summary.mjs need to run crash and drgn on the fixture dump:
#   - drgn (Debian package python3-drgn, installed with apt-get: needs root),
#   - the fixture kernel's vmlinux with debug info, from Debian's linux-image-…-dbg package, fetched
#     through a private apt view (our own sources.list and lists under the cache; the system's apt
#     state is not touched), unpacked with dpkg-deb (never installed), cached in
#     ~/.cache/kexec-ts/dbg/RELEASE/vmlinux. Prints that path last.
# Usage: bash bench/setup.sh [--no-drgn]
set -euo pipefail

# The fixture dump fixtures/x86_64-debian-6.1/vmcore-d31-zlib.kdump (see its README.md).
RELEASE=6.1.0-56-cloud-amd64
VERSION=6.1.192-2
SUITE=bookworm-security
MIRROR=http://deb.debian.org/debian-security
PKG=linux-image-$RELEASE-dbg

cache=${XDG_CACHE_HOME:-$HOME/.cache}/kexec-ts
out=$cache/dbg/$RELEASE
vmlinux=$out/vmlinux

if [ "${1:-}" != --no-drgn ] && ! command -v drgn >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-drgn >&2
  else
    echo "bench/setup.sh: drgn is not installed; run as root (apt-get install python3-drgn)" >&2
  fi
fi

if [ ! -s "$vmlinux" ]; then
  apt=$cache/apt/$SUITE
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/cache" "$out"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  signed=
  [ -e $keyring ] && signed="[signed-by=$keyring] "
  echo "deb $signed$MIRROR $SUITE main" >"$apt/sources.list"
  opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "Dir::Cache::archives=$apt/archives"
    -o Dir::State::status=/dev/null -o APT::Architecture=amd64 -o APT::Architectures=amd64
    -o Acquire::Retries=2 -o Acquire::http::Timeout=30)
  echo "bench/setup.sh: fetching $PKG $VERSION from $MIRROR $SUITE (a few hundred MB, once)" >&2
  apt-get "${opts[@]}" -q update >&2
  (cd "$apt/archives" && apt-get "${opts[@]}" -q download "$PKG=$VERSION" >&2)
  deb=$(ls "$apt/archives/${PKG}_"*.deb | head -1)
  # Only the vmlinux: the package also carries the debug info of every module.
  tmp=$(mktemp -d "$out/unpack.XXXXXX")
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "./usr/lib/debug/boot/vmlinux-$RELEASE"
  mv "$tmp/usr/lib/debug/boot/vmlinux-$RELEASE" "$vmlinux"
  rm -rf "$tmp" "$deb"
fi
echo "$vmlinux"
