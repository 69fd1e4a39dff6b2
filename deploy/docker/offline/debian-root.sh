#!/usr/bin/env bash
# debian-root.sh DIR TARBALL: make a minimal Debian bookworm root with
# PostgreSQL 15 and CA certificates (debootstrap --variant=minbase, then
# apt-get in a chroot) and pack it as TARBALL, for `docker import`.
#
# Run as root. Packages come from the host's own Debian mirror (the first
# URI in /etc/apt/sources.list*), the one registry this needs; no container
# registry is involved. The tarball is the cache: callers skip this when it
# exists.
set -euo pipefail

dir=${1:?usage: debian-root.sh DIR TARBALL}
tarball=${2:?usage: debian-root.sh DIR TARBALL}
suite=bookworm

[ "$(id -u)" = 0 ] || { echo "debian-root.sh: debootstrap and chroot need root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debian-root.sh: debootstrap not installed (apt-get install debootstrap)" >&2; exit 1; }

# The mirror apt already uses: a deb822 "URIs:" line or a one-line "deb URI
# suite" entry naming a Debian archive (not -security, not a third party).
mirror=${KITSHOP_DEBIAN_MIRROR:-$(
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ {print $2} /^deb / {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' |
		grep -E '/debian/?$' | head -n1 || true
)}
mirror=${mirror:-http://deb.debian.org/debian}

mounted=""
cleanup() {
	if [ -n "$mounted" ]; then umount "$dir/proc" 2>/dev/null || umount -l "$dir/proc" 2>/dev/null || true; fi
}
trap cleanup EXIT

rm -rf "$dir"
mkdir -p "$dir"
echo "==> debootstrap --variant=minbase $suite from $mirror (a minute or two, once)"
debootstrap --variant=minbase --include=ca-certificates "$suite" "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 ||
	{ tail -n 30 "$dir.debootstrap.log" >&2; exit 1; }

# Daemons must not start inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
chmod 0755 "$dir/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$dir/etc/resolv.conf"
mount -t proc proc "$dir/proc"
mounted=1

echo "==> apt-get install postgresql-15 in the chroot"
chroot "$dir" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -q -y -o Dpkg::Use-Pty=0 update >/dev/null
chroot "$dir" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -q -y -o Dpkg::Use-Pty=0 \
	install --no-install-recommends postgresql-15 >"$dir.apt.log" 2>&1 ||
	{ tail -n 30 "$dir.apt.log" >&2; exit 1; }

umount "$dir/proc"
mounted=""

# The package made a "main" cluster; the image's entrypoint makes its own in
# the data volume, as the official image does.
rm -rf "$dir/var/lib/postgresql/15" "$dir/etc/postgresql/15"
rm -f "$dir/usr/sbin/policy-rc.d" "$dir/etc/resolv.conf"
chroot "$dir" apt-get clean
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/var/log/*.log "$dir"/var/cache/debconf/*-old

tmp="$tarball.tmp"
tar --numeric-owner -C "$dir" -cf "$tmp" .
mv "$tmp" "$tarball"
rm -rf "$dir" "$dir.debootstrap.log" "$dir.apt.log"
echo "==> $tarball ($(du -h "$tarball" | cut -f1))"
