#!/bin/bash
# Build (once) and cache a minimal Debian bookworm root that can boot a real
# systemd under systemd-nspawn.  The cache is keyed on everything that shapes
# the root (suite, package list, this script's recipe version), so changing the
# package list rebuilds it; otherwise a rerun costs nothing.
#
# Usage: mkroot.sh [ROOT]     (default $UFFDD_NSPAWN_ROOT, else
#                              /var/cache/uffdd/nspawn-root)
# Prints the root's path on stdout.
set -euo pipefail

ROOT=${1:-${UFFDD_NSPAWN_ROOT:-/var/cache/uffdd/nspawn-root}}
SUITE=bookworm
RECIPE=1 # bump when the customisation steps below change
# systemd + what a boot needs, the daemon's runtime libraries, and jq for the
# in-container test scripts (they read uffd-touch's / uffdctl's JSON).
PACKAGES=systemd,systemd-sysv,dbus,procps,libsystemd0,libevent-2.1-7,libevent-core-2.1-7,libevent-pthreads-2.1-7,libjson-c5,jq
# More for some tests, in a root of their own (UFFDD_NSPAWN_ROOT): the
# Debian package test compiles the library's example (gcc,libc6-dev,pkg-config).
[ -n "${UFFDD_NSPAWN_EXTRA:-}" ] && PACKAGES=$PACKAGES,$UFFDD_NSPAWN_EXTRA

log() { echo "mkroot: $*" >&2; }

need_pkg() {
	local missing=()
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The Debian mirror apt already uses (deb822 .sources first, then one-line
# lists), so the root comes from the same place as the host's packages.
find_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk -v s="$SUITE" '
			/^[[:space:]]*$/ { if (u != "" && ok) { print u; exit } u = ""; ok = 0; next }
			/^URIs:/   { u = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
			END { if (u != "" && ok) print u }' "$f" | grep -v security | head -n1)
		[ -n "$uri" ] && { echo "$uri"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(awk -v s="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/ && $(i+1) == s) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "$uri"; return; }
	done
	echo http://deb.debian.org/debian
}

# systemd-nspawn is needed to use the root, cached or not.
need_pkg systemd-container

KEY=$(printf '%s\n' "$SUITE" "$PACKAGES" "$RECIPE" | sha256sum | cut -c1-16)
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9

if [ -f "$ROOT/.uffdd-root-key" ] && [ "$(cat "$ROOT/.uffdd-root-key")" = "$KEY" ]; then
	echo "$ROOT"
	exit 0
fi

need_pkg debootstrap
MIRROR=$(find_mirror)
TMP="$ROOT.new"
rm -rf "$TMP"
log "debootstrap $SUITE from $MIRROR into $TMP (once per machine, ~40 s)"
t0=$(date +%s)
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$TMP" "$MIRROR" >"$ROOT.log" 2>&1; then
	tail -n 30 "$ROOT.log" >&2
	log "debootstrap failed (full log: $ROOT.log)"
	exit 1
fi

# Make the root boot quietly and fast: no getty on the console (the e2e unit
# owns it), no timers.
rm -f "$TMP/etc/systemd/system/getty.target.wants/"* 2>/dev/null || true
ln -sf /dev/null "$TMP/etc/systemd/system/console-getty.service"
ln -sf /dev/null "$TMP/etc/systemd/system/getty@.service"
ln -sf /dev/null "$TMP/etc/systemd/system/apt-daily.timer"
ln -sf /dev/null "$TMP/etc/systemd/system/apt-daily-upgrade.timer"
ln -sf /dev/null "$TMP/etc/systemd/system/dpkg-db-backup.timer"
ln -sf /dev/null "$TMP/etc/systemd/system/e2scrub_all.timer"
ln -sf /dev/null "$TMP/etc/systemd/system/fstrim.timer"
echo uffdd-test >"$TMP/etc/hostname"
# apt caches are useless inside and cost space in the cache.
rm -rf "$TMP/var/cache/apt/archives/"*.deb "$TMP/var/lib/apt/lists/"* 2>/dev/null || true
echo "$KEY" >"$TMP/.uffdd-root-key"

rm -rf "$ROOT"
mv "$TMP" "$ROOT"
log "root ready in $(( $(date +%s) - t0 )) s: $ROOT ($(du -sh "$ROOT" | cut -f1))"
echo "$ROOT"
