# SPDX-License-Identifier: MIT
# Shared settings for the kernel scripts.  Sourced, not run.
#
# Everything heavy (the source tarball, unpacked trees, built kernels) lives
# under $UFFDD_KCACHE, outside the work tree, so a second run is quick and a
# `git clean` of the repo does not throw away a 1 GB tree.

set -euo pipefail

KDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)      # kernel/ in the repo
REPO=$(cd "$KDIR/.." && pwd)
UFFDD_KCACHE=${UFFDD_KCACHE:-/var/cache/uffdd/kernel}
KSERIES=${KSERIES:-5.10}
PATCHDIR=$KDIR/patches/$KSERIES
FRAGMENT=$KDIR/config/uffdd-$KSERIES.config
JOBS=${JOBS:-2}

log() { printf '[kernel] %s\n' "$*" >&2; }
die() { printf '[kernel] error: %s\n' "$*" >&2; exit 1; }

# Install Debian packages only when they are missing: dpkg -s is fast, apt is not.
need_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
}

# Hash of everything that decides what a patched kernel contains: the series,
# the config fragment and the build script (it carries the gcc-12 tweaks).
series_hash() {
	{
		cat "$PATCHDIR/series"
		while read -r p; do
			case "$p" in ''|\#*) continue ;; esac
			cat "$PATCHDIR/$p"
		done <"$PATCHDIR/series"
	} | sha256sum | cut -c1-16
}
build_hash() { # $1 = patched|unpatched
	{
		echo "$1"
		cat "$FRAGMENT" "$KDIR/qemu/build.sh"
		if [ "$1" = patched ]; then series_hash; fi
	} | sha256sum | cut -c1-16
}
